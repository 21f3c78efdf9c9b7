/* SPDX-License-Identifier: BSD-3-Clause
 * Backend sets and the health policy; see backends.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends.h"

const char *sy_be_source_name(enum sy_be_source s)
{
	static const char *const names[] = { "static", "embedded", "api",
					     SY_REGISTRY_KINDS(SY_REGISTRY_NAME_STR, ~, ~) };

	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

void sy_svcb_init(struct sy_svc_backends *s, const struct sy_policy *p)
{
	memset(s, 0, sizeof(*s));
	s->policy = *p;
	s->dirty = true;
}

void sy_svcb_free(struct sy_svc_backends *s)
{
	free(s->be);
	free(s->index);
	free(s->published);
	free(s->good);
	free(s->overrides);
	memset(s, 0, sizeof(*s));
}

/* ---- be[] by id ----------------------------------------------------------
 * Open addressing with linear probing over a power-of-two table at least
 * twice n; a slot holds a position in be[] + 1, 0 is empty. Removal shifts
 * the entries after the hole back (no tombstones), and a position that
 * moves (the last entry fills a removed one's place) is renamed. */

static uint32_t id_hash(const struct sy_backend_id *id)
{
	uint64_t x = ((uint64_t)id->addr[0] << 32 | id->addr[1]) ^
		     ((uint64_t)id->addr[2] << 32 | id->addr[3]) * 0x9e3779b97f4a7c15ull ^
		     ((uint64_t)id->port << 8 | id->family) * 0xc2b2ae3d27d4eb4full;

	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ull;
	return (uint32_t)(x ^ x >> 32);
}

/* The slot holding id, or the empty slot where it would go. */
static uint32_t index_slot(const struct sy_svc_backends *s, const struct sy_backend_id *id)
{
	uint32_t mask = s->index_cap - 1, i = id_hash(id) & mask;

	while (s->index[i] && sy_backend_id_cmp(&s->be[s->index[i] - 1].id, id))
		i = (i + 1) & mask;
	return i;
}

/* Room for n entries: a new table of every entry when it would be over
 * half full. 0, or -1 (out of memory: the old table stays). */
static int index_reserve(struct sy_svc_backends *s, uint32_t n)
{
	uint32_t cap = s->index_cap ? s->index_cap : 16, *old = s->index;

	while (cap < 2 * n)
		cap *= 2;
	if (cap == s->index_cap)
		return 0;
	s->index = calloc(cap, sizeof(*s->index));
	if (!s->index) {
		s->index = old;
		return -1;
	}
	free(old);
	s->index_cap = cap;
	for (uint32_t p = 0; p < s->n; p++)
		s->index[index_slot(s, &s->be[p].id)] = p + 1;
	return 0;
}

/* be[p] leaves: its slot is emptied, the probe runs after it closed up,
 * and the last entry takes position p. */
static void remove_at(struct sy_svc_backends *s, uint32_t p)
{
	uint32_t mask = s->index_cap - 1, hole = index_slot(s, &s->be[p].id), last = s->n - 1;

	for (uint32_t i = (hole + 1) & mask; s->index[i]; i = (i + 1) & mask) {
		uint32_t home = id_hash(&s->be[s->index[i] - 1].id) & mask;

		/* movable into the hole if its home is not in (hole, i] */
		if (((i - home) & mask) >= ((i - hole) & mask)) {
			s->index[hole] = s->index[i];
			hole = i;
		}
	}
	s->index[hole] = 0;
	if (p != last) {
		s->index[index_slot(s, &s->be[last].id)] = p + 1;
		s->be[p] = s->be[last];
	}
	s->n--;
}

struct sy_be *sy_svcb_find(struct sy_svc_backends *s, const struct sy_backend_id *id)
{
	uint32_t i;

	if (!s->n)
		return NULL;
	i = index_slot(s, id);
	return s->index[i] ? &s->be[s->index[i] - 1] : NULL;
}

