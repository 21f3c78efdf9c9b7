/* SPDX-License-Identifier: BSD-3-Clause
 *
 * control/registry/zk_client.c's pure pieces (sy-control, syctl and the resolver use
 * them): zk:// URLs, paths, what a watcher event means. The network parts
 * are covered by the integration tests zk_source and resolve_zk.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "zk_client.h"

static void test_url(void **state)
{
	char hosts[128], prefix[64], why[160];

	(void)state;
	assert_int_equal(sy_zk_url_parse("zk://127.0.0.1:2181", hosts, sizeof(hosts), prefix,
					 sizeof(prefix), why, sizeof(why)), 0);
	assert_string_equal(hosts, "127.0.0.1:2181");
	assert_string_equal(prefix, "/switchyard/services");
	assert_int_equal(sy_zk_url_parse("zk://a:1,b:2/x/y/", hosts, sizeof(hosts), prefix,
					 sizeof(prefix), why, sizeof(why)), 0);
	assert_string_equal(hosts, "a:1,b:2");
	assert_string_equal(prefix, "/x/y");
	assert_int_equal(sy_zk_url_parse("zk://a:1/", hosts, sizeof(hosts), prefix,
					 sizeof(prefix), why, sizeof(why)), 0);
	assert_string_equal(prefix, "/switchyard/services");

	assert_int_equal(sy_zk_url_parse("zk://127.0.0.1", hosts, sizeof(hosts), prefix,
					 sizeof(prefix), why, sizeof(why)), -1);
	assert_string_equal(why, "server '127.0.0.1' is not HOST:PORT");
	assert_int_equal(sy_zk_url_parse("zk://a:1,,b:2", hosts, sizeof(hosts), prefix,
					 sizeof(prefix), why, sizeof(why)), -1);
	assert_string_equal(why, "an empty server in 'a:1,,b:2'");
	assert_int_equal(sy_zk_url_parse("zk://a:0", hosts, sizeof(hosts), prefix,
					 sizeof(prefix), why, sizeof(why)), -1);
	assert_int_equal(sy_zk_url_parse("zk://a:1//x", hosts, sizeof(hosts), prefix,
					 sizeof(prefix), why, sizeof(why)), -1);
	assert_int_equal(sy_zk_url_parse("zk:///x", hosts, sizeof(hosts), prefix,
					 sizeof(prefix), why, sizeof(why)), -1);
	assert_int_equal(sy_zk_url_parse("etcd://a:1", hosts, sizeof(hosts), prefix,
					 sizeof(prefix), why, sizeof(why)), -1);
}

static void test_paths(void **state)
{
	char buf[64];

	(void)state;
	assert_int_equal(sy_zk_service_path("/switchyard/services", "web", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/switchyard/services/web");
	assert_int_equal(sy_zk_service_path("/", "web", buf, sizeof(buf)), 0); /* no "//" */
	assert_string_equal(buf, "/web");
	assert_int_equal(sy_zk_child_path("/web", "[2001:2::11]:80", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/web/[2001:2::11]:80");
	assert_int_equal(sy_zk_service_path("/a", "a-service-name-that-does-not-fit-in-sixty-four-bytes-with-its-prefix",
					    buf, sizeof(buf)), -1);
}

static void test_events(void **state)
{
	(void)state;
	assert_int_equal(sy_zk_event(ZOO_SESSION_EVENT, ZOO_CONNECTED_STATE, ""), SY_ZK_EV_CONNECTED);
	assert_int_equal(sy_zk_event(ZOO_SESSION_EVENT, ZOO_EXPIRED_SESSION_STATE, ""), SY_ZK_EV_EXPIRED);
	assert_int_equal(sy_zk_event(ZOO_SESSION_EVENT, ZOO_AUTH_FAILED_STATE, ""), SY_ZK_EV_EXPIRED);
	assert_int_equal(sy_zk_event(ZOO_SESSION_EVENT, ZOO_CONNECTING_STATE, ""), SY_ZK_EV_OTHER);
	assert_int_equal(sy_zk_event(ZOO_CHILD_EVENT, ZOO_CONNECTED_STATE, "/web"), SY_ZK_EV_NODE);
	assert_int_equal(sy_zk_event(ZOO_CHANGED_EVENT, ZOO_CONNECTED_STATE, NULL), SY_ZK_EV_OTHER);
	assert_true(sy_zk_transient(ZCONNECTIONLOSS));
	assert_false(sy_zk_transient(ZNOAUTH));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url),
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_events),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
