/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The resolver's adapter on a registry's follower; see source_follow.h.
 * One follower (one thread, started at the first open) per resolver keeps
 * every opened service current and hands its whole list here after every
 * change, to be published (sy_service_update) with the registry's revision.
 *
 * When the follower says the registry or a service is lost, the service is
 * unreachable: the last list keeps serving with state STALE and the reason
 * in sy_resolve_source_error; the next list makes it FRESH again. A note
 * (a request another endpoint may make up for, a watch stream that ended)
 * sets the reason only. The first open of a service reads it once in the
 * caller's thread (read_once). Picks never wait for any of this.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcd_kv.h" /* struct sy_etcd_entry */
#include "source_follow.h"

#define TICK_MS 1000 /* sy_resolve_tick */

/* One opened service: the follower's svc. */
struct follow_svc {
	struct follow_svc *next;
	sy_resolve_service *s;
	bool reachable;           /* as last told to the service */
	unsigned malformed_n;     /* entries skipped since the last list */
	char malformed[200];      /* the first (or last) of them, and why */
};

struct follow_source {
	const struct sy_follow_kind *kind;
	struct sy_follow_conf fc; /* its strings are ours */
	sy_resolver *r;
	struct sy_follower *f;    /* from prepare on */
	pthread_mutex_t mu;       /* guards f's start and svcs */
	struct follow_svc *svcs;
	uint64_t next_tick;       /* the follower's thread's */
};

/* ---- configuration --------------------------------------------------------------------- */

