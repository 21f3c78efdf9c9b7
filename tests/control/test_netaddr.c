/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Tests of control/netaddr.c's backend rule (sy_backend_addr_unusable,
 * sy_backend_id_check): the addresses no packet can be forwarded to are
 * refused with the reason, in IPv4, IPv6 and IPv4-mapped IPv6 form; the
 * ranges operators and tests use stay allowed. And the base URLs syctl
 * accepts (sy_check_http_base).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "netaddr.h"

static const char *verdict(const char *text)
{
	uint32_t a[4];
	uint8_t f;

	assert_int_equal(sy_parse_ip(text, &f, a), 0);
	return sy_backend_addr_unusable(f, a);
}

static void test_refused(void **state)
{
	static const struct {
		const char *addr, *why;
	} cases[] = {
		{ "0.0.0.0", "unspecified" },
		{ "0.1.2.3", "0.0.0.0/8" },
		{ "127.0.0.1", "loopback" },
		{ "127.255.255.254", "loopback" },
		{ "224.0.0.1", "multicast" },
		{ "239.255.255.255", "multicast" },
		{ "255.255.255.255", "broadcast" },
		{ "::", "unspecified" },
		{ "::1", "loopback" },
		{ "ff02::1", "multicast" },
		{ "ff05::1:3", "multicast" },
		{ "::ffff:127.0.0.1", "loopback" },
		{ "::ffff:0.0.0.0", "unspecified" },
		{ "::ffff:224.0.0.5", "multicast" },
		{ "::ffff:255.255.255.255", "broadcast" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *why = verdict(cases[i].addr);

		if (!why || !strstr(why, cases[i].why))
			fail_msg("%s: got '%s', want a reason with '%s'", cases[i].addr,
				 why ? why : "(allowed)", cases[i].why);
	}
}

static void test_allowed(void **state)
{
	static const char *const ok[] = {
		"198.18.0.11",  "198.19.255.254", "10.0.0.1",    "169.254.1.1", "1.0.0.0",
		"223.255.255.255", "240.0.0.1",   "254.255.255.255", "255.255.255.254",
		"2001:2::11",   "fe80::1",        "fd00::1",     "::2",         "::ffff:198.18.0.11",
		"fe00::1",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		const char *why = verdict(ok[i]);

		if (why)
			fail_msg("%s refused: %s", ok[i], why);
	}
}

static void test_id_check(void **state)
{
	struct sy_backend_id id;
	char why[160];

	(void)state;
	assert_int_equal(sy_parse_endpoint("198.18.0.11:80", &id), 0);
	assert_int_equal(sy_backend_id_check(&id, false, why, sizeof(why)), 0);
	assert_int_equal(sy_parse_endpoint("127.0.0.1:80", &id), 0);
	assert_int_equal(sy_backend_id_check(&id, true, why, sizeof(why)), -1);
	assert_string_equal(why, "127.0.0.1 cannot be a backend: a loopback address (127.0.0.0/8)");
	assert_int_equal(sy_parse_endpoint("[ff02::1]:80", &id), 0);
	assert_int_equal(sy_backend_id_check(&id, false, why, sizeof(why)), -1);
	assert_string_equal(why, "ff02::1 cannot be a backend: a multicast address (ff00::/8)");
	/* port 0: only an all-ports service's backend */
	assert_int_equal(sy_parse_endpoint("198.18.0.11:0", &id), 0);
	assert_int_equal(sy_backend_id_check(&id, false, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "port 0"));
	assert_int_equal(sy_backend_id_check(&id, true, why, sizeof(why)), 0);
	/* not an address family */
	id.family = 0;
	assert_int_equal(sy_backend_id_check(&id, true, why, sizeof(why)), -1);
}

/* syctl --url and register --registry http://...: a base URL or a usage error */
static void test_http_base(void **state)
{
	static const char *const good[] = {
		"http://127.0.0.1:9180", "http://127.0.0.1:9180/", "http://localhost",
		"https://lb-1.example:443", "http://[::1]:9180", "http://[2001:2::1]",
	};
	static const char *const bad[] = {
		"not a url", "127.0.0.1:9180", "ftp://h:1", "http://", "http://:80",
		"http://h:0", "http://h:65536", "http://h:", "http://h:80/v1",
		"http://h 1:80", "http://[::1", "http://[zz]:80", "http://h:80?x",
		"http://user@h:80",
	};
	char why[300];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (sy_check_http_base(good[i], why, sizeof(why)))
			fail_msg("%s refused: %s", good[i], why);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (!sy_check_http_base(bad[i], why, sizeof(why)))
			fail_msg("%s accepted", bad[i]);
		assert_non_null(strstr(why, "is not http://HOST[:PORT]"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_allowed),
		cmocka_unit_test(test_id_check),
		cmocka_unit_test(test_http_base),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
