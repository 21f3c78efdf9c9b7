/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The resolver's parser of etcd's JSON gateway answers (resolve/parse_etcd.c)
 * and the list changes a watch makes: the keys and values sy-control's etcd
 * source reads (control/registry/etcd_kv.c) become instances, bad keys are skipped and
 * counted with their reason, answers that are not etcd's give an error with a
 * message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "etcd_kv.h"
#include "parse_etcd.h"

#define PFX "/switchyard/services/"

/* {"key": b64(key), "value": b64(value), "mod_revision": "rev"} */
static char *kv(const char *key, const char *value, unsigned rev)
{
	char *k = sy_b64_encode(key, strlen(key)), *v = sy_b64_encode(value, strlen(value));
	char *out = malloc(strlen(k) + strlen(v) + 96);

	sprintf(out, "{\"key\":\"%s\",\"value\":\"%s\",\"mod_revision\":\"%u\"}", k, v, rev);
	free(k);
	free(v);
	return out;
}

static void test_range_ok(void **state)
{
	char *a = kv(PFX "web/198.18.0.11:80", "{\"weight\":5,\"zone\":\"a\"}", 7);
	char *b = kv(PFX "web/[2001:2::1]:8080", "", 8);
	char *bad = kv(PFX "web/198.18.0.011:80", "", 9);       /* a leading zero: not an address */
	char *badv = kv(PFX "web/198.18.0.12:80", "{\"weight\":70000}", 9);
	char body[4096], err[200] = "";
	struct sy_source_list l;
	struct sy_etcd_skipped sk;
	static const uint8_t v6[16] = { 0x20, 0x01, 0, 2, [15] = 1 };

	(void)state;
	snprintf(body, sizeof(body),
		 "{\"header\":{\"cluster_id\":\"1\",\"revision\":\"42\"},\"kvs\":[%s,%s,%s,%s],\"count\":\"4\"}",
		 a, b, bad, badv);
	assert_int_equal(sy_etcd_parse_range(body, strlen(body), PFX, "web", &l, &sk, err, sizeof(err)),
			 SY_RESOLVE_OK);
	assert_int_equal(l.revision, 42);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.inst[0].addr.family, 4);
	assert_memory_equal(l.inst[0].addr.bytes, ((uint8_t[]){ 198, 18, 0, 11 }), 4);
	assert_int_equal(l.inst[0].port, 80);
	assert_int_equal(l.inst[0].weight, 5);
	assert_string_equal(l.inst[0].zone, "a");
	assert_int_equal(l.inst[1].addr.family, 6);
	assert_memory_equal(l.inst[1].addr.bytes, v6, 16);
	assert_int_equal(l.inst[1].port, 8080);
	assert_int_equal(l.inst[1].weight, 1); /* an empty value: defaults */
	/* the bad key and the bad value: skipped, counted, the first's reason */
	assert_int_equal(sk.n, 2);
	assert_non_null(strstr(sk.first, "198.18.0.011:80"));
	if (!strstr(sk.first, "198.18.0.011:80") || !strstr(sk.first, "is not"))
		fail_msg("first skipped: %s", sk.first);
	sy_source_list_free(&l);
	free(a);
	free(b);
	free(bad);
	free(badv);
}

static void test_range_empty(void **state)
{
	const char *body = "{\"header\":{\"revision\":\"3\"}}"; /* no key: no kvs */
	struct sy_source_list l;
	struct sy_etcd_skipped sk;
	char err[200];

	(void)state;
	assert_int_equal(sy_etcd_parse_range(body, strlen(body), PFX, "web", &l, &sk, err, sizeof(err)),
			 SY_RESOLVE_OK);
	assert_int_equal(l.revision, 3);
	assert_int_equal(l.n, 0);
	assert_int_equal(sk.n, 0);
}

/* Found by fuzz_resolve_etcd: an answer naming one backend twice gave a
 * list with a duplicate identity, which sy_service_update refuses (the
 * whole read then failed). Before the fix:
 *   [  ERROR   ] --- 0x2 != 0x1  (test_parse_etcd.c, l.n) */
