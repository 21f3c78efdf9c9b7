/* SPDX-License-Identifier: BSD-3-Clause
 *
 * resolve_latency_bench: the time from a registry change to every
 * resolver's cache (issue 16), through the real path: sy-control's embedded
 * registry, its blocking watch (control/daemon/registry_watch.c) and
 * libswitchyard-resolve's watch thread (resolve/source_embedded.c).
 *
 *   resolve_latency_bench [--resolvers R] [--changes N] [--instances B]
 *                         [--poll-us P] [--table-size M] [--max-s S]
 *                         [--sy-control PATH]
 *
 * 1. Writes a configuration in a temporary directory: one service `web`
 *    (source embedded, Maglev table_size M (default 65537, sy-control's
 *    default: sy-control and every resolver build that table), TTL 3600 s,
 *    hold-down 0, panic threshold 0 so every change is published), the
 *    embedded registry on 127.0.0.1:<free port> with reads enabled (a read
 *    token file). Starts sy-control (../control/sy-control next to this
 *    executable by default), unpinned.
 * 2. Forks R resolver processes (default 4; one resolver object each, the
 *    library's default configuration but the registry URL and token: one
 *    blocking query at a time, wait 30 s). Each opens `web` and then polls
 *    sy_resolve_instances() every P microseconds (default 100; nanosleep)
 *    and records, in memory shared with the bench, the CLOCK_MONOTONIC time
 *    at which its cache first showed the change under way. The library has
 *    no change callback: a sighting is late by at most one poll period (the
 *    measured mean period is printed).
 * 3. Registers B instances (default 16; 198.18.1.x:80, signed), waits until
 *    every resolver shows B.
 * 4. Makes N changes (default 1000) one at a time, alternately the
 *    registration of a new instance and the deregistration of a random
 *    registered one. For each: the change is announced to the resolvers,
 *    the signed POST is sent; t_answer = when its 200 is in; then the bench
 *    waits (at most 2 s) until every resolver has seen it. latency =
 *    t_seen - t_answer (negative when a resolver saw the change before the
 *    POST's answer reached the bench). A resolver that has not seen a change
 *    within 2 s counts it as missed.
 * 5. Prints p50/p90/p99/max per resolver and for "all resolvers" (per
 *    change, the last resolver's sighting), the POST round trip, the mean
 *    poll period, the missed changes, and a RESULT line.
 *
 * Bounded: every wait has a deadline, the whole run at most --max-s seconds
 * (default 300). Everything it starts it stops by PID (resolvers: a stop
 * flag, SIGKILL after 5 s; sy-control: SIGTERM, SIGKILL after 5 s) and
 * everything it creates is removed. Not a test: nothing is asserted.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <switchyard/maglev.h>
#include <switchyard/resolve.h>

#include "bench_sycontrol.h"

#define SERVICE "web"
#define INSTANCE_PORT 80
#define INSTANCE_BASE 0xc6120100u /* 198.18.1.0 */
#define INSTANCE_LIMIT 0xc612fffeu /* 198.18.255.254 */
#define MAX_RESOLVERS 32
#define MAX_INSTANCES 512
#define SEEN_TIMEOUT_MS 2000
#define START_TIMEOUT_MS 15000
#define HTTP_TIMEOUT_MS 10000
#define STOP_GRACE_MS 5000

/* What the resolvers must see: a change (instance present or absent) or,
 * before the changes, a count. The bench sets `seq` to 0, writes the fields,
 * then the command's number (release); a resolver re-reads `seq` after the
 * fields, so a half-written command is never judged. */
enum { WANT_NONE = 0, WANT_COUNT, WANT_PRESENT, WANT_ABSENT };

struct probe {
	_Atomic int state;          /* 0 starting, 1 opened, -1 failed */
	_Atomic uint32_t done_seq;  /* the last command seen satisfied */
	uint64_t polls;             /* at the end */
	uint64_t poll_ns;           /* time spent in the loop, at the end */
	uint64_t revisions;         /* revisions seen while a command was pending */
	uint64_t not_fresh;         /* sightings in another state than fresh */
	char err[256];
};

struct shared {
	_Atomic uint32_t seq; /* command number; 0 none */
	_Atomic uint32_t want;
	_Atomic uint32_t addr_host; /* WANT_PRESENT/ABSENT: the instance (port INSTANCE_PORT) */
	_Atomic uint32_t count;     /* WANT_COUNT */
	_Atomic int stop;
	struct probe probe[MAX_RESOLVERS];
};

