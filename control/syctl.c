/* SPDX-License-Identifier: BSD-3-Clause
 *
 * syctl: the operator's CLI for sy-control, and the backends' heartbeat
 * agent (`syctl register`). See `syctl --help` and docs/control.md.
 *
 * Exit codes: 0 success; 1 sy-control answered with an error; 2 usage
 * error; 3 sy-control (or the registry) could not be reached.
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include <switchyard/port_stats.h>

#include "netaddr.h"
#include "syctl.h"
#include "syctl_http.h"
#include "syctl_import_ipvs.h"
#include "syctl_top.h"

#define EXIT_API 1
#define EXIT_USAGE 2
#define EXIT_UNREACHABLE 3

static void usage(FILE *f)
{
	fprintf(f,
		"usage: syctl [--socket PATH | --instance NAME | --url URL [--token-file F]] [--json] COMMAND\n"
		"       syctl --version | --help\n"
		"commands:\n"
		"  status                               instance, generation, registry state, degraded services\n"
		"  services                             services with VIP, mode, backends, digest\n"
		"  backends SVC                         backends of a service and their state\n"
		"  add SVC ADDR:PORT [WEIGHT [MAC]]     add a backend (operator source)\n"
		"  remove SVC ADDR:PORT                 remove a backend\n"
		"  drain SVC ADDR:PORT                  weight 0: keep its flows, send no new ones\n"
		"  weight SVC ADDR:PORT WEIGHT          set a backend's weight (0..65535)\n"
		"  lookup SVC SRC:PORT DST:PORT tcp|udp which backend a flow gets, and why\n"
		"  table SVC                            Maglev table digest and per-backend share\n"
		"  stats                                dataplane counters\n"
		"  top [-d SECONDS] [-n ITERATIONS] [SVC]\n"
		"                                       refreshing per-VIP and per-backend rates\n"
		"                                       (q or Ctrl-C quits; plain text when not a terminal)\n"
		"  reload                               re-read the configuration\n"
		"  register --service S --addr A --port P --registry URL [--key-file F]\n"
		"           [--weight N] [--ttl S] [--zone Z] [--metadata JSON]\n"
		"                                       heartbeat agent: registers and renews until\n"
		"                                       SIGTERM/SIGINT, then deregisters. URL is\n"
		"                                       http://HOST:PORT (embedded registry, needs\n"
		"                                       --key-file), etcd://HOST:PORT[,...] (a lease)\n"
		"                                       or zk://HOST:PORT[,...] (an ephemeral znode)\n"
		"  import-ipvs [-o FILE] [OPTIONS] [FILE]\n"
		"                                       `ipvsadm -Sn` output -> configuration (--help)\n"
		"  version                              syctl's version (also --version)\n"
		"IPv6 endpoints are written [ADDR]:PORT. Default socket: /run/switchyard/switchyard.sock\n"
		"(or $SYCTL_SOCKET). Exit codes: 0 ok, 1 API error, 2 usage, 3 unreachable.\n");
}

/* "ADDR:PORT" or "[ADDR]:PORT" -> address text and port; -1 if malformed. */
static int endpoint_text(const char *s, char *addr, size_t alen, unsigned *port)
{
	struct sy_backend_id id;

	if (sy_parse_endpoint(s, &id))
		return -1;
	sy_format_ip(id.family, id.addr, addr, alen);
	*port = id.port;
	return 0;
}

static int call(const struct sy_http_target *t, const char *method, const char *path,
		json_t *body, json_t **out)
{
	struct sy_http_reply r;
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	int rc;

	sy_http_request(t, method, path, text, text ? strlen(text) : 0, NULL, &r);
	free(text);
	if (!r.status) {
		fprintf(stderr, "syctl: cannot reach sy-control at %s: %s\n",
			t->socket ? t->socket : t->base, r.error);
		sy_http_reply_free(&r);
		return EXIT_UNREACHABLE;
	}
	if (r.status >= 400) {
		const char *msg = r.json ? json_string_value(json_object_get(r.json, "error")) : NULL;

		fprintf(stderr, "syctl: %s %s: %ld %s\n", method, path, r.status,
			msg ? msg : (r.body ? r.body : ""));
		rc = EXIT_API;
	} else if (!r.json) {
		fprintf(stderr, "syctl: %s %s: answer is not JSON\n", method, path);
		rc = EXIT_API;
	} else {
		rc = 0;
		*out = json_incref(r.json);
	}
	sy_http_reply_free(&r);
	return rc;
}

static const char *s_(json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));

	return v ? v : "-";
}

static long long i_(json_t *o, const char *k)
{
	return json_integer_value(json_object_get(o, k));
}

