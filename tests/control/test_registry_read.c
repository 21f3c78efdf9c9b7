/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Tests of control/daemon/registry_read.c, the pure rules of reading the embedded
 * registry (docs/registry-api.md): who may read (the read token, the
 * service-name prefixes, a registration key never doubling as a token), the
 * query of a list or a watch (malformed ones refused with their reason), and
 * revisions (bumped only on a change of content, increasing across a
 * restart while the wall clock does, by one past the last when it does not).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "registry_read.h"

static const char TOKEN[] = "read-token-0123456789abcdef";
static const uint32_t PEER[4]; /* the reader's address: no address rule in these tests */
static const char PREFIXES[][64] = { "web", "api-" };

static struct sy_read_policy policy(const char *token, size_t n_prefixes)
{
	return (struct sy_read_policy){ .enabled = true, .token = token,
					.services = PREFIXES, .n_services = n_prefixes };
}

/* ---- access ------------------------------------------------------------- */

static void test_disabled_refuses_everything(void **state)
{
	struct sy_read_policy p = { .enabled = false };
	char err[256];

	(void)state;
	assert_int_equal(sy_read_authorize(&p, SY_AF_INET, PEER, "Bearer x", "web", err, sizeof(err)), SY_READ_DISABLED);
	assert_int_equal(sy_read_auth_status(SY_READ_DISABLED), 403);
	assert_non_null(strstr(err, "registry.embedded.read"));
	/* the list of services too */
	assert_int_equal(sy_read_authorize(&p, SY_AF_INET, PEER, NULL, NULL, err, sizeof(err)), SY_READ_DISABLED);
}

static void test_token_required_when_configured(void **state)
{
	struct sy_read_policy p = policy(TOKEN, 0);
	char err[256], hdr[128];

	(void)state;
	assert_int_equal(sy_read_authorize(&p, SY_AF_INET, PEER, NULL, "web", err, sizeof(err)), SY_READ_NO_TOKEN);
	assert_int_equal(sy_read_auth_status(SY_READ_NO_TOKEN), 401);
	assert_non_null(strstr(err, "Authorization: Bearer"));
	/* another scheme is no token */
	assert_int_equal(sy_read_authorize(&p, SY_AF_INET, PEER, "Basic abc", "web", err, sizeof(err)), SY_READ_NO_TOKEN);
	/* wrong, a prefix of it, longer, empty: all refused */
	assert_int_equal(sy_read_authorize(&p, SY_AF_INET, PEER, "Bearer nope", "web", err, sizeof(err)), SY_READ_BAD_TOKEN);
	assert_string_equal(err, "wrong read token");
	snprintf(hdr, sizeof(hdr), "Bearer %.*s", (int)strlen(TOKEN) - 1, TOKEN);
	assert_int_equal(sy_read_authorize(&p, SY_AF_INET, PEER, hdr, "web", err, sizeof(err)), SY_READ_BAD_TOKEN);
	snprintf(hdr, sizeof(hdr), "Bearer %sX", TOKEN);
	assert_int_equal(sy_read_authorize(&p, SY_AF_INET, PEER, hdr, "web", err, sizeof(err)), SY_READ_BAD_TOKEN);
	assert_int_equal(sy_read_authorize(&p, SY_AF_INET, PEER, "Bearer ", "web", err, sizeof(err)), SY_READ_BAD_TOKEN);
	assert_int_equal(sy_read_auth_status(SY_READ_BAD_TOKEN), 401);
	snprintf(hdr, sizeof(hdr), "Bearer %s", TOKEN);
	assert_int_equal(sy_read_authorize(&p, SY_AF_INET, PEER, hdr, "web", err, sizeof(err)), SY_READ_OK);
	assert_int_equal(sy_read_authorize(&p, SY_AF_INET, PEER, hdr, NULL, err, sizeof(err)), SY_READ_OK);
}

