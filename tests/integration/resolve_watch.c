/* SPDX-License-Identifier: BSD-3-Clause
 *
 * A resolver client for test_resolve_embedded.sh, test_resolve_etcd.sh and
 * test_resolve_zk.sh: libswitchyard-resolve with the embedded-registry, etcd
 * or ZooKeeper source,
 * through the public API only, picking all the time and printing every
 * change of what it sees.
 *
 *   resolve_watch URLS TOKEN_FILE SERVICE SECONDS
 *
 * URLS "etcd://H:P,H:P": the etcd source (default prefix; TOKEN_FILE
 * ignored); "zk://H:P,H:P": the ZooKeeper source (default prefix,
 * TOKEN_FILE ignored); else the embedded registries' http://H:P,...
 *
 * Opens SERVICE (opts NULL: the balancer's table size and seed), then
 * until SECONDS pass or SIGTERM: every 2 ms, 10 round-robin picks and one
 * key pick; every 5 ms a look at the instance set. Each change of (revision,
 * state, instances) prints one line:
 *   CHANGE ms=EPOCH_MS rev=R state=fresh|stale|fail-static|new n=N ids=A:P,... picks=P failures=F err=SOURCE_ERROR
 * (EPOCH_MS: CLOCK_REALTIME milliseconds, to compare with the test's
 * clock), and at the end
 *   END picks=P failures=F
 * A failure is a pick that returned an error. Exit 0 unless the open or
 * the resolver's creation failed.
 *
 * RESOLVE_WATCH_ETCD_USER and RESOLVE_WATCH_ETCD_PASSWORD_FILE in the
 * environment: the etcd source authenticates as that user.
 *
 * With RESOLVE_WATCH_VIP=A.B.C.D:PORT in the environment, each look also
 * picks 20 flows by Maglev (sy_resolve_pick_flow: 198.18.2.I:(40000+I) ->
 * the VIP, tcp, I = 1..20) and the line says them before err=:
 *   ... failures=F flows=A:P,A:P,... err=...
 * (a change of those picks is a change too).
 */
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <switchyard/resolve.h>

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

/* the picks of the 20 flows to vip ("A:P,..."; "none" for a failed pick) */
static void flows_text(sy_resolve_service *s, const struct sy_resolve_addr *vip, uint16_t port,
		       char *out, size_t len)
{
	size_t off = 0;

	out[0] = 0;
	for (unsigned i = 1; i <= 20 && off < len; i++) {
		struct sy_resolve_flow f = { .dst = *vip, .dport = port, .proto = 6,
					     .sport = (uint16_t)(40000 + i) };
		struct sy_resolve_pick p;
		char a[INET6_ADDRSTRLEN];

		f.src.family = 4;
		f.src.bytes[0] = 198, f.src.bytes[1] = 18, f.src.bytes[2] = 2, f.src.bytes[3] = (uint8_t)i;
		if (sy_resolve_pick_flow(s, &f, &p)) {
			off += (size_t)snprintf(out + off, len - off, "%snone", i > 1 ? "," : "");
			continue;
		}
		inet_ntop(AF_INET, p.instance.addr.bytes, a, sizeof(a));
		off += (size_t)snprintf(out + off, len - off, "%s%s:%u", i > 1 ? "," : "", a,
					p.instance.port);
	}
}

static unsigned long long epoch_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (unsigned long long)ts.tv_sec * 1000u + (unsigned long long)ts.tv_nsec / 1000000u;
}

/* "A:P,A:P" of the set, canonical order */
static void ids_text(const struct sy_resolve_instance *in, size_t n, char *out, size_t len)
{
	size_t off = 0;

	out[0] = 0;
	for (size_t i = 0; i < n && off < len; i++) {
		char a[INET6_ADDRSTRLEN];

		inet_ntop(in[i].addr.family == 6 ? AF_INET6 : AF_INET, in[i].addr.bytes, a, sizeof(a));
		off += (size_t)snprintf(out + off, len - off, in[i].addr.family == 6 ? "%s[%s]:%u" : "%s%s:%u",
					i ? "," : "", a, in[i].port);
	}
}

