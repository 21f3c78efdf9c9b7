/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Same flow -> same backend on both paths (DESIGN.md, "XDP fallback path"):
 * 10,000 random flows over three services of one region,
 *   ipip4  TCP 198.18.200.1:80, IPv4 backends of uneven weights, one
 *          draining, Maglev M = 65537 (a large inner table map);
 *   gue6   UDP [2001:2::200]:53, GUE to IPv6 backends (UDP checksum);
 *   dsr4   TCP 198.18.200.2, all ports, l2dsr;
 * each frame is run through the DPDK packet path (sy_lb_process() of
 * dataplane/lb.c) and through the XDP program (BPF_PROG_TEST_RUN of
 * bpf/sy_xdp_lb.bpf.c, maps filled by sy_xdp_sync() from the same region).
 * For every flow the destination (outer destination address, or destination
 * MAC for l2dsr) must be the same, and so must the whole output frame.
 *
 * Three rounds over the same flows:
 *   1. new flows: both paths count ct_new for each;
 *   2. the same flows again: tracked, ct_hit for each on both;
 *   3. after ipip4 loses a backend and gains another (a new region
 *      snapshot, mirrored with sy_xdp_sync: the departed backend is marked
 *      gone): the flows of the departed backend are re-hashed
 *      (ct_reselect), the others stay where they were although the Maglev
 *      table changed; both paths agree flow by flow and in their counters;
 *   4. the same after another backend left and its grace period passed
 *      (sy_xdp_tick deleted it: a tracked flow finds no backend at all).
 *
 * Then fragments (fragments_follow_their_flow): for every flow a first
 * fragment and a later one of a datagram, and for every fourth flow a later
 * fragment of another datagram before its first: both paths send the first
 * and its follower where the flow's packets go (its tracked backend), the
 * early one where the 3-tuple says, and count alike.
 *
 * Then least-connections (least_conns_both_paths): a service lc4 whose
 * backends both paths are given the same connection counts (the DPDK
 * worker's by sy_backend_conns_add, the XDP program's published by
 * sy_xdp_set_conns): 40 new flows go to the same backend on both paths,
 * each to the one an independent model of the choice names (fewest per
 * weight, ties to the first, the draining one never): the XDP CPU's own
 * new flows since the count weigh as the DPDK worker's entries do. Then
 * sy-control's count of the XDP tables (sy_xdp_count_conns) finds each
 * backend's flows exactly.
 *
 * The test pins itself to one CPU: conntrack is per CPU (under RSS a flow
 * stays on its CPU), and BPF_PROG_TEST_RUN runs the program on the caller's.
 *
 * Needs root; fails, never skips.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <linux/bpf.h>
#include <sched.h>

#include <switchyard/counters.h>
#include <switchyard/pkt_hdr.h>
#include <switchyard/pkt_quic.h>
#include <switchyard/region_writer.h>

#include "lb.h"
#include "test_rand.h"
#include "xdp_lb.h"
#include "xdp_lb_util.h"

#define N_FLOWS 10000
#define CT_FLOWS 65536
#define HEADROOM 256
#define MAXFRAME 256
#define GRACE_MS 50

static const uint8_t PORT_MAC[6] = { 0x02, 0, 0, 0, 0, 0x01 };

enum { SVC_IPIP4, SVC_GUE6, SVC_DSR4, N_SVC };

struct flow {
	int svc;
	uint8_t family, proto;
	uint32_t src[4], dst[4];
	uint16_t sport, dport; /* host order */
};

static struct {
	char path[128];
	struct sy_writer *w;
	struct sy_region_map *map;
	struct sy_xdp *x;
	int prog_fd;
	struct sy_lb lb;
	void *ct_mem;
	void *conns_mem; /* the DPDK worker's counts (least-connections) */
	struct flow flows[N_FLOWS];
	uint32_t dpdk_dest_of[N_FLOWS]; /* hash of the destination, per flow */
} env;

/* ---- services --------------------------------------------------------------- */

static void addr(const char *s, uint32_t out[4])
{
	memset(out, 0, 16);
	assert_int_equal(inet_pton(strchr(s, ':') ? AF_INET6 : AF_INET, s, out), 1);
}

static void backend(struct sy_backend_spec *b, const char *a, uint16_t port, uint8_t mac_lo,
		    uint32_t weight)
{
	memset(b, 0, sizeof(*b));
	b->id.family = strchr(a, ':') ? SY_AF_INET6 : SY_AF_INET;
	b->id.port = port;
	addr(a, b->id.addr);
	b->weight = weight;
	memcpy(b->mac, (uint8_t[6]){ 0x02, 0, 0, 0, 0x20, mac_lo }, 6);
}

/* ipip4's backends. Stage 1 replaces .2 (weight 2) with .6; stage 2 also
 * removes .3. */
static void set_ipip4(int stage)
{
	struct sy_backend_spec be[5];
	struct sy_service_spec s = {
		.name = "ipip4",
		.vip = { .port = htons(80), .proto = SY_IPPROTO_TCP, .family = SY_AF_INET },
		.fwd_mode = SY_FWD_IPIP,
		.hash_seed = 7,
		.round_robin = 1, /* scheduler: round-robin: both paths walk the table alike */
		.table_size = 65537,
		.backends = be,
	};
	char err[256] = "";
	uint32_t n = 0;

	addr("198.18.200.1", s.vip.addr);
	assert_int_equal(inet_pton(AF_INET, "198.18.0.1", &s.encap_src4), 1);
	backend(&be[n++], "198.18.20.1", 80, 1, 1);
	if (stage == 0)
		backend(&be[n++], "198.18.20.2", 80, 2, 2);
	else
		backend(&be[n++], "198.18.20.6", 80, 6, 2);
	if (stage < 2)
		backend(&be[n++], "198.18.20.3", 80, 3, 1);
	backend(&be[n++], "198.18.20.4", 80, 4, 3);
	backend(&be[n++], "198.18.20.5", 80, 5, 0); /* draining */
	s.n_backends = n;
	if (sy_writer_set_service(env.w, &s, err, sizeof(err)))
		print_message("ipip4: %s\n", err);
	assert_string_equal(err, "");
}

