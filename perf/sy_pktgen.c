/* SPDX-License-Identifier: BSD-3-Clause
 *
 * sy-pktgen: a minimal DPDK traffic generator for benchmarking sy-dataplane
 * against bare packet I/O (perf/bench_dataplane.sh). Not a test: it prints
 * figures and asserts nothing about them.
 *
 *   sy-pktgen [EAL options] -- [--flows N] [--proto udp|tcp] [--dst-ip A]
 *             [--dst-port P] [--src-ip A] [--src-count N] [--sport P]
 *             [--src-mac M] [--dst-mac M] [--size B] [--burst N]
 *             [--duration S] [--warmup S] [--link-timeout S] [--port N]
 *             [--linger S] [--hot N [--hot-every K]] [--queues N]
 *             [--flow-report FILE]
 *
 * From one lcore (the main one), it transmits frames of --size bytes
 * (default 64, FCS included: 60 bytes handed to the port) of Ethernet + IPv4 +
 * UDP or TCP with correct IPv4 and L4 checksums, as fast as the port takes
 * them, and in the same loop receives on the same port and counts (and frees)
 * whatever comes back. Flow k (0 <= k < N) has the source address
 * src-ip + k % A and the source port sport + k / A, where A = min(N,
 * src-count): 1000 flows are 1000 addresses on one port, 1,000,000 flows are
 * 65,536 addresses x 16 ports (with the default 198.18.0.0/16 client range).
 * Flows are sent round robin, so consecutive packets belong to different
 * flows. Only 198.18.0.0/15 (RFC 2544 benchmarking) addresses are accepted.
 *
 * After the link is up, --warmup seconds (default 1: flows get tracked,
 * caches warm) are sent but not counted, then --duration seconds (default 5,
 * at most 60) are measured. Prints tx and rx Mpps for every second, the
 * average, and one machine-readable line:
 *   RESULT tx_mpps=X rx_mpps=Y flows=N proto=P seconds=S
 * It always stops by itself (SIGINT/SIGTERM stop it earlier). With --linger,
 * it then leaves the port idle until the peer disconnects (see linger()).
 *
 * --hot N makes flows 0..N-1 "active": every K-th frame (--hot-every,
 * default 8) is the next of them, round robin, on top of the sweep over all
 * flows, so they are seen far more often than the others. Frames that come
 * back IPIP-encapsulated (sy-dataplane's ipip mode, one-armed) are then
 * decoded: the outer destination is the backend, the inner source address
 * and port name the flow. It prints one line per backend
 *   BACKEND addr packets=N
 * and one for the active flows
 *   HOT flows=N seen=S moved=M moved_flows=F strays=T undecoded=U
 * where moved counts frames of an active flow that came back from another
 * backend than its first one (conntrack pressure: tests/integration),
 * moved_flows the flows that did, and strays those of them that came back
 * from their first backend again afterwards (a lost connection entry
 * re-pins a flow for good; a stray frame is something else). The active
 * flows' share is of the frames the port took (pktgen_schedule.h).
 *
 * --queues N (for a peer with N receive queues, e.g. sy-dataplane with N
 * workers) uses N queue pairs and does what a NIC's RSS would: flow k is
 * always sent on the queue its Toeplitz hash (the usual default key, over
 * source and destination address and ports) picks, and every queue is
 * polled for what comes back. A one-armed forwarder with a queue pair per
 * worker answers a flow on the queue it came in on; with --flow-report, a
 * decoded frame that comes back on another queue than its flow's is
 * counted (wrong_queue).
 *
 * --flow-report FILE audits every flow as --hot does its active ones and
 * writes a line per flow to FILE:
 *   FLOW <source address> <source port> queue=<q> backend=<address|none>
 * and prints
 *   AUDIT flows=N seen=S moved=M wrong_queue=W undecoded=U
 * Always printed, for exact comparisons with a forwarder's counters (every
 * phase, frames back after the end included):
 *   QUEUE <q> flows=F tx=T rx=R      (one per queue)
 *   TOTAL tx=T rx=R
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>
#include <rte_thash.h>
#include <rte_udp.h>

#include "intr_barrier.h"
#include "pktgen_schedule.h"
#include "unmap_guard.h"

#define MAX_BURST 128
#define MAX_DURATION 60
#define MAX_WARMUP 10
#define MAX_LINK_TIMEOUT 30
#define MAX_FLOWS (1u << 24)
#define NB_DESC 1024
#define POOL_SIZE 16383
#define MAX_FRAME 1518
#define MAX_HOT (1u << 20)
#define MAX_BACKENDS 64
enum { MOVED_AWAY = 1, MOVED_BACK = 2 }; /* rx_audit.moved_state */
#define MAX_QUEUES 16
#define MAX_REPORT (1u << 20)

struct opts {
	uint32_t flows;
	uint8_t proto; /* IPPROTO_UDP / IPPROTO_TCP */
	uint32_t dst_ip, src_ip; /* host order */
	uint32_t src_count;
	uint16_t dst_port, sport;
	struct rte_ether_addr src_mac, dst_mac;
	int have_src_mac;
	uint32_t size; /* frame size including the 4-byte FCS */
	uint32_t burst;
	uint32_t duration, warmup, link_timeout, linger;
	uint16_t port;
	uint32_t hot, hot_every; /* active flows 0..hot-1, one frame in hot_every */
	uint16_t queues;
	const char *flow_report;
};

/* Per-packet variable part, with the checksums' constant parts precomputed
 * (one's complement sums of 16-bit words as numbers, i.e. host order). */
struct gen {
	uint8_t tmpl[MAX_FRAME];
	uint16_t len;     /* bytes handed to the port (FCS excluded) */
	uint32_t ip_sum;  /* IPv4 header with saddr = 0, csum = 0 */
	uint32_t l4_sum;  /* pseudo header + L4 header + payload, saddr = sport = 0 */
	uint16_t l4_csum_off;
	uint32_t n_addr;  /* source addresses in use */
	struct pg_schedule sched; /* the flow of each frame (one queue) */
};

