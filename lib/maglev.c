/* SPDX-License-Identifier: BSD-3-Clause
 * Maglev table construction; see include/switchyard/maglev.h for the contract. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <switchyard/flow_hash.h>
#include <switchyard/maglev.h>

/* Seeds of the two identity hashes (offset and skip). Part of the fleet
 * contract, like the flow hash: changing them reshuffles every table. */
#define SY_MAGLEV_SEED_OFFSET 0x4d61676cu /* "Magl" */
#define SY_MAGLEV_SEED_SKIP 0x65763136u   /* "ev16" */

int sy_backend_id_cmp(const struct sy_backend_id *a, const struct sy_backend_id *b)
{
	int c;

	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	c = memcmp(a->addr, b->addr, sizeof(a->addr));
	if (c)
		return c < 0 ? -1 : 1;
	if (a->port != b->port)
		return a->port < b->port ? -1 : 1;
	return 0;
}

static int backend_cmp(const void *a, const void *b)
{
	return sy_backend_id_cmp(&((const struct sy_maglev_backend *)a)->id,
				 &((const struct sy_maglev_backend *)b)->id);
}

void sy_maglev_sort(struct sy_maglev_backend *b, uint32_t n)
{
	if (n)
		qsort(b, n, sizeof(*b), backend_cmp);
}

static int is_prime(uint32_t m)
{
	if (m < 2)
		return 0;
	if (m % 2 == 0)
		return m == 2;
	for (uint32_t d = 3; (uint64_t)d * d <= m; d += 2)
		if (m % d == 0)
			return 0;
	return 1;
}

int sy_maglev_check_size(uint32_t m, char *err, size_t errlen)
{
	if (m < SY_MAGLEV_MIN_M || m > SY_MAGLEV_MAX_M) {
		snprintf(err, errlen, "table size %u out of range %u..%u", m,
			 SY_MAGLEV_MIN_M, SY_MAGLEV_MAX_M);
		return -1;
	}
	if (!is_prime(m)) {
		snprintf(err, errlen, "table size %u is not prime", m);
		return -1;
	}
	return 0;
}

static void id_words(const struct sy_backend_id *id, uint32_t w[6])
{
	w[0] = id->family;
	memcpy(&w[1], id->addr, sizeof(id->addr));
	w[5] = id->port;
}

/* Backend state during the fill, kept in canonical order. */
struct fill_state {
	uint32_t index;  /* position in the caller's array */
	uint32_t weight;
	uint32_t pos;    /* slot of this backend's next probe */
	uint32_t skip;
	uint32_t lo, hi; /* floor and ceiling of the exact share M*w/W */
	uint32_t load;   /* entries owned so far */
	uint32_t probes; /* probes made so far */
};

static int fill_cmp(const void *a, const void *b, void *ctx)
{
	const struct sy_maglev_backend *set = ctx;

	return sy_backend_id_cmp(&set[((const struct fill_state *)a)->index].id,
				 &set[((const struct fill_state *)b)->index].id);
}

static int validate(const struct sy_maglev_backend *b, uint32_t n,
		    const struct fill_state *st, char *err, size_t errlen)
{
	for (uint32_t i = 0; i < n; i++) {
		const struct sy_maglev_backend *x = &b[st[i].index];

		if (x->id.family != SY_AF_INET && x->id.family != SY_AF_INET6) {
			snprintf(err, errlen, "backend %u: unknown address family %u",
				 st[i].index, x->id.family);
			return -1;
		}
		if (x->weight > SY_MAGLEV_MAX_WEIGHT) {
			snprintf(err, errlen, "backend %u: weight %u above %u",
				 st[i].index, x->weight, SY_MAGLEV_MAX_WEIGHT);
			return -1;
		}
		if (i > 0 && sy_backend_id_cmp(&b[st[i - 1].index].id, &x->id) == 0) {
			snprintf(err, errlen, "backends %u and %u have the same identity",
				 st[i - 1].index, st[i].index);
			return -1;
		}
	}
	return 0;
}

/* The table being filled and the shared pool of entries above a floor. */
struct fill {
	uint32_t *table;
	uint32_t m;
	uint32_t filled;
	uint32_t tokens; /* M - sum(lo): how many backends may still end at hi */
};

static inline bool may_take(const struct fill_state *s, const struct fill *f)
{
	return s->load < s->lo || (s->load < s->hi && f->tokens);
}

