/* SPDX-License-Identifier: BSD-3-Clause
 *
 * `syctl register`: the backend-side heartbeat agent for the embedded
 * registry. Sends a signed registration every ttl/3 seconds (each one a
 * heartbeat with a fresh timestamp and nonce), keeps trying while the
 * registry is unreachable, and deregisters on SIGTERM/SIGINT. The renewal
 * timing is explained in heartbeat().
 *
 * A fleet of load-balancer hosts each runs its own embedded registry, so a
 * backend registers with every one of them: --registry may be given up to
 * SY_REG_MAX_TARGETS times, and each registry gets a thread of its own that
 * heartbeats it on its own schedule. A registry that does not answer delays
 * nobody but itself.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <switchyard/pkt_quic.h> /* SY_QUIC_SERVER_ID_MAX */

#include "auth.h"
#include "netaddr.h"
#include "syctl.h"
#include "syctl_http.h"
#include "syctl_register_agent.h"

/* Embedded registries one agent heartbeats at most (LB hosts of a fleet). */
#define SY_REG_MAX_TARGETS 16

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Send one signed registration (or deregistration). 0 = accepted. */
static int send_once(const struct sy_http_target *t, const char *path,
		     struct sy_registration *r, const uint8_t *key, size_t klen, int quiet)
{
	char body[SY_REG_MAX_BODY], sig[SY_SIG_HEX_LEN + 1], hdr[128];
	struct sy_http_reply rep;
	int rc = -1;

	r->timestamp_ms = wall_ms();
	r->nonce[0] = 0; /* a fresh nonce every time */
	if (sy_registration_build(r, key, klen, body, sizeof(body), sig)) {
		fprintf(stderr, "syctl register: cannot build the registration\n");
		return -2;
	}
	snprintf(hdr, sizeof(hdr), "X-Switchyard-Signature: %s", sig);
	sy_http_request(t, "POST", path, body, strlen(body), hdr, &rep);
	if (!rep.status) {
		if (!quiet)
			fprintf(stderr, "level=warn msg=\"registry unreachable\" registry=%s error=\"%s\"\n",
				t->base, rep.error);
	} else if (rep.status != 200) {
		const char *msg = rep.json ? json_string_value(json_object_get(rep.json, "error")) : NULL;

		fprintf(stderr, "level=error msg=\"registration refused\" status=%ld error=\"%s\"\n",
			rep.status, msg ? msg : "");
		rc = rep.status >= 400 && rep.status < 500 ? -2 : -1;
	} else {
		rc = 0;
	}
	sy_http_reply_free(&rep);
	return rc;
}

/* One embedded registry the agent heartbeats, in a thread of its own. */
struct reg_target {
	struct sy_http_target t;
	struct sy_registration r; /* this thread's copy: timestamp and nonce change */
	const char *addr;
	const uint8_t *key;
	size_t klen;
	int once;
	int result; /* 0 registered/deregistered, 1 refused, 3 unreachable (--once) */
	pthread_t thread;
};

/* Renewals every ttl/3, counted from the start of the last answered one,
 * not from its answer; a request gets at most ttl/3 (3 s at most); a failed
 * one is retried after ttl/6 (1 s at most). So one renewal lost or stuck in a
 * slow registry still leaves time for another before the TTL runs out (at
 * TTL 5 s: tries at 1.7 s and 4.2 s after the last answered one). */
static void *heartbeat(void *arg)
{
	struct reg_target *g = arg;
	uint32_t third_ms = g->r.ttl_s * 1000 / 3;
	int ok_before = 0;

	g->t.timeout_ms = third_ms < 3000 ? third_ms : 3000;
	while (!stop) {
		uint64_t started = syctl_mono_ms(), next;
		int rc = send_once(&g->t, "/v1/register", &g->r, g->key, g->klen, ok_before);

		if (rc == 0 && !ok_before) {
			printf("level=info msg=registered service=%s addr=%s port=%u ttl_s=%u registry=%s\n",
			       g->r.service, g->addr, g->r.port, g->r.ttl_s, g->t.base);
			fflush(stdout);
		}
		ok_before = rc == 0;
		if (rc == -2) {
			g->result = 1; /* refused: retrying will not help */
			return NULL;
		}
		if (g->once) {
			g->result = rc == 0 ? 0 : 3;
			return NULL;
		}
		next = rc == 0 ? started + third_ms
			       : syctl_mono_ms() + (third_ms / 2 < 1000 ? third_ms / 2 : 1000);
		while (!stop && syctl_mono_ms() < next)
			usleep(20000);
	}
	g->t.timeout_ms = 3000; /* the deregistration is the last word: give it time */
	if (send_once(&g->t, "/v1/deregister", &g->r, g->key, g->klen, 0) == 0) {
		printf("level=info msg=deregistered service=%s addr=%s port=%u registry=%s\n",
		       g->r.service, g->addr, g->r.port, g->t.base);
		fflush(stdout);
	}
	g->result = 0;
	return NULL;
}

