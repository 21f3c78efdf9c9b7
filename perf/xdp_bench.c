/* SPDX-License-Identifier: BSD-3-Clause
 *
 * xdp_bench: what the XDP balancer (bpf/sy_xdp_lb.bpf.c) costs per packet,
 * next to the cost of a trivial XDP_TX program, both through
 * BPF_PROG_TEST_RUN. Not a test: it prints figures and asserts nothing about
 * speed (it does check that every packet took the path it claims to measure).
 *
 *   xdp_bench [--quick] [--rounds R] [--packets P]
 *
 * Setup: a region in /dev/shm with one service, VIP 198.18.100.1 UDP :53,
 * ipip to 3 IPv4 backends (weights 1, 1, 2), Maglev M = 65537, mirrored into
 * the program's maps by sy_xdp_sync() (conntrack of 262144 flows per CPU);
 * the program configured with MTU 1500. Frames: 64 bytes (60 without FCS) of
 * Ethernet + IPv4 + UDP, as sy-pktgen sends.
 *
 * Method: one BPF_PROG_TEST_RUN per packet with repeat = 1 (with repeat > 1
 * the kernel runs the program again on the packet it has just rewritten, so
 * every run after the first would measure an encapsulated frame, i.e.
 * traffic to the kernel). The value per packet is the kernel's own
 * measurement (the `duration` of the run, in ns, taken around the program
 * only, not the system call), averaged over P packets. Three kinds,
 * interleaved in every round (the order rotates from round to round):
 *   floor        xdp_tx_floor (perf/xdp_tx_floor.bpf.c): return XDP_TX;
 *   established  sy_xdp_lb, the same 5-tuple every time (conntrack hit);
 *   new          sy_xdp_lb, a 5-tuple never seen before every time
 *                (conntrack miss, Maglev, LRU insert).
 * The process pins itself to one CPU (conntrack is per CPU). Every value is
 * printed, then the medians and the differences median(kind) -
 * median(floor): the balancer's cost per packet.
 *
 * Bounded: R rounds (default 7, 5 with --quick, at least 5) of 3 x P calls
 * (P default 20000, 5000 with --quick), a few seconds in all.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
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

#include "xdp_lb.h"
#include "xdp_tx_floor.skel.h"

#define FRAME_LEN 60
#define CT_FLOWS 262144

enum kind { K_FLOOR, K_EST, K_NEW, N_KINDS };
static const char *const kind_name[N_KINDS] = { "floor", "established", "new" };

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

/* Ethernet + IPv4 + UDP to 198.18.100.1:53, 60 bytes. */
static void make_frame(uint8_t *o, uint32_t saddr, uint16_t sport)
{
	static const uint8_t lb_mac[6] = { 0x02, 0, 0, 0, 0, 0x01 };
	static const uint8_t client_mac[6] = { 0x02, 0, 0, 0, 0x99, 0x01 };
	struct sy_ip4_hdr ip = {
		.ver_ihl = 0x45,
		.tot_len = htons(FRAME_LEN - 14),
		.frag_off = htons(SY_IP4_DF),
		.ttl = 64,
		.proto = SY_IPPROTO_UDP,
		.saddr = saddr,
	};
	struct sy_udp_hdr u = { .sport = htons(sport), .dport = htons(53),
				.len = htons(FRAME_LEN - 14 - 20) };
	uint16_t et = htons(SY_ETH_P_IPV4);

	memset(o, 0, FRAME_LEN);
	inet_pton(AF_INET, "198.18.100.1", &ip.daddr);
	ip.csum = csum16(&ip, sizeof(ip));
	memcpy(o, lb_mac, 6);
	memcpy(o + 6, client_mac, 6);
	memcpy(o + 12, &et, 2);
	memcpy(o + 14, &ip, sizeof(ip));
	memcpy(o + 34, &u, sizeof(u));
	memset(o + 42, 'x', FRAME_LEN - 42);
}

static int publish(struct sy_writer *w, char *err, size_t errlen)
{
	struct sy_backend_spec be[3];
	struct sy_service_spec s = {
		.name = "bench",
		.vip = { .port = htons(53), .proto = SY_IPPROTO_UDP, .family = SY_AF_INET },
		.fwd_mode = SY_FWD_IPIP,
		.hash_seed = 7,
		.table_size = 65537,
		.n_backends = 3,
		.backends = be,
	};

	inet_pton(AF_INET, "198.18.100.1", s.vip.addr);
	inet_pton(AF_INET, "198.18.0.1", &s.encap_src4);
	memset(be, 0, sizeof(be));
	for (int i = 0; i < 3; i++) {
		char a[32];

		snprintf(a, sizeof(a), "198.18.1.%d", i + 1);
		be[i].id.family = SY_AF_INET;
		be[i].id.port = 53;
		inet_pton(AF_INET, a, be[i].id.addr);
		be[i].weight = i == 2 ? 2 : 1;
		memcpy(be[i].mac, (uint8_t[6]){ 0x02, 0, 0, 0, 0x01, (uint8_t)(i + 1) }, 6);
	}
	if (sy_writer_set_service(w, &s, err, errlen))
		return -1;
	return sy_writer_commit(w, NULL, err, errlen);
}

/* P runs of one kind; returns the mean kernel-measured ns per packet, or a
 * negative value if a run failed or did not return XDP_TX. */
