/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The resolver object: configuration, services, errors, and the per-thread
 * slots whose hazard pointers keep a snapshot alive while a pick reads it.
 *
 * Reclamation (hazard pointers, one per thread and resolver). A reader
 * loads the service's current snapshot, stores it in its slot's hazard
 * (seq_cst) and loads the current pointer again: if it is unchanged, the
 * writer's exchange comes after the hazard store in the single seq_cst
 * order, so the writer's scan of the hazards (after its exchange) sees it,
 * and does not free the snapshot until the hazard is cleared. A reader
 * never waits (at worst it retries because a writer swapped meanwhile); a
 * writer never waits either: what is still held stays on the service's
 * retired list and is looked at again at the next update (or at destroy).
 * At most one snapshot per thread can be held, so the retired list is
 * bounded by the number of threads plus one.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "resolve_internal.h"
#include "source_follow.h" /* sy_follow_source_wanted */

static uint64_t monotonic_ms(void *ctx)
{
	struct timespec ts;

	(void)ctx;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t sy_resolve_now(const sy_resolver *r)
{
	return r->cfg.clock_ms(r->cfg.clock_ctx);
}

void sy_resolve_config_default(struct sy_resolve_config *c)
{
	memset(c, 0, sizeof(*c));
	c->panic_threshold = 0.5;   /* sy-control's health.panic_threshold */
	c->panic_window_ms = 10000; /* health.panic_window_s */
	c->backoff_initial_ms = 1000;
	c->backoff_max_ms = 30000;
	c->watch_wait_ms = 30000;
	c->fetch_timeout_ms = 2000;
	c->retry_initial_ms = 200;
	c->retry_max_ms = 5000;
	c->etcd_timeout_ms = 2000;
	c->zk_session_timeout_ms = 10000; /* sy-control's registry.zookeeper default */
}

const char *sy_resolve_strerror(int err)
{
	switch (err) {
	case SY_RESOLVE_OK: return "success";
	case SY_RESOLVE_EINVAL: return "invalid argument";
	case SY_RESOLVE_ENOMEM: return "out of memory";
	case SY_RESOLVE_ENOENT: return "no such instance";
	case SY_RESOLVE_EEMPTY: return "no instance to pick";
	case SY_RESOLVE_EOLD: return "older revision";
	case SY_RESOLVE_ESOURCE: return "registry unreachable";
	default: return "unknown error";
	}
}

const char *sy_resolve_state_str(enum sy_resolve_state state)
{
	switch (state) {
	case SY_RESOLVE_NEW: return "new";
	case SY_RESOLVE_FRESH: return "fresh";
	case SY_RESOLVE_STALE: return "stale";
	case SY_RESOLVE_FAIL_STATIC: return "fail-static";
	}
	return "?";
}

/* A thread that exits gives its slot back (the key's destructor). */
static void slot_release(void *p)
{
	struct sy_slot *slot = p;

	atomic_store(&slot->hazard, NULL);
	atomic_store(&slot->in_use, 0);
}

/* The configuration's strings belong to the caller: keep copies, in one
 * block (the token is wiped at destroy). */
static int copy_strings(sy_resolver *r)
{
	const char **fields[] = { &r->cfg.registry_urls, &r->cfg.read_token,
				  &r->cfg.read_token_file, &r->cfg.etcd_endpoints,
				  &r->cfg.etcd_prefix, &r->cfg.zk_servers, &r->cfg.zk_prefix,
				  &r->cfg.etcd_username, &r->cfg.etcd_password_file,
				  &r->cfg.registry, &r->cfg.registry_username,
				  &r->cfg.registry_password_file, &r->cfg.registry_ca_file,
				  &r->cfg.registry_cert_file, &r->cfg.registry_key_file };
	size_t len = 0;
	char *p;

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		len += *fields[i] ? strlen(*fields[i]) + 1 : 0;
	if (!len)
		return SY_RESOLVE_OK;
	p = r->cfg_strings = malloc(len);
	if (!p)
		return SY_RESOLVE_ENOMEM;
	r->cfg_strings_len = len;
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		if (!*fields[i])
			continue;
		strcpy(p, *fields[i]);
		*fields[i] = p;
		p += strlen(p) + 1;
	}
	return SY_RESOLVE_OK;
}

