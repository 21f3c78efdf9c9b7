/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The packet path of sy-dataplane, free of DPDK so that tests and fuzzers
 * drive it on plain buffers: classify one frame, pick its backend, rewrite it
 * in place for transmission. The DPDK loop (main.c) wraps mbufs around it.
 */
#ifndef SY_DATAPLANE_LB_H
#define SY_DATAPLANE_LB_H

#include <stdbool.h>
#include <stdint.h>

#include <switchyard/counters.h>
#include <switchyard/ct_guard.h>
#include <switchyard/icmp_error.h>
#include <switchyard/pkt_csum.h>       /* sy_csum_partial, sy_csum_fold */
#include <switchyard/pkt_icmp_reply.h> /* enum sy_mtu_action, the rewriters */
#include <switchyard/pkt_parse.h>      /* struct sy_pkt, sy_parsed, enum sy_verdict */
#include <switchyard/region.h>

#include "conntrack.h"
#include "frag_table.h"

/* Outer header templates per worker (a power of 2, 64 bytes each): of
 * backends whose slots differ by a multiple of it, the first a generation
 * sees has one, the others take the shared writer. */
#define SY_LB_TMPL_SLOTS 1024u

/* Per-lcore state of the packet path. */
struct sy_lb {
	const uint8_t *base;             /* region base */
	const struct sy_snapshot *snap;  /* current burst's snapshot (may be NULL) */
	struct sy_lcore_stats *stats;
	struct sy_vip_counters *vips;
	struct sy_backend_counters *backends;
	struct sy_conntrack ct;
	/* every worker's table (this one's included), read for ICMP errors
	 * about flows that RSS keeps on another worker; NULL: none */
	const struct sy_conntrack *const *peer_ct;
	uint32_t n_peer_ct;
	uint32_t now;                    /* ms tick, set per burst */
	uint8_t port_mac[6];             /* source MAC of what we send */
	uint16_t mtu;                    /* egress L3 MTU */
	uint8_t mtu_action;              /* enum sy_mtu_action */
	/* ICMP errors this lcore may originate: per second, burst (0 = the
	 * defaults of switchyard/icmp_error.h), and its bucket */
	uint32_t icmp_rate;
	uint32_t icmp_burst;
	struct sy_token_bucket icmp_bucket;
	/* last VIP lookup, valid in generation vip_cache_gen only (0 = none:
	 * published generations start at 1) */
	uint64_t vip_cache_gen;
	struct sy_vip_key vip_cache_key;
	const struct sy_service *vip_cache_svc;
	/* the flow hash (jhash) is computed when needed, in stage 2; while
	 * most frames are new flows (the last chunk missed conntrack for over
	 * half its frames: a flood, a burst of new connections) it is computed
	 * in stage 1 beside the prefetches, off the miss's critical path */
	bool eager_hash;
	/* the conntrack's other lines are prefetched in stage 1 too while
	 * flows are found beyond their primary line (a frame of the last
	 * chunk looked in its other line: a well-filled table, new flows);
	 * with few tracked flows every hit is in the primary line and the
	 * other's address is never computed (sy_ct_probe) */
	bool prefetch_other;
	uint32_t chunk_misses;
	/* the new-flow guard (switchyard/ct_guard.h; zeroed: off) and its
	 * bucket: new flows over the budget are forwarded untracked; after
	 * the fields every packet reads (only new flows read these) */
	struct sy_ct_guard ct_guard;
	struct sy_token_bucket ct_guard_bucket;
	/* for the outer header templates, set at the start of each call of
	 * the packet path: sy_encap_tmpl_mac() of port_mac; the largest L3
	 * packet that fits mtu once encapsulated, ipip and gue (may be
	 * negative); the generation and base the templates are of */
	uint64_t tmpl_mac;
	int32_t tmpl_l3_max[2];
	uint64_t tmpl_gen;
	const uint8_t *tmpl_base;
	/* first fragments' ports, for their later fragments (zeroed: empty);
	 * away from the fields every packet reads */
	struct sy_frag_table frag;
	/* outer header templates (switchyard/pkt_encap.h) of IPv4 backends,
	 * ipip and gue, by backend slot modulo SY_LB_TMPL_SLOTS (zeroed:
	 * empty); each valid for its backend object (key) in generation
	 * tmpl_gen of the region at tmpl_base (objects are immutable while
	 * published); one cache line each */
	struct sy_encap_tmpl tmpl[SY_LB_TMPL_SLOTS] __attribute__((aligned(64)));
};

/* The region under lb was replaced by another file (sy-dataplane follows
 * the region's path): it may be mapped at the same address, with
 * generations that start again, so what is kept by generation (the outer
 * header templates, the last VIP lookup) is forgotten before the next
 * packet (0 is no published generation; family 0 matches no frame). */
static inline void sy_lb_region_changed(struct sy_lb *lb)
{
	lb->tmpl_gen = 0;
	lb->vip_cache_gen = 0;
	lb->vip_cache_key.family = 0;
}

/* Process one frame. On SY_V_TX the frame has been rewritten in place
 * (pkt->data and pkt->len may change within the head/tailroom). */
enum sy_verdict sy_lb_process(struct sy_lb *lb, struct sy_pkt *pkt);

/* The same for n frames, in two stages (classify and prefetch every frame,
 * then pick and rewrite each): the same verdicts and rewrites as
 * sy_lb_process() frame by frame, in order. */
#define SY_LB_BURST 64
void sy_lb_process_burst(struct sy_lb *lb, struct sy_pkt *pkts, uint32_t n,
			 enum sy_verdict *verdicts);

/* Classification alone (sy_parse_frame() of switchyard/pkt_parse.h on a
 * plain buffer): SY_V_TX and *p filled, SY_V_KERNEL for non-IP or non-VIP
 * protocols, or SY_V_DROP with *reason set to a SY_C_DROP_* counter. */
enum sy_verdict sy_lb_parse(const uint8_t *data, uint32_t len, struct sy_parsed *p,
			    enum sy_counter *reason);

/* Which backend a flow gets, without changing any state, on the lcore that
 * owns lb: its own conntrack if tracked (*tracked = 1), else Maglev. Returns
 * the backend index or SY_MAGLEV_NONE. Another thread uses sy_lb_lookup. */
uint32_t sy_lb_predict(struct sy_lb *lb, const struct sy_service *svc,
		       const struct sy_flow_key *key, int *tracked);

/* The same from a thread that owns none of the tables (telemetry's lookup)
 * while their workers keep writing them: the first of tables[0..n_tables)
 * that tracks the flow, read with sy_ct_peek_other() and its backend kept
 * only if still in svc (*table = its index), else Maglev (*table = -1).
 * Returns the backend index or SY_MAGLEV_NONE. */
uint32_t sy_lb_lookup(const uint8_t *base, const struct sy_service *svc,
		      const struct sy_conntrack *const *tables, uint32_t n_tables,
		      const struct sy_flow_key *key, uint32_t now, int *table);

/* A frame for the kernel: if it is TCP or UDP whose checksum the sender left
 * to offload (the field holds the pseudo-header sum), compute the checksum.
 * Returns 1 if it did. Frames of any other kind are left as they are. */
int sy_lb_fill_offload_csum(uint8_t *frame, uint32_t len);

#endif
