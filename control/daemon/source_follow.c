/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The daemon's adapter on a registry's follower: what it does is in
 * source_follow.h.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "follow.h"
#include "netaddr.h"
#include "source.h"
#include "source_follow.h"

#define CHUNK 1024            /* changes applied per d->lock section */
#define LOG_EACH_MAX 32       /* more changes than this in one go: one summary line */
#define PILE_MAX 8192         /* changes read ahead of d->lock at most (one watch answer's may be more) */
#define PILE_WAIT_MS 2        /* a pile waiting for d->lock is tried again this soon */
#define RELIST_CAPPED_MS 5000 /* room at a capped service: list again, at most this often */

/* ---- the daemon's state (d->lock held) ------------------------------------------------ */

static struct sy_service_state *service_of(struct sy_follow_source *a, const char *name)
{
	struct sy_daemon *d = a->d;
	struct sy_service_state *s = sy_daemon_service(d, name);

	return s && d->cfg->services[s->cfg_index].source == a->kind->source ? s : NULL;
}

/* Ours to remove: learnt from this registry, or taken over from the
 * previous process's published set at adoption (main.c marks those
 * embedded). */
static bool removable(const struct sy_follow_source *a, const struct sy_be *b)
{
	return b->source == a->kind->src || b->source == SY_SRC_EMBEDDED;
}

static void set_capped(struct sy_follow_source *a)
{
	pthread_mutex_lock(&a->mu);
	a->capped = true;
	pthread_mutex_unlock(&a->mu);
}

/* One entry into s; true if it changed something. An entry new to a
 * service at its cap is refused, counted (sy_source_admit). */
static bool upsert(struct sy_follow_source *a, struct sy_service_state *s,
		   const struct sy_etcd_entry *e, bool verbose)
{
	struct sy_daemon *d = a->d;
	struct sy_be *b = sy_svcb_find(&s->b, &e->id);
	bool was = b && b->present && removable(a, b);
	uint32_t old_w = b ? b->weight : 0;
	char why[256];

	if (!b && !sy_source_admit(d, s, &e->id, a->kind->src, why, sizeof(why))) {
		set_capped(a);
		return false;
	}
	b = sy_source_upsert(d, s, &e->id, e->weight, a->kind->src, 0);
	if (!b)
		return false;
	snprintf(b->zone, sizeof(b->zone), "%s", e->zone);
	snprintf(b->metadata, sizeof(b->metadata), "%s", e->metadata);
	/* an ID another backend has: published without it (publish.c) */
	sy_source_set_server_id(d, s, b, e->server_id);
	if (was && old_w == e->weight)
		return false;
	if (verbose) {
		char ep[80];

		sy_format_endpoint(&e->id, ep, sizeof(ep));
		sy_logf("info", "\"%s: backend %s\" service=%s backend=%s weight=%u", a->kind->name,
			was ? "updated" : "registered", s->name, ep, e->weight);
	}
	return true;
}

static bool remove_backend(struct sy_follow_source *a, struct sy_service_state *s,
			   const struct sy_backend_id *id, bool verbose)
{
	struct sy_be *b = sy_svcb_find(&s->b, id);
	char ep[80];

	if (!b || !removable(a, b) || !sy_source_remove(a->d, s, id, SY_LEAVE_LOST))
		return false;
	if (verbose) {
		sy_format_endpoint(id, ep, sizeof(ep));
		sy_logf("info", "\"%s: backend removed\" service=%s backend=%s", a->kind->name, s->name,
			ep);
	}
	return true;
}

/* Room made at a service that refused entries: list again (tick). */
static void room_made(struct sy_follow_source *a)
{
	uint64_t soonest;

	pthread_mutex_lock(&a->mu);
	soonest = a->relisted_ms + RELIST_CAPPED_MS;
	if (a->capped && !a->relist_at)
		a->relist_at = soonest > sy_now_ms() ? soonest : sy_now_ms();
	pthread_mutex_unlock(&a->mu);
}

