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
 * One thread owns the session (libzookeeper_mt, synchronous calls). The
 * library's watcher callback runs on the library's own thread: it only
 * records what happened (session state, the path of a fired watch) under
 * zk.mu and wakes the thread, which does every zoo_* call. Per service the
 * thread lists the children with a child watch and reads each new or changed
 * child with a data watch (watches fire once and are re-armed by the next
 * read), then reconciles the service's backends under d->lock.
 *
 * Session events: while disconnected or expired the source is unreachable
 * (the services keep their last known set, degraded). On every (re)connection
 * everything is listed again; when all services are listed the source is
 * reachable again. After a reconnection, removals are deferred for one
 * session timeout ("settling"): an agent whose session expired during the
 * outage re-creates its znode in that time, so a backend present before and
 * after an outage is never removed in between.
 *
 * A missing <prefix>/<service> is created (persistent, open ACL); if that is
 * refused the thread waits for it with an exists watch. Malformed names and
 * values are logged (level=warn) and counted, never fatal.
 *
 * Locks: d->lock before zk.mu, never the other way; zk.mu is never held
 * during a zoo_* call.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon.h"
#include "etcd_kv.h"
#include "netaddr.h"
#include "source.h"
#include "zk_client.h" /* sessions, listings, values: shared with syctl and the resolver */

#define ZK_PATH_MAX SY_ZK_PATH_MAX
#define ZK_RETRY_MS 500
#define ZK_IDLE_MS 1000

struct zk_svc {
	char name[SY_NAME_MAX];
	bool dirty;              /* list the children again */
	bool listed;             /* listed since the last (re)connection */
	bool changed;            /* reconcile with the daemon */
	int last_rc;             /* of the last failed listing (logged once) */
	struct sy_zk_children cc; /* the children listed, with their values */
};

/* Shared between the daemon (configured, describe, stop), the library's
 * watcher thread and the source's thread; guarded by mu. */
static struct zk {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool cv_ready;
	pthread_t thread;
	bool started, running, quit;
	/* configuration wanted (configured() -> thread) */
	bool cfg_new, enabled;
	char *servers, *prefix;
	uint32_t timeout_ms;
	char (*names)[SY_NAME_MAX];
	size_t n_names;
	/* from the watcher, for the current session only */
	uintptr_t gen;           /* the session's watcher context */
	uint64_t connects;       /* ZOO_CONNECTED_STATE events */
	bool expired;
	bool overflow;           /* a watch event was lost: re-list everything */
	char **paths;            /* paths of fired watches */
	size_t n_paths, cap_paths;
	/* what describe() shows */
	bool reachable, settling;
	int64_t session;
	int negotiated_ms;
	uint64_t malformed, backends, down_since_ms;
	char shown_servers[256];
} zk = { .mu = PTHREAD_MUTEX_INITIALIZER };

/* The thread's own state. */
struct zk_worker {
	struct sy_daemon *d;
	zhandle_t *zh;
	bool enabled;
	char *servers, *prefix;
	uint32_t timeout_ms;
	struct zk_svc *svc;
	size_t n_svc;
	uint64_t connects_seen;
	bool connected;          /* CONNECTED at the last look */
	bool ever_synced;        /* a full listing succeeded in this process */
	bool lost;               /* the registry was lost since (outage, expiry) */
	bool reachable;          /* as told to the daemon */
	uint64_t settle_until;   /* removals deferred until then (0 = none) */
	uint64_t retry_at;       /* next session attempt / failed listing retry */
	uint64_t down_since;     /* not connected since (0: connected) */
	int64_t last_session;
};

/* ---- small helpers ------------------------------------------------------- */

/* Printable text of an untrusted name for a log line. */
static const char *clean(const char *s, char *buf, size_t len)
{
	size_t i = 0;

	for (; *s && i + 1 < len; s++)
		buf[i++] = (*s >= 0x20 && *s < 0x7f && *s != '"' && *s != '\\') ? *s : '?';
	buf[i] = 0;
	return buf;
}

