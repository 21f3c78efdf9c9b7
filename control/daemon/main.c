/* SPDX-License-Identifier: BSD-3-Clause
 *
 * sy-control --config FILE [--foreground] [--check]
 *
 * Creates or adopts the instance's region, learns backends (static config,
 * embedded registry, operator API), applies the health policy and publishes
 * Maglev tables. Runs in the foreground (systemd: Type=simple); SIGHUP or
 * `syctl reload` re-reads the configuration; SIGTERM/SIGINT stop it. The
 * region stays: the dataplane keeps forwarding, a restarted sy-control
 * adopts it.
 */
#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include <switchyard/icmp_error.h>

#include "bgp.h"
#include "daemon.h"
#include "metrics.h"
#include "netaddr.h"
#include "preflight.h"
#include "region_recover.h"
#include "state_file.h"
#include "source.h"
#include "syctl.h"
#include "xdp_lb.h"

const struct sy_source *const sy_sources[] = {
	&sy_source_static,
	&sy_source_embedded,
#define SY_SOURCE_REF(ID, name, req, dir, sdesc, kdesc, a, b) &sy_source_##name,
	SY_REGISTRY_KINDS(SY_SOURCE_REF, ~, ~)
#undef SY_SOURCE_REF
	NULL,
};

static struct sy_daemon the_daemon = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.wake = PTHREAD_COND_INITIALIZER,
	.version = SY_VERSION,
	.dp_mode = "dpdk",
	.dpdk_wait_s = 10,
	.xdp_ct_guard = { .rate = SY_CT_GUARD_RATE_DEFAULT, .burst = SY_CT_GUARD_BURST_DEFAULT },
};

static void on_term(int sig)
{
	(void)sig;
	the_daemon.quit = true;
}

static void on_hup(int sig)
{
	(void)sig;
	the_daemon.reload_requested = true;
}

int sy_daemon_reload(struct sy_daemon *d, char *err, size_t errlen)
{
	struct sy_config *cfg;
	json_t *before;

	if (sy_config_load(d->config_path, &cfg, err, errlen))
		return -1;
	if (strcmp(cfg->region, d->cfg->region) || strcmp(cfg->instance, d->cfg->instance)) {
		snprintf(err, errlen, "%s: instance and region cannot change on reload (restart sy-control)",
			 d->config_path);
		sy_config_free(cfg);
		return -1;
	}
	if (cfg->bgp.daemon != d->cfg->bgp.daemon || strcmp(cfg->bgp.socket, d->cfg->bgp.socket) ||
	    strcmp(cfg->bgp.include_file, d->cfg->bgp.include_file) ||
	    strcmp(cfg->bgp.protocol, d->cfg->bgp.protocol)) {
		snprintf(err, errlen, "%s: bgp.daemon, socket, include_file and protocol cannot change on reload (restart sy-control)",
			 d->config_path);
		sy_config_free(cfg);
		return -1;
	}
	{
		/* what the running region can hold, the keys, the files */
		struct sy_region_limits lim = sy_writer_map(d->writer)->hdr->limits;
		struct sy_preflight pf = { .region_limits = &lim };

		if (sy_preflight_run(cfg, &pf, err, errlen)) {
			sy_config_free(cfg);
			return -1;
		}
	}
	before = sy_state_services(d);
	if (sy_daemon_apply_config(d, cfg, err, errlen)) {
		json_decref(before);
		sy_config_free(cfg);
		return -1;
	}
	sy_state_reloaded(d, before);
	sy_logf("info", "\"configuration reloaded\" file=%s services=%zu", d->config_path, d->n_svc);
	return 0;
}

/* A restarted sy-control must not publish a smaller set than the one
 * serving: the registrations it held are gone with the old process, so the
 * published backends of registry-fed services are taken as registered for
 * one grace period (2 TTLs), in which their agents heartbeat again. */
