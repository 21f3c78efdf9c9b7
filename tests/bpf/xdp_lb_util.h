/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Helpers shared by the tests (and the benchmark) that drive
 * bpf/sy_xdp_lb.bpf.c through bpf/xdp_lb.c and BPF_PROG_TEST_RUN.
 */
#ifndef SY_TESTS_XDP_LB_UTIL_H
#define SY_TESTS_XDP_LB_UTIL_H

#include <stdint.h>

/* fd of the map `name` used by the program prog_fd, or -1. */
int sy_xdp_test_map_fd(int prog_fd, const char *name);

/* Delete every entry of a hash map. Returns the number
 * deleted. */
long sy_xdp_test_map_clear(int map_fd);

/* Empty every CPU's connection table of sy_conntrack (an array of sets,
 * mapped). Returns the number of ways that were in use, or -1. */
long sy_xdp_test_ct_clear(int conntrack_fd);

/* Zero the entry `key` of a per-CPU array on every CPU. 0 or -errno. */
int sy_xdp_test_percpu_zero(int map_fd, uint32_t key);

/* One BPF_PROG_TEST_RUN of frame (repeat 1). 0 with *action, the output in
 * out (*out_len bytes, at most out_cap) and the kernel's duration in ns, or
 * -errno. */
int sy_xdp_test_run(int prog_fd, const uint8_t *frame, uint32_t len, uint8_t *out,
		    uint32_t out_cap, uint32_t *out_len, uint32_t *action, uint32_t *duration_ns);

#endif
