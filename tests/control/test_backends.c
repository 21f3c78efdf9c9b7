/* SPDX-License-Identifier: BSD-3-Clause
 * Health policy of sy-control: TTL expiry, flap damping, active-check
 * rise/fall, operator overrides, panic threshold and fail-static.
 *
 * The fail-static tests below (issue 12, point 1) failed on the policy
 * before it told departures on purpose from losses: with the old
 * sy_svcb_remove/sy_svcb_published, removing 3 of 4 kept 2 published,
 * one registration then its deregistration kept it ("1 of 1 backends
 * left"), 10,000 registrations then deregistrations kept 4,999, a panic
 * over gradual losses was only re-examined at the next change, and a
 * newcomer that joined during a panic and then expired was kept as if it
 * were part of the last good set. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
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

/* What the publisher does: the desired set, then "it is published". */
static uint32_t publish(struct sy_svc_backends *s, uint64_t now)
{
	struct sy_maglev_backend *out = malloc(sizeof(*out) * sy_svcb_desired_cap(s));
	uint32_t n;

	assert_non_null(out);
	n = desired(s, now, out);
	assert_int_equal(sy_svcb_published(s, out, NULL, n, s->degraded, now), 0);
	s->dirty = false;
	free(out);
	return n;
}

static void up(struct sy_svc_backends *s, uint8_t last, uint64_t ttl_ms, uint64_t now)
{
	struct sy_backend_id b = id(last);

	assert_non_null(sy_svcb_upsert(s, &b, 1, SY_SRC_EMBEDDED, ttl_ms, now));
}

