/* SPDX-License-Identifier: BSD-3-Clause
 *
 * `syctl resolve SERVICE --registry URL ...`: what a client using
 * libswitchyard-resolve sees of a service through the embedded registry's
 * read API or any registry sy-control follows, by its URL (etcd://...,
 * zk://...: the library knows the kinds; sy_resolve_registry_check)
 * (docs/client-side.md): the instance list with its revision and
 * state, and the instance a pick gives (round-robin, a key, or a 5-tuple
 * as `syctl lookup` takes it). With --watch, every change as the
 * resolver's watch delivers it, until --count listings or --timeout.
 *
 * It is the library's own view, not a re-implementation: the resolver is
 * created with the registries as its source and the service opened with
 * the balancer's table size and seed (taken from the registry's answer;
 * with etcd and ZooKeeper, which do not hold them, sy-control's defaults).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <switchyard/flow_hash.h> /* SY_AF_INET6 */
#include <switchyard/resolve.h>

#include "netaddr.h"
#include "syctl.h"

#define POLL_US 10000 /* --watch looks at the local cache this often */

static volatile sig_atomic_t resolve_stop;

static void on_signal(int sig)
{
	(void)sig;
	resolve_stop = 1;
}

static void resolve_usage(FILE *f)
{
	fprintf(f,
		"usage: syctl resolve SERVICE --registry URL [--registry URL...] [--token-file F]\n"
		"                     [--registry-user U --registry-password-file F]\n"
		"                     [--registry-ca-file F] [--registry-cert-file F --registry-key-file F]\n"
		"                     [--key K | --flow 'SRC:PORT DST:PORT tcp|udp']\n"
		"                     [--watch [--count N] [--timeout S]] [--json]\n"
		"The service's instances as libswitchyard-resolve sees them through the\n"
		"embedded registry's read API (URL http://HOST:PORT, several tried in turn;\n"
		"F: registry.embedded.read's token) or etcd (URL\n"
		"etcd://HOST:PORT[,HOST:PORT...][/PREFIX/], the keys sy-control's etcd source\n"
		"reads) or ZooKeeper (URL zk://HOST:PORT[,HOST:PORT...][/PREFIX], the znodes\n"
		"sy-control's ZooKeeper source reads), or another registry sy-control follows\n"
		"by its URL; with these the table size and seed are sy-control's defaults.\n"
		"A registry with authentication on (etcd): log in as U with the password in\n"
		"F (its first line; --etcd-user and --etcd-password-file say the same); over\n"
		"TLS with a CA and a client certificate. With the revision, the\n"
		"state and a pick:\n"
		"round-robin, or consistent hash on a key or a flow (the balancer's Maglev\n"
		"table: a flow gets the backend `syctl lookup` names).\n"
		"The first listing may take up to 10 s (a large service, a loaded host).\n"
		"--watch prints the view again at every change, until N views are printed\n"
		"(--count, default unbounded) or S seconds passed (--timeout), or SIGINT.\n"
		"Exit: 0; 1 no instance to pick; 2 usage; 3 registry unreachable.\n");
}

/* The first listing's wait (the resolver's fetch_timeout_ms), in ms */
#define SYCTL_RESOLVE_FETCH_MS 10000

enum pick_by { BY_RR, BY_KEY, BY_FLOW };

struct resolve_args {
	const char *service;
	char urls[2048];
	const char *registry; /* --registry SCHEME://... of a registry kind */
	const char *token_file;
	const char *user, *password_file, *ca_file, *cert_file, *key_file;
	enum pick_by by;
	const char *key;
	struct sy_resolve_flow flow;
	char flow_text[160];
	int watch, json;
	unsigned long count;    /* 0: unbounded */
	unsigned long timeout_s; /* 0: none */
};

static void inst_id(const struct sy_resolve_instance *x, char *out, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	inet_ntop(x->addr.family == 6 ? AF_INET6 : AF_INET, x->addr.bytes, a, sizeof(a));
	snprintf(out, len, x->addr.family == 6 ? "[%s]:%u" : "%s:%u", a, x->port);
}

/* "SRC:PORT DST:PORT tcp|udp", as `syctl lookup` takes it */
static int parse_flow(const char *s, struct sy_resolve_flow *f)
{
	char src[80], dst[80], proto[8], extra;
	struct sy_backend_id a, b;

	memset(f, 0, sizeof(*f));
	if (sscanf(s, "%79s %79s %7s %c", src, dst, proto, &extra) != 3 ||
	    sy_parse_endpoint(src, &a) || sy_parse_endpoint(dst, &b) || a.family != b.family ||
	    !a.port || !b.port)
		return -1;
	if (!strcmp(proto, "tcp"))
		f->proto = 6;
	else if (!strcmp(proto, "udp"))
		f->proto = 17;
	else
		return -1;
	f->src.family = f->dst.family = a.family == SY_AF_INET6 ? 6 : 4;
	memcpy(f->src.bytes, a.addr, a.family == SY_AF_INET6 ? 16 : 4);
	memcpy(f->dst.bytes, b.addr, b.family == SY_AF_INET6 ? 16 : 4);
	f->sport = a.port;
	f->dport = b.port;
	return 0;
}

