/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Following ZooKeeper (follow.h): the services' znodes
 *
 *   <prefix>/<service>/<address>:<port>   (ephemeral)  {"weight":1,"zone":"a",...}
 *
 * kept by `syctl register --registry zk://...` agents (ZooKeeper deletes a
 * znode when its agent's session ends). The reader of sy-control's
 * ZooKeeper source and of the resolver's.
 *
 * One session and one thread per follower (libzookeeper_mt, synchronous
 * calls). The library's watcher callback runs on the library's own thread:
 * it only records what happened (a (re)connection, an expiry, the path of a
 * fired watch) under f->mu and wakes the thread, which makes every zoo_*
 * call but read_once's. Per followed service the thread lists the children
 * with a child watch and reads new and changed values with data watches
 * (watches fire once; the next read re-arms them), and hands the whole list
 * to the sink, with ZooKeeper's zxid of the latest change as the revision.
 *
 * Session events: while the session is disconnected or expired the sink
 * hears `lost` every round; on every (re)connection everything is listed
 * again. An expired session is replaced at once, one that cannot be started
 * after the back-off, one that no server answers after renew_after_ms
 * (sy_zk_renew_due).
 *
 * Locks: f->mu is never held during a zoo_* call (zoo_state aside) nor
 * during a sink call.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "follow.h"
#include "zk_client.h"

#define TICK_MS 1000 /* the sink's tick by default, and the longest sleep */

struct conf {
	char *servers, *prefix;
	char *user, *password_file; /* digest credentials: both or neither */
	uint32_t timeout_ms, retry_initial_ms, retry_max_ms, renew_after_ms;
	bool create_missing;
};

/* One followed service, as the thread keeps it. */
struct fsvc {
	struct fsvc *next;
	char *name;
	void *svc;                /* the sink's */
	char path[SY_ZK_PATH_MAX];
	bool dirty;               /* list again */
	bool listed;              /* listed and delivered since the last (re)connection */
	int last_rc;              /* of the last failed listing (logged once) */
	bool quiet;               /* read_once's: the sink hears nothing of it */
	struct sy_zk_children cc; /* the children, with their values */
	struct sy_follower *f;    /* for the malformed callback */
};

struct sy_follower {
	struct sy_follow_sink sink;
	pthread_mutex_t mu;
	pthread_cond_t cv;        /* the thread's wake-up; read_once waits for a session */
	pthread_t thread;
	/* under mu: */
	struct conf wanted;       /* configure() -> the thread */
	bool cfg_new, quit, refresh;
	zhandle_t *zh;            /* the session (NULL: none); borrowed by read_once */
	unsigned zh_users;        /* read_once calls using zh */
	uint64_t connects;        /* ZOO_CONNECTED_STATE events */
	bool expired, overflow;   /* overflow: a fired watch's path was lost */
	char **paths;             /* paths of fired watches */
	size_t n_paths, cap_paths;
	struct fsvc *pending;     /* followed, not yet taken by the thread */
	char **gone;              /* unfollowed, not yet dropped by the thread */
	size_t n_gone;
	struct sy_follow_status st;
	/* the thread's own: */
	struct conf conf;
	struct fsvc *svcs;
	int64_t last_session;
	bool connected;           /* at the last look */
	uint64_t connects_seen;   /* of this session's connection events */
	uint64_t down_since;      /* the session has had no server since (0: it has) */
	uint64_t retry_at;        /* a failed session start or listing: not before */
	uint64_t tick_at;         /* the sink's next tick */
	uint32_t backoff;         /* the next failure's wait */
};

/* ---- small helpers --------------------------------------------------------------------- */

static void free_paths(char **paths, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
}

static void conf_free(struct conf *c)
{
	free(c->servers);
	free(c->prefix);
	free(c->user);
	free(c->password_file);
	memset(c, 0, sizeof(*c));
}

/* 0, or -1 (out of memory: dst empty). */
static int conf_copy(struct conf *dst, const struct sy_follow_conf *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->servers = src->servers ? strdup(src->servers) : NULL;
	dst->prefix = strdup(src->prefix && *src->prefix ? src->prefix : SY_ZK_DEFAULT_PREFIX);
	dst->timeout_ms = src->session_timeout_ms;
	dst->retry_initial_ms = src->retry_initial_ms ? src->retry_initial_ms : 500;
	dst->retry_max_ms = src->retry_max_ms > dst->retry_initial_ms ? src->retry_max_ms
								       : dst->retry_initial_ms;
	dst->renew_after_ms = src->renew_after_ms ? src->renew_after_ms : src->session_timeout_ms;
	dst->create_missing = src->create_missing;
	dst->user = src->user ? strdup(src->user) : NULL;
	dst->password_file = src->password_file ? strdup(src->password_file) : NULL;
	if ((src->servers && !dst->servers) || !dst->prefix || (src->user && !dst->user) ||
	    (src->password_file && !dst->password_file)) {
		conf_free(dst);
		return -1;
	}
	return 0;
}

static bool same(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

/* Whether configuration b needs a session of its own after a's: other
 * servers, timeout or credentials (a session's are given at its start). */
static bool new_session(const struct conf *a, const struct conf *b)
{
	return !same(a->servers, b->servers) || a->timeout_ms != b->timeout_ms ||
	       !same(a->user, b->user) || !same(a->password_file, b->password_file);
}

static void say(struct sy_follower *f, const char *level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void say(struct sy_follower *f, const char *level, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!f->sink.log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	f->sink.log(f->sink.ctx, level, msg);
}

static void lost_all(struct sy_follower *f, const char *why)
{
	for (struct fsvc *v = f->svcs; v; v = v->next)
		v->listed = false;
	f->sink.lost(f->sink.ctx, NULL, NULL, why);
}

static void all_dirty(struct sy_follower *f, bool stale)
{
	for (struct fsvc *v = f->svcs; v; v = v->next) {
		v->dirty = true;
		v->listed = false;
		if (stale)
			sy_zk_children_mark_stale(&v->cc);
	}
}

static void free_svc(struct fsvc *v)
{
	sy_zk_children_free(&v->cc);
	free(v->name);
	free(v);
}

static void free_svcs(struct fsvc *v)
{
	while (v) {
		struct fsvc *next = v->next;

		free_svc(v);
		v = next;
	}
}

/* ---- the session ----------------------------------------------------------------------- */

/* The library's thread: record, wake, never call zoo_*. */
static void watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
	struct sy_follower *f = ctx;
	enum sy_zk_event ev = sy_zk_event(type, state, path);

	(void)zh;
	pthread_mutex_lock(&f->mu);
	if (ev == SY_ZK_EV_CONNECTED) {
		f->connects++;
	} else if (ev == SY_ZK_EV_EXPIRED) {
		f->expired = true;
	} else if (ev == SY_ZK_EV_NODE) {
		char *p = NULL;

		if (f->n_paths == f->cap_paths) {
			size_t cap = f->cap_paths ? 2 * f->cap_paths : 16;
			char **np = realloc(f->paths, cap * sizeof(*np));

			if (np) {
				f->paths = np;
				f->cap_paths = cap;
			}
		}
		if (f->n_paths < f->cap_paths && (p = strdup(path)))
			f->paths[f->n_paths++] = p;
		else
			f->overflow = true; /* out of memory: list everything again */
	}
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
}

/* A new session, with the configured credentials (the password file read
 * now: a changed password is taken at the next session). false with the
 * reason in why. */
static bool open_session(struct sy_follower *f, char *why, size_t whylen)
{
	char digest[1024];
	zhandle_t *zh;

	if (f->conf.user &&
	    sy_zk_digest(f->conf.user, f->conf.password_file, digest, sizeof(digest), why, whylen))
		return false;
	zh = sy_zk_open(f->conf.servers, (int)f->conf.timeout_ms, watcher, f,
			f->conf.user ? digest : NULL);
	explicit_bzero(digest, sizeof(digest));
	if (!zh) {
		snprintf(why, whylen, "%s", strerror(errno));
		return false;
	}
	pthread_mutex_lock(&f->mu);
	f->zh = zh;
	pthread_mutex_unlock(&f->mu);
	return true;
}

/* Waits for read_once's borrowers, then closes the session. */
static void close_session(struct sy_follower *f)
{
	zhandle_t *zh;

	pthread_mutex_lock(&f->mu);
	zh = f->zh;
	f->zh = NULL; /* no new borrower */
	while (f->zh_users)
		pthread_cond_wait(&f->cv, &f->mu);
	pthread_mutex_unlock(&f->mu);
	if (zh)
		zookeeper_close(zh); /* joins the library's threads: no event after */
	pthread_mutex_lock(&f->mu);
	f->connects = 0;
	f->expired = f->overflow = false;
	free_paths(f->paths, f->n_paths);
	f->paths = NULL;
	f->n_paths = f->cap_paths = 0;
	f->st.connected = false;
	pthread_mutex_unlock(&f->mu);
}

/* ---- a service's list ------------------------------------------------------------------ */

static void on_malformed(void *ctx, const char *child, const char *why)
{
	struct fsvc *v = ctx;
	char n[128];

	if (v->quiet)
		return;
	/* an untrusted name, printable for a log line */
	sy_etcd_printable((const uint8_t *)child, strlen(child), n, sizeof(n));
	v->f->sink.malformed(v->f->sink.ctx, v->name, v->svc, n, why);
}

/* The valid children as a list at the latest zxid seen: 0 and *l (l->e
 * malloc'd), or -1 (out of memory). */
static int to_list(const struct sy_zk_children *cc, int64_t pzxid, struct sy_follow_list *l)
{
	struct sy_etcd_entry *e = malloc((cc->n ? cc->n : 1) * sizeof(*e));
	size_t n = 0;

	memset(l, 0, sizeof(*l));
	if (!e)
		return -1;
	l->revision = pzxid > 0 ? (uint64_t)pzxid : 0;
	for (size_t i = 0; i < cc->n; i++) {
		const struct sy_zk_child *c = &cc->c[i];

		if (c->v.mzxid > 0 && (uint64_t)c->v.mzxid > l->revision)
			l->revision = (uint64_t)c->v.mzxid;
		if (!c->v.valid) {
			l->skipped++;
			continue;
		}
		e[n] = c->v.e; /* its weight, zone, metadata, server ID; the backend from the name */
		e[n++].id = c->id;
	}
	l->e = e;
	l->n = n;
	return 0;
}

/* A fired watch: the service it names (its znode, or a child's) lists again;
 * the prefix or an ancestor: every service. */
static void on_path(struct sy_follower *f, const char *p)
{
	size_t pl = strcmp(f->conf.prefix, "/") ? strlen(f->conf.prefix) : 0;

	if (strncmp(p, f->conf.prefix, pl) || (p[pl] && p[pl] != '/') || !p[pl] || !p[pl + 1]) {
		all_dirty(f, false);
		return;
	}
	for (struct fsvc *v = f->svcs; v; v = v->next) {
		size_t len = strlen(v->path);
		struct sy_zk_child *c;

		if (strncmp(p, v->path, len) || (p[len] && p[len] != '/'))
			continue;
		v->dirty = true;
		if (p[len] && (c = sy_zk_children_find(&v->cc, p + len + 1)))
			c->stale = !c->bad_name;
	}
}

/* List v with watches and hand it to the sink when it changed or was not
 * delivered since the (re)connection. ZOK (ZNONODE: a child vanished before
 * its read, v stays dirty), or ZooKeeper's error. */
static int list_service(struct sy_follower *f, zhandle_t *zh, struct fsvc *v)
{
	struct sy_follow_list l;
	enum sy_zk_listed how;
	int64_t pzxid = 0;
	bool changed = false;
	int rc, create_rc;

	rc = sy_zk_children_sync(zh, v->path, true,
				 !f->conf.create_missing ? SY_ZK_MISSING_WAIT
				 : f->conf.user		 ? SY_ZK_MISSING_CREATE_OWNED
							 : SY_ZK_MISSING_CREATE,
				 &v->cc, &changed, &pzxid, &how, &create_rc, on_malformed, v);
	if (how == SY_ZK_CREATED)
		say(f, "info", "\"zookeeper: created the service's parent znode\" service=%s znode=%s",
		    v->name, v->path);
	else if (create_rc != ZOK && !sy_zk_transient(create_rc))
		/* not allowed to create it: waiting for it (an exists watch) */
		say(f, "warn", "\"zookeeper: cannot create the service's znode; waiting for it\" service=%s znode=%s error=\"%s\"",
		    v->name, v->path, zerror(create_rc));
	if (rc == ZNONODE) {
		v->listed = false;
		return ZOK;
	}
	if (rc != ZOK)
		return rc;
	v->dirty = false;
	if (changed || !v->listed) {
		if (to_list(&v->cc, pzxid, &l)) {
			v->dirty = true;
			return ZSYSTEMERROR;
		}
		v->listed = true;
		f->sink.listed(f->sink.ctx, v->name, v->svc, &l);
		free((void *)l.e);
	}
	return ZOK;
}

/* ---- what the thread takes from the others -------------------------------------------- */

/* A new configuration (f->conf replaced). */
static void take_config(struct sy_follower *f, struct conf *c)
{
	bool session = new_session(&f->conf, c);
	bool moved = !same(c->prefix, f->conf.prefix);

	struct conf old;

	if (session)
		close_session(f);
	pthread_mutex_lock(&f->mu); /* read_once reads it */
	old = f->conf;
	f->conf = *c;
	snprintf(f->st.where, sizeof(f->st.where), "%s", c->servers ? c->servers : "");
	pthread_mutex_unlock(&f->mu);
	conf_free(&old);
	for (struct fsvc *v = f->svcs; moved && v; v = v->next) {
		sy_zk_children_free(&v->cc);
		sy_zk_service_path(f->conf.prefix, v->name, v->path, sizeof(v->path));
	}
	all_dirty(f, false);
}

static struct fsvc **find(struct sy_follower *f, const char *name)
{
	struct fsvc **p = &f->svcs;

	while (*p && strcmp((*p)->name, name))
		p = &(*p)->next;
	return p;
}

static struct fsvc *reversed(struct fsvc *l)
{
	struct fsvc *r = NULL;

	while (l) {
		struct fsvc *next = l->next;

		l->next = r;
		r = l;
		l = next;
	}
	return r;
}

static void take_services(struct sy_follower *f, struct fsvc *pending, char **gone, size_t n_gone)
{
	for (size_t i = 0; i < n_gone; i++) {
		struct fsvc **p = find(f, gone[i]), *v = *p;

		if (v) {
			*p = v->next;
			free_svc(v);
		}
	}
	free_paths(gone, n_gone);
	pending = reversed(pending); /* oldest first: the latest follow of a name wins */
	while (pending) {
		struct fsvc *v = pending, **p = find(f, v->name);

		pending = v->next;
		if (*p) { /* followed again: look again */
			(*p)->svc = v->svc;
			(*p)->dirty = true;
			(*p)->listed = false;
			free_svc(v);
			continue;
		}
		sy_zk_service_path(f->conf.prefix, v->name, v->path, sizeof(v->path));
		v->next = f->svcs;
		f->svcs = v;
	}
}

/* ---- the thread ------------------------------------------------------------------------ */

/* What the thread takes from the others in one go. */
struct intake {
	bool cfg, refresh, expired, overflow;
	struct conf c;
	struct fsvc *pending;
	char **gone, **paths;
	size_t n_gone, n_paths;
	uint64_t connects;
};

/* Sleeps until there is something to do or the next deadline, then takes
 * what the others left. false: quit. */
static bool wait_and_take(struct sy_follower *f, struct intake *in)
{
	uint64_t now = sy_zk_mono_ms(), wait = f->tick_at > now ? f->tick_at - now : 0;
	uint64_t renew_at = f->down_since + f->conf.renew_after_ms;
	bool again = false;
	struct timespec ts;

	if (f->retry_at > now && f->retry_at - now < wait)
		wait = f->retry_at - now;
	if (f->down_since && renew_at > now && renew_at - now < wait)
		wait = renew_at - now;
	for (struct fsvc *v = f->svcs; v; v = v->next)
		again |= v->dirty && f->connected && f->retry_at <= now;
	memset(in, 0, sizeof(*in));
	pthread_mutex_lock(&f->mu);
	if (wait && !again && !f->quit && !f->cfg_new && !f->pending && !f->n_gone &&
	    !f->refresh && !f->n_paths && !f->expired && !f->overflow &&
	    f->connects == f->connects_seen && (f->zh || f->retry_at > now || !f->conf.servers) &&
	    !(f->zh && !f->connected && zoo_state(f->zh) == ZOO_CONNECTED_STATE)) {
		sy_zk_deadline(&ts, wait);
		pthread_cond_timedwait(&f->cv, &f->mu, &ts);
	}
	if (f->quit) {
		pthread_mutex_unlock(&f->mu);
		return false;
	}
	if ((in->cfg = f->cfg_new)) {
		in->c = f->wanted;
		memset(&f->wanted, 0, sizeof(f->wanted));
		f->cfg_new = false;
	}
	in->pending = f->pending;
	f->pending = NULL;
	in->gone = f->gone;
	in->n_gone = f->n_gone;
	f->gone = NULL;
	f->n_gone = 0;
	in->refresh = f->refresh;
	f->refresh = false;
	in->connects = f->connects;
	in->expired = f->expired;
	f->expired = false;
	in->overflow = f->overflow;
	f->overflow = false;
	in->paths = f->paths;
	in->n_paths = f->n_paths;
	f->paths = NULL;
	f->n_paths = f->cap_paths = 0;
	pthread_mutex_unlock(&f->mu);
	return true;
}

static void backoff_from(struct sy_follower *f, uint64_t now)
{
	f->retry_at = now + f->backoff;
	f->backoff = f->backoff * 2 > f->conf.retry_max_ms ? f->conf.retry_max_ms : f->backoff * 2;
}

/* The session's upkeep: an expired one replaced, a missing one started, a
 * disconnected one reported (and renewed when no server answers), a
 * (re)connection reported. Returns the session when it is connected
 * (*fresh: just (re)connected, watches may be lost), else NULL. */
static zhandle_t *session_upkeep(struct sy_follower *f, const struct intake *in, uint64_t now,
				 bool *fresh)
{
	zhandle_t *zh;
	char why[256];

	*fresh = false;
	pthread_mutex_lock(&f->mu);
	zh = f->zh;
	pthread_mutex_unlock(&f->mu);
	if (zh && (in->expired || zoo_state(zh) == ZOO_EXPIRED_SESSION_STATE ||
		   zoo_state(zh) == ZOO_AUTH_FAILED_STATE)) {
		const char *what = zoo_state(zh) == ZOO_AUTH_FAILED_STATE ? "refused (auth)" : "expired";

		say(f, "warn", "\"zookeeper session %s; starting a new one (last known backends kept)\" servers=%s",
		    what, f->conf.servers);
		snprintf(why, sizeof(why), "ZooKeeper %.120s: session %s (a new one is started)",
			 f->conf.servers, what);
		lost_all(f, why);
		close_session(f);
		zh = NULL;
		f->connected = false;
		f->down_since = 0;
		f->retry_at = 0; /* at once */
	}
	if (!zh && now >= f->retry_at) {
		char err[256];

		if (open_session(f, err, sizeof(err))) {
			pthread_mutex_lock(&f->mu);
			zh = f->zh;
			pthread_mutex_unlock(&f->mu);
			f->connects_seen = 0; /* a new session counts from 0 */
			f->down_since = now;
		} else {
			say(f, "warn", "\"zookeeper: cannot start a session; retrying\" servers=%s error=\"%s\"",
			    f->conf.servers, err);
			snprintf(why, sizeof(why), "ZooKeeper %.100s: cannot start a session: %.90s",
				 f->conf.servers, err);
			lost_all(f, why);
			backoff_from(f, now);
		}
	}
	if (!zh)
		return NULL;
	if (zoo_state(zh) != ZOO_CONNECTED_STATE) {
		if (f->connected)
			say(f, "warn", "\"zookeeper connection lost; keeping the last known backends (fail-static)\" servers=%s",
			    f->conf.servers);
		snprintf(why, sizeof(why), "ZooKeeper %.120s: %s", f->conf.servers,
			 f->connected ? "connection lost (reconnecting)" : "not connected");
		lost_all(f, why);
		f->connected = false;
		if (!f->down_since)
			f->down_since = now;
		if (sy_zk_renew_due(f->down_since, now, f->conf.renew_after_ms)) {
			say(f, "warn", "\"zookeeper: no server answered for %u ms; starting a new session\" servers=%s",
			    f->conf.renew_after_ms, f->conf.servers);
			close_session(f);
			f->down_since = 0;
			f->retry_at = 0;
		}
		return NULL;
	}
	f->down_since = 0;
	if (!f->connected || in->connects != f->connects_seen) {
		const clientid_t *id = zoo_client_id(zh);
		int64_t sid = id ? id->client_id : 0;
		char where[256];

		f->connected = *fresh = true;
		f->connects_seen = in->connects;
		snprintf(where, sizeof(where), "servers=%s session=0x%" PRIx64 " new_session=%s timeout_ms=%d",
			 f->conf.servers, (uint64_t)sid, sid != f->last_session ? "yes" : "no",
			 zoo_recv_timeout(zh));
		f->last_session = sid;
		pthread_mutex_lock(&f->mu);
		snprintf(f->st.where, sizeof(f->st.where), "%.150s session 0x%" PRIx64 " (timeout %d ms)",
			 f->conf.servers, (uint64_t)sid, zoo_recv_timeout(zh));
		f->st.connected = true;
		pthread_mutex_unlock(&f->mu);
		if (f->sink.connected)
			f->sink.connected(f->sink.ctx, where);
	}
	return zh;
}

/* Lists the dirty services (until one fails: then after the back-off). */
static void list_dirty(struct sy_follower *f, zhandle_t *zh, uint64_t now)
{
	char why[256];

	for (struct fsvc *v = f->svcs; v && now >= f->retry_at; v = v->next) {
		int rc;

		if (!v->dirty)
			continue;
		rc = list_service(f, zh, v);
		if (rc == ZOK) {
			f->backoff = f->conf.retry_initial_ms;
			v->last_rc = ZOK;
			continue;
		}
		if (rc != v->last_rc)
			say(f, "warn", "\"zookeeper: listing failed; retrying\" service=%s error=\"%s\"",
			    v->name, zerror(rc));
		v->last_rc = rc;
		v->listed = false;
		snprintf(why, sizeof(why), "ZooKeeper %.80s: listing %.100s: %s", f->conf.servers,
			 v->path, zerror(rc));
		f->sink.lost(f->sink.ctx, v->name, v->svc, why);
		backoff_from(f, now);
	}
}

/* The round's end: the status's count, the sink's tick. */
static void end_round(struct sy_follower *f, bool idle)
{
	bool all_listed = idle || f->connected;
	uint64_t nb = 0;
	uint32_t next;

	for (struct fsvc *v = f->svcs; v && !idle; v = v->next) {
		all_listed &= v->listed;
		for (size_t j = 0; j < v->cc.n; j++)
			nb += v->cc.c[j].v.valid;
	}
	pthread_mutex_lock(&f->mu);
	f->st.backends = nb;
	pthread_mutex_unlock(&f->mu);
	next = f->sink.tick(f->sink.ctx, all_listed);
	f->tick_at = sy_zk_mono_ms() + (next ? next : TICK_MS);
}

static void *follow_thread(void *arg)
{
	struct sy_follower *f = arg;
	struct intake in;

	f->backoff = f->conf.retry_initial_ms;
	while (wait_and_take(f, &in)) {
		uint64_t now = sy_zk_mono_ms();
		zhandle_t *zh;
		bool fresh;

		if (in.cfg) {
			bool session = new_session(&f->conf, &in.c);

			take_config(f, &in.c);
			if (session) {
				f->connected = false;
				f->connects_seen = f->down_since = f->retry_at = 0;
				f->backoff = f->conf.retry_initial_ms;
			}
		}
		take_services(f, in.pending, in.gone, in.n_gone);
		if (in.refresh)
			all_dirty(f, false);
		if (!f->conf.servers) { /* idle: nothing to reach */
			free_paths(in.paths, in.n_paths);
			close_session(f);
			f->connected = false;
			if (now >= f->tick_at)
				end_round(f, true);
			continue;
		}
		zh = session_upkeep(f, &in, now, &fresh);
		if (zh) {
			if (fresh || in.overflow) /* watches may have been lost: everything again */
				all_dirty(f, true);
			for (size_t i = 0; i < in.n_paths; i++)
				on_path(f, in.paths[i]);
			list_dirty(f, zh, now);
		}
		free_paths(in.paths, in.n_paths);
		end_round(f, false);
	}
	close_session(f);
	return NULL;
}

/* ---- the interface --------------------------------------------------------------------- */

static int zk_open(const struct sy_follow_conf *conf, const struct sy_follow_sink *sink,
		   struct sy_follower **out, char *err, size_t errlen)
{
	struct sy_follower *f = calloc(1, sizeof(*f));
	pthread_condattr_t a;
	int rc;

	if (!f || conf_copy(&f->conf, conf)) {
		free(f);
		return snprintf(err, errlen, "out of memory"), -1;
	}
	f->sink = *sink;
	snprintf(f->st.where, sizeof(f->st.where), "%s", f->conf.servers ? f->conf.servers : "");
	pthread_mutex_init(&f->mu, NULL);
	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&f->cv, &a);
	pthread_condattr_destroy(&a);
	rc = pthread_create(&f->thread, NULL, follow_thread, f);
	if (rc) {
		snprintf(err, errlen, "cannot start the zookeeper thread: %s", strerror(rc));
		pthread_cond_destroy(&f->cv);
		pthread_mutex_destroy(&f->mu);
		conf_free(&f->conf);
		free(f);
		return -1;
	}
	*out = f;
	return 0;
}

static int zk_configure(struct sy_follower *f, const struct sy_follow_conf *conf)
{
	struct conf c;

	if (conf_copy(&c, conf))
		return -1;
	pthread_mutex_lock(&f->mu);
	conf_free(&f->wanted);
	f->wanted = c;
	f->cfg_new = true;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
	return 0;
}

static int zk_follow(struct sy_follower *f, const char *service, void *svc)
{
	struct fsvc *v = calloc(1, sizeof(*v));

	if (!v || !(v->name = strdup(service))) {
		free(v);
		return -1;
	}
	v->svc = svc;
	v->f = f;
	v->dirty = true;
	pthread_mutex_lock(&f->mu);
	v->next = f->pending;
	f->pending = v;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
	return 0;
}

static void zk_unfollow(struct sy_follower *f, const char *service)
{
	char *name = strdup(service), **ng;

	pthread_mutex_lock(&f->mu);
	/* a pending follow of the name goes first */
	for (struct fsvc **p = &f->pending; *p;) {
		struct fsvc *v = *p;

		if (!strcmp(v->name, service)) {
			*p = v->next;
			free_svc(v);
		} else {
			p = &v->next;
		}
	}
	ng = name ? realloc(f->gone, (f->n_gone + 1) * sizeof(*ng)) : NULL;
	if (ng) {
		f->gone = ng;
		f->gone[f->n_gone++] = name;
	} else {
		free(name); /* out of memory: the service stays followed, harmless */
	}
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
}

static void zk_refresh(struct sy_follower *f)
{
	pthread_mutex_lock(&f->mu);
	f->refresh = true;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
}

/* On the thread's session (waiting for it to connect within timeout_ms). */
static int zk_read_once(struct sy_follower *f, const char *service, uint32_t timeout_ms,
			struct sy_follow_list *l, char *err, size_t errlen)
{
	struct fsvc tmp = { .f = f, .quiet = true };
	struct timespec ts;
	enum sy_zk_listed how;
	int64_t pzxid = 0;
	bool changed = false;
	zhandle_t *zh = NULL;
	char prefix[SY_ZK_PATH_MAX], servers[160];
	int rc, create_rc, wait_rc = 0;

	sy_zk_deadline(&ts, timeout_ms);
	pthread_mutex_lock(&f->mu);
	while (!f->quit && wait_rc != ETIMEDOUT &&
	       !(f->zh && zoo_state(f->zh) == ZOO_CONNECTED_STATE))
		wait_rc = pthread_cond_timedwait(&f->cv, &f->mu, &ts);
	if (f->zh && zoo_state(f->zh) == ZOO_CONNECTED_STATE) {
		zh = f->zh;
		f->zh_users++;
	}
	/* the thread's conf, read under mu: the thread replaces it only
	 * after closing the session, which waits for this borrower */
	snprintf(prefix, sizeof(prefix), "%s", f->conf.prefix);
	snprintf(servers, sizeof(servers), "%s", f->conf.servers ? f->conf.servers : "");
	pthread_mutex_unlock(&f->mu);
	if (!zh)
		return snprintf(err, errlen, "ZooKeeper %s: no session within %u ms", servers,
				timeout_ms), -1;
	if (sy_zk_service_path(prefix, service, tmp.path, sizeof(tmp.path))) {
		rc = ZBADARGUMENTS;
	} else {
		tmp.name = (char *)service;
		rc = sy_zk_children_sync(zh, tmp.path, false, SY_ZK_MISSING_WAIT, &tmp.cc, &changed,
					 &pzxid, &how, &create_rc, on_malformed, &tmp);
	}
	pthread_mutex_lock(&f->mu);
	f->zh_users--;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
	if (rc == ZOK && to_list(&tmp.cc, pzxid, l))
		rc = ZSYSTEMERROR;
	sy_zk_children_free(&tmp.cc);
	if (rc != ZOK)
		return snprintf(err, errlen, "ZooKeeper %.80s: listing %.100s: %s", servers, tmp.path,
				rc == ZNONODE ? "a child vanished while read" : zerror(rc)), -1;
	return 0;
}

static void zk_status(struct sy_follower *f, struct sy_follow_status *st)
{
	pthread_mutex_lock(&f->mu);
	*st = f->st;
	pthread_mutex_unlock(&f->mu);
}

static void zk_close(struct sy_follower *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&f->mu);
	f->quit = true;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
	pthread_join(f->thread, NULL); /* it closes the session */
	free_svcs(f->svcs);
	free_svcs(f->pending);
	free_paths(f->gone, f->n_gone);
	free_paths(f->paths, f->n_paths);
	conf_free(&f->wanted);
	conf_free(&f->conf);
	pthread_cond_destroy(&f->cv);
	pthread_mutex_destroy(&f->mu);
	free(f);
}

const struct sy_follow_ops sy_zookeeper_follow_ops = {
	.name = "zookeeper",
	.entry = "znode",
	.malformed_msg = "malformed znode ignored",
	.malformed_count = "malformed znodes ignored",
	.per_service_loss = false,
	.sessions = true,
	.skipped = "znodes skipped (not a backend)",
	.first_skip = false, /* the last */
	.quote_key = false,
	.scheme = "zk",
	.url_parse = sy_zk_url_parse,
	.default_prefix = SY_ZK_DEFAULT_PREFIX,
	.prefix_folder = SY_REGISTRY_FOLDER_ZOOKEEPER,
	.auth = true, /* digest credentials (sy_zk_digest); docs/control.md "Credentials" */
	.tls = false,
	.open = zk_open,
	.configure = zk_configure,
	.follow = zk_follow,
	.unfollow = zk_unfollow,
	.refresh = zk_refresh,
	.read_once = zk_read_once,
	.status = zk_status,
	.close = zk_close,
};
