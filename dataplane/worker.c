/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The worker loop, in the manner of DPDK's l3fwd: per iteration, report a
 * quiescent point and take the current snapshot (one load, one store), then
 * for every port receive a burst, run it through the staged packet path
 * (sy_lb_process_burst: classify and prefetch all, then forward each) and
 * transmit. No locks, system calls or allocations on this path.
 */
#include <stdio.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_pause.h>
#include <rte_ethdev.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>
#include <rte_random.h>

#include "dataplane.h"

struct sy_dataplane *sy_dp;

/* The worker's pointers into the region: its counters. */
static void bind_region(struct sy_dataplane *dp, struct sy_worker *w)
{
	struct sy_lcore_stats *st = sy_region_stats(&dp->map, w->index);

	w->lb.base = dp->map.base;
	w->lb.stats = st;
	w->lb.vips = sy_stats_vips(st);
	w->lb.backends = sy_stats_backends(&dp->map, st);
	sy_lb_region_changed(&w->lb);
}

int sy_worker_region_moved(struct sy_dataplane *dp, struct sy_worker *w, char *err,
			   size_t errlen)
{
	/* the slot in the new file (this process owns it there already when
	 * the file is a copy); left offline until the worker resumes */
	if (sy_reader_register(&dp->map, w->index, &w->reader, err, errlen))
		return -1;
	sy_reader_offline(&w->reader);
	bind_region(dp, w);
	return 0;
}

/* Held at the top of the loop while the region follower switches regions
 * (region_follow.c): offline, so that no snapshot is held, until released. */
static void park(struct sy_dataplane *dp, struct sy_worker *w)
{
	sy_reader_offline(&w->reader);
	atomic_fetch_add(&dp->parked, 1);
	while (atomic_load_explicit(&dp->park, memory_order_acquire) && !dp->quit)
		rte_pause();
	atomic_fetch_sub(&dp->parked, 1);
	sy_reader_online(&w->reader);
}

int sy_worker_init(struct sy_dataplane *dp, struct sy_worker *w)
{
	uint64_t ct_bytes = sy_ct_memsize(dp->opts.ct_size);
	uint64_t conns_bytes = sy_backend_conns_memsize(dp->opts.ct_size);
	void *ct_mem, *conns_mem;
	char err[256];

	if (sy_reader_register(&dp->map, w->index, &w->reader, err, sizeof(err))) {
		fprintf(stderr, "worker %u: %s\n", w->index, err);
		return -1;
	}
	ct_mem = rte_zmalloc_socket("sy_conntrack", ct_bytes, RTE_CACHE_LINE_SIZE,
				    (int)rte_lcore_to_socket_id(w->lcore));
	if (!ct_mem) {
		fprintf(stderr, "worker %u: cannot allocate %llu bytes of conntrack for %llu flows (hugepages? -m?)\n",
			w->index, (unsigned long long)ct_bytes, (unsigned long long)dp->opts.ct_size);
		return -1;
	}
	sy_ct_init(&w->lb.ct, ct_mem, dp->opts.ct_size, &dp->opts.ct_timeouts, rte_rand());
	/* active connections per backend: least-connections' counts */
	conns_mem = rte_zmalloc_socket("sy_backend_conns", conns_bytes, RTE_CACHE_LINE_SIZE,
				       (int)rte_lcore_to_socket_id(w->lcore));
	if (!conns_mem) {
		fprintf(stderr, "worker %u: cannot allocate %llu bytes of backend connection counts (hugepages? -m?)\n",
			w->index, (unsigned long long)conns_bytes);
		return -1;
	}
	sy_ct_attach_conns(&w->lb.ct, conns_mem, dp->opts.ct_size);
	bind_region(dp, w);
	w->lb.mtu_action = dp->opts.mtu_action;
	w->lb.icmp_rate = dp->opts.icmp_rate;
	w->lb.icmp_burst = dp->opts.icmp_burst;
	w->lb.ct_guard = dp->opts.ct_guard;
	w->lb.frag.timeout_ms = dp->opts.frag_timeout_ms;
	return 0;
}

/* Send n frames on (port, q); what the ring does not take is counted and
 * freed. bytes: their lengths' sum, which the caller takes before the send
 * (a sent mbuf is the driver's: freed, or another process's on a ring or
 * memif); the burst's forwarding loop adds them up as it goes. */
static inline void tx_flush(struct sy_lb *lb, uint16_t port, uint16_t q,
			    struct rte_mbuf **pkts, uint16_t n, uint64_t bytes)
{
	uint16_t sent;

