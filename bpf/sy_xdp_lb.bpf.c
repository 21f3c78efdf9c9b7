// SPDX-License-Identifier: BSD-3-Clause
/* The XDP fallback path: the load balancer of sy-dataplane (dataplane/lb.c)
 * as one XDP program, with the same behaviour packet for packet. The
 * classification is the shared packet core's (switchyard/pkt_parse.h, the
 * very code sy-dataplane runs); what follows it is this program's:
 *
 *   - the same classification and drop reasons (Ethernet, up to two VLAN
 *     tags, IPv4 with options, IPv6 with up to 8 extension headers incl. AH,
 *     TCP, UDP, ICMP errors about a flow, fragments);
 *   - the same VIP lookup (exact service, then the all-ports one; "address
 *     entries" SY_VIP_ADDR_KEY for fragments and "is this a VIP address"),
 *     through one lookup of the destination address first (sy_vip_addrs):
 *     the host's own traffic costs one lookup, and so does a VIP address
 *     with one service per protocol;
 *   - the same backend for a flow: Maglev table[flow_hash % M] with THE flow
 *     hash of include/switchyard/flow_hash.h, and connection tracking that
 *     keeps a flow on its backend while the backend is in the service;
 *   - the same output bytes (ipip / gue / l2dsr, ICMP frag-needed and
 *     packet-too-big answers, Ethernet padding trimmed);
 *   - the same counters (indices of include/switchyard/counters.h) in a
 *     per-CPU array, plus per-VIP and per-backend per-CPU stats.
 *
 * Verdicts: tx -> XDP_TX (or bpf_redirect to sy_config.tx_ifindex), kernel
 * -> XDP_PASS, drop -> XDP_DROP. Until sy_config[0].configured is set the
 * program passes everything and counts nothing.
 *
 * Maps: include/switchyard/xdp_maps.h (the contract with bpf/xdp_lb.c).
 *
 * Differences from the DPDK path that cannot be avoided:
 *   - Conntrack is an LRU hash per CPU (sy_conntrack[cpu]): the kernel
 *     evicts the least recently used flow when it is full, and does not tell
 *     us, so ct_evictions stays 0. A flow whose entry expired and is
 *     replaced counts ct_expired, as on the DPDK path. Expiry is in
 *     CLOCK_MONOTONIC_COARSE nanoseconds (ct_now()).
 *   - Frames are linear (the program is not frags-aware); a frame longer than
 *     SY_FRAME_OFF_MAX cannot reach XDP without frags and goes to the kernel.
 *
 * Verifier notes: the classification (sy_parse_frame), the IPv6 extension
 * header walk (sy_parse_ip6_ext) and the checksum of a packet range are global functions, each
 * verified once on its own, so that their paths do not multiply the main
 * program's. Offsets into the packet are scalars bounded by SY_FRAME_OFF_MAX and
 * turned into pointers by sy_frame_at(), which checks them against data_end.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include <switchyard/counters.h>
#include <switchyard/flow_hash.h>
#include <switchyard/icmp_error.h>
#include <switchyard/pkt_hdr.h>
#include <switchyard/pkt_parse.h>
#include <switchyard/xdp_maps.h>

#define SY_MTU_DROP 1 /* enum sy_mtu_action (dataplane/lb.h) */

_Static_assert(SY_C__COUNT <= SY_LCORE_NCOUNTERS, "counter indices fit the map");

/* Conntrack timeouts when sy_config leaves them 0 (conntrack.h defaults). */
#define CT_TCP_MS 900000u
#define CT_TCP_FIN_MS 10000u
#define CT_UDP_MS 300000u

/* ---- Maps (include/switchyard/xdp_maps.h) ---------------------------------- */

struct sy_table_inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1); /* a template: inner maps have table_size entries */
	__uint(map_flags, BPF_F_INNER_MAP);
	__type(key, __u32);
	__type(value, __u64); /* backend ref (slot and uid: sy_xdp_ref()), 0 = none */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SY_XDP_MAX_VIP_KEYS);
	__type(key, struct sy_vip_key);
	__type(value, struct sy_xdp_service);
} sy_vips SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SY_XDP_MAX_SERVICES); /* addresses <= services */
	__type(key, struct sy_xdp_addr_key);
	__type(value, struct sy_xdp_vip_addr);
} sy_vip_addrs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, SY_XDP_MAX_SERVICES);
	__type(key, __u32);
	__array(values, struct sy_table_inner);
} sy_tables SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SY_XDP_MAX_BACKENDS);
	__type(key, __u64);
	__type(value, struct sy_xdp_backend);
} sy_backends SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SY_XDP_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct sy_xdp_backend);
} sy_be_slots SEC(".maps");

/* Each CPU's connection table (bpf/xdp_lb.c creates one per possible CPU,
 * --xdp-ct-flows entries each). */
