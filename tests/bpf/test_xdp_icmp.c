/* SPDX-License-Identifier: BSD-3-Clause
 *
 * ICMP errors on the XDP path (bpf/sy_xdp_lb.bpf.c under
 * BPF_PROG_TEST_RUN), beyond what the packet corpus can say with one frame
 * per case. The test thread pins itself to one CPU, then another:
 * BPF_PROG_TEST_RUN runs the program on the caller's CPU, so this is how a
 * test plays "the packet arrived on CPU n".
 *
 *   - the rate limit of the errors a CPU originates (frag-needed,
 *     packet-too-big): sy_config's icmp_rate / icmp_burst, a token bucket
 *     per CPU shared by both families. Time is the kernel's, so a count
 *     may exceed the burst by what the elapsed time refilled, never more.
 *     Before the limit existed, 300 oversized packets got 300 answers:
 *         [ RUN      ] rate_limit_burst
 *         300 of 300 answered in 1 ms (burst 10, 1/s)
 *
 * Needs root and at least 2 CPUs; fails, never skips.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <linux/bpf.h>
#include <sched.h>

#include <switchyard/counters.h>
#include <switchyard/icmp_error.h>
#include <switchyard/pkt_hdr.h>
#include <switchyard/region_writer.h>

#include "flows.h"
#include "xdp_lb.h"
#include "xdp_lb_util.h"

#define MTU 1500
#define FRAME_MAX (14 + MTU + 64)
#define OUT_CAP (FRAME_MAX + 512)
#define CT_FLOWS 8192

static const struct sy_region_limits limits = { .max_lcores = 2, .max_services = 8,
						.max_backends = 64, .heap_size = 8u << 20 };

static struct {
	char path[128];
	struct sy_writer *w;
	struct sy_region_map *map;
	struct sy_xdp *x;
	int prog_fd, ct_fd, bucket_fd;
	struct sy_xdp_config cfg;
} env;

static void on_cpu(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set)) {
		print_message("cannot pin the test to CPU %d\n", cpu);
		fail();
	}
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void configure(uint32_t rate, uint32_t burst)
{
	char err[256] = "";

	env.cfg.icmp_rate = rate;
	env.cfg.icmp_burst = burst;
	if (sy_xdp_configure(env.x, &env.cfg, err, sizeof(err)))
		print_message("sy_xdp_configure: %s\n", err);
	assert_string_equal(err, "");
}

static void publish(uint32_t n4)
{
	char err[256] = "";

	if (sy_test_publish_web(env.w, n4, err, sizeof(err)) ||
	    sy_xdp_sync(env.x, env.map->base, sy_writer_snapshot(env.w), err, sizeof(err)))
		print_message("publish: %s\n", err);
	assert_string_equal(err, "");
}

/* n oversized packets of web4 or web6 (one byte too many once
 * encapsulated) on the current CPU: how many were answered with
 * frag-needed / packet-too-big. */
static uint32_t oversized(uint32_t n, bool v6)
{
	static uint8_t in[FRAME_MAX], out[OUT_CAP];
	uint32_t answered = 0;

	for (uint32_t i = 0; i < n; i++) {
		struct sy_test_flow f = sy_test_web_flow(i, v6);
		uint32_t len = sy_test_frame(in, &f, SY_TCP_ACK, MTU - (v6 ? 40 : 20) + 1);
		uint32_t out_len = 0, action = 0;

		assert_int_equal(sy_xdp_test_run(env.prog_fd, in, len, out, OUT_CAP, &out_len, &action,
						 NULL),
				 0);
		if (action != XDP_TX)
			continue;
		if (v6)
			assert_true(out[14 + 6] == SY_IPPROTO_ICMPV6 && out[14 + 40] == SY_ICMP6_PKT_TOO_BIG);
		else
			assert_true(out[14 + 9] == SY_IPPROTO_ICMP && out[14 + 20] == SY_ICMP_DEST_UNREACH &&
				    out[14 + 21] == SY_ICMP_FRAG_NEEDED);
		answered++;
	}
	return answered;
}

static uint64_t counter(enum sy_counter c)
{
	uint64_t v[SY_LCORE_NCOUNTERS];

	sy_xdp_read_counters(env.x, v);
	return v[c];
}

/* Every CPU's bucket full again. */
static void refill_all(void)
{
	assert_int_equal(sy_xdp_test_percpu_zero(env.bucket_fd, 0), 0);
}

/* ---- rate limit ------------------------------------------------------------ */

/* 300 oversized packets on one CPU: the burst answered, the rest counted
 * rate-limited and drop_mtu; at 1 per second nothing refills meanwhile
 * unless the loop took over a second. */
