/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Updates: from a source's instance list to a published snapshot.
 *
 * What is published is decided by the balancer's own health policy
 * (control/backends.c, compiled into this library, not copied): every
 * listed instance is a registered backend, every instance that vanished
 * from the list is a loss (SY_LEAVE_LOST: a list cannot tell a
 * deregistration from a crash), and sy_svcb_desired applies the panic
 * threshold and window exactly as sy-control does for a service. The
 * snapshot then carries everything a pick needs, built once here:
 * instances in canonical order, the smooth-WRR sequence, the Maglev table
 * (sy_maglev_build, as sy-control's publisher builds it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <switchyard/flow_hash.h>

#include "maglev_fill.h" /* sy_gcd */
#include "resolve_internal.h"

/* The whole nginx sequence is precomputed when it has at most this many
 * entries and costs at most SEQ_MAX_WORK steps (O(instances) per entry);
 * otherwise picks run nginx's algorithm under a lock. */
#define SEQ_MAX_LEN (1u << 16)
#define SEQ_MAX_WORK (1ull << 24)

void sy_addr_to_id(const struct sy_resolve_addr *a, uint16_t port, struct sy_backend_id *id)
{
	memset(id, 0, sizeof(*id));
	id->family = a->family == 6 ? SY_AF_INET6 : SY_AF_INET;
	memcpy(id->addr, a->bytes, a->family == 6 ? 16 : 4);
	id->port = port;
}

void sy_istate_put(struct sy_istate *st)
{
	if (st && atomic_fetch_sub(&st->refs, 1) == 1)
		free(st);
}

void sy_snap_free(struct sy_snap *p)
{
	for (uint32_t i = 0; p->st && i < p->n; i++)
		sy_istate_put(p->st[i]);
	free(p->inst);
	free(p->ids);
	free(p->st);
	free(p->seq);
	free(p->wrr_current);
	free(p->table);
	pthread_mutex_destroy(&p->wrr_lock);
	free(p);
}

void sy_service_reclaim(struct sy_resolve_service *s, bool all)
{
	struct sy_snap **pp = &s->retired;

	while (*pp) {
		struct sy_snap *p = *pp;

		if (all || !sy_snap_held(s->r, p)) {
			*pp = p->retired_next;
			sy_snap_free(p);
		} else {
			pp = &p->retired_next;
		}
	}
}

/* Smooth WRR (nginx, ngx_http_upstream_get_peer): every step each
 * instance's current weight grows by its weight, the largest (first in
 * canonical order on a tie) is picked and loses the total. The sequence
 * repeats after sum(w/g) steps, each instance picked w/g times. */
static int build_wrr(struct sy_snap *p)
{
	uint64_t len = 0;
	uint32_t g = 0;
	int64_t *cur;

	for (uint32_t i = 0; i < p->n; i++)
		if (p->inst[i].weight)
			g = sy_gcd(g, p->inst[i].weight);
	for (uint32_t i = 0; i < p->n; i++)
		len += p->inst[i].weight / (g ? g : 1);
	cur = calloc(p->n ? p->n : 1, sizeof(*cur));
	if (!cur)
		return -1;
	p->wrr_total = (int64_t)len;
	if (len > SEQ_MAX_LEN || len * p->n_active > SEQ_MAX_WORK) {
		p->wrr_current = cur; /* picks step nginx's state under wrr_lock */
		return 0;
	}
	p->seq = malloc(sizeof(*p->seq) * (len ? len : 1));
	if (!p->seq) {
		free(cur);
		return -1;
	}
	for (uint32_t k = 0; k < len; k++) {
		uint32_t best = UINT32_MAX;

		for (uint32_t i = 0; i < p->n; i++) {
			if (!p->inst[i].weight)
				continue;
			cur[i] += p->inst[i].weight / g;
			if (best == UINT32_MAX || cur[i] > cur[best])
				best = i;
		}
		cur[best] -= (int64_t)len;
		p->seq[k] = best;
	}
	p->seq_len = (uint32_t)len;
	free(cur);
	return 0;
}

static int build_maglev(struct sy_snap *p, char *err, size_t errlen)
{
	struct sy_maglev_backend *mb = malloc(sizeof(*mb) * (p->n ? p->n : 1));
	int rc;

	p->table = malloc(sizeof(*p->table) * p->m);
	if (!mb || !p->table) {
		free(mb);
		snprintf(err, errlen, "out of memory for a table of %u entries", p->m);
		return -1;
	}
	for (uint32_t i = 0; i < p->n; i++)
		mb[i] = (struct sy_maglev_backend){ .id = p->ids[i], .weight = p->inst[i].weight };
	rc = sy_maglev_build(mb, p->n, p->m, p->table, err, errlen);
	free(mb);
	return rc;
}

static int inst_cmp(const void *a, const void *b)
{
	const struct sy_resolve_instance *x = a, *y = b;
	struct sy_backend_id ix, iy;

	sy_addr_to_id(&x->addr, x->port, &ix);
	sy_addr_to_id(&y->addr, y->port, &iy);
	return sy_backend_id_cmp(&ix, &iy);
}

uint32_t sy_id_search(const struct sy_backend_id *ids, uint32_t n, const struct sy_backend_id *id)
{
	uint32_t lo = 0, hi = n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int c = sy_backend_id_cmp(&ids[mid], id);

		if (!c)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return UINT32_MAX;
}

static struct sy_istate *shared_state(const struct sy_snap *old, const struct sy_backend_id *id)
{
	uint32_t x = old ? sy_id_search(old->ids, old->n, id) : UINT32_MAX;
	struct sy_istate *st;

	if (x != UINT32_MAX) {
		st = old->st[x];
		atomic_fetch_add(&st->refs, 1);
		return st;
	}
	st = aligned_alloc(SY_RESOLVE_CACHELINE, sizeof(*st));
	if (!st)
		return NULL;
	memset(st, 0, sizeof(*st));
	atomic_init(&st->refs, 1);
	st->id = *id;
	return st;
}

/* Locked (s->lock). Publish what the policy wants now. listed (canonical
 * order, its identities in listed_ids; may be NULL) supplies newcomers'
 * details; members kept by fail-static are in the current snapshot. */
int sy_service_republish(struct sy_resolve_service *s, const struct sy_resolve_instance *listed,
			 const struct sy_backend_id *listed_ids, uint32_t n_listed,
			 uint64_t revision)
{
	sy_resolver *r = s->r;
	struct sy_snap *old = atomic_load(&s->current), *p;
	struct sy_maglev_backend *set = malloc(sizeof(*set) * sy_svcb_desired_cap(&s->policy));
	uint64_t now = sy_resolve_now(r);
	char err[200];
	uint32_t n;

	p = calloc(1, sizeof(*p));
	if (!p || !set) {
		free(p);
		free(set);
		return sy_resolve_fail(r, SY_RESOLVE_ENOMEM, "out of memory updating %s", s->name);
	}
	pthread_mutex_init(&p->wrr_lock, NULL);
	n = sy_svcb_desired(&s->policy, now, set);
	p->gen = atomic_fetch_add(&r->next_gen, 1);
	p->revision = revision;
	p->state = s->policy.source_unreachable ? SY_RESOLVE_STALE :
		   s->policy.degraded		 ? SY_RESOLVE_FAIL_STATIC :
						   SY_RESOLVE_FRESH;
	p->n = n;
	p->m = s->opts.table_size;
	p->seed = s->opts.hash_seed;
	p->hash = s->opts.hash;
	p->inst = calloc(n ? n : 1, sizeof(*p->inst));
	p->ids = calloc(n ? n : 1, sizeof(*p->ids));
	p->st = calloc(n ? n : 1, sizeof(*p->st));
	if (!p->inst || !p->ids || !p->st)
		goto nomem;
	for (uint32_t i = 0; i < n; i++) { /* set: canonical order */
		const struct sy_resolve_instance *x = NULL;
		uint32_t k = listed ? sy_id_search(listed_ids, n_listed, &set[i].id) : UINT32_MAX;

		if (k != UINT32_MAX)
			x = &listed[k];
		else if (old && (k = sy_id_search(old->ids, old->n, &set[i].id)) != UINT32_MAX)
			x = &old->inst[k];
		if (x) {
			p->inst[i] = *x;
		} else { /* cannot happen: a kept member was published before */
			p->inst[i].addr.family = set[i].id.family == SY_AF_INET6 ? 6 : 4;
			memcpy(p->inst[i].addr.bytes, set[i].id.addr, 16);
			p->inst[i].port = set[i].id.port;
		}
		p->inst[i].weight = set[i].weight; /* a kept member: its last weight */
		p->ids[i] = set[i].id;
		p->n_active += set[i].weight > 0;
		if (!(p->st[i] = shared_state(old, &set[i].id)))
			goto nomem;
	}
	if (build_wrr(p))
		goto nomem;
	if (build_maglev(p, err, sizeof(err))) {
		free(set);
		sy_snap_free(p);
		return sy_resolve_fail(r, SY_RESOLVE_EINVAL, "service %s: %s", s->name, err);
	}
	sy_svcb_published(&s->policy, set, NULL, n, s->policy.degraded, now);
	free(set);
	/* publish (seq_cst: ordered before the hazard scan below), retire */
	old = atomic_exchange(&s->current, p);
	if (old) {
		old->retired_next = s->retired;
		s->retired = old;
	}
	sy_service_reclaim(s, false);
	return SY_RESOLVE_OK;
nomem:
	free(set);
	sy_snap_free(p);
	return sy_resolve_fail(r, SY_RESOLVE_ENOMEM, "out of memory updating %s", s->name);
}

static int check_instance(sy_resolver *r, const struct sy_resolve_instance *x, size_t i)
{
	if (x->addr.family != 4 && x->addr.family != 6)
		return sy_resolve_fail(r, SY_RESOLVE_EINVAL, "instance %zu: family %u is not 4 or 6",
				       i, x->addr.family);
	if (x->weight > SY_MAGLEV_MAX_WEIGHT)
		return sy_resolve_fail(r, SY_RESOLVE_EINVAL, "instance %zu: weight %u above %u", i,
				       x->weight, SY_MAGLEV_MAX_WEIGHT);
	if (x->port == 0)
		return sy_resolve_fail(r, SY_RESOLVE_EINVAL, "instance %zu: port 0", i);
	return SY_RESOLVE_OK;
}

bool sy_service_follow_opts(struct sy_resolve_service *s, const struct sy_source_list *l,
			    char *why, size_t whylen)
{
	bool changed = false;

	pthread_mutex_lock(&s->lock);
	if (s->opts_follow && (s->opts.table_size != l->table_size ||
			       s->opts.hash_seed != l->hash_seed || s->opts.hash != l->hash)) {
		if (sy_maglev_check_size(l->table_size, why, whylen) == 0) {
			s->opts.table_size = l->table_size;
			s->opts.hash_seed = l->hash_seed;
			s->opts.hash = l->hash;
			changed = true;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return changed;
}

int sy_resolve_set_instances(sy_resolve_service *s, uint64_t revision,
			     const struct sy_resolve_instance *inst, size_t n)
{
	return sy_service_update(s, revision, inst, n, false, NULL);
}

int sy_service_update(struct sy_resolve_service *s, uint64_t revision,
		      const struct sy_resolve_instance *inst, size_t n, bool from_source,
		      const char *note)
{
	sy_resolver *r = s->r;
	struct sy_resolve_instance *sorted;
	struct sy_backend_id *ids;
	struct sy_snap *cur;
	uint64_t now;
	int rc;

	if (n && !inst)
		return sy_resolve_fail(r, SY_RESOLVE_EINVAL, "%zu instances but no array", n);
	if (n > SY_MAGLEV_MAX_BACKENDS)
		return sy_resolve_fail(r, SY_RESOLVE_EINVAL, "%zu instances, more than %u", n,
				       SY_MAGLEV_MAX_BACKENDS);
	for (size_t i = 0; i < n; i++)
		if ((rc = check_instance(r, &inst[i], i)))
			return rc;
	sorted = malloc(sizeof(*sorted) * (n ? n : 1));
	ids = malloc(sizeof(*ids) * (n ? n : 1));
	if (!sorted || !ids) {
		free(sorted);
		free(ids);
		return sy_resolve_fail(r, SY_RESOLVE_ENOMEM, "out of memory for %zu instances", n);
	}
	if (n) { /* an empty list may come without an array */
		memcpy(sorted, inst, sizeof(*sorted) * n);
		qsort(sorted, n, sizeof(*sorted), inst_cmp);
	}
	for (size_t i = 0; i < n; i++) {
		sy_addr_to_id(&sorted[i].addr, sorted[i].port, &ids[i]);
		if (i && !sy_backend_id_cmp(&ids[i - 1], &ids[i])) {
			free(sorted);
			free(ids);
			return sy_resolve_fail(r, SY_RESOLVE_EINVAL,
					       "service %s: an instance is listed twice", s->name);
		}
	}

	pthread_mutex_lock(&s->lock);
	cur = atomic_load(&s->current);
	if (from_source) {
		s->policy.source_unreachable = false;
	} else if (cur && revision < cur->revision) {
		pthread_mutex_unlock(&s->lock);
		free(sorted);
		free(ids);
		return sy_resolve_fail(r, SY_RESOLVE_EOLD, "service %s: revision %llu is older than %llu",
				       s->name, (unsigned long long)revision,
				       (unsigned long long)cur->revision);
	}
	now = sy_resolve_now(r);
	/* the policy's known backends become exactly the list: what is not in
	 * it is lost (kept by fail-static while too many are) */
	for (uint32_t i = 0; i < s->policy.n;) {
		struct sy_backend_id id = s->policy.be[i].id;
		uint32_t before = s->policy.n;

		if (sy_id_search(ids, (uint32_t)n, &id) == UINT32_MAX)
			sy_svcb_remove(&s->policy, &id, SY_LEAVE_LOST, now);
		if (s->policy.n == before)
			i++;
	}
	for (size_t i = 0; i < n; i++) {
		if (!sy_svcb_upsert(&s->policy, &ids[i], sorted[i].weight, SY_SRC_API, 0, now)) {
			pthread_mutex_unlock(&s->lock);
			free(sorted);
			free(ids);
			return sy_resolve_fail(r, SY_RESOLVE_ENOMEM, "out of memory updating %s",
					       s->name);
		}
	}
	rc = sy_service_republish(s, sorted, ids, (uint32_t)n, revision);
	/* the list's note in the same hold: a reader that saw the list waits
	 * for this lock to read the note (sy_resolve_source_error), so it
	 * gets this note or a later one; a list not published keeps the old */
	if (!rc && note)
		snprintf(s->src_err, sizeof(s->src_err), "%s", note);
	pthread_mutex_unlock(&s->lock);
	free(sorted);
	free(ids);
	return rc;
}

int sy_resolve_set_reachable(sy_resolve_service *s, int reachable)
{
	struct sy_snap *cur;
	int rc = SY_RESOLVE_OK;

	pthread_mutex_lock(&s->lock);
	s->policy.source_unreachable = !reachable;
	cur = atomic_load(&s->current);
	if (cur)
		rc = sy_service_republish(s, NULL, NULL, 0, cur->revision);
	pthread_mutex_unlock(&s->lock);
	return rc;
}