struct sy_ct_table {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1); /* a template: the tables are created by userspace */
	/* sizes, not BTF types: clang emits an inner map's value type as a
	 * forward declaration, which libbpf cannot size */
	__uint(key_size, sizeof(struct sy_flow_key));
	__uint(value_size, sizeof(struct sy_xdp_ct));
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1); /* set to the number of possible CPUs */
	__type(key, __u32);
	__array(values, struct sy_ct_table);
} sy_conntrack SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sy_xdp_config);
} sy_config SEC(".maps");

/* The ICMP error rate limit's token bucket, per CPU (not pinned: a new
 * program starts with a full bucket). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sy_icmp_bucket);
} sy_icmp_bucket SEC(".maps");

/* Every counter of a CPU in one block (bpf/xdp_lb.c sets max_entries to the
 * number of possible CPUs and reads the blocks through a mapping). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1); /* set to the number of possible CPUs */
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct sy_xdp_cpu_stats);
} sy_stats SEC(".maps");

/* ---- Small helpers ---------------------------------------------------------- */

/* Indices into the counter block are checked, then masked: the mask keeps
 * the verifier sure of the bound whatever order the compiler emits. */
_Static_assert((SY_LCORE_NCOUNTERS & (SY_LCORE_NCOUNTERS - 1)) == 0 &&
		       (SY_XDP_MAX_SERVICES & (SY_XDP_MAX_SERVICES - 1)) == 0 &&
		       (SY_XDP_MAX_BACKENDS & (SY_XDP_MAX_BACKENDS - 1)) == 0,
	       "counter block dimensions are powers of two");

/* This CPU's counters (NULL only beyond the possible CPUs). */
static __always_inline struct sy_xdp_cpu_stats *cpu_stats(void)
{
	__u32 cpu = bpf_get_smp_processor_id();

	return bpf_map_lookup_elem(&sy_stats, &cpu);
}

static __always_inline void count_n(__u32 idx, __u64 n)
{
	struct sy_xdp_cpu_stats *st = cpu_stats();

	if (st && idx < SY_LCORE_NCOUNTERS)
		st->counters[idx & (SY_LCORE_NCOUNTERS - 1)] += n;
}

/* The per-VIP counters of a service slot, NULL if out of range. */
static __always_inline struct sy_vip_counters *vip_stats(struct sy_xdp_cpu_stats *st, __u32 slot)
{
	return st && slot < SY_XDP_MAX_SERVICES ? &st->vips[slot & (SY_XDP_MAX_SERVICES - 1)] : NULL;
}

static __always_inline void count(__u32 idx)
{
	count_n(idx, 1);
}


static __always_inline __u16 fold16(__u64 s)
{
	s = (s & 0xffffffff) + (s >> 32);
	s = (s & 0xffffffff) + (s >> 32);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)s;
}

/* ---- Checksums ----------------------------------------------------------------- */

#define CSUM_CHUNK(k)                                                          \
	do {                                                                   \
		if (len & (k)) {                                               \
			o &= SY_FRAME_OFF_MAX;                                      \
			q = sy_frame_at(ctx, o, (k));                               \
			if (!q)                                                \
				return -1;                                     \
			s = bpf_csum_diff(NULL, 0, q, (k), (__u32)s);          \
			if (s < 0)                                             \
				return -1;                                     \
			o += (k);                                              \
		}                                                              \
	} while (0)

/* One's complement sum (folded to 16 bits, not inverted) of len bytes of the
 * frame at off, seeded with seed (e.g. a pseudo-header sum), or -1. The sum
 * is in memory order like sy_csum_partial(): an odd last byte counts as if
 * followed by a zero. bpf_csum_diff in chunks of constant size (512, then the
 * binary digits of the rest): every size is known to the verifier. */
__noinline int sy_xdp_csum(struct xdp_md *ctx, __u32 off, __u32 len, __u32 seed)
{
	__s64 s = seed;
	__u32 o = off, tail = 0;
	void *q;

	if (!ctx || off > SY_FRAME_OFF_MAX || len > 8 * 512)
		return -1;
	for (int i = 0; i < 8; i++) {
		if (len < 512)
			break;
		o &= SY_FRAME_OFF_MAX;
		q = sy_frame_at(ctx, o, 512);
		if (!q)
			return -1;
		s = bpf_csum_diff(NULL, 0, q, 512, (__u32)s);
		if (s < 0)
			return -1;
		o += 512;
		len -= 512;
	}
	CSUM_CHUNK(256);
	CSUM_CHUNK(128);
	CSUM_CHUNK(64);
	CSUM_CHUNK(32);
	CSUM_CHUNK(16);
	CSUM_CHUNK(8);
	CSUM_CHUNK(4);
	o &= SY_FRAME_OFF_MAX;
	if (len & 2) {
		const __u8 *b = sy_frame_at(ctx, o, 2);

		if (!b)
			return -1;
		tail = (__u32)b[0] | (__u32)b[1] << 8;
		o += 2;
	}
	if (len & 1) {
		const __u8 *b = sy_frame_at(ctx, o & SY_FRAME_OFF_MAX, 1);

		if (!b)
			return -1;
		/* memory order, zero-padded: the byte's place in its 32-bit word */
		tail |= (__u32)b[0] << ((len & 2) ? 16 : 0);
	}
	return fold16((__u64)(__u32)s + tail);
}

