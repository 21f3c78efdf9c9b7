/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Publishing with a service that cannot fit (issue 12, point 2), over the
 * real state.c, publish.c, api.c and metrics.c and a region in /dev/shm
 * (unlinked as soon as it is mapped): limits {services: 4, backends: 16},
 * three static services with next_hop_mac (no neighbour lookups).
 *
 *   - admission: a service at its cap (its share of limits.backends, 5)
 *     refuses a new backend, `syctl add` (the API) answers 507 with the
 *     reason, counted per service and per source in /metrics; a backend it
 *     knows is never refused;
 *   - isolation: a service that cannot get its backend slots (20 backends
 *     forced in past admission, as a lowered cap or a restored state
 *     leaves them) or heap for its table fails alone: the other services'
 *     changes are published in the same round, the failing one keeps its
 *     running table, shows its error (status, services, /metrics) and is
 *     tried again after 1 s, 2 s, 4 s ... (not every tick), and publishes
 *     once it fits.
 *
 * Before (7d62eb0): the round that carried the 20 backends published
 * nothing: "web: 2 backends published, want 3", and every later round
 * failed the same way ("all 16 backend slots in use") for every service.
 *
 * And the XDP path's maps (sy-control --dataplane xdp; here the program
 * loaded, not attached; needs root): a commit whose map update fails
 * (sy_backends filled by another writer) is tried again from the main
 * loop's refresh until it takes. Before (3292e56) the maps waited for the
 * next commit: the new backend never reached them.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include <bpf/bpf.h>
#include <switchyard/xdp_maps.h>

#include "api.h"
#include "daemon.h"
#include "metrics.h"
#include "netaddr.h"
#include "source.h"
#include "xdp_lb.h"
#include "xdp_lb_util.h"

/* main.c's list, which this test does not link */
const struct sy_source *const sy_sources[] = {
	&sy_source_static,
	&sy_source_embedded,
	&sy_source_etcd,
	&sy_source_zookeeper,
	NULL,
};

/* main.c's reload re-reads the file; not used here */
int sy_daemon_reload(struct sy_daemon *d, char *err, size_t errlen)
{
	(void)d;
	snprintf(err, errlen, "not in this test");
	return -1;
}

static const char config_text[] =
	"instance: pubtest\n"
	"region: %s\n"
	"state_file: %s.state\n"
	"limits: { lcores: 2, services: 4, backends: 16, heap_mb: 2 }\n"
	"defaults: { table_size: 251, encap_source4: 198.18.0.1 }\n"
	"services:\n"
	"  - name: web\n"
	"    vip: 198.18.1.1\n"
	"    port: 80\n"
	"    protocol: tcp\n"
	"    mode: ipip\n"
	"    next_hop_mac: \"02:00:00:00:00:fe\"\n"
	"    source: static\n"
	"    backends:\n"
	"      - { address: 198.18.0.11, port: 80 }\n"
	"      - { address: 198.18.0.12, port: 80 }\n"
	"  - name: reg\n"
	"    vip: 198.18.1.2\n"
	"    port: 80\n"
	"    protocol: tcp\n"
	"    mode: ipip\n"
	"    next_hop_mac: \"02:00:00:00:00:fe\"\n"
	"    source: static\n"
	"  - name: dns\n"
	"    vip: 198.18.1.3\n"
	"    port: 53\n"
	"    protocol: udp\n"
	"    mode: ipip\n"
	"    table_size: %s\n"
	"    next_hop_mac: \"02:00:00:00:00:fe\"\n"
	"    source: static\n"
	"    quic: true\n"
	"    backends:\n"
	"      - { address: 198.18.0.31, port: 53, server_id: 5 }\n";

static struct sy_daemon daemon_ = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.wake = PTHREAD_COND_INITIALIZER,
	.version = "test",
	.dp_mode = "dpdk",
};
static char region_path[128], state_path[160];

static struct sy_config *load(const char *dns_table_size)
{
	char text[sizeof(config_text) + 512], err[512];
	struct sy_config *cfg = NULL;
	int n = snprintf(text, sizeof(text), config_text, region_path, region_path,
			 dns_table_size);

	if (sy_config_load_buffer("pubtest.yaml", text, (size_t)n, &cfg, err, sizeof(err)))
		fail_msg("configuration refused: %s", err);
	return cfg;
}

static struct sy_service_state *svc(const char *name)
{
	struct sy_service_state *s = sy_daemon_service(&daemon_, name);

