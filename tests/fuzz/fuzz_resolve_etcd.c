/* SPDX-License-Identifier: BSD-3-Clause
 *
 * libFuzzer target: the registry client's reader of etcd's JSON gateway
 * answers (control/registry/etcd_answers.c: a kv/range answer, a watch
 * stream's line, each key/value read by control/registry/etcd_kv.c, and
 * the changes a line makes to a service's list), what the etcd follower's
 * thread (control/registry/etcd_follow.c) reads from the network for
 * sy-control's etcd source and libswitchyard-resolve's.
 *
 * Input: the first byte selects the answer (bit 0: a watch line, else a
 * range; bit 2: a follow, both: a range answer, then watch lines after it,
 * one per '\n', applied in order to its list as the follower does) and
 * the service ("web" or "api", bit 1); the rest is the body, given with its
 * length and without a terminating NUL.
 *
 * Invariants (abort on violation):
 *   - a range's result is 0, EINVAL or ENOMEM, a watch line's kind EVENTS,
 *     COMPACTED (at a revision above 0) or FAILED; an error has a
 *     non-empty message and leaves nothing allocated;
 *   - every backend accepted is sane: the service asked for, family 4 or 6
 *     (IPv4 words past the first zero), a possible backend address, port
 *     1..65535, weight 0..65535, zone and metadata terminated;
 *   - every key of a range is a backend of the list or skipped, once, with
 *     a reason; every event of a line is one change; skipped events are
 *     the changes that are no backend's or that hold a bad key;
 *   - a list holds no identity twice and no bad key twice, and finds each
 *     where it is (sy_etcd_list_find, sy_etcd_list_bad), after a range and
 *     after each watch line applied;
 *   - a watch line's changes applied twice leave the same list (as a set);
 *   - parsing is deterministic.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "etcd_answers.h"
#include "netaddr.h" /* sy_backend_addr_unusable */

#define FUZZ_TARGET "fuzz_resolve_etcd"
#include "fuzz_check.h"

#define MAX_INPUT 65536
#define PFX "/switchyard/services/"

struct skips {
	size_t n;
};

static void on_skip(void *ctx, const char *key, const char *why)
{
	struct skips *sk = ctx;

	CHECK(key, "a key skipped without a name");
	CHECK(why && why[0], "key \"%.80s\" skipped without a reason", key);
	sk->n++;
}

static void check_entry(const struct sy_etcd_entry *e, const char *service, bool whole, size_t i)
{
	CHECK(!strcmp(e->service, service), "entry %zu: service \"%.64s\"", i, e->service);
	CHECK(e->id.family == SY_AF_INET || e->id.family == SY_AF_INET6, "entry %zu: family %u", i,
	      e->id.family);
	CHECK(e->id.family == SY_AF_INET6 || (!e->id.addr[1] && !e->id.addr[2] && !e->id.addr[3]),
	      "entry %zu: IPv4 with words past the first", i);
	CHECK(!sy_backend_addr_unusable(e->id.family, e->id.addr), "entry %zu: an unusable address",
	      i);
	CHECK(e->id.port >= 1, "entry %zu: port 0", i);
	if (!whole) /* a delete: the key only */
		return;
	CHECK(e->weight <= 65535, "entry %zu: weight %u", i, e->weight);
	CHECK(memchr(e->zone, 0, sizeof(e->zone)), "entry %zu: zone not terminated", i);
	CHECK(memchr(e->metadata, 0, sizeof(e->metadata)), "entry %zu: metadata not terminated", i);
}

