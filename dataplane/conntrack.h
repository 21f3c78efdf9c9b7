/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Per-lcore connection tracking. A flow stays on one lcore under RSS, so no
 * entry is ever shared and no lock exists.
 *
 * Layout (docs/dataplane.md, "Connection table"): an array of 64-byte lines,
 * each holding two IPv4 entries of 32 bytes or one IPv6 entry of 64: the key
 * a hit compares and the backend it needs share one cache line, so a hit
 * costs one line. A flow may live in two lines (two-choice cuckoo hashing,
 * as rte_hash does): its primary line from the flow hash, and an alternative
 * derived from the primary and a 16-bit tag of the hash, so an entry can be
 * moved between its two lines without rehashing its key. An insert whose
 * two lines are full first moves an occupant to its other line (up to two
 * moves deep), and only if that fails evicts the entry closest to expiry
 * (a flow seen again counted younger: SY_CT_SEEN).
 * Both lines of a flow follow from its hash alone, so a staged burst
 * prefetches them before it looks (sy_ct_prefetch; the other line only
 * while flows are found there: struct sy_ct_probe).
 *
 * Capacity counts 32-byte slots: an IPv4 flow takes one, an IPv6 flow two.
 */
#ifndef SY_DATAPLANE_CONNTRACK_H
#define SY_DATAPLANE_CONNTRACK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <switchyard/flow_hash.h>

#include "backend_conns.h"

#define SY_CT_LINE 64u      /* bytes of a line */
#define SY_CT_SLOT 32u      /* bytes of an IPv4 entry; an IPv6 entry is a line */
#define SY_CT_LINE_SLOTS 2u /* IPv4 entries in a line */

/* What a hit needs, at the start of every entry; the stored key follows.
 * svc_version and uid keep the low 32 bits of the 64-bit values: an entry
 * is refreshed on every hit and expires after at most its timeout, and
 * 2^32 publications or backend registrations within one timeout cannot
 * happen (a version or uid that old is the only way to alias). */
struct sy_ct_entry {
	uint32_t expires;     /* ms tick; 0 = free */
	uint32_t svc_version; /* service object `backend` is an index in */
	uint32_t backend;     /* index in that service object; SY_CT_SEEN */
	uint32_t uid;         /* backend uid (low 32 bits; unique in a region) */
};

struct sy_ct_timeouts {
	uint32_t tcp_ms;     /* established / opening */
	uint32_t tcp_fin_ms; /* after FIN or RST */
	uint32_t udp_ms;
};

#define SY_CT_DEFAULT_TIMEOUTS \
	((struct sy_ct_timeouts){ .tcp_ms = 900000, .tcp_fin_ms = 10000, .udp_ms = 300000 })

struct sy_conntrack {
	uint8_t *lines;
	uint64_t seed[5]; /* of sy_ct_hash, from sy_ct_init's seed */
	uint32_t n_lines; /* any number: lines are found by multiply-shift, not a mask */
	uint32_t sweep_next;
	uint32_t move_backoff; /* inserts that skip the move search after the */
	uint32_t move_skip;    /* last failure, and how many remain (conntrack.c) */
	uint32_t other_lookups; /* IPv4 lookups that went on to the other line
				 * (sy_ct_lookup_other4()): the caller's to reset */
	struct sy_ct_timeouts to;
	/* active connections per backend (least-connections), kept by every
	 * free of an entry once attached (sy_ct_attach_conns); last, away from
	 * what a hit reads */
	struct sy_backend_conns conns;
};

/* Bytes needed for a table of at least `capacity` IPv4 flows (rounded up to
 * whole lines of two): 32 bytes a flow. */
uint64_t sy_ct_memsize(uint64_t capacity);
/* Initialise over caller-provided zeroed memory of sy_ct_memsize() bytes.
 * seed keys the table's hash (sy_ct_hash): sy-dataplane draws it at random,
 * so that nobody outside can aim flows at one line. */
void sy_ct_init(struct sy_conntrack *ct, void *mem, uint64_t capacity,
		const struct sy_ct_timeouts *to, uint64_t seed);
uint64_t sy_ct_capacity(const struct sy_conntrack *ct);
/* Count active connections per backend (backend_conns.h) in zeroed memory
 * of sy_backend_conns_memsize(capacity) bytes, from an empty table on: the
 * table then drops a count wherever it frees an entry, and the packet path
 * adds one wherever it makes one live. sy_ct_init() detaches it. */
void sy_ct_attach_conns(struct sy_conntrack *ct, void *mem, uint64_t capacity);
/* Forget every flow (the region changed: their backend uids mean nothing
 * there). Only the owning worker, or while it is parked. */