/* IPv4 header checksum of a 20-byte header (csum field 0). */
static __always_inline __u16 ip4_hdr_csum(const struct sy_ip4_hdr *ip)
{
	const __u32 *w = (const __u32 *)ip;

	return (__u16)~fold16((__u64)w[0] + w[1] + w[2] + w[3] + w[4]);
}

/* Pseudo-header sum (memory order) of an IPv6 upper-layer checksum. */
static __always_inline __u32 pseudo6(const __u32 *src, const __u32 *dst, __u32 len,
				     __u8 proto)
{
	__u64 s = 0;

	for (int i = 0; i < 4; i++)
		s += (__u64)src[i] + dst[i];
	s += bpf_htons((__u16)(len >> 16)) + bpf_htons((__u16)len) + bpf_htons(proto);
	return fold16(s);
}

/* ---- Building headers (dataplane/lb.c) ------------------------------------------ */

static __always_inline void make_ip4(struct sy_ip4_hdr *ip, __u32 saddr, __u32 daddr,
				     __u8 proto, __u32 payload, __u8 tos, int df)
{
	ip->ver_ihl = 0x45;
	ip->tos = tos;
	ip->tot_len = bpf_htons((__u16)(sizeof(*ip) + payload));
	ip->id = 0;
	ip->frag_off = df ? bpf_htons(SY_IP4_DF) : 0;
	ip->ttl = 64;
	ip->proto = proto;
	ip->csum = 0;
	ip->saddr = saddr;
	ip->daddr = daddr;
	ip->csum = ip4_hdr_csum(ip);
}

static __always_inline void make_ip6(struct sy_ip6_hdr *ip, const __u32 *saddr,
				     const __u32 *daddr, __u8 proto, __u32 payload, __u8 tc,
				     __u32 flow)
{
	ip->ver_tc_flow = bpf_htonl(6u << 28 | (__u32)tc << 20 | (flow & 0xfffff));
	ip->payload_len = bpf_htons((__u16)payload);
	ip->nexthdr = proto;
	ip->hop_limit = 64;
	__builtin_memcpy(ip->saddr, saddr, 16);
	__builtin_memcpy(ip->daddr, daddr, 16);
}

/* The Ethernet header of the output: MACs, the input's VLAN tags (saved in
 * tags[8] before the head moved) and the innermost ethertype at l2 - 2.
 * Always 8 bytes of tags (one fixed-size copy whatever the tag count): with
 * fewer tags the bytes up to offset 20 are garbage, so call this before
 * writing what follows the L2 header. */
static __always_inline int write_l2(struct xdp_md *ctx, __u32 l2, const __u8 *dst,
				    const __u8 *src, const __u8 *tags, __u16 ethertype)
{
	__u8 *eth = sy_frame_at(ctx, 0, 20);
	__u16 *et;

	if (!eth)
		return -1;
	__builtin_memcpy(eth, dst, 6);
	__builtin_memcpy(eth + 6, src, 6);
	if (tags)
		__builtin_memcpy(eth + 12, tags, 8);
	et = sy_frame_at(ctx, l2 - 2, 2);
	if (!et)
		return -1;
	*et = bpf_htons(ethertype);
	return 0;
}

/* Traffic class of the inner packet (IPv4 TOS or IPv6 TC). */
static __always_inline int inner_tc(struct xdp_md *ctx, const struct sy_parsed *p)
{
	const __u8 *l3 = sy_frame_at(ctx, p->l2_len, 2);

	if (!l3)
		return -1;
	if (p->family == SY_AF_INET)
		return l3[1];
	return (l3[0] & 0x0f) << 4 | l3[1] >> 4;
}

static __always_inline __u32 encap_overhead(const struct sy_xdp_service *s,
					    const struct sy_xdp_backend *b)
{
	__u32 ip = b->family == SY_AF_INET ? 20 : 40;

	return s->fwd_mode == SY_FWD_GUE ? ip + 8 : ip;
}

/* Wrap the L3 packet in IP (ipip) or IP + UDP (gue variant 1), the outer
 * family being the backend's. */