static void rate_limit_burst(void **state)
{
	uint64_t sent0 = counter(SY_C_ICMP_TOO_BIG_SENT), lim0 = counter(SY_C_ICMP_RATE_LIMITED),
		 mtu0 = counter(SY_C_DROP_MTU), t0;
	uint32_t sent, refilled;

	(void)state;
	on_cpu(0);
	configure(1, 10);
	refill_all();
	t0 = now_ms();
	sent = oversized(150, false) + oversized(150, true);
	refilled = (uint32_t)((now_ms() - t0) / 1000 + 1);
	if (sent < 10 || sent > 10 + refilled)
		print_message("%u of 300 answered in %llu ms (burst 10, 1/s)\n", sent,
			      (unsigned long long)(now_ms() - t0));
	assert_true(sent >= 10 && sent <= 10 + refilled);
	assert_int_equal(counter(SY_C_ICMP_TOO_BIG_SENT) - sent0, sent);
	assert_int_equal(counter(SY_C_ICMP_RATE_LIMITED) - lim0, 300 - sent);
	assert_int_equal(counter(SY_C_DROP_MTU) - mtu0, 300 - sent);
}

/* sy_config's 0s are the defaults: SY_ICMP_BURST_DEFAULT at once, plus at
 * most what SY_ICMP_RATE_DEFAULT refilled while the loop ran. */
static void rate_limit_default(void **state)
{
	uint64_t t0;
	uint32_t sent, refilled;

	(void)state;
	on_cpu(0);
	configure(0, 0);
	refill_all();
	t0 = now_ms();
	sent = oversized(300, false);
	refilled = (uint32_t)((now_ms() - t0 + 1) * SY_ICMP_RATE_DEFAULT / 1000);
	if (sent < SY_ICMP_BURST_DEFAULT || sent > SY_ICMP_BURST_DEFAULT + refilled)
		print_message("%u of 300 answered in %llu ms\n", sent,
			      (unsigned long long)(now_ms() - t0));
	assert_true(sent >= SY_ICMP_BURST_DEFAULT && sent <= SY_ICMP_BURST_DEFAULT + refilled);
}

/* The bucket refills at the configured rate (10/s: after 300 ms at least 3
 * tokens, never more than the burst), and each CPU has its own. */
static void rate_limit_refill_per_cpu(void **state)
{
	uint32_t later;

	(void)state;
	on_cpu(0);
	configure(10, 5);
	refill_all();
	later = oversized(300, false);
	assert_true(later >= 5 && later <= 6);
	assert_true(oversized(300, true) <= 1);
	usleep(300 * 1000);
	later = oversized(300, false);
	if (later < 3 || later > 5)
		print_message("%u answered 300 ms later (10/s, burst 5)\n", later);
	assert_true(later >= 3 && later <= 5);
	on_cpu(1); /* CPU 1's bucket is untouched */
	later = oversized(300, true);
	assert_true(later >= 5 && later <= 6);
	on_cpu(0);
}

/* ---- setup ----------------------------------------------------------------- */

static int group_setup(void **state)
{
	struct sy_xdp_opts o = { .ct_flows = CT_FLOWS };
	char err[256] = "";

	(void)state;
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2) {
		fprintf(stderr, "test_xdp_icmp needs 2 CPUs, this machine has %ld\n",
			sysconf(_SC_NPROCESSORS_ONLN));
		return -1;
	}
	env.cfg = (struct sy_xdp_config){ .port_mac = SY_TEST_PORT_MAC, .mtu = MTU };
	snprintf(env.path, sizeof(env.path), "/dev/shm/sy-test-xdp-icmp-%d", (int)getpid());
	unlink(env.path);
	if (sy_writer_create(env.path, "xdp_icmp", &limits, NULL, &env.w, err, sizeof(err)) ||
	    sy_test_publish_web(env.w, 4, err, sizeof(err))) {
		fprintf(stderr, "region: %s\n", err);
		return -1;
	}
	env.map = sy_writer_map(env.w);
	if (sy_xdp_open(&env.x, &o, err, sizeof(err)) ||
	    sy_xdp_configure(env.x, &env.cfg, err, sizeof(err)) ||
	    sy_xdp_sync(env.x, env.map->base, sy_writer_snapshot(env.w), err, sizeof(err))) {
		fprintf(stderr, "xdp: %s\n", err);
		return -1;
	}
	env.prog_fd = sy_xdp_prog_fd(env.x);
	env.ct_fd = sy_xdp_test_map_fd(env.prog_fd, "sy_conntrack");
	env.bucket_fd = sy_xdp_test_map_fd(env.prog_fd, "sy_icmp_bucket");
	if (env.ct_fd < 0 || env.bucket_fd < 0) {
		fprintf(stderr, "no sy_conntrack or sy_icmp_bucket map on the program\n");
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	if (env.ct_fd > 0)
		close(env.ct_fd);
	if (env.bucket_fd > 0)
		close(env.bucket_fd);
	sy_xdp_close(env.x, false);
	if (env.w)
		sy_writer_close(env.w);
	unlink(env.path);
	return 0;
}

static int fresh(void **state)
{
	(void)state;
	publish(4);
	sy_xdp_test_map_clear(env.ct_fd);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(rate_limit_burst, fresh),
		cmocka_unit_test_setup(rate_limit_default, fresh),
		cmocka_unit_test_setup(rate_limit_refill_per_cpu, fresh),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
