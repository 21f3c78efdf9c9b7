/* SPDX-License-Identifier: BSD-3-Clause
 *
 * What etcd's range and watch answers mean for one service's list; see
 * etcd_answers.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcd_answers.h"
#include "netaddr.h" /* sy_format_endpoint */

static void skipped(sy_etcd_skip_fn *skip, void *ctx, const char *key, const char *why)
{
	if (skip)
		skip(ctx, key, why);
}

static json_t *load(const char *body, size_t len, const char *what, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *j = json_loadb(body, len, 0, &jerr);

	if (!j) {
		snprintf(err, errlen, "%s: not JSON: %s (line %d)", what, jerr.text, jerr.line);
	} else if (!json_is_object(j)) {
		snprintf(err, errlen, "%s: not a JSON object", what);
		json_decref(j);
		j = NULL;
	}
	return j;
}

/* kv -> e: 1 a backend of service, 0 skipped, -1 a key of service's whose
 * value is no backend's (e->id set: the backend leaves). */
static int read_kv(const json_t *kv, const char *prefix, const char *service, bool with_value,
		   struct sy_etcd_entry *e, sy_etcd_skip_fn *skip, void *ctx)
{
	char key[120], why[160];
	int rc = sy_etcd_kv_parse(kv, prefix, with_value, e, key, sizeof(key), why, sizeof(why));

	if (rc == -1) {
		skipped(skip, ctx, key, why);
		return 0;
	}
	if (strcmp(e->service, service)) {
		skipped(skip, ctx, key, "another service's key");
		return 0;
	}
	if (rc == -2) {
		skipped(skip, ctx, key, why);
		return -1;
	}
	return 1;
}

/* ---- the indexes ----------------------------------------------------------------------- */

/* An array's positions 0..n-1 by a hash of their item: open addressing,
 * linear probing, at most half full. An item leaves by backward shift (no
 * tombstones) and the array's last item takes its place. What an index
 * needs of its array: */
struct kind {
	const void *(*at)(const struct sy_etcd_list *l, size_t pos); /* the item's key */
	uint64_t (*hash)(const void *key);
	bool (*same)(const void *a, const void *b);
};

static uint64_t mix(uint64_t h) /* MurmurHash3's finalizer */
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	return h ^ (h >> 33);
}

static const void *id_at(const struct sy_etcd_list *l, size_t pos)
{
	return &l->e[pos].id;
}

static uint64_t id_hash(const void *key) /* what sy_backend_id_cmp compares */
{
	const struct sy_backend_id *id = key;

	return mix(((uint64_t)id->addr[0] << 32 | id->addr[1]) ^
		   mix(((uint64_t)id->addr[2] << 32 | id->addr[3]) ^
		       ((uint64_t)id->family << 16 | id->port)));
}

static bool id_same(const void *a, const void *b)
{
	return !sy_backend_id_cmp(a, b);
}

static const void *key_at(const struct sy_etcd_list *l, size_t pos)
{
	return l->bad[pos];
}

static uint64_t key_hash(const void *key) /* FNV-1a */
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (const unsigned char *p = key; *p; p++)
		h = (h ^ *p) * 0x100000001b3ull;
	return mix(h);
}

static bool key_same(const void *a, const void *b)
{
	return !strcmp(a, b);
}

static const struct kind by_id = { id_at, id_hash, id_same };
static const struct kind by_key = { key_at, key_hash, key_same };

/* The slot of key in x (x->cap > 0): where it is, or the free slot where
 * it would go. */
static size_t slot_of(const struct sy_etcd_list *l, const struct sy_etcd_index *x,
		      const struct kind *k, const void *key)
{
	size_t m = x->cap - 1, i = k->hash(key) & m;

	while (x->slot[i] && !k->same(k->at(l, x->slot[i] - 1), key))
		i = (i + 1) & m;
	return i;
}

/* key's position, or n if absent. */
static size_t find(const struct sy_etcd_list *l, const struct sy_etcd_index *x,
		   const struct kind *k, const void *key, size_t n)
{
	size_t i;

	if (!x->cap)
		return n;
	i = slot_of(l, x, k, key);
	return x->slot[i] ? x->slot[i] - 1 : n;
}

