/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Conntrack pressure (issue 7, "Faults"): millions of distinct flows through
 * one packet-path instance (one lcore's sy_lb) whose connection table is
 * smaller than the flow count, while a set of "active" flows is touched
 * throughout and the backend set changes twice (a backend added, then the
 * weights changed), so that Maglev alone would move part of them.
 *
 * Asserted:
 *   - every packet of an active flow goes to the backend its first packet
 *     got, although the current table would send some of them elsewhere
 *     (the table changes are meaningful: "would move" > 0);
 *   - no active flow is ever evicted (no ct_new while only active flows
 *     are sent, every one of their packets a ct_hit);
 *   - evictions are counted: ct_evictions >= flows - capacity (no flow
 *     expires in the simulated time, so every new flow beyond the capacity
 *     evicts one), and the table is full at the end;
 *   - memory is as configured: the capacity is the configured one, the
 *     table is sy_ct_memsize(capacity) bytes (32 bytes a flow) and the
 *     packet path stays inside them (inaccessible guard pages on both
 *     sides would fault);
 *   - new flows after the changes reach the added backend (the changes are
 *     live for new flows).
 * ns per packet is printed as information only.
 *
 * usage: test_ct_pressure (no arguments)
 * Environment: SY_CT_PRESSURE_FLOWS (default 5000000),
 *              SY_CT_PRESSURE_CAPACITY (default 4194304 = 4M entries),
 *              SY_CT_PRESSURE_ACTIVE (default 10000).
 * Prints PASS:/FAIL: lines, a RELIABILITY| report line and RESULT: PASS|FAIL.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <switchyard/counters.h>
#include <switchyard/pkt_hdr.h>
#include <switchyard/region_writer.h>

#include "lb.h"
#include "lb_scenario.h"

#define ROUNDS 50 /* active-flow rounds spread over the bulk flows */

static int failed;

#define CHECK(cond, ...) SY_SCN_CHECK(&failed, cond, __VA_ARGS__)

static struct sy_scn env;

#define BACKEND_E SY_SCN_BACKEND(5)

/* ---- flows and packets: lb_scenario.h ---------------------------------------- */

static uint64_t counter(enum sy_counter c)
{
	return env.lb.stats->counters[c];
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(void)
{
	static const uint32_t weights_b[] = { 3, 1, 1, 1, 2 };
	const uint64_t n_flows = sy_scn_env_u64("SY_CT_PRESSURE_FLOWS", 5000000);
	const uint64_t capacity = sy_scn_env_u64("SY_CT_PRESSURE_CAPACITY", 4u << 20);
	const uint32_t n_active = (uint32_t)sy_scn_env_u64("SY_CT_PRESSURE_ACTIVE", 10000);
	const long pg = sysconf(_SC_PAGESIZE);
	uint64_t memsize, mapsize, chunk, next_bulk = 0, sent = 0;
	uint64_t active_pkts = 0, active_hits = 0, active_new = 0, moved = 0;
	uint64_t would_move_add = 0, would_move_w = 0, on_e_new = 0, new_after = 0;
	uint32_t *first_be;
	uint8_t *moved_flag;
	uint64_t moved_flows = 0;
	uint8_t *map;
	double t_pkts = 0;
	int phase = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (n_active == 0 || n_active > 0x8000 * 16 || n_flows < 65536 || n_flows > 65536ull * 60000) {
		fprintf(stderr, "bad SY_CT_PRESSURE_* values\n");
		return 2;
	}
	if (sy_scn_open(&env, "ctpressure"))
		return 1;

	/* the table between two inaccessible guard pages */
	memsize = sy_ct_memsize(capacity);
	mapsize = (memsize + (uint64_t)pg - 1) / (uint64_t)pg * (uint64_t)pg;
	map = mmap(NULL, mapsize + 2 * (uint64_t)pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	first_be = calloc(n_active, sizeof(*first_be));
	moved_flag = calloc(n_active, 1);
	if (map == MAP_FAILED || !first_be || !moved_flag ||
	    mprotect(map + pg, mapsize, PROT_READ | PROT_WRITE)) {
		fprintf(stderr, "cannot map %llu bytes for the connection table\n",
			(unsigned long long)memsize);
		return 1;
	}
	sy_ct_init(&env.lb.ct, map + pg, capacity, NULL, 1);
	CHECK(sy_ct_capacity(&env.lb.ct) == capacity,
	      "connection table capacity %llu entries as configured (%llu)",
	      (unsigned long long)sy_ct_capacity(&env.lb.ct), (unsigned long long)capacity);
	CHECK(memsize == capacity / SY_CT_LINE_SLOTS * SY_CT_LINE,
	      "memory is sy_ct_memsize(capacity) = %llu bytes = %.1f MB (%.0f bytes a flow)",
	      (unsigned long long)memsize, memsize / 1048576.0, (double)memsize / capacity);

	if (sy_scn_publish(&env, 4, NULL)) {
		printf("FAIL: publish\nRESULT: FAIL\n");
		return 1;
	}

	/* the active flows' first packets */
	for (uint32_t j = 0; j < n_active; j++) {
		first_be[j] = sy_scn_tcp(&env, sy_scn_active_flow(j), SY_TCP_SYN);
		if (!first_be[j]) {
			printf("FAIL: active flow %u not forwarded\n", j);
			failed = 1;
		}
	}

	/* bulk flows in ROUNDS chunks; after each chunk every active flow
	 * sends one packet; after 1/3 a backend is added, after 2/3 the
	 * weights change */
	chunk = (n_flows + ROUNDS - 1) / ROUNDS;
	for (int r = 0; r < ROUNDS; r++) {
		double t0 = now_s();
		uint64_t end = next_bulk + chunk < n_flows ? next_bulk + chunk : n_flows;
		uint64_t new0, hit0;

		for (; next_bulk < end; next_bulk++) {
			uint32_t b = sy_scn_tcp(&env, sy_scn_bulk_flow(next_bulk), SY_TCP_SYN);

			if (phase > 0) {
				new_after++;
				on_e_new += b == BACKEND_E;
			}
			if (!b)
				failed = 1;
			if (++sent % 100 == 0)
				env.lb.now++; /* 1 ms a 100 packets: nothing expires */
		}
		new0 = counter(SY_C_CT_NEW);
		hit0 = counter(SY_C_CT_HIT);
		for (uint32_t j = 0; j < n_active; j++) {
			struct sy_scn_flow f = sy_scn_active_flow(j);
			uint32_t b = sy_scn_tcp(&env, f, SY_TCP_ACK);

			if (b != first_be[j]) {
				moved++;
				moved_flows += !moved_flag[j];
				moved_flag[j] = 1;
			}
			if (++sent % 100 == 0)
				env.lb.now++;
		}
		t_pkts += now_s() - t0;
		active_pkts += n_active;
		active_new += counter(SY_C_CT_NEW) - new0;
		active_hits += counter(SY_C_CT_HIT) - hit0;

		if (phase == 0 && r == ROUNDS / 3 - 1) {
			if (sy_scn_publish(&env, 5, NULL))
				failed = 1;
			for (uint32_t j = 0; j < n_active; j++)
				would_move_add += sy_scn_pick(&env, sy_scn_active_flow(j)) != first_be[j];
			phase = 1;
			printf("INFO: after %llu bulk flows: backend 198.18.1.5 added; the table alone would move %llu of %u active flows\n",
			       (unsigned long long)next_bulk, (unsigned long long)would_move_add, n_active);
		} else if (phase == 1 && r == 2 * ROUNDS / 3 - 1) {
			if (sy_scn_publish(&env, 5, weights_b))
				failed = 1;
			for (uint32_t j = 0; j < n_active; j++)
				would_move_w += sy_scn_pick(&env, sy_scn_active_flow(j)) != first_be[j];
			phase = 2;
			printf("INFO: after %llu bulk flows: weights 3,1,1,1,2; the table alone would move %llu of %u active flows\n",
			       (unsigned long long)next_bulk, (unsigned long long)would_move_w, n_active);
		}
	}

	uint64_t evictions = counter(SY_C_CT_EVICT), expired = counter(SY_C_CT_EXPIRED);
	uint64_t live = sy_ct_count(&env.lb.ct, env.lb.now);
	uint64_t min_evict = n_flows + n_active > capacity ? n_flows + n_active - capacity : 0;
	double ns_pkt = t_pkts * 1e9 / (double)sent;

	CHECK(next_bulk == n_flows && !failed, "%llu distinct bulk flows + %u active flows forwarded (%llu packets)",
	      (unsigned long long)next_bulk, n_active, (unsigned long long)sent);
	CHECK(would_move_add > 0 && would_move_w > 0,
	      "the backend changes are meaningful: Maglev alone would move %llu (add) and %llu (weights) of %u active flows",
	      (unsigned long long)would_move_add, (unsigned long long)would_move_w, n_active);
	CHECK(moved == 0, "active flows keep their first backend: %llu of %u flows moved (%llu of %llu packets)",
	      (unsigned long long)moved_flows, n_active, (unsigned long long)moved,
	      (unsigned long long)active_pkts);
	CHECK(active_new == 0 && active_hits == active_pkts,
	      "no active flow was evicted: %llu ct_hits of %llu active packets, %llu re-created",
	      (unsigned long long)active_hits, (unsigned long long)active_pkts,
	      (unsigned long long)active_new);
	CHECK(evictions > 0 && evictions >= min_evict,
	      "evictions counted: ct_evictions %llu >= flows - capacity %llu (ct_expired %llu)",
	      (unsigned long long)evictions, (unsigned long long)min_evict,
	      (unsigned long long)expired);
	CHECK(live <= capacity && (n_flows + n_active < capacity || live >= capacity * 9 / 10),
	      "table holds %llu live flows of a capacity of %llu (%.1f%%)", (unsigned long long)live,
	      (unsigned long long)capacity, 100.0 * live / capacity);
	CHECK(on_e_new > new_after / 20,
	      "new flows after the changes reach the added backend: %llu of %llu",
	      (unsigned long long)on_e_new, (unsigned long long)new_after);
	printf("INFO: %.0f ns per packet (information only, not asserted)\n", ns_pkt);

	printf("RELIABILITY|ct_pressure|%llu distinct flows through one lcore's conntrack of %llu entries (%.0f MB); backend added and weights changed mid-run|%u active flows touched %d times each|%s|evictions %llu, active flows kept %llu/%u moved %llu (Maglev alone would move %llu), memory %.0f MB = sy_ct_memsize, %.0f ns/packet\n",
	       (unsigned long long)n_flows, (unsigned long long)capacity, memsize / 1048576.0,
	       n_active, ROUNDS, failed ? "FAIL" : "PASS", (unsigned long long)evictions,
	       (unsigned long long)(n_active - moved_flows), n_active, (unsigned long long)moved_flows,
	       (unsigned long long)(would_move_w > would_move_add ? would_move_w : would_move_add),
	       memsize / 1048576.0, ns_pkt);

	munmap(map, mapsize + 2 * (uint64_t)pg);
	free(first_be);
	free(moved_flag);
	sy_scn_close(&env);
	printf("RESULT: %s\n", failed ? "FAIL" : "PASS");
	return failed;
}
