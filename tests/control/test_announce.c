/* SPDX-License-Identifier: BSD-3-Clause
 * Announce or withdraw a VIP (control/daemon/announce.c): every cause of a
 * withdrawal, fail-static both ways, the operator's drain, a stop, and
 * the damping: a flapping dataplane held down with a hold-down that
 * doubles per flap up to its cap, the announcement after it, the flaps
 * forgotten once stable. Time is explicit: nothing here waits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "announce.h"

/* hold-down 1 s, doubling to at most 4 s, flaps forgotten after 10 s */
static const struct sy_announce_policy P = {
	.hold_down_ms = 1000, .hold_down_max_ms = 4000, .stable_ms = 10000, .on_fail_static = true
};

/* a VIP with one service, serving, the dataplane running */
static struct sy_announce_inputs healthy(void)
{
	return (struct sy_announce_inputs){ .dataplane_ok = true, .services = 1, .serving = 1 };
}

static struct sy_announce_inputs dp_down(void)
{
	struct sy_announce_inputs in = healthy();

	in.dataplane_ok = false;
	return in;
}

static bool step(struct sy_vip_announce *v, struct sy_announce_inputs in, uint64_t now)
{
	return sy_announce_step(v, &P, &in, now);
}

/* Healthy from the start: announced at once, no hold-down. */
static void test_healthy_at_start_announces_at_once(void **st)
{
	struct sy_vip_announce v = { 0 };

	(void)st;
	assert_true(step(&v, healthy(), 100));
	assert_true(v.announced);
	assert_int_equal(v.reason, SY_ANN_HEALTHY);
	assert_int_equal(v.announcements, 1);
	assert_false(step(&v, healthy(), 150));
}

/* Each cause withdraws at once, with its reason and counted under it. */
static void test_every_cause_withdraws_at_once(void **st)
{
	static const struct {
		struct sy_announce_inputs in;
		enum sy_ann_reason want;
	} cases[] = {
		{ { .stopping = true, .dataplane_ok = true, .services = 1, .serving = 1 }, SY_ANN_STOPPING },
		{ { .drained = true, .dataplane_ok = true, .services = 1, .serving = 1 }, SY_ANN_DRAINED },
		{ { .dataplane_ok = false, .services = 1, .serving = 1 }, SY_ANN_DATAPLANE },
		{ { .dataplane_ok = true, .services = 1 }, SY_ANN_NO_BACKEND },
		{ { .dataplane_ok = true }, SY_ANN_NO_BACKEND }, /* no service at all */
		/* the order: a stop before a drain before the dataplane before backends */
		{ { .stopping = true, .drained = true, .dataplane_ok = false }, SY_ANN_STOPPING },
		{ { .drained = true, .dataplane_ok = false }, SY_ANN_DRAINED },
		{ { .dataplane_ok = false, .services = 1 }, SY_ANN_DATAPLANE },
	};

	(void)st;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sy_vip_announce v = { 0 };

		assert_true(step(&v, healthy(), 0));
		assert_true(step(&v, cases[i].in, 50));
		assert_false(v.announced);
		assert_int_equal(v.reason, cases[i].want);
		assert_int_equal(v.withdrawals[cases[i].want], 1);
	}
}

/* One service of two serving is enough; fail-static announces by default
 * and withdraws with on_fail_static false. */
static void test_fail_static_both_ways(void **st)
{
	struct sy_announce_policy strict = P;
	struct sy_announce_inputs fs = { .dataplane_ok = true, .services = 2, .fail_static = 1 };
	struct sy_announce_inputs mixed = { .dataplane_ok = true, .services = 2, .serving = 1,
					    .fail_static = 1 };
	struct sy_vip_announce v = { 0 }, w = { 0 };

	(void)st;
	strict.on_fail_static = false;
	assert_int_equal(sy_announce_failure(&fs, &P), SY_ANN_HEALTHY);
	assert_int_equal(sy_announce_failure(&fs, &strict), SY_ANN_FAIL_STATIC);
	assert_int_equal(sy_announce_failure(&mixed, &strict), SY_ANN_HEALTHY);

	assert_true(sy_announce_step(&v, &P, &fs, 0));
	assert_true(v.announced); /* the default: the last good set still serves */

	assert_true(sy_announce_step(&w, &strict, &(struct sy_announce_inputs){ .dataplane_ok = true, .services = 2, .serving = 2 }, 0));
	assert_true(sy_announce_step(&w, &strict, &fs, 10));
	assert_false(w.announced);
	assert_int_equal(w.reason, SY_ANN_FAIL_STATIC);
	assert_int_equal(w.withdrawals[SY_ANN_FAIL_STATIC], 1);
}