/* A queue pair. With --queues > 1, the flows RSS puts on it (ascending),
 * sent round robin; with one queue, the generator's sweep (struct gen). */
struct queue {
	uint32_t *flows;
	uint32_t n_flows, next;
	uint64_t tx, rx; /* every phase */
};

/* What came back, with --hot or --flow-report: per backend, and per audited
 * flow (the active ones, or all) the backend (outer destination, host
 * order; 0 = not seen yet) its first frame got. A flow that moved is
 * re-pinned (all its later frames from elsewhere: its connection entry was
 * lost) or strayed (a frame from elsewhere between frames from its first
 * backend: never conntrack's doing); `strays` counts the second kind. */
struct rx_audit {
	uint32_t *first_backend;
	uint8_t *moved_state;    /* per flow: 0, MOVED_AWAY, MOVED_BACK */
	uint64_t moved_flows, strays;
	uint32_t n_flows;        /* flows 0..n_flows-1 are audited */
	const uint8_t *queue_of; /* with --queues > 1: flow -> its queue */
	uint64_t seen, moved, undecoded, wrong_queue;
	uint32_t moved_example_flow, moved_example_from, moved_example_to;
	uint32_t n_backends;
	struct {
		uint32_t addr;
		uint64_t pkts;
	} backend[MAX_BACKENDS];
};

static volatile bool quit;
static bool started; /* the port */

static void on_signal(int sig)
{
	(void)sig;
	quit = true;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: sy-pktgen [EAL options] -- [options]\n"
		"  --flows N          distinct flows, 1..%u (default 1)\n"
		"  --proto udp|tcp    (default udp)\n"
		"  --dst-ip A         VIP, in 198.18.0.0/15 (default 198.18.100.1)\n"
		"  --dst-port P       (default 53 for udp, 80 for tcp)\n"
		"  --src-ip A         first client address, in 198.18.0.0/15 (default 198.18.0.0)\n"
		"  --src-count N      client addresses, 1..65536 (default 65536; the range must stay\n"
		"                     in 198.18.0.0/15)\n"
		"  --sport P          first source port (default 1024)\n"
		"  --src-mac M        (default: the port's MAC)\n"
		"  --dst-mac M        (default 02:00:00:00:00:02)\n"
		"  --size B           frame size with FCS, 64..%d (default 64)\n"
		"  --burst N          packets per tx/rx burst, 1..%d (default 32)\n"
		"  --duration S       measured seconds, 1..%d (default 5)\n"
		"  --warmup S         seconds sent before measuring, 0..%d (default 1)\n"
		"  --link-timeout S   wait for the link at most S seconds, 1..%d (default 10)\n"
		"  --port N           DPDK port (default 0)\n"
		"  --linger S         after the result, wait up to S s (0..%d, default 0) without\n"
		"                     touching the port for the peer to disconnect first\n"
		"  --hot N            flows 0..N-1 (N <= flows, <= %u) are active: one frame in K is\n"
		"                     the next of them; IPIP frames coming back are audited per backend\n"
		"  --hot-every K      K for --hot, 2..1024 (default 8)\n"
		"  --queues N         queue pairs, 1..%d (default 1): flows spread over them by a\n"
		"                     Toeplitz hash, as a NIC's RSS would\n"
		"  --flow-report FILE audit every flow (flows <= %u): which backend and queue each\n"
		"                     came back from; a line per flow in FILE\n",
		MAX_FLOWS, MAX_FRAME, MAX_BURST, MAX_DURATION, MAX_WARMUP, MAX_LINK_TIMEOUT,
		MAX_LINK_TIMEOUT, MAX_HOT, MAX_QUEUES, MAX_REPORT);
}

static int num(const char *opt, const char *s, unsigned long min, unsigned long max,
	       uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || !*s || s[0] == '-' || v < min || v > max) {
		fprintf(stderr, "sy-pktgen: %s: '%s' is not a number in %lu..%lu\n", opt, s, min,
			max);
		return -1;
	}
	*out = (uint32_t)v;
	return 0;
}

