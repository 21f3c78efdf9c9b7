/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The packet path: classify, find the service, pick the backend (conntrack,
 * else Maglev), rewrite for the service's forwarding mode. See
 * docs/dataplane.md for the behaviour in words.
 */
#include <string.h>

#include <switchyard/pkt_hdr.h>

#include "lb.h"

static inline uint16_t hton16(uint16_t v)
{
	return (uint16_t)(v >> 8 | v << 8);
}

static inline void count(struct sy_lb *lb, enum sy_counter c)
{
	lb->stats->counters[c]++;
}

/* ---- Checksums ------------------------------------------------------------ */

uint32_t sy_csum_partial(const void *data, uint32_t len, uint32_t sum)
{
	const uint8_t *p = data;
	uint64_t s = sum;

	/* 32-bit words into a 64-bit accumulator: the one's complement sum
	 * is the same, four times fewer steps than 16-bit words */
	for (; len >= 4; p += 4, len -= 4) {
		uint32_t w;

		memcpy(&w, p, 4);
		s += w;
	}
	if (len >= 2) {
		uint16_t w;

		memcpy(&w, p, 2);
		s += w;
		p += 2;
		len -= 2;
	}
	if (len) /* odd trailing byte, padded with zero in memory order */
		s += *p;
	s = (s & 0xffffffff) + (s >> 32);
	s = (s & 0xffffffff) + (s >> 32);
	return (uint32_t)s;
}

