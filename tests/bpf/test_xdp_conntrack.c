/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The XDP path's connection tables (docs/xdp.md, "Connection tracking"):
 * one per CPU, each of sets of SY_XDP_CT_WAYS ways (`--xdp-ct-flows`
 * flows). The test thread pins itself to CPU 0, then CPU 1:
 * BPF_PROG_TEST_RUN runs the program on the caller's CPU.
 *
 *   - a table per CPU: 6,000 flows on CPU 0, then 6,000 others on CPU 1,
 *     with 8,192 flows per CPU. Every flow CPU 0 tracked after its own
 *     6,000 (all but those its full sets evicted, each counted in
 *     ct_evictions) is still tracked after CPU 1's and keeps its backend
 *     after the set changed (ct_hits + that many, ct_new + 0). With the
 *     shared LRU_PERCPU_HASH of 8,192 entries in all (before f5f4934):
 *         CPU 0 after CPU 1's flows: 112 of 6000 tracked, 3561 moved
 *   - a full set gives a new flow its oldest way (not its first): counted
 *     in ct_evictions, the others stay;
 *   - a sweep of one-packet flows through a full set evicts its own kind,
 *     not the flow in use with the earliest deadline (fails with plain LRU);
 *   - an expired way is taken before the oldest live one (ct_expired);
 *   - an IPv6 and an IPv4 flow of the same set are both found;
 *   - sy_xdp_ct_lookup() (`syctl lookup`) finds a flow on whichever CPU
 *     tracks it, with its backend;
 *   - the program's clock (struct sy_xdp_cpu_clock): the CPU's reading is
 *     the coarse clock of the packet's tick, and a packet a few ticks later
 *     takes a new one (a reading kept past its jiffy would stop every
 *     deadline).
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

#include <bpf/bpf.h>

#include <switchyard/counters.h>

#include "flows.h"
#include "xdp_lb_util.h"
#include "xdp_web.h"

#define N_PER_CPU 6000
_Static_assert(2 * N_PER_CPU > SY_XDP_WEB_CT_FLOWS && N_PER_CPU < SY_XDP_WEB_CT_FLOWS,
	       "the flows of both CPUs would overflow one table, not two");
#define N_SETS ((SY_XDP_WEB_CT_FLOWS + SY_XDP_CT_WAYS - 1) / SY_XDP_CT_WAYS)

#define N_FLOWS_MAX 200000
static uint8_t be_of[N_FLOWS_MAX]; /* each flow's backend */

#define ON_CPU(n) assert_int_equal(sy_test_on_cpu(n), 0)
#define COUNTER(c) sy_xdp_web_counter(&sy_test_web, c)

/* Flows [first, first + n) on the current CPU: their backends. */
static void open_flows(uint32_t first, uint32_t n)
{
	for (uint32_t i = first; i < first + n; i++) {
		int b = sy_xdp_web_syn(&sy_test_web, i, false);

		assert_true(b > 0);
		be_of[i] = (uint8_t)b;
	}
}

/* The web4 backend (n of its MAC) of a uid, 0 if none. */
static uint32_t backend_of_uid(uint64_t uid)
{
	const struct sy_snapshot *snap = sy_writer_snapshot(sy_test_web.w);

	for (uint32_t s = 0; s < snap->n_services; s++) {
		const struct sy_service *svc = sy_snapshot_service(sy_test_web.map->base, snap, s);
		const struct sy_backend *b = sy_service_backends(sy_test_web.map->base, svc);

		for (uint32_t j = 0; j < svc->n_backends; j++)
			if (b[j].uid == uid && b[j].id.family == SY_AF_INET)
				return b[j].mac[5];
	}
	return 0;
}

/* The hash seed of the service a flow key is for (its VIP address). */
static uint32_t seed_of(const struct sy_flow_key *k)
{
	const struct sy_snapshot *snap = sy_writer_snapshot(sy_test_web.w);

	for (uint32_t s = 0; s < snap->n_services; s++) {
		const struct sy_service *svc = sy_snapshot_service(sy_test_web.map->base, snap, s);

		if (svc->vip.family == k->family && !memcmp(svc->vip.addr, k->dst, sizeof(k->dst)))
			return svc->hash_seed;
	}
	fail_msg("no service for the flow");
	return 0;
}

static struct sy_flow_key key_of(uint32_t i, bool v6)
{
	struct sy_test_flow f = sy_test_web_flow(i, v6);

