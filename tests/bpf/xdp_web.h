/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The fixture services of tests/common/flows.h in a region of their own,
 * mirrored into a freshly loaded XDP balancer (bpf/sy_xdp_lb.bpf.c, maps
 * unpinned), for the tests that run its flows through BPF_PROG_TEST_RUN on
 * a CPU of their choice (tests/bpf/test_xdp_icmp.c, test_xdp_conntrack.c).
 * The program is configured as the packet corpus expects: port MAC
 * 02:00:00:00:00:01, MTU 1500, ICMP answers.
 */
#ifndef SY_TESTS_XDP_WEB_H
#define SY_TESTS_XDP_WEB_H

#include <stdbool.h>
#include <stdint.h>

#include <switchyard/counters.h>
#include <switchyard/region_writer.h>

#include "xdp_lb.h"

struct sy_xdp_web {
	char path[128];
	struct sy_writer *w;
	struct sy_region_map *map;
	struct sy_xdp *x;
	int prog_fd;
	struct sy_xdp_config cfg;
};

/* Region `name` with web4 and web6 of n backends each, the program loaded
 * with ct_flows connection-table entries per CPU, configured and synced.
 * 0, or -1 after printing why to stderr. */
int sy_xdp_web_open(struct sy_xdp_web *e, const char *name, uint32_t n, uint32_t ct_flows);
void sy_xdp_web_close(struct sy_xdp_web *e);

/* Both services with n backends each, published and mirrored. 0 or -1. */
int sy_xdp_web_publish(struct sy_xdp_web *e, uint32_t n);

/* Pin the calling thread to one CPU (BPF_PROG_TEST_RUN runs the program on
 * the caller's CPU). 0 or -1. */
int sy_test_on_cpu(int cpu);

/* One frame through the program: the web backend (n of its MAC
 * 02:00:00:00:1x:<n>) it was sent to, 0 if it was not sent, -1 if the
 * test run failed. */
int sy_xdp_web_run(struct sy_xdp_web *e, const uint8_t *frame, uint32_t len);

/* A SYN of web flow i, and a router's too-big about it: sy_xdp_web_run(). */
int sy_xdp_web_syn(struct sy_xdp_web *e, uint32_t i, bool v6);
int sy_xdp_web_icmp(struct sy_xdp_web *e, uint32_t i, bool v6);

/* A counter of the program, summed over CPUs. */
uint64_t sy_xdp_web_counter(struct sy_xdp_web *e, enum sy_counter c);

/* As cmocka setup and teardown of a test: a fresh program in sy_test_web
 * (2 backends a service, SY_XDP_WEB_CT_FLOWS entries per CPU), refused on
 * a machine of fewer than 2 CPUs; closed after, the thread back on CPU 0. */
#define SY_XDP_WEB_CT_FLOWS 8192
extern struct sy_xdp_web sy_test_web;
int sy_xdp_web_setup(void **state);
int sy_xdp_web_teardown(void **state);

#endif