/* Room in x for want items (positions 0..have-1 indexed now). 0, or -1. */
static int reserve(const struct sy_etcd_list *l, struct sy_etcd_index *x, const struct kind *k,
		   size_t have, size_t want)
{
	size_t cap = x->cap ? x->cap : 16;
	uint32_t *s;

	if (want <= x->cap / 2)
		return 0;
	if (want >= UINT32_MAX / 2)
		return -1;
	while (cap / 2 < want)
		cap *= 2;
	if (!(s = calloc(cap, sizeof(*s))))
		return -1;
	free(x->slot);
	x->slot = s;
	x->cap = cap;
	for (size_t p = 0; p < have; p++)
		x->slot[slot_of(l, x, k, k->at(l, p))] = (uint32_t)p + 1;
	return 0;
}

/* The item at pos (new, the array's last) joins x. 0, or -1. */
static int index_add(const struct sy_etcd_list *l, struct sy_etcd_index *x, const struct kind *k,
		     size_t pos)
{
	if (reserve(l, x, k, pos, pos + 1))
		return -1;
	x->slot[slot_of(l, x, k, k->at(l, pos))] = (uint32_t)pos + 1;
	return 0;
}

/* The item at pos leaves x and the array's last, at last, takes its
 * position (the caller moves it after). */
static void index_remove(const struct sy_etcd_list *l, struct sy_etcd_index *x,
			 const struct kind *k, size_t pos, size_t last)
{
	size_t m = x->cap - 1, i = slot_of(l, x, k, k->at(l, pos)), j = i;

	/* the items after it in its run move up if their home allows, so that
	 * each stays reachable from its home without a gap */
	for (;;) {
		size_t home;

		j = (j + 1) & m;
		if (!x->slot[j])
			break;
		home = k->hash(k->at(l, x->slot[j] - 1)) & m;
		if (((j - home) & m) >= ((j - i) & m)) {
			x->slot[i] = x->slot[j];
			i = j;
		}
	}
	x->slot[i] = 0;
	if (pos != last)
		x->slot[slot_of(l, x, k, k->at(l, last))] = (uint32_t)pos + 1;
}

/* ---- the list -------------------------------------------------------------------------- */

/* The capacity after cap for want items: doubling. */
static size_t more(size_t cap, size_t want)
{
	size_t c = cap ? cap : 8;

	while (c < want)
		c *= 2;
	return c;
}

void sy_etcd_list_free(struct sy_etcd_list *l)
{
	for (size_t i = 0; i < l->n_bad; i++)
		free(l->bad[i]);
	free(l->bad);
	free(l->e);
	free(l->by_id.slot);
	free(l->by_key.slot);
	memset(l, 0, sizeof(*l));
}

size_t sy_etcd_list_find(const struct sy_etcd_list *l, const struct sy_backend_id *id)
{
	return find(l, &l->by_id, &by_id, id, l->n);
}

bool sy_etcd_list_bad(const struct sy_etcd_list *l, const char *key)
{
	return key && find(l, &l->by_key, &by_key, key, l->n_bad) < l->n_bad;
}

/* key in (bad) or out of l's bad keys; out of memory: it stays out (a
 * count one short). */
static void bad_set(struct sy_etcd_list *l, const char *key, bool bad)
{
	size_t i;
	char *d;

	if (!key)
		return;
	i = find(l, &l->by_key, &by_key, key, l->n_bad);
	if (!bad && i < l->n_bad) {
		d = l->bad[i];
		index_remove(l, &l->by_key, &by_key, i, l->n_bad - 1);
		l->bad[i] = l->bad[--l->n_bad];
		free(d);
		return;
	}
	if (!bad || i < l->n_bad)
		return;
	if (l->n_bad == l->bad_cap) {
		size_t c = more(l->bad_cap, l->n_bad + 1);
		char **b = realloc(l->bad, c * sizeof(*b));

		if (!b)
			return;
		l->bad = b;
		l->bad_cap = c;
	}
	if (!(d = strdup(key)))
		return;
	l->bad[l->n_bad] = d;
	if (index_add(l, &l->by_key, &by_key, l->n_bad)) {
		free(d);
		return;
	}
	l->n_bad++;
}