/* The source c names (NULL: none). */
static const struct sy_source_ops *source_of(const struct sy_resolve_config *c)
{
	if (c && sy_str_set(c->registry_urls))
		return &sy_source_embedded_ops;
	if (c && sy_follow_source_wanted(c))
		return &sy_source_follow_ops;
	return NULL;
}

static int einval(char *why, size_t whylen, const char *what)
{
	snprintf(why, whylen, "%s", what);
	return SY_RESOLVE_EINVAL;
}

int sy_resolve_config_check(const struct sy_resolve_config *c, char *why, size_t whylen)
{
	const struct sy_source_ops *ops = source_of(c);
	char tmp[160];

	if (!why)
		why = tmp, whylen = sizeof(tmp);
	*why = 0;
	if (!c)
		return SY_RESOLVE_OK;
	/* the source: one per resolver */
	if (sy_str_set(c->registry_urls) + sy_str_set(c->registry) + sy_str_set(c->etcd_endpoints) +
		    sy_str_set(c->zk_servers) > 1)
		return einval(why, whylen, "one source per resolver: registry_urls, registry, "
					   "etcd_endpoints or zk_servers");
	if (c->panic_threshold < 0 || c->panic_threshold > 1)
		return einval(why, whylen, "panic_threshold out of 0..1");
	if (c->backoff_initial_ms == 0 || c->backoff_max_ms < c->backoff_initial_ms)
		return einval(why, whylen, "backoff_initial_ms 0, or above backoff_max_ms");
	/* the source's knobs matter only with a source (older callers leave
	 * them 0 without registry_urls) */
	if (ops && (c->watch_wait_ms == 0 || c->watch_wait_ms > 300000))
		return einval(why, whylen, "watch_wait_ms out of 1..300000");
	if (ops && c->fetch_timeout_ms == 0)
		return einval(why, whylen, "fetch_timeout_ms 0");
	if (ops && (c->retry_initial_ms == 0 || c->retry_max_ms < c->retry_initial_ms))
		return einval(why, whylen, "retry_initial_ms 0, or above retry_max_ms");
	if (ops == &sy_source_follow_ops)
		return sy_follow_source_check(c, why, whylen);
	return SY_RESOLVE_OK;
}

int sy_resolve_create(const struct sy_resolve_config *c, sy_resolver **out)
{
	const struct sy_source_ops *ops = source_of(c);
	sy_resolver *r;
	int rc;

	*out = NULL;
	if ((rc = sy_resolve_config_check(c, NULL, 0)))
		return rc;
	r = calloc(1, sizeof(*r));
	if (!r)
		return SY_RESOLVE_ENOMEM;
	if (c)
		r->cfg = *c;
	else
		sy_resolve_config_default(&r->cfg);
	if (!r->cfg.clock_ms)
		r->cfg.clock_ms = monotonic_ms;
	if ((rc = copy_strings(r))) {
		free(r);
		return rc;
	}
	r->source_ops = ops;
	if (ops && (rc = ops->create(r))) {
		free(r->cfg_strings);
		free(r);
		return rc;
	}
	if (pthread_key_create(&r->key, slot_release)) {
		if (ops)
			ops->destroy(r);
		free(r->cfg_strings);
		free(r);
		return SY_RESOLVE_ENOMEM;
	}
	pthread_mutex_init(&r->lock, NULL);
	atomic_init(&r->next_gen, 1);
	*out = r;
	return SY_RESOLVE_OK;
}

void sy_resolve_destroy(sy_resolver *r)
{
	struct sy_slot *slot;

	if (!r)
		return;
	/* the watch thread first: it uses the services and a slot */
	if (r->source_ops)
		r->source_ops->destroy(r);
	/* no destructor may run on a slot of ours after this */
	pthread_key_delete(r->key);
	for (struct sy_resolve_service *s = r->services, *next; s; s = next) {
		struct sy_snap *cur = atomic_load(&s->current);

		next = s->next;
		sy_service_reclaim(s, true);
		if (cur)
			sy_snap_free(cur);
		sy_svcb_free(&s->policy);
		pthread_mutex_destroy(&s->lock);
		free(s);
	}
	slot = atomic_load(&r->slots);
	while (slot) {
		struct sy_slot *next = atomic_load(&slot->next);

		free(slot->cur);
		free(slot);
		slot = next;
	}
	pthread_mutex_destroy(&r->lock);
	if (r->cfg_strings) {
		explicit_bzero(r->cfg_strings, r->cfg_strings_len);
		free(r->cfg_strings);
	}
	free(r);
}

