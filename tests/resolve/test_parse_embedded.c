/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The parser of the embedded registry's answers (resolve/parse_embedded.c):
 * the documented answer (docs/registry-api.md) is read field by field, and
 * every malformed one is an error with a message naming what is wrong.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "parse_embedded.h"

/* The example of docs/registry-api.md, one line. */
#define GOOD                                                                                  \
	"{\"service\":\"web\",\"revision\":1796364613126345,\"state\":\"ok\",\"state_reason\":\"\"," \
	"\"vip\":{\"address\":\"198.18.1.1\",\"port\":80,\"protocol\":\"tcp\"},"                 \
	"\"maglev\":{\"table_size\":65537,\"hash_seed\":7},\"instances\":["                      \
	"{\"id\":\"198.18.0.11:80\",\"address\":\"198.18.0.11\",\"port\":80,\"weight\":1,"       \
	"\"zone\":\"a\",\"metadata\":{\"version\":\"1.2\"},\"source\":\"embedded\","            \
	"\"live\":true,\"expires_in_ms\":4213},"                                                  \
	"{\"id\":\"[2001:2::12]:8080\",\"address\":\"2001:2::12\",\"port\":8080,\"weight\":0,"   \
	"\"zone\":\"\",\"metadata\":{},\"source\":\"static\",\"live\":true,\"expires_in_ms\":null}]}"

static void test_good(void **state)
{
	struct sy_source_list a;
	char err[200] = "";
	const uint8_t v6[16] = { 0x20, 0x01, 0, 2, [15] = 0x12 };

	(void)state;
	assert_int_equal(sy_embedded_parse(GOOD, strlen(GOOD), "web", &a, err, sizeof(err)), 0);
	assert_int_equal(a.revision, 1796364613126345ull);
	assert_false(a.fail_static);
	assert_int_equal(a.table_size, 65537);
	assert_int_equal(a.hash_seed, 7);
	assert_int_equal(a.n, 2);
	assert_int_equal(a.inst[0].addr.family, 4);
	assert_memory_equal(a.inst[0].addr.bytes, "\xc6\x12\x00\x0b", 4);
	assert_int_equal(a.inst[0].port, 80);
	assert_int_equal(a.inst[0].weight, 1);
	assert_string_equal(a.inst[0].zone, "a");
	assert_int_equal(a.inst[1].addr.family, 6);
	assert_memory_equal(a.inst[1].addr.bytes, v6, 16);
	assert_int_equal(a.inst[1].port, 8080);
	assert_int_equal(a.inst[1].weight, 0);
	assert_string_equal(a.inst[1].zone, "");
	sy_source_list_free(&a);
	/* not NUL-terminated: only len bytes are read */
	assert_int_equal(sy_embedded_parse(GOOD "garbage", strlen(GOOD), NULL, &a, err, sizeof(err)),
			 0);
	sy_source_list_free(&a);
}

static void test_fail_static_empty(void **state)
{
	const char *s = "{\"service\":\"w\",\"revision\":0,\"state\":\"fail-static\","
			"\"maglev\":{\"table_size\":251,\"hash_seed\":4294967295},\"instances\":[]}";
	struct sy_source_list a;
	char err[200];

	(void)state;
	assert_int_equal(sy_embedded_parse(s, strlen(s), "w", &a, err, sizeof(err)), 0);
	assert_true(a.fail_static);
	assert_int_equal(a.n, 0);
	assert_null(a.inst);
	assert_int_equal(a.hash_seed, 4294967295u);
	assert_int_equal(a.hash, SY_RESOLVE_HASH_5TUPLE); /* absent: the 5-tuple */
	sy_source_list_free(&a);
}

/* maglev.hash names what the balancer hashes (services.<name>.hash) */
static void test_hash(void **state)
{
	const char *s = "{\"service\":\"w\",\"revision\":0,\"state\":\"ok\",\"maglev\":{\"table_size\":"
			"251,\"hash_seed\":1,\"hash\":\"source-ip\"},\"instances\":[]}";
	struct sy_source_list a;
	char err[200];

	(void)state;
	assert_int_equal(sy_embedded_parse(s, strlen(s), "w", &a, err, sizeof(err)), 0);
	assert_int_equal(a.hash, SY_RESOLVE_HASH_SOURCE_IP);
	sy_source_list_free(&a);
}

