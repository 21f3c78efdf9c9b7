/* SPDX-License-Identifier: BSD-3-Clause
 *
 * lb_process_bench: what sy_lb_process() costs per packet, without any
 * packet I/O (no DPDK). Not a test: it prints figures and asserts nothing.
 *
 *   lb_process_bench [--quick] [--mode ipip|gue|l2dsr|all] [--flows N|all]
 *                    [--kind est|new|all] [--runs R] [--packets P] [--ct-guard RATE]
 *
 * A region is created in /dev/shm with one service at a time, like web4 /
 * dns4 / dsr4 of tests/packets/services.txt (VIP 198.18.100.1, 3 backends of
 * weights 1, 1, 2, default Maglev size):
 *   ipip   tcp :80, IPv4-in-IPv4 to 198.18.1.x
 *   gue    udp :53, IPv4 + UDP (GUE variant 1) to 198.18.2.x
 *   l2dsr  tcp :80, destination MAC rewrite
 * Frames of 64 bytes (60 without FCS; Ethernet + IPv4 + TCP/UDP) are built
 * up front for N flows (flow k: source 198.18.0.0 + k % A, port 1024 + k / A,
 * A = min(N, 65536), as sy-pktgen does), N in {1, 1000, 1000000}.
 *
 * The loop does what a worker does with a burst: for 32 packets, put a fresh
 * copy of the next flow's frame into a buffer with 128 bytes of headroom (the
 * rewrite is destructive: encapsulation moves the Ethernet header into the
 * headroom), then run sy_lb_process_burst() on them (--per-packet:
 * sy_lb_process() on each, the path before the staged burst). The copy ("reset") is timed
 * alone in the same way and reported; "net" = median(process + reset) -
 * median(reset).
 *
 * Traffic kinds:
 *   est  every flow is in conntrack (a warm-up pass inserts them): CT hits.
 *   new  every packet is a flow conntrack has never seen: each pass over the
 *        N frames uses other source ports, then other source addresses of
 *        198.18.0.0/15 (billions of packets before a key repeats), so every
 *        lookup misses and Maglev picks. Warm-up fills the table, so
 *        inserts run in steady state (full buckets: the oldest entry goes).
 *        Checksums of these rewritten frames are not fixed: the packet path
 *        does not verify them.
 * The conntrack holds max(262144, 2N) flows (sy-dataplane's default, or
 * enough for every flow, as perf/bench_dataplane.sh configures it); its size
 * in bytes per tracked flow is printed before each flow count's rows and in
 * every ROW (ct_bytes_per_flow: 64 at 1M flows, 2M slots of 32 bytes).
 *
 * Each row: R runs (default 7, 5 with --quick) of P packets (default
 * 2,000,000), alternating process and reset-only runs; every run's TSC
 * cycles per packet are listed, then medians in cycles and ns. Counter
 * shares (ct hits / new / evictions) show which path the packets took.
 *
 * --ct-guard RATE (with --kind new): the new-flow guard's cost. The new rows
 * are measured twice, run by run interleaved: guard off (every new flow
 * inserted, as above) and guard at RATE new flows a second (bursts of the
 * default, switchyard/ct_guard.h). The clock does not move during a run, so
 * after its burst every new flow of the guarded run is over the budget:
 * forwarded by Maglev untracked (ct_bypass), the steady state of a flood.
 * The table is filled with the guard off first, as under a flood that
 * follows real traffic. A NEWFLOWS line prints new flows per second per
 * core (1e9 / net ns) of both.
 *
 * For instruction counts independent of the machine's noise, run a small
 * configuration under callgrind and read the inclusive cost of the two timed
 * loops (perf/bench_dataplane.sh does this):
 *   valgrind --tool=callgrind --toggle-collect=sy_bench_lb_loop \
 *     --toggle-collect=sy_bench_reset_loop build/perf/lb_process_bench \
 *     --mode ipip --flows 1000 --kind est --runs 1 --packets 200000
 * Instructions per packet = Ir(loop) / packets (the bench prints packets).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <unistd.h>
#include <x86intrin.h>

#include <switchyard/pkt_hdr.h>
#include <switchyard/region_writer.h>

#include "host_state.h"
#include "lb.h"

#define BURST 32
#define HEADROOM 128
#define BUF_SIZE 320 /* headroom + frame + tailroom, multiple of 64 */
#define FRAME_LEN 60 /* 64-byte frame without its FCS */
#define TMPL_SIZE 64 /* stride of the prebuilt frames */
#define MAX_RUNS 31
#define SPORT_BASE 1024u
#define SPORT_SPAN 64512u /* 1024..65535 */