static void set_others(void)
{
	struct sy_backend_spec g[4], d[3];
	struct sy_service_spec gue = {
		.name = "gue6",
		.vip = { .port = htons(53), .proto = SY_IPPROTO_UDP, .family = SY_AF_INET6 },
		.fwd_mode = SY_FWD_GUE,
		.hash_seed = 0x1234,
		.hash_fields = SY_HASH_SRC_IP_PORT,
		.table_size = 4099,
		.n_backends = 4,
		.backends = g,
	};
	struct sy_service_spec dsr = {
		.name = "dsr4",
		.vip = { .port = 0, .proto = SY_IPPROTO_TCP, .family = SY_AF_INET },
		.fwd_mode = SY_FWD_L2DSR,
		.hash_seed = 99,
		.hash_fields = SY_HASH_SRC_IP, /* session affinity: a client's flows together */
		.table_size = 251,
		.n_backends = 3,
		.backends = d,
	};
	char err[256] = "";

	addr("2001:2::200", gue.vip.addr);
	addr("2001:2::1", gue.encap_src6);
	for (int i = 0; i < 4; i++) {
		char a[64];

		snprintf(a, sizeof(a), "2001:2::20:%d", i + 1);
		backend(&g[i], a, 53, (uint8_t)(0x11 + i), 1);
	}
	addr("198.18.200.2", dsr.vip.addr);
	for (int i = 0; i < 3; i++) {
		char a[64];

		snprintf(a, sizeof(a), "198.18.21.%d", i + 1);
		backend(&d[i], a, 0, (uint8_t)(0x21 + i), (uint32_t)i + 1);
	}
	assert_int_equal(sy_writer_set_service(env.w, &gue, err, sizeof(err)), 0);
	assert_int_equal(sy_writer_set_service(env.w, &dsr, err, sizeof(err)), 0);
}

static void publish(void)
{
	char err[256] = "";

	if (sy_writer_commit(env.w, NULL, err, sizeof(err)))
		print_message("commit: %s\n", err);
	assert_string_equal(err, "");
	env.lb.snap = sy_writer_snapshot(env.w);
	assert_non_null(env.lb.snap);
	if (sy_xdp_sync(env.x, env.map->base, env.lb.snap, err, sizeof(err)))
		print_message("sy_xdp_sync: %s\n", err);
	assert_string_equal(err, "");
}

/* ---- flows and frames ----------------------------------------------------------- */

static uint64_t rng = SY_TEST_RNG_SEED;

static uint32_t rnd(void)
{
	return sy_test_rnd(&rng);
}

static void make_flows(void)
{
	for (int i = 0; i < N_FLOWS; i++) {
		struct flow *f = &env.flows[i];

		memset(f, 0, sizeof(*f));
		f->svc = i % N_SVC;
		f->sport = (uint16_t)(1024 + rnd() % 64000);
		if (f->svc == SVC_GUE6) {
			f->family = SY_AF_INET6;
			f->proto = SY_IPPROTO_UDP;
			addr("2001:2:ff::", f->src);
			f->src[2] = rnd();
			f->src[3] = rnd();
			addr("2001:2::200", f->dst);
			f->dport = 53;
		} else {
			f->family = SY_AF_INET;
			f->proto = SY_IPPROTO_TCP;
			/* clients in 198.18.128.0/17; dsr4's from 64 of them, so
			 * that each has many flows (its hash is the client's) */
			f->src[0] = htonl(0xc6128000u | (rnd() & (f->svc == SVC_DSR4 ? 0x3f : 0x7fff)));
			addr(f->svc == SVC_IPIP4 ? "198.18.200.1" : "198.18.200.2", f->dst);
			f->dport = f->svc == SVC_IPIP4 ? 80 : (uint16_t)(1 + rnd() % 65535);
		}
	}
}

static uint16_t csum16(const void *d, size_t n)
{
	const uint8_t *p = d;
	uint32_t s = 0;

	for (; n > 1; n -= 2, p += 2)
		s += (uint32_t)p[0] << 8 | p[1];
	if (n)
		s += (uint32_t)p[0] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return htons((uint16_t)~s);
}

/* Client -> VIP frame of flow f: Ethernet, IP, TCP (ACK) or UDP, 32 bytes
 * of payload. */
static uint32_t frame(const struct flow *f, int i, uint8_t *o)
{
	uint32_t l4len = (f->proto == SY_IPPROTO_TCP ? 20 : 8) + 32, off = 14, l3;
	uint16_t et = htons(f->family == SY_AF_INET ? SY_ETH_P_IPV4 : SY_ETH_P_IPV6);
	uint8_t *l4;

	memcpy(o, PORT_MAC, 6);
	memcpy(o + 6, (uint8_t[6]){ 0x02, 0, 0, 0, 0x99, (uint8_t)i }, 6);
	memcpy(o + 12, &et, 2);
	if (f->family == SY_AF_INET) {
		struct sy_ip4_hdr ip = {
			.ver_ihl = 0x45,
			.tos = (uint8_t)(i & 0xfc),
			.tot_len = htons((uint16_t)(20 + l4len)),
			.id = htons((uint16_t)i),
			.frag_off = htons(SY_IP4_DF),
			.ttl = 61,
			.proto = f->proto,
			.saddr = f->src[0],
			.daddr = f->dst[0],
		};

		ip.csum = csum16(&ip, 20);
		memcpy(o + off, &ip, 20);
		l3 = 20;
	} else {
		struct sy_ip6_hdr ip = {
			.ver_tc_flow = htonl(6u << 28 | (uint32_t)(i & 0xff) << 20 | (uint32_t)i),
			.payload_len = htons((uint16_t)l4len),
			.nexthdr = f->proto,
			.hop_limit = 61,
		};

		memcpy(ip.saddr, f->src, 16);
		memcpy(ip.daddr, f->dst, 16);
		memcpy(o + off, &ip, 40);
		l3 = 40;
	}
	l4 = o + off + l3;
	memset(l4, 0, l4len);
	if (f->proto == SY_IPPROTO_TCP) {
		struct sy_tcp_hdr t = { .sport = htons(f->sport), .dport = htons(f->dport),
					.seq = htonl((uint32_t)i), .doff_res = 5 << 4,
					.flags = SY_TCP_ACK, .window = htons(512) };

		memcpy(l4, &t, 20);
		memset(l4 + 20, 'a' + i % 26, 32);
	} else {
		struct sy_udp_hdr u = { .sport = htons(f->sport), .dport = htons(f->dport),
					.len = htons((uint16_t)l4len) };

		memcpy(l4, &u, 8);
		memset(l4 + 8, 'A' + i % 26, 32);
	}
	return off + l3 + l4len;
}

