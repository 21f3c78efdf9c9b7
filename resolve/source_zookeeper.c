/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The ZooKeeper source: the znodes sy-control's ZooKeeper source reads,
 *
 *   <prefix>/<service>/<address>:<port>  (ephemeral)  {"weight":1,"zone":"a",...}
 *
 * kept by `syctl register --registry zk://...` agents (ZooKeeper deletes a
 * znode when its agent's session ends). The protocol pieces (the session,
 * paths, listing with watches, reading and parsing values) are
 * control/registry/zk_client.c's, shared with sy-control and syctl.
 *
 * One session and one thread per resolver (libzookeeper_mt, synchronous
 * calls). The library's watcher callback runs on the library's own thread:
 * it only records what happened (a (re)connection, an expiry, the path of a
 * fired watch) under src->mu and wakes the thread, which makes every zoo_*
 * call but the first open's read (below). Per opened service the thread
 * lists the children with a child watch and reads new and changed values
 * with data watches (watches fire once; the next read re-arms them), then
 * publishes the whole list (sy_service_update) with ZooKeeper's zxid of
 * the latest change as the revision.
 *
 * Session events: while the session is disconnected or expired every
 * service is unreachable (STALE: the last list keeps serving, the reason in
 * sy_resolve_source_error). On every (re)connection everything is listed
 * again and published (FRESH); an expired session is replaced at once, a
 * session that cannot be started is retried after the back-off.
 *
 * The first open of a service reads it once in the caller's thread, with
 * the thread's session (waiting for it to connect, within
 * fetch_timeout_ms) and no watches: src->zh_users keeps the session open
 * while a caller uses it.
 *
 * Locks: src->mu is never held during a zoo_* call (zoo_state aside);
 * a service's lock (sy_service_update) is taken without src->mu.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "parse_etcd.h" /* sy_etcd_entry_to_inst */
#include "resolve_internal.h"
#include "zk_client.h"

#define TICK_MS 1000 /* sy_resolve_tick, and the longest sleep */

/* One opened service, as the thread keeps it. */
struct zk_svc {
	struct zk_svc *next;
	sy_resolve_service *s;
	char path[SY_ZK_PATH_MAX];
	bool dirty;               /* list again */
	bool published;           /* listed and published since the last (re)connection */
	bool reachable;           /* as last told to the service */
	struct sy_zk_children cc; /* the children, with their values */
	char malformed[160];      /* the last child skipped, and why */
};

struct zk_source {
	char *servers, *prefix;
	int timeout_ms;
	sy_resolver *r;
	pthread_mutex_t mu;
	pthread_cond_t cv;        /* the thread's wake-up; fetches wait for a session */
	/* under mu: */
	zhandle_t *zh;            /* the session (NULL: none); borrowed by fetches */
	unsigned zh_users;        /* fetches using zh */
	uint64_t connects;        /* ZOO_CONNECTED_STATE events */
	bool expired, overflow;   /* overflow: a fired watch's path was lost */
	char **paths;             /* paths of fired watches */
	size_t n_paths, cap_paths;
	struct zk_svc *pending;   /* opened, not yet taken by the thread */
	bool quit, started;
	pthread_t thread;
	/* the thread's own: */
	struct zk_svc *svcs;
};

static void free_paths(char **paths, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
}

/* ---- configuration --------------------------------------------------------------------- */

static int zk_create(sy_resolver *r)
{
	const struct sy_resolve_config *c = &r->cfg;
	const char *prefix = c->zk_prefix && *c->zk_prefix ? c->zk_prefix : SY_ZK_DEFAULT_PREFIX;
	struct zk_source *src;
	pthread_condattr_t a;

	/* a prefix sy-control would refuse (registry.zookeeper.prefix) */
	if (prefix[0] != '/' || (strlen(prefix) > 1 && prefix[strlen(prefix) - 1] == '/') ||
	    strlen(prefix) > SY_ZK_PATH_MAX / 2 || c->zk_session_timeout_ms < 1000 ||
	    c->zk_session_timeout_ms > 600000)
		return SY_RESOLVE_EINVAL;
	src = calloc(1, sizeof(*src));
	if (!src)
		return SY_RESOLVE_ENOMEM;
	src->servers = strdup(c->zk_servers);
	src->prefix = strdup(prefix);
	if (!src->servers || !src->prefix) {
		free(src->servers);
		free(src->prefix);
		free(src);
		return SY_RESOLVE_ENOMEM;
	}
	src->timeout_ms = (int)c->zk_session_timeout_ms;
	src->r = r;
	pthread_mutex_init(&src->mu, NULL);
	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&src->cv, &a);
	pthread_condattr_destroy(&a);
	r->source = src;
	return SY_RESOLVE_OK;
}