static struct shared *sh;
/* seen[r * n_cmds + seq - 1]: CLOCK_MONOTONIC ns at which resolver r saw
 * command seq (shared too; 0: not seen) */
static uint64_t *seen;
static uint32_t n_cmds;
static struct bench_control bc;
static pid_t kids[MAX_RESOLVERS];
static uint32_t n_kids;
static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* ---- a resolver process -------------------------------------------------------- */

static bool holds(const struct sy_resolve_instance *in, size_t n, uint32_t addr_host)
{
	uint32_t be = htonl(addr_host);

	for (size_t i = 0; i < n; i++)
		if (in[i].addr.family == 4 && in[i].port == INSTANCE_PORT &&
		    !memcmp(in[i].addr.bytes, &be, 4))
			return true;
	return false;
}

static void resolver_main(uint32_t me, const char *url, const char *token_file,
			  uint32_t poll_us, uint64_t deadline_ns)
{
	static struct sy_resolve_instance in[MAX_INSTANCES];
	struct probe *p = &sh->probe[me];
	struct timespec nap = { .tv_nsec = (long)poll_us * 1000 };
	struct sy_resolve_config c;
	sy_resolve_service *s;
	uint64_t last_rev = 0, t0;
	sy_resolver *r;
	int rc;

	sy_resolve_config_default(&c);
	c.registry_urls = url;
	c.read_token_file = token_file;
	/* The changes take away half the set every few seconds: the library's
	 * self-preservation (default: more than 50% gone within 10 s keeps the
	 * last good set) would rightly hold them back. Off, as sy-control's
	 * panic_threshold is in this configuration. */
	c.panic_threshold = 0;
	if ((rc = sy_resolve_create(&c, &r))) {
		snprintf(p->err, sizeof(p->err), "create: %s", sy_resolve_strerror(rc));
		atomic_store(&p->state, -1);
		return;
	}
	if ((rc = sy_resolve_service_open(r, SERVICE, NULL, &s))) {
		snprintf(p->err, sizeof(p->err), "open: %s: %s", sy_resolve_strerror(rc),
			 sy_resolve_errmsg(r));
		atomic_store(&p->state, -1);
		sy_resolve_destroy(r);
		return;
	}
	atomic_store(&p->state, 1);
	t0 = bench_now_ns();
	while (!atomic_load_explicit(&sh->stop, memory_order_relaxed) && bench_now_ns() < deadline_ns) {
		uint32_t seq = atomic_load_explicit(&sh->seq, memory_order_acquire);
		uint32_t want = atomic_load_explicit(&sh->want, memory_order_relaxed);
		uint32_t addr = atomic_load_explicit(&sh->addr_host, memory_order_relaxed);
		uint32_t count = atomic_load_explicit(&sh->count, memory_order_relaxed);
		enum sy_resolve_state st;
		uint64_t rev;
		size_t n;

		p->polls++;
		atomic_thread_fence(memory_order_acquire); /* the fields, then seq again */
		if (seq && seq != atomic_load_explicit(&p->done_seq, memory_order_relaxed) &&
		    seq == atomic_load_explicit(&sh->seq, memory_order_relaxed) &&
		    sy_resolve_instances(s, in, MAX_INSTANCES, &n, &rev, &st) == 0) {
			uint64_t now = bench_now_ns();
			bool hit = want == WANT_COUNT ? n == count
				 : want == WANT_PRESENT ? holds(in, n, addr)
				 : want == WANT_ABSENT ? !holds(in, n, addr) : false;

			if (rev != last_rev) {
				p->revisions++;
				last_rev = rev;
			}
			if (hit) {
				p->not_fresh += st != SY_RESOLVE_FRESH;
				if (seq <= n_cmds)
					seen[(size_t)me * n_cmds + seq - 1] = now;
				atomic_store_explicit(&p->done_seq, seq, memory_order_release);
			}
		}
		nanosleep(&nap, NULL);
	}
	p->poll_ns = bench_now_ns() - t0;
	sy_resolve_destroy(r);
}

/* ---- the bench --------------------------------------------------------------------- */

