/* SPDX-License-Identifier: BSD-3-Clause
 *
 * sy-control's API: HTTP/JSON on a unix socket (0660) and optionally on a
 * loopback TCP port with a bearer token; Prometheus text at /metrics.
 * Routes and JSON shapes: docs/control.md.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <switchyard/counters.h>
#include <switchyard/pkt_quic.h>

#include "api.h"
#include "bgp.h"
#include "daemon.h"
#include "http.h"
#include "dp_query.h"
#include "metrics.h"
#include "preflight.h"
#include "netaddr.h"
#include "source.h"
#include "state_file.h"

#define API_MAX_BODY 65536

static const char *const counter_names[] = {
#define SY_X(id, name, help) name,
	SY_COUNTERS(SY_X)
#undef SY_X
};

/* Replies as sy_http_json()/sy_http_error() would send them; text NULL (out
 * of memory) is answered 500 {"error":"out of memory"} by the adapter. */
static struct sy_api_reply reply_json(unsigned status, json_t *j)
{
	char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);

	json_decref(j);
	return (struct sy_api_reply){ .status = text ? status : 500, .ctype = "application/json",
				      .text = text, .len = text ? strlen(text) : 0 };
}

static struct sy_api_reply reply_error(unsigned status, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static struct sy_api_reply reply_error(unsigned status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return reply_json(status, sy_json_error(msg));
}

static const struct sy_service *published(struct sy_daemon *d, const char *name)
{
	return sy_snapshot_find_name(sy_writer_map(d->writer)->base, sy_writer_snapshot(d->writer),
				     name);
}

static uint32_t live_backends(const struct sy_service *s, const uint8_t *base)
{
	const struct sy_backend *b = sy_service_backends(base, s);
	uint32_t n = 0;

	for (uint32_t i = 0; i < s->n_backends; i++)
		n += b[i].weight > 0;
	return n;
}

/* The dataplane's liveness (dp_health.c): state, process, workers and how
 * long ago its workers last moved. */
static json_t *dataplane_json(struct sy_daemon *d)
{
	const struct sy_dp_health *h = &d->dp_health;
	uint64_t now = sy_now_ms();
	json_t *j = json_pack("{s:s, s:s, s:I}", "mode", d->dp_mode, "state",
			      sy_dp_state_name(h->state), "state_for_s",
			      (json_int_t)(h->since_ms ? (now - h->since_ms) / 1000 : 0));

	if (!d->xdp && h->pid > 0) {
		json_object_set_new(j, "pid", json_integer(h->pid));
		json_object_set_new(j, "workers", json_integer(h->workers));
		json_object_set_new(j, "last_burst_ms_ago", json_integer((json_int_t)(now - h->moved_ms)));
		json_object_set_new(j, "region_current", json_boolean(!h->stale_region));
	}
	if (d->xdp) {
		json_object_set_new(j, "iface", json_string(d->xdp_iface));
		/* the program's maps lag the tables (xdp.c: a failed sync, retried) */
		json_object_set_new(j, "maps_behind", json_boolean(sy_daemon_xdp_behind(d)));
		json_object_set_new(j, "failed_syncs", json_integer(d->xdp_failed_syncs));
	}
	return j;
}

/* The region's file (region_recover.c): still the one mapped, re-created
 * after removals, recovered at start from a process's mapping. */
static json_t *region_file_json(const struct sy_daemon *d)
{
	static const char *const states[] = { "ok", "removed", "replaced" };
	json_t *j = json_pack("{s:s, s:I}", "state",
			      d->region_file_state >= 0 && d->region_file_state < 3
				      ? states[d->region_file_state]
				      : "unknown",
			      "recreated", (json_int_t)d->region_recreated);

	if (d->region_recovered_from)
		json_object_set_new(j, "recovered_from_pid", json_integer(d->region_recovered_from));
	return j;
}

/* The operator's drain of the host (syctl drain-host): no VIP announced. */
static json_t *host_json(const struct sy_daemon *d)
{
	json_t *j = json_pack("{s:b}", "drained", d->drained);

	if (d->drained && d->drained_since)
		json_object_set_new(j, "drained_since", json_integer((json_int_t)d->drained_since));
	return j;
}

static json_t *status_json(struct sy_daemon *d)
{
	json_t *deg = json_array();
	const struct sy_snapshot *snap = sy_writer_snapshot(d->writer);

	for (size_t i = 0; i < d->n_svc; i++)
		if (d->svc[i].b.degraded)
			json_array_append_new(deg, json_pack("{s:s, s:s}", "service", d->svc[i].name,
							     "reason", d->svc[i].b.degraded_reason));
	json_t *sources = json_object();

	for (const struct sy_source *const *src = sy_sources; *src; src++) {
		char text[256];
		bool up;

		(*src)->describe(*src, d, text, sizeof(text), &up);
		json_object_set_new(sources, (*src)->name, json_pack("{s:b, s:s}", "up", up, "state", text));
	}
	return json_pack("{s:s, s:s, s:s, s:o, s:s, s:o, s:b, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:s, s:o, s:o}",
			 "instance", d->cfg->instance, "version", d->version, "region", d->cfg->region,
			 "region_file", region_file_json(d),
			 "dataplane", d->dp_mode, "dataplane_state", dataplane_json(d),
			 "adopted", d->adopted, "generation",
			 (json_int_t)(snap ? snap->generation : 0), "services", (json_int_t)d->n_svc,
			 "uptime_s", (json_int_t)((sy_now_ms() - d->started_ms) / 1000), "publishes",
			 (json_int_t)d->publishes, "publish_errors", (json_int_t)d->publish_errors,
			 "sources", sources, "degraded", deg, "last_error", d->last_error, "host",
			 host_json(d), "bgp", sy_bgp_status_json(d));
}

/* The services whose changes cannot be published (publish.c), for status. */
static json_t *publish_failing_json(struct sy_daemon *d)
{
	json_t *failing = json_array();
	uint64_t now = sy_now_ms();

	for (size_t i = 0; i < d->n_svc; i++) {
		const struct sy_publish_failure *f = &d->svc[i].pub;

		if (f->attempts)
			json_array_append_new(
				failing, json_pack("{s:s, s:s, s:i, s:I, s:I}", "service", d->svc[i].name,
						   "error", f->error, "attempts", (int)f->attempts,
						   "failing_for_s", (json_int_t)((now - f->since_ms) / 1000),
						   "retry_in_ms",
						   (json_int_t)(f->retry_ms > now ? f->retry_ms - now : 0)));
	}
	return failing;
}

static json_t *services_json(struct sy_daemon *d)
{
	const uint8_t *base = sy_writer_map(d->writer)->base;
	json_t *arr = json_array();

	for (size_t i = 0; i < d->n_svc; i++) {
		const struct sy_config_service *cs = &d->cfg->services[d->svc[i].cfg_index];
		const struct sy_service *s = published(d, cs->name);
		char vip[64], digest[20];

		sy_format_ip(cs->vip.family, cs->vip.addr, vip, sizeof(vip));
		snprintf(digest, sizeof(digest), "%016llx",
			 (unsigned long long)(s ? s->digest : 0));
		json_t *o = json_pack("{s:s, s:s, s:i, s:s, s:s, s:I, s:I, s:I, s:s, s:s, s:s}",
				      "name", cs->name, "vip", vip, "port", ntohs(cs->vip.port),
				      "protocol", cs->vip.proto == 6 ? "tcp" : "udp", "mode",
				      sy_fwd_mode_name(cs->mode), "table_size", (json_int_t)cs->table_size,
				      "backends", (json_int_t)(s ? s->n_backends : 0), "live",
				      (json_int_t)(s ? live_backends(s, base) : 0), "digest", digest,
				      "state", d->svc[i].b.degraded ? "degraded" : "ok", "reason",
				      d->svc[i].b.degraded_reason);

		/* how its new flows get a backend (docs/dataplane.md) */
		json_object_update_new(o, json_pack("{s:s, s:s, s:b}", "scheduler",
						    sy_scheduler_name(
							    (cs->round_robin ? SY_SERVICE_ROUND_ROBIN : 0) |
							    (cs->least_conns ? SY_SERVICE_LEAST_CONNS : 0)),
						    "hash", sy_hash_fields_name(cs->hash_fields), "quic",
						    cs->quic));
		/* its cap (sy_source_admit) and whether it publishes (publish.c) */
		json_object_update_new(
			o, json_pack("{s:I, s:I, s:I, s:s, s:s}", "max_backends",
				     (json_int_t)d->svc[i].cap, "backends_counted",
				     (json_int_t)sy_service_counted(&d->svc[i]), "over_capacity",
				     (json_int_t)d->svc[i].over_capacity, "publish",
				     d->svc[i].pub.attempts ? "failing" : "ok", "publish_error",
				     d->svc[i].pub.error));
		json_array_append_new(arr, o);
	}
	return json_pack("{s:o}", "services", arr);
}

static const char *be_state(const struct sy_service_state *s, const struct sy_be *b,
			    const struct sy_service *pub, uint64_t now)
{
	if (!b->present)
		return "expired";
	if (!b->healthy)
		return "unhealthy";
	if (now < b->hold_until_ms)
		return "held-down";
	if (pub && sy_be_weight(b) == 0)
		return "draining";
	(void)s;
	return "up";
}

static json_t *backends_json(struct sy_daemon *d, struct sy_service_state *s)
{
	const struct sy_service *pub = published(d, s->name);
	uint64_t now = sy_now_ms();
	json_t *arr = json_array();

	for (uint32_t i = 0; i < s->b.n; i++) {
		const struct sy_be *b = &s->b.be[i];
		char a[64], mac[20] = "";

		sy_format_ip(b->id.family, b->id.addr, a, sizeof(a));
		if (b->has_mac)
			snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", b->mac[0], b->mac[1],
				 b->mac[2], b->mac[3], b->mac[4], b->mac[5]);
		/* the last active check: null without checks or before the first;
		 * "unsent" when it could not leave this host (and why) */
		json_t *check = b->last_check_ms
			? json_pack("{s:s, s:I, s:i, s:i}", "last",
				    b->unsent_streak ? "unsent" : b->last_check_ok ? "pass" : "fail",
				    "ms_ago", (json_int_t)(now - b->last_check_ms), "passed_in_a_row",
				    (int)b->ok_streak, "failed_in_a_row", (int)b->fail_streak)
			: json_null();
		if (b->unsent_streak) {
			json_object_set_new(check, "unsent_in_a_row", json_integer(b->unsent_streak));
			json_object_set_new(check, "error", json_string(sy_check_unsent_reason(b->unsent_errno)));
		}

		json_array_append_new(
			arr, json_pack("{s:s, s:i, s:i, s:i, s:s, s:s, s:s, s:I, s:s, s:o}", "address",
				       a, "port", b->id.port, "weight", b->weight, "effective_weight",
				       sy_be_weight(b), "state", be_state(s, b, pub, now), "source",
				       sy_be_source_name(b->source), "zone", b->zone,
				       "last_seen_ms_ago", (json_int_t)(now - b->last_seen_ms), "mac", mac,
				       "check", check));
		if (b->server_id) /* its QUIC server ID (docs/dataplane.md) */
			json_object_set_new(json_array_get(arr, json_array_size(arr) - 1),
					    "server_id", json_integer(b->server_id));
	}
	return json_pack("{s:s, s:o, s:b, s:s}", "service", s->name, "backends", arr, "degraded",
			 s->b.degraded, "reason", s->b.degraded_reason);
}