/* l->e[l->n] (written by the caller, within e_cap) joins the list. 0, or
 * -1 (out of memory: it does not). */
static int add_entry(struct sy_etcd_list *l)
{
	if (index_add(l, &l->by_id, &by_id, l->n))
		return -1;
	l->n++;
	return 0;
}

/* e[i] leaves, the last takes its place. */
static void remove_entry(struct sy_etcd_list *l, size_t i)
{
	index_remove(l, &l->by_id, &by_id, i, l->n - 1);
	l->e[i] = l->e[--l->n];
}

int sy_etcd_list_apply(struct sy_etcd_list *l, const struct sy_etcd_change *ch, size_t n)
{
	for (size_t c = 0; c < n; c++) {
		size_t i;

		/* a put that is no backend's is held as such until put right or deleted */
		bad_set(l, ch[c].key, ch[c].bad);
		if (!ch[c].backend)
			continue;
		i = sy_etcd_list_find(l, &ch[c].e.id);
		if (ch[c].gone) {
			if (i < l->n)
				remove_entry(l, i);
			continue;
		}
		if (i < l->n) {
			l->e[i] = ch[c].e;
			continue;
		}
		if (l->n == l->e_cap) {
			size_t cap = more(l->e_cap, l->n + 1);
			struct sy_etcd_entry *e = realloc(l->e, cap * sizeof(*e));

			if (!e)
				return ENOMEM;
			l->e = e;
			l->e_cap = cap;
		}
		l->e[l->n] = ch[c].e;
		if (add_entry(l))
			return ENOMEM;
	}
	return 0;
}

/* ---- answers --------------------------------------------------------------------------- */

int sy_etcd_parse_range_page(const char *body, size_t len, const char *prefix,
			     const char *service, struct sy_etcd_list *l, char **next,
			     sy_etcd_skip_fn *skip, void *ctx, char *err, size_t errlen)
{
	json_t *j = load(body, len, "kv/range", err, errlen), *kv;
	struct sy_etcd_range_page page;
	size_t i, nk;
	int rc = EINVAL;

	*next = NULL;
	if (!j)
		return EINVAL;
	if (sy_etcd_range_answer(j, &page, err, errlen))
		goto out;
	nk = json_array_size(page.kvs);
	if (page.more && !nk) { /* no key to go on from */
		snprintf(err, errlen, "kv/range: a partial answer (more: true) without keys");
		goto out;
	}
	if (nk > SY_MAGLEV_MAX_BACKENDS - l->n) {
		snprintf(err, errlen, "kv/range: %zu keys, more than %u backends", l->n + nk,
			 SY_MAGLEV_MAX_BACKENDS);
		goto out;
	}
	if (l->n + nk + 1 > l->e_cap) {
		size_t cap = l->n + nk + 1;
		struct sy_etcd_entry *e = realloc(l->e, cap * sizeof(*e));

		if (!e) {
			snprintf(err, errlen, "kv/range: out of memory for %zu keys", l->n + nk);
			rc = ENOMEM;
			goto out;
		}
		l->e = e;
		l->e_cap = cap;
	}
	if (reserve(l, &l->by_id, &by_id, l->n, l->n + nk)) {
		snprintf(err, errlen, "kv/range: out of memory for %zu keys", l->n + nk);
		rc = ENOMEM;
		goto out;
	}
	json_array_foreach(page.kvs, i, kv) {
		char key[120];

		if (read_kv(kv, prefix, service, true, &l->e[l->n], skip, ctx) != 1) {
			bad_set(l, json_string_value(json_object_get(kv, "key")), true);
			continue;
		}
		/* etcd lists a key once; an answer that does not (or two keys
		 * of one backend) is skipped there */
		if (sy_etcd_list_find(l, &l->e[l->n].id) < l->n) {
			sy_format_endpoint(&l->e[l->n].id, key, sizeof(key));
			skipped(skip, ctx, key, "a backend listed twice");
			continue;
		}
		(void)add_entry(l); /* cannot fail: room reserved */
	}
	if (!l->revision) /* every page is read at the first page's revision */
		l->revision = page.revision;
	if (page.more && !(*next = sy_etcd_range_next_page(page.kvs))) {
		snprintf(err, errlen, "kv/range: out of memory for the next page's key");
		rc = ENOMEM;
		goto out;
	}
	rc = 0;
out:
	json_decref(j);
	return rc;
}