static bool same_entry(const struct sy_etcd_entry *a, const struct sy_etcd_entry *b)
{
	return !sy_backend_id_cmp(&a->id, &b->id) && !strcmp(a->service, b->service) &&
	       a->weight == b->weight && a->server_id == b->server_id &&
	       !strcmp(a->zone, b->zone) && !strcmp(a->metadata, b->metadata);
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sane entries, each found where it is (so none twice); bad keys each
 * held once. */
static void check_list(const struct sy_etcd_list *l, const char *service)
{
	char **k;

	CHECK(l->n <= l->e_cap && l->n_bad <= l->bad_cap, "a list past its room");
	for (size_t i = 0; i < l->n; i++) {
		size_t at = sy_etcd_list_find(l, &l->e[i].id);

		check_entry(&l->e[i], service, true, i);
		CHECK(at == i, "entry %zu found at %zu (of %zu)", i, at, l->n);
	}
	if (!l->n_bad)
		return;
	k = malloc(l->n_bad * sizeof(*k));
	if (!k)
		return;
	for (size_t i = 0; i < l->n_bad; i++) {
		CHECK(sy_etcd_list_bad(l, l->bad[i]), "bad key %zu not found", i);
		k[i] = l->bad[i];
	}
	qsort(k, l->n_bad, sizeof(*k), str_cmp);
	for (size_t i = 1; i < l->n_bad; i++)
		CHECK(strcmp(k[i - 1], k[i]), "a bad key held twice");
	free(k);
}

/* The size of an array at a path of the body, 0 if there is none. */
static size_t array_size(const char *body, size_t len, const char *outer, const char *name)
{
	json_t *j = json_loadb(body, len, 0, NULL);
	const json_t *o = outer ? json_object_get(j, outer) : j;
	size_t n = json_array_size(json_object_get(o, name));

	json_decref(j);
	return n;
}

/* 0 and *l, or an error (nothing held). */
static int range(const char *body, size_t len, const char *service, struct sy_etcd_list *l)
{
	struct sy_etcd_list b;
	struct skips sk = { 0 }, sk2 = { 0 };
	char err[256] = "", err2[256];
	int rc = sy_etcd_parse_range(body, len, PFX, service, l, on_skip, &sk, err, sizeof(err));

	CHECK(rc == 0 || rc == EINVAL || rc == ENOMEM, "rc %d", rc);
	if (rc) {
		CHECK(err[0], "error %d without a message", rc);
		CHECK(!l->e && !l->n && !l->bad && !l->n_bad, "an error left a list of %zu", l->n);
		return rc;
	}
	check_list(l, service);
	CHECK(l->n + sk.n == array_size(body, len, NULL, "kvs"),
	      "%zu backends and %zu skipped of %zu keys", l->n, sk.n,
	      array_size(body, len, NULL, "kvs"));
	CHECK(l->n_bad <= sk.n, "%zu bad keys held, %zu skipped", l->n_bad, sk.n);
	rc = sy_etcd_parse_range(body, len, PFX, service, &b, on_skip, &sk2, err2, sizeof(err2));
	CHECK(rc == 0 && b.revision == l->revision && b.n == l->n && b.n_bad == l->n_bad &&
		      sk2.n == sk.n,
	      "a second parse differs");
	for (size_t i = 0; i < b.n; i++)
		CHECK(same_entry(&b.e[i], &l->e[i]), "a second parse differs at entry %zu", i);
	for (size_t i = 0; i < b.n_bad; i++)
		CHECK(!strcmp(b.bad[i], l->bad[i]), "a second parse differs at bad key %zu", i);
	sy_etcd_list_free(&b);
	return 0;
}

static void same_watch(const struct sy_etcd_watch *a, const struct sy_etcd_watch *b)
{
	CHECK(a->kind == b->kind && a->created == b->created &&
		      a->compact_revision == b->compact_revision && a->revision == b->revision &&
		      a->n == b->n,
	      "a second parse differs");
	for (size_t i = 0; i < a->n; i++) {
		const struct sy_etcd_change *x = &a->ch[i], *y = &b->ch[i];

		CHECK(x->backend == y->backend && x->gone == y->gone && x->bad == y->bad &&
			      !x->key == !y->key && (!x->key || !strcmp(x->key, y->key)) &&
			      (!x->backend || !sy_backend_id_cmp(&x->e.id, &y->e.id)) &&
			      (!x->backend || x->gone || same_entry(&x->e, &y->e)),
		      "a second parse differs at change %zu", i);
	}
}

/* A watch line, applied (twice) to l. */
static void watch(const char *line, size_t len, const char *service, struct sy_etcd_list *l)
{
	struct sy_etcd_watch w, w2;
	struct skips sk = { 0 }, sk2 = { 0 };
	struct sy_etcd_entry *snap = NULL;
	char err[256] = "", err2[256];
	enum sy_etcd_watch_kind k = sy_etcd_parse_watch(line, len, PFX, service, &w, on_skip, &sk,
							 err, sizeof(err));
	size_t n, n_bad, skipped = 0;

	CHECK(k == w.kind, "returned %d, kind %d", k, w.kind);
	CHECK(k == SY_ETCD_WATCH_EVENTS || k == SY_ETCD_WATCH_COMPACTED || k == SY_ETCD_WATCH_FAILED,
	      "kind %d", k);
	if (k == SY_ETCD_WATCH_FAILED) {
		CHECK(err[0], "a failed line without a message");
		CHECK(!w.ch && !w.n && !w.line, "a failed line left %zu changes", w.n);
		return;
	}
	if (k == SY_ETCD_WATCH_COMPACTED) {
		CHECK(w.compact_revision, "compacted at revision 0");
		CHECK(!w.ch && !w.n && !w.line, "a compacted line left %zu changes", w.n);
		return;
	}
	CHECK(w.n == array_size(line, len, "result", "events"), "%zu changes of %zu events", w.n,
	      array_size(line, len, "result", "events"));
	for (size_t i = 0; i < w.n; i++) {
		const struct sy_etcd_change *c = &w.ch[i];

		CHECK(!c->gone || c->backend, "change %zu: gone, no backend", i);
		if (c->backend)
			check_entry(&c->e, service, !c->gone, i);
		skipped += !c->backend || c->bad;
	}
	CHECK(skipped == sk.n, "%zu skipped, %zu changes that are no backend's", sk.n, skipped);
	k = sy_etcd_parse_watch(line, len, PFX, service, &w2, on_skip, &sk2, err2, sizeof(err2));
	same_watch(&w, &w2);
	CHECK(sk2.n == sk.n, "a second parse skips %zu, not %zu", sk2.n, sk.n);
	sy_etcd_watch_free(&w2);

	/* twice: the second application changes nothing */
	if (sy_etcd_list_apply(l, w.ch, w.n) == 0) {
		check_list(l, service);
		n = l->n;
		n_bad = l->n_bad;
		snap = n ? malloc(n * sizeof(*snap)) : NULL;
		if (snap)
			memcpy(snap, l->e, n * sizeof(*snap));
		if (sy_etcd_list_apply(l, w.ch, w.n) == 0) {
			check_list(l, service);
			CHECK(l->n == n && l->n_bad == n_bad,
			      "a replay changed the list: %zu -> %zu backends, %zu -> %zu bad keys", n,
			      l->n, n_bad, l->n_bad);
			for (size_t i = 0; snap && i < n; i++) {
				size_t at = sy_etcd_list_find(l, &snap[i].id);

				CHECK(at < l->n && same_entry(&l->e[at], &snap[i]),
				      "a replay changed entry %zu", i);
			}
		}
		free(snap);
	}
	sy_etcd_watch_free(&w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sy_etcd_list l = { 0 };
	const char *service;
	char *body;
	size_t len;

	if (size < 1 || size > MAX_INPUT)
		return 0;
	service = data[0] & 2 ? "api" : "web";
	len = size - 1;
	/* an exact-size copy: reading past the end is an ASan report */
	body = malloc(len ? len : 1);
	if (!body)
		return 0;
	memcpy(body, data + 1, len);
	if (data[0] & 4) { /* a follow: a range, then watch lines */
		const char *nl = memchr(body, '\n', len), *end = body + len;

		if (!range(body, nl ? (size_t)(nl - body) : len, service, &l)) {
			for (const char *p = nl ? nl + 1 : end; p < end;) {
				const char *e = memchr(p, '\n', (size_t)(end - p));

				if (!e)
					e = end;
				if (e > p) /* as the follower: empty lines are none */
					watch(p, (size_t)(e - p), service, &l);
				p = e + 1;
			}
		}
	} else if (data[0] & 1) {
		watch(body, len, service, &l);
	} else {
		range(body, len, service, &l);
	}
	sy_etcd_list_free(&l);
	free(body);
	return 0;
}
