/* SPDX-License-Identifier: BSD-3-Clause */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <switchyard/counters.h>

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

static void put_histogram(struct buf *b, const char *name, const char *help,
			  const struct sy_ms_histogram *h)
{
	uint64_t cum = 0;

	put(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	for (int i = 0; i < SY_LATENCY_BUCKETS; i++) {
		cum += h->count[i];
		put(b, "%s_bucket{le=\"%g\"} %llu\n", name, sy_latency_bounds_ms[i],
		    (unsigned long long)cum);
	}
	cum += h->count[SY_LATENCY_BUCKETS];
	put(b, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.3f\n%s_count %llu\n", name,
	    (unsigned long long)cum, name, h->sum_ms, name, (unsigned long long)cum);
}

static const char *const names[] = {
#define SY_X(id, name, help) name,
	SY_COUNTERS(SY_X)
#undef SY_X
};
static const char *const helps[] = {
#define SY_X(id, name, help) help,
	SY_COUNTERS(SY_X)
#undef SY_X
};

char *sy_metrics_text(struct sy_daemon *d, size_t *len)
{
	struct sy_region_map *m = sy_writer_map(d->writer);
	const struct sy_snapshot *snap = sy_writer_snapshot(d->writer);
	struct buf b = { 0 };

	sy_daemon_xdp_refresh(d, true); /* the XDP program's counters, current */

	for (int i = 0; i < SY_C__COUNT; i++) {
		uint64_t v = sy_region_sum_counter(m, i);

		put(&b, "# HELP switchyard_%s_total %s\n# TYPE switchyard_%s_total counter\nswitchyard_%s_total %llu\n",
		    names[i], helps[i], names[i], names[i], (unsigned long long)v);
	}
	put(&b, "# HELP switchyard_vip_packets_total Packets forwarded per VIP\n# TYPE switchyard_vip_packets_total counter\n");
	put(&b, "# HELP switchyard_vip_bytes_total Bytes forwarded per VIP\n# TYPE switchyard_vip_bytes_total counter\n");
	put(&b, "# HELP switchyard_vip_drops_total Packets dropped per VIP (no backend)\n# TYPE switchyard_vip_drops_total counter\n");
	put(&b, "# HELP switchyard_vip_new_flows_total New flows per VIP\n# TYPE switchyard_vip_new_flows_total counter\n");
	put(&b, "# HELP switchyard_backend_packets_total Packets per backend\n# TYPE switchyard_backend_packets_total counter\n");
	put(&b, "# HELP switchyard_backend_bytes_total Bytes per backend\n# TYPE switchyard_backend_bytes_total counter\n");
	put(&b, "# HELP switchyard_backend_up Backend in the published set with weight > 0\n# TYPE switchyard_backend_up gauge\n");
	put(&b, "# HELP switchyard_service_table_digest Maglev table digest (low 52 bits) for fleet comparison\n# TYPE switchyard_service_table_digest gauge\n");
	put(&b, "# HELP switchyard_service_degraded 1 if the service serves a fail-static set\n# TYPE switchyard_service_degraded gauge\n");
	for (uint32_t i = 0; snap && i < snap->n_services; i++) {
		const struct sy_service *s = sy_snapshot_service(m->base, snap, i);
		const struct sy_backend *be = sy_service_backends(m->base, s);
		struct sy_service_state *st = sy_daemon_service(d, s->name);
		struct sy_vip_counters v;

		sy_region_sum_vip(m, s->slot, &v);
		put(&b, "switchyard_vip_packets_total{service=\"%s\"} %llu\n", s->name, (unsigned long long)v.pkts);
		put(&b, "switchyard_vip_bytes_total{service=\"%s\"} %llu\n", s->name, (unsigned long long)v.bytes);
		put(&b, "switchyard_vip_drops_total{service=\"%s\"} %llu\n", s->name, (unsigned long long)v.drops);
		put(&b, "switchyard_vip_new_flows_total{service=\"%s\"} %llu\n", s->name, (unsigned long long)v.new_flows);
		put(&b, "switchyard_service_table_digest{service=\"%s\",digest=\"%016llx\"} %llu\n", s->name,
		    (unsigned long long)s->digest, (unsigned long long)(s->digest & ((1ull << 52) - 1)));
		put(&b, "switchyard_service_degraded{service=\"%s\"} %d\n", s->name, st && st->b.degraded);
		for (uint32_t j = 0; j < s->n_backends; j++) {
			struct sy_backend_counters bc;
			char lbl[80];

			sy_region_sum_backend(m, be[j].slot, &bc);
			sy_format_endpoint(&be[j].id, lbl, sizeof(lbl));
			put(&b, "switchyard_backend_packets_total{service=\"%s\",backend=\"%s\"} %llu\n", s->name, lbl, (unsigned long long)bc.pkts);
			put(&b, "switchyard_backend_bytes_total{service=\"%s\",backend=\"%s\"} %llu\n", s->name, lbl, (unsigned long long)bc.bytes);
			put(&b, "switchyard_backend_up{service=\"%s\",backend=\"%s\"} %d\n", s->name, lbl, be[j].weight > 0);
		}
	}
	put_histogram(&b, "switchyard_publish_latency_ms", "Registry/config event to table published",
		      &d->latency);
	put_histogram(&b, "switchyard_table_build_ms",
		      "Time one publish spent building its changed services' Maglev tables", &d->build);
	put(&b, "# TYPE switchyard_generation gauge\nswitchyard_generation %llu\n",
	    (unsigned long long)(snap ? snap->generation : 0));
	put(&b, "# TYPE switchyard_registrations_total counter\nswitchyard_registrations_total{result=\"accepted\"} %llu\nswitchyard_registrations_total{result=\"rejected\"} %llu\n",
	    (unsigned long long)d->reg_accepted, (unsigned long long)d->reg_rejected);
	put(&b, "# HELP switchyard_source_up 1 if the backend source works (registry reachable, listener up)\n# TYPE switchyard_source_up gauge\n");
	for (const struct sy_source *const *src = sy_sources; *src; src++) {
		char text[256];
		bool up;

		(*src)->describe(d, text, sizeof(text), &up);
		put(&b, "switchyard_source_up{source=\"%s\"} %d\n", (*src)->name, up);
	}
	put(&b, "# HELP switchyard_registry_invalid_total Registry keys or values ignored because they did not parse\n# TYPE switchyard_registry_invalid_total counter\n");
	for (const struct sy_source *const *src = sy_sources; *src; src++)
		if ((*src)->kind == SY_SOURCE_ETCD || (*src)->kind == SY_SOURCE_ZOOKEEPER)
			put(&b, "switchyard_registry_invalid_total{source=\"%s\"} %llu\n", (*src)->name,
			    (unsigned long long)d->registry_invalid[(*src)->kind]);
	*len = b.len;
	return b.p;
}
