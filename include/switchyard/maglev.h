/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Consistent hashing tables in the style of Maglev (Eisenbud et al., NSDI'16,
 * section 3.4), with weights and bounded loads. Userspace only: the control
 * plane builds tables, the dataplane and the XDP program only index them
 * (table[flow_hash % M]).
 *
 * The fill ("rank-synchronous quota fill"). As in Maglev, backend i has a
 * permutation of the slots, offset_i + j*skip_i (mod M), with offset and skip
 * from hashes of its identity (family, address, port), and backends are taken
 * in canonical (identity) order. Unlike Maglev, a backend's turn is one probe,
 * not one claim: it looks at the next slot of its permutation, takes it if it
 * is free and its quota allows, and moves on either way. Turns go in rounds: a
 * backend of weight w has its k-th turn (k >= 1) in round ceil(k*maxw/w) - 1,
 * and within a round turns go in canonical order. Quotas: with W the sum of
 * the weights and share_i = M*w_i/W, a backend owns at least lo_i =
 * floor(share_i) and at most hi_i = ceil(share_i) entries; the M - sum(lo)
 * entries above the floors are a shared pool taken first come, first served.
 * A backend leaves the rotation when it has hi_i entries, or lo_i once the
 * pool is empty. With equal weights this is round-robin over the backends
 * still taking.
 *
 * Properties the rest of Switchyard relies on (tests/unit/test_maglev.c,
 * tests/packets/gen_corpus.py models the same fill):
 *  - Fleet consistency: any host given the same set in any order builds the
 *    same ownership (offsets, skips and order come from identities only).
 *  - Balance and weights: every backend owns floor or ceil of its exact share
 *    M*w/W. Weight 0 (draining) owns nothing, exactly as if it were absent.
 *    A positive-weight backend whose share is below one entry may own none.
 *  - Disruption (measured, not guaranteed): removing or adding one of N=100
 *    equal backends at M=65537 changes about 1.3x the entries that backend
 *    owned or takes (mean 1.28 remove, 1.30 add, max 1.43 over 1000 of each
 *    on 40 random sets; Maglev's fill: mean 1.56, max 1.69). It grows with
 *    N/M: at M=65537 about 1.65x for N=200 and 4x for N=1000 (Maglev 6.6x);
 *    at M=655373, N=100 about 1.09x (Maglev 1.14x).
 *  - Cost (lib/maglev_fill.c): the order of turns is read from a calendar
 *    built once (one entry per unit of weight over the weights' gcd), probes
 *    test a bitmap of free slots, and the last few hundred free slots are
 *    found by computing each backend's next claim instead of probing. Equal
 *    and unequal weights cost about the same: 0.75-0.9 ms at M=65537,
 *    N=1000 (0.4x Katran's MaglevHashV2 in the same run), 7-13 ms at
 *    M=655373 (perf/README.md). Weights whose units add up to more than 16
 *    per slot (weights spread over 1..65535) order turns with a heap, at a
 *    heap operation per probe (up to 0.3 s at M=655373, N=10000).
 *  - The fill was reimplemented (turn calendar, endgame) without changing a
 *    table: for the same set a host running the previous implementation (a
 *    heap of turns, up to commit 333e56c) builds the same table and digest,
 *    so a fleet in a rolling upgrade agrees on every flow.
 *  - An empty set, or a set whose weights are all 0, gives a table of
 *    SY_MAGLEV_NONE: new flows have no backend (the dataplane counts a
 *    "no_backend" drop); established flows are kept by connection tracking.
 *  - Tables are not those of textbook Maglev (Pseudocode 1), even with equal
 *    weights: a host running a builder from before this fill owns entries
 *    differently (and its digests differ) for the same set.
 */
#ifndef SWITCHYARD_MAGLEV_H
#define SWITCHYARD_MAGLEV_H

#include <stddef.h>
#include <stdint.h>

#define SY_MAGLEV_DEFAULT_M 65537u
#define SY_MAGLEV_MIN_M 251u
#define SY_MAGLEV_MAX_M 1048573u
#define SY_MAGLEV_MAX_WEIGHT 65535u
#define SY_MAGLEV_MAX_BACKENDS (1u << 24) /* per set */
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
 * bad size, more than SY_MAGLEV_MAX_BACKENDS backends, a weight above
 * SY_MAGLEV_MAX_WEIGHT, an unknown family or a duplicate identity. Scratch
 * memory is malloc'ed (control plane only). */
int sy_maglev_build(const struct sy_maglev_backend *b, uint32_t n, uint32_t m,
		    uint32_t *table, char *err, size_t errlen);

/* Fingerprint of a service's table for fleet comparison: covers M, every
 * backend's identity and weight, and which identity owns every entry. Two
 * hosts with the same digest forward every flow identically. */
uint64_t sy_maglev_digest(const struct sy_maglev_backend *b, uint32_t n,
			  uint32_t m, const uint32_t *table);

#endif