static json_t *table_json(struct sy_daemon *d, const struct sy_service *s)
{
	const uint8_t *base = sy_writer_map(d->writer)->base;
	const struct sy_backend *b = sy_service_backends(base, s);
	const uint32_t *t = sy_service_table(base, s);
	uint32_t *count = calloc(s->n_backends + 1, sizeof(*count));
	json_t *arr = json_array();
	char digest[20];

	for (uint32_t i = 0; count && i < s->table_size; i++)
		if (t[i] < s->n_backends)
			count[t[i]]++;
	for (uint32_t i = 0; count && i < s->n_backends; i++) {
		char a[64];

		sy_format_ip(b[i].id.family, b[i].id.addr, a, sizeof(a));
		json_array_append_new(arr, json_pack("{s:s, s:i, s:i, s:i, s:f}", "address", a,
						     "port", b[i].id.port, "weight", b[i].weight,
						     "entries", count[i], "share",
						     (double)count[i] / s->table_size));
	}
	free(count);
	snprintf(digest, sizeof(digest), "%016llx", (unsigned long long)s->digest);
	return json_pack("{s:s, s:I, s:s, s:o}", "service", s->name, "table_size",
			 (json_int_t)s->table_size, "digest", digest, "backends", arr);
}

/* GET /v1/lookup, in two parts: what the published table gives a flow and,
 * for the XDP path, its conntrack map (locked: both read the daemon's
 * state); then, for the DPDK path, the dataplane's own answer over its
 * telemetry socket, asked WITHOUT the daemon lock and with a bounded wait
 * (sy_dp_lookup): a stalled dataplane must not hold up the API, the
 * registry or publishing (issue 12, point 3). */