/* ---- the pile of changes (the follower's thread) ---------------------------------------- */

/* Apply the pile, d->lock held. */
static void apply_pile(struct sy_follow_source *a)
{
	size_t n = a->n_pile, changes = 0, removed = 0;
	bool verbose = n <= LOG_EACH_MAX;

	for (size_t i = 0; i < n; i++) {
		const struct sy_follow_change *c = &a->pile[i];
		struct sy_service_state *s = service_of(a, c->e.service);

		if (!s) /* no longer ours (a reload) */
			;
		else if (c->gone)
			removed += remove_backend(a, s, &c->e.id, verbose);
		else
			changes += upsert(a, s, &c->e, verbose);
		if (i % CHUNK == CHUNK - 1) { /* let the others in */
			pthread_mutex_unlock(&a->d->lock);
			pthread_mutex_lock(&a->d->lock);
		}
	}
	a->n_pile = 0;
	if (removed)
		room_made(a);
	if (!verbose)
		sy_logf("info", "\"%s: changes applied\" changes=%zu applied=%zu removed=%zu",
			a->kind->name, n, changes + removed, removed);
}

/* Apply the pile if d->lock is free, or in any case (force). */
static void flush(struct sy_follow_source *a, bool force)
{
	if (!a->n_pile)
		return;
	if (force)
		pthread_mutex_lock(&a->d->lock);
	else if (pthread_mutex_trylock(&a->d->lock))
		return; /* the main loop publishes: more may pile up meanwhile */
	apply_pile(a);
	pthread_mutex_unlock(&a->d->lock);
}

/* ---- reachable or not ------------------------------------------------------------------- */

static void set_reachable(struct sy_follow_source *a, bool up, const char *why)
{
	bool was;
	uint64_t down_ms = 0;

	pthread_mutex_lock(&a->mu);
	was = a->reachable;
	if (!up && why)
		snprintf(a->why, sizeof(a->why), "%s", why);
	pthread_mutex_unlock(&a->mu);
	if (was == up)
		return;
	pthread_mutex_lock(&a->d->lock);
	sy_source_set_reachable(a->d, a->kind->source, up);
	pthread_mutex_lock(&a->mu);
	a->reachable = up;
	if (!up)
		a->down_since_ms = sy_now_ms();
	else
		down_ms = sy_now_ms() - a->down_since_ms;
	pthread_mutex_unlock(&a->mu);
	pthread_mutex_unlock(&a->d->lock);
	if (up)
		sy_logf("info", "\"%s reachable again: every service listed; services leave fail-static\" after_ms=%" PRIu64,
			a->kind->name, down_ms);
	else
		sy_logf("warn", "\"%s unreachable: services fail-static (last known set kept)\" error=\"%s\"",
			a->kind->name, why ? why : "");
}

/* ---- the follower's sink ---------------------------------------------------------------- */

static int id_cmp(const void *x, const void *y)
{
	return sy_backend_id_cmp(x, y);
}

/* The listing's identities, sorted: O(log n) a question. NULL if none or
 * out of memory (*n 0: then no backend counts as listed). */
static struct sy_backend_id *listed_ids(const struct sy_follow_list *l, size_t *n)
{
	struct sy_backend_id *ids = malloc(sizeof(*ids) * (l->n ? l->n : 1));

	*n = 0;
	if (!ids)
		return NULL;
	for (size_t i = 0; i < l->n; i++)
		ids[i] = l->e[i].id;
	qsort(ids, l->n, sizeof(*ids), id_cmp);
	*n = l->n;
	return ids;
}