static __always_inline int encapsulate(struct xdp_md *ctx, const struct sy_xdp_config *cfg,
				       const struct sy_parsed *p,
				       const struct sy_xdp_service *s,
				       const struct sy_xdp_backend *b, __u32 hash)
{
	__u32 extra = encap_overhead(s, b), l2 = p->l2_len, inner = p->l3_len;
	__u8 proto = p->family == SY_AF_INET ? SY_IPPROTO_IPIP : SY_IPPROTO_IPV6;
	int gue = s->fwd_mode == SY_FWD_GUE, outer4 = b->family == SY_AF_INET, tc;
	__u8 tags[8], port_mac[6];
	const __u8 *t;

	if (outer4 ? !s->encap_src4
		   : !(s->encap_src6[0] | s->encap_src6[1] | s->encap_src6[2] |
		       s->encap_src6[3])) {
		count(SY_C_DROP_FAMILY);
		return SY_V_DROP;
	}
	tc = inner_tc(ctx, p);
	t = sy_frame_at(ctx, 12, 8);
	if (tc < 0 || !t)
		goto no_room;
	__builtin_memcpy(tags, t, 8);
	__builtin_memcpy(port_mac, cfg->port_mac, 6);
	if (bpf_xdp_adjust_head(ctx, -(int)extra))
		goto no_room;
	if (write_l2(ctx, l2, b->mac, port_mac, tags, outer4 ? SY_ETH_P_IPV4 : SY_ETH_P_IPV6))
		goto no_room;
	if (gue)
		proto = SY_IPPROTO_UDP;
	if (outer4) {
		struct sy_ip4_hdr ip;
		void *o = sy_frame_at(ctx, l2, sizeof(ip));

		if (!o)
			goto no_room;
		/* outer DF always, ID 0 (an atomic datagram, RFC 6864) */
		make_ip4(&ip, s->encap_src4, b->addr[0], proto, extra - 20 + inner, (__u8)tc, 1);
		__builtin_memcpy(o, &ip, sizeof(ip));
	} else {
		struct sy_ip6_hdr ip;
		void *o = sy_frame_at(ctx, l2, sizeof(ip));

		if (!o)
			goto no_room;
		make_ip6(&ip, s->encap_src6, b->addr, proto, extra - 40 + inner, (__u8)tc, hash);
		__builtin_memcpy(o, &ip, sizeof(ip));
	}
	if (gue) {
		struct sy_udp_hdr u = {
			/* source port carries flow entropy for ECMP/RSS beyond us */
			.sport = bpf_htons((__u16)(0xc000 | (hash & 0x3fff))),
			.dport = s->gue_port ? s->gue_port : bpf_htons(SY_GUE_DEFAULT_PORT),
			.len = bpf_htons((__u16)(8 + inner)),
		};
		struct sy_udp_hdr *o = sy_frame_at(ctx, l2 + extra - 8, sizeof(u));

		if (!o)
			goto no_room;
		__builtin_memcpy(o, &u, sizeof(u));
		if (!outer4) {
			/* mandatory over IPv6 (RFC 8200); 0 over IPv4 */
			int sum = sy_xdp_csum(ctx, l2 + 40, 8 + inner,
					      pseudo6(s->encap_src6, b->addr, 8 + inner,
						      SY_IPPROTO_UDP));
			__u16 c;

			o = sy_frame_at(ctx, l2 + 40, sizeof(u));
			if (sum < 0 || !o)
				goto no_room;
			c = (__u16)~sum;
			o->csum = c ? c : 0xffff;
		}
	}
	return SY_V_TX;
no_room:
	count(SY_C_DROP_NO_ROOM);
	return SY_V_DROP;
}

/* Frag-needed (IPv4 with DF) or packet-too-big (IPv6) to the client, from
 * the VIP, quoting the start of the packet (lb.c too_big()). */