static int bench_addr(const char *opt, const char *s, uint32_t *out)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1) {
		fprintf(stderr, "sy-pktgen: %s: '%s' is not an IPv4 address\n", opt, s);
		return -1;
	}
	*out = ntohl(a.s_addr);
	if ((*out & 0xfffe0000u) != 0xc6120000u) { /* 198.18.0.0/15 */
		fprintf(stderr, "sy-pktgen: %s: %s is outside 198.18.0.0/15 (benchmarking addresses only)\n",
			opt, s);
		return -1;
	}
	return 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "flows", required_argument, 0, 'f' },
		{ "proto", required_argument, 0, 'P' },
		{ "dst-ip", required_argument, 0, 'd' },
		{ "dst-port", required_argument, 0, 'D' },
		{ "src-ip", required_argument, 0, 's' },
		{ "src-count", required_argument, 0, 'n' },
		{ "sport", required_argument, 0, 'S' },
		{ "src-mac", required_argument, 0, 'm' },
		{ "dst-mac", required_argument, 0, 'M' },
		{ "size", required_argument, 0, 'z' },
		{ "burst", required_argument, 0, 'b' },
		{ "duration", required_argument, 0, 't' },
		{ "warmup", required_argument, 0, 'w' },
		{ "link-timeout", required_argument, 0, 'l' },
		{ "port", required_argument, 0, 'p' },
		{ "linger", required_argument, 0, 'L' },
		{ "hot", required_argument, 0, 'H' },
		{ "hot-every", required_argument, 0, 'K' },
		{ "queues", required_argument, 0, 'Q' },
		{ "flow-report", required_argument, 0, 'R' },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	uint32_t v, dst_port = 0;
	int c;

	*o = (struct opts){ .flows = 1, .proto = IPPROTO_UDP, .dst_ip = 0xc6126401u,
			    .src_ip = 0xc6120000u, .src_count = 65536, .sport = 1024,
			    .size = 64, .burst = 32, .duration = 5, .warmup = 1,
			    .link_timeout = 10, .hot_every = 8, .queues = 1 };
	rte_ether_unformat_addr("02:00:00:00:00:02", &o->dst_mac);
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			if (num("--flows", optarg, 1, MAX_FLOWS, &o->flows))
				return -1;
			break;
		case 'P':
			if (strcmp(optarg, "udp") == 0) {
				o->proto = IPPROTO_UDP;
			} else if (strcmp(optarg, "tcp") == 0) {
				o->proto = IPPROTO_TCP;
			} else {
				fprintf(stderr, "sy-pktgen: --proto: udp or tcp, not '%s'\n", optarg);
				return -1;
			}
			break;
		case 'd':
			if (bench_addr("--dst-ip", optarg, &o->dst_ip))
				return -1;
			break;
		case 'D':
			if (num("--dst-port", optarg, 1, 65535, &dst_port))
				return -1;
			break;
		case 's':
			if (bench_addr("--src-ip", optarg, &o->src_ip))
				return -1;
			break;
		case 'n':
			if (num("--src-count", optarg, 1, 65536, &o->src_count))
				return -1;
			break;
		case 'S':
			if (num("--sport", optarg, 1, 65535, &v))
				return -1;
			o->sport = (uint16_t)v;
			break;
		case 'm':
		case 'M':
			if (rte_ether_unformat_addr(optarg, c == 'm' ? &o->src_mac : &o->dst_mac)) {
				fprintf(stderr, "sy-pktgen: '%s' is not a MAC address\n", optarg);
				return -1;
			}
			o->have_src_mac |= c == 'm';
			break;
		case 'z':
			if (num("--size", optarg, 64, MAX_FRAME, &o->size))
				return -1;
			break;
		case 'b':
			if (num("--burst", optarg, 1, MAX_BURST, &o->burst))
				return -1;
			break;
		case 't':
			if (num("--duration", optarg, 1, MAX_DURATION, &o->duration))
				return -1;
			break;
		case 'w':
			if (num("--warmup", optarg, 0, MAX_WARMUP, &o->warmup))
				return -1;
			break;
		case 'l':
			if (num("--link-timeout", optarg, 1, MAX_LINK_TIMEOUT, &o->link_timeout))
				return -1;
			break;
		case 'L':
			if (num("--linger", optarg, 0, MAX_LINK_TIMEOUT, &o->linger))
				return -1;
			break;
		case 'H':
			if (num("--hot", optarg, 1, MAX_HOT, &o->hot))
				return -1;
			break;
		case 'K':
			if (num("--hot-every", optarg, 2, 1024, &o->hot_every))
				return -1;
			break;
		case 'Q':
			if (num("--queues", optarg, 1, MAX_QUEUES, &v))
				return -1;
			o->queues = (uint16_t)v;
			break;
		case 'R':
			o->flow_report = optarg;
			break;
		case 'p':
			if (num("--port", optarg, 0, RTE_MAX_ETHPORTS - 1, &v))
				return -1;
			o->port = (uint16_t)v;
			break;
		case 'h':
			usage();
			exit(0);
		default:
			usage();
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "sy-pktgen: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	if (o->hot > o->flows) {
		fprintf(stderr, "sy-pktgen: --hot %u: more active flows than --flows %u\n", o->hot,
			o->flows);
		return -1;
	}
	if (o->hot && (o->queues > 1 || o->flow_report)) {
		fprintf(stderr, "sy-pktgen: --hot goes with one queue and no --flow-report\n");
		return -1;
	}
	if (o->flow_report && o->flows > MAX_REPORT) {
		fprintf(stderr, "sy-pktgen: --flow-report: at most %u flows\n", MAX_REPORT);
		return -1;
	}
	o->dst_port = (uint16_t)(dst_port ? dst_port : o->proto == IPPROTO_UDP ? 53 : 80);
	if (o->src_count > o->flows)
		o->src_count = o->flows;
	if (((o->src_ip + o->src_count - 1) & 0xfffe0000u) != 0xc6120000u ||
	    o->src_ip + o->src_count - 1 < o->src_ip) {
		fprintf(stderr, "sy-pktgen: --src-ip + --src-count leaves 198.18.0.0/15\n");
		return -1;
	}
	if ((uint64_t)o->sport + (o->flows - 1) / o->src_count > 65535) {
		fprintf(stderr, "sy-pktgen: %u flows over %u addresses need source ports beyond 65535 (raise --src-count or lower --sport)\n",
			o->flows, o->src_count);
		return -1;
	}
	return 0;
}

static uint32_t sum16(const void *p, uint32_t len, uint32_t s)
{
	const uint8_t *b = p;

	for (; len >= 2; b += 2, len -= 2)
		s += (uint32_t)b[0] << 8 | b[1];
	if (len)
		s += (uint32_t)b[0] << 8;
	return s;
}

static uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static void build_template(struct gen *g, const struct opts *o)
{
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)g->tmpl;
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);
	uint8_t *l4 = (uint8_t *)(ip + 1);
	uint32_t l4_len, l4_hdr = o->proto == IPPROTO_UDP ? 8 : 20;
	uint8_t pseudo[12];

	memset(g, 0, sizeof(*g));
	g->len = (uint16_t)(o->size - RTE_ETHER_CRC_LEN);
	l4_len = g->len - (uint32_t)sizeof(*eth) - (uint32_t)sizeof(*ip);
	rte_ether_addr_copy(&o->dst_mac, &eth->dst_addr);
	rte_ether_addr_copy(&o->src_mac, &eth->src_addr);
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->total_length = rte_cpu_to_be_16((uint16_t)(sizeof(*ip) + l4_len));
	ip->packet_id = 0;
	ip->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
	ip->time_to_live = 64;
	ip->next_proto_id = o->proto;
	ip->src_addr = 0; /* per packet */
	ip->dst_addr = rte_cpu_to_be_32(o->dst_ip);
	g->ip_sum = sum16(ip, sizeof(*ip), 0);
	if (o->proto == IPPROTO_UDP) {
		struct rte_udp_hdr *u = (struct rte_udp_hdr *)l4;

		u->dst_port = rte_cpu_to_be_16(o->dst_port);
		u->dgram_len = rte_cpu_to_be_16((uint16_t)l4_len);
		g->l4_csum_off = (uint16_t)(l4 - g->tmpl + offsetof(struct rte_udp_hdr, dgram_cksum));
	} else {
		struct rte_tcp_hdr *t = (struct rte_tcp_hdr *)l4;

		t->dst_port = rte_cpu_to_be_16(o->dst_port);
		t->sent_seq = rte_cpu_to_be_32(1);
		t->recv_ack = rte_cpu_to_be_32(1);
		t->data_off = 5 << 4;
		t->tcp_flags = RTE_TCP_ACK_FLAG;
		t->rx_win = rte_cpu_to_be_16(65535);
		g->l4_csum_off = (uint16_t)(l4 - g->tmpl + offsetof(struct rte_tcp_hdr, cksum));
	}
	/* payload: a recognisable pattern after the L4 header */
	for (uint32_t i = l4_hdr; i < l4_len; i++)
		l4[i] = (uint8_t)('S' + i % 8);
	memcpy(pseudo, &ip->src_addr, 4);
	memcpy(pseudo + 4, &ip->dst_addr, 4);
	pseudo[8] = 0;
	pseudo[9] = o->proto;
	pseudo[10] = (uint8_t)(l4_len >> 8);
	pseudo[11] = (uint8_t)l4_len;
	g->l4_sum = sum16(l4, l4_len, sum16(pseudo, sizeof(pseudo), 0));
	g->n_addr = o->src_count;
	pg_schedule_init(&g->sched, o->flows, g->n_addr, o->hot, o->hot_every);
}

/* Write the flow of source address index addr_i and port index port_i into
 * frame `d`. */
static inline void write_flow(const struct gen *g, const struct opts *o, uint8_t *d,
			      uint32_t addr_i, uint32_t port_i)
{
	uint32_t src = o->src_ip + addr_i;
	uint16_t sport = (uint16_t)(o->sport + port_i);
	uint32_t var = (src >> 16) + (src & 0xffff);
	uint16_t ipc = fold(g->ip_sum + var), l4c = fold(g->l4_sum + var + sport);
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(d + sizeof(struct rte_ether_hdr));

	rte_memcpy(d, g->tmpl, g->len);
	ip->src_addr = rte_cpu_to_be_32(src);
	ip->hdr_checksum = rte_cpu_to_be_16(ipc);
	if (o->proto == IPPROTO_UDP && l4c == 0)
		l4c = 0xffff;
	*(uint16_t *)(ip + 1) = rte_cpu_to_be_16(sport);
	*(uint16_t *)(d + g->l4_csum_off) = rte_cpu_to_be_16(l4c);
}

/* Write the next frame of the schedule: the next active flow when its
 * turn has come, else the sweep's next flow. Returns 1 for an active flow. */
static inline int fill_next(struct gen *g, const struct opts *o, uint8_t *d)
{
	uint32_t addr_i, port_i;
	int hot = pg_next(&g->sched, &addr_i, &port_i);

	write_flow(g, o, d, addr_i, port_i);
	return hot;
}

/* The RSS key most NICs ship as their default (Microsoft's, 40 bytes). */
static const uint8_t rss_key[40] = {
	0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3,
	0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3,
	0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
};

/* The queue a NIC's RSS would give flow k: Toeplitz hash of (source,
 * destination, source port, destination port) through a 128-entry
 * indirection table filled round robin, as DPDK PMDs fill it by default. */
static uint16_t rss_queue(const struct gen *g, const struct opts *o, uint32_t k)
{
	uint32_t tuple[3] = { o->src_ip + k % g->n_addr, o->dst_ip,
			      (uint32_t)(o->sport + k / g->n_addr) << 16 | o->dst_port };

	return (uint16_t)((rte_softrss(tuple, 3, rss_key) & 127) % o->queues);
}

/* With --queues > 1: each queue's flows, and queue_of[k] (for the audit).
 * With one queue the sweep of struct gen sends every flow on queue 0. */
static int spread_flows(const struct gen *g, const struct opts *o, struct queue *q,
			uint8_t **queue_of)
{
	uint8_t *of;

	q[0].n_flows = o->flows;
	if (o->queues == 1)
		return 0;
	of = malloc(o->flows);
	if (!of)
		return -1;
	q[0].n_flows = 0;
	for (uint32_t k = 0; k < o->flows; k++) {
		of[k] = (uint8_t)rss_queue(g, o, k);
		q[of[k]].n_flows++;
	}
	for (uint16_t i = 0; i < o->queues; i++) {
		q[i].flows = malloc(sizeof(*q[i].flows) * (q[i].n_flows ? q[i].n_flows : 1));
		if (!q[i].flows)
			return -1;
		q[i].n_flows = 0;
	}
	for (uint32_t k = 0; k < o->flows; k++)
		q[of[k]].flows[q[of[k]].n_flows++] = k;
	*queue_of = of;
	return 0;
}

/* Write the next frame of queue q; 1 for an active (--hot) flow. */
static inline int fill_queue(struct gen *g, const struct opts *o, struct queue *q, uint8_t *d)
{
	uint32_t k;

	if (!q->flows)
		return fill_next(g, o, d);
	k = q->flows[q->next];
	if (++q->next == q->n_flows)
		q->next = 0;
	write_flow(g, o, d, k % g->n_addr, k / g->n_addr);
	return 0;
}

/* Put back the frames of queue q that were not sent: n, n_hot of them
 * active flows (one queue only). */
static void rewind_queue(struct gen *g, struct queue *q, uint32_t n, uint32_t n_hot)
{
	if (q->flows) {
		q->next = (uint32_t)(((uint64_t)q->next + q->n_flows - n % q->n_flows) % q->n_flows);
		return;
	}
	pg_take_back(&g->sched, n, n_hot);
}