/* Make s's backends of this source match the listing (d->lock held). */
static void reconcile(struct sy_follow_source *a, struct sy_service_state *s,
		      const struct sy_follow_list *l, const struct sy_backend_id *ids, size_t n_ids,
		      bool removals)
{
	bool verbose = l->n <= LOG_EACH_MAX;
	size_t changes = 0, removed = 0;

	/* removals first: at a capped service, the room they make goes to
	 * entries refused before (each listing offers them all again) */
	for (uint32_t i = s->b.n; removals && i-- > 0;) {
		struct sy_backend_id id = s->b.be[i].id;

		if (!removable(a, &s->b.be[i]) ||
		    (n_ids && bsearch(&id, ids, n_ids, sizeof(*ids), id_cmp)))
			continue;
		removed += remove_backend(a, s, &id, verbose || removed < LOG_EACH_MAX);
	}
	for (size_t i = 0; i < l->n; i++) {
		changes += upsert(a, s, &l->e[i], verbose);
		if (i % CHUNK == CHUNK - 1) {
			pthread_mutex_unlock(&a->d->lock);
			pthread_mutex_lock(&a->d->lock);
		}
	}
	if (!verbose)
		sy_logf("info", "\"%s: listed and reconciled\" service=%s revision=%" PRIu64 " backends=%zu changed=%zu removed=%zu%s",
			a->kind->name, s->name, l->revision, l->n, changes, removed,
			removals ? "" : " (removals deferred)");
}

static void on_listed(void *ctx, const char *service, void *svc, const struct sy_follow_list *l)
{
	struct sy_follow_source *a = ctx;
	struct sy_daemon *d = a->d;
	struct sy_service_state *s;
	struct sy_backend_id *ids = NULL;
	size_t n_ids = 0;
	bool removals;

	(void)svc;
	pthread_mutex_lock(&a->mu);
	removals = !a->settle_until;
	pthread_mutex_unlock(&a->mu);
	if (removals && !(ids = listed_ids(l, &n_ids))) {
		sy_logf("error", "\"%s: out of memory; removals wait for the next listing\" service=%s",
			a->kind->name, service);
		removals = false;
	}
	pthread_mutex_lock(&d->lock);
	if (a->n_pile) /* in order: what came before the list */
		apply_pile(a);
	if ((s = service_of(a, service))) {
		reconcile(a, s, l, ids, n_ids, removals);
		if (a->kind->ops->per_service_loss && s->b.source_unreachable) {
			/* reconciled and reachable in one section: no flap */
			sy_source_set_service_reachable(d, s, true);
			sy_logf("info", "\"%s reachable again: listed and reconciled; the service leaves fail-static\" service=%s",
				a->kind->name, s->name);
		}
	}
	pthread_mutex_unlock(&d->lock);
	free(ids);
}

static uint32_t on_changed(void *ctx, const char *service, void *svc, uint64_t revision,
			   const struct sy_follow_change *c, size_t n)
{
	struct sy_follow_source *a = ctx;

	(void)svc, (void)revision;
	for (size_t i = 0; i < n; i++) {
		if (a->n_pile == a->cap_pile) {
			size_t cap = a->cap_pile ? 2 * a->cap_pile : 64;
			struct sy_follow_change *p = realloc(a->pile, cap * sizeof(*p));

			if (p) {
				a->pile = p;
				a->cap_pile = cap;
			} else {
				flush(a, true); /* apply what is held, then go on */
			}
			if (a->n_pile == a->cap_pile) {
				sy_logf("error", "\"%s: out of memory for a change\" service=%s",
					a->kind->name, service);
				return 0;
			}
		}
		a->pile[a->n_pile] = c[i];
		snprintf(a->pile[a->n_pile].e.service, sizeof(a->pile[0].e.service), "%s", service);
		a->n_pile++;
	}
	/* one answer's changes stay together: one section, one publish */
	flush(a, a->n_pile >= PILE_MAX);
	return a->n_pile ? PILE_WAIT_MS : 0; /* the tick applies what waits */
}

static void on_connected(void *ctx, const char *where)
{
	struct sy_follow_source *a = ctx;
	uint32_t deferred = 0;

	pthread_mutex_lock(&a->mu);
	if (a->ever_synced && a->lost && a->settle_ms) {
		/* agents whose sessions expired in the outage register again
		 * within about settle_ms */
		a->settle_until = sy_now_ms() + a->settle_ms;
		deferred = a->settle_ms;
	}
	a->lost = false;
	pthread_mutex_unlock(&a->mu);
	sy_logf("info", "\"%s connected\" %s removals_deferred_ms=%u", a->kind->name, where, deferred);
}

