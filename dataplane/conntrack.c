/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The connection table of conntrack.h. A line is either two IPv4 slots
 *   [entry 16][key 16][entry 16][key 16]
 * or one IPv6 entry
 *   [entry 16][key 40][zero 8]
 * and the family byte of the first key (byte 19) says which, for a line
 * whose first entry is in use.
 */
#include <stdatomic.h>
#include <string.h>

#include <switchyard/ct_guard.h> /* SY_CT_SEEN_BONUS_MS */

#include "conntrack.h"

_Static_assert(sizeof(struct sy_ct_entry) == 16, "entry head is 16 bytes");

#define KEY_OFF 16u     /* the stored key, after the entry head */
#define FAMILY_OFF 19u  /* its family byte (tag 2, proto 1, family 1) */

/* A flow key in stored form: tag, proto, family, source, destination,
 * ports, as 2 (IPv4) or 5 (IPv6) words. */
struct ct_key {
	uint64_t w[5];
	uint32_t n_words;
};

static inline struct ct_key ct_key_of(const struct sy_flow_key *k, uint32_t hash)
{
	uint64_t head = (uint64_t)sy_ct_tag(hash) | (uint64_t)k->proto << 16 |
			(uint64_t)k->family << 24;
	uint64_t ports = sy_flow_ports_word(k);
	struct ct_key c;

	if (k->family == SY_AF_INET6) {
		c.w[0] = head | (uint64_t)k->src[0] << 32;
		c.w[1] = k->src[1] | (uint64_t)k->src[2] << 32;
		c.w[2] = k->src[3] | (uint64_t)k->dst[0] << 32;
		c.w[3] = k->dst[1] | (uint64_t)k->dst[2] << 32;
		c.w[4] = k->dst[3] | ports << 32;
		c.n_words = 5;
	} else { /* the words of the table's hash (conntrack.h) */
		sy_ct_key4_words(k, &c.w[0], &c.w[1]);
		c.w[0] |= sy_ct_tag(hash);
		c.w[2] = c.w[3] = c.w[4] = 0;
		c.n_words = 2;
	}
	return c;
}

