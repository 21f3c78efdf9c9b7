/* SPDX-License-Identifier: BSD-3-Clause
 *
 * GET /metrics: Prometheus text format 0.0.4. Each metric family is written
 * whole by one call (HELP, TYPE, then every sample of it), so families never
 * interleave: parsers that read a family per run of names (and OpenMetrics)
 * would otherwise see one family several times. Names are in base units
 * (seconds, bytes) and counters end in _total, as `promtool check metrics`
 * asks. Adding a family: one family_*() call, or family() and its samples.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <switchyard/counters.h>

#include "bgp.h"
#include "metrics.h"
#include "netaddr.h"
#include "source.h"

struct buf {
	char *p;
	size_t len, cap;
};

static void put(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if (b->p && b->len + (size_t)n < b->cap) {
			b->len += (size_t)n;
			return;
		}
		{
			size_t cap = (b->cap ? b->cap * 2 : 65536) + (size_t)n;
			char *np = realloc(b->p, cap);

			if (!np)
				return;
			b->p = np;
			b->cap = cap;
		}
	}
}

/* c's escape in the exposition format, or NULL: HELP text escapes '\' and
 * newline, label values also '"'. */
static const char *escape(char c, bool quote)
{
	return c == '\\' ? "\\\\" : c == '\n' ? "\\n" : c == '"' && quote ? "\\\"" : NULL;
}

static void put_help(struct buf *b, const char *s)
{
	while (*s) {
		size_t n = 0;

		while (s[n] && !escape(s[n], false))
			n++;
		put(b, "%.*s", (int)n, s);
		s += n;
		if (*s)
			put(b, "%s", escape(*s++, false));
	}
}

/* ---- families and samples ------------------------------------------------ */

/* The family's header; its samples must follow before the next family. */
static void family(struct buf *b, const char *name, const char *type, const char *help)
{
	put(b, "# HELP %s ", name);
	put_help(b, help);
	put(b, "\n# TYPE %s %s\n", name, type);
}

/* A label set, built pair by pair: `k1="v1",k2="v2"`. The values are short
 * (names of at most 63 bytes, endpoints, device names): the text holds any
 * set made here, escaped. */
struct labels {
	char text[512];
	size_t len;
};

static struct labels *label(struct labels *l, const char *key, const char *value)
{
	size_t n = l->len;
	int k = snprintf(l->text + n, sizeof(l->text) - n, "%s%s=\"", n ? "," : "", key);

	if (k < 0 || (size_t)k >= sizeof(l->text) - n) {
		l->text[l->len] = 0; /* no room: the set as it was */
		return l;
	}
	n += (size_t)k;
	for (const char *s = value; *s && n + 4 < sizeof(l->text); s++) {
		const char *e = escape(*s, true);

		if (e) {
			memcpy(l->text + n, e, 2);
			n += 2;
		} else {
			l->text[n++] = *s;
		}
	}
	l->text[n++] = '"';
	l->text[n] = 0;
	l->len = n;
	return l;
}

static void sample(struct buf *b, const char *name, const struct labels *l, uint64_t v)
{
	if (l && l->len)
		put(b, "%s{%s} %llu\n", name, l->text, (unsigned long long)v);
	else
		put(b, "%s %llu\n", name, (unsigned long long)v);
}

/* A family of one unlabelled sample. */
static void family_value(struct buf *b, const char *name, const char *type, const char *help,
			 uint64_t v)
{
	family(b, name, type, help);
	sample(b, name, NULL, v);
}

/* A histogram of durations kept in milliseconds, exposed in seconds. */
static void family_ms_histogram(struct buf *b, const char *name, const char *help,
				const struct sy_ms_histogram *h)
{
	uint64_t cum = 0;

	family(b, name, "histogram", help);
	for (int i = 0; i < SY_LATENCY_BUCKETS; i++) {
		cum += h->count[i];
		put(b, "%s_bucket{le=\"%g\"} %llu\n", name, sy_latency_bounds_ms[i] / 1000.0,
		    (unsigned long long)cum);
	}
	cum += h->count[SY_LATENCY_BUCKETS];
	put(b, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name,
	    (unsigned long long)cum, name, h->sum_ms / 1000.0, name, (unsigned long long)cum);
}

/* ---- the dataplane's counters (include/switchyard/counters.h) ------------ */