struct lookup {
	struct sy_api_reply error;   /* status 0: none */
	char svc[SY_NAME_MAX], params[256], hx[16];
	char ep[80], newep[80], why[400];
	char fragep[80], fragwhy[300]; /* a later fragment without its first */
	uint32_t slot, table_size;
	uint32_t hash_fields;         /* enum sy_hash_fields of the service */
	uint32_t scheduler;           /* SY_SERVICE_ROUND_ROBIN, _LEAST_CONNS or 0 (Maglev) */
	/* quic services: the server ID asked about (0: none) and its backend */
	bool quic, quic_known;
	uint32_t quic_id;
	char quic_ep[80];
	/* have_data_path: ep and why hold the answer already (sy-dataplane's,
	 * tracked or not; the XDP maps' for a tracked flow); else the
	 * published table's is made in lookup_reply() */
	bool have_maglev, have_data_path, ask_dataplane;
	/* whose connection table answered: "dataplane" (sy-dataplane's
	 * telemetry), "xdp" (the program's maps), "table" (neither could be
	 * asked or answered: the published table's answer alone) */
	const char *answered_by;
	int32_t dp_pid;              /* the dataplane to ask, and where */
	char dp_socket[108];
};

/* Where this flow's fragments go (docs/dataplane.md, "Fragments"): the
 * first as the flow, the later ones after it; a later fragment without
 * its first by the 3-tuple to the address's fragment service. */
static void lookup_fragment(const struct sy_region_map *m, const struct sy_snapshot *snap,
			    const struct sy_flow_key *k, struct lookup *L)
{
	struct sy_vip_key vk = { .family = k->family, .proto = k->proto };
	struct sy_flow_key k3 = *k;
	const struct sy_service *fs;
	uint32_t h3, slot3, idx;

	memcpy(vk.addr, k->dst, sizeof(vk.addr));
	fs = snap ? sy_snapshot_vip_addr(m->base, snap, &vk) : NULL;
	if (!fs || !fs->table_size) {
		snprintf(L->fragep, sizeof(L->fragep), "none");
		snprintf(L->fragwhy, sizeof(L->fragwhy), "no fragment service for this address");
		return;
	}
	h3 = sy_service_flow_hash(&k3, fs->hash_seed,
				  sy_hash_fields_without_ports(sy_service_hash_fields(fs)));
	slot3 = h3 % fs->table_size;
	idx = sy_service_table(m->base, fs)[slot3];
	if (idx == SY_MAGLEV_NONE)
		snprintf(L->fragep, sizeof(L->fragep), "none");
	else
		sy_format_endpoint(&sy_service_backends(m->base, fs)[idx].id, L->fragep,
				   sizeof(L->fragep));
	snprintf(L->fragwhy, sizeof(L->fragwhy),
		 "the first fragment of a datagram goes as this flow, its later fragments follow it; "
		 "a later fragment whose first was not seen: 3-tuple, slot %u of %u of service %s",
		 slot3, fs->table_size, fs->name);
}

/* A quic service's short-header packets go by their CID's server ID
 * (docs/dataplane.md, "QUIC connection IDs"): the backend of the ID asked
 * about (server_id=, decimal or 0x hex), if any. 0, or -1 with L->error. */
