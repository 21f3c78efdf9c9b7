/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The C parser's fast path (sy_parse_fast4() of include/switchyard/
 * pkt_parse.h: untagged Ethernet, IPv4 without options, not a fragment,
 * TCP or UDP) against the general path it short-cuts
 * (sy_parse_frame_general(), the code the XDP program runs): on valid
 * frames and on frames with bytes and lengths mutated at random, a frame
 * the fast path takes gets exactly the general path's SY_V_TX and struct
 * sy_parsed, byte for byte, and sy_parse_frame() returns the general
 * path's verdict and result on every frame.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <switchyard/pkt_parse.h>

#include "test_rand.h"

static uint64_t rng = SY_TEST_RNG_SEED;

static uint32_t rnd(void)
{
	return sy_test_rnd(&rng);
}

/* Ethernet + IPv4 (no options) + TCP (20 bytes) or UDP + payload. */
static uint32_t template(uint8_t *b, int tcp, uint32_t payload)
{
	uint32_t l4 = tcp ? 20 : 8, tot = 20 + l4 + payload;

	memset(b, 0, 128);
	memcpy(b, "\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02\x08\x00", 14);
	b[14] = 0x45;
	b[15] = 0x10;
	b[16] = (uint8_t)(tot >> 8);
	b[17] = (uint8_t)tot;
	b[20] = 0x40; /* DF */
	b[22] = 64;
	b[23] = tcp ? 6 : 17;
	memcpy(b + 26, "\xc6\x12\x00\x07\xc6\x12\x64\x01", 8);
	memcpy(b + 34, "\x9c\x40\x00\x50", 4);
	if (tcp) {
		b[46] = 0x50;
		b[47] = 0x10; /* ACK */
	} else {
		b[38] = (uint8_t)((8 + payload) >> 8);
		b[39] = (uint8_t)(8 + payload);
	}
	for (uint32_t i = 0; i < payload; i++)
		b[34 + l4 + i] = (uint8_t)i;
	return 14 + tot;
}

/* Offsets the fast path decides on, mutated more often than the rest. */
static const uint8_t hot[] = { 12, 13, 14, 16, 17, 20, 21, 23, 38, 39, 46, 47 };

static void compare(uint8_t *buf, uint32_t len, uint32_t frame_len, uint32_t *fast_taken)
{
	struct sy_pkt f = { .data = buf, .len = frame_len };
	struct sy_parsed general, fast, any;
	int vg, vf, va;

	memset(&general, 0xa5, sizeof(general));
	memset(&fast, 0x5a, sizeof(fast));
	memset(&any, 0x3c, sizeof(any));
	vg = sy_parse_frame_general(&f, &general, len);
	vf = sy_parse_fast4(&f, &fast, len);
	if (vf) {
		assert_int_equal(vg, SY_V_TX);
		assert_memory_equal(&fast, &general, sizeof(general));
		(*fast_taken)++;
	} else {
		/* untouched: a declined frame is left to the general path */
		for (size_t i = 0; i < sizeof(fast); i++)
			assert_int_equal(((uint8_t *)&fast)[i], 0x5a);
	}
	va = sy_parse_frame(&f, &any, len);
	assert_int_equal(va, vg);
	assert_memory_equal(&any, &general, sizeof(general));
}

static void valid_frames(void **state)
{
	uint8_t buf[128];
	uint32_t taken = 0, n = 0;

	(void)state;
	for (int tcp = 0; tcp <= 1; tcp++)
		for (uint32_t payload = 0; payload <= 40; payload++) {
			uint32_t len = template(buf, tcp, payload);

			/* padded to the 60-byte minimum as on the wire, or not */
			compare(buf, len < 60 ? 60 : len, len < 60 ? 60 : len, &taken);
			compare(buf, len, len, &taken);
			n += 2;
		}
	/* every frame of at least 54 bytes is the fast path's */
	assert_true(taken >= n - 2 * 14);
	assert_true(taken > 0);
}

static void mutated_frames(void **state)
{
	uint8_t buf[128];
	uint32_t taken = 0, declined = 0;

	(void)state;
	for (int i = 0; i < 400000; i++) {
		int tcp = rnd() & 1;
		uint32_t len = template(buf, tcp, rnd() % 24), frame_len, before = taken;
		uint32_t k = rnd() % 4;

		for (uint32_t m = 0; m < k; m++) {
			uint32_t off = (rnd() & 1) ? hot[rnd() % sizeof(hot)] : rnd() % 64;
			uint32_t r = rnd();

			if (r & 1)
				buf[off] = (uint8_t)(r >> 8); /* any value */
			else
				buf[off] = (uint8_t)(buf[off] + (int8_t)((r >> 8) % 9) - 4); /* a near one */
		}
		switch (rnd() % 4) {
		case 0: break;
		case 1: len = len < 60 ? 60 : len; break;
		case 2: len = 40 + rnd() % 40; break;
		default: len = len + (rnd() % 9) - 4; break;
		}
		frame_len = (rnd() % 8) ? len : len + rnd() % 16; /* a caller may pass less */
		if (frame_len > sizeof(buf))
			frame_len = sizeof(buf);
		if (len > frame_len)
			len = frame_len;
		compare(buf, len, frame_len, &taken);
		declined += taken == before;
	}
	/* both sides of the fast path were exercised */
	assert_true(taken > 50000);
	assert_true(declined > 50000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(valid_frames),
		cmocka_unit_test(mutated_frames),
	};

	return cmocka_run_group_tests_name("pkt_parse_fast", tests, NULL, NULL);
}