	assert_non_null(s);
	return s;
}

static const struct sy_service *published(const char *name)
{
	return sy_snapshot_find_name(sy_writer_map(daemon_.writer)->base,
				     sy_writer_snapshot(daemon_.writer), name);
}

static uint32_t n_published(const char *name)
{
	const struct sy_service *s = published(name);

	return s ? s->n_backends : 0;
}

static struct sy_backend_id backend(uint8_t c, uint8_t last, uint16_t port)
{
	struct sy_backend_id id = { .family = 4, .port = port };
	uint8_t a[4] = { 198, 18, c, last };

	memcpy(id.addr, a, 4);
	return id;
}

/* One publishing round, as the main loop runs it (the lock held). */
static int publish(void)
{
	int rc;

	pthread_mutex_lock(&daemon_.lock);
	rc = sy_daemon_publish(&daemon_);
	pthread_mutex_unlock(&daemon_.lock);
	return rc;
}

/* A change through a source (admission first), as etcd or the registry make it. */
static bool admit_and_add(struct sy_service_state *s, struct sy_backend_id id, uint32_t weight)
{
	char why[256];

	if (!sy_source_admit(&daemon_, s, &id, SY_SRC_ETCD, why, sizeof(why)))
		return false;
	assert_non_null(sy_source_upsert(&daemon_, s, &id, weight, SY_SRC_ETCD, 0));
	return true;
}

static struct sy_api_reply api(const char *method, const char *url, const char *body)
{
	struct sy_body b = { .data = (char *)body, .len = body ? strlen(body) : 0 };

	return sy_api_handle(&daemon_, &(struct sy_api_request){ .method = method, .url = url,
								   .body = &b });
}

/* The sample `series` of /metrics, -1 if absent. */
static long long metric(const char *series)
{
	size_t len, n = strlen(series);
	char *text = sy_metrics_text(&daemon_, &len), *p = text;
	long long v = -1;

	assert_non_null(text);
	while (p && *p) {
		if (!strncmp(p, series, n) && p[n] == ' ') {
			v = atoll(p + n + 1);
			break;
		}
		p = strchr(p, '\n');
		p = p ? p + 1 : NULL;
	}
	free(text);
	return v;
}

static int setup(void **state)
{
	struct sy_daemon *d = &daemon_;
	struct sy_config *cfg;
	char err[512];

	(void)state;
	snprintf(region_path, sizeof(region_path), "/dev/shm/sy-test-publish-%d", (int)getpid());
	snprintf(state_path, sizeof(state_path), "%s.state", region_path);
	unlink(region_path);
	cfg = load("251");
	if (sy_writer_create(cfg->region, cfg->instance, &cfg->limits, NULL, &d->writer, err,
			     sizeof(err)))
		fail_msg("region: %s", err);
	unlink(region_path); /* stays mapped; nothing left behind */
	d->started_ms = sy_now_ms();
	if (sy_daemon_apply_config(d, cfg, err, sizeof(err)))
		fail_msg("apply: %s", err);
	assert_int_equal(publish(), 0);
	assert_int_equal(n_published("web"), 2);
	assert_int_equal(n_published("dns"), 1);
	assert_non_null(published("reg"));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (size_t i = 0; i < daemon_.n_svc; i++)
		sy_svcb_free(&daemon_.svc[i].b);
	free(daemon_.svc);
	daemon_.svc = NULL;
	daemon_.n_svc = 0;
	sy_config_free(daemon_.cfg);
	daemon_.cfg = NULL;
	sy_writer_close(daemon_.writer);
	unlink(state_path);
	return 0;
}

/* Caps: 16 backends shared by three services without max_backends: 5
 * each. The sixth new backend is refused, a known one never. */