static void test_unauthenticated_when_configured_so(void **state)
{
	struct sy_read_policy p = policy(NULL, 0);
	char err[256];

	(void)state;
	assert_int_equal(sy_read_authorize(&p, SY_AF_INET, PEER, NULL, "anything", err, sizeof(err)), SY_READ_OK);
	assert_int_equal(sy_read_authorize(&p, SY_AF_INET, PEER, "Bearer whatever", "web", err, sizeof(err)), SY_READ_OK);
}

static void test_prefixes(void **state)
{
	struct sy_read_policy p = policy(TOKEN, 2), all = policy(TOKEN, 0);
	char err[256], hdr[128];

	(void)state;
	assert_true(sy_read_service_allowed(&p, "web"));
	assert_true(sy_read_service_allowed(&p, "web-eu"));
	assert_true(sy_read_service_allowed(&p, "webshop")); /* a prefix, documented */
	assert_true(sy_read_service_allowed(&p, "api-v2"));
	assert_false(sy_read_service_allowed(&p, "api"));     /* shorter than "api-" */
	assert_false(sy_read_service_allowed(&p, "we"));
	assert_false(sy_read_service_allowed(&p, "db"));
	assert_false(sy_read_service_allowed(&p, "xweb"));
	assert_true(sy_read_service_allowed(&all, "db"));     /* none listed: every service */
	snprintf(hdr, sizeof(hdr), "Bearer %s", TOKEN);
	assert_int_equal(sy_read_authorize(&p, SY_AF_INET, PEER, hdr, "db", err, sizeof(err)), SY_READ_FORBIDDEN);
	assert_int_equal(sy_read_auth_status(SY_READ_FORBIDDEN), 403);
	assert_non_null(strstr(err, "'db' is outside"));
	/* the credential is judged before the service: a stranger learns nothing */
	assert_int_equal(sy_read_authorize(&p, SY_AF_INET, PEER, NULL, "db", err, sizeof(err)), SY_READ_NO_TOKEN);
}

/* A registration key is never a read token: its bytes or their hex. */
/* The reader's address, before anything else: a stranger learns nothing. */
static void test_reader_addresses(void **state)
{
	struct sy_prefix peers[2];
	struct sy_read_policy p = policy(TOKEN, 0);
	uint32_t in[4] = { 0 }, out[4] = { 0 }, in6[4] = { 0 }, mapped[4] = { 0 };
	char err[256], hdr[128];

	(void)state;
	assert_int_equal(sy_prefix_parse("198.18.0.0/24", &peers[0]), 0);
	assert_int_equal(sy_prefix_parse("2001:2::/48", &peers[1]), 0);
	p.peers = peers;
	p.n_peers = 2;
	inet_pton(AF_INET, "198.18.0.11", in);
	inet_pton(AF_INET, "198.18.1.11", out);
	inet_pton(AF_INET6, "2001:2::7", in6);
	inet_pton(AF_INET6, "::ffff:198.18.0.12", mapped);
	snprintf(hdr, sizeof(hdr), "Bearer %s", TOKEN);
	assert_int_equal(sy_read_authorize(&p, SY_AF_INET, in, hdr, "web", err, sizeof(err)), SY_READ_OK);
	assert_int_equal(sy_read_authorize(&p, SY_AF_INET6, in6, hdr, "web", err, sizeof(err)), SY_READ_OK);
	assert_int_equal(sy_read_authorize(&p, SY_AF_INET6, mapped, hdr, "web", err, sizeof(err)), SY_READ_OK);
	/* outside: refused with the right token too, and before a wrong one */
	assert_int_equal(sy_read_authorize(&p, SY_AF_INET, out, hdr, "web", err, sizeof(err)), SY_READ_ADDRESS);
	assert_string_equal(err, "reader address 198.18.1.11 is not in registry.embedded.read.allowed_prefixes");
	assert_int_equal(sy_read_auth_status(SY_READ_ADDRESS), 403);
	assert_int_equal(sy_read_authorize(&p, SY_AF_INET, out, NULL, "web", err, sizeof(err)), SY_READ_ADDRESS);
	/* an unknown family (no address) is outside */
	assert_int_equal(sy_read_authorize(&p, 0, out, hdr, "web", err, sizeof(err)), SY_READ_ADDRESS);
	/* none configured: any address */
	p.n_peers = 0;
	assert_int_equal(sy_read_authorize(&p, SY_AF_INET, out, hdr, "web", err, sizeof(err)), SY_READ_OK);
}