/* Which backend each frame that came back on queue `queue` came from, and
 * whether an audited flow ever came back from a second one, or on another
 * queue than its own. Only IPIP frames (outer IPv4, protocol 4, over an
 * inner IPv4 frame of ours) are decoded. */
static void audit_rx(struct rx_audit *a, const struct opts *o, uint32_t n_addr, uint16_t queue,
		     struct rte_mbuf **rx, uint16_t n)
{
	for (uint16_t i = 0; i < n; i++) {
		const uint8_t *d = rte_pktmbuf_mtod(rx[i], const uint8_t *);
		uint32_t len = rte_pktmbuf_data_len(rx[i]), ohl, ihl, be, src, k, b;
		const struct rte_ipv4_hdr *outer, *inner;
		uint16_t sport;

		if (len < sizeof(struct rte_ether_hdr) + 2 * sizeof(*outer) + 4 ||
		    ((const struct rte_ether_hdr *)d)->ether_type !=
			    rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4)) {
			a->undecoded++;
			continue;
		}
		outer = (const struct rte_ipv4_hdr *)(d + sizeof(struct rte_ether_hdr));
		ohl = (outer->version_ihl & 0xf) * 4u;
		if (outer->next_proto_id != IPPROTO_IPIP || ohl < 20 ||
		    len < sizeof(struct rte_ether_hdr) + ohl + sizeof(*inner) + 4) {
			a->undecoded++;
			continue;
		}
		inner = (const struct rte_ipv4_hdr *)((const uint8_t *)outer + ohl);
		ihl = (inner->version_ihl & 0xf) * 4u;
		if (ihl < 20 || len < sizeof(struct rte_ether_hdr) + ohl + ihl + 4) {
			a->undecoded++;
			continue;
		}
		be = rte_be_to_cpu_32(outer->dst_addr);
		for (b = 0; b < a->n_backends && a->backend[b].addr != be; b++)
			;
		if (b == a->n_backends && b < MAX_BACKENDS)
			a->backend[a->n_backends++].addr = be;
		if (b < MAX_BACKENDS)
			a->backend[b].pkts++;
		src = rte_be_to_cpu_32(inner->src_addr) - o->src_ip;
		sport = rte_be_to_cpu_16(*(const uint16_t *)((const uint8_t *)inner + ihl));
		if (src >= n_addr || sport < o->sport)
			continue;
		k = src + (uint32_t)(sport - o->sport) * n_addr;
		if (a->queue_of && k < o->flows && a->queue_of[k] != queue)
			a->wrong_queue++;
		if (k >= a->n_flows)
			continue;
		if (!a->first_backend[k]) {
			a->first_backend[k] = be;
			a->seen++;
		} else if (a->first_backend[k] == be) {
			if (a->moved_state[k] == MOVED_AWAY) {
				a->moved_state[k] = MOVED_BACK;
				a->strays++;
			}
		} else {
			if (!a->moved_state[k]) {
				a->moved_state[k] = MOVED_AWAY;
				a->moved_flows++;
			}
			if (!a->moved++) {
				a->moved_example_flow = k;
				a->moved_example_from = a->first_backend[k];
				a->moved_example_to = be;
			}
		}
	}
}

/* Compare our incremental checksums with DPDK's for a few flows. */
static int self_check(struct gen *g, const struct opts *o)
{
	uint8_t buf[MAX_FRAME];
	struct gen save = *g;
	uint32_t n = o->flows < 3000 ? o->flows : 3000;

	for (uint32_t i = 0; i < n; i++) {
		struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(buf + sizeof(struct rte_ether_hdr));
		uint16_t c, l4;

		fill_next(g, o, buf);
		c = ip->hdr_checksum;
		ip->hdr_checksum = 0;
		if (rte_ipv4_cksum(ip) != c) {
			fprintf(stderr, "sy-pktgen: internal error: IPv4 checksum of flow %u\n", i);
			return -1;
		}
		ip->hdr_checksum = c;
		l4 = *(uint16_t *)(buf + g->l4_csum_off);
		*(uint16_t *)(buf + g->l4_csum_off) = 0;
		if (rte_ipv4_udptcp_cksum(ip, ip + 1) != l4) {
			fprintf(stderr, "sy-pktgen: internal error: L4 checksum of flow %u\n", i);
			return -1;
		}
	}
	*g = save;
	return 0;
}

/* Start the port, and say so at once: a memif server's socket exists from
 * the EAL's start on, but its port takes a client only once configured (a
 * client that comes earlier is refused, "ID not found", and DPDK's memif
 * client does not try again), so whoever starts the peer waits for this
 * line, not for the socket. */
static int start_port(const struct opts *o)
{
	if (rte_eth_dev_start(o->port) != 0)
		return -1;
	started = true;
	rte_eth_promiscuous_enable(o->port); /* not every PMD has it; fine */
	printf("sy-pktgen: port %u started\n", o->port);
	fflush(stdout);
	return 0;
}

static int port_init(const struct opts *o, struct rte_mempool *pool)
{
	struct rte_eth_conf conf = { 0 };
	uint16_t rxd = NB_DESC, txd = NB_DESC;
	int rc;

	if (!rte_eth_dev_is_valid_port(o->port)) {
		fprintf(stderr, "sy-pktgen: no port %u (give one with --vdev or -a)\n", o->port);
		return -1;
	}
	rc = rte_eth_dev_configure(o->port, o->queues, o->queues, &conf);
	if (!rc)
		rc = rte_eth_dev_adjust_nb_rx_tx_desc(o->port, &rxd, &txd);
	for (uint16_t q = 0; !rc && q < o->queues; q++) {
		rc = rte_eth_rx_queue_setup(o->port, q, rxd,
					    (unsigned int)rte_eth_dev_socket_id(o->port), NULL, pool);
		if (!rc)
			rc = rte_eth_tx_queue_setup(o->port, q, txd,
						    (unsigned int)rte_eth_dev_socket_id(o->port), NULL);
	}
	if (rc) {
		fprintf(stderr, "sy-pktgen: cannot set up port %u: %s\n", o->port, rte_strerror(-rc));
		return -1;
	}
	/* a memif client cannot start before its server listens: wait_link()
	 * tries again */
	if (start_port(o) != 0)
		printf("sy-pktgen: port %u does not start yet; trying again while waiting for the link\n",
		       o->port);
	return 0;
}

