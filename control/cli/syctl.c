/* SPDX-License-Identifier: BSD-3-Clause
 *
 * syctl: the operator's CLI for sy-control, and the backends' heartbeat
 * agent (`syctl register`). See `syctl --help` and docs/control.md.
 *
 * Exit codes (syctl.h): 0 success; 1 sy-control answered with an error; 2
 * usage error; 3 sy-control (or the registry) could not be reached; 4
 * permission denied (the socket's permissions, a wrong token).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>
#include <switchyard/port_stats.h>

#include "config.h"
#include "netaddr.h"
#include "syctl.h"
#include "syctl_http.h"
#include "syctl_import_ipvs.h"
#include "syctl_top.h"

#define DEFAULT_SOCKET "/run/switchyard/switchyard.sock"
#define GLOBAL_OPTIONS "[--socket PATH | --instance NAME | --url URL [--token-file F]] [--json]"

/* Every command, for `syctl --help` and `syctl COMMAND --help` alike. Lines
 * of args and what after a '\n' are continuation lines. top, register and
 * import-ipvs parse their own arguments (and --help). */
static const struct command {
	const char *name, *args, *what;
	int min, max; /* arguments after the name (the others: -1) */
} commands[] = {
	{ "status", "", "instance, generation, registry state, degraded services", 0, 0 },
	{ "services", "", "services with VIP, mode, backends, digest", 0, 0 },
	{ "backends", "SVC", "backends of a service and their state", 1, 1 },
	{ "add", "SVC ADDR:PORT [WEIGHT [MAC]]", "add a backend (operator source; kept)", 2, 4 },
	{ "remove", "SVC ADDR:PORT",
	  "remove a backend (not kept: a configured or registered\n"
	  "one comes back, and the answer says when)", 2, 2 },
	{ "drain", "SVC ADDR:PORT", "weight 0: keep its flows, send no new ones (kept)", 2, 2 },
	{ "weight", "SVC ADDR:PORT WEIGHT", "set a backend's weight, 0..65535 (kept)", 3, 3 },
	{ "reset", "SVC ADDR:PORT",
	  "drop the weight set with drain or weight: the\n"
	  "registered or configured one applies (kept).\n"
	  "Kept: in the state file, across reloads and restarts", 2, 2 },
	{ "lookup", "SVC SRC:PORT DST:PORT tcp|udp [SERVER_ID]",
	  "which backend a flow gets, and why (SERVER_ID: a quic service's short headers)", 4, 5 },
	{ "table", "SVC", "Maglev table digest and per-backend share", 1, 1 },
	{ "stats", "", "dataplane counters", 0, 0 },
	{ "top", "[-d SECONDS] [-n ITERATIONS] [SVC]",
	  "refreshing per-VIP and per-backend rates\n"
	  "(q or Ctrl-C quits; plain text when not a terminal)", -1, -1 },
	{ "reload", "", "re-read the configuration", 0, 0 },
	{ "drain-host", "",
	  "withdraw every VIP of this host from BGP, for\n"
	  "maintenance (kept across restarts)", 0, 0 },
	{ "undrain-host", "", "announce the VIPs again (when healthy; kept)", 0, 0 },
	{ "register", "--service S --addr A --port P --registry URL [--registry URL...]\n"
		      "[--key-file F]\n"
		      "[--weight N] [--ttl S] [--zone Z] [--metadata JSON] [--once]",
	  "heartbeat agent: registers and renews until\n"
	  "SIGTERM/SIGINT, then deregisters. URL is\n"
	  "http://HOST:PORT (embedded registry, needs\n"
	  "--key-file; several: each LB host's, each\n"
	  "heartbeated on its own), etcd://HOST:PORT[,...]\n"
	  "(a lease) or zk://HOST:PORT[,...] (a znode)", -1, -1 },
	{ "resolve", "SERVICE --registry URL [--registry URL...] [--token-file F]\n"
		     "[--key K | --flow 'SRC:PORT DST:PORT tcp|udp']\n"
		     "[--watch [--count N] [--timeout S]]",
	  "the service as libswitchyard-resolve sees it\n"
	  "through the embedded registry's read API\n"
	  "(http://) or etcd (etcd://HOST:PORT[,...]):\n"
	  "instances, revision, state and a pick\n"
	  "(--watch: every change; --help)", -1, -1 },
	{ "fleet", "HOST HOST [HOST...]",
	  "compare table digests across LB hosts (socket\n"
	  "paths or http://ADDR:PORT, NAME=HOST): names\n"
	  "any host that differs (--help)", -1, -1 },
	{ "import-ipvs", "[-o FILE] [OPTIONS] [FILE]",
	  "`ipvsadm -Sn` output -> configuration (--help)", -1, -1 },
	{ "version", "", "syctl's version (also --version)", 0, 0 },
};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))
#define WHAT_COLUMN 39

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

