/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Frame classification, the one copy for both packet paths (sy-dataplane's
 * dataplane/parse.c and the XDP program bpf/sy_xdp_lb.bpf.c): Ethernet with
 * up to two VLAN tags, IPv4 with options, IPv6 with up to 8 extension headers
 * (AH included), TCP, UDP, ICMP errors about a flow, fragments. Every read
 * goes through sy_frame_at() (pkt_frame.h); whatever does not parse is a drop
 * with a reason, never a read past the end.
 *
 * In BPF, sy_parse_frame() is a global function, verified once (the XDP
 * program calls the classification from a global function of its own, with
 * sy_parse_ip6_ext() inlined); offsets are re-bounded (sy_frame_off) where
 * paths join, and packet pointers are fetched again after a call, which
 * invalidates them.
 */
#ifndef SWITCHYARD_PKT_PARSE_H
#define SWITCHYARD_PKT_PARSE_H

#include "counters.h"
#include "flow_hash.h"
#include "pkt_frame.h"
#include "pkt_hdr.h"

#define SY_PARSE_MAX_VLAN_TAGS 2
#define SY_PARSE_MAX_IP6_EXT 8
#define SY_IPPROTO_AH 51

/* What classification found out about a frame (also what syctl lookup and
 * the tests use to predict the dataplane's decision). */
struct sy_parsed {
	uint32_t l2_len;    /* Ethernet + VLAN tags */
	uint32_t l3_len;    /* IP header + payload (from the IP length field) */
	uint32_t l4_off;    /* from the start of the frame */
	uint32_t reason;    /* enum sy_counter SY_C_DROP_* when the verdict is SY_V_DROP */
	uint8_t family;     /* SY_AF_INET / SY_AF_INET6 */
	uint8_t proto;      /* final upper-layer protocol */
	uint8_t is_frag;    /* a fragment other than a whole datagram */
	uint8_t tcp_flags;
	uint8_t icmp_error; /* 1: an ICMP error whose inner flow is in key; 2: its quote is unreadable */
	uint8_t df;         /* IPv4 DF set (IPv6: always 1) */
	/* Fragments (pkt_frag.h): frag_first = offset 0 with the TCP/UDP
	 * ports read into key; frag_followed = a later fragment whose
	 * first's ports the driver found and put into key (sy_frag_follow) */
	uint8_t frag_first;
	uint8_t frag_followed;
	struct sy_flow_key key; /* client -> VIP direction */
};

static __sy_always_inline uint16_t sy_parse_rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8); /* the wire-order u16 as loaded */
}

static __sy_always_inline int sy_parse_is_ip6_ext(uint32_t nh)
{
	return nh == SY_IPPROTO_HOPOPTS || nh == SY_IPPROTO_ROUTING ||
	       nh == SY_IPPROTO_FRAGMENT || nh == SY_IPPROTO_DSTOPTS || nh == SY_IPPROTO_AH;
}

/* Walk IPv6 extension headers from off (first header type nh) up to end.
 * Returns the offset of the upper-layer header | its type << 16 | (a
 * fragment with offset or M) << 24, or -1.
 * Inlined in BPF (SY_PKT_INLINED), inside its caller's global function (the XDP
 * program's classify_frame()): a frame of its own made that chain of calls
 * (main program, classify_frame, this walk) 544 bytes of stack on Debian
 * 12's kernel (6.1), which rounds each frame up to 32 bytes, over the
 * verifier's 512 (tests/bpf/test_bpf_on_kernel.sh). Unrolled in BPF
 * (SY_PKT_UNROLL). */