/* Wait for the link; try to start a port that did not start every second
 * meanwhile (a memif client whose server was not listening yet connects on
 * start). A started port is left alone: restarting a memif server would
 * drop a client in the middle of connecting. */
static int wait_link(const struct opts *o, double *waited)
{
	uint64_t hz = rte_get_tsc_hz(), t0 = rte_get_tsc_cycles(), retry = t0 + hz;
	struct rte_eth_link link;

	while (!quit) {
		uint64_t now = rte_get_tsc_cycles();

		memset(&link, 0, sizeof(link));
		if (rte_eth_link_get_nowait(o->port, &link) == 0 &&
		    link.link_status == RTE_ETH_LINK_UP) {
			*waited = (double)(now - t0) / (double)hz;
			return 0;
		}
		if (now - t0 > o->link_timeout * hz)
			break;
		if (now > retry && !started) {
			start_port(o);
			retry = rte_get_tsc_cycles() + hz;
		}
		rte_delay_ms(10);
	}
	return -1;
}

struct totals {
	uint64_t tx, rx, tx_full, no_mbuf;
};

/* The memif unmap guard (dataplane/unmap_guard.c, as sy-dataplane has it):
 * when the peer leaves, net_memif unmaps the rings from its interrupt
 * thread, ours (the client's regions) included, while the lcore may be
 * inside a send or receive on them; seen as sy-pktgen's SIGSEGV after a
 * forwarder stopped first (issue 13; --linger only avoided it where the
 * forwarder stops first). io_seq is odd while the lcore is in a queue's
 * send and receive; the unmap waits until it has moved on from an odd
 * value. Entering is a seq_cst store, so the driver's "connected" flag is
 * read after it (x86 lets a load pass an earlier store): a burst that the
 * wait does not see begins after the flag was cleared. One exchange a
 * queue's round (32 frames each way by default). */
static _Atomic uint64_t io_seq;

static inline void io_enter(void)
{
	atomic_store_explicit(&io_seq, atomic_load_explicit(&io_seq, memory_order_relaxed) + 1,
			      memory_order_seq_cst);
}

static inline void io_leave(void)
{
	atomic_store_explicit(&io_seq, atomic_load_explicit(&io_seq, memory_order_relaxed) + 1,
			      memory_order_release);
}

static bool io_unmap_wait(uint64_t limit_ns)
{
	uint64_t t0 = rte_get_timer_cycles(), limit = limit_ns / 1000 * (rte_get_timer_hz() / 1000000);
	uint64_t seen;

	atomic_thread_fence(memory_order_seq_cst);
	seen = atomic_load_explicit(&io_seq, memory_order_seq_cst);
	if (!(seen & 1))
		return true;
	while (atomic_load_explicit(&io_seq, memory_order_acquire) == seen)
		if (rte_get_timer_cycles() - t0 > limit)
			return false;
		else
			rte_delay_us_sleep(20);
	return true;
}

/* Send a burst on queue q, as many frames as the port takes. */
static void send_burst(struct gen *g, const struct opts *o, struct rte_mempool *pool,
		       struct queue *queues, uint16_t q, struct totals *t)
{
	struct rte_mbuf *tx[MAX_BURST];
	uint8_t hot[MAX_BURST];
	const uint16_t burst = (uint16_t)o->burst;
	uint16_t sent;

	if (rte_pktmbuf_alloc_bulk(pool, tx, burst)) {
		t->no_mbuf++;
		return;
	}
	for (uint16_t i = 0; i < burst; i++) {
		struct rte_mbuf *m = tx[i];

		hot[i] = (uint8_t)fill_queue(g, o, &queues[q], rte_pktmbuf_mtod(m, uint8_t *));
		m->data_len = g->len;
		m->pkt_len = g->len;
	}
	sent = rte_eth_tx_burst(o->port, q, tx, burst);
	if (sent < burst) {
		uint32_t n_hot = 0;

		for (uint16_t i = sent; i < burst; i++)
			n_hot += hot[i];
		rte_pktmbuf_free_bulk(&tx[sent], burst - sent);
		rewind_queue(g, &queues[q], burst - sent, n_hot);
		t->tx_full += burst - sent;
	}
	t->tx += sent;
	queues[q].tx += sent;
}

/* Receive a burst on queue q (audited, counted, freed); how many. */
static uint16_t receive_burst(const struct opts *o, uint32_t n_addr, struct queue *queues,
			      uint16_t q, uint16_t burst, struct rx_audit *audit)
{
	struct rte_mbuf *rx[MAX_BURST];
	uint16_t n = rte_eth_rx_burst(o->port, q, rx, burst);

	if (n) {
		if (audit)
			audit_rx(audit, o, n_addr, q, rx, n);
		rte_pktmbuf_free_bulk(rx, n);
		queues[q].rx += n;
	}
	return n;
}

/* Send and receive until `end` (TSC); prints a line per second. */
static void run(struct gen *g, const struct opts *o, struct rte_mempool *pool,
		struct queue *queues, uint64_t start, uint64_t end, const char *phase,
		struct totals *t, struct rx_audit *audit)
{
	uint64_t hz = rte_get_tsc_hz(), tick = start + hz, last = start;
	uint64_t sec_tx = t->tx, sec_rx = t->rx;
	uint32_t second = 0;