/* text with each '\n' followed by `indent` spaces */
static void put_indented(FILE *f, const char *text, int indent)
{
	for (; *text; text++) {
		fputc(*text, f);
		if (*text == '\n')
			fprintf(f, "%*s", indent, "");
	}
}

/* "  name args" then what from WHAT_COLUMN (on the next line if the name and
 * args reach it) */
static void put_command(FILE *f, const struct command *c)
{
	const char *last_line;
	int used;

	fprintf(f, "  %s%s", c->name, c->args[0] ? " " : "");
	put_indented(f, c->args, 3 + (int)strlen(c->name));
	last_line = strrchr(c->args, '\n');
	used = last_line ? 3 + (int)strlen(c->name) + (int)strlen(last_line + 1)
			 : 2 + (int)strlen(c->name) + (c->args[0] ? 1 : 0) + (int)strlen(c->args);
	if (used < WHAT_COLUMN)
		fprintf(f, "%*s", WHAT_COLUMN - used, "");
	else
		fprintf(f, "\n%*s", WHAT_COLUMN, "");
	put_indented(f, c->what, WHAT_COLUMN);
	fputc('\n', f);
}

static const char exit_codes[] =
	"Exit codes: 0 ok, 1 sy-control answered with an error, 2 usage, 3 cannot reach\n"
	"sy-control, 4 permission denied, 5 (status) the dataplane is not running.\n";

static void usage(FILE *f)
{
	fprintf(f, "usage: syctl " GLOBAL_OPTIONS " COMMAND\n"
		   "       syctl --version | --help\n"
		   "       syctl COMMAND --help\n"
		   "commands:\n");
	for (size_t i = 0; i < N_COMMANDS; i++)
		put_command(f, &commands[i]);
	fprintf(f, "IPv6 endpoints are written [ADDR]:PORT. Default socket: " DEFAULT_SOCKET "\n"
		   "(or $SYCTL_SOCKET); --instance NAME: /run/switchyard/NAME.sock.\n%s",
		exit_codes);
}

