/* SPDX-License-Identifier: BSD-3-Clause
 *
 * `syctl register`: the backend-side heartbeat agent for the embedded
 * registry. Sends a signed registration every ttl/3 seconds (each one a
 * heartbeat with a fresh timestamp and nonce), keeps trying while the
 * registry is unreachable, and deregisters on SIGTERM/SIGINT. The renewal
 * timing is explained in syctl_register().
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "auth.h"
#include "netaddr.h"
#include "syctl.h"
#include "syctl_http.h"
#include "syctl_register_etcd.h"
#include "syctl_register_zk.h"

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

static void register_usage(FILE *f)
{
	fprintf(f,
		"usage: syctl register --service S --addr A --port P --registry URL [--key-file F]\n"
		"                      [--weight N] [--ttl S] [--zone Z] [--metadata JSON] [--once]\n"
		"Registers this backend and renews the registration every TTL/3 until SIGTERM or\n"
		"SIGINT, then deregisters (--once: one registration, then exit).\n"
		"  --registry URL   http://HOST:PORT: sy-control's embedded registry (--key-file\n"
		"                   F: the service's key); etcd://HOST:PORT[,...]: a lease;\n"
		"                   zk://HOST:PORT[,...]: an ephemeral znode\n"
		"  --addr A         the backend's address (not loopback, multicast, broadcast or\n"
		"                   unspecified), --port P 1..65535\n"
		"  --weight N       0..65535 (default 1)   --ttl S  2..3600 (default 5)\n"
		"  --zone Z         a label                --metadata JSON  an object\n"
		"Exit codes: 0 deregistered (or --once registered), 1 the registry refused it,\n"
		"2 usage, 3 the registry could not be reached (--once).\n");
}

int syctl_register(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "service", required_argument, 0, 's' },  { "addr", required_argument, 0, 'a' },
		{ "port", required_argument, 0, 'p' },     { "weight", required_argument, 0, 'w' },
		{ "ttl", required_argument, 0, 't' },      { "key-file", required_argument, 0, 'k' },
		{ "registry", required_argument, 0, 'r' }, { "zone", required_argument, 0, 'z' },
		{ "metadata", required_argument, 0, 'm' }, { "once", no_argument, 0, 'o' },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	struct sy_registration r = { .weight = 1, .ttl_s = 5 };
	struct sy_http_target t = { .timeout_ms = 3000 };
	const char *key_file = NULL, *addr = NULL;
	uint8_t key[SY_KEY_MAX];
	size_t klen = 0;
	char err[256];
	int c, once = 0, ok_before = 0, etcd;
	uint32_t third_ms;
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
			t.base = optarg;
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
	if (t.base && !strncmp(t.base, "zk://", 5)) /* ZooKeeper: syctl_register_zk.c */
		return syctl_register_zk(t.base, &r, addr, once);
	etcd = t.base && !strncmp(t.base, "etcd://", 7); /* no key: etcd's auth protects it */
	if (!r.service[0] || !addr || !r.port || (!key_file && !etcd) || !t.base) {
		fprintf(stderr, "syctl register: --service, --addr, --port, --registry and (not with etcd://) --key-file are required\n");
		return 2;
	}
	if (!etcd && (strncmp(t.base, "http://", 7) || sy_check_http_base(t.base, err, sizeof(err)))) {
		fprintf(stderr, "syctl register: --registry must be http://HOST:PORT (the embedded registry), etcd://HOST:PORT[,HOST:PORT...] or zk://HOST:PORT[,HOST:PORT...]\n");
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
	if (etcd)
		return syctl_register_etcd(&r, t.base, once);
	if (sy_key_load(key_file, key, &klen, err, sizeof(err))) {
		fprintf(stderr, "syctl register: %s\n", err);
		return 2;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, SIG_IGN);

	/* Renewals every ttl/3, counted from the start of the last answered
	 * one, not from its answer; a request gets at most ttl/3 (3 s at
	 * most); a failed one is retried after ttl/6 (1 s at most). So one
	 * renewal lost or stuck in a slow registry still leaves time for
	 * another before the TTL runs out (at TTL 5 s: tries at 1.7 s and 4.2 s
	 * after the last answered one). */
	third_ms = r.ttl_s * 1000 / 3;
	t.timeout_ms = third_ms < 3000 ? third_ms : 3000;
	while (!stop) {
		uint64_t started = syctl_mono_ms(), next;
		int rc = send_once(&t, "/v1/register", &r, key, klen, ok_before);

		if (rc == 0 && !ok_before) {
			printf("level=info msg=registered service=%s addr=%s port=%u ttl_s=%u\n",
			       r.service, addr, r.port, r.ttl_s);
			fflush(stdout);
		}
		ok_before = rc == 0;
		if (rc == -2)
			return 1; /* refused: retrying will not help */
		if (once)
			return rc == 0 ? 0 : 3;
		next = rc == 0 ? started + third_ms
			       : syctl_mono_ms() + (third_ms / 2 < 1000 ? third_ms / 2 : 1000);
		while (!stop && syctl_mono_ms() < next)
			usleep(20000);
	}
	t.timeout_ms = 3000; /* the deregistration is the last word: give it time */
	if (send_once(&t, "/v1/deregister", &r, key, klen, 0) == 0)
		printf("level=info msg=deregistered service=%s addr=%s port=%u\n", r.service, addr,
		       r.port);
	return 0;
}