static int lookup_quic(const uint8_t *base, const struct sy_service *s, const char *arg,
		       struct lookup *L)
{
	unsigned long v;
	uint32_t idx;
	char *end;

	L->quic = s->flags & SY_SERVICE_QUIC;
	if (!arg)
		return 0;
	v = strtoul(arg, &end, 0);
	if (!L->quic) {
		L->error = reply_error(400, "server_id: service %s is not a quic service", s->name);
		return -1;
	}
	if (!*arg || *end || *arg == '-' || v < 1 || v > SY_QUIC_SERVER_ID_MAX) {
		L->error = reply_error(400, "server_id: 1..%u (decimal or 0x hex)",
				       SY_QUIC_SERVER_ID_MAX);
		return -1;
	}
	L->quic_id = (uint32_t)v;
	idx = sy_service_quic_backend(base, s, L->quic_id);
	L->quic_known = idx != SY_MAGLEV_NONE;
	if (L->quic_known)
		sy_format_endpoint(&sy_service_backends(base, s)[idx].id, L->quic_ep,
				   sizeof(L->quic_ep));
	return 0;
}

/* The reason of a quic service's lookup, around the hash's or conntrack's
 * (why, for long headers and unknown IDs). */
static void lookup_quic_reason(struct lookup *L, const char *why)
{
	char w[201];

	snprintf(w, sizeof(w), "%.200s", why);
	if (!L->quic_id)
		snprintf(L->why, sizeof(L->why),
			 "%.200s; quic: short-header packets go by the server ID of their "
			 "connection ID (ask with a server ID)", w);
	else if (L->quic_known) {
		snprintf(L->why, sizeof(L->why),
			 "quic: server id 0x%x -> backend %s (short-header packets, ahead of "
			 "conntrack); long headers: %.200s", L->quic_id, L->quic_ep, w);
		snprintf(L->ep, sizeof(L->ep), "%s", L->quic_ep);
	} else
		snprintf(L->why, sizeof(L->why),
			 "quic: unknown server id 0x%x (no backend of the service has it; counted "
			 "in quic_cid_unknown), %.200s", L->quic_id, w);
}

static void lookup_locked(struct sy_daemon *d, const struct sy_api_request *rq, struct lookup *L)
{
	const char *svc = rq->arg(rq->arg_ctx, "service");
	const char *src = rq->arg(rq->arg_ctx, "src");
	const char *dst = rq->arg(rq->arg_ctx, "dst");
	const char *proto = rq->arg(rq->arg_ctx, "proto");
	struct sy_region_map *m = sy_writer_map(d->writer);
	struct sy_flow_key k = { 0 };
	const struct sy_service *s;
	unsigned sp, dp;
	uint8_t f2;
	uint32_t hash, idx;

	if (!svc || !(s = published(d, svc))) {
		L->error = reply_error(404, "no published service '%s'", svc ? svc : "");
		return;
	}
	if (sy_parse_ip(src, &k.family, k.src) || sy_parse_ip(dst, &f2, k.dst) || f2 != k.family ||
	    sy_parse_port(rq->arg(rq->arg_ctx, "sport"), &sp) ||
	    sy_parse_port(rq->arg(rq->arg_ctx, "dport"), &dp) ||
	    !proto || (strcmp(proto, "tcp") && strcmp(proto, "udp"))) {
		L->error = reply_error(400, "need src, sport, dst, dport (same family) and proto tcp|udp");
		return;
	}
	snprintf(L->svc, sizeof(L->svc), "%s", svc);
	k.sport = htons((uint16_t)sp);
	k.dport = htons((uint16_t)dp);
	k.proto = strcmp(proto, "tcp") == 0 ? 6 : 17;
	hash = sy_service_flow_hash(&k, s->hash_seed, sy_service_hash_fields(s));
	L->table_size = s->table_size;
	L->slot = hash % s->table_size;
	snprintf(L->hx, sizeof(L->hx), "0x%08x", hash);
	L->hash_fields = sy_service_hash_fields(s);
	L->scheduler = s->flags & (SY_SERVICE_ROUND_ROBIN | SY_SERVICE_LEAST_CONNS);
	if (lookup_quic(m->base, s, rq->arg(rq->arg_ctx, "server_id"), L))
		return;

	/* what the published table gives a new flow now; a tracked flow may be
	 * pinned elsewhere by the connection table */
	idx = sy_service_table(m->base, s)[L->slot];
	L->have_maglev = idx != SY_MAGLEV_NONE;
	if (!L->have_maglev)
		snprintf(L->newep, sizeof(L->newep), "none");
	else
		sy_format_endpoint(&sy_service_backends(m->base, s)[idx].id, L->newep,
				   sizeof(L->newep));
	lookup_fragment(m, sy_writer_snapshot(d->writer), &k, L);
	snprintf(L->params, sizeof(L->params), "%s,%u,%s,%u,%s", src, sp, dst, dp, proto);
	if (d->xdp) {
		/* the XDP program's conntrack map: a map lookup, no waiting */
		L->answered_by = "xdp";
		L->have_data_path = sy_daemon_xdp_lookup(d, s, &k, L->ep, sizeof(L->ep), L->why,
						  sizeof(L->why)) == 0;
		return;
	}
	L->ask_dataplane = true;
	L->dp_pid = atomic_load(&m->hdr->dp_pid);
	snprintf(L->dp_socket, sizeof(L->dp_socket), "%.*s", (int)sizeof(m->hdr->dp_telemetry) - 1,
		 m->hdr->dp_telemetry);
}