static void service_path(const struct zk_worker *w, const char *svc, char *buf, size_t len)
{
	sy_zk_service_path(w->prefix, svc, buf, len); /* names are short: it fits */
}

static void malformed(const struct zk_svc *s, const char *child, const char *why)
{
	char n[128];

	pthread_mutex_lock(&zk.mu);
	zk.malformed++;
	pthread_mutex_unlock(&zk.mu);
	sy_logf("warn", "\"malformed znode ignored\" service=%s znode=\"%s\" error=\"%s\"", s->name,
		clean(child, n, sizeof(n)), why);
}

static struct zk_svc *find_svc(struct zk_worker *w, const char *name, size_t len)
{
	for (size_t i = 0; i < w->n_svc; i++)
		if (strlen(w->svc[i].name) == len && !memcmp(w->svc[i].name, name, len))
			return &w->svc[i];
	return NULL;
}

static void all_dirty(struct zk_worker *w)
{
	for (size_t i = 0; i < w->n_svc; i++) {
		w->svc[i].dirty = true;
		w->svc[i].listed = false;
		sy_zk_children_mark_stale(&w->svc[i].cc);
	}
}

/* ---- the watcher (the library's thread: no zoo_* calls here) ------------- */

static void watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
	enum sy_zk_event ev = sy_zk_event(type, state, path);

	(void)zh;
	pthread_mutex_lock(&zk.mu);
	if ((uintptr_t)ctx != zk.gen) { /* a closed session's late event */
		pthread_mutex_unlock(&zk.mu);
		return;
	}
	if (ev == SY_ZK_EV_CONNECTED) {
		zk.connects++;
	} else if (ev == SY_ZK_EV_EXPIRED) {
		zk.expired = true;
	} else if (ev == SY_ZK_EV_NODE) {
		char *p = NULL;

		if (zk.n_paths == zk.cap_paths) {
			size_t cap = zk.cap_paths ? 2 * zk.cap_paths : 16;
			char **np = realloc(zk.paths, cap * sizeof(*np));

			if (np) {
				zk.paths = np;
				zk.cap_paths = cap;
			}
		}
		if (zk.n_paths < zk.cap_paths)
			p = strdup(path);
		if (p)
			zk.paths[zk.n_paths++] = p;
		else
			zk.overflow = true; /* out of memory: look at everything again */
	}
	pthread_cond_signal(&zk.cv);
	pthread_mutex_unlock(&zk.mu);
}

/* ---- talking to the daemon (d->lock) -------------------------------------- */

static void set_reachable(struct zk_worker *w, bool up)
{
	if (w->reachable == up)
		return;
	w->reachable = up;
	pthread_mutex_lock(&w->d->lock);
	sy_source_set_reachable(w->d, SY_SOURCE_ZOOKEEPER, up);
	pthread_mutex_lock(&zk.mu);
	zk.reachable = up;
	if (!up)
		zk.down_since_ms = sy_now_ms();
	pthread_mutex_unlock(&zk.mu);
	pthread_mutex_unlock(&w->d->lock);
}

static bool listed_valid(const struct zk_svc *zs, const struct sy_backend_id *id)
{
	for (size_t i = 0; i < zs->cc.n; i++)
		if (zs->cc.c[i].v.valid && !memcmp(&zs->cc.c[i].id, id, sizeof(*id)))
			return true;
	return false;
}