static inline uint16_t fold(uint32_t sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

uint16_t sy_csum_fold(uint32_t sum)
{
	return fold(sum);
}

/* Pseudo-header sum for upper-layer checksums (in memory order). */
static uint32_t pseudo_sum(uint8_t family, const uint32_t *src, const uint32_t *dst,
			   uint32_t len, uint8_t proto)
{
	uint32_t n = family == SY_AF_INET ? 4 : 16;
	/* 64-bit, folded with the end-around carry: the 32-bit partial sum of
	 * the addresses can be close to 2^32, and a carry lost here would be
	 * a checksum off by one */
	uint64_t s = sy_csum_partial(dst, n, sy_csum_partial(src, n, 0));

	if (family == SY_AF_INET) {
		s += hton16((uint16_t)len);
	} else {
		s += hton16((uint16_t)(len >> 16));
		s += hton16((uint16_t)len);
	}
	s += hton16(proto);
	s = (s & 0xffffffff) + (s >> 32);
	return (uint32_t)((s & 0xffffffff) + (s >> 32));
}

/* Linux sends a TCP or UDP packet whose checksum it leaves to the device
 * (CHECKSUM_PARTIAL: a veth with tx checksumming on) with only the
 * pseudo-header sum in the checksum field. A packet socket hands such a frame
 * over as it is, and DPDK's af_packet PMD drops the kernel's note of it
 * (TP_STATUS_CSUMNOTREADY), so the field's value is the only sign: if it is
 * that sum, the checksum is computed here. A correct packet whose checksum
 * happens to equal the sum is rewritten with the same value; a damaged one
 * keeps its wrong checksum (for the kernel to drop). */
int sy_lb_fill_offload_csum(uint8_t *frame, uint32_t len)
{
	enum sy_counter reason;
	struct sy_parsed p;
	uint32_t l4_len, sum;
	uint16_t field, partial, c;
	uint8_t *l4;
	int off;

	if (sy_lb_parse(frame, len, &p, &reason) != SY_V_TX || p.is_frag || p.icmp_error ||
	    (p.proto != SY_IPPROTO_TCP && p.proto != SY_IPPROTO_UDP))
		return 0;
	l4 = frame + p.l4_off;
	l4_len = p.l2_len + p.l3_len - p.l4_off;
	off = p.proto == SY_IPPROTO_TCP ? 16 : 6;
	memcpy(&field, l4 + off, 2);
	if (p.proto == SY_IPPROTO_UDP && p.family == SY_AF_INET && field == 0)
		return 0; /* no checksum (allowed over IPv4) */
	sum = pseudo_sum(p.family, p.key.src, p.key.dst, l4_len, p.proto);
	partial = (uint16_t)(fold(sum) ^ 0xffff); /* folded, not complemented */
	if (field != partial)
		return 0;
	memset(l4 + off, 0, 2);
	c = fold(sy_csum_partial(l4, l4_len, sum));
	if (p.proto == SY_IPPROTO_UDP && c == 0)
		c = 0xffff; /* 0 means "none" in UDP */
	memcpy(l4 + off, &c, 2);
	return 1;
}

/* ---- Building outer headers -------------------------------------------- */

/* Move the l2_len-byte L2 header `back` bytes towards the headroom. The
 * common sizes (untagged, one or two VLAN tags) are loaded whole into
 * registers and stored back: the ranges may overlap, and a libc memmove
 * call would cost more than the copy. */
static inline void move_l2(uint8_t *d, uint32_t l2_len, uint32_t back)
{
	uint64_t a, b, c;

	if (l2_len == 14) {
		uint32_t x;
		uint16_t y;

		memcpy(&a, d, 8);
		memcpy(&x, d + 8, 4);
		memcpy(&y, d + 12, 2);
		memcpy(d - back, &a, 8);
		memcpy(d - back + 8, &x, 4);
		memcpy(d - back + 12, &y, 2);
	} else if (l2_len == 18 || l2_len == 22) {
		/* 24 bytes are readable: an IP header follows the tags */
		memcpy(&a, d, 8);
		memcpy(&b, d + 8, 8);
		memcpy(&c, d + 16, 8);
		memcpy(d - back, &a, 8);
		memcpy(d - back + 8, &b, 8);
		if (l2_len == 18) {
			uint16_t y = (uint16_t)c;

			memcpy(d - back + 16, &y, 2);
		} else {
			uint32_t x = (uint32_t)c;
			uint16_t y = (uint16_t)(c >> 32);

			memcpy(d - back + 16, &x, 4);
			memcpy(d - back + 20, &y, 2);
		}
	} else {
		memmove(d - back, d, l2_len);
	}
}

/* Make room for `extra` bytes between the L2 header and the L3 packet by
 * moving the L2 header (with its VLAN tags) towards the headroom. */
static int open_gap(struct sy_pkt *pkt, uint32_t l2_len, uint32_t extra)
{
	if (pkt->headroom < extra)
		return -1;
	move_l2(pkt->data, l2_len, extra);
	pkt->data -= extra;
	pkt->headroom -= extra;
	pkt->len += extra;
	return 0;
}

/* 6 bytes through registers (the MACs may overlap the frame's own). */
static inline void copy_mac(uint8_t *to, const uint8_t *from)
{
	uint32_t a;
	uint16_t b;

	memcpy(&a, from, 4);
	memcpy(&b, from + 4, 2);
	memcpy(to, &a, 4);
	memcpy(to + 4, &b, 2);
}

static inline void set_l2(struct sy_pkt *pkt, uint32_t l2_len, const uint8_t *dst,
			  const uint8_t *src, uint16_t ethertype)
{
	struct sy_eth_hdr *eth = (struct sy_eth_hdr *)pkt->data;
	uint16_t et = hton16(ethertype);

	copy_mac(eth->dst, dst);
	copy_mac(eth->src, src);
	/* the innermost ethertype, after any VLAN tags */
	memcpy(pkt->data + l2_len - 2, &et, 2);
}

/* The outer IPv4 header, from registers: its five 32-bit words are summed
 * as values and stored once (building it in memory and reading it back for
 * the checksum stalls on store forwarding). */
static inline void write_ip4(uint8_t *at, uint32_t saddr, uint32_t daddr, uint8_t proto,
			     uint32_t payload, uint8_t tos, int df)
{
	uint32_t w0 = 0x45u | (uint32_t)tos << 8 | (uint32_t)hton16((uint16_t)(20 + payload)) << 16;
	uint32_t w1 = df ? (uint32_t)hton16(SY_IP4_DF) << 16 : 0; /* id 0, RFC 6864 */
	uint32_t w2 = 64u | (uint32_t)proto << 8;                  /* ttl, protocol */
	uint64_t sum = (uint64_t)w0 + w1 + w2 + saddr + daddr, q0, q1;

	sum = (sum & 0xffffffff) + (sum >> 32);
	sum = (sum & 0xffffffff) + (sum >> 32);
	w2 |= (uint32_t)fold((uint32_t)sum) << 16;
	q0 = w0 | (uint64_t)w1 << 32;
	q1 = w2 | (uint64_t)saddr << 32;
	memcpy(at, &q0, 8);
	memcpy(at + 8, &q1, 8);
	memcpy(at + 16, &daddr, 4);
}

static void write_ip6(uint8_t *at, const uint32_t *saddr, const uint32_t *daddr,
		      uint8_t proto, uint32_t payload, uint8_t tc, uint32_t flow)
{
	struct sy_ip6_hdr ip = {
		.payload_len = hton16((uint16_t)payload),
		.nexthdr = proto,
		.hop_limit = 64,
	};
	uint32_t vtf = 6u << 28 | (uint32_t)tc << 20 | (flow & 0xfffff);

	ip.ver_tc_flow = (vtf >> 24) | ((vtf >> 8) & 0xff00) | ((vtf << 8) & 0xff0000) | (vtf << 24);
	memcpy(ip.saddr, saddr, 16);
	memcpy(ip.daddr, daddr, 16);
	memcpy(at, &ip, sizeof(ip));
}

/* Traffic class of an inner packet (IPv4 TOS or IPv6 TC), copied outward so
 * that QoS survives the tunnel. */
static uint8_t inner_tc(const uint8_t *l3, uint8_t family)
{
	if (family == SY_AF_INET)
		return l3[1];
	return (uint8_t)((l3[0] & 0x0f) << 4 | l3[1] >> 4);
}

static uint32_t encap_overhead(const struct sy_service *s, const struct sy_backend *b)
{
	uint32_t ip = b->id.family == SY_AF_INET ? 20 : 40;

	return s->fwd_mode == SY_FWD_GUE ? ip + 8 : ip;
}

/* Wrap the L3 packet (l3_len bytes after the L2 header) in IP (ipip) or
 * IP+UDP (gue, variant 1: the UDP payload is the inner IP packet). The outer
 * family is the backend's; the inner one the VIP's (4in4, 6in6, 4in6, 6in4). */
static enum sy_verdict encapsulate(struct sy_lb *lb, struct sy_pkt *pkt,
				   const struct sy_parsed *p, const struct sy_service *s,
				   const struct sy_backend *b, uint32_t hash)
{
	uint32_t extra = encap_overhead(s, b), l2 = p->l2_len, inner = p->l3_len;
	uint8_t proto = p->family == SY_AF_INET ? SY_IPPROTO_IPIP : SY_IPPROTO_IPV6;
	uint8_t tc = inner_tc(pkt->data + l2, p->family);
	uint8_t *outer;

	if (b->id.family == SY_AF_INET ? !s->encap_src4
				       : !(s->encap_src6[0] | s->encap_src6[1] |
					   s->encap_src6[2] | s->encap_src6[3])) {
		count(lb, SY_C_DROP_FAMILY);
		return SY_V_DROP;
	}
	if (open_gap(pkt, l2, extra)) {
		count(lb, SY_C_DROP_NO_ROOM);
		return SY_V_DROP;
	}
	outer = pkt->data + l2;
	if (s->fwd_mode == SY_FWD_GUE)
		proto = SY_IPPROTO_UDP;
	if (b->id.family == SY_AF_INET) {
		/* Outer DF always: the tunnel never fragments (an atomic datagram
		 * may carry ID 0, RFC 6864); what does not fit was answered with
		 * ICMP too-big or dropped before we got here. */
		write_ip4(outer, s->encap_src4, b->id.addr[0], proto, extra - 20 + inner, tc, 1);
		set_l2(pkt, l2, b->mac, lb->port_mac, SY_ETH_P_IPV4);
	} else {
		write_ip6(outer, s->encap_src6, b->id.addr, proto, extra - 40 + inner, tc, hash);
		set_l2(pkt, l2, b->mac, lb->port_mac, SY_ETH_P_IPV6);
	}
	if (s->fwd_mode == SY_FWD_GUE) {
		struct sy_udp_hdr u = {
			/* source port carries flow entropy for ECMP/RSS beyond us */
			.sport = hton16((uint16_t)(0xc000 | (hash & 0x3fff))),
			.dport = s->gue_port ? s->gue_port : hton16(SY_GUE_DEFAULT_PORT),
			.len = hton16((uint16_t)(8 + inner)),
		};
		uint8_t *udp = outer + (extra - 8);

		memcpy(udp, &u, sizeof(u));
		if (b->id.family == SY_AF_INET6) {
			/* mandatory over IPv6 (RFC 8200); optional, and left 0, over IPv4 */
			uint32_t sum = pseudo_sum(SY_AF_INET6, s->encap_src6, b->id.addr,
						  8 + inner, SY_IPPROTO_UDP);
			uint16_t c = fold(sy_csum_partial(udp, 8 + inner, sum));

			c = c ? c : 0xffff;
			memcpy(udp + 6, &c, 2);
		}
	}
	return SY_V_TX;
}

/* ---- ICMP too-big ----------------------------------------------------------- */

/* Answer a packet that would exceed the MTU once encapsulated: frag-needed
 * (IPv4 with DF) or packet-too-big (IPv6) back to the client, from the VIP,
 * quoting the start of the packet. Rewrites the frame in place. */
static enum sy_verdict too_big(struct sy_lb *lb, struct sy_pkt *pkt, const struct sy_parsed *p,
			       uint32_t overhead)
{
	uint32_t l2 = p->l2_len, mtu = lb->mtu - overhead;
	uint8_t client_mac[6];
	uint8_t *l3 = pkt->data + l2;
	uint32_t hdr, quote;

	/* never an ICMP error about an ICMP error, nor about a fragment */
	if (lb->mtu_action == SY_MTU_DROP || p->icmp_error || p->is_frag ||
	    (p->family == SY_AF_INET && !p->df)) {
		count(lb, SY_C_DROP_MTU);
		return SY_V_DROP;
	}
	/* nor to a client that is no single host, nor beyond our rate */
	if (!sy_icmp_error_allowed(p->family, p->key.src, pkt->data)) {
		count(lb, SY_C_ICMP_SUPPRESSED_DEST);
		count(lb, SY_C_DROP_MTU);
		return SY_V_DROP;
	}
	if (!sy_icmp_bucket_take(&lb->icmp_bucket, lb->now, lb->icmp_rate, lb->icmp_burst)) {
		count(lb, SY_C_ICMP_RATE_LIMITED);
		count(lb, SY_C_DROP_MTU);
		return SY_V_DROP;
	}
	memcpy(client_mac, pkt->data + 6, 6);
	if (p->family == SY_AF_INET) {
		uint32_t vip = p->key.dst[0], client = p->key.src[0];
		struct sy_icmp_hdr ic = { .type = SY_ICMP_DEST_UNREACH, .code = SY_ICMP_FRAG_NEEDED,
					  .mtu = hton16((uint16_t)mtu) };

		/* RFC 1812: quote as much as fits in 576 bytes */
		hdr = 20 + 8;
		quote = p->l3_len < 576 - hdr ? p->l3_len : 576 - hdr;
		if (open_gap(pkt, l2, hdr)) {
			count(lb, SY_C_DROP_NO_ROOM);
			return SY_V_DROP;
		}
		l3 = pkt->data + l2;
		memcpy(l3 + 20, &ic, 8);
		ic.csum = fold(sy_csum_partial(l3 + 20, 8 + quote, 0));
		memcpy(l3 + 22, &ic.csum, 2);
		write_ip4(l3, vip, client, SY_IPPROTO_ICMP, 8 + quote, 0, 0);
		set_l2(pkt, l2, client_mac, lb->port_mac, SY_ETH_P_IPV4);
	} else {
		uint32_t vip[4], client[4], mtu_be = hton16((uint16_t)mtu);
		struct sy_icmp_hdr ic = { .type = SY_ICMP6_PKT_TOO_BIG };

		memcpy(vip, p->key.dst, 16);
		memcpy(client, p->key.src, 16);
		/* RFC 8200: never advertise less than the IPv6 minimum MTU */
		if (mtu < 1280)
			mtu_be = hton16(1280);
		mtu_be <<= 16; /* 32-bit MTU field, value < 65536 */
		memcpy(&ic.unused, &mtu_be, 4);
		/* RFC 4443: as much as fits in the minimum IPv6 MTU */
		hdr = 40 + 8;
		quote = p->l3_len < 1280 - hdr ? p->l3_len : 1280 - hdr;
		if (open_gap(pkt, l2, hdr)) {
			count(lb, SY_C_DROP_NO_ROOM);
			return SY_V_DROP;
		}
		l3 = pkt->data + l2;
		memcpy(l3 + 40, &ic, 8);
		ic.csum = fold(sy_csum_partial(
			l3 + 40, 8 + quote,
			pseudo_sum(SY_AF_INET6, vip, client, 8 + quote, SY_IPPROTO_ICMPV6)));
		memcpy(l3 + 42, &ic.csum, 2);
		write_ip6(l3, vip, client, SY_IPPROTO_ICMPV6, 8 + quote, 0, 0);
		set_l2(pkt, l2, client_mac, lb->port_mac, SY_ETH_P_IPV6);
	}
	pkt->tailroom += pkt->len - (l2 + hdr + quote);
	pkt->len = l2 + hdr + quote;
	count(lb, SY_C_ICMP_TOO_BIG_SENT);
	return SY_V_TX;
}

/* ---- Backend selection ---------------------------------------------------- */

/* Index of the backend a conntrack entry names in svc now, or
 * SY_MAGLEV_NONE if it left. The entry's cached index holds while the
 * service object is the one it was taken from. */
static inline uint32_t entry_backend(const uint8_t *base, const struct sy_service *svc,
				     const struct sy_ct_entry *e)
{
	if (e->svc_version == (uint32_t)svc->version)
		return e->backend;
	return sy_service_find_uid_lo(base, svc, e->uid);
}

uint32_t sy_lb_predict(struct sy_lb *lb, const struct sy_service *svc,
		       const struct sy_flow_key *key, int *tracked)
{
	uint32_t hash = sy_flow_hash(key, svc->hash_seed);
	const struct sy_ct_entry *e = sy_ct_peek(&lb->ct, key, hash, lb->now);

	*tracked = 0;
	if (e) {
		uint32_t idx = entry_backend(lb->base, svc, e);

		if (idx != SY_MAGLEV_NONE) {
			*tracked = 1;
			return idx;
		}
	}
	return sy_service_pick(lb->base, svc, hash);
}

/* The backend of key's live entry in ct, a table another thread owns and
 * may be writing (sy_ct_peek_other), or SY_MAGLEV_NONE. The uid read there
 * is trusted only if it is a backend of this service now. */
static uint32_t tracked_elsewhere(const uint8_t *base, const struct sy_service *svc,
				  const struct sy_conntrack *ct, const struct sy_flow_key *key,
				  uint32_t hash, uint32_t now)
{
	uint32_t uid;

	if (!sy_ct_peek_other(ct, key, hash, now, &uid))
		return SY_MAGLEV_NONE;
	return sy_service_find_uid_lo(base, svc, uid);
}

/* The backend of a flow another worker tracks (an ICMP error about it
 * arrived here: RSS hashes the error's own headers), or SY_MAGLEV_NONE. */
static uint32_t other_worker_backend(const struct sy_lb *lb, const struct sy_service *svc,
				     const struct sy_flow_key *key, uint32_t hash)
{
	for (uint32_t i = 0; i < lb->n_peer_ct; i++) {
		uint32_t idx;

		if (lb->peer_ct[i] == &lb->ct)
			continue;
		idx = tracked_elsewhere(lb->base, svc, lb->peer_ct[i], key, hash, lb->now);
		if (idx != SY_MAGLEV_NONE)
			return idx;
	}
	return SY_MAGLEV_NONE;
}

uint32_t sy_lb_lookup(const uint8_t *base, const struct sy_service *svc,
		      const struct sy_conntrack *const *tables, uint32_t n_tables,
		      const struct sy_flow_key *key, uint32_t now, int *table)
{
	uint32_t hash = sy_flow_hash(key, svc->hash_seed);

	for (uint32_t i = 0; i < n_tables; i++) {
		uint32_t idx = tracked_elsewhere(base, svc, tables[i], key, hash, now);

		if (idx != SY_MAGLEV_NONE) {
			*table = (int)i;
			return idx;
		}
	}
	*table = -1;
	return sy_service_pick(base, svc, hash);
}

/* Backend for a TCP/UDP flow, tracking it. SY_MAGLEV_NONE if the service has
 * no backend for a new flow. */
static uint32_t select_tracked(struct sy_lb *lb, const struct sy_service *svc,
			       const struct sy_parsed *p, uint32_t hash)
{
	struct sy_ct_entry *e = sy_ct_lookup(&lb->ct, &p->key, hash, lb->now);
	enum sy_ct_insert_result how;
	uint32_t idx;

	if (e) {
		if (e->svc_version == (uint32_t)svc->version) {
			idx = e->backend;
		} else {
			/* Tables changed since: is our backend still in the set
			 * (maybe draining, maybe at another index)? */
			idx = sy_service_find_uid_lo(lb->base, svc, e->uid);
			if (idx == SY_MAGLEV_NONE) {
				idx = sy_service_pick(lb->base, svc, hash);
				if (idx == SY_MAGLEV_NONE)
					return idx;
				count(lb, SY_C_CT_RESELECT);
				e->uid = (uint32_t)sy_service_backends(lb->base, svc)[idx].uid;
			}
			e->backend = idx;
			e->svc_version = (uint32_t)svc->version;
		}
		count(lb, SY_C_CT_HIT);
		sy_ct_touch(&lb->ct, e, p->proto, p->tcp_flags, lb->now);
		return idx;
	}
	idx = sy_service_pick(lb->base, svc, hash);
	if (idx == SY_MAGLEV_NONE)
		return idx;
	e = sy_ct_insert(&lb->ct, &p->key, hash, lb->now, &how);
	if (how == SY_CT_INS_EVICTED || how == SY_CT_INS_EVICTED2)
		lb->stats->counters[SY_C_CT_EVICT] += how == SY_CT_INS_EVICTED2 ? 2 : 1;
	else if (how == SY_CT_INS_EXPIRED)
		count(lb, SY_C_CT_EXPIRED);
	e->uid = (uint32_t)sy_service_backends(lb->base, svc)[idx].uid;
	e->svc_version = (uint32_t)svc->version;
	e->backend = idx;
	sy_ct_touch(&lb->ct, e, p->proto, p->tcp_flags, lb->now);
	count(lb, SY_C_CT_NEW);
	lb->vips[svc->slot].new_flows++;
	return idx;
}

/* ---- The packet path ------------------------------------------------------ */

/* Is this a VIP address (of a TCP or a UDP service)? */
static bool vip_address(struct sy_lb *lb, const struct sy_flow_key *key)
{
	struct sy_vip_key k = { .family = key->family, .proto = SY_IPPROTO_TCP };

	memcpy(k.addr, key->dst, sizeof(k.addr));
	if (sy_snapshot_vip_addr(lb->base, lb->snap, &k))
		return true;
	k.proto = SY_IPPROTO_UDP;
	return sy_snapshot_vip_addr(lb->base, lb->snap, &k) != NULL;
}

static const struct sy_service *find_service(struct sy_lb *lb, const struct sy_parsed *p)
{
	struct sy_vip_key k = { .family = p->key.family, .proto = p->key.proto,
				.port = p->key.dport };

	memcpy(k.addr, p->key.dst, sizeof(k.addr));
	/* Fragments go to the address's fragment service (no ports to match) */
	if (p->is_frag)
		return sy_snapshot_vip_addr(lb->base, lb->snap, &k);
	/* Traffic comes in runs to the same VIP: remember the last answer of
	 * this snapshot and skip the hash lookup while it repeats. Keyed by
	 * generation, never by address: a reclaimed root's memory may come
	 * back as a newer root at the same place. */
	if (lb->vip_cache_gen == lb->snap->generation && sy_vip_key_eq(&lb->vip_cache_key, &k))
		return lb->vip_cache_svc;
	lb->vip_cache_svc = sy_snapshot_match(lb->base, lb->snap, &k);
	lb->vip_cache_key = k;
	lb->vip_cache_gen = lb->snap->generation;
	return lb->vip_cache_svc;
}

/* Packets for a VIP address with a protocol we do not balance: tunnels
 * (spoofed encapsulated input) are dropped, the rest (echo) is the host's. */
static enum sy_verdict other_protocol(struct sy_lb *lb, const struct sy_parsed *p)
{
	if ((p->proto != SY_IPPROTO_IPIP && p->proto != SY_IPPROTO_IPV6) ||
	    !vip_address(lb, &p->key))
		return SY_V_KERNEL;
	count(lb, SY_C_DROP_ENCAPSULATED);
	return SY_V_DROP;
}

/* A frame between the two stages of the packet path. */
struct lb_work {
	struct sy_parsed p;
	const struct sy_service *svc;
	uint32_t hash;
	uint32_t frame_len;
};

/* Stage 1: classify the frame and find its service and flow hash, and
 * prefetch the conntrack lines stage 2 will read. 1 if stage 2 is to run,
 * else 0 with the final verdict in *v. Reads the frame only. */
static inline int classify(struct sy_lb *lb, struct sy_pkt *pkt, struct lb_work *w,
			   enum sy_verdict *v)
{
	struct sy_parsed *p = &w->p;

	*v = (enum sy_verdict)sy_parse_frame(pkt, p, pkt->len);
	if (*v == SY_V_DROP) {
		count(lb, (enum sy_counter)p->reason);
		return 0;
	}
	if (*v == SY_V_KERNEL || !lb->snap) {
		*v = SY_V_KERNEL;
		return 0;
	}
	if (p->key.proto != SY_IPPROTO_TCP && p->key.proto != SY_IPPROTO_UDP &&
	    !p->icmp_error) {
		*v = other_protocol(lb, p);
		return 0;
	}
	if (p->icmp_error == 2) {
		/* an ICMP error whose quote we cannot read: ours if to a VIP */
		*v = SY_V_KERNEL;
		if (vip_address(lb, &p->key)) {
			count(lb, SY_C_DROP_ICMP);
			*v = SY_V_DROP;
		}
		return 0;
	}
	w->svc = find_service(lb, p);
	if (!w->svc) {
		/* A VIP address (of either protocol) is never the kernel's. */
		*v = SY_V_KERNEL;
		if (vip_address(lb, &p->key)) {
			count(lb, p->icmp_error ? SY_C_DROP_ICMP : SY_C_DROP_NO_SERVICE);
			*v = SY_V_DROP;
		}
		return 0;
	}
	w->frame_len = pkt->len;
	if (p->is_frag) {
		struct sy_flow_key k3 = p->key;

		sy_flow_key_drop_ports(&k3);
		w->hash = sy_flow_hash(&k3, w->svc->hash_seed);
	} else {
		w->hash = sy_flow_hash(&p->key, w->svc->hash_seed);
		sy_ct_prefetch(&lb->ct, w->hash);
	}
	return 1;
}

/* Stage 2: the backend (conntrack, else Maglev) and the rewrite. */
static inline enum sy_verdict forward(struct sy_lb *lb, struct sy_pkt *pkt,
				      const struct lb_work *w)
{
	const struct sy_parsed *p = &w->p;
	const struct sy_service *svc = w->svc;
	const struct sy_backend *b;
	uint32_t hash = w->hash, idx;
	bool other_worker = false;
	enum sy_verdict v;

	if (p->is_frag) {
		idx = sy_service_pick(lb->base, svc, hash);
	} else if (p->icmp_error) {
		int tracked;

		idx = sy_lb_predict(lb, svc, &p->key, &tracked);
		if (!tracked) {
			/* PMTU discovery of a flow whose backend is no longer
			 * its Maglev choice depends on this */
			uint32_t other = other_worker_backend(lb, svc, &p->key, hash);

			if (other != SY_MAGLEV_NONE) {
				idx = other;
				other_worker = true;
			}
		}
	} else {
		idx = select_tracked(lb, svc, p, hash);
	}
	if (idx == SY_MAGLEV_NONE) {
		count(lb, SY_C_DROP_NO_BACKEND);
		lb->vips[svc->slot].drops++;
		return SY_V_DROP;
	}
	b = &sy_service_backends(lb->base, svc)[idx];

	/* Ethernet padding after the IP packet is not forwarded. */
	pkt->tailroom += pkt->len - (p->l2_len + p->l3_len);
	pkt->len = p->l2_len + p->l3_len;
	if (svc->fwd_mode == SY_FWD_L2DSR) {
		set_l2(pkt, p->l2_len, b->mac, lb->port_mac,
		       p->family == SY_AF_INET ? SY_ETH_P_IPV4 : SY_ETH_P_IPV6);
		v = SY_V_TX;
	} else if (p->l3_len + encap_overhead(svc, b) > lb->mtu) {
		return too_big(lb, pkt, p, encap_overhead(svc, b));
	} else {
		v = encapsulate(lb, pkt, p, svc, b, hash);
	}
	if (v == SY_V_TX) {
		/* how the backend was chosen is counted for what was forwarded */
		if (p->is_frag)
			count(lb, SY_C_FRAGMENTS);
		else if (p->icmp_error)
			count(lb, SY_C_ICMP_TO_BACKEND);
		if (other_worker)
			count(lb, SY_C_ICMP_CT_OTHER);
		count(lb, SY_C_FWD_PKTS);
		lb->vips[svc->slot].pkts++;
		lb->vips[svc->slot].bytes += w->frame_len;
		lb->backends[b->slot].pkts++;
		lb->backends[b->slot].bytes += w->frame_len;
	}
	return v;
}

enum sy_verdict sy_lb_process(struct sy_lb *lb, struct sy_pkt *pkt)
{
	struct lb_work w;
	enum sy_verdict v;

	if (!classify(lb, pkt, &w, &v))
		return v;
	return forward(lb, pkt, &w);
}

void sy_lb_process_burst(struct sy_lb *lb, struct sy_pkt *pkts, uint32_t n,
			 enum sy_verdict *verdicts)
{
	struct lb_work w[SY_LB_BURST];
	uint8_t pending[SY_LB_BURST];

	while (n) {
		uint32_t m = n < SY_LB_BURST ? n : SY_LB_BURST;

		/* every frame's conntrack lines are on their way before the
		 * first lookup: the misses of a burst overlap */
		for (uint32_t i = 0; i < m; i++)
			pending[i] = (uint8_t)classify(lb, &pkts[i], &w[i], &verdicts[i]);
		for (uint32_t i = 0; i < m; i++)
			if (pending[i])
				verdicts[i] = forward(lb, &pkts[i], &w[i]);
		pkts += m;
		verdicts += m;
		n -= m;
	}
}