	while (!quit) {
		uint64_t now = rte_get_tsc_cycles();

		if (now >= tick || now >= end) {
			double dt = (double)(now - last) / (double)hz;

			if (dt > 0.05) /* a trailing sliver is counted, not printed */
				printf("  %-7s %3us  tx %8.3f Mpps  rx %8.3f Mpps\n", phase, ++second,
				       (double)(t->tx - sec_tx) / dt / 1e6,
				       (double)(t->rx - sec_rx) / dt / 1e6);
			fflush(stdout);
			last = now;
			tick = now + hz;
			sec_tx = t->tx;
			sec_rx = t->rx;
			if (now >= end)
				break;
		}
		for (uint16_t q = 0; q < o->queues; q++) {
			io_enter();
			if (queues[q].n_flows)
				send_burst(g, o, pool, queues, q, t);
			t->rx += receive_burst(o, g->n_addr, queues, q, (uint16_t)o->burst, audit);
			io_leave();
		}
	}
}

/* Stop sending and receive what is still in flight until `end`. */
static uint64_t drain(const struct opts *o, uint64_t end, uint32_t n_addr, struct queue *queues,
		      struct rx_audit *audit)
{
	uint64_t n = 0;

	while (!quit && rte_get_tsc_cycles() < end)
		for (uint16_t q = 0; q < o->queues; q++) {
			io_enter();
			n += receive_burst(o, n_addr, queues, q, MAX_BURST, audit);
			io_leave();
		}
	return n;
}

/* Leave the port alone until the peer disconnects (or S seconds pass).
 * net_memif in DPDK 22.11 unmaps a connection's rings from its interrupt
 * thread while the lcore may be inside rx/tx on them: whichever side is
 * still polling when the other disconnects can crash, unless it has the
 * unmap guard (sy-pktgen and sy-dataplane have it; testpmd does not).
 * Letting the forwarder stop first, while we do not poll, spares a
 * forwarder without it, and lets the tests judge its stop. The link goes
 * down when that thread starts on the disconnect, not when it is done:
 * main() waits for it (sy_intr_barrier) before stopping the port. */
static void linger(const struct opts *o)
{
	uint64_t hz = rte_get_tsc_hz(), end = rte_get_tsc_cycles() + o->linger * hz;
	struct rte_eth_link link;

	printf("sy-pktgen: idle, waiting up to %u s for the peer to disconnect\n", o->linger);
	fflush(stdout);
	while (!quit && rte_get_tsc_cycles() < end) {
		memset(&link, 0, sizeof(link));
		if (rte_eth_link_get_nowait(o->port, &link) == 0 &&
		    link.link_status != RTE_ETH_LINK_UP)
			break;
		rte_delay_ms(10);
	}
}

static const char *ip4(uint32_t host, char *buf)
{
	struct in_addr a = { .s_addr = htonl(host) };

	return inet_ntop(AF_INET, &a, buf, INET_ADDRSTRLEN);
}

static void print_audit(const struct rx_audit *a, const struct opts *o, uint64_t tx)
{
	char b1[INET_ADDRSTRLEN], b2[INET_ADDRSTRLEN];
	/* with --hot, one frame in hot_every is an active flow's, not the sweep's */
	double sweep_share = o->hot ? (double)(o->hot_every - 1) / o->hot_every : 1.0;

	printf("sy-pktgen: %llu frames sent in all (%.2f sweeps over the %u flows)\n",
	       (unsigned long long)tx, (double)tx * sweep_share / o->flows, o->flows);
	for (uint32_t b = 0; b < a->n_backends; b++)
		printf("BACKEND %s packets=%llu\n", ip4(a->backend[b].addr, b1),
		       (unsigned long long)a->backend[b].pkts);
	if (a->moved)
		printf("sy-pktgen: flow %u came back from %s after %s\n", a->moved_example_flow,
		       ip4(a->moved_example_to, b1), ip4(a->moved_example_from, b2));
	if (o->hot)
		printf("HOT flows=%u seen=%llu moved=%llu moved_flows=%llu strays=%llu "
		       "undecoded=%llu\n",
		       o->hot, (unsigned long long)a->seen, (unsigned long long)a->moved,
		       (unsigned long long)a->moved_flows, (unsigned long long)a->strays,
		       (unsigned long long)a->undecoded);
	else
		printf("AUDIT flows=%u seen=%llu moved=%llu wrong_queue=%llu undecoded=%llu\n",
		       a->n_flows, (unsigned long long)a->seen, (unsigned long long)a->moved,
		       (unsigned long long)a->wrong_queue, (unsigned long long)a->undecoded);
}

/* --flow-report: a line per flow, its queue and the backend its first
 * frame came back from. */