static void test_admission_at_the_cap(void **state)
{
	struct sy_service_state *reg = svc("reg");
	struct sy_api_reply r;
	char why[256];

	(void)state;
	assert_int_equal(reg->cap, 5);
	assert_int_equal(svc("web")->cap, 5);
	for (uint8_t i = 1; i <= 5; i++)
		assert_true(admit_and_add(reg, backend(2, i, 80), 1));
	{
		struct sy_backend_id id = backend(2, 6, 80);

		assert_false(sy_source_admit(&daemon_, reg, &id, SY_SRC_ZOOKEEPER, why, sizeof(why)));
	}
	assert_string_equal(why, "service reg: at its cap of 5 backends (its share of limits.backends; services[1].max_backends sets it); one must leave before another joins");
	/* a heartbeat or a new weight of a known one */
	assert_true(admit_and_add(reg, backend(2, 3, 80), 7));

	/* the API: 507 with the reason */
	r = api("POST", "/v1/services/reg/backends", "{\"address\": \"198.18.2.6\", \"port\": 80}");
	assert_int_equal(r.status, 507);
	assert_non_null(strstr(r.text, "service reg: at its cap of 5 backends"));
	free(r.text);
	assert_int_equal(reg->over_capacity, 2);
	assert_int_equal(daemon_.over_capacity[SY_SRC_API], 1);
	assert_int_equal(daemon_.over_capacity[SY_SRC_ZOOKEEPER], 1);
	assert_int_equal(metric("switchyard_service_backends_over_capacity_total{service=\"reg\"}"), 2);
	assert_int_equal(metric("switchyard_backends_over_capacity_total{source=\"api\"}"), 1);
	assert_int_equal(metric("switchyard_service_max_backends{service=\"reg\"}"), 5);
	assert_int_equal(metric("switchyard_service_backends_counted{service=\"reg\"}"), 5);

	/* one leaves: the next one joins */
	pthread_mutex_lock(&daemon_.lock);
	{
		struct sy_backend_id id = backend(2, 1, 80);

		assert_true(sy_source_remove(&daemon_, reg, &id, SY_LEAVE_EXPLICIT));
	}
	pthread_mutex_unlock(&daemon_.lock);
	r = api("POST", "/v1/services/reg/backends", "{\"address\": \"198.18.2.6\", \"port\": 80}");
	assert_int_equal(r.status, 200);
	free(r.text);
	assert_int_equal(publish(), 0);
	assert_int_equal(n_published("reg"), 5);
}