/* ---- the session ----------------------------------------------------------------------- */

/* The library's thread: record, wake, never call zoo_*. */
static void watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
	struct zk_source *src = ctx;
	enum sy_zk_event ev = sy_zk_event(type, state, path);

	(void)zh;
	pthread_mutex_lock(&src->mu);
	if (ev == SY_ZK_EV_CONNECTED) {
		src->connects++;
	} else if (ev == SY_ZK_EV_EXPIRED) {
		src->expired = true;
	} else if (ev == SY_ZK_EV_NODE) {
		char *p = NULL;

		if (src->n_paths == src->cap_paths) {
			size_t cap = src->cap_paths ? 2 * src->cap_paths : 16;
			char **np = realloc(src->paths, cap * sizeof(*np));

			if (np) {
				src->paths = np;
				src->cap_paths = cap;
			}
		}
		if (src->n_paths < src->cap_paths && (p = strdup(path)))
			src->paths[src->n_paths++] = p;
		else
			src->overflow = true; /* out of memory: list everything again */
	}
	pthread_cond_broadcast(&src->cv);
	pthread_mutex_unlock(&src->mu);
}

static bool open_session(struct zk_source *src)
{
	zhandle_t *zh = sy_zk_open(src->servers, src->timeout_ms, watcher, src);

	if (!zh)
		return false;
	pthread_mutex_lock(&src->mu);
	src->zh = zh;
	pthread_mutex_unlock(&src->mu);
	return true;
}

/* Waits for the fetches using the session, then closes it. */
static void close_session(struct zk_source *src)
{
	zhandle_t *zh;

	pthread_mutex_lock(&src->mu);
	zh = src->zh;
	src->zh = NULL; /* no new borrower */
	while (src->zh_users)
		pthread_cond_wait(&src->cv, &src->mu);
	pthread_mutex_unlock(&src->mu);
	if (zh)
		zookeeper_close(zh); /* joins the library's threads: no event after */
	pthread_mutex_lock(&src->mu);
	src->connects = 0;
	src->expired = src->overflow = false;
	free_paths(src->paths, src->n_paths);
	src->paths = NULL;
	src->n_paths = src->cap_paths = 0;
	pthread_mutex_unlock(&src->mu);
}

/* ---- a service's list ------------------------------------------------------------------ */

static void on_malformed(void *ctx, const char *child, const char *why)
{
	struct zk_svc *v = ctx;

	snprintf(v->malformed, sizeof(v->malformed), "%.60s: %s", child, why);
}

/* The valid children as a list at the latest zxid seen: 0 and *l, or -1
 * (out of memory). */
static int to_list(const struct sy_zk_children *cc, int64_t pzxid, struct sy_source_list *l,
		   unsigned *skipped)
{
	size_t n = 0;

	memset(l, 0, sizeof(*l));
	*skipped = 0;
	l->revision = pzxid > 0 ? (uint64_t)pzxid : 0;
	l->table_size = SY_MAGLEV_DEFAULT_M;
	l->inst = calloc(cc->n ? cc->n : 1, sizeof(*l->inst));
	if (!l->inst)
		return -1;
	for (size_t i = 0; i < cc->n; i++) {
		const struct sy_zk_child *c = &cc->c[i];
		struct sy_etcd_entry e;

		if (c->v.mzxid > 0 && (uint64_t)c->v.mzxid > l->revision)
			l->revision = (uint64_t)c->v.mzxid;
		if (!c->v.valid) {
			*skipped += 1;
			continue;
		}
		e = c->v.e; /* its weight and zone; the backend from the name */
		e.id = c->id;
		sy_etcd_entry_to_inst(&e, &l->inst[n++]);
	}
	l->n = n;
	return 0;
}

/* The service's list into the cache, and the source's note ("" or what was
 * skipped). */