static const char *const counter_names[] = {
#define SY_X(id, name, help) name,
	SY_COUNTERS(SY_X)
#undef SY_X
};
static const char *const counter_helps[] = {
#define SY_X(id, name, help) help,
	SY_COUNTERS(SY_X)
#undef SY_X
};

#define DROP_PREFIX "drop_"

static bool is_drop(int c)
{
	return strncmp(counter_names[c], DROP_PREFIX, strlen(DROP_PREFIX)) == 0;
}

/* Counter `x` is switchyard_x_total; the drop_<reason> counters are one
 * family, switchyard_drops_total{reason="<reason>"}, so that a panel or an
 * alert sums or splits them by label, and counters appended to counters.h
 * show up without a change here. */
static void counters(struct buf *b, const struct sy_region_map *m)
{
	char name[96];

	for (int c = 0; c < SY_C__COUNT; c++) {
		if (is_drop(c))
			continue;
		snprintf(name, sizeof(name), "switchyard_%s_total", counter_names[c]);
		family_value(b, name, "counter", counter_helps[c], sy_region_sum_counter(m, c));
	}
	family(b, "switchyard_drops_total", "counter",
	       "Packets the dataplane dropped, by reason (counter drop_<reason>; "
	       "docs/troubleshooting.md says what each means)");
	for (int c = 0; c < SY_C__COUNT; c++) {
		struct labels l = { 0 };

		if (is_drop(c))
			sample(b, "switchyard_drops_total",
			       label(&l, "reason", counter_names[c] + strlen(DROP_PREFIX)),
			       sy_region_sum_counter(m, c));
	}
}

/* ---- services and backends ------------------------------------------------ */

/* The published services' figures, read once per scrape. */
struct service_row {
	const char *name;
	uint64_t pkts, bytes, drops, new_flows, degraded, digest;
};

struct backend_row {
	const char *service;
	char endpoint[80];
	uint64_t pkts, bytes, up;
};

struct rows {
	struct service_row *svc;
	struct backend_row *be;
	size_t n_svc, n_be;
};

static int read_rows(struct sy_daemon *d, const struct sy_region_map *m,
		     const struct sy_snapshot *snap, struct rows *r)
{
	size_t n_be = 0;

	*r = (struct rows){ 0 };
	for (uint32_t i = 0; snap && i < snap->n_services; i++)
		n_be += sy_snapshot_service(m->base, snap, i)->n_backends;
	r->svc = calloc(snap && snap->n_services ? snap->n_services : 1, sizeof(*r->svc));
	r->be = calloc(n_be ? n_be : 1, sizeof(*r->be));
	if (!r->svc || !r->be)
		return -1;
	for (uint32_t i = 0; snap && i < snap->n_services; i++) {
		const struct sy_service *s = sy_snapshot_service(m->base, snap, i);
		const struct sy_backend *be = sy_service_backends(m->base, s);
		const struct sy_service_state *st = sy_daemon_service(d, s->name);
		struct service_row *sr = &r->svc[r->n_svc++];
		struct sy_vip_counters v;

		sy_region_sum_vip(m, s->slot, &v);
		*sr = (struct service_row){ .name = s->name, .pkts = v.pkts, .bytes = v.bytes,
					    .drops = v.drops, .new_flows = v.new_flows,
					    .degraded = st && st->b.degraded, .digest = s->digest };
		for (uint32_t j = 0; j < s->n_backends; j++) {
			struct backend_row *br = &r->be[r->n_be++];
			struct sy_backend_counters bc;

			sy_region_sum_backend(m, be[j].slot, &bc);
			br->service = s->name;
			sy_format_endpoint(&be[j].id, br->endpoint, sizeof(br->endpoint));
			br->pkts = bc.pkts;
			br->bytes = bc.bytes;
			br->up = be[j].weight > 0;
		}
	}
	return 0;
}

/* A family with one sample per service: the uint64_t at `field` of its row. */
static void family_per_service(struct buf *b, const struct rows *r, const char *name,
			       const char *type, const char *help, size_t field)
{
	family(b, name, type, help);
	for (size_t i = 0; i < r->n_svc; i++) {
		struct labels l = { 0 };

		sample(b, name, label(&l, "service", r->svc[i].name),
		       *(const uint64_t *)((const char *)&r->svc[i] + field));
	}
}

