/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The pickers and passive health. Every pick holds the service's current
 * snapshot (hazard pointer) for its duration only, and answers from that
 * one snapshot: the instance, its revision and its state belong together.
 *
 * Passive health lives in struct sy_istate, shared by the snapshots that
 * hold the same identity; a pick reads the clock only while the service
 * has a failed instance (failed_horizon_ms), so the common pick is a few
 * loads.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <switchyard/flow_hash.h>

#include "resolve_internal.h"

/* Failures as of one pick: the clock is read at most once. */
struct fail_view {
	struct sy_resolve_service *s;
	uint64_t now; /* 0: not read yet */
	bool none;    /* no instance of the service is failed now */
};

static void fail_view_init(struct fail_view *v, struct sy_resolve_service *s)
{
	uint64_t h = atomic_load_explicit(&s->failed_horizon_ms, memory_order_relaxed);

	v->s = s;
	v->now = 0;
	v->none = h == 0;
	if (!v->none) {
		v->now = sy_resolve_now(s->r);
		if (v->now >= h) {
			/* every failure has expired: back to the fast path,
			 * unless one was marked meanwhile (it moved h) */
			atomic_compare_exchange_strong(&s->failed_horizon_ms, &h, 0);
			v->none = true;
		}
	}
}

static bool is_failed(const struct fail_view *v, const struct sy_istate *st)
{
	return !v->none &&
	       atomic_load_explicit(&st->fail_until_ms, memory_order_relaxed) > v->now;
}

static void fill(struct sy_resolve_pick *out, const struct sy_snap *p, uint32_t i,
		 uint32_t flags)
{
	out->instance = p->inst[i];
	out->revision = p->revision;
	out->state = p->state;
	out->flags = flags;
	out->ticket = NULL;
}

/* Begin a pick: this thread's slot and the held snapshot, or an error. */
static int begin(struct sy_resolve_service *s, struct sy_resolve_pick *out,
		 struct sy_slot **slot, struct sy_snap **p)
{
	if (!out)
		return sy_resolve_fail(s->r, SY_RESOLVE_EINVAL, "no pick to fill");
	*slot = sy_resolve_slot(s->r);
	if (!*slot)
		return SY_RESOLVE_ENOMEM;
	*p = sy_snap_acquire(*slot, s);
	if (!*p || !(*p)->n_active) {
		sy_snap_release(*slot);
		return sy_resolve_fail(s->r, SY_RESOLVE_EEMPTY, "service %s has no instance to pick%s",
				       s->name, *p ? " (all draining)" : " (no update yet)");
	}
	return SY_RESOLVE_OK;
}

/* This thread's cursor for s; NULL when out of memory. A thread starts a
 * new snapshot's sequence at its own offset, so threads spread out. */
static struct sy_cursor *cursor(struct sy_slot *slot, const struct sy_resolve_service *s,
				const struct sy_snap *p, uint32_t len)
{
	struct sy_cursor *c;

	if (s->id >= slot->ncur) {
		uint32_t n = s->id + 8;
		struct sy_cursor *nc = realloc(slot->cur, sizeof(*nc) * n);

		if (!nc)
			return NULL;
		memset(nc + slot->ncur, 0, sizeof(*nc) * (n - slot->ncur));
		slot->cur = nc;
		slot->ncur = n;
	}
	c = &slot->cur[s->id];
	if (c->gen != p->gen) {
		c->gen = p->gen;
		c->pos = len ? (uint32_t)(((uint64_t)slot->index * 2654435761u) % len) : 0;
	}
	return c;
}

/* nginx's step on the snapshot's shared state (sequences too long to
 * precompute), skipping failed instances unless all are. */