static void adopt_published(struct sy_daemon *d)
{
	const struct sy_snapshot *snap = sy_writer_snapshot(d->writer);
	const uint8_t *base = sy_writer_map(d->writer)->base;
	uint64_t now = sy_now_ms();

	for (uint32_t i = 0; snap && i < snap->n_services; i++) {
		const struct sy_service *ps = sy_snapshot_service(base, snap, i);
		struct sy_service_state *s = sy_daemon_service(d, ps->name);
		const struct sy_backend *b = sy_service_backends(base, ps);
		struct sy_maglev_backend *set;
		uint32_t ttl, *ids;

		if (!s)
			continue;
		ttl = d->cfg->services[s->cfg_index].health.default_ttl_s;
		set = malloc(sizeof(*set) * (ps->n_backends + 1));
		ids = malloc(sizeof(*ids) * (ps->n_backends + 1));
		for (uint32_t j = 0; j < ps->n_backends; j++) {
			struct sy_be *e = sy_svcb_find(&s->b, &b[j].id);

			if (!e) {
				e = sy_svcb_upsert(&s->b, &b[j].id, b[j].weight, SY_SRC_EMBEDDED,
						   (uint64_t)ttl * 2000, now);
				if (!e)
					continue;
				/* as published: a QUIC backend's short headers keep
				 * reaching it until its agent registers again */
				e->server_id = b[j].server_id;
			}
			memcpy(e->mac, b[j].mac, 6);
			e->has_mac = true;
			if (set)
				set[j] = (struct sy_maglev_backend){ .id = b[j].id, .weight = b[j].weight };
			if (ids)
				ids[j] = b[j].server_id;
		}
		if (set) {
			sy_svcb_published(&s->b, set, ids, ps->n_backends, false, now);
			s->b.dirty = true;
		}
		free(set);
		free(ids);
		s->digest = ps->digest;
	}
}

static int open_region(struct sy_daemon *d, char *err, size_t errlen)
{
	if (sy_daemon_recover_region(d, err, errlen))
		return -1;
	if (access(d->cfg->region, F_OK) == 0) {
		if (sy_writer_adopt(d->cfg->region, NULL, &d->writer, err, errlen))
			return -1;
		d->adopted = true;
		sy_logf("info", "\"region adopted: the published tables keep serving\" region=%s generation=%llu",
			d->cfg->region,
			(unsigned long long)atomic_load(&sy_writer_map(d->writer)->hdr->generation));
		return 0;
	}
	if (sy_writer_create(d->cfg->region, d->cfg->instance, &d->cfg->limits, NULL, &d->writer,
			     err, errlen))
		return -1;
	d->created_region = true;
	sy_logf("info", "\"region created\" region=%s", d->cfg->region);
	return 0;
}

/* The state file's directory (one level, like /var/lib/switchyard) is made
 * if missing: the first operator change writes the file there. */
static void ensure_state_dir(struct sy_daemon *d)
{
	char dir[4096], *slash;

	snprintf(dir, sizeof(dir), "%s", d->cfg->state_file);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = 0;
		if (mkdir(dir, 0750) == 0)
			sy_logf("info", "\"state directory created\" dir=%s", dir);
	}
}

/* A start that failed leaves nothing behind: a region it created goes
 * (nothing can have used it yet), one it adopted stays and keeps serving. */
static void close_region(struct sy_daemon *d, bool failed)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s", d->cfg ? d->cfg->region : "");
	sy_writer_close(d->writer);
	d->writer = NULL;
	if (failed && d->created_region && path[0] && unlink(path) == 0)
		sy_logf("info", "\"start failed: the region it created is removed\" region=%s", path);
}

/* Everything start-up would refuse, before anything is created: --check
 * runs the same (preflight.c). 0, or -1 with err. */
static int preflight(struct sy_daemon *d, const struct sy_config *cfg, char *err, size_t errlen)
{
	struct sy_preflight pf = { .run_as = d->run_as,
				   .xdp_iface = strcmp(d->dp_mode, "dpdk") ? d->xdp_iface : NULL };
	struct sy_region_header h;

	if (access(cfg->region, F_OK) == 0) {
		if (sy_region_peek(cfg->region, &h, err, errlen))
			return -1;
		pf.region_limits = &h.limits; /* an existing region keeps its limits */
	}
	return sy_preflight_run(cfg, &pf, err, errlen);
}

static int start_sources(struct sy_daemon *d, char *err, size_t errlen)
{
	for (const struct sy_source *const *s = sy_sources; *s; s++)
		if ((*s)->start && (*s)->start(*s, d, err, errlen))
			return -1;
	return 0;
}

