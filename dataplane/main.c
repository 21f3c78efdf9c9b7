/* SPDX-License-Identifier: BSD-3-Clause
 *
 * sy-dataplane [EAL options] -- --region PATH [options]
 *
 * Maps the region published by sy-control, sets up every DPDK port with one
 * queue pair per worker lcore (and an exception TAP), and runs the workers
 * until SIGINT/SIGTERM. Every worker lcore of the EAL lcore list is a worker;
 * with a single lcore, the main lcore works too.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_pdump.h>
#include <rte_mbuf.h>

#include "dataplane.h"
#include "unmap_guard.h"
#include "intr_barrier.h"

static struct sy_dataplane the_dp = { .map_mu = PTHREAD_MUTEX_INITIALIZER };

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sy-dataplane [EAL options] -- --region PATH [options]\n"
		"       sy-dataplane --version | --help\n"
		"  --region PATH          shared-table region published by sy-control (required)\n"
		"  --burst N              packets per RX burst, 1..%d (default 32)\n"
		"  --ct-size N            tracked flows per worker (default 262144)\n"
		"  --exception-tap on|off pass non-VIP traffic to the kernel (default on)\n"
		"  --tap-prefix NAME      exception interface names NAME<port> (default sy)\n"
		"  --tap-address ADDR/LEN[@PORT]  an address of port PORT's (default 0)\n"
		"                         exception interface, added and the interface set up\n"
		"                         at each start (repeat the option)\n"
		"  --tap-route DEST/LEN,GATEWAY[@PORT]  a route through it (DEST may be\n"
		"                         'default'), added at each start after the addresses\n"
		"                         (up to %d addresses and routes in all)\n"
		"  --mtu N                ports' MTU, %d..%d: largest IP packet received and sent\n"
		"                         (default: each port's own; net_af_packet: its interface's)\n"
		"  --mtu-action icmp|drop too big after encapsulation: answer or drop (default icmp)\n"
		"  --icmp-rate N          ICMP errors (too big) a worker may send per second (default %u)\n"
		"  --icmp-burst N         ... and at once after a quiet spell (default %u)\n"
		"  --ct-timeout-tcp S / --ct-timeout-tcp-fin S / --ct-timeout-udp S  idle timeouts\n"
		"  --ct-guard-rate N      new flows a worker may add to its connection table per\n"
		"                         second, 0..%u; over it, new flows are forwarded to\n"
		"                         their Maglev backend untracked (ct_bypass); 0 = off\n"
		"                         (default %u)\n"
		"  --ct-guard-burst N     ... and at once after a quiet spell, 1..%u (default %u)\n"
		"  --ct-syn-only on|off   TCP packets without SYN of no tracked flow are forwarded\n"
		"                         untracked (ct_bypass_no_syn) (default off)\n"
		"  --frag-timeout S       how long a first fragment's ports are remembered for the\n"
		"                         datagram's later fragments, 1..60 (default %u)\n"
		"  --stats-interval S     print counters every S seconds (default 0: never)\n",
		SY_MAX_BURST, SY_TAP_MAX_ITEMS, SY_MTU_MIN, SY_MTU_MAX, SY_ICMP_RATE_DEFAULT,
		SY_ICMP_BURST_DEFAULT,
		SY_CT_GUARD_RATE_MAX, SY_CT_GUARD_RATE_DEFAULT, SY_CT_GUARD_BURST_MAX,
		SY_CT_GUARD_BURST_DEFAULT,
		SY_FRAG_TIMEOUT_MS_DEFAULT / 1000);
}

/* `sy-dataplane --help`: EAL prints its own options, then calls this. */
static void app_usage(const char *prgname)
{
	(void)prgname;
	usage(stdout);
}

static int parse_u64(const char *opt, const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || !*s || v < min || v > max || s[0] == '-') {
		fprintf(stderr, "sy-dataplane: %s: '%s' is not a number in %llu..%llu\n", opt, s,
			(unsigned long long)min, (unsigned long long)max);
		return -1;
	}
	*out = v;
	return 0;
}

