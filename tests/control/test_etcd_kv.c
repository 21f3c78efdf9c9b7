/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Tests of control/registry/etcd_kv.c: base64 both ways, prefix range ends, 64-bit
 * numbers as JSON strings, and the etcd registry's key and value format
 * (good and malformed keys and values).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "etcd_gateway.h"
#include "etcd_kv.h"

static void test_base64(void **state)
{
	static const char *const plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	static const char *const enc[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };
	uint8_t bin[256];

	(void)state;
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		char *e = sy_b64_encode(plain[i], strlen(plain[i]));
		size_t n;
		uint8_t *d;

		assert_string_equal(e, enc[i]);
		d = sy_b64_decode(e, &n);
		assert_non_null(d);
		assert_int_equal(n, strlen(plain[i]));
		assert_memory_equal(d, plain[i], n);
		free(e);
		free(d);
	}
	for (int i = 0; i < 256; i++)
		bin[i] = (uint8_t)(255 - i);
	for (size_t len = 0; len <= sizeof(bin); len += 17) {
		char *e = sy_b64_encode(bin, len);
		size_t n;
		uint8_t *d = sy_b64_decode(e, &n);

		assert_non_null(d);
		assert_int_equal(n, len);
		assert_memory_equal(d, bin, len);
		free(e);
		free(d);
	}
	{
		size_t n;
		uint8_t *d = sy_b64_decode("Zm9v", &n); /* no padding needed */

		assert_int_equal(n, 3);
		free(d);
		d = sy_b64_decode("Zg", &n); /* padding optional */
		assert_non_null(d);
		assert_int_equal(n, 1);
		free(d);
	}
	assert_null(sy_b64_decode("Zm9v!", &(size_t){ 0 }));
	assert_null(sy_b64_decode("Z", &(size_t){ 0 }));
	assert_null(sy_b64_decode("Zg===", &(size_t){ 0 }));
}

static void test_range_end(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(sy_etcd_range_end("/switchyard/services/", out), 21);
	assert_string_equal(out, "/switchyard/services0");
	assert_int_equal(sy_etcd_range_end("a\xff", out), 1);
	assert_string_equal(out, "b");
}

static void test_u64(void **state)
{
	json_t *j = json_loads("{\"a\":\"7587873440470812937\",\"b\":12,\"c\":\"x1\",\"d\":-1,\"e\":\"\"}", 0, NULL);
	uint64_t v;

	(void)state;
	assert_true(sy_etcd_u64(json_object_get(j, "a"), &v));
	assert_true(v == 7587873440470812937ull); /* above 2^53: no double on the way */
	assert_true(sy_etcd_u64(json_object_get(j, "b"), &v));
	assert_int_equal(v, 12);
	assert_false(sy_etcd_u64(json_object_get(j, "c"), &v));
	assert_false(sy_etcd_u64(json_object_get(j, "d"), &v));
	assert_false(sy_etcd_u64(json_object_get(j, "e"), &v));
	assert_false(sy_etcd_u64(json_object_get(j, "missing"), &v));
	json_decref(j);
}

#define PFX "/switchyard/services/"

static int key(const char *k, struct sy_etcd_entry *e)
{
	char why[160];

	return sy_etcd_parse_key((const uint8_t *)k, strlen(k), PFX, e, why, sizeof(why));
}

static int value(const char *v, struct sy_etcd_entry *e)
{
	char why[160];

	return sy_etcd_parse_value((const uint8_t *)v, strlen(v), e, why, sizeof(why));
}

