/* SPDX-License-Identifier: BSD-3-Clause */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <switchyard/pkt_hdr.h>

#include "flows.h"

static const uint8_t port_mac[6] = SY_TEST_PORT_MAC;
static const uint8_t client_mac[6] = { 0x02, 0, 0, 0xaa, 0, 0x01 };

/* One's complement sum of 16-bit big-endian words. */
static uint32_t sum16(const void *d, uint32_t n, uint32_t s)
{
	const uint8_t *p = d;

	for (; n > 1; n -= 2, p += 2)
		s += (uint32_t)p[0] << 8 | p[1];
	if (n)
		s += (uint32_t)p[0] << 8;
	return s;
}

static uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return htons((uint16_t)~s);
}

static uint32_t put_eth(uint8_t *o, uint8_t family)
{
	uint16_t et = htons(family == SY_AF_INET ? SY_ETH_P_IPV4 : SY_ETH_P_IPV6);

	memcpy(o, port_mac, 6);
	memcpy(o + 6, client_mac, 6);
	memcpy(o + 12, &et, 2);
	return 14;
}

/* IP header of payload bytes from src to dst; returns its length. */
static uint32_t put_ip(uint8_t *o, uint8_t family, const uint32_t *src, const uint32_t *dst,
		       uint8_t proto, uint32_t payload)
{
	if (family == SY_AF_INET) {
		struct sy_ip4_hdr ip = { .ver_ihl = 0x45, .tot_len = htons((uint16_t)(20 + payload)),
					 .frag_off = htons(SY_IP4_DF), .ttl = 64, .proto = proto,
					 .saddr = src[0], .daddr = dst[0] };

		ip.csum = fold(sum16(&ip, 20, 0));
		memcpy(o, &ip, 20);
		return 20;
	}
	struct sy_ip6_hdr ip = { .ver_tc_flow = htonl(6u << 28), .payload_len = htons((uint16_t)payload),
				 .nexthdr = proto, .hop_limit = 64 };

	memcpy(ip.saddr, src, 16);
	memcpy(ip.daddr, dst, 16);
	memcpy(o, &ip, 40);
	return 40;
}

/* Pseudo-header sum of an upper-layer checksum. */
static uint32_t pseudo(uint8_t family, const uint32_t *src, const uint32_t *dst, uint8_t proto,
		       uint32_t len)
{
	uint32_t n = family == SY_AF_INET ? 4 : 16;

	return sum16(dst, n, sum16(src, n, 0)) + proto + len;
}

/* TCP/UDP header (and zero payload) of len bytes from sport to dport. */
static void put_l4(uint8_t *o, uint8_t proto, uint16_t sport, uint16_t dport, uint8_t flags,
		   uint32_t len)
{
	memset(o, 0, len);
	if (proto == SY_IPPROTO_TCP) {
		struct sy_tcp_hdr t = { .sport = htons(sport), .dport = htons(dport),
					.doff_res = 5 << 4, .flags = flags, .window = htons(512) };

		memcpy(o, &t, sizeof(t));
	} else {
		struct sy_udp_hdr u = { .sport = htons(sport), .dport = htons(dport),
					.len = htons((uint16_t)len) };

		memcpy(o, &u, sizeof(u));
	}
}

struct sy_flow_key sy_test_flow_key(const struct sy_test_flow *f)
{
	struct sy_flow_key k = { .family = f->family, .proto = f->proto,
				 .sport = htons(f->sport), .dport = htons(f->dport) };

	memcpy(k.src, f->client, f->family == SY_AF_INET ? 4 : 16);
	memcpy(k.dst, f->vip, f->family == SY_AF_INET ? 4 : 16);
	return k;
}

uint32_t sy_test_frame(uint8_t *out, const struct sy_test_flow *f, uint8_t tcp_flags,
		       uint32_t l3_len)
{
	uint32_t o = put_eth(out, f->family), iph = f->family == SY_AF_INET ? 20 : 40;
	uint32_t l4 = l3_len - iph;
	uint16_t c;

	put_ip(out + o, f->family, f->client, f->vip, f->proto, l4);
	put_l4(out + o + iph, f->proto, f->sport, f->dport, tcp_flags, l4);
	c = fold(sum16(out + o + iph, l4, pseudo(f->family, f->client, f->vip, f->proto, l4)));
	memcpy(out + o + iph + (f->proto == SY_IPPROTO_TCP ? 16 : 6), &c, 2);
	return o + l3_len;
}

