/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The XDP path's connection table is one table per CPU (docs/xdp.md,
 * `--xdp-ct-flows` entries each), not one table shared by every CPU. The
 * test thread pins itself to CPU 0, then CPU 1: BPF_PROG_TEST_RUN runs the
 * program on the caller's CPU.
 *
 *   - 6,000 flows on CPU 0, then 6,000 others on CPU 1, with 8,192 entries
 *     per CPU: all 6,000 of CPU 0 are still tracked (they keep their backend
 *     after the set changed: ct_hits +6,000, ct_new +0), and so are CPU 1's.
 *     With the shared LRU_PERCPU_HASH of 8,192 entries in all:
 *         CPU 0 after CPU 1's flows: 112 of 6000 tracked, 3561 moved
 *         [  ERROR   ] --- 0x987 != 0x1770
 *   - sy_xdp_ct_lookup() (`syctl lookup`) finds a flow on whichever CPU
 *     tracks it, with its backend.
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
#include <unistd.h>

#include <cmocka.h>

#include <switchyard/counters.h>

#include "flows.h"
#include "xdp_web.h"

#define N_PER_CPU 6000
_Static_assert(2 * N_PER_CPU > SY_XDP_WEB_CT_FLOWS && N_PER_CPU < SY_XDP_WEB_CT_FLOWS,
	       "the flows of both CPUs overflow one table, not two");

static uint8_t be_of[2 * N_PER_CPU]; /* each flow's backend */

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

/* Flows [first, first + n) again on the current CPU: how many kept their
 * backend (all of them if tracked: the set changed since they started). */
static uint32_t kept(uint32_t first, uint32_t n)
{
	uint32_t k = 0;

	for (uint32_t i = first; i < first + n; i++)
		k += sy_xdp_web_syn(&sy_test_web, i, false) == be_of[i];
	return k;
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

static void table_per_cpu(void **state)
{
	uint64_t hits0, new0;
	uint32_t k0, k1, moved = 0;

	(void)state;
	ON_CPU(0);
	open_flows(0, N_PER_CPU);
	ON_CPU(1);
	open_flows(N_PER_CPU, N_PER_CPU);
	/* from now on Maglev sends many of them elsewhere: only the
	 * connection table keeps them where they are */
	assert_int_equal(sy_xdp_web_publish(&sy_test_web, 5), 0);
	for (uint32_t i = 0; i < 2 * N_PER_CPU; i++)
		moved += sy_test_web_maglev(sy_test_web.map->base, sy_writer_snapshot(sy_test_web.w), i,
					    false) != be_of[i];
	assert_true(moved > N_PER_CPU);

	ON_CPU(0);
	hits0 = COUNTER(SY_C_CT_HIT);
	new0 = COUNTER(SY_C_CT_NEW);
	k0 = kept(0, N_PER_CPU);
	if (k0 != N_PER_CPU)
		print_message("CPU 0 after CPU 1's flows: %llu of %u tracked, %u moved\n",
			      (unsigned long long)(COUNTER(SY_C_CT_HIT) - hits0), N_PER_CPU,
			      N_PER_CPU - k0);
	assert_int_equal(k0, N_PER_CPU);
	assert_int_equal(COUNTER(SY_C_CT_HIT) - hits0, N_PER_CPU);
	assert_int_equal(COUNTER(SY_C_CT_NEW) - new0, 0);

	ON_CPU(1);
	k1 = kept(N_PER_CPU, N_PER_CPU);
	assert_int_equal(k1, N_PER_CPU);
	assert_int_equal(COUNTER(SY_C_CT_HIT) - hits0, 2 * N_PER_CPU);
	assert_int_equal(COUNTER(SY_C_CT_NEW) - new0, 0);
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

		assert_int_equal(sy_xdp_ct_lookup(sy_test_web.x, &k, &uid), 1);
		assert_int_equal(backend_of_uid(uid), be_of[i]);
	}
	/* a flow nobody tracks */
	{
		struct sy_test_flow f = sy_test_web_flow(5000, false);
		struct sy_flow_key k = sy_test_flow_key(&f);
		uint64_t uid = 0;

		assert_int_equal(sy_xdp_ct_lookup(sy_test_web.x, &k, &uid), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(table_per_cpu, sy_xdp_web_setup, sy_xdp_web_teardown),
		cmocka_unit_test_setup_teardown(lookup_any_cpu, sy_xdp_web_setup, sy_xdp_web_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