/* Wrap-safe "a is before b" on 32-bit millisecond ticks (49-day period). */
static inline bool tick_before(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

/* An insert that must evict takes the candidate of the lowest rank: the
 * earliest expiry, an entry seen again (SY_CT_SEEN) counted
 * SY_CT_SEEN_BONUS_MS later (ct_guard.h). So in a full table a flow that is
 * in use outlives flows that came once since (the sweep of
 * ct_pressure_live: without it one active flow in a run could be the
 * oldest of its four candidates and lose its backend). */
static inline uint32_t evict_rank(const struct sy_ct_entry *e)
{
	return e->expires + ((e->backend & SY_CT_SEEN) ? SY_CT_SEEN_BONUS_MS : 0);
}

static inline bool live(const struct sy_ct_entry *e, uint32_t now)
{
	return e->expires && !tick_before(e->expires, now);
}

static inline uint8_t *line_at(const struct sy_conntrack *ct, uint32_t line)
{
	return ct->lines + (uint64_t)line * SY_CT_LINE;
}

static inline struct sy_ct_entry *slot_at(uint8_t *line, uint32_t i)
{
	return (struct sy_ct_entry *)(line + i * SY_CT_SLOT);
}

/* Does the line hold an IPv6 entry (live or expired)? */
static inline bool v6_line(const uint8_t *line)
{
	const struct sy_ct_entry *e = (const struct sy_ct_entry *)line;

	return e->expires && line[FAMILY_OFF] == SY_AF_INET6;
}

/* The stored key of the entry at e equals c: word loads of a constant
 * size (memcmp, or a memcpy of a variable size, would be a libc call). */
static inline bool key_eq4(const struct sy_ct_entry *e, const struct ct_key *c)
{
	const uint8_t *k = (const uint8_t *)e + KEY_OFF;
	uint64_t a, b;

	memcpy(&a, k, 8);
	memcpy(&b, k + 8, 8);
	return !((a ^ c->w[0]) | (b ^ c->w[1]));
}

static inline bool key_eq6(const struct sy_ct_entry *e, const struct ct_key *c)
{
	const uint8_t *k = (const uint8_t *)e + KEY_OFF;
	uint64_t x[5];

	memcpy(x, k, sizeof(x));
	return !((x[0] ^ c->w[0]) | (x[1] ^ c->w[1]) | (x[2] ^ c->w[2]) | (x[3] ^ c->w[3]) |
		 (x[4] ^ c->w[4]));
}

static inline bool key_eq(const struct sy_ct_entry *e, const struct ct_key *c)
{
	return c->n_words == 5 ? key_eq6(e, c) : key_eq4(e, c);
}

static inline void key_store(struct sy_ct_entry *e, const struct ct_key *c)
{
	if (c->n_words == 5)
		memcpy((uint8_t *)e + KEY_OFF, c->w, 40);
	else
		memcpy((uint8_t *)e + KEY_OFF, c->w, 16);
}

static inline uint16_t stored_tag(const struct sy_ct_entry *e)
{
	uint16_t t;

	memcpy(&t, (const uint8_t *)e + KEY_OFF, 2);
	return t;
}

static uint64_t n_lines_for(uint64_t capacity)
{
	uint64_t n = (capacity + SY_CT_LINE_SLOTS - 1) / SY_CT_LINE_SLOTS;

	return n ? n : 1;
}

uint64_t sy_ct_memsize(uint64_t capacity)
{
	return n_lines_for(capacity) * SY_CT_LINE;
}

/* splitmix64: one seed word into several independent ones */
static uint64_t seed_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void sy_ct_init(struct sy_conntrack *ct, void *mem, uint64_t capacity,
		const struct sy_ct_timeouts *to, uint64_t seed)
{
	for (size_t i = 0; i < sizeof(ct->seed) / sizeof(ct->seed[0]); i++)
		ct->seed[i] = seed_next(&seed);
	ct->lines = mem;
	ct->n_lines = (uint32_t)n_lines_for(capacity);
	ct->sweep_next = 0;
	ct->move_backoff = ct->move_skip = 0;
	ct->to = to ? *to : SY_CT_DEFAULT_TIMEOUTS;
	ct->conns = (struct sy_backend_conns){ 0 };
}

void sy_ct_attach_conns(struct sy_conntrack *ct, void *mem, uint64_t capacity)
{
	sy_backend_conns_init(&ct->conns, mem, capacity);
}

void sy_ct_clear(struct sy_conntrack *ct)
{
	memset(ct->lines, 0, (size_t)ct->n_lines * SY_CT_LINE);
	ct->sweep_next = 0;
	if (ct->conns.slots)
		sy_backend_conns_clear(&ct->conns);
}

uint64_t sy_ct_capacity(const struct sy_conntrack *ct)
{
	return (uint64_t)ct->n_lines * SY_CT_LINE_SLOTS;
}

/* Where key's entry is, whatever its liveness: NULL if in neither line. */
static inline struct sy_ct_entry *find(const struct sy_conntrack *ct, const struct ct_key *c,
				       uint32_t hash)
{
	uint32_t l1 = sy_ct_line1(ct, hash), l[2] = { l1, sy_ct_alt_line(ct, l1, sy_ct_tag(hash)) };

	for (int j = 0; j < 2; j++) {
		uint8_t *line = line_at(ct, l[j]);
		struct sy_ct_entry *e0 = slot_at(line, 0), *e1 = slot_at(line, 1);

		if (c->n_words == 5) {
			if (v6_line(line) && key_eq6(e0, c))
				return e0;
			continue;
		}
		/* an IPv6 line's key never matches an IPv4 key at either slot:
		 * slot 0's family differs, slot 1's bytes 8..15 are the line's
		 * zero padding where an IPv4 key holds its (nonzero) VIP */
		if (e0->expires && key_eq4(e0, c) && !v6_line(line))
			return e0;
		if (e1->expires && key_eq4(e1, c) && !v6_line(line))
			return e1;
	}
	return NULL;
}

/* Zero a line that another worker may be reading (sy_ct_peek_other): the
 * keys first, then the heads. A reader trusts a uid only if the key it
 * reads after the uid is still its own, so a uid may never turn to zero
 * before the key it belongs to has changed. A plain memset gives no such
 * order: its wide stores may become visible low half first, a zero uid
 * before its key (a torn read seen in peek_other_never_torn). Bytes 16..31
 * and 48..63 hold every entry's family byte (IPv4 slot 0 and 1, and the
 * IPv6 key), so after the first two stores no old key matches. */
static void wipe_line(uint8_t *line)
{
	memset(line + SY_CT_SLOT + KEY_OFF, 0, SY_CT_SLOT - KEY_OFF);
	memset(line + KEY_OFF, 0, SY_CT_SLOT - KEY_OFF);
	atomic_thread_fence(memory_order_release);
	memset(line, 0, KEY_OFF);
	memset(line + SY_CT_SLOT, 0, KEY_OFF);
}

/* An entry in use (live or expired) is about to be freed or overwritten:
 * its backend has one connection fewer (backend_conns.h). */
static inline void forget(struct sy_conntrack *ct, const struct sy_ct_entry *e)
{
	if (e->expires)
		sy_backend_conns_drop(&ct->conns, e->uid);
}

/* The same for every entry of a line. */
static void forget_line(struct sy_conntrack *ct, uint8_t *line)
{
	forget(ct, slot_at(line, 0));
	if (!v6_line(line))
		forget(ct, slot_at(line, 1));
}

/* Free an entry: an IPv6 line is cleared whole, so that its key bytes are
 * never read as IPv4 slots. */
static void release(struct sy_conntrack *ct, struct sy_ct_entry *e)
{
	uint8_t *b = (uint8_t *)e;

	forget(ct, e);
	if (b[FAMILY_OFF] == SY_AF_INET6 && e->expires)
		wipe_line(b);
	else
		e->expires = 0;
}

struct sy_ct_entry *sy_ct_lookup(struct sy_conntrack *ct, const struct sy_flow_key *key,
				 uint32_t hash, uint32_t now)
{
	struct ct_key c = ct_key_of(key, hash);
	struct sy_ct_entry *e = find(ct, &c, hash);

	if (!e || live(e, now))
		return e;
	/* Our own expired entry: free it now, so that the new one the caller
	 * inserts is the only entry of this flow. */
	release(ct, e);
	return NULL;
}

struct sy_ct_entry *sy_ct_lookup_other4(struct sy_conntrack *ct, const struct sy_flow_key *key,
					uint32_t hash, const struct sy_ct_probe *pr, uint32_t now)
{
	uint8_t *line = line_at(ct, sy_ct_probe_line2(ct, pr, hash));

	ct->other_lookups++;
	for (uint32_t i = 0; i < SY_CT_LINE_SLOTS; i++) {
		struct sy_ct_entry *e = slot_at(line, i);

		if (!sy_ct_slot_is4(e, pr->w0, pr->w1))
			continue;
		if (live(e, now))
			return e;
		return sy_ct_lookup(ct, key, hash, now); /* frees it */
	}
	return NULL;
}

const struct sy_ct_entry *sy_ct_peek(const struct sy_conntrack *ct,
				     const struct sy_flow_key *key, uint32_t hash, uint32_t now)
{
	struct ct_key c = ct_key_of(key, hash);
	const struct sy_ct_entry *e = find(ct, &c, hash);

	return e && live(e, now) ? e : NULL;
}

int sy_ct_peek_other(const struct sy_conntrack *ct, const struct sy_flow_key *key, uint32_t hash,
		     uint32_t now, uint32_t *uid)
{
	struct ct_key c = ct_key_of(key, hash);
	uint32_t l1 = sy_ct_line1(ct, hash), l[2] = { l1, sy_ct_alt_line(ct, l1, sy_ct_tag(hash)) };
	uint32_t n_slots = c.n_words == 5 ? 1 : SY_CT_LINE_SLOTS;

	for (int j = 0; j < 2; j++) {
		for (uint32_t i = 0; i < n_slots; i++) {
			const struct sy_ct_entry *e = slot_at(line_at(ct, l[j]), i);
			uint32_t expires, u;
			bool before;

			/* the owner's order, read backwards (sy_ct_insert): if
			 * the key is ours and the entry live, the uid read next
			 * is at least as new as the key; the key read again says
			 * nobody rewrote it since, and the expiry read again
			 * that it did not die and come back with the same key
			 * meanwhile (ABA: evicted, the slot given to another
			 * flow, then to this one again; its new life has a new
			 * expiry unless all of it fell in one millisecond tick) */
			before = key_eq(e, &c);
			atomic_thread_fence(memory_order_acquire);
			expires = e->expires;
			atomic_thread_fence(memory_order_acquire);
			u = e->uid;
			atomic_thread_fence(memory_order_acquire);
			if (before && key_eq(e, &c) && e->expires == expires && expires &&
			    !tick_before(expires, now)) {
				*uid = u;
				return 1;
			}
		}
	}
	return 0;
}

void sy_ct_sweep(struct sy_conntrack *ct, uint32_t now, uint32_t n_lines)
{
	for (uint32_t k = 0; k < n_lines; k++) {
		uint8_t *line = line_at(ct, ct->sweep_next);

		if (++ct->sweep_next >= ct->n_lines)
			ct->sweep_next = 0;

		if (v6_line(line)) {
			if (!live(slot_at(line, 0), now)) {
				forget(ct, slot_at(line, 0));
				wipe_line(line);
			}
			continue;
		}
		for (uint32_t i = 0; i < SY_CT_LINE_SLOTS; i++) {
			struct sy_ct_entry *e = slot_at(line, i);

			if (e->expires && !live(e, now)) {
				forget(ct, e);
				e->expires = 0;
			}
		}
	}
}

/* Give slot e a new key: dead first, then the key (another worker may be
 * reading it, sy_ct_peek_other); the caller writes the rest and
 * sy_ct_touch() makes it live. Each fence is a compiler barrier on x86. */
static struct sy_ct_entry *claim(struct sy_ct_entry *e, const struct ct_key *c)
{
	/* an IPv6 entry's line was killed and zeroed whole by insert_v6 */
	e->expires = 0;
	atomic_thread_fence(memory_order_release);
	key_store(e, c);
	atomic_thread_fence(memory_order_release);
	return e;
}

/* Move the live IPv4 entry src into the free slot dst (of its other line):
 * live there before it dies here. An expired entry at dst is dropped. */
static void move_slot(struct sy_conntrack *ct, struct sy_ct_entry *dst, struct sy_ct_entry *src)
{
	uint32_t expires = src->expires;

	forget(ct, dst);
	dst->expires = 0;
	atomic_thread_fence(memory_order_release);
	memcpy((uint8_t *)dst + KEY_OFF, (const uint8_t *)src + KEY_OFF, SY_CT_SLOT - KEY_OFF);
	dst->svc_version = src->svc_version;
	dst->backend = src->backend;
	dst->uid = src->uid;
	atomic_thread_fence(memory_order_release);
	dst->expires = expires;
	atomic_thread_fence(memory_order_release);
	src->expires = 0;
}

/* Move the IPv6 entry of line src to the idle line dst, the same way. */
static void move_line(struct sy_conntrack *ct, uint8_t *dst, uint8_t *src)
{
	uint32_t expires = slot_at(src, 0)->expires;

	forget_line(ct, dst);
	slot_at(dst, 0)->expires = 0;
	slot_at(dst, 1)->expires = 0;
	atomic_thread_fence(memory_order_release);
	memcpy(dst + 4, src + 4, SY_CT_LINE - 4);
	atomic_thread_fence(memory_order_release);
	slot_at(dst, 0)->expires = expires;
	atomic_thread_fence(memory_order_release);
	wipe_line(src);
}

static bool line_idle(uint8_t *line, uint32_t now)
{
	return !live(slot_at(line, 0), now) && (v6_line(line) || !live(slot_at(line, 1), now));
}

/* ---- Making room by moving entries to their other line (cuckoo) --------
 * A search follows entries to their other lines up to `depth` moves deep.
 * The lines it is emptying are on its path and never entered again, so no
 * move can undo or overwrite another of the same search. */

#define MAX_MOVE_DEPTH 4

struct move_path {
	uint32_t line[MAX_MOVE_DEPTH + 2];
	int n;
};

static bool on_path(const struct move_path *p, uint32_t l)
{
	for (int i = 0; i < p->n; i++)
		if (p->line[i] == l)
			return true;
	return false;
}

static int free_slot(struct sy_conntrack *ct, uint32_t l, uint32_t now, int depth,
		     struct move_path *p);

/* Empty line l (no live entry left) within depth moves: 0, or -1. */
static int empty_line(struct sy_conntrack *ct, uint32_t l, uint32_t now, int depth,
		      struct move_path *p);

/* Move the live IPv4 entry in slot i of line l to its other line: 0, or -1. */
static int move_slot_out(struct sy_conntrack *ct, uint32_t l, uint32_t i, uint32_t now,
			 int depth, struct move_path *p)
{
	struct sy_ct_entry *e = slot_at(line_at(ct, l), i);
	uint32_t a = sy_ct_alt_line(ct, l, stored_tag(e));
	int j;

	if (a == l || on_path(p, a))
		return -1;
	j = free_slot(ct, a, now, depth, p);
	if (j < 0)
		return -1;
	move_slot(ct, slot_at(line_at(ct, a), (uint32_t)j), e);
	return 0;
}

/* Move the IPv6 entry of line l to its other line: 0, or -1. */
static int move_line_out(struct sy_conntrack *ct, uint32_t l, uint32_t now, int depth,
			 struct move_path *p)
{
	uint8_t *line = line_at(ct, l);
	uint32_t a = sy_ct_alt_line(ct, l, stored_tag(slot_at(line, 0)));

	if (a == l || on_path(p, a) || empty_line(ct, a, now, depth, p))
		return -1;
	move_line(ct, line_at(ct, a), line);
	return 0;
}

/* An IPv4 slot of line l that is not live, making one within depth moves
 * (an IPv6 entry moves out whole). The slot's index, or -1. */
static int free_slot(struct sy_conntrack *ct, uint32_t l, uint32_t now, int depth,
		     struct move_path *p)
{
	uint8_t *line = line_at(ct, l);
	int r = -1;

	if (v6_line(line)) {
		if (!live(slot_at(line, 0), now))
			return 0;
	} else {
		for (uint32_t i = 0; i < SY_CT_LINE_SLOTS; i++)
			if (!live(slot_at(line, i), now))
				return (int)i;
	}
	if (depth == 0)
		return -1;
	p->line[p->n++] = l;
	if (v6_line(line))
		r = move_line_out(ct, l, now, depth - 1, p) ? -1 : 0;
	else
		for (uint32_t i = 0; r < 0 && i < SY_CT_LINE_SLOTS; i++)
			if (move_slot_out(ct, l, i, now, depth - 1, p) == 0)
				r = (int)i;
	p->n--;
	return r;
}

static int empty_line(struct sy_conntrack *ct, uint32_t l, uint32_t now, int depth,
		      struct move_path *p)
{
	uint8_t *line = line_at(ct, l);
	int r = 0;

	if (line_idle(line, now))
		return 0;
	if (depth == 0)
		return -1;
	p->line[p->n++] = l;
	if (v6_line(line))
		r = move_line_out(ct, l, now, depth - 1, p);
	else
		for (uint32_t i = 0; r == 0 && i < SY_CT_LINE_SLOTS; i++)
			if (live(slot_at(line, i), now))
				r = move_slot_out(ct, l, i, now, depth - 1, p);
	p->n--;
	return r;
}

/* A search reads up to 2^(depth+2) lines and fails whenever the table is
 * full (a flood of new flows, or a table too small): each failure doubles
 * the number of inserts that skip the search and evict at once (up to
 * MOVE_BACKOFF_MAX), each success halves it. A success does not end the
 * back-off: in a full table one search in a few finds the odd free slot
 * four moves away, and ending it there made the next dozen inserts search
 * again, 64 lines each (the flood's steady state, lb_process_bench new). A
 * table with room succeeds every time and so never skips. */
#define MOVE_BACKOFF_MAX 1024u

static bool may_search(struct sy_conntrack *ct)
{
	if (!ct->move_skip)
		return true;
	ct->move_skip--;
	return false;
}

static void searched(struct sy_conntrack *ct, bool found)
{
	if (found) {
		ct->move_backoff /= 2;
		ct->move_skip = ct->move_backoff;
		return;
	}
	ct->move_backoff = ct->move_backoff ? ct->move_backoff * 2 : 1;
	if (ct->move_backoff > MOVE_BACKOFF_MAX)
		ct->move_backoff = MOVE_BACKOFF_MAX;
	ct->move_skip = ct->move_backoff;
}

/* ---- Inserting -------------------------------------------------------- */

/* A free IPv4 slot of l[0] or l[1], moving entries out (shortest search
 * first), or NULL. */
static struct sy_ct_entry *make_room_v4(struct sy_conntrack *ct, const uint32_t l[2],
					uint32_t now)
{
	struct move_path p = { .n = 0 };

	if (!may_search(ct))
		return NULL;
	/* one move if it does, else the deepest search */
	for (int depth = 1; depth <= MAX_MOVE_DEPTH; depth = depth == 1 ? MAX_MOVE_DEPTH : depth + 1)
		for (int j = 0; j < 2; j++) {
			int i = free_slot(ct, l[j], now, depth, &p);

			if (i >= 0) {
				searched(ct, true);
				return slot_at(line_at(ct, l[j]), (uint32_t)i);
			}
		}
	searched(ct, false);
	return NULL;
}

static struct sy_ct_entry *insert_v4(struct sy_conntrack *ct, const struct ct_key *c,
				     const uint32_t l[2], uint32_t now,
				     enum sy_ct_insert_result *how)
{
	struct sy_ct_entry *expired = NULL, *oldest = NULL, *room;
	uint32_t oldest_rank = 0;

	for (int j = 0; j < 2; j++) {
		uint8_t *line = line_at(ct, l[j]);
		uint32_t n = v6_line(line) ? 1 : SY_CT_LINE_SLOTS;

		for (uint32_t i = 0; i < n; i++) {
			struct sy_ct_entry *e = slot_at(line, i);
			uint32_t rank;

			if (!e->expires) {
				*how = SY_CT_INS_FREE;
				return claim(e, c);
			}
			if (!live(e, now)) {
				if (!expired)
					expired = e;
				continue;
			}
			rank = evict_rank(e);
			if (!oldest || tick_before(rank, oldest_rank)) {
				oldest = e;
				oldest_rank = rank;
			}
		}
	}
	if (expired) {
		*how = SY_CT_INS_EXPIRED;
		release(ct, expired);
		return claim(expired, c);
	}
	/* Both lines full of live entries: move some to their other lines. */
	room = make_room_v4(ct, l, now);
	if (room) {
		*how = SY_CT_INS_FREE;
		if (room->expires) /* an IPv6 entry moved out left a zeroed line */
			release(ct, room);
		return claim(room, c);
	}
	*how = SY_CT_INS_EVICTED;
	release(ct, oldest);
	return claim(oldest, c);
}

/* The latest expiry of the line's live entries (0 if none). */
static uint32_t line_latest(uint8_t *line, uint32_t now)
{
	uint32_t n = v6_line(line) ? 1 : SY_CT_LINE_SLOTS, latest = 0;
	bool any = false;

	for (uint32_t i = 0; i < n; i++) {
		struct sy_ct_entry *e = slot_at(line, i);

		if (!live(e, now))
			continue;
		if (!any || tick_before(latest, e->expires))
			latest = e->expires;
		any = true;
	}
	return latest;
}

/* An IPv6 entry takes a whole line: one with no live entry, else one whose
 * entries could all move to their other lines, else the line whose entries
 * expire soonest is taken from them. */
static struct sy_ct_entry *insert_v6(struct sy_conntrack *ct, const struct ct_key *c,
				     const uint32_t l[2], uint32_t now,
				     enum sy_ct_insert_result *how)
{
	struct move_path p = { .n = 0 };
	uint8_t *line, *victim;

	for (int j = 0; j < 2; j++) {
		line = line_at(ct, l[j]);
		if (line_idle(line, now)) {
			bool used = slot_at(line, 0)->expires ||
				    (!v6_line(line) && slot_at(line, 1)->expires);

			*how = used ? SY_CT_INS_EXPIRED : SY_CT_INS_FREE;
			goto take;
		}
	}
	if (may_search(ct)) {
		for (int depth = 1; depth <= MAX_MOVE_DEPTH;
		     depth = depth == 1 ? MAX_MOVE_DEPTH : depth + 1)
			for (int j = 0; j < 2; j++)
				if (empty_line(ct, l[j], now, depth, &p) == 0) {
					searched(ct, true);
					line = line_at(ct, l[j]);
					*how = SY_CT_INS_FREE;
					goto take;
				}
		searched(ct, false);
	}
	line = line_at(ct, l[0]);
	victim = line_at(ct, l[1]);
	if (tick_before(line_latest(victim, now), line_latest(line, now)))
		line = victim;
	*how = !v6_line(line) && live(slot_at(line, 0), now) && live(slot_at(line, 1), now)
		       ? SY_CT_INS_EVICTED2
		       : SY_CT_INS_EVICTED;
take:
	forget_line(ct, line);
	slot_at(line, 0)->expires = 0;
	slot_at(line, 1)->expires = 0;
	atomic_thread_fence(memory_order_release);
	wipe_line(line);
	return claim(slot_at(line, 0), c);
}

struct sy_ct_entry *sy_ct_insert_probed(struct sy_conntrack *ct, const struct sy_flow_key *key,
					uint32_t hash, const struct sy_ct_probe *pr, uint32_t now,
					enum sy_ct_insert_result *how)
{
	const uint32_t lines[2] = { pr->line[0], sy_ct_probe_line2(ct, pr, hash) };
	struct ct_key c;

	if (key->family == SY_AF_INET6) {
		c = ct_key_of(key, hash);
		return insert_v6(ct, &c, lines, now, how);
	}
	/* the stored key is the probe's, built once with the hash */
	c.w[0] = pr->w0;
	c.w[1] = pr->w1;
	c.n_words = 2;
	return insert_v4(ct, &c, lines, now, how);
}

struct sy_ct_entry *sy_ct_insert(struct sy_conntrack *ct, const struct sy_flow_key *key,
				 uint32_t hash, uint32_t now, enum sy_ct_insert_result *how)
{
	struct sy_ct_probe pr;

	sy_ct_probe_of(ct, key, hash, &pr);
	return sy_ct_insert_probed(ct, key, hash, &pr, now, how);
}

uint64_t sy_ct_count(const struct sy_conntrack *ct, uint32_t now)
{
	uint64_t n = 0;

	for (uint64_t l = 0; l < ct->n_lines; l++) {
		uint8_t *line = line_at(ct, (uint32_t)l);

		if (v6_line(line)) {
			n += live(slot_at(line, 0), now);
			continue;
		}
		for (uint32_t i = 0; i < SY_CT_LINE_SLOTS; i++)
			n += live(slot_at(line, i), now);
	}
	return n;
}