static int parse_count(const char *opt, const char *s, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || *out == 0 || *out > 1000000000ul) {
		fprintf(stderr, "syctl resolve: %s: '%s' is not a positive number\n", opt, s);
		return -1;
	}
	return 0;
}

static int parse_args(int argc, char **argv, int json, struct resolve_args *a)
{
	static const struct option opts[] = {
		{ "registry", required_argument, NULL, 'r' }, { "token-file", required_argument, NULL, 't' },
		{ "key", required_argument, NULL, 'k' },      { "flow", required_argument, NULL, 'f' },
		{ "watch", no_argument, NULL, 'w' },          { "count", required_argument, NULL, 'c' },
		{ "timeout", required_argument, NULL, 'T' },  { "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "registry-user", required_argument, NULL, 'U' },
		{ "registry-password-file", required_argument, NULL, 'P' },
		{ "etcd-user", required_argument, NULL, 'U' },
		{ "etcd-password-file", required_argument, NULL, 'P' },
		{ "registry-ca-file", required_argument, NULL, 'A' },
		{ "registry-cert-file", required_argument, NULL, 'C' },
		{ "registry-key-file", required_argument, NULL, 'K' },
		{ NULL, 0, NULL, 0 },
	};
	int c, have_count = 0, have_timeout = 0;

	memset(a, 0, sizeof(*a));
	a->json = json;
	optind = 0; /* GNU: re-initialise (syctl's own options were parsed before) */
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			if (strncmp(optarg, "http://", 7) && strncmp(optarg, "https://", 8)) {
				char why[160];

				if (!strstr(optarg, "://")) {
					fprintf(stderr, "syctl resolve: --registry %s: not http://HOST:PORT (the embedded registry) or a registry's URL (etcd://HOST:PORT[,...][/PREFIX/], zk://HOST:PORT[,...][/PREFIX], ...)\n",
						optarg);
					return -1;
				}
				if (a->urls[0] || a->registry) {
					fprintf(stderr, "syctl resolve: --registry %.*s://... names the whole cluster: give it once, alone\n",
						(int)(strstr(optarg, "://") - optarg), optarg);
					return -1;
				}
				if (sy_resolve_registry_check(optarg, why, sizeof(why))) {
					fprintf(stderr, "syctl resolve: --registry %s: %s\n", optarg, why);
					return -1;
				}
				a->registry = optarg;
				break;
			}
			if (a->registry) {
				fprintf(stderr, "syctl resolve: --registry %.*s://... names the whole cluster: give it once, alone\n",
					(int)(strstr(a->registry, "://") - a->registry), a->registry);
				return -1;
			}
			if (strlen(a->urls) + strlen(optarg) + 2 > sizeof(a->urls)) {
				fprintf(stderr, "syctl resolve: too many --registry\n");
				return -1;
			}
			if (a->urls[0])
				strcat(a->urls, ",");
			strcat(a->urls, optarg);
			break;
		case 't':
			a->token_file = optarg;
			break;
		case 'U':
			a->user = optarg;
			break;
		case 'P':
			a->password_file = optarg;
			break;
		case 'A':
			a->ca_file = optarg;
			break;
		case 'C':
			a->cert_file = optarg;
			break;
		case 'K':
			a->key_file = optarg;
			break;
		case 'k':
		case 'f':
			if (a->by != BY_RR) {
				fprintf(stderr, "syctl resolve: --key and --flow exclude each other\n");
				return -1;
			}
			if (c == 'k') {
				a->by = BY_KEY;
				a->key = optarg;
				break;
			}
			if (parse_flow(optarg, &a->flow)) {
				fprintf(stderr, "syctl resolve: --flow '%s': not 'SRC:PORT DST:PORT tcp|udp' "
						"(one family; IPv6 as [ADDR]:PORT)\n", optarg);
				return -1;
			}
			snprintf(a->flow_text, sizeof(a->flow_text), "%s", optarg);
			a->by = BY_FLOW;
			break;
		case 'w':
			a->watch = 1;
			break;
		case 'c':
			if (parse_count("--count", optarg, &a->count))
				return -1;
			have_count = 1;
			break;
		case 'T':
			if (parse_count("--timeout", optarg, &a->timeout_s))
				return -1;
			have_timeout = 1;
			break;
		case 'j':
			a->json = 1;
			break;
		case 'h':
			resolve_usage(stdout);
			return 1;
		default:
			fprintf(stderr, "syctl resolve: unknown option or missing value: %s\n",
				argv[optind - 1]);
			return -1;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, optind >= argc ? "syctl resolve: which SERVICE?\n"
					       : "syctl resolve: one SERVICE only\n");
		return -1;
	}
	a->service = argv[optind];
	if (!a->urls[0] && !a->registry) {
		fprintf(stderr, "syctl resolve: --registry URL is required\n");
		return -1;
	}
	if ((a->user || a->password_file) &&
	    (!a->user || !a->password_file || !*a->user || !a->registry)) {
		fprintf(stderr, "syctl resolve: --registry-user and --registry-password-file go together, with a registry's URL (etcd://... or zk://...)\n");
		return -1;
	}
	if ((a->ca_file || a->cert_file || a->key_file) &&
	    (!a->registry || !a->cert_file != !a->key_file)) {
		fprintf(stderr, "syctl resolve: --registry-ca-file, --registry-cert-file and --registry-key-file go with a registry's URL (etcd://...); a certificate and its key go together\n");
		return -1;
	}
	if ((have_count || have_timeout) && !a->watch) {
		fprintf(stderr, "syctl resolve: --count and --timeout go with --watch\n");
		return -1;
	}
	return 0;
}

