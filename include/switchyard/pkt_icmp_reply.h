/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The answer to a VIP packet that does not fit the egress MTU once
 * encapsulated (sy_encap_write() said SY_C_DROP_MTU), the one copy for both
 * packet paths: frag-needed (IPv4 with DF) or packet-too-big (IPv6) back to
 * the client, from the VIP, quoting the start of the packet, built in place
 * of the frame. When it may be sent at all (destination, rate) is
 * icmp_error.h's policy.
 */
#ifndef SWITCHYARD_PKT_ICMP_REPLY_H
#define SWITCHYARD_PKT_ICMP_REPLY_H

#include "icmp_error.h"
#include "pkt_encap.h"

/* What to do with a packet that does not fit (sy-dataplane --mtu-action,
 * struct sy_xdp_config.mtu_action). */
enum sy_mtu_action {
	SY_MTU_ICMP = 0, /* answer with frag-needed / packet-too-big (DF / IPv6) */
	SY_MTU_DROP = 1, /* drop and count */
};

/* What the driver keeps for ICMP errors: the policy and this lcore's (DPDK)
 * or CPU's (XDP) token bucket. */
struct sy_icmp_policy {
	struct sy_token_bucket *bucket; /* NULL: none, every error is over the rate */
	uint32_t rate;                 /* per second, 0 = SY_ICMP_RATE_DEFAULT */
	uint32_t burst;                /* 0 = SY_ICMP_BURST_DEFAULT */
	uint32_t tick_ms;              /* C: the driver's millisecond tick; BPF:
					* unused, sy_frame_clock_ms() reads the clock */
	uint8_t mtu_action;            /* enum sy_mtu_action */
};

/* Answer the packet p (classified, padding cut) that o's encapsulation makes
 * too big: SY_V_TX with counter SY_C_ICMP_TOO_BIG_SENT and the frame
 * rewritten into the answer, or SY_V_DROP with the reason (drop_mtu, also
 * icmp_suppressed_dest / icmp_rate_limited; drop_no_room). */
static __sy_always_inline struct sy_rewrite sy_icmp_too_big(sy_frame *f, const struct sy_parsed *p,
							    const struct sy_out *o,
							    const struct sy_icmp_policy *pol)
{
	uint32_t l2 = p->l2_len, mtu = (uint32_t)o->mtu - sy_encap_overhead(o);
	uint32_t ip, limit, quote, seed = 0;
	const uint8_t *eth;
	uint8_t client_mac[6];
	uint64_t icmp;
	uint16_t ethertype;
	uint8_t *at;
	int sum;

	/* never an ICMP error about an ICMP error, nor about a fragment */
	if (pol->mtu_action == SY_MTU_DROP || p->icmp_error || p->is_frag ||
	    (p->family == SY_AF_INET && !p->df))
		return sy_rewrite_drop(SY_C_DROP_MTU, 0);
	eth = (const uint8_t *)sy_frame_edit(f, 0, 12);
	if (!sy_frame_edit_ok(eth))
		goto no_room;
	/* nor to a client that is no single host, nor beyond our rate */
	if (!sy_icmp_error_allowed(p->family, p->key.src, eth))
		return sy_rewrite_drop(SY_C_ICMP_SUPPRESSED_DEST, SY_C_DROP_MTU);
	if (!pol->bucket || !sy_icmp_bucket_take(pol->bucket, sy_frame_clock_ms(pol->tick_ms),
						 pol->rate, pol->burst))
		return sy_rewrite_drop(SY_C_ICMP_RATE_LIMITED, SY_C_DROP_MTU);
	__builtin_memcpy(client_mac, eth + 6, 6);
	if (p->family == SY_AF_INET) {
		ip = 20;
		limit = 576; /* RFC 1812: quote as much as fits in 576 bytes */
		ethertype = SY_ETH_P_IPV4;
		/* type, code, checksum 0, unused, next-hop MTU (RFC 1191) */
		icmp = SY_ICMP_DEST_UNREACH | SY_ICMP_FRAG_NEEDED << 8 |
		       (uint64_t)sy_hton16((uint16_t)mtu) << 48;
	} else {
		ip = 40;
		limit = 1280; /* RFC 4443: as much as fits in the minimum IPv6 MTU */
		ethertype = SY_ETH_P_IPV6;
		/* RFC 8200: never advertise less than the IPv6 minimum MTU; the
		 * 32-bit MTU field holds a value < 65536 */
		icmp = SY_ICMP6_PKT_TOO_BIG |
		       (uint64_t)sy_hton16((uint16_t)(mtu < 1280 ? 1280 : mtu)) << 48;
	}
	quote = p->l3_len < limit - ip - 8 ? p->l3_len : limit - ip - 8;
	if (p->family != SY_AF_INET)
		seed = sy_csum_pseudo(SY_AF_INET6, p->key.dst, p->key.src, 8 + quote,
				      SY_IPPROTO_ICMPV6);
	/* the IP and ICMP headers go in front of the quoted packet */
	if (sy_frame_grow_head(f, l2, ip + 8) ||
	    sy_write_l2(f, l2, client_mac, o->port_mac, ethertype))
		goto no_room;
	at = (uint8_t *)sy_frame_edit(f, l2 + ip, 8);
	if (!sy_frame_edit_ok(at))
		goto no_room;
	sy_put64(at, icmp);
	sum = sy_frame_csum(f, l2 + ip, 8 + quote, seed);
	at = (uint8_t *)sy_frame_edit(f, l2 + ip, 8); /* BPF: the call invalidated it */
	if (sum < 0 || !sy_frame_edit_ok(at))
		goto no_room;
	sy_put16(at + 2, (uint16_t)~sum);
	if (p->family == SY_AF_INET) {
		at = (uint8_t *)sy_frame_edit(f, l2, 20);
		if (!sy_frame_edit_ok(at))
			goto no_room;
		sy_write_ip4(at, p->key.dst[0], p->key.src[0], SY_IPPROTO_ICMP, 8 + quote, 0, 0);
	} else {
		at = (uint8_t *)sy_frame_edit(f, l2, 40);
		if (!sy_frame_edit_ok(at))
			goto no_room;
		sy_write_ip6(at, p->key.dst, p->key.src, SY_IPPROTO_ICMPV6, 8 + quote, 0, 0);
	}
	/* the frame is l2 + ip + 8 + l3_len now: keep the quote */
	if (sy_frame_trim(f, l2 + ip + 8 + quote))
		goto no_room;
	return sy_rewrite_tx(SY_C_ICMP_TOO_BIG_SENT);
no_room:
	return sy_rewrite_drop(SY_C_DROP_NO_ROOM, 0);
}

#endif
