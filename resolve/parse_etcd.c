/* SPDX-License-Identifier: BSD-3-Clause
 *
 * etcd's JSON gateway answers for the resolver; see parse_etcd.h. Keys and
 * values are read by control/registry/etcd_kv.c's sy_etcd_kv_parse, the function
 * sy-control's etcd source uses.
 */
#include <arpa/inet.h>
#include <stdio.h>

#include <jansson.h>

#include "etcd_gateway.h"
#include "etcd_kv.h"
#include "parse_etcd.h"

int sy_etcd_service_prefix(const char *prefix, const char *service, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s%s/", prefix, service);

	return n < 0 || (size_t)n >= len ? -1 : n;
}

static void skip(struct sy_etcd_skipped *sk, const char *key, const char *why)
{
	if (!sk->n++)
		snprintf(sk->first, sizeof(sk->first), "key \"%.80s\": %.100s", key, why);
}

void sy_etcd_entry_to_inst(const struct sy_etcd_entry *e, struct sy_resolve_instance *x)
{
	memset(x, 0, sizeof(*x));
	x->addr.family = e->id.family == SY_AF_INET6 ? 6 : 4;
	memcpy(x->addr.bytes, e->id.addr, x->addr.family == 6 ? 16 : 4);
	x->port = e->id.port;
	x->weight = e->weight;
	snprintf(x->zone, sizeof(x->zone), "%s", e->zone);
}

/* kv -> x: 1 a backend of service, 0 skipped (counted), -1 for a value that
 * is not a backend's on a backend's key (x has its address and port). */
static int read_kv(const json_t *kv, const char *prefix, const char *service, bool with_value,
		   struct sy_resolve_instance *x, struct sy_etcd_skipped *sk)
{
	struct sy_etcd_entry e;
	char key[120], why[160];
	int rc = sy_etcd_kv_parse(kv, prefix, with_value, &e, key, sizeof(key), why, sizeof(why));

	if (rc == -1) {
		skip(sk, key, why);
		return 0;
	}
	if (strcmp(e.service, service)) {
		skip(sk, key, "another service's key");
		return 0;
	}
	sy_etcd_entry_to_inst(&e, x);
	if (rc == -2) {
		skip(sk, key, why);
		return -1;
	}
	return 1;
}

static bool same_instance(const struct sy_resolve_instance *a, const struct sy_resolve_instance *b)
{
	return a->addr.family == b->addr.family && a->port == b->port &&
	       !memcmp(a->addr.bytes, b->addr.bytes, a->addr.family == 6 ? 16 : 4);
}

static void inst_text(const struct sy_resolve_instance *x, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN] = "?";

	inet_ntop(x->addr.family == 6 ? AF_INET6 : AF_INET, x->addr.bytes, a, sizeof(a));
	snprintf(buf, len, x->addr.family == 6 ? "[%s]:%u" : "%s:%u", a, x->port);
}

/* The index of x's identity in l, l->n if absent (lists are small: a
 * service's backends). */
static size_t index_of(const struct sy_source_list *l, const struct sy_resolve_instance *x)
{
	size_t i = 0;

	while (i < l->n && !same_instance(&l->inst[i], x))
		i++;
	return i;
}

static json_t *load(const char *body, size_t len, const char *what, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *j = json_loadb(body, len, 0, &jerr);

	if (!j)
		snprintf(err, errlen, "%s: not JSON: %s (line %d)", what, jerr.text, jerr.line);
	else if (!json_is_object(j)) {
		snprintf(err, errlen, "%s: not a JSON object", what);
		json_decref(j);
		j = NULL;
	}
	return j;
}