static void test_range_twice(void **state)
{
	char *a = kv(PFX "web/198.18.0.11:80", "{\"weight\":5}", 7);
	char *b = kv(PFX "web/198.18.0.11:80", "{\"weight\":6}", 7);
	char body[1024], err[200];
	struct sy_source_list l;
	struct sy_etcd_skipped sk;

	(void)state;
	snprintf(body, sizeof(body), "{\"header\":{\"revision\":\"9\"},\"kvs\":[%s,%s]}", a, b);
	assert_int_equal(sy_etcd_parse_range(body, strlen(body), PFX, "web", &l, &sk, err, sizeof(err)),
			 SY_RESOLVE_OK);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.inst[0].weight, 5);
	assert_int_equal(sk.n, 1);
	if (!strstr(sk.first, "198.18.0.11:80\": a backend listed twice"))
		fail_msg("skipped: %s", sk.first);
	sy_source_list_free(&l);
	free(a);
	free(b);
}

static void expect_range_error(const char *body, const char *msg)
{
	struct sy_source_list l;
	struct sy_etcd_skipped sk;
	char err[200] = "";

	assert_int_equal(sy_etcd_parse_range(body, strlen(body), PFX, "web", &l, &sk, err, sizeof(err)),
			 SY_RESOLVE_EINVAL);
	if (!strstr(err, msg))
		fail_msg("'%s': error '%s', want '%s'", body, err, msg);
	assert_null(l.inst);
	assert_int_equal(l.n, 0);
}

static void test_range_malformed(void **state)
{
	(void)state;
	expect_range_error("", "kv/range: not JSON");
	expect_range_error("{\"header\":{\"revision\":\"4\"", "kv/range: not JSON");
	expect_range_error("[1,2]", "kv/range: not a JSON object");
	/* the gateway's error answer: its message */
	expect_range_error("{\"error\":\"etcdserver: user name is empty\",\"code\":3,\"message\":\"etcdserver: user name is empty\"}",
			   "kv/range: etcdserver: user name is empty");
	expect_range_error("{\"header\":{\"revision\":\"x1\"}}", "header.revision is not a number");
	expect_range_error("{\"header\":{\"revision\":\"4\"},\"kvs\":{}}", "kvs is not an array");
	expect_range_error("{\"header\":{\"revision\":\"4\"},\"kvs\":[],\"more\":true}", "a partial answer");
	expect_range_error("{\"kvs\":[]}", "not an answer of etcd's");
}

static void test_watch_events(void **state)
{
	char *put = kv(PFX "web/198.18.0.11:80", "{\"weight\":3}", 10);
	char *del = kv(PFX "web/198.18.0.12:80", "", 11);
	char *badv = kv(PFX "web/198.18.0.13:80", "not json", 12);
	char *other = kv(PFX "api/198.18.0.14:80", "", 12);
	char line[4096], err[200] = "";
	struct sy_etcd_watch_msg m;

	(void)state;
	snprintf(line, sizeof(line),
		 "{\"result\":{\"header\":{\"revision\":\"12\"},\"events\":[{\"kv\":%s},{\"type\":\"DELETE\",\"kv\":%s},{\"kv\":%s},{\"kv\":%s}]}}",
		 put, del, badv, other);
	assert_int_equal(sy_etcd_parse_watch(line, strlen(line), PFX, "web", &m, err, sizeof(err)),
			 SY_RESOLVE_OK);
	assert_false(m.created);
	assert_false(m.compacted);
	assert_int_equal(m.revision, 12);
	assert_int_equal(m.n, 3);
	assert_false(m.ch[0].gone);
	assert_int_equal(m.ch[0].inst.weight, 3);
	assert_true(m.ch[1].gone);
	assert_int_equal(m.ch[1].inst.addr.bytes[3], 12);
	/* a value that no longer describes a backend: the instance goes */
	assert_true(m.ch[2].gone);
	assert_int_equal(m.ch[2].inst.addr.bytes[3], 13);
	assert_int_equal(m.skipped.n, 2);
	assert_non_null(strstr(m.skipped.first, "not a JSON object"));
	sy_etcd_watch_msg_free(&m);
	free(put);
	free(del);
	free(badv);
	free(other);
}

