/* SPDX-License-Identifier: BSD-3-Clause
 *
 * syctl top [-d SECONDS] [-n ITERATIONS] [SERVICE]
 *
 * Every SECONDS (default 1) it asks sy-control for GET /v1/stats (the
 * counters the dataplane keeps in the region, summed over lcores) and shows
 * what changed since the previous answer, divided by the time between the
 * two answers: per service packets/s, bits/s, new flows/s, drops/s (no
 * backend), per backend packets/s, bits/s and its share of the service's
 * packets, and the dataplane's totals. The first frame comes one interval
 * after start (a rate needs two samples).
 *
 * On a terminal the screen is redrawn (numbers scaled: k, M, G) and q or
 * Ctrl-C quits; otherwise every frame is plain text without escape codes
 * (raw numbers, one line per service and per backend, frames separated by
 * a blank line), or one JSON object per line with --json. -n ends after
 * that many frames. Exit codes as for every syctl command.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "syctl.h"
#include "syctl_top.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

struct sample {
	double t;      /* CLOCK_MONOTONIC seconds when the answer arrived */
	json_t *stats; /* the /v1/stats answer */
};

static double now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int take(const struct sy_http_target *t, struct sample *s)
{
	struct sy_http_reply r;
	int rc = 0;

	sy_http_request(t, "GET", "/v1/stats", NULL, 0, NULL, &r);
	s->t = now_mono();
	s->stats = NULL;
	rc = syctl_answer(t, "GET", "/v1/stats", &r);
	if (rc == SYCTL_OK && !json_is_object(r.json)) {
		fprintf(stderr, "syctl: GET /v1/stats: answer is not a JSON object\n");
		rc = SYCTL_FAILED;
	} else if (rc == SYCTL_OK) {
		s->stats = json_incref(r.json);
	}
	sy_http_reply_free(&r);
	return rc;
}