enum kind { K_EST, K_NEW };
static const char *const kind_name[] = { "est", "new" };
static const char *const mode_name[] = { "", "ipip", "gue", "l2dsr" };

struct bench {
	struct sy_lb lb;
	uint8_t *tmpl;      /* n_flows frames of TMPL_SIZE bytes */
	uint16_t *port_idx; /* k / A, the flow's source-port index */
	uint32_t n_flows, n_addr, ports_per_pass;
	uint8_t *bufs;      /* BURST buffers of BUF_SIZE */
	/* traffic state */
	enum kind kind;
	uint32_t next;      /* next flow */
	uint64_t pass;      /* passes over the flows done (new: key variant) */
	uint32_t sport_delta; /* (pass * ports_per_pass) % SPORT_SPAN */
	uint32_t src_add;     /* added to the source address (host order) */
	uint32_t n_blocks;    /* 131072 / n_addr: address blocks in 198.18.0.0/15 */
	int per_packet;       /* sy_lb_process() frame by frame, not the burst */
	uint32_t guard_rate;  /* --ct-guard: new rows also with the guard */
	uint64_t sink;
};

static double clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static double now_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

static uint16_t be16(uint16_t v)
{
	return (uint16_t)(v >> 8 | v << 8);
}

static uint32_t be32(uint32_t v)
{
	return __builtin_bswap32(v);
}

static uint16_t csum(const void *p, uint32_t len, uint32_t s)
{
	return sy_csum_fold(sy_csum_partial(p, len, s));
}

/* Large tables on 2 MB pages where the kernel allows (THP), zeroed: the
 * dataplane's conntrack and mbufs live in DPDK hugepages, and 4 KB pages
 * would add TLB misses it does not have. */
static void *big_alloc(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	madvise(p, size, MADV_HUGEPAGE);
	memset(p, 0, size);
	return p;
}

static void big_free(void *p, size_t size)
{
	if (p)
		munmap(p, size);
}

/* ---- Region and service ------------------------------------------------- */

static int publish(struct sy_writer *w, int mode)
{
	struct sy_backend_spec b[3];
	struct sy_service_spec s = { .name = "bench", .fwd_mode = (uint8_t)mode,
				     .hash_seed = 7, .table_size = 0, .n_backends = 3,
				     .backends = b };
	char err[256];

	memset(b, 0, sizeof(b));
	for (uint32_t i = 0; i < 3; i++) {
		uint8_t net = mode == SY_FWD_GUE ? 2 : mode == SY_FWD_L2DSR ? 3 : 1;

		b[i].id.family = SY_AF_INET;
		b[i].id.addr[0] = be32(0xc6120000u | net << 8 | (i + 1)); /* 198.18.net.i+1 */
		b[i].id.port = mode == SY_FWD_GUE ? 53 : 80;
		b[i].weight = i == 2 ? 2 : 1;
		memcpy(b[i].mac, (uint8_t[6]){ 2, 0, 0, 0, net, (uint8_t)(i + 1) }, 6);
	}
	s.vip.family = SY_AF_INET;
	s.vip.proto = mode == SY_FWD_GUE ? SY_IPPROTO_UDP : SY_IPPROTO_TCP;
	s.vip.port = be16(mode == SY_FWD_GUE ? 53 : 80);
	s.vip.addr[0] = be32(0xc6126401u); /* 198.18.100.1 */
	s.encap_src4 = be32(0xc6120001u);  /* 198.18.0.1 */
	s.gue_port = be16(6080);
	if (sy_writer_set_service(w, &s, err, sizeof(err)) ||
	    sy_writer_commit(w, NULL, err, sizeof(err))) {
		fprintf(stderr, "lb_process_bench: publishing the %s service: %s\n", mode_name[mode],
			err);
		return -1;
	}
	return 0;
}