static int be_ptr_cmp(const void *a, const void *b)
{
	return sy_backend_id_cmp(&(*(struct sy_be *const *)a)->id, &(*(struct sy_be *const *)b)->id);
}

struct sy_be **sy_svcb_sorted(struct sy_svc_backends *s)
{
	struct sy_be **idx = malloc(sizeof(*idx) * (s->n ? s->n : 1));

	if (!idx)
		return NULL;
	for (uint32_t i = 0; i < s->n; i++)
		idx[i] = &s->be[i];
	qsort(idx, s->n, sizeof(*idx), be_ptr_cmp);
	return idx;
}

struct sy_be *sy_svcb_sorted_find(struct sy_be **idx, uint32_t n, const struct sy_backend_id *id)
{
	struct sy_be key = { .id = *id }, *kp = &key, **r;

	r = n ? bsearch(&kp, idx, n, sizeof(*idx), be_ptr_cmp) : NULL;
	return r ? *r : NULL;
}

static int override_cmp(const void *a, const void *b)
{
	return sy_backend_id_cmp(&((const struct sy_override *)a)->id,
				 &((const struct sy_override *)b)->id);
}

static struct sy_override *override_find(const struct sy_svc_backends *s,
					 const struct sy_backend_id *id)
{
	struct sy_override key = { .id = *id };

	return s->n_overrides ? bsearch(&key, s->overrides, s->n_overrides, sizeof(key),
					override_cmp)
			      : NULL;
}

int sy_svcb_set_override(struct sy_svc_backends *s, const struct sy_backend_id *id,
			 uint32_t weight)
{
	struct sy_override *o = override_find(s, id);
	struct sy_be *b = sy_svcb_find(s, id);

	if (!o) {
		o = realloc(s->overrides, sizeof(*o) * (s->n_overrides + 1));
		if (!o)
			return -1;
		s->overrides = o;
		s->overrides[s->n_overrides++] = (struct sy_override){ .id = *id };
		qsort(s->overrides, s->n_overrides, sizeof(*o), override_cmp);
		o = override_find(s, id);
	}
	o->weight = weight;
	if (b)
		b->override = (int32_t)weight;
	s->dirty = true;
	return 0;
}

bool sy_svcb_clear_override(struct sy_svc_backends *s, const struct sy_backend_id *id)
{
	struct sy_override *o = override_find(s, id);
	struct sy_be *b = sy_svcb_find(s, id);
	size_t i;

	if (b)
		b->override = -1;
	if (!o)
		return false;
	i = (size_t)(o - s->overrides);
	memmove(o, o + 1, sizeof(*o) * (s->n_overrides - i - 1));
	s->n_overrides--;
	s->dirty = true;
	return true;
}

struct sy_be *sy_svcb_upsert(struct sy_svc_backends *s, const struct sy_backend_id *id,
			     uint32_t weight, enum sy_be_source src, uint64_t ttl_ms,
			     uint64_t now_ms)
{
	struct sy_be *b = sy_svcb_find(s, id);

	if (!b) {
		if (index_reserve(s, s->n + 1))
			return NULL;
		if (s->n == s->cap) {
			uint32_t cap = s->cap ? 2 * s->cap : 8;
			struct sy_be *nb = realloc(s->be, cap * sizeof(*nb));

			if (!nb)
				return NULL;
			s->be = nb;
			s->cap = cap;
		}
		const struct sy_override *o = override_find(s, id);

		b = &s->be[s->n++];
		memset(b, 0, sizeof(*b));
		b->id = *id;
		s->index[index_slot(s, id)] = s->n;
		b->override = o ? (int32_t)o->weight : -1;
		b->healthy = true; /* registering says "ready"; checks may disagree */
	}
	if (!b->present || b->weight != weight)
		s->dirty = true;
	b->present = true;
	b->weight = weight;
	b->source = src;
	b->last_seen_ms = now_ms;
	b->expires_ms = ttl_ms ? now_ms + ttl_ms : 0;
	return b;
}

