/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The new-flow guard under the flood of issue 15 point 2, in process: one
 * lcore's packet path (sy_lb) with sy-dataplane's default connection table
 * (262,144 flows) and guard (switchyard/ct_guard.h defaults: 125,000 new
 * flows a second, bursts of 12,500). 10,000 established flows, then a flood
 * of 5,000,000 spoofed SYNs (distinct sources and ports) at 5 Mpps of
 * simulated time (the lcore's millisecond tick moves 1 ms every 5,000
 * packets), in 10 rounds, after each of which every established flow sends
 * a segment; after the 5th round a fifth backend is added, so that Maglev
 * alone would move about a fifth of the established flows.
 *
 * Run twice. With the guard, asserted:
 *   - 0 established flows moved: each of their segments reached the backend
 *     of its SYN, every one a ct_hit (none re-created), no eviction at all;
 *   - the bypass counter accounts for the flood: the flood's ct_new is
 *     exactly the budget, burst + rate x (simulated ms of the flood) / 1000,
 *     and ct_bypass = flood - that, to the packet;
 *   - every flood SYN was forwarded, to the backend Maglev's current table
 *     gives it (before and after the backend was added).
 * Without the guard (--ct-guard-rate 0), the same scenario is asserted to
 * fail those: established flows evicted (re-created) and moved. Before the
 * guard existed that was the only behaviour:
 *     INFO: without the guard: 97627 established segments re-created after
 *           eviction, 2065 of 10000 flows moved, ct_evictions 4845483
 *
 * usage: test_ct_guard_flood (no arguments)
 * Environment (the ASan tree scales it down: tests/packets/meson.build):
 *   SY_CT_FLOOD_SYNS (default 5000000), SY_CT_FLOOD_CAPACITY (262144),
 *   SY_CT_FLOOD_RATE (125000), SY_CT_FLOOD_BURST (12500).
 * Prints PASS:/FAIL: lines and RESULT: PASS|FAIL.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <switchyard/counters.h>
#include <switchyard/ct_guard.h>
#include <switchyard/pkt_hdr.h>
#include <switchyard/region_writer.h>

#include "lb.h"
#include "lb_scenario.h"

#define N_ESTABLISHED 10000u
#define ROUNDS 10
#define PKTS_PER_MS 5000u /* 5 Mpps of simulated time */

static int failed;

#define CHECK(cond, ...) SY_SCN_CHECK(&failed, cond, __VA_ARGS__)

static struct sy_scn env;
static uint64_t sent; /* packets of this run: the simulated clock */

static uint64_t counter(enum sy_counter c)
{
	return env.lb.stats->counters[c];
}

/* A segment on the simulated clock (lb_scenario.h: its backend, or 0). */
static uint32_t send_tcp(struct sy_scn_flow f, uint8_t flags)
{
	if (sent++ % PKTS_PER_MS == 0)
		env.lb.now++;
	return sy_scn_tcp(&env, f, flags);
}

struct outcome {
	uint64_t moved;         /* established flows that reached another backend */
	uint64_t recreated;     /* their segments that found no entry (evicted) */
	uint64_t hits;          /* their segments that hit their entry */
	uint64_t est_pkts;
	uint64_t flood_new;     /* ct_new during the flood's packets */
	uint64_t flood_bypass;  /* ct_bypass during them */
	uint64_t flood_misrouted; /* flood SYNs not sent to Maglev's current pick */
	uint64_t evictions;
	uint64_t would_move;    /* established flows the new table alone would move */
	uint64_t flood_ms;      /* simulated ms from the flood's first to last packet */
	double seconds;
};