/* ---- Frames ------------------------------------------------------------- */

static void build_frames(struct bench *b, uint32_t n, uint8_t proto)
{
	uint32_t l4_len = FRAME_LEN - 14 - 20;

	b->n_flows = n;
	b->n_addr = n < 65536 ? n : 65536;
	b->ports_per_pass = (n + b->n_addr - 1) / b->n_addr;
	b->n_blocks = 131072 / b->n_addr;
	for (uint32_t k = 0; k < n; k++) {
		uint8_t *f = b->tmpl + (size_t)k * TMPL_SIZE;
		struct sy_eth_hdr *eth = (struct sy_eth_hdr *)f;
		struct sy_ip4_hdr *ip = (struct sy_ip4_hdr *)(f + 14);
		uint8_t *l4 = f + 34, pseudo[12];
		uint16_t c;

		memset(f, 0, TMPL_SIZE);
		memcpy(eth->dst, (uint8_t[6]){ 2, 0, 0, 0, 0, 0xaa }, 6);
		memcpy(eth->src, (uint8_t[6]){ 2, 0, 0, 0, 0, 0x01 }, 6);
		eth->proto = be16(SY_ETH_P_IPV4);
		ip->ver_ihl = 0x45;
		ip->tot_len = be16((uint16_t)(20 + l4_len));
		ip->frag_off = be16(SY_IP4_DF);
		ip->ttl = 64;
		ip->proto = proto;
		ip->saddr = be32(0xc6120000u + k % b->n_addr);
		ip->daddr = be32(0xc6126401u);
		ip->csum = csum(ip, 20, 0);
		b->port_idx[k] = (uint16_t)(k / b->n_addr);
		if (proto == SY_IPPROTO_UDP) {
			struct sy_udp_hdr *u = (struct sy_udp_hdr *)l4;

			u->sport = be16((uint16_t)(SPORT_BASE + b->port_idx[k]));
			u->dport = be16(53);
			u->len = be16((uint16_t)l4_len);
		} else {
			struct sy_tcp_hdr *t = (struct sy_tcp_hdr *)l4;

			t->sport = be16((uint16_t)(SPORT_BASE + b->port_idx[k]));
			t->dport = be16(80);
			t->seq = be32(1);
			t->ack = be32(1);
			t->doff_res = 5 << 4;
			t->flags = SY_TCP_ACK;
			t->window = be16(65535);
		}
		memcpy(pseudo, &ip->saddr, 8);
		pseudo[8] = 0;
		pseudo[9] = proto;
		pseudo[10] = 0;
		pseudo[11] = (uint8_t)l4_len;
		c = csum(l4, l4_len, sy_csum_partial(pseudo, 12, 0));
		if (proto == SY_IPPROTO_UDP && c == 0)
			c = 0xffff;
		memcpy(l4 + (proto == SY_IPPROTO_UDP ? 6 : 16), &c, 2);
	}
}

/* ---- The loops ---------------------------------------------------------- */

/* A fresh copy of the next flow's frame in buffer i; for "new" traffic the
 * key is varied per pass (sport, then source /16); "est" writes the same
 * values back, so both kinds pay the same reset. */
