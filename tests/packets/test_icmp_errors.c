/* SPDX-License-Identifier: BSD-3-Clause
 *
 * ICMP errors on the DPDK path's packet path (sy_lb_process), beyond what
 * the packet corpus can say with one frame per case:
 *
 *   - the rate limit of the errors an lcore originates (frag-needed,
 *     packet-too-big): a token bucket per lcore, shared by both families,
 *     `icmp_burst` at once and `icmp_rate` per second after that, with the
 *     time injected through sy_lb.now. Before the limit existed, 300
 *     oversized packets got 300 answers:
 *         [ RUN      ] rate_limit_default
 *         [  ERROR   ] --- 0x12c != 0x32   (300 answers, not 50)
 *
 * (Which clients get no error at all, multicast, broadcast, unspecified,
 * loopback sources and link-layer broadcasts, is in the packet corpus:
 * gen_corpus.py, gen_icmp_sources.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <switchyard/counters.h>
#include <switchyard/pkt_hdr.h>
#include <switchyard/region_writer.h>

#include "flows.h"
#include "lb.h"

#define HEADROOM 256
#define TAILROOM 256
#define MTU 1500
#define BIG (MTU - 20 + 1) /* one byte too many once in IPv4-in-IPv4 */
#define FRAME_MAX (14 + MTU + 64)
#define CT_CAPACITY 4096
#define N_WORKERS 2
#define T0 1000u

static struct {
	char path[128];
	struct sy_writer *w;
	struct sy_region_map *map;
	void *ct_mem[N_WORKERS];
	struct sy_lb lb[N_WORKERS];
} env;

/* Publish the fixture services (tests/common/flows.h), web4 with n4
 * backends, and give every worker the new snapshot. */
static void publish(uint32_t n4)
{
	char err[256] = "";

	if (sy_test_publish_web(env.w, n4, err, sizeof(err))) {
		print_message("publish: %s\n", err);
		fail();
	}
	for (int i = 0; i < N_WORKERS; i++)
		env.lb[i].snap = sy_writer_snapshot(env.w);
}

static uint64_t counter(int worker, enum sy_counter c)
{
	return env.lb[worker].stats->counters[c];
}

/* Run a frame through a worker's packet path: the verdict, the output in
 * *out (pointing into buf). */
static enum sy_verdict run(int worker, uint8_t *buf, uint32_t len, struct sy_pkt *out)
{
	*out = (struct sy_pkt){ .data = buf + HEADROOM, .len = len, .headroom = HEADROOM,
				.tailroom = TAILROOM };
	return sy_lb_process(&env.lb[worker], out);
}

/* n oversized packets (IPv4, or IPv6 when v6; one byte too many once
 * encapsulated) through a worker: how many were answered with frag-needed /
 * packet-too-big. */
static uint32_t oversized(int worker, uint32_t n, bool v6)
{
	static uint8_t buf[HEADROOM + FRAME_MAX + TAILROOM];
	uint32_t answered = 0;

	for (uint32_t i = 0; i < n; i++) {
		struct sy_test_flow f = sy_test_web_flow(i, v6);
		uint32_t len = sy_test_frame(buf + HEADROOM, &f, SY_TCP_ACK, v6 ? MTU - 40 + 1 : BIG);
		struct sy_pkt out;

		if (run(worker, buf, len, &out) != SY_V_TX)
			continue;
		/* an ICMP(v6) error back to the client, nothing else */
		if (v6)
			assert_true(out.data[14 + 6] == SY_IPPROTO_ICMPV6 &&
				    out.data[14 + 40] == SY_ICMP6_PKT_TOO_BIG);
		else
			assert_true(out.data[14 + 9] == SY_IPPROTO_ICMP &&
				    out.data[14 + 20] == SY_ICMP_DEST_UNREACH &&
				    out.data[14 + 21] == SY_ICMP_FRAG_NEEDED);
		answered++;
	}
	return answered;
}

static void reset_worker(int worker, uint32_t rate, uint32_t burst)
{
	struct sy_lb *lb = &env.lb[worker];

	memset(env.ct_mem[worker], 0, sy_ct_memsize(CT_CAPACITY));
	sy_ct_init(&lb->ct, env.ct_mem[worker], CT_CAPACITY, NULL);
	memset(&lb->icmp_bucket, 0, sizeof(lb->icmp_bucket));
	lb->icmp_rate = rate;
	lb->icmp_burst = burst;
	lb->now = T0;
}

/* ---- rate limit ----------------------------------------------------------- */

/* Defaults (rate/burst 0): a burst of SY_ICMP_BURST_DEFAULT answers, the
 * rest counted as rate-limited and as drop_mtu. */