SY_PKT_INLINED int sy_parse_ip6_ext(sy_frame *f, uint32_t off, uint32_t end, uint32_t nh)
{
	if (!f || !sy_frame_off_ok(off) || !sy_frame_off_ok(end) || nh > 255)
		return -1;
	SY_PKT_UNROLL
	for (int n = 0; n <= SY_PARSE_MAX_IP6_EXT; n++) {
		const uint8_t *x;
		uint32_t hlen;

		if (!sy_parse_is_ip6_ext(nh))
			return (int)(off | nh << 16);
		if (n == SY_PARSE_MAX_IP6_EXT || off + 8 > end)
			return -1;
		x = (const uint8_t *)sy_frame_at(f, off, 8);
		if (!x)
			return -1;
		if (nh == SY_IPPROTO_FRAGMENT) {
			if (sy_ntoh16(sy_parse_rd16(x + 2)) & 0xfff9) /* offset or M */
				/* What follows a fragment header is payload in
				 * every fragment but the first: stop here, in all
				 * of them, so that every fragment of a datagram is
				 * classified alike (by this header's next header). */
				return (int)((off + 8) | (uint32_t)x[0] << 16 | 1u << 24);
			hlen = 8;
		} else if (nh == SY_IPPROTO_AH) {
			hlen = ((uint32_t)x[1] + 2) * 4;
		} else {
			hlen = ((uint32_t)x[1] + 1) * 8;
		}
		if (off + hlen > end)
			return -1;
		nh = x[0];
		off = sy_frame_off(off + hlen);
	}
	return -1;
}

/* Ports (and TCP flags) of a TCP/UDP header at off (end = end of the IP
 * packet): 0, or -1 if the header is cut or lies about its length. Other
 * protocols: 0, ports left 0. In a first fragment (first_frag) the UDP
 * length is the whole datagram's, longer than this packet: not checked. */
static __sy_always_inline int sy_parse_l4_ports(sy_frame *f, uint32_t off, uint32_t end,
						struct sy_parsed *p, int first_frag)
{
	if (p->proto == SY_IPPROTO_TCP) {
		const struct sy_tcp_hdr *t =
			(const struct sy_tcp_hdr *)sy_frame_at(f, off, sizeof(*t));
		uint32_t doff;

		if (off + sizeof(*t) > end || !t)
			return -1;
		doff = (uint32_t)(t->doff_res >> 4) * 4;
		if (doff < sizeof(*t) || off + doff > end)
			return -1;
		p->key.sport = t->sport;
		p->key.dport = t->dport;
		p->tcp_flags = t->flags;
		return 0;
	}
	if (p->proto == SY_IPPROTO_UDP) {
		const struct sy_udp_hdr *u =
			(const struct sy_udp_hdr *)sy_frame_at(f, off, sizeof(*u));
		uint32_t ulen;

		if (off + sizeof(*u) > end || !u)
			return -1;
		ulen = sy_ntoh16(u->len);
		if (ulen < sizeof(*u) || (!first_frag && off + ulen > end))
			return -1;
		p->key.sport = u->sport;
		p->key.dport = u->dport;
		return 0;
	}
	return 0;
}

static __sy_always_inline void sy_parse_key_reset(struct sy_flow_key *k, uint8_t family,
						  uint8_t proto)
{
	__builtin_memset(k, 0, sizeof(*k));
	k->family = family;
	k->proto = proto;
}

/* The flow an ICMP error is about: the quoted packet went VIP -> client, so
 * the flow in client -> VIP direction is the quote reversed. Only the first
 * 8 bytes of the quoted L4 header are guaranteed (RFC 792): the ports.
 * 0 with p->key set, or -1 with p->key untouched. */
static __sy_always_inline int sy_parse_icmp_inner4(sy_frame *f, uint32_t off, uint32_t end,
						   struct sy_parsed *p)
{
	const struct sy_ip4_hdr *ip = (const struct sy_ip4_hdr *)sy_frame_at(f, off, sizeof(*ip));
	const uint8_t *l4;
	uint32_t ihl;

	if (off + sizeof(*ip) > end || !ip || (ip->ver_ihl >> 4) != 4)
		return -1;
	ihl = (uint32_t)(ip->ver_ihl & 0xf) * 4;
	if (ihl < sizeof(*ip) || off + ihl + 4 > end)
		return -1;
	if (ip->proto != SY_IPPROTO_TCP && ip->proto != SY_IPPROTO_UDP)
		return -1;
	l4 = (const uint8_t *)sy_frame_at(f, off + ihl, 4);
	if (!l4)
		return -1;
	sy_parse_key_reset(&p->key, SY_AF_INET, ip->proto);
	p->key.src[0] = ip->daddr;
	p->key.dst[0] = ip->saddr;
	p->key.sport = sy_parse_rd16(l4 + 2);
	p->key.dport = sy_parse_rd16(l4);
	return 0;
}

