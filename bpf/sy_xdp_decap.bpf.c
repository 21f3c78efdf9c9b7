// SPDX-License-Identifier: BSD-3-Clause
/* Backend-side decapsulation of what sy-dataplane sends (dataplane/lb.c,
 * encapsulate()): ipip (outer IPv4 protocol 4/41, outer IPv6 next header
 * 4/41) and GUE variant 1 (outer IPv4/IPv6 + UDP to the GUE port, the UDP
 * payload being the inner IP packet), outer family independent of the inner
 * one, behind an optional 802.1Q tag (kept).
 *
 * The outer IP (and UDP) header is cut out with bpf_xdp_adjust_head: the
 * Ethernet header (+ tag) is moved forward to the new start with the
 * ethertype of the inner packet, and XDP_PASS hands the inner packet to the
 * stack, which delivers it as if it had arrived bare. Everything else passes
 * untouched (the kernel drops what it does not want) and is counted.
 *
 * Only packets to one of the addresses in allow_dst (when config.check_dst
 * is set) and from one of the addresses in allow_src (when config.check_src
 * is set) are decapsulated: sy-decap sets the flag when it fills the map, so
 * an empty list means "any".
 *
 * ECN (RFC 6040, normal mode): CE on the outer header is copied to an inner
 * header that is ECN-capable (ECT(0)/ECT(1)), as the kernel's own tunnels do;
 * the inner IPv4 checksum is updated. Nothing else of the inner packet
 * changes (TTL / hop limit included).
 *
 * The outer IPv4 header checksum is verified (the kernel's ipip would drop a
 * bad one); the outer UDP checksum is not (the inner packet's own checksums
 * protect it end to end).
 *
 * The counter order and names are repeated in bpf/sy_decap.c and
 * tests/bpf/test_decap.c: keep the three in step.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <switchyard/pkt_hdr.h>

enum sy_decap_counter {
	SY_DECAP_IPIP4,          /* decap_ipip4: outer IPv4, ipip */
	SY_DECAP_IPIP6,          /* decap_ipip6: outer IPv6, ipip */
	SY_DECAP_GUE4,           /* decap_gue4: outer IPv4, GUE */
	SY_DECAP_GUE6,           /* decap_gue6: outer IPv6, GUE */
	SY_PASS_NOT_TUNNEL,      /* pass_not_tunnel: not our encapsulation */
	SY_PASS_NOT_ALLOWED,     /* pass_not_allowed: outer dst/src not listed */
	SY_PASS_MALFORMED,       /* pass_malformed: truncated, bad lengths, ... */
	SY_DECAP_NCOUNTERS,
};

/* config[0]; all zero = defaults (GUE port 6080, no address check). */
struct sy_decap_config {
	__u16 gue_port; /* network order; 0 = SY_GUE_DEFAULT_PORT */
	__u8 check_dst; /* outer destination must be in allow_dst */
	__u8 check_src; /* outer source must be in allow_src */
};

/* Key of allow_dst / allow_src. IPv4: addr[0], the rest 0. */
struct sy_decap_addr {
	__u32 family; /* 4 or 6 */
	__u32 addr[4]; /* network order */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SY_DECAP_NCOUNTERS);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sy_decap_config);
} config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, struct sy_decap_addr);
	__type(value, __u8);
} allow_dst SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, struct sy_decap_addr);
	__type(value, __u8);
} allow_src SEC(".maps");

static __always_inline int count(__u32 idx, int verdict)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &idx);

	if (c)
		*c += 1;
	return verdict;
}

/* A 16-bit length field in host order, bounded for the verifier: Debian
 * 12's kernel (6.1) knows nothing of a byte swap's result, and a packet
 * pointer plus an unbounded scalar is refused there ("math between pkt
 * pointer and register with unbounded min value"; the BPF tests on that
 * kernel: tests/bpf/test_bpf_on_kernel.sh). clang sees the mask as
 * redundant: barrier_var() keeps it. */
static __always_inline __u32 wire_len16(__u16 v)
{
	__u32 x = bpf_ntohs(v);

	barrier_var(x);
	return x & 0xffff;
}