static void free_source(struct follow_source *src)
{
	free((char *)src->fc.servers);
	free((char *)src->fc.prefix);
	free((char *)src->fc.user);
	free((char *)src->fc.password_file);
	free(src);
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

int sy_follow_source_create(sy_resolver *r, const struct sy_follow_kind *kind)
{
	struct sy_follow_conf in = { 0 };
	struct follow_source *src;
	int rc = kind->conf(&r->cfg, &in);

	if (rc)
		return rc;
	if (!(src = calloc(1, sizeof(*src))))
		return SY_RESOLVE_ENOMEM;
	src->fc = in;
	src->fc.servers = dup_or_null(in.servers);
	src->fc.prefix = dup_or_null(in.prefix);
	src->fc.user = dup_or_null(in.user);
	src->fc.password_file = dup_or_null(in.password_file);
	if (!src->fc.servers != !in.servers || !src->fc.prefix != !in.prefix ||
	    !src->fc.user != !in.user || !src->fc.password_file != !in.password_file) {
		free_source(src);
		return SY_RESOLVE_ENOMEM;
	}
	src->kind = kind;
	src->r = r;
	pthread_mutex_init(&src->mu, NULL);
	r->source = src;
	return SY_RESOLVE_OK;
}

/* ---- the follower's sink --------------------------------------------------------------- */

/* The registry is lost for v: STALE with why. */
static void lost(struct follow_svc *v, const char *why)
{
	sy_source_set_error(v->s, why);
	if (v->reachable) {
		v->reachable = false;
		sy_resolve_set_reachable(v->s, 0);
	}
}

static void on_lost(void *ctx, const char *service, void *svc, const char *why)
{
	struct follow_source *src = ctx;

	(void)service;
	if (svc) {
		lost(svc, why);
		return;
	}
	pthread_mutex_lock(&src->mu);
	for (struct follow_svc *v = src->svcs; v; v = v->next)
		lost(v, why);
	pthread_mutex_unlock(&src->mu);
}

/* A failure another endpoint may make up for, a watch stream that ended:
 * the reason, no state change. */
static void on_note(void *ctx, const char *service, void *svc, const char *why)
{
	struct follow_svc *v = svc;

	(void)ctx, (void)service;
	sy_source_set_error(v->s, why);
}

/* A registry entry (an etcd key/value, a ZooKeeper child) as an instance. */
static void entry_to_inst(const struct sy_etcd_entry *e, struct sy_resolve_instance *x)
{
	memset(x, 0, sizeof(*x));
	x->addr.family = e->id.family == SY_AF_INET6 ? 6 : 4;
	memcpy(x->addr.bytes, e->id.addr, x->addr.family == 6 ? 16 : 4);
	x->port = e->id.port;
	x->weight = e->weight;
	snprintf(x->zone, sizeof(x->zone), "%s", e->zone);
}

/* The entries as the resolver's list: 0, or -1 (out of memory). Table
 * size and seed are not in these registries. */
static int to_list(const struct sy_follow_list *fl, struct sy_source_list *l)
{
	memset(l, 0, sizeof(*l));
	l->revision = fl->revision;
	l->table_size = SY_MAGLEV_DEFAULT_M;
	l->inst = calloc(fl->n ? fl->n : 1, sizeof(*l->inst));
	if (!l->inst)
		return -1;
	for (size_t i = 0; i < fl->n; i++)
		entry_to_inst(&fl->e[i], &l->inst[i]);
	l->n = fl->n;
	return 0;
}

/* The service's list into the cache, and the source's note ("" or what
 * was skipped). */
static void on_listed(void *ctx, const char *service, void *svc, const struct sy_follow_list *fl)
{
	struct follow_source *src = ctx;
	struct follow_svc *v = svc;
	struct sy_source_list l;
	char note[SY_RESOLVE_ERRLEN] = "";

	(void)service;
	if (to_list(fl, &l)) {
		snprintf(note, sizeof(note), "out of memory reading the list");
	} else if (sy_service_update(v->s, l.revision, l.inst, l.n, true)) {
		snprintf(note, sizeof(note), "%s", sy_resolve_errmsg(v->s->r));
	} else {
		v->reachable = true;
		if (fl->skipped)
			snprintf(note, sizeof(note), "%u %s, the %s: %s", fl->skipped,
				 src->kind->skipped, src->kind->first_skip ? "first" : "last",
				 v->malformed);
	}
	sy_source_set_error(v->s, note);
	sy_source_list_free(&l);
	v->malformed_n = 0;
}

static void on_malformed(void *ctx, const char *service, void *svc, const char *entry,
			 const char *why)
{
	struct follow_source *src = ctx;
	struct follow_svc *v = svc;

	(void)service;
	if (v->malformed_n++ && src->kind->first_skip)
		return;
	if (src->kind->quote_key)
		snprintf(v->malformed, sizeof(v->malformed), "key \"%.80s\": %.100s", entry, why);
	else
		snprintf(v->malformed, sizeof(v->malformed), "%.60s: %.100s", entry, why);
}

/* After every round of the follower's: the resolver's tick once a second. */
static uint32_t on_tick(void *ctx, bool all_listed)
{
	struct follow_source *src = ctx;
	uint64_t now = sy_source_mono_ms();

	(void)all_listed;
	if (now >= src->next_tick) {
		sy_resolve_tick(src->r);
		src->next_tick = now + TICK_MS;
	}
	return (uint32_t)(src->next_tick - now);
}

/* ---- the source's operations ------------------------------------------------------------ */

int sy_follow_source_prepare(sy_resolver *r)
{
	struct follow_source *src = r->source;
	const struct sy_follow_sink sink = {
		.ctx = src, .listed = on_listed, .lost = on_lost, .note = on_note,
		.malformed = on_malformed, .tick = on_tick,
	};
	char err[SY_RESOLVE_ERRLEN];
	int rc = 0;

	pthread_mutex_lock(&src->mu);
	if (!src->f)
		rc = src->kind->ops->open(&src->fc, &sink, &src->f, err, sizeof(err));
	pthread_mutex_unlock(&src->mu);
	if (rc)
		return sy_resolve_fail(r, SY_RESOLVE_ENOMEM, "%s", err);
	return SY_RESOLVE_OK;
}

/* The first open's read, in the caller's thread. */
int sy_follow_source_fetch(sy_resolver *r, const char *name, struct sy_source_list *a, char *err,
			   size_t errlen)
{
	struct follow_source *src = r->source;
	struct sy_follow_list fl;
	int rc;

	if (src->kind->ops->read_once(src->f, name, r->cfg.fetch_timeout_ms, &fl, err, errlen))
		return -1;
	rc = to_list(&fl, a);
	free((void *)fl.e);
	if (rc)
		return snprintf(err, errlen, "out of memory reading the list"), -1;
	return 0;
}

int sy_follow_source_watch(sy_resolve_service *s, bool have_rev, uint64_t rev)
{
	struct follow_source *src = s->r->source;
	struct follow_svc *v = calloc(1, sizeof(*v));

	(void)rev; /* the follower reads its own list first */
	if (!v)
		return sy_resolve_fail(s->r, SY_RESOLVE_ENOMEM, "out of memory watching %s", s->name);
	v->s = s;
	v->reachable = have_rev;
	pthread_mutex_lock(&src->mu);
	v->next = src->svcs;
	src->svcs = v;
	pthread_mutex_unlock(&src->mu);
	if (src->kind->ops->follow(src->f, s->name, v))
		return sy_resolve_fail(s->r, SY_RESOLVE_ENOMEM, "out of memory watching %s", s->name);
	return SY_RESOLVE_OK;
}

void sy_follow_source_destroy(sy_resolver *r)
{
	struct follow_source *src = r->source;

	if (!src)
		return;
	if (src->f)
		src->kind->ops->close(src->f); /* joins its thread: no sink call after */
	while (src->svcs) {
		struct follow_svc *v = src->svcs;

		src->svcs = v->next;
		free(v);
	}
	pthread_mutex_destroy(&src->mu);
	free_source(src);
	r->source = NULL;
}