int main(int argc, char **argv)
{
	struct sy_resolve_config c;
	struct sy_resolve_instance inst[64];
	unsigned long long picks = 0, failures = 0, until;
	char last[4096] = "", now[4096], ids[3500], err[256], flows[512] = "";
	const char *vip_env = getenv("RESOLVE_WATCH_VIP");
	struct sy_resolve_addr vip = { .family = 4 };
	unsigned vip_port = 0;
	sy_resolve_service *s;
	sy_resolver *r;
	int rc;

	if (argc != 5) {
		fprintf(stderr, "usage: resolve_watch URLS TOKEN_FILE SERVICE SECONDS\n");
		return 2;
	}
	signal(SIGTERM, on_term);
	if (vip_env) {
		char a[64];

		if (sscanf(vip_env, "%63[0-9.]:%u", a, &vip_port) != 2 ||
		    inet_pton(AF_INET, a, vip.bytes) != 1) {
			fprintf(stderr, "resolve_watch: RESOLVE_WATCH_VIP '%s' is not A.B.C.D:PORT\n", vip_env);
			return 2;
		}
	}
	sy_resolve_config_default(&c);
	if (!strncmp(argv[1], "etcd://", 7)) {
		c.etcd_endpoints = argv[1] + 7;
		c.etcd_username = getenv("RESOLVE_WATCH_ETCD_USER");
		c.etcd_password_file = getenv("RESOLVE_WATCH_ETCD_PASSWORD_FILE");
	} else if (!strncmp(argv[1], "zk://", 5)) {
		c.zk_servers = argv[1] + 5;
	} else {
		c.registry_urls = argv[1];
		c.read_token_file = argv[2];
	}
	c.watch_wait_ms = 10000;
	c.retry_max_ms = 1000;
	if ((rc = sy_resolve_create(&c, &r))) {
		fprintf(stderr, "resolve_watch: %s\n", sy_resolve_strerror(rc));
		return 1;
	}
	if ((rc = sy_resolve_service_open(r, argv[3], NULL, &s))) {
		fprintf(stderr, "resolve_watch: open %s: %s: %s\n", argv[3], sy_resolve_strerror(rc),
			sy_resolve_errmsg(r));
		sy_resolve_destroy(r);
		return 1;
	}
	until = epoch_ms() + 1000ull * strtoull(argv[4], NULL, 10);
	for (unsigned loop = 0; !stop && epoch_ms() < until; loop++) {
		struct sy_resolve_pick p;
		enum sy_resolve_state st;
		uint64_t rev;
		size_t n;

		for (int i = 0; i < 10; i++, picks++)
			failures += sy_resolve_pick_rr(s, &p) != SY_RESOLVE_OK;
		failures += sy_resolve_pick_key(s, &loop, sizeof(loop), &p) != SY_RESOLVE_OK;
		picks++;
		if (loop % 3 == 0 && sy_resolve_instances(s, inst, 64, &n, &rev, &st) == 0) {
			ids_text(inst, n < 64 ? n : 64, ids, sizeof(ids));
			snprintf(now, sizeof(now), "rev=%llu state=%s n=%zu ids=%s",
				 (unsigned long long)rev, sy_resolve_state_str(st), n, ids);
			if (vip_env) {
				size_t l = strlen(now);

				flows_text(s, &vip, (uint16_t)vip_port, flows, sizeof(flows));
				snprintf(now + l, sizeof(now) - l, "\t%s", flows); /* compared, not printed here */
			}
			if (strcmp(now, last)) {
				memcpy(last, now, sizeof(last));
				*strchrnul(now, '\t') = 0;
				printf("CHANGE ms=%llu %s picks=%llu failures=%llu%s%s err=%s\n", epoch_ms(),
				       now, picks, failures, vip_env ? " flows=" : "", vip_env ? flows : "",
				       sy_resolve_source_error(s, err, sizeof(err)));
				fflush(stdout);
			}
		}
		usleep(2000);
	}
	printf("END picks=%llu failures=%llu\n", picks, failures);
	fflush(stdout);
	sy_resolve_destroy(r);
	return 0;
}