int sy_etcd_parse_range(const char *body, size_t len, const char *prefix, const char *service,
			struct sy_source_list *l, struct sy_etcd_skipped *skipped, char *err,
			size_t errlen)
{
	json_t *j = load(body, len, "kv/range", err, errlen), *kv;
	const json_t *kvs;
	struct sy_etcd_range_page page;
	int rc = SY_RESOLVE_EINVAL;
	size_t i;

	memset(l, 0, sizeof(*l));
	memset(skipped, 0, sizeof(*skipped));
	if (!j)
		return SY_RESOLVE_EINVAL;
	if (sy_etcd_range_answer(j, &page, err, errlen))
		goto out;
	l->revision = page.revision;
	kvs = page.kvs;
	if (page.more) {
		snprintf(err, errlen, "kv/range: a partial answer (more: true)");
		goto out;
	}
	if (json_array_size(kvs) > SY_MAGLEV_MAX_BACKENDS) {
		snprintf(err, errlen, "kv/range: %zu keys, more than %u backends",
			 json_array_size(kvs), SY_MAGLEV_MAX_BACKENDS);
		goto out;
	}
	if (json_array_size(kvs) &&
	    !(l->inst = calloc(json_array_size(kvs), sizeof(*l->inst)))) {
		snprintf(err, errlen, "kv/range: out of memory for %zu keys", json_array_size(kvs));
		rc = SY_RESOLVE_ENOMEM;
		goto out;
	}
	json_array_foreach(kvs, i, kv) {
		if (read_kv(kv, prefix, service, true, &l->inst[l->n], skipped) != 1)
			continue;
		/* etcd lists a key once; an answer that does not is skipped
		 * there, not refused as a whole by the snapshot's check */
		if (index_of(l, &l->inst[l->n]) < l->n) {
			char ep[64];

			inst_text(&l->inst[l->n], ep, sizeof(ep));
			skip(skipped, ep, "a backend listed twice");
			continue;
		}
		l->n++;
	}
	rc = SY_RESOLVE_OK;
out:
	json_decref(j);
	if (rc)
		sy_source_list_free(l);
	return rc;
}

void sy_etcd_watch_msg_free(struct sy_etcd_watch_msg *m)
{
	free(m->ch);
	memset(m, 0, sizeof(*m));
}

int sy_etcd_parse_watch(const char *line, size_t len, const char *prefix, const char *service,
			struct sy_etcd_watch_msg *m, char *err, size_t errlen)
{
	json_t *j = load(line, len, "watch", err, errlen), *ev;
	const json_t *evs;
	struct sy_etcd_watch_line w;
	int rc = SY_RESOLVE_EINVAL;
	size_t i;

	memset(m, 0, sizeof(*m));
	if (!j)
		return SY_RESOLVE_EINVAL;
	switch (sy_etcd_watch_answer(j, &w, err, errlen)) {
	case SY_ETCD_WATCH_FAILED:
		goto out;
	case SY_ETCD_WATCH_COMPACTED:
		m->compacted = true;
		m->compact_revision = w.compact_revision;
		rc = SY_RESOLVE_OK;
		goto out;
	case SY_ETCD_WATCH_EVENTS:
		break;
	}
	m->created = w.created;
	evs = w.events;
	if (json_array_size(evs) && !(m->ch = calloc(json_array_size(evs), sizeof(*m->ch)))) {
		snprintf(err, errlen, "watch: out of memory for %zu events", json_array_size(evs));
		rc = SY_RESOLVE_ENOMEM;
		goto out;
	}
	json_array_foreach(evs, i, ev) {
		const json_t *kv;
		struct sy_etcd_change *c = &m->ch[m->n];
		uint64_t mod;
		int got;

		char why[80];

		if (sy_etcd_watch_event(ev, &c->gone, &kv, &mod, why, sizeof(why))) {
			snprintf(err, errlen, "watch: events[%zu].%s", i, why);
			goto out;
		}
		if (mod > m->revision)
			m->revision = mod;
		got = read_kv(kv, prefix, service, !c->gone, &c->inst, &m->skipped);
		if (got == -1)
			c->gone = true; /* the key no longer describes a usable backend */
		if (got)
			m->n++;
	}
	rc = SY_RESOLVE_OK;
out:
	json_decref(j);
	if (rc)
		sy_etcd_watch_msg_free(m);
	return rc;
}

int sy_etcd_apply(struct sy_source_list *l, const struct sy_etcd_change *ch, size_t n)
{
	for (size_t c = 0; c < n; c++) {
		size_t i = index_of(l, &ch[c].inst);

		if (ch[c].gone) {
			if (i < l->n)
				l->inst[i] = l->inst[--l->n];
			continue;
		}
		if (i == l->n) {
			struct sy_resolve_instance *p = realloc(l->inst, (l->n + 1) * sizeof(*p));

			if (!p)
				return SY_RESOLVE_ENOMEM;
			l->inst = p;
			l->n++;
		}
		l->inst[i] = ch[c].inst;
	}
	return SY_RESOLVE_OK;
}