static void print_status(json_t *j)
{
	size_t i;
	json_t *d;

	printf("instance    %s\n", s_(j, "instance"));
	printf("version     %s\n", s_(j, "version"));
	printf("region      %s (%s)\n", s_(j, "region"),
	       json_is_true(json_object_get(j, "adopted")) ? "adopted" : "created");
	printf("generation  %lld\n", i_(j, "generation"));
	printf("services    %lld\n", i_(j, "services"));
	printf("uptime      %lld s\n", i_(j, "uptime_s"));
	printf("publishes   %lld (errors %lld)\n", i_(j, "publishes"), i_(j, "publish_errors"));
	{
		const char *name;
		json_t *src;

		json_object_foreach(json_object_get(j, "sources"), name, src)
			printf("source      %-9s %s\n", name, s_(src, "state"));
	}
	d = json_object_get(j, "degraded");
	printf("state       %s\n", json_array_size(d) ? "DEGRADED" : "ok");
	json_array_foreach(d, i, j)
		printf("  %s: %s\n", s_(j, "service"), s_(j, "reason"));
}

static void print_services(json_t *j)
{
	size_t i;
	json_t *s;

	printf("%-16s %-28s %-6s %-6s %8s %9s %-16s %s\n", "SERVICE", "VIP", "PROTO", "MODE",
	       "M", "BACKENDS", "DIGEST", "STATE");
	json_array_foreach(json_object_get(j, "services"), i, s) {
		char vip[80], port[8] = "all";

		if (i_(s, "port"))
			snprintf(port, sizeof(port), "%lld", i_(s, "port"));
		snprintf(vip, sizeof(vip), strchr(s_(s, "vip"), ':') ? "[%s]:%s" : "%s:%s",
			 s_(s, "vip"), port);
		printf("%-16s %-28s %-6s %-6s %8lld %4lld/%-4lld %-16s %s\n", s_(s, "name"), vip,
		       s_(s, "protocol"), s_(s, "mode"), i_(s, "table_size"), i_(s, "live"),
		       i_(s, "backends"), s_(s, "digest"), s_(s, "state"));
	}
}

static void print_backends(json_t *j)
{
	size_t i;
	json_t *b;

	printf("%-32s %6s %9s %-11s %-9s %-6s %s\n", "BACKEND", "WEIGHT", "EFFECTIVE", "STATE",
	       "SOURCE", "ZONE", "LAST SEEN");
	json_array_foreach(json_object_get(j, "backends"), i, b) {
		char ep[80];
		json_t *ago = json_object_get(b, "last_seen_ms_ago");

		snprintf(ep, sizeof(ep), strchr(s_(b, "address"), ':') ? "[%s]:%lld" : "%s:%lld",
			 s_(b, "address"), i_(b, "port"));
		printf("%-32s %6lld %9lld %-11s %-9s %-6s ", ep, i_(b, "weight"),
		       i_(b, "effective_weight"), s_(b, "state"), s_(b, "source"), s_(b, "zone"));
		if (json_is_integer(ago))
			printf("%.1f s ago\n", (double)json_integer_value(ago) / 1000.0);
		else
			printf("-\n");
	}
}

static void print_table(json_t *j)
{
	size_t i;
	json_t *b;

	printf("service %s  M=%lld  digest=%s\n", s_(j, "service"), i_(j, "table_size"),
	       s_(j, "digest"));
	printf("%-32s %6s %9s %8s\n", "BACKEND", "WEIGHT", "ENTRIES", "SHARE");
	json_array_foreach(json_object_get(j, "backends"), i, b) {
		char ep[80];

		snprintf(ep, sizeof(ep), "%s:%lld", s_(b, "address"), i_(b, "port"));
		printf("%-32s %6lld %9lld %7.3f%%\n", ep, i_(b, "weight"), i_(b, "entries"),
		       100.0 * json_real_value(json_object_get(b, "share")));
	}
}

static void print_lookup(json_t *j)
{
	printf("service  %s\nbackend  %s\nwhy      %s\n", s_(j, "service"), s_(j, "backend"),
	       s_(j, "reason"));
	if (json_object_get(j, "slot"))
		printf("slot     %lld of %lld (flow hash %s)\n", i_(j, "slot"), i_(j, "table_size"),
		       s_(j, "hash"));
	/* a tracked flow pinned away from where the table now sends new flows */
	if (json_is_string(json_object_get(j, "new_flow_backend")) &&
	    strcmp(s_(j, "new_flow_backend"), s_(j, "backend")))
		printf("new flows of this slot go to %s\n", s_(j, "new_flow_backend"));
}

