/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Configuration parser (control/config.c): every file of configs/good loads,
 * with a few values (defaults, inheritance, byte orders) checked; every
 * configs/bad/NAME.yaml fails with a message containing configs/bad/NAME.expect
 * ("NAME.yaml:LINE: FIELD.PATH: ..."). The two directories are argv[1], argv[2].
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"

static const char *good_dir;
static const char *bad_dir;

static struct sy_config *load_good(const char *name)
{
	char path[4096], err[1024];
	struct sy_config *c = NULL;
	int rc;

	snprintf(path, sizeof(path), "%s/%s", good_dir, name);
	rc = sy_config_load(path, &c, err, sizeof(err));
	if (rc)
		print_error("%s: unexpected error: %s\n", name, err);
	assert_int_equal(rc, 0);
	assert_non_null(c);
	return c;
}

static uint32_t ip4(const char *s)
{
	uint32_t a;

	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a;
}

static void assert_ip6(const uint32_t a[4], const char *s)
{
	uint32_t b[4];

	assert_int_equal(inet_pton(AF_INET6, s, b), 1);
	assert_memory_equal(a, b, 16);
}

static int has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && !strcmp(s + n - m, suffix);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of dir's *.yaml files; returns the count. */
static size_t list_yaml(const char *dir, char ***names)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0, cap = 0;
	char **v = NULL;

	if (!d)
		fail_msg("cannot open %s", dir);
	while ((e = readdir(d))) {
		if (!has_suffix(e->d_name, ".yaml"))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			v = realloc(v, cap * sizeof(*v));
			assert_non_null(v);
		}
		v[n] = strdup(e->d_name);
		assert_non_null(v[n]);
		n++;
	}
	closedir(d);
	qsort(v, n, sizeof(*v), cmp_str);
	*names = v;
	return n;
}