/* A family with one sample per backend of a published service. */
static void family_per_backend(struct buf *b, const struct rows *r, const char *name,
			       const char *type, const char *help, size_t field)
{
	family(b, name, type, help);
	for (size_t i = 0; i < r->n_be; i++) {
		struct labels l = { 0 };

		label(&l, "service", r->be[i].service);
		sample(b, name, label(&l, "backend", r->be[i].endpoint),
		       *(const uint64_t *)((const char *)&r->be[i] + field));
	}
}

static void services(struct buf *b, const struct rows *r)
{
	family_per_service(b, r, "switchyard_vip_packets_total", "counter",
			   "Packets forwarded per VIP", offsetof(struct service_row, pkts));
	family_per_service(b, r, "switchyard_vip_bytes_total", "counter",
			   "Bytes forwarded per VIP", offsetof(struct service_row, bytes));
	family_per_service(b, r, "switchyard_vip_drops_total", "counter",
			   "Packets dropped per VIP (no backend for a new flow)",
			   offsetof(struct service_row, drops));
	family_per_service(b, r, "switchyard_vip_new_flows_total", "counter", "New flows per VIP",
			   offsetof(struct service_row, new_flows));
	family_per_service(b, r, "switchyard_service_degraded", "gauge",
			   "1 if the service serves a fail-static set (syctl status says why)",
			   offsetof(struct service_row, degraded));
	family(b, "switchyard_service_table_digest", "gauge",
	       "Maglev table digest (low 52 bits; label digest: all 64, hex) for fleet comparison");
	for (size_t i = 0; i < r->n_svc; i++) {
		struct labels l = { 0 };
		char hex[20];

		snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)r->svc[i].digest);
		label(&l, "service", r->svc[i].name);
		sample(b, "switchyard_service_table_digest", label(&l, "digest", hex),
		       r->svc[i].digest & ((1ull << 52) - 1));
	}
	family_per_backend(b, r, "switchyard_backend_packets_total", "counter",
			   "Packets per backend", offsetof(struct backend_row, pkts));
	family_per_backend(b, r, "switchyard_backend_bytes_total", "counter", "Bytes per backend",
			   offsetof(struct backend_row, bytes));
	family_per_backend(b, r, "switchyard_backend_up", "gauge",
			   "1 if the backend is in the published set with weight > 0",
			   offsetof(struct backend_row, up));
}

/* ---- the dataplane's ports (the region's port block) ---------------------- */

/* switchyard_port_<name>_total{port, device} per counter of
 * SY_PORT_COUNTERS, and switchyard_port_link_up{port, device}; no samples
 * while no DPDK dataplane publishes (XDP). */
static void ports(struct buf *b, const struct sy_region_map *m)
{
	static const struct {
		const char *name, *help;
		size_t field;
	} counters[] = {
#define SY_X(field, name, help) { name, help, offsetof(struct sy_port_counters, field) },
		SY_PORT_COUNTERS(SY_X)
#undef SY_X
	};
	struct sy_port_stats p[SY_REGION_MAX_PORTS];
	uint32_t n = sy_port_block_read(sy_region_ports(m), p);

	for (size_t c = 0; c < sizeof(counters) / sizeof(counters[0]); c++) {
		char name[96];

		snprintf(name, sizeof(name), "switchyard_port_%s_total", counters[c].name);
		family(b, name, "counter", counters[c].help);
		for (uint32_t i = 0; i < n; i++) {
			struct labels l = { 0 };
			char id[8];

			snprintf(id, sizeof(id), "%u", p[i].port_id);
			label(&l, "port", id);
			sample(b, name, label(&l, "device", p[i].name),
			       *(const uint64_t *)((const char *)&p[i].c + counters[c].field));
		}
	}
	/* 1 up, 0 down; no sample while unknown (an older dataplane) */
	family(b, "switchyard_port_link_up", "gauge",
	       "Whether the port's link is up (1) or down (0), as the dataplane last read it");
	for (uint32_t i = 0; i < n; i++) {
		struct labels l = { 0 };
		char id[8];

		if (p[i].link == SY_PORT_LINK_UNKNOWN)
			continue;
		snprintf(id, sizeof(id), "%u", p[i].port_id);
		label(&l, "port", id);
		sample(b, "switchyard_port_link_up", label(&l, "device", p[i].name),
		       p[i].link == SY_PORT_LINK_UP);
	}
}

