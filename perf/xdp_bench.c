/* SPDX-License-Identifier: BSD-3-Clause
 *
 * xdp_bench: what the XDP balancer (bpf/sy_xdp_lb.bpf.c) costs per packet,
 * next to the cost of a trivial XDP_TX program and, optionally, Katran's
 * balancer, all through BPF_PROG_TEST_RUN. Not a test: it prints figures
 * and asserts nothing about speed (it does check, from each program's own
 * counters, that every packet took the path its column claims to measure).
 *
 *   xdp_bench [--quick] [--rounds R] [--packets P] [--katran DIR]
 *
 * Setup: a region in /dev/shm with one service, VIP 198.18.100.1 TCP :80,
 * ipip to 3 IPv4 backends (weights 1, 1, 2), Maglev M = 65537, mirrored into
 * the program's maps by sy_xdp_sync() (conntrack of 262144 flows per CPU);
 * the program configured with MTU 1500. Frames: 64 bytes (60 without FCS)
 * of Ethernet + IPv4 + TCP + 6 bytes of payload (no Ethernet padding).
 *
 * --katran DIR: DIR is a Katran checkout. Its katran/lib/bpf/balancer.bpf.c
 * is compiled (default features) into the build directory, loaded, and
 * given the same VIP, reals and ring (xdp_bench_katran.c); it runs the same
 * packets as ours.
 *
 * Method: one BPF_PROG_TEST_RUN per packet with repeat = 1 (with repeat > 1
 * the kernel runs the program again on the packet it has just rewritten, so
 * every run after the first would measure an encapsulated frame, i.e.
 * traffic to the kernel). The value per packet is the kernel's own
 * measurement (the `duration` of the run, in ns, taken around the program
 * only, not the system call), averaged over P packets. Columns, interleaved
 * in every round (the order rotates from round to round):
 *   floor        xdp_tx_floor (perf/xdp_tx_floor.bpf.c): return XDP_TX;
 *   established  the same TCP flow every time, ACK (conntrack hit);
 *   new          a TCP SYN of a 5-tuple never seen before every time
 *                (conntrack miss, Maglev, connection table insert);
 *   non-VIP      the same TCP ACK to an address that is no VIP (the host's
 *                own traffic: XDP_PASS);
 *   est-many     TCP ACKs of P flows set up before the rounds, every
 *                packet another flow in a scrambled order, each flow once
 *                a round: a flow's conntrack lines are those of a flow last
 *                seen a round ago (conntrack hits, as `established`, but
 *                not the one hot flow). Established flows outrank the SYN
 *                -only flows of `new` when a set is full, so these stay.
 * The process pins itself to one CPU (conntrack is per CPU). Every value is
 * printed, then the medians, median(column) - median(floor) (a program's own
 * cost per packet) and, with Katran, the ratio ours / Katran of those costs.
 *
 * Bounded: R rounds (default 9, 5 with --quick, at least 5) of 5 (9 with
 * Katran) x P calls (P default 20000, 5000 with --quick), and P calls a
 * program before them (est-many's flows), seconds in all.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include <switchyard/counters.h>
#include <switchyard/pkt_hdr.h>
#include <switchyard/region_writer.h>

#include "host_state.h"
#include "xdp_bench_katran.h"
#include "xdp_lb.h"
#include "xdp_tx_floor.skel.h"

#define FRAME_LEN 60
#define CT_FLOWS 262144
#define TABLE_SIZE 65537
#define MAX_ROUNDS 64

#define VIP_ADDR 0xc6126401u  /* 198.18.100.1 */
#define VIP_PORT 80
#define HOST_ADDR 0xc612000au /* 198.18.0.10: the gateway host itself */
#define HOST_PORT 22
#define CLIENT_ADDR 0xc6120002u /* the established flow's client */
#define CLIENT_PORT 40000
#define TCP_SYN 0x02
#define TCP_ACK 0x10

enum flow { F_EST, F_NEW, F_HOST, F_MANY, N_FLOWS };
enum prog { P_FLOOR, P_OURS, P_KATRAN };

struct column {
	const char *name;
	enum prog prog;
	enum flow flow;
	uint32_t verdict; /* what every run must return */
	int fd;
	double v[MAX_ROUNDS];
	double med;
};

/* Each round's host state (perf/host_state.h), measured before it: the
 * ratios are also given over the rounds the host was quiet in. */
static struct sy_host_state round_host[MAX_ROUNDS];