/* Make the service's zookeeper backends match the listing (d->lock held). */
static void reconcile(struct zk_worker *w, struct zk_svc *zs, bool removals)
{
	struct sy_daemon *d = w->d;
	struct sy_service_state *s = sy_daemon_service(d, zs->name);
	char a[80];

	if (!s || d->cfg->services[s->cfg_index].source != SY_SOURCE_ZOOKEEPER)
		return;
	/* removals first: at a capped service, the room they make goes to
	 * children ignored before (each listing offers them all again) */
	for (uint32_t i = s->b.n; removals && i-- > 0;) {
		struct sy_backend_id id = s->b.be[i].id;

		if (s->b.be[i].source != SY_SRC_ZOOKEEPER || listed_valid(zs, &id))
			continue;
		if (sy_source_remove(d, s, &id, SY_LEAVE_LOST)) {
			sy_format_endpoint(&id, a, sizeof(a));
			sy_logf("info", "\"backend deregistered\" service=%s backend=%s source=zookeeper",
				s->name, a);
		}
	}
	for (size_t i = 0; i < zs->cc.n; i++) {
		const struct sy_zk_child *c = &zs->cc.c[i];
		struct sy_be *b;
		bool was;
		uint32_t old_w;
		char why[256];

		if (!c->v.valid)
			continue;
		b = sy_svcb_find(&s->b, &c->id);
		was = b && b->present && b->source == SY_SRC_ZOOKEEPER;
		old_w = b ? b->weight : 0;
		if (!b && !sy_source_admit(d, s, &c->id, SY_SRC_ZOOKEEPER, why, sizeof(why)))
			continue; /* at its cap: ignored, counted */
		b = sy_source_upsert(d, s, &c->id, c->v.e.weight, SY_SRC_ZOOKEEPER, 0);
		if (!b)
			continue;
		snprintf(b->zone, sizeof(b->zone), "%s", c->v.e.zone);
		snprintf(b->metadata, sizeof(b->metadata), "%s", c->v.e.metadata);
		/* an ID another backend has: published without it (publish.c) */
		sy_source_set_server_id(d, s, b, c->v.e.server_id);
		if (!was || old_w != c->v.e.weight) {
			sy_format_endpoint(&c->id, a, sizeof(a));
			sy_logf("info", "\"backend registered\" service=%s backend=%s weight=%u source=zookeeper",
				s->name, a, c->v.e.weight);
		}
	}
}

/* ---- talking to ZooKeeper (this thread only) ------------------------------ */

static void malformed_cb(void *ctx, const char *child, const char *why)
{
	malformed(ctx, child, why);
}

/* List a service's children (child watch), read the new and changed ones
 * (data watches). */
static int list_service(struct zk_worker *w, struct zk_svc *s)
{
	char path[ZK_PATH_MAX];
	enum sy_zk_listed how;
	int rc, create_rc;

	service_path(w, s->name, path, sizeof(path));
	rc = sy_zk_children_sync(w->zh, path, true, SY_ZK_MISSING_CREATE, &s->cc, &s->changed,
				 NULL, &how, &create_rc, malformed_cb, s);
	if (how == SY_ZK_CREATED)
		sy_logf("info", "\"zookeeper: created the service's parent znode\" service=%s znode=%s",
			s->name, path);
	else if (create_rc != ZOK && !sy_zk_transient(create_rc))
		/* not allowed to create it: waiting for it (an exists watch) */
		sy_logf("warn", "\"zookeeper: cannot create the service's znode; waiting for it\" service=%s znode=%s error=\"%s\"",
			s->name, path, zerror(create_rc));
	if (rc == ZNONODE) { /* a child vanished before its read: its child watch fires */
		s->dirty = true;
		s->listed = false;
		return ZOK;
	}
	if (rc != ZOK) {
		s->dirty = true; /* listed stays as it was */
		return rc;
	}
	s->dirty = false;
	s->listed = true;
	return ZOK;
}

/* A fired watch: which service (and child) to look at again. */
static void on_path(struct zk_worker *w, const char *p)
{
	size_t pl = strcmp(w->prefix, "/") ? strlen(w->prefix) : 0;
	const char *rest, *slash;
	struct zk_svc *s;
	struct sy_zk_child *c;
	char name[ZK_PATH_MAX];

	if (strncmp(p, w->prefix, pl) || (p[pl] && p[pl] != '/') || !p[pl] || !p[pl + 1]) {
		all_dirty(w); /* the prefix or an ancestor */
		return;
	}
	rest = p + pl + 1;
	slash = strchr(rest, '/');
	s = find_svc(w, rest, slash ? (size_t)(slash - rest) : strlen(rest));
	if (!s)
		return;
	s->dirty = true;
	if (slash) {
		snprintf(name, sizeof(name), "%s", slash + 1);
		c = sy_zk_children_find(&s->cc, name);
		if (c)
			c->stale = !c->bad_name;
	}
}