static struct sy_api_reply lookup_reply(struct lookup *L)
{
	char dpwhy[200];

	if (!L->have_data_path) {
		snprintf(dpwhy, sizeof(dpwhy), "%.199s", L->why);
		snprintf(L->ep, sizeof(L->ep), "%s", L->newep);
		if (!L->have_maglev)
			snprintf(L->why, sizeof(L->why), "no backend for new flows (%s)", dpwhy);
		else
			/* the backend of an untracked packet; a tracked new flow
			 * of round-robin or least-connections depends on its
			 * worker's turn or counts, unknowable from here */
			snprintf(L->why, sizeof(L->why), "%smaglev: slot %u of %u (%s)",
				 sy_scheduler_lookup_why(L->scheduler), L->slot, L->table_size,
				 dpwhy);
	}
	if (L->quic)
		lookup_quic_reason(L, L->why);
	return reply_json(200, json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:s, s:s, s:s}",
					 "service", L->svc, "backend", L->ep, "reason", L->why,
					 "answered_by", L->answered_by ? L->answered_by : "table",
					 "new_flow_backend", L->newep, "slot", (json_int_t)L->slot,
					 "table_size", (json_int_t)L->table_size, "hash", L->hx,
					 "hash_of", sy_hash_fields_name(L->hash_fields),
					 "fragment_untracked_backend", L->fragep, "fragments",
					 L->fragwhy));
}

/* The NIC counters the dataplane copies into the region every second:
 * [{"port": id, "device": name, "age_ms": since the copy, "link": up|down|
 * unknown, <counter>: n...}] */
static json_t *ports_json(const struct sy_region_map *m)
{
	struct sy_port_stats p[SY_REGION_MAX_PORTS];
	uint32_t n = sy_port_block_read(sy_region_ports(m), p);
	uint64_t now = sy_now_ms();
	json_t *arr = json_array();

	for (uint32_t i = 0; i < n; i++) {
		json_t *o = json_pack("{s:i, s:s, s:I, s:s}", "port", p[i].port_id, "device",
				      p[i].name, "age_ms", (json_int_t)(now - p[i].updated_ms),
				      "link", sy_port_link_name(p[i].link));

#define SY_X(field, name, help) json_object_set_new(o, name, json_integer((json_int_t)p[i].c.field));
		SY_PORT_COUNTERS(SY_X)
#undef SY_X
		json_array_append_new(arr, o);
	}
	return arr;
}

static json_t *stats_json(struct sy_daemon *d)
{
	struct sy_region_map *m = sy_writer_map(d->writer);
	json_t *counters = json_object(), *svcs = json_object();
	const struct sy_snapshot *snap = sy_writer_snapshot(d->writer);

	sy_daemon_xdp_refresh(d, true); /* the XDP program's counters, current */

	for (int c = 0; c < SY_C__COUNT; c++)
		json_object_set_new(counters, counter_names[c],
				    json_integer((json_int_t)sy_region_sum_counter(m, c)));
	for (uint32_t i = 0; snap && i < snap->n_services; i++) {
		const struct sy_service *s = sy_snapshot_service(m->base, snap, i);
		const struct sy_backend *be = sy_service_backends(m->base, s);
		json_t *bes = json_object();
		struct sy_vip_counters v;

		/* per backend of the published set, keyed as syctl writes them */
		for (uint32_t j = 0; j < s->n_backends; j++) {
			struct sy_backend_counters bc;
			char ep[80];

			sy_region_sum_backend(m, be[j].slot, &bc);
			sy_format_endpoint(&be[j].id, ep, sizeof(ep));
			json_object_set_new(bes, ep,
					    json_pack("{s:I, s:I, s:I}", "packets", (json_int_t)bc.pkts,
						      "bytes", (json_int_t)bc.bytes, "weight",
						      (json_int_t)be[j].weight));
		}
		sy_region_sum_vip(m, s->slot, &v);
		json_object_set_new(svcs, s->name,
				    json_pack("{s:I, s:I, s:I, s:I, s:o}", "packets", (json_int_t)v.pkts,
					      "bytes", (json_int_t)v.bytes, "drops", (json_int_t)v.drops,
					      "new_flows", (json_int_t)v.new_flows, "backends", bes));
	}
	return json_pack("{s:o, s:o, s:o}", "counters", counters, "services", svcs, "ports",
			 ports_json(m));
}

/* ---- mutations ------------------------------------------------------------- */

/* An operator change the state file keeps (state_file.h): the reply carries
 * the state to save, which sy_api_handle writes once the lock is released,
 * and says where. */
static struct sy_api_reply reply_changed(struct sy_daemon *d, json_t *j)
{
	struct sy_api_reply r;
	char path[4096];
	unsigned long long seq;
	char *text = sy_state_capture(d, &seq, path, sizeof(path));

	json_object_set_new(j, "state_file", json_string(path));
	r = reply_json(200, j);
	if (!text || !(r.state_path = strdup(path))) {
		free(text);
		free(r.text);
		return reply_error(500, "change applied, but out of memory to save it: it will not survive a restart");
	}
	r.state_text = text;
	r.state_seq = seq;
	return r;
}

/* Why a removed backend may come back: removals are not kept. */
static const char *removal_note(const struct sy_be *b)
{
	if (!b)
		return "it was no longer registered; fail-static no longer keeps it";
	switch (b->source) {
	case SY_SRC_STATIC:
		return "it is listed in the configuration file: it returns with the next reload or restart unless removed there";
	case SY_SRC_API:
		return "added through the API: removed for good";
	default:
		return "it is registered: it returns with its next heartbeat unless its agent stops; `syctl drain` keeps it out";
	}
}