	return sy_test_flow_key(&f);
}

/* Whether web flow i is tracked on some CPU (sy_xdp_ct_lookup()). */
static bool tracked(uint32_t i, bool v6)
{
	struct sy_flow_key k = key_of(i, v6);
	uint64_t uid = 0;

	return sy_xdp_ct_lookup(sy_test_web.x, &k, seed_of(&k), &uid) == 1;
}

/* The set of web flow i in every CPU's table. */
static uint32_t set_of(uint32_t i, bool v6)
{
	struct sy_flow_key k = key_of(i, v6);
	uint64_t w[SY_XDP_CT_KEY_WORDS];

	sy_xdp_ct_key(&k, w);
	return sy_xdp_ct_set_of(sy_xdp_ct_hash(w, seed_of(&k)), N_SETS);
}

/* n web flows (IPv4) of one set, in out[]. */
static void same_set(uint32_t *out, uint32_t n)
{
	static uint32_t first[N_SETS][SY_XDP_CT_WAYS + 1], count[N_SETS];

	memset(count, 0, sizeof(count));
	for (uint32_t i = 0; i < N_FLOWS_MAX; i++) {
		uint32_t set = set_of(i, false);

		first[set][count[set]++] = i;
		if (count[set] == n) {
			memcpy(out, first[set], n * sizeof(*out));
			return;
		}
	}
	fail_msg("no set of %u flows", n);
}

/* Set the TCP idle timeout of flows opened from now on. */
static void tcp_timeout(uint32_t ms)
{
	char err[256];

	sy_test_web.cfg.tcp_ms = ms;
	assert_int_equal(sy_xdp_configure(sy_test_web.x, &sy_test_web.cfg, err, sizeof(err)), 0);
}

static void table_per_cpu(void **state)
{
	static bool t0[N_PER_CPU];
	uint64_t hits0, new0, evict0;
	uint32_t k0 = 0, n0 = 0, k1;

	(void)state;
	ON_CPU(0);
	open_flows(0, N_PER_CPU);
	/* what CPU 0's sets kept of its own flows: all but the evicted ones */
	evict0 = COUNTER(SY_C_CT_EVICT);
	for (uint32_t i = 0; i < N_PER_CPU; i++)
		n0 += t0[i] = tracked(i, false);
	print_message("CPU 0: %u of %u flows tracked, %llu evicted (%u flows in %u sets of %u)\n",
		      n0, N_PER_CPU, (unsigned long long)evict0, N_PER_CPU, N_SETS, SY_XDP_CT_WAYS);
	assert_int_equal(n0 + evict0, N_PER_CPU);
	ON_CPU(1);
	open_flows(N_PER_CPU, N_PER_CPU);
	/* from now on Maglev sends many of them elsewhere: only the
	 * connection table keeps them where they are */
	assert_int_equal(sy_xdp_web_publish(&sy_test_web, 5), 0);

	ON_CPU(0);
	hits0 = COUNTER(SY_C_CT_HIT);
	new0 = COUNTER(SY_C_CT_NEW);
	for (uint32_t i = 0; i < N_PER_CPU; i++)
		if (t0[i])
			k0 += sy_xdp_web_syn(&sy_test_web, i, false) == be_of[i];
	if (k0 != n0)
		print_message("CPU 0 after CPU 1's flows: %llu of %u tracked, %u moved\n",
			      (unsigned long long)(COUNTER(SY_C_CT_HIT) - hits0), n0, n0 - k0);
	assert_int_equal(k0, n0);
	assert_int_equal(COUNTER(SY_C_CT_HIT) - hits0, n0);
	assert_int_equal(COUNTER(SY_C_CT_NEW) - new0, 0);

	/* CPU 1's flows: tracked on CPU 1 (what its sets kept) */
	ON_CPU(1);
	k1 = 0;
	for (uint32_t i = N_PER_CPU; i < 2 * N_PER_CPU; i++)
		k1 += tracked(i, false);
	assert_int_equal(k1 + COUNTER(SY_C_CT_EVICT) - evict0, N_PER_CPU);
}

/* A full set: a new flow takes the way of the flow idle the longest (its
 * deadline the earliest), whichever way that is; counted. */