/* The operator's drain: withdrawn at once, announced at once on undrain,
 * not a flap. */
static void test_drain_and_undrain(void **st)
{
	struct sy_announce_inputs drained = healthy();
	struct sy_vip_announce v = { 0 };

	(void)st;
	drained.drained = true;
	assert_true(step(&v, healthy(), 0));
	assert_true(step(&v, drained, 1000));
	assert_int_equal(v.reason, SY_ANN_DRAINED);
	assert_false(step(&v, drained, 60000));
	assert_true(step(&v, healthy(), 60001));
	assert_true(v.announced);
	assert_int_equal(v.flaps, 0);
	assert_int_equal(v.withdrawals[SY_ANN_DRAINED], 1);
}

/* A failure: withdrawn at once; announced again only once it has been over
 * for the hold-down. */
static void test_reannounce_after_hold_down(void **st)
{
	struct sy_vip_announce v = { 0 };

	(void)st;
	assert_true(step(&v, healthy(), 0));
	assert_true(step(&v, dp_down(), 5000));
	assert_int_equal(v.reason, SY_ANN_DATAPLANE);
	assert_int_equal(v.flaps, 1);
	assert_false(step(&v, dp_down(), 9000)); /* still down: stays withdrawn */
	assert_false(step(&v, healthy(), 10000)); /* over at 10.0 s */
	assert_int_equal(v.reason, SY_ANN_HOLD_DOWN);
	assert_int_equal(sy_announce_hold_left_ms(&v, 10400), 600);
	assert_false(step(&v, healthy(), 10999));
	assert_true(step(&v, healthy(), 11000)); /* over for 1 s: announced */
	assert_true(v.announced);
	assert_int_equal(v.reason, SY_ANN_HEALTHY);
	assert_int_equal(v.withdrawals[SY_ANN_DATAPLANE], 1);
	assert_int_equal(v.announcements, 2);
}

/* A failure present at start (never announced): held down too. */
static void test_failure_at_start_holds_down(void **st)
{
	struct sy_vip_announce v = { 0 };
	struct sy_announce_inputs nob = { .dataplane_ok = true, .services = 1 };

	(void)st;
	assert_false(step(&v, nob, 0));
	assert_int_equal(v.reason, SY_ANN_NO_BACKEND);
	assert_false(step(&v, healthy(), 2000));
	assert_int_equal(v.reason, SY_ANN_HOLD_DOWN);
	assert_true(step(&v, healthy(), 3000));
}

/* A dataplane flapping every 300 ms (down 100 ms, up 200 ms) for 10 s:
 * the route is withdrawn once and stays withdrawn (each flap restarts a
 * longer hold-down); once the flapping stops it comes back after the
 * capped hold-down (4 s), exactly once. */
static void test_flapping_dataplane_is_held_down(void **st)
{
	struct sy_vip_announce v = { 0 };
	unsigned changes = 0;
	uint64_t t, back = 0;

	(void)st;
	assert_true(step(&v, healthy(), 0));
	for (t = 1000; t < 11000; t += 50) {
		bool down = (t - 1000) % 300 < 100;

		changes += step(&v, down ? dp_down() : healthy(), t);
	}
	assert_int_equal(changes, 1); /* the first withdrawal, nothing after */
	assert_false(v.announced);
	assert_true(v.flaps >= 3);
	assert_int_equal(v.hold_ms, 4000); /* doubled up to the cap */
	/* steady from 11.0 s (the last failure ended then) */
	for (; t < 20000; t += 50) {
		if (step(&v, healthy(), t)) {
			assert_int_equal(back, 0);
			back = t;
		}
	}
	assert_true(v.announced);
	assert_int_equal(back, 11000 + 4000);
	assert_int_equal(v.withdrawals[SY_ANN_DATAPLANE], 1);
}

/* Hold-downs double per flap up to the cap; flaps are forgotten after
 * stable_ms without a failure. */