/* The body of POST /v1/services/{svc}/backends, {address, port, weight?,
 * mac?}: 0, or -1 with what is wrong (which field, and why) in why. The
 * address and port follow the one backend rule (netaddr.h); port 0 only in
 * an all-ports service. */
static int backend_body(const struct sy_body *body, bool all_ports, struct sy_backend_id *id,
			uint32_t *weight, uint8_t mac[6], bool *has_mac, char *why, size_t len)
{
	json_error_t je;
	json_t *j = json_loadb(body->data ? body->data : "", body->len, JSON_REJECT_DUPLICATES, &je);
	json_t *addr = json_object_get(j, "address"), *port = json_object_get(j, "port");
	json_t *w = json_object_get(j, "weight"), *m = json_object_get(j, "mac");
	int rc = -1;

	memset(id, 0, sizeof(*id));
	*weight = 1;
	*has_mac = false;
	if (!j)
		snprintf(why, len, "body: not valid JSON: %s (line %d, column %d)", je.text, je.line,
			 je.column);
	else if (!json_is_object(j))
		snprintf(why, len, "body: must be an object {\"address\": IP, \"port\": 1..65535, "
				   "\"weight\": 0..65535, \"mac\": \"aa:bb:cc:dd:ee:ff\"}");
	else if (!json_is_string(addr) || sy_parse_ip(json_string_value(addr), &id->family, id->addr))
		snprintf(why, len, "address: must be an IPv4 or IPv6 address");
	else if (!json_is_integer(port) || json_integer_value(port) < 0 ||
		 json_integer_value(port) > 65535)
		snprintf(why, len, "port: must be an integer %u..65535", all_ports ? 0 : 1);
	else if (w && (!json_is_integer(w) || json_integer_value(w) < 0 ||
		       json_integer_value(w) > 65535))
		snprintf(why, len, "weight: must be an integer 0..65535");
	else if (m && (!json_is_string(m) || sy_parse_mac(json_string_value(m), mac)))
		snprintf(why, len, "mac: must be \"aa:bb:cc:dd:ee:ff\"");
	else
		rc = 0;
	if (rc == 0) {
		id->port = (uint16_t)json_integer_value(port);
		*weight = w ? (uint32_t)json_integer_value(w) : 1;
		*has_mac = m != NULL;
		rc = sy_backend_id_check(id, all_ports, why, len);
	}
	json_decref(j);
	return rc;
}

static struct sy_api_reply add_backend(struct sy_daemon *d, struct sy_service_state *s,
				       const struct sy_body *body)
{
	bool all_ports = d->cfg->services[s->cfg_index].vip.port == 0;
	struct sy_backend_id id;
	bool has_mac;
	uint32_t weight;
	uint8_t macb[6];
	char why[256];
	struct sy_be *b;

	if (backend_body(body, all_ports, &id, &weight, macb, &has_mac, why, sizeof(why)))
		return reply_error(400, "%s", why);
	if (!sy_source_admit(d, s, &id, SY_SRC_API, why, sizeof(why)))
		return reply_error(507, "%s", why);
	b = sy_svcb_upsert(&s->b, &id, weight, SY_SRC_API, 0, sy_now_ms());
	if (!b)
		return reply_error(500, "out of memory");
	if (has_mac) {
		memcpy(b->mac, macb, 6);
		b->has_mac = true;
	}
	sy_daemon_mark(d, s);
	return reply_changed(d, json_pack("{s:b}", "ok", 1));
}

static struct sy_api_reply backend_op(struct sy_daemon *d, const char *method,
				      struct sy_service_state *s, char *rest, const struct sy_body *body)
{
	char *op = NULL, *slash = strrchr(rest, '/');
	struct sy_backend_id id;
	struct sy_be *b;

	if (slash) {
		*slash = 0;
		op = slash + 1;
	}
	if (sy_parse_endpoint(rest, &id))
		return reply_error(400, "'%s' is not ADDR:PORT", rest);
	b = sy_svcb_find(&s->b, &id);
	/* a backend fail-static keeps although it is gone can be removed
	 * (the way out of a panic over backends that are really dead) */
	if (!b && !(!op && !strcmp(method, "DELETE") && sy_svcb_remembers(&s->b, &id)) &&
	    !(op && !strcmp(op, "reset")))
		return reply_error(404, "service %s has no backend %s", s->name, rest);
	if (!op && !strcmp(method, "DELETE")) {
		const char *note = removal_note(b);

		sy_svcb_remove(&s->b, &id, SY_LEAVE_EXPLICIT, sy_now_ms());
		sy_daemon_mark(d, s);
		return reply_changed(d, json_pack("{s:b, s:s}", "ok", 1, "note", note));
	} else if (op && !strcmp(op, "reset") && !strcmp(method, "POST")) {
		if (!sy_svcb_clear_override(&s->b, &id))
			return reply_error(404, "backend %s of %s has no operator weight to reset", rest,
					   s->name);
	} else if (op && !strcmp(op, "drain") && !strcmp(method, "POST")) {
		if (sy_svcb_set_override(&s->b, &id, 0))
			return reply_error(500, "out of memory");
	} else if (op && !strcmp(op, "weight") && !strcmp(method, "POST")) {
		json_t *j = json_loadb(body->data ? body->data : "", body->len, 0, NULL);
		json_t *w = json_object_get(j, "weight");

		if (!json_is_integer(w) || json_integer_value(w) < 0 || json_integer_value(w) > 65535) {
			json_decref(j);
			return reply_error(400, "body must be {\"weight\": 0..65535}");
		}
		if (sy_svcb_set_override(&s->b, &id, (uint32_t)json_integer_value(w))) {
			json_decref(j);
			return reply_error(500, "out of memory");
		}
		json_decref(j);
	} else {
		return reply_error(405, "%s not allowed here", method);
	}
	sy_daemon_mark(d, s);
	return reply_changed(d, json_pack("{s:b}", "ok", 1));
}