/* A backend's turn: one probe. It takes the slot if the slot is free and its
 * quota allows (up to lo, then up to hi while tokens last), and moves on to
 * the next slot of its permutation either way. Returns whether it may take
 * more entries, i.e. whether it keeps its turns. */
static inline bool take_turn(struct fill_state *s, struct fill *f)
{
	if (f->table[s->pos] == SY_MAGLEV_NONE && may_take(s, f)) {
		if (s->load >= s->lo)
			f->tokens--;
		f->table[s->pos] = s->index;
		s->load++;
		f->filled++;
	}
	s->pos += s->skip;
	if (s->pos >= f->m)
		s->pos -= f->m;
	s->probes++;
	return may_take(s, f);
}

/* Round of a backend's k-th probe (k >= 1): a backend of weight w probes
 * w/maxw times per round, the heaviest once. */
static uint64_t probe_round(uint64_t k, uint32_t w, uint32_t maxw)
{
	return (k * maxw + w - 1) / w - 1;
}

/* A turn in the heap is one integer: round << TURN_INDEX_BITS | canonical
 * position, so that (round, position) order is integer order. A backend
 * probes at most M times (a backend still taking after M probes has seen
 * every slot taken), so a round is below (M+1)*maxw < 2^36. */
#define TURN_INDEX_BITS 24
_Static_assert(SY_MAGLEV_MAX_BACKENDS <= 1u << TURN_INDEX_BITS, "index bits");
_Static_assert((uint64_t)(SY_MAGLEV_MAX_M + 1) * SY_MAGLEV_MAX_WEIGHT <
		       1ull << (64 - TURN_INDEX_BITS), "round bits");

static uint64_t turn_key(const struct fill_state *s, uint32_t i, uint32_t maxw)
{
	return probe_round(s->probes + 1, s->weight, maxw) << TURN_INDEX_BITS | i;
}

/* Restore the heap below `at` after h[at] was made later (or replaced). */
static void heap_sift_down(uint64_t *h, uint32_t n, uint32_t at)
{
	uint64_t x = h[at];

	for (;;) {
		uint32_t c = 2 * at + 1;

		if (c >= n)
			break;
		if (c + 1 < n && h[c + 1] < h[c])
			c++;
		if (h[c] >= x)
			break;
		h[at] = h[c];
		at = c;
	}
	h[at] = x;
}

/* Turns in (round, canonical position) order from a heap, so that light
 * backends cost nothing in the rounds where they have no turn. */
static int fill_weighted(struct fill_state *st, uint32_t n, uint32_t maxw, struct fill *f)
{
	uint64_t *h = malloc(sizeof(*h) * n);
	uint32_t hn = 0;

	if (!h)
		return -1;
	for (uint32_t i = 0; i < n; i++)
		if (st[i].weight)
			h[hn++] = turn_key(&st[i], i, maxw);
	for (uint32_t i = hn / 2; i-- > 0;)
		heap_sift_down(h, hn, i);
	while (f->filled < f->m) {
		uint32_t i = (uint32_t)(h[0] & ((1u << TURN_INDEX_BITS) - 1));

		if (take_turn(&st[i], f))
			h[0] = turn_key(&st[i], i, maxw);
		else
			h[0] = h[--hn];
		heap_sift_down(h, hn, 0);
	}
	free(h);
	return 0;
}

/* Equal weights: every round is one turn per backend in canonical order, so
 * round-robin over the backends still taking gives the same table, cheaper. */
static int fill_equal(struct fill_state *st, uint32_t n, struct fill *f)
{
	uint32_t *active = malloc(sizeof(*active) * n);
	uint32_t na = 0;

	if (!active)
		return -1;
	for (uint32_t i = 0; i < n; i++)
		if (st[i].weight)
			active[na++] = i;
	while (f->filled < f->m) {
		uint32_t keep = 0;

		for (uint32_t k = 0; k < na; k++)
			if (take_turn(&st[active[k]], f))
				active[keep++] = active[k];
		na = keep;
	}
	free(active);
	return 0;
}

