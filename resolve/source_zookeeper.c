/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The ZooKeeper source: the znodes sy-control's ZooKeeper source reads,
 *
 *   <prefix>/<service>/<address>:<port>  (ephemeral)  {"weight":1,"zone":"a",...}
 *
 * kept by `syctl register --registry zk://...` agents (ZooKeeper deletes a
 * znode when its agent's session ends). Reading them is the registry
 * client's follower (control/registry/zk_follow.c, sy-control's too): one
 * session and one thread per resolver, which lists every opened service
 * with watches and hands its whole list here, to be published
 * (sy_service_update) with ZooKeeper's zxid of the latest change as the
 * revision.
 *
 * While the session is disconnected or expired every service is
 * unreachable (STALE: the last list keeps serving, the reason in
 * sy_resolve_source_error). On every (re)connection everything is listed
 * again and published (FRESH). The first open of a service reads it once in
 * the caller's thread, on the follower's session (read_once).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "follow.h"
#include "parse_etcd.h" /* sy_etcd_entry_to_inst */
#include "resolve_internal.h"
#include "zk_client.h"

#define TICK_MS 1000 /* sy_resolve_tick */

static const struct sy_follow_ops *const ops = &sy_zk_follow_ops;

/* One opened service: the follower's svc. */
struct zk_svc {
	struct zk_svc *next;
	sy_resolve_service *s;
	bool reachable;           /* as last told to the service */
	char malformed[160];      /* the last child skipped, and why */
};

struct zk_source {
	char *servers, *prefix;
	sy_resolver *r;
	struct sy_follower *f;    /* from prepare on */
	pthread_mutex_t mu;       /* guards f's start and svcs */
	struct zk_svc *svcs;
	uint64_t next_tick;       /* the follower's thread's */
};

/* ---- configuration --------------------------------------------------------------------- */

static int zk_create(sy_resolver *r)
{
	const struct sy_resolve_config *c = &r->cfg;
	const char *prefix = c->zk_prefix && *c->zk_prefix ? c->zk_prefix : SY_ZK_DEFAULT_PREFIX;
	struct zk_source *src;

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
	src->r = r;
	pthread_mutex_init(&src->mu, NULL);
	r->source = src;
	return SY_RESOLVE_OK;
}

/* ---- the follower's sink --------------------------------------------------------------- */

/* The registry is lost for v: STALE with why. */
static void lost(struct zk_svc *v, const char *why)
{
	sy_source_set_error(v->s, why);
	if (v->reachable) {
		v->reachable = false;
		sy_resolve_set_reachable(v->s, 0);
	}
}

static void on_lost(void *ctx, const char *service, void *svc, const char *why)
{
	struct zk_source *src = ctx;

	(void)service;
	if (svc) {
		lost(svc, why);
		return;
	}
	pthread_mutex_lock(&src->mu);
	for (struct zk_svc *v = src->svcs; v; v = v->next)
		lost(v, why);
	pthread_mutex_unlock(&src->mu);
}

/* The entries as the resolver's list: 0, or -1 (out of memory). */
static int to_list(const struct sy_follow_list *fl, struct sy_source_list *l)
{
	memset(l, 0, sizeof(*l));
	l->revision = fl->revision;
	l->table_size = SY_MAGLEV_DEFAULT_M; /* table size and seed are not in ZooKeeper */
	l->inst = calloc(fl->n ? fl->n : 1, sizeof(*l->inst));
	if (!l->inst)
		return -1;
	for (size_t i = 0; i < fl->n; i++)
		sy_etcd_entry_to_inst(&fl->e[i], &l->inst[i]);
	l->n = fl->n;
	return 0;
}

/* The service's list into the cache, and the source's note ("" or what was
 * skipped). */