/* ---- one round --------------------------------------------------------------------- */

/* The destination of an output frame: outer destination address, or the
 * destination MAC for l2dsr (whose IP packet is untouched). */
static void destination(const struct flow *f, const uint8_t *o, uint32_t len, char *buf,
			size_t n)
{
	uint16_t et = (uint16_t)(o[12] << 8 | o[13]);

	if (f->svc == SVC_DSR4) {
		snprintf(buf, n, "mac %02x:%02x:%02x:%02x:%02x:%02x", o[0], o[1], o[2], o[3], o[4],
			 o[5]);
	} else if (et == SY_ETH_P_IPV4 && len >= 34) {
		inet_ntop(AF_INET, o + 30, buf, (socklen_t)n);
	} else if (et == SY_ETH_P_IPV6 && len >= 54) {
		inet_ntop(AF_INET6, o + 38, buf, (socklen_t)n);
	} else {
		snprintf(buf, n, "(none)");
	}
}

struct round_result {
	uint64_t dpdk[SY_C__COUNT], xdp[SY_C__COUNT]; /* counter deltas */
	long moved;  /* flows whose destination changed since the last round */
};

static char last_dest[N_FLOWS][48];

static void run_round(const char *what, struct round_result *r)
{
	uint64_t x0[SY_LCORE_NCOUNTERS], x1[SY_LCORE_NCOUNTERS], d0[SY_C__COUNT];
	long dest_mismatch = 0, frame_mismatch = 0, not_tx = 0;

	memset(r, 0, sizeof(*r));
	memcpy(d0, env.lb.stats->counters, sizeof(d0));
	sy_xdp_read_counters(env.x, x0);
	for (int i = 0; i < N_FLOWS; i++) {
		const struct flow *f = &env.flows[i];
		uint8_t in[MAXFRAME], buf[HEADROOM + MAXFRAME + 64], xo[MAXFRAME + 128];
		uint32_t len = frame(f, i, in), xlen = 0, action = 0;
		struct sy_pkt pkt = { .data = buf + HEADROOM, .len = len, .headroom = HEADROOM,
				      .tailroom = sizeof(buf) - HEADROOM - len };
		char dd[48], xd[48];
		enum sy_verdict v;

		memcpy(pkt.data, in, len);
		v = sy_lb_process(&env.lb, &pkt);
		assert_int_equal(sy_xdp_test_run(env.prog_fd, in, len, xo, sizeof(xo), &xlen,
						 &action, NULL),
				 0);
		if (v != SY_V_TX || action != XDP_TX) {
			if (not_tx++ < 5)
				print_message("%s: flow %d: DPDK verdict %d, XDP action %u\n", what, i,
					      v, action);
			continue;
		}
		destination(f, pkt.data, pkt.len, dd, sizeof(dd));
		destination(f, xo, xlen, xd, sizeof(xd));
		if (strcmp(dd, xd) != 0 && dest_mismatch++ < 5)
			print_message("%s: flow %d (service %d): DPDK -> %s, XDP -> %s\n", what, i,
				      f->svc, dd, xd);
		if ((pkt.len != xlen || memcmp(pkt.data, xo, xlen) != 0) && frame_mismatch++ < 5)
			print_message("%s: flow %d: output frames differ (%u / %u bytes)\n", what, i,
				      pkt.len, xlen);
		if (last_dest[i][0] && strcmp(last_dest[i], dd) != 0)
			r->moved++;
		snprintf(last_dest[i], sizeof(last_dest[i]), "%s", dd);
	}
	sy_xdp_read_counters(env.x, x1);
	for (int c = 0; c < SY_C__COUNT; c++) {
		r->dpdk[c] = env.lb.stats->counters[c] - d0[c];
		r->xdp[c] = x1[c] - x0[c];
	}
	print_message("%s: %d flows, %ld not sent, %ld destinations and %ld frames differ, "
		      "%ld moved; ct_new %llu/%llu ct_hit %llu/%llu ct_reselect %llu/%llu "
		      "(DPDK/XDP)\n",
		      what, N_FLOWS, not_tx, dest_mismatch, frame_mismatch, r->moved,
		      (unsigned long long)r->dpdk[SY_C_CT_NEW], (unsigned long long)r->xdp[SY_C_CT_NEW],
		      (unsigned long long)r->dpdk[SY_C_CT_HIT], (unsigned long long)r->xdp[SY_C_CT_HIT],
		      (unsigned long long)r->dpdk[SY_C_CT_RESELECT],
		      (unsigned long long)r->xdp[SY_C_CT_RESELECT]);
	assert_int_equal(not_tx, 0);
	assert_int_equal(dest_mismatch, 0);
	assert_int_equal(frame_mismatch, 0);
	/* the packet path's counters agree (the XDP program also counts its
	 * I/O: rx, tx) */
	for (int c = 0; c < SY_C__COUNT; c++) {
		if (c == SY_C_RX_PKTS || c == SY_C_RX_BYTES || c == SY_C_TX_PKTS ||
		    c == SY_C_TX_BYTES)
			continue;
		if (r->dpdk[c] != r->xdp[c])
			print_message("%s: counter %d: DPDK +%llu, XDP +%llu\n", what, c,
				      (unsigned long long)r->dpdk[c], (unsigned long long)r->xdp[c]);
		assert_int_equal(r->dpdk[c], r->xdp[c]);
	}
	assert_int_equal(r->xdp[SY_C_RX_PKTS], N_FLOWS);
	assert_int_equal(r->xdp[SY_C_TX_PKTS], N_FLOWS);
	assert_int_equal(r->xdp[SY_C_FWD_PKTS], N_FLOWS);
}