/* ---- sy-control itself ----------------------------------------------------- */

static void control(struct buf *b, struct sy_daemon *d, const struct sy_snapshot *snap)
{
	struct labels l;

	family_ms_histogram(b, "switchyard_publish_latency_seconds",
			    "Registry or config event to table published", &d->latency);
	family_ms_histogram(b, "switchyard_table_build_duration_seconds",
			    "Time one publish spent building its changed services' Maglev tables",
			    &d->build);
	family_value(b, "switchyard_generation", "gauge",
		     "Generation of the published snapshot (publishes since the region was created)",
		     snap ? snap->generation : 0);
	family(b, "switchyard_registrations_total", "counter",
	       "Registrations to the embedded registry: accepted, rejected (malformed, not "
	       "authentic, not allowed) or over_capacity (authentic, but a new backend of a "
	       "service at its max_backends: answered 507)");
	l = (struct labels){ 0 };
	sample(b, "switchyard_registrations_total", label(&l, "result", "accepted"), d->reg_accepted);
	l = (struct labels){ 0 };
	sample(b, "switchyard_registrations_total", label(&l, "result", "rejected"), d->reg_rejected);
	l = (struct labels){ 0 };
	sample(b, "switchyard_registrations_total", label(&l, "result", "over_capacity"),
	       d->over_capacity[SY_SRC_EMBEDDED]);
	/* reads and watches of the embedded registry (docs/registry-api.md) */
	family_value(b, "switchyard_registry_reads_total", "counter",
		     "Reads of the embedded registry answered at once (instances or services)",
		     d->read_stats.lists);
	family_value(b, "switchyard_registry_watches_total", "counter",
		     "Blocking watches parked on the embedded registry", d->read_stats.watches);
	family_value(b, "switchyard_registry_watchers", "gauge",
		     "Blocking watches parked now (at most registry.embedded.read.max_watchers)",
		     d->read_stats.parked);
	family(b, "switchyard_registry_watch_wakeups_total", "counter",
	       "Parked watches ended: change (the revision passed their index), timeout (their "
	       "wait ended), shutdown (sy-control stopping), gone (service unconfigured), closed "
	       "(the client hung up)");
	for (int w = 0; w < SY_WAKE_N; w++) {
		l = (struct labels){ 0 };
		sample(b, "switchyard_registry_watch_wakeups_total",
		       label(&l, "reason", sy_watch_wake_str((enum sy_watch_wake)w)),
		       d->read_stats.wakeups[w]);
	}
	family(b, "switchyard_registry_read_refusals_total", "counter",
	       "Reads of the embedded registry refused, by reason");
	for (int r = 0; r < SY_REFUSED_N; r++) {
		l = (struct labels){ 0 };
		sample(b, "switchyard_registry_read_refusals_total",
		       label(&l, "reason", sy_read_refusal_str((enum sy_read_refusal)r)),
		       d->read_stats.refused[r]);
	}
	family_value(b, "switchyard_publish_errors_total", "counter",
		     "Publish attempts that failed (a service's staging or commit, the XDP maps); "
		     "switchyard_service_publish_errors_total says which service",
		     d->publish_errors);
	family(b, "switchyard_backends_over_capacity_total", "counter",
	       "New backends refused (embedded: 507, api: 507) or ignored (the registries: "
	       "each time a listing or event offers one) because their service was at its max_backends");
	for (enum sy_be_source src = SY_SRC_EMBEDDED; src < SY_SRC_END; src++) {
		l = (struct labels){ 0 };
		sample(b, "switchyard_backends_over_capacity_total",
		       label(&l, "source", sy_be_source_name(src)), d->over_capacity[src]);
	}

	family(b, "switchyard_source_up", "gauge",
	       "1 if the backend source works (registry reachable, listener up)");
	for (const struct sy_source *const *src = sy_sources; *src; src++) {
		char text[256];
		bool up;

		(*src)->describe(*src, d, text, sizeof(text), &up);
		l = (struct labels){ 0 };
		sample(b, "switchyard_source_up", label(&l, "source", (*src)->name), up);
	}
	family(b, "switchyard_registry_invalid_total", "counter",
	       "Registry keys or values ignored because they did not parse");
	for (const struct sy_source *const *src = sy_sources; *src; src++) {
		if ((*src)->kind < SY_SOURCE_REGISTRY_FIRST) /* the registries only */
			continue;
		l = (struct labels){ 0 };
		sample(b, "switchyard_registry_invalid_total", label(&l, "source", (*src)->name),
		       d->registry_invalid[(*src)->kind]);
	}
}