static void test_keys(void **state)
{
	struct sy_etcd_entry e;
	char buf[256];
	uint32_t a4;
	uint8_t a6[16];

	(void)state;
	assert_int_equal(key(PFX "web/198.18.0.11:80", &e), 0);
	assert_string_equal(e.service, "web");
	inet_pton(AF_INET, "198.18.0.11", &a4);
	assert_int_equal(e.id.family, 4);
	assert_int_equal(e.id.port, 80);
	assert_true(e.id.addr[0] == a4);
	assert_int_equal(key(PFX "api.v2_x-y/[2001:db8::5]:443", &e), 0);
	assert_string_equal(e.service, "api.v2_x-y");
	inet_pton(AF_INET6, "2001:db8::5", a6);
	assert_int_equal(e.id.family, 6);
	assert_memory_equal(e.id.addr, a6, 16);
	assert_int_equal(sy_etcd_format_key(PFX, "api.v2_x-y", &e.id, buf, sizeof(buf)),
			 (int)strlen(PFX "api.v2_x-y/[2001:db8::5]:443"));
	assert_string_equal(buf, PFX "api.v2_x-y/[2001:db8::5]:443");

	assert_int_not_equal(key("/other/web/198.18.0.11:80", &e), 0);         /* prefix */
	assert_int_not_equal(key(PFX "web", &e), 0);                           /* no '/' */
	assert_int_not_equal(key(PFX "/198.18.0.11:80", &e), 0);               /* no service */
	assert_int_not_equal(key(PFX "we b/198.18.0.11:80", &e), 0);           /* bad name */
	assert_int_not_equal(key(PFX "web/198.18.0.11", &e), 0);               /* no port */
	assert_int_not_equal(key(PFX "web/198.18.0.11:70000", &e), 0);         /* port */
	assert_int_not_equal(key(PFX "web/198.18.0.300:80", &e), 0);           /* address */
	assert_int_not_equal(key(PFX "web/2001:db8::5:80", &e), 0);            /* IPv6 w/o [] */
	assert_int_not_equal(key(PFX "web/198.18.0.11:80/extra", &e), 0);
	assert_int_not_equal(key(PFX "web/", &e), 0);
	assert_int_not_equal(key(PFX "web/198.18.0.011:80", &e), 0);          /* not canonical */
	assert_int_not_equal(key(PFX "web/[2001:db8:0::5]:443", &e), 0);
	assert_int_not_equal(key(PFX "web/[2001:DB8::5]:443", &e), 0);
	assert_int_not_equal(key(PFX "web/198.18.0.11:080", &e), 0);
	/* no backend can have these addresses or port 0 (netaddr.h) */
	assert_int_not_equal(key(PFX "web/127.0.0.1:80", &e), 0);
	assert_int_not_equal(key(PFX "web/0.0.0.0:80", &e), 0);
	assert_int_not_equal(key(PFX "web/224.0.0.5:80", &e), 0);
	assert_int_not_equal(key(PFX "web/255.255.255.255:80", &e), 0);
	assert_int_not_equal(key(PFX "web/[::1]:80", &e), 0);
	assert_int_not_equal(key(PFX "web/[ff02::1]:80", &e), 0);
	assert_int_not_equal(key(PFX "web/[::ffff:127.0.0.1]:80", &e), 0);
	assert_int_not_equal(key(PFX "web/198.18.0.11:0", &e), 0);
	assert_int_equal(key(PFX "web/169.254.1.1:80", &e), 0); /* link-local is fine */
	{
		static const uint8_t nul[] = PFX "web/198.18.0.11:80\0x";
		char why[160];

		assert_int_not_equal(sy_etcd_parse_key(nul, sizeof(nul) - 1, PFX, &e, why, sizeof(why)), 0);
	}
}

/* The name of a backend in etcd keys and ZooKeeper znodes, with the reason
 * for a refusal. */
static void test_registry_endpoint(void **state)
{
	struct sy_backend_id id;
	char why[160];

	(void)state;
	assert_int_equal(sy_registry_endpoint_parse("198.18.0.11:80", &id, why, sizeof(why)), 0);
	assert_int_equal(id.port, 80);
	assert_int_equal(sy_registry_endpoint_parse("[2001:2::1]:443", &id, why, sizeof(why)), 0);
	assert_int_equal(sy_registry_endpoint_parse("garbage", &id, why, sizeof(why)), -1);
	assert_string_equal(why, "'garbage' is not <address>:<port> ([address]:port for IPv6)");
	assert_int_equal(sy_registry_endpoint_parse("[2001:2:0::1]:80", &id, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "not canonical"));
	assert_int_equal(sy_registry_endpoint_parse("127.0.0.1:80", &id, why, sizeof(why)), -1);
	assert_string_equal(why, "127.0.0.1 cannot be a backend: a loopback address (127.0.0.0/8)");
	assert_int_equal(sy_registry_endpoint_parse("[ff02::1]:80", &id, why, sizeof(why)), -1);
	assert_string_equal(why, "ff02::1 cannot be a backend: a multicast address (ff00::/8)");
	assert_int_equal(sy_registry_endpoint_parse("198.18.0.11:0", &id, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "port 0 cannot be"));
}