static void test_prefixes_of_config(void **state)
{
	struct sy_config_prefix in[3] = {
		{ .family = SY_AF_INET, .prefix_len = 24, .addr = { 0x000012c6 } },
		{ .family = SY_AF_INET6, .prefix_len = 48, .addr = { 0x02000120 } },
		{ .family = SY_AF_INET, .prefix_len = 8, .addr = { 0x0a } },
	};
	struct sy_prefix out[2];

	(void)state;
	assert_int_equal(sy_prefixes_of_config(in, 3, out, 2), 2); /* bounded by cap */
	assert_int_equal(out[0].family, SY_AF_INET);
	assert_int_equal(out[0].len, 24);
	assert_memory_equal(out[0].addr, in[0].addr, 16);
	assert_int_equal(out[1].family, SY_AF_INET6);
	assert_int_equal(out[1].len, 48);
	assert_memory_equal(out[1].addr, in[1].addr, 16);
}

static void test_token_is_key(void **state)
{
	uint8_t key[32];
	char hex[65], raw[33];

	(void)state;
	for (int i = 0; i < 32; i++)
		key[i] = (uint8_t)(0xa0 + i);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", key[i]);
	assert_true(sy_read_token_is_key(hex, key, 32));
	for (int i = 0; hex[i]; i++) /* either case */
		hex[i] = (char)(hex[i] >= 'a' && hex[i] <= 'f' ? hex[i] - 'a' + 'A' : hex[i]);
	assert_true(sy_read_token_is_key(hex, key, 32));
	hex[63] = hex[63] == '0' ? '1' : '0';
	assert_false(sy_read_token_is_key(hex, key, 32));
	for (int i = 0; i < 32; i++) /* a raw key of printable bytes */
		key[i] = (uint8_t)('A' + i % 26);
	memcpy(raw, key, 32);
	raw[32] = 0;
	assert_true(sy_read_token_is_key(raw, key, 32));
	assert_false(sy_read_token_is_key(TOKEN, key, 32));
}

/* ---- the query ---------------------------------------------------------- */

static void expect_bad(const char *index, const char *wait, const char *why)
{
	struct sy_read_query q;
	char err[256];

	assert_int_equal(sy_read_query_parse(index, wait, &q, err, sizeof(err)), -1);
	if (!strstr(err, why))
		fail_msg("index=%s wait=%s: '%s' lacks '%s'", index, wait, err, why);
}

static void test_query(void **state)
{
	struct sy_read_query q;
	char err[256];

	(void)state;
	assert_int_equal(sy_read_query_parse(NULL, NULL, &q, err, sizeof(err)), 0);
	assert_false(q.watch);
	assert_int_equal(sy_read_query_parse("42", NULL, &q, err, sizeof(err)), 0);
	assert_true(q.watch);
	assert_true(q.index == 42);
	assert_int_equal(q.wait_ms, SY_WATCH_DEFAULT_WAIT_MS);
	assert_int_equal(sy_read_query_parse("18446744073709551615", "30s", &q, err, sizeof(err)), 0);
	assert_true(q.index == UINT64_MAX);
	assert_int_equal(q.wait_ms, 30000);
	assert_int_equal(sy_read_query_parse("0", "500ms", &q, err, sizeof(err)), 0);
	assert_int_equal(q.wait_ms, 500);
	assert_int_equal(sy_read_query_parse("0", "5m", &q, err, sizeof(err)), 0);
	assert_int_equal(q.wait_ms, 300000);
	assert_int_equal(sy_read_query_parse("0", "300", &q, err, sizeof(err)), 0); /* seconds */
	assert_int_equal(q.wait_ms, 300000);
	assert_int_equal(sy_read_query_parse("0", "300000ms", &q, err, sizeof(err)), 0);

	expect_bad("abc", NULL, "index: 'abc' is not a revision");
	expect_bad("", NULL, "is not a revision");
	expect_bad("-1", NULL, "is not a revision");
	expect_bad("1 ", NULL, "is not a revision");
	expect_bad("0x10", NULL, "is not a revision");
	expect_bad("18446744073709551616", NULL, "is not a revision"); /* 2^64 */
	expect_bad("1", "-1", "wait: '-1' is not a duration");
	expect_bad("1", "", "is not a duration");
	expect_bad("1", "s", "is not a duration");
	expect_bad("1", "10h", "is not a duration");
	expect_bad("1", "1.5s", "is not a duration");
	expect_bad("1", "99999", "wait: '99999' is out of range");
	expect_bad("1", "301s", "out of range");
	expect_bad("1", "6m", "out of range");
	expect_bad("1", "300001ms", "out of range");
	expect_bad("1", "0", "out of range");
	expect_bad("1", "99999999999999999999999", "out of range");
	expect_bad(NULL, "5s", "wait without index");
}

