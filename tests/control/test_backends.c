/* SPDX-License-Identifier: BSD-3-Clause
 * Health policy of sy-control: TTL expiry, flap damping, active-check
 * rise/fall, operator overrides, panic threshold and fail-static. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <switchyard/flow_hash.h>

#include "backends.h"

static struct sy_backend_id id(uint8_t last)
{
	struct sy_backend_id b = { .family = SY_AF_INET, .port = 80 };

	b.addr[0] = 198u | 18u << 8 | (uint32_t)last << 24;
	return b;
}

static uint32_t desired(struct sy_svc_backends *s, uint64_t now, struct sy_maglev_backend *out)
{
	return sy_svcb_desired(s, now, out);
}

static bool has(const struct sy_maglev_backend *set, uint32_t n, uint8_t last, uint32_t weight)
{
	struct sy_backend_id want = id(last);

	for (uint32_t i = 0; i < n; i++)
		if (!sy_backend_id_cmp(&set[i].id, &want))
			return set[i].weight == weight;
	return false;
}

static void publish(struct sy_svc_backends *s, uint64_t now)
{
	struct sy_maglev_backend out[64];
	uint32_t n = desired(s, now, out);

	assert_int_equal(sy_svcb_published(s, out, n, now), 0);
}

struct expired_log {
	unsigned n;
	struct sy_backend_id last;
};

static void note_expired(void *ctx, const struct sy_be *b)
{
	struct expired_log *l = ctx;

	l->n++;
	l->last = b->id;
}

static void test_ttl_expiry_removes_backend(void **state)
{
	struct sy_policy p = { 0 };
	struct sy_svc_backends s;
	struct sy_maglev_backend out[8];
	struct sy_backend_id a = id(1), b = id(2);
	struct expired_log expired = { 0 };

	(void)state;
	sy_svcb_init(&s, &p);
	sy_svcb_upsert(&s, &a, 1, SY_SRC_EMBEDDED, 5000, 0);
	sy_svcb_upsert(&s, &b, 1, SY_SRC_EMBEDDED, 5000, 0);
	assert_int_equal(desired(&s, 0, out), 2);
	/* a keeps heartbeating, b stops */
	sy_svcb_upsert(&s, &a, 1, SY_SRC_EMBEDDED, 5000, 4000);
	assert_false(sy_svcb_expire(&s, 4999, note_expired, &expired));
	assert_true(sy_svcb_expire(&s, 5000, note_expired, &expired));
	assert_int_equal(expired.n, 1); /* b, and only b, is reported */
	assert_int_equal(sy_backend_id_cmp(&expired.last, &b), 0);
	assert_int_equal(desired(&s, 5000, out), 1);
	assert_true(has(out, 1, 1, 1));
	sy_svcb_free(&s);
}

static void test_hold_down_damps_a_flapping_backend(void **state)
{
	struct sy_policy p = { .hold_down_ms = 10000 };
	struct sy_svc_backends s;
	struct sy_maglev_backend out[8];
	struct sy_backend_id a = id(1);

	(void)state;
	sy_svcb_init(&s, &p);
	sy_svcb_upsert(&s, &a, 1, SY_SRC_EMBEDDED, 2000, 0);
	sy_svcb_expire(&s, 2000, NULL, NULL);                  /* missed its TTL */
	sy_svcb_upsert(&s, &a, 1, SY_SRC_EMBEDDED, 2000, 3000); /* back at once */
	assert_int_equal(desired(&s, 3000, out), 0); /* damped */
	sy_svcb_upsert(&s, &a, 1, SY_SRC_EMBEDDED, 20000, 11000);
	assert_int_equal(desired(&s, 11999, out), 0);
	assert_int_equal(desired(&s, 12000, out), 1); /* hold-down over */
	/* a clean deregistration is not a flap: no hold-down */
	assert_true(sy_svcb_remove(&s, &a, 13000));
	sy_svcb_upsert(&s, &a, 1, SY_SRC_EMBEDDED, 2000, 13001);
	assert_int_equal(desired(&s, 13001, out), 1);
	sy_svcb_free(&s);
}

static void test_active_checks_rise_and_fall(void **state)
{
	struct sy_policy p = { .check_rise = 2, .check_fall = 3, .has_check = true };
	struct sy_svc_backends s;
	struct sy_maglev_backend out[8];
	struct sy_backend_id a = id(1);
	struct sy_be *b;

	(void)state;
	sy_svcb_init(&s, &p);
	b = sy_svcb_upsert(&s, &a, 1, SY_SRC_STATIC, 0, 0);
	assert_false(sy_svcb_check_result(&s, b, false, 1));
	assert_false(sy_svcb_check_result(&s, b, false, 2));
	assert_int_equal(desired(&s, 2, out), 1);
	assert_true(sy_svcb_check_result(&s, b, false, 3)); /* third failure */
	assert_int_equal(desired(&s, 3, out), 0);
	assert_false(sy_svcb_check_result(&s, b, true, 4));
	assert_false(sy_svcb_check_result(&s, b, false, 5)); /* streak broken */
	assert_false(sy_svcb_check_result(&s, b, true, 6));
	assert_true(sy_svcb_check_result(&s, b, true, 7));
	assert_int_equal(desired(&s, 7, out), 1);
	sy_svcb_free(&s);
}