static void print_stats(json_t *j)
{
	const char *k, *ep;
	json_t *v, *svc, *be, *port;
	size_t i;

	json_object_foreach(json_object_get(j, "counters"), k, v)
		if (json_integer_value(v))
			printf("%-22s %lld\n", k, json_integer_value(v));
	json_object_foreach(json_object_get(j, "services"), k, svc) {
		printf("service %-16s packets %lld bytes %lld drops %lld new_flows %lld\n", k,
		       i_(svc, "packets"), i_(svc, "bytes"), i_(svc, "drops"), i_(svc, "new_flows"));
		json_object_foreach(json_object_get(svc, "backends"), ep, be)
			printf("  backend %-30s packets %lld bytes %lld weight %lld\n", ep,
			       i_(be, "packets"), i_(be, "bytes"), i_(be, "weight"));
	}
	/* the NIC's own counters, as the dataplane last copied them */
	json_array_foreach(json_object_get(j, "ports"), i, port) {
		printf("port %lld %s (%lld ms ago):", i_(port, "port"), s_(port, "device"),
		       i_(port, "age_ms"));
#define SY_X(field, name, help) printf(" %s %lld", name, i_(port, name));
		SY_PORT_COUNTERS(SY_X)
#undef SY_X
		printf("\n");
	}
}

static char *read_token(const char *path)
{
	static char tok[512];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return NULL;
	n = fread(tok, 1, sizeof(tok) - 1, f);
	fclose(f);
	while (n && (tok[n - 1] == '\n' || tok[n - 1] == '\r' || tok[n - 1] == ' '))
		n--;
	tok[n] = 0;
	return tok;
}

static int need(int argc, int want, const char *cmd)
{
	if (argc == want)
		return 0;
	fprintf(stderr, "syctl %s: wrong number of arguments (see syctl --help)\n", cmd);
	return -1;
}