static __always_inline int too_big(struct xdp_md *ctx, const struct sy_xdp_config *cfg,
				   const struct sy_parsed *p, __u32 overhead)
{
	__u32 l2 = p->l2_len, mtu = (__u32)cfg->mtu - overhead, hdr, quote, zero = 0;
	__u8 client_mac[6], port_mac[6], tags[8];
	struct sy_icmp_bucket *bucket;
	const __u8 *eth;
	int sum;

	/* never an ICMP error about an ICMP error, nor about a fragment */
	if (cfg->mtu_action == SY_MTU_DROP || p->icmp_error || p->is_frag ||
	    (p->family == SY_AF_INET && !p->df)) {
		count(SY_C_DROP_MTU);
		return SY_V_DROP;
	}
	eth = sy_frame_at(ctx, 0, 20);
	if (!eth)
		goto no_room;
	/* nor to a client that is no single host, nor beyond our rate */
	if (!sy_icmp_error_allowed(p->family, p->key.src, eth)) {
		count(SY_C_ICMP_SUPPRESSED_DEST);
		count(SY_C_DROP_MTU);
		return SY_V_DROP;
	}
	bucket = bpf_map_lookup_elem(&sy_icmp_bucket, &zero);
	if (!bucket || !sy_icmp_bucket_take(bucket, (__u32)(bpf_ktime_get_ns() / 1000000),
					    cfg->icmp_rate, cfg->icmp_burst)) {
		count(SY_C_ICMP_RATE_LIMITED);
		count(SY_C_DROP_MTU);
		return SY_V_DROP;
	}
	__builtin_memcpy(client_mac, eth + 6, 6);
	__builtin_memcpy(tags, eth + 12, 8);
	__builtin_memcpy(port_mac, cfg->port_mac, 6);
	if (p->family == SY_AF_INET) {
		struct sy_icmp_hdr ic = { .type = SY_ICMP_DEST_UNREACH,
					  .code = SY_ICMP_FRAG_NEEDED,
					  .mtu = bpf_htons((__u16)mtu) };
		struct sy_ip4_hdr ip;
		__u8 *o;

		/* RFC 1812: quote as much as fits in 576 bytes */
		hdr = 20 + 8;
		quote = p->l3_len < 576 - hdr ? p->l3_len : 576 - hdr;
		if (bpf_xdp_adjust_head(ctx, -(int)hdr))
			goto no_room;
		/* first: the 8 bytes of tags it writes overlap the IP header */
		if (write_l2(ctx, l2, client_mac, port_mac, tags, SY_ETH_P_IPV4))
			goto no_room;
		o = sy_frame_at(ctx, l2 + 20, sizeof(ic));
		if (!o)
			goto no_room;
		__builtin_memcpy(o, &ic, sizeof(ic));
		sum = sy_xdp_csum(ctx, l2 + 20, 8 + quote, 0);
		o = sy_frame_at(ctx, l2, sizeof(ip) + sizeof(ic));
		if (sum < 0 || !o)
			goto no_room;
		ic.csum = (__u16)~sum;
		__builtin_memcpy(o + 22, &ic.csum, 2);
		make_ip4(&ip, p->key.dst[0], p->key.src[0], SY_IPPROTO_ICMP, 8 + quote, 0, 0);
		__builtin_memcpy(o, &ip, sizeof(ip));
	} else {
		struct sy_icmp_hdr ic = { .type = SY_ICMP6_PKT_TOO_BIG };
		__u32 mtu_be = bpf_htons((__u16)mtu);
		struct sy_ip6_hdr ip;
		__u8 *o;

		/* RFC 8200: never advertise less than the IPv6 minimum MTU */
		if (mtu < 1280)
			mtu_be = bpf_htons(1280);
		mtu_be <<= 16; /* 32-bit MTU field, value < 65536 */
		__builtin_memcpy(&ic.unused, &mtu_be, 4);
		/* RFC 4443: as much as fits in the minimum IPv6 MTU */
		hdr = 40 + 8;
		quote = p->l3_len < 1280 - hdr ? p->l3_len : 1280 - hdr;
		if (bpf_xdp_adjust_head(ctx, -(int)hdr))
			goto no_room;
		/* first: the 8 bytes of tags it writes overlap the IP header */
		if (write_l2(ctx, l2, client_mac, port_mac, tags, SY_ETH_P_IPV6))
			goto no_room;
		o = sy_frame_at(ctx, l2 + 40, sizeof(ic));
		if (!o)
			goto no_room;
		__builtin_memcpy(o, &ic, sizeof(ic));
		sum = sy_xdp_csum(ctx, l2 + 40, 8 + quote,
				  pseudo6(p->key.dst, p->key.src, 8 + quote, SY_IPPROTO_ICMPV6));
		o = sy_frame_at(ctx, l2, sizeof(ip) + sizeof(ic));
		if (sum < 0 || !o)
			goto no_room;
		ic.csum = (__u16)~sum;
		__builtin_memcpy(o + 42, &ic.csum, 2);
		make_ip6(&ip, p->key.dst, p->key.src, SY_IPPROTO_ICMPV6, 8 + quote, 0, 0);
		__builtin_memcpy(o, &ip, sizeof(ip));
	}
	/* the frame is l2 + hdr + l3_len now: keep the quote */
	if (quote < p->l3_len && bpf_xdp_adjust_tail(ctx, -(int)(p->l3_len - quote)))
		goto no_room;
	count(SY_C_ICMP_TOO_BIG_SENT);
	return SY_V_TX;
no_room:
	count(SY_C_DROP_NO_ROOM);
	return SY_V_DROP;
}

/* ---- Services, backends, conntrack ------------------------------------------------ */

/* The services of the key's destination if it is a VIP address (of a TCP
 * or UDP service), else NULL: the host's own traffic. */
static __always_inline const struct sy_xdp_vip_addr *vip_address(const struct sy_flow_key *key)
{
	struct sy_xdp_addr_key k = { .family = key->family };

	__builtin_memcpy(k.addr, key->dst, sizeof(k.addr));
	return bpf_map_lookup_elem(&sy_vip_addrs, &k);
}

/* The service of a TCP/UDP packet (or of the flow an ICMP error quotes) to
 * a VIP address: as sy_snapshot_match() and, for fragments,
 * sy_snapshot_vip_addr() find it in the region. */
static __always_inline const struct sy_xdp_service *
find_service(const struct sy_parsed *p, const struct sy_xdp_vip_addr *a)
{
	const struct sy_xdp_addr_services *as =
		p->key.proto == SY_IPPROTO_TCP ? &a->tcp : &a->udp;
	struct sy_vip_key k = { .family = p->key.family, .proto = p->key.proto,
				.port = p->key.dport };
	const struct sy_xdp_service *s;

	if (as->kind == SY_XDP_ADDR_NONE)
		return NULL;
	if (as->kind == SY_XDP_ADDR_ONE) {
		/* the one service is also the address's fragment service */
		if (p->is_frag || as->port == 0 || as->port == p->key.dport)
			return &as->svc;
		return NULL;
	}
	__builtin_memcpy(k.addr, p->key.dst, sizeof(k.addr));
	/* fragments go to the address's fragment service (no ports to match) */
	if (p->is_frag) {
		k.port = 0;
		k.family |= SY_VIP_ADDR_KEY;
		return bpf_map_lookup_elem(&sy_vips, &k);
	}
	s = bpf_map_lookup_elem(&sy_vips, &k);
	if (s || k.port == 0)
		return s;
	k.port = 0;
	return bpf_map_lookup_elem(&sy_vips, &k);
}