static int do_pick(sy_resolve_service *s, const struct resolve_args *a, struct sy_resolve_pick *p)
{
	switch (a->by) {
	case BY_KEY:
		return sy_resolve_pick_key(s, a->key, strlen(a->key), p);
	case BY_FLOW:
		return sy_resolve_pick_flow(s, &a->flow, p);
	case BY_RR:
		break;
	}
	return sy_resolve_pick_rr(s, p);
}

/* One view: the list, revision, state, the source's error, the pick.
 * Returns the pick's result. */
static int print_view(sy_resolver *r, sy_resolve_service *s, const struct resolve_args *a,
		      const struct sy_resolve_instance *inst, size_t n, uint64_t rev,
		      enum sy_resolve_state st)
{
	static const char *const by_name[] = { "round-robin", "key", "flow" };
	struct sy_resolve_pick p;
	char err[256], id[80];
	int prc = do_pick(s, a, &p);

	sy_resolve_source_error(s, err, sizeof(err));
	if (a->json) {
		json_t *o = json_object(), *list = json_array(), *pick;
		char *text;

		for (size_t i = 0; i < n; i++) {
			char addr[INET6_ADDRSTRLEN];

			inst_id(&inst[i], id, sizeof(id));
			inet_ntop(inst[i].addr.family == 6 ? AF_INET6 : AF_INET, inst[i].addr.bytes, addr,
				  sizeof(addr));
			json_array_append_new(list, json_pack("{s:s, s:s, s:i, s:i, s:s}", "id", id,
							      "address", addr, "port", inst[i].port,
							      "weight", (json_int_t)inst[i].weight,
							      "zone", inst[i].zone));
		}
		if (prc == SY_RESOLVE_OK) {
			inst_id(&p.instance, id, sizeof(id));
			pick = json_pack("{s:s, s:s}", "by", by_name[a->by], "id", id);
			if (a->by == BY_KEY)
				json_object_set_new(pick, "key", json_string(a->key));
			if (a->by == BY_FLOW)
				json_object_set_new(pick, "flow", json_string(a->flow_text));
		} else {
			pick = json_null();
		}
		json_object_set_new(o, "service", json_string(a->service));
		json_object_set_new(o, "revision", json_integer((json_int_t)rev));
		json_object_set_new(o, "state", json_string(sy_resolve_state_str(st)));
		json_object_set_new(o, "source_error", json_string(err));
		json_object_set_new(o, "instances", list);
		json_object_set_new(o, "pick", pick);
		/* --watch: one object per line; else indented as syctl's other reads */
		text = json_dumps(o, JSON_SORT_KEYS | (a->watch ? JSON_COMPACT : JSON_INDENT(2)));
		printf("%s\n", text ? text : "{}");
		free(text);
		json_decref(o);
	} else {
		printf("service %s  revision %llu  state %s  instances %zu\n", a->service,
		       (unsigned long long)rev, sy_resolve_state_str(st), n);
		if (err[0])
			printf("source: %s\n", err);
		for (size_t i = 0; i < n; i++) {
			inst_id(&inst[i], id, sizeof(id));
			printf("  %-46s weight %-5u zone %s\n", id, inst[i].weight,
			       inst[i].zone[0] ? inst[i].zone : "-");
		}
		if (prc == SY_RESOLVE_OK) {
			inst_id(&p.instance, id, sizeof(id));
			if (a->by == BY_KEY)
				printf("pick (key '%s'): %s\n", a->key, id);
			else if (a->by == BY_FLOW)
				printf("pick (flow %s): %s\n", a->flow_text, id);
			else
				printf("pick (round-robin): %s\n", id);
		} else {
			printf("pick: none (%s)\n", sy_resolve_errmsg(r));
		}
	}
	fflush(stdout);
	return prc;
}

