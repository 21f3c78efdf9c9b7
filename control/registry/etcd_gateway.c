/* SPDX-License-Identifier: BSD-3-Clause
 *
 * etcd's v3 JSON gateway: requests and answers; see etcd_gateway.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcd_gateway.h"
#include "etcd_kv.h"
#include "password_file.h"

static char *dump(json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	return s;
}

/* The base64 prefix and range end of a prefix range; 0, or -1. */
static int prefix_range(const char *prefix, char **key, char **end)
{
	size_t n = strlen(prefix);
	char *e = malloc(n + 2);

	*key = *end = NULL;
	if (!e)
		return -1;
	n = sy_etcd_range_end(prefix, e);
	*key = sy_b64_encode(prefix, strlen(prefix));
	*end = sy_b64_encode(e, n ? n : 1); /* "\0": every key */
	free(e);
	if (*key && *end)
		return 0;
	free(*key);
	free(*end);
	return -1;
}

static void u64_text(uint64_t v, char *buf, size_t len)
{
	snprintf(buf, len, "%llu", (unsigned long long)v);
}

int sy_etcd_range_init(struct sy_etcd_range *r, const char *prefix)
{
	return prefix_range(prefix, &r->key, &r->end);
}

void sy_etcd_range_free(struct sy_etcd_range *r)
{
	free(r->key);
	free(r->end);
	r->key = r->end = NULL;
}

char *sy_etcd_range_request(const struct sy_etcd_range *r, const char *page_key,
			    uint64_t revision, uint32_t limit)
{
	char revs[24];
	json_t *j;

	j = json_pack("{s:s, s:s}", "key", page_key ? page_key : r->key, "range_end", r->end);
	if (j && limit)
		json_object_set_new(j, "limit", json_integer(limit));
	if (j && revision) {
		u64_text(revision, revs, sizeof(revs));
		json_object_set_new(j, "revision", json_string(revs));
	}
	return dump(j);
}

char *sy_etcd_watch_request(const char *prefix, uint64_t from)
{
	char *key, *end, revs[24];
	json_t *j;

	if (prefix_range(prefix, &key, &end))
		return NULL;
	u64_text(from, revs, sizeof(revs));
	j = json_pack("{s:{s:s, s:s, s:s}}", "create_request", "key", key, "range_end", end,
		      "start_revision", revs);
	free(key);
	free(end);
	return dump(j);
}

char *sy_etcd_auth_request(const char *name, const char *password)
{
	return dump(json_pack("{s:s, s:s}", "name", name, "password", password));
}

char *sy_etcd_lease_grant_request(uint32_t ttl)
{
	return dump(json_pack("{s:I}", "TTL", (json_int_t)ttl));
}

char *sy_etcd_put_request(const char *key, const char *value, uint64_t lease)
{
	char *kb = sy_b64_encode(key, strlen(key)), *vb = sy_b64_encode(value, strlen(value));
	char ls[24];
	json_t *j;

	u64_text(lease, ls, sizeof(ls));
	j = kb && vb ? json_pack("{s:s, s:s, s:s}", "key", kb, "value", vb, "lease", ls) : NULL;
	free(kb);
	free(vb);
	return dump(j);
}

char *sy_etcd_lease_request(uint64_t lease)
{
	char ls[24];

	u64_text(lease, ls, sizeof(ls));
	return dump(json_pack("{s:s}", "ID", ls));
}

int sy_etcd_lease_granted(const json_t *ans, uint64_t *lease)
{
	return sy_etcd_u64(json_object_get(ans, "ID"), lease) && *lease ? 0 : -1;
}

bool sy_etcd_lease_alive(const json_t *ans)
{
	const json_t *res = json_object_get(ans, "result");
	uint64_t ttl = 0;

	return sy_etcd_u64(json_object_get(res ? res : ans, "TTL"), &ttl) && ttl > 0;
}

const char *sy_etcd_answer_error(const json_t *j)
{
	const json_t *e = json_object_get(j, "error");
	const char *m = json_string_value(json_object_get(e, "message"));

	if (!m)
		m = json_string_value(json_object_get(j, "message"));
	if (!m)
		m = json_string_value(e);
	return m;
}

bool sy_etcd_token_refused(const char *message)
{
	return message && strstr(message, "token");
}

