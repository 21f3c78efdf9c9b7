/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Frame classification: Ethernet (+ up to two VLAN tags), IPv4 (options),
 * IPv6 (extension headers), TCP, UDP and ICMP errors about a flow. Every read
 * is bounds-checked against the frame; whatever does not parse is a drop with
 * a reason, never a read past the end.
 */
#include <string.h>

#include <switchyard/pkt_hdr.h>

#include "lb.h"

#define MAX_VLAN_TAGS 2
#define MAX_IP6_EXT 8

static inline uint16_t rd16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return v;
}

static inline uint16_t ntoh16(uint16_t v)
{
	return (uint16_t)(v >> 8 | v << 8);
}

static bool is_ip6_ext(uint8_t nh)
{
	return nh == SY_IPPROTO_HOPOPTS || nh == SY_IPPROTO_ROUTING ||
	       nh == SY_IPPROTO_FRAGMENT || nh == SY_IPPROTO_DSTOPTS || nh == 51 /* AH */;
}

/* Walk IPv6 extension headers from off (first header type nh) up to end.
 * Returns the offset of the upper-layer header and its type, or -1. */
static int skip_ip6_ext(const uint8_t *d, uint32_t off, uint32_t end, uint8_t *nh,
			uint8_t *is_frag)
{
	for (int n = 0; is_ip6_ext(*nh); n++) {
		const struct sy_ip6_ext *x;
		uint32_t hlen;

		if (n == MAX_IP6_EXT || off + 8 > end)
			return -1;
		x = (const void *)(d + off);
		if (*nh == SY_IPPROTO_FRAGMENT) {
			const struct sy_ip6_frag *f = (const void *)(d + off);

			if (ntoh16(f->frag_off) & 0xfff9) { /* offset or M */
				/* What follows a fragment header is payload in
				 * every fragment but the first: stop here, in all
				 * of them, so that every fragment of a datagram is
				 * classified alike (by this header's next header). */
				*is_frag = 1;
				*nh = f->nexthdr;
				return (int)(off + 8);
			}
			hlen = 8;
		} else if (*nh == 51) {
			hlen = ((uint32_t)x->len + 2) * 4;
		} else {
			hlen = ((uint32_t)x->len + 1) * 8;
		}
		if (off + hlen > end)
			return -1;
		*nh = x->nexthdr;
		off += hlen;
	}
	return (int)off;
}

/* Ports of a TCP/UDP header at off (end = end of the IP packet). */
static int l4_ports(const uint8_t *d, uint32_t off, uint32_t end, uint8_t proto,
		    struct sy_flow_key *k, uint8_t *tcp_flags)
{
	if (proto == SY_IPPROTO_TCP) {
		const struct sy_tcp_hdr *t = (const void *)(d + off);
		uint32_t doff;

		if (off + sizeof(*t) > end)
			return -1;
		doff = (uint32_t)(t->doff_res >> 4) * 4;
		if (doff < sizeof(*t) || off + doff > end)
			return -1;
		k->sport = t->sport;
		k->dport = t->dport;
		*tcp_flags = t->flags;
		return 0;
	}
	if (proto == SY_IPPROTO_UDP) {
		const struct sy_udp_hdr *u = (const void *)(d + off);
		uint32_t ulen;

		if (off + sizeof(*u) > end)
			return -1;
		ulen = ntoh16(u->len);
		if (ulen < sizeof(*u) || off + ulen > end)
			return -1;
		k->sport = u->sport;
		k->dport = u->dport;
		return 0;
	}
	return 0;
}

/* The flow an ICMP error is about: the quoted packet went VIP -> client, so
 * the flow in client -> VIP direction is the quote reversed. Only the first
 * 8 bytes of the quoted L4 header are guaranteed (RFC 792): the ports. */
static int icmp_inner4(const uint8_t *d, uint32_t off, uint32_t end, struct sy_parsed *p)
{
	const struct sy_ip4_hdr *ip = (const void *)(d + off);
	uint32_t ihl;

	if (off + sizeof(*ip) > end || (ip->ver_ihl >> 4) != 4)
		return -1;
	ihl = (uint32_t)(ip->ver_ihl & 0xf) * 4;
	if (ihl < sizeof(*ip) || off + ihl + 4 > end)
		return -1;
	if (ip->proto != SY_IPPROTO_TCP && ip->proto != SY_IPPROTO_UDP)
		return -1;
	memset(&p->key, 0, sizeof(p->key));
	p->key.family = SY_AF_INET;
	p->key.proto = ip->proto;
	p->key.src[0] = ip->daddr;
	p->key.dst[0] = ip->saddr;
	p->key.sport = rd16(d + off + ihl + 2);
	p->key.dport = rd16(d + off + ihl);
	return 0;
}

static int icmp_inner6(const uint8_t *d, uint32_t off, uint32_t end, struct sy_parsed *p)
{
	const struct sy_ip6_hdr *ip = (const void *)(d + off);
	uint8_t nh, frag = 0;
	int l4;

	if (off + sizeof(*ip) > end || (d[off] >> 4) != 6)
		return -1;
	nh = ip->nexthdr;
	l4 = skip_ip6_ext(d, off + (uint32_t)sizeof(*ip), end, &nh, &frag);
	if (l4 < 0 || (uint32_t)l4 + 4 > end || (nh != SY_IPPROTO_TCP && nh != SY_IPPROTO_UDP))
		return -1;
	memset(&p->key, 0, sizeof(p->key));
	p->key.family = SY_AF_INET6;
	p->key.proto = nh;
	memcpy(p->key.src, ip->daddr, 16);
	memcpy(p->key.dst, ip->saddr, 16);
	p->key.sport = rd16(d + l4 + 2);
	p->key.dport = rd16(d + l4);
	return 0;
}

