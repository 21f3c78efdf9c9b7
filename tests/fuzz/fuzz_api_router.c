/* SPDX-License-Identifier: BSD-3-Clause
 *
 * libFuzzer target: sy-control's API request handling, api.c's
 * sy_api_handle() (the bearer-token check, the body cap, route(), lookup(),
 * add_backend(), backend_op(), the GET views and /metrics) over an in-memory
 * daemon: the real state.c, publish.c, metrics.c and sources, with a region
 * in /dev/shm (unique name, unlinked as soon as it is mapped) and a
 * configuration of three static services (each with a next_hop_mac: no
 * neighbour lookups in the kernel). Everything but libmicrohttpd,
 * whose adapter in api.c only gathers the request and sends the reply.
 *
 * The input is up to MAX_REQ requests separated by "\n--\n"; each is
 *   byte 0  method (low 3 bits), TCP listener (bit 3: token needed),
 *           Authorization (bits 4-5: none, the right token, the line below,
 *           the right token with its last character changed), body flagged
 *           over the cap (bit 6), URL from the route list (bit 7 clear) or
 *           the first line alone
 *   byte 1  index into the route list
 *   line    appended to the route (or the whole URL)
 *   line    query: NAME=VALUE&... (no decoding, MHD has done it)
 *   line    Authorization header value (bits 4-5 = 2)
 *   rest    the body
 * The daemon's backends start again from the configuration for each input.
 * FUZZ_API_ROUTER_TRACE=1 prints each request's status and reply.
 *
 * Invariants: status 200..599; 401 exactly when the token is needed and the
 * header is not "Bearer <token>"; 413 for a flagged body once authorized;
 * JSON replies parse to an object, errors carry an "error" string, mutations
 * answer {"ok": true}; /metrics is text ending in a newline; a lookup names
 * one of the published backends of the service or none; the state publishes
 * afterwards (sy_daemon_publish() == 0) and every configured service is then
 * published with the backends its set wants.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "api.h"
#include "daemon.h"
#include "metrics.h"
#include "netaddr.h"
#include "source.h"

#define MAX_REQ 8
#define MAX_ARGS 16
#define TOKEN "fuzz-router-token-0123456789"

#define FUZZ_TARGET "fuzz_api_router"
#include "fuzz_check.h"

/* main.c's list, which this target does not link */
const struct sy_source *const sy_sources[] = {
	&sy_source_static,
	&sy_source_embedded,
	&sy_source_etcd,
	&sy_source_zookeeper,
	NULL,
};

static const char config_a[] =
	"instance: fuzzrouter\n"
	"region: %s\n"
	"state_file: %s.state\n"
	"limits: { lcores: 2, services: 8, backends: 512, heap_mb: 8 }\n"
	"defaults: { table_size: 251, encap_source4: 198.18.0.1, encap_source6: \"2001:2::1\" }\n"
	"services:\n"
	"  - name: web\n"
	"    vip: 198.18.1.1\n"
	"    port: 80\n"
	"    protocol: tcp\n"
	"    mode: ipip\n"
	"    next_hop_mac: \"02:00:00:00:00:fe\"\n"
	"    source: static\n"
	"    backends:\n"
	"      - { address: 198.18.0.11, port: 80, weight: 1, mac: \"02:00:00:00:00:11\", zone: a }\n"
	"      - { address: 198.18.0.12, port: 80, weight: 3 }\n"
	"  - name: api\n"
	"    vip: \"2001:db8::1\"\n"
	"    port: 443\n"
	"    protocol: udp\n"
	"    mode: gue\n"
	"    gue_port: 6081\n"
	"    next_hop_mac: \"02:00:00:00:00:fe\"\n"
	"    source: static\n"
	"    backends:\n"
	"      - { address: \"2001:2::21\", port: 8443, weight: 2 }\n"
	"  - name: dsr\n"
	"    vip: 198.18.1.2\n"
	"    port: all\n"
	"    protocol: udp\n"
	"    mode: l2dsr\n"
	"    next_hop_mac: \"02:00:00:00:00:fe\"\n"
	"    source: static\n"
	"    backends: []\n";

