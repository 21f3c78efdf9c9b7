/* SPDX-License-Identifier: BSD-3-Clause
 *
 * When the balancer may originate an ICMP error (frag-needed, packet-too-big),
 * and how many: packet logic of both paths (sy_icmp_too_big() of
 * pkt_icmp_reply.h). Header-only, no libc: compiles with gcc and with
 * `clang -target bpf`.
 *
 * 1. Never to an address that does not name one host (RFC 1122 §3.2.2,
 *    RFC 4443 §2.4 e.6): a spoofed source there would turn us into a
 *    reflector towards a whole group, or answer into nowhere.
 *      IPv4: 0.0.0.0/8 ("this network", the unspecified address),
 *            127.0.0.0/8 (loopback), 224.0.0.0/4 (multicast),
 *            240.0.0.0/4 (class E, with the broadcast 255.255.255.255);
 *            nor about a frame sent as a link-layer broadcast or multicast
 *            (RFC 1122 §3.2.2).
 *      IPv6: :: (unspecified), ::1 (loopback), ff00::/8 (multicast). A
 *            link-layer multicast frame does get packet-too-big (RFC 4443
 *            §2.4 e.4 makes it the exception).
 * 2. At most `rate` per second with bursts of `burst` per lcore (DPDK) or per
 *    CPU (XDP): a token bucket (RFC 4443 §2.4 f). Unlimited per lcore,
 *    the answers of a flood of oversized packets would cost as much
 *    bandwidth as the flood.
 */
#ifndef SWITCHYARD_ICMP_ERROR_H
#define SWITCHYARD_ICMP_ERROR_H

#include "flow_hash.h" /* SY_AF_INET */
#include "sy_types.h"
#include "token_bucket.h"

#define SY_ICMP_RATE_DEFAULT 1000u /* errors per second per lcore / CPU */
#define SY_ICMP_BURST_DEFAULT 50u
#define SY_ICMP_RATE_MAX 10000000u
#define SY_ICMP_BURST_MAX 1000000u

/* May an ICMP error go to addr (wire order; an IPv4 address in addr[0]),
 * answering a frame whose Ethernet destination is eth_dst? */
static __sy_always_inline int sy_icmp_error_allowed(uint8_t family, const uint32_t *addr,
						    const uint8_t *eth_dst)
{
	const uint8_t *a = (const uint8_t *)addr;

	if (family == SY_AF_INET) {
		/* the I/G bit: a broadcast or multicast frame */
		if (eth_dst[0] & 1)
			return 0;
		return a[0] != 0 && a[0] != 127 && a[0] < 224;
	}
	if (a[0] == 0xff)
		return 0;
	/* :: and ::1: every word zero but the last, which is 0 or 1 */
	if (addr[0] | addr[1] | addr[2])
		return 1;
	return addr[3] != 0 && addr[3] != (uint32_t)1 << 24; /* wire order ::1 */
}

/* Take a token of the ICMP error bucket at now_ms: 1 if the error may be
 * sent, 0 if over the limit. rate / burst 0 = the defaults. */
static __sy_always_inline int sy_icmp_bucket_take(struct sy_token_bucket *b, uint32_t now_ms,
						  uint32_t rate, uint32_t burst)
{
	/* a clock going back refills the bucket: the safe side for a rare event */
	return sy_token_take(b, now_ms, rate ? rate : SY_ICMP_RATE_DEFAULT,
			     burst ? burst : SY_ICMP_BURST_DEFAULT);
}

#endif
