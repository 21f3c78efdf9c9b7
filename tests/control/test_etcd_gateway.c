/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Tests of control/registry/etcd_gateway.c, etcd's JSON gateway as both
 * registry readers (sy-control's etcd source, libswitchyard-resolve's) and
 * the writer (syctl register's etcd agent) speak it: the request bodies
 * (keys in base64, numbers as strings, pages, leases) and what an answer
 * says (a range page, a watch line's kind, an event, a lease).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "etcd_gateway.h"
#include "etcd_kv.h"

static json_t *parse(const char *s)
{
	json_t *j = json_loads(s, 0, NULL);

	assert_non_null(j);
	return j;
}

/* field of a JSON body, base64-decoded */
static char *b64_field(const json_t *j, const char *name)
{
	size_t n;
	uint8_t *v = sy_b64_decode(json_string_value(json_object_get(j, name)), &n);

	assert_non_null(v);
	return (char *)v;
}

static void test_range_request(void **state)
{
	struct sy_etcd_range r;
	char *body, *k, *e;
	json_t *j;

	(void)state;
	/* first page, newest revision, no limit: the prefix's range only */
	assert_int_equal(sy_etcd_range_init(&r, "/sy/web/"), 0);
	body = sy_etcd_range_request(&r, NULL, 0, 0);
	sy_etcd_range_free(&r);
	j = parse(body);
	k = b64_field(j, "key");
	e = b64_field(j, "range_end");
	assert_string_equal(k, "/sy/web/");
	assert_string_equal(e, "/sy/web0"); /* '/' + 1 */
	assert_null(json_object_get(j, "limit"));
	assert_null(json_object_get(j, "revision"));
	free(k), free(e), free(body), json_decref(j);

	/* a later page: its key, the first page's revision (a string), a limit */
	assert_int_equal(sy_etcd_range_init(&r, "/sy/"), 0);
	body = sy_etcd_range_request(&r, "L3N5L3gA", 18446744073709551615ull, 500);
	sy_etcd_range_free(&r);
	j = parse(body);
	assert_string_equal(json_string_value(json_object_get(j, "key")), "L3N5L3gA");
	assert_string_equal(json_string_value(json_object_get(j, "revision")),
			    "18446744073709551615");
	assert_int_equal(json_integer_value(json_object_get(j, "limit")), 500);
	free(body), json_decref(j);
}

static void test_watch_and_auth_request(void **state)
{
	char *body = sy_etcd_watch_request("/p/", 42), *k, *e;
	json_t *j = parse(body), *c = json_object_get(j, "create_request");

	(void)state;
	k = b64_field(c, "key");
	e = b64_field(c, "range_end");
	assert_string_equal(k, "/p/");
	assert_string_equal(e, "/p0");
	assert_string_equal(json_string_value(json_object_get(c, "start_revision")), "42");
	free(k), free(e), free(body), json_decref(j);

	body = sy_etcd_auth_request("sy", "pa\"ss");
	j = parse(body);
	assert_string_equal(json_string_value(json_object_get(j, "name")), "sy");
	assert_string_equal(json_string_value(json_object_get(j, "password")), "pa\"ss");
	free(body), json_decref(j);
}

static void test_range_answer(void **state)
{
	struct sy_etcd_range_page p;
	char err[200], *next;
	json_t *j;

	(void)state;
	j = parse("{\"header\":{\"revision\":\"7\"},\"kvs\":[{\"key\":\"L2EvYg==\"},"
		  "{\"key\":\"L2EvYw==\"}],\"more\":true}");
	assert_int_equal(sy_etcd_range_answer(j, &p, err, sizeof(err)), 0);
	assert_int_equal(p.revision, 7);
	assert_int_equal(json_array_size(p.kvs), 2);
	assert_true(p.more);
	/* the next page starts right after the last key, "/a/c" */
	next = sy_etcd_range_next_page(p.kvs);
	assert_string_equal(next, "L2EvYwA="); /* "/a/c\0" */
	free(next);
	json_decref(j);

	j = parse("{\"header\":{\"revision\":\"9\"}}"); /* no key matched */
	assert_int_equal(sy_etcd_range_answer(j, &p, err, sizeof(err)), 0);
	assert_null(p.kvs);
	assert_false(p.more);
	assert_null(sy_etcd_range_next_page(p.kvs));
	json_decref(j);

	j = parse("{\"error\":\"etcdserver: user name is empty\",\"code\":3}");
	assert_int_equal(sy_etcd_range_answer(j, &p, err, sizeof(err)), -1);
	assert_string_equal(err, "kv/range: etcdserver: user name is empty");
	json_decref(j);
	j = parse("{\"header\":{\"revision\":\"7\"},\"kvs\":{}}");
	assert_int_equal(sy_etcd_range_answer(j, &p, err, sizeof(err)), -1);
	assert_string_equal(err, "kv/range: kvs is not an array");
	json_decref(j);
}

static void test_watch_answer(void **state)
{
	struct sy_etcd_watch_line w;
	char err[200];
	json_t *j;

	(void)state;
	j = parse("{\"result\":{\"header\":{},\"created\":true}}");
	assert_int_equal(sy_etcd_watch_answer(j, &w, err, sizeof(err)), SY_ETCD_WATCH_EVENTS);
	assert_true(w.created);
	assert_null(w.events);
	json_decref(j);

	j = parse("{\"result\":{\"canceled\":true,\"compact_revision\":\"12\"}}");
	assert_int_equal(sy_etcd_watch_answer(j, &w, err, sizeof(err)), SY_ETCD_WATCH_COMPACTED);
	assert_int_equal(w.compact_revision, 12);
	json_decref(j);

	j = parse("{\"result\":{\"canceled\":true,\"cancel_reason\":\"permission denied\"}}");
	assert_int_equal(sy_etcd_watch_answer(j, &w, err, sizeof(err)), SY_ETCD_WATCH_FAILED);
	assert_string_equal(err, "watch canceled: permission denied");
	json_decref(j);

	j = parse("{\"error\":{\"grpc_code\":16,\"message\":\"etcdserver: invalid auth token\"}}");
	assert_int_equal(sy_etcd_watch_answer(j, &w, err, sizeof(err)), SY_ETCD_WATCH_FAILED);
	assert_string_equal(err, "watch: etcdserver: invalid auth token");
	assert_true(sy_etcd_token_refused(sy_etcd_answer_error(j)));
	json_decref(j);

	assert_int_equal(sy_etcd_watch_answer(NULL, &w, err, sizeof(err)), SY_ETCD_WATCH_FAILED);
	assert_string_equal(err, "watch: an answer that is not JSON");
	assert_false(sy_etcd_token_refused(NULL));
	assert_false(sy_etcd_token_refused("etcdserver: request timed out"));
}

static void test_watch_event(void **state)
{
	const json_t *kv;
	bool del;
	uint64_t mod;
	char err[100];
	json_t *j = parse("{\"result\":{\"events\":["
			  "{\"kv\":{\"key\":\"YQ==\",\"mod_revision\":\"5\"}},"
			  "{\"type\":\"DELETE\",\"kv\":{\"key\":\"Yg==\",\"mod_revision\":\"6\"}},"
			  "{\"type\":\"EXPIRE\",\"kv\":{\"key\":\"Yw==\",\"mod_revision\":\"7\"}},"
			  "{\"kv\":{\"key\":\"ZA==\"}}]}}");
	struct sy_etcd_watch_line w;

	(void)state;
	assert_int_equal(sy_etcd_watch_answer(j, &w, err, sizeof(err)), SY_ETCD_WATCH_EVENTS);
	assert_int_equal(json_array_size(w.events), 4);
	/* PUT: the gateway leaves type 0 out */
	assert_int_equal(sy_etcd_watch_event(json_array_get(w.events, 0), &del, &kv, &mod, err,
					     sizeof(err)), 0);
	assert_false(del);
	assert_int_equal(mod, 5);
	assert_string_equal(json_string_value(json_object_get(kv, "key")), "YQ==");
	assert_int_equal(sy_etcd_watch_event(json_array_get(w.events, 1), &del, &kv, &mod, err,
					     sizeof(err)), 0);
	assert_true(del);
	assert_int_equal(mod, 6);
	assert_int_equal(sy_etcd_watch_event(json_array_get(w.events, 2), &del, &kv, &mod, err,
					     sizeof(err)), -1);
	assert_string_equal(err, "type is not PUT or DELETE");
	assert_int_equal(sy_etcd_watch_event(json_array_get(w.events, 3), &del, &kv, &mod, err,
					     sizeof(err)), -1);
	assert_string_equal(err, "kv.mod_revision is not a number");
	json_decref(j);
}

static void test_lease(void **state)
{
	char *body = sy_etcd_lease_grant_request(3), *k, *v;
	uint64_t id = 1;
	json_t *j;

	(void)state;
	j = parse(body);
	assert_int_equal(json_integer_value(json_object_get(j, "TTL")), 3);
	free(body), json_decref(j);

	body = sy_etcd_put_request("/sy/web/198.18.0.11:80", "{\"weight\":2}", 7587868839138371075ull);
	j = parse(body);
	k = b64_field(j, "key");
	v = b64_field(j, "value");
	assert_string_equal(k, "/sy/web/198.18.0.11:80");
	assert_string_equal(v, "{\"weight\":2}");
	assert_string_equal(json_string_value(json_object_get(j, "lease")), "7587868839138371075");
	free(k), free(v), free(body), json_decref(j);

	body = sy_etcd_lease_request(42);
	j = parse(body);
	assert_string_equal(json_string_value(json_object_get(j, "ID")), "42");
	free(body), json_decref(j);

	j = parse("{\"header\":{},\"ID\":\"7587868839138371075\",\"TTL\":\"3\"}");
	assert_int_equal(sy_etcd_lease_granted(j, &id), 0);
	assert_true(id == 7587868839138371075ull);
	json_decref(j);
	j = parse("{\"header\":{},\"ID\":\"0\"}");
	assert_int_equal(sy_etcd_lease_granted(j, &id), -1);
	json_decref(j);

	/* keepalive: alive while TTL > 0, in "result" (the gateway's stream
	 * form) or not; an expired lease answers without TTL */
	j = parse("{\"result\":{\"ID\":\"42\",\"TTL\":\"3\"}}");
	assert_true(sy_etcd_lease_alive(j));
	json_decref(j);
	j = parse("{\"ID\":\"42\",\"TTL\":\"2\"}");
	assert_true(sy_etcd_lease_alive(j));
	json_decref(j);
	j = parse("{\"result\":{\"ID\":\"42\"}}");
	assert_false(sy_etcd_lease_alive(j));
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_range_request), cmocka_unit_test(test_watch_and_auth_request),
		cmocka_unit_test(test_range_answer),  cmocka_unit_test(test_watch_answer),
		cmocka_unit_test(test_watch_event),   cmocka_unit_test(test_lease),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