/* The backend a ref names, as sy_backends has it: the record in the ref's
 * slot while that slot holds the backend's current record (one array
 * lookup), else sy_backends' (the backend moved to another slot, or left:
 * then its record there says gone, or it is deleted). NULL: unknown. */
static __always_inline struct sy_xdp_backend *backend_of(__u64 ref)
{
	__u32 slot = sy_xdp_ref_slot(ref);
	__u64 uid = sy_xdp_ref_uid(ref);
	struct sy_xdp_backend *b = bpf_map_lookup_elem(&sy_be_slots, &slot);

	if (b && b->uid == uid && !(b->flags & SY_XDP_BACKEND_GONE))
		return b;
	return bpf_map_lookup_elem(&sy_backends, &uid);
}

/* Maglev: the backend of table[hash % M], or NULL (no table, index beyond
 * the inner map, empty entry, unknown uid). *ref: its ref. */
static __always_inline struct sy_xdp_backend *pick(const struct sy_xdp_service *s, __u32 hash,
						    __u64 *ref)
{
	__u32 slot = s->slot, idx;
	__u64 *u;
	void *table;

	if (!s->table_size)
		return NULL;
	table = bpf_map_lookup_elem(&sy_tables, &slot);
	if (!table)
		return NULL;
	idx = hash % s->table_size;
	u = bpf_map_lookup_elem(table, &idx);
	if (!u || !*u)
		return NULL;
	*ref = *u;
	return backend_of(*u);
}

/* A tracked flow's backend, if it is still in the service (draining or not). */
static __always_inline struct sy_xdp_backend *tracked_backend(const struct sy_xdp_service *s,
							      __u64 ref)
{
	struct sy_xdp_backend *b = backend_of(ref);

	if (!b || (b->flags & SY_XDP_BACKEND_GONE) || b->svc_slot != s->slot)
		return NULL;
	return b;
}

static __always_inline __u64 ct_timeout_ns(const struct sy_xdp_config *cfg,
					   const struct sy_parsed *p)
{
	__u32 ms;

	if (p->proto == SY_IPPROTO_TCP) {
		if (p->tcp_flags & (SY_TCP_FIN | SY_TCP_RST))
			ms = cfg->tcp_fin_ms ? cfg->tcp_fin_ms : CT_TCP_FIN_MS;
		else
			ms = cfg->tcp_ms ? cfg->tcp_ms : CT_TCP_MS;
	} else {
		ms = cfg->udp_ms ? cfg->udp_ms : CT_UDP_MS;
	}
	return (__u64)ms * 1000000;
}

/* Conntrack time: CLOCK_MONOTONIC_COARSE in ns. A coarse read is a load
 * of the timekeeper's last tick, where bpf_ktime_get_ns() reads the
 * clocksource (kvm-clock in a VM: the dearest helper of the established
 * path); its tick granularity (1-4 ms) is nothing beside idle timeouts of
 * seconds. Userspace compares with the same clock (sy_xdp_ct_lookup()). */
static __always_inline __u64 ct_now(void)
{
	return bpf_ktime_get_coarse_ns();
}

/* The flow hash, computed on first use: a tracked ipip/l2dsr flow to an
 * IPv4 backend never needs it (only Maglev, GUE's source port and the IPv6
 * flow label do). */
struct lazy_hash {
	__u32 value;
	__u32 done;
};

static __always_inline __u32 flow_hash(struct lazy_hash *h, const struct sy_flow_key *key,
				       __u32 seed)
{
	if (!h->done) {
		h->value = sy_flow_hash(key, seed);
		h->done = 1;
	}
	return h->value;
}

/* A CPU's connection table, NULL beyond the possible CPUs. */
static __always_inline void *ct_table(__u32 cpu)
{
	return bpf_map_lookup_elem(&sy_conntrack, &cpu);
}

/* Backend of a TCP/UDP flow, tracking it (lb.c select_tracked()). NULL if
 * the service has no backend for it. */