static uint32_t wrr_step_locked(struct sy_snap *p, const struct fail_view *v, uint32_t *flags)
{
	uint32_t best = UINT32_MAX;
	int64_t total = 0;

	for (int pass = 0; pass < 2 && best == UINT32_MAX; pass++) {
		for (uint32_t i = 0; i < p->n; i++) {
			if (!p->inst[i].weight || (pass == 0 && is_failed(v, p->st[i])))
				continue;
			p->wrr_current[i] += p->inst[i].weight;
			total += p->inst[i].weight;
			if (best == UINT32_MAX || p->wrr_current[i] > p->wrr_current[best])
				best = i;
		}
		if (best == UINT32_MAX)
			*flags |= SY_RESOLVE_PICK_ALL_FAILED;
	}
	p->wrr_current[best] -= total;
	return best;
}

int sy_resolve_pick_rr(sy_resolve_service *s, struct sy_resolve_pick *out)
{
	struct fail_view v;
	struct sy_slot *slot;
	struct sy_snap *p;
	uint32_t pick, flags = 0;
	int rc = begin(s, out, &slot, &p);

	if (rc)
		return rc;
	fail_view_init(&v, s);
	if (p->seq) {
		struct sy_cursor *c = cursor(slot, s, p, p->seq_len);

		if (!c) {
			sy_snap_release(slot);
			return SY_RESOLVE_ENOMEM;
		}
		pick = p->seq[c->pos];
		if (++c->pos == p->seq_len)
			c->pos = 0;
		if (is_failed(&v, p->st[pick])) {
			/* the next entries of the sequence that are not failed */
			uint32_t first = pick, j;

			for (j = 0; j < p->seq_len && is_failed(&v, p->st[pick]); j++) {
				pick = p->seq[c->pos];
				if (++c->pos == p->seq_len)
					c->pos = 0;
			}
			if (is_failed(&v, p->st[pick])) {
				pick = first;
				flags = SY_RESOLVE_PICK_ALL_FAILED;
			} else {
				flags = SY_RESOLVE_PICK_DETOUR;
			}
		}
	} else {
		pthread_mutex_lock(&p->wrr_lock);
		pick = wrr_step_locked(p, &v, &flags);
		pthread_mutex_unlock(&p->wrr_lock);
	}
	fill(out, p, pick, flags);
	sy_snap_release(slot);
	return SY_RESOLVE_OK;
}

int sy_resolve_pick_least(sy_resolve_service *s, struct sy_resolve_pick *out)
{
	struct fail_view v;
	struct sy_slot *slot;
	struct sy_snap *p;
	struct sy_cursor *c;
	uint32_t best = UINT32_MAX, flags = 0;
	uint64_t bo = 0, bw = 1;
	int rc = begin(s, out, &slot, &p);

	if (rc)
		return rc;
	fail_view_init(&v, s);
	c = cursor(slot, s, p, p->n);
	if (!c) {
		sy_snap_release(slot);
		return SY_RESOLVE_ENOMEM;
	}
	/* least outstanding relative to weight (o/w, compared as o_i*w_b <
	 * o_b*w_i); the scan starts one further each pick of this thread, so
	 * ties go round-robin */
	for (int pass = 0; pass < 2 && best == UINT32_MAX; pass++) {
		for (uint32_t k = 0; k < p->n; k++) {
			uint32_t i = (c->pos + k) % p->n;
			uint64_t o, w = p->inst[i].weight;

			if (!w || (pass == 0 && is_failed(&v, p->st[i])))
				continue;
			o = atomic_load_explicit(&p->st[i]->outstanding, memory_order_relaxed);
			if (best == UINT32_MAX || o * bw < bo * w) {
				best = i;
				bo = o;
				bw = w;
			}
		}
		if (best == UINT32_MAX)
			flags = SY_RESOLVE_PICK_ALL_FAILED;
	}
	c->pos = (c->pos + 1) % p->n;
	atomic_fetch_add_explicit(&p->st[best]->outstanding, 1, memory_order_relaxed);
	/* the ticket keeps the state alive past this snapshot (it holds a
	 * reference, so taking another one is safe) */
	atomic_fetch_add_explicit(&p->st[best]->refs, 1, memory_order_relaxed);
	fill(out, p, best, flags);
	out->ticket = p->st[best];
	sy_snap_release(slot);
	return SY_RESOLVE_OK;
}