static bool gone(struct sy_svc_backends *s, uint8_t last, enum sy_leave how, uint64_t now)
{
	struct sy_backend_id b = id(last);

	return sy_svcb_remove(s, &b, how, now);
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

/* The dataplane the heartbeats come through was down for 6 s: the TTLs
 * stood still that long (main.c, sy_dp_carries), a static backend has none */
static void test_held_ttls_move_expiry(void **state)
{
	struct sy_policy p = { 0 };
	struct sy_svc_backends s;
	struct sy_maglev_backend out[8];
	struct sy_backend_id a = id(1), b = id(2);

	(void)state;
	sy_svcb_init(&s, &p);
	sy_svcb_upsert(&s, &a, 1, SY_SRC_EMBEDDED, 5000, 0);  /* expires at 5000 */
	sy_svcb_upsert(&s, &b, 1, SY_SRC_STATIC, 0, 0);       /* never */
	for (uint64_t t = 1000; t < 7000; t += 1000) /* down from 1000 to 7000 */
		sy_svcb_hold_ttls(&s, 1000);
	assert_false(sy_svcb_expire(&s, 10999, NULL, NULL));
	assert_int_equal(desired(&s, 10999, out), 2);
	assert_true(sy_svcb_expire(&s, 11000, NULL, NULL)); /* 5000 + 6000 held */
	assert_int_equal(desired(&s, 11000, out), 1);
	assert_true(has(out, 1, 2, 1));
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
	assert_true(sy_svcb_remove(&s, &a, SY_LEAVE_EXPLICIT, 13000));
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
	for (uint8_t i = 1; i <= 10; i++)
		up(&s, i, 5000, 0);
	assert_int_equal(publish(&s, 0), 10);

	/* 3 of 10 stop heartbeating: within the threshold, they go */
	for (uint8_t i = 1; i <= 3; i++)
		up(&s, i, 1000, 0);
	sy_svcb_expire(&s, 1000, NULL, NULL);
	n = desired(&s, 1000, out);
	assert_int_equal(n, 7);
	assert_false(s.degraded);
	publish(&s, 1000);

	/* 3 more within the window: 6 of 10 > 50%: fail static, and the set
	 * as it was at the window's start comes back */
	for (uint8_t i = 4; i <= 6; i++)
		up(&s, i, 1000, 1000);
	sy_svcb_expire(&s, 2000, NULL, NULL);
	up(&s, 20, 5000, 2000); /* while a new one joins: additions are still taken */
	n = desired(&s, 2000, out);
	assert_true(s.degraded);
	assert_non_null(strstr(s.degraded_reason, "panic"));
	assert_int_equal(n, 11); /* the 10 of the window's start + the newcomer */
	assert_true(has(out, n, 1, 1));
	assert_true(has(out, n, 4, 1));
	assert_true(has(out, n, 20, 1));
	publish(&s, 2000);

	/* the first 3 losses leave the window at 11 s: time alone changes
	 * the verdict, so the policy asks to be looked at then */
	assert_int_equal(s.due_ms, 11000);
	assert_false(sy_svcb_due(&s, 10999));
	assert_true(sy_svcb_due(&s, 11000));
	assert_true(s.dirty);
	/* losing 3 of the 7 is under the threshold: they go */
	n = desired(&s, 11000, out);
	assert_false(s.degraded);
	assert_int_equal(n, 5);
	sy_svcb_free(&s);
}

/* Losses that fall into different ticks (and publishes) of one window are
 * one mass loss: the whole set comes back, as if they had come at once. */
static void test_losses_spread_over_ticks(void **state)
{
	struct sy_policy p = { .panic_threshold = 0.5, .panic_window_ms = 5000 };
	struct sy_svc_backends s;
	struct sy_maglev_backend out[8];

	(void)state;
	sy_svcb_init(&s, &p);
	for (uint8_t i = 1; i <= 4; i++)
		up(&s, i, i < 4 ? 1000u * (i + 1) : 60000, 0);
	assert_int_equal(publish(&s, 0), 4);
	sy_svcb_expire(&s, 2000, NULL, NULL);
	assert_int_equal(publish(&s, 2000), 3); /* 1 of 4: applied */
	sy_svcb_expire(&s, 3000, NULL, NULL);
	assert_int_equal(publish(&s, 3000), 2); /* 2 of 4: not more than half */
	sy_svcb_expire(&s, 4000, NULL, NULL);
	assert_int_equal(publish(&s, 4000), 4); /* 3 of 4: all of them kept */
	assert_true(s.degraded);
	/* the first loss leaves the window at 7 s: 2 of 3 still too many */
	assert_int_equal(s.due_ms, 7000);
	assert_true(sy_svcb_due(&s, 7000));
	assert_int_equal(publish(&s, 7000), 3);
	assert_true(s.degraded);
	assert_false(has(s.published, 3, 1, 1));
	/* the second at 8 s: 1 of 2 is not more than half: the loss applies */
	assert_int_equal(s.due_ms, 8000);
	assert_true(sy_svcb_due(&s, 8000));
	assert_int_equal(desired(&s, 8000, out), 1);
	assert_false(s.degraded);
	assert_true(has(out, 1, 4, 1));
	sy_svcb_free(&s);
}

/* Departures on purpose are not losses: removing 3 of 4 (syctl remove)
 * leaves 1 and the service is not degraded, now and later. */
static void test_explicit_removals_always_apply(void **state)
{
	struct sy_policy p = { .panic_threshold = 0.5, .panic_window_ms = 10000 };
	struct sy_svc_backends s;
	struct sy_maglev_backend out[8];

	(void)state;
	sy_svcb_init(&s, &p);
	for (uint8_t i = 1; i <= 4; i++) {
		struct sy_backend_id b = id(i);

		sy_svcb_upsert(&s, &b, 1, SY_SRC_STATIC, 0, 0);
	}
	assert_int_equal(publish(&s, 0), 4);
	for (uint8_t i = 1; i <= 3; i++) {
		assert_true(gone(&s, i, SY_LEAVE_EXPLICIT, 100 * i));
		assert_int_equal(publish(&s, 100 * i), 4 - i);
		assert_false(s.degraded);
	}
	assert_int_equal(desired(&s, 31000, out), 1);
	assert_true(has(out, 1, 4, 1));
	assert_int_equal(s.due_ms, 0);
	/* the last one too: an empty set, on purpose */
	assert_true(gone(&s, 4, SY_LEAVE_EXPLICIT, 31000));
	assert_int_equal(publish(&s, 31000), 0);
	assert_false(s.degraded);
	sy_svcb_free(&s);
}

/* One backend registers, is published, deregisters: nothing is left. */
static void test_register_then_deregister(void **state)
{
	struct sy_policy p = { .panic_threshold = 0.5, .panic_window_ms = 10000 };
	struct sy_svc_backends s;

	(void)state;
	sy_svcb_init(&s, &p);
	up(&s, 1, 5000, 0);
	assert_int_equal(publish(&s, 0), 1);
	assert_true(gone(&s, 1, SY_LEAVE_EXPLICIT, 10));
	assert_int_equal(publish(&s, 10), 0);
	assert_false(s.degraded);
	assert_int_equal(s.n_good, 0);
	sy_svcb_free(&s);
}

/* The publisher computes the set, then builds tables without the lock: a
 * deregistration meanwhile must not return with the set it publishes as
 * part of the good set (the live test saw 65 of 10,000 deregistered
 * backends kept that way). */
static void test_removal_while_publishing(void **state)
{
	struct sy_policy p = { .panic_threshold = 0.5, .panic_window_ms = 10000 };
	struct sy_svc_backends s;
	struct sy_maglev_backend out[8];
	uint32_t n;

	(void)state;
	sy_svcb_init(&s, &p);
	up(&s, 1, 60000, 0);
	up(&s, 2, 60000, 0);
	n = desired(&s, 0, out);          /* captured */
	assert_true(gone(&s, 2, SY_LEAVE_EXPLICIT, 1)); /* meanwhile */
	assert_int_equal(sy_svcb_published(&s, out, NULL, n, s.degraded, 2), 0);
	assert_int_equal(s.n_good, 1);
	assert_int_equal(desired(&s, 3, out), 1);
	assert_false(s.degraded);
	sy_svcb_free(&s);
}

/* 10,000 registrations then 10,000 deregistrations, published in batches
 * as the daemon would: every one of them goes. */
static void test_mass_registration_churn(void **state)
{
	struct sy_policy p = { .panic_threshold = 0.5, .panic_window_ms = 10000 };
	struct sy_svc_backends s;
	const uint32_t n = 10000;
	uint64_t now = 0;

	(void)state;
	sy_svcb_init(&s, &p);
	for (uint32_t i = 0; i < n; i++) {
		struct sy_backend_id b = { .family = SY_AF_INET, .port = (uint16_t)(1 + i % 60000) };

		b.addr[0] = 198u | 18u << 8 | (i / 250) << 16 | (i % 250 + 1) << 24;
		sy_svcb_upsert(&s, &b, 1, SY_SRC_EMBEDDED, 30000, now);
		if (i % 97 == 0)
			publish(&s, now += 10);
	}
	assert_int_equal(publish(&s, now += 10), n);
	for (uint32_t i = 0; i < n; i++) {
		struct sy_backend_id b = { .family = SY_AF_INET, .port = (uint16_t)(1 + i % 60000) };

		b.addr[0] = 198u | 18u << 8 | (i / 250) << 16 | (i % 250 + 1) << 24;
		assert_true(sy_svcb_remove(&s, &b, SY_LEAVE_EXPLICIT, now));
		if (i % 89 == 0)
			publish(&s, now += 10);
	}
	assert_int_equal(publish(&s, now += 10), 0);
	assert_false(s.degraded);
	assert_int_equal(publish(&s, now + 60000), 0);
	sy_svcb_free(&s);
}

/* The set kept is the last good one, not the published one: a newcomer
 * taken during a panic that then expires is not kept. A mass loss is held
 * for the panic window, then confirmed; an operator's removal ends it
 * sooner, and so do the lost ones coming back. */
static void test_kept_set_is_the_last_good_set(void **state)
{
	struct sy_policy p = { .panic_threshold = 0.5, .panic_window_ms = 10000 };
	struct sy_svc_backends s;
	struct sy_maglev_backend out[16];
	uint32_t n;

	(void)state;
	sy_svcb_init(&s, &p);
	for (uint8_t i = 1; i <= 4; i++)
		up(&s, i, i < 4 ? 1000 : 60000, 0);
	assert_int_equal(publish(&s, 0), 4);
	sy_svcb_expire(&s, 1000, NULL, NULL); /* 3 of 4 stop heartbeating */
	assert_int_equal(publish(&s, 1000), 4);
	assert_true(s.degraded);
	up(&s, 5, 1000, 1500); /* a newcomer during the panic */
	assert_int_equal(publish(&s, 1500), 5);
	assert_true(s.degraded);
	sy_svcb_expire(&s, 2500, NULL, NULL); /* and it stops too */
	n = publish(&s, 2500);
	assert_int_equal(n, 4);
	assert_false(has(s.published, n, 5, 1));
	/* held for the window, confirmed when it ends, with no event */
	assert_int_equal(s.due_ms, 11000);
	assert_int_equal(publish(&s, 10999), 4);
	assert_true(sy_svcb_due(&s, 11000));
	assert_int_equal(publish(&s, 11000), 1);
	assert_false(s.degraded);
	assert_int_equal(s.n_good, 1);
	sy_svcb_free(&s);

	/* the operator removes what is really gone: the panic ends at once */
	sy_svcb_init(&s, &p);
	for (uint8_t i = 1; i <= 4; i++)
		up(&s, i, i < 4 ? 1000 : 60000, 0);
	publish(&s, 0);
	sy_svcb_expire(&s, 1000, NULL, NULL);
	assert_int_equal(publish(&s, 1000), 4);
	for (uint8_t i = 1; i <= 3; i++)
		assert_true(gone(&s, i, SY_LEAVE_EXPLICIT, 2000));
	assert_int_equal(publish(&s, 2000), 1);
	assert_false(s.degraded);
	sy_svcb_free(&s);

	/* or the lost ones come back */
	sy_svcb_init(&s, &p);
	for (uint8_t i = 1; i <= 4; i++)
		up(&s, i, 1000, 0);
	publish(&s, 0);
	up(&s, 4, 60000, 500);
	sy_svcb_expire(&s, 1000, NULL, NULL);
	assert_int_equal(publish(&s, 1000), 4);
	assert_true(s.degraded);
	up(&s, 1, 60000, 2000);
	up(&s, 2, 60000, 2000);
	n = desired(&s, 2000, out);
	assert_false(s.degraded); /* 1 of 4 missing: under the threshold */
	assert_int_equal(n, 3);
	sy_svcb_free(&s);
}

/* A registry key that vanishes (etcd, ZooKeeper) is a loss: a lease expiry
 * looks the same. */
static void test_vanished_registry_entries_are_losses(void **state)
{
	struct sy_policy p = { .panic_threshold = 0.5, .panic_window_ms = 10000 };
	struct sy_svc_backends s;
	struct sy_maglev_backend out[8];

	(void)state;
	sy_svcb_init(&s, &p);
	for (uint8_t i = 1; i <= 4; i++) {
		struct sy_backend_id b = id(i);

		sy_svcb_upsert(&s, &b, 1, SY_SRC_ETCD, 0, 0);
	}
	publish(&s, 0);
	for (uint8_t i = 1; i <= 3; i++)
		assert_true(gone(&s, i, SY_LEAVE_LOST, 10));
	assert_int_equal(desired(&s, 10, out), 4);
	assert_true(s.degraded);
	sy_svcb_free(&s);
}

/* A backend back during its hold-down is published when the hold-down
 * ends, with no further event. */
static void test_hold_down_end_is_due(void **state)
{
	struct sy_policy p = { .hold_down_ms = 5000 };
	struct sy_svc_backends s;

	(void)state;
	sy_svcb_init(&s, &p);
	up(&s, 1, 60000, 0);
	up(&s, 2, 1000, 0);
	assert_int_equal(publish(&s, 0), 2);
	sy_svcb_expire(&s, 1000, NULL, NULL);
	assert_int_equal(publish(&s, 1000), 1);
	up(&s, 2, 60000, 1200); /* back, damped until 6 s */
	assert_int_equal(publish(&s, 1200), 1);
	assert_int_equal(s.due_ms, 6000);
	assert_false(sy_svcb_due(&s, 5999));
	assert_true(sy_svcb_due(&s, 6000));
	assert_int_equal(publish(&s, 6000), 2);
	assert_int_equal(s.due_ms, 0);
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
	sy_svcb_remove(&s, &b, SY_LEAVE_LOST, 10); /* what a stale view would say */
	assert_int_equal(desired(&s, 10, out), 2);
	assert_true(s.degraded);
	assert_non_null(strstr(s.degraded_reason, "unreachable"));
	s.source_unreachable = false;
	assert_int_equal(desired(&s, 20, out), 1);
	assert_false(s.degraded);
	sy_svcb_free(&s);
}

/* A loss published while the source was reachable stays applied when it
 * becomes unreachable: "the last known set" is what was last published
 * (plus newcomers), not the good set with members the registry had already
 * reported gone within the panic window. Before the fix (c resurrected,
 * seen by tests/integration/test_resolve_embedded.sh as the killed agent's
 * instance coming back into the resolver when sy-control stopped):
 *   [  ERROR   ] --- 0x3 != 0x2
 *   [   LINE   ] --- ../tests/control/test_backends.c:...: error: Failure! */
static void test_unreachable_keeps_the_published_set(void **state)
{
	struct sy_policy p = { .panic_threshold = 0.5, .panic_window_ms = 10000 };
	struct sy_svc_backends s;
	struct sy_maglev_backend out[8];
	struct sy_backend_id a = id(1), b = id(2), c = id(3), d = id(4);

	(void)state;
	sy_svcb_init(&s, &p);
	sy_svcb_upsert(&s, &a, 1, SY_SRC_ETCD, 0, 0);
	sy_svcb_upsert(&s, &b, 1, SY_SRC_ETCD, 0, 0);
	sy_svcb_upsert(&s, &c, 1, SY_SRC_ETCD, 0, 0);
	assert_int_equal(publish(&s, 0), 3);
	sy_svcb_remove(&s, &c, SY_LEAVE_LOST, 1000); /* its lease expired: 1 of 3, no panic */
	assert_int_equal(publish(&s, 1000), 2);
	assert_false(s.degraded);
	s.source_unreachable = true; /* 1 s later the registry is gone */
	assert_int_equal(desired(&s, 2000, out), 2);
	assert_true(s.degraded);
	assert_true(has(out, 2, 1, 1) && has(out, 2, 2, 1));
	/* a loss the stale view reports is still held (the published set) */
	sy_svcb_remove(&s, &b, SY_LEAVE_LOST, 2500);
	assert_int_equal(desired(&s, 2500, out), 2);
	/* a newcomer is taken, c still not */
	sy_svcb_upsert(&s, &d, 1, SY_SRC_ETCD, 0, 2600);
	assert_int_equal(desired(&s, 2600, out), 3);
	assert_true(has(out, 3, 1, 1) && has(out, 3, 2, 1) && has(out, 3, 4, 1));
	sy_svcb_free(&s);
}

/* The index of a set by id (backends.c) through 200,000 random upserts,
 * deregistrations and expiries over 12,000 identities: after every step
 * each identity is found exactly when it is an entry, at an entry that is
 * its own, and the entries are as many as the identities present. */
static void test_index_follows_every_change(void **state)
{
	enum { IDS = 12000, STEPS = 200000 };
	struct sy_policy p = { 0 };
	struct sy_svc_backends s;
	static uint8_t present[IDS];
	uint32_t n = 0, x = 12345;

	(void)state;
	sy_svcb_init(&s, &p);
	for (uint32_t step = 0; step < STEPS; step++) {
		struct sy_backend_id b = { .family = SY_AF_INET, .port = 80 };
		uint32_t k, op;

		x = x * 1103515245u + 12345u;
		k = (x >> 8) % IDS;
		op = x >> 28;
		b.addr[0] = 0x0a000000u + k;
		b.port = (uint16_t)(80 + k % 3);
		if (op < 9) { /* register or renew */
			assert_non_null(sy_svcb_upsert(&s, &b, 1, SY_SRC_EMBEDDED, 1000, step));
			n += !present[k];
			present[k] = 1;
		} else if (op < 14) { /* deregister */
			assert_int_equal(sy_svcb_remove(&s, &b, SY_LEAVE_EXPLICIT, step), present[k]);
			n -= present[k];
			present[k] = 0;
		} else if (step % 64 == 0) { /* every entry not renewed for 1,000 steps expires */
			sy_svcb_expire(&s, step, NULL, NULL);
			sy_svcb_expire(&s, step, NULL, NULL); /* hold-down 0: gone at once */
			n = 0;
			memset(present, 0, sizeof(present));
			for (uint32_t i = 0; i < s.n; i++) {
				uint32_t j = s.be[i].id.addr[0] - 0x0a000000u;

				assert_true(j < IDS && !present[j]);
				present[j] = 1;
				n++;
			}
		}
		assert_int_equal(s.n, n);
		if (step % 4096 == 0 || step == STEPS - 1)
			for (uint32_t j = 0; j < IDS; j++) {
				struct sy_backend_id c = { .family = SY_AF_INET,
							   .port = (uint16_t)(80 + j % 3) };
				struct sy_be *e;

				c.addr[0] = 0x0a000000u + j;
				e = sy_svcb_find(&s, &c);
				assert_int_equal(e != NULL, present[j]);
				if (e)
					assert_int_equal(sy_backend_id_cmp(&e->id, &c), 0);
			}
	}
	sy_svcb_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ttl_expiry_removes_backend),
		cmocka_unit_test(test_unreachable_keeps_the_published_set),
		cmocka_unit_test(test_held_ttls_move_expiry),
		cmocka_unit_test(test_hold_down_damps_a_flapping_backend),
		cmocka_unit_test(test_active_checks_rise_and_fall),
		cmocka_unit_test(test_operator_drain_and_weight_override),
		cmocka_unit_test(test_panic_keeps_last_good_set),
		cmocka_unit_test(test_losses_spread_over_ticks),
		cmocka_unit_test(test_explicit_removals_always_apply),
		cmocka_unit_test(test_register_then_deregister),
		cmocka_unit_test(test_removal_while_publishing),
		cmocka_unit_test(test_mass_registration_churn),
		cmocka_unit_test(test_kept_set_is_the_last_good_set),
		cmocka_unit_test(test_vanished_registry_entries_are_losses),
		cmocka_unit_test(test_hold_down_end_is_due),
		cmocka_unit_test(test_unreachable_source_is_fail_static),
		cmocka_unit_test(test_index_follows_every_change),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