/* The configured services' caps and publishing, published or not: a
 * service that cannot be published has samples here. */
static void configured_services(struct buf *b, const struct sy_daemon *d)
{
	static const struct {
		const char *name, *type, *help;
	} fams[] = {
		{ "switchyard_service_max_backends", "gauge",
		  "The service's backend cap: services[].max_backends, or its share of limits.backends" },
		{ "switchyard_service_backends_counted", "gauge",
		  "Backends the service counts against its cap: known from every source, plus "
		  "fail-static members no longer known" },
		{ "switchyard_service_backends_over_capacity_total", "counter",
		  "New backends refused or ignored because the service was at its cap" },
		{ "switchyard_service_publish_failing", "gauge",
		  "1 while the service's changes cannot be published (syctl status says why); its "
		  "running table stays and it is retried with a back-off" },
		{ "switchyard_service_publish_errors_total", "counter",
		  "Failed attempts to publish the service" },
		{ "switchyard_health_checks_failed_total", "counter",
		  "Active health checks of the service's backends that failed" },
		{ "switchyard_health_checks_passed_total", "counter",
		  "Active health checks of the service's backends that passed" },
		{ "switchyard_health_checks_unsent_total", "counter",
		  "Active health checks that could not leave this host (no route towards the "
		  "backend, a socket refused, the DPDK dataplane not running or paused): the backend's "
		  "state was kept" },
	};

	for (size_t f = 0; f < sizeof(fams) / sizeof(fams[0]); f++) {
		family(b, fams[f].name, fams[f].type, fams[f].help);
		for (size_t i = 0; i < d->n_svc; i++) {
			const struct sy_service_state *s = &d->svc[i];
			const uint64_t v[] = { s->cap, sy_service_counted(s), s->over_capacity,
					       s->pub.attempts > 0, s->pub.total, s->checks[0],
					       s->checks[1], s->checks_unsent };
			struct labels l = { 0 };

			sample(b, fams[f].name, label(&l, "service", s->name), v[f]);
		}
	}
}

/* The dataplane's liveness (dp_health.c): up, and which state, one sample
 * per state so that an alert can name it. */
static void dataplane(struct buf *b, const struct sy_daemon *d)
{
	static const enum sy_dp_state states[] = { SY_DP_RUNNING, SY_DP_STALLED, SY_DP_GONE,
						   SY_DP_NONE, SY_DP_DETACHED };
	struct labels l;

	family_value(b, "switchyard_dataplane_up", "gauge",
		     "1 while the dataplane forwards: DPDK workers moving, or the XDP program attached",
		     d->dp_health.state == SY_DP_RUNNING);
	family(b, "switchyard_dataplane_state", "gauge",
	       "1 for the dataplane's state: running, stalled (alive, workers not moving), gone "
	       "(died), none (not attached), detached (XDP link gone)");
	for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
		l = (struct labels){ 0 };
		sample(b, "switchyard_dataplane_state", label(&l, "state", sy_dp_state_name(states[i])),
		       d->dp_health.state == states[i]);
	}
	family_value(b, "switchyard_dataplane_region_current", "gauge",
		     "0 while the DPDK dataplane still maps a removed region file (it follows the re-created one within a second)",
		     !d->dp_health.stale_region);
	family_value(b, "switchyard_xdp_maps_behind", "gauge",
		     "1 while the XDP program's maps lag the published tables: their last sync failed, "
		     "tried again with a back-off (always 0 on the DPDK path)",
		     d->xdp && sy_daemon_xdp_behind(d));
	family_value(b, "switchyard_region_file_ok", "gauge",
		     "1 while the region's path names the file sy-control writes (0: removed and not re-created, or replaced)",
		     d->region_file_state == SY_REGION_FILE_SAME);
	family_value(b, "switchyard_region_recreated_total", "counter",
		     "Times the region file was re-created from the live region after it was removed",
		     d->region_recreated);
}

/* Announcing the VIPs (bgp.c): per VIP announced or not, why not, how
 * often withdrawn by reason; the host's drain; the BGP daemon's state. */