/* ---- routing -------------------------------------------------------------- */

bool sy_api_token_ok(const struct sy_daemon *d, const char *h)
{
	size_t n = strlen(d->api_token);

	return h && n && !strncmp(h, "Bearer ", 7) && strlen(h + 7) == n &&
	       CRYPTO_memcmp(h + 7, d->api_token, n) == 0;
}

/* POST /v1/reload */
static struct sy_api_reply reload(struct sy_daemon *d)
{
	char err[512];

	if (sy_daemon_reload(d, err, sizeof(err))) {
		sy_logf("error", "\"reload refused; running state unchanged\" error=\"%s\"", err);
		return reply_error(400, "%s", err);
	}
	return reply_json(200, json_pack("{s:b, s:i}", "ok", 1, "services", (int)d->n_svc));
}

static struct sy_api_reply metrics(struct sy_daemon *d)
{
	size_t len = 0;
	char *text = sy_metrics_text(d, &len);

	if (!text)
		text = strdup("");
	return (struct sy_api_reply){ .status = 200, .ctype = "text/plain; version=0.0.4",
				      .text = text, .len = len };
}

static struct sy_api_reply route(struct sy_daemon *d, const struct sy_api_request *rq)
{
	const char *url = rq->url, *method = rq->method;
	bool get = !strcmp(method, "GET");
	char path[512], *p, *svc, *rest;
	struct sy_service_state *s;

	if (!strcmp(url, "/metrics"))
		return get ? metrics(d) : reply_error(405, "use GET");
	if (!strcmp(url, "/v1/status")) {
		json_t *st;

		if (!get)
			return reply_error(405, "use GET");
		st = status_json(d);
		json_object_set_new(st, "publish_failing", publish_failing_json(d));
		return reply_json(200, st);
	}
	if (!strcmp(url, "/v1/services"))
		return get ? reply_json(200, services_json(d)) : reply_error(405, "use GET");
	if (!strcmp(url, "/v1/host/drain") || !strcmp(url, "/v1/host/undrain")) {
		bool drain = !strcmp(url, "/v1/host/drain");

		if (strcmp(method, "POST"))
			return reply_error(405, "use POST");
		if (rq->body->len)
			return reply_error(400, "%s takes no body", url);
		sy_bgp_set_drained(d, drain);
		return reply_changed(d, json_pack("{s:b, s:b}", "ok", 1, "drained", drain));
	}
	if (!strcmp(url, "/v1/stats"))
		return get ? reply_json(200, stats_json(d)) : reply_error(405, "use GET");
	if (!strcmp(url, "/v1/reload")) {
		if (strcmp(method, "POST"))
			return reply_error(405, "use POST");
		return reload(d);
	}
	if (strncmp(url, "/v1/services/", 13) || strlen(url) >= sizeof(path))
		return reply_error(404, "no such path %s", url);
	snprintf(path, sizeof(path), "%s", url + 13);
	svc = path;
	p = strchr(path, '/');
	if (!p)
		return reply_error(404, "no such path %s", url);
	*p++ = 0;
	s = sy_daemon_service(d, svc);
	if (!s)
		return reply_error(404, "no service '%s'", svc);
	if (!strcmp(p, "backends")) {
		if (get)
			return reply_json(200, backends_json(d, s));
		if (!strcmp(method, "POST"))
			return add_backend(d, s, rq->body);
		return reply_error(405, "use GET or POST");
	}
	if (!strcmp(p, "table")) {
		const struct sy_service *pub = published(d, svc);

		if (!get)
			return reply_error(405, "use GET");
		if (!pub)
			return reply_error(404, "service '%s' is not published yet", svc);
		return reply_json(200, table_json(d, pub));
	}
	if (!strncmp(p, "backends/", 9)) {
		rest = p + 9;
		return backend_op(d, method, s, rest, rq->body);
	}
	return reply_error(404, "no such path %s", url);
}

struct sy_api_reply sy_api_handle(struct sy_daemon *d, const struct sy_api_request *rq)
{
	struct sy_api_reply r;

	/* Every endpoint, /metrics included, needs the token over TCP. */
	if (rq->needs_token && !sy_api_token_ok(d, rq->authorization))
		return reply_error(401, "missing or wrong bearer token");
	if (rq->body->too_large)
		return reply_error(413, "body over %d bytes", API_MAX_BODY);
	if (!strcmp(rq->url, "/v1/lookup")) {
		struct lookup L = { 0 };

		if (strcmp(rq->method, "GET"))
			return reply_error(405, "use GET");
		pthread_mutex_lock(&d->lock);
		lookup_locked(d, rq, &L);
		pthread_mutex_unlock(&d->lock);
		if (L.error.status)
			return L.error;
		if (L.ask_dataplane) {
			L.have_data_path = sy_dp_lookup(L.dp_pid, L.dp_socket, L.params, L.ep, sizeof(L.ep),
						 L.why, sizeof(L.why)) == 0;
			if (L.have_data_path)
				L.answered_by = "dataplane";
		}
		return lookup_reply(&L);
	}
	pthread_mutex_lock(&d->lock);
	r = route(d, rq);
	pthread_mutex_unlock(&d->lock);
	if (r.state_text) {
		/* disk I/O, without the lock: the answer waits for it, so "ok"
		 * means the change will survive a restart */
		char err[512];

		if (sy_state_save(r.state_path, r.state_text, r.state_seq, err, sizeof(err))) {
			sy_logf("error", "\"operator change applied but not saved\" error=\"%s\"", err);
			free(r.text);
			r = reply_error(500, "change applied, but not saved (%s): it will not survive a restart",
					err);
		}
		free(r.state_text);
		free(r.state_path);
		r.state_text = r.state_path = NULL;
	}
	return r;
}