/* One's complement sum of the outer IPv4 header (ihl words, 5..15) must be
 * 0xffff. */
static __always_inline int ip4_csum_ok(const __u32 *w, __u32 ihl, const void *data_end)
{
	__u64 sum = 0;

	for (__u32 i = 0; i < 15; i++) {
		const __u32 *p = w + i;

		if (i >= ihl)
			break;
		/* keep clang from rewriting the bounds check into arithmetic
		 * on data_end, which the verifier refuses */
		asm volatile("" : "+r"(p));
		if ((const void *)(p + 1) > data_end)
			return 0;
		sum += *p;
	}
	sum = (sum & 0xffffffff) + (sum >> 32);
	sum = (sum & 0xffffffff) + (sum >> 32);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return sum == 0xffff;
}

#define ECN_CE 3

/* RFC 6040: outer CE onto an ECN-capable inner header. inner is a checked
 * pointer to the inner header (20 / 40 bytes available). */
static __always_inline void ecn_decap(__u8 outer_ecn, __u8 *inner, int inner_v4)
{
	if (outer_ecn != ECN_CE)
		return;
	if (inner_v4) {
		struct sy_ip4_hdr *ip = (struct sy_ip4_hdr *)inner;
		__u16 old, new;
		__u32 sum;

		if (!(ip->tos & 3) || (ip->tos & 3) == ECN_CE)
			return;
		old = *(__u16 *)inner; /* ver_ihl, tos: one checksum word */
		ip->tos |= ECN_CE;
		new = *(__u16 *)inner;
		/* RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m') */
		sum = (__u16)~ip->csum + (__u16)~old + new;
		sum = (sum & 0xffff) + (sum >> 16);
		sum = (sum & 0xffff) + (sum >> 16);
		ip->csum = (__u16)~sum;
	} else {
		/* traffic class = low nibble of byte 0, high nibble of byte 1;
		 * ECN = its low 2 bits = bits 5..4 of byte 1 */
		__u8 ecn = (inner[1] >> 4) & 3;

		if (!ecn || ecn == ECN_CE)
			return;
		inner[1] |= ECN_CE << 4;
	}
}

/* Cut `strip` bytes after the l2_len bytes of L2 header: the L2 header is
 * saved, the head moved, the header written back in front of the inner
 * packet with its ethertype, and outer CE applied to the inner header.
 * l2_len is a constant (14 or 18) once inlined. */
static __always_inline int move_l2(struct xdp_md *ctx, __u32 strip, const __u32 l2_len,
				   int inner_v4, __u8 outer_ecn)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u8 l2[sizeof(struct sy_eth_hdr) + sizeof(struct sy_vlan_hdr)];
	__u16 et = inner_v4 ? bpf_htons(SY_ETH_P_IPV4) : bpf_htons(SY_ETH_P_IPV6);
	__u8 *inner;

	if (data + l2_len > data_end)
		return -1;
	__builtin_memcpy(l2, data, l2_len);
	__builtin_memcpy(l2 + l2_len - 2, &et, 2);
	if (bpf_xdp_adjust_head(ctx, (int)strip))
		return -1;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	inner = data + l2_len;
	/* the caller checked the inner header; the verifier wants it again */
	if ((void *)inner + (inner_v4 ? sizeof(struct sy_ip4_hdr) : sizeof(struct sy_ip6_hdr)) >
	    data_end)
		return -1;
	__builtin_memcpy(data, l2, l2_len);
	ecn_decap(outer_ecn, inner, inner_v4);
	return 0;
}