int sy_etcd_range_answer(const json_t *ans, struct sy_etcd_range_page *p, char *err,
			 size_t errlen)
{
	const char *m;

	memset(p, 0, sizeof(*p));
	if (!sy_etcd_u64(json_object_get(json_object_get(ans, "header"), "revision"),
			 &p->revision)) {
		if (json_object_get(ans, "header"))
			m = "header.revision is not a number";
		else if (!(m = sy_etcd_answer_error(ans)))
			m = "not an answer of etcd's";
		snprintf(err, errlen, "kv/range: %.160s", m);
		return -1;
	}
	p->kvs = json_object_get(ans, "kvs"); /* absent: no key */
	if (p->kvs && !json_is_array(p->kvs)) {
		snprintf(err, errlen, "kv/range: kvs is not an array");
		return -1;
	}
	p->more = json_is_true(json_object_get(ans, "more"));
	return 0;
}

char *sy_etcd_range_next_page(const json_t *kvs)
{
	size_t n = json_array_size(kvs), len;
	const char *last = n ? json_string_value(json_object_get(json_array_get(kvs, n - 1), "key"))
			     : NULL;
	uint8_t *k = last ? sy_b64_decode(last, &len) : NULL;
	char *next = NULL;

	/* sy_b64_decode leaves a NUL after the key: key + "\0" is the next */
	if (k)
		next = sy_b64_encode(k, len + 1);
	free(k);
	return next;
}

enum sy_etcd_watch_kind sy_etcd_watch_answer(const json_t *j, struct sy_etcd_watch_line *w,
					     char *err, size_t errlen)
{
	const json_t *r = json_object_get(j, "result");

	memset(w, 0, sizeof(*w));
	w->kind = SY_ETCD_WATCH_FAILED;
	if (!json_is_object(r)) {
		const char *m = sy_etcd_answer_error(j);

		snprintf(err, errlen, "watch: %.160s",
			 m ? m : j ? "not an answer of etcd's" : "an answer that is not JSON");
		return w->kind;
	}
	w->created = json_is_true(json_object_get(r, "created"));
	if (json_is_true(json_object_get(r, "canceled"))) {
		const char *why = json_string_value(json_object_get(r, "cancel_reason"));

		if (sy_etcd_u64(json_object_get(r, "compact_revision"), &w->compact_revision) &&
		    w->compact_revision)
			return w->kind = SY_ETCD_WATCH_COMPACTED;
		snprintf(err, errlen, "watch canceled: %.160s", why ? why : "no reason given");
		return w->kind;
	}
	w->events = json_object_get(r, "events");
	if (w->events && !json_is_array(w->events)) {
		snprintf(err, errlen, "watch: events is not an array");
		return w->kind;
	}
	return w->kind = SY_ETCD_WATCH_EVENTS;
}

int sy_etcd_watch_event(const json_t *ev, bool *deleted, const json_t **kv, uint64_t *mod_revision,
			char *err, size_t errlen)
{
	const json_t *type = json_object_get(ev, "type");
	const char *t = json_string_value(type);

	*kv = json_object_get(ev, "kv");
	*deleted = t && !strcmp(t, "DELETE");
	/* PUT is type 0: the gateway leaves it out */
	if (type && (!t || (strcmp(t, "PUT") && !*deleted))) {
		snprintf(err, errlen, "type is not PUT or DELETE");
		return -1;
	}
	if (!sy_etcd_u64(json_object_get(*kv, "mod_revision"), mod_revision)) {
		snprintf(err, errlen, "kv.mod_revision is not a number");
		return -1;
	}
	return 0;
}

char *sy_etcd_auth_body(const char *user, const char *password_file, char *why, size_t whylen)
{
	char pw[512] = "";
	char *body;

	if (sy_password_file_read(password_file, pw, sizeof(pw), why, whylen))
		return NULL;
	body = sy_etcd_auth_request(user, pw);
	explicit_bzero(pw, sizeof(pw));
	if (!body)
		snprintf(why, whylen, "out of memory (or a password that is not UTF-8)");
	return body;
}

int sy_etcd_auth_token(const json_t *answer, char *token, size_t tlen, char *why, size_t whylen)
{
	const char *t = json_string_value(json_object_get(answer, "token"));

	if (!t || !*t || strlen(t) >= tlen) {
		snprintf(why, whylen, "authenticate: no token in the answer");
		return -1;
	}
	snprintf(token, tlen, "%s", t);
	return 0;
}