int syctl_resolve(int json, int argc, char **argv)
{
	struct sy_resolve_config c;
	struct resolve_args a;
	struct sy_resolve_instance *inst = NULL, *last = NULL;
	size_t cap = 0, n = 0, last_n = 0;
	char why[160];
	uint64_t rev, last_rev = 0, deadline;
	enum sy_resolve_state st, last_st = SY_RESOLVE_NEW;
	unsigned long views = 0;
	sy_resolve_service *s;
	sy_resolver *r;
	int rc = parse_args(argc, argv, json, &a), prc = SY_RESOLVE_OK;

	if (rc)
		return rc > 0 ? SYCTL_OK : SYCTL_USAGE;
	sy_resolve_config_default(&c);
	/* One listing, then exit: wait for it longer than the library's 2 s
	 * for an application's open. 12,000 instances (an 18 MB etcd answer
	 * in pages) took over 2 s on a loaded 2-core host under ASan; a
	 * refused or failing registry is still reported at once. */
	c.fetch_timeout_ms = SYCTL_RESOLVE_FETCH_MS;
	c.registry_urls = a.urls;
	c.registry = a.registry;
	c.read_token_file = a.token_file;
	c.registry_username = a.user;
	c.registry_password_file = a.password_file;
	c.registry_ca_file = a.ca_file;
	c.registry_cert_file = a.cert_file;
	c.registry_key_file = a.key_file;
	if (sy_resolve_config_check(&c, why, sizeof(why))) { /* a kind's limits */
		fprintf(stderr, "syctl resolve: --registry %s: %s\n", a.registry ? a.registry : a.urls,
			why);
		return SYCTL_USAGE;
	}
	if ((rc = sy_resolve_create(&c, &r))) {
		fprintf(stderr, "syctl resolve: %s\n", sy_resolve_strerror(rc));
		return SYCTL_FAILED;
	}
	if ((rc = sy_resolve_service_open(r, a.service, NULL, &s))) {
		fprintf(stderr, "syctl resolve: %s\n", sy_resolve_errmsg(r));
		sy_resolve_destroy(r);
		return rc == SY_RESOLVE_ESOURCE ? SYCTL_UNREACHABLE
		       : rc == SY_RESOLVE_EINVAL ? SYCTL_USAGE
						 : SYCTL_FAILED;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	deadline = a.timeout_s ? syctl_mono_ms() + a.timeout_s * 1000 : 0;
	for (;;) {
		/* the whole set, however large: grow until it fits */
		while (sy_resolve_instances(s, inst, cap, &n, &rev, &st) == SY_RESOLVE_OK && n > cap) {
			struct sy_resolve_instance *bigger = realloc(inst, n * sizeof(*inst));

			if (!bigger) {
				fprintf(stderr, "syctl resolve: out of memory\n");
				prc = SY_RESOLVE_ENOMEM;
				goto out;
			}
			inst = bigger;
			cap = n;
		}
		if (!views || rev != last_rev || st != last_st || n != last_n ||
		    (n && memcmp(inst, last, n * sizeof(*inst)))) {
			struct sy_resolve_instance *copy = realloc(last, (n ? n : 1) * sizeof(*inst));

			if (!copy) {
				prc = SY_RESOLVE_ENOMEM;
				goto out;
			}
			last = copy;
			memcpy(last, inst, n * sizeof(*inst));
			last_n = n;
			last_rev = rev;
			last_st = st;
			prc = print_view(r, s, &a, inst, n, rev, st);
			views++;
		}
		if (!a.watch || resolve_stop || (a.count && views >= a.count) ||
		    (deadline && syctl_mono_ms() >= deadline))
			break;
		usleep(POLL_US);
	}
out:
	free(inst);
	free(last);
	sy_resolve_destroy(r);
	if (a.watch)
		return prc == SY_RESOLVE_ENOMEM ? SYCTL_FAILED : SYCTL_OK;
	return prc == SY_RESOLVE_OK ? SYCTL_OK : SYCTL_FAILED;
}