static void command_usage(FILE *f, const struct command *c)
{
	fprintf(f, "usage: syctl " GLOBAL_OPTIONS " %s%s", c->name, c->args[0] ? " " : "");
	put_indented(f, c->args, 7);
	fprintf(f, "\n  ");
	put_indented(f, c->what, 2);
	fprintf(f, "\n%s", exit_codes);
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

/* "(mode 0660, group G: are you in group G?)" for a socket we may not use */
static void socket_hint(const char *path, char *buf, size_t len)
{
	struct stat st;
	struct group *g;

	if (stat(path, &st)) {
		snprintf(buf, len, "cannot look at it either: check its directories' permissions");
		return;
	}
	g = getgrgid(st.st_gid);
	if (g)
		snprintf(buf, len, "mode %04o, group %s: are you in group %s?",
			 (unsigned)(st.st_mode & 07777), g->gr_name, g->gr_name);
	else
		snprintf(buf, len, "mode %04o, group %u", (unsigned)(st.st_mode & 07777),
			 (unsigned)st.st_gid);
}

int syctl_answer(const struct sy_http_target *t, const char *method, const char *path,
		 const struct sy_http_reply *r)
{
	const char *msg;
	char hint[160];

	if (!r->status && t->socket && (r->os_errno == EACCES || r->os_errno == EPERM)) {
		socket_hint(t->socket, hint, sizeof(hint));
		fprintf(stderr, "syctl: permission denied on %s (%s)\n", t->socket, hint);
		return SYCTL_DENIED;
	}
	if (!r->status) {
		fprintf(stderr, "syctl: cannot reach sy-control at %s: %s%s\n",
			t->socket ? t->socket : t->base, r->error,
			r->os_errno == ENOENT || r->os_errno == ECONNREFUSED ? " (is sy-control running?)"
									      : "");
		return SYCTL_UNREACHABLE;
	}
	if (r->status >= 200 && r->status < 300)
		return SYCTL_OK;
	msg = r->json ? json_string_value(json_object_get(r->json, "error")) : NULL;
	if (!msg)
		msg = r->body ? r->body : "";
	if (r->status == 401) { /* the API over TCP: no token, or a wrong one */
		fprintf(stderr, "syctl: permission denied by sy-control at %s: %s (see --token-file)\n",
			t->base, msg);
		return SYCTL_DENIED;
	}
	fprintf(stderr, "syctl: %s %s: %ld %s\n", method, path, r->status, msg);
	return SYCTL_FAILED;
}

static int call(const struct sy_http_target *t, const char *method, const char *path,
		json_t *body, json_t **out)
{
	struct sy_http_reply r;
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	int rc;

	sy_http_request(t, method, path, text, text ? strlen(text) : 0, NULL, &r);
	free(text);
	rc = syctl_answer(t, method, path, &r);
	if (rc == SYCTL_OK && !r.json) {
		fprintf(stderr, "syctl: %s %s: answer is not JSON\n", method, path);
		rc = SYCTL_FAILED;
	} else if (rc == SYCTL_OK) {
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

/* The host's drain, the BGP daemon and each VIP's announcement. */
static void print_announce(json_t *j)
{
	json_t *host = json_object_get(j, "host"), *bgp = json_object_get(j, "bgp"), *v;
	size_t i;

	if (json_is_true(json_object_get(host, "drained"))) {
		time_t since = (time_t)i_(host, "drained_since");
		char when[64] = "";

		if (since)
			strftime(when, sizeof(when), " since %Y-%m-%d %H:%M:%S", localtime(&since));
		printf("host        DRAINED%s: no VIP is announced (syctl undrain-host)\n", when);
	} else {
		printf("host        not drained\n");
	}
	if (!strcmp(s_(bgp, "daemon"), "none"))
		printf("bgp         none (bgp.daemon: no daemon driven; the decisions below only)\n");
	else if (!strcmp(s_(bgp, "state"), "up"))
		printf("bgp         %s up (%s, file %s), for %lld s\n", s_(bgp, "daemon"),
		       s_(bgp, "socket"), s_(bgp, "include_file"), i_(bgp, "state_for_s"));
	else
		printf("bgp         %s %s: %s, for %lld s\n", s_(bgp, "daemon"), s_(bgp, "state"),
		       s_(bgp, "message"), i_(bgp, "state_for_s"));
	json_array_foreach(json_object_get(bgp, "vips"), i, v) {
		bool on = json_is_true(json_object_get(v, "announced"));

		printf("  %-28s %-9s ", s_(v, "vip"), on ? "announced" : "WITHDRAWN");
		if (on)
			printf("(%s) for %lld s\n", s_(v, "services"), i_(v, "for_s"));
		else if (!strcmp(s_(v, "reason"), "hold_down"))
			printf("hold_down: %s %s ended, back in %.1f s (hold %.0f s, %lld flaps) (%s)\n",
			       s_(v, "failure"), "failure", (double)i_(v, "hold_down_left_ms") / 1000.0,
			       (double)i_(v, "hold_down_ms") / 1000.0, i_(v, "flaps"),
			       s_(v, "services"));
		else
			printf("%s: %s (%s) for %lld s\n", s_(v, "reason"), s_(v, "why"),
			       s_(v, "services"), i_(v, "for_s"));
	}
}

static void print_status(json_t *j)
{
	size_t i;
	json_t *d, *s;

	printf("instance    %s\n", s_(j, "instance"));
	printf("version     %s\n", s_(j, "version"));
	{
		json_t *rf = json_object_get(j, "region_file");

		printf("region      %s (%s, file %s", s_(j, "region"),
		       json_is_true(json_object_get(j, "adopted")) ? "adopted" : "created",
		       s_(rf, "state"));
		if (i_(rf, "recreated"))
			printf(", re-created %lld times after removals", i_(rf, "recreated"));
		if (json_object_get(rf, "recovered_from_pid"))
			printf(", recovered at start from pid %lld's mapping", i_(rf, "recovered_from_pid"));
		printf(")\n");
	}
	{
		json_t *dp = json_object_get(j, "dataplane_state");

		printf("dataplane   %s %s", s_(dp, "mode"), s_(dp, "state"));
		if (json_object_get(dp, "pid"))
			printf(" (pid %lld, workers %lld, last burst %lld ms ago)", i_(dp, "pid"),
			       i_(dp, "workers"), i_(dp, "last_burst_ms_ago"));
		else if (json_object_get(dp, "iface"))
			printf(" (%s)", s_(dp, "iface"));
		printf(", for %lld s", i_(dp, "state_for_s"));
		if (json_is_false(json_object_get(dp, "region_current")))
			printf("; it serves a REMOVED region file");
		if (json_is_true(json_object_get(dp, "maps_behind")))
			printf("; its maps are BEHIND the tables (%lld failed syncs, retried; see the log)",
			       i_(dp, "failed_syncs"));
		printf("\n");
	}
	print_announce(j);
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
	d = json_object_get(j, "publish_failing");
	printf("publishing  %s\n", json_array_size(d) ? "FAILING (the running tables stay; the other services publish)" : "ok");
	json_array_foreach(d, i, s)
		printf("  %s: %s (for %lld s, %lld attempts, next in %.1f s)\n", s_(s, "service"),
		       s_(s, "error"), i_(s, "failing_for_s"), i_(s, "attempts"),
		       (double)i_(s, "retry_in_ms") / 1000.0);
	d = json_object_get(j, "degraded");
	printf("state       %s\n", json_array_size(d) ? "DEGRADED" : "ok");
	json_array_foreach(d, i, j)
		printf("  %s: %s\n", s_(j, "service"), s_(j, "reason"));
}

static void print_services(json_t *j)
{
	size_t i;
	json_t *s;

	printf("%-16s %-28s %-6s %-6s %-37s %8s %9s %11s %-16s %s\n", "SERVICE", "VIP", "PROTO",
	       "MODE", "NEW FLOWS", "M", "BACKENDS", "CAP", "DIGEST", "STATE");
	json_array_foreach(json_object_get(j, "services"), i, s) {
		char vip[80], port[8] = "all";
		bool failing = !strcmp(s_(s, "publish"), "failing");

		if (i_(s, "port"))
			snprintf(port, sizeof(port), "%lld", i_(s, "port"));
		snprintf(vip, sizeof(vip), strchr(s_(s, "vip"), ':') ? "[%s]:%s" : "%s:%s",
			 s_(s, "vip"), port);
		/* NEW FLOWS: scheduler/hash(+quic: QUIC connection-ID routing);
		 * BACKENDS: live/published; CAP:
		 * counted/max_backends */
		char sched[40];

		/* at most least-connections/source-ip-port+quic: 37 */
		snprintf(sched, sizeof(sched), "%s/%s%s", s_(s, "scheduler"), s_(s, "hash"),
			 json_is_true(json_object_get(s, "quic")) ? "+quic" : "");
		printf("%-16s %-28s %-6s %-6s %-37s %8lld %4lld/%-4lld %5lld/%-5lld %-16s ",
		       s_(s, "name"), vip, s_(s, "protocol"), s_(s, "mode"), sched,
		       i_(s, "table_size"), i_(s, "live"),
		       i_(s, "backends"), i_(s, "backends_counted"), i_(s, "max_backends"),
		       s_(s, "digest"));
		if (!failing)
			printf("%s\n", s_(s, "state"));
		else if (strcmp(s_(s, "state"), "ok"))
			printf("%s; publish-failing: %s\n", s_(s, "state"), s_(s, "publish_error"));
		else
			printf("publish-failing: %s\n", s_(s, "publish_error"));
	}
}

static void print_backends(json_t *j)
{
	size_t i;
	json_t *b;

	printf("%-32s %6s %9s %-11s %-9s %-6s %-12s %s\n", "BACKEND", "WEIGHT", "EFFECTIVE",
	       "STATE", "SOURCE", "ZONE", "LAST SEEN", "CHECK");
	json_array_foreach(json_object_get(j, "backends"), i, b) {
		char ep[80], seen[32] = "-", check[96] = "-";
		json_t *ago = json_object_get(b, "last_seen_ms_ago");
		json_t *c = json_object_get(b, "check");

		snprintf(ep, sizeof(ep), strchr(s_(b, "address"), ':') ? "[%s]:%lld" : "%s:%lld",
			 s_(b, "address"), i_(b, "port"));
		if (json_is_integer(ago))
			snprintf(seen, sizeof(seen), "%.1f s ago",
				 (double)json_integer_value(ago) / 1000.0);
		/* the last active check and how many in a row ended so; one
		 * not sent says why */
		if (json_is_object(c) && !strcmp(s_(c, "last"), "unsent"))
			snprintf(check, sizeof(check), "unsent x%lld, %.1f s ago (%s)",
				 i_(c, "unsent_in_a_row"), (double)i_(c, "ms_ago") / 1000.0,
				 s_(c, "error"));
		else if (json_is_object(c))
			snprintf(check, sizeof(check), "%s x%lld, %.1f s ago", s_(c, "last"),
				 !strcmp(s_(c, "last"), "pass") ? i_(c, "passed_in_a_row")
								: i_(c, "failed_in_a_row"),
				 (double)i_(c, "ms_ago") / 1000.0);
		printf("%-32s %6lld %9lld %-11s %-9s %-6s %-12s %s", ep, i_(b, "weight"),
		       i_(b, "effective_weight"), s_(b, "state"), s_(b, "source"), s_(b, "zone"),
		       seen, check);
		if (json_is_integer(json_object_get(b, "server_id")))
			printf("%squic server id 0x%llx", check[0] ? ", " : "",
			       (unsigned long long)i_(b, "server_id"));
		printf("\n");
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
	const char *by = json_is_string(json_object_get(j, "answered_by")) ? s_(j, "answered_by") : "";

	printf("service  %s\nbackend  %s\nwhy      %s\n", s_(j, "service"), s_(j, "backend"),
	       s_(j, "reason"));
	/* whether a connection table was read: "table" is the published
	 * table's answer alone, which a tracked flow may not follow */
	if (*by)
		printf("answered %s\n", !strcmp(by, "dataplane") ? "by the dataplane's connection tables"
					 : !strcmp(by, "xdp")	   ? "by the XDP program's connection tables"
					 : "from the published table alone (no connection table read)");
	if (json_object_get(j, "slot"))
		printf("slot     %lld of %lld (flow hash %s of the %s)\n", i_(j, "slot"),
		       i_(j, "table_size"), s_(j, "hash"),
		       json_is_string(json_object_get(j, "hash_of")) ? s_(j, "hash_of") : "5-tuple");
	/* a tracked flow pinned away from where the table now sends new flows */
	if (json_is_string(json_object_get(j, "new_flow_backend")) &&
	    strcmp(s_(j, "new_flow_backend"), s_(j, "backend")))
		printf("new flows of this slot go to %s\n", s_(j, "new_flow_backend"));
	if (json_is_string(json_object_get(j, "fragments")))
		printf("fragments %s: %s\n", s_(j, "fragments"), s_(j, "fragment_untracked_backend"));
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
		printf("port %lld %s link %s (%lld ms ago):", i_(port, "port"), s_(port, "device"),
		       json_is_string(json_object_get(port, "link")) ? s_(port, "link") : "unknown",
		       i_(port, "age_ms"));
#define SY_X(field, name, help) printf(" %s %lld", name, i_(port, name));
		SY_PORT_COUNTERS(SY_X)
#undef SY_X
		printf("\n");
	}
}

static void print_drained(json_t *j)
{
	if (json_is_true(json_object_get(j, "drained")))
		printf("host drained: every VIP is withdrawn (kept in %s; syctl undrain-host ends it)\n",
		       s_(j, "state_file"));
	else
		printf("host undrained: the VIPs are announced again once healthy (kept in %s)\n",
		       s_(j, "state_file"));
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

/* 0..65535, all digits */
static int parse_weight(const char *s, int *w)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (!*s || *end || v < 0 || v > 65535)
		return -1;
	*w = (int)v;
	return 0;
}

/* Where to send requests: --socket PATH, --instance NAME or --url URL, one of
 * them at most (else $SYCTL_SOCKET, else the default socket). */
struct where {
	const char *socket, *instance, *url, *token_file;
	char sock[300], base[600];
};

static int resolve_target(struct where *w, struct sy_http_target *t)
{
	char why[300];
	size_t n;

	if (!!w->socket + !!w->instance + !!w->url > 1) {
		fprintf(stderr, "syctl: --socket, --instance and --url name where sy-control is: give one\n");
		return -1;
	}
	if (w->token_file && !w->url) {
		fprintf(stderr, "syctl: --token-file is for --url (the socket needs no token)\n");
		return -1;
	}
	t->base = "http://localhost";
	t->socket = getenv("SYCTL_SOCKET") ? getenv("SYCTL_SOCKET") : DEFAULT_SOCKET;
	if (w->socket)
		t->socket = w->socket;
	if (w->instance) {
		if (!sy_config_instance_ok(w->instance)) {
			fprintf(stderr, "syctl: --instance '%s' is not a valid instance name (" SY_CONFIG_INSTANCE_RULE ")\n",
				w->instance);
			return -1;
		}
		snprintf(w->sock, sizeof(w->sock), "/run/switchyard/%s.sock", w->instance);
		t->socket = w->sock;
	}
	if (w->url) {
		if (sy_check_http_base(w->url, why, sizeof(why))) {
			fprintf(stderr, "syctl: --url %s\n", why);
			return -1;
		}
		n = strlen(w->url);
		snprintf(w->base, sizeof(w->base), "%.*s", (int)(n && w->url[n - 1] == '/' ? n - 1 : n),
			 w->url);
		t->base = w->base;
		t->socket = NULL;
	}
	return 0;
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

/* Builds and sends the request of a command whose arguments are counted
 * already; *printer prints its answer (NULL: the JSON). */
static int run(const struct sy_http_target *t, const char *cmd, int argc, char **argv,
	       json_t **out, void (**printer)(json_t *))
{
	char path[512];
	json_t *body = NULL;
	int rc = SYCTL_USAGE;

	*printer = NULL;
	if (!strcmp(cmd, "status")) {
		rc = call(t, "GET", "/v1/status", NULL, out);
		*printer = print_status;
	} else if (!strcmp(cmd, "services")) {
		rc = call(t, "GET", "/v1/services", NULL, out);
		*printer = print_services;
	} else if (!strcmp(cmd, "backends") || !strcmp(cmd, "table")) {
		snprintf(path, sizeof(path), "/v1/services/%s/%s", argv[1], cmd);
		rc = call(t, "GET", path, NULL, out);
		*printer = !strcmp(cmd, "table") ? print_table : print_backends;
	} else if (!strcmp(cmd, "stats")) {
		rc = call(t, "GET", "/v1/stats", NULL, out);
		*printer = print_stats;
	} else if (!strcmp(cmd, "reload")) {
		rc = call(t, "POST", "/v1/reload", NULL, out);
	} else if (!strcmp(cmd, "drain-host") || !strcmp(cmd, "undrain-host")) {
		rc = call(t, "POST", !strcmp(cmd, "drain-host") ? "/v1/host/drain" : "/v1/host/undrain",
			  NULL, out);
		*printer = print_drained;
	} else if (!strcmp(cmd, "add")) {
		char addr[64];
		unsigned port;
		uint8_t mac[6];
		int w = 1;

		if (endpoint_text(argv[2], addr, sizeof(addr), &port)) {
			fprintf(stderr, "syctl add: '%s' is not ADDR:PORT (IPv6: [ADDR]:PORT)\n", argv[2]);
			return SYCTL_USAGE;
		}
		if (argc > 3 && parse_weight(argv[3], &w)) {
			fprintf(stderr, "syctl add: '%s' is not a weight (0..65535)\n", argv[3]);
			return SYCTL_USAGE;
		}
		if (argc > 4 && sy_parse_mac(argv[4], mac)) {
			fprintf(stderr, "syctl add: '%s' is not a MAC address (aa:bb:cc:dd:ee:ff)\n",
				argv[4]);
			return SYCTL_USAGE;
		}
		body = json_pack("{s:s, s:i, s:i}", "address", addr, "port", (int)port, "weight", w);
		if (argc > 4)
			json_object_set_new(body, "mac", json_string(argv[4]));
		snprintf(path, sizeof(path), "/v1/services/%s/backends", argv[1]);
		rc = call(t, "POST", path, body, out);
	} else if (!strcmp(cmd, "remove") || !strcmp(cmd, "drain") || !strcmp(cmd, "reset")) {
		if (backend_path(path, sizeof(path), argv[1], argv[2],
				 !strcmp(cmd, "drain") ? "/drain" : !strcmp(cmd, "reset") ? "/reset" : ""))
			return SYCTL_USAGE;
		rc = call(t, !strcmp(cmd, "remove") ? "DELETE" : "POST", path, NULL, out);
	} else if (!strcmp(cmd, "weight")) {
		int w;

		if (parse_weight(argv[3], &w)) {
			fprintf(stderr, "syctl weight: '%s' is not a weight (0..65535)\n", argv[3]);
			return SYCTL_USAGE;
		}
		if (backend_path(path, sizeof(path), argv[1], argv[2], "/weight"))
			return SYCTL_USAGE;
		body = json_pack("{s:i}", "weight", w);
		rc = call(t, "POST", path, body, out);
	} else if (!strcmp(cmd, "lookup")) {
		char src[64], dst[64];
		unsigned sp, dp;

		if (endpoint_text(argv[2], src, sizeof(src), &sp) ||
		    endpoint_text(argv[3], dst, sizeof(dst), &dp) ||
		    (strcmp(argv[4], "tcp") && strcmp(argv[4], "udp")) ||
		    (argc > 5 && (!argv[5][0] || strspn(argv[5], "0123456789abcdefABCDEFxX") !=
							strlen(argv[5])))) {
			fprintf(stderr, "syctl lookup: need SVC SRC:PORT DST:PORT tcp|udp [SERVER_ID]\n");
			return SYCTL_USAGE;
		}
		snprintf(path, sizeof(path), "/v1/lookup?service=%s&src=%s&sport=%u&dst=%s&dport=%u&proto=%s%s%s",
			 argv[1], src, sp, dst, dp, argv[4], argc > 5 ? "&server_id=" : "",
			 argc > 5 ? argv[5] : "");
		rc = call(t, "GET", path, NULL, out);
		*printer = print_lookup;
	}
	json_decref(body);
	return rc;
}

static bool wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return true;
	return false;
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
	struct sy_http_target t = { 0 };
	struct where w = { 0 };
	const struct command *cmd;
	json_t *out = NULL;
	int json = 0, c, rc;
	void (*printer)(json_t *) = NULL;

	/* options before the command; the command's own options are its own */
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			w.socket = optarg;
			break;
		case 'i':
			w.instance = optarg;
			break;
		case 'u':
			w.url = optarg;
			break;
		case 't':
			w.token_file = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			usage(stdout);
			return SYCTL_OK;
		case 'V':
			printf("syctl %s\n", SY_VERSION);
			return SYCTL_OK;
		default:
			usage(stderr);
			return SYCTL_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return SYCTL_USAGE;
	}
	argc -= optind;
	argv += optind;
	cmd = find_command(argv[0]);
	if (!cmd) {
		fprintf(stderr, "syctl: unknown command '%s' (see syctl --help)\n", argv[0]);
		return SYCTL_USAGE;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	/* the commands with parsers of their own answer --help themselves */
	if (!strcmp(cmd->name, "register"))
		return syctl_register(argc, argv);
	if (!strcmp(cmd->name, "import-ipvs"))
		return syctl_import_ipvs(argc, argv);
	if (!strcmp(cmd->name, "resolve")) { /* a registry reader, not sy-control's API */
		if (!wants_help(argc, argv) && (w.socket || w.instance || w.url || w.token_file)) {
			fprintf(stderr, "syctl resolve: name the registries with --registry and the read token with resolve's --token-file\n");
			return SYCTL_USAGE;
		}
		return syctl_resolve(json, argc, argv);
	}
	if (!strcmp(cmd->name, "fleet")) { /* its hosts are its arguments */
		const char *token = NULL;

		if (wants_help(argc, argv))
			return syctl_fleet(NULL, json, argc, argv);
		if (w.socket || w.instance || w.url) {
			fprintf(stderr, "syctl fleet: name the hosts as arguments, not with --socket, --instance or --url\n");
			return SYCTL_USAGE;
		}
		if (w.token_file && !(token = read_token(w.token_file))) {
			fprintf(stderr, "syctl: cannot read token file %s\n", w.token_file);
			return SYCTL_USAGE;
		}
		return syctl_fleet(token, json, argc, argv);
	}
	if (cmd->min >= 0 && wants_help(argc, argv)) {
		command_usage(stdout, cmd);
		return SYCTL_OK;
	}
	if (resolve_target(&w, &t))
		return SYCTL_USAGE;
	if (w.token_file) {
		t.token = read_token(w.token_file);
		if (!t.token) {
			fprintf(stderr, "syctl: cannot read token file %s\n", w.token_file);
			return SYCTL_USAGE;
		}
	}
	if (!strcmp(cmd->name, "top"))
		return syctl_top(&t, json, argc, argv);
	if (argc - 1 < cmd->min || argc - 1 > cmd->max) {
		fprintf(stderr, "syctl %s: wrong number of arguments\n", cmd->name);
		command_usage(stderr, cmd);
		return SYCTL_USAGE;
	}
	if (!strcmp(cmd->name, "version")) {
		printf("syctl %s\n", SY_VERSION);
		return SYCTL_OK;
	}
	rc = run(&t, cmd->name, argc, argv, &out, &printer);
	if (rc == SYCTL_OK) {
		if (json || !printer) {
			char *text = json_dumps(out, JSON_INDENT(2) | JSON_SORT_KEYS);

			printf("%s\n", text ? text : "{}");
			free(text);
		} else {
			printer(out);
		}
		/* status is a health check: it fails unless the dataplane runs */
		if (!strcmp(cmd->name, "status") &&
		    strcmp(json_string_value(json_object_get(json_object_get(out, "dataplane_state"),
							     "state")) ?: "",
			   "running"))
			rc = SYCTL_NOT_SERVING;
	}
	json_decref(out);
	curl_global_cleanup();
	return rc;
}