/* One service's reads failed (per_service_loss): it alone goes
 * fail-static. */
static void service_lost(struct sy_follow_source *a, const char *service, const char *why)
{
	struct sy_daemon *d = a->d;
	struct sy_service_state *s;
	bool first = true;

	pthread_mutex_lock(&d->lock);
	s = service_of(a, service);
	if (!s || s->b.source_unreachable) {
		pthread_mutex_unlock(&d->lock);
		return; /* said when it went */
	}
	for (size_t i = 0; i < d->n_svc; i++)
		first &= !(d->cfg->services[d->svc[i].cfg_index].source == a->kind->source &&
			   d->svc[i].b.source_unreachable);
	sy_source_set_service_reachable(d, s, false);
	pthread_mutex_lock(&a->mu);
	snprintf(a->why, sizeof(a->why), "%s", why ? why : "");
	if (first)
		a->down_since_ms = sy_now_ms();
	pthread_mutex_unlock(&a->mu);
	pthread_mutex_unlock(&d->lock);
	sy_logf("warn", "\"%s unreachable: the service is fail-static (last known set kept)\" service=%s error=\"%s\"",
		a->kind->name, service, why ? why : "");
}

static void on_lost(void *ctx, const char *service, void *svc, const char *why)
{
	struct sy_follow_source *a = ctx;

	(void)svc;
	if (service && a->kind->ops->per_service_loss) {
		service_lost(a, service, why);
		return;
	}
	if (service)
		return; /* one listing failed: the follower logged it and retries */
	pthread_mutex_lock(&a->mu);
	a->lost = true;
	pthread_mutex_unlock(&a->mu);
	set_reachable(a, false, why);
}

static void on_malformed(void *ctx, const char *service, void *svc, const char *entry,
			 const char *why)
{
	struct sy_follow_source *a = ctx;
	struct sy_daemon *d = a->d;

	(void)svc;
	/* said before it is counted (and outside the locks): whoever sees
	 * the count in status or /metrics finds its line in the log */
	sy_logf("warn", "\"%s\" service=%s %s=\"%s\" error=\"%s\"", a->kind->ops->malformed_msg, service,
		a->kind->ops->entry, entry, why);
	pthread_mutex_lock(&d->lock);
	pthread_mutex_lock(&a->mu);
	d->registry_invalid[a->kind->source] = ++a->malformed; /* status, /metrics */
	pthread_mutex_unlock(&a->mu);
	pthread_mutex_unlock(&d->lock);
}

static void on_note(void *ctx, const char *service, void *svc, const char *why)
{
	struct sy_follow_source *a = ctx;

	(void)svc;
	sy_logf("info", "\"%s: %s\" service=%s", a->kind->name, why, service);
}

static void on_log(void *ctx, const char *level, const char *msg)
{
	(void)ctx;
	sy_logf(level, "%s", msg);
}

static uint32_t on_tick(void *ctx, bool all_listed)
{
	struct sy_follow_source *a = ctx;
	uint64_t now = sy_now_ms(), until, relist;
	bool settled = false, again = false;
	uint32_t next = 0;

	flush(a, true); /* nothing more came: what waited goes now */
	pthread_mutex_lock(&a->mu);
	until = a->settle_until;
	if (until && now >= until && all_listed) {
		a->settle_until = until = 0;
		settled = true;
	}
	if (all_listed)
		a->ever_synced = true;
	relist = a->relist_at;
	if (relist && now >= relist) {
		a->relist_at = relist = 0;
		a->capped = false; /* the lists say again who is refused */
		a->relisted_ms = now;
		again = true;
	}
	pthread_mutex_unlock(&a->mu);
	if (settled || again) /* every list once more, now with removals */
		a->kind->ops->refresh(a->f);
	if (settled)
		sy_logf("info", "\"%s: settled after reconnecting; removals applied\"", a->kind->name);
	if (again)
		sy_logf("info", "\"%s: room at a capped service; listing again\"", a->kind->name);
	if (all_listed && !a->kind->ops->per_service_loss) /* else each service as it is listed */
		set_reachable(a, true, NULL);
	if (until > now && until - now < 1000)
		next = (uint32_t)(until - now);
	if (relist > now && relist - now < 1000 && (!next || relist - now < next))
		next = (uint32_t)(relist - now);
	return next ? next : 0;
}

