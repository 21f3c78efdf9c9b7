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
#include "netaddr.h"
#include "preflight.h"
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

void sy_log_limit_flush(struct sy_log_limit *l, uint32_t per_s, const char *what)
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
}

bool sy_log_limit_pass(struct sy_log_limit *l, uint32_t per_s, const char *what)
{
	sy_log_limit_flush(l, per_s, what);
	if (l->lines < per_s) {
		l->lines++;
		return true;
	}
	l->held++;
	return false;
}

enum sy_episode_line sy_log_episode_hit(struct sy_log_episode *e, uint64_t now_ms,
					uint64_t period_ms, uint64_t *held)
{
	enum sy_episode_line line = SY_EPISODE_QUIET;

	if (!e->start_ms || now_ms - e->last_ms >= period_ms) {
		*e = (struct sy_log_episode){ .start_ms = now_ms ? now_ms : 1, .logged_ms = now_ms };
		line = SY_EPISODE_START;
	} else if (now_ms - e->logged_ms >= period_ms) {
		e->logged_ms = now_ms;
		line = SY_EPISODE_SUMMARY;
	}
	e->last_ms = now_ms;
	e->n++;
	*held = e->n - e->n_logged;
	if (line != SY_EPISODE_QUIET)
		e->n_logged = e->n;
	return line;
}

bool sy_log_episode_end(struct sy_log_episode *e, uint64_t *n)
{
	bool on = e->start_ms != 0;

	*n = e->n;
	*e = (struct sy_log_episode){ 0 };
	return on;
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

void sy_source_set_server_id(struct sy_daemon *d, struct sy_service_state *s, struct sy_be *b,
			     uint32_t server_id)
{
	if (b->server_id == server_id)
		return;
	b->server_id = server_id;
	sy_daemon_mark(d, s);
}

const struct sy_be *sy_source_server_id_owner(const struct sy_service_state *s,
					      uint32_t server_id, const struct sy_backend_id *id)
{
	for (uint32_t i = 0; server_id && i < s->b.n; i++) {
		const struct sy_be *b = &s->b.be[i];

		if (b->present && b->server_id == server_id && sy_backend_id_cmp(&b->id, id))
			return b;
	}
	return NULL;
}

uint32_t sy_service_counted(const struct sy_service_state *s)
{
	return s->b.n + s->kept_unknown;
}

/* A service at its cap logs when refusals start, then a summary a minute. */
#define CAP_LOG_PERIOD_MS 60000

bool sy_source_admit(struct sy_daemon *d, struct sy_service_state *s,
		     const struct sy_backend_id *id, enum sy_be_source src, char *why,
		     size_t len)
{
	uint64_t held;
	char ep[80];

	if (sy_service_counted(s) < s->cap || sy_svcb_find(&s->b, id) ||
	    sy_svcb_remembers(&s->b, id))
		return true;
	if (s->cap_explicit)
		snprintf(why, len,
			 "service %s: at its cap of %u backends (services[%zu].max_backends); one must leave before another joins",
			 s->name, s->cap, s->cfg_index);
	else
		snprintf(why, len,
			 "service %s: at its cap of %u backends (its share of limits.backends; services[%zu].max_backends sets it); one must leave before another joins",
			 s->name, s->cap, s->cfg_index);
	s->over_capacity++;
	if ((unsigned)src < sizeof(d->over_capacity) / sizeof(d->over_capacity[0]))
		d->over_capacity[src]++;
	sy_format_endpoint(id, ep, sizeof(ep));
	switch (sy_log_episode_hit(&s->cap_log, sy_now_ms(), CAP_LOG_PERIOD_MS, &held)) {
	case SY_EPISODE_START:
		sy_logf("warn", "\"backend refused: service at its cap; new backends are refused and counted (one line a minute while it lasts)\" service=%s cap=%u source=%s backend=%s",
			s->name, s->cap, sy_be_source_name(src), ep);
		break;
	case SY_EPISODE_SUMMARY:
		sy_logf("warn", "\"backends refused: service still at its cap\" service=%s cap=%u refused=%llu last_source=%s last_backend=%s",
			s->name, s->cap, (unsigned long long)held, sy_be_source_name(src), ep);
		break;
	case SY_EPISODE_QUIET:
		break;
	}
	return false;
}

bool sy_source_remove(struct sy_daemon *d, struct sy_service_state *s,
		      const struct sy_backend_id *id, enum sy_leave how)
{
	if (!sy_svcb_remove(&s->b, id, how, sy_now_ms()))
		return false;
	sy_daemon_mark(d, s);
	return true;
}

void sy_source_set_service_reachable(struct sy_daemon *d, struct sy_service_state *s,
				     bool reachable)
{
	if (s->b.source_unreachable == !reachable)
		return;
	s->b.source_unreachable = !reachable;
	sy_daemon_mark(d, s);
}

void sy_source_set_reachable(struct sy_daemon *d, enum sy_config_source kind, bool reachable)
{
	for (size_t i = 0; i < d->n_svc; i++)
		if (d->cfg->services[d->svc[i].cfg_index].source == kind)
			sy_source_set_service_reachable(d, &d->svc[i], reachable);
}

int sy_daemon_apply_config(struct sy_daemon *d, struct sy_config *cfg, char *err, size_t errlen)
{
	struct sy_service_state *next = calloc(cfg->n_services ? cfg->n_services : 1, sizeof(*next));

	if (!next) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	/* 1. everything fallible first: each service's cap in the running
	 * region (preflight checked that they fit), the keys */
	struct sy_region_limits lim = sy_writer_map(d->writer)->hdr->limits;
	uint32_t *caps = calloc(cfg->n_services ? cfg->n_services : 1, sizeof(*caps));

	if (!caps || sy_config_caps(cfg, &lim, caps, err, errlen)) {
		if (!caps)
			snprintf(err, errlen, "out of memory");
		free(caps);
		free(next);
		return -1;
	}
	for (size_t i = 0; i < cfg->n_services; i++) {
		next[i].cap = caps[i];
		next[i].cap_explicit = cfg->services[i].max_backends != 0;
	}
	free(caps);
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
			/* a new source says for itself whether it is out of reach
			 * (its configured()): the old one's fail-static ends here */
			if (d->cfg->services[old->cfg_index].source != cs->source)
				next[i].b.source_unreachable = false;
			next[i].digest = old->digest;
			next[i].published_gen = old->published_gen;
			next[i].rejected = old->rejected;
			next[i].kept_unknown = old->kept_unknown;
			next[i].over_capacity = old->over_capacity;
			memcpy(next[i].checks, old->checks, sizeof(next[i].checks));
			next[i].rev = old->rev; /* readers' revisions go on */
			/* a reload tries a failing service again at once */
			next[i].pub = old->pub;
			next[i].pub.retry_ms = 0;
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
			(*src)->configured(*src, d);
	d->config_gen++;
	d->marks++;
	pthread_cond_signal(&d->wake);
	return 0;
}
