/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The daemon's service list, built from a configuration. Used at start-up
 * and on reload: everything that can fail (reading keys) happens before the
 * running state is touched, so a bad reload changes nothing.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon.h"
#include "source.h"

const double sy_latency_bounds_ms[SY_LATENCY_BUCKETS] = {
	0.5, 1, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000,
};

void sy_ms_histogram_add(struct sy_ms_histogram *h, double ms)
{
	int i = 0;

	while (i < SY_LATENCY_BUCKETS && ms > sy_latency_bounds_ms[i])
		i++;
	h->count[i]++;
	h->sum_ms += ms;
}

uint64_t sy_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

uint64_t sy_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void sy_logf(const char *level, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "level=%s msg=", level);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

bool sy_log_limit_pass(struct sy_log_limit *l, uint32_t per_s, const char *what)
{
	uint64_t now = sy_now_ms() / 1000;

	if (now != l->second) {
		if (l->held)
			sy_logf("warn", "\"%s: %llu more not logged (rate limit %u/s)\"", what,
				(unsigned long long)l->held, per_s);
		l->second = now;
		l->lines = 0;
		l->held = 0;
	}
	if (l->lines < per_s) {
		l->lines++;
		return true;
	}
	l->held++;
	return false;
}

struct sy_service_state *sy_daemon_service(struct sy_daemon *d, const char *name)
{
	for (size_t i = 0; i < d->n_svc; i++)
		if (strcmp(d->svc[i].name, name) == 0)
			return &d->svc[i];
	return NULL;
}

void sy_daemon_mark(struct sy_daemon *d, struct sy_service_state *s)
{
	s->b.dirty = true;
	if (!s->last_event_us)
		s->last_event_us = sy_now_us();
	d->marks++;
	pthread_cond_signal(&d->wake);
}

static struct sy_policy policy_of(const struct sy_config_service *cs)
{
	const struct sy_config_health *h = &cs->health;

	return (struct sy_policy){
		.hold_down_ms = h->hold_down_s * 1000,
		.panic_threshold = h->panic_threshold,
		.panic_window_ms = h->panic_window_s * 1000,
		.check_rise = h->check.rise,
		.check_fall = h->check.fall,
		.has_check = h->check.type != SY_CHECK_NONE,
	};
}

/* ---- what sources may do (source.h) ------------------------------------- */

struct sy_be *sy_source_upsert(struct sy_daemon *d, struct sy_service_state *s,
			       const struct sy_backend_id *id, uint32_t weight,
			       enum sy_be_source src, uint64_t ttl_ms)
{
	struct sy_be *b = sy_svcb_find(&s->b, id);
	bool changed = !b || !b->present || b->weight != weight;

	b = sy_svcb_upsert(&s->b, id, weight, src, ttl_ms, sy_now_ms());
	if (b && changed)
		sy_daemon_mark(d, s);
	return b;
}

bool sy_source_remove(struct sy_daemon *d, struct sy_service_state *s,
		      const struct sy_backend_id *id, enum sy_leave how)
{
	if (!sy_svcb_remove(&s->b, id, how, sy_now_ms()))
		return false;
	sy_daemon_mark(d, s);
	return true;
}

void sy_source_set_reachable(struct sy_daemon *d, enum sy_config_source kind, bool reachable)
{
	for (size_t i = 0; i < d->n_svc; i++) {
		struct sy_service_state *s = &d->svc[i];

		if (d->cfg->services[s->cfg_index].source != kind ||
		    s->b.source_unreachable == !reachable)
			continue;
		s->b.source_unreachable = !reachable;
		sy_daemon_mark(d, s);
	}
}

int sy_daemon_apply_config(struct sy_daemon *d, struct sy_config *cfg, char *err, size_t errlen)
{
	struct sy_service_state *next = calloc(cfg->n_services ? cfg->n_services : 1, sizeof(*next));

	if (!next) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	/* 1. everything fallible first */
	for (size_t i = 0; i < cfg->n_services; i++) {
		const struct sy_config_service *cs = &cfg->services[i];

		if (cs->source == SY_SOURCE_EMBEDDED) {
			char kerr[256];

			if (sy_key_load(cs->key_file, next[i].key, &next[i].key_len, kerr, sizeof(kerr))) {
				snprintf(err, errlen, "%s:%u: services[%zu].key_file: %s", cfg->path,
					 cs->line, i, kerr);
				free(next);
				return -1;
			}
		}
	}
	/* 2. carry over what we know of services that stay */
	for (size_t i = 0; i < cfg->n_services; i++) {
		const struct sy_config_service *cs = &cfg->services[i];
		struct sy_service_state *old = sy_daemon_service(d, cs->name);
		struct sy_policy p = policy_of(cs);

		snprintf(next[i].name, sizeof(next[i].name), "%s", cs->name);
		next[i].cfg_index = i;
		if (old) {
			next[i].b = old->b; /* moves ownership of the arrays */
			next[i].b.policy = p;
			next[i].digest = old->digest;
			next[i].published_gen = old->published_gen;
			next[i].rejected = old->rejected;
			memset(&old->b, 0, sizeof(old->b));
			if (cs->source != SY_SOURCE_EMBEDDED) {
				sy_svcb_forget_source(&next[i].b, SY_SRC_EMBEDDED);
			}
		} else {
			sy_svcb_init(&next[i].b, &p);
		}
		next[i].b.dirty = true;
		next[i].last_event_us = sy_now_us();
	}
	/* 3. swap */
	for (size_t i = 0; i < d->n_svc; i++)
		sy_svcb_free(&d->svc[i].b);
	free(d->svc);
	d->svc = next;
	d->n_svc = cfg->n_services;
	sy_config_free(d->cfg);
	d->cfg = cfg;
	for (const struct sy_source *const *src = sy_sources; *src; src++)
		if ((*src)->configured)
			(*src)->configured(d);
	d->config_gen++;
	d->marks++;
	pthread_cond_signal(&d->wake);
	return 0;
}
