/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Per-lcore connection tracking: a fixed-capacity set-associative table.
 * A flow stays on one lcore under RSS, so no entry is ever shared and no
 * lock exists. Each bucket holds SY_CT_WAYS entries; a bucket's 16-bit
 * signatures share one cache line so a miss touches one line. A full bucket
 * reuses an expired entry first, else evicts the entry closest to expiry
 * (LRU-like: every hit pushes its expiry forward).
 */
#ifndef SY_DATAPLANE_CONNTRACK_H
#define SY_DATAPLANE_CONNTRACK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <switchyard/flow_hash.h>

#define SY_CT_WAYS 8

struct sy_ct_entry {
	struct sy_flow_key key; /* 40 bytes */
	uint64_t uid;           /* backend (never reused in a region) */
	uint64_t svc_version;   /* service object the index below is valid in */
	uint32_t backend;       /* index in that service object */
	uint32_t expires;       /* ms tick; 0 = free */
};

struct sy_ct_bucket {
	uint16_t sig[SY_CT_WAYS]; /* 0 = free way */
	uint8_t pad[64 - 2 * SY_CT_WAYS];
	struct sy_ct_entry e[SY_CT_WAYS];
};

struct sy_ct_timeouts {
	uint32_t tcp_ms;     /* established / opening */
	uint32_t tcp_fin_ms; /* after FIN or RST */
	uint32_t udp_ms;
};

#define SY_CT_DEFAULT_TIMEOUTS \
	((struct sy_ct_timeouts){ .tcp_ms = 900000, .tcp_fin_ms = 10000, .udp_ms = 300000 })

struct sy_conntrack {
	struct sy_ct_bucket *buckets;
	uint32_t mask; /* n_buckets - 1 */
	uint32_t sweep_next;
	struct sy_ct_timeouts to;
};

/* Bytes needed for a table of at least `capacity` flows (rounded up to a
 * power-of-two bucket count). */
uint64_t sy_ct_memsize(uint64_t capacity);
/* Initialise over caller-provided zeroed memory of sy_ct_memsize() bytes. */
void sy_ct_init(struct sy_conntrack *ct, void *mem, uint64_t capacity,
		const struct sy_ct_timeouts *to);
uint64_t sy_ct_capacity(const struct sy_conntrack *ct);
/* Forget every flow (the region changed: their backend uids mean nothing
 * there). Only the owning worker, or while it is parked. */
void sy_ct_clear(struct sy_conntrack *ct);

/* Find a live entry for key (hash = its flow hash). NULL if none. */
struct sy_ct_entry *sy_ct_lookup(struct sy_conntrack *ct, const struct sy_flow_key *key,
				 uint32_t hash, uint32_t now);

/* The same without side effects, for another thread's diagnostics (the
 * owning worker may be writing: the answer is a best effort). */
const struct sy_ct_entry *sy_ct_peek(const struct sy_conntrack *ct,
				     const struct sy_flow_key *key, uint32_t hash, uint32_t now);

/* For an ICMP error that RSS gave another worker: the backend uid of key's
 * live entry in this table, read from another lcore while the owner may be
 * rewriting it. The owner kills an entry before giving it a new key, writes
 * the key before the uid, and revives it last; this reads key, liveness,
 * uid and the key again: a uid it returns is at least as new as the key,
 * and an entry rewritten meanwhile is not taken for ours. 1 and *uid, or
 * 0. The caller still checks the uid against its service (a backend may
 * have left since). */
int sy_ct_peek_other(const struct sy_conntrack *ct, const struct sy_flow_key *key, uint32_t hash,
		     uint32_t now, uint64_t *uid);

enum sy_ct_insert_result { SY_CT_INS_FREE, SY_CT_INS_EXPIRED, SY_CT_INS_EVICTED };

/* Claim an entry for key (not present); fills the key, the caller the rest. */
struct sy_ct_entry *sy_ct_insert(struct sy_conntrack *ct, const struct sy_flow_key *key,
				 uint32_t hash, uint32_t now, enum sy_ct_insert_result *how);

/* Push the entry's expiry forward according to protocol and TCP flags.
 * After sy_ct_insert() and the caller's writes, this makes the entry live:
 * it comes after them for other workers too (sy_ct_peek_other). */
static inline void sy_ct_touch(const struct sy_conntrack *ct, struct sy_ct_entry *e,
			       uint8_t proto, uint8_t tcp_flags, uint32_t now)
{
	uint32_t t = proto == 6 ? ((tcp_flags & 0x05) ? ct->to.tcp_fin_ms : ct->to.tcp_ms)
				: ct->to.udp_ms;
	uint32_t exp = now + t;

	atomic_thread_fence(memory_order_release);
	e->expires = exp ? exp : 1;
}

/* Free the expired entries of the next n_buckets buckets (round robin).
 * Workers call it every iteration: expiry times are 32-bit millisecond
 * ticks, so no expired entry may linger for the 24.8 days after which its
 * tick would look like a future one again. */
void sy_ct_sweep(struct sy_conntrack *ct, uint32_t now, uint32_t n_buckets);

/* Live entries (walks the table; for tests and stats, not the packet path). */
uint64_t sy_ct_count(const struct sy_conntrack *ct, uint32_t now);

#endif