static void close_session(struct zk_worker *w)
{
	if (!w->zh)
		return;
	pthread_mutex_lock(&zk.mu);
	zk.gen++;
	zk.expired = false;
	zk.session = 0;
	pthread_mutex_unlock(&zk.mu);
	zookeeper_close(w->zh);
	w->zh = NULL;
	w->connected = false;
}

static void open_session(struct zk_worker *w)
{
	uintptr_t gen;

	pthread_mutex_lock(&zk.mu);
	gen = ++zk.gen;
	zk.connects = 0;
	zk.expired = false;
	pthread_mutex_unlock(&zk.mu);
	w->connects_seen = 0;
	w->connected = false;
	w->down_since = sy_now_ms();
	w->zh = sy_zk_open(w->servers, (int)w->timeout_ms, watcher, (void *)gen);
	if (!w->zh)
		sy_logf("warn", "\"zookeeper: cannot start a session; retrying\" servers=%s error=\"%s\"",
			w->servers, strerror(errno));
}

/* Take a new configuration: servers, prefix, timeout, the services. */
static void take_config(struct zk_worker *w, bool enabled, char *servers, char *prefix,
			uint32_t timeout_ms, char (*names)[SY_NAME_MAX], size_t n_names)
{
	bool session = enabled != w->enabled || timeout_ms != w->timeout_ms ||
		       !servers != !w->servers || (servers && strcmp(servers, w->servers));
	bool moved = !prefix != !w->prefix || (prefix && strcmp(prefix, w->prefix));
	struct zk_svc *next = calloc(n_names ? n_names : 1, sizeof(*next));

	if (session)
		close_session(w);
	free(w->servers);
	free(w->prefix);
	w->enabled = enabled;
	w->servers = servers;
	w->prefix = prefix;
	w->timeout_ms = timeout_ms;
	w->retry_at = 0;
	if (!next) { /* keep the old list; the next reload fixes it */
		free(names);
		return;
	}
	for (size_t i = 0; i < n_names; i++) {
		struct zk_svc *old = find_svc(w, names[i], strlen(names[i]));

		if (old && !moved) {
			next[i] = *old;
			memset(old, 0, sizeof(*old));
		} else {
			snprintf(next[i].name, sizeof(next[i].name), "%s", names[i]);
		}
		next[i].dirty = true; /* look again: cheap, and the set may have changed */
		next[i].listed = false;
		next[i].changed = true;
	}
	for (size_t i = 0; i < w->n_svc; i++)
		sy_zk_children_free(&w->svc[i].cc);
	free(w->svc);
	free(names);
	w->svc = next;
	w->n_svc = n_names;
	pthread_mutex_lock(&zk.mu);
	snprintf(zk.shown_servers, sizeof(zk.shown_servers), "%s", servers ? servers : "");
	pthread_mutex_unlock(&zk.mu);
}

