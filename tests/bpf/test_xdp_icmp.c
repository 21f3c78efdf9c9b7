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

#include <switchyard/counters.h>
#include <switchyard/icmp_error.h>
#include <switchyard/pkt_hdr.h>

#include "flows.h"
#include "xdp_lb_util.h"
#include "xdp_web.h"

#define MTU 1500
#define FRAME_MAX (14 + MTU + 64)
#define OUT_CAP (FRAME_MAX + 512)

#define ON_CPU(n) assert_int_equal(sy_test_on_cpu(n), 0)
#define PUBLISH(n) assert_int_equal(sy_xdp_web_publish(&sy_test_web, n), 0)
#define SYN(i, v6) sy_xdp_web_syn(&sy_test_web, i, v6)
#define ICMP_ABOUT(i, v6) sy_xdp_web_icmp(&sy_test_web, i, v6)
#define COUNTER(c) sy_xdp_web_counter(&sy_test_web, c)

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void configure(uint32_t rate, uint32_t burst)
{
	char err[256] = "";

	sy_test_web.cfg.icmp_rate = rate;
	sy_test_web.cfg.icmp_burst = burst;
	if (sy_xdp_configure(sy_test_web.x, &sy_test_web.cfg, err, sizeof(err)))
		print_message("sy_xdp_configure: %s\n", err);
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

		assert_int_equal(sy_xdp_test_run(sy_test_web.prog_fd, in, len, out, OUT_CAP, &out_len,
						 &action, NULL),
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

/* ---- rate limit ------------------------------------------------------------ */

/* 300 oversized packets on one CPU: the burst answered, the rest counted
 * rate-limited and drop_mtu; at 1 per second nothing refills meanwhile
 * unless the loop took over a second. */
static void rate_limit_burst(void **state)
{
	uint64_t sent0 = COUNTER(SY_C_ICMP_TOO_BIG_SENT), lim0 = COUNTER(SY_C_ICMP_RATE_LIMITED),
		 mtu0 = COUNTER(SY_C_DROP_MTU), t0;
	uint32_t sent, refilled;

	(void)state;
	ON_CPU(0);
	configure(1, 10);
	t0 = now_ms();
	sent = oversized(150, false) + oversized(150, true);
	refilled = (uint32_t)((now_ms() - t0) / 1000 + 1);
	if (sent < 10 || sent > 10 + refilled)
		print_message("%u of 300 answered in %llu ms (burst 10, 1/s)\n", sent,
			      (unsigned long long)(now_ms() - t0));
	assert_true(sent >= 10 && sent <= 10 + refilled);
	assert_int_equal(COUNTER(SY_C_ICMP_TOO_BIG_SENT) - sent0, sent);
	assert_int_equal(COUNTER(SY_C_ICMP_RATE_LIMITED) - lim0, 300 - sent);
	assert_int_equal(COUNTER(SY_C_DROP_MTU) - mtu0, 300 - sent);
}

/* sy_config's 0s are the defaults: SY_ICMP_BURST_DEFAULT at once, plus at
 * most what SY_ICMP_RATE_DEFAULT refilled while the loop ran. */
static void rate_limit_default(void **state)
{
	uint64_t t0;
	uint32_t sent, refilled;

	(void)state;
	ON_CPU(0);
	configure(0, 0);
	t0 = now_ms();
	sent = oversized(300, false);
	refilled = (uint32_t)((now_ms() - t0 + 1) * SY_ICMP_RATE_DEFAULT / 1000);
	if (sent < SY_ICMP_BURST_DEFAULT || sent > SY_ICMP_BURST_DEFAULT + refilled)
		print_message("%u of 300 answered in %llu ms\n", sent,
			      (unsigned long long)(now_ms() - t0));
	assert_true(sent >= SY_ICMP_BURST_DEFAULT && sent <= SY_ICMP_BURST_DEFAULT + refilled);
}

/* The most tokens a bucket of rate a second refilled since t0 (ms): the
 * bounds below hold however long a loop of 300 runs took (an emulated
 * guest, a loaded machine). */
static uint32_t refilled_since(uint64_t t0, uint32_t rate)
{
	return (uint32_t)((now_ms() - t0 + 1) * rate / 1000 + 1);
}

/* The bucket refills at the configured rate (10/s: after 300 ms at least 3
 * tokens, never more than the burst at once), and each CPU has its own. */
static void rate_limit_refill_per_cpu(void **state)
{
	uint32_t later;
	uint64_t t0;

	(void)state;
	ON_CPU(0);
	configure(10, 5);
	t0 = now_ms();
	later = oversized(300, false);
	assert_true(later >= 5 && later <= 5 + refilled_since(t0, 10));
	t0 = now_ms();
	assert_true(oversized(300, true) <= refilled_since(t0, 10));
	usleep(300 * 1000);
	t0 = now_ms();
	later = oversized(300, false);
	if (later < 3 || later > 5 + refilled_since(t0, 10))
		print_message("%u answered 300 ms later (10/s, burst 5; the loop %llu ms)\n", later,
			      (unsigned long long)(now_ms() - t0));
	assert_true(later >= 3 && later <= 5 + refilled_since(t0, 10));
	ON_CPU(1); /* CPU 1's bucket is untouched */
	t0 = now_ms();
	later = oversized(300, true);
	assert_true(later >= 5 && later <= 5 + refilled_since(t0, 10));
	ON_CPU(0);
}

/* ---- ICMP errors about another CPU's flows ---------------------------------- */

#define N_FLOWS 200

static uint32_t maglev_of(uint32_t i, bool v6)
{
	return sy_test_web_maglev(sy_test_web.map->base, sy_writer_snapshot(sy_test_web.w), i, v6);
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
	ON_CPU(0);
	PUBLISH(2);
	for (int v6 = 0; v6 < 2; v6++)
		for (uint32_t i = 0; i < N_FLOWS; i++) {
			int b = SYN(i, v6);

			assert_true(b > 0);
			be[v6][i] = (uint32_t)b;
		}
	PUBLISH(5);
	ON_CPU(1);
	other0 = COUNTER(SY_C_ICMP_CT_OTHER);
	to_be0 = COUNTER(SY_C_ICMP_TO_BACKEND);
	for (int v6 = 0; v6 < 2; v6++)
		for (uint32_t i = 0; i < N_FLOWS; i++) {
			uint32_t got = (uint32_t)ICMP_ABOUT(i, v6);

			moved += maglev_of(i, v6) != be[v6][i];
			if (got != be[v6][i])
				print_message("flow %u%s: ICMP error on CPU 1 went to backend %u, "
					      "the flow is on %u (Maglev: %u)\n",
					      i, v6 ? " (IPv6)" : "", got, be[v6][i], maglev_of(i, v6));
			assert_int_equal(got, be[v6][i]);
		}
	assert_true(moved > N_FLOWS);
	assert_int_equal(COUNTER(SY_C_ICMP_CT_OTHER) - other0, 2 * N_FLOWS);
	assert_int_equal(COUNTER(SY_C_ICMP_TO_BACKEND) - to_be0, 2 * N_FLOWS);
	/* on the flow's own CPU: its own table, not counted as another's */
	ON_CPU(0);
	for (uint32_t i = 0; i < N_FLOWS; i++)
		assert_int_equal(ICMP_ABOUT(i, false), be[0][i]);
	assert_int_equal(COUNTER(SY_C_ICMP_CT_OTHER) - other0, 2 * N_FLOWS);
}

/* What another CPU's entry names is checked: a flow whose backend left goes
 * by Maglev, as on its own CPU. */
static void icmp_other_cpu_checked(void **state)
{
	static uint32_t be[N_FLOWS];
	uint64_t other0 = COUNTER(SY_C_ICMP_CT_OTHER);
	uint32_t kept = 0;

	(void)state;
	ON_CPU(0);
	PUBLISH(5);
	for (uint32_t i = 0; i < N_FLOWS; i++) {
		int b = SYN(i, false);

		assert_true(b > 0);
		be[i] = (uint32_t)b;
	}
	PUBLISH(2); /* backends 3..5 leave (marked gone) */
	ON_CPU(1);
	for (uint32_t i = 0; i < N_FLOWS; i++) {
		kept += be[i] <= 2;
		assert_int_equal(ICMP_ABOUT(i, false), be[i] <= 2 ? be[i] : maglev_of(i, false));
	}
	ON_CPU(0);
	assert_true(kept > 0 && kept < N_FLOWS);
	assert_int_equal(COUNTER(SY_C_ICMP_CT_OTHER) - other0, kept);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(rate_limit_burst, sy_xdp_web_setup, sy_xdp_web_teardown),
		cmocka_unit_test_setup_teardown(rate_limit_default, sy_xdp_web_setup, sy_xdp_web_teardown),
		cmocka_unit_test_setup_teardown(rate_limit_refill_per_cpu, sy_xdp_web_setup, sy_xdp_web_teardown),
		cmocka_unit_test_setup_teardown(icmp_on_other_cpu, sy_xdp_web_setup, sy_xdp_web_teardown),
		cmocka_unit_test_setup_teardown(icmp_other_cpu_checked, sy_xdp_web_setup, sy_xdp_web_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
