/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The least-connections choice both paths share (switchyard/least_conns.h):
 * the smallest connections / weight wins, compared exactly; ties go to the
 * first backend offered (canonical order); weight 0 (draining) never wins;
 * nothing eligible leaves SY_LEAST_CONNS_NONE (= SY_MAGLEV_NONE).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <switchyard/least_conns.h>
#include <switchyard/maglev.h>

/* The choice over n backends of these counts and weights. */
static uint32_t choose(const uint64_t *conns, const uint32_t *weight, uint32_t n)
{
	struct sy_least_conns lc;

	sy_least_conns_init(&lc);
	for (uint32_t i = 0; i < n; i++)
		sy_least_conns_offer(&lc, i, conns[i], weight[i]);
	return lc.best;
}

static void test_fewest_wins(void **state)
{
	static const uint64_t c[] = { 5, 3, 4 };
	static const uint32_t w[] = { 1, 1, 1 };

	(void)state;
	assert_int_equal(choose(c, w, 3), 1);
}

/* 6/3 = 2 < 3/1: the heavier backend takes more connections. */
static void test_weights(void **state)
{
	static const uint64_t c[] = { 3, 6 };
	static const uint32_t w[] = { 1, 3 };
	static const uint64_t c2[] = { 2, 7 }; /* 2/1 < 7/3 */
	static const uint64_t big[] = { 4000000000ull, 3999999999ull };
	static const uint32_t wmax[] = { 65535, 65535 };

	(void)state;
	assert_int_equal(choose(c, w, 2), 1);
	assert_int_equal(choose(c2, w, 2), 0);
	/* exact, no overflow at the largest counts and weights */
	assert_int_equal(choose(big, wmax, 2), 1);
}

/* Equal ratios (0/1 = 0/5; 2/1 = 4/2): the first offered, the lowest
 * index, on every path. */
static void test_ties_to_the_first(void **state)
{
	static const uint64_t zero[] = { 0, 0, 0 };
	static const uint32_t w[] = { 1, 5, 1 };
	static const uint64_t c[] = { 9, 2, 4 };
	static const uint32_t w2[] = { 1, 1, 2 };

	(void)state;
	assert_int_equal(choose(zero, w, 3), 0);
	assert_int_equal(choose(c, w2, 3), 1);
}

/* Weight 0 (draining) never wins, even idle; none eligible: NONE. */
static void test_draining(void **state)
{
	static const uint64_t c[] = { 0, 10, 0 };
	static const uint32_t w[] = { 0, 1, 0 };
	static const uint32_t none[] = { 0, 0, 0 };

	(void)state;
	assert_int_equal(choose(c, w, 3), 1);
	assert_int_equal(choose(c, none, 3), SY_LEAST_CONNS_NONE);
	assert_int_equal(SY_LEAST_CONNS_NONE, SY_MAGLEV_NONE);
	assert_int_equal(choose(c, w, 0), SY_LEAST_CONNS_NONE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fewest_wins),
		cmocka_unit_test(test_weights),
		cmocka_unit_test(test_ties_to_the_first),
		cmocka_unit_test(test_draining),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
