/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The output rewrite of a VIP packet for its backend, the one copy for both
 * packet paths (dataplane/lb.c forward() and bpf/sy_xdp_lb.bpf.c process()):
 *
 *   ipip   the L3 packet in an outer IP header of the backend's family
 *          (4in4, 6in6, 4in6, 6in4), outer DF, ID 0 (RFC 6864), TTL 64,
 *          the inner traffic class copied outward, IPv6 flow label from the
 *          flow hash;
 *   gue    the same plus a UDP header (GUE variant 1: the UDP payload is the
 *          inner IP packet) whose source port carries flow entropy; its
 *          checksum is 0 over IPv4 and computed over IPv6 (RFC 8200);
 *   l2dsr  destination MAC to the backend, source MAC ours, nothing else;
 * with the Ethernet padding cut off, the L2 header's VLAN tags kept, and the
 * MTU check whose failure the driver answers (pkt_icmp_reply.h).
 *
 * The driver calls sy_l2dsr_write() or sy_encap_write() by the service's
 * mode, the latter with a struct sy_out filled from its own tables (the
 * region's struct sy_service / sy_backend, the BPF maps' struct
 * sy_xdp_service / sy_xdp_backend), and counts what struct sy_rewrite says.
 * (Two entry points rather than one: an l2dsr packet then loads nothing of
 * what encapsulation needs.) The frame is edited through pkt_frame.h;
 * headers are built in registers and stored once.
 */
#ifndef SWITCHYARD_PKT_ENCAP_H
#define SWITCHYARD_PKT_ENCAP_H

#include "counters.h"
#include "pkt_csum.h"
#include "pkt_frame.h"
#include "pkt_hdr.h"
#include "pkt_parse.h"
#include "region_types.h"

/* What a rewrite did, for the driver to count. */
struct sy_rewrite {
	uint8_t verdict;  /* enum sy_verdict: SY_V_TX or SY_V_DROP */
	uint8_t counter;  /* counters.h index to add one to, 0 = none (rx_packets
			   * is never one): the drop reason, or what was sent */
	uint8_t counter2; /* a second one, 0 = none (an ICMP error not sent is
			   * also a drop_mtu) */
	uint8_t pad;
};

static __sy_always_inline struct sy_rewrite sy_rewrite_tx(uint32_t counter)
{
	struct sy_rewrite r = { .verdict = SY_V_TX, .counter = (uint8_t)counter };

	return r;
}

static __sy_always_inline struct sy_rewrite sy_rewrite_drop(uint32_t counter, uint32_t counter2)
{
	struct sy_rewrite r = { .verdict = SY_V_DROP, .counter = (uint8_t)counter,
				.counter2 = (uint8_t)counter2 };

	return r;
}

/* Where the packet goes: what the driver takes from its tables. Addresses in
 * wire order, IPv4 in [0]; pointers into the driver's own tables. */
struct sy_out {
	const uint8_t *port_mac; /* source MAC of what we send */
	const uint8_t *next_hop; /* destination MAC: the backend's next hop */
	const uint32_t *src;     /* outer source: the service's encapsulation
				  * address of the backend's family (all 0: none,
				  * drop_family) */
	const uint32_t *dst;     /* the backend's address */
	uint32_t hash;           /* the flow hash (sy_encap_uses_hash()) */
	uint16_t mtu;            /* egress L3 MTU */
	uint16_t gue_port;       /* outer UDP destination, network order; 0 = default */
	uint8_t family;          /* outer family: the backend's */
	uint8_t fwd_mode;        /* SY_FWD_IPIP or SY_FWD_GUE */
};

/* Bytes the encapsulation adds in front of the L3 packet. */
static __sy_always_inline uint32_t sy_encap_overhead(const struct sy_out *o)
{
	uint32_t ip = o->family == SY_AF_INET ? 20 : 40;

	return o->fwd_mode == SY_FWD_GUE ? ip + 8 : ip;
}

/* Does the encapsulation read o->hash (GUE's source port, the outer IPv6
 * flow label)? A driver that computes the hash lazily asks this first. */