static void test_watch_control(void **state)
{
	const char *created = "{\"result\":{\"header\":{\"revision\":\"5\"},\"created\":true}}";
	const char *compacted =
		"{\"result\":{\"header\":{\"revision\":\"90\"},\"canceled\":true,\"compact_revision\":\"80\"}}";
	struct sy_etcd_watch_msg m;
	char err[200];

	(void)state;
	assert_int_equal(sy_etcd_parse_watch(created, strlen(created), PFX, "web", &m, err, sizeof(err)), 0);
	assert_true(m.created);
	assert_int_equal(m.n, 0);
	assert_int_equal(m.revision, 0);
	assert_int_equal(sy_etcd_parse_watch(compacted, strlen(compacted), PFX, "web", &m, err, sizeof(err)), 0);
	assert_true(m.compacted);
	assert_int_equal(m.compact_revision, 80);
}

static void expect_watch_error(const char *line, const char *msg)
{
	struct sy_etcd_watch_msg m;
	char err[200] = "";

	assert_int_equal(sy_etcd_parse_watch(line, strlen(line), PFX, "web", &m, err, sizeof(err)),
			 SY_RESOLVE_EINVAL);
	if (!strstr(err, msg))
		fail_msg("'%s': error '%s', want '%s'", line, err, msg);
	assert_null(m.ch);
	assert_int_equal(m.n, 0);
}

static void test_watch_malformed(void **state)
{
	(void)state;
	expect_watch_error("{\"result\":", "watch: not JSON");
	expect_watch_error("{\"error\":{\"grpc_code\":14,\"http_code\":503,\"message\":\"etcdserver: no leader\"}}",
			   "watch: etcdserver: no leader");
	expect_watch_error("{\"result\":{\"canceled\":true,\"cancel_reason\":\"permission denied\"}}",
			   "watch canceled: permission denied");
	expect_watch_error("{\"result\":{\"events\":5}}", "events is not an array");
	expect_watch_error("{\"result\":{\"events\":[{\"type\":\"EXPIRE\",\"kv\":{\"mod_revision\":\"3\"}}]}}",
			   "events[0].type is not PUT or DELETE");
	expect_watch_error("{\"result\":{\"events\":[{\"kv\":{\"key\":\"\"}}]}}",
			   "events[0].kv.mod_revision is not a number");
}

static struct sy_etcd_change change(uint8_t last, uint16_t port, uint32_t weight, bool gone)
{
	struct sy_etcd_change c = { .gone = gone };

	c.inst.addr.family = 4;
	c.inst.addr.bytes[0] = 198;
	c.inst.addr.bytes[1] = 18;
	c.inst.addr.bytes[3] = last;
	c.inst.port = port;
	c.inst.weight = weight;
	return c;
}

static void test_apply(void **state)
{
	struct sy_source_list l = { 0 };
	struct sy_etcd_change ch[] = {
		change(1, 80, 1, false), change(2, 80, 1, false), change(1, 81, 1, false),
		change(1, 80, 9, false),  /* an update of the first */
		change(2, 80, 0, true),   /* gone */
		change(7, 80, 0, true),   /* gone, never there: nothing */
	};

	(void)state;
	assert_int_equal(sy_etcd_apply(&l, ch, 6), SY_RESOLVE_OK);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.inst[0].port, 80);
	assert_int_equal(l.inst[0].weight, 9);
	assert_int_equal(l.inst[1].port, 81);
	sy_source_list_free(&l);
}

static void test_service_prefix(void **state)
{
	char buf[32];

	(void)state;
	assert_int_equal(sy_etcd_service_prefix(PFX, "web", buf, sizeof(buf)), 25);
	assert_string_equal(buf, PFX "web/");
	assert_int_equal(sy_etcd_service_prefix(PFX, "a-very-long-service-name", buf, sizeof(buf)), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_range_ok),       cmocka_unit_test(test_range_empty),
		cmocka_unit_test(test_range_malformed), cmocka_unit_test(test_watch_events),
		cmocka_unit_test(test_watch_control),  cmocka_unit_test(test_watch_malformed),
		cmocka_unit_test(test_apply),          cmocka_unit_test(test_service_prefix),
		cmocka_unit_test(test_range_twice),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