uint32_t sy_test_icmp_too_big(uint8_t *out, const struct sy_test_flow *f, uint16_t mtu)
{
	static const uint32_t router4[4] = { 0x01fe13c6 }; /* 198.19.254.1 */
	static const uint32_t router6[4] = { 0x02000120, 0x0000fe00, 0, 0x01000000 };
	const uint32_t *router = f->family == SY_AF_INET ? router4 : router6;
	uint32_t o = put_eth(out, f->family), iph = f->family == SY_AF_INET ? 20 : 40;
	uint32_t quote = iph + 8, icmp_len = 8 + quote, at;
	uint8_t icmp_proto = f->family == SY_AF_INET ? SY_IPPROTO_ICMP : SY_IPPROTO_ICMPV6;
	uint8_t *icmp;
	uint16_t c;

	o += put_ip(out + o, f->family, router, f->vip, icmp_proto, icmp_len);
	icmp = out + o;
	memset(icmp, 0, 8);
	if (f->family == SY_AF_INET) {
		icmp[0] = SY_ICMP_DEST_UNREACH;
		icmp[1] = SY_ICMP_FRAG_NEEDED;
		icmp[6] = (uint8_t)(mtu >> 8);
		icmp[7] = (uint8_t)mtu;
	} else {
		icmp[0] = SY_ICMP6_PKT_TOO_BIG;
		icmp[6] = (uint8_t)(mtu >> 8);
		icmp[7] = (uint8_t)mtu;
	}
	/* the quote: the VIP -> client packet, as the router saw it (a full
	 * MTU's worth in its length field, 8 bytes of its L4 header here) */
	at = o + 8;
	put_ip(out + at, f->family, f->vip, f->client, f->proto, 1400);
	put_l4(out + at + iph, f->proto, f->dport, f->sport, SY_TCP_ACK, 8);
	c = fold(sum16(icmp, icmp_len,
		       f->family == SY_AF_INET ? 0
					       : pseudo(f->family, router, f->vip, icmp_proto, icmp_len)));
	memcpy(icmp + 2, &c, 2);
	return o + icmp_len;
}

/* An address in wire order from its text. */
static void addr(const char *text, uint32_t out[4])
{
	memset(out, 0, 16);
	inet_pton(strchr(text, ':') ? AF_INET6 : AF_INET, text, out);
}

/* Backend n (1..) of web4 or web6. */
static struct sy_backend_spec web_backend(uint32_t n, bool v6)
{
	struct sy_backend_spec b = { .weight = 1,
				     .mac = { 0x02, 0, 0, 0, v6 ? 0x16 : 0x10, (uint8_t)n } };
	char a[64];

	snprintf(a, sizeof(a), v6 ? "2001:2::10:%x" : "198.18.10.%u", n);
	b.id.family = v6 ? SY_AF_INET6 : SY_AF_INET;
	addr(a, b.id.addr);
	b.id.port = v6 ? 443 : 80;
	return b;
}

int sy_test_publish_web(struct sy_writer *w, uint32_t n4, uint32_t n6, char *err, size_t errlen)
{
	struct sy_backend_spec b4[16], b6[16];
	struct sy_service_spec s4 = { .name = "web4", .fwd_mode = SY_FWD_IPIP, .hash_seed = 7,
				      .table_size = 1021, .n_backends = n4, .backends = b4 };
	struct sy_service_spec s6 = { .name = "web6", .fwd_mode = SY_FWD_IPIP, .hash_seed = 7,
				      .table_size = 1021, .n_backends = n6, .backends = b6 };
	uint32_t tmp[4];

	if (n4 > 16 || n6 > 16) {
		snprintf(err, errlen, "at most 16 backends a service");
		return -1;
	}
	for (uint32_t i = 0; i < n4; i++)
		b4[i] = web_backend(i + 1, false);
	for (uint32_t i = 0; i < n6; i++)
		b6[i] = web_backend(i + 1, true);
	s4.vip = (struct sy_vip_key){ .family = SY_AF_INET, .proto = SY_IPPROTO_TCP,
				      .port = htons(80) };
	addr("198.18.100.9", s4.vip.addr);
	addr("198.18.0.1", tmp);
	s4.encap_src4 = tmp[0];
	s6.vip = (struct sy_vip_key){ .family = SY_AF_INET6, .proto = SY_IPPROTO_TCP,
				      .port = htons(443) };
	addr("2001:2::100", s6.vip.addr);
	addr("2001:2::1", s6.encap_src6);
	if (sy_writer_set_service(w, &s4, err, errlen) || sy_writer_set_service(w, &s6, err, errlen))
		return -1;
	return sy_writer_commit(w, NULL, err, errlen);
}

struct sy_test_flow sy_test_web_flow(uint32_t i, bool v6)
{
	struct sy_test_flow f = { .proto = SY_IPPROTO_TCP, .sport = (uint16_t)(30000 + i) };
	char a[64];

	if (v6) {
		f.family = SY_AF_INET6;
		snprintf(a, sizeof(a), "2001:2:0:1::%x", i + 1);
		addr(a, f.client);
		addr("2001:2::100", f.vip);
		f.dport = 443;
	} else {
		f.family = SY_AF_INET;
		snprintf(a, sizeof(a), "198.19.%u.%u", (i / 250) & 0xff, i % 250 + 1);
		addr(a, f.client);
		addr("198.18.100.9", f.vip);
		f.dport = 80;
	}
	return f;
}

uint32_t sy_test_web_maglev(const uint8_t *base, const struct sy_snapshot *snap, uint32_t i,
			    bool v6)
{
	struct sy_test_flow f = sy_test_web_flow(i, v6);
	struct sy_flow_key k = sy_test_flow_key(&f);
	struct sy_vip_key vk = { .family = k.family, .proto = k.proto, .port = k.dport };
	const struct sy_service *s;
	uint32_t idx;

	memcpy(vk.addr, k.dst, sizeof(vk.addr));
	s = sy_snapshot_match(base, snap, &vk);
	if (!s)
		return 0;
	idx = sy_service_pick(base, s, sy_flow_hash(&k, s->hash_seed));
	return idx == SY_MAGLEV_NONE ? 0 : sy_service_backends(base, s)[idx].mac[5];
}
