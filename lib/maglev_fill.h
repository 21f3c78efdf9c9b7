/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The Maglev fill (internal to lib/): given backends in canonical order with
 * their permutations, which backend owns every entry. lib/maglev.c does the
 * identities (offsets, skips, canonical order, validation); lib/maglev_fill.c
 * does quotas, the order of turns and the probes. The fill itself is
 * described in include/switchyard/maglev.h. */
#ifndef SWITCHYARD_LIB_MAGLEV_FILL_H
#define SWITCHYARD_LIB_MAGLEV_FILL_H

#include <stdint.h>

struct sy_maglev_fill_backend {
	uint32_t index;  /* what the table holds for it: the caller's index */
	uint32_t weight; /* > 0; backends of weight 0 are left out */
	uint32_t offset; /* first slot of its permutation */
	uint32_t skip;   /* 1..m-1 */
};

/* Greatest common divisor (gcd(0, b) = b): the weights' unit, here and in
 * libswitchyard-resolve's round-robin period. */
static inline uint32_t sy_gcd(uint32_t a, uint32_t b)
{
	while (b) {
		uint32_t t = a % b;

		a = b;
		b = t;
	}
	return a;
}

/* The fill ended with slots free: a bug (every backend's permutation visits
 * every slot, and quotas add up to M), reported rather than published. */
#define SY_MAGLEV_FILL_INCOMPLETE (-2)

/* Fill table[0..m-1] (m prime) from b[0..n-1], n >= 1, in canonical order:
 * every entry is written. Returns 0, -1 when out of memory, or
 * SY_MAGLEV_FILL_INCOMPLETE; the table is undefined after an error. */
int sy_maglev_fill(const struct sy_maglev_fill_backend *b, uint32_t n, uint32_t m,
		   uint32_t *table);

#endif