static int mb_cmp(const void *a, const void *b)
{
	return sy_backend_id_cmp(&((const struct sy_maglev_backend *)a)->id,
				 &((const struct sy_maglev_backend *)b)->id);
}

static const struct sy_maglev_backend *in_set(const struct sy_maglev_backend *set, uint32_t n,
					      const struct sy_backend_id *id)
{
	struct sy_maglev_backend key = { .id = *id };

	return n ? bsearch(&key, set, n, sizeof(*set), mb_cmp) : NULL;
}

/* struct sy_good starts with its sy_maglev_backend: the same order */
static int good_cmp(const void *a, const void *b)
{
	return mb_cmp(&((const struct sy_good *)a)->b, &((const struct sy_good *)b)->b);
}

static struct sy_good *good_find(const struct sy_svc_backends *s, const struct sy_backend_id *id)
{
	struct sy_good key = { .b.id = *id };

	return s->n_good ? bsearch(&key, s->good, s->n_good, sizeof(key), good_cmp) : NULL;
}

bool sy_svcb_remove(struct sy_svc_backends *s, const struct sy_backend_id *id,
		    enum sy_leave how, uint64_t now_ms)
{
	struct sy_be *b = sy_svcb_find(s, id);
	struct sy_good *g = good_find(s, id);
	bool known = false;

	(void)now_ms;
	if (b) {
		/* A clean deregistration (a restart, a deploy) is not a flap:
		 * no hold-down. The entry goes. */
		remove_at(s, (uint32_t)(b - s->be));
		known = true;
	}
	if (g && how == SY_LEAVE_EXPLICIT) {
		/* gone on purpose: not a loss, never kept by fail-static */
		size_t i = (size_t)(g - s->good);

		memmove(g, g + 1, sizeof(*g) * (s->n_good - i - 1));
		s->n_good--;
		known = true;
	}
	if (known)
		s->dirty = true;
	return known;
}

bool sy_svcb_remembers(const struct sy_svc_backends *s, const struct sy_backend_id *id)
{
	return good_find(s, id) != NULL;
}

uint32_t sy_svcb_good_server_id(const struct sy_svc_backends *s, const struct sy_backend_id *id)
{
	const struct sy_good *g = good_find(s, id);

	return g ? g->server_id : 0;
}

void sy_svcb_forget_source(struct sy_svc_backends *s, enum sy_be_source src)
{
	for (uint32_t i = 0; i < s->n;) {
		if (s->be[i].source == src) {
			struct sy_backend_id id = s->be[i].id;

			sy_svcb_remove(s, &id, SY_LEAVE_EXPLICIT, 0);
		} else {
			i++;
		}
	}
}

void sy_svcb_hold_ttls(struct sy_svc_backends *s, uint64_t delta_ms)
{
	for (uint32_t i = 0; i < s->n; i++)
		if (s->be[i].present && s->be[i].expires_ms)
			s->be[i].expires_ms += delta_ms;
}

bool sy_svcb_expire(struct sy_svc_backends *s, uint64_t now_ms,
		    void (*on_expire)(void *ctx, const struct sy_be *b), void *ctx)
{
	bool changed = false;

	for (uint32_t i = 0; i < s->n;) {
		struct sy_be *b = &s->be[i];

		if (b->present && b->expires_ms && now_ms >= b->expires_ms) {
			/* heartbeats stopped: the backend leaves, and a quick
			 * return is damped */
			b->present = false;
			b->hold_until_ms = now_ms + s->policy.hold_down_ms;
			changed = true;
			if (on_expire)
				on_expire(ctx, b);
		}
		if (!b->present && now_ms >= b->hold_until_ms) {
			remove_at(s, i); /* nothing left to remember */
			changed = true;
			continue;
		}
		i++;
	}
	if (changed)
		s->dirty = true;
	return changed;
}