/* ---- the source interface ----------------------------------------------------- */

#define RETRY_INITIAL_MS 250   /* a failed read or session start, at first, */
#define RETRY_MAX_MS 1000      /* doubling up to this */
#define WATCH_RENEW_MS 15000   /* a silent watch is started anew (a hung member) */

/* registry.<name> as the follower's configuration (its strings point into
 * cfg and a->servers; the follower copies them). */
static void registry_conf(struct sy_follow_source *a, const struct sy_config *cfg,
			  struct sy_follow_conf *fc)
{
	const struct sy_config_registry *c = &cfg->registry.kind[a->kind->registry];
	size_t off = 0;

	a->servers[0] = 0;
	for (size_t i = 0; i < c->n_servers && off < sizeof(a->servers); i++)
		off += (size_t)snprintf(a->servers + off, sizeof(a->servers) - off, "%s%s",
					i ? "," : "", c->servers[i]);
	*fc = (struct sy_follow_conf){
		.servers = c->enabled && c->n_servers ? a->servers : NULL,
		.prefix = c->prefix,
		.session_timeout_ms = c->session_timeout_ms,
		.request_timeout_ms = c->timeout_ms,
		.retry_initial_ms = RETRY_INITIAL_MS,
		.retry_max_ms = RETRY_MAX_MS,
		/* with sessions: a reader holds no entry, a new session after
		 * one timeout; else a watch silent this long is renewed */
		.renew_after_ms = a->kind->ops->sessions ? c->session_timeout_ms : WATCH_RENEW_MS,
		.create_missing = true, /* a service's folder may be made (ZooKeeper's parents) */
		.user = c->username,
		.password_file = c->password_file,
		.ca_file = c->ca_file,
		.cert_file = c->cert_file,
		.key_file = c->key_file,
	};
}

/* Follow exactly names (d->lock held, or start-up); takes names. */
static void follow_services(struct sy_follow_source *a, char (*names)[SY_NAME_MAX], size_t n)
{
	const struct sy_follow_ops *ops = a->kind->ops;

	for (size_t i = 0; a->f && i < a->n_names; i++) {
		bool kept = false;

		for (size_t j = 0; j < n && !kept; j++)
			kept = !strcmp(a->names[i], names[j]);
		if (!kept)
			ops->unfollow(a->f, a->names[i]);
	}
	for (size_t i = 0; a->f && i < n; i++) /* again: cheap, and the set may have changed */
		if (ops->follow(a->f, names[i], NULL))
			sy_logf("error", "\"%s: out of memory following a service\" service=%s",
				a->kind->name, names[i]);
	free(a->names);
	a->names = names;
	a->n_names = n;
}

static int launch(struct sy_follow_source *a, struct sy_daemon *d, char *err, size_t errlen)
{
	const struct sy_follow_sink sink = {
		.ctx = a, .listed = on_listed, .changed = on_changed, .connected = on_connected,
		.lost = on_lost, .malformed = on_malformed, .note = on_note, .log = on_log,
		.tick = on_tick,
	};
	struct sy_follow_conf fc;
	char (*names)[SY_NAME_MAX] = a->names;
	size_t n = a->n_names;

	registry_conf(a, d->cfg, &fc);
	if (a->kind->ops->open(&fc, &sink, &a->f, err, errlen))
		return -1;
	a->names = NULL; /* followed from now on */
	a->n_names = 0;
	follow_services(a, names, n);
	sy_logf("info", "\"%s source started\" servers=%s services=%zu", a->kind->name,
		fc.servers ? fc.servers : "", n);
	return 0;
}

