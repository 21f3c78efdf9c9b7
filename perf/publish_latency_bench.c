/* SPDX-License-Identifier: BSD-3-Clause
 *
 * publish_latency_bench: "registry event -> new table active in the
 * dataplane", measured end to end through the real path.
 *
 *   publish_latency_bench [--changes N] [--services S] [--backends B]
 *                         [--table-size M] [--seed X] [--quick]
 *                         [--sy-control PATH | PATH]
 *
 * 1. Writes a configuration in a temporary directory: S services (source
 *    embedded, distinct VIPs 198.19.0.1.. port 80 tcp, mode ipip, table_size
 *    M, a next_hop_mac so no neighbour resolution is involved, one hex key
 *    file per service, health default_ttl_s 3600, hold_down_s 0,
 *    panic_threshold 0), the embedded registry on 127.0.0.1:<free port>, the
 *    API socket in the temporary directory, the region in /dev/shm under a
 *    unique name.
 * 2. Starts sy-control (default: ../control/sy-control next to this
 *    executable, i.e. build/control/sy-control) pinned to core 0, waits for
 *    its API socket to answer.
 * 3. Registers B backends per service (S*B signed registrations over HTTP,
 *    one reused libcurl handle; addresses 198.18.1.0.., all distinct) and
 *    waits until the region shows all of them.
 * 4. Maps the region as a reader (lcore slot 0) on a thread pinned to core 1
 *    that busy-polls sy_reader_begin() like a dataplane lcore.
 * 5. Makes N changes one at a time, alternately registering a new backend in
 *    a random service and deregistering a random registered backend (of any
 *    service). For each: t0 just before the HTTP request is sent; the HTTP
 *    round trip ends when the 200 answer is in; the publish latency ends
 *    when the reader's snapshot shows the change in that service's backend
 *    array (the reader thread takes that timestamp itself).
 * 6. Prints min/p50/p90/p99/max of the publish latency and p50/p99 of the
 *    HTTP round trip (ms, microsecond precision), the change-phase delta of
 *    sy-control's /metrics histogram switchyard_publish_latency_seconds (in
 *    ms here) for a cross-check, and "RESULT p50_ms=... p99_ms=...".
 *
 * --quick: 10 services x 10 backends, 100 changes. Everything it starts is
 * stopped and everything it creates is removed on exit (SIGTERM to
 * sy-control, SIGKILL after 5 s); every wait is bounded. Not a test: the
 * numbers depend on the host; nothing is asserted.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#include <curl/curl.h>

#include <switchyard/region.h>

#include "bench_sycontrol.h"
#include "syctl_http.h"

#define BACKEND_PORT 80
#define VIP_PORT 80
#define STOP_GRACE_MS 5000
#define START_TIMEOUT_MS 15000
#define CHANGE_TIMEOUT_MS 10000
#define HTTP_TIMEOUT_MS 10000
#define BACKEND_BASE 0xc6120100u /* 198.18.1.0: first backend address */
#define BACKEND_LIMIT 0xc612ffffu /* 198.18.255.255 */
#define VIP_BASE 0xc6130001u     /* 198.19.0.1: first VIP */

/* ---- small helpers ------------------------------------------------------- */

static volatile sig_atomic_t g_interrupted;

static void on_signal(int sig)
{
	(void)sig;
	g_interrupted = 1;
}

static uint64_t rng_state;