/* dsr4 hashes the client's address (hash: source-ip): every flow of one
 * client, whatever its ports, went to one backend, on both paths (the round
 * checked that they agree); and not all clients to the same one. */
static void same_client_same_backend(void)
{
	const char *of_client[64] = { NULL };
	int flows = 0, backends = 0;

	for (int i = 0; i < N_FLOWS; i++) {
		const struct flow *f = &env.flows[i];
		uint32_t c = ntohl(f->src[0]) & 0x3f;

		if (f->svc != SVC_DSR4)
			continue;
		flows++;
		if (!of_client[c]) {
			of_client[c] = last_dest[i];
			continue;
		}
		if (strcmp(of_client[c], last_dest[i]))
			print_message("client %u: flow %d to %s, an earlier one to %s\n", c, i,
				      last_dest[i], of_client[c]);
		assert_string_equal(of_client[c], last_dest[i]);
	}
	for (int c = 0; c < 64; c++) { /* distinct backends among the clients' */
		int seen = 0;

		for (int d = 0; d < c && !seen; d++)
			seen = of_client[c] && of_client[d] && !strcmp(of_client[c], of_client[d]);
		backends += of_client[c] && !seen;
	}
	print_message("hash source-ip: %d flows of 64 clients, each client's to one backend "
		      "(%d backends in all)\n", flows, backends);
	assert_true(flows > 1000);
	assert_true(backends > 1);
}

/* ipip4 is round-robin: its k-th new flow went to entry k of its Maglev
 * table (on both paths: the round checked that they agree), and the
 * backends' shares are their entries' (weights 1, 2, 3, 0: draining). */
static void round_robin_walks_the_table(void)
{
	struct sy_vip_key vk = { .port = htons(80), .proto = SY_IPPROTO_TCP, .family = SY_AF_INET };
	const struct sy_service *s;
	const uint32_t *table;
	uint32_t k = 0;

	addr("198.18.200.1", vk.addr);
	s = sy_snapshot_match(env.map->base, env.lb.snap, &vk);
	assert_non_null(s);
	assert_true(s->flags & SY_SERVICE_ROUND_ROBIN);
	table = sy_service_table(env.map->base, s);
	for (int i = 0; i < N_FLOWS; i++) {
		char want[48];

		if (env.flows[i].svc != SVC_IPIP4)
			continue;
		inet_ntop(AF_INET, sy_service_backends(env.map->base, s)[table[k % s->table_size]].id.addr,
			  want, sizeof(want));
		if (strcmp(want, last_dest[i]))
			print_message("ipip4's new flow %u (flow %d) went to %s, entry %u is %s\n", k,
				      i, last_dest[i], k % s->table_size, want);
		assert_string_equal(want, last_dest[i]);
		k++;
	}
	print_message("round-robin: ipip4's %u new flows to its table's entries 0..%u in turn\n", k,
		      k - 1);
}

static void same_backend_both_paths(void **state)
{
	struct round_result r;

	(void)state;
	make_flows();

	run_round("new flows", &r);
	assert_int_equal(r.xdp[SY_C_CT_NEW], N_FLOWS);
	same_client_same_backend();
	round_robin_walks_the_table();

	run_round("tracked flows", &r);
	assert_int_equal(r.xdp[SY_C_CT_HIT], N_FLOWS);
	assert_int_equal(r.xdp[SY_C_CT_NEW], 0);
	assert_int_equal(r.moved, 0);

	/* ipip4: 198.18.20.2 leaves (marked gone in sy_backends), 198.18.20.6
	 * arrives */
	set_ipip4(1);
	publish();
	run_round("after a backend change", &r);
	assert_int_equal(r.xdp[SY_C_CT_HIT], N_FLOWS);
	/* exactly the flows of the departed backend moved, and were re-hashed */
	assert_true(r.xdp[SY_C_CT_RESELECT] > 0);
	assert_int_equal(r.moved, (long)r.xdp[SY_C_CT_RESELECT]);
	for (int i = 0; i < N_FLOWS; i++)
		assert_string_not_equal(last_dest[i], "198.18.20.2");

	/* 198.18.20.3 leaves, and its grace period passes: no longer in
	 * sy_backends at all when its flows come back */
	set_ipip4(2);
	publish();
	usleep((GRACE_MS + 20) * 1000);
	sy_xdp_tick(env.x);
	run_round("after a backend is deleted", &r);
	assert_int_equal(r.xdp[SY_C_CT_HIT], N_FLOWS);
	assert_true(r.xdp[SY_C_CT_RESELECT] > 0);
	assert_int_equal(r.moved, (long)r.xdp[SY_C_CT_RESELECT]);
	for (int i = 0; i < N_FLOWS; i++)
		assert_string_not_equal(last_dest[i], "198.18.20.3");
}

/* ---- fragments ---------------------------------------------------------------------- */

enum frag_kind { FRAG_FIRST, FRAG_LATER };

/* Flow f's frame as a fragment of datagram `id`: the first (offset 0, more
 * fragments: its TCP/UDP header is there) or a later one (offset 24). IPv6
 * gets a fragment header after the fixed one. */
static uint32_t fragment(const struct flow *f, int i, uint32_t id, enum frag_kind kind, uint8_t *o)
{
	uint8_t whole[MAXFRAME];
	uint32_t len = frame(f, i, whole);
	uint16_t fo = kind == FRAG_FIRST ? SY_IP4_MF : 24 / 8;

	if (f->family == SY_AF_INET) {
		struct sy_ip4_hdr ip;

		memcpy(o, whole, len);
		memcpy(&ip, o + 14, 20);
		ip.id = htons((uint16_t)id);
		ip.frag_off = htons(fo);
		ip.csum = 0;
		ip.csum = csum16(&ip, 20);
		memcpy(o + 14, &ip, 20);
		return len;
	}
	/* IPv6: fixed header, fragment header (next header: the flow's), rest */
	memcpy(o, whole, 14 + 40);
	o[14 + 6] = SY_IPPROTO_FRAGMENT;
	o[14 + 5] = (uint8_t)(o[14 + 5] + 8); /* payload length (< 256 here) */
	o[54] = f->proto;
	o[55] = 0;
	o[56] = (uint8_t)((kind == FRAG_FIRST ? 0 : 24) >> 8);
	o[57] = (uint8_t)((kind == FRAG_FIRST ? 0 : 24) | (kind == FRAG_FIRST ? 1 : 0));
	id = htonl(id);
	memcpy(o + 58, &id, 4);
	memcpy(o + 62, whole + 54, len - 54);
	return len + 8;
}