/* 20 backends forced into reg: 2 (web) + 1 (dns) + 20 > 16 slots. */
static void test_one_service_out_of_slots_leaves_the_others_publishing(void **state)
{
	struct sy_service_state *reg = svc("reg"), *web = svc("web");
	uint64_t t0, errors0 = daemon_.publish_errors;
	struct sy_api_reply r;
	json_t *j;

	(void)state;
	pthread_mutex_lock(&daemon_.lock);
	for (uint8_t i = 1; i <= 20; i++) {
		struct sy_backend_id id = backend(3, i, 80);

		assert_non_null(sy_svcb_upsert(&reg->b, &id, 1, SY_SRC_API, 0, sy_now_ms()));
	}
	sy_daemon_mark(&daemon_, reg);
	pthread_mutex_unlock(&daemon_.lock);
	/* web's change in the same round */
	r = api("POST", "/v1/services/web/backends", "{\"address\": \"198.18.0.13\", \"port\": 80}");
	assert_int_equal(r.status, 200);
	free(r.text);

	t0 = sy_now_ms();
	assert_int_equal(publish(), -1);
	if (n_published("web") != 3)
		fail_msg("web: %u backends published, want 3 (%s)", n_published("web"),
			 daemon_.last_error);
	assert_int_equal(n_published("reg"), 5);  /* its running table stays */
	assert_int_equal(n_published("dns"), 1);
	assert_int_equal(reg->pub.attempts, 1);
	assert_non_null(strstr(reg->pub.error, "all 16 backend slots in use"));
	assert_in_range(reg->pub.retry_ms, t0 + 1000, sy_now_ms() + 1000);
	assert_int_equal(web->pub.attempts, 0);
	assert_int_equal(daemon_.publish_errors, errors0 + 1);
	assert_int_equal(metric("switchyard_service_publish_failing{service=\"reg\"}"), 1);
	assert_int_equal(metric("switchyard_service_publish_failing{service=\"web\"}"), 0);
	assert_int_equal(metric("switchyard_service_publish_errors_total{service=\"reg\"}"), 1);
	assert_int_equal(metric("switchyard_publish_errors_total"), (long long)errors0 + 1);

	/* status and services say it */
	r = api("GET", "/v1/status", NULL);
	j = json_loads(r.text, 0, NULL);
	free(r.text);
	assert_int_equal(json_array_size(json_object_get(j, "publish_failing")), 1);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(json_object_get(j, "publish_failing"), 0), "service")),
			    "reg");
	json_decref(j);
	r = api("GET", "/v1/services", NULL);
	j = json_loads(r.text, 0, NULL);
	free(r.text);
	{
		json_t *s, *reg_j = NULL;
		size_t i;

		json_array_foreach(json_object_get(j, "services"), i, s)
			if (!strcmp(json_string_value(json_object_get(s, "name")), "reg"))
				reg_j = s;
		assert_non_null(reg_j);
		assert_string_equal(json_string_value(json_object_get(reg_j, "publish")), "failing");
		assert_non_null(strstr(json_string_value(json_object_get(reg_j, "publish_error")),
				       "all 16 backend slots in use"));
		assert_int_equal(json_integer_value(json_object_get(reg_j, "max_backends")), 5);
		assert_int_equal(json_integer_value(json_object_get(reg_j, "backends_counted")), 25);
	}
	json_decref(j);

	/* within its back-off reg is not tried again; web still publishes */
	r = api("POST", "/v1/services/web/backends/198.18.0.13:80/weight", "{\"weight\": 5}");
	assert_int_equal(r.status, 200);
	free(r.text);
	assert_int_equal(publish(), 0);
	assert_int_equal(reg->pub.attempts, 1);
	assert_true(reg->b.dirty); /* still to publish */
	{
		const struct sy_service *w = published("web");
		const struct sy_backend *b = sy_service_backends(sy_writer_map(daemon_.writer)->base, w);
		uint32_t weight = 0;

		for (uint32_t i = 0; i < w->n_backends; i++)
			if (b[i].id.addr[0] == backend(0, 13, 80).addr[0])
				weight = b[i].weight;
		assert_int_equal(weight, 5);
	}

	/* each failure doubles the wait: 2 s, then 4 s (its back-off is
	 * ended by hand: the test does not wait for it) */
	for (uint32_t want = 2000; want <= 4000; want *= 2) {
		reg->pub.retry_ms = 0;
		t0 = sy_now_ms();
		assert_int_equal(publish(), -1);
		assert_in_range(reg->pub.retry_ms, t0 + want, sy_now_ms() + want);
	}
	assert_int_equal(reg->pub.attempts, 3);

	/* made to fit (13 leave: 3 + 1 + 12 = 16 slots): published at its
	 * next try, its error gone */
	pthread_mutex_lock(&daemon_.lock);
	for (uint8_t i = 8; i <= 20; i++) {
		struct sy_backend_id id = backend(3, i, 80);

		sy_source_remove(&daemon_, reg, &id, SY_LEAVE_EXPLICIT);
	}
	pthread_mutex_unlock(&daemon_.lock);
	reg->pub.retry_ms = 0;
	assert_int_equal(publish(), 0);
	assert_int_equal(n_published("reg"), 12);
	assert_int_equal(reg->pub.attempts, 0);
	assert_string_equal(reg->pub.error, "");
	assert_int_equal(metric("switchyard_service_publish_failing{service=\"reg\"}"), 0);
}

/* A table the heap cannot hold (dns, M = 1048573: 4 MiB in a 2 MiB heap)
 * fails dns alone; web's change goes out. */
static void test_one_service_out_of_heap_leaves_the_others_publishing(void **state)
{
	struct sy_config *cfg = load("1048573");
	struct sy_api_reply r;
	char err[512];

	(void)state;
	pthread_mutex_lock(&daemon_.lock);
	assert_int_equal(sy_daemon_apply_config(&daemon_, cfg, err, sizeof(err)), 0);
	pthread_mutex_unlock(&daemon_.lock);
	r = api("DELETE", "/v1/services/web/backends/198.18.0.13:80", NULL);
	assert_int_equal(r.status, 200);
	free(r.text);
	assert_int_equal(publish(), -1);
	assert_int_equal(n_published("web"), 2);
	assert_int_equal(published("dns")->table_size, 251);
	assert_non_null(strstr(svc("dns")->pub.error, "region heap full"));
	assert_int_equal(svc("web")->pub.attempts, 0);
}

/* GET /v1/lookup with these query arguments ("name=value&..."). */
static const char *query_arg(void *ctx, const char *name)
{
	static char vals[16][128]; /* the caller holds several at once */
	static unsigned next;
	const char *q = ctx, *p;
	size_t n = strlen(name);

	for (p = q; p && *p; p = strchr(p, '&'), p = p ? p + 1 : NULL)
		if (!strncmp(p, name, n) && p[n] == '=') {
			char *v = vals[next++ % 16];

			snprintf(v, 128, "%.*s", (int)strcspn(p + n + 1, "&"), p + n + 1);
			return v;
		}
	return NULL;
}

