/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The etcd source: the keys sy-control's etcd source reads,
 *
 *   <prefix><service>/<address>:<port>  ->  {"weight":1,"zone":"a","metadata":{}}
 *
 * (put by `syctl register --registry etcd://...` with a lease: when an
 * agent dies its lease expires and etcd deletes the key), read through
 * etcd's v3 JSON gateway. Reading them is the registry client's follower
 * (control/registry/etcd_follow.c): one thread per resolver (started at the
 * first open) with, per opened service, a range read and a watch stream
 * from its revision; it hands each service's whole list here after every
 * change, to be published (sy_service_update) with etcd's revision.
 *
 * A request that failed (no connection, a timeout, an error answer, an
 * answer that does not parse) is noted (sy_resolve_source_error) and the
 * next endpoint is tried at once; when every endpoint failed (a whole round)
 * the service is unreachable: the last list keeps serving with state STALE
 * and the reason is kept; the next round waits a back-off (retry_initial_ms
 * doubling up to retry_max_ms). A compacted watch reads again; a watch
 * silent for watch_wait_ms is renewed; with etcd_username /
 * etcd_password_file every request carries a token, renewed when etcd
 * refuses it. Picks never wait for any of this.
 *
 * The first open of a service reads it once synchronously, in the caller's
 * thread (read_once, every endpoint within fetch_timeout_ms); the watch then
 * starts with a read of its own, on the endpoint that answered.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "follow.h"
#include "parse_etcd.h" /* sy_etcd_entry_to_inst */
#include "resolve_internal.h"

#define TICK_MS 1000 /* sy_resolve_tick */
#define DEFAULT_PREFIX "/switchyard/services/"

static const struct sy_follow_ops *const ops = &sy_etcd_follow_ops;

/* One opened service: the follower's svc. */
struct etcd_svc {
	struct etcd_svc *next;
	sy_resolve_service *s;
	bool reachable;           /* as last told to the service */
	unsigned malformed_n;     /* keys skipped since the last list */
	char malformed[SY_ETCD_SKIP_WHY]; /* the first of them, and why */
};

struct etcd_source {
	char *endpoints, *prefix, *user, *password_file;
	sy_resolver *r;
	struct sy_follower *f;    /* from prepare on */
	pthread_mutex_t mu;       /* guards f's start and svcs */
	struct etcd_svc *svcs;
	uint64_t next_tick;       /* the follower's thread's */
};

/* ---- configuration --------------------------------------------------------------------- */

static void free_source(struct etcd_source *src)
{
	free(src->endpoints);
	free(src->prefix);
	free(src->user);
	free(src->password_file);
	free(src);
}

/* How many endpoints the list names. */
static unsigned count_endpoints(const char *list)
{
	unsigned n = 0;

	for (const char *p = list; *p;) {
		size_t len = strcspn(p, ", ");

		n += len > 0;
		p += len;
		p += strspn(p, ", ");
	}
	return n;
}

static int etcd_create(sy_resolver *r)
{
	const struct sy_resolve_config *c = &r->cfg;
	const char *prefix = c->etcd_prefix && *c->etcd_prefix ? c->etcd_prefix : DEFAULT_PREFIX;
	const char *user = c->etcd_username && *c->etcd_username ? c->etcd_username : NULL;
	const char *pwf = c->etcd_password_file && *c->etcd_password_file ? c->etcd_password_file
									  : NULL;
	struct etcd_source *src;

	/* no endpoint, or a prefix sy-control would refuse: a bad argument */
	if (!count_endpoints(c->etcd_endpoints) || prefix[strlen(prefix) - 1] != '/' ||
	    c->etcd_timeout_ms == 0 || !user != !pwf) /* a user and a password go together */
		return SY_RESOLVE_EINVAL;
	if (!(src = calloc(1, sizeof(*src))))
		return SY_RESOLVE_ENOMEM;
	src->endpoints = strdup(c->etcd_endpoints);
	src->prefix = strdup(prefix);
	src->user = user ? strdup(user) : NULL;
	src->password_file = pwf ? strdup(pwf) : NULL;
	if (!src->endpoints || !src->prefix || (user && !src->user) || (pwf && !src->password_file)) {
		free_source(src);
		return SY_RESOLVE_ENOMEM;
	}
	src->r = r;
	pthread_mutex_init(&src->mu, NULL);
	r->source = src;
	return SY_RESOLVE_OK;
}

/* ---- the follower's sink --------------------------------------------------------------- */

/* Every endpoint failed for v: STALE with why. */
static void lost(struct etcd_svc *v, const char *why)
{
	sy_source_set_error(v->s, why);
	if (v->reachable) {
		v->reachable = false;
		sy_resolve_set_reachable(v->s, 0);
	}
}