struct sy_slot *sy_resolve_slot(sy_resolver *r)
{
	struct sy_slot *slot = pthread_getspecific(r->key);

	if (slot)
		return slot;
	pthread_mutex_lock(&r->lock);
	for (slot = atomic_load(&r->slots); slot; slot = atomic_load(&slot->next)) {
		int free_slot = 0;

		if (atomic_compare_exchange_strong(&slot->in_use, &free_slot, 1))
			break;
	}
	if (!slot) {
		slot = aligned_alloc(SY_RESOLVE_CACHELINE, sizeof(*slot));
		if (slot) {
			memset(slot, 0, sizeof(*slot));
			atomic_init(&slot->in_use, 1);
			slot->index = atomic_fetch_add(&r->n_slots, 1);
			atomic_store(&slot->next, atomic_load(&r->slots));
			atomic_store(&r->slots, slot);
		}
	}
	pthread_mutex_unlock(&r->lock);
	if (slot && pthread_setspecific(r->key, slot)) {
		atomic_store(&slot->in_use, 0);
		slot = NULL;
	}
	if (slot)
		slot->err[0] = 0;
	return slot;
}

int sy_resolve_fail(sy_resolver *r, int code, const char *fmt, ...)
{
	struct sy_slot *slot = sy_resolve_slot(r);
	va_list ap;

	if (slot) {
		va_start(ap, fmt);
		vsnprintf(slot->err, sizeof(slot->err), fmt, ap);
		va_end(ap);
	}
	return code;
}

const char *sy_resolve_errmsg(sy_resolver *r)
{
	struct sy_slot *slot = r ? sy_resolve_slot(r) : NULL;

	return slot ? slot->err : "";
}

struct sy_snap *sy_snap_acquire(struct sy_slot *slot, struct sy_resolve_service *s)
{
	struct sy_snap *p = atomic_load_explicit(&s->current, memory_order_acquire);

	while (p) {
		struct sy_snap *q;

		atomic_store_explicit(&slot->hazard, p, memory_order_seq_cst);
		q = atomic_load_explicit(&s->current, memory_order_seq_cst);
		if (q == p)
			return p;
		p = q;
	}
	atomic_store_explicit(&slot->hazard, NULL, memory_order_release);
	return NULL;
}

bool sy_snap_held(sy_resolver *r, const struct sy_snap *p)
{
	for (struct sy_slot *slot = atomic_load(&r->slots); slot; slot = atomic_load(&slot->next))
		if (atomic_load_explicit(&slot->hazard, memory_order_seq_cst) == p)
			return true;
	return false;
}

/* The open service `name`, NULL if none; under r->lock. */
static struct sy_resolve_service *find_service(sy_resolver *r, const char *name)
{
	struct sy_resolve_service *s;

	for (s = r->services; s; s = s->next)
		if (!strcmp(s->name, name))
			break;
	return s;
}