static __sy_always_inline int sy_parse_icmp_inner6(sy_frame *f, uint32_t off, uint32_t end,
						   struct sy_parsed *p)
{
	const struct sy_ip6_hdr *ip = (const struct sy_ip6_hdr *)sy_frame_at(f, off, sizeof(*ip));
	const uint8_t *l4p;
	uint32_t l4, nh;
	int r;

	if (off + sizeof(*ip) > end || !ip || (*(const uint8_t *)ip >> 4) != 6)
		return -1;
	r = sy_parse_ip6_ext(f, off + (uint32_t)sizeof(*ip), end, ip->nexthdr);
	if (r < 0)
		return -1;
	l4 = (uint32_t)r & 0xffff;
	nh = ((uint32_t)r >> 16) & 0xff;
	if (l4 + 4 > end || (nh != SY_IPPROTO_TCP && nh != SY_IPPROTO_UDP))
		return -1;
	l4p = (const uint8_t *)sy_frame_at(f, l4, 4);
	ip = (const struct sy_ip6_hdr *)sy_frame_at(f, off, sizeof(*ip)); /* the call invalidated it (BPF) */
	if (!l4p || !ip)
		return -1;
	sy_parse_key_reset(&p->key, SY_AF_INET6, (uint8_t)nh);
	__builtin_memcpy(p->key.src, ip->daddr, 16);
	__builtin_memcpy(p->key.dst, ip->saddr, 16);
	p->key.sport = sy_parse_rd16(l4p + 2);
	p->key.dport = sy_parse_rd16(l4p);
	return 0;
}

static __sy_always_inline int sy_parse_drop(struct sy_parsed *p, uint32_t reason)
{
	p->reason = reason;
	return SY_V_DROP;
}

static __sy_always_inline int sy_parse_ip4(sy_frame *f, uint32_t off, uint32_t len,
					   struct sy_parsed *p)
{
	const struct sy_ip4_hdr *ip = (const struct sy_ip4_hdr *)sy_frame_at(f, off, sizeof(*ip));
	uint32_t ihl, tot, end;
	uint16_t frag;

	if (off + sizeof(*ip) > len || !ip || (ip->ver_ihl >> 4) != 4)
		return sy_parse_drop(p, SY_C_DROP_IP4_HDR);
	ihl = (uint32_t)(ip->ver_ihl & 0xf) * 4;
	if (ihl < sizeof(*ip) || off + ihl > len)
		return sy_parse_drop(p, SY_C_DROP_IP4_HDR);
	tot = sy_ntoh16(ip->tot_len);
	if (tot < ihl || off + tot > len)
		return sy_parse_drop(p, SY_C_DROP_IP4_LEN);
	end = off + tot;
	frag = sy_ntoh16(ip->frag_off);
	p->family = SY_AF_INET;
	p->l3_len = tot;
	p->l4_off = off + ihl;
	p->proto = ip->proto;
	p->df = (frag & SY_IP4_DF) != 0;
	p->is_frag = (frag & (SY_IP4_MF | SY_IP4_OFFMASK)) != 0;
	p->key.family = SY_AF_INET;
	p->key.proto = ip->proto;
	p->key.src[0] = ip->saddr;
	p->key.dst[0] = ip->daddr;
	if (p->is_frag) {
		/* only the first fragment has the ports; one whose TCP/UDP
		 * header is cut is taken as a later one (no ports) */
		if (!(frag & SY_IP4_OFFMASK) &&
		    (p->proto == SY_IPPROTO_TCP || p->proto == SY_IPPROTO_UDP) &&
		    !sy_parse_l4_ports(f, p->l4_off, end, p, 1))
			p->frag_first = 1;
		return SY_V_TX;
	}
	if (p->proto == SY_IPPROTO_ICMP) {
		const uint8_t *icmp = (const uint8_t *)sy_frame_at(f, p->l4_off, 8);

		if (p->l4_off + 8 > end || !icmp ||
		    (icmp[0] != SY_ICMP_DEST_UNREACH && icmp[0] != SY_ICMP_TIME_EXCEEDED &&
		     icmp[0] != SY_ICMP_PARAMPROB))
			return SY_V_KERNEL; /* echo and the like: the host's business */
		p->icmp_error = sy_parse_icmp_inner4(f, p->l4_off + 8, end, p) ? 2 : 1;
		return SY_V_TX;
	}
	if (sy_parse_l4_ports(f, p->l4_off, end, p, 0))
		return sy_parse_drop(p, SY_C_DROP_L4_HDR);
	return SY_V_TX;
}