void sy_ct_clear(struct sy_conntrack *ct);

/* ---- The table's hash --------------------------------------------------
 * Where a flow lives in this table is the table's business: no other host,
 * process or path ever computes it, so it need not be the fleet's flow hash
 * (switchyard/flow_hash.h, jhash, ~65 instructions for IPv4) but only well
 * mixed and keyed. Folded 64x64->128-bit multiplies of the key's words with
 * the seed (as wyhash mixes): one multiply for an IPv4 flow, three for IPv6.
 * So a tracked flow's packets never run jhash on the DPDK path: it is needed
 * only to choose a backend (Maglev) and for GUE's source port and the outer
 * IPv6 flow label. Every function below taking a `hash` wants this one (a
 * test may pass any function of the key, used alike for every call). */
static inline __attribute__((always_inline)) uint64_t sy_ct_mum(uint64_t a, uint64_t b)
{
	unsigned __int128 r = (unsigned __int128)a * b;

	return (uint64_t)r ^ (uint64_t)(r >> 64);
}

/* An IPv4 key's stored words without the tag (sy_ct_slot_is4() adds it to
 * w0): the table's hash mixes exactly these, so a caller that keeps them
 * (struct sy_ct_probe) has the stored key for the price of the hash. */
static inline __attribute__((always_inline)) void sy_ct_key4_words(const struct sy_flow_key *k,
								  uint64_t *w0, uint64_t *w1)
{
	*w0 = (uint64_t)k->proto << 16 | (uint64_t)SY_AF_INET << 24 | (uint64_t)k->src[0] << 32;
	*w1 = (uint64_t)k->dst[0] | (uint64_t)sy_flow_ports_word(k) << 32;
}

static inline __attribute__((always_inline)) uint32_t sy_ct_hash(const struct sy_conntrack *ct,
								  const struct sy_flow_key *k)
{
	uint64_t h;

	if (k->family == SY_AF_INET6) {
		uint64_t tail = (uint64_t)sy_flow_ports_word(k) | (uint64_t)k->proto << 32 |
				(uint64_t)k->family << 40;
		uint64_t x = sy_ct_mum(((uint64_t)k->src[0] | (uint64_t)k->src[1] << 32) ^ ct->seed[0],
				       ((uint64_t)k->src[2] | (uint64_t)k->src[3] << 32) ^ ct->seed[1]) ^
			     sy_ct_mum(((uint64_t)k->dst[0] | (uint64_t)k->dst[1] << 32) ^ ct->seed[2],
				       ((uint64_t)k->dst[2] | (uint64_t)k->dst[3] << 32) ^ ct->seed[3]);

		h = sy_ct_mum(x ^ ct->seed[4], tail ^ ct->seed[1]);
	} else {
		uint64_t w0, w1;

		sy_ct_key4_words(k, &w0, &w1);
		h = sy_ct_mum(w0 ^ ct->seed[0], w1 ^ ct->seed[1]);
	}
	return (uint32_t)(h ^ (h >> 32));
}

/* The two lines a flow with this hash may live in. The primary line is the
 * hash scaled to the line count (multiply-shift: its high bits), so a table
 * of any size uses all its lines and memory is what was asked for, not the
 * next power of two; the tag is the hash's low 16 bits, independent of it. */
static inline uint32_t sy_ct_line1(const struct sy_conntrack *ct, uint32_t hash)
{
	return (uint32_t)(((uint64_t)hash * ct->n_lines) >> 32);
}

static inline uint16_t sy_ct_tag(uint32_t hash)
{
	return (uint16_t)hash;
}

/* The other line of an entry in `line` with `tag`: (f(tag) - line) mod
 * n_lines, its own inverse, so an entry moves between its two lines knowing
 * only its line and stored tag. It is `line` itself only where 2 x line =
 * f(tag) (mod n_lines): such an entry has one line. */
static inline uint32_t sy_ct_alt_line(const struct sy_conntrack *ct, uint32_t line, uint16_t tag)
{
	uint32_t f = (uint32_t)(((uint64_t)((uint32_t)tag * 0x9e3779b1u) * ct->n_lines) >> 32);

	return f >= line ? f - line : f + ct->n_lines - line;
}

/* Where a flow's entry may be, computed once for its lookup and its insert
 * (stage 1 of a burst, which has the key in registers; stage 2 then builds
 * nothing again): its two lines and, for IPv4, its stored key's words. The
 * other line may be left SY_CT_LINE_LATER, to be computed where it is read:
 * after a miss in the primary line, by the lookup's and the insert's
 * out-of-line code (sy_ct_probe_line2()). A hit in the primary line then
 * never computes it. */
#define SY_CT_LINE_LATER UINT32_MAX

