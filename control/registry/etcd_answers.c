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
	memset(l, 0, sizeof(*l));
}

size_t sy_etcd_list_find(const struct sy_etcd_list *l, const struct sy_backend_id *id)
{
	size_t i = 0;

	while (i < l->n && sy_backend_id_cmp(&l->e[i].id, id))
		i++;
	return i;
}

static size_t bad_find(const struct sy_etcd_list *l, const char *key)
{
	size_t i = 0;

	while (i < l->n_bad && strcmp(l->bad[i], key))
		i++;
	return i;
}

bool sy_etcd_list_bad(const struct sy_etcd_list *l, const char *key)
{
	return key && bad_find(l, key) < l->n_bad;
}

/* key in (bad) or out of l's bad keys; out of memory: it stays out (a
 * count one short). */
static void bad_set(struct sy_etcd_list *l, const char *key, bool bad)
{
	size_t i;
	char *d;

	if (!key)
		return;
	i = bad_find(l, key);
	if (!bad && i < l->n_bad) {
		free(l->bad[i]);
		l->bad[i] = l->bad[--l->n_bad];
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
	if ((d = strdup(key)))
		l->bad[l->n_bad++] = d;
}

/* l->e[l->n] (written by the caller, within e_cap) joins the list. */
static void add_entry(struct sy_etcd_list *l)
{
	l->n++;
}

/* e[i] leaves, the last takes its place. */
static void remove_entry(struct sy_etcd_list *l, size_t i)
{
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
		add_entry(l);
	}
	return 0;
}

/* ---- answers --------------------------------------------------------------------------- */

int sy_etcd_parse_range(const char *body, size_t len, const char *prefix, const char *service,
			struct sy_etcd_list *l, sy_etcd_skip_fn *skip, void *ctx, char *err,
			size_t errlen)
{
	json_t *j = load(body, len, "kv/range", err, errlen), *kv;
	struct sy_etcd_range_page page;
	struct sy_etcd_list r = { 0 };
	size_t i, nk;
	int rc = EINVAL;

	memset(l, 0, sizeof(*l));
	if (!j)
		return EINVAL;
	if (sy_etcd_range_answer(j, &page, err, errlen))
		goto out;
	if (page.more) {
		snprintf(err, errlen, "kv/range: a partial answer (more: true)");
		goto out;
	}
	nk = json_array_size(page.kvs);
	if (nk > SY_MAGLEV_MAX_BACKENDS) {
		snprintf(err, errlen, "kv/range: %zu keys, more than %u backends", nk,
			 SY_MAGLEV_MAX_BACKENDS);
		goto out;
	}
	r.e_cap = nk + 1;
	if (!(r.e = malloc(r.e_cap * sizeof(*r.e)))) {
		snprintf(err, errlen, "kv/range: out of memory for %zu keys", nk);
		rc = ENOMEM;
		goto out;
	}
	json_array_foreach(page.kvs, i, kv) {
		char key[120];

		if (read_kv(kv, prefix, service, true, &r.e[r.n], skip, ctx) != 1) {
			bad_set(&r, json_string_value(json_object_get(kv, "key")), true);
			continue;
		}
		/* etcd lists a key once; an answer that does not is skipped there */
		if (sy_etcd_list_find(&r, &r.e[r.n].id) < r.n) {
			sy_format_endpoint(&r.e[r.n].id, key, sizeof(key));
			skipped(skip, ctx, key, "a backend listed twice");
			continue;
		}
		add_entry(&r);
	}
	r.revision = page.revision;
	*l = r;
	memset(&r, 0, sizeof(r));
	rc = 0;
out:
	sy_etcd_list_free(&r);
	json_decref(j);
	return rc;
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