static void stop_resolvers(void)
{
	if (sh)
		atomic_store(&sh->stop, 1);
	for (uint32_t i = 0; i < n_kids; i++) {
		uint64_t deadline = bench_now_ns() + (uint64_t)STOP_GRACE_MS * 1000000ull;
		int st;
		bool gone = false;

		while (!gone && bench_now_ns() < deadline) {
			gone = waitpid(kids[i], &st, WNOHANG) == kids[i];
			if (!gone)
				bench_sleep_ms(5);
		}
		if (!gone) {
			fprintf(stderr, "resolver %u (pid %d) did not stop: SIGKILL\n", i, (int)kids[i]);
			kill(kids[i], SIGKILL);
			waitpid(kids[i], &st, 0);
		}
	}
	n_kids = 0;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "resolve_latency_bench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (!interrupted)
		bench_control_log_tail(&bc, 20);
	stop_resolvers();
	bench_control_remove(&bc);
	exit(1);
}

/* Tell the resolvers what command seq is (seq 0 first: a resolver reading
 * the fields half-written sees seq change and drops what it read). */
static void announce(uint32_t seq, uint32_t want, uint32_t addr, uint32_t count)
{
	atomic_store_explicit(&sh->seq, 0, memory_order_release);
	atomic_store_explicit(&sh->want, want, memory_order_relaxed);
	atomic_store_explicit(&sh->addr_host, addr, memory_order_relaxed);
	atomic_store_explicit(&sh->count, count, memory_order_relaxed);
	atomic_store_explicit(&sh->seq, seq, memory_order_release);
}

/* Wait until every resolver saw command seq or timeout_ms passed; returns
 * how many did not. */
static uint32_t wait_seen(uint32_t seq, unsigned timeout_ms)
{
	uint64_t deadline = bench_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	struct timespec nap = { .tv_nsec = 50000 };

	for (;;) {
		uint32_t missing = 0;

		for (uint32_t i = 0; i < n_kids; i++)
			missing += atomic_load_explicit(&sh->probe[i].done_seq, memory_order_acquire) != seq;
		if (!missing || bench_now_ns() >= deadline || interrupted)
			return missing;
		nanosleep(&nap, NULL);
	}
}

static void write_config(const char *key_file, const char *token_file, uint32_t table_size)
{
	FILE *f = fopen(bc.config, "w");

	if (!f)
		die("%s: %s", bc.config, strerror(errno));
	fprintf(f,
		"instance: reslat-%d\n"
		"region: %s\n"
		"state_file: %s/sy.state\n"
		"limits: { lcores: 2, services: 4, backends: 8192, heap_mb: 64 }\n"
		"api: { socket: %s }\n"
		"defaults: { encap_source4: 198.18.0.1, table_size: %u }\n"
		"registry:\n"
		"  embedded:\n"
		"    listen: 127.0.0.1:%u\n"
		"    allowed_prefixes: [127.0.0.0/8, 198.18.0.0/15]\n"
		"    max_clock_skew_s: 30\n"
		"    read:\n"
		"      token_file: %s\n"
		"services:\n"
		"  - name: " SERVICE "\n"
		"    vip: 198.19.0.1\n"
		"    port: 80\n"
		"    protocol: tcp\n"
		"    mode: ipip\n"
		"    source: embedded\n"
		"    key_file: %s\n"
		"    next_hop_mac: 02:00:00:00:00:fe\n"
		"    health: { default_ttl_s: 3600, hold_down_s: 0, panic_threshold: 0 }\n",
		(int)getpid(), bc.region, bc.dir, bc.socket, table_size, bc.reg_port, token_file,
		key_file);
	if (fclose(f))
		die("%s: %s", bc.config, strerror(errno));
}

/* Signed milliseconds, microsecond precision. */
static double ms_signed(uint64_t ns_biased)
{
	return ((double)ns_biased - (double)(1ull << 62)) / 1e6;
}

