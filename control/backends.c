/* SPDX-License-Identifier: BSD-3-Clause
 * Backend sets and the health policy; see backends.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends.h"

const char *sy_be_source_name(enum sy_be_source s)
{
	static const char *const names[] = { "static", "embedded", "api", "etcd", "zookeeper" };

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
	free(s->published);
	free(s->removals);
	memset(s, 0, sizeof(*s));
}

struct sy_be *sy_svcb_find(struct sy_svc_backends *s, const struct sy_backend_id *id)
{
	for (uint32_t i = 0; i < s->n; i++)
		if (sy_backend_id_cmp(&s->be[i].id, id) == 0)
			return &s->be[i];
	return NULL;
}

struct sy_be *sy_svcb_upsert(struct sy_svc_backends *s, const struct sy_backend_id *id,
			     uint32_t weight, enum sy_be_source src, uint64_t ttl_ms,
			     uint64_t now_ms)
{
	struct sy_be *b = sy_svcb_find(s, id);

	if (!b) {
		if (s->n == s->cap) {
			uint32_t cap = s->cap ? 2 * s->cap : 8;
			struct sy_be *nb = realloc(s->be, cap * sizeof(*nb));

			if (!nb)
				return NULL;
			s->be = nb;
			s->cap = cap;
		}
		b = &s->be[s->n++];
		memset(b, 0, sizeof(*b));
		b->id = *id;
		b->override = -1;
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

bool sy_svcb_remove(struct sy_svc_backends *s, const struct sy_backend_id *id, uint64_t now_ms)
{
	struct sy_be *b = sy_svcb_find(s, id);

	(void)now_ms;
	if (!b)
		return false;
	/* A clean deregistration (a restart, a deploy) is not a flap: no
	 * hold-down. The entry goes. */
	*b = s->be[--s->n];
	s->dirty = true;
	return true;
}

void sy_svcb_forget_source(struct sy_svc_backends *s, enum sy_be_source src)
{
	for (uint32_t i = 0; i < s->n;) {
		if (s->be[i].source == src) {
			s->be[i] = s->be[--s->n];
			s->dirty = true;
		} else {
			i++;
		}
	}
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
			s->be[i] = s->be[--s->n]; /* nothing left to remember */
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

static void prune_removals(struct sy_svc_backends *s, uint64_t now_ms)
{
	uint32_t kept = 0;

	for (uint32_t i = 0; i < s->n_removals; i++)
		if (now_ms < s->removals[i].at_ms + s->policy.panic_window_ms)
			s->removals[kept++] = s->removals[i];
	s->n_removals = kept;
}

uint32_t sy_svcb_desired(struct sy_svc_backends *s, uint64_t now_ms,
			 struct sy_maglev_backend *out)
{
	uint32_t n = 0, lost = 0;

	for (uint32_t i = 0; i < s->n; i++) {
		const struct sy_be *b = &s->be[i];

		if (b->present && b->healthy && now_ms >= b->hold_until_ms)
			out[n++] = (struct sy_maglev_backend){ .id = b->id, .weight = sy_be_weight(b) };
	}
	if (n)
		qsort(out, n, sizeof(*out), mb_cmp);

	s->degraded = false;
	s->degraded_reason[0] = 0;
	for (uint32_t i = 0; i < s->n_published; i++)
		lost += !in_set(out, n, &s->published[i].id);

	if (s->source_unreachable || (s->policy.panic_threshold > 0 && lost)) {
		uint32_t base, gone;

		prune_removals(s, now_ms);
		base = s->n_published + s->n_removals; /* the set at the window's start */
		gone = s->n_removals + lost;
		if (s->source_unreachable ||
		    (base && (double)gone > s->policy.panic_threshold * (double)base)) {
			/* Keep the last good set; still take additions. */
			if (s->source_unreachable)
				snprintf(s->degraded_reason, sizeof(s->degraded_reason),
					 "registry unreachable: last known set kept");
			else
				snprintf(s->degraded_reason, sizeof(s->degraded_reason),
					 "panic: %u of %u backends left within %us: last good set kept",
					 gone, base, s->policy.panic_window_ms / 1000);
			s->degraded = true;
			for (uint32_t i = 0, n0 = n; i < s->n_published; i++)
				if (!in_set(out, n0, &s->published[i].id))
					out[n++] = s->published[i];
			qsort(out, n, sizeof(*out), mb_cmp);
		}
	}
	return n;
}

int sy_svcb_published(struct sy_svc_backends *s, const struct sy_maglev_backend *set,
		      uint32_t n, uint64_t now_ms)
{
	struct sy_maglev_backend *copy = malloc(sizeof(*copy) * (n ? n : 1));

	if (!copy)
		return -1;
	if (s->policy.panic_threshold > 0) {
		prune_removals(s, now_ms);
		for (uint32_t i = 0; i < s->n_published; i++) {
			if (in_set(set, n, &s->published[i].id))
				continue;
			if (s->n_removals == s->cap_removals) {
				uint32_t cap = s->cap_removals ? 2 * s->cap_removals : 16;
				struct sy_removal *r = realloc(s->removals, cap * sizeof(*r));

				if (!r)
					break;
				s->removals = r;
				s->cap_removals = cap;
			}
			s->removals[s->n_removals++] =
				(struct sy_removal){ .at_ms = now_ms, .id = s->published[i].id };
		}
	}
	memcpy(copy, set, sizeof(*copy) * n);
	free(s->published);
	s->published = copy;
	s->n_published = n;
	return 0;
}