bool sy_svcb_check_result(struct sy_svc_backends *s, struct sy_be *b, bool ok, uint64_t now_ms)
{
	uint32_t rise = s->policy.check_rise ? s->policy.check_rise : 1;
	uint32_t fall = s->policy.check_fall ? s->policy.check_fall : 1;

	b->last_check_ms = now_ms;
	b->last_check_ok = ok;
	b->unsent_streak = 0;
	if (ok) {
		b->ok_streak++;
		b->fail_streak = 0;
		if (!b->healthy && b->ok_streak >= rise) {
			b->healthy = true;
			s->dirty = true;
			return true;
		}
	} else {
		b->fail_streak++;
		b->ok_streak = 0;
		if (b->healthy && b->fail_streak >= fall) {
			b->healthy = false;
			b->hold_until_ms = now_ms + s->policy.hold_down_ms;
			s->dirty = true;
			return true;
		}
	}
	return false;
}

bool sy_svcb_check_unsent(struct sy_be *b, int err, uint64_t now_ms)
{
	b->last_check_ms = now_ms;
	b->unsent_errno = err;
	return ++b->unsent_streak == 1;
}

const char *sy_check_unsent_reason(int err)
{
	switch (err) {
	case SY_UNSENT_NO_DATAPLANE:
		return "the dataplane is not running";
	case SY_UNSENT_DP_PAUSED:
		return "the dataplane is paused: its workers stand still";
	case SY_UNSENT_DP_INTERRUPTED:
		return "the dataplane stopped or paused while the check was under way";
	default:
		return strerror(err);
	}
}

static uint64_t earliest(uint64_t a, uint64_t b)
{
	return !a ? b : !b ? a : a < b ? a : b;
}

bool sy_svcb_due(struct sy_svc_backends *s, uint64_t now_ms)
{
	if (!s->due_ms || now_ms < s->due_ms)
		return false;
	s->due_ms = 0;
	s->dirty = true;
	return true;
}

/* Losses of the good set as of now: a member not eligible is lost since the
 * first time it was seen so; a loss that has lasted the panic window (at
 * once without a panic threshold) is confirmed and the member leaves the
 * set, unless the source is unreachable (its view is stale: nothing is
 * confirmed). A member eligible again is no longer lost and takes its
 * current weight. Returns how many are lost; *due is when the first of them
 * will be confirmed. */
static uint32_t track_losses(struct sy_svc_backends *s, const struct sy_maglev_backend *eligible,
			     uint32_t n, uint64_t now_ms, uint64_t *due)
{
	uint64_t window = s->policy.panic_threshold > 0 ? s->policy.panic_window_ms : 0;
	uint32_t lost = 0, kept = 0;

	*due = 0;
	for (uint32_t i = 0; i < s->n_good; i++) {
		struct sy_good g = s->good[i];
		const struct sy_maglev_backend *e = in_set(eligible, n, &g.b.id);

		if (e) {
			g.b.weight = e->weight;
			g.lost_ms = 0;
		} else {
			if (!g.lost_ms)
				g.lost_ms = now_ms;
			if (!s->source_unreachable && now_ms - g.lost_ms >= window)
				continue; /* confirmed: it leaves the good set */
			lost++;
			*due = earliest(*due, g.lost_ms + window);
		}
		s->good[kept++] = g;
	}
	s->n_good = kept;
	return lost;
}

uint32_t sy_svcb_desired(struct sy_svc_backends *s, uint64_t now_ms,
			 struct sy_maglev_backend *out)
{
	uint32_t n = 0, lost;
	uint64_t due = 0, confirm_due;
	bool keep = false;