struct sy_ct_probe {
	uint64_t w0, w1;  /* IPv4: the stored key (sy_ct_slot_is4()); IPv6: 0 */
	uint32_t line[2]; /* primary, other (or SY_CT_LINE_LATER) */
};

/* The probe of key with hash (sy_ct_hash(ct, key), or any function of the
 * key a test uses alike for every call), its other line left for later
 * unless other. */
static inline __attribute__((always_inline)) void
sy_ct_probe_lines(const struct sy_conntrack *ct, const struct sy_flow_key *key, uint32_t hash,
		  struct sy_ct_probe *pr, bool other)
{
	uint32_t l1 = sy_ct_line1(ct, hash);

	pr->line[0] = l1;
	pr->line[1] = other ? sy_ct_alt_line(ct, l1, sy_ct_tag(hash)) : SY_CT_LINE_LATER;
	pr->w0 = pr->w1 = 0;
	if (key->family == SY_AF_INET) {
		sy_ct_key4_words(key, &pr->w0, &pr->w1);
		pr->w0 |= sy_ct_tag(hash);
	}
}

/* The same with both lines. */
static inline __attribute__((always_inline)) void sy_ct_probe_of(const struct sy_conntrack *ct,
							  const struct sy_flow_key *key,
							  uint32_t hash,
							  struct sy_ct_probe *pr)
{
	sy_ct_probe_lines(ct, key, hash, pr, true);
}

/* The probe's other line, computed now if it was left for later. */
static inline uint32_t sy_ct_probe_line2(const struct sy_conntrack *ct,
					 const struct sy_ct_probe *pr, uint32_t hash)
{
	return pr->line[1] != SY_CT_LINE_LATER ? pr->line[1]
					       : sy_ct_alt_line(ct, pr->line[0], sy_ct_tag(hash));
}

/* A flow's lines (the other if the probe has it), for a burst that looks
 * them up a few packets later. */
static inline __attribute__((always_inline)) void sy_ct_prefetch(const struct sy_conntrack *ct,
							  const struct sy_ct_probe *pr)
{
	__builtin_prefetch(ct->lines + (uint64_t)pr->line[0] * SY_CT_LINE, 1);
	if (pr->line[1] != SY_CT_LINE_LATER)
		__builtin_prefetch(ct->lines + (uint64_t)pr->line[1] * SY_CT_LINE, 1);
}

/* Find a live entry for key (hash = sy_ct_hash(ct, key)). NULL if none. */
struct sy_ct_entry *sy_ct_lookup(struct sy_conntrack *ct, const struct sy_flow_key *key,
				 uint32_t hash, uint32_t now);

/* The stored key of an IPv4 flow as the two words sy_ct_lookup_fast()
 * compares, and the slot test of both lines: 1 if slot e holds that key
 * (live or expired). The stored key's layout is conntrack.c's: [tag 2]
 * [proto 1][family 1][src 4][dst 4][ports 4] after the 16-byte head; an
 * IPv6 line never matches an IPv4 key (slot 0's family byte is 6; slot 1's
 * bytes 8..15 are the line's zero padding where an IPv4 key holds its
 * nonzero destination). */
static inline __attribute__((always_inline)) int sy_ct_slot_is4(const struct sy_ct_entry *e,
								 uint64_t w0, uint64_t w1)
{
	uint64_t a, b;

	__builtin_memcpy(&a, (const uint8_t *)e + 16, 8);
	__builtin_memcpy(&b, (const uint8_t *)e + 24, 8);
	return !((a ^ w0) | (b ^ w1)) && e->expires;
}

/* The rest of sy_ct_lookup_fast() after a miss in the primary line: the
 * other line, the same way. */
struct sy_ct_entry *sy_ct_lookup_other4(struct sy_conntrack *ct, const struct sy_flow_key *key,
					uint32_t hash, const struct sy_ct_probe *pr,
					uint32_t now);

/* sy_ct_lookup() inline for an IPv4 flow in its primary line, the common
 * case: the probe's two words (pr: sy_ct_probe_of(ct, key, hash)), two
 * compares a slot, no call. A miss there goes on to the other line out of
 * line (sy_ct_lookup_other4()): with both lines inline the compiler kept
 * the second line's inputs on the stack for every packet. A matching but
 * expired entry (to be freed) and IPv6 flows take sy_ct_lookup(). */
