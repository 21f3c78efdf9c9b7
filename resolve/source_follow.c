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
	const struct sy_follow_ops *ops; /* the registry kind's follower */
	struct sy_follow_conf fc; /* its strings are ours */
	sy_resolver *r;
	struct sy_follower *f;    /* from prepare on */
	pthread_mutex_t mu;       /* guards f's start and svcs */
	struct follow_svc *svcs;
	uint64_t next_tick;       /* the follower's thread's */
};

/* ---- configuration --------------------------------------------------------------------- */

/* Every registry kind's follower (registry_kinds.h), by its URL scheme. */
#define KIND_OPS(ID, name, req, dir, sdesc, kdesc, a, b) &sy_##name##_follow_ops,
static const struct sy_follow_ops *const kinds[] = { SY_REGISTRY_KINDS(KIND_OPS, ~, ~) };
#undef KIND_OPS

static const struct sy_follow_ops *kind_of_url(const char *url)
{
	const char *end = strstr(url, "://");

	for (size_t i = 0; end && i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strlen(kinds[i]->scheme) == (size_t)(end - url) &&
		    !strncmp(url, kinds[i]->scheme, (size_t)(end - url)))
			return kinds[i];
	return NULL;
}

/* A registry's configuration as the resolver's fields give it, before the
 * checks every kind shares. */
struct registry {
	const struct sy_follow_ops *ops;
	char servers[2048], prefix[512];
	const char *user, *password_file, *ca_file, *cert_file, *key_file;
	uint32_t timeout_ms, session_timeout_ms;
};

/* The registry of c: the URL (registry), or etcd's or ZooKeeper's own
 * fields (older callers). SY_RESOLVE_OK, or SY_RESOLVE_EINVAL with why. */
static int registry_of(const struct sy_resolve_config *c, struct registry *g, char *why,
		       size_t whylen)
{
	*g = (struct registry){ 0 };
	if (sy_str_set(c->registry)) {
		if (!(g->ops = kind_of_url(c->registry)))
			return snprintf(why, whylen, "'%.80s' is no registry URL this library knows",
					c->registry),
			       SY_RESOLVE_EINVAL;
		if (g->ops->url_parse(c->registry, g->servers, sizeof(g->servers), g->prefix,
				      sizeof(g->prefix), why, whylen))
			return SY_RESOLVE_EINVAL;
		g->user = c->registry_username;
		g->password_file = c->registry_password_file;
		g->ca_file = c->registry_ca_file;
		g->cert_file = c->registry_cert_file;
		g->key_file = c->registry_key_file;
		g->timeout_ms = c->registry_timeout_ms ? c->registry_timeout_ms : 2000;
		g->session_timeout_ms =
			c->registry_session_timeout_ms ? c->registry_session_timeout_ms : 10000;
		if ((sy_str_set(g->ca_file) || sy_str_set(g->cert_file)) && g->ops->url_tls &&
		    g->ops->url_tls(g->servers, sizeof(g->servers)))
			return snprintf(why, whylen, "too many servers"), SY_RESOLVE_EINVAL;
		return SY_RESOLVE_OK;
	}
	if (sy_str_set(c->etcd_endpoints)) {
		g->ops = &sy_etcd_follow_ops;
		snprintf(g->servers, sizeof(g->servers), "%s", c->etcd_endpoints);
		snprintf(g->prefix, sizeof(g->prefix), "%s",
			 sy_str_set(c->etcd_prefix) ? c->etcd_prefix : g->ops->default_prefix);
		g->user = c->etcd_username;
		g->password_file = c->etcd_password_file;
		g->timeout_ms = c->etcd_timeout_ms;
	} else {
		g->ops = &sy_zookeeper_follow_ops;
		snprintf(g->servers, sizeof(g->servers), "%s", c->zk_servers ? c->zk_servers : "");
		snprintf(g->prefix, sizeof(g->prefix), "%s",
			 sy_str_set(c->zk_prefix) ? c->zk_prefix : g->ops->default_prefix);
		g->session_timeout_ms = c->zk_session_timeout_ms;
		g->timeout_ms = 2000;
	}
	return SY_RESOLVE_OK;
}

