/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The choice of services[].scheduler: least-connections, shared by the DPDK
 * path (dataplane/lb.c, counts from its worker's connection table) and the
 * XDP program (bpf/sy_xdp_lb.bpf.c, counts sy-control publishes from the
 * CPUs' tables plus the CPU's own new flows since). Each path walks the
 * service's backends in canonical order (region.h: the order of
 * sy_service_backends, the same on both paths) and offers each one's active
 * connections and weight; the winner is the backend with the smallest
 * connections / weight, compared exactly (cross-multiplied in 64 bits, no
 * division), ties to the first offered (the lowest index). A backend of
 * weight 0 (draining, or weighted out) takes no new flow. Compiles with
 * `clang -target bpf`.
 */
#ifndef SWITCHYARD_LEAST_CONNS_H
#define SWITCHYARD_LEAST_CONNS_H

#include "flow_hash.h"

/* No backend was eligible: SY_MAGLEV_NONE (maglev.h, not for BPF). */
#define SY_LEAST_CONNS_NONE 0xffffffffu

/* The choice so far. */
struct sy_least_conns {
	uint32_t best;   /* backend index, SY_LEAST_CONNS_NONE while none was eligible */
	uint32_t weight; /* the best one's */
	uint64_t conns;  /* the best one's active connections */
};

static __sy_always_inline void sy_least_conns_init(struct sy_least_conns *lc)
{
	lc->best = SY_LEAST_CONNS_NONE;
	lc->weight = 0;
	lc->conns = 0;
}

/* Offer backend idx, with `conns` active connections and `weight` (0: takes
 * no new flow). It wins if conns / weight < best's conns / best's weight:
 * conns x best's weight < best's conns x weight, in 64 bits (counts taken
 * below 2^32, weights up to SY_MAGLEV_MAX_WEIGHT). */
static __sy_always_inline void sy_least_conns_offer(struct sy_least_conns *lc, uint32_t idx,
						    uint64_t conns, uint32_t weight)
{
	if (!weight)
		return;
	conns &= 0xffffffffu;
	if (lc->best == SY_LEAST_CONNS_NONE || conns * lc->weight < lc->conns * weight) {
		lc->best = idx;
		lc->weight = weight;
		lc->conns = conns;
	}
}

#endif