static __sy_always_inline int sy_encap_uses_hash(const struct sy_out *o)
{
	return o->fwd_mode == SY_FWD_GUE || o->family != SY_AF_INET;
}

/* Destination and source MAC, and the innermost ethertype at l2 - 2 (after
 * any VLAN tags). 0, or -1 (BPF: the frame is shorter than l2). */
static __sy_always_inline int sy_write_l2(sy_frame *f, uint32_t l2, const uint8_t *dst,
					  const uint8_t *src, uint16_t ethertype)
{
	uint8_t *eth = (uint8_t *)sy_frame_edit(f, 0, 12);
	uint8_t *et = (uint8_t *)sy_frame_edit(f, l2 - 2, 2);

	if (!sy_frame_edit_ok(eth) || !sy_frame_edit_ok(et))
		return -1;
	sy_put_mac(eth, dst);
	sy_put_mac(eth + 6, src);
	sy_put16(et, sy_hton16(ethertype));
	return 0;
}

/* An IPv4 header (20 bytes at at) from registers: its five 32-bit words are
 * summed as values and stored once (building it in memory and reading it
 * back for the checksum stalls on store forwarding). TTL 64, ID 0. */
static __sy_always_inline void sy_write_ip4(uint8_t *at, uint32_t saddr, uint32_t daddr,
					    uint8_t proto, uint32_t payload, uint8_t tos, int df)
{
	uint32_t w0 = 0x45u | (uint32_t)tos << 8 | (uint32_t)sy_hton16((uint16_t)(20 + payload)) << 16;
	uint32_t w1 = df ? (uint32_t)sy_hton16(SY_IP4_DF) << 16 : 0; /* id 0, RFC 6864 */
	uint32_t w2 = 64u | (uint32_t)proto << 8;                     /* ttl, protocol */
	uint64_t sum = (uint64_t)w0 + w1 + w2 + saddr + daddr;

	w2 |= (uint32_t)sy_csum_fold(sy_csum_fold32(sum)) << 16;
	sy_put64(at, w0 | (uint64_t)w1 << 32);
	sy_put64(at + 8, w2 | (uint64_t)saddr << 32);
	sy_put32(at + 16, daddr);
}

/* An IPv6 header (40 bytes at at) from registers. Hop limit 64; the flow
 * label is the low 20 bits of flow. */
static __sy_always_inline void sy_write_ip6(uint8_t *at, const uint32_t *saddr,
					    const uint32_t *daddr, uint8_t proto, uint32_t payload,
					    uint8_t tc, uint32_t flow)
{
	uint32_t w0 = sy_hton32(6u << 28 | (uint32_t)tc << 20 | (flow & 0xfffff));
	uint32_t w1 = sy_hton16((uint16_t)payload) | (uint32_t)proto << 16 | 64u << 24;

	sy_put64(at, w0 | (uint64_t)w1 << 32);
	sy_put64(at + 8, saddr[0] | (uint64_t)saddr[1] << 32);
	sy_put64(at + 16, saddr[2] | (uint64_t)saddr[3] << 32);
	sy_put64(at + 24, daddr[0] | (uint64_t)daddr[1] << 32);
	sy_put64(at + 32, daddr[2] | (uint64_t)daddr[3] << 32);
}

/* Traffic class of an inner packet (IPv4 TOS or IPv6 TC), copied outward so
 * that QoS survives the tunnel. */
static __sy_always_inline uint8_t sy_inner_tc(const uint8_t *l3, uint8_t family)
{
	if (family == SY_AF_INET)
		return l3[1];
	return (uint8_t)((l3[0] & 0x0f) << 4 | l3[1] >> 4);
}

/* Wrap the L3 packet (l3_len bytes after the L2 header) in IP (ipip) or
 * IP + UDP (gue). The outer family is the backend's; the inner one the
 * VIP's. */