static __always_inline struct sy_xdp_backend *
select_tracked(const struct sy_xdp_config *cfg, const struct sy_xdp_service *s,
	       const struct sy_parsed *p, struct lazy_hash *hash)
{
	void *ct = ct_table(bpf_get_smp_processor_id());
	struct sy_xdp_ct *e = ct ? bpf_map_lookup_elem(ct, &p->key) : NULL;
	__u64 now = ct_now(), ref = 0;
	struct sy_xdp_backend *b;
	struct sy_vip_counters *vc;
	__u32 slot = s->slot;
	int expired = 0;

	if (e && e->expires_ns) {
		if (e->expires_ns >= now) {
			b = tracked_backend(s, e->ref);
			if (!b) {
				/* its backend left: re-hash */
				b = pick(s, flow_hash(hash, &p->key, s->hash_seed), &ref);
				if (!b)
					return NULL;
				count(SY_C_CT_RESELECT);
				e->ref = ref;
			} else if (b->slot != sy_xdp_ref_slot(e->ref)) {
				/* its record moved to another slot: follow it */
				e->ref = sy_xdp_ref(b->slot, b->uid);
			}
			count(SY_C_CT_HIT);
			e->expires_ns = now + ct_timeout_ns(cfg, p);
			return b;
		}
		expired = 1;
	}
	b = pick(s, flow_hash(hash, &p->key, s->hash_seed), &ref);
	if (!b) {
		if (expired && ct)
			bpf_map_delete_elem(ct, &p->key); /* as lb.c frees its own expired entry */
		return NULL;
	}
	if (expired) {
		count(SY_C_CT_EXPIRED);
		e->ref = ref;
		e->expires_ns = now + ct_timeout_ns(cfg, p);
	} else if (ct) {
		struct sy_xdp_ct n = { .ref = ref, .expires_ns = now + ct_timeout_ns(cfg, p) };

		/* a full LRU evicts its least recently used flow, uncounted */
		bpf_map_update_elem(ct, &p->key, &n, BPF_ANY);
	}
	count(SY_C_CT_NEW);
	vc = vip_stats(cpu_stats(), slot);
	if (vc)
		vc->new_flows++;
	return b;
}

/* The search of the other CPUs' connection tables (bpf_loop callback). */
struct ct_search {
	struct sy_flow_key key;
	__u64 now;
	__u64 ref;  /* found: the backend; 0 = not found */
	__u32 self; /* this CPU, already looked at */
};

static long ct_search_cpu(__u32 cpu, void *data)
{
	struct ct_search *cs = data;
	struct sy_xdp_ct *e;
	void *ct;

	if (cpu == cs->self)
		return 0;
	ct = ct_table(cpu);
	if (!ct)
		return 1; /* beyond the possible CPUs */
	e = bpf_map_lookup_elem(ct, &cs->key);
	if (e && e->expires_ns && e->expires_ns >= cs->now) {
		cs->ref = e->ref;
		return 1;
	}
	return 0;
}

/* Backend of the flow an ICMP error is about, changing nothing (lb.c
 * sy_lb_predict()): tracked on this CPU, else on another one (RSS steers
 * the error by its own headers, so it may arrive elsewhere: *other = 1),
 * else Maglev. A ref read from another CPU's table, which that CPU may be
 * rewriting (an LRU reuses an element at once), is taken only if it names
 * a backend of this service now. */
static __always_inline struct sy_xdp_backend *predict(const struct sy_xdp_service *s,
						       const struct sy_flow_key *key, __u32 hash,
						       int *other)
{
	struct ct_search cs = { .key = *key, .now = ct_now(),
				.self = bpf_get_smp_processor_id() };
	void *ct = ct_table(cs.self);
	struct sy_xdp_ct *e = ct ? bpf_map_lookup_elem(ct, key) : NULL;
	struct sy_xdp_backend *b;
	__u64 ref = 0;

	if (e && e->expires_ns && e->expires_ns >= cs.now) {
		b = tracked_backend(s, e->ref);
		if (b)
			return b;
	}
	bpf_loop(SY_XDP_MAX_CPUS, ct_search_cpu, &cs, 0);
	if (cs.ref) {
		b = tracked_backend(s, cs.ref);
		if (b) {
			*other = 1;
			return b;
		}
	}
	return pick(s, hash, &ref);
}

/* ---- The packet path (lb.c sy_lb_process()) ------------------------------------ */