static __sy_always_inline int sy_parse_ip6(sy_frame *f, uint32_t off, uint32_t len,
					   struct sy_parsed *p)
{
	const struct sy_ip6_hdr *ip = (const struct sy_ip6_hdr *)sy_frame_at(f, off, sizeof(*ip));
	uint32_t end, l4, nh;
	int r;

	if (off + sizeof(*ip) > len || !ip || (*(const uint8_t *)ip >> 4) != 6)
		return sy_parse_drop(p, SY_C_DROP_IP6_HDR);
	end = off + (uint32_t)sizeof(*ip) + sy_ntoh16(ip->payload_len);
	if (end > len)
		return sy_parse_drop(p, SY_C_DROP_IP6_HDR);
	p->key.family = SY_AF_INET6;
	__builtin_memcpy(p->key.src, ip->saddr, 16);
	__builtin_memcpy(p->key.dst, ip->daddr, 16);
	r = sy_parse_ip6_ext(f, off + (uint32_t)sizeof(*ip), end, ip->nexthdr);
	if (r < 0)
		return sy_parse_drop(p, SY_C_DROP_IP6_EXT);
	l4 = (uint32_t)r & 0xffff;
	nh = ((uint32_t)r >> 16) & 0xff;
	p->is_frag = ((uint32_t)r >> 24) & 1;
	p->family = SY_AF_INET6;
	p->l3_len = end - off;
	p->l4_off = l4;
	p->proto = (uint8_t)nh;
	p->df = 1; /* IPv6 routers never fragment */
	p->key.proto = (uint8_t)nh;
	if (p->is_frag) {
		/* the fragment header is the 8 bytes before l4 */
		const uint8_t *fh = (const uint8_t *)sy_frame_at(f, sy_frame_off(l4 - 8), 8);

		if (!fh)
			return sy_parse_drop(p, SY_C_DROP_IP6_EXT);
		if (!(sy_ntoh16(sy_parse_rd16(fh + 2)) & 0xfff8) &&
		    (nh == SY_IPPROTO_TCP || nh == SY_IPPROTO_UDP) &&
		    !sy_parse_l4_ports(f, l4, end, p, 1))
			p->frag_first = 1;
		return SY_V_TX;
	}
	if (nh == SY_IPPROTO_ICMPV6) {
		const uint8_t *icmp = (const uint8_t *)sy_frame_at(f, l4, 8);

		if (l4 + 8 > end || !icmp || icmp[0] < SY_ICMP6_DEST_UNREACH ||
		    icmp[0] > SY_ICMP6_PARAMPROB)
			return SY_V_KERNEL; /* NDP, echo: the host's business */
		p->icmp_error = sy_parse_icmp_inner6(f, l4 + 8, end, p) ? 2 : 1;
		return SY_V_TX;
	}
	if (sy_parse_l4_ports(f, l4, end, p, 0))
		return sy_parse_drop(p, SY_C_DROP_L4_HDR);
	return SY_V_TX;
}

#if !defined(__bpf__)
/* C only: the common frame, Ethernet without tags + IPv4 without options,
 * not a fragment, + a whole TCP or UDP header, in one pass. 1 with *p
 * filled exactly as sy_parse_frame_general() below fills it (SY_V_TX); 0,
 * *p untouched, for any other frame and any frame that fails one of that
 * path's checks, which then takes the general path (and its verdict). It
 * reads the bytes the general path reads, within the first 54 (len covers
 * them). BPF runs the general path only (the verifier's cost is what
 * counts there). tests/unit/test_pkt_parse_fast.c holds the two paths to
 * each other. */