static __sy_always_inline struct sy_rewrite sy_encapsulate(sy_frame *f, const struct sy_parsed *p,
							   const struct sy_out *o)
{
	uint32_t l2 = p->l2_len, inner = p->l3_len, extra = sy_encap_overhead(o);
	int gue = o->fwd_mode == SY_FWD_GUE, outer4 = o->family == SY_AF_INET;
	uint8_t proto = gue ? SY_IPPROTO_UDP
			    : p->family == SY_AF_INET ? SY_IPPROTO_IPIP : SY_IPPROTO_IPV6;
	const uint32_t *src = o->src;
	const uint8_t *l3;
	uint8_t *at, tc;

	if (outer4 ? !src[0] : !(src[0] | src[1] | src[2] | src[3]))
		return sy_rewrite_drop(SY_C_DROP_FAMILY, 0);
	l3 = (const uint8_t *)sy_frame_edit(f, l2, 2);
	if (!sy_frame_edit_ok(l3))
		goto no_room;
	tc = sy_inner_tc(l3, p->family);
	if (sy_frame_grow_head(f, l2, extra) ||
	    sy_write_l2(f, l2, o->next_hop, o->port_mac, outer4 ? SY_ETH_P_IPV4 : SY_ETH_P_IPV6))
		goto no_room;
	if (outer4) {
		at = (uint8_t *)sy_frame_edit(f, l2, 20);
		if (!sy_frame_edit_ok(at))
			goto no_room;
		/* Outer DF always: the tunnel never fragments; what does not
		 * fit was answered with ICMP too-big or dropped before. */
		sy_write_ip4(at, src[0], o->dst[0], proto, extra - 20 + inner, tc, 1);
	} else {
		at = (uint8_t *)sy_frame_edit(f, l2, 40);
		if (!sy_frame_edit_ok(at))
			goto no_room;
		sy_write_ip6(at, src, o->dst, proto, extra - 40 + inner, tc, o->hash);
	}
	if (gue) {
		/* source port: flow entropy for ECMP and RSS beyond us */
		uint64_t sport = sy_hton16((uint16_t)(0xc000 | (o->hash & 0x3fff)));
		uint64_t dport = o->gue_port ? o->gue_port : sy_hton16(SY_GUE_DEFAULT_PORT);
		uint64_t len = sy_hton16((uint16_t)(8 + inner));
		int sum;

		at = (uint8_t *)sy_frame_edit(f, l2 + extra - 8, 8);
		if (!sy_frame_edit_ok(at))
			goto no_room;
		sy_put64(at, sport | dport << 16 | len << 32); /* checksum 0 */
		if (outer4)
			return sy_rewrite_tx(0); /* optional over IPv4, and left 0 */
		/* mandatory over IPv6 (RFC 8200) */
		sum = sy_frame_csum(f, l2 + 40, 8 + inner,
				    sy_csum_pseudo(SY_AF_INET6, src, o->dst, 8 + inner,
						   SY_IPPROTO_UDP));
		at = (uint8_t *)sy_frame_edit(f, l2 + 40, 8); /* BPF: the call invalidated it */
		if (sum < 0 || !sy_frame_edit_ok(at))
			goto no_room;
		sum = (uint16_t)~sum;
		sy_put16(at + 6, sum ? (uint16_t)sum : 0xffff); /* 0 means "none" in UDP */
	}
	return sy_rewrite_tx(0);
no_room:
	return sy_rewrite_drop(SY_C_DROP_NO_ROOM, 0);
}

/* l2dsr: the frame goes to the backend on our L2 as it came, padding cut,
 * destination MAC the backend's (next_hop), source MAC ours. */
static __sy_always_inline struct sy_rewrite sy_l2dsr_write(sy_frame *f, const struct sy_parsed *p,
							   const uint8_t *next_hop,
							   const uint8_t *port_mac)
{
	/* Ethernet padding after the IP packet is not forwarded. */
	if (sy_frame_trim(f, p->l2_len + p->l3_len) ||
	    sy_write_l2(f, p->l2_len, next_hop, port_mac,
			p->family == SY_AF_INET ? SY_ETH_P_IPV4 : SY_ETH_P_IPV6))
		return sy_rewrite_drop(SY_C_DROP_NO_ROOM, 0);
	return sy_rewrite_tx(0);
}

