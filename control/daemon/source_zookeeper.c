/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The ZooKeeper source: backends are ephemeral znodes
 *
 *   <prefix>/<service>/<address>:<port>     ([address]:port for IPv6)
 *
 * holding JSON {"weight":1,"zone":"a","metadata":{...}} (every field
 * optional; an empty value means weight 1). Agents (`syctl register
 * --registry zk://...`) create them; ZooKeeper deletes them when the agent's
 * session ends (a clean stop deletes at once).
 *
 * Reading ZooKeeper (the session, watches, listings, retries, renewals) is
 * the registry client's follower (control/registry/zk_follow.c, shared with
 * the resolver): it follows the services with `source: zookeeper` and hands
 * each one's whole list here, on its own thread; this file makes the
 * service's backends match it under d->lock. A missing <prefix>/<service> is
 * created (persistent, open ACL); if that is refused the follower waits for
 * it. Malformed names and values are logged (level=warn) and counted, never
 * fatal.
 *
 * Session events: while disconnected or expired the source is unreachable
 * (the services keep their last known set, degraded). On every
 * (re)connection everything is listed again; when all services are listed
 * the source is reachable again. After a reconnection, removals are deferred
 * for one session timeout ("settling"): an agent whose session expired
 * during the outage re-creates its znode in that time, so a backend present
 * before and after an outage is never removed in between.
 *
 * Locks: d->lock before zk.mu, never the other way.
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

#define ZK_RETRY_MS 500      /* a failed listing or session start, at first */
#define ZK_RETRY_MAX_MS 1000 /* and at most */

static const struct sy_follow_ops *const ops = &sy_zk_follow_ops;

static struct zk {
	pthread_mutex_t mu;
	struct sy_daemon *d;
	struct sy_follower *f;   /* NULL until started (and enabled) */
	bool started;
	/* followed service names (d->lock: configured, start, stop) */
	char (*names)[SY_NAME_MAX];
	size_t n_names;
	/* under mu */
	bool reachable;          /* as told to the daemon */
	bool ever_synced;        /* every service was listed once in this process */
	bool lost;               /* the registry was lost since (outage, expiry) */
	uint64_t settle_until;   /* removals deferred until then (0 = none) */
	uint32_t timeout_ms;     /* the session timeout configured */
	uint64_t malformed, down_since_ms;
} zk = { .mu = PTHREAD_MUTEX_INITIALIZER };

static void conf_of(const struct sy_config_zookeeper *c, struct sy_follow_conf *fc)
{
	*fc = (struct sy_follow_conf){
		.servers = c->enabled ? c->servers : NULL,
		.prefix = c->prefix,
		.session_timeout_ms = c->session_timeout_ms,
		.retry_initial_ms = ZK_RETRY_MS,
		.retry_max_ms = ZK_RETRY_MAX_MS,
		/* a reader holds no znode: a new session after one timeout */
		.renew_after_ms = c->session_timeout_ms,
		.create_missing = true,
	};
}

/* ---- talking to the daemon (the follower's thread) -------------------------------------- */

static void set_reachable(bool up)
{
	bool was;

	pthread_mutex_lock(&zk.mu);
	was = zk.reachable;
	pthread_mutex_unlock(&zk.mu);
	if (was == up)
		return;
	pthread_mutex_lock(&zk.d->lock);
	sy_source_set_reachable(zk.d, SY_SOURCE_ZOOKEEPER, up);
	pthread_mutex_lock(&zk.mu);
	zk.reachable = up;
	if (!up)
		zk.down_since_ms = sy_now_ms();
	pthread_mutex_unlock(&zk.mu);
	pthread_mutex_unlock(&zk.d->lock);
}

