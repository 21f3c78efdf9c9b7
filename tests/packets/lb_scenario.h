/* SPDX-License-Identifier: BSD-3-Clause
 *
 * One lcore's packet path (struct sy_lb) on a region of its own, for the
 * scenario tests that drive millions of flows through it
 * (test_ct_pressure.c, test_ct_guard_flood.c): the service web4 (TCP
 * 198.18.100.1:80, ipip, Maglev m=65537, seed 7) with backends
 * 198.18.1.1..n, published through the services-file loader as sy-control
 * does; TCP segments of numbered flows; the backend Maglev's current table
 * gives a flow. The connection table is the test's (sy_ct_init on
 * lb.ct).
 */
#ifndef SY_TESTS_LB_SCENARIO_H
#define SY_TESTS_LB_SCENARIO_H

#include <stdint.h>
#include <stdio.h>

#include "lb.h"

struct sy_scn {
	char region[128];
	char svcfile[128];
	struct sy_writer *w;
	struct sy_lb lb; /* now = 1000, port MAC 02:00:00:00:00:01, MTU 1500 */
};

struct sy_scn_flow {
	uint32_t client; /* wire order */
	uint16_t sport;  /* host order */
};

/* The VIP and backend i's address, wire order. */
#define SY_SCN_VIP (198u | 18u << 8 | 100u << 16 | 1u << 24)
#define SY_SCN_BACKEND(i) (198u | 18u << 8 | 1u << 16 | (uint32_t)(i) << 24)

/* The region and the packet path around it ("name" names the files). 0, or
 * -1 after printing why. */
int sy_scn_open(struct sy_scn *s, const char *name);
void sy_scn_close(struct sy_scn *s);

/* web4 with backends 1..n, weights w[] (1 when w is NULL), published; the
 * packet path's snapshot is the new one. 0 or -1 (printed). */
int sy_scn_publish(struct sy_scn *s, uint32_t n, const uint32_t *w);

/* Bulk flow i: clients 198.19.0.0/16, 65,536 flows a source port. */
struct sy_scn_flow sy_scn_bulk_flow(uint64_t i);
/* Active flow j: clients 198.18.128.0/17 (disjoint from the bulk ones). */
struct sy_scn_flow sy_scn_active_flow(uint32_t j);

/* A TCP segment of the flow to the VIP through sy_lb_process(): its backend
 * (the outer IPv4 destination), or 0 when it is not forwarded. */
uint32_t sy_scn_tcp(struct sy_scn *s, struct sy_scn_flow f, uint8_t flags);

/* The backend Maglev's current table alone gives the flow, 0 for none. */
uint32_t sy_scn_pick(const struct sy_scn *s, struct sy_scn_flow f);

/* An unsigned number from the environment, def if unset. */
uint64_t sy_scn_env_u64(const char *name, uint64_t def);

/* A PASS:/FAIL: line; a failure sets *failed. */
#define SY_SCN_CHECK(failed, cond, ...)          \
	do {                                     \
		if (cond) {                      \
			printf("PASS: ");        \
		} else {                         \
			printf("FAIL: ");        \
			*(failed) = 1;           \
		}                                \
		printf(__VA_ARGS__);             \
		printf("\n");                    \
	} while (0)

#endif
