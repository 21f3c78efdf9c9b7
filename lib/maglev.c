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
	uint32_t index; /* position in the caller's array */
	uint32_t weight;
	uint32_t pos;   /* next candidate slot in this backend's permutation */
	uint32_t skip;
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

/* Round in which a backend of weight w makes its k-th claim (k >= 1). */
static uint64_t claim_round(uint64_t k, uint32_t w, uint32_t maxw)
{
	return (k * maxw + w - 1) / w - 1;
}

struct claim {
	uint64_t round;
	uint32_t i; /* canonical position */
	uint32_t pad;
};

static bool claim_before(const struct claim *a, const struct claim *b)
{
	return a->round < b->round || (a->round == b->round && a->i < b->i);
}

static void heap_sift_down(struct claim *h, uint32_t n, uint32_t at)
{
	for (;;) {
		uint32_t l = 2 * at + 1, r = l + 1, min = at;

		if (l < n && claim_before(&h[l], &h[min]))
			min = l;
		if (r < n && claim_before(&h[r], &h[min]))
			min = r;
		if (min == at)
			return;
		struct claim t = h[at];
		h[at] = h[min];
		h[min] = t;
		at = min;
	}
}

/* Give backend s its next free slot. The permutation visits every slot (m
 * prime), so one is found while the table is not full. */
static inline void claim_next(struct fill_state *s, uint32_t m, uint32_t *table)
{
	while (table[s->pos] != SY_MAGLEV_NONE) {
		s->pos += s->skip;
		if (s->pos >= m)
			s->pos -= m;
	}
	table[s->pos] = s->index;
}

static bool all_heaviest(const struct fill_state *st, uint32_t n, uint32_t maxw)
{
	for (uint32_t i = 0; i < n; i++)
		if (st[i].weight && st[i].weight != maxw)
			return false;
	return true;
}

static int fill_by_rounds(struct fill_state *st, uint32_t n, uint32_t m, uint32_t maxw,
			  uint32_t *table)
{
	struct claim *h = malloc(sizeof(*h) * n);
	uint64_t *made = calloc(n, sizeof(*made));
	uint32_t hn = 0, filled = 0;

	if (!h || !made) {
		free(h);
		free(made);
		return -1;
	}
	for (uint32_t i = 0; i < n; i++)
		if (st[i].weight)
			h[hn++] = (struct claim){ .round = claim_round(1, st[i].weight, maxw), .i = i };
	if (all_heaviest(st, n, maxw)) {
		/* Equal weights: plain round-robin is the same order, cheaper. */
		for (uint32_t k = 0; filled < m; k = k + 1 == hn ? 0 : k + 1) {
			claim_next(&st[h[k].i], m, table);
			filled++;
		}
		free(h);
		free(made);
		return 0;
	}
	for (uint32_t i = hn / 2; i-- > 0;)
		heap_sift_down(h, hn, i);
	while (filled < m) {
		struct fill_state *s = &st[h[0].i];

		claim_next(s, m, table);
		filled++;
		h[0].round = claim_round(++made[h[0].i] + 1, s->weight, maxw);
		heap_sift_down(h, hn, 0);
	}
	free(h);
	free(made);
	return 0;
}

int sy_maglev_build(const struct sy_maglev_backend *b, uint32_t n, uint32_t m,
		    uint32_t *table, char *err, size_t errlen)
{
	struct fill_state *st = NULL;
	uint32_t maxw = 0;

	if (sy_maglev_check_size(m, err, errlen))
		return -1;
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
		if (st[i].weight > maxw)
			maxw = st[i].weight;
	}

	/* In round r a backend of weight w claims floor((r+1)w/maxw) -
	 * floor(rw/maxw) entries (0 or 1): the heaviest claims one per round, as
	 * in plain Maglev, and after R rounds every backend owns floor(Rw/maxw).
	 * Claims are taken in (round, canonical position) order from a heap, so
	 * light backends cost nothing in the rounds where they claim nothing. */
	if (maxw && fill_by_rounds(st, n, m, maxw, table)) {
		snprintf(err, errlen, "out of memory for %u backends", n);
		free(st);
		return -1;
	}
	free(st);
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