static inline __attribute__((always_inline)) void reset_one(struct bench *b, uint32_t i)
{
	uint8_t *d = b->bufs + (size_t)i * BUF_SIZE + HEADROOM;
	const uint8_t *f = b->tmpl + (size_t)b->next * TMPL_SIZE;
	uint32_t src, sp = b->port_idx[b->next] + b->sport_delta;
	uint16_t sport;

	memcpy(d, f, TMPL_SIZE);
	if (sp >= SPORT_SPAN)
		sp -= SPORT_SPAN;
	sport = be16((uint16_t)(SPORT_BASE + sp));
	memcpy(d + 34, &sport, 2);
	memcpy(&src, f + 26, 4);
	src = be32(be32(src) + b->src_add);
	memcpy(d + 26, &src, 4);
	if (++b->next == b->n_flows) {
		b->next = 0;
		if (b->kind == K_NEW) {
			/* key variant v: source ports first, then address blocks */
			uint64_t v = ++b->pass * b->ports_per_pass;

			b->sport_delta = (uint32_t)(v % SPORT_SPAN);
			b->src_add = (uint32_t)(v / SPORT_SPAN % b->n_blocks) * b->n_addr;
		}
	}
}

static inline __attribute__((always_inline)) void lb_loop(struct bench *b, uint64_t packets)
{
	for (uint64_t done = 0; done < packets; done += BURST) {
		for (uint32_t i = 0; i < BURST; i++)
			reset_one(b, i);
		struct sy_pkt pkt[BURST];
		enum sy_verdict v[BURST];

		for (uint32_t i = 0; i < BURST; i++)
			pkt[i] = (struct sy_pkt){
				.data = b->bufs + (size_t)i * BUF_SIZE + HEADROOM,
				.len = FRAME_LEN,
				.headroom = HEADROOM,
				.tailroom = BUF_SIZE - HEADROOM - FRAME_LEN,
			};
		if (b->per_packet)
			for (uint32_t i = 0; i < BURST; i++)
				v[i] = sy_lb_process(&b->lb, &pkt[i]);
		else
			sy_lb_process_burst(&b->lb, pkt, BURST, v);
		for (uint32_t i = 0; i < BURST; i++)
			b->sink += (uint64_t)v[i] + pkt[i].len + pkt[i].data[0];
	}
}

/* The timed loops: not inlined, so that callgrind can attribute to them. */
__attribute__((noinline)) void sy_bench_lb_loop(struct bench *b, uint64_t packets);
__attribute__((noinline)) void sy_bench_reset_loop(struct bench *b, uint64_t packets);

__attribute__((noinline)) void sy_bench_lb_loop(struct bench *b, uint64_t packets)
{
	lb_loop(b, packets);
}

__attribute__((noinline)) void sy_bench_reset_loop(struct bench *b, uint64_t packets)
{
	for (uint64_t done = 0; done < packets; done += BURST) {
		for (uint32_t i = 0; i < BURST; i++)
			reset_one(b, i);
		__asm__ volatile("" ::: "memory");
		for (uint32_t i = 0; i < BURST; i++) {
			const uint8_t *d = b->bufs + (size_t)i * BUF_SIZE + HEADROOM;

			b->sink += (uint64_t)d[0] + d[34];
		}
	}
}

__attribute__((noinline)) static void warm_loop(struct bench *b, uint64_t packets)
{
	lb_loop(b, packets);
}

/* ---- One row ------------------------------------------------------------ */

struct row {
	double proc[MAX_RUNS], reset[MAX_RUNS]; /* cycles per packet */
	double proc_ns[MAX_RUNS], reset_ns[MAX_RUNS];
	double cpu_share; /* thread CPU time / wall time over the timed runs */
	uint64_t hits, news, evicts, reuses, fwd, bypass, pkts;
};

static uint64_t ctr(const struct bench *b, enum sy_counter c)
{
	return b->lb.stats->counters[c];
}

/* Counters at the start of a run, for what it added to its row (row_add). */
struct row_start {
	uint64_t h, n, e, x, f, y;
};

static struct row_start row_start(const struct bench *b)
{
	return (struct row_start){ ctr(b, SY_C_CT_HIT), ctr(b, SY_C_CT_NEW), ctr(b, SY_C_CT_EVICT),
				   ctr(b, SY_C_CT_EXPIRED), ctr(b, SY_C_FWD_PKTS),
				   ctr(b, SY_C_CT_BYPASS) };
}

