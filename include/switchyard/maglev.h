/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Maglev consistent hashing (Eisenbud et al., NSDI'16, section 3.4), with
 * weights. Userspace only: the control plane builds tables, the dataplane and
 * the XDP program only index them (table[flow_hash % M]).
 *
 * Properties the rest of Switchyard relies on (tests/unit/test_maglev.c):
 *  - A backend's offset and skip come from hashes of its identity (family,
 *    address, port), and the fill walks backends in identity order, so any
 *    host given the same set in any order builds the same ownership.
 *  - Weight w backends claim w/max_weight entries per round: ownership is
 *    proportional to weight. Weight 0 (draining) owns nothing.
 *  - An empty set, or a set whose weights are all 0, gives a table of
 *    SY_MAGLEV_NONE: new flows have no backend (the dataplane counts a
 *    "no_backend" drop); established flows are kept by connection tracking.
 */
#ifndef SWITCHYARD_MAGLEV_H
#define SWITCHYARD_MAGLEV_H

#include <stddef.h>
#include <stdint.h>

#define SY_MAGLEV_DEFAULT_M 65537u
#define SY_MAGLEV_MIN_M 251u
#define SY_MAGLEV_MAX_M 1048573u
#define SY_MAGLEV_MAX_WEIGHT 65535u
#define SY_MAGLEV_NONE UINT32_MAX

/* Canonical identity of a backend: what Maglev hashes and what orders a set.
 * Addresses in wire order; unused IPv4 words are zero. */
struct sy_backend_id {
	uint8_t family; /* SY_AF_INET or SY_AF_INET6 */
	uint8_t pad;
	uint16_t port; /* host byte order */
	uint32_t addr[4];
};

struct sy_maglev_backend {
	struct sy_backend_id id;
	uint32_t weight; /* 0 = draining */
};

/* Total order over identities (family, address bytes, port). */
int sy_backend_id_cmp(const struct sy_backend_id *a, const struct sy_backend_id *b);

/* Sort a set into canonical (identity) order. */
void sy_maglev_sort(struct sy_maglev_backend *b, uint32_t n);

/* 0 if m is an allowed table size (prime, SY_MAGLEV_MIN_M..SY_MAGLEV_MAX_M);
 * otherwise -1 with a message in err. */
int sy_maglev_check_size(uint32_t m, char *err, size_t errlen);

/* Fill table[0..m-1] with indices into b[] (in the caller's order; ownership
 * does not depend on that order). Returns 0, or -1 with a message in err for a
 * bad size, a weight above SY_MAGLEV_MAX_WEIGHT, an unknown family or a
 * duplicate identity. Scratch memory is malloc'ed (control plane only). */
int sy_maglev_build(const struct sy_maglev_backend *b, uint32_t n, uint32_t m,
		    uint32_t *table, char *err, size_t errlen);

/* Fingerprint of a service's table for fleet comparison: covers M, every
 * backend's identity and weight, and which identity owns every entry. Two
 * hosts with the same digest forward every flow identically. */
uint64_t sy_maglev_digest(const struct sy_maglev_backend *b, uint32_t n,
			  uint32_t m, const uint32_t *table);

#endif