SEC("xdp")
int sy_xdp_decap(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct sy_eth_hdr *eth = data;
	struct sy_vlan_hdr *vlan = NULL;
	const struct sy_decap_config *cfg;
	struct sy_decap_addr skey = {}, dkey = {}; /* outer source, destination */
	__u32 zero = 0, strip, avail, inner_avail, ctr;
	__u16 proto, gue_port;
	__u8 l4proto, outer_ecn;
	__u8 *l3, *l4, *inner;
	int gue = 0, inner_v4;

	if ((void *)(eth + 1) > data_end)
		return count(SY_PASS_MALFORMED, XDP_PASS);
	proto = eth->proto;
	l3 = (__u8 *)(eth + 1);
	if (proto == bpf_htons(SY_ETH_P_8021Q)) {
		vlan = (struct sy_vlan_hdr *)l3;
		if ((void *)(vlan + 1) > data_end)
			return count(SY_PASS_MALFORMED, XDP_PASS);
		proto = vlan->proto;
		l3 = (__u8 *)(vlan + 1);
	}

	cfg = bpf_map_lookup_elem(&config, &zero);
	if (!cfg)
		return XDP_PASS; /* cannot happen: an array has its entry */
	gue_port = cfg->gue_port ? cfg->gue_port : bpf_htons(SY_GUE_DEFAULT_PORT);

	/* ---- outer IP header: l4, l4proto, addresses, bytes after it ---- */
	if (proto == bpf_htons(SY_ETH_P_IPV4)) {
		struct sy_ip4_hdr *ip = (struct sy_ip4_hdr *)l3;
		__u32 ihl, tot;
		__u16 frag;

		if ((void *)(ip + 1) > data_end)
			return count(SY_PASS_MALFORMED, XDP_PASS);
		l4proto = ip->proto;
		if (l4proto != SY_IPPROTO_IPIP && l4proto != SY_IPPROTO_IPV6 &&
		    l4proto != SY_IPPROTO_UDP)
			return count(SY_PASS_NOT_TUNNEL, XDP_PASS);
		ihl = ip->ver_ihl & 0x0f;
		tot = wire_len16(ip->tot_len);
		if ((ip->ver_ihl >> 4) != 4 || ihl < 5 || tot < ihl * 4 ||
		    (void *)l3 + tot > data_end)
			return count(SY_PASS_MALFORMED, XDP_PASS);
		frag = ip->frag_off & bpf_htons(SY_IP4_MF | SY_IP4_OFFMASK);
		if (frag) {
			/* A fragment of a UDP datagram to another port, or a
			 * later fragment that has no port: not ours to judge.
			 * A fragmented tunnel packet: we cannot decapsulate it
			 * (nor could the kernel without reassembly). */
			if (l4proto == SY_IPPROTO_UDP &&
			    (frag & bpf_htons(SY_IP4_OFFMASK)))
				return count(SY_PASS_NOT_TUNNEL, XDP_PASS);
			if (l4proto == SY_IPPROTO_UDP) {
				struct sy_udp_hdr *u = (void *)l3 + ihl * 4;

				if ((void *)(u + 1) > data_end || u->dport != gue_port)
					return count(SY_PASS_NOT_TUNNEL, XDP_PASS);
			}
			return count(SY_PASS_MALFORMED, XDP_PASS);
		}
		skey.family = dkey.family = 4;
		__builtin_memcpy(skey.addr, l3 + 12, 4);
		__builtin_memcpy(dkey.addr, l3 + 16, 4);
		outer_ecn = ip->tos & 3;
		l4 = l3 + ihl * 4;
		avail = tot - ihl * 4;
		if (!ip4_csum_ok((const __u32 *)l3, ihl, data_end))
			return count(SY_PASS_MALFORMED, XDP_PASS);
	} else if (proto == bpf_htons(SY_ETH_P_IPV6)) {
		struct sy_ip6_hdr *ip6 = (struct sy_ip6_hdr *)l3;
		__u32 plen;

		if ((void *)(ip6 + 1) > data_end)
			return count(SY_PASS_MALFORMED, XDP_PASS);
		/* extension headers (we never send any) included: not ours */
		l4proto = ip6->nexthdr;
		if (l4proto != SY_IPPROTO_IPIP && l4proto != SY_IPPROTO_IPV6 &&
		    l4proto != SY_IPPROTO_UDP)
			return count(SY_PASS_NOT_TUNNEL, XDP_PASS);
		plen = wire_len16(ip6->payload_len);
		if ((l3[0] >> 4) != 6 || (void *)(ip6 + 1) + plen > data_end)
			return count(SY_PASS_MALFORMED, XDP_PASS);
		skey.family = dkey.family = 6;
		__builtin_memcpy(skey.addr, l3 + 8, 16);
		__builtin_memcpy(dkey.addr, l3 + 24, 16);
		outer_ecn = (l3[1] >> 4) & 3;
		l4 = (__u8 *)(ip6 + 1);
		avail = plen;
	} else {
		return count(SY_PASS_NOT_TUNNEL, XDP_PASS);
	}

	/* ---- tunnel type; inner, inner_avail: the inner packet ---- */
	if (l4proto == SY_IPPROTO_UDP) {
		struct sy_udp_hdr *u = (struct sy_udp_hdr *)l4;
		__u32 ulen;

		if ((void *)(u + 1) > data_end || avail < sizeof(*u))
			return count(SY_PASS_MALFORMED, XDP_PASS);
		if (u->dport != gue_port)
			return count(SY_PASS_NOT_TUNNEL, XDP_PASS);
		ulen = wire_len16(u->len);
		if (ulen < sizeof(*u) || ulen > avail)
			return count(SY_PASS_MALFORMED, XDP_PASS);
		inner = (__u8 *)(u + 1);
		if ((void *)(inner + 1) > data_end || ulen == sizeof(*u))
			return count(SY_PASS_MALFORMED, XDP_PASS);
		/* GUE variant 1: the first nibble is the IP version; variant 0
		 * (a GUE header) or anything else is not our encapsulation */
		if ((inner[0] >> 4) != 4 && (inner[0] >> 4) != 6)
			return count(SY_PASS_NOT_TUNNEL, XDP_PASS);
		inner_v4 = (inner[0] >> 4) == 4;
		inner_avail = ulen - sizeof(*u);
		gue = 1;
	} else {
		inner = l4;
		inner_v4 = l4proto == SY_IPPROTO_IPIP;
		inner_avail = avail;
	}

	if (cfg->check_dst && !bpf_map_lookup_elem(&allow_dst, &dkey))
		return count(SY_PASS_NOT_ALLOWED, XDP_PASS);
	if (cfg->check_src && !bpf_map_lookup_elem(&allow_src, &skey))
		return count(SY_PASS_NOT_ALLOWED, XDP_PASS);

	/* ---- the inner header must be complete, and fit in the outer ---- */
	if (inner_v4) {
		struct sy_ip4_hdr *in = (struct sy_ip4_hdr *)inner;
		__u32 tot;

		if ((void *)(in + 1) > data_end)
			return count(SY_PASS_MALFORMED, XDP_PASS);
		tot = wire_len16(in->tot_len);
		if ((in->ver_ihl >> 4) != 4 || (in->ver_ihl & 0x0f) < 5 ||
		    tot < (__u32)(in->ver_ihl & 0x0f) * 4 || tot > inner_avail)
			return count(SY_PASS_MALFORMED, XDP_PASS);
	} else {
		struct sy_ip6_hdr *in6 = (struct sy_ip6_hdr *)inner;

		if ((void *)(in6 + 1) > data_end)
			return count(SY_PASS_MALFORMED, XDP_PASS);
		if ((inner[0] >> 4) != 6 ||
		    sizeof(*in6) + wire_len16(in6->payload_len) > inner_avail)
			return count(SY_PASS_MALFORMED, XDP_PASS);
	}

	/* ---- cut: move L2 forward over the outer headers ---- */
	strip = inner - l3;
	if (vlan) {
		if (move_l2(ctx, strip, sizeof(struct sy_eth_hdr) + sizeof(struct sy_vlan_hdr),
			    inner_v4, outer_ecn))
			return count(SY_PASS_MALFORMED, XDP_ABORTED);
	} else {
		if (move_l2(ctx, strip, sizeof(struct sy_eth_hdr), inner_v4, outer_ecn))
			return count(SY_PASS_MALFORMED, XDP_ABORTED);
	}

	if (gue)
		ctr = dkey.family == 4 ? SY_DECAP_GUE4 : SY_DECAP_GUE6;
	else
		ctr = dkey.family == 4 ? SY_DECAP_IPIP4 : SY_DECAP_IPIP6;
	return count(ctr, XDP_PASS);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