/* a counter's growth; a counter that went back (a new region) counts from 0 */
static double delta(json_t *cur, json_t *prev, const char *key)
{
	json_int_t c = json_integer_value(json_object_get(cur, key));
	json_int_t p = json_integer_value(json_object_get(prev, key));

	return (double)(c >= p ? c - p : c);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* the keys of an object, sorted (caller frees the array, not the keys) */
static const char **sorted_keys(json_t *o, size_t *n)
{
	const char **k = calloc(json_object_size(o) + 1, sizeof(*k));
	const char *key;
	json_t *v;

	*n = 0;
	if (!k)
		return NULL;
	json_object_foreach(o, key, v)
		k[(*n)++] = key;
	qsort(k, *n, sizeof(*k), cmp_str);
	return k;
}

/* a rate as text: raw ("%.1f") or scaled for people (k, M, G) */
static const char *num(char *buf, size_t len, double v, int human)
{
	static const char *const unit[] = { "", "k", "M", "G", "T" };
	int u = 0;

	if (!human) {
		snprintf(buf, len, "%.1f", v);
		return buf;
	}
	while (v >= 1000.0 && u < 4) {
		v /= 1000.0;
		u++;
	}
	snprintf(buf, len, u ? "%.2f%s" : "%.1f%s", v, unit[u]);
	return buf;
}

struct view {
	int human; /* terminal: scaled numbers, screen redrawn */
	int json;
	const char *service; /* only this one, or NULL */
};

static void frame_text(FILE *f, const struct view *v, const struct sample *prev,
		       const struct sample *cur)
{
	json_t *cs = json_object_get(cur->stats, "services");
	json_t *ps = json_object_get(prev->stats, "services");
	json_t *cc = json_object_get(cur->stats, "counters");
	json_t *pc = json_object_get(prev->stats, "counters");
	double dt = cur->t - prev->t, drops = 0;
	char a[32], b[32], c[32], d[32], e[32], g[32], when[32];
	const char **names, *key;
	time_t wall = time(NULL);
	struct tm tm;
	size_t n;
	json_t *val;

	localtime_r(&wall, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	json_object_foreach(cc, key, val)
		if (!strncmp(key, "drop_", 5))
			drops += delta(cc, pc, key);
	fprintf(f, "syctl top  %s  interval %.2f s\n", when, dt);
	fprintf(f, "dataplane  rx %s pkt/s  tx %s pkt/s  forwarded %s pkt/s  drops %s pkt/s  new flows %s/s  ct evictions %s/s\n",
		num(a, sizeof(a), delta(cc, pc, "rx_packets") / dt, v->human),
		num(b, sizeof(b), delta(cc, pc, "tx_packets") / dt, v->human),
		num(c, sizeof(c), delta(cc, pc, "forwarded") / dt, v->human),
		num(d, sizeof(d), drops / dt, v->human),
		num(e, sizeof(e), delta(cc, pc, "ct_new") / dt, v->human),
		num(g, sizeof(g), delta(cc, pc, "ct_evictions") / dt, v->human));
	fprintf(f, "%-20s %-30s %12s %12s %11s %10s %7s %14s\n", "SERVICE", "BACKEND", "PKT/S",
		"BIT/S", "NEWFLOWS/S", "DROPS/S", "SHARE", "PACKETS");
	names = sorted_keys(cs, &n);
	for (size_t i = 0; names && i < n; i++) {
		json_t *s = json_object_get(cs, names[i]), *p = json_object_get(ps, names[i]);
		json_t *bs = json_object_get(s, "backends"), *pbs = json_object_get(p, "backends");
		double pkts = p ? delta(s, p, "packets") : 0;
		const char **bn;
		size_t m;

		if (v->service && strcmp(v->service, names[i]))
			continue;
		fprintf(f, "%-20s %-30s %12s %12s %11s %10s %7s %14lld\n", names[i], "-",
			num(a, sizeof(a), pkts / dt, v->human),
			num(b, sizeof(b), (p ? delta(s, p, "bytes") : 0) * 8 / dt, v->human),
			num(c, sizeof(c), (p ? delta(s, p, "new_flows") : 0) / dt, v->human),
			num(d, sizeof(d), (p ? delta(s, p, "drops") : 0) / dt, v->human), "-",
			(long long)json_integer_value(json_object_get(s, "packets")));
		bn = sorted_keys(bs, &m);
		for (size_t j = 0; bn && j < m; j++) {
			json_t *be = json_object_get(bs, bn[j]), *pbe = json_object_get(pbs, bn[j]);
			double bp = pbe ? delta(be, pbe, "packets") : 0;

			if (pkts > 0)
				snprintf(e, sizeof(e), "%.1f%%", 100.0 * bp / pkts);
			else
				snprintf(e, sizeof(e), "-");
			fprintf(f, "%-20s %-30s %12s %12s %11s %10s %7s %14lld\n", names[i], bn[j],
				num(a, sizeof(a), bp / dt, v->human),
				num(b, sizeof(b), (pbe ? delta(be, pbe, "bytes") : 0) * 8 / dt, v->human),
				"-", "-", e, (long long)json_integer_value(json_object_get(be, "packets")));
		}
		free(bn);
	}
	free(names);
}

static json_t *frame_json(const struct view *v, const struct sample *prev, const struct sample *cur)
{
	json_t *cs = json_object_get(cur->stats, "services");
	json_t *ps = json_object_get(prev->stats, "services");
	json_t *cc = json_object_get(cur->stats, "counters");
	json_t *pc = json_object_get(prev->stats, "counters");
	json_t *out = json_object(), *svcs = json_object(), *dp = json_object(), *val;
	double dt = cur->t - prev->t, drops = 0;
	const char *key;

	json_object_foreach(cc, key, val)
		if (!strncmp(key, "drop_", 5))
			drops += delta(cc, pc, key);
	json_object_set_new(dp, "rx_packets_per_s", json_real(delta(cc, pc, "rx_packets") / dt));
	json_object_set_new(dp, "tx_packets_per_s", json_real(delta(cc, pc, "tx_packets") / dt));
	json_object_set_new(dp, "forwarded_per_s", json_real(delta(cc, pc, "forwarded") / dt));
	json_object_set_new(dp, "drops_per_s", json_real(drops / dt));
	json_object_set_new(dp, "new_flows_per_s", json_real(delta(cc, pc, "ct_new") / dt));
	json_object_set_new(dp, "ct_evictions_per_s", json_real(delta(cc, pc, "ct_evictions") / dt));
	json_object_foreach(cs, key, val) {
		json_t *p = json_object_get(ps, key), *bs = json_object_get(val, "backends");
		json_t *pbs = json_object_get(p, "backends"), *o, *bo = json_object(), *be;
		double pkts = p ? delta(val, p, "packets") : 0;
		const char *bk;

		if (v->service && strcmp(v->service, key))
			continue;
		json_object_foreach(bs, bk, be) {
			json_t *pbe = json_object_get(pbs, bk);
			double bp = pbe ? delta(be, pbe, "packets") : 0;

			json_object_set_new(bo, bk, json_pack("{s:f, s:f, s:o, s:I}",
				"packets_per_s", bp / dt,
				"bits_per_s", (pbe ? delta(be, pbe, "bytes") : 0) * 8 / dt,
				"share", pkts > 0 ? json_real(bp / pkts) : json_null(),
				"packets", json_integer_value(json_object_get(be, "packets"))));
		}
		o = json_pack("{s:f, s:f, s:f, s:f, s:I, s:o}", "packets_per_s", pkts / dt,
			      "bits_per_s", (p ? delta(val, p, "bytes") : 0) * 8 / dt,
			      "new_flows_per_s", (p ? delta(val, p, "new_flows") : 0) / dt,
			      "drops_per_s", (p ? delta(val, p, "drops") : 0) / dt, "packets",
			      json_integer_value(json_object_get(val, "packets")), "backends", bo);
		json_object_set_new(svcs, key, o);
	}
	json_object_set_new(out, "time", json_real((double)time(NULL)));
	json_object_set_new(out, "interval_s", json_real(dt));
	json_object_set_new(out, "dataplane", dp);
	json_object_set_new(out, "services", svcs);
	return out;
}

/* one frame, written at once */
static void show(const struct view *v, const struct sample *prev, const struct sample *cur,
		 int first)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return;
	if (v->json) {
		json_t *j = frame_json(v, prev, cur);

		json_dumpf(j, f, JSON_COMPACT | JSON_SORT_KEYS);
		fputc('\n', f);
		json_decref(j);
	} else if (v->human) {
		struct winsize ws = { 0 };
		char *body = NULL, *line, *save = NULL;
		size_t blen = 0;
		FILE *g = open_memstream(&body, &blen);
		int rows = ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row ? ws.ws_row : 0;

		if (!g) {
			fclose(f);
			free(text);
			return;
		}
		frame_text(g, v, prev, cur);
		fclose(g);
		fputs("\033[H\033[2J", f); /* home, clear */
		/* no more lines than the terminal has, the last one for the hint */
		for (line = strtok_r(body, "\n", &save); line && (!rows || rows > 1);
		     line = strtok_r(NULL, "\n", &save), rows = rows ? rows - 1 : 0)
			fprintf(f, "%s\n", line);
		fputs("(q or Ctrl-C quits)", f);
		free(body);
	} else {
		if (!first)
			fputc('\n', f);
		frame_text(f, v, prev, cur);
	}
	fclose(f);
	fwrite(text, 1, len, stdout);
	fflush(stdout);
	free(text);
}

/* sleep until `until` (monotonic); 1 if asked to quit meanwhile */
static int wait_until(double until, int keys)
{
	for (;;) {
		double left = until - now_mono();
		struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
		int r;

		if (stop)
			return 1;
		if (left <= 0)
			return 0;
		r = poll(keys ? &pfd : NULL, keys ? 1 : 0, (int)(left * 1000.0) + 1);
		if (r > 0 && keys) {
			char ch;
			ssize_t n = read(STDIN_FILENO, &ch, 1);

			if (n == 1 && (ch == 'q' || ch == 'Q'))
				return 1;
			if (n == 0) /* end of input: keys no more */
				keys = 0;
		} else if (r < 0 && errno != EINTR) {
			return 1;
		}
	}
}

static void top_usage(FILE *f)
{
	fprintf(f, "usage: syctl [--json] top [-d SECONDS] [-n ITERATIONS] [SERVICE]\n"
		   "  -d SECONDS     refresh interval, 0.1..3600 (default 1)\n"
		   "  -n ITERATIONS  stop after this many frames (default: until q or Ctrl-C)\n");
}

int syctl_top(const struct sy_http_target *t, int json, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "delay", required_argument, 0, 'd' },
		{ "iterations", required_argument, 0, 'n' },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	struct view v = { .json = json };
	struct sample prev, cur;
	struct termios saved, raw;
	struct sigaction sa;
	long iterations = 0;
	double delay = 1.0;
	int c, rc = 0, keys = 0, term_set = 0;
	char *end;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+d:n:h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			errno = 0;
			delay = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(delay >= 0.1 && delay <= 3600)) {
				fprintf(stderr, "syctl top: -d '%s': need seconds, 0.1..3600\n", optarg);
				return SYCTL_USAGE;
			}
			break;
		case 'n':
			errno = 0;
			iterations = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || iterations < 1 || iterations > 100000000) {
				fprintf(stderr, "syctl top: -n '%s': need a count of frames >= 1\n", optarg);
				return SYCTL_USAGE;
			}
			break;
		case 'h':
			top_usage(stdout);
			return 0;
		default:
			fprintf(stderr, "syctl top: %s option '%s'\n",
				optopt && strchr("dn", optopt) ? "missing value for" : "unknown",
				argv[optind - 1]);
			top_usage(stderr);
			return SYCTL_USAGE;
		}
	}
	if (argc - optind > 1) {
		fprintf(stderr, "syctl top: at most one SERVICE\n");
		top_usage(stderr);
		return SYCTL_USAGE;
	}
	v.service = optind < argc ? argv[optind] : NULL;
	v.human = !json && isatty(STDOUT_FILENO);

	rc = take(t, &prev);
	if (rc)
		return rc;
	if (v.service && !json_object_get(json_object_get(prev.stats, "services"), v.service)) {
		fprintf(stderr, "syctl top: no published service '%s'\n", v.service);
		json_decref(prev.stats);
		return SYCTL_FAILED;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal; /* no SA_RESTART: poll() returns at once */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (v.human && isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0) {
		raw = saved;
		raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO); /* keys without Enter; ISIG kept */
		raw.c_cc[VMIN] = 1;
		raw.c_cc[VTIME] = 0;
		term_set = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
		keys = 1;
	}

	for (long i = 0; !iterations || i < iterations; i++) {
		if (wait_until(prev.t + delay, keys))
			break;
		rc = take(t, &cur);
		if (rc)
			break;
		show(&v, &prev, &cur, i == 0);
		json_decref(prev.stats);
		prev = cur;
	}
	json_decref(prev.stats);
	if (term_set)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
	if (v.human)
		fputc('\n', stdout);
	return rc;
}