static int die(const char *what, const char *err)
{
	fprintf(stderr, "xdp_bench: %s: %s\n", what, err);
	return 1;
}

static uint16_t csum16(const void *d, size_t n)
{
	const uint8_t *p = d;
	uint32_t s = 0;

	for (; n > 1; n -= 2, p += 2)
		s += (uint32_t)p[0] << 8 | p[1];
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return htons((uint16_t)~s);
}

/* Ethernet + IPv4 + TCP + 6 bytes, 60 bytes; addresses host order. (The TCP
 * checksum is left 0: neither balancer reads it.) */
static void make_frame(uint8_t *o, uint32_t saddr, uint16_t sport, uint32_t daddr,
		       uint16_t dport, uint8_t flags)
{
	static const uint8_t lb_mac[6] = { 0x02, 0, 0, 0, 0, 0x01 };
	static const uint8_t client_mac[6] = { 0x02, 0, 0, 0, 0x99, 0x01 };
	struct sy_ip4_hdr ip = {
		.ver_ihl = 0x45,
		.tot_len = htons(FRAME_LEN - 14),
		.frag_off = htons(SY_IP4_DF),
		.ttl = 64,
		.proto = SY_IPPROTO_TCP,
		.saddr = htonl(saddr),
		.daddr = htonl(daddr),
	};
	struct sy_tcp_hdr t = { .sport = htons(sport), .dport = htons(dport),
				.doff_res = 5 << 4, .flags = flags, .window = htons(512) };
	uint16_t et = htons(SY_ETH_P_IPV4);

	memset(o, 0, FRAME_LEN);
	ip.csum = csum16(&ip, sizeof(ip));
	memcpy(o, lb_mac, 6);
	memcpy(o + 6, client_mac, 6);
	memcpy(o + 12, &et, 2);
	memcpy(o + 14, &ip, sizeof(ip));
	memcpy(o + 34, &t, sizeof(t));
	memset(o + 54, 'x', FRAME_LEN - 54);
}

/* The n-th new flow's client (host order): 198.18.128.0/17 x ports,
 * distinct for every n < 2^31. */
static void new_flow(uint32_t n, uint32_t *saddr, uint16_t *sport)
{
	*saddr = 0xc6128000u | (n & 0x7fff);
	*sport = (uint16_t)(1024 + (n >> 15));
}

static void flow_frame(uint8_t *frame, enum flow f, uint32_t n)
{
	uint32_t saddr;
	uint16_t sport;

	switch (f) {
	case F_EST:
		make_frame(frame, CLIENT_ADDR, CLIENT_PORT, VIP_ADDR, VIP_PORT, TCP_ACK);
		break;
	case F_NEW:
		new_flow(n, &saddr, &sport);
		make_frame(frame, saddr, sport, VIP_ADDR, VIP_PORT, TCP_SYN);
		break;
	case F_HOST:
		make_frame(frame, CLIENT_ADDR, CLIENT_PORT, HOST_ADDR, HOST_PORT, TCP_ACK);
		break;
	case F_MANY:
		new_flow(n, &saddr, &sport);
		make_frame(frame, saddr, sport, VIP_ADDR, VIP_PORT, TCP_ACK);
		break;
	case N_FLOWS:
		break;
	}
}

/* est-many's flows: the n `new` flows of a round numbered as the rounds
 * never are (set up before them), from number `first` (main() sets both) */
static struct {
	uint32_t first, n;
} many;

static int publish(struct sy_writer *w, char *err, size_t errlen)
{
	struct sy_backend_spec be[3];
	struct sy_service_spec s = {
		.name = "bench",
		.vip = { .addr = { htonl(VIP_ADDR) }, .port = htons(VIP_PORT),
			 .proto = SY_IPPROTO_TCP, .family = SY_AF_INET },
		.fwd_mode = SY_FWD_IPIP,
		.hash_seed = 7,
		.table_size = TABLE_SIZE,
		.n_backends = 3,
		.backends = be,
	};

	inet_pton(AF_INET, "198.18.0.1", &s.encap_src4);
	memset(be, 0, sizeof(be));
	for (int i = 0; i < 3; i++) {
		char a[32];

		snprintf(a, sizeof(a), "198.18.1.%d", i + 1);
		be[i].id.family = SY_AF_INET;
		be[i].id.port = VIP_PORT;
		inet_pton(AF_INET, a, be[i].id.addr);
		be[i].weight = i == 2 ? 2 : 1;
		memcpy(be[i].mac, (uint8_t[6]){ 0x02, 0, 0, 0, 0x01, (uint8_t)(i + 1) }, 6);
	}
	if (sy_writer_set_service(w, &s, err, errlen))
		return -1;
	return sy_writer_commit(w, NULL, err, errlen);
}