static int backend_path(char *path, size_t len, const char *svc, const char *ep,
			const char *suffix)
{
	char addr[64];
	unsigned port;

	if (endpoint_text(ep, addr, sizeof(addr), &port)) {
		fprintf(stderr, "syctl: '%s' is not ADDR:PORT (IPv6: [ADDR]:PORT)\n", ep);
		return -1;
	}
	snprintf(path, len, "/v1/services/%s/backends/%s%s%s:%u%s", svc,
		 strchr(addr, ':') ? "[" : "", addr, strchr(addr, ':') ? "]" : "", port, suffix);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, 0, 's' }, { "instance", required_argument, 0, 'i' },
		{ "url", required_argument, 0, 'u' },    { "token-file", required_argument, 0, 't' },
		{ "json", no_argument, 0, 'j' },         { "help", no_argument, 0, 'h' },
		{ "version", no_argument, 0, 'V' },
		{ 0, 0, 0, 0 },
	};
	struct sy_http_target t = { .base = "http://localhost" };
	char sock[300], path[512];
	const char *cmd;
	json_t *out = NULL, *body = NULL;
	int json = 0, c, rc;
	void (*printer)(json_t *) = NULL;

	t.socket = getenv("SYCTL_SOCKET") ? getenv("SYCTL_SOCKET") : "/run/switchyard/switchyard.sock";
	/* options before the command; the command's own options are its own */
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			t.socket = optarg;
			break;
		case 'i':
			snprintf(sock, sizeof(sock), "/run/switchyard/%s.sock", optarg);
			t.socket = sock;
			break;
		case 'u':
			t.base = optarg;
			t.socket = NULL;
			break;
		case 't':
			t.token = read_token(optarg);
			if (!t.token) {
				fprintf(stderr, "syctl: cannot read token file %s\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("syctl %s\n", SY_VERSION);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	cmd = argv[optind];
	argc -= optind;
	argv += optind;
	curl_global_init(CURL_GLOBAL_DEFAULT);

	if (!strcmp(cmd, "version")) {
		printf("syctl %s\n", SY_VERSION);
		return 0;
	}
	if (!strcmp(cmd, "register"))
		return syctl_register(argc, argv);
	if (!strcmp(cmd, "import-ipvs"))
		return syctl_import_ipvs(argc, argv);
	if (!strcmp(cmd, "top"))
		return syctl_top(&t, json, argc, argv);
	if (!strcmp(cmd, "status") && !need(argc, 1, cmd)) {
		rc = call(&t, "GET", "/v1/status", NULL, &out);
		printer = print_status;
	} else if (!strcmp(cmd, "services") && !need(argc, 1, cmd)) {
		rc = call(&t, "GET", "/v1/services", NULL, &out);
		printer = print_services;
	} else if (!strcmp(cmd, "backends") && !need(argc, 2, cmd)) {
		snprintf(path, sizeof(path), "/v1/services/%s/backends", argv[1]);
		rc = call(&t, "GET", path, NULL, &out);
		printer = print_backends;
	} else if (!strcmp(cmd, "table") && !need(argc, 2, cmd)) {
		snprintf(path, sizeof(path), "/v1/services/%s/table", argv[1]);
		rc = call(&t, "GET", path, NULL, &out);
		printer = print_table;
	} else if (!strcmp(cmd, "stats") && !need(argc, 1, cmd)) {
		rc = call(&t, "GET", "/v1/stats", NULL, &out);
		printer = print_stats;
	} else if (!strcmp(cmd, "reload") && !need(argc, 1, cmd)) {
		rc = call(&t, "POST", "/v1/reload", NULL, &out);
	} else if (!strcmp(cmd, "add") && argc >= 3 && argc <= 5) {
		char addr[64];
		unsigned port;
		char *end = NULL;
		long w = argc > 3 ? strtol(argv[3], &end, 10) : 1;

		if (endpoint_text(argv[2], addr, sizeof(addr), &port) ||
		    (end && (*end || w < 0 || w > 65535))) {
			fprintf(stderr, "syctl add: need SVC ADDR:PORT [WEIGHT 0..65535 [MAC]]\n");
			return EXIT_USAGE;
		}
		body = json_pack("{s:s, s:i, s:i}", "address", addr, "port", (int)port, "weight", (int)w);
		if (argc > 4)
			json_object_set_new(body, "mac", json_string(argv[4]));
		snprintf(path, sizeof(path), "/v1/services/%s/backends", argv[1]);
		rc = call(&t, "POST", path, body, &out);
	} else if ((!strcmp(cmd, "remove") || !strcmp(cmd, "drain")) && !need(argc, 3, cmd)) {
		if (backend_path(path, sizeof(path), argv[1], argv[2],
				 !strcmp(cmd, "drain") ? "/drain" : ""))
			return EXIT_USAGE;
		rc = call(&t, !strcmp(cmd, "drain") ? "POST" : "DELETE", path, NULL, &out);
	} else if (!strcmp(cmd, "weight") && !need(argc, 4, cmd)) {
		char *end;
		long w = strtol(argv[3], &end, 10);

		if (*end || !*argv[3] || w < 0 || w > 65535) {
			fprintf(stderr, "syctl weight: '%s' is not a weight (0..65535)\n", argv[3]);
			return EXIT_USAGE;
		}
		if (backend_path(path, sizeof(path), argv[1], argv[2], "/weight"))
			return EXIT_USAGE;
		body = json_pack("{s:i}", "weight", (int)w);
		rc = call(&t, "POST", path, body, &out);
	} else if (!strcmp(cmd, "lookup") && !need(argc, 5, cmd)) {
		char src[64], dst[64];
		unsigned sp, dp;

		if (endpoint_text(argv[2], src, sizeof(src), &sp) ||
		    endpoint_text(argv[3], dst, sizeof(dst), &dp) ||
		    (strcmp(argv[4], "tcp") && strcmp(argv[4], "udp"))) {
			fprintf(stderr, "syctl lookup: need SVC SRC:PORT DST:PORT tcp|udp\n");
			return EXIT_USAGE;
		}
		snprintf(path, sizeof(path), "/v1/lookup?service=%s&src=%s&sport=%u&dst=%s&dport=%u&proto=%s",
			 argv[1], src, sp, dst, dp, argv[4]);
		rc = call(&t, "GET", path, NULL, &out);
		printer = print_lookup;
	} else {
		if (strcmp(cmd, "status") && strcmp(cmd, "services") && strcmp(cmd, "backends") &&
		    strcmp(cmd, "table") && strcmp(cmd, "stats") && strcmp(cmd, "reload") &&
		    strcmp(cmd, "add") && strcmp(cmd, "remove") && strcmp(cmd, "drain") &&
		    strcmp(cmd, "weight") && strcmp(cmd, "lookup"))
			fprintf(stderr, "syctl: unknown command '%s' (see syctl --help)\n", cmd);
		else if (!strcmp(cmd, "add"))
			fprintf(stderr, "syctl add: need SVC ADDR:PORT [WEIGHT [MAC]]\n");
		return EXIT_USAGE;
	}
	json_decref(body);
	if (rc == 0) {
		if (json || !printer) {
			char *text = json_dumps(out, JSON_INDENT(2) | JSON_SORT_KEYS);

			printf("%s\n", text ? text : "{}");
			free(text);
		} else {
			printer(out);
		}
	}
	json_decref(out);
	curl_global_cleanup();
	return rc;
}