/* One round: session upkeep, listings, reconciliation. */
static void step(struct zk_worker *w, uint64_t connects, bool expired, char **paths,
		 size_t n_paths)
{
	uint64_t now = sy_now_ms();
	bool all_listed = true, failed = false, settle_done = false;
	int state, rc = ZOK;

	if (!w->enabled) {
		close_session(w);
		set_reachable(w, true); /* nothing to reach: do not hold services */
		return;
	}
	if (expired && w->zh) {
		sy_logf("warn", "\"zookeeper session expired; starting a new one (last known backends kept)\" servers=%s",
			w->servers);
		close_session(w);
		set_reachable(w, false);
		w->lost = true;
	}
	if (!w->zh) {
		if (now < w->retry_at)
			return;
		open_session(w);
		if (!w->zh) {
			w->retry_at = now + ZK_IDLE_MS;
			set_reachable(w, false);
			return;
		}
		connects = 0;
	}
	state = zoo_state(w->zh);
	if (state == ZOO_EXPIRED_SESSION_STATE || state == ZOO_AUTH_FAILED_STATE) {
		sy_logf("warn", "\"zookeeper session %s; starting a new one (last known backends kept)\" servers=%s",
			state == ZOO_AUTH_FAILED_STATE ? "refused (auth)" : "expired", w->servers);
		close_session(w);
		set_reachable(w, false);
		w->lost = true;
		w->retry_at = now; /* at once */
		return;
	}
	if (state != ZOO_CONNECTED_STATE) {
		if (w->connected) {
			w->connected = false;
			w->lost = true;
			w->down_since = now;
			sy_logf("warn", "\"zookeeper connection lost; keeping the last known backends (fail-static)\" servers=%s",
				w->servers);
		}
		set_reachable(w, false);
		/* The C client (3.8) can keep retrying one server of the list,
		 * a dead one, for minutes while another answers: after a session
		 * timeout without a connection (the servers have expired the
		 * session by then), a new session, whose client takes the list
		 * in a new random order. */
		if (now - w->down_since >= w->timeout_ms) {
			sy_logf("warn", "\"zookeeper: no server answered for a session timeout; starting a new session\" servers=%s timeout_ms=%u",
				w->servers, w->timeout_ms);
			close_session(w);
			w->lost = true;
			w->retry_at = now; /* at once */
		}
		return;
	}
	w->down_since = 0;
	if (!w->connected || connects != w->connects_seen) {
		const clientid_t *id = zoo_client_id(w->zh);
		int64_t sid = id ? id->client_id : 0;

		w->connects_seen = connects;
		w->connected = true;
		all_dirty(w);
		if (w->ever_synced && w->lost) {
			/* agents whose sessions expired in the outage re-create their
			 * znodes within about one session timeout */
			w->settle_until = now + (uint64_t)w->timeout_ms;
		}
		w->lost = false;
		sy_logf("info", "\"zookeeper connected\" servers=%s session=0x%" PRIx64 " new_session=%s timeout_ms=%d removals_deferred_ms=%u",
			w->servers, (uint64_t)sid, sid != w->last_session ? "yes" : "no",
			zoo_recv_timeout(w->zh), w->settle_until ? w->timeout_ms : 0);
		w->last_session = sid;
		pthread_mutex_lock(&zk.mu);
		zk.session = sid;
		zk.negotiated_ms = zoo_recv_timeout(w->zh);
		pthread_mutex_unlock(&zk.mu);
	}
	for (size_t i = 0; i < n_paths; i++)
		on_path(w, paths[i]);

	for (size_t i = 0; i < w->n_svc && !failed; i++) {
		if (!w->svc[i].dirty)
			continue;
		rc = list_service(w, &w->svc[i]);
		if (rc != ZOK) {
			failed = true;
			if (rc != w->svc[i].last_rc)
				sy_logf("warn", "\"zookeeper: listing failed; retrying\" service=%s error=\"%s\"",
					w->svc[i].name, zerror(rc));
		}
		w->svc[i].last_rc = rc;
	}
	for (size_t i = 0; i < w->n_svc; i++)
		all_listed &= w->svc[i].listed;
	if (failed)
		w->retry_at = now + ZK_RETRY_MS;
	if (w->settle_until && now >= w->settle_until && all_listed) {
		w->settle_until = 0;
		settle_done = true;
	}

	pthread_mutex_lock(&w->d->lock);
	for (size_t i = 0; i < w->n_svc; i++) {
		struct zk_svc *s = &w->svc[i];

		if (s->listed && (s->changed || settle_done)) {
			reconcile(w, s, !w->settle_until);
			s->changed = false;
		}
	}
	/* the daemon's count of ignored entries (status, /metrics) */
	pthread_mutex_lock(&zk.mu);
	w->d->registry_invalid[SY_SOURCE_ZOOKEEPER] = zk.malformed;
	pthread_mutex_unlock(&zk.mu);
	pthread_mutex_unlock(&w->d->lock);
	if (settle_done)
		sy_logf("info", "\"zookeeper: settled after reconnecting; removals applied\"");
	if (all_listed) {
		w->ever_synced = true;
		set_reachable(w, true);
	}
	{
		uint64_t nb = 0;

		for (size_t i = 0; i < w->n_svc; i++)
			for (size_t j = 0; j < w->svc[i].cc.n; j++)
				nb += w->svc[i].cc.c[j].v.valid;
		pthread_mutex_lock(&zk.mu);
		zk.backends = nb;
		zk.settling = w->settle_until != 0;
		pthread_mutex_unlock(&zk.mu);
	}
}