static void row_add(const struct bench *b, const struct row_start *s0, struct row *r)
{
	const struct row_start s1 = row_start(b);

	r->hits += s1.h - s0->h;
	r->news += s1.n - s0->n;
	r->evicts += s1.e - s0->e;
	r->reuses += s1.x - s0->x;
	r->fwd += s1.f - s0->f;
	r->bypass += s1.y - s0->y;
}

/* One timed run of the packet path into r's run k; its thread CPU and wall
 * time added to *cpu, *wall. */
static void timed_run(struct bench *b, uint64_t packets, struct row *r, int k, double *cpu,
		      double *wall)
{
	const struct row_start s0 = row_start(b);
	uint64_t c0;
	double t0, u0;

	u0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	t0 = now_ns();
	c0 = __rdtsc();
	sy_bench_lb_loop(b, packets);
	r->proc[k] = (double)(__rdtsc() - c0) / (double)packets;
	r->proc_ns[k] = (now_ns() - t0) / (double)packets;
	*cpu += clock_ns(CLOCK_THREAD_CPUTIME_ID) - u0;
	*wall += r->proc_ns[k] * (double)packets;
	r->pkts += packets;
	row_add(b, &s0, r);
}

/* Reset the table and the traffic to its first flow, and warm up. est:
 * two passes (insert, then warm caches); new: fill the table. */
static void row_prepare(struct bench *b, enum kind kind)
{
	uint64_t cap = sy_ct_capacity(&b->lb.ct);

	memset(b->lb.ct.lines, 0, sy_ct_memsize(cap));
	b->kind = kind;
	b->next = 0;
	b->pass = 0;
	b->sport_delta = 0;
	b->src_add = 0;
	b->lb.ct_guard = (struct sy_ct_guard){ 0 };
	warm_loop(b, kind == K_EST ? 2ull * b->n_flows : cap + b->n_flows);
}

/* A reset-only run into run k of the rows given. */
static void reset_run(struct bench *b, uint64_t packets, int k, struct row *r1, struct row *r2)
{
	uint64_t c0 = __rdtsc();
	double t0 = now_ns();

	sy_bench_reset_loop(b, packets);
	r1->reset[k] = (double)(__rdtsc() - c0) / (double)packets;
	r1->reset_ns[k] = (now_ns() - t0) / (double)packets;
	if (r2) {
		r2->reset[k] = r1->reset[k];
		r2->reset_ns[k] = r1->reset_ns[k];
	}
}

static void measure_row(struct bench *b, enum kind kind, int runs, uint64_t packets,
			struct row *r)
{
	double cpu = 0, wall = 0;

	packets = (packets + BURST - 1) / BURST * BURST;
	memset(r, 0, sizeof(*r));
	row_prepare(b, kind);
	for (int k = 0; k < runs; k++) {
		timed_run(b, packets, r, k, &cpu, &wall);
		reset_run(b, packets, k, r, NULL);
	}
	r->cpu_share = wall > 0 ? cpu / wall : 0;
}

/* --ct-guard: new flows with the guard off (*off) and at guard_rate (*on),
 * run by run interleaved, after one reset-only run each (shared). */
static void measure_guard_rows(struct bench *b, int runs, uint64_t packets, struct row *off,
			       struct row *on)
{
	const struct sy_ct_guard guard = { .rate = b->guard_rate };
	double cpu_off = 0, wall_off = 0, cpu_on = 0, wall_on = 0;

	packets = (packets + BURST - 1) / BURST * BURST;
	memset(off, 0, sizeof(*off));
	memset(on, 0, sizeof(*on));
	row_prepare(b, K_NEW); /* a full table, guard off */
	for (int k = 0; k < runs; k++) {
		timed_run(b, packets, off, k, &cpu_off, &wall_off);
		b->lb.ct_guard = guard;
		memset(&b->lb.ct_guard_bucket, 0, sizeof(b->lb.ct_guard_bucket)); /* full */
		timed_run(b, packets, on, k, &cpu_on, &wall_on);
		b->lb.ct_guard = (struct sy_ct_guard){ 0 };
		reset_run(b, packets, k, off, on);
	}
	off->cpu_share = wall_off > 0 ? cpu_off / wall_off : 0;
	on->cpu_share = wall_on > 0 ? cpu_on / wall_on : 0;
}