/* ---- the libmicrohttpd adapter ------------------------------------------- */

struct api_listener {
	struct sy_daemon *d;
	bool needs_token;
};

static const char *query_arg(void *c, const char *name)
{
	return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
}

/* A request refused before its body is looked at: a bad token, a body over
 * the cap. */
static sy_mhd_result refuse(struct MHD_Connection *c, unsigned status)
{
	if (status == 401)
		return sy_http_error(c, 401, "missing or wrong bearer token");
	return sy_http_error(c, 413, "body over %d bytes", API_MAX_BODY);
}

static sy_mhd_result handler(void *cls, struct MHD_Connection *c, const char *url,
			     const char *method, const char *version, const char *upload,
			     size_t *upload_size, void **con_cls)
{
	struct api_listener *l = cls;
	struct sy_daemon *d = l->d;
	const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	struct sy_body *body;
	struct sy_api_reply r;
	sy_mhd_result ret;
	unsigned early = 0; /* at the first call: 401 or 413 to answer */
	bool first = false;

	(void)version;
	/* at the first call, before any body is read: the token, then a
	 * declared oversized body. Refused at once if no body follows (or one
	 * over SY_HTTP_DRAIN_MAX); else once the body is read and dropped, so
	 * that the client, still sending, reads the answer (http.h) */
	if (!*con_cls) {
		if (l->needs_token && !sy_api_token_ok(d, auth))
			early = 401;
		else if (sy_http_declared_too_large(c, API_MAX_BODY))
			early = 413;
		if (early && !sy_http_body_to_drain(c))
			return refuse(c, early);
		first = true;
	}
	if (!sy_http_collect(con_cls, upload, upload_size, API_MAX_BODY, &body)) {
		if (first) { /* the body just made: what its end is to answer */
			body->refused = early == 401;
			body->too_large = early == 413;
		}
		return sy_http_drained_too_much(body) ? MHD_NO : MHD_YES;
	}
	if (!body)
		return sy_http_error(c, 500, "out of memory");
	if (body->refused || body->too_large) /* a body over the cap (chunked) too */
		return refuse(c, body->refused ? 401 : 413);
	r = sy_api_handle(d, &(struct sy_api_request){ .method = method, .url = url,
							.arg = query_arg, .arg_ctx = c,
							.authorization = auth,
							.needs_token = l->needs_token,
							.body = body });
	if (!r.text)
		return sy_http_text(c, 500, "application/json", "{\"error\":\"out of memory\"}", 25);
	ret = sy_http_text(c, r.status, r.ctype, r.text, r.len);
	free(r.text);
	return ret;
}

static struct api_listener unix_l, tcp_l;

/* A thread per connection (at most 256): one slow request (a lookup waiting
 * for the dataplane, a big /metrics) never queues the others behind it.
 * poll(), not select(): descriptors go past FD_SETSIZE (health.c). */
static struct MHD_Daemon *start_on(int fd, struct api_listener *l)
{
	return MHD_start_daemon(MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_THREAD_PER_CONNECTION |
					MHD_USE_ERROR_LOG, 0, NULL, NULL,
				handler, l, MHD_OPTION_LISTEN_SOCKET, fd,
				MHD_OPTION_NOTIFY_COMPLETED, sy_http_completed, NULL,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)10,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned int)256, MHD_OPTION_END);
}

int sy_api_start(struct sy_daemon *d, char *err, size_t errlen)
{
	const struct sy_config_api *a = &d->cfg->api;
	int fd = sy_listen_unix(a->socket, a->group, err, errlen);

	if (fd < 0)
		return -1;
	unix_l = (struct api_listener){ .d = d, .needs_token = false };
	d->api_unix = start_on(fd, &unix_l);
	if (!d->api_unix) {
		snprintf(err, errlen, "cannot start the API on %s", a->socket);
		return -1;
	}
	if (a->tcp_host) {
		if (sy_read_token(d->cfg, d->api_token, sizeof(d->api_token), err, errlen))
			return -1;
		fd = sy_listen_tcp(a->tcp_family, a->tcp_addr, a->tcp_port, false, err, errlen);
		if (fd < 0)
			return -1;
		tcp_l = (struct api_listener){ .d = d, .needs_token = true };
		d->api_tcp = start_on(fd, &tcp_l);
		if (!d->api_tcp) {
			snprintf(err, errlen, "cannot start the TCP API");
			return -1;
		}
	}
	return 0;
}

void sy_api_stop(struct sy_daemon *d)
{
	if (d->api_unix)
		MHD_stop_daemon(d->api_unix);
	if (d->api_tcp)
		MHD_stop_daemon(d->api_tcp);
	d->api_unix = d->api_tcp = NULL;
	if (d->cfg && d->cfg->api.socket)
		unlink(d->cfg->api.socket);
}