/* One frame through both paths; its destination (the same on both, or the
 * test fails) into dest. */
static void both_paths(const struct flow *f, const uint8_t *in, uint32_t len, char *dest, size_t n)
{
	uint8_t buf[HEADROOM + MAXFRAME + 64], xo[MAXFRAME + 128];
	struct sy_pkt pkt = { .data = buf + HEADROOM, .len = len, .headroom = HEADROOM,
			      .tailroom = sizeof(buf) - HEADROOM - len };
	uint32_t xlen = 0, action = 0;
	char xd[48];

	memcpy(pkt.data, in, len);
	assert_int_equal(sy_lb_process(&env.lb, &pkt), SY_V_TX);
	assert_int_equal(sy_xdp_test_run(env.prog_fd, in, len, xo, sizeof(xo), &xlen, &action, NULL), 0);
	assert_int_equal(action, XDP_TX);
	destination(f, pkt.data, pkt.len, dest, n);
	destination(f, xo, xlen, xd, sizeof(xd));
	assert_string_equal(dest, xd);
	assert_int_equal(pkt.len, xlen);
	assert_memory_equal(pkt.data, xo, xlen);
}

static void fragments_follow_their_flow(void **state)
{
	uint64_t x0[SY_LCORE_NCOUNTERS], x1[SY_LCORE_NCOUNTERS], d0[SY_C__COUNT];
	long early = 0, early_elsewhere = 0;

	(void)state;
	memcpy(d0, env.lb.stats->counters, sizeof(d0));
	sy_xdp_read_counters(env.x, x0);
	for (int i = 0; i < N_FLOWS; i++) {
		const struct flow *f = &env.flows[i];
		uint8_t in[MAXFRAME + 8];
		char d[48];
		uint32_t len;

		assert_true(last_dest[i][0]); /* same_backend_both_paths ran first */
		if (i % 4 == 0) { /* a later fragment before its first: the 3-tuple */
			len = fragment(f, i, 100000u + (uint32_t)i, FRAG_LATER, in);
			both_paths(f, in, len, d, sizeof(d));
			early++;
			early_elsewhere += strcmp(d, last_dest[i]) != 0;
		}
		len = fragment(f, i, (uint32_t)i, FRAG_FIRST, in);
		both_paths(f, in, len, d, sizeof(d));
		assert_string_equal(d, last_dest[i]); /* as the flow: its tracked backend */
		len = fragment(f, i, (uint32_t)i, FRAG_LATER, in);
		both_paths(f, in, len, d, sizeof(d));
		assert_string_equal(d, last_dest[i]); /* after its first */
	}
	sy_xdp_read_counters(env.x, x1);
	print_message("fragments: %d datagrams' first and later fragments to their flow's backend on "
		      "both paths; %ld later fragments before their first by the 3-tuple (%ld of "
		      "them elsewhere)\n", N_FLOWS, early, early_elsewhere);
	for (int c = 0; c < SY_C__COUNT; c++) {
		uint64_t dd = env.lb.stats->counters[c] - d0[c], xd = x1[c] - x0[c];

		if (c == SY_C_RX_PKTS || c == SY_C_RX_BYTES || c == SY_C_TX_PKTS ||
		    c == SY_C_TX_BYTES)
			continue;
		if (dd != xd)
			print_message("fragments: counter %d: DPDK +%llu, XDP +%llu\n", c,
				      (unsigned long long)dd, (unsigned long long)xd);
		assert_int_equal(dd, xd);
	}
	assert_int_equal(x1[SY_C_FRAGMENTS] - x0[SY_C_FRAGMENTS], 2 * N_FLOWS + early);
	assert_int_equal(x1[SY_C_FRAG_FOLLOWED] - x0[SY_C_FRAG_FOLLOWED], N_FLOWS);
	assert_int_equal(x1[SY_C_FRAG_UNTRACKED] - x0[SY_C_FRAG_UNTRACKED], early);
	assert_int_equal(x1[SY_C_CT_HIT] - x0[SY_C_CT_HIT], 2 * N_FLOWS);
	assert_true(early_elsewhere > 0); /* the 3-tuple is not the flow's choice */
}

/* ---- least-connections ------------------------------------------------------------- */

#define LC_FLOWS 40

static const char *const lc_addrs[] = { "198.18.22.1", "198.18.22.2", "198.18.22.3",
					"198.18.22.4" };

/* Which of lc_addrs backend b is. */
static int lc_index(const struct sy_backend *b)
{
	for (int k = 0; k < 4; k++) {
		uint32_t a[4];

		addr(lc_addrs[k], a);
		if (a[0] == b->id.addr[0])
			return k;
	}
	fail();
	return -1;
}

