/* SPDX-License-Identifier: BSD-3-Clause
 *
 * sy-pktgen's frame schedule (perf/pktgen_schedule.h): the flows of the
 * frames a port takes do not depend on how much of each burst it refused.
 * A port that takes only the head of every burst still gets one active
 * flow's frame in hot_every, each active flow in turn, and the sweep in
 * order; the stream sent is the one a port taking everything gets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "pktgen_schedule.h"

#define BURST 32u
#define FLOWS 5000u
#define N_ADDR 256u
#define HOT 100u
#define EVERY 8u
#define SENT 200000u

/* The flows of the first SENT frames a port takes, when it takes take(i)
 * frames of the i-th burst (the head); -1 marks an active flow's frame in
 * hot[] (else 0). */
static void send_all(uint32_t (*take)(uint32_t), uint32_t *flow, int8_t *hot)
{
	struct pg_schedule s;
	uint32_t sent = 0;

	pg_schedule_init(&s, FLOWS, N_ADDR, HOT, EVERY);
	for (uint32_t b = 0; sent < SENT; b++) {
		uint32_t k[BURST], n_hot = 0, took = take(b);
		int is_hot[BURST];

		for (uint32_t i = 0; i < BURST; i++) {
			uint32_t a, p;

			is_hot[i] = pg_next(&s, &a, &p);
			k[i] = a + p * N_ADDR;
		}
		for (uint32_t i = 0; i < took && sent < SENT; i++, sent++) {
			flow[sent] = k[i];
			hot[sent] = (int8_t)-is_hot[i];
		}
		for (uint32_t i = took; i < BURST; i++)
			n_hot += (uint32_t)is_hot[i];
		pg_take_back(&s, BURST - took, n_hot);
	}
}

static uint32_t take_all(uint32_t b)
{
	(void)b;
	return BURST;
}

/* A port whose ring has room for a few frames at a time: never 8 */
static uint32_t take_head(uint32_t b)
{
	return b % 3 ? 3 : 0;
}

/* Any number, 0 to a whole burst (a fixed pseudo-random sequence) */
static uint32_t take_random(uint32_t b)
{
	return (b * 2654435761u >> 7) % (BURST + 1);
}

static uint32_t flow_ref[SENT], flow_got[SENT];
static int8_t hot_ref[SENT], hot_got[SENT];

/* Every EVERY-th frame sent is the next active flow; each active flow is
 * sent SENT / EVERY / HOT times. */
static void check_share(const uint32_t *flow, const int8_t *hot)
{
	uint32_t per[HOT] = { 0 }, n = 0;

	for (uint32_t i = 0; i < SENT; i++) {
		assert_int_equal(hot[i] != 0, (i + 1) % EVERY == 0);
		if (hot[i]) {
			assert_true(flow[i] < HOT);
			per[flow[i]]++;
			n++;
		}
	}
	assert_int_equal(n, SENT / EVERY);
	for (uint32_t f = 0; f < HOT; f++)
		assert_int_equal(per[f], SENT / EVERY / HOT);
}

static void test_taking_everything(void **state)
{
	(void)state;
	send_all(take_all, flow_ref, hot_ref);
	check_share(flow_ref, hot_ref);
	/* the sweep in order between the active flows' turns */
	for (uint32_t i = 0, k = 0; i < SENT; i++)
		if (!hot_ref[i])
			assert_int_equal(flow_ref[i], k++ % FLOWS);
}

/* The failure this guards against: active flows' turns at fixed offsets
 * of each burst, refused burst after burst, never sent. */
static void test_taking_the_head(void **state)
{
	(void)state;
	send_all(take_all, flow_ref, hot_ref);
	send_all(take_head, flow_got, hot_got);
	check_share(flow_got, hot_got);
	assert_memory_equal(flow_got, flow_ref, sizeof(flow_ref));
}

static void test_taking_any(void **state)
{
	(void)state;
	send_all(take_all, flow_ref, hot_ref);
	send_all(take_random, flow_got, hot_got);
	assert_memory_equal(flow_got, flow_ref, sizeof(flow_ref));
	assert_memory_equal(hot_got, hot_ref, sizeof(hot_ref));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_taking_everything),
		cmocka_unit_test(test_taking_the_head),
		cmocka_unit_test(test_taking_any),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