/* d->lock held (or start-up, single-threaded). */
void sy_follow_source_configured(const struct sy_source *self, struct sy_daemon *d)
{
	struct sy_follow_source *a = self->state;
	bool enabled = d->cfg->registry.kind[a->kind->registry].enabled;
	char (*names)[SY_NAME_MAX] = NULL;
	struct sy_follow_conf fc;
	size_t n = 0;
	char err[160];
	bool up;

	a->d = d;
	for (size_t i = 0; i < d->n_svc; i++) {
		struct sy_service_state *s = &d->svc[i];

		if (d->cfg->services[s->cfg_index].source == a->kind->source) {
			n++;
			continue;
		}
		for (uint32_t j = s->b.n; j-- > 0;) { /* no longer fed by this registry */
			struct sy_backend_id id = s->b.be[j].id;

			if (s->b.be[j].source == a->kind->src)
				sy_source_remove(d, s, &id, SY_LEAVE_EXPLICIT);
		}
	}
	names = calloc(n ? n : 1, sizeof(*names));
	n = 0;
	for (size_t i = 0; names && i < d->n_svc; i++)
		if (d->cfg->services[d->svc[i].cfg_index].source == a->kind->source)
			snprintf(names[n++], SY_NAME_MAX, "%s", d->svc[i].name);
	if (!names) {
		sy_logf("error", "\"%s: out of memory for the service list\"", a->kind->name);
		return; /* the next reload tries again */
	}

	pthread_mutex_lock(&a->mu);
	if (!a->started && !a->down_since_ms)
		a->down_since_ms = sy_now_ms();
	/* a kind with sessions: agents unconnected for two session timeouts
	 * start new ones and re-create their entries (one timeout was too
	 * short for an agent whose reconnection came late) */
	a->settle_ms = a->kind->ops->sessions
			       ? 2 * d->cfg->registry.kind[a->kind->registry].session_timeout_ms
			       : 0;
	/* services new to this configuration start in the source's state
	 * (per_service_loss: each keeps its own; a new one starts reachable
	 * and goes fail-static if its reads fail) */
	up = a->reachable || !enabled;
	pthread_mutex_unlock(&a->mu);
	if (!a->kind->ops->per_service_loss || !enabled)
		sy_source_set_reachable(d, a->kind->source, up);

	if (a->f) {
		registry_conf(a, d->cfg, &fc);
		if (a->kind->ops->configure(a->f, &fc))
			sy_logf("error", "\"%s: out of memory taking the configuration\"", a->kind->name);
		follow_services(a, names, enabled ? n : 0);
	} else {
		free(a->names);
		a->names = names;
		a->n_names = n;
		if (a->started && enabled && launch(a, d, err, sizeof(err)))
			sy_logf("error", "\"%s\"", err);
	}
}

int sy_follow_source_start(const struct sy_source *self, struct sy_daemon *d, char *err,
			   size_t errlen)
{
	struct sy_follow_source *a = self->state;

	a->d = d;
	a->started = true;
	pthread_mutex_lock(&a->mu);
	a->relisted_ms = sy_now_ms();
	pthread_mutex_unlock(&a->mu);
	if (!d->cfg->registry.kind[a->kind->registry].enabled)
		return 0;
	return launch(a, d, err, errlen);
}

void sy_follow_source_stop(const struct sy_source *self, struct sy_daemon *d)
{
	struct sy_follow_source *a = self->state;

	(void)d;
	if (a->f)
		a->kind->ops->close(a->f); /* joins its thread: d->lock is not held here */
	a->f = NULL;
	free(a->names);
	a->names = NULL;
	a->n_names = 0;
	free(a->pile);
	a->pile = NULL;
	a->n_pile = a->cap_pile = 0;
}