static void full_set_evicts_oldest(void **state)
{
	uint32_t f[SY_XDP_CT_WAYS + 1], oldest = 3;
	uint64_t evict0;

	(void)state;
	same_set(f, SY_XDP_CT_WAYS + 1);
	ON_CPU(0);
	open_flows(f[0], 1);
	for (uint32_t w = 1; w < SY_XDP_CT_WAYS; w++)
		open_flows(f[w], 1);
	usleep(20 * 1000); /* the coarse clock moves on (1-4 ms ticks) */
	for (uint32_t w = 0; w < SY_XDP_CT_WAYS; w++)
		if (w != oldest)
			assert_int_equal(sy_xdp_web_syn(&sy_test_web, f[w], false), be_of[f[w]]);
	evict0 = COUNTER(SY_C_CT_EVICT);
	open_flows(f[SY_XDP_CT_WAYS], 1);
	assert_int_equal(COUNTER(SY_C_CT_EVICT) - evict0, 1);
	for (uint32_t w = 0; w <= SY_XDP_CT_WAYS; w++)
		assert_int_equal(tracked(f[w], false), w != oldest);
}

/* A sweep of new flows through a full set: the flow in use (seen again
 * after its first packet) keeps its way although its deadline is the
 * earliest; the oldest of the flows that came once goes (SY_XDP_CT_SEEN,
 * ct_guard.h SY_CT_SEEN_BONUS_MS). Plain LRU would evict the flow in use. */
static void seen_flow_outlives_a_sweep(void **state)
{
	uint32_t f[SY_XDP_CT_WAYS + 1];
	uint64_t evict0;

	(void)state;
	same_set(f, SY_XDP_CT_WAYS + 1);
	ON_CPU(0);
	open_flows(f[0], 1);
	assert_int_equal(sy_xdp_web_syn(&sy_test_web, f[0], false), be_of[f[0]]); /* in use */
	usleep(20 * 1000); /* the coarse clock moves on: f[0]'s deadline is the earliest */
	for (uint32_t w = 1; w < SY_XDP_CT_WAYS; w++) /* the sweep: one packet each */
		open_flows(f[w], 1);
	evict0 = COUNTER(SY_C_CT_EVICT);
	open_flows(f[SY_XDP_CT_WAYS], 1);
	assert_int_equal(COUNTER(SY_C_CT_EVICT) - evict0, 1);
	for (uint32_t w = 0; w <= SY_XDP_CT_WAYS; w++)
		assert_int_equal(tracked(f[w], false), w != 1);
}

/* An expired way goes to a new flow before the oldest live one does. */
static void expired_before_live(void **state)
{
	uint32_t f[SY_XDP_CT_WAYS + 1], idle = 5;
	uint64_t evict0, exp0;

	(void)state;
	same_set(f, SY_XDP_CT_WAYS + 1);
	ON_CPU(0);
	for (uint32_t w = 0; w < SY_XDP_CT_WAYS; w++) {
		tcp_timeout(w == idle ? 10 : 3600 * 1000);
		open_flows(f[w], 1);
	}
	tcp_timeout(3600 * 1000);
	usleep(50 * 1000); /* flow `idle` expires; f[0], opened first, is the oldest live */
	evict0 = COUNTER(SY_C_CT_EVICT);
	exp0 = COUNTER(SY_C_CT_EXPIRED);
	open_flows(f[SY_XDP_CT_WAYS], 1);
	assert_int_equal(COUNTER(SY_C_CT_EXPIRED) - exp0, 1);
	assert_int_equal(COUNTER(SY_C_CT_EVICT) - evict0, 0);
	for (uint32_t w = 0; w <= SY_XDP_CT_WAYS; w++)
		assert_int_equal(tracked(f[w], false), w != idle);
}

/* An IPv6 flow and an IPv4 flow in one set: both found, both kept. */
static void v6_and_v4_in_one_set(void **state)
{
	uint32_t v4 = 0, v6 = 0;
	uint64_t hits0;
	int b4, b6;

	(void)state;
	while (set_of(v4, false) != set_of(v6, true))
		v4++;
	ON_CPU(0);
	b6 = sy_xdp_web_syn(&sy_test_web, v6, true);
	b4 = sy_xdp_web_syn(&sy_test_web, v4, false);
	assert_true(b4 > 0 && b6 > 0);
	assert_true(tracked(v6, true));
	assert_true(tracked(v4, false));
	hits0 = COUNTER(SY_C_CT_HIT);
	assert_int_equal(sy_xdp_web_syn(&sy_test_web, v6, true), b6);
	assert_int_equal(sy_xdp_web_syn(&sy_test_web, v4, false), b4);
	assert_int_equal(COUNTER(SY_C_CT_HIT) - hits0, 2);
}