/* ipip or gue: padding cut, the MTU checked, the packet encapsulated.
 * SY_V_TX with counter 0 when the frame is ready to send; SY_V_DROP with the
 * reason otherwise. SY_C_DROP_MTU: the packet does not fit the MTU once
 * encapsulated; the driver answers it with sy_icmp_too_big() (which decides
 * whether an answer goes out) instead of counting the drop. */
static __sy_always_inline struct sy_rewrite sy_encap_write(sy_frame *f, const struct sy_parsed *p,
							   const struct sy_out *o)
{
	/* Ethernet padding after the IP packet is not forwarded. */
	if (sy_frame_trim(f, p->l2_len + p->l3_len))
		return sy_rewrite_drop(SY_C_DROP_NO_ROOM, 0);
	if (p->l3_len + sy_encap_overhead(o) > o->mtu)
		return sy_rewrite_drop(SY_C_DROP_MTU, 0);
	return sy_encapsulate(f, p, o);
}

#if !defined(__bpf__)
/* ---- Outer header templates (C only) --------------------------------------
 *
 * What sy_encapsulate() writes in front of an untagged frame (l2_len 14) for
 * an IPv4 backend, ipip or gue, is the same for every packet to that backend
 * but for the inner traffic class, the lengths, the IPv4 checksum, GUE's
 * source port (the flow hash) and the source MAC (the port's). A driver may
 * keep those bytes per backend (struct sy_encap_tmpl, built by
 * sy_encap_tmpl_build() with the very writer above, the per-packet fields
 * 0) and write a packet's headers with sy_encap_tmpl_put(): five or six
 * wide stores, and the checksum from the template's partial sum plus the
 * two fields that change. The frame is the one sy_encap_write() makes, byte
 * for byte (tests/packets/test_encap_tmpl.c). The XDP program does not use
 * it (its frames are not C buffers, and its verifier counts every branch). */
struct sy_encap_tmpl {
	const void *key;  /* the driver's: whose template (NULL: none) */
	uint64_t mac;     /* frame bytes 0..7: the destination MAC (6, 7: 0) */
	uint64_t ip0;     /* 14..21: IPv4 version .. fragment, TOS and length 0 */
	uint64_t ip1;     /* 22..29: TTL, protocol, checksum 0, source */
	uint64_t tail;    /* 30..37: the destination (gue: + UDP ports, the
			   * source 0) */
	uint32_t sum;     /* the IPv4 header's words summed, TOS, length and
			   * checksum 0, folded to 16 bits (not inverted) */
	uint8_t family;   /* the inner family it was built for, SY_AF_INET;
			   * 0: no template (6in4, or the writer drops these
			   * packets: no source address), sy_encap_write()
			   * decides */
	uint8_t gue;      /* 1: IPv4 + UDP, 0: IPv4 */
	uint8_t pad[18];
};

_Static_assert(sizeof(struct sy_encap_tmpl) == 64, "sy_encap_tmpl: one cache line");

/* Build t for o (its port_mac and hash are not read) and inner packets of
 * inner_family; t->family 0 if o is not one a template serves (an IPv6
 * backend, l2dsr, an IPv6 inner packet: 6in4 is rare) or the writer would
 * drop the packet. t->key is left to the caller. */
