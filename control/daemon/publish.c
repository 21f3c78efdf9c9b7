/* SPDX-License-Identifier: BSD-3-Clause
 *
 * From the daemon's view of each service to the shared region: the policy's
 * desired set, next-hop MACs, one staged spec per changed service, one
 * commit for the batch. Services no longer configured are removed.
 *
 * One service that cannot be published (its Maglev table, its backend
 * slots, heap for its object) never holds up the others: it leaves the
 * batch (the writer names it), the rest is committed, and it is tried
 * again after a back-off of 1 s doubling to 30 s, its running table
 * staying meanwhile. Its failure shows in `syctl status` and `services`
 * and in /metrics; the log has a line when it starts, one a minute while
 * it lasts and one when it ends.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "netaddr.h"
#include "registry_watch.h"

/* Next-hop MAC of a backend: its own (config or learnt), the service's
 * configured next hop, or the kernel's neighbour table (cached). */
static bool resolve_mac(const struct sy_config_service *cs, struct sy_be *b, uint8_t mac[6])
{
	if (cs->has_next_hop_mac) {
		memcpy(mac, cs->next_hop_mac, 6);
		return true;
	}
	if (!b->has_mac && sy_neigh_lookup(&b->id, b->mac))
		b->has_mac = true;
	memcpy(mac, b->mac, 6);
	return b->has_mac;
}

static void spec_of(const struct sy_config_service *cs, struct sy_service_spec *sp)
{
	memset(sp, 0, sizeof(*sp));
	snprintf(sp->name, sizeof(sp->name), "%s", cs->name);
	sp->vip = cs->vip;
	sp->fwd_mode = (uint8_t)cs->mode;
	sp->gue_port = cs->gue_port;
	sp->hash_seed = cs->hash_seed;
	sp->hash_fields = cs->hash_fields;
	sp->round_robin = cs->round_robin;
	sp->least_conns = cs->least_conns;
	sp->quic = cs->quic;
	sp->table_size = cs->table_size;
	sp->encap_src4 = cs->encap_source4;
	memcpy(sp->encap_src6, cs->encap_source6, sizeof(sp->encap_src6));
}

/* One changed service on its way to the region: captured under the lock,
 * staged (its Maglev table built) without it, committed under it again. */
struct pending {
	char name[SY_NAME_MAX];
	struct sy_service_spec spec;   /* spec.backends = be */
	struct sy_backend_spec *be;
	struct sy_maglev_backend *set; /* the same backends, as the policy's last good set */
	uint32_t *server_ids;          /* be[i].server_id for set[i] (sy_svcb_published) */
	uint32_t n;
	uint64_t event_us;             /* the oldest change it carries (publish latency) */
	bool kept_good;                /* a fail-static set (sy_svcb_published) */
	bool unresolved;               /* some backends wait for their MAC: try again */
	bool staged;
	bool failed;                   /* its staging or its commit failed: err */
	char err[256];
};

#define RETRY_FIRST_MS 1000   /* a failing service: first retry after */
#define RETRY_MAX_MS 30000    /* doubling up to */
#define FAIL_LOG_PERIOD_MS 60000 /* a summary line while it keeps failing */

/* Phase 3 (locked): publishing s failed; tried again after a back-off. */
static void publish_failed(struct sy_daemon *d, struct sy_service_state *s, const char *err,
			   uint64_t now)
{
	struct sy_publish_failure *f = &s->pub;
	uint64_t delay = RETRY_FIRST_MS, held;

	if (!f->attempts)
		f->since_ms = now;
	for (uint32_t i = 0; i < f->attempts && delay < RETRY_MAX_MS; i++)
		delay *= 2;
	if (delay > RETRY_MAX_MS)
		delay = RETRY_MAX_MS;
	f->attempts++;
	f->total++;
	f->retry_ms = now + delay;
	snprintf(f->error, sizeof(f->error), "%s", err);
	d->publish_errors++;
	snprintf(d->last_error, sizeof(d->last_error), "%s", err);
	switch (sy_log_episode_hit(&f->log, now, FAIL_LOG_PERIOD_MS, &held)) {
	case SY_EPISODE_START:
		sy_logf("error", "\"cannot publish service: its running table stays, the other services publish; retrying with a back-off\" service=%s retry_in_ms=%llu error=\"%s\"",
			s->name, (unsigned long long)delay, err);
		break;
	case SY_EPISODE_SUMMARY:
		sy_logf("error", "\"service still cannot be published\" service=%s failing_for_s=%llu attempts=%u retry_in_ms=%llu error=\"%s\"",
			s->name, (unsigned long long)(now - f->since_ms) / 1000, f->attempts,
			(unsigned long long)delay, err);
		break;
	case SY_EPISODE_QUIET:
		break;
	}
}

