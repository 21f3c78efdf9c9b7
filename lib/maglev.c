/* SPDX-License-Identifier: BSD-3-Clause
 * Maglev table construction; see include/switchyard/maglev.h for the contract. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <switchyard/flow_hash.h>
#include <switchyard/maglev.h>

#include "maglev_fill.h"

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

static int rank_cmp(const void *a, const void *b, void *ctx)
{
	const struct sy_maglev_backend *set = ctx;

	return sy_backend_id_cmp(&set[*(const uint32_t *)a].id,
				 &set[*(const uint32_t *)b].id);
}

/* Caller indices in canonical order. The control plane passes sets already
 * sorted (sy_maglev_sort), which costs one pass to confirm; a duplicate
 * identity fails the confirmation and is reported by validate(). */
static uint32_t *canonical_order(const struct sy_maglev_backend *b, uint32_t n)
{
	uint32_t *order = malloc(sizeof(*order) * (n ? n : 1));
	uint32_t i = 1;

	if (!order)
		return NULL;
	for (uint32_t k = 0; k < n; k++)
		order[k] = k;
	while (i < n && sy_backend_id_cmp(&b[i - 1].id, &b[i].id) < 0)
		i++;
	if (i < n)
		qsort_r(order, n, sizeof(*order), rank_cmp, (void *)b);
	return order;
}

static int validate(const struct sy_maglev_backend *b, uint32_t n,
		    const uint32_t *order, char *err, size_t errlen)
{
	for (uint32_t i = 0; i < n; i++) {
		const struct sy_maglev_backend *x = &b[order[i]];

		if (x->id.family != SY_AF_INET && x->id.family != SY_AF_INET6) {
			snprintf(err, errlen, "backend %u: unknown address family %u",
				 order[i], x->id.family);
			return -1;
		}
		if (x->weight > SY_MAGLEV_MAX_WEIGHT) {
			snprintf(err, errlen, "backend %u: weight %u above %u",
				 order[i], x->weight, SY_MAGLEV_MAX_WEIGHT);
			return -1;
		}
		if (i > 0 && sy_backend_id_cmp(&b[order[i - 1]].id, &x->id) == 0) {
			snprintf(err, errlen, "backends %u and %u have the same identity",
				 order[i - 1], order[i]);
			return -1;
		}
	}
	return 0;
}

int sy_maglev_build(const struct sy_maglev_backend *b, uint32_t n, uint32_t m,
		    uint32_t *table, char *err, size_t errlen)
{
	struct sy_maglev_fill_backend *fb = NULL;
	uint32_t *order = NULL, nfill = 0;
	int rc = -1;

	if (sy_maglev_check_size(m, err, errlen))
		return -1;
	if (n > SY_MAGLEV_MAX_BACKENDS) {
		snprintf(err, errlen, "%u backends, more than %u", n, SY_MAGLEV_MAX_BACKENDS);
		return -1;
	}
	order = canonical_order(b, n);
	fb = malloc(sizeof(*fb) * (n ? n : 1));
	if (!order || !fb) {
		snprintf(err, errlen, "out of memory for %u backends", n);
		goto out;
	}
	if (validate(b, n, order, err, errlen))
		goto out;
	/* Weight 0 (draining) takes no part: ownership is as if it were absent. */
	for (uint32_t i = 0; i < n; i++) {
		const struct sy_maglev_backend *x = &b[order[i]];
		uint32_t w[6];

		if (!x->weight)
			continue;
		id_words(&x->id, w);
		fb[nfill++] = (struct sy_maglev_fill_backend){
			.index = order[i],
			.weight = x->weight,
			.offset = sy_jhash_words(w, 6, SY_MAGLEV_SEED_OFFSET) % m,
			.skip = sy_jhash_words(w, 6, SY_MAGLEV_SEED_SKIP) % (m - 1) + 1,
		};
	}
	if (nfill == 0) {
		for (uint32_t s = 0; s < m; s++)
			table[s] = SY_MAGLEV_NONE;
	} else if ((rc = sy_maglev_fill(fb, nfill, m, table)) != 0) {
		if (rc == SY_MAGLEV_FILL_INCOMPLETE)
			snprintf(err, errlen, "internal error: table of %u entries left "
				 "incomplete by %u backends", m, n);
		else
			snprintf(err, errlen, "out of memory for %u backends", n);
		rc = -1;
		goto out;
	}
	rc = 0;
out:
	free(fb);
	free(order);
	return rc;
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
	uint32_t *order = canonical_order(b, n);
	uint32_t *rank = malloc(sizeof(*rank) * (n ? n : 1));

	if (!order || !rank) {
		free(order);
		free(rank);
		return 0;
	}
	/* Entries name backends by canonical rank, so the caller's order of b[]
	 * does not change the digest. */
	h = fnv1a(h, &m, sizeof(m));
	h = fnv1a(h, &n, sizeof(n));
	for (uint32_t r = 0; r < n; r++) {
		const struct sy_maglev_backend *x = &b[order[r]];
		struct sy_backend_id id = x->id;

		/* pad is not part of the identity (sy_backend_id_cmp). */
		id.pad = 0;
		rank[order[r]] = r;
		h = fnv1a(h, &id, sizeof(id));
		h = fnv1a(h, &x->weight, sizeof(x->weight));
	}
	for (uint32_t s = 0; s < m; s++) {
		uint32_t v = table[s] < n ? rank[table[s]] : SY_MAGLEV_NONE;

		h = fnv1a(h, &v, sizeof(v));
	}
	free(order);
	free(rank);
	return h;
}