static void publish(struct zk_svc *v, int64_t pzxid)
{
	struct sy_source_list l;
	char note[SY_RESOLVE_ERRLEN] = "";
	unsigned skipped;

	if (to_list(&v->cc, pzxid, &l, &skipped)) {
		sy_source_set_error(v->s, "out of memory reading the list");
		return;
	}
	if (sy_service_update(v->s, l.revision, l.inst, l.n, true)) {
		snprintf(note, sizeof(note), "%s", sy_resolve_errmsg(v->s->r));
	} else {
		v->published = v->reachable = true;
		if (skipped)
			snprintf(note, sizeof(note), "%u znodes skipped (not a backend), the last: %s",
				 skipped, v->malformed);
	}
	sy_source_set_error(v->s, note);
	sy_source_list_free(&l);
}

/* The registry is lost for v: STALE with why. */
static void lost(struct zk_svc *v, const char *why)
{
	sy_source_set_error(v->s, why);
	v->published = false;
	if (v->reachable) {
		v->reachable = false;
		sy_resolve_set_reachable(v->s, 0);
	}
}

static void lost_all(struct zk_source *src, const char *why)
{
	for (struct zk_svc *v = src->svcs; v; v = v->next)
		lost(v, why);
}

/* A fired watch: the service it names (its znode, or a child's) lists again. */
static void on_path(struct zk_source *src, const char *p)
{
	for (struct zk_svc *v = src->svcs; v; v = v->next) {
		size_t len = strlen(v->path);
		struct sy_zk_child *c;

		if (strncmp(p, v->path, len) || (p[len] && p[len] != '/'))
			continue;
		v->dirty = true;
		if (p[len] && (c = sy_zk_children_find(&v->cc, p + len + 1)))
			c->stale = !c->bad_name;
	}
}

/* List v with watches and publish it. ZOK, or ZooKeeper's error. */
static int list_and_publish(struct zk_source *src, zhandle_t *zh, struct zk_svc *v)
{
	enum sy_zk_listed how;
	int64_t pzxid = 0;
	bool changed = false;
	int rc, create_rc;

	(void)src;
	rc = sy_zk_children_sync(zh, v->path, true, SY_ZK_MISSING_WAIT, &v->cc, &changed, &pzxid,
				 &how, &create_rc, on_malformed, v);
	if (rc == ZNONODE) { /* a child vanished before its read: at once again */
		v->dirty = true;
		return ZOK;
	}
	if (rc != ZOK)
		return rc;
	v->dirty = false;
	if (changed || !v->published)
		publish(v, pzxid);
	return ZOK;
}

/* ---- the thread ------------------------------------------------------------------------ */