/* Phase 3 (locked): s was published; a failure it had is over. */
static void publish_recovered(struct sy_service_state *s, uint64_t now)
{
	struct sy_publish_failure *f = &s->pub;
	uint64_t n;

	if (!f->attempts)
		return;
	if (sy_log_episode_end(&f->log, &n))
		sy_logf("info", "\"service published again\" service=%s failed_for_s=%llu attempts=%u",
			s->name, (unsigned long long)(now - f->since_ms) / 1000, f->attempts);
	f->error[0] = 0;
	f->since_ms = f->retry_ms = 0;
	f->attempts = 0;
}

static struct pending *pending_named(struct pending *pend, size_t np, const char *name)
{
	for (size_t i = 0; i < np; i++)
		if (!strcmp(pend[i].name, name))
			return &pend[i];
	return NULL;
}

struct id_at {
	uint32_t server_id, index;
};

static int id_at_cmp(const void *a, const void *b)
{
	const struct id_at *x = a, *y = b;

	if (x->server_id != y->server_id)
		return x->server_id < y->server_id ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

/* Two backends of a service with one QUIC server ID (sources that cannot
 * refuse a registration: an etcd key, a znode, two sources): the first in
 * canonical order keeps it, the others publish without one (their short
 * headers then go by the hash, counted), logged. The region refuses a
 * service with a duplicate, which would hold up all of its changes. */
static void drop_duplicate_server_ids(const char *svc, struct sy_backend_spec *be, uint32_t n)
{
	struct id_at *ids = malloc(sizeof(*ids) * (n ? n : 1));
	uint32_t k = 0;

	if (!ids) {
		for (uint32_t i = 0; i < n; i++)
			be[i].server_id = 0; /* no memory to check: route by the hash */
		return;
	}
	for (uint32_t i = 0; i < n; i++)
		if (be[i].server_id)
			ids[k++] = (struct id_at){ be[i].server_id, i };
	qsort(ids, k, sizeof(*ids), id_at_cmp);
	for (uint32_t i = 1; i < k; i++)
		if (ids[i].server_id == ids[i - 1].server_id) {
			char a[64];

			sy_format_ip(be[ids[i].index].id.family, be[ids[i].index].id.addr, a, sizeof(a));
			sy_logf("warn", "\"QUIC server ID taken by another backend: published without it\" service=%s backend=%s:%u server_id=%u",
				svc, a, be[ids[i].index].id.port, ids[i].server_id);
			be[ids[i].index].server_id = 0;
		}
	free(ids);
}

/* Phase 1 (locked): the desired set of a dirty service, with next hops. */
static int capture(struct sy_daemon *d, struct sy_service_state *s, uint64_t now,
		   struct pending *p)
{
	const struct sy_config_service *cfg = &d->cfg->services[s->cfg_index];
	uint32_t cap = sy_svcb_desired_cap(&s->b), n, kept = 0, unknown = 0;
	struct sy_be **idx;

	snprintf(p->name, sizeof(p->name), "%s", s->name);
	p->set = malloc(sizeof(*p->set) * cap);
	p->be = malloc(sizeof(*p->be) * cap);
	p->server_ids = malloc(sizeof(*p->server_ids) * cap);
	/* O(log n) per backend: a 10,000-backend service in O(n log n) */
	idx = sy_svcb_sorted(&s->b);
	if (!p->set || !p->be || !p->server_ids || !idx) {
		free(idx);
		return -1;
	}
	n = sy_svcb_desired(&s->b, now, p->set);
	p->kept_good = s->b.degraded;
	for (uint32_t j = 0; j < n; j++) {
		struct sy_be *b = sy_svcb_sorted_find(idx, s->b.n, &p->set[j].id);
		struct sy_be tmp = { .id = p->set[j].id };

		/* a fail-static member may no longer be known: its published
		 * MAC is in the region, use the cache entry, and the server ID
		 * it was published with; it still takes a backend slot, so it
		 * counts against the cap */
		unknown += !b;
		if (!resolve_mac(cfg, b ? b : &tmp, p->be[kept].mac)) {
			p->unresolved = true;
			continue;
		}
		p->be[kept].id = p->set[j].id;
		p->be[kept].weight = p->set[j].weight;
		p->be[kept].server_id = b ? b->server_id
					  : sy_svcb_good_server_id(&s->b, &p->set[j].id);
		p->set[kept++] = p->set[j];
	}
	free(idx);
	s->kept_unknown = unknown;
	p->n = kept;
	drop_duplicate_server_ids(s->name, p->be, kept);
	for (uint32_t i = 0; i < kept; i++)
		p->server_ids[i] = p->be[i].server_id;
	spec_of(cfg, &p->spec);
	p->spec.n_backends = kept;
	p->spec.backends = p->be;
	return 0;
}

/* Phase 3 (locked, after a successful commit): the daemon's view follows. */
static void published(struct sy_daemon *d, const struct pending *p, uint64_t now,
		      uint64_t done_us)
{
	const struct sy_service *o = sy_snapshot_find_name(sy_writer_map(d->writer)->base,
							   sy_writer_snapshot(d->writer), p->name);
	struct sy_service_state *s = sy_daemon_service(d, p->name);

	if (!s)
		return;
	sy_svcb_published(&s->b, p->set, p->server_ids, p->n, p->kept_good, now);
	s->b.dirty |= p->unresolved;
	if (o) {
		s->digest = o->digest;
		s->published_gen = o->version;
	}
	if (p->event_us)
		sy_ms_histogram_add(&d->latency, (double)(done_us - p->event_us) / 1000.0);
	sy_registry_service_changed(d, s); /* readers and watchers follow the balancer */
}

/* Publishing holds the lock only to read the daemon's state and to commit:
 * the Maglev builds (sy_writer_set_service), tens of ms for a large service
 * and several times that under a sanitizer, run with it released, so that
 * registrations and heartbeats (the embedded registry) and the API are not
 * held up by a flood of changes elsewhere. Only this thread stages and
 * commits, so the region is not changed meanwhile; a service changed
 * meanwhile is dirty again and goes out in the next round, and a reload
 * meanwhile (new services, new config) sends this round's staging away. */
int sy_daemon_publish(struct sy_daemon *d)
{
	struct pending *pend = calloc(d->n_svc ? d->n_svc : 1, sizeof(*pend));
	const struct sy_snapshot *snap = sy_writer_snapshot(d->writer);
	uint64_t now = sy_now_ms(), config_gen = d->config_gen, build_us;
	size_t np = 0;
	struct sy_commit_stats cs;
	bool any = false, committed = false;
	char err[256];
	int rc = 0;

	if (!pend)
		return -1;
	/* 1. capture, locked: services no longer configured, dirty ones
	 * (not one that failed before its back-off is over: it stays dirty) */
	for (uint32_t i = 0; snap && i < snap->n_services; i++) {
		const struct sy_service *s = sy_snapshot_service(sy_writer_map(d->writer)->base, snap, i);

		if (!sy_daemon_service(d, s->name) &&
		    sy_writer_remove_service(d->writer, s->name, err, sizeof(err)) == 0)
			any = true;
	}
	for (size_t i = 0; i < d->n_svc; i++) {
		struct sy_service_state *s = &d->svc[i];

		if (!s->b.dirty || now < s->pub.retry_ms)
			continue;
		if (capture(d, s, now, &pend[np])) {
			free(pend[np].set);
			free(pend[np].be);
			free(pend[np].server_ids);
			memset(&pend[np], 0, sizeof(pend[np]));
			rc = -1;
			continue; /* stays dirty: tried again */
		}
		/* a change from here on marks it again, with its own time */
		s->b.dirty = false;
		pend[np].event_us = s->last_event_us;
		s->last_event_us = 0;
		np++;
	}

	/* 2. stage, unlocked: the Maglev tables are built here */
	pthread_mutex_unlock(&d->lock);
	build_us = sy_now_us();
	for (size_t i = 0; i < np; i++) {
		if (sy_writer_set_service(d->writer, &pend[i].spec, pend[i].err,
					  sizeof(pend[i].err)) == 0) {
			pend[i].staged = true;
			any = true;
		} else {
			pend[i].failed = true;
		}
		/* retried every tick until the kernel resolves them: at most a
		 * line a second (this thread alone touches the limiter) */
		if (pend[i].unresolved && sy_log_limit_pass(&d->mac_wait_log, 1, "waiting for next-hop MACs"))
			sy_logf("info", "\"waiting for next-hop MACs\" service=%s", pend[i].name);
	}
	build_us = sy_now_us() - build_us;
	pthread_mutex_lock(&d->lock);
	if (np)
		sy_ms_histogram_add(&d->build, (double)build_us / 1000.0);

	/* 3. commit, locked: a service the writer names as the cause leaves
	 * the batch (the writer unstaged it) and the rest is committed again;
	 * a cause that is no one service's fails the whole batch */
	if (d->config_gen != config_gen) {
		sy_writer_discard(d->writer); /* the reload marked every service dirty */
		any = false;
	}
	while (any) {
		struct pending *p;

		if (sy_writer_commit(d->writer, &cs, err, sizeof(err)) == 0) {
			committed = true;
			break;
		}
		rc = -1;
		p = cs.failed[0] ? pending_named(pend, np, cs.failed) : NULL;
		if (p) {
			p->failed = true;
			snprintf(p->err, sizeof(p->err), "%s", err);
			continue;
		}
		if (cs.failed[0])
			continue; /* not ours (cannot happen): it was unstaged too */
		p = NULL;
		for (size_t i = 0; i < np; i++)
			if (pend[i].staged && !pend[i].failed) {
				p = &pend[i];
				p->failed = true;
				snprintf(p->err, sizeof(p->err), "%s", err);
			}
		if (!p) { /* only removals: say it here, at a bounded rate */
			d->publish_errors++;
			snprintf(d->last_error, sizeof(d->last_error), "%s", err);
			if (sy_log_limit_pass(&d->publish_log, 1, "publish failed"))
				sy_logf("error", "\"publish failed; the running tables stay\" error=\"%s\"", err);
		}
		break;
	}
	if (committed) {
		uint64_t done_us;

		sy_daemon_xdp_sync(d); /* the XDP path's maps, when it runs */
		/* the new tables are live for the dataplane from here */
		done_us = sy_now_us();
		d->publishes++;
		for (size_t i = 0; i < np; i++)
			if (pend[i].staged && !pend[i].failed)
				published(d, &pend[i], now, done_us);
	}
	for (size_t i = 0; i < np; i++) {
		struct sy_service_state *s = sy_daemon_service(d, pend[i].name);

		if (s && committed && pend[i].staged && !pend[i].failed) {
			publish_recovered(s, now);
		} else if (s) {
			/* not published: tried again (after a back-off if it
			 * failed) with what it carried */
			if (pend[i].failed && d->config_gen == config_gen) {
				publish_failed(d, s, pend[i].err, now);
				rc = -1;
			}
			s->b.dirty = true;
			if (pend[i].event_us &&
			    (!s->last_event_us || pend[i].event_us < s->last_event_us))
				s->last_event_us = pend[i].event_us;
		}
		free(pend[i].set);
		free(pend[i].be);
		free(pend[i].server_ids);
	}
	free(pend);
	return rc;
}