/* Each malformed answer: EINVAL and the message. */
static void test_bad(void **state)
{
#define HEAD "{\"service\":\"web\",\"revision\":5,\"state\":\"ok\",\"maglev\":{\"table_size\":251,\"hash_seed\":0},"
#define INST(x) HEAD "\"instances\":[" x "]}"
	static const struct {
		const char *body, *service, *msg;
	} cases[] = {
		{ "", NULL, "not JSON: " },
		{ "{\"service\":", NULL, "not JSON: " },
		{ "[1,2]", NULL, "the answer is not a JSON object" },
		{ "{\"error\":\"no service 'x'\"}", NULL, "service: missing" },
		{ INST(""), "api", "the answer is about service 'web', not 'api'" },
		{ "{\"service\":\"web\",\"revision\":-1}", NULL, "revision: -1 out of range" },
		{ "{\"service\":\"web\",\"revision\":\"5\"}", NULL, "revision: not an integer" },
		{ "{\"service\":\"web\",\"revision\":1e3}", NULL, "revision: not an integer" },
		{ "{\"service\":\"web\",\"revision\":18446744073709551615}", NULL, "not JSON: " },
		{ "{\"service\":\"web\",\"revision\":5,\"state\":\"panic\"}", NULL, "state: not \"ok\" or \"fail-static\"" },
		{ "{\"service\":\"web\",\"revision\":5,\"state\":\"ok\"}", NULL, "maglev: missing" },
		{ "{\"service\":\"web\",\"revision\":5,\"state\":\"ok\",\"maglev\":{\"table_size\":7,\"hash_seed\":0}}",
		  NULL, "maglev.table_size: 7 out of range 251..1048573" },
		{ "{\"service\":\"web\",\"revision\":5,\"state\":\"ok\",\"maglev\":{\"table_size\":251,\"hash_seed\":4294967296}}",
		  NULL, "maglev.hash_seed: 4294967296 out of range" },
		{ "{\"service\":\"web\",\"revision\":5,\"state\":\"ok\",\"maglev\":{\"table_size\":251,\"hash_seed\":0,\"hash\":\"mac\"}}",
		  NULL, "maglev.hash: not 5-tuple, 3-tuple, source-ip or source-ip-port" },
		{ "{\"service\":\"web\",\"revision\":5,\"state\":\"ok\",\"maglev\":{\"table_size\":251,\"hash_seed\":0,\"hash\":2}}",
		  NULL, "maglev.hash: not 5-tuple" },
		{ HEAD "\"instances\":{}}", NULL, "instances: not an array" },
		{ INST("1"), NULL, "instances[0]: not an object" },
		{ INST("{\"port\":80,\"weight\":1}"), NULL, "instances[0].address: missing" },
		{ INST("{\"address\":\"198.18.0.300\",\"port\":80,\"weight\":1}"), NULL,
		  "instances[0].address: '198.18.0.300' is not an IPv4 or IPv6 address" },
		{ INST("{\"address\":\"198.18.0.1\",\"port\":0,\"weight\":1}"), NULL,
		  "instances[0].port: 0 out of range 1..65535" },
		{ INST("{\"address\":\"198.18.0.1\",\"port\":80,\"weight\":1},"
		       "{\"address\":\"198.18.0.2\",\"port\":80,\"weight\":65536}"), NULL,
		  "instances[1].weight: 65536 out of range 0..65535" },
		{ INST("{\"address\":\"198.18.0.1\",\"port\":80,\"weight\":true}"), NULL,
		  "instances[0].weight: not an integer" },
		{ INST("{\"address\":\"198.18.0.1\",\"port\":80,\"weight\":1,\"zone\":\"0123456789012345678901234567890123\"}"),
		  NULL, "instances[0].zone: not a string of at most 31 bytes" },
		{ "{\"service\":\"web\",\"service\":\"api\"}", NULL, "not JSON: duplicate object key" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sy_source_list a;
		char err[200] = "";
		int rc = sy_embedded_parse(cases[i].body, strlen(cases[i].body), cases[i].service, &a,
					   err, sizeof(err));

		if (rc != SY_RESOLVE_EINVAL || strncmp(err, cases[i].msg, strlen(cases[i].msg)))
			fail_msg("case %zu (%s): rc %d, message '%s', want '%s'", i, cases[i].body, rc,
				 err, cases[i].msg);
		assert_null(a.inst);
	}
	{
		struct sy_source_list a;
		char err[200];

		assert_int_equal(sy_embedded_parse(NULL, 0, NULL, &a, err, sizeof(err)),
				 SY_RESOLVE_EINVAL);
		assert_string_equal(err, "no answer body");
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_fail_static_empty),
		cmocka_unit_test(test_hash),
		cmocka_unit_test(test_bad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
