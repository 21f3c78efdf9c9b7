/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The packet path: classify, find the service, pick the backend (conntrack,
 * else Maglev), rewrite for the service's forwarding mode. See
 * docs/dataplane.md for the behaviour in words.
 */
#include <stddef.h>
#include <string.h>

#include <switchyard/least_conns.h>
#include <switchyard/pkt_classify.h>
#include <switchyard/pkt_quic.h>

#include "lb.h"

static inline void count(struct sy_lb *lb, enum sy_counter c)
{
	lb->stats->counters[c]++;
}

/* Count what a rewrite of the shared core (switchyard/pkt_encap.h) did. */
static inline enum sy_verdict count_rewrite(struct sy_lb *lb, struct sy_rewrite r)
{
	if (r.counter)
		count(lb, (enum sy_counter)r.counter);
	if (r.counter2)
		count(lb, (enum sy_counter)r.counter2);
	return (enum sy_verdict)r.verdict;
}

/* ---- Checksums left to offload ------------------------------------------- */

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
	sum = sy_csum_pseudo(p.family, p.key.src, p.key.dst, l4_len, p.proto);
	partial = (uint16_t)(sy_csum_fold(sum) ^ 0xffff); /* folded, not complemented */
	if (field != partial)
		return 0;
	memset(l4 + off, 0, 2);
	c = sy_csum_fold(sy_csum_partial(l4, l4_len, sum));
	if (p.proto == SY_IPPROTO_UDP && c == 0)
		c = 0xffff; /* 0 means "none" in UDP */
	memcpy(l4 + off, &c, 2);
	return 1;
}

/* ---- ICMP too-big ----------------------------------------------------------- */

/* A packet too big once encapsulated: the shared core answers it (or not)
 * with this lcore's ICMP error policy and bucket. */
static enum sy_verdict too_big(struct sy_lb *lb, struct sy_pkt *pkt, const struct sy_parsed *p,
			       const struct sy_out *o)
{
	struct sy_icmp_policy pol = {
		.bucket = &lb->icmp_bucket,
		.rate = lb->icmp_rate,
		.burst = lb->icmp_burst,
		.tick_ms = lb->now,
		.mtu_action = lb->mtu_action,
	};

	return count_rewrite(lb, sy_icmp_too_big(pkt, p, o, &pol));
}

/* ---- Backend selection ---------------------------------------------------- */

/* Index of the backend a conntrack entry names in svc now, or
 * SY_MAGLEV_NONE if it left. The entry's cached index holds while the
 * service object is the one it was taken from. */
static inline uint32_t entry_backend(const uint8_t *base, const struct sy_service *svc,
				     const struct sy_ct_entry *e)
{
	if (e->svc_version == (uint32_t)svc->version)
		return sy_ct_backend(e);
	return sy_service_find_uid_lo(base, svc, e->uid);
}

uint32_t sy_lb_predict(struct sy_lb *lb, const struct sy_service *svc,
		       const struct sy_flow_key *key, int *tracked)
{
	const struct sy_ct_entry *e = sy_ct_peek(&lb->ct, key, sy_ct_hash(&lb->ct, key), lb->now);

	*tracked = 0;
	if (e) {
		uint32_t idx = entry_backend(lb->base, svc, e);

		if (idx != SY_MAGLEV_NONE) {
			*tracked = 1;
			return idx;
		}
	}
	return sy_service_pick(lb->base, svc,
			       sy_service_flow_hash(key, svc->hash_seed, sy_service_hash_fields(svc)));
}

/* The backend of key's live entry in ct, a table another thread owns and
 * may be writing (sy_ct_peek_other), or SY_MAGLEV_NONE. The uid read there
 * is trusted only if it is a backend of this service now. */
static uint32_t tracked_elsewhere(const uint8_t *base, const struct sy_service *svc,
				  const struct sy_conntrack *ct, const struct sy_flow_key *key,
				  uint32_t now)
{
	uint32_t uid;

	if (!sy_ct_peek_other(ct, key, sy_ct_hash(ct, key), now, &uid))
		return SY_MAGLEV_NONE;
	return sy_service_find_uid_lo(base, svc, uid);
}

/* The backend of a flow another worker tracks (an ICMP error about it
 * arrived here: RSS hashes the error's own headers), or SY_MAGLEV_NONE. */