static int id_cmp(const void *a, const void *b)
{
	return sy_backend_id_cmp(a, b);
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

/* Make the service's zookeeper backends match the listing (d->lock held). */
static void reconcile(struct sy_daemon *d, struct sy_service_state *s,
		      const struct sy_follow_list *l, bool removals)
{
	size_t n_ids = 0;
	struct sy_backend_id *ids = removals ? listed_ids(l, &n_ids) : NULL;
	char a[80];

	if (removals && !ids) {
		sy_logf("error", "\"zookeeper: out of memory; removals wait for the next listing\" service=%s",
			s->name);
		removals = false;
	}
	/* removals first: at a capped service, the room they make goes to
	 * children ignored before (each listing offers them all again) */
	for (uint32_t i = s->b.n; removals && i-- > 0;) {
		struct sy_backend_id id = s->b.be[i].id;

		if (s->b.be[i].source != SY_SRC_ZOOKEEPER ||
		    (n_ids && bsearch(&id, ids, n_ids, sizeof(*ids), id_cmp)))
			continue;
		if (sy_source_remove(d, s, &id, SY_LEAVE_LOST)) {
			sy_format_endpoint(&id, a, sizeof(a));
			sy_logf("info", "\"backend deregistered\" service=%s backend=%s source=zookeeper",
				s->name, a);
		}
	}
	free(ids);
	for (size_t i = 0; i < l->n; i++) {
		const struct sy_etcd_entry *e = &l->e[i];
		struct sy_be *b = sy_svcb_find(&s->b, &e->id);
		bool was = b && b->present && b->source == SY_SRC_ZOOKEEPER;
		uint32_t old_w = b ? b->weight : 0;
		char why[256];

		if (!b && !sy_source_admit(d, s, &e->id, SY_SRC_ZOOKEEPER, why, sizeof(why)))
			continue; /* at its cap: ignored, counted */
		b = sy_source_upsert(d, s, &e->id, e->weight, SY_SRC_ZOOKEEPER, 0);
		if (!b)
			continue;
		snprintf(b->zone, sizeof(b->zone), "%s", e->zone);
		snprintf(b->metadata, sizeof(b->metadata), "%s", e->metadata);
		/* an ID another backend has: published without it (publish.c) */
		sy_source_set_server_id(d, s, b, e->server_id);
		if (!was || old_w != e->weight) {
			sy_format_endpoint(&e->id, a, sizeof(a));
			sy_logf("info", "\"backend registered\" service=%s backend=%s weight=%u source=zookeeper",
				s->name, a, e->weight);
		}
	}
}

/* ---- the follower's sink ---------------------------------------------------------------- */

static void on_listed(void *ctx, const char *service, void *svc, const struct sy_follow_list *l)
{
	struct sy_daemon *d = ctx;
	struct sy_service_state *s;
	bool removals;

	(void)svc;
	pthread_mutex_lock(&d->lock);
	pthread_mutex_lock(&zk.mu);
	removals = !zk.settle_until;
	pthread_mutex_unlock(&zk.mu);
	s = sy_daemon_service(d, service);
	if (s && d->cfg->services[s->cfg_index].source == SY_SOURCE_ZOOKEEPER)
		reconcile(d, s, l, removals);
	pthread_mutex_unlock(&d->lock);
}

static void on_connected(void *ctx, const char *where)
{
	uint32_t deferred = 0;

	(void)ctx;
	pthread_mutex_lock(&zk.mu);
	if (zk.ever_synced && zk.lost) {
		/* agents whose sessions expired in the outage re-create their
		 * znodes within about one session timeout */
		zk.settle_until = sy_now_ms() + zk.timeout_ms;
		deferred = zk.timeout_ms;
	}
	zk.lost = false;
	pthread_mutex_unlock(&zk.mu);
	sy_logf("info", "\"zookeeper connected\" %s removals_deferred_ms=%u", where, deferred);
}

static void on_lost(void *ctx, const char *service, void *svc, const char *why)
{
	(void)ctx, (void)svc, (void)why;
	if (service) /* one listing failed: the follower logged it and retries */
		return;
	pthread_mutex_lock(&zk.mu);
	zk.lost = true;
	pthread_mutex_unlock(&zk.mu);
	set_reachable(false);
}

static void on_malformed(void *ctx, const char *service, void *svc, const char *entry,
			 const char *why)
{
	struct sy_daemon *d = ctx;

	(void)svc;
	pthread_mutex_lock(&d->lock);
	pthread_mutex_lock(&zk.mu);
	d->registry_invalid[SY_SOURCE_ZOOKEEPER] = ++zk.malformed; /* status, /metrics */
	pthread_mutex_unlock(&zk.mu);
	pthread_mutex_unlock(&d->lock);
	sy_logf("warn", "\"malformed znode ignored\" service=%s znode=\"%s\" error=\"%s\"", service,
		entry, why);
}

static void on_log(void *ctx, const char *level, const char *msg)
{
	(void)ctx;
	sy_logf(level, "%s", msg);
}

static uint32_t on_tick(void *ctx, bool all_listed)
{
	uint64_t now = sy_now_ms(), until;
	bool settled = false;

	(void)ctx;
	pthread_mutex_lock(&zk.mu);
	until = zk.settle_until;
	if (until && now >= until && all_listed) {
		zk.settle_until = until = 0;
		settled = true;
	}
	if (all_listed)
		zk.ever_synced = true;
	pthread_mutex_unlock(&zk.mu);
	if (settled) { /* every list once more, now with removals */
		ops->refresh(zk.f);
		sy_logf("info", "\"zookeeper: settled after reconnecting; removals applied\"");
	}
	if (all_listed)
		set_reachable(true);
	return until > now && until - now < 1000 ? (uint32_t)(until - now) : 0;
}

/* ---- the source interface ----------------------------------------------------- */

/* Follow exactly the daemon's zookeeper services (d->lock held, or start-up). */
static void follow_services(char (*names)[SY_NAME_MAX], size_t n)
{
	for (size_t i = 0; zk.f && i < zk.n_names; i++) {
		bool kept = false;

		for (size_t j = 0; j < n && !kept; j++)
			kept = !strcmp(zk.names[i], names[j]);
		if (!kept)
			ops->unfollow(zk.f, zk.names[i]);
	}
	for (size_t i = 0; zk.f && i < n; i++) /* again: cheap, and the set may have changed */
		if (ops->follow(zk.f, names[i], NULL))
			sy_logf("error", "\"zookeeper: out of memory following a service\" service=%s",
				names[i]);
	free(zk.names);
	zk.names = names;
	zk.n_names = n;
}

static int launch(struct sy_daemon *d, char *err, size_t errlen)
{
	const struct sy_follow_sink sink = {
		.ctx = d, .listed = on_listed, .connected = on_connected, .lost = on_lost,
		.malformed = on_malformed, .log = on_log, .tick = on_tick,
	};
	struct sy_follow_conf fc;
	char (*names)[SY_NAME_MAX] = zk.names;
	size_t n = zk.n_names;

	conf_of(&d->cfg->registry.zookeeper, &fc);
	if (ops->open(&fc, &sink, &zk.f, err, errlen))
		return -1;
	zk.names = NULL; /* followed from now on */
	zk.n_names = 0;
	follow_services(names, n);
	return 0;
}

/* d->lock held (or start-up, single-threaded). */
static void configured(struct sy_daemon *d)
{
	const struct sy_config_zookeeper *c = &d->cfg->registry.zookeeper;
	char (*names)[SY_NAME_MAX] = NULL;
	struct sy_follow_conf fc;
	size_t n = 0;
	char err[128];
	bool up;

	zk.d = d;
	for (size_t i = 0; i < d->n_svc; i++) {
		struct sy_service_state *s = &d->svc[i];

		if (d->cfg->services[s->cfg_index].source == SY_SOURCE_ZOOKEEPER) {
			n++;
			continue;
		}
		for (uint32_t j = s->b.n; j-- > 0;) { /* no longer fed by zookeeper */
			struct sy_backend_id id = s->b.be[j].id;

			if (s->b.be[j].source == SY_SRC_ZOOKEEPER)
				sy_source_remove(d, s, &id, SY_LEAVE_EXPLICIT);
		}
	}
	names = calloc(n ? n : 1, sizeof(*names));
	n = 0;
	for (size_t i = 0; names && i < d->n_svc; i++)
		if (d->cfg->services[d->svc[i].cfg_index].source == SY_SOURCE_ZOOKEEPER)
			snprintf(names[n++], SY_NAME_MAX, "%s", d->svc[i].name);
	if (!names) {
		sy_logf("error", "\"zookeeper: out of memory for the service list\"");
		return; /* the next reload tries again */
	}

	pthread_mutex_lock(&zk.mu);
	if (!zk.started && !zk.down_since_ms)
		zk.down_since_ms = sy_now_ms();
	zk.timeout_ms = c->session_timeout_ms;
	/* services new to this configuration start in the source's state */
	up = zk.reachable || !c->enabled;
	pthread_mutex_unlock(&zk.mu);
	sy_source_set_reachable(d, SY_SOURCE_ZOOKEEPER, up);

	if (zk.f) {
		conf_of(c, &fc);
		if (ops->configure(zk.f, &fc))
			sy_logf("error", "\"zookeeper: out of memory taking the configuration\"");
		follow_services(names, c->enabled ? n : 0);
	} else {
		free(zk.names);
		zk.names = names;
		zk.n_names = n;
		if (zk.started && c->enabled && launch(d, err, sizeof(err)))
			sy_logf("error", "\"%s\"", err);
	}
}

static int start(struct sy_daemon *d, char *err, size_t errlen)
{
	zk.d = d;
	zk.started = true;
	if (!d->cfg->registry.zookeeper.enabled)
		return 0;
	return launch(d, err, errlen);
}

static void stop(struct sy_daemon *d)
{
	(void)d;
	ops->close(zk.f); /* joins its thread: d->lock is not held here */
	zk.f = NULL;
	free(zk.names);
	zk.names = NULL;
	zk.n_names = 0;
}

static void describe(struct sy_daemon *d, char *buf, size_t len, bool *up)
{
	struct sy_follow_status st = { 0 };
	size_t nsvc = 0;

	for (size_t i = 0; i < d->n_svc; i++)
		nsvc += d->cfg->services[d->svc[i].cfg_index].source == SY_SOURCE_ZOOKEEPER;
	if (!d->cfg->registry.zookeeper.enabled) {
		*up = true;
		snprintf(buf, len, "not configured");
		return;
	}
	if (zk.f)
		ops->status(zk.f, &st);
	pthread_mutex_lock(&zk.mu);
	*up = zk.reachable;
	if (zk.reachable)
		snprintf(buf, len, "up: %s, %zu services, %" PRIu64 " backends, %" PRIu64
			 " malformed znodes ignored, %" PRIu64 " over capacity%s",
			 st.where, nsvc, st.backends, zk.malformed, d->over_capacity[SY_SRC_ZOOKEEPER],
			 zk.settle_until ? ", settling (removals deferred)" : "");
	else
		snprintf(buf, len, "down: %s unreachable for %" PRIu64 " s, last known backends kept, %zu services, %" PRIu64
			 " malformed znodes ignored, %" PRIu64 " over capacity",
			 d->cfg->registry.zookeeper.servers, (sy_now_ms() - zk.down_since_ms) / 1000, nsvc,
			 zk.malformed, d->over_capacity[SY_SRC_ZOOKEEPER]);
	pthread_mutex_unlock(&zk.mu);
}

const struct sy_source sy_source_zookeeper = {
	.name = "zookeeper",
	.kind = SY_SOURCE_ZOOKEEPER,
	.start = start,
	.configured = configured,
	.stop = stop,
	.describe = describe,
};