static json_t *lookup(const char *query, unsigned want_status)
{
	struct sy_body b = { 0 };
	struct sy_api_reply r = sy_api_handle(
		&daemon_, &(struct sy_api_request){ .method = "GET", .url = "/v1/lookup",
						    .arg = query_arg, .arg_ctx = (void *)query,
						    .body = &b });
	json_t *j = json_loads(r.text, 0, NULL);

	if (r.status != want_status)
		fail_msg("lookup %s: %u %s", query, r.status, r.text);
	free(r.text);
	assert_non_null(j);
	return j;
}

/* syctl lookup of a quic service says how a short header goes. */
static void test_quic_lookup(void **state)
{
	static const char flow[] = "service=dns&src=198.18.9.1&sport=4000&dst=198.18.1.3&dport=53&proto=udp";
	char q[256];
	json_t *j;

	(void)state;
	snprintf(q, sizeof(q), "%s&server_id=5", flow);
	j = lookup(q, 200);
	assert_string_equal(json_string_value(json_object_get(j, "backend")), "198.18.0.31:53");
	assert_non_null(strstr(json_string_value(json_object_get(j, "reason")),
			       "quic: server id 0x5 -> backend 198.18.0.31:53 (short-header packets"));
	json_decref(j);
	snprintf(q, sizeof(q), "%s&server_id=0x999", flow);
	j = lookup(q, 200);
	assert_non_null(strstr(json_string_value(json_object_get(j, "reason")),
			       "quic: unknown server id 0x999 (no backend of the service has it; "
			       "counted in quic_cid_unknown), maglev: slot"));
	json_decref(j);
	j = lookup(flow, 200);
	assert_non_null(strstr(json_string_value(json_object_get(j, "reason")),
			       "; quic: short-header packets go by the server ID"));
	json_decref(j);
	snprintf(q, sizeof(q), "%s&server_id=16777216", flow);
	j = lookup(q, 400);
	assert_non_null(strstr(json_string_value(json_object_get(j, "error")), "server_id: 1..16777215"));
	json_decref(j);
	j = lookup("service=web&src=198.18.9.1&sport=4000&dst=198.18.1.1&dport=80&proto=tcp&server_id=5",
		   400);
	assert_non_null(strstr(json_string_value(json_object_get(j, "error")),
			       "service web is not a quic service"));
	json_decref(j);
}

/* The QUIC server ID of a backend of dns as published (0: none). */
static uint32_t published_server_id(struct sy_backend_id id)
{
	const struct sy_service *p = published("dns");
	const struct sy_backend *b = sy_service_backends(sy_writer_map(daemon_.writer)->base, p);

	for (uint32_t i = 0; i < p->n_backends; i++)
		if (!sy_backend_id_cmp(&b[i].id, &id))
			return b[i].server_id;
	fail_msg("backend not published");
	return 0;
}

/* dns is quic: its static backend's server ID is published; two backends
 * of a registry that cannot refuse (etcd) with one ID: the service still
 * publishes (the region refuses a duplicate: without publish.c's check
 * the round failed, "service dns: QUIC server ID 9 (0x9) given to two
 * backends", and dns kept its old table), the first keeps the ID;
 * sy_source_server_id_owner() names the holder (the embedded registry's
 * 409). The backends leave at the end: the other tests count slots. */