static bool icmp4_is_error(uint8_t type)
{
	return type == SY_ICMP_DEST_UNREACH || type == SY_ICMP_TIME_EXCEEDED ||
	       type == SY_ICMP_PARAMPROB;
}

static bool icmp6_is_error(uint8_t type)
{
	return type >= SY_ICMP6_DEST_UNREACH && type <= SY_ICMP6_PARAMPROB;
}

#define DROP(r)                                                                \
	do {                                                                   \
		*reason = (r);                                                 \
		return SY_V_DROP;                                              \
	} while (0)

static enum sy_verdict parse_ip4(const uint8_t *d, uint32_t off, uint32_t len,
				 struct sy_parsed *p, enum sy_counter *reason)
{
	const struct sy_ip4_hdr *ip = (const void *)(d + off);
	uint32_t ihl, tot, end;
	uint16_t frag;

	if (off + sizeof(*ip) > len || (ip->ver_ihl >> 4) != 4)
		DROP(SY_C_DROP_IP4_HDR);
	ihl = (uint32_t)(ip->ver_ihl & 0xf) * 4;
	if (ihl < sizeof(*ip) || off + ihl > len)
		DROP(SY_C_DROP_IP4_HDR);
	tot = ntoh16(ip->tot_len);
	if (tot < ihl || off + tot > len)
		DROP(SY_C_DROP_IP4_LEN);
	end = off + tot;
	frag = ntoh16(ip->frag_off);
	p->family = SY_AF_INET;
	p->l3_len = (uint16_t)tot;
	p->l4_off = (uint16_t)(off + ihl);
	p->proto = ip->proto;
	p->df = (frag & SY_IP4_DF) != 0;
	p->is_frag = (frag & (SY_IP4_MF | SY_IP4_OFFMASK)) != 0;
	p->key.family = SY_AF_INET;
	p->key.proto = ip->proto;
	p->key.src[0] = ip->saddr;
	p->key.dst[0] = ip->daddr;
	if (p->is_frag)
		return SY_V_TX; /* 3-tuple: a non-first fragment has no ports */
	if (ip->proto == SY_IPPROTO_ICMP) {
		const uint8_t *icmp = d + p->l4_off;

		if (p->l4_off + 8u > end || !icmp4_is_error(icmp[0]))
			return SY_V_KERNEL;
		p->icmp_error = icmp_inner4(d, p->l4_off + 8u, end, p) ? 2 : 1;
		return SY_V_TX;
	}
	if (l4_ports(d, p->l4_off, end, ip->proto, &p->key, &p->tcp_flags))
		DROP(SY_C_DROP_L4_HDR);
	return SY_V_TX;
}

static enum sy_verdict parse_ip6(const uint8_t *d, uint32_t off, uint32_t len,
				 struct sy_parsed *p, enum sy_counter *reason)
{
	const struct sy_ip6_hdr *ip = (const void *)(d + off);
	uint32_t end;
	uint8_t nh;
	int l4;

	if (off + sizeof(*ip) > len || (d[off] >> 4) != 6)
		DROP(SY_C_DROP_IP6_HDR);
	end = off + (uint32_t)sizeof(*ip) + ntoh16(ip->payload_len);
	if (end > len)
		DROP(SY_C_DROP_IP6_HDR);
	nh = ip->nexthdr;
	l4 = skip_ip6_ext(d, off + (uint32_t)sizeof(*ip), end, &nh, &p->is_frag);
	if (l4 < 0)
		DROP(SY_C_DROP_IP6_EXT);
	p->family = SY_AF_INET6;
	p->l3_len = (uint16_t)(end - off);
	p->l4_off = (uint16_t)l4;
	p->proto = nh;
	p->df = 1; /* IPv6 routers never fragment */
	p->key.family = SY_AF_INET6;
	p->key.proto = nh;
	memcpy(p->key.src, ip->saddr, 16);
	memcpy(p->key.dst, ip->daddr, 16);
	if (p->is_frag)
		return SY_V_TX;
	if (nh == SY_IPPROTO_ICMPV6) {
		const uint8_t *icmp = d + l4;

		if ((uint32_t)l4 + 8 > end || !icmp6_is_error(icmp[0]))
			return SY_V_KERNEL; /* NDP, echo: the host's business */
		p->icmp_error = icmp_inner6(d, (uint32_t)l4 + 8, end, p) ? 2 : 1;
		return SY_V_TX;
	}
	if (l4_ports(d, (uint32_t)l4, end, nh, &p->key, &p->tcp_flags))
		DROP(SY_C_DROP_L4_HDR);
	return SY_V_TX;
}

enum sy_verdict sy_lb_parse(const uint8_t *d, uint32_t len, struct sy_parsed *p,
			    enum sy_counter *reason)
{
	uint32_t off = sizeof(struct sy_eth_hdr);
	uint16_t proto;

	memset(p, 0, sizeof(*p));
	if (len < sizeof(struct sy_eth_hdr))
		DROP(SY_C_DROP_RUNT);
	proto = ntoh16(rd16(d + 12));
	for (int tags = 0; proto == SY_ETH_P_8021Q || proto == SY_ETH_P_8021AD; tags++) {
		if (tags == MAX_VLAN_TAGS || off + 4 > len)
			DROP(SY_C_DROP_VLAN);
		proto = ntoh16(rd16(d + off + 2));
		off += 4;
	}
	p->l2_len = (uint16_t)off;
	if (proto == SY_ETH_P_IPV4)
		return parse_ip4(d, off, len, p, reason);
	if (proto == SY_ETH_P_IPV6)
		return parse_ip6(d, off, len, p, reason);
	return SY_V_KERNEL; /* ARP, LLDP, ...: the host's business */
}