/* What sy-control would refuse too. */
static int registry_check(const struct registry *g, char *why, size_t whylen)
{
	size_t n = strlen(g->prefix);

	if (!g->servers[g->servers[0] ? strspn(g->servers, ", ") : 0])
		return snprintf(why, whylen, "no server"), SY_RESOLVE_EINVAL;
	if (n >= 256 || sy_registry_prefix_check(g->prefix, g->ops->prefix_folder))
		return snprintf(why, whylen, "prefix '%.80s': must start with '/' and %s", g->prefix,
				g->ops->prefix_folder ? "end with it" : "not end with it"),
		       SY_RESOLVE_EINVAL;
	if (!g->timeout_ms)
		return snprintf(why, whylen, "a request timeout of 0"), SY_RESOLVE_EINVAL;
	if (g->ops->sessions && (g->session_timeout_ms < 1000 || g->session_timeout_ms > 600000))
		return snprintf(why, whylen, "a session timeout out of 1000..600000 ms"),
		       SY_RESOLVE_EINVAL;
	if ((sy_str_set(g->user) || sy_str_set(g->password_file)) && !g->ops->auth)
		return snprintf(why, whylen, "%s takes no user and password", g->ops->name),
		       SY_RESOLVE_EINVAL;
	if ((sy_str_set(g->ca_file) || sy_str_set(g->cert_file) || sy_str_set(g->key_file)) &&
	    !g->ops->tls)
		return snprintf(why, whylen, "%s takes no TLS files", g->ops->name),
		       SY_RESOLVE_EINVAL;
	if (!sy_str_set(g->user) != !sy_str_set(g->password_file))
		return snprintf(why, whylen, "a user and a password file go together"),
		       SY_RESOLVE_EINVAL;
	/* ZooKeeper's digest scheme splits "user:password" at the first ':' */
	if (sy_str_set(g->user) && !strcmp(g->ops->name, "zookeeper") && strchr(g->user, ':'))
		return snprintf(why, whylen, "a digest user name has no ':'"), SY_RESOLVE_EINVAL;
	if (!sy_str_set(g->cert_file) != !sy_str_set(g->key_file))
		return snprintf(why, whylen, "a client certificate and its key go together"),
		       SY_RESOLVE_EINVAL;
	return SY_RESOLVE_OK;
}

int sy_follow_source_check(const struct sy_resolve_config *c, char *why, size_t whylen)
{
	struct registry g;
	int rc = registry_of(c, &g, why, whylen);

	return rc ? rc : registry_check(&g, why, whylen);
}

int sy_resolve_registry_check(const char *url, char *why, size_t whylen)
{
	struct sy_resolve_config c = { .registry = url };
	struct registry g;
	char tmp[160];
	int rc;

	if (!why)
		why = tmp, whylen = sizeof(tmp);
	*why = 0;
	if (!sy_str_set(url))
		return snprintf(why, whylen, "no URL"), SY_RESOLVE_EINVAL;
	rc = registry_of(&c, &g, why, whylen);
	return rc ? rc : registry_check(&g, why, whylen);
}

static void free_source(struct follow_source *src)
{
	free((char *)src->fc.servers);
	free((char *)src->fc.prefix);
	free((char *)src->fc.user);
	free((char *)src->fc.password_file);
	free((char *)src->fc.ca_file);
	free((char *)src->fc.cert_file);
	free((char *)src->fc.key_file);
	free(src);
}

static char *dup_or_null(const char *s)
{
	return sy_str_set(s) ? strdup(s) : NULL;
}

bool sy_follow_source_wanted(const struct sy_resolve_config *c)
{
	return sy_str_set(c->registry) || sy_str_set(c->etcd_endpoints) ||
	       sy_str_set(c->zk_servers);
}