int sy_etcd_parse_range(const char *body, size_t len, const char *prefix, const char *service,
			struct sy_etcd_list *l, sy_etcd_skip_fn *skip, void *ctx, char *err,
			size_t errlen)
{
	struct sy_etcd_list r = { 0 };
	char *next = NULL;
	int rc;

	memset(l, 0, sizeof(*l));
	rc = sy_etcd_parse_range_page(body, len, prefix, service, &r, &next, skip, ctx, err, errlen);
	if (!rc && next) {
		snprintf(err, errlen, "kv/range: a partial answer (more: true)");
		rc = EINVAL;
	}
	free(next);
	if (rc) {
		sy_etcd_list_free(&r);
		return rc;
	}
	*l = r;
	return 0;
}

void sy_etcd_watch_free(struct sy_etcd_watch *w)
{
	free(w->ch);
	json_decref(w->line);
	memset(w, 0, sizeof(*w));
}

enum sy_etcd_watch_kind sy_etcd_parse_watch(const char *line, size_t len, const char *prefix,
					    const char *service, struct sy_etcd_watch *w,
					    sy_etcd_skip_fn *skip, void *ctx, char *err,
					    size_t errlen)
{
	json_t *j = load(line, len, "watch", err, errlen), *ev;
	struct sy_etcd_watch_line wl;
	size_t i, nev;

	memset(w, 0, sizeof(*w));
	w->kind = SY_ETCD_WATCH_FAILED;
	if (!j)
		return w->kind;
	switch (sy_etcd_watch_answer(j, &wl, err, errlen)) {
	case SY_ETCD_WATCH_FAILED:
		goto fail;
	case SY_ETCD_WATCH_COMPACTED: /* the events missed are gone: read again */
		json_decref(j);
		w->kind = SY_ETCD_WATCH_COMPACTED;
		w->compact_revision = wl.compact_revision;
		return w->kind;
	case SY_ETCD_WATCH_EVENTS:
		break;
	}
	w->created = wl.created;
	nev = json_array_size(wl.events);
	if (nev && !(w->ch = calloc(nev, sizeof(*w->ch)))) {
		snprintf(err, errlen, "watch: out of memory for %zu events", nev);
		goto fail;
	}
	json_array_foreach(wl.events, i, ev) {
		struct sy_etcd_change *c = &w->ch[w->n];
		const json_t *kv;
		uint64_t mod;
		bool del;
		int got;
		char why[80];

		if (sy_etcd_watch_event(ev, &del, &kv, &mod, why, sizeof(why))) {
			snprintf(err, errlen, "watch: events[%zu].%s", i, why);
			goto fail;
		}
		if (mod > w->revision)
			w->revision = mod;
		got = read_kv(kv, prefix, service, !del, &c->e, skip, ctx);
		c->key = json_string_value(json_object_get(kv, "key"));
		c->backend = got != 0;
		c->gone = c->backend && (del || got == -1); /* -1: no longer a usable backend */
		c->bad = !del && got != 1;
		w->n++;
	}
	w->kind = SY_ETCD_WATCH_EVENTS;
	w->line = j;
	return w->kind;
fail:
	free(w->ch);
	json_decref(j);
	memset(w, 0, sizeof(*w));
	w->kind = SY_ETCD_WATCH_FAILED;
	return w->kind;
}