static void mark(struct sy_resolve_service *s, struct sy_istate *st, bool ok)
{
	const struct sy_resolve_config *cfg = &s->r->cfg;
	uint64_t until, h, delay;
	uint32_t k;

	if (ok) {
		atomic_store(&st->fail_count, 0);
		atomic_store(&st->fail_until_ms, 0);
		return;
	}
	k = atomic_fetch_add(&st->fail_count, 1); /* failures before this one */
	delay = cfg->backoff_initial_ms;
	while (k-- > 0 && delay < cfg->backoff_max_ms)
		delay *= 2;
	if (delay > cfg->backoff_max_ms)
		delay = cfg->backoff_max_ms;
	until = sy_resolve_now(s->r) + delay;
	atomic_store(&st->fail_until_ms, until);
	h = atomic_load(&s->failed_horizon_ms);
	while (h < until && !atomic_compare_exchange_weak(&s->failed_horizon_ms, &h, until))
		;
}

void sy_resolve_done(sy_resolve_service *s, struct sy_resolve_pick *pk, int ok)
{
	struct sy_istate *st = pk ? pk->ticket : NULL;

	if (!st)
		return;
	pk->ticket = NULL;
	atomic_fetch_sub_explicit(&st->outstanding, 1, memory_order_relaxed);
	mark(s, st, ok != 0);
	sy_istate_put(st);
}

/* Maglev: the balancer's table entry; an entry whose instance is failed
 * detours to the next entries of the table (the same detour for every
 * client of this revision). */
/* jhash (the flow hash's) over 12-byte blocks, chained, then the length:
 * any byte string, the same hash on every host */
static uint32_t key_hash(const void *key, size_t len, uint32_t seed)
{
	const uint8_t *b = key;
	uint32_t h = seed;

	for (size_t off = 0;; off += 12) {
		uint32_t w[4] = { 0, 0, 0, 0 };
		size_t take = len - off < 12 ? len - off : 12;

		memcpy(w, b + off, take);
		if (take < 12) {
			w[3] = (uint32_t)len;
			return sy_jhash_words(w, 4, h);
		}
		h = sy_jhash_words(w, 3, h);
	}
}

/* Maglev on a flow (k) or a byte string (key, len), hashed with the
 * snapshot's seed and fields (the table's own). */
static int pick_hash(struct sy_resolve_service *s, const struct sy_flow_key *k, const void *key,
		     size_t len, struct sy_resolve_pick *out)
{
	struct fail_view v;
	struct sy_slot *slot;
	struct sy_snap *p;
	uint32_t slot0, idx, flags = 0;
	int rc = begin(s, out, &slot, &p);

	if (rc)
		return rc;
	slot0 = (k ? sy_service_flow_hash(k, p->seed, p->hash) : key_hash(key, len, p->seed)) % p->m;
	idx = p->table[slot0];
	fail_view_init(&v, s);
	if (idx != SY_MAGLEV_NONE && is_failed(&v, p->st[idx])) {
		uint32_t j;

		for (j = 1; j < p->m; j++) {
			uint32_t t = p->table[(slot0 + j) % p->m];

			if (t != SY_MAGLEV_NONE && !is_failed(&v, p->st[t])) {
				idx = t;
				flags = SY_RESOLVE_PICK_DETOUR;
				break;
			}
		}
		if (j == p->m)
			flags = SY_RESOLVE_PICK_ALL_FAILED;
	}
	if (idx == SY_MAGLEV_NONE) { /* all draining (n_active > 0 makes it rare) */
		sy_snap_release(slot);
		return sy_resolve_fail(s->r, SY_RESOLVE_EEMPTY, "service %s: no table entry",
				       s->name);
	}
	fill(out, p, idx, flags);
	sy_snap_release(slot);
	return SY_RESOLVE_OK;
}