/* ---- revisions ---------------------------------------------------------- */

static void test_revision_next(void **state)
{
	(void)state;
	/* the wall clock ahead: taken */
	assert_true(sy_revision_next(100, 5000) == 5000);
	/* behind or equal (a burst within one microsecond, a clock stepped
	 * back): one past the last, never backwards */
	assert_true(sy_revision_next(5000, 5000) == 5001);
	assert_true(sy_revision_next(5000, 10) == 5001);
}

static void test_revision_update(void **state)
{
	struct sy_revision r = { 0 };
	uint64_t first;

	(void)state;
	/* the first content always gets a revision */
	assert_true(sy_revision_update(&r, 0xabc, 1000));
	assert_true(r.revision == 1000);
	first = r.revision;
	/* the same content: no new revision, whatever the time */
	assert_false(sy_revision_update(&r, 0xabc, 9000));
	assert_true(r.revision == first);
	/* a change: a new one, increasing even if the clock did not move */
	assert_true(sy_revision_update(&r, 0xdef, 1000));
	assert_true(r.revision == 1001);
	assert_true(sy_revision_update(&r, 0xabc, 1000));
	assert_true(r.revision == 1002);
	/* a watch parks only at the current revision: above its index
	 * answers (a change), and so does below it (an index from before a
	 * restart whose clock stepped back: the client must reset now) */
	assert_true(sy_watch_answers_now(&r, 1001));
	assert_false(sy_watch_answers_now(&r, 1002));
	assert_true(sy_watch_answers_now(&r, 5000));
	/* a restart: a fresh state at a later wall clock starts above */
	{
		struct sy_revision again = { 0 };

		assert_true(sy_revision_update(&again, 0xabc, 2000));
		assert_true(again.revision > r.revision);
	}
}

static void test_fnv(void **state)
{
	(void)state;
	/* FNV-1a 64 reference values */
	assert_true(sy_fnv64(SY_FNV64_INIT, "", 0) == 0xcbf29ce484222325ull);
	assert_true(sy_fnv64(SY_FNV64_INIT, "a", 1) == 0xaf63dc4c8601ec8cull);
	assert_true(sy_fnv64(sy_fnv64(SY_FNV64_INIT, "fo", 2), "obar", 4) ==
		    sy_fnv64(SY_FNV64_INIT, "foobar", 6));
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(sy_read_refusal_str(SY_REFUSED_TOO_MANY_WATCHERS), "too_many_watchers");
	assert_string_equal(sy_read_refusal_str(SY_REFUSED_N), "?");
	assert_string_equal(sy_watch_wake_str(SY_WAKE_SHUTDOWN), "shutdown");
	assert_string_equal(sy_read_auth_str(SY_READ_BAD_TOKEN), "bad_token");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_disabled_refuses_everything),
		cmocka_unit_test(test_token_required_when_configured),
		cmocka_unit_test(test_unauthenticated_when_configured_so),
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_reader_addresses),
		cmocka_unit_test(test_prefixes_of_config),
		cmocka_unit_test(test_token_is_key),
		cmocka_unit_test(test_query),
		cmocka_unit_test(test_revision_next),
		cmocka_unit_test(test_revision_update),
		cmocka_unit_test(test_fnv),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
