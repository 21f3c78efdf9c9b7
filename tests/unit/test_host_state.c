/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The host line the benches print beside their figures (perf/host_state.h).
 * What would make it lie: a chase whose lines form several short cycles
 * (then it runs in the cache and reads a DRAM-speed host as fast), a
 * measure that leaves a field unset, a HOST line a script cannot parse.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <cmocka.h>

#include "host_state.h"

/* Following the links from any line visits every line once and comes back
 * after exactly n steps: one cycle. */
static void test_link_lines_one_cycle(void **state)
{
	const size_t size = 1u << 20, n = size / 64;
	char *base = sy_mem_table_alloc(size, SY_MEM_4K);
	uint8_t *seen = calloc(n, 1);
	char *p;

	(void)state;
	assert_non_null(base);
	assert_non_null(seen);
	assert_int_equal(sy_mem_link_lines(base, size), 0);
	p = base + 64 * 1000; /* any line */
	for (size_t i = 0; i < n; i++) {
		size_t line = (size_t)(p - base) / 64;

		assert_true(p >= base && p < base + size && (size_t)(p - base) % 64 == 0);
		assert_int_equal(seen[line], 0);
		seen[line] = 1;
		p = *(char **)p;
	}
	assert_ptr_equal(p, base + 64 * 1000);
	free(seen);
	munmap(base, size);
}

static void test_median(void **state)
{
	double odd[] = { 5, 1, 3 }, even[] = { 4, 1, 3, 2 };

	(void)state;
	assert_true(sy_mem_median(odd, 3) == 3);
	assert_true(sy_mem_median(even, 4) == 2.5);
}

/* Every field measured (finite, positive), consistent with the others, and
 * the HOST line gives back what was measured. */
static void test_measure_and_line(void **state)
{
	struct sy_host_state h;
	double ghz, tsc, per, width, l2, chase, batch;
	char buf[512], *host, when[16], st[16];
	FILE *f;

	(void)state;
	memset(&h, 0, sizeof(h));
	assert_int_equal(sy_host_state_measure(&h, 1), 0);
	assert_true(isfinite(h.core_ghz) && h.core_ghz > 0);
	assert_true(isfinite(h.tsc_ghz) && h.tsc_ghz > 0);
	assert_true(isfinite(h.tsc_per_core) && h.tsc_per_core > 0);
	assert_true(isfinite(h.adds_per_cycle) && h.adds_per_cycle > 0);
	assert_true(h.chase512k > 0 && h.chase4mb > 0 && h.batch128mb > 0);
	assert_true(fabs(h.core_ghz * h.tsc_per_core - h.tsc_ghz) < 1e-6 * h.tsc_ghz);

	f = fmemopen(buf, sizeof(buf), "w");
	assert_non_null(f);
	sy_host_state_print(f, "start", &h);
	fclose(f);
	host = strstr(buf, "\nHOST ");
	assert_non_null(host);
	assert_int_equal(sscanf(host + 1, "HOST when=%15s core_ghz=%lf tsc_ghz=%lf tsc_per_core=%lf "
				"adds_per_cycle=%lf chase512k=%lf chase4mb=%lf batch128mb=%lf state=%15s",
				when, &ghz, &tsc, &per, &width, &l2, &chase, &batch, st), 9);
	assert_string_equal(st, sy_host_state_quiet(&h) ? "quiet" : "shared");
	assert_string_equal(when, "start");
	assert_true(fabs(ghz - h.core_ghz) < 0.001 && fabs(per - h.tsc_per_core) < 0.001);
	assert_true(fabs(width - h.adds_per_cycle) < 0.006);
	assert_true(fabs(l2 - h.chase512k) < 0.051 && fabs(chase - h.chase4mb) < 0.051 &&
		    fabs(batch - h.batch128mb) < 0.051);
}

/* Quiet only with the core's whole width and the L3 its own; a state not
 * measured (zeros) is not quiet. */
static void test_quiet(void **state)
{
	struct sy_host_state quiet = { .adds_per_cycle = 4.45, .chase4mb = 41.0 };
	struct sy_host_state core_shared = { .adds_per_cycle = 3.6, .chase4mb = 44.0 };
	struct sy_host_state l3_shared = { .adds_per_cycle = 4.4, .chase4mb = 250.0 };
	struct sy_host_state none = { 0 };

	(void)state;
	assert_true(sy_host_state_quiet(&quiet));
	assert_false(sy_host_state_quiet(&core_shared));
	assert_false(sy_host_state_quiet(&l3_shared));
	assert_false(sy_host_state_quiet(&none));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_link_lines_one_cycle),
		cmocka_unit_test(test_median),
		cmocka_unit_test(test_measure_and_line),
		cmocka_unit_test(test_quiet),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