int sy_resolve_pick_flow(sy_resolve_service *s, const struct sy_resolve_flow *f,
			 struct sy_resolve_pick *out)
{
	struct sy_flow_key k = { 0 };
	size_t alen;

	if (!f || (f->src.family != 4 && f->src.family != 6) || f->src.family != f->dst.family)
		return sy_resolve_fail(s->r, SY_RESOLVE_EINVAL,
				       "flow: src and dst need the same family, 4 or 6");
	if (f->proto != 6 && f->proto != 17)
		return sy_resolve_fail(s->r, SY_RESOLVE_EINVAL, "flow: proto %u is not tcp (6) or udp (17)",
				       f->proto);
	/* the key `syctl lookup` builds (control/daemon/api.c): addresses in wire
	 * order, ports in network order */
	alen = f->src.family == 6 ? 16 : 4;
	k.family = f->src.family == 6 ? SY_AF_INET6 : SY_AF_INET;
	memcpy(k.src, f->src.bytes, alen);
	memcpy(k.dst, f->dst.bytes, alen);
	k.sport = (uint16_t)(f->sport >> 8 | f->sport << 8);
	k.dport = (uint16_t)(f->dport >> 8 | f->dport << 8);
	k.proto = f->proto;
	return pick_hash(s, &k, NULL, 0, out);
}

int sy_resolve_pick_key(sy_resolve_service *s, const void *key, size_t len,
			struct sy_resolve_pick *out)
{
	if (!key && len)
		return sy_resolve_fail(s->r, SY_RESOLVE_EINVAL, "key: NULL with length %zu", len);
	return pick_hash(s, NULL, key, len, out);
}

static int mark_by_identity(sy_resolve_service *s, const struct sy_resolve_instance *inst,
			    bool ok)
{
	struct sy_backend_id id;
	struct sy_slot *slot;
	struct sy_snap *p;
	uint32_t i;

	if (!inst || (inst->addr.family != 4 && inst->addr.family != 6))
		return sy_resolve_fail(s->r, SY_RESOLVE_EINVAL, "instance: family is not 4 or 6");
	slot = sy_resolve_slot(s->r);
	if (!slot)
		return SY_RESOLVE_ENOMEM;
	sy_addr_to_id(&inst->addr, inst->port, &id);
	p = sy_snap_acquire(slot, s);
	i = p ? sy_id_search(p->ids, p->n, &id) : UINT32_MAX;
	if (i != UINT32_MAX)
		mark(s, p->st[i], ok);
	sy_snap_release(slot);
	if (i == UINT32_MAX)
		return sy_resolve_fail(s->r, SY_RESOLVE_ENOENT, "service %s: no such instance",
				       s->name);
	return SY_RESOLVE_OK;
}

int sy_resolve_mark_failed(sy_resolve_service *s, const struct sy_resolve_instance *inst)
{
	return mark_by_identity(s, inst, false);
}

int sy_resolve_mark_ok(sy_resolve_service *s, const struct sy_resolve_instance *inst)
{
	return mark_by_identity(s, inst, true);
}

int sy_resolve_instances(sy_resolve_service *s, struct sy_resolve_instance *out, size_t cap,
			 size_t *n, uint64_t *revision, enum sy_resolve_state *state)
{
	struct sy_slot *slot = sy_resolve_slot(s->r);
	struct sy_snap *p;

	if (!slot)
		return SY_RESOLVE_ENOMEM;
	if (cap && !out)
		return sy_resolve_fail(s->r, SY_RESOLVE_EINVAL, "capacity %zu but no array", cap);
	p = sy_snap_acquire(slot, s);
	if (n)
		*n = p ? p->n : 0;
	if (revision)
		*revision = p ? p->revision : 0;
	if (state)
		*state = p ? p->state : SY_RESOLVE_NEW;
	for (uint32_t i = 0; p && i < p->n && i < cap; i++)
		out[i] = p->inst[i];
	sy_snap_release(slot);
	return SY_RESOLVE_OK;
}