/* Katran gets the published service: its reals and its Maglev table. */
static int open_katran(struct katran_bench **k, const char *checkout, struct sy_writer *w,
		       char *err, size_t errlen)
{
	const uint8_t *base = sy_writer_map(w)->base;
	const struct sy_service *s = sy_snapshot_find_name(base, sy_writer_snapshot(w), "bench");
	const struct sy_backend *b;
	uint32_t reals[16];
	struct katran_service ks = { .vip = htonl(VIP_ADDR), .port = htons(VIP_PORT),
				     .proto = SY_IPPROTO_TCP,
				     .next_hop_mac = { 0x02, 0, 0, 0, 0x01, 0x01 },
				     .lru_flows = CT_FLOWS };
	char exe[PATH_MAX], dir[PATH_MAX + 16];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (!s || s->n_backends > 16) {
		snprintf(err, errlen, "the benchmark service is not published");
		return -1;
	}
	if (n <= 0) {
		snprintf(err, errlen, "cannot find the build directory: %s", strerror(errno));
		return -1;
	}
	exe[n] = 0;
	/* next to this binary: the build directory, never the source tree */
	snprintf(dir, sizeof(dir), "%s/katran-build", dirname(exe));
	b = sy_service_backends(base, s);
	for (uint32_t i = 0; i < s->n_backends; i++)
		reals[i] = b[i].id.addr[0];
	ks.n_reals = s->n_backends;
	ks.reals = reals;
	ks.ring_size = s->table_size;
	ks.ring = sy_service_table(base, s);
	printf("katran: building %s/katran/lib/bpf/balancer.bpf.c into %s\n", checkout, dir);
	return katran_bench_open(k, checkout, dir, SY_BPF_CLANG, SY_BPF_MULTIARCH_INC, &ks, err,
				 errlen);
}

/* P runs of one column; returns the mean kernel-measured ns per packet, or
 * a negative value if a run failed or returned another verdict. */
static double measure(const struct column *c, uint32_t packets, uint32_t round, uint8_t *frame,
		      uint8_t *out)
{
	uint64_t total = 0;

	flow_frame(frame, c->flow, 0);
	for (uint32_t i = 0; i < packets; i++) {
		LIBBPF_OPTS(bpf_test_run_opts, opts,
			.data_in = frame,
			.data_size_in = FRAME_LEN,
			.data_out = out,
			.data_size_out = 256,
			.repeat = 1,
		);

		if (c->flow == F_NEW)
			flow_frame(frame, F_NEW, round * packets + i);
		else if (c->flow == F_MANY) /* 1000003: a prime above any n */
			flow_frame(frame, F_MANY,
				   many.first + (uint32_t)((i * 1000003ull) % many.n));
		if (bpf_prog_test_run_opts(c->fd, &opts) || opts.retval != c->verdict)
			return -1;
		total += opts.duration;
	}
	return (double)total / packets;
}

/* What the column's program counted over its P runs: 0 if every packet took
 * the column's path, else -1 with a line in msg. */
struct snapshot {
	uint64_t sy[SY_LCORE_NCOUNTERS];
	struct katran_counters kt;
};

static void take(struct sy_xdp *x, struct katran_bench *k, struct snapshot *s)
{
	sy_xdp_read_counters(x, s->sy);
	if (k)
		katran_bench_counters(k, &s->kt);
}