/* what a reload switches to (and back): dsr gone, web changed, new added */
static const char config_b[] =
	"instance: fuzzrouter\n"
	"region: %s\n"
	"state_file: %s.state\n"
	"limits: { lcores: 2, services: 8, backends: 512, heap_mb: 8 }\n"
	"defaults: { table_size: 251, encap_source4: 198.18.0.1, encap_source6: \"2001:2::1\" }\n"
	"services:\n"
	"  - name: web\n"
	"    vip: 198.18.1.1\n"
	"    port: 80\n"
	"    protocol: tcp\n"
	"    mode: gue\n"
	"    next_hop_mac: \"02:00:00:00:00:fe\"\n"
	"    source: static\n"
	"    backends:\n"
	"      - { address: 198.18.0.13, port: 80, weight: 0 }\n"
	"  - name: api\n"
	"    vip: \"2001:db8::1\"\n"
	"    port: 443\n"
	"    protocol: udp\n"
	"    mode: gue\n"
	"    gue_port: 6081\n"
	"    next_hop_mac: \"02:00:00:00:00:fe\"\n"
	"    source: static\n"
	"    backends:\n"
	"      - { address: \"2001:2::21\", port: 8443, weight: 2 }\n"
	"  - name: new\n"
	"    vip: 198.18.1.3\n"
	"    port: 8080\n"
	"    protocol: tcp\n"
	"    mode: ipip\n"
	"    table_size: 257\n"
	"    next_hop_mac: \"02:00:00:00:00:fe\"\n"
	"    source: static\n"
	"    backends:\n"
	"      - { address: 198.18.0.31, port: 8080 }\n";

static const char *const routes[] = {
	"/metrics",
	"/v1/status",
	"/v1/services",
	"/v1/stats",
	"/v1/lookup",
	"/v1/reload",
	"/v1/services/web/backends",
	"/v1/services/api/backends",
	"/v1/services/dsr/backends",
	"/v1/services/web/table",
	"/v1/services/dsr/table",
	"/v1/services/web/backends/198.18.0.11:80",
	"/v1/services/web/backends/198.18.0.12:80/drain",
	"/v1/services/web/backends/198.18.0.11:80/weight",
	"/v1/services/api/backends/[2001:2::21]:8443",
	"/v1/services/api/backends/[2001:2::21]:8443/weight",
	"/v1/services/",
	"/v1/services/nosuch/backends",
	"/v1/",
	"",
};
#define N_ROUTES (sizeof(routes) / sizeof(routes[0]))

static const char *const methods[] = { "GET", "POST", "DELETE", "PUT", "HEAD", "get", "PATCH", "" };

static struct sy_daemon daemon_ = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.wake = PTHREAD_COND_INITIALIZER,
	.version = "fuzz",
	.dp_mode = "dpdk",
};
static char region_path[128], state_path[160];
static bool on_b;  /* the configuration applied is config_b */
static bool trace; /* FUZZ_API_ROUTER_TRACE set: print each request's answer */

static struct sy_config *load(bool b)
{
	char text[sizeof(config_b) + sizeof(config_a) + 128], err[512];
	struct sy_config *cfg = NULL;
	int n = snprintf(text, sizeof(text), b ? config_b : config_a, region_path, region_path);

	CHECK(sy_config_load_buffer("fuzz.yaml", text, (size_t)n, &cfg, err, sizeof(err)) == 0,
	      "harness configuration refused: %s", err);
	return cfg;
}

/* main.c's sy_daemon_reload(), which re-reads the file: here it switches
 * between the two configurations (instance and region stay). */
int sy_daemon_reload(struct sy_daemon *d, char *err, size_t errlen)
{
	struct sy_config *cfg = load(!on_b);

	if (sy_daemon_apply_config(d, cfg, err, errlen)) {
		sy_config_free(cfg);
		return -1;
	}
	on_b = !on_b;
	return 0;
}

/* The daemon's backends as a configuration gives them (the region keeps
 * what was published before: the next publish replaces it). */
static void reset(struct sy_daemon *d)
{
	char err[512];

	for (size_t i = 0; i < d->n_svc; i++)
		sy_svcb_free(&d->svc[i].b);
	free(d->svc);
	d->svc = NULL;
	d->n_svc = 0;
	on_b = false;
	CHECK(sy_daemon_apply_config(d, load(false), err, sizeof(err)) == 0, "apply: %s", err);
}

static void cleanup(void)
{
	for (size_t i = 0; i < daemon_.n_svc; i++)
		sy_svcb_free(&daemon_.svc[i].b);
	free(daemon_.svc);
	sy_config_free(daemon_.cfg);
	sy_writer_close(daemon_.writer);
	unlink(state_path); /* what operator changes wrote */
}