	sent = n ? rte_eth_tx_burst(port, q, pkts, n) : 0;
	if (sent < n) {
		for (uint16_t i = sent; i < n; i++)
			bytes -= rte_pktmbuf_pkt_len(pkts[i]);
		lb->stats->counters[SY_C_DROP_TX_FULL] += n - sent;
		rte_pktmbuf_free_bulk(&pkts[sent], n - sent);
	}
	lb->stats->counters[SY_C_TX_PKTS] += sent;
	lb->stats->counters[SY_C_TX_BYTES] += bytes;
}

static inline uint64_t frames_bytes(struct rte_mbuf **pkts, uint16_t n)
{
	uint64_t bytes = 0;

	for (uint16_t i = 0; i < n; i++)
		bytes += rte_pktmbuf_pkt_len(pkts[i]);
	return bytes;
}

/* The frame of an mbuf for the packet path, its data prefetched; -1 if it
 * cannot be one contiguous buffer. */
static inline int mbuf_frame(struct rte_mbuf *m, struct sy_pkt *pkt)
{
	uint16_t off, len;

	if (unlikely(m->nb_segs > 1) && rte_pktmbuf_linearize(m))
		return -1;
	off = m->data_off;
	len = m->data_len;
	pkt->data = (uint8_t *)m->buf_addr + off;
	rte_prefetch0(pkt->data);
	pkt->len = len;
	pkt->headroom = off;
	pkt->tailroom = (uint32_t)m->buf_len - off - len;
	return 0;
}

/* A received burst (n > 0) through the packet path and out: the frames to
 * send on the port, to the kernel, or freed. Out of line: an empty poll
 * then pays none of its stack frame. */
static __attribute__((noinline)) void forward_rx(struct sy_worker *w, const struct sy_dp_port *p,
						 struct rte_mbuf **rx, uint16_t n)
{
	struct rte_mbuf *tx[SY_MAX_BURST], *kern[SY_MAX_BURST];
	struct rte_mbuf *held[SY_MAX_BURST];
	struct sy_pkt pkt[SY_MAX_BURST];
	enum sy_verdict v[SY_MAX_BURST];
	struct sy_lb *lb = &w->lb;
	uint16_t q = (uint16_t)w->index, n_pkt = 0, n_tx = 0, n_kern = 0;
	uint64_t bytes = 0, tx_bytes = 0;

	memcpy(lb->port_mac, p->mac.addr_bytes, 6);
	lb->mtu = p->mtu;
	/* every frame's data is on its way before the packet path reads the
	 * first (this loop reads the mbufs only) */
	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *m = rx[i];

		bytes += rte_pktmbuf_pkt_len(m);
		if (mbuf_frame(m, &pkt[n_pkt])) {
			lb->stats->counters[SY_C_DROP_NO_ROOM]++;
			rte_pktmbuf_free(m);
			continue;
		}
		held[n_pkt++] = m;
	}
	/* the staged packet path: every frame classified and its
	 * conntrack lines prefetched before the first is looked up */
	sy_lb_process_burst(lb, pkt, n_pkt, v);
	for (uint16_t i = 0; i < n_pkt; i++) {
		struct rte_mbuf *m = held[i];

		switch (v[i]) {
		case SY_V_TX:
			m->data_off = (uint16_t)(pkt[i].data - (uint8_t *)m->buf_addr);
			m->data_len = (uint16_t)pkt[i].len;
			m->pkt_len = pkt[i].len;
			tx_bytes += pkt[i].len;
			tx[n_tx++] = m;
			break;
		case SY_V_KERNEL:
			/* a frame larger than the TAP takes would stop
			 * its burst there: count it here instead */
			if (p->has_tap &&
			    rte_pktmbuf_pkt_len(m) <= p->tap_mtu + SY_FRAME_L2_MAX) {
				/* the kernel verifies what a TAP gives it */
				sy_lb_fill_offload_csum(rte_pktmbuf_mtod(m, uint8_t *),
							rte_pktmbuf_data_len(m));
				kern[n_kern++] = m;
				break;
			}
			lb->stats->counters[SY_C_DROP_KERNEL_FULL]++;
			rte_pktmbuf_free(m);
			break;
		default:
			rte_pktmbuf_free(m);
		}
	}
	lb->stats->counters[SY_C_RX_PKTS] += n;
	lb->stats->counters[SY_C_RX_BYTES] += bytes;
	tx_flush(lb, p->port_id, q, tx, n_tx, tx_bytes);
	if (n_kern) {
		uint16_t sent = rte_eth_tx_burst(p->tap_id, q, kern, n_kern);

		lb->stats->counters[SY_C_TO_KERNEL] += sent;
		if (sent < n_kern) {
			lb->stats->counters[SY_C_DROP_KERNEL_FULL] += n_kern - sent;
			rte_pktmbuf_free_bulk(&kern[sent], n_kern - sent);
		}
	}
}