static void rate_limit_default(void **state)
{
	uint64_t sent0 = counter(0, SY_C_ICMP_TOO_BIG_SENT), lim0 = counter(0, SY_C_ICMP_RATE_LIMITED),
		 mtu0 = counter(0, SY_C_DROP_MTU);

	(void)state;
	reset_worker(0, 0, 0);
	assert_int_equal(oversized(0, 300, false), SY_ICMP_BURST_DEFAULT);
	assert_int_equal(counter(0, SY_C_ICMP_TOO_BIG_SENT) - sent0, SY_ICMP_BURST_DEFAULT);
	assert_int_equal(counter(0, SY_C_ICMP_RATE_LIMITED) - lim0, 300 - SY_ICMP_BURST_DEFAULT);
	assert_int_equal(counter(0, SY_C_DROP_MTU) - mtu0, 300 - SY_ICMP_BURST_DEFAULT);
}

/* rate 100/s, burst 10: 10 at once; 50 ms later 5 more; after a long quiet
 * spell never more than the burst. One bucket for both families. */
static void rate_limit_refill(void **state)
{
	uint64_t lim0 = counter(0, SY_C_ICMP_RATE_LIMITED);

	(void)state;
	reset_worker(0, 100, 10);
	assert_int_equal(oversized(0, 300, false), 10);
	assert_int_equal(oversized(0, 300, true), 0); /* the same bucket */
	env.lb[0].now += 50;
	assert_int_equal(oversized(0, 300, true), 5);
	env.lb[0].now += 9;
	assert_int_equal(oversized(0, 300, false), 0); /* 0.9 of a token */
	env.lb[0].now += 1;
	assert_int_equal(oversized(0, 300, false), 1);
	env.lb[0].now += 100000;
	assert_int_equal(oversized(0, 300, false), 10);
	assert_int_equal(counter(0, SY_C_ICMP_RATE_LIMITED) - lim0, 6 * 300 - 26);
	/* the tick wraps at 2^32 ms: elapsed time is still right */
	reset_worker(0, 100, 10);
	env.lb[0].now = UINT32_MAX - 20;
	assert_int_equal(oversized(0, 300, false), 10);
	env.lb[0].now += 50; /* wraps */
	assert_int_equal(oversized(0, 300, false), 5);
}

/* Each lcore has its own bucket: one worker's flood leaves another's
 * answers alone. */
static void rate_limit_per_worker(void **state)
{
	(void)state;
	reset_worker(0, 100, 10);
	reset_worker(1, 100, 10);
	assert_int_equal(oversized(0, 300, false), 10);
	assert_int_equal(oversized(1, 300, true), 10);
	assert_int_equal(oversized(0, 300, true), 0);
}

/* ---- setup ---------------------------------------------------------------- */

static int group_setup(void **state)
{
	static const struct sy_region_limits lim = { .max_lcores = N_WORKERS + 1, .max_services = 8,
						     .max_backends = 64, .heap_size = 4u << 20 };
	char err[256] = "";

	(void)state;
	snprintf(env.path, sizeof(env.path), "/dev/shm/sy-test-icmp-errors-%d", (int)getpid());
	unlink(env.path);
	if (sy_writer_create(env.path, "icmp_errors", &lim, NULL, &env.w, err, sizeof(err))) {
		fprintf(stderr, "sy_writer_create: %s\n", err);
		return -1;
	}
	env.map = sy_writer_map(env.w);
	for (int i = 0; i < N_WORKERS; i++) {
		struct sy_lcore_stats *st = sy_region_stats(env.map, (uint32_t)i);

		env.lb[i] = (struct sy_lb){
			.base = env.map->base,
			.stats = st,
			.vips = sy_stats_vips(st),
			.backends = sy_stats_backends(env.map, st),
			.now = T0,
			.port_mac = { 0x02, 0, 0, 0, 0, 0x01 },
			.mtu = MTU,
			.mtu_action = SY_MTU_ICMP,
		};
		env.ct_mem[i] = calloc(1, sy_ct_memsize(CT_CAPACITY));
		if (!env.ct_mem[i])
			return -1;
		sy_ct_init(&env.lb[i].ct, env.ct_mem[i], CT_CAPACITY, NULL);
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	for (int i = 0; i < N_WORKERS; i++)
		free(env.ct_mem[i]);
	if (env.w)
		sy_writer_close(env.w);
	unlink(env.path);
	return 0;
}

static int publish_four(void **state)
{
	(void)state;
	publish(4);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(rate_limit_default, publish_four),
		cmocka_unit_test_setup(rate_limit_refill, publish_four),
		cmocka_unit_test_setup(rate_limit_per_worker, publish_four),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