/* v: latencies biased by 2^62 (so negative ones sort as numbers) */
static void print_row(const char *label, uint64_t *v, size_t n, uint32_t missed)
{
	size_t before = 0;

	if (!n) {
		printf("%-16s (none seen) missed %u\n", label, missed);
		return;
	}
	qsort(v, n, sizeof(*v), bench_cmp_u64);
	for (size_t i = 0; i < n; i++)
		before += v[i] < (1ull << 62);
	printf("%-16s %5zu %9.3f %9.3f %9.3f %9.3f %9.3f %7u %13zu\n", label, n, ms_signed(v[0]),
	       ms_signed(bench_pct(v, n, 0.50)), ms_signed(bench_pct(v, n, 0.90)),
	       ms_signed(bench_pct(v, n, 0.99)), ms_signed(v[n - 1]), missed, before);
}

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"usage: %s [--resolvers R] [--changes N] [--instances B] [--poll-us P]\n"
		"          [--table-size M] [--max-s S] [--sy-control PATH]\n"
		"  defaults: 4 resolver processes, 1000 changes, 16 instances, poll 100 us,\n"
		"  Maglev table size 65537 (sy-control's default; the resolvers build the\n"
		"  same), at most 300 s; sy-control: ../control/sy-control next to this\n"
		"  executable.\n",
		prog);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "resolvers", required_argument, NULL, 'r' }, { "changes", required_argument, NULL, 'n' },
		{ "instances", required_argument, NULL, 'b' }, { "poll-us", required_argument, NULL, 'p' },
		{ "max-s", required_argument, NULL, 'm' },     { "sy-control", required_argument, NULL, 's' },
		{ "table-size", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },            { NULL, 0, NULL, 0 }
	};
	uint32_t n_res = 4, n_changes = 1000, n_inst = 16, poll_us = 100, max_s = 300;
	uint32_t table_size = 65537;
	char err[256];
	char sy_control[PATH_MAX], key_file[PATH_MAX], token_file[PATH_MAX], url[64];
	uint8_t key[SY_KEY_MAX], token[SY_KEY_MAX];
	size_t klen, tlen, seen_bytes;
	uint32_t *present, n_present = 0, next_addr = INSTANCE_BASE + 1, missed_all = 0;
	uint32_t missed[MAX_RESOLVERS] = { 0 };
	uint64_t *answer_ns, *rtt, *lat, deadline_ns, t_start;
	struct bench_reg_client cl;
	struct sigaction sa = { .sa_handler = on_signal };
	int o;

	bench_default_sy_control(sy_control, sizeof(sy_control));
	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 'r': n_res = bench_arg_u32("resolvers", optarg, 1, MAX_RESOLVERS); break;
		case 'n': n_changes = bench_arg_u32("changes", optarg, 1, 100000); break;
		case 'b': n_inst = bench_arg_u32("instances", optarg, 2, MAX_INSTANCES / 2); break;
		case 'p': poll_us = bench_arg_u32("poll-us", optarg, 1, 999999); break;
		case 'm': max_s = bench_arg_u32("max-s", optarg, 10, 3600); break;
		case 't': table_size = bench_arg_u32("table-size", optarg, 251, 1048573); break;
		case 's': snprintf(sy_control, sizeof(sy_control), "%s", optarg); break;
		case 'h': usage(stdout, argv[0]); return 0;
		default: usage(stderr, argv[0]); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr, argv[0]);
		return 2;
	}
	if (sy_maglev_check_size(table_size, err, sizeof(err))) {
		fprintf(stderr, "resolve_latency_bench: --table-size: %s\n", err);
		return 2;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	t_start = bench_now_ns();
	deadline_ns = t_start + (uint64_t)max_s * 1000000000ull;
	n_cmds = n_changes + 1; /* command 1: the initial count */
	seen_bytes = (size_t)MAX_RESOLVERS * n_cmds * sizeof(uint64_t);
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	seen = mmap(NULL, seen_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	present = calloc(MAX_INSTANCES, sizeof(*present));
	answer_ns = calloc(n_cmds, sizeof(*answer_ns));
	rtt = calloc(n_cmds, sizeof(*rtt));
	lat = calloc(n_cmds, sizeof(*lat));
	if (sh == MAP_FAILED || seen == MAP_FAILED || !present || !answer_ns || !rtt || !lat)
		die("out of memory");

	/* 1. sy-control */
	if (bench_control_init(&bc, "sy-reslat") ||
	    bench_control_secret(&bc, "web.key", key, &klen, key_file, sizeof(key_file)) ||
	    bench_control_secret(&bc, "read.token", token, &tlen, token_file, sizeof(token_file)))
		die("%s", bc.err);
	write_config(key_file, token_file, table_size);
	if (bench_control_start(&bc, sy_control, -1, START_TIMEOUT_MS))
		die("%s", bc.err);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u", bc.reg_port);
	printf("resolve_latency_bench: %u resolver processes x 1 resolver, service " SERVICE
	       ", %u instances, %u changes, poll every %u us\n",
	       n_res, n_inst, n_changes, poll_us);
	printf("  sy-control %s (pid %d), embedded registry %s, table_size %u\n", sy_control,
	       (int)bc.pid, url, table_size);
	fflush(stdout);

	/* 2. the resolvers: forked before this process has any thread or curl handle */
	for (uint32_t i = 0; i < n_res; i++) {
		pid_t parent = getpid(), pid = fork();

		if (pid < 0)
			die("fork: %s", strerror(errno));
		if (pid == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the bench */
			if (getppid() != parent)
				_exit(1);
			signal(SIGINT, SIG_IGN); /* the bench stops us */
			signal(SIGTERM, SIG_DFL);
			/* past the bench's own deadline: a change in flight then is seen */
			resolver_main(i, url, token_file, poll_us,
				      deadline_ns + (uint64_t)(SEEN_TIMEOUT_MS + STOP_GRACE_MS) * 1000000ull);
			_exit(0);
		}
		kids[n_kids++] = pid;
	}
	for (uint32_t i = 0; i < n_res; i++) {
		uint64_t until = bench_now_ns() + (uint64_t)START_TIMEOUT_MS * 1000000ull;

		while (atomic_load(&sh->probe[i].state) == 0 && bench_now_ns() < until && !interrupted)
			bench_sleep_ms(5);
		if (atomic_load(&sh->probe[i].state) != 1)
			die("resolver %u did not open " SERVICE ": %s", i,
			    sh->probe[i].err[0] ? sh->probe[i].err : "timeout");
	}

	/* 3. the initial instances */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) || bench_reg_init(&cl, bc.reg_port, HTTP_TIMEOUT_MS))
		die("cannot initialise libcurl");
	announce(1, WANT_COUNT, 0, n_inst);
	for (uint32_t i = 0; i < n_inst; i++) {
		long st;

		if (bench_reg_prepare(&cl, true, SERVICE, key, klen, next_addr, INSTANCE_PORT))
			die("%s", cl.err);
		if ((st = bench_reg_send(&cl)) != 200)
			die("registration %u: status %ld %s%s", i, st, cl.resp, cl.err);
		present[n_present++] = next_addr++;
	}
	if (wait_seen(1, START_TIMEOUT_MS))
		die("not every resolver saw the %u instances within %d ms", n_inst, START_TIMEOUT_MS);

	/* 4. the changes */
	srand48((long)t_start);
	for (uint32_t c = 0; c < n_changes; c++) {
		bool reg = c % 2 == 0 || n_present < 2;
		uint32_t seq = c + 2, addr, idx = 0, late;
		uint64_t t_send;
		long st;

		if (interrupted || bench_now_ns() >= deadline_ns) {
			fprintf(stderr, "stopped after %u changes (%s)\n", c,
				interrupted ? "interrupted" : "--max-s reached");
			n_changes = c;
			break;
		}
		if (reg) {
			if (next_addr > INSTANCE_LIMIT || n_present >= MAX_INSTANCES)
				die("out of instance addresses");
			addr = next_addr++;
		} else {
			idx = (uint32_t)(lrand48() % n_present);
			addr = present[idx];
		}
		if (bench_reg_prepare(&cl, reg, SERVICE, key, klen, addr, INSTANCE_PORT))
			die("%s", cl.err);
		announce(seq, reg ? WANT_PRESENT : WANT_ABSENT, addr, 0);
		t_send = bench_now_ns();
		st = bench_reg_send(&cl);
		answer_ns[seq - 1] = bench_now_ns();
		rtt[c] = answer_ns[seq - 1] - t_send;
		if (st != 200) {
			if (!bench_control_alive(&bc))
				die("sy-control died at change %u", c);
			die("change %u (%s): status %ld %s%s", c, reg ? "register" : "deregister", st,
			    cl.resp, cl.err);
		}
		if (reg)
			present[n_present++] = addr;
		else
			present[idx] = present[--n_present];
		late = wait_seen(seq, SEEN_TIMEOUT_MS);
		if (late && interrupted) { /* the change in flight was cut short, not missed */
			fprintf(stderr, "stopped after %u changes (interrupted)\n", c);
			n_changes = c;
			break;
		}
		if (late)
			fprintf(stderr, "change %u (%s %u.%u.%u.%u): not seen by every resolver within %d ms\n",
				c, reg ? "register" : "deregister", addr >> 24, addr >> 16 & 255,
				addr >> 8 & 255, addr & 255, SEEN_TIMEOUT_MS);
	}
	bench_reg_free(&cl);
	curl_global_cleanup();
	stop_resolvers();

	/* 5. figures */
	printf("\nlatency from the POST's answer to the resolver's cache, ms (negative: seen\n"
	       "before the answer reached the bench); 'all' = per change, the last resolver\n");
	printf("%-16s %5s %9s %9s %9s %9s %9s %7s %13s\n", "resolver", "seen", "min", "p50", "p90",
	       "p99", "max", "missed", "before-answer");
	for (uint32_t c = 0; c < n_changes; c++) {
		uint64_t last = 0;
		bool all = true;

		for (uint32_t r = 0; r < n_res; r++) {
			uint64_t t = seen[(size_t)r * n_cmds + c + 1];

			if (!t)
				all = false;
			else if (t > last)
				last = t;
		}
		if (all)
			lat[c - missed_all] = last + (1ull << 62) - answer_ns[c + 1];
		else
			missed_all++;
	}
	for (uint32_t r = 0; r < n_res; r++) {
		size_t n = 0;
		uint64_t *v = calloc(n_changes + 1, sizeof(*v));
		char label[32];

		if (!v)
			die("out of memory");
		for (uint32_t c = 0; c < n_changes; c++) {
			uint64_t t = seen[(size_t)r * n_cmds + c + 1];

			if (t)
				v[n++] = t + (1ull << 62) - answer_ns[c + 1];
			else
				missed[r]++;
		}
		snprintf(label, sizeof(label), "%u (pid %d)", r, (int)kids[r] ? (int)kids[r] : 0);
		print_row(label, v, n, missed[r]);
		free(v);
	}
	{
		size_t n_all = n_changes - missed_all;
		uint64_t lat_sorted_p50, lat_p99;

		print_row("all", lat, n_all, missed_all);
		lat_sorted_p50 = bench_pct(lat, n_all, 0.50);
		lat_p99 = bench_pct(lat, n_all, 0.99);
		qsort(rtt, n_changes, sizeof(*rtt), bench_cmp_u64);
		printf("\nPOST round trip, ms: p50 %.3f  p90 %.3f  p99 %.3f  max %.3f\n",
		       bench_pct(rtt, n_changes, 0.50) / 1e6, bench_pct(rtt, n_changes, 0.90) / 1e6,
		       bench_pct(rtt, n_changes, 0.99) / 1e6, n_changes ? rtt[n_changes - 1] / 1e6 : 0);
		printf("measurement: each resolver polled sy_resolve_instances() every");
		for (uint32_t r = 0; r < n_res; r++)
			printf(" %.0f", sh->probe[r].polls ? (double)sh->probe[r].poll_ns /
							     (double)sh->probe[r].polls / 1e3 : 0.0);
		printf(" us on average (asked %u): a sighting is late by at most that\n", poll_us);
		printf("revisions seen per resolver:");
		for (uint32_t r = 0; r < n_res; r++)
			printf(" %llu", (unsigned long long)sh->probe[r].revisions);
		printf(" (while a change was awaited); sightings not in state fresh:");
		for (uint32_t r = 0; r < n_res; r++)
			printf(" %llu", (unsigned long long)sh->probe[r].not_fresh);
		printf("\n");
		printf("RESULT resolvers=%u changes=%u p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f missed=%u\n",
		       n_res, n_changes, n_all ? ms_signed(lat_sorted_p50) : 0.0,
		       n_all ? ms_signed(bench_pct(lat, n_all, 0.90)) : 0.0,
		       n_all ? ms_signed(lat_p99) : 0.0, n_all ? ms_signed(lat[n_all - 1]) : 0.0,
		       missed_all);
	}
	bench_control_remove(&bc);
	free(present);
	free(answer_ns);
	free(rtt);
	free(lat);
	munmap(seen, seen_bytes);
	munmap(sh, sizeof(*sh));
	return 0;
}