/* Heartbeat every target until SIGTERM/SIGINT (or once), each in its own
 * thread, then deregister from each. Exit code: 1 if a registry refused the
 * registration, else 3 if one could not be reached with --once, else 0. A
 * registry that refuses stops its own thread only; the agent goes on with
 * the others and ends when none is left. */
static int run_targets(struct reg_target *targets, size_t n, const struct sy_registration *r,
		       const char *addr, const uint8_t *key, size_t klen, int once)
{
	int rc = 0;
	size_t started = 0;

	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, SIG_IGN);
	/* before any thread: libcurl's global state is set up once */
	curl_global_init(CURL_GLOBAL_DEFAULT);
	for (size_t i = 0; i < n; i++) {
		struct reg_target *g = &targets[i];

		g->r = *r;
		g->addr = addr;
		g->key = key;
		g->klen = klen;
		g->once = once;
		g->result = 0;
		if (pthread_create(&g->thread, NULL, heartbeat, g)) {
			fprintf(stderr, "syctl register: cannot start a thread for %s\n", g->t.base);
			stop = 1;
			rc = 1;
			break;
		}
		started++;
	}
	for (size_t i = 0; i < started; i++) {
		pthread_join(targets[i].thread, NULL);
		if (targets[i].result == 1)
			rc = 1;
		else if (targets[i].result == 3 && rc == 0)
			rc = 3;
	}
	curl_global_cleanup();
	return rc;
}

/* --server-id: decimal or 0x hex, 1..SY_QUIC_SERVER_ID_MAX. */
static int parse_server_id_arg(const char *arg, uint32_t *out)
{
	char *end;
	unsigned long v = strtoul(arg, &end, 0);

	if (!*arg || *end || *arg == '-' || v < 1 || v > SY_QUIC_SERVER_ID_MAX) {
		fprintf(stderr, "syctl register: --server-id '%s' out of range (1..%u)\n", arg,
			SY_QUIC_SERVER_ID_MAX);
		return -1;
	}
	*out = (uint32_t)v;
	return 0;
}

static void register_usage(FILE *f)
{
	fprintf(f,
		"usage: syctl register --service S --addr A --port P --registry URL [--registry URL...]\n"
		"                      [--key-file F]\n"
		"                      [--weight N] [--ttl S] [--zone Z] [--metadata JSON]\n"
		"                      [--server-id ID] [--once]\n"
		"                      [--registry-user U --registry-password-file F]\n"
		"                      [--registry-ca-file F]\n"
		"                      [--registry-cert-file F --registry-key-file F]\n"
		"Registers this backend and renews the registration every TTL/3 until SIGTERM or\n"
		"SIGINT, then deregisters (--once: one registration, then exit).\n"
		"  --registry URL   http://HOST:PORT: sy-control's embedded registry (--key-file\n"
		"                   F: the service's key); etcd://HOST:PORT[,...]: a lease;\n"
		"                   zk://HOST:PORT[,...]: an ephemeral znode (any registry kind\n"
		"                   sy-control follows, by its URL). Several http://\n"
		"                   (up to 16: the embedded registries of a fleet's LB hosts)\n"
		"                   are heartbeated independently, one thread each\n"
		"  --addr A         the backend's address (not loopback, multicast, broadcast or\n"
		"                   unspecified), --port P 1..65535\n"
		"  --weight N       0..65535 (default 1)   --ttl S  2..3600 (default 5)\n"
		"  --zone Z         a label                --metadata JSON  an object\n"
		"  --server-id ID   QUIC server ID this backend writes into its connection IDs,\n"
		"                   1..16777215 (0x1..0xffffff; quic services, docs/dataplane.md)\n"
		"  --registry-user U --registry-password-file F   a registry with authentication\n"
		"                   on: etcd: log in as U with the password in F (its first line);\n"
		"                   ZooKeeper: digest credentials U:password, the znodes made\n"
		"                   owned by them and readable by anyone\n"
		"  --registry-ca-file F, --registry-cert-file F --registry-key-file F   a\n"
		"                   registry over TLS (etcd): https to every endpoint, the server\n"
		"                   checked against the CA in F, with a client certificate and its\n"
		"                   key (PEM files). The --etcd-* spellings of these say the same.\n"
		"Exit codes: 0 deregistered (or --once registered), 1 a registry refused it,\n"
		"2 usage, 3 a registry could not be reached (--once).\n");
}