static void test_values(void **state)
{
	struct sy_etcd_entry e;

	(void)state;
	assert_int_equal(value("{}", &e), 0);
	assert_int_equal(e.weight, 1);
	assert_string_equal(e.zone, "");
	assert_string_equal(e.metadata, "");
	assert_int_equal(value("{\"weight\":0,\"zone\":\"eu-1a\",\"metadata\":{\"v\":\"1.2\",\"a\":1}}", &e), 0);
	assert_int_equal(e.weight, 0);
	assert_string_equal(e.zone, "eu-1a");
	assert_string_equal(e.metadata, "{\"a\":1,\"v\":\"1.2\"}");
	assert_int_equal(value("{\"weight\":65535}", &e), 0);

	assert_int_equal(value("", &e), 0); /* empty: all defaults */
	assert_int_equal(e.weight, 1);
	assert_int_equal(value("{\"weight\":2,\"zone\":\"\",\"version\":\"x\"}", &e), 0); /* unknown: ignored */
	assert_int_equal(e.weight, 2);
	assert_int_not_equal(value("not json", &e), 0);
	assert_int_not_equal(value("[1]", &e), 0);
	assert_int_not_equal(value("{\"weight\":65536}", &e), 0);
	assert_int_not_equal(value("{\"weight\":-1}", &e), 0);
	assert_int_not_equal(value("{\"weight\":\"2\"}", &e), 0);
	assert_int_not_equal(value("{\"weight\":1.5}", &e), 0);
	assert_int_not_equal(value("{\"zone\":\"a b\"}", &e), 0);
	assert_int_not_equal(value("{\"zone\":\"0123456789012345678901234567890123\"}", &e), 0);
	assert_int_not_equal(value("{\"metadata\":[]}", &e), 0);
	assert_int_not_equal(value("{\"weight\":1,\"weight\":2}", &e), 0); /* duplicate */
	/* a QUIC server ID: optional, 1..0xffffff */
	assert_int_equal(value("{}", &e), 0);
	assert_int_equal(e.server_id, 0);
	assert_int_equal(value("{\"weight\":3,\"server_id\":291}", &e), 0);
	assert_int_equal(e.server_id, 291);
	assert_int_equal(e.weight, 3);
	assert_int_equal(value("{\"server_id\":16777215}", &e), 0);
	assert_int_equal(e.server_id, 0xffffff);
	assert_int_equal(value("", &e), 0); /* empty: no ID */
	assert_int_equal(e.server_id, 0);
	{
		static const char *const bad[] = { "{\"server_id\":0}", "{\"server_id\":16777216}",
						   "{\"server_id\":-1}", "{\"server_id\":\"0x123\"}",
						   "{\"server_id\":1.5}" };
		char why[160];

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			why[0] = 0;
			assert_int_not_equal(sy_etcd_parse_value((const uint8_t *)bad[i], strlen(bad[i]),
								 &e, why, sizeof(why)), 0);
			assert_string_equal(why, "server_id: an integer 1..16777215 expected (a QUIC server ID)");
			why[0] = 0;
			assert_int_not_equal(sy_zk_parse_value(bad[i], strlen(bad[i]), &e, why, sizeof(why)), 0);
			assert_string_equal(why, "server_id: an integer 1..16777215 expected (a QUIC server ID)");
		}
		assert_int_equal(sy_zk_parse_value("{\"server_id\":77}", 16, &e, why, sizeof(why)), 0);
		assert_int_equal(e.server_id, 77);
	}
	{
		char big[2048];

		snprintf(big, sizeof(big), "{\"metadata\":{\"x\":\"%01500d\"}}", 0);
		assert_int_not_equal(value(big, &e), 0);
	}
}

static void test_printable(void **state)
{
	char buf[32];

	(void)state;
	sy_etcd_printable((const uint8_t *)"a\"b\\\x01", 5, buf, sizeof(buf));
	assert_string_equal(buf, "a\\x22b\\x5c\\x01");
	sy_etcd_printable((const uint8_t *)"0123456789012345678901234567890123456789", 40, buf, 10);
	assert_true(strlen(buf) < 10);
}