static void test_quic_server_ids(void **state)
{
	struct sy_service_state *dns = svc("dns");
	struct sy_backend_id a = backend(4, 1, 53), b = backend(4, 2, 53);
	const struct sy_be *owner;

	(void)state;
	assert_true(published("dns")->flags & SY_SERVICE_QUIC);
	assert_int_equal(published_server_id(backend(0, 31, 53)), 5);
	assert_int_equal(published("dns")->n_quic, 1);

	pthread_mutex_lock(&daemon_.lock);
	assert_true(admit_and_add(dns, a, 1));
	sy_source_set_server_id(&daemon_, dns, sy_svcb_find(&dns->b, &a), 9);
	assert_true(admit_and_add(dns, b, 1));
	sy_source_set_server_id(&daemon_, dns, sy_svcb_find(&dns->b, &b), 9);
	owner = sy_source_server_id_owner(dns, 9, &b);
	assert_non_null(owner);
	assert_int_equal(sy_backend_id_cmp(&owner->id, &a), 0);
	owner = sy_source_server_id_owner(dns, 9, &a); /* both hold it in the source */
	assert_non_null(owner);
	assert_int_equal(sy_backend_id_cmp(&owner->id, &b), 0);
	assert_null(sy_source_server_id_owner(dns, 10, &b));
	pthread_mutex_unlock(&daemon_.lock);
	assert_int_equal(publish(), 0);
	assert_string_equal(dns->pub.error, "");
	assert_int_equal(n_published("dns"), 3);
	assert_int_equal(published_server_id(a), 9);
	assert_int_equal(published_server_id(b), 0);
	assert_int_equal(published("dns")->n_quic, 2);
	/* canonical order 198.18.0.31, .4.1 (a), .4.2: ID 9 is index 1, 5 index 0 */
	assert_int_equal(sy_service_quic_backend(sy_writer_map(daemon_.writer)->base,
						 published("dns"), 9), 1);
	assert_int_equal(sy_service_quic_backend(sy_writer_map(daemon_.writer)->base,
						 published("dns"), 5), 0);
	assert_int_equal(sy_service_quic_backend(sy_writer_map(daemon_.writer)->base,
						 published("dns"), 6), SY_MAGLEV_NONE);

	pthread_mutex_lock(&daemon_.lock);
	assert_true(sy_source_remove(&daemon_, dns, &a, SY_LEAVE_EXPLICIT));
	assert_true(sy_source_remove(&daemon_, dns, &b, SY_LEAVE_EXPLICIT));
	pthread_mutex_unlock(&daemon_.lock);
	assert_int_equal(publish(), 0);
	assert_int_equal(n_published("dns"), 1);
}

/* Fail-static keeps a backend whose entry vanished while the source was
 * out of reach (a ZooKeeper session expired, an etcd lease ran out): it is
 * published as it was, its QUIC server ID too, so that the short headers
 * of its connections still reach it. Before the fix it came back without
 * the ID (publish.c knew IDs only from the source's live entries): its
 * connections went by the hash. */
static void test_fail_static_keeps_server_id(void **state)
{
	struct sy_service_state *dns = svc("dns");
	struct sy_backend_id a = backend(4, 3, 53);

	(void)state;
	pthread_mutex_lock(&daemon_.lock);
	assert_true(admit_and_add(dns, a, 1));
	sy_source_set_server_id(&daemon_, dns, sy_svcb_find(&dns->b, &a), 7);
	pthread_mutex_unlock(&daemon_.lock);
	assert_int_equal(publish(), 0);
	assert_int_equal(published_server_id(a), 7);

	pthread_mutex_lock(&daemon_.lock);
	sy_source_set_reachable(&daemon_, SY_SOURCE_STATIC, false);
	assert_true(sy_source_remove(&daemon_, dns, &a, SY_LEAVE_LOST));
	assert_null(sy_svcb_find(&dns->b, &a)); /* known only to fail-static now */
	pthread_mutex_unlock(&daemon_.lock);
	assert_int_equal(publish(), 0);
	assert_true(dns->b.degraded);
	assert_int_equal(n_published("dns"), 2);
	assert_int_equal(published_server_id(a), 7);
	assert_int_equal(sy_service_quic_backend(sy_writer_map(daemon_.writer)->base,
						 published("dns"), 7), 1);

	/* back in reach: the registry's word (a is gone) holds again */
	pthread_mutex_lock(&daemon_.lock);
	sy_source_set_reachable(&daemon_, SY_SOURCE_STATIC, true);
	sy_svcb_remove(&dns->b, &a, SY_LEAVE_EXPLICIT, 0);
	sy_daemon_mark(&daemon_, dns);
	pthread_mutex_unlock(&daemon_.lock);
	assert_int_equal(publish(), 0);
	assert_int_equal(n_published("dns"), 1);
}

/* The status's dataplane_state.maps_behind: 1, 0, or -1 when absent. */
static int xdp_status_behind(void)
{
	struct sy_api_reply r = api("GET", "/v1/status", NULL);
	json_t *j = json_loads(r.text, 0, NULL), *b;
	int v;

	free(r.text);
	assert_int_equal(r.status, 200);
	b = json_object_get(json_object_get(j, "dataplane_state"), "maps_behind");
	v = json_is_boolean(b) ? json_is_true(b) : -1;
	json_decref(j);
	return v;
}

