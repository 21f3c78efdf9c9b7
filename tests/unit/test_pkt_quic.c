/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The QUIC connection-ID encoding and routing decision of
 * include/switchyard/pkt_quic.h (both packet paths compile it). The fixed
 * vectors are worked out by hand from Katran's layout (docs/dataplane.md,
 * "QUIC connection IDs"):
 *   version 1, ID 0x1234: 44 8d 00   ((0x44 & 0x3f) << 10 | 0x8d << 2 | 0 >> 6)
 *   version 1, ID 0xffff: 7f ff c0
 *   version 2, ID 0xabcdef: 80 ab cd ef
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <switchyard/pkt_quic.h>

static void fixed_vectors(void **state)
{
	uint8_t c[4];

	(void)state;
	assert_int_equal(sy_quic_cid_encode(SY_QUIC_CID_V1, 0x1234, c), 0);
	assert_memory_equal(c, ((uint8_t[]){ 0x44, 0x8d, 0x00, 0x00 }), 4);
	assert_int_equal(sy_quic_cid_encode(SY_QUIC_CID_V1, 0xffff, c), 0);
	assert_memory_equal(c, ((uint8_t[]){ 0x7f, 0xff, 0xc0, 0x00 }), 4);
	assert_int_equal(sy_quic_cid_encode(SY_QUIC_CID_V2, 0xabcdef, c), 0);
	assert_memory_equal(c, ((uint8_t[]){ 0x80, 0xab, 0xcd, 0xef }), 4);
	/* the decoder ignores the bits after the ID (the backend's own) */
	assert_int_equal(sy_quic_cid_server_id((uint8_t[]){ 0x44, 0x8d, 0x3f, 0xff }), 0x1234);
	assert_int_equal(sy_quic_cid_server_id((uint8_t[]){ 0x80, 0xab, 0xcd, 0xef }), 0xabcdef);
	/* versions 0 and 3: no ID */
	assert_int_equal(sy_quic_cid_server_id((uint8_t[]){ 0x3f, 0xff, 0xff, 0xff }), 0);
	assert_int_equal(sy_quic_cid_server_id((uint8_t[]){ 0xc0, 0x12, 0x34, 0x56 }), 0);
}

static void round_trips_and_ranges(void **state)
{
	uint8_t c[4];

	(void)state;
	for (uint32_t id = 1; id <= SY_QUIC_SERVER_ID_V1_MAX; id++) {
		assert_int_equal(sy_quic_cid_encode(SY_QUIC_CID_V1, id, c), 0);
		assert_int_equal(sy_quic_cid_server_id(c), id);
	}
	for (uint32_t id = 1; id <= SY_QUIC_SERVER_ID_MAX; id += 4099) {
		assert_int_equal(sy_quic_cid_encode(SY_QUIC_CID_V2, id, c), 0);
		assert_int_equal(sy_quic_cid_server_id(c), id);
	}
	assert_int_equal(sy_quic_cid_encode(SY_QUIC_CID_V1, 0x10000, c), -1);
	assert_int_equal(sy_quic_cid_encode(SY_QUIC_CID_V2, 0x1000000, c), -1);
	assert_int_equal(sy_quic_cid_encode(3, 1, c), -1);
}

/* An Ethernet + IPv4 + UDP frame of `plen` payload bytes q, padded to
 * `frame_len` (Ethernet padding after the IP length). */
static enum sy_quic_route route(const uint8_t *q, uint32_t plen, uint32_t frame_len, uint32_t *id)
{
	static uint8_t buf[256];
	struct sy_pkt f = { .data = buf, .len = frame_len };
	struct sy_parsed p = { .l2_len = 14, .l3_len = 20 + 8 + plen, .l4_off = 34,
			       .family = SY_AF_INET, .proto = SY_IPPROTO_UDP };

	memset(buf, 0xee, sizeof(buf));
	memcpy(buf + 42, q, plen);
	return sy_quic_route(&f, &p, id);
}

static void routing_decision(void **state)
{
	uint8_t q[32] = { 0x41 };
	uint32_t id = 0;

	(void)state;
	sy_quic_cid_encode(SY_QUIC_CID_V2, 0x10001, q + 1);
	assert_int_equal(route(q, 32, 74, &id), SY_QUIC_SERVER_ID);
	assert_int_equal(id, 0x10001);
	/* exactly 1 + 8 bytes: enough */
	assert_int_equal(route(q, 9, 60, &id), SY_QUIC_SERVER_ID);
	/* 1 + 7 bytes, padded by Ethernet to 60: too short (the IP length counts) */
	assert_int_equal(route(q, 8, 60, &id), SY_QUIC_UNKNOWN);
	/* no payload */
	assert_int_equal(route(q, 0, 60, &id), SY_QUIC_UNKNOWN);
	/* the fixed bit clear: not a QUIC short header */
	q[0] = 0x01;
	assert_int_equal(route(q, 32, 74, &id), SY_QUIC_UNKNOWN);
	/* long headers (Initial, 0-RTT, Handshake, Retry): the hash, even short ones */
	for (uint8_t t = 0; t < 4; t++) {
		q[0] = (uint8_t)(0xc0 | t << 4);
		assert_int_equal(route(q, 32, 74, &id), SY_QUIC_HASH);
		assert_int_equal(route(q, 1, 60, &id), SY_QUIC_HASH);
	}
	/* a CID of version 3: no ID */
	q[0] = 0x40;
	q[1] = 0xc1;
	assert_int_equal(route(q, 32, 74, &id), SY_QUIC_UNKNOWN);
	/* a version-1 CID with ID 0: none */
	memset(q + 1, 0, 8);
	q[1] = 0x40;
	assert_int_equal(route(q, 32, 74, &id), SY_QUIC_UNKNOWN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fixed_vectors),
		cmocka_unit_test(round_trips_and_ranges),
		cmocka_unit_test(routing_decision),
	};

	return cmocka_run_group_tests_name("pkt_quic", tests, NULL, NULL);
}