static inline __attribute__((always_inline)) struct sy_ct_entry *
sy_ct_lookup_fast(struct sy_conntrack *ct, const struct sy_flow_key *key, uint32_t hash,
		  const struct sy_ct_probe *pr, uint32_t now)
{
	if (key->family == SY_AF_INET) {
		uint8_t *line = ct->lines + (uint64_t)pr->line[0] * SY_CT_LINE;

		for (uint32_t i = 0; i < SY_CT_LINE_SLOTS; i++) {
			struct sy_ct_entry *e = (struct sy_ct_entry *)(line + i * SY_CT_SLOT);

			if (!sy_ct_slot_is4(e, pr->w0, pr->w1))
				continue;
			if ((int32_t)(e->expires - now) >= 0)
				return e;
			return sy_ct_lookup(ct, key, hash, now); /* frees it */
		}
		return sy_ct_lookup_other4(ct, key, hash, pr, now);
	}
	return sy_ct_lookup(ct, key, hash, now);
}

/* The same without side effects, for another thread's diagnostics (the
 * owning worker may be writing: the answer is a best effort). */
const struct sy_ct_entry *sy_ct_peek(const struct sy_conntrack *ct,
				     const struct sy_flow_key *key, uint32_t hash, uint32_t now);

/* For an ICMP error that RSS gave another worker: the backend uid of key's
 * live entry in this table, read from another lcore while the owner may be
 * rewriting it. The owner kills an entry before giving it a new key, writes
 * the key before the uid, and revives it last; this reads key, liveness,
 * uid and the key again: a uid it returns is at least as new as the key,
 * and an entry rewritten meanwhile is not taken for ours (an entry being
 * moved to its other line may be missed: then Maglev decides). 1 and *uid
 * (low 32 bits), or 0. The caller still checks the uid against its service
 * (a backend may have left since). */
int sy_ct_peek_other(const struct sy_conntrack *ct, const struct sy_flow_key *key, uint32_t hash,
		     uint32_t now, uint32_t *uid);

enum sy_ct_insert_result {
	SY_CT_INS_FREE,    /* a free slot (maybe after moving others) */
	SY_CT_INS_EXPIRED, /* an expired entry's slot */
	SY_CT_INS_EVICTED, /* a live entry was dropped */
	SY_CT_INS_EVICTED2, /* two (an IPv6 entry took the line of two IPv4 ones) */
};

/* Claim an entry for key (not present); fills the key, the caller the rest
 * of the entry, then sy_ct_touch() makes it live. */
struct sy_ct_entry *sy_ct_insert(struct sy_conntrack *ct, const struct sy_flow_key *key,
				 uint32_t hash, uint32_t now, enum sy_ct_insert_result *how);
/* The same with the flow's probe (sy_ct_probe_of(ct, key, hash)). */
struct sy_ct_entry *sy_ct_insert_probed(struct sy_conntrack *ct, const struct sy_flow_key *key,
					uint32_t hash, const struct sy_ct_probe *pr, uint32_t now,
					enum sy_ct_insert_result *how);

/* Bit 31 of an entry's backend: its flow was seen again after the packet
 * that inserted it. When an insert must evict a live entry, one never seen
 * again goes before one that was (conntrack.c, evict_rank): a scan of new
 * flows (a sweep, a flood) replaces its own kind, not established flows.
 * A service has far fewer backends than 2^31 (SY_MAGLEV_MAX_BACKENDS). */
#define SY_CT_SEEN 0x80000000u

/* The entry's backend index (without SY_CT_SEEN). */
static inline uint32_t sy_ct_backend(const struct sy_ct_entry *e)
{
	return e->backend & ~SY_CT_SEEN;
}

/* Push the entry's expiry forward according to protocol and TCP flags; seen:
 * the flow's packet after its first (a hit), 0 for the insert's own.
 * After sy_ct_insert() and the caller's writes, this makes the entry live:
 * it comes after them for other workers too (sy_ct_peek_other). */
static inline void sy_ct_touch(const struct sy_conntrack *ct, struct sy_ct_entry *e,
			       uint8_t proto, uint8_t tcp_flags, uint32_t now, bool seen)
{
	uint32_t t = proto == 6 ? ((tcp_flags & 0x05) ? ct->to.tcp_fin_ms : ct->to.tcp_ms)
				: ct->to.udp_ms;
	uint32_t exp = now + t;

	if (seen)
		e->backend |= SY_CT_SEEN;
	atomic_thread_fence(memory_order_release);
	e->expires = exp ? exp : 1;
}

/* Free the expired entries of the next n_lines lines (round robin).
 * Workers call it every iteration: expiry times are 32-bit millisecond
 * ticks, so no expired entry may linger for the 24.8 days after which its
 * tick would look like a future one again. */
void sy_ct_sweep(struct sy_conntrack *ct, uint32_t now, uint32_t n_lines);

/* Live entries (walks the table; for tests and stats, not the packet path). */
uint64_t sy_ct_count(const struct sy_conntrack *ct, uint32_t now);

#endif