static uint32_t other_worker_backend(const struct sy_lb *lb, const struct sy_service *svc,
				     const struct sy_flow_key *key)
{
	for (uint32_t i = 0; i < lb->n_peer_ct; i++) {
		uint32_t idx;

		if (lb->peer_ct[i] == &lb->ct)
			continue;
		idx = tracked_elsewhere(lb->base, svc, lb->peer_ct[i], key, lb->now);
		if (idx != SY_MAGLEV_NONE)
			return idx;
	}
	return SY_MAGLEV_NONE;
}

uint32_t sy_lb_lookup(const uint8_t *base, const struct sy_service *svc,
		      const struct sy_conntrack *const *tables, uint32_t n_tables,
		      const struct sy_flow_key *key, uint32_t now, int *table)
{
	for (uint32_t i = 0; i < n_tables; i++) {
		uint32_t idx = tracked_elsewhere(base, svc, tables[i], key, now);

		if (idx != SY_MAGLEV_NONE) {
			*table = (int)i;
			return idx;
		}
	}
	*table = -1;
	return sy_service_pick(base, svc,
			       sy_service_flow_hash(key, svc->hash_seed, sy_service_hash_fields(svc)));
}

/* A frame between the two stages of the packet path. */
struct lb_work {
	struct sy_parsed p;
	const struct sy_service *svc;
	uint32_t ct_hash;   /* sy_ct_hash of the key (not for a fragment) */
	struct sy_ct_probe ct; /* its lines and stored key (the same frames) */
	uint32_t hash;      /* the flow hash, once flow_hash() computed it */
	bool hash_known;
	bool pending;       /* stage 2 is to run (else stage 1 gave the verdict) */
	bool probed;        /* ct holds its probe (the flow has ports) */
	uint32_t frame_len;
};

/* The flow hash (jhash: Maglev's and the encapsulation's), computed when
 * first needed: a tracked flow's packet needs it only for GUE and IPv6
 * outer headers. */
static inline uint32_t flow_hash(struct lb_work *w)
{
	if (!w->hash_known) {
		w->hash = sy_class_flow_hash(&w->p, w->svc->hash_seed,
					     sy_service_hash_fields(w->svc));
		w->hash_known = true;
	}
	return w->hash;
}

/* The backend of a least-connections service's new tracked flow: the fewest
 * of this worker's active connections per weight (switchyard/least_conns.h).
 * Out of line: only new flows of such services come here. */
static __attribute__((noinline)) uint32_t least_conns(const struct sy_lb *lb,
						      const struct sy_service *svc)
{
	const struct sy_backend *b = sy_service_backends(lb->base, svc);
	struct sy_least_conns lc;

	sy_least_conns_init(&lc);
	for (uint32_t i = 0; i < svc->n_backends; i++)
		sy_least_conns_offer(&lc, i, sy_backend_conns_get(&lb->ct.conns, (uint32_t)b[i].uid),
				     b[i].weight);
	return lc.best;
}

/* Backend for a TCP/UDP flow, tracking it. SY_MAGLEV_NONE if the service has
 * no backend for a new flow. */