/* Poll a port and its exception interface; the frames received. */
static uint32_t poll_port(struct sy_worker *w, const struct sy_dp_port *p, uint32_t burst)
{
	struct rte_mbuf *rx[SY_MAX_BURST];
	uint16_t q = (uint16_t)w->index, n, n_tap = 0;

	n = rte_eth_rx_burst(p->port_id, q, rx, (uint16_t)burst);
	if (n)
		forward_rx(w, p, rx, n);
	if (p->has_tap) {
		/* the kernel's own traffic (ARP/NDP answers, BGP, SSH) goes out */
		n_tap = rte_eth_rx_burst(p->tap_id, q, rx, (uint16_t)burst);
		w->lb.stats->counters[SY_C_FROM_KERNEL] += n_tap;
		tx_flush(&w->lb, p->port_id, q, rx, n_tap, frames_bytes(rx, n_tap));
	}
	return (uint32_t)n + n_tap;
}

bool sy_workers_quiesce(struct sy_dataplane *dp, uint64_t limit_ns)
{
	uint64_t seen[SY_MAX_WORKERS], t0 = sy_mono_ns();
	uint32_t n, i;

	if (!dp)
		return true;
	/* what the caller changed is seen by every round that starts after
	 * the counts read below (the workers store them seq_cst) */
	atomic_thread_fence(memory_order_seq_cst);
	n = dp->n_workers;
	for (i = 0; i < n; i++)
		seen[i] = atomic_load_explicit(&dp->workers[i].loops, memory_order_seq_cst);
	for (i = 0; i < n; i++) {
		if (seen[i] == 0) /* not started: its first round starts after */
			continue;
		for (;;) {
			uint64_t now = atomic_load_explicit(&dp->workers[i].loops,
							    memory_order_acquire);

			if (now != seen[i] || now == SY_WORKER_GONE)
				break;
			if (atomic_load(&dp->park) && atomic_load(&dp->parked) == n)
				return true;
			if (sy_mono_ns() - t0 > limit_ns)
				return false;
			usleep(20);
		}
	}
	return true;
}

bool sy_workers_unmap_wait(uint64_t limit_ns)
{
	return sy_workers_quiesce(sy_dp, limit_ns);
}

int sy_worker_main(void *arg)
{
	struct sy_worker *w = arg;
	struct sy_dataplane *dp = sy_dp;
	uint64_t hz_ms = rte_get_tsc_hz() / 1000, t_round = 0, tsc;
	uint32_t got = 0; /* frames the previous round received */

	printf("level=info msg=\"worker started\" worker=%u lcore=%u\n", w->index, w->lcore);
	fflush(stdout);
	/* in its loop from here (0: not started, nothing of it to wait for) */
	atomic_store_explicit(&w->loops, 1, memory_order_seq_cst);
	while (!dp->quit) {
		if (unlikely(atomic_load_explicit(&dp->park, memory_order_relaxed))) {
			park(dp, w);
			got = 0; /* the round before ended in the park: not counted */
		}
		/* The round's one clock read: the conntrack's clock, and the
		 * previous round's length if it had frames (busy_cycles: the
		 * cost of a frame and the worker's load, as testpmd's
		 * --record-core-cycles counts it; no read of its own) */
		tsc = rte_get_tsc_cycles();
		if (got) {
			w->lb.stats->counters[SY_C_BUSY_CYCLES] += tsc - t_round;
			w->lb.stats->counters[SY_C_BUSY_POLLS]++;
		}
		t_round = tsc;
		/* quiescent point + the snapshot for this round of bursts */
		w->lb.snap = sy_reader_begin(&w->reader);
		w->lb.now = (uint32_t)(tsc / hz_ms);
		got = 0;
		for (uint16_t i = 0; i < dp->n_ports; i++)
			if (!atomic_load_explicit(&dp->ports[i].paused, memory_order_relaxed))
				got += poll_port(w, &dp->ports[i], dp->opts.burst);
		sy_ct_sweep(&w->lb.ct, w->lb.now, 2);
		atomic_store_explicit(&w->reader.slot->bursts,
				      atomic_load_explicit(&w->reader.slot->bursts,
							   memory_order_relaxed) + 1,
				      memory_order_relaxed);
		/* out of this round's rx/tx calls (sy_workers_quiesce()):
		 * seq_cst, so that the next round's reads (a driver's
		 * "connected" flag, a callback list) come after the count is
		 * seen, not before (x86 lets a load pass an earlier store) */
		atomic_store_explicit(&w->loops,
				      atomic_load_explicit(&w->loops, memory_order_relaxed) + 1,
				      memory_order_seq_cst);
	}
	atomic_store_explicit(&w->loops, SY_WORKER_GONE, memory_order_release);
	sy_reader_unregister(&w->reader);
	return 0;
}