static void stop_sources(struct sy_daemon *d)
{
	for (const struct sy_source *const *s = sy_sources; *s; s++)
		if ((*s)->stop)
			(*s)->stop(*s, d);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: sy-control --config FILE [--foreground] [--check] [--version]\n"
		   "                  [--dataplane dpdk|xdp|auto] [--iface IF] [XDP options]\n"
		   "  --check       run every check start-up runs (configuration, keys, token,\n"
		   "                the region's room, users, files; binding sockets aside)\n"
		   "                and exit: 0 valid, 2 invalid\n"
		   "  --foreground  accepted for compatibility: sy-control never forks\n"
		   "  --dataplane dpdk   (default) sy-dataplane serves the region\n"
		   "  --dataplane xdp    load the XDP balancer on --iface IF and feed its maps\n"
		   "  --dataplane auto   dpdk if a sy-dataplane serves the region within\n"
		   "                     --dpdk-wait SECONDS (default 10), else xdp\n"
		   "XDP options:\n"
		   "  --xdp-mode native|generic  native (default) needs driver support; generic\n"
		   "                     runs in the kernel's generic path, slower\n"
		   "  --xdp-redirect IF  send balanced packets out of IF instead of back out of --iface\n"
		   "  --xdp-ct-flows N   connection-table entries per CPU (default %u)\n"
		   "  --xdp-icmp-rate N  ICMP errors (too big) a CPU may send per second (default %u)\n"
		   "  --xdp-icmp-burst N ... and at once after a quiet spell (default %u)\n"
		   "  --xdp-ct-guard-rate N  new flows a CPU may add to its connection table per\n"
		   "                     second, 0..%u; over it, new flows are forwarded to their\n"
		   "                     Maglev backend untracked (ct_bypass); 0 = off (default %u)\n"
		   "  --xdp-ct-guard-burst N ... and at once after a quiet spell (default %u)\n"
		   "  --xdp-ct-syn-only on|off  TCP packets without SYN of no tracked flow are\n"
		   "                     forwarded untracked (ct_bypass_no_syn) (default off)\n"
		   "  --xdp-stay         leave the program attached on exit (it keeps serving the\n"
		   "                     last tables; the next sy-control adopts it)\n"
		   "  --xdp-detach       detach a program left by --xdp-stay and exit\n"
		   "  --xdp-bpffs DIR    bpffs holding the pins (default /sys/fs/bpf; they go in\n"
		   "                     DIR/switchyard/<instance>)\n"
		   "  --user NAME        after setup, run as NAME with only the capabilities still\n"
		   "                     needed (docs/control.md, \"Privileges\")\n",
		SY_XDP_CT_DEFAULT_FLOWS, SY_ICMP_RATE_DEFAULT, SY_ICMP_BURST_DEFAULT,
		SY_CT_GUARD_RATE_MAX, SY_CT_GUARD_RATE_DEFAULT, SY_CT_GUARD_BURST_DEFAULT);
}

struct expiry_ctx {
	struct sy_daemon *d;
	const struct sy_service_state *s;
	uint64_t now_ms;
};

/* A backend that stopped heartbeating leaves: say so, since its flows move
 * (at most 10 lines a second: a rack going dark is one summary line). */
static void log_expired(void *ctx, const struct sy_be *b)
{
	const struct expiry_ctx *x = ctx;
	char ep[80];

	if (!sy_log_limit_pass(&x->d->expired_log, 10, "backend expired"))
		return;
	sy_format_endpoint(&b->id, ep, sizeof(ep));
	sy_logf("warn", "\"backend expired: no heartbeat within its TTL\" service=%s backend=%s last_seen_ms_ago=%llu",
		x->s->name, ep, (unsigned long long)(x->now_ms - b->last_seen_ms));
}

/* While the dataplane that carries the heartbeats does not run, their
 * TTLs stand still (dp_health.h, sy_dp_carries). */
struct ttl_hold {
	uint64_t tick_ms;  /* the last tick */
	uint64_t since_ms; /* held since, 0 = running */
	bool logged;       /* "TTLs held" said for this hold */
};

/* How long this tick holds the TTLs: the time since the last tick while
 * the heartbeats cannot arrive, else 0. Logged once each way while the
 * dataplane is not running; a pause (running, workers standing still) is
 * dp_health's one line when it ends ("dataplane paused: checks and TTLs
 * were held"), and is logged here only if it becomes a stall: a dataplane
 * on a shared core pausing often logged three lines a pause before
 * session 47. */