static int parse_args(int argc, char **argv, struct sy_dp_opts *o)
{
	static const struct option longopts[] = {
		{ "region", required_argument, 0, 'r' },
		{ "burst", required_argument, 0, 'b' },
		{ "ct-size", required_argument, 0, 'c' },
		{ "exception-tap", required_argument, 0, 'x' },
		{ "tap-prefix", required_argument, 0, 'p' },
		{ "tap-address", required_argument, 0, 'A' },
		{ "tap-route", required_argument, 0, 'R' },
		{ "mtu", required_argument, 0, 'm' },
		{ "mtu-action", required_argument, 0, 'a' },
		{ "stats-interval", required_argument, 0, 's' },
		{ "ct-timeout-tcp", required_argument, 0, 'T' },
		{ "ct-timeout-tcp-fin", required_argument, 0, 'F' },
		{ "ct-timeout-udp", required_argument, 0, 'U' },
		{ "icmp-rate", required_argument, 0, 'I' },
		{ "icmp-burst", required_argument, 0, 'J' },
		{ "frag-timeout", required_argument, 0, 'G' },
		{ "ct-guard-rate", required_argument, 0, 'g' },
		{ "ct-guard-burst", required_argument, 0, 'u' },
		{ "ct-syn-only", required_argument, 0, 'y' },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	uint64_t v;
	int c;
	char err[160];

	*o = (struct sy_dp_opts){ .burst = 32, .ct_size = 262144, .exception_tap = true,
				  .tap_prefix = "sy", .mtu_action = SY_MTU_ICMP,
				  .icmp_rate = SY_ICMP_RATE_DEFAULT, .icmp_burst = SY_ICMP_BURST_DEFAULT,
				  .ct_timeouts = SY_CT_DEFAULT_TIMEOUTS,
				  .ct_guard = { .rate = SY_CT_GUARD_RATE_DEFAULT,
						.burst = SY_CT_GUARD_BURST_DEFAULT },
				  .frag_timeout_ms = SY_FRAG_TIMEOUT_MS_DEFAULT };
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'r':
			o->region = optarg;
			break;
		case 'b':
			if (parse_u64("--burst", optarg, 1, SY_MAX_BURST, &v))
				return -1;
			o->burst = (uint32_t)v;
			break;
		case 'c':
			if (parse_u64("--ct-size", optarg, SY_CT_LINE_SLOTS, 1ull << 32, &v))
				return -1;
			o->ct_size = v;
			break;
		case 'x':
			if (strcmp(optarg, "on") && strcmp(optarg, "off")) {
				fprintf(stderr, "sy-dataplane: --exception-tap: 'on' or 'off', not '%s'\n", optarg);
				return -1;
			}
			o->exception_tap = strcmp(optarg, "on") == 0;
			break;
		case 'p':
			if (!*optarg || strlen(optarg) > 10) {
				fprintf(stderr, "sy-dataplane: --tap-prefix: 1..10 characters\n");
				return -1;
			}
			o->tap_prefix = optarg;
			break;
		case 'A':
		case 'R':
			if (o->n_tap_items == SY_TAP_MAX_ITEMS) {
				fprintf(stderr, "sy-dataplane: --tap-address and --tap-route: at most "
						"%d in all\n", SY_TAP_MAX_ITEMS);
				return -1;
			}
			if ((c == 'A' ? sy_tap_address_parse : sy_tap_route_parse)(
				    optarg, &o->tap_items[o->n_tap_items], err, sizeof(err))) {
				fprintf(stderr, "sy-dataplane: --tap-%s: %s\n",
					c == 'A' ? "address" : "route", err);
				return -1;
			}
			o->n_tap_items++;
			break;
		case 'm':
			if (parse_u64("--mtu", optarg, SY_MTU_MIN, SY_MTU_MAX, &v))
				return -1;
			o->mtu = (uint16_t)v;
			break;
		case 'a':
			if (strcmp(optarg, "icmp") && strcmp(optarg, "drop")) {
				fprintf(stderr, "sy-dataplane: --mtu-action: 'icmp' or 'drop', not '%s'\n", optarg);
				return -1;
			}
			o->mtu_action = strcmp(optarg, "drop") == 0 ? SY_MTU_DROP : SY_MTU_ICMP;
			break;
		case 's':
			if (parse_u64("--stats-interval", optarg, 0, 86400, &v))
				return -1;
			o->stats_interval = (uint32_t)v;
			break;
		case 'T':
		case 'F':
		case 'U':
			if (parse_u64("--ct-timeout-*", optarg, 1, 86400 * 7, &v))
				return -1;
			if (c == 'T')
				o->ct_timeouts.tcp_ms = (uint32_t)(v * 1000);
			else if (c == 'F')
				o->ct_timeouts.tcp_fin_ms = (uint32_t)(v * 1000);
			else
				o->ct_timeouts.udp_ms = (uint32_t)(v * 1000);
			break;
		case 'I':
			if (parse_u64("--icmp-rate", optarg, 1, SY_ICMP_RATE_MAX, &v))
				return -1;
			o->icmp_rate = (uint32_t)v;
			break;
		case 'J':
			if (parse_u64("--icmp-burst", optarg, 1, SY_ICMP_BURST_MAX, &v))
				return -1;
			o->icmp_burst = (uint32_t)v;
			break;
		case 'g':
			if (parse_u64("--ct-guard-rate", optarg, 0, SY_CT_GUARD_RATE_MAX, &v))
				return -1;
			o->ct_guard.rate = (uint32_t)v;
			break;
		case 'u':
			if (parse_u64("--ct-guard-burst", optarg, 1, SY_CT_GUARD_BURST_MAX, &v))
				return -1;
			o->ct_guard.burst = (uint32_t)v;
			break;
		case 'y':
			if (strcmp(optarg, "on") && strcmp(optarg, "off")) {
				fprintf(stderr, "sy-dataplane: --ct-syn-only: 'on' or 'off', not '%s'\n", optarg);
				return -1;
			}
			o->ct_guard.syn_only = strcmp(optarg, "on") == 0;
			break;
		case 'G':
			if (parse_u64("--frag-timeout", optarg, 1, 60, &v))
				return -1;
			o->frag_timeout_ms = (uint32_t)(v * 1000);
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "sy-dataplane: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	if (o->n_tap_items && !o->exception_tap) {
		fprintf(stderr, "sy-dataplane: --tap-address or --tap-route with --exception-tap "
				"off: there is no exception interface\n");
		return -1;
	}
	if (!o->region) {
		fprintf(stderr, "sy-dataplane: --region PATH is required\n");
		usage(stderr);
		return -1;
	}
	return 0;
}