static inline __attribute__((always_inline)) uint32_t
select_tracked(struct sy_lb *lb, const struct sy_service *svc, struct lb_work *w)
{
	const struct sy_parsed *p = &w->p;
	struct sy_ct_entry *e = sy_ct_lookup_fast(&lb->ct, &p->key, w->ct_hash, &w->ct, lb->now);
	enum sy_ct_insert_result how;
	uint32_t idx, bypass;

	if (e) {
		if (e->svc_version == (uint32_t)svc->version) {
			idx = sy_ct_backend(e);
		} else {
			/* Tables changed since: is our backend still in the set
			 * (maybe draining, maybe at another index)? */
			idx = sy_service_find_uid_lo(lb->base, svc, e->uid);
			if (idx == SY_MAGLEV_NONE) {
				idx = sy_service_pick(lb->base, svc, flow_hash(w));
				if (idx == SY_MAGLEV_NONE)
					return idx;
				count(lb, SY_C_CT_RESELECT);
				sy_backend_conns_drop(&lb->ct.conns, e->uid);
				e->uid = (uint32_t)sy_service_backends(lb->base, svc)[idx].uid;
				sy_backend_conns_add(&lb->ct.conns, e->uid);
			}
			e->backend = idx;
			e->svc_version = (uint32_t)svc->version;
		}
		count(lb, SY_C_CT_HIT);
		sy_ct_touch(&lb->ct, e, p->proto, p->tcp_flags, lb->now, true);
		return idx;
	}
	lb->chunk_misses++;
	idx = sy_service_pick(lb->base, svc, flow_hash(w));
	if (idx == SY_MAGLEV_NONE)
		return idx;
	bypass = sy_ct_guard_check(&lb->ct_guard, &lb->ct_guard_bucket, lb->now, p->proto,
				   p->tcp_flags);
	if (bypass) {
		count(lb, SY_C_CT_BYPASS);
		if (bypass != SY_C_CT_BYPASS)
			count(lb, (enum sy_counter)bypass);
		return idx;
	}
	if (svc->flags & SY_SERVICE_ROUND_ROBIN) /* tracked from here on (flow_hash.h) */
		idx = sy_service_pick(lb->base, svc,
				      sy_round_robin_slot(lb->vips[svc->slot].new_flows,
							  svc->table_size));
	else if (svc->flags & SY_SERVICE_LEAST_CONNS) /* idx had one: so has this */
		idx = least_conns(lb, svc);
	e = sy_ct_insert_probed(&lb->ct, &p->key, w->ct_hash, &w->ct, lb->now, &how);
	if (how == SY_CT_INS_EVICTED || how == SY_CT_INS_EVICTED2)
		lb->stats->counters[SY_C_CT_EVICT] += how == SY_CT_INS_EVICTED2 ? 2 : 1;
	else if (how == SY_CT_INS_EXPIRED)
		count(lb, SY_C_CT_EXPIRED);
	e->uid = (uint32_t)sy_service_backends(lb->base, svc)[idx].uid;
	e->svc_version = (uint32_t)svc->version;
	e->backend = idx;
	sy_ct_touch(&lb->ct, e, p->proto, p->tcp_flags, lb->now, false);
	sy_backend_conns_add(&lb->ct.conns, e->uid);
	count(lb, SY_C_CT_NEW);
	lb->vips[svc->slot].new_flows++;
	return idx;
}

/* The same out of line, for the rare frames' path (forward_other()). */
static __attribute__((noinline)) uint32_t select_tracked_call(struct sy_lb *lb,
							      const struct sy_service *svc,
							      struct lb_work *w)
{
	return select_tracked(lb, svc, w);
}

/* Backend of a whole UDP packet of a quic service named by its connection
 * ID's server ID (switchyard/pkt_quic.h), or SY_MAGLEV_NONE: a long header
 * (counter 0) or an unknown ID (counter quic_cid_unknown) go on to
 * conntrack and the hash as any packet. A known ID wins over conntrack and
 * is not tracked (docs/dataplane.md, "QUIC connection IDs"). The index in
 * the low 32 bits, the counter to add if the frame is forwarded in the
 * high 32 (in registers: no stack slot for the caller). Out of line: other
 * services pay one flag test. */