static void *zk_thread(void *arg)
{
	struct zk_source *src = arg;
	sy_resolver *r = src->r;
	uint64_t retry_at = 0, next_tick = 0, connects_seen = 0, down_since = 0;
	uint32_t backoff = r->cfg.retry_initial_ms;
	bool connected = false;
	char why[SY_RESOLVE_ERRLEN];

	for (;;) {
		uint64_t now = sy_source_mono_ms(), wait = next_tick > now ? next_tick - now : 0,
			 connects;
		bool expired, overflow, again = false;
		char **paths;
		size_t n_paths;
		zhandle_t *zh;
		struct timespec ts;

		if (retry_at > now && retry_at - now < wait)
			wait = retry_at - now;
		if (down_since && down_since + r->cfg.retry_max_ms > now &&
		    down_since + r->cfg.retry_max_ms - now < wait)
			wait = down_since + r->cfg.retry_max_ms - now;
		for (struct zk_svc *v = src->svcs; v; v = v->next)
			again |= v->dirty && connected && retry_at <= now;
		pthread_mutex_lock(&src->mu);
		if (wait && !again && !src->quit && !src->pending && !src->n_paths && !src->expired &&
		    !src->overflow && src->connects == connects_seen && (src->zh || retry_at > now) &&
		    !(src->zh && !connected && zoo_state(src->zh) == ZOO_CONNECTED_STATE)) {
			sy_zk_deadline(&ts, wait);
			pthread_cond_timedwait(&src->cv, &src->mu, &ts);
		}
		if (src->quit) {
			pthread_mutex_unlock(&src->mu);
			break;
		}
		while (src->pending) { /* newly opened services: list them */
			struct zk_svc *v = src->pending;

			src->pending = v->next;
			v->next = src->svcs;
			src->svcs = v;
		}
		connects = src->connects;
		expired = src->expired;
		src->expired = false;
		overflow = src->overflow;
		src->overflow = false;
		paths = src->paths;
		n_paths = src->n_paths;
		src->paths = NULL;
		src->n_paths = src->cap_paths = 0;
		zh = src->zh;
		pthread_mutex_unlock(&src->mu);
		now = sy_source_mono_ms();

		if (zh && (expired || zoo_state(zh) == ZOO_EXPIRED_SESSION_STATE ||
			   zoo_state(zh) == ZOO_AUTH_FAILED_STATE)) {
			snprintf(why, sizeof(why), "ZooKeeper %.120s: session expired (a new one is started)",
				 src->servers);
			lost_all(src, why);
			close_session(src);
			zh = NULL;
			connected = false;
			connects_seen = 0;
			down_since = 0;
			retry_at = 0; /* at once */
		}
		if (!zh && now >= retry_at) {
			if (open_session(src)) {
				pthread_mutex_lock(&src->mu);
				zh = src->zh;
				pthread_mutex_unlock(&src->mu);
				connects_seen = 0; /* a new session counts from 0 */
			} else {
				snprintf(why, sizeof(why), "ZooKeeper %.120s: cannot start a session: %s",
					 src->servers, strerror(errno));
				lost_all(src, why);
				retry_at = now + backoff;
				backoff = backoff * 2 > r->cfg.retry_max_ms ? r->cfg.retry_max_ms : backoff * 2;
			}
		}
		if (zh && zoo_state(zh) != ZOO_CONNECTED_STATE) {
			snprintf(why, sizeof(why), "ZooKeeper %.120s: %s", src->servers,
				 connected ? "connection lost (reconnecting)" : "not connected");
			for (struct zk_svc *v = src->svcs; v; v = v->next)
				if (v->reachable)
					lost(v, why);
			connected = false;
			if (!down_since)
				down_since = now;
			/* The 3.8 C client, once it lost its server, may retry a
			 * refused one of the list for ever ("Delaying connection
			 * after exhaustively trying all servers", never the live
			 * one): after retry_max_ms a new session (a reader holds
			 * no ephemeral znode; everything is listed again). */
			if (now - down_since >= r->cfg.retry_max_ms) {
				close_session(src);
				down_since = 0;
				retry_at = 0;
			}
		} else if (zh) {
			down_since = 0;
			if (!connected || connects != connects_seen) {
				/* watches may have been lost: look at everything again */
				connected = true;
				connects_seen = connects;
				overflow = true;
			}
			for (struct zk_svc *v = src->svcs; v; v = v->next) {
				if (overflow) {
					v->dirty = true;
					v->published = false;
					sy_zk_children_mark_stale(&v->cc);
				}
			}
			for (size_t i = 0; i < n_paths; i++)
				on_path(src, paths[i]);
			for (struct zk_svc *v = src->svcs; v && now >= retry_at; v = v->next) {
				int rc;

				if (!v->dirty)
					continue;
				rc = list_and_publish(src, zh, v);
				if (rc == ZOK) {
					backoff = r->cfg.retry_initial_ms;
					continue;
				}
				snprintf(why, sizeof(why), "ZooKeeper %.80s: listing %.100s: %s", src->servers,
					 v->path, zerror(rc));
				lost(v, why);
				retry_at = now + backoff;
				backoff = backoff * 2 > r->cfg.retry_max_ms ? r->cfg.retry_max_ms
									    : backoff * 2;
			}
		}
		free_paths(paths, n_paths);
		if (now >= next_tick) {
			sy_resolve_tick(r);
			next_tick = now + TICK_MS;
		}
	}
	close_session(src);
	return NULL;
}

static int zk_prepare(sy_resolver *r)
{
	struct zk_source *src = r->source;
	int rc = 0;

	pthread_mutex_lock(&src->mu);
	if (!src->started) {
		rc = pthread_create(&src->thread, NULL, zk_thread, src);
		src->started = rc == 0;
	}
	pthread_mutex_unlock(&src->mu);
	if (rc)
		return sy_resolve_fail(r, SY_RESOLVE_ENOMEM, "cannot start the ZooKeeper thread: %s",
				       strerror(rc));
	return SY_RESOLVE_OK;
}

