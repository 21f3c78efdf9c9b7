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
 *   - ICMP errors about a flow another CPU tracks: flows of CPU 0 that kept
 *     their backend when the set grew get their errors on CPU 1 too. Before
 *     the program looked at the other CPUs' entries:
 *         flow 0: ICMP error on CPU 1 went to backend 5, the flow is on 2 (Maglev: 5)
 *         [  FAILED  ] icmp_on_other_cpu
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

/* The fixture services with n backends each, mirrored into the maps. */
static void publish(uint32_t n)
{
	char err[256] = "";

	if (sy_test_publish_web(env.w, n, n, err, sizeof(err)) ||
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

/* ---- ICMP errors about another CPU's flows ---------------------------------- */

#define N_FLOWS 200

/* A frame through the program on the current CPU: the backend (n of its
 * MAC 02:00:00:00:1x:<n>) it was sent to, 0 if it was not. */
static uint32_t backend_of_run(const uint8_t *in, uint32_t len)
{
	static uint8_t out[OUT_CAP];
	uint32_t out_len = 0, action = 0;

	assert_int_equal(sy_xdp_test_run(env.prog_fd, in, len, out, OUT_CAP, &out_len, &action, NULL),
			 0);
	return action == XDP_TX && out_len >= 14 ? out[5] : 0;
}

static uint32_t syn(uint32_t i, bool v6)
{
	static uint8_t in[FRAME_MAX];
	struct sy_test_flow f = sy_test_web_flow(i, v6);

	return backend_of_run(in, sy_test_frame(in, &f, SY_TCP_SYN, v6 ? 60 : 40));
}

static uint32_t icmp_about(uint32_t i, bool v6)
{
	static uint8_t in[FRAME_MAX];
	struct sy_test_flow f = sy_test_web_flow(i, v6);

	return backend_of_run(in, sy_test_icmp_too_big(in, &f, 1400));
}

static uint32_t maglev_of(uint32_t i, bool v6)
{
	return sy_test_web_maglev(env.map->base, sy_writer_snapshot(env.w), i, v6);
}

/* Flows of CPU 0 keep their backends when the set grows from 2 to 5,
 * although Maglev now sends many elsewhere. A router's ICMP error about
 * such a flow that arrives on CPU 1 must still reach the flow's backend. */
static void icmp_on_other_cpu(void **state)
{
	static uint32_t be[2][N_FLOWS];
	uint64_t other0, to_be0;
	uint32_t moved = 0;

	(void)state;
	on_cpu(0);
	publish(2);
	for (int v6 = 0; v6 < 2; v6++)
		for (uint32_t i = 0; i < N_FLOWS; i++) {
			be[v6][i] = syn(i, v6);
			assert_int_not_equal(be[v6][i], 0);
		}
	publish(5);
	on_cpu(1);
	other0 = counter(SY_C_ICMP_CT_OTHER);
	to_be0 = counter(SY_C_ICMP_TO_BACKEND);
	for (int v6 = 0; v6 < 2; v6++)
		for (uint32_t i = 0; i < N_FLOWS; i++) {
			uint32_t got = icmp_about(i, v6);

			moved += maglev_of(i, v6) != be[v6][i];
			if (got != be[v6][i])
				print_message("flow %u%s: ICMP error on CPU 1 went to backend %u, the flow is on %u (Maglev: %u)\n",
					      i, v6 ? " (IPv6)" : "", got, be[v6][i], maglev_of(i, v6));
			assert_int_equal(got, be[v6][i]);
		}
	assert_true(moved > N_FLOWS);
	assert_int_equal(counter(SY_C_ICMP_CT_OTHER) - other0, 2 * N_FLOWS);
	assert_int_equal(counter(SY_C_ICMP_TO_BACKEND) - to_be0, 2 * N_FLOWS);
	/* on the flow's own CPU: its own table, not counted as another's */
	on_cpu(0);
	for (uint32_t i = 0; i < N_FLOWS; i++)
		assert_int_equal(icmp_about(i, false), be[0][i]);
	assert_int_equal(counter(SY_C_ICMP_CT_OTHER) - other0, 2 * N_FLOWS);
}

/* What another CPU's entry names is checked: a flow whose backend left goes
 * by Maglev, as on its own CPU. */
static void icmp_other_cpu_checked(void **state)
{
	static uint32_t be[N_FLOWS];
	uint64_t other0 = counter(SY_C_ICMP_CT_OTHER);
	uint32_t kept = 0;

	(void)state;
	on_cpu(0);
	publish(5);
	for (uint32_t i = 0; i < N_FLOWS; i++)
		be[i] = syn(i, false);
	publish(2); /* backends 3..5 leave (marked gone) */
	on_cpu(1);
	for (uint32_t i = 0; i < N_FLOWS; i++) {
		kept += be[i] <= 2;
		assert_int_equal(icmp_about(i, false), be[i] <= 2 ? be[i] : maglev_of(i, false));
	}
	on_cpu(0);
	assert_true(kept > 0 && kept < N_FLOWS);
	assert_int_equal(counter(SY_C_ICMP_CT_OTHER) - other0, kept);
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
	    sy_test_publish_web(env.w, 4, 4, err, sizeof(err))) {
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
		cmocka_unit_test_setup(icmp_on_other_cpu, fresh),
		cmocka_unit_test_setup(icmp_other_cpu_checked, fresh),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