int sy_maglev_build(const struct sy_maglev_backend *b, uint32_t n, uint32_t m,
		    uint32_t *table, char *err, size_t errlen)
{
	struct fill f = { .table = table, .m = m, .tokens = m };
	struct fill_state *st = NULL;
	uint32_t maxw = 0;
	uint64_t wsum = 0;
	bool equal = true;
	int rc;

	if (sy_maglev_check_size(m, err, errlen))
		return -1;
	if (n > SY_MAGLEV_MAX_BACKENDS) {
		snprintf(err, errlen, "%u backends, more than %u", n, SY_MAGLEV_MAX_BACKENDS);
		return -1;
	}
	for (uint32_t s = 0; s < m; s++)
		table[s] = SY_MAGLEV_NONE;
	if (n == 0)
		return 0;

	st = malloc(sizeof(*st) * n);
	if (!st) {
		snprintf(err, errlen, "out of memory for %u backends", n);
		return -1;
	}
	for (uint32_t i = 0; i < n; i++)
		st[i].index = i;
	qsort_r(st, n, sizeof(*st), fill_cmp, (void *)b);
	if (validate(b, n, st, err, errlen)) {
		free(st);
		return -1;
	}
	for (uint32_t i = 0; i < n; i++) {
		uint32_t w[6];

		id_words(&b[st[i].index].id, w);
		st[i].weight = b[st[i].index].weight;
		st[i].pos = sy_jhash_words(w, 6, SY_MAGLEV_SEED_OFFSET) % m;
		st[i].skip = sy_jhash_words(w, 6, SY_MAGLEV_SEED_SKIP) % (m - 1) + 1;
		st[i].load = 0;
		st[i].probes = 0;
		wsum += st[i].weight;
		if (st[i].weight > maxw)
			maxw = st[i].weight;
	}
	if (maxw == 0) {
		free(st);
		return 0;
	}
	/* Quotas: every backend ends with lo or hi entries; the tokens are the
	 * entries left over when every backend has its floor. The fill ends
	 * with every slot taken: a backend stops only at hi, or at lo once the
	 * tokens are gone, and its permutation visits every slot (M prime). */
	for (uint32_t i = 0; i < n; i++) {
		uint64_t share = (uint64_t)m * st[i].weight;

		st[i].lo = (uint32_t)(share / wsum);
		st[i].hi = (uint32_t)((share + wsum - 1) / wsum);
		f.tokens -= st[i].lo;
		if (st[i].weight && st[i].weight != maxw)
			equal = false;
	}
	rc = equal ? fill_equal(st, n, &f) : fill_weighted(st, n, maxw, &f);
	free(st);
	if (rc) {
		snprintf(err, errlen, "out of memory for %u backends", n);
		return -1;
	}
	return 0;
}

/* FNV-1a, 64-bit: a stable fingerprint, not a security boundary. */
static uint64_t fnv1a(uint64_t h, const void *p, size_t len)
{
	const uint8_t *c = p;

	for (size_t i = 0; i < len; i++) {
		h ^= c[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

uint64_t sy_maglev_digest(const struct sy_maglev_backend *b, uint32_t n,
			  uint32_t m, const uint32_t *table)
{
	uint64_t h = 0xcbf29ce484222325ull;
	uint32_t *rank = NULL;
	struct fill_state *st = malloc(sizeof(*st) * (n ? n : 1));

	rank = malloc(sizeof(*rank) * (n ? n : 1));
	if (!st || !rank) {
		free(st);
		free(rank);
		return 0;
	}
	/* Entries name backends by canonical rank, so the caller's order of b[]
	 * does not change the digest. */
	for (uint32_t i = 0; i < n; i++)
		st[i].index = i;
	qsort_r(st, n, sizeof(*st), fill_cmp, (void *)b);
	h = fnv1a(h, &m, sizeof(m));
	h = fnv1a(h, &n, sizeof(n));
	for (uint32_t r = 0; r < n; r++) {
		const struct sy_maglev_backend *x = &b[st[r].index];
		struct sy_backend_id id = x->id;

		/* pad is not part of the identity (sy_backend_id_cmp). */
		id.pad = 0;
		rank[st[r].index] = r;
		h = fnv1a(h, &id, sizeof(id));
		h = fnv1a(h, &x->weight, sizeof(x->weight));
	}
	for (uint32_t s = 0; s < m; s++) {
		uint32_t v = table[s] < n ? rank[table[s]] : SY_MAGLEV_NONE;

		h = fnv1a(h, &v, sizeof(v));
	}
	free(st);
	free(rank);
	return h;
}