static void *worker(void *arg)
{
	struct zk_worker w = { .d = arg, .reachable = false };

	for (;;) {
		uint64_t now = sy_now_ms(), wait = ZK_IDLE_MS, connects;
		bool cfg, expired, overflow, enabled = false;
		char *servers = NULL, *prefix = NULL, (*names)[SY_NAME_MAX] = NULL;
		uint32_t timeout_ms = 0;
		size_t n_names = 0, n_paths;
		char **paths;
		struct timespec ts;

		if (w.retry_at)
			wait = w.retry_at > now ? w.retry_at - now : 0;
		if (w.settle_until && (w.settle_until <= now || w.settle_until - now < wait))
			wait = w.settle_until > now ? w.settle_until - now : 0;
		pthread_mutex_lock(&zk.mu);
		if (wait && !zk.quit && !zk.cfg_new && !zk.expired && !zk.n_paths && !zk.overflow &&
		    zk.connects == w.connects_seen) {
			sy_zk_deadline(&ts, wait);
			pthread_cond_timedwait(&zk.cv, &zk.mu, &ts);
		}
		if (zk.quit) {
			pthread_mutex_unlock(&zk.mu);
			break;
		}
		cfg = zk.cfg_new;
		if (cfg) {
			zk.cfg_new = false;
			enabled = zk.enabled;
			servers = zk.servers ? strdup(zk.servers) : NULL;
			prefix = zk.prefix ? strdup(zk.prefix) : NULL;
			timeout_ms = zk.timeout_ms;
			names = zk.names;
			n_names = zk.n_names;
			zk.names = NULL;
			zk.n_names = 0;
		}
		connects = zk.connects;
		expired = zk.expired;
		zk.expired = false;
		overflow = zk.overflow;
		zk.overflow = false;
		paths = zk.paths;
		n_paths = zk.n_paths;
		zk.paths = NULL;
		zk.n_paths = zk.cap_paths = 0;
		pthread_mutex_unlock(&zk.mu);

		if (cfg) {
			if ((enabled && (!servers || !prefix)) || (!names && n_names)) {
				sy_logf("error", "\"zookeeper: out of memory taking the configuration\"");
				free(servers);
				free(prefix);
				free(names);
				pthread_mutex_lock(&zk.mu);
				zk.cfg_new = true; /* try again (names were consumed: resent by the next reload) */
				pthread_mutex_unlock(&zk.mu);
			} else {
				take_config(&w, enabled, servers, prefix, timeout_ms, names, n_names);
			}
		}
		if (w.retry_at && sy_now_ms() >= w.retry_at)
			w.retry_at = 0;
		if (overflow)
			all_dirty(&w);
		step(&w, connects, expired, paths, n_paths);
		for (size_t i = 0; i < n_paths; i++)
			free(paths[i]);
		free(paths);
	}
	close_session(&w);
	for (size_t i = 0; i < w.n_svc; i++)
		sy_zk_children_free(&w.svc[i].cc);
	free(w.svc);
	free(w.servers);
	free(w.prefix);
	return NULL;
}

/* ---- the source interface ----------------------------------------------------- */