static int write_flow_report(const struct rx_audit *a, const struct gen *g,
			     const struct opts *o)
{
	char b1[INET_ADDRSTRLEN], b2[INET_ADDRSTRLEN];
	FILE *f = fopen(o->flow_report, "w");

	if (!f) {
		fprintf(stderr, "sy-pktgen: cannot write %s: %s\n", o->flow_report, strerror(errno));
		return -1;
	}
	for (uint32_t k = 0; k < a->n_flows; k++)
		fprintf(f, "FLOW %s %u queue=%u backend=%s\n", ip4(o->src_ip + k % g->n_addr, b1),
			o->sport + k / g->n_addr, a->queue_of ? a->queue_of[k] : 0,
			a->first_backend[k] ? ip4(a->first_backend[k], b2) : "none");
	if (fclose(f)) {
		fprintf(stderr, "sy-pktgen: cannot write %s: %s\n", o->flow_report, strerror(errno));
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct gen g;
	static struct rx_audit audit;
	static struct queue queues[MAX_QUEUES];
	struct rx_audit *aud = NULL;
	uint8_t *queue_of = NULL;
	struct rte_mempool *pool;
	struct totals warm = { 0 }, meas = { 0 };
	struct opts o;
	uint64_t hz, t0, t1;
	double waited = 0, secs;
	uint64_t late;
	char smac[RTE_ETHER_ADDR_FMT_SIZE], dmac[RTE_ETHER_ADDR_FMT_SIZE];
	struct in_addr a;
	char src[INET_ADDRSTRLEN], dst[INET_ADDRSTRLEN];
	int n, rc = 1;

	n = rte_eal_init(argc, argv);
	if (n < 0) {
		fprintf(stderr, "sy-pktgen: EAL initialisation failed: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	sy_unmap_wait = io_unmap_wait; /* before any port starts */
	argc -= n;
	argv += n;
	argv[0] = "sy-pktgen";
	if (parse_args(argc, argv, &o)) {
		rte_eal_cleanup();
		return 2;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	pool = rte_pktmbuf_pool_create("pktgen_mbufs", POOL_SIZE, 256, 0,
				       RTE_MBUF_DEFAULT_BUF_SIZE, (int)rte_socket_id());
	if (!pool) {
		fprintf(stderr, "sy-pktgen: cannot create the mbuf pool: %s\n", rte_strerror(rte_errno));
		goto out;
	}
	if (port_init(&o, pool))
		goto out;
	if (!o.have_src_mac)
		rte_eth_macaddr_get(o.port, &o.src_mac);
	build_template(&g, &o);
	if (self_check(&g, &o))
		goto out;
	if (spread_flows(&g, &o, queues, &queue_of)) {
		fprintf(stderr, "sy-pktgen: out of memory for %u flows over %u queues\n", o.flows,
			o.queues);
		goto out;
	}
	if (o.hot || o.flow_report) {
		audit.n_flows = o.hot ? o.hot : o.flows;
		audit.queue_of = queue_of;
		audit.first_backend = calloc(audit.n_flows, sizeof(*audit.first_backend));
		audit.moved_state = calloc(audit.n_flows, 1);
		if (!audit.first_backend || !audit.moved_state) {
			fprintf(stderr, "sy-pktgen: out of memory for %u audited flows\n",
				audit.n_flows);
			goto out;
		}
		aud = &audit;
	}

	rte_ether_format_addr(smac, sizeof(smac), &o.src_mac);
	rte_ether_format_addr(dmac, sizeof(dmac), &o.dst_mac);
	a.s_addr = htonl(o.src_ip);
	inet_ntop(AF_INET, &a, src, sizeof(src));
	a.s_addr = htonl(o.dst_ip);
	inet_ntop(AF_INET, &a, dst, sizeof(dst));
	printf("sy-pktgen: port %u, %u flows (%u source addresses from %s, source ports %u..%u) -> %s:%u/%s, %u-byte frames, %s -> %s, burst %u, %u queue pair(s), lcore %u\n",
	       o.port, o.flows, g.n_addr, src, o.sport, o.sport + (o.flows - 1) / g.n_addr, dst,
	       o.dst_port, o.proto == IPPROTO_UDP ? "udp" : "tcp", o.size, smac, dmac, o.burst,
	       o.queues, rte_lcore_id());
	if (wait_link(&o, &waited)) {
		fprintf(stderr, "sy-pktgen: port %u link not up after %u s\n", o.port, o.link_timeout);
		printf("RESULT tx_mpps=0 rx_mpps=0 flows=%u proto=%s seconds=0 error=link_down\n",
		       o.flows, o.proto == IPPROTO_UDP ? "udp" : "tcp");
		goto out;
	}
	printf("sy-pktgen: link up after %.2f s; warmup %u s, then %u s measured\n", waited,
	       o.warmup, o.duration);
	fflush(stdout);

	hz = rte_get_tsc_hz();
	t0 = rte_get_tsc_cycles();
	if (o.warmup)
		run(&g, &o, pool, queues, t0, t0 + o.warmup * hz, "warmup", &warm, aud);
	t0 = rte_get_tsc_cycles();
	run(&g, &o, pool, queues, t0, t0 + o.duration * hz, "measure", &meas, aud);
	t1 = rte_get_tsc_cycles();
	secs = (double)(t1 - t0) / (double)hz;
	late = drain(&o, t1 + hz / 10, g.n_addr, queues, aud);
	printf("sy-pktgen: average over %.2f s: tx %.3f Mpps, rx %.3f Mpps (rx/tx %.3f); tx refused %llu pkts, mbuf shortages %llu, %llu pkts back after the end%s\n",
	       secs, (double)meas.tx / secs / 1e6, (double)meas.rx / secs / 1e6,
	       meas.tx ? (double)meas.rx / (double)meas.tx : 0.0,
	       (unsigned long long)meas.tx_full, (unsigned long long)meas.no_mbuf,
	       (unsigned long long)late, quit ? " (interrupted)" : "");
	printf("RESULT tx_mpps=%.3f rx_mpps=%.3f flows=%u proto=%s seconds=%.2f\n",
	       (double)meas.tx / secs / 1e6, (double)meas.rx / secs / 1e6, o.flows,
	       o.proto == IPPROTO_UDP ? "udp" : "tcp", secs);
	for (uint16_t q = 0; q < o.queues; q++)
		printf("QUEUE %u flows=%u tx=%llu rx=%llu\n", q, queues[q].n_flows,
		       (unsigned long long)queues[q].tx, (unsigned long long)queues[q].rx);
	printf("TOTAL tx=%llu rx=%llu\n", (unsigned long long)(warm.tx + meas.tx),
	       (unsigned long long)(warm.rx + meas.rx + late));
	rc = 0;
	if (aud) {
		print_audit(aud, &o, warm.tx + meas.tx);
		if (o.flow_report && write_flow_report(aud, &g, &o))
			rc = 1;
	}
	fflush(stdout);
	if (o.linger)
		linger(&o);
out:
	/* the interrupt thread may be handling the peer's disconnect (see
	 * linger()); then whatever our own stop and close left to it, before
	 * rte_eal_cleanup() unmaps the memory it works on */
	if (!sy_intr_barrier(2000))
		fprintf(stderr, "sy-pktgen: the interrupt thread is still busy after 2 s; stopping anyway\n");
	if (rte_eth_dev_is_valid_port(o.port)) {
		if (started)
			rte_eth_dev_stop(o.port);
		rte_eth_dev_close(o.port);
	}
	sy_intr_barrier(2000);
	rte_eal_cleanup();
	for (uint16_t q = 0; q < o.queues; q++)
		free(queues[q].flows);
	free(queue_of);
	free(audit.first_backend);
	free(audit.moved_state);
	return rc;
}