static __always_inline int process(struct xdp_md *ctx, const struct sy_xdp_config *cfg,
				   __u32 frame_len)
{
	struct sy_parsed p = {};
	const struct sy_xdp_vip_addr *va;
	const struct sy_xdp_service *sp;
	struct sy_xdp_service svc;
	struct sy_xdp_backend *bp, be;
	struct sy_vip_counters *vc;
	struct sy_xdp_cpu_stats *st;
	struct lazy_hash lazy = {};
	__u32 hash = 0, slot, l2l3;
	int v, l4, other_cpu = 0;

	v = sy_parse_frame(ctx, &p, frame_len);
	if (v == SY_V_DROP) {
		count(p.reason);
		return SY_V_DROP;
	}
	if (v != SY_V_TX)
		return SY_V_KERNEL;
	l4 = p.key.proto == SY_IPPROTO_TCP || p.key.proto == SY_IPPROTO_UDP || p.icmp_error;
	/* echo and the like are the host's, to a VIP or not */
	if (!l4 && p.proto != SY_IPPROTO_IPIP && p.proto != SY_IPPROTO_IPV6)
		return SY_V_KERNEL;
	/* the one lookup for the host's own traffic: not a VIP address */
	va = vip_address(&p.key);
	if (!va)
		return SY_V_KERNEL;
	if (!l4) {
		/* tunnels to a VIP (spoofed encapsulated input) */
		count(SY_C_DROP_ENCAPSULATED);
		return SY_V_DROP;
	}
	if (p.icmp_error == 2) {
		/* an ICMP error to a VIP whose quote we cannot read */
		count(SY_C_DROP_ICMP);
		return SY_V_DROP;
	}
	sp = find_service(&p, va);
	if (!sp) {
		/* a VIP address (of either protocol) is never the kernel's */
		count(p.icmp_error ? SY_C_DROP_ICMP : SY_C_DROP_NO_SERVICE);
		return SY_V_DROP;
	}
	svc = *sp;
	slot = svc.slot;

	if (p.is_frag) {
		struct sy_flow_key k3 = p.key;
		__u64 ref;

		sy_flow_key_drop_ports(&k3);
		hash = sy_flow_hash(&k3, svc.hash_seed);
		bp = pick(&svc, hash, &ref);
	} else if (p.icmp_error) {
		hash = sy_flow_hash(&p.key, svc.hash_seed);
		bp = predict(&svc, &p.key, hash, &other_cpu);
	} else {
		bp = select_tracked(cfg, &svc, &p, &lazy);
	}
	if (!bp) {
		count(SY_C_DROP_NO_BACKEND);
		vc = vip_stats(cpu_stats(), slot);
		if (vc)
			vc->drops++;
		return SY_V_DROP;
	}
	be = *bp;

	/* Ethernet padding after the IP packet is not forwarded. */
	l2l3 = p.l2_len + p.l3_len;
	if (frame_len > l2l3 && bpf_xdp_adjust_tail(ctx, -(int)(frame_len - l2l3))) {
		count(SY_C_DROP_NO_ROOM);
		return SY_V_DROP;
	}
	if (svc.fwd_mode == SY_FWD_L2DSR) {
		__u8 port_mac[6];

		__builtin_memcpy(port_mac, cfg->port_mac, 6);
		if (write_l2(ctx, p.l2_len, be.mac, port_mac, NULL,
			     p.family == SY_AF_INET ? SY_ETH_P_IPV4 : SY_ETH_P_IPV6)) {
			count(SY_C_DROP_NO_ROOM);
			return SY_V_DROP;
		}
	} else if (p.l3_len + encap_overhead(&svc, &be) > cfg->mtu) {
		return too_big(ctx, cfg, &p, encap_overhead(&svc, &be));
	} else {
		if (!p.is_frag && !p.icmp_error &&
		    (svc.fwd_mode == SY_FWD_GUE || be.family != SY_AF_INET))
			hash = flow_hash(&lazy, &p.key, svc.hash_seed);
		v = encapsulate(ctx, cfg, &p, &svc, &be, hash);
		if (v != SY_V_TX)
			return v;
	}
	/* how the backend was chosen is counted for what was forwarded */
	if (p.is_frag)
		count(SY_C_FRAGMENTS);
	else if (p.icmp_error)
		count(SY_C_ICMP_TO_BACKEND);
	if (other_cpu)
		count(SY_C_ICMP_CT_OTHER);
	st = cpu_stats();
	if (!st)
		return SY_V_TX;
	st->counters[SY_C_FWD_PKTS]++;
	vc = vip_stats(st, slot);
	if (vc) {
		vc->pkts++;
		vc->bytes += frame_len;
	}
	slot = be.stats_slot;
	if (slot < SY_XDP_MAX_BACKENDS) {
		struct sy_backend_counters *bc = &st->backends[slot & (SY_XDP_MAX_BACKENDS - 1)];

		bc->pkts++;
		bc->bytes += frame_len;
	}
	return SY_V_TX;
}

SEC("xdp")
int sy_xdp_lb(struct xdp_md *ctx)
{
	__u32 zero = 0, len;
	const struct sy_xdp_config *cfg = bpf_map_lookup_elem(&sy_config, &zero);
	struct sy_xdp_cpu_stats *st;
	int v;

	if (!cfg || !cfg->configured)
		return XDP_PASS; /* sy-control has not configured us yet */
	len = bpf_xdp_get_buff_len(ctx);
	st = cpu_stats(); /* one lookup for the counters of every packet */
	if (st) {
		st->counters[SY_C_RX_PKTS]++;
		st->counters[SY_C_RX_BYTES] += len;
	}
	v = process(ctx, cfg, len);
	if (v == SY_V_TX) {
		if (st) {
			st->counters[SY_C_TX_PKTS]++;
			st->counters[SY_C_TX_BYTES] += bpf_xdp_get_buff_len(ctx);
		}
		if (cfg->tx_ifindex)
			return bpf_redirect(cfg->tx_ifindex, 0);
		return XDP_TX;
	}
	if (v == SY_V_KERNEL) {
		if (st)
			st->counters[SY_C_TO_KERNEL]++;
		return XDP_PASS;
	}
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