/* `syctl lookup` asks sy_xdp_ct_lookup(): it finds a flow on the CPU that
 * tracks it, with the backend it is on. */
static void lookup_any_cpu(void **state)
{
	(void)state;
	ON_CPU(0);
	open_flows(0, 100);
	ON_CPU(1);
	open_flows(100, 100);
	assert_int_equal(sy_xdp_web_publish(&sy_test_web, 5), 0);
	for (uint32_t i = 0; i < 200; i++) {
		struct sy_test_flow f = sy_test_web_flow(i, false);
		struct sy_flow_key k = sy_test_flow_key(&f);
		uint64_t uid = 0;

		assert_int_equal(sy_xdp_ct_lookup(sy_test_web.x, &k, seed_of(&k), &uid), 1);
		assert_int_equal(backend_of_uid(uid), be_of[i]);
	}
	/* a flow nobody tracks */
	{
		struct sy_test_flow f = sy_test_web_flow(5000, false);
		struct sy_flow_key k = sy_test_flow_key(&f);
		uint64_t uid = 0;

		assert_int_equal(sy_xdp_ct_lookup(sy_test_web.x, &k, seed_of(&k), &uid), 0);
	}
}

static uint64_t coarse_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* CPU 0's clock block as the program left it. */
static struct sy_xdp_cpu_clock cpu0_clock(void)
{
	int fd = sy_xdp_test_map_fd(sy_test_web.prog_fd, "sy_stats");
	struct sy_xdp_cpu_stats *st = malloc(sizeof(*st));
	struct sy_xdp_cpu_clock c;
	uint32_t cpu = 0;

	assert_true(fd >= 0);
	assert_non_null(st);
	assert_int_equal(bpf_map_lookup_elem(fd, &cpu, st), 0);
	c = st->clock;
	free(st);
	close(fd);
	return c;
}

/* The reading a packet's tick gave, within [t0 - a tick, t1]: a reading
 * taken as the tick moves may be one tick old (HZ 100 at most: 10 ms). */
static void clock_is_the_coarse_clock(void **state)
{
	struct sy_xdp_cpu_clock c0, c1;
	uint64_t t0, t1;

	(void)state;
	ON_CPU(0);
	t0 = coarse_ns();
	sy_xdp_web_syn(&sy_test_web, 0, false);
	t1 = coarse_ns();
	c0 = cpu0_clock();
	print_message("CPU 0: jiffy %llu, %llu ns (coarse %llu..%llu)\n",
		      (unsigned long long)c0.jiffies, (unsigned long long)c0.now_ns,
		      (unsigned long long)t0, (unsigned long long)t1);
	assert_true(c0.jiffies != 0);
	assert_true(c0.now_ns + 10000000ull >= t0 && c0.now_ns <= t1);
	usleep(30 * 1000); /* several ticks */
	t0 = coarse_ns();
	sy_xdp_web_syn(&sy_test_web, 1, false);
	t1 = coarse_ns();
	c1 = cpu0_clock();
	assert_true(c1.jiffies > c0.jiffies);
	assert_true(c1.now_ns > c0.now_ns);
	assert_true(c1.now_ns + 10000000ull >= t0 && c1.now_ns <= t1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(table_per_cpu, sy_xdp_web_setup, sy_xdp_web_teardown),
		cmocka_unit_test_setup_teardown(clock_is_the_coarse_clock, sy_xdp_web_setup,
						sy_xdp_web_teardown),
		cmocka_unit_test_setup_teardown(lookup_any_cpu, sy_xdp_web_setup, sy_xdp_web_teardown),
		cmocka_unit_test_setup_teardown(full_set_evicts_oldest, sy_xdp_web_setup,
						sy_xdp_web_teardown),
		cmocka_unit_test_setup_teardown(seen_flow_outlives_a_sweep, sy_xdp_web_setup,
						sy_xdp_web_teardown),
		cmocka_unit_test_setup_teardown(expired_before_live, sy_xdp_web_setup,
						sy_xdp_web_teardown),
		cmocka_unit_test_setup_teardown(v6_and_v4_in_one_set, sy_xdp_web_setup,
						sy_xdp_web_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
