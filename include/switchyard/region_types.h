/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The region ABI types that the XDP program shares with the rest
 * (VIP keys, forwarding modes, per-VIP and per-backend counters): no atomics,
 * no libc, so that it compiles with `clang -target bpf`. region.h includes it.
 */
#ifndef SWITCHYARD_REGION_TYPES_H
#define SWITCHYARD_REGION_TYPES_H

#include "sy_types.h"

/* A service's VIP. port 0 = all ports of (addr, proto). */
struct sy_vip_key {
	uint32_t addr[4]; /* wire order; IPv4 in addr[0], rest 0 */
	uint16_t port;    /* network byte order */
	uint8_t proto;    /* IPPROTO_TCP / IPPROTO_UDP */
	uint8_t family;   /* SY_AF_INET / SY_AF_INET6 */
};

/* family flag of a VIP index "address entry" (see region.h) */
#define SY_VIP_ADDR_KEY 0x80

enum sy_fwd_mode {
	SY_FWD_IPIP = 1,  /* IPv4-in-IPv4, IPv6-in-IPv6 */
	SY_FWD_GUE = 2,   /* outer UDP, source port from the flow hash */
	SY_FWD_L2DSR = 3, /* destination-MAC rewrite on the same L2 */
};

/* Per-lcore counters, written by their lcore only, summed by sy-control. */
#define SY_LCORE_NCOUNTERS 64 /* names and indices: dataplane/counters.h */

struct sy_vip_counters {
	uint64_t pkts;
	uint64_t bytes;
	uint64_t drops;
	uint64_t new_flows;
};

struct sy_backend_counters {
	uint64_t pkts;
	uint64_t bytes;
};

#endif