static void least_conns_both_paths(void **state)
{
	const char *const *addrs = lc_addrs;
	static const uint32_t weight[] = { 1, 2, 1, 0 }, given[] = { 5, 4, 3, 0 };
	struct sy_backend_spec be[4];
	struct sy_service_spec spec = {
		.name = "lc4",
		.vip = { .port = htons(80), .proto = SY_IPPROTO_TCP, .family = SY_AF_INET },
		.fwd_mode = SY_FWD_IPIP,
		.hash_seed = 5,
		.least_conns = 1,
		.table_size = 251,
		.n_backends = 4,
		.backends = be,
	};
	struct sy_vip_key vk = { .port = htons(80), .proto = SY_IPPROTO_TCP, .family = SY_AF_INET };
	uint32_t model[4], sent[4] = { 0 };
	const struct sy_service *s;
	char err[256] = "";

	(void)state;
	addr("198.18.200.3", spec.vip.addr);
	assert_int_equal(inet_pton(AF_INET, "198.18.0.1", &spec.encap_src4), 1);
	for (int i = 0; i < 4; i++)
		backend(&be[i], addrs[i], 80, (uint8_t)(0x31 + i), weight[i]);
	assert_int_equal(sy_writer_set_service(env.w, &spec, err, sizeof(err)), 0);
	publish();
	vk.addr[0] = spec.vip.addr[0];
	s = sy_snapshot_match(env.map->base, env.lb.snap, &vk);
	assert_non_null(s);
	assert_true(s->flags & SY_SERVICE_LEAST_CONNS);

	/* the same counts on both paths: a new epoch (the XDP tables hold
	 * nothing of lc4: 0 each), then each backend's given count */
	assert_int_equal(sy_xdp_count_conns(env.x), 0);
	for (uint32_t i = 0; i < s->n_backends; i++) {
		const struct sy_backend *b = &sy_service_backends(env.map->base, s)[i];
		int k = lc_index(b);

		assert_int_equal(sy_xdp_conns(env.x, b->uid), 0);
		for (uint32_t c = 0; c < given[k]; c++)
			sy_backend_conns_add(&env.lb.ct.conns, (uint32_t)b->uid);
		assert_int_equal(sy_xdp_set_conns(env.x, b->uid, given[k]), 0);
	}
	memcpy(model, given, sizeof(model));
	for (int f = 0; f < LC_FLOWS; f++) {
		struct flow fl = { .svc = SVC_IPIP4, .family = SY_AF_INET, .proto = SY_IPPROTO_TCP,
				   .sport = (uint16_t)(30000 + f), .dport = 80 };
		uint8_t in[MAXFRAME];
		uint32_t len;
		int want = -1;
		char d[48];

		/* the model: canonical order is the address order here */
		for (int k = 0; k < 4; k++)
			if (weight[k] && (want < 0 || (uint64_t)model[k] * weight[want] <
							      (uint64_t)model[want] * weight[k]))
				want = k;
		fl.src[0] = htonl(0xc6130000u | (uint32_t)f); /* 198.19.0.f */
		fl.dst[0] = spec.vip.addr[0];
		len = frame(&fl, f, in);
		both_paths(&fl, in, len, d, sizeof(d));
		if (strcmp(d, addrs[want]))
			print_message("lc4 flow %d: both paths to %s, the model says %s\n", f, d,
				      addrs[want]);
		assert_string_equal(d, addrs[want]);
		model[want]++;
		sent[want]++;
	}
	print_message("least-connections: %d new flows over counts 5, 4, 3, 0 and weights 1, 2, "
		      "1, 0: %u, %u, %u, %u (both paths, as the model)\n", LC_FLOWS, sent[0],
		      sent[1], sent[2], sent[3]);
	assert_int_equal(sent[3], 0); /* draining */

	/* sy-control's count of the XDP tables: exactly the flows sent */
	assert_int_equal(sy_xdp_count_conns(env.x), 0);
	for (uint32_t i = 0; i < s->n_backends; i++) {
		const struct sy_backend *b = &sy_service_backends(env.map->base, s)[i];
		int k = lc_index(b);

		assert_int_equal(sy_xdp_conns(env.x, b->uid), sent[k]);
		assert_int_equal(sy_backend_conns_get(&env.lb.ct.conns, (uint32_t)b->uid),
				 given[k] + sent[k]);
	}
}

/* ---- QUIC connection IDs (switchyard/pkt_quic.h) ----------------------------------- */

/* quic4: UDP 198.18.200.3:443, quic: true; backends .22.1 (server ID
 * 0x123), .22.2 (0x10001: a version-2 CID only), .22.3 (none), .22.4 (77). */
static void set_quic4(int stage)
{
	struct sy_backend_spec be[4];
	struct sy_service_spec s = {
		.name = "quic4",
		.vip = { .port = htons(443), .proto = SY_IPPROTO_UDP, .family = SY_AF_INET },
		.fwd_mode = SY_FWD_IPIP,
		.hash_seed = 5,
		.quic = 1,
		.table_size = 251,
		.backends = be,
	};
	static const uint32_t ids[4] = { 0x123, 0x10001, 0, 77 };
	char err[256] = "";
	uint32_t n = 0;

	addr("198.18.200.3", s.vip.addr);
	assert_int_equal(inet_pton(AF_INET, "198.18.0.1", &s.encap_src4), 1);
	for (int i = 0; i < 4; i++) {
		char a[32];

		if (stage == 1 && i == 0)
			continue; /* stage 1: .22.1 (0x123) left, .22.4 now 78 */
		snprintf(a, sizeof(a), "198.18.22.%d", i + 1);
		backend(&be[n], a, 443, (uint8_t)(0x31 + i), 1);
		be[n++].server_id = stage == 1 && i == 3 ? 78 : ids[i];
	}
	s.n_backends = n;
	if (sy_writer_set_service(env.w, &s, err, sizeof(err)))
		print_message("quic4: %s\n", err);
	assert_string_equal(err, "");
}

/* A UDP frame of flow f whose payload is the first plen bytes of q (up to
 * 32; the rest of the 32 zero when plen is 32, else the datagram is cut). */
static uint32_t quic_frame(const struct flow *f, const uint8_t *q, uint32_t plen, uint8_t *o)
{
	uint32_t len = frame(f, 0, o), l4 = f->family == SY_AF_INET ? 34 : 54;
	struct sy_ip4_hdr ip;

	memset(o + l4 + 8, 0, 32);
	memcpy(o + l4 + 8, q, plen);
	if (plen == 32)
		return len;
	/* a shorter datagram: the UDP and IPv4 lengths follow (IPv4 only) */
	assert_int_equal(f->family, SY_AF_INET);
	memcpy(&ip, o + 14, 20);
	ip.tot_len = htons((uint16_t)(20 + 8 + plen));
	ip.csum = 0;
	ip.csum = csum16(&ip, 20);
	memcpy(o + 14, &ip, 20);
	o[l4 + 4] = 0;
	o[l4 + 5] = (uint8_t)(8 + plen);
	return 14 + 20 + 8 + plen;
}