/* etcd://HOST:PORT[,...][/PREFIX/]: syctl register's and syctl resolve's */
static void test_url(void **state)
{
	char eps[64], pfx[32], why[160];

	(void)state;
	assert_int_equal(sy_etcd_url_parse("etcd://127.0.0.1:2379", eps, sizeof(eps), pfx,
					   sizeof(pfx), why, sizeof(why)), 0);
	assert_string_equal(eps, "http://127.0.0.1:2379");
	assert_string_equal(pfx, "/switchyard/services/");
	assert_int_equal(sy_etcd_url_parse("etcd://a:1,b:2/sy/", eps, sizeof(eps), pfx, sizeof(pfx),
					   why, sizeof(why)), 0);
	assert_string_equal(eps, "http://a:1,http://b:2");
	assert_string_equal(pfx, "/sy/");
	assert_int_equal(sy_etcd_url_parse("etcd://a:1/", eps, sizeof(eps), pfx, sizeof(pfx), why,
					   sizeof(why)), 0);
	assert_string_equal(pfx, "/switchyard/services/");
	assert_int_equal(sy_etcd_url_parse("etcd://a:1/sy", eps, sizeof(eps), pfx, sizeof(pfx), why,
					   sizeof(why)), -1);
	assert_string_equal(why, "the etcd prefix must end with '/'");
	assert_int_equal(sy_etcd_url_parse("etcd://a:1,,b:2", eps, sizeof(eps), pfx, sizeof(pfx),
					   why, sizeof(why)), -1);
	assert_string_equal(why, "an empty HOST:PORT in 'etcd://a:1,,b:2'");
	assert_int_equal(sy_etcd_url_parse("etcd:///sy/", eps, sizeof(eps), pfx, sizeof(pfx), why,
					   sizeof(why)), -1);
	assert_string_equal(why, "no etcd endpoint in 'etcd:///sy/'");
	assert_int_equal(sy_etcd_url_parse("http://a:1", eps, sizeof(eps), pfx, sizeof(pfx), why,
					   sizeof(why)), -1);
	assert_int_equal(sy_etcd_url_parse("etcd://a-long-host-name:2379,another-long-host:2379,c:3,d:4",
					   eps, sizeof(eps), pfx, sizeof(pfx), why, sizeof(why)), -1);
	assert_string_equal(why, "too many etcd endpoints");
}

/* the URL's endpoints over TLS (syctl register's and the resolver's): every
 * http:// becomes https://, or nothing changes when the list would not fit */
static void test_url_tls(void **state)
{
	char eps[32] = "http://a:1,https://b:2,c:3";

	(void)state;
	assert_int_equal(sy_etcd_endpoints_tls(eps, sizeof(eps)), 0);
	assert_string_equal(eps, "https://a:1,https://b:2,c:3");
	strcpy(eps, "http://a:1,http://b:2");
	assert_int_equal(sy_etcd_endpoints_tls(eps, 24), 0); /* 23 characters and the NUL */
	assert_string_equal(eps, "https://a:1,https://b:2");
	strcpy(eps, "http://a:1,http://b:2");
	assert_int_equal(sy_etcd_endpoints_tls(eps, 23), -1);
	assert_string_equal(eps, "http://a:1,http://b:2");
}

/* etcd's authentication: the request body (password from a file, trailing
 * newlines dropped), the answer's token, and which errors mean "again" */
static void test_auth(void **state)
{
	char path[] = "/tmp/sy-test-etcd-pw-XXXXXX", why[160], tok[16];
	int fd = mkstemp(path);
	json_t *j;
	char *b;

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "s3cret \"pw\"\r\n", 13), 13);
	close(fd);
	b = sy_etcd_auth_body("root", path, why, sizeof(why));
	assert_non_null(b);
	assert_string_equal(b, "{\"name\":\"root\",\"password\":\"s3cret \\\"pw\\\"\"}");
	free(b);
	unlink(path);
	assert_null(sy_etcd_auth_body("root", path, why, sizeof(why)));
	assert_non_null(strstr(why, "cannot read /tmp/sy-test-etcd-pw-"));

	j = json_loads("{\"header\":{},\"token\":\"abc.8\"}", 0, NULL);
	assert_int_equal(sy_etcd_auth_token(j, tok, sizeof(tok), why, sizeof(why)), 0);
	assert_string_equal(tok, "abc.8");
	json_decref(j);
	j = json_loads("{\"token\":\"a-token-longer-than-16-bytes\"}", 0, NULL);
	assert_int_equal(sy_etcd_auth_token(j, tok, sizeof(tok), why, sizeof(why)), -1);
	json_decref(j);
	assert_int_equal(sy_etcd_auth_token(NULL, tok, sizeof(tok), why, sizeof(why)), -1);
	assert_string_equal(why, "authenticate: no token in the answer");

}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base64), cmocka_unit_test(test_range_end),
		cmocka_unit_test(test_u64),    cmocka_unit_test(test_keys),
		cmocka_unit_test(test_values), cmocka_unit_test(test_printable),
		cmocka_unit_test(test_registry_endpoint), cmocka_unit_test(test_url),
		cmocka_unit_test(test_url_tls),
		cmocka_unit_test(test_auth),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