/* The first open's read, in the caller's thread, on the thread's session. */
static int zk_fetch(sy_resolver *r, const char *name, struct sy_source_list *a, char *err,
		    size_t errlen)
{
	struct zk_source *src = r->source;
	struct zk_svc tmp = { 0 };
	struct timespec ts;
	enum sy_zk_listed how;
	int64_t pzxid = 0;
	bool changed = false;
	unsigned skipped;
	zhandle_t *zh = NULL;
	int rc, create_rc, wait_rc = 0;

	if (sy_zk_service_path(src->prefix, name, tmp.path, sizeof(tmp.path)))
		return snprintf(err, errlen, "service name too long for a path"), -1;
	sy_zk_deadline(&ts, r->cfg.fetch_timeout_ms);
	pthread_mutex_lock(&src->mu);
	while (!src->quit && wait_rc != ETIMEDOUT &&
	       !(src->zh && zoo_state(src->zh) == ZOO_CONNECTED_STATE))
		wait_rc = pthread_cond_timedwait(&src->cv, &src->mu, &ts);
	if (src->zh && zoo_state(src->zh) == ZOO_CONNECTED_STATE) {
		zh = src->zh;
		src->zh_users++;
	}
	pthread_mutex_unlock(&src->mu);
	if (!zh)
		return snprintf(err, errlen, "ZooKeeper %s: no session within fetch_timeout_ms (%u ms)",
				src->servers, r->cfg.fetch_timeout_ms), -1;
	rc = sy_zk_children_sync(zh, tmp.path, false, SY_ZK_MISSING_WAIT, &tmp.cc, &changed, &pzxid,
				 &how, &create_rc, on_malformed, &tmp);
	pthread_mutex_lock(&src->mu);
	src->zh_users--;
	pthread_cond_broadcast(&src->cv);
	pthread_mutex_unlock(&src->mu);
	if (rc == ZOK && to_list(&tmp.cc, pzxid, a, &skipped))
		rc = ZSYSTEMERROR;
	sy_zk_children_free(&tmp.cc);
	if (rc != ZOK)
		return snprintf(err, errlen, "ZooKeeper %.80s: listing %.100s: %s", src->servers, tmp.path,
				rc == ZNONODE ? "a child vanished while read" : zerror(rc)), -1;
	return 0;
}

static int zk_watch(sy_resolve_service *s, bool have_rev, uint64_t rev)
{
	struct zk_source *src = s->r->source;
	struct zk_svc *v = calloc(1, sizeof(*v));

	(void)rev; /* the thread lists with watches and publishes its own */
	if (!v)
		return sy_resolve_fail(s->r, SY_RESOLVE_ENOMEM, "out of memory watching %s", s->name);
	v->s = s;
	v->dirty = true;
	v->reachable = have_rev;
	sy_zk_service_path(src->prefix, s->name, v->path, sizeof(v->path)); /* fetch checked it */
	pthread_mutex_lock(&src->mu);
	v->next = src->pending;
	src->pending = v;
	pthread_cond_broadcast(&src->cv);
	pthread_mutex_unlock(&src->mu);
	return SY_RESOLVE_OK;
}

static void free_svcs(struct zk_svc *v)
{
	while (v) {
		struct zk_svc *next = v->next;

		sy_zk_children_free(&v->cc);
		free(v);
		v = next;
	}
}

static void zk_destroy(sy_resolver *r)
{
	struct zk_source *src = r->source;

	if (!src)
		return;
	pthread_mutex_lock(&src->mu);
	src->quit = true;
	pthread_cond_broadcast(&src->cv);
	pthread_mutex_unlock(&src->mu);
	if (src->started)
		pthread_join(src->thread, NULL); /* it closes the session */
	free_svcs(src->svcs);
	free_svcs(src->pending);
	free_paths(src->paths, src->n_paths);
	pthread_cond_destroy(&src->cv);
	pthread_mutex_destroy(&src->mu);
	free(src->servers);
	free(src->prefix);
	free(src);
	r->source = NULL;
}

const struct sy_source_ops sy_source_zookeeper_ops = {
	.name = "zookeeper",
	.lists_opts = false, /* table size and seed are not in ZooKeeper */
	.create = zk_create,
	.prepare = zk_prepare,
	.fetch = zk_fetch,
	.watch = zk_watch,
	.destroy = zk_destroy,
};