	for (uint32_t i = 0; i < s->n; i++) {
		const struct sy_be *b = &s->be[i];

		if (!b->present || !b->healthy)
			continue;
		if (now_ms >= b->hold_until_ms)
			out[n++] = (struct sy_maglev_backend){ .id = b->id, .weight = sy_be_weight(b) };
		else
			due = earliest(due, b->hold_until_ms); /* eligible then */
	}
	if (n)
		qsort(out, n, sizeof(*out), mb_cmp);

	lost = track_losses(s, out, n, now_ms, &confirm_due);
	s->degraded_reason[0] = 0;
	if (s->source_unreachable) {
		keep = true;
		snprintf(s->degraded_reason, sizeof(s->degraded_reason),
			 "registry unreachable: last known set kept");
	} else if (s->policy.panic_threshold > 0 && lost &&
		   (double)lost > s->policy.panic_threshold * (double)s->n_good) {
		keep = true;
		snprintf(s->degraded_reason, sizeof(s->degraded_reason),
			 "panic: %u of %u backends lost within %us: last good set kept", lost,
			 s->n_good, s->policy.panic_window_ms / 1000);
		due = earliest(due, confirm_due); /* the verdict may change then */
	}
	if (keep) {
		/* the good set stays, newcomers are still taken. With the source
		 * unreachable, a member whose loss was already published (the
		 * registry said it was gone while it was reachable) stays out:
		 * the last known set is the last published one */
		for (uint32_t i = 0, n0 = n; i < s->n_good; i++) {
			const struct sy_good *g = &s->good[i];

			if (in_set(out, n0, &g->b.id))
				continue;
			if (s->source_unreachable && g->lost_ms &&
			    !in_set(s->published, s->n_published, &g->b.id))
				continue;
			out[n++] = g->b;
		}
		qsort(out, n, sizeof(*out), mb_cmp);
	}
	s->degraded = keep;
	s->due_ms = due;
	return n;
}

static int id_cmp(const void *a, const void *b)
{
	return sy_backend_id_cmp(a, b);
}

/* Newcomers of a published set join the good set; not one removed on
 * purpose since the set was computed (the publisher builds tables without
 * the lock): only what is still a known entry. O((n + s->n) log). */
static int add_newcomers(struct sy_svc_backends *s, const struct sy_maglev_backend *set,
			 uint32_t n)
{
	struct sy_good *good = realloc(s->good, sizeof(*good) * (s->n_good + n + 1));
	struct sy_backend_id *known = malloc(sizeof(*known) * (s->n + 1));
	uint32_t k = s->n_good;

	if (good)
		s->good = good;
	if (!good || !known) {
		free(known);
		return -1;
	}
	for (uint32_t i = 0; i < s->n; i++)
		known[i] = s->be[i].id;
	qsort(known, s->n, sizeof(*known), id_cmp);
	for (uint32_t i = 0; i < n; i++)
		if (!good_find(s, &set[i].id) &&
		    (s->n && bsearch(&set[i].id, known, s->n, sizeof(*known), id_cmp)))
			good[k++] = (struct sy_good){ .b = set[i] };
	free(known);
	if (k != s->n_good) {
		s->n_good = k;
		qsort(good, k, sizeof(*good), good_cmp);
	}
	return 0;
}

int sy_svcb_published(struct sy_svc_backends *s, const struct sy_maglev_backend *set,
		      const uint32_t *server_ids, uint32_t n, bool kept_good, uint64_t now_ms)
{
	struct sy_maglev_backend *pub = malloc(sizeof(*pub) * (n ? n : 1));

	(void)now_ms;
	if (!pub || (!kept_good && add_newcomers(s, set, n))) {
		free(pub);
		return -1;
	}
	for (uint32_t i = 0; i < n; i++) {
		struct sy_good *g = good_find(s, &set[i].id);

		if (g)
			g->server_id = server_ids ? server_ids[i] : 0;
	}
	memcpy(pub, set, sizeof(*pub) * n);
	free(s->published);
	s->published = pub;
	s->n_published = n;
	return 0;
}