/* A short header (fixed bit set) whose CID carries server_id in this
 * version (0/3: the raw top bits, no ID). */
static void short_header(uint8_t q[32], uint32_t version, uint32_t server_id)
{
	memset(q, 0, 32);
	q[0] = 0x40 | 0x01; /* short header, fixed bit, key phase 0, pn length 2 */
	if (version == SY_QUIC_CID_V1 || version == SY_QUIC_CID_V2)
		assert_int_equal(sy_quic_cid_encode(version, server_id, q + 1), 0);
	else
		q[1] = (uint8_t)(version << 6 | 0x12);
	for (int i = 5; i < 9; i++)
		q[i] = (uint8_t)(0xa0 + i); /* the rest of the 8-byte CID: the backend's */
}

static const char *quic_backend_addr(uint32_t server_id)
{
	return server_id == 0x123	? "198.18.22.1"
	       : server_id == 0x10001 ? "198.18.22.2"
	       : server_id == 77      ? "198.18.22.4"
				      : NULL;
}

/* The backend the hash gives flow f now (Maglev, as no table holds it). */
static void maglev_dest(const struct flow *f, char *buf, size_t n)
{
	struct sy_vip_key vk = { .port = htons(443), .proto = SY_IPPROTO_UDP,
				 .family = SY_AF_INET };
	struct sy_flow_key k = { .sport = htons(f->sport), .dport = htons(f->dport),
				 .proto = f->proto, .family = f->family };
	const struct sy_service *s;
	int tracked;
	uint32_t idx;

	memcpy(vk.addr, f->dst, 16);
	memcpy(k.src, f->src, 16);
	memcpy(k.dst, f->dst, 16);
	s = sy_snapshot_match(env.map->base, env.lb.snap, &vk);
	assert_non_null(s);
	idx = sy_lb_predict(&env.lb, s, &k, &tracked);
	assert_int_equal(tracked, 0);
	inet_ntop(AF_INET, sy_service_backends(env.map->base, s)[idx].id.addr, buf, (socklen_t)n);
}

static void quic_counters(const uint64_t *d0, const uint64_t *x0, uint64_t routed, uint64_t unknown)
{
	uint64_t x1[SY_LCORE_NCOUNTERS];

	sy_xdp_read_counters(env.x, x1);
	for (int c = 0; c < SY_C__COUNT; c++) {
		if (c == SY_C_RX_PKTS || c == SY_C_RX_BYTES || c == SY_C_TX_PKTS ||
		    c == SY_C_TX_BYTES)
			continue;
		if (env.lb.stats->counters[c] - d0[c] != x1[c] - x0[c])
			print_message("quic: counter %d: DPDK +%llu, XDP +%llu\n", c,
				      (unsigned long long)(env.lb.stats->counters[c] - d0[c]),
				      (unsigned long long)(x1[c] - x0[c]));
		assert_int_equal(env.lb.stats->counters[c] - d0[c], x1[c] - x0[c]);
	}
	assert_int_equal(x1[SY_C_QUIC_CID_ROUTED] - x0[SY_C_QUIC_CID_ROUTED], routed);
	assert_int_equal(x1[SY_C_QUIC_CID_UNKNOWN] - x0[SY_C_QUIC_CID_UNKNOWN], unknown);
}

/* Long headers by the hash; short headers v1 and v2 to the registered
 * backend whatever the client's port, and before conntrack; unknown IDs,
 * unknown CID versions, cut datagrams and a clear fixed bit by the hash,
 * counted; a service without quic reads nothing. Both paths alike. */