int syctl_register(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "service", required_argument, 0, 's' },  { "addr", required_argument, 0, 'a' },
		{ "port", required_argument, 0, 'p' },     { "weight", required_argument, 0, 'w' },
		{ "ttl", required_argument, 0, 't' },      { "key-file", required_argument, 0, 'k' },
		{ "registry", required_argument, 0, 'r' }, { "zone", required_argument, 0, 'z' },
		{ "metadata", required_argument, 0, 'm' }, { "once", no_argument, 0, 'o' },
		{ "server-id", required_argument, 0, 'i' }, { "help", no_argument, 0, 'h' },
		{ "registry-user", required_argument, 0, 'U' },
		{ "registry-password-file", required_argument, 0, 'P' },
		{ "registry-ca-file", required_argument, 0, 'C' },
		{ "registry-cert-file", required_argument, 0, 'E' },
		{ "registry-key-file", required_argument, 0, 'K' },
		{ "etcd-user", required_argument, 0, 'U' }, /* the older spellings */
		{ "etcd-password-file", required_argument, 0, 'P' },
		{ "etcd-ca-file", required_argument, 0, 'C' },
		{ "etcd-cert-file", required_argument, 0, 'E' },
		{ "etcd-key-file", required_argument, 0, 'K' },
		{ 0, 0, 0, 0 },
	};
	struct sy_registration r = { .weight = 1, .ttl_s = 5 };
	static struct reg_target targets[SY_REG_MAX_TARGETS];
	const char *key_file = NULL, *addr = NULL, *base = NULL;
	struct syctl_registry_access access = { 0 };
	size_t n_targets = 0;
	uint8_t key[SY_KEY_MAX];
	size_t klen = 0;
	char err[256];
	int c, once = 0, kind;
	long v;
	char *end;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			snprintf(r.service, sizeof(r.service), "%s", optarg);
			break;
		case 'a':
			addr = optarg;
			break;
		case 'p':
		case 'w':
		case 't':
			v = strtol(optarg, &end, 10);
			if (*end || !*optarg || v < (c == 'w' ? 0 : c == 't' ? 2 : 1) ||
			    v > (c == 't' ? 3600 : 65535)) {
				fprintf(stderr, "syctl register: --%s '%s' out of range\n",
					c == 'p' ? "port" : c == 'w' ? "weight" : "ttl", optarg);
				return 2;
			}
			if (c == 'p')
				r.port = (uint16_t)v;
			else if (c == 'w')
				r.weight = (uint32_t)v;
			else
				r.ttl_s = (uint32_t)v;
			break;
		case 'k':
			key_file = optarg;
			break;
		case 'r':
			if (n_targets == SY_REG_MAX_TARGETS) {
				fprintf(stderr, "syctl register: at most %d --registry\n",
					SY_REG_MAX_TARGETS);
				return SYCTL_USAGE;
			}
			memset(&targets[n_targets], 0, sizeof(targets[n_targets]));
			targets[n_targets].t.base = optarg;
			targets[n_targets++].t.timeout_ms = 3000;
			base = targets[0].t.base;
			break;
		case 'z':
			snprintf(r.zone, sizeof(r.zone), "%s", optarg);
			break;
		case 'm':
			snprintf(r.metadata_json, sizeof(r.metadata_json), "%s", optarg);
			break;
		case 'o':
			once = 1;
			break;
		case 'i':
			if (parse_server_id_arg(optarg, &r.server_id))
				return SYCTL_USAGE;
			break;
		case 'U':
			access.user = optarg;
			break;
		case 'P':
			access.password_file = optarg;
			break;
		case 'C':
			access.ca_file = optarg;
			break;
		case 'E':
			access.cert_file = optarg;
			break;
		case 'K':
			access.key_file = optarg;
			break;
		case 'h':
			register_usage(stdout);
			return SYCTL_OK;
		default:
			register_usage(stderr);
			return SYCTL_USAGE;
		}
	}
	if (addr) { /* the same rule as for every backend (netaddr.h) */
		uint32_t a[4];
		uint8_t f;
		const char *why;

		if (!sy_parse_ip(addr, &f, a) && (why = sy_backend_addr_unusable(f, a))) {
			fprintf(stderr, "syctl register: --addr %s cannot be a backend: %s\n", addr,
				why);
			return SYCTL_USAGE;
		}
	}
	for (size_t i = 0; i < n_targets; i++) {
		const char *b = targets[i].t.base;

		if (strncmp(b, "http://", 7) && (n_targets > 1 || !strstr(b, "://"))) {
			fprintf(stderr, "syctl register: --registry '%s': %s\n", b,
				n_targets > 1 ? "several registries must all be http://HOST:PORT (embedded registries of a fleet); an etcd or ZooKeeper cluster is one --registry with its hosts comma-separated"
					      : "must be http://HOST:PORT (the embedded registry), etcd://HOST:PORT[,HOST:PORT...] or zk://HOST:PORT[,HOST:PORT...]");
			return SYCTL_USAGE;
		}
		if (!strncmp(b, "http://", 7) && sy_check_http_base(b, err, sizeof(err))) {
			fprintf(stderr, "syctl register: --registry '%s': %s\n", b, err);
			return SYCTL_USAGE;
		}
		for (size_t j = 0; j < i; j++)
			if (!strcmp(b, targets[j].t.base)) {
				fprintf(stderr, "syctl register: --registry '%s' given twice\n", b);
				return SYCTL_USAGE;
			}
	}
	/* a registry kind's URL (etcd://, zk://, ...), not the embedded registry */
	kind = base && strncmp(base, "http://", 7);
	if ((access.user || access.password_file) &&
	    (!access.user || !access.password_file || !*access.user || !kind)) {
		fprintf(stderr, "syctl register: --registry-user and --registry-password-file go together, with a registry's URL (etcd://... or zk://...)\n");
		return SYCTL_USAGE;
	}
	if ((access.ca_file || access.cert_file || access.key_file) &&
	    (!kind || !access.cert_file != !access.key_file ||
	     (access.ca_file && !*access.ca_file) ||
	     (access.cert_file && (!*access.cert_file || !*access.key_file)))) {
		fprintf(stderr, "syctl register: --registry-ca-file, --registry-cert-file and --registry-key-file go with a registry's URL (etcd://...); a certificate and its key go together\n");
		return SYCTL_USAGE;
	}
	/* no key with a registry kind: the registry's own access control */
	if (!r.service[0] || !addr || !r.port || (!key_file && !kind) || !base) {
		fprintf(stderr, "syctl register: --service, --addr, --port, --registry and (with http://) --key-file are required\n");
		return 2;
	}
	if (inet_pton(AF_INET, addr, r.addr) == 1) {
		r.family = 4;
	} else if (inet_pton(AF_INET6, addr, r.addr) == 1) {
		r.family = 6;
	} else {
		fprintf(stderr, "syctl register: --addr '%s' is not an IP address\n", addr);
		return 2;
	}
	if (r.metadata_json[0]) {
		json_t *m = json_loads(r.metadata_json, 0, NULL);

		if (!json_is_object(m)) {
			fprintf(stderr, "syctl register: --metadata must be a JSON object\n");
			json_decref(m);
			return 2;
		}
		json_decref(m);
	}
	if (kind) { /* the agent of the URL's registry kind (registry_kinds.h) */
		int rc = SYCTL_AGENT_NOT_MINE;
#define TRY_AGENT(ID, name, req, dir, sdesc, kdesc, a, b)                                    \
	if (rc == SYCTL_AGENT_NOT_MINE)                                                      \
		rc = syctl_register_##name(base, &r, addr, once, &access);
		SY_REGISTRY_KINDS(TRY_AGENT, ~, ~)
#undef TRY_AGENT
		if (rc == SYCTL_AGENT_NOT_MINE) {
			fprintf(stderr, "syctl register: --registry '%s': no registry kind of this syctl has that scheme (etcd://, zk://, ...)\n",
				base);
			return SYCTL_USAGE;
		}
		return rc;
	}
	if (sy_key_load(key_file, key, &klen, err, sizeof(err))) {
		fprintf(stderr, "syctl register: %s\n", err);
		return 2;
	}
	return run_targets(targets, n_targets, &r, addr, key, klen, once);
}
