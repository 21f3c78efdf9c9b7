/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The new-flow guard on the XDP path (switchyard/ct_guard.h, sy_config's
 * ct_guard; docs/xdp.md "New-flow guard"), through BPF_PROG_TEST_RUN on
 * CPU 0 (the bucket is per CPU):
 *   - guard at 1 new flow a second, bursts of 100: of a flood of 1,000 new
 *     flows exactly 100 get an entry (ct_new, and sy_xdp_ct_lookup() finds
 *     them), 900 are counted in ct_bypass and untracked, and every one of
 *     the 1,000 is forwarded to its Maglev backend; flows established
 *     before keep their entries and backend after a backend is added;
 *     CPU 1 has a budget of its own;
 *   - SYN-only: a TCP segment without SYN of no tracked flow is forwarded
 *     to its Maglev backend untracked (ct_bypass, ct_bypass_no_syn) and
 *     takes no token; a SYN is tracked;
 *   - the flood of test_ct_guard_flood.c scaled to CPU 0's 8,192-flow
 *     table: 500 established flows, 40,000 spoofed SYNs, a backend added
 *     mid-flood: with the guard 0 moved, 0 re-created, no eviction, the
 *     flood's ct_new its budget and the rest ct_bypass; without it
 *     established flows are evicted and moved.
 * The flood takes far less than the second a token takes to refill.
 * Needs root and 2 CPUs; fails, never skips.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <switchyard/counters.h>
#include <switchyard/pkt_hdr.h>

#include "flows.h"
#include "xdp_lb_util.h"
#include "xdp_web.h"

#define N_EST 200
#define EST_MAX 500
#define FLOOD 1000

#define ON_CPU(n) assert_int_equal(sy_test_on_cpu(n), 0)
#define COUNTER(c) sy_xdp_web_counter(&sy_test_web, c)

static int est_be[EST_MAX];

static void configure(struct sy_ct_guard g)
{
	char err[256];
	int fd = sy_xdp_test_map_fd(sy_test_web.prog_fd, "sy_ct_budget");

	assert_true(fd >= 0);
	assert_int_equal(sy_xdp_test_percpu_zero(fd, 0), 0); /* every CPU's bucket full */
	close(fd);
	sy_test_web.cfg.ct_guard = g;
	assert_int_equal(sy_xdp_configure(sy_test_web.x, &sy_test_web.cfg, err, sizeof(err)), 0);
}

static bool tracked(uint32_t i)
{
	struct sy_test_flow f = sy_test_web_flow(i, false);
	struct sy_flow_key k = sy_test_flow_key(&f);
	const struct sy_snapshot *snap = sy_writer_snapshot(sy_test_web.w);
	uint64_t uid = 0;

	for (uint32_t s = 0; s < snap->n_services; s++) {
		const struct sy_service *svc = sy_snapshot_service(sy_test_web.map->base, snap, s);

		if (svc->vip.family == SY_AF_INET && svc->vip.addr[0] == k.dst[0])
			return sy_xdp_ct_lookup(sy_test_web.x, &k, svc->hash_seed, &uid) == 1;
	}
	fail_msg("no web4 service");
	return false;
}

static int maglev(uint32_t i)
{
	return (int)sy_test_web_maglev(sy_test_web.map->base, sy_writer_snapshot(sy_test_web.w), i,
				       false);
}

/* A TCP segment of web4 flow i: the backend it was sent to. */
static int segment(uint32_t i, uint8_t flags)
{
	static uint8_t in[128];
	struct sy_test_flow f = sy_test_web_flow(i, false);

	return sy_xdp_web_run(&sy_test_web, in, sy_test_frame(in, &f, flags, 40));
}

/* n new flows from first: each forwarded to its Maglev backend; how many
 * got an entry (ct_new, and tracked), the rest in ct_bypass. */
static uint32_t flood(uint32_t first, uint32_t n)
{
	uint64_t new0 = COUNTER(SY_C_CT_NEW), byp0 = COUNTER(SY_C_CT_BYPASS);
	uint32_t t = 0;

	for (uint32_t i = first; i < first + n; i++)
		assert_int_equal(segment(i, SY_TCP_SYN), maglev(i));
	for (uint32_t i = first; i < first + n; i++)
		t += tracked(i);
	assert_int_equal(COUNTER(SY_C_CT_NEW) - new0, t);
	assert_int_equal(COUNTER(SY_C_CT_BYPASS) - byp0, n - t);
	return t;
}