static void free_names(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* ---- good ---------------------------------------------------------------- */

static void test_good_all(void **state)
{
	char **names;
	size_t n = list_yaml(good_dir, &names);

	(void)state;
	assert_true(n >= 4);
	for (size_t i = 0; i < n; i++) {
		struct sy_config *c = load_good(names[i]);

		sy_config_free(c);
	}
	free_names(names, n);
}

static void test_minimal_defaults(void **state)
{
	struct sy_config *c = load_good("minimal-static.yaml");
	const struct sy_config_service *s;

	(void)state;
	assert_string_equal(c->instance, "mini");
	assert_string_equal(c->region, "/dev/shm/switchyard-mini");
	assert_string_equal(c->api.socket, "/run/switchyard/mini.sock");
	assert_null(c->api.group);
	assert_null(c->api.tcp_host);
	assert_null(c->api.token_file);
	assert_false(c->api.tcp_any);
	assert_int_equal(c->limits.max_lcores, 16);
	assert_int_equal(c->limits.max_services, 1024);
	assert_int_equal(c->limits.max_backends, 65536);
	assert_true(c->limits.heap_size == 256ull << 20);
	assert_false(c->registry.embedded.enabled);
	assert_int_equal(c->defaults.table_size, SY_MAGLEV_DEFAULT_M);
	assert_int_equal(c->defaults.hash_seed, 0);
	assert_int_equal(c->defaults.gue_port, htons(6080));

	assert_int_equal(c->n_services, 1);
	s = &c->services[0];
	assert_string_equal(s->name, "web");
	assert_int_equal(s->line, 7);
	assert_int_equal(s->vip.family, SY_AF_INET);
	assert_int_equal(s->vip.addr[0], ip4("198.18.1.1"));
	assert_int_equal(s->vip.addr[1] | s->vip.addr[2] | s->vip.addr[3], 0);
	assert_int_equal(s->vip.port, htons(80)); /* network order */
	assert_int_equal(s->vip.proto, 6);
	assert_int_equal(s->mode, SY_FWD_IPIP);
	assert_int_equal(s->source, SY_SOURCE_STATIC);
	assert_null(s->key_file);
	/* inherited */
	assert_int_equal(s->table_size, 65537);
	assert_int_equal(s->hash_seed, 0);
	assert_int_equal(s->encap_source4, ip4("198.18.0.1"));
	assert_int_equal(s->encap_source6[0] | s->encap_source6[1] | s->encap_source6[2] |
				 s->encap_source6[3], 0);
	assert_int_equal(s->gue_port, htons(6080));
	assert_false(s->has_next_hop_mac);
	/* health defaults */
	assert_int_equal(s->health.default_ttl_s, 5);
	assert_int_equal(s->health.check.type, SY_CHECK_NONE);
	assert_null(s->health.check.path);
	assert_int_equal(s->health.hold_down_s, 5);
	assert_true(s->health.panic_threshold == 0.5);
	assert_int_equal(s->health.panic_window_s, 10);
	/* backends: port defaults to the VIP's (host order), weight to 1 */
	assert_int_equal(s->n_backends, 2);
	assert_int_equal(s->backends[0].family, SY_AF_INET);
	assert_int_equal(s->backends[0].addr[0], ip4("198.18.0.11"));
	assert_int_equal(s->backends[0].port, 80);
	assert_int_equal(s->backends[0].weight, 1);
	assert_false(s->backends[0].has_mac);
	assert_string_equal(s->backends[0].zone, "");
	assert_int_equal(s->backends[0].line, 14);
	assert_int_equal(s->backends[1].port, 8080);
	assert_int_equal(s->backends[1].weight, 3);
	sy_config_free(c);
}

static void test_full_example(void **state)
{
	static const uint8_t nh[6] = { 2, 0, 0, 0, 0, 0xfe }, bm[6] = { 2, 0, 0, 0, 0, 0x11 };
	struct sy_config *c = load_good("full-example.yaml");
	const struct sy_config_service *s;
	const struct sy_config_embedded *e = &c->registry.embedded;

	(void)state;
	assert_string_equal(c->instance, "demo");
	assert_string_equal(c->region, "/dev/shm/switchyard-demo");
	assert_int_equal(c->limits.max_lcores, 16);
	assert_true(c->limits.heap_size == 256ull << 20);
	assert_string_equal(c->api.socket, "/run/switchyard/demo.sock");
	assert_string_equal(c->api.group, "switchyard");
	assert_string_equal(c->api.tcp_host, "127.0.0.1");
	assert_int_equal(c->api.tcp_family, SY_AF_INET);
	assert_int_equal(c->api.tcp_addr[0], ip4("127.0.0.1"));
	assert_int_equal(c->api.tcp_port, 9180);
	assert_string_equal(c->api.token_file, "/etc/switchyard/token");
	assert_int_equal(c->defaults.hash_seed, 0x5eed);
	assert_int_equal(c->defaults.encap_source4, ip4("198.18.0.1"));
	assert_ip6(c->defaults.encap_source6, "2001:2::1");
	assert_int_equal(c->defaults.gue_port, htons(6080));

	assert_true(e->enabled);
	assert_string_equal(e->listen_host, "198.18.0.1");
	assert_int_equal(e->listen_port, 9181);
	assert_int_equal(e->n_allowed_prefixes, 1);
	assert_int_equal(e->allowed_prefixes[0].family, SY_AF_INET);
	assert_int_equal(e->allowed_prefixes[0].prefix_len, 24);
	assert_int_equal(e->allowed_prefixes[0].addr[0], ip4("198.18.0.0"));
	assert_int_equal(e->max_clock_skew_s, 30);
	assert_int_equal(e->idle_timeout_s, SY_CONFIG_DEFAULT_REG_IDLE_TIMEOUT_S);
	assert_int_equal(e->request_deadline_s, SY_CONFIG_DEFAULT_REG_REQUEST_DEADLINE_S);

	assert_int_equal(c->n_services, 2);
	s = &c->services[0];
	assert_string_equal(s->name, "web");
	assert_int_equal(s->vip.port, htons(80));
	assert_int_equal(s->source, SY_SOURCE_EMBEDDED);
	assert_string_equal(s->key_file, "/etc/switchyard/web.key");
	assert_true(s->has_next_hop_mac);
	assert_memory_equal(s->next_hop_mac, nh, 6);
	assert_int_equal(s->hash_seed, 0x5eed);
	assert_ip6(s->encap_source6, "2001:2::1");
	assert_int_equal(s->n_backends, 1);
	assert_true(s->backends[0].has_mac);
	assert_memory_equal(s->backends[0].mac, bm, 6);
	assert_string_equal(s->backends[0].zone, "a");
	assert_int_equal(s->health.check.type, SY_CHECK_TCP);
	assert_int_equal(s->health.check.interval_ms, 1000);
	assert_int_equal(s->health.check.timeout_ms, 500);
	assert_int_equal(s->health.check.rise, 2);
	assert_int_equal(s->health.check.fall, 3);

	s = &c->services[1];
	assert_string_equal(s->name, "api");
	assert_int_equal(s->vip.port, htons(443));
	assert_int_equal(s->mode, SY_FWD_GUE);
	assert_int_equal(s->gue_port, htons(6081)); /* own value, network order */
	assert_int_equal(s->n_backends, 2);
	assert_int_equal(s->backends[0].weight, 2);
	assert_int_equal(s->backends[1].family, SY_AF_INET6);
	assert_ip6(s->backends[1].addr, "2001:2::21");
	assert_int_equal(s->backends[1].port, 8443);
	assert_int_equal(s->health.check.type, SY_CHECK_HTTP);
	assert_string_equal(s->health.check.path, "/healthz");
	assert_int_equal(s->health.check.expect, 204);
	assert_int_equal(s->health.check.interval_ms, 2000);
	assert_int_equal(s->health.check.rise, 2); /* default */
	sy_config_free(c);
}

static void test_ipv6_all_ports(void **state)
{
	struct sy_config *c = load_good("ipv6-all-ports.yaml");
	const struct sy_config_service *s = &c->services[0];

	(void)state;
	assert_string_equal(c->api.tcp_host, "::1");
	assert_int_equal(c->api.tcp_family, SY_AF_INET6);
	assert_ip6(c->api.tcp_addr, "::1");
	assert_int_equal(c->n_services, 1);
	assert_int_equal(s->vip.family, SY_AF_INET6);
	assert_ip6(s->vip.addr, "2001:db8:100::1");
	assert_int_equal(s->vip.port, 0); /* all ports */
	assert_int_equal(s->vip.proto, 17);
	assert_int_equal(s->mode, SY_FWD_L2DSR);
	assert_int_equal(s->n_backends, 2);
	assert_int_equal(s->backends[0].port, 0); /* VIP's: all */
	assert_int_equal(s->backends[1].weight, 0); /* draining */
	assert_true(s->backends[1].has_mac);
	sy_config_free(c);
}

static void test_several_services(void **state)
{
	struct sy_config *c = load_good("several-services.yaml");
	const struct sy_config_service *s;
	const struct sy_config_embedded *e = &c->registry.embedded;

	(void)state;
	assert_int_equal(c->limits.max_lcores, 4);
	assert_int_equal(c->limits.max_services, 64);
	assert_int_equal(c->limits.max_backends, 4096);
	assert_true(c->limits.heap_size == 64ull << 20);
	assert_int_equal(e->listen_family, SY_AF_INET6);
	assert_int_equal(e->n_allowed_prefixes, 3);
	assert_int_equal(e->allowed_prefixes[1].family, SY_AF_INET6);
	assert_int_equal(e->allowed_prefixes[1].prefix_len, 48);
	assert_int_equal(e->allowed_prefixes[2].prefix_len, 8);
	assert_int_equal(e->idle_timeout_s, 2);
	assert_int_equal(e->request_deadline_s, 4);
	assert_int_equal(c->n_services, 6);

	s = &c->services[0]; /* inherits everything */
	assert_string_equal(s->name, "web4");
	assert_int_equal(s->table_size, 251);
	assert_int_equal(s->hash_seed, 7);
	assert_int_equal(s->hash_fields, SY_HASH_5TUPLE); /* the default */
	assert_false(s->round_robin);
	assert_int_equal(s->encap_source4, ip4("198.18.0.1"));
	assert_ip6(s->encap_source6, "2001:2::1");
	assert_int_equal(s->gue_port, htons(7000));
	assert_int_equal(s->n_backends, 3);
	assert_int_equal(s->backends[2].weight, 2);

	s = &c->services[1]; /* overrides everything */
	assert_string_equal(s->name, "dns4");
	assert_int_equal(s->vip.proto, 17);
	assert_int_equal(s->vip.port, htons(53));
	assert_int_equal(s->table_size, 65537);
	assert_int_equal(s->hash_seed, 0xdeadbeef);
	assert_int_equal(s->hash_fields, SY_HASH_SRC_IP_PORT);
	assert_true(s->round_robin);
	assert_false(s->least_conns);
	assert_int_equal(s->encap_source4, ip4("198.18.0.2"));
	assert_int_equal(s->gue_port, htons(6080));
	assert_int_equal(s->source, SY_SOURCE_EMBEDDED);
	assert_int_equal(s->n_backends, 0);
	assert_int_equal(s->health.default_ttl_s, 10);
	assert_int_equal(s->health.hold_down_s, 0);
	assert_true(s->health.panic_threshold == 1.0);
	assert_int_equal(s->health.panic_window_s, 30);

	/* same address and port as dns4, other protocol: not a duplicate */
	assert_string_equal(c->services[2].name, "dns4.tcp");
	assert_int_equal(c->services[2].source, SY_SOURCE_ETCD);
	assert_true(c->services[2].least_conns); /* scheduler: least-connections */
	assert_false(c->services[2].round_robin);
	assert_int_equal(c->services[3].vip.port, 0);
	assert_int_equal(c->services[3].n_backends, 0); /* empty static service */
	assert_null(c->services[3].backends);
	assert_int_equal(c->services[4].source, SY_SOURCE_ZOOKEEPER);
	assert_int_equal(c->services[4].vip.family, SY_AF_INET6);
	assert_false(c->services[4].quic);
	s = &c->services[5]; /* quic: true, server IDs (hex and decimal) and one without */
	assert_true(s->quic);
	assert_int_equal(s->backends[0].server_id, 0x123);
	assert_int_equal(s->backends[1].server_id, 70000);
	assert_int_equal(s->backends[2].server_id, 0);
	sy_config_free(c);
}

/* ---- bad ----------------------------------------------------------------- */

static void read_expect(const char *path, char *out, size_t n)
{
	FILE *fp = fopen(path, "r");
	size_t len;

	if (!fp)
		fail_msg("missing expectation file %s", path);
	if (!fgets(out, (int)n, fp))
		out[0] = 0;
	fclose(fp);
	len = strlen(out);
	while (len && (out[len - 1] == '\n' || out[len - 1] == '\r'))
		out[--len] = 0;
	if (!len)
		fail_msg("empty expectation file %s", path);
}

static void test_bad_all(void **state)
{
	char **names;
	size_t n = list_yaml(bad_dir, &names), failures = 0;

	(void)state;
	assert_true(n >= 30);
	for (size_t i = 0; i < n; i++) {
		char path[4096], epath[4096], expect[1024], err[1024];
		struct sy_config *c = (struct sy_config *)&c; /* must be reset */
		int rc;

		snprintf(path, sizeof(path), "%s/%s", bad_dir, names[i]);
		snprintf(epath, sizeof(epath), "%s/%.*s.expect", bad_dir,
			 (int)(strlen(names[i]) - 5), names[i]);
		read_expect(epath, expect, sizeof(expect));
		err[0] = 0;
		rc = sy_config_load(path, &c, err, sizeof(err));
		if (rc != -1 || c != NULL) {
			print_error("%s: expected an error, got rc %d\n", names[i], rc);
			sy_config_free(rc == 0 ? c : NULL);
			failures++;
		} else if (!strstr(err, expect)) {
			print_error("%s:\n  expected: %s\n  got:      %s\n", names[i], expect, err);
			failures++;
		} else {
			print_message("ok %s: %s\n", names[i], err);
		}
	}
	free_names(names, n);
	assert_int_equal(failures, 0);
}

static void test_missing_file(void **state)
{
	char path[4096], err[256];
	struct sy_config *c = NULL;

	(void)state;
	snprintf(path, sizeof(path), "%s/does-not-exist.yaml", bad_dir);
	assert_int_equal(sy_config_load(path, &c, err, sizeof(err)), -1);
	assert_null(c);
	assert_non_null(strstr(err, "does-not-exist.yaml: No such file or directory"));
	/* A tiny error buffer is truncated, not overrun; none at all is fine. */
	assert_int_equal(sy_config_load(path, &c, err, 8), -1);
	assert_int_equal(strlen(err), 7);
	assert_int_equal(sy_config_load(path, &c, NULL, 0), -1);
	sy_config_free(NULL);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_all),
		cmocka_unit_test(test_minimal_defaults),
		cmocka_unit_test(test_full_example),
		cmocka_unit_test(test_ipv6_all_ports),
		cmocka_unit_test(test_several_services),
		cmocka_unit_test(test_bad_all),
		cmocka_unit_test(test_missing_file),
	};

	if (argc != 3) {
		fprintf(stderr, "usage: %s GOOD_DIR BAD_DIR\n", argv[0]);
		return 2;
	}
	good_dir = argv[1];
	bad_dir = argv[2];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
