/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Two fixture services and their flows as frames, for the tests that drive
 * a packet path with flows of their own (tests/packets/test_icmp_errors.c
 * on sy_lb_process, tests/bpf/test_xdp_icmp.c on the XDP program): a
 * client's TCP/UDP segment of a given size, and the ICMP error a router
 * sends about the flow's return direction. Checksums are filled; the
 * frames go to the test's port MAC 02:00:00:00:00:01 from
 * 02:00:00:aa:00:01.
 */
#ifndef SY_TESTS_FLOWS_H
#define SY_TESTS_FLOWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <switchyard/flow_hash.h>
#include <switchyard/region_writer.h>

#define SY_TEST_PORT_MAC { 0x02, 0, 0, 0, 0, 0x01 }

/* A flow in client -> VIP direction; addresses in wire order (IPv4 in
 * word 0), ports in host order. */
struct sy_test_flow {
	uint8_t family; /* SY_AF_INET / SY_AF_INET6 */
	uint8_t proto;  /* 6 or 17 */
	uint32_t client[4], vip[4];
	uint16_t sport, dport;
};

/* The flow's key as the flow hash defines it. */
struct sy_flow_key sy_test_flow_key(const struct sy_test_flow *f);

/* Client -> VIP segment of l3_len bytes in all (IPv4 with DF; at least the
 * IP + TCP/UDP headers), TCP flags as given. Returns the frame's length. */
uint32_t sy_test_frame(uint8_t *out, const struct sy_test_flow *f, uint8_t tcp_flags,
		       uint32_t l3_len);

/* A router's (198.19.254.1, 2001:2:fe::1) frag-needed (IPv4) or
 * packet-too-big (IPv6) with this MTU, to the VIP, quoting the flow's VIP ->
 * client packet (headers and the first 8 bytes of TCP/UDP, as routers must
 * at least). Returns the frame's length. */
uint32_t sy_test_icmp_too_big(uint8_t *out, const struct sy_test_flow *f, uint16_t mtu);

/* The fixture services, published (one commit) in w:
 *   web4  TCP 198.18.100.9:80, ipip from 198.18.0.1, M = 1021, backends
 *         198.18.10.<1..n4>:80 (MAC 02:00:00:00:10:<n>), weight 1;
 *   web6  TCP [2001:2::100]:443, ipip from 2001:2::1, M = 1021, backends
 *         [2001:2::10:<1..n6>]:443 (MAC 02:00:00:00:16:<n>), weight 1.
 * At most 16 backends each. 0, or -1 with err. */
int sy_test_publish_web(struct sy_writer *w, uint32_t n4, uint32_t n6, char *err, size_t errlen);

/* Flow i of web4 (client 198.19.<i/250>.<i%250+1>:30000+i) or of web6
 * (client [2001:2:0:1::<i+1>]:30000+i). */
struct sy_test_flow sy_test_web_flow(uint32_t i, bool v6);

/* The web backend (n of its MAC 02:00:00:00:1x:<n>) the snapshot's Maglev
 * table gives flow i; 0 for none. */
uint32_t sy_test_web_maglev(const uint8_t *base, const struct sy_snapshot *snap, uint32_t i,
			    bool v6);

#endif