static double measure(enum kind k, int lb_fd, int floor_fd, uint32_t packets, uint32_t round,
		      uint8_t *frame, uint8_t *out)
{
	uint64_t total = 0;

	for (uint32_t i = 0; i < packets; i++) {
		LIBBPF_OPTS(bpf_test_run_opts, opts,
			.data_in = frame,
			.data_size_in = FRAME_LEN,
			.data_out = out,
			.data_size_out = 256,
			.repeat = 1,
		);
		int fd = k == K_FLOOR ? floor_fd : lb_fd;

		if (k == K_NEW) {
			/* a new 5-tuple: source 198.18.128.0/17 x port, distinct
			 * across all rounds */
			uint32_t n = round * packets + i;
			uint32_t saddr = htonl(0xc6128000u | (n & 0x7fff));
			uint16_t sport = htons((uint16_t)(1024 + (n >> 15)));

			memcpy(frame + 26, &saddr, 4);
			memcpy(frame + 34, &sport, 2);
		}
		if (bpf_prog_test_run_opts(fd, &opts) || opts.retval != XDP_TX)
			return -1;
		total += opts.duration;
	}
	return (double)total / packets;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(const double *v, int n)
{
	double s[64];

	memcpy(s, v, sizeof(double) * (size_t)n);
	qsort(s, (size_t)n, sizeof(double), cmp_double);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

int main(int argc, char **argv)
{
	static const struct sy_region_limits lim = { .max_lcores = 2, .max_services = 16,
						     .max_backends = 64, .heap_size = 16u << 20 };
	static const struct option lo[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "packets", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	struct sy_xdp_opts xo = { .ct_flows = CT_FLOWS };
	struct sy_xdp_config cfg = { .port_mac = { 0x02, 0, 0, 0, 0, 0x01 }, .mtu = 1500 };
	int rounds = 7, opt, cpu, rc = 1;
	uint32_t packets = 20000;
	double v[N_KINDS][64], med[N_KINDS];
	uint64_t c0[SY_LCORE_NCOUNTERS], c1[SY_LCORE_NCOUNTERS];
	struct xdp_tx_floor *floor = NULL;
	struct sy_writer *w = NULL;
	struct sy_xdp *x = NULL;
	char path[128], err[256] = "";
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
		default:
			fprintf(stderr, "usage: xdp_bench [--quick] [--rounds R] [--packets P]\n");
			return 2;
		}
	}
	if (rounds < 5 || rounds > 64 || packets < 100 || packets > 1000000) {
		fprintf(stderr, "xdp_bench: --rounds 5..64, --packets 100..1000000\n");
		return 2;
	}
	if ((uint64_t)rounds * packets > CT_FLOWS)
		fprintf(stderr, "xdp_bench: note: %llu new flows exceed the %u-flow conntrack: "
				"late rounds of `new` also evict\n",
			(unsigned long long)rounds * packets, CT_FLOWS);

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

	printf("xdp_bench: ns per packet, BPF_PROG_TEST_RUN (repeat 1, one call per packet, "
	       "kernel-measured duration), %u packets per value, CPU %d\n",
	       packets, cpu);
	printf("service: VIP 198.18.100.1 udp :53, ipip to 3 backends, M = 65537; 60-byte frames\n");
	printf("%-6s %10s %12s %10s   %s\n", "round", kind_name[K_FLOOR], kind_name[K_EST],
	       kind_name[K_NEW], "(balancer counters: ct_hit / ct_new over the round)");
	/* warm-up: the established flow gets tracked; caches and branch
	 * predictors see all three */
	make_frame(frame, htonl(0xc6120002u), 40000);
	for (int k = 0; k < N_KINDS; k++)
		if (measure((enum kind)k, sy_xdp_prog_fd(x), bpf_program__fd(floor->progs.xdp_tx_floor),
			    200, 1000000 + (uint32_t)k, frame, out) < 0) {
			rc = die("warm-up", "a run failed or did not return XDP_TX");
			goto out;
		}
	for (int r = 0; r < rounds; r++) {
		sy_xdp_read_counters(x, c0);
		for (int j = 0; j < N_KINDS; j++) {
			enum kind k = (enum kind)((r + j) % N_KINDS);

			/* established: always the same flow; new: changes it */
			make_frame(frame, htonl(0xc6120002u), 40000);
			v[k][r] = measure(k, sy_xdp_prog_fd(x),
					  bpf_program__fd(floor->progs.xdp_tx_floor), packets,
					  (uint32_t)r, frame, out);
			if (v[k][r] < 0) {
				rc = die(kind_name[k], "a run failed or did not return XDP_TX");
				goto out;
			}
		}
		sy_xdp_read_counters(x, c1);
		printf("%-6d %10.1f %12.1f %10.1f   ct_hit %llu / ct_new %llu\n", r + 1,
		       v[K_FLOOR][r], v[K_EST][r], v[K_NEW][r],
		       (unsigned long long)(c1[SY_C_CT_HIT] - c0[SY_C_CT_HIT]),
		       (unsigned long long)(c1[SY_C_CT_NEW] - c0[SY_C_CT_NEW]));
	}
	for (int k = 0; k < N_KINDS; k++)
		med[k] = median(v[k], rounds);
	printf("%-6s %10.1f %12.1f %10.1f\n", "median", med[K_FLOOR], med[K_EST], med[K_NEW]);
	printf("ours - floor: established %+.1f ns, new flows %+.1f ns per packet\n",
	       med[K_EST] - med[K_FLOOR], med[K_NEW] - med[K_FLOOR]);
	printf("SUMMARY floor_ns=%.1f established_ns=%.1f new_ns=%.1f established_minus_floor=%.1f "
	       "new_minus_floor=%.1f rounds=%d packets=%u\n",
	       med[K_FLOOR], med[K_EST], med[K_NEW], med[K_EST] - med[K_FLOOR],
	       med[K_NEW] - med[K_FLOOR], rounds, packets);
	rc = 0;
out:
	xdp_tx_floor__destroy(floor);
	if (x)
		sy_xdp_close(x, false);
	if (w)
		sy_writer_close(w);
	unlink(path);
	return rc;
}