static uint64_t ttl_hold_tick(struct sy_daemon *d, struct ttl_hold *h, uint64_t now_ms)
{
	uint64_t stops, held = 0;

	if (!sy_dp_carries(d, &stops)) {
		held = now_ms - h->tick_ms;
		if (!h->since_ms)
			h->since_ms = now_ms;
		if (!h->logged && sy_dp_unsent_err(d) == SY_UNSENT_NO_DATAPLANE) {
			h->logged = true;
			sy_logf("warn", "\"heartbeats cannot arrive while the dataplane does not run: TTLs held\" held_ms=%llu",
				(unsigned long long)(now_ms - h->since_ms));
		}
	} else if (h->since_ms) {
		if (h->logged)
			sy_logf("info", "\"TTLs run again\" held_ms=%llu",
				(unsigned long long)(now_ms - h->since_ms));
		h->since_ms = 0;
		h->logged = false;
	}
	h->tick_ms = now_ms;
	return held;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, 0, 'c' }, { "foreground", no_argument, 0, 'f' },
		{ "check", no_argument, 0, 'k' },        { "version", no_argument, 0, 'v' },
		{ "help", no_argument, 0, 'h' },         { "dataplane", required_argument, 0, 'D' },
		{ "iface", required_argument, 0, 'i' },  { "xdp-mode", required_argument, 0, 'M' },
		{ "xdp-redirect", required_argument, 0, 'R' },
		{ "xdp-ct-flows", required_argument, 0, 'C' },
		{ "xdp-stay", no_argument, 0, 'S' },      { "xdp-detach", no_argument, 0, 'X' },
		{ "dpdk-wait", required_argument, 0, 'W' }, { "user", required_argument, 0, 'u' },
		{ "xdp-bpffs", required_argument, 0, 'B' },
		{ "xdp-icmp-rate", required_argument, 0, 'I' },
		{ "xdp-icmp-burst", required_argument, 0, 'J' },
		{ "xdp-ct-guard-rate", required_argument, 0, 'G' },
		{ "xdp-ct-guard-burst", required_argument, 0, 'U' },
		{ "xdp-ct-syn-only", required_argument, 0, 'Y' },
		{ 0, 0, 0, 0 },
	};
	struct sy_daemon *d = &the_daemon;
	struct sy_config *cfg = NULL;
	char err[1024], *end;
	int c, check = 0, detach = 0;
	unsigned long n;

	while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			snprintf(d->config_path, sizeof(d->config_path), "%s", optarg);
			break;
		case 'f':
			break;
		case 'k':
			check = 1;
			break;
		case 'v':
			printf("sy-control %s\n", SY_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		case 'D':
			if (strcmp(optarg, "dpdk") && strcmp(optarg, "xdp") && strcmp(optarg, "auto")) {
				fprintf(stderr, "sy-control: --dataplane: '%s' is not dpdk, xdp or auto\n", optarg);
				return 2;
			}
			snprintf(d->dp_mode, sizeof(d->dp_mode), "%s", optarg);
			break;
		case 'i':
		case 'R':
			if (strlen(optarg) >= IF_NAMESIZE) {
				fprintf(stderr, "sy-control: interface name too long: '%s'\n", optarg);
				return 2;
			}
			snprintf(c == 'i' ? d->xdp_iface : d->xdp_redirect, sizeof(d->xdp_iface), "%s", optarg);
			break;
		case 'M':
			if (strcmp(optarg, "native") && strcmp(optarg, "generic")) {
				fprintf(stderr, "sy-control: --xdp-mode: '%s' is not native or generic\n", optarg);
				return 2;
			}
			d->xdp_generic = !strcmp(optarg, "generic");
			break;
		case 'C':
		case 'W':
			errno = 0;
			n = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || n > (c == 'C' ? 1u << 28 : 3600u) ||
			    (c == 'C' && n < 1024)) {
				fprintf(stderr, "sy-control: --%s: '%s' is not in %s\n",
					c == 'C' ? "xdp-ct-flows" : "dpdk-wait", optarg,
					c == 'C' ? "1024..268435456" : "0..3600 seconds");
				return 2;
			}
			if (c == 'C')
				d->xdp_ct_flows = (uint32_t)n;
			else
				d->dpdk_wait_s = (unsigned)n;
			break;
		case 'I':
		case 'J':
			errno = 0;
			n = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || optarg[0] == '-' || n < 1 ||
			    n > (c == 'I' ? SY_ICMP_RATE_MAX : SY_ICMP_BURST_MAX)) {
				fprintf(stderr, "sy-control: --%s: '%s' is not in 1..%u\n",
					c == 'I' ? "xdp-icmp-rate" : "xdp-icmp-burst", optarg,
					c == 'I' ? SY_ICMP_RATE_MAX : SY_ICMP_BURST_MAX);
				return 2;
			}
			if (c == 'I')
				d->xdp_icmp_rate = (uint32_t)n;
			else
				d->xdp_icmp_burst = (uint32_t)n;
			break;
		case 'G':
		case 'U':
			errno = 0;
			n = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || optarg[0] == '-' || (c == 'U' && n < 1) ||
			    n > (c == 'G' ? SY_CT_GUARD_RATE_MAX : SY_CT_GUARD_BURST_MAX)) {
				fprintf(stderr, "sy-control: --%s: '%s' is not in %u..%u\n",
					c == 'G' ? "xdp-ct-guard-rate" : "xdp-ct-guard-burst", optarg,
					c == 'G' ? 0 : 1,
					c == 'G' ? SY_CT_GUARD_RATE_MAX : SY_CT_GUARD_BURST_MAX);
				return 2;
			}
			if (c == 'G')
				d->xdp_ct_guard.rate = (uint32_t)n;
			else
				d->xdp_ct_guard.burst = (uint32_t)n;
			break;
		case 'Y':
			if (strcmp(optarg, "on") && strcmp(optarg, "off")) {
				fprintf(stderr, "sy-control: --xdp-ct-syn-only: 'on' or 'off', not '%s'\n", optarg);
				return 2;
			}
			d->xdp_ct_guard.syn_only = !strcmp(optarg, "on");
			break;
		case 'S':
			d->xdp_stay = true;
			break;
		case 'B':
			if (optarg[0] != '/' || strlen(optarg) >= sizeof(d->xdp_bpffs)) {
				fprintf(stderr, "sy-control: --xdp-bpffs: '%s' is not an absolute path\n", optarg);
				return 2;
			}
			snprintf(d->xdp_bpffs, sizeof(d->xdp_bpffs), "%s", optarg);
			break;
		case 'u':
			if (!optarg[0] || strlen(optarg) >= sizeof(d->run_as)) {
				fprintf(stderr, "sy-control: --user: bad user name '%s'\n", optarg);
				return 2;
			}
			snprintf(d->run_as, sizeof(d->run_as), "%s", optarg);
			break;
		case 'X':
			detach = 1;
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!d->config_path[0] || optind < argc) {
		usage(stderr);
		return 2;
	}
	if (sy_config_load(d->config_path, &cfg, err, sizeof(err))) {
		fprintf(stderr, "sy-control: %s\n", err);
		return 2;
	}
	if (detach) {
		int rc = sy_xdp_detach_instance(d->xdp_bpffs, cfg->instance, err, sizeof(err));

		if (rc)
			fprintf(stderr, "sy-control: %s\n", err);
		else
			printf("XDP program of instance %s detached\n", cfg->instance);
		sy_config_free(cfg);
		return rc ? 1 : 0;
	}
	if (strcmp(d->dp_mode, "dpdk") && !d->xdp_iface[0]) {
		fprintf(stderr, "sy-control: --dataplane %s needs --iface\n", d->dp_mode);
		sy_config_free(cfg);
		return 2;
	}
	if (preflight(d, cfg, err, sizeof(err))) {
		fprintf(stderr, "sy-control: %s\n", err);
		sy_config_free(cfg);
		return 2;
	}
	if (check) {
		printf("%s: valid (%zu services)\n", d->config_path, cfg->n_services);
		sy_config_free(cfg);
		return 0;
	}
	signal(SIGPIPE, SIG_IGN);
	d->started_ms = sy_now_ms();
	d->cfg = cfg;
	if (open_region(d, err, sizeof(err))) {
		fprintf(stderr, "sy-control: %s\n", err);
		return 1;
	}
	d->cfg = NULL; /* apply_config takes ownership */
	if (sy_daemon_apply_config(d, cfg, err, sizeof(err))) {
		fprintf(stderr, "sy-control: %s\n", err);
		d->cfg = cfg;
		close_region(d, true);
		sy_config_free(cfg);
		return 2;
	}
	/* the operator's changes before adoption: an added backend stays an
	 * added one (adoption takes what it does not know as registered) */
	if (!d->run_as[0])
		ensure_state_dir(d); /* --user: made for the user (privdrop.c) */
	if (sy_state_load(d, err, sizeof(err))) {
		fprintf(stderr, "sy-control: %s\n", err);
		close_region(d, true);
		return 2;
	}
	if (d->adopted)
		adopt_published(d);
	pthread_mutex_lock(&d->lock);
	sy_daemon_publish(d); /* tables first: an XDP program never starts on empty maps */
	pthread_mutex_unlock(&d->lock);
	if (sy_daemon_xdp_start(d, err, sizeof(err)) || sy_daemon_drop_privileges(d, err, sizeof(err))) {
		fprintf(stderr, "sy-control: %s\n", err);
		if (d->xdp && sy_xdp_adopted(d->xdp))
			d->xdp_stay = true; /* never tear down the program we took over */
		sy_daemon_xdp_stop(d);
		close_region(d, true);
		return 1;
	}
	/* the decision first: BIRD (re)started later reads it */
	if (sy_bgp_start(d, err, sizeof(err))) {
		fprintf(stderr, "sy-control: %s\n", err);
		sy_bgp_stop(d); /* withdraws what it may have announced */
		if (d->xdp && sy_xdp_adopted(d->xdp))
			d->xdp_stay = true;
		sy_daemon_xdp_stop(d);
		close_region(d, true);
		return 1;
	}
	if (sy_api_start(d, err, sizeof(err)) || start_sources(d, err, sizeof(err)) ||
	    sy_health_start(d)) {
		fprintf(stderr, "sy-control: %s\n", err);
		sy_bgp_stop(d);
		sy_daemon_xdp_stop(d);
		sy_api_stop(d);
		stop_sources(d);
		close_region(d, true);
		return 1;
	}
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	signal(SIGHUP, on_hup);
	sy_logf("info", "\"sy-control running\" instance=%s services=%zu api=%s", d->cfg->instance,
		d->n_svc, d->cfg->api.socket);

	pthread_mutex_lock(&d->lock);
	struct ttl_hold hold = { .tick_ms = sy_now_ms() };
	while (!d->quit) {
		struct timespec ts;
		uint64_t now = sy_now_ms(), marks = d->marks;
		uint64_t held_ms = ttl_hold_tick(d, &hold, now);
		bool dirty = false;

		if (d->reload_requested) {
			d->reload_requested = false;
			if (sy_daemon_reload(d, err, sizeof(err)))
				sy_logf("error", "\"reload refused; running state unchanged\" error=\"%s\"", err);
		}
		for (size_t i = 0; i < d->n_svc; i++) {
			struct expiry_ctx x = { d, &d->svc[i], now };
			bool expired;

			if (held_ms)
				sy_svcb_hold_ttls(&d->svc[i].b, held_ms);
			/* heartbeats that stopped, and decisions that time
			 * alone changes (a hold-down or a panic window over):
			 * both are always evaluated */
			expired = sy_svcb_expire(&d->svc[i].b, now, log_expired, &x);
			bool due = sy_svcb_due(&d->svc[i].b, now);

			if ((expired || due) && !d->svc[i].last_event_us)
				d->svc[i].last_event_us = sy_now_us();
			dirty |= d->svc[i].b.dirty;
		}
		if (dirty)
			sy_daemon_publish(d);
		sy_daemon_xdp_refresh(d, false);
		sy_daemon_region_watch(d, sy_now_ms());
		sy_dp_health_sample(d, sy_now_ms());
		sy_bgp_tick(d, sy_now_ms());
		if (d->marks != marks)
			continue; /* changed while publish had the lock released */
		/* wake at least every 50 ms for expiry; at once on a change */
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 50 * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&d->wake, &d->lock, &ts);
	}
	pthread_mutex_unlock(&d->lock);
	sy_logf("info", "\"sy-control stopping; the region stays and keeps serving\"");
	sy_bgp_stop(d); /* every VIP withdrawn first: the routers move away */
	sy_health_stop(d);
	sy_api_stop(d);
	stop_sources(d);
	sy_daemon_xdp_stop(d);
	close_region(d, false);
	return 0;
}