/* A failed XDP sync is tried again until it takes. */
static void test_xdp_sync_retried(void **state)
{
	struct sy_xdp_config cfg = { .port_mac = { 2, 0, 0, 0, 0, 1 }, .mtu = 1500,
				     .tcp_ms = 900000, .tcp_fin_ms = 10000, .udp_ms = 300000 };
	struct sy_service_state *reg = svc("reg");
	struct sy_backend_id id = backend(7, 1, 80);
	struct sy_xdp_opts o = { .pin_dir = NULL };
	struct sy_xdp_backend rec, junk = { 0 };
	struct sy_xdp *x = NULL;
	uint64_t errors, key, uid, n_junk = 0;
	long long behind_metric, after_metric;
	int bfd, found = 0, behind_status, after_status;
	char err[256];

	(void)state;
	if (sy_xdp_open(&x, &o, err, sizeof(err)) || sy_xdp_configure(x, &cfg, err, sizeof(err)))
		fail_msg("XDP program (root needed): %s", err);
	daemon_.xdp = x;
	sy_daemon_xdp_sync(&daemon_); /* the tables so far */
	bfd = sy_xdp_test_map_fd(sy_xdp_prog_fd(x), "sy_backends");
	assert_true(bfd >= 0);

	/* sy_backends full of keys no backend has (beyond any uid) */
	for (key = 1ull << 63;; key++, n_junk++)
		if (bpf_map_update_elem(bfd, &key, &junk, BPF_NOEXIST))
			break;
	assert_int_equal(errno, E2BIG);

	/* a new backend: the region takes it, the XDP maps cannot */
	errors = daemon_.publish_errors;
	pthread_mutex_lock(&daemon_.lock);
	assert_true(admit_and_add(reg, id, 1));
	pthread_mutex_unlock(&daemon_.lock);
	assert_int_equal(publish(), 0);
	assert_int_equal(n_published("reg"), 1);
	uid = sy_service_backends(sy_writer_map(daemon_.writer)->base, published("reg"))[0].uid;
	assert_true(daemon_.publish_errors > errors);
	assert_false(sy_xdp_backend_record(x, uid, &rec));
	printf("# sy_backends filled with %llu foreign keys: the sync failed (%s)\n",
	       (unsigned long long)n_junk, daemon_.last_error);
	/* said where an operator looks: /metrics and the status */
	behind_metric = metric("switchyard_xdp_maps_behind");
	behind_status = xdp_status_behind();

	/* room again; no commit follows: the main loop's refresh must retry */
	for (key = 1ull << 63; key < (1ull << 63) + n_junk; key++)
		bpf_map_delete_elem(bfd, &key);
	for (int i = 0; i < 100 && !found; i++) {
		usleep(50 * 1000);
		pthread_mutex_lock(&daemon_.lock);
		sy_daemon_xdp_refresh(&daemon_, false);
		pthread_mutex_unlock(&daemon_.lock);
		found = sy_xdp_backend_record(x, uid, &rec);
	}
	after_metric = metric("switchyard_xdp_maps_behind");
	after_status = xdp_status_behind();

	/* as it was for the other tests (whatever the outcome): reg empty,
	 * no XDP */
	pthread_mutex_lock(&daemon_.lock);
	sy_svcb_remove(&reg->b, &id, SY_LEAVE_EXPLICIT, 0);
	sy_daemon_mark(&daemon_, reg);
	pthread_mutex_unlock(&daemon_.lock);
	assert_int_equal(publish(), 0);
	assert_int_equal(n_published("reg"), 0);
	daemon_.xdp = NULL;
	sy_xdp_close(x, false);
	close(bfd);
	if (!found)
		fail_msg("the new backend never reached the XDP maps without another commit");
	assert_memory_equal(rec.addr, id.addr, 4);
	assert_int_equal(behind_metric, 1);
	assert_int_equal(behind_status, 1);
	assert_int_equal(after_metric, 0);
	assert_int_equal(after_status, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_xdp_sync_retried),
		cmocka_unit_test(test_quic_server_ids),
		cmocka_unit_test(test_fail_static_keeps_server_id),
		cmocka_unit_test(test_quic_lookup),
		cmocka_unit_test(test_admission_at_the_cap),
		cmocka_unit_test(test_one_service_out_of_slots_leaves_the_others_publishing),
		cmocka_unit_test(test_one_service_out_of_heap_leaves_the_others_publishing),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
