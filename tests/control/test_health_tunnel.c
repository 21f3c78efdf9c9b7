/* SPDX-License-Identifier: BSD-3-Clause
 *
 * What answers a check through the tunnel (control/daemon/health_tunnel.h): a
 * SYN-ACK from the VIP and port to the probe's source and port acknowledging
 * its sequence number is up, a reset is down, anything else is not an
 * answer (another connection, a stale probe, a truncated or non-TCP packet);
 * for IPv4 (the packet with its IP header) and IPv6 (the TCP segment and its
 * source, as a raw IPv6 socket gives them).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include <switchyard/flow_hash.h>
#include <switchyard/pkt_hdr.h>

#include "health_tunnel.h"

static const struct sy_tunnel_probe probe = {
	.family = SY_AF_INET,
	.vip = { 0x020112c6 },      /* 198.18.1.2, wire order on little-endian */
	.vip_port = 0x5000,         /* 80 */
	.backend = { 0x0b0012c6 },
	.inner_src = { 0x010012c6 }, /* 198.18.0.1 */
	.sport = 0x3412,
	.seq = 1000,
};

/* 2001:2::1:2 probed from 2001:2::1 (wire order on little-endian) */
static const struct sy_tunnel_probe probe6 = {
	.family = SY_AF_INET6,
	.vip = { 0x00000120, 0, 0, 0x02000100 },
	.vip_port = 0xbb01, /* 443 */
	.backend = { 0x00000120, 0, 0, 0x0b000000 },
	.inner_src = { 0x00000120, 0, 0, 0x01000000 },
	.sport = 0x7856,
	.seq = 0xfffffffe,
};

/* An answer from the VIP: IPv4 + TCP with these flags and ack. */
static size_t answer(uint8_t *buf, uint8_t flags, uint32_t ack)
{
	struct sy_ip4_hdr ip = { .ver_ihl = 0x45, .tot_len = htons(40), .ttl = 64,
				 .proto = SY_IPPROTO_TCP, .saddr = probe.vip[0],
				 .daddr = probe.inner_src[0] };
	struct sy_tcp_hdr tcp = { .sport = probe.vip_port, .dport = probe.sport,
				  .seq = htonl(77), .ack = htonl(ack), .doff_res = 5 << 4,
				  .flags = flags };

	memcpy(buf, &ip, sizeof(ip));
	memcpy(buf + sizeof(ip), &tcp, sizeof(tcp));
	return sizeof(ip) + sizeof(tcp);
}

static void test_synack_is_up(void **state)
{
	uint8_t b[64];
	size_t n = answer(b, 0x12, probe.seq + 1);

	(void)state;
	assert_int_equal(sy_tunnel_answer(b, n, &probe), SY_TUNNEL_SYNACK);
}

static void test_reset_is_down(void **state)
{
	uint8_t b[64];
	size_t n = answer(b, 0x14, probe.seq + 1);

	(void)state;
	assert_int_equal(sy_tunnel_answer(b, n, &probe), SY_TUNNEL_RESET);
}

static void test_others_are_not_answers(void **state)
{
	uint8_t b[64];
	size_t n;

	(void)state;
	/* a stale probe's answer (another sequence number) */
	n = answer(b, 0x12, probe.seq + 2);
	assert_int_equal(sy_tunnel_answer(b, n, &probe), SY_TUNNEL_OTHER);
	/* a bare ACK */
	n = answer(b, 0x10, probe.seq + 1);
	assert_int_equal(sy_tunnel_answer(b, n, &probe), SY_TUNNEL_OTHER);
	/* truncated */
	n = answer(b, 0x12, probe.seq + 1);
	assert_int_equal(sy_tunnel_answer(b, n - 1, &probe), SY_TUNNEL_OTHER);
	assert_int_equal(sy_tunnel_answer(b, 10, &probe), SY_TUNNEL_OTHER);
	/* another port of ours */
	n = answer(b, 0x12, probe.seq + 1);
	b[22] ^= 1;
	assert_int_equal(sy_tunnel_answer(b, n, &probe), SY_TUNNEL_OTHER);
	/* from another address */
	n = answer(b, 0x12, probe.seq + 1);
	b[12] ^= 1;
	assert_int_equal(sy_tunnel_answer(b, n, &probe), SY_TUNNEL_OTHER);
	/* not TCP */
	n = answer(b, 0x12, probe.seq + 1);
	b[9] = SY_IPPROTO_UDP;
	assert_int_equal(sy_tunnel_answer(b, n, &probe), SY_TUNNEL_OTHER);
	/* an IPv6 version nibble */
	n = answer(b, 0x12, probe.seq + 1);
	b[0] = 0x65;
	assert_int_equal(sy_tunnel_answer(b, n, &probe), SY_TUNNEL_OTHER);
}

static void test_options_are_skipped(void **state)
{
	uint8_t b[64], o[64];
	size_t n = answer(o, 0x12, probe.seq + 1);

	(void)state;
	/* IHL 6: 4 bytes of IP options before the TCP header */
	memcpy(b, o, 20);
	b[0] = 0x46;
	memset(b + 20, 1, 4);
	memcpy(b + 24, o + 20, n - 20);
	assert_int_equal(sy_tunnel_answer(b, n + 4, &probe), SY_TUNNEL_SYNACK);
}

/* IPv6: the segment from the VIP (the kernel keeps the IPv6 header) */
static void test_ipv6(void **state)
{
	struct sy_tcp_hdr tcp = { .sport = probe6.vip_port, .dport = probe6.sport,
				  .ack = htonl(probe6.seq + 1), .doff_res = 5 << 4,
				  .flags = 0x12 };
	uint32_t other[4];

	(void)state;
	assert_int_equal(sy_tunnel_answer6(probe6.vip, (uint8_t *)&tcp, sizeof(tcp), &probe6),
			 SY_TUNNEL_SYNACK);
	tcp.flags = 0x14;
	assert_int_equal(sy_tunnel_answer6(probe6.vip, (uint8_t *)&tcp, sizeof(tcp), &probe6),
			 SY_TUNNEL_RESET);
	tcp.flags = 0x12;
	/* truncated; from another address; the IPv4 probe; stale */
	assert_int_equal(sy_tunnel_answer6(probe6.vip, (uint8_t *)&tcp, sizeof(tcp) - 1, &probe6),
			 SY_TUNNEL_OTHER);
	memcpy(other, probe6.vip, sizeof(other));
	other[3] ^= 0x01000000;
	assert_int_equal(sy_tunnel_answer6(other, (uint8_t *)&tcp, sizeof(tcp), &probe6),
			 SY_TUNNEL_OTHER);
	assert_int_equal(sy_tunnel_answer6(probe6.vip, (uint8_t *)&tcp, sizeof(tcp), &probe),
			 SY_TUNNEL_OTHER);
	tcp.ack = htonl(probe6.seq);
	assert_int_equal(sy_tunnel_answer6(probe6.vip, (uint8_t *)&tcp, sizeof(tcp), &probe6),
			 SY_TUNNEL_OTHER);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ipv6),
		cmocka_unit_test(test_synack_is_up),
		cmocka_unit_test(test_reset_is_down),
		cmocka_unit_test(test_others_are_not_answers),
		cmocka_unit_test(test_options_are_skipped),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
