/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The new-flow guard: which new flows get a connection-table entry. Packet
 * logic of both paths (dataplane/lb.c and bpf/sy_xdp_lb.bpf.c
 * select_tracked()), header-only, no libc.
 *
 * Without it any first packet takes an entry, and a flood of spoofed SYNs
 * (every packet a new flow) evicts the entries of real flows: they are
 * re-hashed by Maglev on their next packet, and move if the backend set
 * changed since they started. With it (Katran's approach, with a burst):
 *   1. each lcore (DPDK) or CPU (XDP) may insert at most `rate` new flows a
 *      second, `burst` at once after a quiet spell (a token bucket,
 *      token_bucket.h). A new flow over the budget is still forwarded to
 *      its Maglev backend, but gets no entry: counted in ct_bypass. A flow
 *      bypassed once gets its entry from a later packet when there is
 *      budget again.
 *   2. optionally (syn_only) a TCP packet without SYN that no entry tracks
 *      (the middle of a connection this worker never saw, or a spoofed ACK
 *      flood) gets no entry either and takes no token: counted in
 *      ct_bypass and ct_bypass_no_syn. Its flow is Maglev's for as long as
 *      it lasts (tracked again only if it sends a SYN).
 * Established flows' packets never reach the guard: they hit their entry.
 */
#ifndef SWITCHYARD_CT_GUARD_H
#define SWITCHYARD_CT_GUARD_H

#include "counters.h"
#include "pkt_hdr.h" /* SY_IPPROTO_TCP, SY_TCP_SYN */
#include "sy_types.h"
#include "token_bucket.h"

/* New tracked flows per second per lcore / CPU, and at once. The default
 * is Katran's limit (125,000 a second a CPU); the burst is a tenth of a
 * second of it, so that a flood starting on a quiet worker takes 12,500
 * entries (5% of the default 262,144-flow table) before the rate holds. */
/* The other half of keeping real flows through a sweep or flood of new
 * ones, where the guard lets them in: when a full table must evict a live
 * entry, one whose flow was seen again after its first packet counts this
 * much younger (dataplane/conntrack.c evict_rank(), xdp_maps.h
 * sy_xdp_ct_rank()), so new flows that come once evict their own kind; an
 * entry seen long ago and idle since still goes before a new one. */
#define SY_CT_SEEN_BONUS_MS 10000u

#define SY_CT_GUARD_RATE_DEFAULT 125000u
#define SY_CT_GUARD_BURST_DEFAULT 12500u
#define SY_CT_GUARD_RATE_MAX 100000000u
#define SY_CT_GUARD_BURST_MAX 100000000u

struct sy_ct_guard {
	uint32_t rate;    /* new tracked flows per second; 0 = off (every new flow) */
	uint32_t burst;   /* 0 = SY_CT_GUARD_BURST_DEFAULT */
	uint32_t syn_only; /* 1: TCP without SYN is never inserted */
};

/* May a new flow's packet (no entry tracks it; Maglev gave it a backend)
 * take an entry at now_ms? 0: insert it; else the counter of why not,
 * SY_C_CT_BYPASS (over the budget) or SY_C_CT_BYPASS_NO_SYN (TCP without
 * SYN under syn_only; count ct_bypass as well). */
static __sy_always_inline uint32_t sy_ct_guard_check(const struct sy_ct_guard *g,
						     struct sy_token_bucket *b, uint32_t now_ms,
						     uint8_t proto, uint8_t tcp_flags)
{
	if (g->syn_only && proto == SY_IPPROTO_TCP && !(tcp_flags & SY_TCP_SYN))
		return SY_C_CT_BYPASS_NO_SYN;
	if (!g->rate)
		return 0;
	if (!b || !sy_token_take(b, now_ms, g->rate, g->burst ? g->burst : SY_CT_GUARD_BURST_DEFAULT))
		return SY_C_CT_BYPASS;
	return 0;
}

#endif