/* Median net ns per packet of a row. */
static double net_ns(const struct row *r, int runs)
{
	return sy_median(r->proc_ns, runs) - sy_median(r->reset_ns, runs);
}

static void print_row(int mode, const char *kind, uint32_t n, int runs, const struct row *r,
		      size_t ct_size)
{
	char vals[MAX_RUNS * 8 + 1] = "";
	size_t off = 0;
	double mp, mr, mpn, mrn;

	for (int k = 0; k < runs; k++)
		off += (size_t)snprintf(vals + off, sizeof(vals) - off, "%6.1f ", r->proc[k]);
	mp = sy_median(r->proc, runs);
	mr = sy_median(r->reset, runs);
	mpn = sy_median(r->proc_ns, runs);
	mrn = sy_median(r->reset_ns, runs);
	printf("%-6s %-4s %8u  %-*s | %6.1f %6.1f | %7.1f %7.2f | hit %.0f%% new %.0f%% evict %.2f%% reuse %.0f%% bypass %.0f%% fwd %.0f%% | on-CPU %.0f%%\n",
	       mode_name[mode], kind, n, runs * 7, vals, mr, mp, mp - mr, mpn - mrn,
	       100.0 * (double)r->hits / (double)r->pkts, 100.0 * (double)r->news / (double)r->pkts,
	       100.0 * (double)r->evicts / (double)r->pkts,
	       100.0 * (double)r->reuses / (double)r->pkts,
	       100.0 * (double)r->bypass / (double)r->pkts,
	       100.0 * (double)r->fwd / (double)r->pkts, 100.0 * r->cpu_share);
	if (r->cpu_share < 0.95)
		printf("WARNING: this row ran on the CPU for only %.0f%% of its wall time: another task shared the core and the cycle figures above count its time too; pin the bench to a quiet core (taskset)\n",
		       100.0 * r->cpu_share);
	printf("ROW mode=%s kind=%s flows=%u packets=%llu net_cycles=%.2f net_ns=%.3f proc_cycles=%.2f reset_cycles=%.2f evict_pct=%.3f bypass_pct=%.3f cpu_share=%.3f ct_bytes=%llu ct_bytes_per_flow=%.1f\n",
	       mode_name[mode], kind, n, (unsigned long long)r->pkts, mp - mr, mpn - mrn, mp, mr,
	       100.0 * (double)r->evicts / (double)r->pkts, 100.0 * (double)r->bypass / (double)r->pkts,
	       r->cpu_share, (unsigned long long)ct_size, (double)ct_size / (double)n);
	fflush(stdout);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: lb_process_bench [--quick] [--mode ipip|gue|l2dsr|all] [--flows N|all]\n"
		"                        [--kind est|new|all] [--runs R] [--packets P] [--per-packet]\n"
		"                        [--ct-guard RATE]\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "quick", no_argument, 0, 'q' },   { "mode", required_argument, 0, 'm' },
		{ "flows", required_argument, 0, 'f' }, { "kind", required_argument, 0, 'k' },
		{ "runs", required_argument, 0, 'r' },  { "packets", required_argument, 0, 'p' },
		{ "per-packet", no_argument, 0, 'P' }, { "help", no_argument, 0, 'h' },
		{ "ct-guard", required_argument, 0, 'g' },
		{ 0, 0, 0, 0 },
	};
	struct sy_region_limits lim = { .max_lcores = 4, .max_services = 16,
					.max_backends = 256, .heap_size = 32u << 20 };
	uint32_t flows_list[3] = { 1, 1000, 1000000 }, n_flows_list = 3, max_flows = 0;
	int modes[3] = { SY_FWD_IPIP, SY_FWD_GUE, SY_FWD_L2DSR }, n_modes = 3;
	int kinds[2] = { K_EST, K_NEW }, n_kinds = 2, runs = 7, c, rc = 1;
	uint64_t packets = 2000000;
	static struct bench b;
	struct sy_region_map *map;
	struct sy_lcore_stats *st;
	struct sy_writer *w = NULL;
	char path[96], err[256], when[48];
	struct sy_host_state host;
	uint64_t ct_cap;
	void *ct_mem = NULL;
	size_t ct_size = 0;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'P':
			b.per_packet = 1;
			break;
		case 'g':
			b.guard_rate = (uint32_t)strtoul(optarg, NULL, 10);
			if (b.guard_rate < 1 || b.guard_rate > SY_CT_GUARD_RATE_MAX)
				return fprintf(stderr, "--ct-guard: 1..%u new flows a second\n",
					       SY_CT_GUARD_RATE_MAX), 2;
			break;
		case 'q':
			runs = 5;
			packets = 500000;
			break;
		case 'm':
			if (strcmp(optarg, "all") == 0)
				break;
			n_modes = 1;
			if (strcmp(optarg, "ipip") == 0)
				modes[0] = SY_FWD_IPIP;
			else if (strcmp(optarg, "gue") == 0)
				modes[0] = SY_FWD_GUE;
			else if (strcmp(optarg, "l2dsr") == 0)
				modes[0] = SY_FWD_L2DSR;
			else
				return usage(), 2;
			break;
		case 'f':
			if (strcmp(optarg, "all") == 0)
				break;
			n_flows_list = 1;
			flows_list[0] = (uint32_t)strtoul(optarg, NULL, 10);
			if (flows_list[0] < 1 || flows_list[0] > 4000000)
				return fprintf(stderr, "--flows: 1..4000000\n"), 2;
			break;
		case 'k':
			if (strcmp(optarg, "all") == 0)
				break;
			n_kinds = 1;
			if (strcmp(optarg, "est") == 0)
				kinds[0] = K_EST;
			else if (strcmp(optarg, "new") == 0)
				kinds[0] = K_NEW;
			else
				return usage(), 2;
			break;
		case 'r':
			runs = atoi(optarg);
			if (runs < 1 || runs > MAX_RUNS)
				return fprintf(stderr, "--runs: 1..%d\n", MAX_RUNS), 2;
			break;
		case 'p':
			packets = strtoull(optarg, NULL, 10);
			if (packets < BURST || packets > 1000000000ull)
				return fprintf(stderr, "--packets: %d..1e9\n", BURST), 2;
			break;
		default:
			usage();
			return c == 'h' ? 0 : 2;
		}
	}
	for (uint32_t i = 0; i < n_flows_list; i++)
		max_flows = flows_list[i] > max_flows ? flows_list[i] : max_flows;

	snprintf(path, sizeof(path), "/dev/shm/sy-lb-bench-%d", getpid());
	if (sy_writer_create(path, "lb-bench", &lim, NULL, &w, err, sizeof(err))) {
		fprintf(stderr, "lb_process_bench: %s\n", err);
		return 1;
	}
	map = sy_writer_map(w);
	st = sy_region_stats(map, 0);
	b.lb.base = map->base;
	b.lb.stats = st;
	b.lb.vips = sy_stats_vips(st);
	b.lb.backends = sy_stats_backends(map, st);
	b.lb.now = 1000;
	b.lb.mtu = 1500;
	b.lb.mtu_action = SY_MTU_ICMP;
	memcpy(b.lb.port_mac, (uint8_t[6]){ 2, 0, 0, 0, 0, 0x10 }, 6);
	b.tmpl = big_alloc((size_t)max_flows * TMPL_SIZE);
	b.port_idx = malloc(sizeof(uint16_t) * max_flows);
	b.bufs = aligned_alloc(64, (size_t)BURST * BUF_SIZE);
	if (!b.tmpl || !b.port_idx || !b.bufs) {
		fprintf(stderr, "lb_process_bench: out of memory\n");
		goto out;
	}

	/* the state the rows start in (perf/host_state.h), with the TSC's
	 * rate, for the ns column's cross-check */
	if (sy_host_state_measure(&host, 3)) {
		fprintf(stderr, "lb_process_bench: out of memory for the host's probe\n");
		goto out;
	}

	printf("lb_process_bench: %s on %d-byte frames (64 with FCS), bursts of %d, %d bytes of headroom\n",
	       b.per_packet ? "sy_lb_process() frame by frame" : "sy_lb_process_burst()", FRAME_LEN,
	       BURST, HEADROOM);
	printf("TSC %.3f GHz; %d runs of %llu packets per row; run values are TSC cycles per packet of process + frame reset,\n"
	       "alternating with reset-only runs; net = median(process+reset) - median(reset)\n",
	       host.tsc_ghz, runs, (unsigned long long)((packets + BURST - 1) / BURST * BURST));
	printf("kinds: est = every flow tracked (conntrack hit); new = every packet a flow never seen (miss + Maglev + insert into a full table)\n");
	sy_host_state_print(stdout, "start", &host);
	printf("\n");
	printf("%-6s %-4s %8s  %-*s | %6s %6s | %7s %7s | %s\n", "mode", "kind", "flows",
	       runs * 7, "process+reset cycles/pkt, each run", "reset", "median", "net cyc",
	       "net ns", "paths taken");

	for (int mi = 0; mi < n_modes; mi++) {
		if (publish(w, modes[mi]))
			goto out;
		b.lb.snap = sy_writer_snapshot(w);
		for (uint32_t fi = 0; fi < n_flows_list; fi++) {
			uint32_t n = flows_list[fi];

			ct_cap = n * 2ull > 262144 ? n * 2ull : 262144;
			big_free(ct_mem, ct_size);
			ct_size = sy_ct_memsize(ct_cap);
			ct_mem = big_alloc(ct_size);
			if (!ct_mem) {
				fprintf(stderr, "lb_process_bench: out of memory for conntrack\n");
				goto out;
			}
			sy_ct_init(&b.lb.ct, ct_mem, ct_cap, NULL, 1);
			printf("conntrack for %u flows: %llu slots, %.1f MB, %.1f bytes per tracked flow\n", n,
			       (unsigned long long)sy_ct_capacity(&b.lb.ct), (double)ct_size / 1e6,
			       (double)ct_size / (double)n);
			build_frames(&b, n, modes[mi] == SY_FWD_GUE ? SY_IPPROTO_UDP : SY_IPPROTO_TCP);
			for (int ki = 0; ki < n_kinds; ki++) {
				struct row r = { 0 }, g = { 0 };

				if (kinds[ki] == K_NEW && b.guard_rate) {
					measure_guard_rows(&b, runs, packets, &r, &g);
					print_row(modes[mi], "new", n, runs, &r, ct_size);
					print_row(modes[mi], "new+guard", n, runs, &g, ct_size);
					printf("NEWFLOWS mode=%s flows=%u guard=off new_flows_per_s=%.0f guard=%u new_flows_per_s=%.0f bypass_pct=%.1f\n",
					       mode_name[modes[mi]], n, 1e9 / net_ns(&r, runs), b.guard_rate,
					       1e9 / net_ns(&g, runs), 100.0 * (double)g.bypass / (double)g.pkts);
				} else {
					measure_row(&b, (enum kind)kinds[ki], runs, packets, &r);
					print_row(modes[mi], kind_name[kinds[ki]], n, runs, &r, ct_size);
				}
				/* the state the row ended in: a run of several rows
				 * spans minutes, and the host's state changes in them */
				snprintf(when, sizeof(when), "after-%s-%s-%u", mode_name[modes[mi]],
					 kind_name[kinds[ki]], n);
				sy_host_state_report(stdout, when);
				fflush(stdout);
			}
		}
	}
	rc = 0;
	if (b.sink == 42)
		printf(" \n");
out:
	big_free(ct_mem, ct_size);
	big_free(b.tmpl, (size_t)max_flows * TMPL_SIZE);
	free(b.port_idx);
	free(b.bufs);
	if (w)
		sy_writer_close(w);
	unlink(path);
	return rc;
}