static void test_operator_drain_and_weight_override(void **state)
{
	struct sy_policy p = { 0 };
	struct sy_svc_backends s;
	struct sy_maglev_backend out[8];
	struct sy_backend_id a = id(1);
	struct sy_be *b;

	(void)state;
	sy_svcb_init(&s, &p);
	b = sy_svcb_upsert(&s, &a, 3, SY_SRC_EMBEDDED, 5000, 0);
	b->override = 0; /* drain */
	assert_int_equal(desired(&s, 0, out), 1);
	assert_true(has(out, 1, 1, 0));
	/* heartbeats keep their registered weight but the override wins */
	b = sy_svcb_upsert(&s, &a, 3, SY_SRC_EMBEDDED, 5000, 100);
	assert_true(has(out, desired(&s, 100, out), 1, 0));
	b->override = -1;
	assert_true(has(out, desired(&s, 100, out), 1, 3));
	sy_svcb_free(&s);
}

static void test_panic_keeps_last_good_set(void **state)
{
	struct sy_policy p = { .panic_threshold = 0.5, .panic_window_ms = 10000 };
	struct sy_svc_backends s;
	struct sy_maglev_backend out[16];
	uint32_t n;

	(void)state;
	sy_svcb_init(&s, &p);
	for (uint8_t i = 1; i <= 10; i++) {
		struct sy_backend_id b = id(i);

		sy_svcb_upsert(&s, &b, 1, SY_SRC_EMBEDDED, 5000, 0);
	}
	publish(&s, 0);
	assert_int_equal(s.n_published, 10);

	/* 3 of 10 vanish: within the threshold, they go */
	for (uint8_t i = 1; i <= 3; i++) {
		struct sy_backend_id b = id(i);

		sy_svcb_remove(&s, &b, 1000);
	}
	n = desired(&s, 1000, out);
	assert_int_equal(n, 7);
	assert_false(s.degraded);
	publish(&s, 1000);

	/* 3 more within the window: 6 of 10 > 50%: fail static */
	for (uint8_t i = 4; i <= 6; i++) {
		struct sy_backend_id b = id(i);

		sy_svcb_remove(&s, &b, 2000);
	}
	/* while a new one joins: additions are still taken */
	{
		struct sy_backend_id b = id(20);

		sy_svcb_upsert(&s, &b, 1, SY_SRC_EMBEDDED, 5000, 2000);
	}
	n = desired(&s, 2000, out);
	assert_true(s.degraded);
	assert_non_null(strstr(s.degraded_reason, "panic"));
	assert_int_equal(n, 8); /* the 7 last good + the newcomer */
	assert_true(has(out, n, 4, 1));
	assert_true(has(out, n, 20, 1));

	/* after the window the earlier removals no longer count, but losing
	 * 3 of the 7 published is still under... 3/7 < 0.5: they go */
	n = desired(&s, 12000, out);
	assert_false(s.degraded);
	assert_int_equal(n, 5);
	sy_svcb_free(&s);
}

static void test_unreachable_source_is_fail_static(void **state)
{
	struct sy_policy p = { 0 };
	struct sy_svc_backends s;
	struct sy_maglev_backend out[8];
	struct sy_backend_id a = id(1), b = id(2);

	(void)state;
	sy_svcb_init(&s, &p);
	sy_svcb_upsert(&s, &a, 1, SY_SRC_ETCD, 0, 0);
	sy_svcb_upsert(&s, &b, 1, SY_SRC_ETCD, 0, 0);
	publish(&s, 0);
	s.source_unreachable = true;
	sy_svcb_remove(&s, &b, 10); /* what a stale view would say */
	assert_int_equal(desired(&s, 10, out), 2);
	assert_true(s.degraded);
	assert_non_null(strstr(s.degraded_reason, "unreachable"));
	s.source_unreachable = false;
	assert_int_equal(desired(&s, 20, out), 1);
	assert_false(s.degraded);
	sy_svcb_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ttl_expiry_removes_backend),
		cmocka_unit_test(test_hold_down_damps_a_flapping_backend),
		cmocka_unit_test(test_active_checks_rise_and_fall),
		cmocka_unit_test(test_operator_drain_and_weight_override),
		cmocka_unit_test(test_panic_keeps_last_good_set),
		cmocka_unit_test(test_unreachable_source_is_fail_static),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