static int launch(struct sy_daemon *d, char *err, size_t errlen)
{
	int rc;

	zk.quit = false;
	rc = pthread_create(&zk.thread, NULL, worker, d);
	if (rc) {
		snprintf(err, errlen, "cannot start the zookeeper thread: %s", strerror(rc));
		return -1;
	}
	zk.running = true;
	return 0;
}

/* d->lock held (or start-up, single-threaded). */
static void configured(struct sy_daemon *d)
{
	const struct sy_config_zookeeper *c = &d->cfg->registry.zookeeper;
	char (*names)[SY_NAME_MAX] = NULL;
	size_t n = 0;
	char err[128];

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

	pthread_mutex_lock(&zk.mu);
	if (!zk.cv_ready) {
		pthread_condattr_t a;

		pthread_condattr_init(&a);
		pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
		pthread_cond_init(&zk.cv, &a);
		pthread_condattr_destroy(&a);
		zk.cv_ready = true;
		zk.down_since_ms = sy_now_ms();
	}
	free(zk.servers);
	free(zk.prefix);
	free(zk.names);
	zk.enabled = c->enabled;
	zk.servers = c->servers ? strdup(c->servers) : NULL;
	zk.prefix = c->prefix ? strdup(c->prefix) : NULL;
	zk.timeout_ms = c->session_timeout_ms;
	zk.names = names;
	zk.n_names = names ? n : 0;
	zk.cfg_new = true;
	pthread_cond_signal(&zk.cv);
	/* services new to this configuration start in the source's state */
	bool up = zk.reachable || !c->enabled;
	pthread_mutex_unlock(&zk.mu);
	sy_source_set_reachable(d, SY_SOURCE_ZOOKEEPER, up);
	if (!names)
		sy_logf("error", "\"zookeeper: out of memory for the service list\"");

	if (zk.started && c->enabled && !zk.running && launch(d, err, sizeof(err)))
		sy_logf("error", "\"%s\"", err);
}

static int start(struct sy_daemon *d, char *err, size_t errlen)
{
	zk.started = true;
	if (!d->cfg->registry.zookeeper.enabled)
		return 0;
	return launch(d, err, errlen);
}

static void stop(struct sy_daemon *d)
{
	(void)d;
	if (!zk.running)
		return;
	pthread_mutex_lock(&zk.mu);
	zk.quit = true;
	pthread_cond_signal(&zk.cv);
	pthread_mutex_unlock(&zk.mu);
	pthread_join(zk.thread, NULL);
	zk.running = false;
	pthread_mutex_lock(&zk.mu);
	for (size_t i = 0; i < zk.n_paths; i++)
		free(zk.paths[i]);
	free(zk.paths);
	zk.paths = NULL;
	zk.n_paths = zk.cap_paths = 0;
	free(zk.servers);
	free(zk.prefix);
	free(zk.names);
	zk.servers = zk.prefix = NULL;
	zk.names = NULL;
	pthread_mutex_unlock(&zk.mu);
}

static void describe(struct sy_daemon *d, char *buf, size_t len, bool *up)
{
	size_t nsvc = 0;

	for (size_t i = 0; i < d->n_svc; i++)
		nsvc += d->cfg->services[d->svc[i].cfg_index].source == SY_SOURCE_ZOOKEEPER;
	if (!d->cfg->registry.zookeeper.enabled) {
		*up = true;
		snprintf(buf, len, "not configured");
		return;
	}
	pthread_mutex_lock(&zk.mu);
	*up = zk.reachable;
	if (zk.reachable)
		snprintf(buf, len, "up: %s session 0x%" PRIx64 " (timeout %d ms), %zu services, %" PRIu64
			 " backends, %" PRIu64 " malformed znodes ignored, %" PRIu64 " over capacity%s",
			 zk.shown_servers, (uint64_t)zk.session, zk.negotiated_ms, nsvc, zk.backends,
			 zk.malformed, d->over_capacity[SY_SRC_ZOOKEEPER],
			 zk.settling ? ", settling (removals deferred)" : "");
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