static void budget(void **state)
{
	uint64_t hit0, new0;

	(void)state;
	ON_CPU(0);
	for (uint32_t i = 0; i < N_EST; i++) { /* guard off */
		est_be[i] = segment(i, SY_TCP_SYN);
		assert_true(est_be[i] > 0);
	}
	configure((struct sy_ct_guard){ .rate = 1, .burst = 100 });
	assert_int_equal(flood(1000, FLOOD), 100);
	for (uint32_t i = 1000; i < 1100; i++)
		assert_true(tracked(i)); /* the first 100 of the flood */
	/* established flows keep entry and backend, also after a backend is
	 * added (Maglev alone would move some) */
	assert_int_equal(sy_xdp_web_publish(&sy_test_web, 5), 0);
	hit0 = COUNTER(SY_C_CT_HIT);
	new0 = COUNTER(SY_C_CT_NEW);
	{
		uint32_t would_move = 0;

		for (uint32_t i = 0; i < N_EST; i++) {
			would_move += maglev(i) != est_be[i];
			assert_int_equal(segment(i, SY_TCP_ACK), est_be[i]);
		}
		assert_true(would_move > 0);
	}
	assert_int_equal(COUNTER(SY_C_CT_HIT) - hit0, N_EST);
	assert_int_equal(COUNTER(SY_C_CT_NEW) - new0, 0);
	/* CPU 0's budget is spent; CPU 1 has its own */
	assert_int_equal(flood(3000, 50), 0);
	ON_CPU(1);
	assert_int_equal(flood(4000, 150), 100);
	assert_int_equal(COUNTER(SY_C_CT_EVICT), 0);
	assert_int_equal(COUNTER(SY_C_CT_BYPASS_NO_SYN), 0);
}

static void syn_only(void **state)
{
	uint64_t new0, byp0, nosyn0;

	(void)state;
	ON_CPU(0);
	configure((struct sy_ct_guard){ .rate = 1, .burst = 1, .syn_only = 1 });
	new0 = COUNTER(SY_C_CT_NEW);
	byp0 = COUNTER(SY_C_CT_BYPASS);
	nosyn0 = COUNTER(SY_C_CT_BYPASS_NO_SYN);
	for (uint32_t i = 0; i < 10; i++) {
		assert_int_equal(segment(i, SY_TCP_ACK), maglev(i));
		assert_false(tracked(i));
	}
	assert_int_equal(COUNTER(SY_C_CT_NEW) - new0, 0);
	assert_int_equal(COUNTER(SY_C_CT_BYPASS) - byp0, 10);
	assert_int_equal(COUNTER(SY_C_CT_BYPASS_NO_SYN) - nosyn0, 10);
	/* the burst's one token is still there for a SYN */
	assert_int_equal(segment(0, SY_TCP_SYN), maglev(0));
	assert_true(tracked(0));
	assert_int_equal(COUNTER(SY_C_CT_NEW) - new0, 1);
	assert_int_equal(segment(0, SY_TCP_ACK), maglev(0)); /* a hit */
	assert_int_equal(COUNTER(SY_C_CT_BYPASS) - byp0, 10);
}

/* The flood scenario of tests/packets/test_ct_guard_flood.c on CPU 0's
 * table (8,192 flows): 500 established flows, then 4 rounds of 10,000
 * spoofed SYNs each followed by a segment of every established flow, a
 * fifth backend added after round 2. Returns how many established flows
 * moved; *recreated: their segments that found no entry; *flood_new,
 * *flood_bypass: the flood's ct_new and ct_bypass. */
