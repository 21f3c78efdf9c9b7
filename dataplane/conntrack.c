/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdatomic.h>
#include <string.h>

#include "conntrack.h"

_Static_assert(sizeof(struct sy_ct_entry) == 64, "one cache line per entry");

/* Wrap-safe "a is before b" on 32-bit millisecond ticks (49-day period). */
static inline bool tick_before(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

static inline bool live(const struct sy_ct_entry *e, uint32_t now)
{
	return e->expires && !tick_before(e->expires, now);
}

/* 40-byte keys compared as five words (memcmp would be a libc call). */
static inline bool key_eq(const struct sy_flow_key *a, const struct sy_flow_key *b)
{
	uint64_t x[5], y[5];

	_Static_assert(sizeof(*a) == sizeof(x), "flow key is 40 bytes");
	memcpy(x, a, sizeof(x));
	memcpy(y, b, sizeof(y));
	return !((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3]) | (x[4] ^ y[4]));
}

static inline uint16_t sig_of(uint32_t hash)
{
	uint16_t s = (uint16_t)(hash >> 16);

	return s ? s : 1;
}

static uint64_t n_buckets_for(uint64_t capacity)
{
	uint64_t n = 1;

	while (n * SY_CT_WAYS < capacity)
		n <<= 1;
	return n;
}

uint64_t sy_ct_memsize(uint64_t capacity)
{
	return n_buckets_for(capacity) * sizeof(struct sy_ct_bucket);
}

void sy_ct_init(struct sy_conntrack *ct, void *mem, uint64_t capacity,
		const struct sy_ct_timeouts *to)
{
	ct->buckets = mem;
	ct->mask = (uint32_t)(n_buckets_for(capacity) - 1);
	ct->sweep_next = 0;
	ct->to = to ? *to : SY_CT_DEFAULT_TIMEOUTS;
}

void sy_ct_clear(struct sy_conntrack *ct)
{
	memset(ct->buckets, 0, sizeof(*ct->buckets) * ((size_t)ct->mask + 1));
	ct->sweep_next = 0;
}

uint64_t sy_ct_capacity(const struct sy_conntrack *ct)
{
	return ((uint64_t)ct->mask + 1) * SY_CT_WAYS;
}

struct sy_ct_entry *sy_ct_lookup(struct sy_conntrack *ct, const struct sy_flow_key *key,
				 uint32_t hash, uint32_t now)
{
	struct sy_ct_bucket *b = &ct->buckets[hash & ct->mask];
	uint16_t sig = sig_of(hash);

	for (int i = 0; i < SY_CT_WAYS; i++) {
		if (b->sig[i] != sig || !key_eq(&b->e[i].key, key))
			continue;
		if (live(&b->e[i], now))
			return &b->e[i];
		/* Our own expired entry: free it now, so that the new one the
		 * caller inserts is the only entry of this flow. */
		b->sig[i] = 0;
		b->e[i].expires = 0;
	}
	return NULL;
}

const struct sy_ct_entry *sy_ct_peek(const struct sy_conntrack *ct,
				     const struct sy_flow_key *key, uint32_t hash, uint32_t now)
{
	const struct sy_ct_bucket *b = &ct->buckets[hash & ct->mask];
	uint16_t sig = sig_of(hash);

	for (int i = 0; i < SY_CT_WAYS; i++)
		if (b->sig[i] == sig && live(&b->e[i], now) && key_eq(&b->e[i].key, key))
			return &b->e[i];
	return NULL;
}

int sy_ct_peek_other(const struct sy_conntrack *ct, const struct sy_flow_key *key, uint32_t hash,
		     uint32_t now, uint64_t *uid)
{
	const struct sy_ct_bucket *b = &ct->buckets[hash & ct->mask];
	uint16_t sig = sig_of(hash);

	for (int i = 0; i < SY_CT_WAYS; i++) {
		const struct sy_ct_entry *e = &b->e[i];
		struct sy_flow_key before, after;
		uint64_t u;
		uint32_t expires;

		if (b->sig[i] != sig)
			continue;
		/* the owner's order, read backwards (sy_ct_insert): if the key is
		 * ours and the entry live, the uid read next is at least as new
		 * as the key; the key read again says nobody rewrote it since */
		memcpy(&before, &e->key, sizeof(before));
		atomic_thread_fence(memory_order_acquire);
		expires = e->expires;
		atomic_thread_fence(memory_order_acquire);
		u = e->uid;
		atomic_thread_fence(memory_order_acquire);
		memcpy(&after, &e->key, sizeof(after));
		if (key_eq(&before, key) && key_eq(&after, key) && expires &&
		    !tick_before(expires, now)) {
			*uid = u;
			return 1;
		}
	}
	return 0;
}

void sy_ct_sweep(struct sy_conntrack *ct, uint32_t now, uint32_t n_buckets)
{
	for (uint32_t k = 0; k < n_buckets; k++) {
		struct sy_ct_bucket *b = &ct->buckets[ct->sweep_next++ & ct->mask];

		for (int i = 0; i < SY_CT_WAYS; i++)
			if (b->sig[i] && !live(&b->e[i], now)) {
				b->sig[i] = 0;
				b->e[i].expires = 0;
			}
	}
}

struct sy_ct_entry *sy_ct_insert(struct sy_conntrack *ct, const struct sy_flow_key *key,
				 uint32_t hash, uint32_t now, enum sy_ct_insert_result *how)
{
	struct sy_ct_bucket *b = &ct->buckets[hash & ct->mask];
	int victim = -1;

	for (int i = 0; i < SY_CT_WAYS; i++) {
		if (!b->sig[i]) {
			victim = i;
			*how = SY_CT_INS_FREE;
			break;
		}
		if (!live(&b->e[i], now)) {
			if (victim < 0 || *how != SY_CT_INS_EXPIRED) {
				victim = i;
				*how = SY_CT_INS_EXPIRED;
			}
		} else if (victim < 0 || (*how == SY_CT_INS_EVICTED &&
					  tick_before(b->e[i].expires, b->e[victim].expires))) {
			victim = i;
			*how = SY_CT_INS_EVICTED;
		}
	}
	/* Another worker may be reading this entry (sy_ct_peek_other): it is
	 * dead before it gets the new key, the key comes before the uid the
	 * caller writes, and sy_ct_touch() makes it live last. Each fence is a
	 * compiler barrier on x86. */
	b->e[victim].expires = 0;
	atomic_thread_fence(memory_order_release);
	b->sig[victim] = sig_of(hash);
	b->e[victim].key = *key;
	atomic_thread_fence(memory_order_release);
	return &b->e[victim];
}

uint64_t sy_ct_count(const struct sy_conntrack *ct, uint32_t now)
{
	uint64_t n = 0;

	for (uint64_t i = 0; i <= ct->mask; i++)
		for (int w = 0; w < SY_CT_WAYS; w++)
			n += ct->buckets[i].sig[w] && live(&ct->buckets[i].e[w], now);
	return n;
}