static int verify(const struct column *c, const struct snapshot *a, const struct snapshot *b,
		  struct katran_bench *k, int cpu, uint32_t packets, uint32_t round, char *msg,
		  size_t len)
{
	uint64_t got = packets, tracked = packets;
	const char *what = "";

	if (c->prog == P_OURS) {
		static const int idx[] = { [F_EST] = SY_C_CT_HIT, [F_NEW] = SY_C_CT_NEW,
					   [F_HOST] = SY_C_TO_KERNEL, [F_MANY] = SY_C_CT_HIT };
		static const char *const name[] = { [F_EST] = "ct_hit", [F_NEW] = "ct_new",
						     [F_HOST] = "to_kernel", [F_MANY] = "ct_hit" };

		got = b->sy[idx[c->flow]] - a->sy[idx[c->flow]];
		what = name[c->flow];
	} else if (c->prog == P_KATRAN) {
		uint64_t miss = b->kt.lru_misses - a->kt.lru_misses;

		if (c->flow == F_EST || c->flow == F_MANY) {
			got = miss ? 0 : b->kt.tx - a->kt.tx;
			what = "tx without lru miss";
		} else if (c->flow == F_NEW) {
			got = miss;
			what = "lru misses";
			/* its new-connection guard skips the insert beyond
			 * 125,000 per second: check the flows are there */
			tracked = 0;
			for (uint32_t i = 0; i < packets; i++) {
				uint32_t saddr;
				uint16_t sport;

				new_flow(round * packets + i, &saddr, &sport);
				tracked += (uint64_t)katran_bench_tracked(
					k, cpu, htonl(saddr), htons(sport), htonl(VIP_ADDR),
					htons(VIP_PORT), SY_IPPROTO_TCP);
			}
		} else {
			got = b->kt.pass - a->kt.pass;
			what = "pass";
		}
	}
	if (got == packets && tracked == packets)
		return 0;
	snprintf(msg, len, " [%s: %s %llu, tracked %llu of %u]", c->name, what,
		 (unsigned long long)got, (unsigned long long)tracked, packets);
	return -1;
}

static void prog_size(int fd, uint32_t *insns, uint32_t *jited)
{
	struct bpf_prog_info info = { 0 };
	uint32_t len = sizeof(info);

	*insns = *jited = 0;
	if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) {
		*insns = info.xlated_prog_len / 8;
		*jited = info.jited_prog_len;
	}
}

/* Ours and Katran's cost above the floor, and their ratio, per flow kind:
 * of the medians, and the median of the rounds' own ratios. */
static void print_comparison(const struct column *col, int rounds)
{
	static const char *const kind[N_FLOWS] = { "established", "new", "non-VIP", "est-many" };
	static const char *const key[N_FLOWS] = { "established", "new", "nonvip", "estmany" };
	const struct column *fl = &col[0];
	double ratio[N_FLOWS];

	printf("\nns above the floor (medians) and ours / katran; the last column over the rounds\n"
	       "the host was quiet in (perf/host_state.h: adds and 4MB of the round's line):\n");
	printf("%-12s %11s %13s %12s %19s %18s\n", "flow", "ours-floor", "katran-floor", "ours/katran",
	       "median of rounds'", "of quiet rounds'");
	for (int f = 0; f < N_FLOWS; f++) {
		const struct column *o = &col[1 + f], *k = &col[1 + N_FLOWS + f];
		double ours = o->med - fl->med, kt = k->med - fl->med, r[MAX_ROUNDS], q[MAX_ROUNDS];
		int nq = 0;

		for (int i = 0; i < rounds; i++) {
			r[i] = (o->v[i] - fl->v[i]) / (k->v[i] - fl->v[i]);
			if (sy_host_state_quiet(&round_host[i]))
				q[nq++] = r[i];
		}
		ratio[f] = ours / kt;
		printf("%-12s %+11.1f %+13.1f %11.2fx %18.2fx", kind[f], ours, kt, ratio[f],
		       sy_median(r, rounds));
		if (nq)
			printf(" %11.2fx (%d)\n", sy_median(q, nq), nq);
		else
			printf(" %14s\n", "none");
	}
	printf("SUMMARY_KATRAN");
	for (int f = 0; f < N_FLOWS; f++)
		printf(" katran_%s_ns=%.1f %s_ratio=%.2f", key[f], col[1 + N_FLOWS + f].med, key[f],
		       ratio[f]);
	printf("\n");
}