static void quic_connection_ids(void **state)
{
	uint64_t x0[SY_LCORE_NCOUNTERS], d0[SY_C__COUNT];
	uint64_t routed = 0, unknown = 0;
	struct flow f = { .svc = SVC_IPIP4, .family = SY_AF_INET, .proto = SY_IPPROTO_UDP,
			  .dport = 443 };
	uint8_t q[32], in[MAXFRAME];
	char d[48], want[48];
	uint32_t len;

	(void)state;
	set_quic4(0);
	publish();
	addr("198.18.200.3", f.dst);
	memcpy(d0, env.lb.stats->counters, sizeof(d0));
	sy_xdp_read_counters(env.x, x0);

	/* 1. Initial (long header, type 0) and Handshake: the hash, uncounted */
	for (int i = 0; i < 40; i++) {
		addr("198.18.130.1", f.src);
		f.src[0] = htonl(0xc6128200u + (uint32_t)i);
		f.sport = (uint16_t)(20000 + i);
		memset(q, 0, sizeof(q));
		q[0] = (uint8_t)(i & 1 ? 0xe0 : 0xc0); /* Handshake / Initial */
		q[1] = 0, q[2] = 0, q[3] = 0, q[4] = 1; /* version 1 */
		q[5] = 8;
		assert_int_equal(sy_quic_cid_encode(SY_QUIC_CID_V2, 0x10001, q + 6), 0);
		maglev_dest(&f, want, sizeof(want));
		len = quic_frame(&f, q, 32, in);
		both_paths(&f, in, len, d, sizeof(d));
		assert_string_equal(d, want);
	}
	quic_counters(d0, x0, 0, 0);

	/* 2. short headers, v1 and v2: the registered backend, from 60 ports
	 * of one client (NAT rebinding) and after the long headers above
	 * made conntrack entries elsewhere (flows 0..39 again) */
	for (int i = 0; i < 100; i++) {
		static const uint32_t ids[3] = { 0x123, 0x10001, 77 };
		uint32_t id = ids[i % 3], version = id > 0xffff || i % 2 ? SY_QUIC_CID_V2 : SY_QUIC_CID_V1;

		if (i < 40) {
			f.src[0] = htonl(0xc6128200u + (uint32_t)i);
			f.sport = (uint16_t)(20000 + i);
		} else {
			addr("198.18.131.7", f.src);
			f.sport = (uint16_t)(30000 + 7 * i);
		}
		short_header(q, version, id);
		len = quic_frame(&f, q, 32, in);
		both_paths(&f, in, len, d, sizeof(d));
		assert_string_equal(d, quic_backend_addr(id));
		routed++;
	}
	quic_counters(d0, x0, routed, unknown);

	/* 3. by the hash, counted: an ID nobody has, CID versions 0 and 3, a
	 * datagram too short for an 8-byte CID, the fixed bit clear */
	for (int i = 0; i < 50; i++) {
		uint32_t plen = 32;

		addr("198.18.132.1", f.src);
		f.src[0] = htonl(0xc6128400u + (uint32_t)i);
		f.sport = (uint16_t)(40000 + i);
		switch (i % 5) {
		case 0: short_header(q, SY_QUIC_CID_V2, 0x424242); break;
		case 1: short_header(q, 0, 0); break;
		case 2: short_header(q, 3, 0); break;
		case 3: short_header(q, SY_QUIC_CID_V1, 0x123); plen = 8; break;
		case 4: short_header(q, SY_QUIC_CID_V1, 0x123); q[0] = 0x01; break;
		}
		maglev_dest(&f, want, sizeof(want));
		len = quic_frame(&f, q, plen, in);
		both_paths(&f, in, len, d, sizeof(d));
		assert_string_equal(d, want);
		unknown++;
	}
	quic_counters(d0, x0, routed, unknown);

	/* 4. the same short header to gue6 (no quic): nothing read, nothing counted */
	{
		struct flow g = env.flows[SVC_GUE6];

		short_header(q, SY_QUIC_CID_V1, 0x123);
		len = quic_frame(&g, q, 32, in);
		both_paths(&g, in, len, d, sizeof(d));
	}
	quic_counters(d0, x0, routed, unknown);

	/* 5. .22.1 leaves and .22.4 changes its ID to 78: 0x123 and 77 go by
	 * the hash (the region's table and sy_quic_ids follow), 78 to .22.4 */
	set_quic4(1);
	publish();
	for (int i = 0; i < 30; i++) {
		static const uint32_t ids[3] = { 0x123, 77, 78 };
		uint32_t id = ids[i % 3];

		addr("198.18.133.1", f.src);
		f.src[0] = htonl(0xc6128500u + (uint32_t)i);
		f.sport = (uint16_t)(50000 + i);
		short_header(q, SY_QUIC_CID_V2, id);
		if (id != 78)
			maglev_dest(&f, want, sizeof(want));
		len = quic_frame(&f, q, 32, in);
		both_paths(&f, in, len, d, sizeof(d));
		assert_string_equal(d, id == 78 ? "198.18.22.4" : want);
		assert_string_not_equal(d, "198.18.22.1");
		if (id == 78)
			routed++;
		else
			unknown++;
	}
	quic_counters(d0, x0, routed, unknown);
	print_message("quic: 40 long headers by the hash, %llu short headers to their server ID's "
		      "backend, %llu unknown by the hash, on both paths\n",
		      (unsigned long long)routed, (unsigned long long)unknown);
}

/* ---- setup ------------------------------------------------------------------------ */

static int setup(void **state)
{
	static const struct sy_region_limits lim = { .max_lcores = 2, .max_services = 16,
						     .max_backends = 64, .heap_size = 16u << 20 };
	struct sy_xdp_opts o = { .ct_flows = CT_FLOWS, .grace_ms = GRACE_MS };
	struct sy_xdp_config cfg = { .mtu = 1500, .mtu_action = 0, .tcp_ms = 900000,
				     .tcp_fin_ms = 10000, .udp_ms = 300000 };
	char err[256] = "";
	struct sy_lcore_stats *st;
	uint64_t ct_size = sy_ct_memsize(CT_FLOWS);

	(void)state;
	{
		cpu_set_t one;

		CPU_ZERO(&one);
		CPU_SET(sched_getcpu(), &one);
		if (sched_setaffinity(0, sizeof(one), &one)) {
			perror("sched_setaffinity");
			return -1;
		}
	}
	memcpy(cfg.port_mac, PORT_MAC, 6);
	snprintf(env.path, sizeof(env.path), "/dev/shm/sy-test-xdpvsdpdk-%d", (int)getpid());
	unlink(env.path);
	if (sy_writer_create(env.path, "xdp_vs_dpdk", &lim, NULL, &env.w, err, sizeof(err)) ||
	    sy_xdp_open(&env.x, &o, err, sizeof(err)) ||
	    sy_xdp_configure(env.x, &cfg, err, sizeof(err))) {
		fprintf(stderr, "setup: %s\n", err);
		return -1;
	}
	env.prog_fd = sy_xdp_prog_fd(env.x);
	env.map = sy_writer_map(env.w);
	st = sy_region_stats(env.map, 0);
	env.ct_mem = calloc(1, ct_size);
	if (!env.ct_mem)
		return -1;
	env.lb = (struct sy_lb){
		.base = env.map->base,
		.stats = st,
		.vips = sy_stats_vips(st),
		.backends = sy_stats_backends(env.map, st),
		.now = 1000,
		.mtu = 1500,
		.mtu_action = SY_MTU_ICMP,
	};
	memcpy(env.lb.port_mac, PORT_MAC, 6);
	sy_ct_init(&env.lb.ct, env.ct_mem, CT_FLOWS, NULL, 1);
	env.conns_mem = calloc(1, sy_backend_conns_memsize(CT_FLOWS));
	if (!env.conns_mem)
		return -1;
	sy_ct_attach_conns(&env.lb.ct, env.conns_mem, CT_FLOWS);
	set_ipip4(0);
	set_others();
	publish();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (env.x)
		sy_xdp_close(env.x, false);
	if (env.w)
		sy_writer_close(env.w);
	free(env.ct_mem);
	free(env.conns_mem);
	unlink(env.path);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(same_backend_both_paths),
		cmocka_unit_test(fragments_follow_their_flow),
		cmocka_unit_test(least_conns_both_paths),
		cmocka_unit_test(quic_connection_ids),
	};

	return cmocka_run_group_tests_name("xdp_vs_dpdk", tests, setup, teardown);
}