static void test_hold_down_grows_and_resets(void **st)
{
	struct sy_vip_announce v = { 0 };
	uint64_t t = 0;

	(void)st;
	assert_int_equal(sy_announce_hold_ms(&P, 1), 1000);
	assert_int_equal(sy_announce_hold_ms(&P, 2), 2000);
	assert_int_equal(sy_announce_hold_ms(&P, 3), 4000);
	assert_int_equal(sy_announce_hold_ms(&P, 50), 4000);
	assert_true(step(&v, healthy(), t));
	for (uint32_t flap = 1; flap <= 3; flap++) {
		uint32_t want = flap == 1 ? 1000 : flap == 2 ? 2000 : 4000;

		t += 1000;
		assert_true(step(&v, dp_down(), t)); /* announced -> withdrawn */
		assert_int_equal(v.flaps, flap);
		t += 100;
		assert_false(step(&v, healthy(), t));
		assert_int_equal(v.hold_ms, want);
		assert_false(step(&v, healthy(), t + want - 1));
		assert_true(step(&v, healthy(), t + want));
		t += want;
	}
	/* stable for 10 s: forgotten, the next hold-down is 1 s again */
	assert_false(step(&v, healthy(), t + 9999));
	assert_int_equal(v.flaps, 3);
	assert_false(step(&v, healthy(), t + 10000));
	assert_int_equal(v.flaps, 0);
	t += 20000;
	assert_true(step(&v, dp_down(), t));
	assert_false(step(&v, healthy(), t + 1));
	assert_int_equal(v.hold_ms, 1000);
}

/* An undrain during a hold-down waits for its end; a drain does not
 * restart it. A stop withdraws whatever the state. hold_down 0: back at
 * once. */
static void test_drain_during_hold_down_and_no_damping(void **st)
{
	struct sy_announce_policy none = P;
	struct sy_announce_inputs drained = healthy(), stop = healthy();
	struct sy_vip_announce v = { 0 }, w = { 0 };

	(void)st;
	drained.drained = true;
	stop.stopping = true;
	assert_true(step(&v, healthy(), 0));
	assert_true(step(&v, dp_down(), 100));
	assert_false(step(&v, drained, 200)); /* the failure is over: hold-down runs */
	assert_int_equal(v.reason, SY_ANN_DRAINED);
	assert_false(step(&v, healthy(), 700)); /* undrained at 0.7 s: held until 1.2 s */
	assert_int_equal(v.reason, SY_ANN_HOLD_DOWN);
	assert_true(step(&v, healthy(), 1200));
	assert_true(step(&v, stop, 1300));
	assert_int_equal(v.reason, SY_ANN_STOPPING);

	none.hold_down_ms = 0;
	none.hold_down_max_ms = 0;
	assert_true(sy_announce_step(&w, &none, &(struct sy_announce_inputs){ .dataplane_ok = true, .services = 1, .serving = 1 }, 0));
	assert_true(sy_announce_step(&w, &none, &(struct sy_announce_inputs){ .services = 1, .serving = 1 }, 10));
	assert_true(sy_announce_step(&w, &none, &(struct sy_announce_inputs){ .dataplane_ok = true, .services = 1, .serving = 1 }, 20));
}

static void test_names(void **st)
{
	(void)st;
	assert_string_equal(sy_ann_reason_name(SY_ANN_NO_BACKEND), "no_backend");
	assert_string_equal(sy_ann_reason_name(SY_ANN_HOLD_DOWN), "hold_down");
	assert_string_equal(sy_ann_reason_name(SY_ANN__COUNT), "?");
	assert_true(sy_ann_is_failure(SY_ANN_DATAPLANE));
	assert_false(sy_ann_is_failure(SY_ANN_DRAINED));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_healthy_at_start_announces_at_once),
		cmocka_unit_test(test_every_cause_withdraws_at_once),
		cmocka_unit_test(test_fail_static_both_ways),
		cmocka_unit_test(test_drain_and_undrain),
		cmocka_unit_test(test_reannounce_after_hold_down),
		cmocka_unit_test(test_failure_at_start_holds_down),
		cmocka_unit_test(test_flapping_dataplane_is_held_down),
		cmocka_unit_test(test_hold_down_grows_and_resets),
		cmocka_unit_test(test_drain_during_hold_down_and_no_damping),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