int main(int argc, char **argv)
{
	static const struct sy_region_limits lim = { .max_lcores = 2, .max_services = 16,
						     .max_backends = 64, .heap_size = 16u << 20 };
	static const struct option lo[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "packets", required_argument, NULL, 'p' },
		{ "katran", required_argument, NULL, 'k' },
		{ NULL, 0, NULL, 0 },
	};
	struct sy_xdp_opts xo = { .ct_flows = CT_FLOWS };
	struct sy_xdp_config cfg = { .port_mac = { 0x02, 0, 0, 0, 0, 0x01 }, .mtu = 1500 };
	struct column col[] = {
		{ .name = "floor", .prog = P_FLOOR, .flow = F_EST, .verdict = XDP_TX },
		{ .name = "established", .prog = P_OURS, .flow = F_EST, .verdict = XDP_TX },
		{ .name = "new", .prog = P_OURS, .flow = F_NEW, .verdict = XDP_TX },
		{ .name = "non-VIP", .prog = P_OURS, .flow = F_HOST, .verdict = XDP_PASS },
		{ .name = "est-many", .prog = P_OURS, .flow = F_MANY, .verdict = XDP_TX },
		{ .name = "kt-est", .prog = P_KATRAN, .flow = F_EST, .verdict = XDP_TX },
		{ .name = "kt-new", .prog = P_KATRAN, .flow = F_NEW, .verdict = XDP_TX },
		{ .name = "kt-nonVIP", .prog = P_KATRAN, .flow = F_HOST, .verdict = XDP_PASS },
		{ .name = "kt-many", .prog = P_KATRAN, .flow = F_MANY, .verdict = XDP_TX },
	};
	int rounds = 9, opt, cpu, rc = 1, ncols = 1 + N_FLOWS, bad = 0;
	uint32_t packets = 20000, insns, jited;
	const char *katran_dir = NULL;
	struct xdp_tx_floor *floor = NULL;
	struct katran_bench *kt = NULL;
	struct sy_writer *w = NULL;
	struct sy_xdp *x = NULL;
	char path[128], err[512] = "";
	uint8_t frame[FRAME_LEN], out[256];
	cpu_set_t one;

	while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (opt) {
		case 'q':
			rounds = 5;
			packets = 5000;
			break;
		case 'r':
			rounds = atoi(optarg);
			break;
		case 'p':
			packets = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'k':
			katran_dir = optarg;
			break;
		default:
			fprintf(stderr, "usage: xdp_bench [--quick] [--rounds R] [--packets P] "
					"[--katran DIR]\n");
			return 2;
		}
	}
	if (rounds < 5 || rounds > MAX_ROUNDS || packets < 100 || packets > 1000000) {
		fprintf(stderr, "xdp_bench: --rounds 5..%d, --packets 100..1000000\n", MAX_ROUNDS);
		return 2;
	}
	if ((uint64_t)(rounds + 1) * packets > CT_FLOWS)
		fprintf(stderr, "xdp_bench: note: %llu new flows exceed the %u-flow conntrack: "
				"late rounds of `new` also evict\n",
			(unsigned long long)(rounds + 1) * packets, CT_FLOWS);

	cpu = sched_getcpu();
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	if (sched_setaffinity(0, sizeof(one), &one))
		return die("sched_setaffinity", strerror(errno));

	snprintf(path, sizeof(path), "/dev/shm/sy-xdp-bench-%d", (int)getpid());
	unlink(path);
	if (sy_writer_create(path, "xdp_bench", &lim, NULL, &w, err, sizeof(err)) ||
	    publish(w, err, sizeof(err))) {
		rc = die("region", err);
		goto out;
	}
	if (sy_xdp_open(&x, &xo, err, sizeof(err)) ||
	    sy_xdp_configure(x, &cfg, err, sizeof(err)) ||
	    sy_xdp_sync(x, sy_writer_map(w)->base, sy_writer_snapshot(w), err, sizeof(err))) {
		rc = die("sy_xdp_lb", err);
		goto out;
	}
	floor = xdp_tx_floor__open_and_load();
	if (!floor) {
		rc = die("xdp_tx_floor", strerror(errno));
		goto out;
	}
	if (katran_dir) {
		if (open_katran(&kt, katran_dir, w, err, sizeof(err))) {
			rc = die("katran", err);
			goto out;
		}
		ncols = 1 + 2 * N_FLOWS;
	}
	for (int c = 0; c < ncols; c++)
		col[c].fd = col[c].prog == P_FLOOR ? bpf_program__fd(floor->progs.xdp_tx_floor)
			  : col[c].prog == P_OURS  ? sy_xdp_prog_fd(x)
						   : katran_bench_prog_fd(kt);

	printf("xdp_bench: ns per packet, BPF_PROG_TEST_RUN (repeat 1, one call per packet, "
	       "kernel-measured duration), %u packets per value, CPU %d\n",
	       packets, cpu);
	printf("service: VIP 198.18.100.1 tcp :80, ipip to 3 backends, M = %u; 60-byte TCP frames; "
	       "non-VIP: to 198.18.0.10 :22\n", TABLE_SIZE);
	prog_size(sy_xdp_prog_fd(x), &insns, &jited);
	printf("program size: ours %u xlated insns, %u bytes jited", insns, jited);
	if (kt) {
		katran_bench_prog_size(kt, &insns, &jited);
		printf("; katran %u xlated insns, %u bytes jited", insns, jited);
	}
	printf("\n");
	/* the state the rows were measured in (perf/host_state.h) */
	sy_host_state_report(stdout, "start");
	printf("%-6s", "round");
	for (int c = 0; c < ncols; c++)
		printf(" %11s", col[c].name);
	printf("  %5s %6s %6s   (every packet took its column's path?)\n", "adds", "4MB", "host");
	/* est-many's flows set up: each program's `new` column, once,
	 * untimed, as round `rounds` */
	many.first = (uint32_t)rounds * packets;
	many.n = packets;
	for (int c = 0; c < ncols; c++)
		if (col[c].flow == F_NEW &&
		    measure(&col[c], packets, (uint32_t)rounds, frame, out) < 0) {
			rc = die("est-many's flows", "a run failed or returned another verdict");
			goto out;
		}
	/* warm-up: the established flow gets tracked; caches and branch
	 * predictors see every column */
	for (int c = 0; c < ncols; c++)
		if (measure(&col[c], 200, 1000000 + (uint32_t)c, frame, out) < 0) {
			rc = die("warm-up", "a run failed or returned another verdict");
			goto out;
		}
	for (int r = 0; r < rounds; r++) {
		char checks[512] = "";

		/* the round's host state, before its columns (adds a core
		 * cycle, the 4 MB chase: perf/host_state.h) */
		if (sy_host_state_measure(&round_host[r], 1))
			round_host[r] = (struct sy_host_state){ 0 };

		for (int j = 0; j < ncols; j++) {
			struct column *c = &col[(r + j) % ncols];
			struct snapshot a, b;

			take(x, kt, &a);
			c->v[r] = measure(c, packets, (uint32_t)r, frame, out);
			if (c->v[r] < 0) {
				rc = die(c->name, "a run failed or returned another verdict");
				goto out;
			}
			take(x, kt, &b);
			if (verify(c, &a, &b, kt, cpu, packets, (uint32_t)r,
				   checks + strlen(checks), sizeof(checks) - strlen(checks)))
				bad++;
		}
		printf("%-6d", r + 1);
		for (int c = 0; c < ncols; c++)
			printf(" %11.1f", col[c].v[r]);
		printf("  %5.2f %6.1f %s   %s\n", round_host[r].adds_per_cycle, round_host[r].chase4mb,
		       sy_host_state_quiet(&round_host[r]) ? "quiet " : "shared",
		       checks[0] ? checks : "yes");
	}
	printf("%-6s", "median");
	for (int c = 0; c < ncols; c++) {
		col[c].med = sy_median(col[c].v, rounds);
		printf(" %11.1f", col[c].med);
	}
	printf("\nours - floor: established %+.1f ns, new flows %+.1f ns, non-VIP %+.1f ns, "
	       "established of many flows %+.1f ns per packet\n",
	       col[1].med - col[0].med, col[2].med - col[0].med, col[3].med - col[0].med,
	       col[4].med - col[0].med);
	printf("SUMMARY floor_ns=%.1f established_ns=%.1f new_ns=%.1f nonvip_ns=%.1f "
	       "estmany_ns=%.1f established_minus_floor=%.1f new_minus_floor=%.1f "
	       "nonvip_minus_floor=%.1f estmany_minus_floor=%.1f rounds=%d packets=%u\n",
	       col[0].med, col[1].med, col[2].med, col[3].med, col[4].med, col[1].med - col[0].med,
	       col[2].med - col[0].med, col[3].med - col[0].med, col[4].med - col[0].med, rounds,
	       packets);
	if (kt)
		print_comparison(col, rounds);
	sy_host_state_report(stdout, "end");
	if (bad)
		fprintf(stderr, "xdp_bench: %d value(s) did not measure what their column says "
				"(see the rounds)\n", bad);
	rc = bad ? 1 : 0;
out:
	katran_bench_close(kt);
	xdp_tx_floor__destroy(floor);
	if (x)
		sy_xdp_close(x, false);
	if (w)
		sy_writer_close(w);
	unlink(path);
	return rc;
}