static void on_listed(void *ctx, const char *service, void *svc, const struct sy_follow_list *fl)
{
	struct zk_svc *v = svc;
	struct sy_source_list l;
	char note[SY_RESOLVE_ERRLEN] = "";

	(void)ctx, (void)service;
	if (to_list(fl, &l)) {
		sy_source_set_error(v->s, "out of memory reading the list");
		return;
	}
	if (sy_service_update(v->s, l.revision, l.inst, l.n, true)) {
		snprintf(note, sizeof(note), "%s", sy_resolve_errmsg(v->s->r));
	} else {
		v->reachable = true;
		if (fl->skipped)
			snprintf(note, sizeof(note), "%u znodes skipped (not a backend), the last: %s",
				 fl->skipped, v->malformed);
	}
	sy_source_set_error(v->s, note);
	sy_source_list_free(&l);
}

static void on_malformed(void *ctx, const char *service, void *svc, const char *entry,
			 const char *why)
{
	struct zk_svc *v = svc;

	(void)ctx, (void)service;
	snprintf(v->malformed, sizeof(v->malformed), "%.60s: %s", entry, why);
}

/* After every round of the follower's: the resolver's tick once a second. */
static uint32_t on_tick(void *ctx, bool all_listed)
{
	struct zk_source *src = ctx;
	uint64_t now = sy_source_mono_ms();

	(void)all_listed;
	if (now >= src->next_tick) {
		sy_resolve_tick(src->r);
		src->next_tick = now + TICK_MS;
	}
	return (uint32_t)(src->next_tick - now);
}

static int zk_prepare(sy_resolver *r)
{
	struct zk_source *src = r->source;
	const struct sy_follow_sink sink = {
		.ctx = src, .listed = on_listed, .lost = on_lost, /* a connection: listed follows */
		.malformed = on_malformed, .tick = on_tick,
	};
	const struct sy_follow_conf fc = {
		.servers = src->servers,
		.prefix = src->prefix,
		.session_timeout_ms = r->cfg.zk_session_timeout_ms,
		.retry_initial_ms = r->cfg.retry_initial_ms,
		.retry_max_ms = r->cfg.retry_max_ms,
		/* a reader holds no znode: a new session after the back-off's bound */
		.renew_after_ms = r->cfg.retry_max_ms,
		.create_missing = false,
	};
	char err[SY_RESOLVE_ERRLEN];
	int rc = 0;

	pthread_mutex_lock(&src->mu);
	if (!src->f)
		rc = ops->open(&fc, &sink, &src->f, err, sizeof(err));
	pthread_mutex_unlock(&src->mu);
	if (rc)
		return sy_resolve_fail(r, SY_RESOLVE_ENOMEM, "%s", err);
	return SY_RESOLVE_OK;
}

/* The first open's read, in the caller's thread, on the follower's session. */
static int zk_fetch(sy_resolver *r, const char *name, struct sy_source_list *a, char *err,
		    size_t errlen)
{
	struct zk_source *src = r->source;
	struct sy_follow_list fl;
	int rc;

	if (ops->read_once(src->f, name, r->cfg.fetch_timeout_ms, &fl, err, errlen))
		return -1;
	rc = to_list(&fl, a);
	free((void *)fl.e);
	if (rc)
		return snprintf(err, errlen, "out of memory reading the list"), -1;
	return 0;
}

static int zk_watch(sy_resolve_service *s, bool have_rev, uint64_t rev)
{
	struct zk_source *src = s->r->source;
	struct zk_svc *v = calloc(1, sizeof(*v));

	(void)rev; /* the follower lists with watches and gives its own */
	if (!v)
		return sy_resolve_fail(s->r, SY_RESOLVE_ENOMEM, "out of memory watching %s", s->name);
	v->s = s;
	v->reachable = have_rev;
	pthread_mutex_lock(&src->mu);
	v->next = src->svcs;
	src->svcs = v;
	pthread_mutex_unlock(&src->mu);
	if (ops->follow(src->f, s->name, v))
		return sy_resolve_fail(s->r, SY_RESOLVE_ENOMEM, "out of memory watching %s", s->name);
	return SY_RESOLVE_OK;
}

static void zk_destroy(sy_resolver *r)
{
	struct zk_source *src = r->source;

	if (!src)
		return;
	if (src->f)
		ops->close(src->f); /* joins its thread: no sink call after */
	while (src->svcs) {
		struct zk_svc *v = src->svcs;

		src->svcs = v->next;
		free(v);
	}
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