static void setup(void)
{
	struct sy_daemon *d = &daemon_;
	char err[512];

	snprintf(region_path, sizeof(region_path), "/dev/shm/sy-fuzz-api-router-%d", (int)getpid());
	snprintf(state_path, sizeof(state_path), "%s.state", region_path);
	unlink(region_path);
	unlink(state_path);
	d->cfg = load(false);
	CHECK(sy_writer_create(d->cfg->region, d->cfg->instance, &d->cfg->limits, NULL, &d->writer,
			       err, sizeof(err)) == 0,
	      "region: %s", err);
	unlink(region_path); /* stays mapped; nothing left behind */
	snprintf(d->api_token, sizeof(d->api_token), "%s", TOKEN);
	trace = getenv("FUZZ_API_ROUTER_TRACE") != NULL;
	d->started_ms = sy_now_ms();
	{
		struct sy_config *cfg = d->cfg;

		d->cfg = NULL; /* apply_config takes ownership */
		CHECK(sy_daemon_apply_config(d, cfg, err, sizeof(err)) == 0, "apply: %s", err);
	}
	pthread_mutex_lock(&d->lock); /* publish releases it while it builds */
	CHECK(sy_daemon_publish(d) == 0, "first publish");
	pthread_mutex_unlock(&d->lock);
	atexit(cleanup);
}

struct args {
	const char *name[MAX_ARGS], *value[MAX_ARGS];
	size_t n;
};

static const char *arg(void *ctx, const char *name)
{
	const struct args *a = ctx;

	for (size_t i = 0; i < a->n; i++)
		if (!strcmp(a->name[i], name))
			return a->value[i];
	return NULL;
}

/* "a=b&c&d=" in place, as MHD presents them (a key without '=' has no value) */
static void parse_query(char *q, struct args *a)
{
	a->n = 0;
	while (q && *q && a->n < MAX_ARGS) {
		char *amp = strchr(q, '&'), *eq;

		if (amp)
			*amp = 0;
		eq = strchr(q, '=');
		if (eq)
			*eq = 0;
		a->name[a->n] = q;
		a->value[a->n++] = eq ? eq + 1 : NULL;
		q = amp ? amp + 1 : NULL;
	}
}

static char *line(char **p, char *end)
{
	char *s = *p, *nl;

	if (s >= end)
		return NULL;
	nl = memchr(s, '\n', (size_t)(end - s));
	if (!nl)
		nl = end;
	*nl = 0;
	*p = nl < end ? nl + 1 : end;
	return s;
}

static bool is_published_backend(struct sy_daemon *d, const char *svc, const char *ep)
{
	const struct sy_snapshot *snap = sy_writer_snapshot(d->writer);
	const uint8_t *base = sy_writer_map(d->writer)->base;
	struct sy_backend_id id;

	if (sy_parse_endpoint(ep, &id))
		return false;
	for (uint32_t i = 0; snap && i < snap->n_services; i++) {
		const struct sy_service *s = sy_snapshot_service(base, snap, i);
		const struct sy_backend *b = sy_service_backends(base, s);

		if (strcmp(s->name, svc))
			continue;
		for (uint32_t j = 0; j < s->n_backends; j++)
			if (!memcmp(&b[j].id, &id, sizeof(id)))
				return true;
	}
	return false;
}

/* After a publish every configured service is in the snapshot with what its
 * backend set wants (the first publish of the input may still carry
 * backends only published before). */
static void check_published(struct sy_daemon *d)
{
	const struct sy_snapshot *snap = sy_writer_snapshot(d->writer);
	const uint8_t *base = sy_writer_map(d->writer)->base;

	CHECK(snap && snap->n_services == d->n_svc, "%u services published, %zu configured",
	      snap ? snap->n_services : 0, d->n_svc);
	for (size_t i = 0; i < d->n_svc; i++) {
		const struct sy_service *s = NULL;

		for (uint32_t j = 0; j < snap->n_services && !s; j++)
			if (!strcmp(sy_snapshot_service(base, snap, j)->name, d->svc[i].name))
				s = sy_snapshot_service(base, snap, j);
		CHECK(s, "service %s not published", d->svc[i].name);
		CHECK(s->n_backends <= d->svc[i].b.n + d->svc[i].b.n_published,
		      "service %s: %u backends published of %u known", s->name, s->n_backends,
		      d->svc[i].b.n);
	}
}