static void on_signal(int sig)
{
	(void)sig;
	the_dp.quit = true;
}

int main(int argc, char **argv)
{
	struct sy_dataplane *dp = &the_dp;
	unsigned int lcore;
	char err[512];
	bool pdump = false;
	int n, rc = 1;

	/* Our log is stdout, one line an event. Written by the line, not when
	 * a block fills: to a file or journald's socket stdio would otherwise
	 * hold a line back, behind the effects it reports (a port's line after
	 * its exception interface is up), behind stderr's lines, and lose it
	 * in a crash. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* before EAL, which has no --version of its own */
	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("sy-dataplane %s\n", SY_VERSION);
		return 0;
	}
	rte_set_application_usage_hook(app_usage);
	n = rte_eal_init(argc, argv);
	if (n < 0) {
		fprintf(stderr, "sy-dataplane: EAL initialisation failed: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	argc -= n;
	argv += n;
	argv[0] = "sy-dataplane";
	if (parse_args(argc, argv, &dp->opts)) {
		rte_eal_cleanup();
		return 2;
	}
	sy_dp = dp;
	sy_unmap_wait = sy_workers_unmap_wait; /* unmap_guard.c */
	/* Packet capture: dpdk-dumpcap (or dpdk-pdump) started with our
	 * --file-prefix attaches as a secondary process and asks us to copy a
	 * port's frames to it. Nothing is copied, nor any callback installed,
	 * until one does. Secondary processes need shared memory: hugepages,
	 * not --no-huge. */
	pdump = rte_pdump_init() == 0;
	if (!pdump)
		fprintf(stderr, "level=warn msg=\"packet capture unavailable\" err=\"%s\"\n",
			rte_strerror(rte_errno));
	if (sy_region_map_open(dp->opts.region, &dp->map, err, sizeof(err))) {
		fprintf(stderr, "sy-dataplane: %s\n", err);
		goto out;
	}

	/* Workers: every worker lcore, or the main lcore alone. */
	RTE_LCORE_FOREACH_WORKER(lcore) {
		if (dp->n_workers == SY_MAX_WORKERS)
			break;
		dp->workers[dp->n_workers].lcore = lcore;
		dp->workers[dp->n_workers].index = dp->n_workers;
		dp->n_workers++;
	}
	if (!dp->n_workers) {
		dp->workers[0].lcore = rte_get_main_lcore();
		dp->n_workers = 1;
	}
	if (dp->n_workers >= dp->map.hdr->limits.max_lcores) {
		fprintf(stderr, "sy-dataplane: %u workers but region %s has %u lcore slots (one is kept for telemetry)\n",
			dp->n_workers, dp->opts.region, dp->map.hdr->limits.max_lcores);
		goto out;
	}
	if (sy_ports_init(dp))
		goto out;
	for (uint32_t i = 0; i < dp->n_workers; i++)
		if (sy_worker_init(dp, &dp->workers[i]))
			goto out;
	/* an ICMP error about a flow can arrive on any worker (RSS hashes its
	 * own headers): each may read the others' tables */
	for (uint32_t i = 0; i < dp->n_workers; i++)
		dp->ct_of_worker[i] = &dp->workers[i].lb.ct;
	for (uint32_t i = 0; i < dp->n_workers; i++) {
		dp->workers[i].lb.peer_ct = dp->ct_of_worker;
		dp->workers[i].lb.n_peer_ct = dp->n_workers;
	}
	if (sy_telemetry_init(dp)) /* each failure logged; forwarding does not need it */
		printf("level=warn msg=\"telemetry incomplete: see the errors above\"\n");
	sy_port_stats_start(dp); /* a failure is logged; forwarding does not need it */
	sy_region_follow_start(dp); /* likewise */
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	printf("level=info msg=\"sy-dataplane running\" region=%s workers=%u ports=%u burst=%u icmp_rate=%u icmp_burst=%u ct_size=%llu ct_capacity=%llu ct_bytes_per_worker=%llu frag_timeout_ms=%u ct_guard_rate=%u ct_guard_burst=%u ct_syn_only=%s tsc_hz=%llu\n",
	       dp->opts.region, dp->n_workers, dp->n_ports, dp->opts.burst, dp->opts.icmp_rate,
	       dp->opts.icmp_burst,
	       (unsigned long long)dp->opts.ct_size,
	       (unsigned long long)sy_ct_capacity(&dp->workers[0].lb.ct),
	       (unsigned long long)sy_ct_memsize(dp->opts.ct_size), dp->opts.frag_timeout_ms,
	       dp->opts.ct_guard.rate, dp->opts.ct_guard.burst, dp->opts.ct_guard.syn_only ? "on" : "off",
	       /* the unit of busy_cycles: a worker's load is its rate over this */
	       (unsigned long long)rte_get_tsc_hz());
	fflush(stdout);

	if (dp->workers[0].lcore == rte_get_main_lcore()) {
		sy_worker_main(&dp->workers[0]);
	} else {
		uint64_t last = 0;

		for (uint32_t i = 0; i < dp->n_workers; i++)
			rte_eal_remote_launch(sy_worker_main, &dp->workers[i], dp->workers[i].lcore);
		/* the main lcore idles: stats printing only */
		while (!dp->quit) {
			usleep(100000);
			if (dp->opts.stats_interval && ++last >= dp->opts.stats_interval * 10u) {
				last = 0;
				sy_stats_print(dp);
			}
		}
		rte_eal_mp_wait_lcore();
	}
	sy_region_follow_stop();
	sy_stats_print(dp);
	atomic_store(&dp->map.hdr->dp_pid, 0);
	rc = 0;
out:
	sy_port_stats_stop(dp); /* before the ports close */
	if (pdump)
		rte_pdump_uninit();
	/* a memif peer's disconnect may be under way in the interrupt thread,
	 * which must be done with the port before we stop it, and with DPDK's
	 * memory before rte_eal_cleanup() unmaps it (intr_barrier.c) */
	sy_intr_barrier(2000);
	sy_ports_close(dp);
	sy_intr_barrier(2000);
	sy_region_map_close(&dp->map);
	rte_eal_cleanup();
	return rc;
}