static inline void sy_encap_tmpl_build(struct sy_encap_tmpl *t, const struct sy_out *o,
				       uint8_t inner_family)
{
	static const uint8_t no_mac[6];
	uint8_t buf[64 + 64];
	struct sy_pkt f = { .data = buf + 64, .len = 64, .headroom = 64, .tailroom = 0 };
	struct sy_parsed p;
	struct sy_out to = *o;
	uint64_t sum = 0;
	uint8_t *d;

	__builtin_memset(buf, 0, sizeof(buf));
	__builtin_memset(&p, 0, sizeof(p));
	t->mac = t->ip0 = t->ip1 = t->tail = 0;
	t->sum = 0;
	t->family = 0;
	t->gue = o->fwd_mode == SY_FWD_GUE;
	if (o->family != SY_AF_INET || (o->fwd_mode != SY_FWD_IPIP && o->fwd_mode != SY_FWD_GUE) ||
	    inner_family != SY_AF_INET)
		return;
	p.l2_len = 14;
	p.l3_len = 0;
	p.family = inner_family;
	to.port_mac = no_mac;
	to.hash = 0;
	if (sy_encapsulate(&f, &p, &to).verdict != SY_V_TX)
		return;
	d = f.data;
	/* the per-packet fields: TOS, total length, checksum; GUE's source
	 * port (its length is not in the template, its checksum is 0) */
	d[15] = 0;
	d[16] = d[17] = 0;
	d[24] = d[25] = 0;
	if (t->gue)
		d[34] = d[35] = 0;
	t->mac = sy_get64(d) & 0xffffffffffffull;
	t->ip0 = sy_get64(d + 14);
	t->ip1 = sy_get64(d + 22);
	t->tail = t->gue ? sy_get64(d + 30) : sy_get32(d + 30);
	for (int i = 0; i < 5; i++)
		sum += sy_get32(d + 14 + 4 * i);
	t->sum = sy_csum_fold16(sum);
	t->family = inner_family;
}

/* Our source MAC and the outer ethertype (IPv4), frame bytes 6..13, once
 * per port rather than per packet. */
static inline uint64_t sy_encap_tmpl_mac(const uint8_t *port_mac)
{
	return sy_get32(port_mac) | (uint64_t)sy_get16(port_mac + 4) << 32 |
	       (uint64_t)sy_hton16(SY_ETH_P_IPV4) << 48;
}

/* sy_encap_write() of an untagged frame (p->l2_len 14) to t's backend, for
 * a packet of t->family (IPv4) that fits: the caller has checked that
 * p->l3_len + the overhead (20, gue 28) <= the MTU and that the frame has
 * that much headroom. tos: the inner IPv4 TOS (frame byte 15); hash: the
 * flow hash (gue only); mac: sy_encap_tmpl_mac() of the port's. */
static __sy_always_inline void sy_encap_tmpl_put(sy_frame *f, const struct sy_encap_tmpl *t,
						 const struct sy_parsed *p, uint32_t tos,
						 uint32_t hash, int gue, uint64_t mac)
{
	uint32_t l3 = p->l3_len, extra = gue ? 28 : 20;
	uint32_t len = sy_hton16((uint16_t)(extra + l3));
	/* the header's sum: the template's and the two fields' (TOS in the
	 * first word's low half, the length in its high half), modulo 0xffff
	 * the general writer's; both fold to the same nonzero value. Folded
	 * as sy_csum_fold() does, the result left in the high half, where the
	 * checksum goes in the word at 22 */
	uint32_t sum = t->sum + (tos << 8) + len;
	uint64_t csum_hi;
	uint8_t *d;

	sum += (sum >> 16) | (sum << 16);
	csum_hi = ~sum & 0xffff0000u;

	/* the padding cut (sy_frame_trim()) and the headroom taken
	 * (sy_frame_grow_head(): no tags to move) in one */
	d = f->data - extra;
	f->data = d;
	f->tailroom += f->len - (14 + l3);
	f->len = 14 + l3 + extra;
	sy_put64(d, t->mac);
	sy_put64(d + 6, mac);
	sy_put64(d + 14, t->ip0 | tos << 8 | (uint64_t)len << 16);
	sy_put64(d + 22, t->ip1 | csum_hi);
	if (gue) {
		uint64_t sport = sy_hton16((uint16_t)(0xc000 | (hash & 0x3fff)));

		sy_put64(d + 30, t->tail | sport << 32);
		sy_put32(d + 38, sy_hton16((uint16_t)(8 + l3))); /* UDP checksum 0 */
	} else {
		sy_put32(d + 30, (uint32_t)t->tail);
	}
	f->headroom -= extra;
}
#endif

#endif