static void one(struct sy_daemon *d, char *p, char *end)
{
	uint8_t sel, ri;
	char *suffix, *query, *auth_line, url[1024];
	const char *method, *auth = NULL;
	char wrong[sizeof(TOKEN) + 8];
	struct args a;
	struct sy_body body = { 0 };
	struct sy_api_reply r;
	bool needs_token, authorized, mutation;
	json_t *j = NULL;

	if (end - p < 2)
		return;
	sel = (uint8_t)p[0];
	ri = (uint8_t)p[1];
	p += 2;
	suffix = line(&p, end);
	query = line(&p, end);
	auth_line = line(&p, end);
	method = methods[sel & 7];
	needs_token = sel & 8;
	switch ((sel >> 4) & 3) {
	case 1:
		auth = "Bearer " TOKEN;
		break;
	case 2:
		auth = auth_line;
		break;
	case 3:
		snprintf(wrong, sizeof(wrong), "Bearer %s", TOKEN);
		wrong[strlen(wrong) - 1] ^= 1 + (ri & 0x3f);
		auth = wrong;
		break;
	}
	if (sel & 0x80)
		snprintf(url, sizeof(url), "%s", suffix ? suffix : "");
	else
		snprintf(url, sizeof(url), "%s%s", routes[ri % N_ROUTES], suffix ? suffix : "");
	parse_query(query, &a);
	/* the body as sy_http_collect() leaves it: NUL-terminated */
	body.len = (size_t)(end - p);
	body.data = malloc(body.len + 1);
	CHECK(body.data, "out of memory");
	memcpy(body.data, p, body.len);
	body.data[body.len] = 0;
	body.too_large = sel & 0x40;

	r = sy_api_handle(d, &(struct sy_api_request){ .method = method, .url = url, .arg = arg,
							.arg_ctx = &a, .authorization = auth,
							.needs_token = needs_token, .body = &body });
	free(body.data);

	if (trace)
		fprintf(stderr, "%u %s %s -> %.200s\n", r.status, method, url, r.text ? r.text : "");
	authorized = !needs_token || (auth && !strcmp(auth, "Bearer " TOKEN));
	CHECK(r.text, "no reply text for %s %s", method, url);
	CHECK(r.status >= 200 && r.status <= 599, "status %u for %s %s", r.status, method, url);
	CHECK((r.status == 401) == !authorized, "status %u for %s %s, token %s", r.status, method,
	      url, authorized ? "right" : "wrong");
	CHECK(!authorized || !body.too_large || r.status == 413, "status %u for a body over the cap",
	      r.status);
	CHECK(strlen(r.text) == r.len, "reply length %zu, text %zu", r.len, strlen(r.text));
	if (!strcmp(r.ctype, "application/json")) {
		j = json_loadb(r.text, r.len, 0, NULL);
		CHECK(json_is_object(j), "%s %s: reply is not a JSON object: %s", method, url, r.text);
		if (r.status >= 400)
			CHECK(json_is_string(json_object_get(j, "error")), "error without message: %s",
			      r.text);
	} else {
		CHECK(!strcmp(url, "/metrics") && !strcmp(method, "GET") && r.status == 200,
		      "%s reply to %s %s", r.ctype, method, url);
		CHECK(r.len && r.text[r.len - 1] == '\n', "metrics text not ending in a newline");
	}
	mutation = strcmp(method, "GET") && strncmp(url, "/v1/services/", 13) == 0;
	if (r.status == 200 && mutation)
		CHECK(json_is_true(json_object_get(j, "ok")), "mutation answered %s", r.text);
	if (r.status == 200 && !strcmp(url, "/v1/lookup")) {
		const char *be = json_string_value(json_object_get(j, "backend"));
		const char *svc = json_string_value(json_object_get(j, "service"));

		CHECK(be && svc, "lookup answer %s", r.text);
		pthread_mutex_lock(&d->lock);
		CHECK(!strcmp(be, "none") || is_published_backend(d, svc, be),
		      "lookup names %s, not a published backend of %s", be, svc);
		pthread_mutex_unlock(&d->lock);
	}
	json_decref(j);
	free(r.text);

	pthread_mutex_lock(&d->lock);
	CHECK(sy_daemon_publish(d) == 0, "publish failed after %s %s (status %u): %s", method, url,
	      r.status, d->last_error);
	check_published(d);
	pthread_mutex_unlock(&d->lock);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	char *buf, *p, *end;
	int n = 0;

	if (!ready) {
		setup();
		ready = true;
	}
	if (size > 70000)
		return 0;
	buf = malloc(size + 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = 0;
	reset(&daemon_);
	p = buf;
	end = buf + size;
	while (p < end && n++ < MAX_REQ) {
		char *sep = memmem(p, (size_t)(end - p), "\n--\n", 4), *stop = sep ? sep : end;

		one(&daemon_, p, stop);
		p = sep ? sep + 4 : end;
	}
	free(buf);
	return 0;
}