int sy_resolve_service_open(sy_resolver *r, const char *name,
			    const struct sy_resolve_service_opts *opts,
			    sy_resolve_service **out)
{
	struct sy_resolve_service_opts o = { 0 };
	struct sy_source_list first = { 0 };
	struct sy_policy policy = { 0 };
	struct sy_resolve_service *s;
	struct sy_snap *cur;
	/* NULL opts with a source that knows them: the balancer's, from it */
	bool opts_from_registry = !opts && r->source_ops && r->source_ops->lists_opts;
	bool fetched = false;
	char err[SY_RESOLVE_ERRLEN];
	int rc;

	*out = NULL;
	if (opts)
		o = *opts;
	if (!o.table_size)
		o.table_size = SY_MAGLEV_DEFAULT_M;
	if (!name || !*name || strlen(name) >= sizeof(s->name))
		return sy_resolve_fail(r, SY_RESOLVE_EINVAL, "service name empty or longer than %zu",
				       sizeof(s->name) - 1);
	if (sy_maglev_check_size(o.table_size, err, sizeof(err)))
		return sy_resolve_fail(r, SY_RESOLVE_EINVAL, "service %s: %s", name, err);
	pthread_mutex_lock(&r->lock);
	s = find_service(r, name);
	pthread_mutex_unlock(&r->lock);
	if (!s && r->source) {
		/* the first read, in the caller's thread, no lock held */
		if ((rc = r->source_ops->prepare(r)))
			return rc;
		fetched = r->source_ops->fetch(r, name, &first, err, sizeof(err)) == 0;
		if (!fetched && opts_from_registry)
			return sy_resolve_fail(r, SY_RESOLVE_ESOURCE,
					       "service %s: %s (the table size and seed come from "
					       "the registry's answer)", name, err);
		if (fetched && opts_from_registry) {
			char why[128];

			o.table_size = first.table_size;
			o.hash_seed = first.hash_seed;
			o.hash = first.hash;
			if (sy_maglev_check_size(o.table_size, why, sizeof(why))) {
				sy_source_list_free(&first);
				return sy_resolve_fail(r, SY_RESOLVE_ESOURCE,
						       "service %s: the registry's %s", name, why);
			}
		}
	}
	pthread_mutex_lock(&r->lock);
	s = find_service(r, name); /* another thread may have opened it meanwhile */
	if (s) {
		bool same;

		pthread_mutex_lock(&s->lock); /* a source may change followed opts */
		same = opts_from_registry || (s->opts.table_size == o.table_size &&
					      s->opts.hash_seed == o.hash_seed &&
					      s->opts.hash == o.hash);
		o = s->opts;
		pthread_mutex_unlock(&s->lock);

		pthread_mutex_unlock(&r->lock);
		sy_source_list_free(&first);
		if (!same)
			return sy_resolve_fail(r, SY_RESOLVE_EINVAL,
					       "service %s is open with table_size %u, hash_seed %u",
					       name, o.table_size, o.hash_seed);
		*out = s;
		return SY_RESOLVE_OK;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		pthread_mutex_unlock(&r->lock);
		sy_source_list_free(&first);
		return sy_resolve_fail(r, SY_RESOLVE_ENOMEM, "out of memory for service %s", name);
	}
	s->r = r;
	s->id = r->n_services++;
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->opts = o;
	s->opts_follow = opts_from_registry;
	pthread_mutex_init(&s->lock, NULL);
	policy.panic_threshold = r->cfg.panic_threshold;
	policy.panic_window_ms = r->cfg.panic_window_ms;
	sy_svcb_init(&s->policy, &policy);
	s->next = r->services;
	r->services = s;
	pthread_mutex_unlock(&r->lock);
	*out = s;
	if (!r->source)
		return SY_RESOLVE_OK;
	if (fetched && sy_service_update(s, first.revision, first.inst, first.n, true, "")) {
		snprintf(err, sizeof(err), "%s", sy_resolve_errmsg(r));
		fetched = false;
	}
	sy_source_list_free(&first);
	if (!fetched) {
		sy_source_set_error(s, err);
		sy_resolve_set_reachable(s, 0);
	}
	cur = atomic_load(&s->current);
	if ((rc = r->source_ops->watch(s, fetched, cur ? cur->revision : 0)))
		return rc;
	if (!fetched)
		return sy_resolve_fail(r, SY_RESOLVE_ESOURCE,
				       "service %s: %s (opened; the watch keeps trying)", name, err);
	return SY_RESOLVE_OK;
}

int sy_resolve_tick(sy_resolver *r)
{
	uint64_t now = sy_resolve_now(r);
	struct sy_resolve_service *first;
	int rc = SY_RESOLVE_OK;

	/* services are only ever pushed in front: walk them unlocked (an
	 * error message takes r->lock for a new thread's slot) */
	pthread_mutex_lock(&r->lock);
	first = r->services;
	pthread_mutex_unlock(&r->lock);
	for (struct sy_resolve_service *s = first; s; s = s->next) {
		pthread_mutex_lock(&s->lock);
		if (atomic_load(&s->current) && sy_svcb_due(&s->policy, now)) {
			int e = sy_service_republish(s, NULL, NULL, 0,
						       atomic_load(&s->current)->revision);

			if (e)
				rc = e;
		}
		pthread_mutex_unlock(&s->lock);
	}
	return rc;
}