int sy_follow_source_create(sy_resolver *r)
{
	const struct sy_resolve_config *c = &r->cfg;
	struct follow_source *src;
	struct registry g;
	char why[160];
	int rc = registry_of(c, &g, why, sizeof(why));

	if (rc || (rc = registry_check(&g, why, sizeof(why))))
		return rc;
	if (!(src = calloc(1, sizeof(*src))))
		return SY_RESOLVE_ENOMEM;
	src->fc = (struct sy_follow_conf){
		.servers = strdup(g.servers),
		.prefix = strdup(g.prefix),
		.session_timeout_ms = g.session_timeout_ms,
		.request_timeout_ms = g.timeout_ms,
		.retry_initial_ms = c->retry_initial_ms,
		.retry_max_ms = c->retry_max_ms,
		/* a session kind: a reader holds no entry, a new session after
		 * the back-off's bound; else a silent watch is renewed */
		.renew_after_ms = g.ops->sessions ? c->retry_max_ms : c->watch_wait_ms,
		.create_missing = false,
		.user = dup_or_null(g.user),
		.password_file = dup_or_null(g.password_file),
		.ca_file = dup_or_null(g.ca_file),
		.cert_file = dup_or_null(g.cert_file),
		.key_file = dup_or_null(g.key_file),
	};
	if (!src->fc.servers || !src->fc.prefix || !src->fc.user != !sy_str_set(g.user) ||
	    !src->fc.password_file != !sy_str_set(g.password_file) ||
	    !src->fc.ca_file != !sy_str_set(g.ca_file) ||
	    !src->fc.cert_file != !sy_str_set(g.cert_file) ||
	    !src->fc.key_file != !sy_str_set(g.key_file)) {
		free_source(src);
		return SY_RESOLVE_ENOMEM;
	}
	src->ops = g.ops;
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

/* The service's list into the cache with the source's note on it ("" or
 * what was skipped), published together; else the reason it was not. */
static void on_listed(void *ctx, const char *service, void *svc, const struct sy_follow_list *fl)
{
	struct follow_source *src = ctx;
	struct follow_svc *v = svc;
	struct sy_source_list l;
	char note[SY_RESOLVE_ERRLEN] = "";

	(void)service;
	if (fl->skipped)
		snprintf(note, sizeof(note), "%u %s, the %s: %s", fl->skipped, src->ops->skipped,
			 src->ops->first_skip ? "first" : "last", v->malformed);
	if (to_list(fl, &l))
		sy_source_set_error(v->s, "out of memory reading the list");
	else if (sy_service_update(v->s, l.revision, l.inst, l.n, true, note))
		sy_source_set_error(v->s, sy_resolve_errmsg(v->s->r));
	else
		v->reachable = true;
	sy_source_list_free(&l);
	v->malformed_n = 0;
}

static void on_malformed(void *ctx, const char *service, void *svc, const char *entry,
			 const char *why)
{
	struct follow_source *src = ctx;
	struct follow_svc *v = svc;

	(void)service;
	if (v->malformed_n++ && src->ops->first_skip)
		return;
	if (src->ops->quote_key)
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
		rc = src->ops->open(&src->fc, &sink, &src->f, err, sizeof(err));
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

	if (src->ops->read_once(src->f, name, r->cfg.fetch_timeout_ms, &fl, err, errlen))
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
	if (src->ops->follow(src->f, s->name, v))
		return sy_resolve_fail(s->r, SY_RESOLVE_ENOMEM, "out of memory watching %s", s->name);
	return SY_RESOLVE_OK;
}

void sy_follow_source_destroy(sy_resolver *r)
{
	struct follow_source *src = r->source;

	if (!src)
		return;
	if (src->f)
		src->ops->close(src->f); /* joins its thread: no sink call after */
	while (src->svcs) {
		struct follow_svc *v = src->svcs;

		src->svcs = v->next;
		free(v);
	}
	pthread_mutex_destroy(&src->mu);
	free_source(src);
	r->source = NULL;
}

const struct sy_source_ops sy_source_follow_ops = {
	.name = "follow",
	.lists_opts = false, /* the registries hold no Maglev parameters */
	.create = sy_follow_source_create,
	.prepare = sy_follow_source_prepare,
	.fetch = sy_follow_source_fetch,
	.watch = sy_follow_source_watch,
	.destroy = sy_follow_source_destroy,
};