static uint64_t rng_next(void)
{
	/* splitmix64 */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint32_t rng_below(uint32_t n)
{
	return (uint32_t)(rng_next() % n);
}

static int pin_to(int cpu)
{
	cpu_set_t s;

	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	return sched_setaffinity(0, sizeof(s), &s); /* the calling thread */
}

static double ms_of(uint64_t ns)
{
	return (double)ns / 1e6;
}

/* ---- what we start and create (for cleanup) ------------------------------ */

static struct bench_control bc; /* sy-control, its files (keys too) */

static struct {
	pthread_t reader;
	bool reader_started;
} g;

/* ---- the reader (a dataplane lcore stand-in) ----------------------------- */

enum { CMD_IDLE = 0, CMD_FULL, CMD_CHANGE };

static struct watch {
	/* command, written by main before seq is bumped (release) */
	_Atomic uint32_t seq;
	uint32_t cmd;
	struct sy_vip_key vip;        /* CMD_CHANGE: the service ... */
	struct sy_backend_id id;      /* ... and the backend */
	bool want_present;            /* registered (true) or deregistered */
	uint32_t want_services;       /* CMD_FULL: every one of our services ... */
	uint32_t want_backends;       /* ... with this many backends */
	const struct sy_vip_key *vips;
	/* answer, written by the reader before done_seq (release) */
	_Atomic uint32_t done_seq;
	uint64_t t_seen_ns;
	uint64_t gen_seen;
	sem_t done;
	/* lifecycle */
	_Atomic int stop;
	_Atomic int state;            /* 0 starting, 1 running, -1 failed */
	int cpu;
	char err[256];
	struct sy_region_map map;
	bool mapped;
} w;

static bool backend_in(const uint8_t *base, const struct sy_service *s,
		       const struct sy_backend_id *id)
{
	const struct sy_backend *b = sy_service_backends(base, s);

	for (uint32_t i = 0; i < s->n_backends; i++)
		if (b[i].id.family == id->family && b[i].id.port == id->port &&
		    !memcmp(b[i].id.addr, id->addr, sizeof(id->addr)))
			return true;
	return false;
}

static bool all_full(const uint8_t *base, const struct sy_snapshot *snap)
{
	for (uint32_t i = 0; i < w.want_services; i++) {
		const struct sy_service *s = sy_snapshot_find_vip(base, snap, &w.vips[i]);

		if (!s || s->n_backends != w.want_backends)
			return false;
	}
	return true;
}

static void *reader_main(void *arg)
{
	struct sy_reader rd;
	uint32_t my_seq = 0, cmd = CMD_IDLE;
	uint64_t last_gen = 0;
	bool pending = false;

	(void)arg;
	if (pin_to(w.cpu))
		fprintf(stderr, "warning: cannot pin the reader to core %d: %s\n", w.cpu,
			strerror(errno));
	if (sy_reader_register(&w.map, 0, &rd, w.err, sizeof(w.err))) {
		atomic_store(&w.state, -1);
		return NULL;
	}
	atomic_store(&w.state, 1);
	while (!atomic_load_explicit(&w.stop, memory_order_relaxed)) {
		const struct sy_snapshot *snap = sy_reader_begin(&rd);
		uint32_t seq = atomic_load_explicit(&w.seq, memory_order_acquire);
		bool hit = false;

		if (seq != my_seq) { /* a new command: judge the current snapshot */
			my_seq = seq;
			cmd = w.cmd;
			pending = cmd != CMD_IDLE;
			last_gen = 0;
		}
		if (!pending || !snap || snap->generation == last_gen) {
			_mm_pause();
			continue;
		}
		last_gen = snap->generation;
		if (cmd == CMD_CHANGE) {
			const struct sy_service *s = sy_snapshot_find_vip(w.map.base, snap, &w.vip);

			hit = s && backend_in(w.map.base, s, &w.id) == w.want_present;
		} else if (cmd == CMD_FULL) {
			hit = all_full(w.map.base, snap);
		}
		if (hit) {
			w.t_seen_ns = bench_now_ns();
			w.gen_seen = last_gen;
			pending = false;
			atomic_store_explicit(&w.done_seq, my_seq, memory_order_release);
			sem_post(&w.done);
		}
	}
	sy_reader_unregister(&rd);
	return NULL;
}

/* Hand the reader a command (fields already written). */
static uint32_t watch_arm(uint32_t cmd)
{
	uint32_t seq = atomic_load(&w.seq) + 1;

	w.cmd = cmd;
	atomic_store_explicit(&w.seq, seq, memory_order_release);
	return seq;
}

/* Wait (bounded) until the reader has seen command `seq` satisfied. */
static int watch_wait(uint32_t seq, unsigned timeout_ms)
{
	uint64_t deadline = bench_now_ns() + (uint64_t)timeout_ms * 1000000ull;

	for (;;) {
		struct timespec ts;
		uint64_t left;

		if (atomic_load_explicit(&w.done_seq, memory_order_acquire) == seq)
			return 0;
		if (g_interrupted || !bench_control_alive(&bc) || bench_now_ns() >= deadline)
			return -1;
		/* at most 100 ms per sleep: notice a dead child or a signal */
		left = deadline - bench_now_ns();
		if (left > 100000000ull)
			left = 100000000ull;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += (long)left;
		while (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		if (sem_timedwait(&w.done, &ts) && errno != ETIMEDOUT && errno != EINTR)
			return -1;
	}
}

/* ---- sy-control ---------------------------------------------------------- */

static void cleanup(void)
{
	if (g.reader_started) {
		atomic_store(&w.stop, 1);
		pthread_join(g.reader, NULL);
		g.reader_started = false;
	}
	if (w.mapped) {
		sy_region_map_close(&w.map);
		w.mapped = false;
	}
	bench_control_remove(&bc);
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "publish_latency_bench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (!g_interrupted)
		bench_control_log_tail(&bc, 20);
	cleanup();
	exit(1);
}

static void ip4_str(uint32_t host_order, char *out, size_t n)
{
	uint32_t be = htonl(host_order);

	inet_ntop(AF_INET, &be, out, (socklen_t)n);
}

struct svc {
	char name[32];
	uint8_t key[SY_KEY_MAX];
	size_t klen;
	struct sy_vip_key vip;
};

static void write_config(struct svc *svc, char **key_files, uint32_t n_svc, uint32_t table_size,
			 uint32_t max_backends, uint32_t heap_mb, uint16_t reg_port)
{
	FILE *f = fopen(bc.config, "w");
	char ip[32];

	if (!f)
		die("%s: %s", bc.config, strerror(errno));
	fprintf(f, "instance: publat-%d\n", (int)getpid());
	fprintf(f, "region: %s\n", bc.region);
	fprintf(f, "limits:\n  lcores: 4\n  services: %u\n  backends: %u\n  heap_mb: %u\n",
		n_svc, max_backends, heap_mb);
	fprintf(f, "api:\n  socket: %s\n", bc.socket);
	fprintf(f, "defaults:\n  table_size: %u\n  encap_source4: 198.18.0.1\n", table_size);
	fprintf(f, "registry:\n  embedded:\n    listen: 127.0.0.1:%u\n"
		   "    allowed_prefixes: [127.0.0.0/8, 198.18.0.0/15]\n"
		   "    max_clock_skew_s: 30\n", reg_port);
	fprintf(f, "services:\n");
	for (uint32_t i = 0; i < n_svc; i++) {
		ip4_str(VIP_BASE + i, ip, sizeof(ip));
		fprintf(f,
			"  - name: %s\n"
			"    vip: %s\n"
			"    port: %u\n"
			"    protocol: tcp\n"
			"    mode: ipip\n"
			"    table_size: %u\n"
			"    next_hop_mac: 02:00:00:00:00:fe\n"
			"    source: embedded\n"
			"    key_file: %s\n"
			"    health:\n"
			"      default_ttl_s: 3600\n"
			"      hold_down_s: 0\n"
			"      panic_threshold: 0\n",
			svc[i].name, ip, VIP_PORT, table_size, key_files[i]);
	}
	if (fclose(f))
		die("%s: %s", bc.config, strerror(errno));
}

/* A signed (de)registration of backend addr_host in s, ready to send. */
static void client_prepare(struct bench_reg_client *cl, bool reg, const struct svc *s,
			   uint32_t addr_host)
{
	if (bench_reg_prepare(cl, reg, s->name, s->key, s->klen, addr_host, BACKEND_PORT))
		die("%s", cl->err);
}

/* ---- /metrics ------------------------------------------------------------ */

#define HIST_MAX 40

struct hist {
	int n;
	double le[HIST_MAX];   /* upper bounds in ms, the last one +Inf */
	uint64_t cum[HIST_MAX];
	double sum;            /* ms */
	uint64_t count;
};

static int fetch_hist(struct hist *h)
{
	/* exposed in seconds, kept here in ms like the other figures */
	static const char bucket[] = "switchyard_publish_latency_seconds_bucket{le=\"";
	static const char sum[] = "switchyard_publish_latency_seconds_sum ";
	static const char count[] = "switchyard_publish_latency_seconds_count ";
	struct sy_http_target t = { .socket = bc.socket, .base = "http://localhost",
				    .timeout_ms = HTTP_TIMEOUT_MS };
	struct sy_http_reply r;
	const char *p;

	memset(h, 0, sizeof(*h));
	sy_http_request(&t, "GET", "/metrics", NULL, 0, NULL, &r);
	if (r.status != 200 || !r.body) {
		fprintf(stderr, "GET /metrics: %s (status %ld)\n", r.error, r.status);
		sy_http_reply_free(&r);
		return -1;
	}
	for (p = r.body; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (!strncmp(p, bucket, sizeof(bucket) - 1) && h->n < HIST_MAX) {
			const char *q = p + sizeof(bucket) - 1, *e = strstr(q, "} ");

			if (!e)
				continue;
			h->le[h->n] = strtod(q, NULL) * 1000; /* "+Inf" parses as infinity */
			h->cum[h->n] = strtoull(e + 2, NULL, 10);
			h->n++;
		} else if (!strncmp(p, sum, sizeof(sum) - 1)) {
			h->sum = strtod(p + sizeof(sum) - 1, NULL) * 1000;
		} else if (!strncmp(p, count, sizeof(count) - 1)) {
			h->count = strtoull(p + sizeof(count) - 1, NULL, 10);
		}
	}
	sy_http_reply_free(&r);
	return h->n ? 0 : -1;
}

/* Prometheus histogram_quantile(): linear within the bucket; a quantile in
 * the +Inf bucket is reported as the last finite bound. */
static double hist_quantile(const struct hist *h, const uint64_t *cum, double q)
{
	uint64_t total = h->n ? cum[h->n - 1] : 0;
	double rank = q * (double)total;

	if (!total)
		return NAN;
	for (int i = 0; i < h->n; i++) {
		if ((double)cum[i] >= rank) {
			double lo = i ? h->le[i - 1] : 0, hi = h->le[i];
			uint64_t below = i ? cum[i - 1] : 0, in = cum[i] - below;

			if (isinf(hi))
				return lo;
			return in ? lo + (hi - lo) * (rank - (double)below) / (double)in : hi;
		}
	}
	return NAN;
}

/* ---- main ---------------------------------------------------------------- */

struct backend {
	uint32_t svc;
	uint32_t addr; /* host order */
};

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"usage: %s [--changes N] [--services S] [--backends B] [--table-size M]\n"
		"          [--seed X] [--quick] [--sy-control PATH | PATH]\n"
		"  defaults: 1000 changes, 100 services, 100 backends per service, M 65537;\n"
		"  --quick: 10 services x 10 backends, 100 changes.\n"
		"  sy-control defaults to ../control/sy-control next to this executable.\n",
		prog);
}