/* One run of the scenario on a fresh region and table. */
static int run(uint64_t n_flood, uint64_t capacity, struct sy_ct_guard guard, struct outcome *o)
{
	uint32_t *first_be = calloc(N_ESTABLISHED, sizeof(*first_be));
	uint8_t *moved = calloc(N_ESTABLISHED, 1);
	uint64_t chunk = (n_flood + ROUNDS - 1) / ROUNDS, next = 0, t_first = 0, t_last = 0;
	struct timespec a, b;
	void *ct_mem;
	int rc = -1;

	memset(o, 0, sizeof(*o));
	sent = 0;
	ct_mem = calloc(1, sy_ct_memsize(capacity));
	if (!first_be || !moved || !ct_mem || sy_scn_open(&env, "ctguard"))
		goto out;
	env.lb.ct_guard = guard;
	sy_ct_init(&env.lb.ct, ct_mem, capacity, NULL, 1);
	if (sy_scn_publish(&env, 4, NULL))
		goto out;
	clock_gettime(CLOCK_MONOTONIC, &a);

	/* the established flows: a SYN each (within the guard's burst) */
	for (uint32_t j = 0; j < N_ESTABLISHED; j++)
		first_be[j] = send_tcp(sy_scn_active_flow(j), SY_TCP_SYN);
	if (counter(SY_C_CT_NEW) != N_ESTABLISHED || counter(SY_C_CT_BYPASS) != 0) {
		printf("FAIL: %llu of %u established flows tracked\n",
		       (unsigned long long)counter(SY_C_CT_NEW), N_ESTABLISHED);
		goto out;
	}
	env.lb.now += 1000; /* a second later (the guard's bucket full again), the flood */

	for (int r = 0; r < ROUNDS; r++) {
		uint64_t end = next + chunk < n_flood ? next + chunk : n_flood;
		uint64_t new0 = counter(SY_C_CT_NEW), byp0 = counter(SY_C_CT_BYPASS);
		uint64_t hit0;

		for (; next < end; next++) {
			struct sy_scn_flow f = sy_scn_bulk_flow(next);
			uint32_t be = send_tcp(f, SY_TCP_SYN);

			if (next == 0)
				t_first = env.lb.now;
			t_last = env.lb.now;
			o->flood_misrouted += !be || be != sy_scn_pick(&env, f);
		}
		o->flood_new += counter(SY_C_CT_NEW) - new0;
		o->flood_bypass += counter(SY_C_CT_BYPASS) - byp0;

		new0 = counter(SY_C_CT_NEW);
		hit0 = counter(SY_C_CT_HIT);
		for (uint32_t j = 0; j < N_ESTABLISHED; j++) {
			uint32_t be = send_tcp(sy_scn_active_flow(j), SY_TCP_ACK);

			if (be != first_be[j]) {
				o->moved += !moved[j];
				moved[j] = 1;
			}
		}
		o->recreated += counter(SY_C_CT_NEW) - new0;
		o->hits += counter(SY_C_CT_HIT) - hit0;
		o->est_pkts += N_ESTABLISHED;

		if (r == ROUNDS / 2 - 1) { /* mid-flood: a fifth backend */
			if (sy_scn_publish(&env, 5, NULL))
				goto out;
			for (uint32_t j = 0; j < N_ESTABLISHED; j++)
				o->would_move += sy_scn_pick(&env, sy_scn_active_flow(j)) != first_be[j];
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	o->evictions = counter(SY_C_CT_EVICT);
	o->flood_ms = t_last - t_first;
	o->seconds = (double)(b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
	rc = 0;
out:
	sy_scn_close(&env);
	free(ct_mem);
	free(first_be);
	free(moved);
	return rc;
}

int main(void)
{
	const uint64_t n_flood = sy_scn_env_u64("SY_CT_FLOOD_SYNS", 5000000);
	const uint64_t capacity = sy_scn_env_u64("SY_CT_FLOOD_CAPACITY", 262144);
	const struct sy_ct_guard on = {
		.rate = (uint32_t)sy_scn_env_u64("SY_CT_FLOOD_RATE", SY_CT_GUARD_RATE_DEFAULT),
		.burst = (uint32_t)sy_scn_env_u64("SY_CT_FLOOD_BURST", SY_CT_GUARD_BURST_DEFAULT),
	};
	const struct sy_ct_guard off = { 0 };
	struct outcome g, n;
	uint64_t budget;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (n_flood < 1000 || n_flood > 65536ull * 60000 || capacity < 2 * N_ESTABLISHED ||
	    on.rate == 0 || on.burst < N_ESTABLISHED) {
		fprintf(stderr, "bad SY_CT_FLOOD_* values (the burst must cover the %u established flows)\n",
			N_ESTABLISHED);
		return 2;
	}
	printf("INFO: %u established flows, a flood of %llu spoofed SYNs at %u per simulated ms, a %llu-flow table\n",
	       N_ESTABLISHED, (unsigned long long)n_flood, PKTS_PER_MS,
	       (unsigned long long)capacity);

	if (run(n_flood, capacity, on, &g)) {
		printf("RESULT: FAIL\n");
		return 1;
	}
	/* the bucket is full when the flood starts and never catches up with
	 * it: it grants its burst plus rate x elapsed time, to the token */
	budget = ((uint64_t)on.burst * 1000 + (uint64_t)on.rate * g.flood_ms) / 1000;
	printf("INFO: guard %u/s burst %u: %.1f s\n", on.rate, on.burst, g.seconds);
	CHECK(g.would_move > 0, "the backend added mid-flood is meaningful: Maglev alone would move %llu of %u established flows",
	      (unsigned long long)g.would_move, N_ESTABLISHED);
	CHECK(g.moved == 0, "with the guard: 0 established flows moved (%llu of %u)",
	      (unsigned long long)g.moved, N_ESTABLISHED);
	CHECK(g.hits == g.est_pkts && g.recreated == 0 && g.evictions == 0,
	      "with the guard: established flows keep their entries: %llu ct_hits of %llu segments, %llu re-created, ct_evictions %llu",
	      (unsigned long long)g.hits, (unsigned long long)g.est_pkts,
	      (unsigned long long)g.recreated, (unsigned long long)g.evictions);
	CHECK(g.flood_new == budget,
	      "with the guard: the flood's ct_new %llu = the budget: burst %u + %u/s x %llu ms",
	      (unsigned long long)g.flood_new, on.burst, on.rate, (unsigned long long)g.flood_ms);
	CHECK(g.flood_bypass == n_flood - budget && g.flood_new + g.flood_bypass == n_flood,
	      "with the guard: ct_bypass %llu accounts for the rest of the flood (%llu SYNs)",
	      (unsigned long long)g.flood_bypass, (unsigned long long)n_flood);
	CHECK(g.flood_misrouted == 0,
	      "with the guard: every flood SYN forwarded to its Maglev backend (%llu not)",
	      (unsigned long long)g.flood_misrouted);

	if (run(n_flood, capacity, off, &n)) {
		printf("RESULT: FAIL\n");
		return 1;
	}
	printf("INFO: without the guard: %.1f s\n", n.seconds);
	printf("INFO: without the guard: %llu established segments re-created after eviction, %llu of %u flows moved, ct_evictions %llu\n",
	       (unsigned long long)n.recreated, (unsigned long long)n.moved, N_ESTABLISHED,
	       (unsigned long long)n.evictions);
	CHECK(n.flood_new == n_flood && n.flood_bypass == 0,
	      "without the guard: every flood SYN inserted (ct_new %llu, ct_bypass %llu)",
	      (unsigned long long)n.flood_new, (unsigned long long)n.flood_bypass);
	CHECK(n.recreated > 0 && n.moved > 0,
	      "without the guard the scenario fails as the issue says: established flows evicted (%llu segments re-created) and %llu moved",
	      (unsigned long long)n.recreated, (unsigned long long)n.moved);
	printf("RESULT: %s\n", failed ? "FAIL" : "PASS");
	return failed;
}