#define FLOOD_EST 500
#define FLOOD_ROUND 10000
static uint32_t flood_scenario(uint64_t *recreated, uint64_t *flood_new, uint64_t *flood_bypass,
			       uint32_t *would_move)
{
	static bool moved[FLOOD_EST];
	uint32_t n_moved = 0, next = 1000;

	memset(moved, 0, sizeof(moved));
	*recreated = *flood_new = *flood_bypass = 0;
	*would_move = 0;
	ON_CPU(0);
	for (uint32_t i = 0; i < FLOOD_EST; i++) {
		est_be[i] = segment(i, SY_TCP_SYN);
		assert_true(est_be[i] > 0);
	}
	for (int r = 0; r < 4; r++) {
		uint64_t new0 = COUNTER(SY_C_CT_NEW), byp0 = COUNTER(SY_C_CT_BYPASS);

		for (uint32_t k = 0; k < FLOOD_ROUND; k++, next++)
			assert_int_equal(segment(next, SY_TCP_SYN), maglev(next));
		*flood_new += COUNTER(SY_C_CT_NEW) - new0;
		*flood_bypass += COUNTER(SY_C_CT_BYPASS) - byp0;
		new0 = COUNTER(SY_C_CT_NEW);
		for (uint32_t i = 0; i < FLOOD_EST; i++) {
			int b = segment(i, SY_TCP_ACK);

			if (b != est_be[i] && !moved[i]) {
				moved[i] = true;
				n_moved++;
			}
		}
		*recreated += COUNTER(SY_C_CT_NEW) - new0;
		if (r == 1) {
			assert_int_equal(sy_xdp_web_publish(&sy_test_web, 5), 0);
			for (uint32_t i = 0; i < FLOOD_EST; i++)
				*would_move += maglev(i) != est_be[i];
		}
	}
	return n_moved;
}

/* With the guard (1/s, bursts of 600: the 500 established flows and 100 of
 * the flood): 0 established flows moved or re-created, no eviction; the
 * flood's ct_new is the burst's 100 plus at most a token a second of the
 * run, the rest ct_bypass. */
static void flood_guarded(void **state)
{
	uint64_t recreated, fnew, fbyp;
	uint32_t would_move, moved;
	struct timespec a, b;
	uint64_t secs;

	(void)state;
	configure((struct sy_ct_guard){ .rate = 1, .burst = FLOOD_EST + 100 });
	clock_gettime(CLOCK_MONOTONIC, &a);
	moved = flood_scenario(&recreated, &fnew, &fbyp, &would_move);
	clock_gettime(CLOCK_MONOTONIC, &b);
	secs = (uint64_t)(b.tv_sec - a.tv_sec) + 1;
	print_message("guard: %u of %u established flows moved (Maglev alone would move %u), %llu re-created; flood ct_new %llu ct_bypass %llu in %llu s\n",
		      moved, FLOOD_EST, would_move, (unsigned long long)recreated,
		      (unsigned long long)fnew, (unsigned long long)fbyp, (unsigned long long)secs);
	assert_true(would_move > 0);
	assert_int_equal(moved, 0);
	assert_int_equal(recreated, 0);
	assert_int_equal(COUNTER(SY_C_CT_EVICT), 0);
	assert_true(fnew >= 100 && fnew <= 100 + secs);
	assert_int_equal(fnew + fbyp, 4 * FLOOD_ROUND);
}

/* The same without the guard: the flood evicts established flows, and
 * those re-created after the backend was added move. */
static void flood_unguarded(void **state)
{
	uint64_t recreated, fnew, fbyp;
	uint32_t would_move, moved;

	(void)state;
	moved = flood_scenario(&recreated, &fnew, &fbyp, &would_move);
	print_message("no guard: %u of %u established flows moved, %llu re-created after eviction; flood ct_new %llu ct_bypass %llu, ct_evictions %llu\n",
		      moved, FLOOD_EST, (unsigned long long)recreated, (unsigned long long)fnew,
		      (unsigned long long)fbyp, (unsigned long long)COUNTER(SY_C_CT_EVICT));
	assert_int_equal(fnew, 4 * FLOOD_ROUND);
	assert_int_equal(fbyp, 0);
	assert_true(recreated > 0);
	assert_true(moved > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(budget, sy_xdp_web_setup, sy_xdp_web_teardown),
		cmocka_unit_test_setup_teardown(syn_only, sy_xdp_web_setup, sy_xdp_web_teardown),
		cmocka_unit_test_setup_teardown(flood_guarded, sy_xdp_web_setup, sy_xdp_web_teardown),
		cmocka_unit_test_setup_teardown(flood_unguarded, sy_xdp_web_setup,
						sy_xdp_web_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