static __attribute__((noinline)) uint64_t quic_backend(const struct sy_lb *lb, struct sy_pkt *pkt,
						       const struct lb_work *w)
{
	const struct sy_parsed *p = &w->p;
	uint32_t id = 0, idx;

	if (p->is_frag || p->proto != SY_IPPROTO_UDP)
		return SY_MAGLEV_NONE;
	switch (sy_quic_route(pkt, p, &id)) {
	case SY_QUIC_HASH:
		return SY_MAGLEV_NONE;
	case SY_QUIC_SERVER_ID:
		idx = sy_service_quic_backend(lb->base, w->svc, id);
		if (idx != SY_MAGLEV_NONE)
			return idx | (uint64_t)SY_C_QUIC_CID_ROUTED << 32;
		break;
	case SY_QUIC_UNKNOWN:
		break;
	}
	return SY_MAGLEV_NONE | (uint64_t)SY_C_QUIC_CID_UNKNOWN << 32;
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

/* The VIP key of a frame's (destination, port, protocol, family): the
 * flow key's dst[4] then its dport, proto and family, the layout of struct
 * sy_vip_key (checked below), compared as three words. */
_Static_assert(offsetof(struct sy_flow_key, dst) + 16 == offsetof(struct sy_flow_key, sport) &&
		       offsetof(struct sy_flow_key, dport) + 2 == offsetof(struct sy_flow_key, proto) &&
		       offsetof(struct sy_flow_key, proto) + 1 == offsetof(struct sy_flow_key, family),
	       "sy_flow_key: dst, dport, proto, family");
_Static_assert(offsetof(struct sy_vip_key, port) == 16 && offsetof(struct sy_vip_key, proto) == 18 &&
		       offsetof(struct sy_vip_key, family) == 19 && sizeof(struct sy_vip_key) == 20,
	       "sy_vip_key: addr, port, proto, family");

static inline __attribute__((always_inline)) bool vip_cache_hit(const struct sy_lb *lb,
								  const struct sy_flow_key *key)
{
	/* The key's fields read as the parser stored them, one load a store:
	 * a wide load over several of its fresh stores (dst[0], dst[1] and
	 * dport, proto, family are separate ones) cannot take its bytes from
	 * the store buffer and waits for them to reach the cache (~8 TSC
	 * cycles a frame in lb_process_bench; on the fast path the compiler
	 * knows the zeros of dst[1..3] and keeps the rest in registers). */
	const struct sy_vip_key *c = &lb->vip_cache_key;
	struct {
		uint16_t port;
		uint8_t proto, family;
	} tail = { key->dport, key->proto, key->family };
	uint32_t t, ct;

	memcpy(&t, &tail, 4);
	memcpy(&ct, &c->port, 4);
	return ((key->dst[0] ^ c->addr[0]) | (key->dst[1] ^ c->addr[1]) | (key->dst[2] ^ c->addr[2]) |
		(key->dst[3] ^ c->addr[3]) | (t ^ ct)) == 0;
}

/* At the start of a call of the packet path (its frames all see lb->snap):
 * a cache of another generation is emptied. Its key's family 0 matches no
 * frame's key (4 or 6), so no frame of this call takes its answer. */
static inline void vip_cache_sync(struct sy_lb *lb)
{
	if (lb->snap && lb->vip_cache_gen != lb->snap->generation) {
		lb->vip_cache_gen = lb->snap->generation;
		lb->vip_cache_key.family = 0;
	}
}

static inline __attribute__((always_inline)) const struct sy_service *
find_service(struct sy_lb *lb, const struct sy_parsed *p)
{
	struct sy_vip_key k;

	/* Traffic comes in runs to the same VIP: remember the last answer of
	 * this snapshot and skip the hash lookup while it repeats. Keyed by
	 * generation, never by address: a reclaimed root's memory may come
	 * back as a newer root at the same place; the generation is checked
	 * once per call of the packet path (vip_cache_sync()), the snapshot
	 * being the same for all its frames. Fragments without their flow's
	 * ports (their address's fragment service) do not take it. */
	if (sy_frag_has_ports(p) && vip_cache_hit(lb, &p->key))
		return lb->vip_cache_svc;
	k = (struct sy_vip_key){ .family = p->key.family, .proto = p->key.proto,
				 .port = p->key.dport };
	memcpy(k.addr, p->key.dst, sizeof(k.addr));
	/* Fragments without their flow's ports go to the address's fragment
	 * service (no ports to match) */
	if (!sy_frag_has_ports(p))
		return sy_snapshot_vip_addr(lb->base, lb->snap, &k);
	lb->vip_cache_svc = sy_snapshot_match(lb->base, lb->snap, &k);
	lb->vip_cache_key = k;
	lb->vip_cache_gen = lb->snap->generation;
	return lb->vip_cache_svc;
}

/* The service of a fragment (switchyard/pkt_frag.h), out of the way of
 * whole packets: a later fragment takes its first's ports if this worker
 * remembers them; a first fragment of a VIP service is remembered, in stage
 * 1, so that later fragments of the same burst find it. */
static __attribute__((noinline)) const struct sy_service *
fragment_service(struct sy_lb *lb, struct sy_pkt *pkt, struct sy_parsed *p)
{
	enum sy_frag_step step = sy_frag_step(p);
	const struct sy_service *svc;
	struct sy_frag_ports ports;
	struct sy_frag_key k;

	if (step != SY_FRAG_NONE && sy_frag_key_of(pkt, p, &k))
		step = SY_FRAG_NONE;
	if (step == SY_FRAG_LOOKUP && sy_frag_table_lookup(&lb->frag, &k, lb->now, &ports))
		sy_frag_follow(p, ports);
	svc = sy_class_has_service(p) ? find_service(lb, p) : NULL;
	if (svc && step == SY_FRAG_REMEMBER)
		sy_frag_table_insert(&lb->frag, &k, sy_frag_ports_of(p), lb->now);
	return svc;
}

/* The end of stage 1 for a frame with a service (svc) or none (NULL):
 * the verdict of one without, or the conntrack hash and prefetches (ports:
 * the flow has its ports) and, while most frames are new flows, the flow
 * hash. */
static inline __attribute__((always_inline)) int classify_end(struct sy_lb *lb,
							      struct sy_pkt *pkt,
							      struct lb_work *w,
							      enum sy_verdict *v,
							      const struct sy_service *svc,
							      int ports)
{
	struct sy_parsed *p = &w->p;

	w->svc = svc;
	if (!svc) { /* else *v is forward()'s to give */
		uint32_t reason;

		*v = (enum sy_verdict)sy_class_unserved(p, vip_address(lb, &p->key), &reason);
		if (*v == SY_V_DROP)
			count(lb, (enum sy_counter)reason);
		return 0;
	}
	w->frame_len = pkt->len;
	w->hash_known = false;
	if (ports) { /* tracked, or an ICMP error that may peek at its flow */
		w->ct_hash = sy_ct_hash(&lb->ct, &p->key);
		/* IPv6 flows look in both lines (sy_ct_lookup()) */
		sy_ct_probe_lines(&lb->ct, &p->key, w->ct_hash, &w->ct,
				  lb->prefetch_other || p->key.family != SY_AF_INET);
	}
	w->probed = ports;
	if (lb->eager_hash)
		flow_hash(w);
	return 1;
}

/* Stage 1 for a frame the parser's fast path did not take: VLAN tags, IP
 * options, IPv6, fragments, ICMP, the host's protocols, malformed frames. */
static __attribute__((noinline)) int classify_general(struct sy_lb *lb, struct sy_pkt *pkt,
						      struct lb_work *w, enum sy_verdict *v)
{
	struct sy_parsed *p = &w->p;
	enum sy_verdict pv = (enum sy_verdict)sy_parse_frame_general(pkt, p, pkt->len);
	const struct sy_service *svc;

	if (pv == SY_V_DROP) {
		*v = pv;
		count(lb, (enum sy_counter)p->reason);
		return 0;
	}
	if (pv == SY_V_KERNEL || !lb->snap || !sy_class_may_be_ours(p)) {
		*v = SY_V_KERNEL;
		return 0;
	}
	if (p->is_frag)
		svc = fragment_service(lb, pkt, p);
	else
		svc = sy_class_has_service(p) ? find_service(lb, p) : NULL;
	return classify_end(lb, pkt, w, v, svc, sy_frag_has_ports(p));
}

/* Stage 1: classify the frame, find its service and its conntrack hash, and
 * prefetch the conntrack lines stage 2 will read. 1 if stage 2 is to run,
 * else 0 with the final verdict in *v. Reads the frame only. The common
 * frame (the parser's fast path) is inlined into the burst's loop, where
 * what it stored is still in registers; stage 2 has a loop of its own
 * (forward_burst()). */
static inline __attribute__((always_inline)) int classify(struct sy_lb *lb, struct sy_pkt *pkt,
							  struct lb_work *w, enum sy_verdict *v)
{
	struct sy_parsed *p = &w->p;

	if (__builtin_expect(!sy_parse_fast4(pkt, p, pkt->len), 0))
		return classify_general(lb, pkt, w, v);
	/* IPv4 TCP or UDP, not a fragment (switchyard/pkt_parse.h): may be
	 * ours, has a service to look up and its ports (the caller has seen
	 * to lb->snap: no_snapshot()) */
	return classify_end(lb, pkt, w, v, find_service(lb, p), 1);
}

/* The encapsulation of w's frame for backend b (ipip or gue, fwd_mode and
 * family: the service's mode and the backend's family, which a caller may
 * pass as constants), its parameters left in *out. */
static inline __attribute__((always_inline)) struct sy_rewrite
encap(const struct sy_lb *lb, struct sy_pkt *pkt, struct lb_work *w, const struct sy_backend *b,
      uint8_t fwd_mode, uint8_t family, struct sy_out *out)
{
	const struct sy_service *svc = w->svc;

	*out = (struct sy_out){
		.port_mac = lb->port_mac,
		.next_hop = b->mac,
		.src = family == SY_AF_INET ? &svc->encap_src4 : svc->encap_src6,
		.dst = b->id.addr,
		.mtu = lb->mtu,
		.gue_port = svc->gue_port,
		.family = family,
		.fwd_mode = fwd_mode,
	};
	if (sy_encap_uses_hash(out))
		out->hash = flow_hash(w);
	return sy_encap_write(pkt, &w->p, out);
}

/* At the start of a call of the packet path (its frames all see lb->snap,
 * port_mac and mtu: one port's): the templates' per-port words, and the
 * templates forgotten when the snapshot's generation (or the region) has
 * changed: a backend object's address may hold another object in a later
 * generation. */
static inline void tmpl_sync(struct sy_lb *lb)
{
	lb->tmpl_mac = sy_encap_tmpl_mac(lb->port_mac);
	lb->tmpl_l3_max[0] = (int32_t)lb->mtu - 20;
	lb->tmpl_l3_max[1] = (int32_t)lb->mtu - 28;
	if (lb->snap && (lb->tmpl_gen != lb->snap->generation || lb->tmpl_base != lb->base)) {
		for (uint32_t i = 0; i < SY_LB_TMPL_SLOTS; i++)
			lb->tmpl[i].key = NULL;
		lb->tmpl_gen = lb->snap->generation;
		lb->tmpl_base = lb->base;
	}
}

/* Build the template of backend b of w's service into t, unless another
 * backend of this generation holds t (0: the caller takes the writer).
 * Out of line: once per backend and generation. */
static __attribute__((noinline)) int tmpl_fill(const struct sy_lb *lb, struct sy_encap_tmpl *t,
					       const struct lb_work *w, const struct sy_backend *b)
{
	const struct sy_service *svc = w->svc;

	if (t->key)
		return 0;
	struct sy_out o = {
		.port_mac = lb->port_mac,
		.next_hop = b->mac,
		.src = &svc->encap_src4,
		.dst = b->id.addr,
		.mtu = lb->mtu,
		.gue_port = svc->gue_port,
		.family = b->id.family,
		.fwd_mode = svc->fwd_mode,
	};

	sy_encap_tmpl_build(t, &o, w->p.family);
	t->key = b;
	return 1;
}

/* The template of backend b (an IPv4 backend of an ipip or gue service:
 * gue 0 or 1) if it serves w's frame as it is (IPv4, untagged, it fits the
 * MTU and the headroom), else NULL: sy_encap_write() decides. An entry
 * another backend of this generation holds (their slots differ by a
 * multiple of SY_LB_TMPL_SLOTS) stays its: the second backend takes the
 * writer, rather than both rebuilding on every packet. */
static inline __attribute__((always_inline)) const struct sy_encap_tmpl *
tmpl_for(struct sy_lb *lb, const struct sy_pkt *pkt, const struct lb_work *w,
	 const struct sy_backend *b, int gue)
{
	struct sy_encap_tmpl *t = &lb->tmpl[b->slot & (SY_LB_TMPL_SLOTS - 1)];
	const struct sy_parsed *p = &w->p;

	if (__builtin_expect(t->key != b, 0) && !tmpl_fill(lb, t, w, b))
		return NULL;
	if (__builtin_expect(t->family != p->family || p->l2_len != 14 ||
			     (int32_t)p->l3_len > lb->tmpl_l3_max[gue] ||
			     pkt->headroom < (gue ? 28u : 20u), 0))
		return NULL;
	return t;
}

/* The end of stage 2 for backend idx (SY_MAGLEV_NONE: none): the rewrite
 * and the counters. note: a counter to add if the frame is forwarded, 0 =
 * none (the connection ID's quic_cid_routed / _unknown, icmp_ct_other).
 * whole: 1 (a constant) if the caller knows the frame is neither a
 * fragment nor an ICMP error, which then have no counters of their own to
 * add. */
static inline __attribute__((always_inline)) enum sy_verdict
forward_to(struct sy_lb *lb, struct sy_pkt *pkt, struct lb_work *w, uint32_t idx, uint32_t note,
	   int whole)
{
	const struct sy_parsed *p = &w->p;
	const struct sy_service *svc = w->svc;
	const struct sy_backend *b;
	struct sy_rewrite r;
	struct sy_out out;

	if (idx == SY_MAGLEV_NONE) {
		count(lb, SY_C_DROP_NO_BACKEND);
		lb->vips[svc->slot].drops++;
		return SY_V_DROP;
	}
	b = &sy_service_backends(lb->base, svc)[idx];

	/* the rewrite: the shared core's (switchyard/pkt_encap.h) */
	if (svc->fwd_mode == SY_FWD_L2DSR) {
		r = sy_l2dsr_write(pkt, p, b->mac, lb->port_mac);
	} else {
		/* IPv4 backends, the common case, from their template
		 * (tmpl_for()); any other frame through the shared writer */
		const struct sy_encap_tmpl *t;

		if (b->id.family == SY_AF_INET && svc->fwd_mode == SY_FWD_IPIP &&
		    (t = tmpl_for(lb, pkt, w, b, 0))) {
			sy_encap_tmpl_put(pkt, t, p, pkt->data[15], 0, 0,
					  lb->tmpl_mac);
		} else if (b->id.family == SY_AF_INET && svc->fwd_mode == SY_FWD_GUE &&
			   (flow_hash(w), t = tmpl_for(lb, pkt, w, b, 1))) {
			/* the hash (a call) first: the template's address
			 * then lives in a register, not across the call */
			sy_encap_tmpl_put(pkt, t, p, pkt->data[15], w->hash, 1, lb->tmpl_mac);
		} else {
			/* the family read again: kept from the tests above, it
			 * took a stack slot on every packet */
			r = encap(lb, pkt, w, b, svc->fwd_mode,
				  *(const volatile uint8_t *)&b->id.family, &out);
			if (r.counter == SY_C_DROP_MTU)
				return too_big(lb, pkt, p, &out);
			if (r.verdict != SY_V_TX)
				return count_rewrite(lb, r);
		}
		goto sent;
	}
	if (r.verdict != SY_V_TX)
		return count_rewrite(lb, r);
sent:
	/* how the backend was chosen is counted for what was forwarded: when
	 * not SY_CHOOSE_TRACKED, or a fragment, i.e. a fragment or an ICMP
	 * error (sy_class_choice()) */
	if (!whole && (p->is_frag | p->icmp_error)) {
		uint32_t c[3];

		sy_class_forward_counters(p, sy_class_choice(p), c);
		for (int i = 0; i < 3; i++)
			if (c[i])
				count(lb, (enum sy_counter)c[i]);
	}
	if (__builtin_expect(note, 0))
		count(lb, (enum sy_counter)note);
	count(lb, SY_C_FWD_PKTS);
	lb->vips[svc->slot].pkts++;
	lb->vips[svc->slot].bytes += w->frame_len;
	lb->backends[b->slot].pkts++;
	lb->backends[b->slot].bytes += w->frame_len;
	return SY_V_TX;
}

/* Stage 2 for the other frames: fragments (tracked if they have their
 * flow's ports), ICMP errors, a quic service's packets. Out of line, with
 * its own copy of the rewrite: the common frame's path then carries no
 * note and no test of the counters of fragments and ICMP errors. */
static __attribute__((noinline)) enum sy_verdict forward_other(struct sy_lb *lb,
							       struct sy_pkt *pkt,
							       struct lb_work *w)
{
	const struct sy_parsed *p = &w->p;
	const struct sy_service *svc = w->svc;
	/* a counter to add if the frame is forwarded, 0 = none: the
	 * connection ID's (quic_cid_routed / _unknown) or icmp_ct_other */
	uint32_t idx, note = 0;
	enum sy_class_choice how = sy_class_choice(p);

	if (how == SY_CHOOSE_FRAGMENT) {
		idx = sy_service_pick(lb->base, svc, flow_hash(w));
	} else if (how == SY_CHOOSE_ICMP) {
		int tracked;

		idx = sy_lb_predict(lb, svc, &p->key, &tracked);
		if (!tracked) {
			/* PMTU discovery of a flow whose backend is no longer
			 * its Maglev choice depends on this */
			uint32_t other = other_worker_backend(lb, svc, &p->key);

			if (other != SY_MAGLEV_NONE) {
				idx = other;
				note = SY_C_ICMP_CT_OTHER;
			}
		}
	} else {
		/* by its connection ID */
		uint64_t q = svc->flags & SY_SERVICE_QUIC ? quic_backend(lb, pkt, w) : SY_MAGLEV_NONE;

		idx = (uint32_t)q;
		note = (uint32_t)(q >> 32);
		if (idx == SY_MAGLEV_NONE)
			idx = select_tracked_call(lb, svc, w);
	}
	return forward_to(lb, pkt, w, idx, note, 0);
}

/* Stage 2: the backend (conntrack, else Maglev) and the rewrite. The
 * common frame, whole (not a fragment), not an ICMP error, of a service
 * other than quic, is tracked (sy_class_choice()) with nothing more to
 * count; the others take forward_other(). */
static inline __attribute__((always_inline)) enum sy_verdict
forward(struct sy_lb *lb, struct sy_pkt *pkt, struct lb_work *w)
{
	if (__builtin_expect((w->p.is_frag | w->p.icmp_error) ||
			     (w->svc->flags & SY_SERVICE_QUIC), 0))
		return forward_other(lb, pkt, w);
	return forward_to(lb, pkt, w, select_tracked(lb, w->svc, w), 0, 1);
}

/* Stage 2 of a burst: one call for its frames, not one each (the call's
 * register saves were ~18 instructions a frame); not inlined into the
 * burst's loop, where it costs more (GCC's register allocation of the
 * merged loop). */
static __attribute__((noinline)) void forward_burst(struct sy_lb *lb, struct sy_pkt *pkts,
						    struct lb_work *w, uint32_t m,
						    enum sy_verdict *verdicts)
{
	for (uint32_t i = 0; i < m; i++)
		if (w[i].pending)
			verdicts[i] = forward(lb, &pkts[i], &w[i]);
}

/* Before sy-control's first publication (no snapshot) no frame is ours:
 * each goes to the kernel, or is dropped and counted if malformed, as
 * classify_general() decides without one. Out of line, once a call of the
 * packet path: classify()'s fast path then does not test lb->snap. */
static __attribute__((noinline)) void no_snapshot(struct sy_lb *lb, struct sy_pkt *pkts, uint32_t n,
						  enum sy_verdict *verdicts)
{
	struct lb_work w;

	for (uint32_t i = 0; i < n; i++)
		classify_general(lb, &pkts[i], &w, &verdicts[i]);
}

enum sy_verdict sy_lb_process(struct sy_lb *lb, struct sy_pkt *pkt)
{
	struct lb_work w;
	enum sy_verdict v;

	if (__builtin_expect(!lb->snap, 0)) {
		no_snapshot(lb, pkt, 1, &v);
		return v;
	}
	vip_cache_sync(lb);
	tmpl_sync(lb);
	w.pending = classify(lb, pkt, &w, &v);
	if (w.pending) /* stage 2's one copy: a burst of one */
		forward_burst(lb, pkt, &w, 1, &v);
	return v;
}

/* The two stages of a chunk of n <= SY_LB_BURST frames. (As helpers GCC 12
 * compiles the chunk's loop shorter than written inline: callgrind,
 * lb_process_bench ipip 1,000 flows, 300.8 -> 295.8 instructions a packet
 * established, 681.5 -> 678.5 new.) */
static inline __attribute__((always_inline)) void stage1(struct sy_lb *lb, struct sy_pkt *pkts,
							 uint32_t n, struct lb_work *w,
							 enum sy_verdict *verdicts)
{
	/* every frame's conntrack lines are on their way before the first
	 * lookup: the misses of a burst overlap. Asked for back to back once
	 * the chunk is classified, not each amid its frame's classification:
	 * a prefetch that misses to DRAM holds up the core for a while (its
	 * translation and miss buffer), and in a row those waits overlap
	 * (lb_process_bench est 1M flows 84 -> 77 cycles; docs/dataplane.md,
	 * "Cost per established packet") */
	for (uint32_t i = 0; i < n; i++)
		w[i].pending = classify(lb, &pkts[i], &w[i], &verdicts[i]);
	for (uint32_t i = 0; i < n; i++)
		if (w[i].pending && w[i].probed)
			sy_ct_prefetch(&lb->ct, &w[i].ct);
}

static inline __attribute__((always_inline)) void stage2(struct sy_lb *lb, struct sy_pkt *pkts,
							 uint32_t n, struct lb_work *w,
							 enum sy_verdict *verdicts)
{
	lb->chunk_misses = 0;
	lb->ct.other_lookups = 0;
	forward_burst(lb, pkts, w, n, verdicts);
	lb->eager_hash = lb->chunk_misses * 2 > n;
	lb->prefetch_other = lb->ct.other_lookups != 0;
}

void sy_lb_process_burst(struct sy_lb *lb, struct sy_pkt *pkts, uint32_t n,
			 enum sy_verdict *verdicts)
{
	struct lb_work w[SY_LB_BURST];

	if (__builtin_expect(!lb->snap, 0)) {
		no_snapshot(lb, pkts, n, verdicts);
		return;
	}
	vip_cache_sync(lb);
	tmpl_sync(lb);
	while (n) {
		uint32_t m = n < SY_LB_BURST ? n : SY_LB_BURST;

		stage1(lb, pkts, m, w, verdicts);
		stage2(lb, pkts, m, w, verdicts);
		pkts += m;
		verdicts += m;
		n -= m;
	}
}