static __sy_always_inline int sy_parse_fast4(const struct sy_pkt *f, struct sy_parsed *p,
					     uint32_t len)
{
	const uint8_t *d = f->data;
	uint32_t tot, hdr, sport_dport;
	uint16_t frag;
	uint8_t proto, flags = 0;

	if (len < 14 + 20 + 20 || len > f->len || sy_get16(d + 12) != sy_hton16(SY_ETH_P_IPV4) ||
	    d[14] != 0x45)
		return 0;
	tot = sy_ntoh16(sy_get16(d + 16));
	frag = sy_ntoh16(sy_get16(d + 20));
	proto = d[23];
	if (tot > len - 14 || (frag & (SY_IP4_MF | SY_IP4_OFFMASK)))
		return 0;
	if (proto == SY_IPPROTO_TCP) {
		hdr = (uint32_t)(d[46] >> 4) * 4; /* data offset */
		if (hdr < 20 || 20 + hdr > tot)
			return 0;
		flags = d[47];
	} else if (proto == SY_IPPROTO_UDP) {
		hdr = sy_ntoh16(sy_get16(d + 38)); /* UDP length */
		if (hdr < 8 || 20 + hdr > tot)
			return 0;
	} else {
		return 0;
	}
	sport_dport = sy_get32(d + 34);
	__builtin_memset(p, 0, sizeof(*p));
	p->l2_len = 14;
	p->l3_len = tot;
	p->l4_off = 34;
	p->family = SY_AF_INET;
	p->proto = proto;
	p->tcp_flags = flags;
	p->df = (frag & SY_IP4_DF) != 0;
	p->key.src[0] = sy_get32(d + 26);
	p->key.dst[0] = sy_get32(d + 30);
	__builtin_memcpy(&p->key.sport, &sport_dport, 4);
	p->key.proto = proto;
	p->key.family = SY_AF_INET;
	return 1;
}
#endif

/* The general path of sy_parse_frame() (every frame it classifies). */
static __sy_always_inline int sy_parse_frame_general(sy_frame *f, struct sy_parsed *p,
						     uint32_t len)
{
	uint32_t off = sizeof(struct sy_eth_hdr);
	const uint8_t *et;
	uint16_t proto;

	__builtin_memset(p, 0, sizeof(*p));
	if (len < sizeof(struct sy_eth_hdr))
		return sy_parse_drop(p, SY_C_DROP_RUNT);
	if (!sy_frame_off_ok(len))
		return SY_V_KERNEL; /* BPF: cannot happen without XDP frags */
	et = (const uint8_t *)sy_frame_at(f, 12, 2);
	if (!et)
		return sy_parse_drop(p, SY_C_DROP_RUNT);
	proto = (uint16_t)(et[0] << 8 | et[1]);
	for (int tags = 0; tags <= SY_PARSE_MAX_VLAN_TAGS; tags++) {
		if (proto != SY_ETH_P_8021Q && proto != SY_ETH_P_8021AD)
			break;
		if (tags == SY_PARSE_MAX_VLAN_TAGS || off + 4 > len)
			return sy_parse_drop(p, SY_C_DROP_VLAN);
		et = (const uint8_t *)sy_frame_at(f, off + 2, 2);
		if (!et)
			return sy_parse_drop(p, SY_C_DROP_VLAN);
		proto = (uint16_t)(et[0] << 8 | et[1]);
		off += 4;
	}
	p->l2_len = off;
	if (proto == SY_ETH_P_IPV4)
		return sy_parse_ip4(f, off, len, p);
	if (proto == SY_ETH_P_IPV6)
		return sy_parse_ip6(f, off, len, p);
	return SY_V_KERNEL; /* ARP, LLDP, ...: the host's business */
}

/* Classify the frame's first len bytes (the caller has read the length
 * once: bpf_xdp_get_buff_len() in BPF, pkt->len in C). Returns SY_V_TX with
 * *p filled, SY_V_KERNEL for non-IP frames and the host's protocols, or
 * SY_V_DROP with p->reason. *p is cleared first. */
SY_PKT_GLOBAL int sy_parse_frame(sy_frame *f, struct sy_parsed *p, uint32_t len)
{
	if (!p)
		return SY_V_DROP;
#if !defined(__bpf__)
	if (__builtin_expect(sy_parse_fast4(f, p, len), 1))
		return SY_V_TX;
#endif
	return sy_parse_frame_general(f, p, len);
}

#endif