static void print_dist(const char *label, uint64_t *v, size_t n)
{
	uint64_t sum = 0;

	if (!n) {
		printf("  %-12s (none)\n", label);
		return;
	}
	qsort(v, n, sizeof(*v), bench_cmp_u64);
	for (size_t i = 0; i < n; i++)
		sum += v[i];
	printf("  %-12s n=%-5zu min %8.3f  p50 %8.3f  p90 %8.3f  p99 %8.3f  max %8.3f  mean %8.3f\n",
	       label, n, ms_of(v[0]), ms_of(bench_pct(v, n, 0.50)), ms_of(bench_pct(v, n, 0.90)),
	       ms_of(bench_pct(v, n, 0.99)), ms_of(v[n - 1]), ms_of(sum / n));
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "changes", required_argument, 0, 'n' },  { "services", required_argument, 0, 's' },
		{ "backends", required_argument, 0, 'b' }, { "table-size", required_argument, 0, 'm' },
		{ "seed", required_argument, 0, 'r' },     { "quick", no_argument, 0, 'q' },
		{ "sy-control", required_argument, 0, 'c' }, { "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	uint32_t n_changes = 1000, n_svc = 100, n_be = 100, table_size = 65537;
	bool set_n = false, set_s = false, set_b = false;
	uint64_t seed = 0x5eedbe7c4ull;
	char syctl_path[PATH_MAX] = "", err[512];
	struct svc *svc;
	struct backend *present;  /* registered backends, for deregistrations */
	uint32_t n_present = 0, next_addr = BACKEND_BASE;
	uint64_t *lat, *lat_reg, *lat_dereg, *rtt, t_start, t0;
	size_t n_lat = 0, n_reg = 0, n_dereg = 0, seen_before_answer = 0;
	struct hist h0, h1;
	bool have_hist;
	struct bench_reg_client cl;
	char **key_files;
	uint32_t max_backends, heap_mb, seq;
	long cpus;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			n_changes = bench_arg_u32("changes", optarg, 1, 100000);
			set_n = true;
			break;
		case 's':
			n_svc = bench_arg_u32("services", optarg, 1, 4096);
			set_s = true;
			break;
		case 'b':
			n_be = bench_arg_u32("backends", optarg, 1, 10000);
			set_b = true;
			break;
		case 'm':
			table_size = bench_arg_u32("table-size", optarg, 251, 1048573);
			break;
		case 'r':
			seed = strtoull(optarg, NULL, 0);
			break;
		case 'q':
			if (!set_n)
				n_changes = 100;
			if (!set_s)
				n_svc = 10;
			if (!set_b)
				n_be = 10;
			break;
		case 'c':
			snprintf(syctl_path, sizeof(syctl_path), "%s", optarg);
			break;
		case 'h':
			usage(stdout, argv[0]);
			return 0;
		default:
			usage(stderr, argv[0]);
			return 2;
		}
	}
	if (optind < argc && !syctl_path[0])
		snprintf(syctl_path, sizeof(syctl_path), "%s", argv[optind++]);
	if (optind < argc) {
		usage(stderr, argv[0]);
		return 2;
	}
	if (!syctl_path[0])
		bench_default_sy_control(syctl_path, sizeof(syctl_path));
	if (access(syctl_path, X_OK)) {
		fprintf(stderr, "publish_latency_bench: %s: %s (build it, or pass --sy-control PATH)\n",
			syctl_path, strerror(errno));
		return 2;
	}
	if ((uint64_t)n_svc * n_be + n_changes / 2 + 1 > BACKEND_LIMIT - BACKEND_BASE) {
		fprintf(stderr, "publish_latency_bench: %u x %u backends + %u changes do not fit in "
				"198.18.1.0-198.18.255.255\n", n_svc, n_be, n_changes);
		return 2;
	}
	if (sy_maglev_check_size(table_size, err, sizeof(err))) {
		fprintf(stderr, "publish_latency_bench: --table-size: %s\n", err);
		return 2;
	}
	rng_state = seed;
	cpus = sysconf(_SC_NPROCESSORS_ONLN);
	w.cpu = cpus >= 2 ? 1 : 0;
	if (cpus < 2)
		fprintf(stderr, "warning: one CPU only: sy-control, client and reader share it\n");

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	if (curl_global_init(CURL_GLOBAL_DEFAULT))
		die("curl_global_init failed");
	if (sem_init(&w.done, 0, 0))
		die("sem_init: %s", strerror(errno));
	/* The client runs on core 0 beside sy-control (it is blocked in
	 * poll() while sy-control works); core 1 belongs to the reader. */
	if (pin_to(0))
		fprintf(stderr, "warning: cannot pin to core 0: %s\n", strerror(errno));

	/* 1. the configuration */
	if (bench_control_init(&bc, "sy-publat"))
		die("%s", bc.err);
	svc = calloc(n_svc, sizeof(*svc));
	key_files = calloc(n_svc, sizeof(*key_files));
	present = calloc((size_t)n_svc * n_be + n_changes + 1, sizeof(*present));
	lat = calloc(n_changes, sizeof(*lat));
	lat_reg = calloc(n_changes, sizeof(*lat_reg));
	lat_dereg = calloc(n_changes, sizeof(*lat_dereg));
	rtt = calloc(n_changes, sizeof(*rtt));
	if (!svc || !key_files || !present || !lat || !lat_reg || !lat_dereg || !rtt)
		die("out of memory");
	for (uint32_t i = 0; i < n_svc; i++) {
		snprintf(svc[i].name, sizeof(svc[i].name), "svc-%04u", i);
		svc[i].vip = (struct sy_vip_key){ .addr = { htonl(VIP_BASE + i) },
						  .port = htons(VIP_PORT), .proto = IPPROTO_TCP,
						  .family = SY_AF_INET };
		char name[64], path[PATH_MAX];

		snprintf(name, sizeof(name), "%s.key", svc[i].name);
		if (bench_control_secret(&bc, name, svc[i].key, &svc[i].klen, path, sizeof(path)) ||
		    !(key_files[i] = strdup(path)))
			die("%s", bc.err[0] ? bc.err : "out of memory");
	}
	/* counter slots for every backend ever published, with room for the
	 * ones retired objects still hold; heap for three copies of all tables */
	max_backends = 2 * (n_svc * n_be + n_changes) + 1024;
	heap_mb = (uint32_t)(3ull * n_svc * ((uint64_t)table_size * 4 + (uint64_t)n_be * 96 + 8192) /
			     (1u << 20)) + 64;
	if (heap_mb < 256)
		heap_mb = 256;
	write_config(svc, key_files, n_svc, table_size, max_backends, heap_mb, bc.reg_port);

	/* 2. sy-control, pinned to core 0 */
	printf("publish_latency_bench: %u services x %u backends, M=%u, %u changes, seed 0x%llx\n",
	       n_svc, n_be, table_size, n_changes, (unsigned long long)seed);
	printf("  sy-control %s (core 0), reader lcore slot 0 (core %d), registry 127.0.0.1:%u\n",
	       syctl_path, w.cpu, bc.reg_port);
	fflush(stdout);
	t_start = bench_now_ns();
	if (bench_control_start(&bc, syctl_path, 0, START_TIMEOUT_MS))
		die("%s", bc.err);
	printf("  sy-control up after %.1f ms (pid %d)\n", ms_of(bench_now_ns() - t_start), (int)bc.pid);

	/* 3. the initial backends */
	if (bench_reg_init(&cl, bc.reg_port, HTTP_TIMEOUT_MS))
		die("%s", cl.err);
	t_start = bench_now_ns();
	for (uint32_t b = 0; b < n_be; b++) {
		for (uint32_t i = 0; i < n_svc; i++) {
			long st;

			if (g_interrupted)
				die("interrupted");
			client_prepare(&cl, true, &svc[i], next_addr);
			st = bench_reg_send(&cl);
			if (st != 200) {
				if (!bench_control_alive(&bc))
					die("sy-control died during the registrations");
				die("registration %u of %s: status %ld %s%s", b, svc[i].name, st,
				    cl.resp, cl.err);
			}
			present[n_present++] = (struct backend){ .svc = i, .addr = next_addr++ };
		}
	}
	{
		double s = (double)(bench_now_ns() - t_start) / 1e9;

		printf("  %u registrations in %.2f s (%.0f/s)\n", n_svc * n_be, s,
		       (double)(n_svc * n_be) / s);
	}

	/* 4. the reader: map the region, wait until it shows every backend */
	if (sy_region_map_open(bc.region, &w.map, err, sizeof(err)))
		die("%s", err);
	w.mapped = true;
	if (pthread_create(&g.reader, NULL, reader_main, NULL))
		die("pthread_create failed");
	g.reader_started = true;
	while (atomic_load(&w.state) == 0)
		bench_sleep_ms(1);
	if (atomic_load(&w.state) < 0)
		die("reader: %s", w.err);
	w.vips = NULL;
	{
		struct sy_vip_key *vips = calloc(n_svc, sizeof(*vips));

		if (!vips)
			die("out of memory");
		for (uint32_t i = 0; i < n_svc; i++)
			vips[i] = svc[i].vip;
		w.vips = vips;
	}
	w.want_services = n_svc;
	w.want_backends = n_be;
	seq = watch_arm(CMD_FULL);
	if (watch_wait(seq, 120000))
		die("the region did not show all %u backends within 120 s", n_svc * n_be);
	printf("  all %u backends visible in the region %.2f s after the first registration "
	       "(generation %llu)\n", n_svc * n_be, (double)(w.t_seen_ns - t_start) / 1e9,
	       (unsigned long long)w.gen_seen);
	watch_arm(CMD_IDLE);

	/* Warm the connection with a heartbeat (changes nothing: no publish),
	 * since the registry closes connections idle for 5 s. */
	client_prepare(&cl, true, &svc[present[0].svc], present[0].addr);
	if (bench_reg_send(&cl) != 200)
		die("heartbeat: %s%s", cl.resp, cl.err);
	have_hist = fetch_hist(&h0) == 0;
	if (!have_hist)
		fprintf(stderr, "warning: no switchyard_publish_latency_seconds histogram before the changes\n");
	bench_sleep_ms(200); /* let sy-control's main loop go idle */

	/* 5. the changes */
	for (uint32_t k = 0; k < n_changes; k++) {
		bool reg = (k % 2) == 0;
		struct backend be;
		uint32_t idx = 0;
		uint64_t t_http;
		long st;

		if (g_interrupted)
			die("interrupted after %u changes", k);
		if (reg) {
			be = (struct backend){ .svc = rng_below(n_svc), .addr = next_addr++ };
		} else {
			idx = rng_below(n_present);
			be = present[idx];
		}
		client_prepare(&cl, reg, &svc[be.svc], be.addr);
		w.vip = svc[be.svc].vip;
		w.id = (struct sy_backend_id){ .family = SY_AF_INET, .port = BACKEND_PORT,
					       .addr = { htonl(be.addr) } };
		w.want_present = reg;
		seq = watch_arm(CMD_CHANGE);
		t0 = bench_now_ns();
		st = bench_reg_send(&cl);
		t_http = bench_now_ns();
		if (st != 200)
			die("change %u (%s %s): status %ld %s%s", k, reg ? "register" : "deregister",
			    svc[be.svc].name, st, cl.resp, cl.err);
		if (watch_wait(seq, CHANGE_TIMEOUT_MS))
			die("change %u (%s in %s) not visible to the reader within %d ms", k,
			    reg ? "register" : "deregister", svc[be.svc].name, CHANGE_TIMEOUT_MS);
		rtt[k] = t_http - t0;
		lat[n_lat++] = w.t_seen_ns - t0;
		if (w.t_seen_ns < t_http)
			seen_before_answer++;
		if (reg) {
			lat_reg[n_reg++] = w.t_seen_ns - t0;
			present[n_present++] = be;
		} else {
			lat_dereg[n_dereg++] = w.t_seen_ns - t0;
			present[idx] = present[--n_present];
		}
	}
	watch_arm(CMD_IDLE);
	if (have_hist && fetch_hist(&h1))
		have_hist = false;

	/* 6. the figures */
	printf("\nregistry event -> table visible to a reader (ms; from just before the HTTP "
	       "request to sy_reader_begin() showing the change):\n");
	print_dist("all", lat, n_lat);
	print_dist("register", lat_reg, n_reg);
	print_dist("deregister", lat_dereg, n_dereg);
	printf("HTTP round trip (request sent -> 200 received, ms):\n");
	print_dist("http", rtt, n_changes);
	printf("  the reader saw the change before the HTTP answer arrived in %zu of %u changes\n",
	       seen_before_answer, n_changes);
	if (have_hist && h1.n == h0.n) {
		uint64_t d[HIST_MAX], prev = 0, count;

		for (int i = 0; i < h1.n; i++)
			d[i] = h1.cum[i] - h0.cum[i];
		count = h1.n ? d[h1.n - 1] : 0;
		printf("sy-control /metrics switchyard_publish_latency_seconds, change phase only "
		       "(delta): count %llu, sum %.0f ms, mean %.3f ms\n",
		       (unsigned long long)count, h1.sum - h0.sum,
		       count ? (h1.sum - h0.sum) / (double)count : 0.0);
		printf("  buckets (non-cumulative):");
		for (int i = 0; i < h1.n; i++) {
			uint64_t in = d[i] - prev;

			prev = d[i];
			if (!in)
				continue;
			if (isinf(h1.le[i]))
				printf(" le=+Inf:%llu", (unsigned long long)in);
			else
				printf(" le=%g:%llu", h1.le[i], (unsigned long long)in);
		}
		printf("\n  histogram_quantile estimate: p50 %.3f  p90 %.3f  p99 %.3f  (ms)\n",
		       hist_quantile(&h1, d, 0.50), hist_quantile(&h1, d, 0.90),
		       hist_quantile(&h1, d, 0.99));
	} else {
		printf("sy-control /metrics switchyard_publish_latency_seconds: not available\n");
	}
	printf("RESULT p50_ms=%.3f p99_ms=%.3f\n", ms_of(bench_pct(lat, n_lat, 0.50)),
	       ms_of(bench_pct(lat, n_lat, 0.99)));
	fflush(stdout);

	bench_reg_free(&cl);
	cleanup();
	curl_global_cleanup();
	sem_destroy(&w.done);
	free((void *)w.vips);
	for (uint32_t i = 0; i < n_svc; i++)
		free(key_files[i]);
	free(key_files);
	free(svc);
	free(present);
	free(lat);
	free(lat_reg);
	free(lat_dereg);
	free(rtt);
	return 0;
}