static void on_lost(void *ctx, const char *service, void *svc, const char *why)
{
	struct etcd_source *src = ctx;

	(void)service;
	if (svc) {
		lost(svc, why);
		return;
	}
	pthread_mutex_lock(&src->mu);
	for (struct etcd_svc *v = src->svcs; v; v = v->next)
		lost(v, why);
	pthread_mutex_unlock(&src->mu);
}

/* A failure another endpoint may make up for, a watch stream that ended:
 * the reason, no state change. */
static void on_note(void *ctx, const char *service, void *svc, const char *why)
{
	struct etcd_svc *v = svc;

	(void)ctx, (void)service;
	sy_source_set_error(v->s, why);
}

/* The entries as the resolver's list: 0, or -1 (out of memory). */
static int to_list(const struct sy_follow_list *fl, struct sy_source_list *l)
{
	memset(l, 0, sizeof(*l));
	l->revision = fl->revision;
	l->table_size = SY_MAGLEV_DEFAULT_M; /* table size and seed are not in etcd */
	l->inst = calloc(fl->n ? fl->n : 1, sizeof(*l->inst));
	if (!l->inst)
		return -1;
	for (size_t i = 0; i < fl->n; i++)
		sy_etcd_entry_to_inst(&fl->e[i], &l->inst[i]);
	l->n = fl->n;
	return 0;
}

/* The service's list into the cache, and the source's note ("" or what
 * the answer skipped). */
static void on_listed(void *ctx, const char *service, void *svc, const struct sy_follow_list *fl)
{
	struct etcd_svc *v = svc;
	struct sy_source_list l;
	char note[SY_RESOLVE_ERRLEN] = "";

	(void)ctx, (void)service;
	if (to_list(fl, &l)) {
		sy_source_set_error(v->s, "out of memory reading the list");
	} else if (sy_service_update(v->s, l.revision, l.inst, l.n, true)) {
		snprintf(note, sizeof(note), "%s", sy_resolve_errmsg(v->s->r));
		sy_source_set_error(v->s, note);
	} else {
		v->reachable = true;
		if (fl->skipped)
			snprintf(note, sizeof(note), "%u key(s) skipped, the first: %s", fl->skipped,
				 v->malformed);
		sy_source_set_error(v->s, note);
	}
	sy_source_list_free(&l);
	v->malformed_n = 0;
}

static void on_malformed(void *ctx, const char *service, void *svc, const char *entry,
			 const char *why)
{
	struct etcd_svc *v = svc;

	(void)ctx, (void)service;
	if (!v->malformed_n++)
		snprintf(v->malformed, sizeof(v->malformed), "key \"%.80s\": %.100s", entry, why);
}

/* After every round of the follower's: the resolver's tick once a second. */
static uint32_t on_tick(void *ctx, bool all_listed)
{
	struct etcd_source *src = ctx;
	uint64_t now = sy_source_mono_ms();

	(void)all_listed;
	if (now >= src->next_tick) {
		sy_resolve_tick(src->r);
		src->next_tick = now + TICK_MS;
	}
	return (uint32_t)(src->next_tick - now);
}

static int etcd_prepare(sy_resolver *r)
{
	struct etcd_source *src = r->source;
	const struct sy_follow_sink sink = {
		.ctx = src, .listed = on_listed, .lost = on_lost, .note = on_note,
		.malformed = on_malformed, .tick = on_tick,
	};
	const struct sy_follow_conf fc = {
		.servers = src->endpoints,
		.prefix = src->prefix,
		.request_timeout_ms = r->cfg.etcd_timeout_ms,
		.retry_initial_ms = r->cfg.retry_initial_ms,
		.retry_max_ms = r->cfg.retry_max_ms,
		.renew_after_ms = r->cfg.watch_wait_ms, /* a silent watch is renewed */
		.user = src->user,
		.password_file = src->password_file,
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

/* The first open's read, in the caller's thread. */
static int etcd_fetch(sy_resolver *r, const char *name, struct sy_source_list *a, char *err,
		      size_t errlen)
{
	struct etcd_source *src = r->source;
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

static int etcd_watch(sy_resolve_service *s, bool have_rev, uint64_t rev)
{
	struct etcd_source *src = s->r->source;
	struct etcd_svc *v = calloc(1, sizeof(*v));

	(void)rev; /* the follower reads its own list first */
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

static void etcd_destroy(sy_resolver *r)
{
	struct etcd_source *src = r->source;

	if (!src)
		return;
	if (src->f)
		ops->close(src->f); /* joins its thread: no sink call after */
	while (src->svcs) {
		struct etcd_svc *v = src->svcs;

		src->svcs = v->next;
		free(v);
	}
	pthread_mutex_destroy(&src->mu);
	free_source(src);
	r->source = NULL;
}

const struct sy_source_ops sy_source_etcd_ops = {
	.name = "etcd",
	.lists_opts = false, /* etcd holds no Maglev parameters */
	.create = etcd_create,
	.prepare = etcd_prepare,
	.fetch = etcd_fetch,
	.watch = etcd_watch,
	.destroy = etcd_destroy,
};
