/* SPDX-License-Identifier: BSD-3-Clause
 *
 * From the daemon's view of each service to the shared region: the policy's
 * desired set, next-hop MACs, one staged spec per changed service, one
 * commit for the batch. Services no longer configured are removed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

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

static int be_ptr_cmp(const void *a, const void *b)
{
	return sy_backend_id_cmp(&(*(struct sy_be *const *)a)->id, &(*(struct sy_be *const *)b)->id);
}

/* The known backend of id in idx (s->b.be sorted by id), NULL if none:
 * O(log n) per backend, where sy_svcb_find's linear scan made a publish of a
 * 10,000-backend service O(n^2) (~0.2 s of id compares). */
static struct sy_be *find_sorted(struct sy_be **idx, uint32_t n, const struct sy_backend_id *id)
{
	struct sy_be key = { .id = *id }, *kp = &key, **r;

	r = n ? bsearch(&kp, idx, n, sizeof(*idx), be_ptr_cmp) : NULL;
	return r ? *r : NULL;
}

static void record_latency(struct sy_daemon *d, double ms)
{
	int i = 0;

	while (i < SY_LATENCY_BUCKETS && ms > sy_latency_bounds_ms[i])
		i++;
	d->latency_count[i]++;
	d->latency_sum_ms += ms;
}

static void spec_of(const struct sy_config_service *cs, struct sy_service_spec *sp)
{
	memset(sp, 0, sizeof(*sp));
	snprintf(sp->name, sizeof(sp->name), "%s", cs->name);
	sp->vip = cs->vip;
	sp->fwd_mode = (uint8_t)cs->mode;
	sp->gue_port = cs->gue_port;
	sp->hash_seed = cs->hash_seed;
	sp->table_size = cs->table_size;
	sp->encap_src4 = cs->encap_source4;
	memcpy(sp->encap_src6, cs->encap_source6, sizeof(sp->encap_src6));
}

struct staged_set {
	struct sy_maglev_backend *set;
	uint32_t n;
	bool staged;
	bool unresolved; /* some backends wait for their MAC: try again */
};

int sy_daemon_publish(struct sy_daemon *d)
{
	struct staged_set *st = calloc(d->n_svc ? d->n_svc : 1, sizeof(*st));
	const struct sy_snapshot *snap = sy_writer_snapshot(d->writer);
	struct sy_commit_stats cs;
	uint64_t now = sy_now_ms();
	bool any = false;
	char err[256];
	int rc = 0;

	if (!st)
		return -1;
	/* services published but no longer configured */
	for (uint32_t i = 0; snap && i < snap->n_services; i++) {
		const struct sy_service *s = sy_snapshot_service(sy_writer_map(d->writer)->base, snap, i);

		if (!sy_daemon_service(d, s->name) &&
		    sy_writer_remove_service(d->writer, s->name, err, sizeof(err)) == 0)
			any = true;
	}
	for (size_t i = 0; i < d->n_svc; i++) {
		struct sy_service_state *s = &d->svc[i];
		const struct sy_config_service *cfg = &d->cfg->services[s->cfg_index];
		struct sy_backend_spec *be;
		struct sy_service_spec sp;
		struct sy_be **idx;
		uint32_t n, kept = 0;

		if (!s->b.dirty)
			continue;
		st[i].set = malloc(sizeof(*st[i].set) * (s->b.n + s->b.n_published + 1));
		be = malloc(sizeof(*be) * (s->b.n + s->b.n_published + 1));
		if (!st[i].set || !be) {
			free(be);
			rc = -1;
			continue;
		}
		n = sy_svcb_desired(&s->b, now, st[i].set);
		idx = malloc(sizeof(*idx) * (s->b.n ? s->b.n : 1));
		if (!idx) {
			free(be);
			rc = -1;
			continue;
		}
		for (uint32_t j = 0; j < s->b.n; j++)
			idx[j] = &s->b.be[j];
		qsort(idx, s->b.n, sizeof(*idx), be_ptr_cmp);
		for (uint32_t j = 0; j < n; j++) {
			struct sy_be *b = find_sorted(idx, s->b.n, &st[i].set[j].id);
			struct sy_be tmp = { .id = st[i].set[j].id };

			/* a fail-static member may no longer be known: its
			 * published MAC is in the region, use the cache entry */
			if (!resolve_mac(cfg, b ? b : &tmp, be[kept].mac)) {
				st[i].unresolved = true;
				continue;
			}
			be[kept].id = st[i].set[j].id;
			be[kept].weight = st[i].set[j].weight;
			st[i].set[kept++] = st[i].set[j];
		}
		free(idx);
		st[i].n = kept;
		spec_of(cfg, &sp);
		sp.n_backends = kept;
		sp.backends = be;
		if (sy_writer_set_service(d->writer, &sp, err, sizeof(err)) == 0) {
			st[i].staged = true;
			any = true;
		} else {
			sy_logf("error", "\"cannot stage service\" service=%s error=\"%s\"", s->name, err);
			rc = -1;
		}
		free(be);
		if (st[i].unresolved)
			sy_logf("info", "\"waiting for next-hop MACs\" service=%s", s->name);
	}
	if (any && sy_writer_commit(d->writer, &cs, err, sizeof(err))) {
		sy_logf("error", "\"publish failed; the running tables stay\" error=\"%s\"", err);
		snprintf(d->last_error, sizeof(d->last_error), "%s", err);
		d->publish_errors++;
		rc = -1;
	} else if (any) {
		const uint8_t *base = sy_writer_map(d->writer)->base;
		uint64_t done_us;

		sy_daemon_xdp_sync(d); /* the XDP path's maps, when it runs */
		/* the new tables are live for the dataplane from here */
		done_us = sy_now_us();

		snap = sy_writer_snapshot(d->writer);
		d->publishes++;
		for (size_t i = 0; i < d->n_svc; i++) {
			struct sy_service_state *s = &d->svc[i];

			if (!st[i].staged)
				continue;
			sy_svcb_published(&s->b, st[i].set, st[i].n, now);
			s->b.dirty = st[i].unresolved;
			for (uint32_t k = 0; snap && k < snap->n_services; k++) {
				const struct sy_service *o = sy_snapshot_service(base, snap, k);

				if (!strcmp(o->name, s->name)) {
					s->digest = o->digest;
					s->published_gen = o->version;
				}
			}
			if (s->last_event_us) {
				record_latency(d, (double)(done_us - s->last_event_us) / 1000.0);
				s->last_event_us = 0;
			}
		}
	}
	for (size_t i = 0; i < d->n_svc; i++)
		free(st[i].set);
	free(st);
	return rc;
}