/* d->lock held */
void sy_follow_source_describe(const struct sy_source *self, struct sy_daemon *d, char *buf,
			       size_t len, bool *up)
{
	struct sy_follow_source *a = self->state;
	struct sy_follow_status st = { 0 };
	struct sy_follow_conf fc;
	size_t nsvc = 0, nlost = 0;
	uint64_t nb = 0; /* the daemon's, not the follower's count (that one lags a tick) */
	unsigned long long capped = (unsigned long long)d->over_capacity[a->kind->src];
	bool reachable;

	for (size_t i = 0; i < d->n_svc; i++) {
		bool ours = d->cfg->services[d->svc[i].cfg_index].source == a->kind->source;

		nsvc += ours;
		nlost += ours && d->svc[i].b.source_unreachable;
		for (uint32_t j = 0; j < d->svc[i].b.n; j++)
			nb += d->svc[i].b.be[j].source == a->kind->src;
	}
	if (!d->cfg->registry.kind[a->kind->registry].enabled) {
		*up = true;
		snprintf(buf, len, "not configured");
		return;
	}
	registry_conf(a, d->cfg, &fc);
	if (a->f)
		a->kind->ops->status(a->f, &st);
	pthread_mutex_lock(&a->mu);
	/* per_service_loss: down when every service is, else up with the
	 * ones that are not named */
	reachable = a->kind->ops->per_service_loss ? !nsvc || nlost < nsvc : a->reachable;
	*up = reachable && !(a->kind->ops->per_service_loss && nlost);
	if (reachable && nlost && a->kind->ops->per_service_loss)
		snprintf(buf, len, "degraded: watching %s, %zu of %zu services unreachable (%s), %" PRIu64
			 " backends, %" PRIu64 " %s, %llu over capacity",
			 st.where, nlost, nsvc, a->why, nb, a->malformed, a->kind->ops->malformed_count,
			 capped);
	else if (reachable)
		snprintf(buf, len, "up: watching %s, %zu services, %" PRIu64 " backends, %" PRIu64
			 " %s, %llu over capacity%s",
			 st.where, nsvc, nb, a->malformed, a->kind->ops->malformed_count, capped,
			 a->settle_until ? ", settling (removals deferred)" : "");
	else
		snprintf(buf, len, "down: %s unreachable for %" PRIu64 " s (%s), last known backends kept, %zu services, %" PRIu64
			 " %s, %llu over capacity",
			 fc.servers ? fc.servers : "", (sy_now_ms() - a->down_since_ms) / 1000,
			 a->why[0] ? a->why : "no answer yet", nsvc, a->malformed,
			 a->kind->ops->malformed_count, capped);
	pthread_mutex_unlock(&a->mu);
}

/* ---- one source per registry kind (registry_kinds.h) ------------------------------- */

#define FOLLOW_SOURCE(ID, name_, req, dir, sdesc, kdesc, a, b)                                   \
	static const struct sy_follow_source_kind name_##_kind = {                               \
		.name = #name_,                                                                  \
		.source = SY_SOURCE_##ID,                                                        \
		.src = SY_SRC_##ID,                                                              \
		.registry = SY_REGISTRY_##ID,                                                    \
		.ops = &sy_##name_##_follow_ops,                                                 \
	};                                                                                       \
	static struct sy_follow_source name_##_state = {                                         \
		.kind = &name_##_kind,                                                           \
		.mu = PTHREAD_MUTEX_INITIALIZER,                                                 \
	};                                                                                       \
	const struct sy_source sy_source_##name_ = {                                             \
		.name = #name_,                                                                  \
		.kind = SY_SOURCE_##ID,                                                          \
		.start = sy_follow_source_start,                                                 \
		.configured = sy_follow_source_configured,                                       \
		.stop = sy_follow_source_stop,                                                   \
		.describe = sy_follow_source_describe,                                           \
		.state = &name_##_state,                                                         \
	};
SY_REGISTRY_KINDS(FOLLOW_SOURCE, ~, ~)
#undef FOLLOW_SOURCE