static void announce(struct buf *b, struct sy_daemon *d)
{
	static const char *const daemon_states[] = { "off", "starting", "up", "unreachable",
						     "not_configured", "error" };
	struct sy_bgp *g = d->bgp;
	struct sy_bgp_daemon_state st = { 0 };
	const char *state = "off";
	char ip[64];

	if (g) {
		sy_bgp_daemon_state(g, &st);
		state = sy_bgp_state_name(g, &st);
	}
	family_value(b, "switchyard_host_drained", "gauge",
		     "1 while the operator has drained the host (syctl drain-host): no VIP is announced",
		     d->drained);
	family_value(b, "switchyard_bgp_daemon_up", "gauge",
		     "1 while the BGP daemon (bgp.daemon) answers and reads the VIPs sy-control writes",
		     !strcmp(state, "up"));
	family(b, "switchyard_bgp_daemon_state", "gauge",
	       "1 for the BGP daemon's state: off (bgp.daemon none), starting, up, unreachable (not "
	       "running, no answer), not_configured (it does not include bgp.include_file), error");
	for (size_t i = 0; i < sizeof(daemon_states) / sizeof(daemon_states[0]); i++) {
		struct labels l = { 0 };

		sample(b, "switchyard_bgp_daemon_state", label(&l, "state", daemon_states[i]),
		       !strcmp(state, daemon_states[i]));
	}
	family_value(b, "switchyard_bgp_daemon_errors_total", "counter",
		     "Failed attempts to have the BGP daemon read the VIPs (retried)", st.errors);
	family(b, "switchyard_vip_announced", "gauge",
	       "1 while sy-control announces the VIP (with bgp.daemon none: decides to)");
	for (size_t i = 0; g && i < g->n_vips; i++) {
		struct labels l = { 0 };

		sy_format_ip(g->vips[i].a.family, g->vips[i].a.addr, ip, sizeof(ip));
		sample(b, "switchyard_vip_announced", label(&l, "vip", ip), g->vips[i].a.announced);
	}
	family(b, "switchyard_vip_withdrawn", "gauge",
	       "1 for the reason a VIP is withdrawn now: stopping, drained, dataplane, no_backend, "
	       "fail_static, hold_down (all 0 while announced)");
	for (size_t i = 0; g && i < g->n_vips; i++) {
		sy_format_ip(g->vips[i].a.family, g->vips[i].a.addr, ip, sizeof(ip));
		for (int r = SY_ANN_STOPPING; r < SY_ANN__COUNT; r++) {
			struct labels l = { 0 };

			label(&l, "vip", ip);
			sample(b, "switchyard_vip_withdrawn", label(&l, "reason", sy_ann_reason_name(r)),
			       !g->vips[i].a.announced && g->vips[i].a.reason == (enum sy_ann_reason)r);
		}
	}
	family(b, "switchyard_vip_withdrawals_total", "counter",
	       "Times a VIP went from announced to withdrawn, by reason");
	for (size_t i = 0; g && i < g->n_vips; i++) {
		sy_format_ip(g->vips[i].a.family, g->vips[i].a.addr, ip, sizeof(ip));
		for (int r = SY_ANN_STOPPING; r < SY_ANN__COUNT; r++) {
			struct labels l = { 0 };

			if (r == SY_ANN_HOLD_DOWN)
				continue; /* never a cause to withdraw: it follows one */
			label(&l, "vip", ip);
			sample(b, "switchyard_vip_withdrawals_total",
			       label(&l, "reason", sy_ann_reason_name(r)), g->vips[i].a.withdrawals[r]);
		}
	}
}

char *sy_metrics_text(struct sy_daemon *d, size_t *len)
{
	struct sy_region_map *m = sy_writer_map(d->writer);
	const struct sy_snapshot *snap = sy_writer_snapshot(d->writer);
	struct buf b = { 0 };
	struct rows r;

	sy_daemon_xdp_refresh(d, true); /* the XDP program's counters, current */
	if (read_rows(d, m, snap, &r) == 0) {
		counters(&b, m);
		ports(&b, m);
		services(&b, &r);
		control(&b, d, snap);
		configured_services(&b, d);
		dataplane(&b, d);
		announce(&b, d);
	}
	free(r.svc);
	free(r.be);
	*len = b.len;
	return b.p;
}
