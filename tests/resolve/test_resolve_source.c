/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The embedded-registry source of libswitchyard-resolve (resolve/
 * source_embedded.c) against a stub registry in this process: an HTTP/1.1
 * server on 127.0.0.1 (a port the kernel picks) that answers
 * GET /v1/services/NAME/instances[?index=N&wait=Tms] as sy-control does
 * (docs/registry-api.md): at once when N differs from its revision, else
 * parked until the revision changes or the wait passes.
 *
 * What it checks, through the public API only: the first open reads
 * synchronously and takes the balancer's table size and seed; a change
 * reaches the cache through the watch; a failing registry leaves the last
 * list serving with state STALE and the reason in sy_resolve_source_error;
 * a lower revision after that is a reset; a dead first URL falls over to
 * the next; a wrong token and a missing token file are errors with
 * messages; destroy with a watch parked joins the thread (ASan: no leak).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <switchyard/resolve.h>

#define TOKEN "stub-read-token-0123456789"
#define MAX_CONN 64

static struct stub {
	int fd;
	uint16_t port;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t changed;
	bool stop;
	int status;          /* answer this (503: failing) */
	uint64_t revision;
	char instances[1024]; /* the JSON array's inside */
	unsigned requests;
	pthread_t conn[MAX_CONN];
	unsigned n_conn;
} stub;

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void reply(int fd, int status, const char *body)
{
	char head[256];
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n\r\n",
			 status, strlen(body));

	/* the client may have gone (a resolver destroyed mid-watch) */
	if (send(fd, head, (size_t)n, MSG_NOSIGNAL) < 0 ||
	    send(fd, body, strlen(body), MSG_NOSIGNAL) < 0)
		return;
}

static void *serve(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char req[4096] = "", name[64], body[2048];
	unsigned long long index = 0;
	unsigned wait = 0;
	size_t len = 0;
	bool watch;

	while (len < sizeof(req) - 1 && !strstr(req, "\r\n\r\n")) {
		ssize_t n = read(fd, req + len, sizeof(req) - 1 - len);

		if (n <= 0)
			break;
		len += (size_t)n;
		req[len] = 0;
	}
	req[len] = 0;
	pthread_mutex_lock(&stub.lock);
	stub.requests++;
	if (!strstr(req, "Authorization: Bearer " TOKEN "\r\n")) {
		pthread_mutex_unlock(&stub.lock);
		reply(fd, 401, "{\"error\":\"wrong read token\"}");
		close(fd);
		return NULL;
	}
	watch = sscanf(req, "GET /v1/services/%63[^/]/instances?index=%llu&wait=%ums", name, &index,
		       &wait) == 3;
	if (!watch && sscanf(req, "GET /v1/services/%63[^/]/instances", name) != 1) {
		pthread_mutex_unlock(&stub.lock);
		reply(fd, 404, "{\"error\":\"no such path\"}");
		close(fd);
		return NULL;
	}
	if (watch && index == stub.revision && stub.status == 200) {
		uint64_t until = now_ms() + wait;

		while (!stub.stop && index == stub.revision && stub.status == 200 && now_ms() < until) {
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 20 * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&stub.changed, &stub.lock, &ts);
		}
	}
	if (stub.status != 200)
		snprintf(body, sizeof(body), "{\"error\":\"sy-control is stopping\"}");
	else
		snprintf(body, sizeof(body),
			 "{\"service\":\"%s\",\"revision\":%llu,\"state\":\"ok\",\"state_reason\":\"\","
			 "\"maglev\":{\"table_size\":251,\"hash_seed\":7},\"instances\":[%s]}",
			 name, (unsigned long long)stub.revision, stub.instances);
	int status = stub.status;

	pthread_mutex_unlock(&stub.lock);
	reply(fd, status, body);
	close(fd);
	return NULL;
}

static void *accept_loop(void *arg)
{
	(void)arg;
	for (;;) {
		struct pollfd p = { .fd = stub.fd, .events = POLLIN };
		int c;

		pthread_mutex_lock(&stub.lock);
		if (stub.stop) {
			pthread_mutex_unlock(&stub.lock);
			return NULL;
		}
		pthread_mutex_unlock(&stub.lock);
		if (poll(&p, 1, 50) != 1)
			continue;
		c = accept(stub.fd, NULL, NULL);
		if (c < 0)
			continue;
		pthread_mutex_lock(&stub.lock);
		if (stub.n_conn == MAX_CONN) { /* joined below; the test never needs more */
			for (unsigned i = 0; i < stub.n_conn; i++)
				pthread_join(stub.conn[i], NULL);
			stub.n_conn = 0;
		}
		pthread_create(&stub.conn[stub.n_conn++], NULL, serve, (void *)(intptr_t)c);
		pthread_mutex_unlock(&stub.lock);
	}
}

static void stub_start(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);

	memset(&stub, 0, sizeof(stub));
	pthread_mutex_init(&stub.lock, NULL);
	pthread_cond_init(&stub.changed, NULL);
	stub.status = 200;
	stub.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(stub.fd >= 0);
	assert_int_equal(bind(stub.fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(stub.fd, 64), 0);
	assert_int_equal(getsockname(stub.fd, (struct sockaddr *)&a, &alen), 0);
	stub.port = ntohs(a.sin_port);
	pthread_create(&stub.thread, NULL, accept_loop, NULL);
}

static void stub_stop(void)
{
	pthread_mutex_lock(&stub.lock);
	stub.stop = true;
	pthread_cond_broadcast(&stub.changed);
	pthread_mutex_unlock(&stub.lock);
	pthread_join(stub.thread, NULL);
	for (unsigned i = 0; i < stub.n_conn; i++)
		pthread_join(stub.conn[i], NULL);
	close(stub.fd);
}

/* the registry's content changes: parked watches answer */
static void stub_set(int status, uint64_t revision, const char *instances)
{
	pthread_mutex_lock(&stub.lock);
	stub.status = status;
	stub.revision = revision;
	snprintf(stub.instances, sizeof(stub.instances), "%s", instances);
	pthread_cond_broadcast(&stub.changed);
	pthread_mutex_unlock(&stub.lock);
}

#define I(a, w) "{\"address\":\"" a "\",\"port\":80,\"weight\":" #w ",\"zone\":\"z\"}"
#define TWO I("198.18.0.11", 1) "," I("198.18.0.12", 2)
#define THREE TWO "," I("198.18.0.13", 1)

static sy_resolver *make(const char *urls, const char *token, const char *token_file)
{
	struct sy_resolve_config c;
	sy_resolver *r;

	sy_resolve_config_default(&c);
	c.registry_urls = urls;
	c.read_token = token;
	c.read_token_file = token_file;
	c.watch_wait_ms = 1000;
	c.retry_initial_ms = 50;
	c.retry_max_ms = 200;
	assert_int_equal(sy_resolve_create(&c, &r), SY_RESOLVE_OK);
	return r;
}

/* Waits (at most 5 s) for s to show n instances at revision rev in state st. */
static bool wait_for(sy_resolve_service *s, size_t n, uint64_t rev, enum sy_resolve_state st)
{
	uint64_t until = now_ms() + 5000;

	do {
		struct sy_resolve_instance inst[8];
		enum sy_resolve_state got_st;
		uint64_t got_rev;
		size_t got_n;

		if (sy_resolve_instances(s, inst, 8, &got_n, &got_rev, &got_st) == 0 && got_n == n &&
		    got_rev == rev && got_st == st)
			return true;
		usleep(10000);
	} while (now_ms() < until);
	return false;
}

static void test_watch_cycle(void **state)
{
	char url[64], err[256];
	struct sy_resolve_service_opts o = { .table_size = 251, .hash_seed = 7 };
	struct sy_resolve_instance two[2] = { 0 };
	struct sy_resolve_pick p, q;
	sy_resolve_service *s, *ref;
	sy_resolver *r, *manual;

	(void)state;
	stub_start();
	stub_set(200, 100, TWO);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u", stub.port);
	r = make(url, TOKEN, NULL);
	/* the first open reads synchronously: the list is there on return */
	assert_int_equal(sy_resolve_service_open(r, "web", NULL, &s), SY_RESOLVE_OK);
	assert_true(wait_for(s, 2, 100, SY_RESOLVE_FRESH));
	assert_string_equal(sy_resolve_source_error(s, err, sizeof(err)), "");
	/* opts NULL: the registry's table size 251 and seed 7, as a manual
	 * resolver given them picks */
	assert_int_equal(sy_resolve_create(NULL, &manual), 0);
	assert_int_equal(sy_resolve_service_open(manual, "web", &o, &ref), 0);
	for (int i = 0; i < 2; i++) {
		two[i].addr.family = 4;
		memcpy(two[i].addr.bytes, (uint8_t[]){ 198, 18, 0, (uint8_t)(11 + i) }, 4);
		two[i].port = 80;
		two[i].weight = (uint32_t)(1 + i);
	}
	assert_int_equal(sy_resolve_set_instances(ref, 1, two, 2), 0);
	for (int k = 0; k < 200; k++) {
		assert_int_equal(sy_resolve_pick_key(s, &k, sizeof(k), &p), 0);
		assert_int_equal(sy_resolve_pick_key(ref, &k, sizeof(k), &q), 0);
		assert_memory_equal(&p.instance.addr, &q.instance.addr, sizeof(p.instance.addr));
	}
	sy_resolve_destroy(manual);

	/* a change reaches the cache through the parked watch */
	stub_set(200, 101, THREE);
	assert_true(wait_for(s, 3, 101, SY_RESOLVE_FRESH));
	/* an empty list (no instances array to copy): all 3 vanished at once,
	 * fail-static keeps them. Before the fix, under UBSan (halting):
	 *   resolve/snapshot.c:308:2: runtime error: null pointer passed as
	 *   argument 2, which is declared to never be null */
	stub_set(200, 102, "");
	assert_true(wait_for(s, 3, 102, SY_RESOLVE_FAIL_STATIC));
	stub_set(200, 103, THREE);
	assert_true(wait_for(s, 3, 103, SY_RESOLVE_FRESH));

	/* the registry fails: the last list keeps serving, STALE, and why */
	stub_set(503, 103, THREE);
	assert_true(wait_for(s, 3, 103, SY_RESOLVE_STALE));
	sy_resolve_source_error(s, err, sizeof(err));
	assert_non_null(strstr(err, "HTTP 503"));
	assert_non_null(strstr(err, "sy-control is stopping"));
	for (int k = 0; k < 100; k++) {
		assert_int_equal(sy_resolve_pick_rr(s, &p), 0);
		assert_int_equal(p.state, SY_RESOLVE_STALE);
	}
	assert_string_equal(sy_resolve_state_str(p.state), "stale");
	assert_string_equal(sy_resolve_state_str(SY_RESOLVE_FAIL_STATIC), "fail-static");

	/* back, with a lower revision (restarted with a clock that stepped
	 * back): a reset, taken as it is */
	stub_set(200, 50, TWO);
	assert_true(wait_for(s, 2, 50, SY_RESOLVE_FRESH));
	assert_string_equal(sy_resolve_source_error(s, err, sizeof(err)), "");

	/* destroy with a watch parked: the thread ends, nothing leaks */
	sy_resolve_destroy(r);
	stub_stop();
}

/* A loopback port bound but never listening: connecting is refused. The
 * socket (close it at the end) and its port. */
static int refused_port(unsigned short *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

static void test_failover_and_errors(void **state)
{
	char urls[160], err[256];
	struct sy_resolve_service_opts o = { .table_size = 251 };
	sy_resolve_service *s;
	sy_resolver *r;
	unsigned short dead_port;
	int dead = refused_port(&dead_port);

	(void)state;
	stub_start();
	stub_set(200, 7, TWO);
	snprintf(urls, sizeof(urls), "http://127.0.0.1:%u,http://127.0.0.1:%u/", dead_port,
		 stub.port);
	r = make(urls, TOKEN, NULL);
	assert_int_equal(sy_resolve_service_open(r, "web", NULL, &s), SY_RESOLVE_OK);
	assert_true(wait_for(s, 2, 7, SY_RESOLVE_FRESH));
	stub_set(200, 8, THREE);
	assert_true(wait_for(s, 3, 8, SY_RESOLVE_FRESH));
	sy_resolve_destroy(r);

	/* a wrong token: opts NULL needs the first answer */
	snprintf(urls, sizeof(urls), "http://127.0.0.1:%u", stub.port);
	r = make(urls, "not-the-token-0123456789", NULL);
	assert_int_equal(sy_resolve_service_open(r, "web", NULL, &s), SY_RESOLVE_ESOURCE);
	assert_null(s);
	assert_non_null(strstr(sy_resolve_errmsg(r), "HTTP 401"));
	assert_non_null(strstr(sy_resolve_errmsg(r), "wrong read token"));
	/* with opts the service opens anyway, empty, and says why */
	assert_int_equal(sy_resolve_service_open(r, "api", &o, &s), SY_RESOLVE_ESOURCE);
	assert_non_null(s);
	assert_int_equal(sy_resolve_pick_rr(s, &(struct sy_resolve_pick){ 0 }), SY_RESOLVE_EEMPTY);
	assert_non_null(strstr(sy_resolve_source_error(s, err, sizeof(err)), "HTTP 401"));
	sy_resolve_destroy(r);

	/* a token file that does not exist */
	r = make(urls, NULL, "/nonexistent/sy-read.token");
	assert_int_equal(sy_resolve_service_open(r, "web", NULL, &s), SY_RESOLVE_EINVAL);
	assert_string_equal(sy_resolve_errmsg(r),
			    "read_token_file /nonexistent/sy-read.token: No such file or directory");
	sy_resolve_destroy(r);

	/* bad source settings */
	{
		struct sy_resolve_config c;

		sy_resolve_config_default(&c);
		c.registry_urls = urls;
		c.watch_wait_ms = 0;
		assert_int_equal(sy_resolve_create(&c, &r), SY_RESOLVE_EINVAL);
		c.watch_wait_ms = 1000;
		c.registry_urls = " , ";
		assert_int_equal(sy_resolve_create(&c, &r), SY_RESOLVE_EINVAL);
	}
	close(dead);
	stub_stop();
}

/* The etcd source's configuration, and its answer when no member is
 * reachable (a port bound but not listening: refused). The source against a
 * real etcd: tests/integration/test_resolve_etcd.sh. */
static void test_etcd_config(void **state)
{
	struct sy_resolve_config c;
	struct sy_resolve_instance inst[2];
	enum sy_resolve_state st;
	sy_resolve_service *s;
	sy_resolver *r;
	char eps[64], err[256];
	size_t n;
	unsigned short dead_port;
	int dead = refused_port(&dead_port);

	(void)state;
	sy_resolve_config_default(&c);
	c.etcd_endpoints = "127.0.0.1:2379";
	c.registry_urls = "http://127.0.0.1:9181"; /* one source per resolver */
	assert_int_equal(sy_resolve_create(&c, &r), SY_RESOLVE_EINVAL);
	c.registry_urls = NULL;
	c.etcd_prefix = "/switchyard/services"; /* no '/' at the end */
	assert_int_equal(sy_resolve_create(&c, &r), SY_RESOLVE_EINVAL);
	c.etcd_prefix = NULL;
	c.etcd_endpoints = " , ";
	assert_int_equal(sy_resolve_create(&c, &r), SY_RESOLVE_EINVAL);
	c.etcd_endpoints = "127.0.0.1:2379";
	c.etcd_timeout_ms = 0;
	assert_int_equal(sy_resolve_create(&c, &r), SY_RESOLVE_EINVAL);
	c.etcd_timeout_ms = 2000;
	c.etcd_username = "root"; /* a user and a password file go together */
	assert_int_equal(sy_resolve_create(&c, &r), SY_RESOLVE_EINVAL);
	c.etcd_username = NULL;
	c.etcd_password_file = "/nonexistent";
	assert_int_equal(sy_resolve_create(&c, &r), SY_RESOLVE_EINVAL);
	c.etcd_password_file = NULL;

	snprintf(eps, sizeof(eps), "127.0.0.1:%u", dead_port);
	sy_resolve_config_default(&c);
	c.etcd_endpoints = eps;
	c.retry_max_ms = 200;
	assert_int_equal(sy_resolve_create(&c, &r), SY_RESOLVE_OK);
	/* etcd holds no table size: opts NULL (the defaults) still opens, with
	 * nothing yet (state new) and the reason */
	assert_int_equal(sy_resolve_service_open(r, "web", NULL, &s), SY_RESOLVE_ESOURCE);
	assert_non_null(s);
	assert_non_null(strstr(sy_resolve_errmsg(r), "/v3/kv/range"));
	assert_int_equal(sy_resolve_pick_rr(s, &(struct sy_resolve_pick){ 0 }), SY_RESOLVE_EEMPTY);
	assert_int_equal(sy_resolve_instances(s, inst, 2, &n, NULL, &st), SY_RESOLVE_OK);
	assert_int_equal(n, 0);
	assert_int_equal(st, SY_RESOLVE_NEW);
	assert_non_null(strstr(sy_resolve_source_error(s, err, sizeof(err)), "Couldn't connect"));
	usleep(300000); /* the thread retries meanwhile; destroy stops it */
	sy_resolve_destroy(r);
	close(dead);
}

/* The ZooKeeper source's configuration, and a server that never answers:
 * the open says why within fetch_timeout_ms, the thread keeps trying (a new
 * session every retry_max_ms), destroy stops it. */
static void test_zk_config(void **state)
{
	struct sy_resolve_config c;
	struct sy_resolve_instance inst[2];
	enum sy_resolve_state st;
	sy_resolve_service *s;
	sy_resolver *r;
	char servers[64], err[256];
	size_t n;
	unsigned short dead_port;
	int dead = refused_port(&dead_port);

	(void)state;
	sy_resolve_config_default(&c);
	assert_int_equal(c.zk_session_timeout_ms, 10000);
	c.zk_servers = "127.0.0.1:2181";
	c.etcd_endpoints = "127.0.0.1:2379"; /* one source per resolver */
	assert_int_equal(sy_resolve_create(&c, &r), SY_RESOLVE_EINVAL);
	c.etcd_endpoints = NULL;
	c.zk_prefix = "/switchyard/services/"; /* sy-control: no '/' at the end */
	assert_int_equal(sy_resolve_create(&c, &r), SY_RESOLVE_EINVAL);
	c.zk_prefix = "switchyard"; /* nor without one at the start */
	assert_int_equal(sy_resolve_create(&c, &r), SY_RESOLVE_EINVAL);
	c.zk_prefix = NULL;
	c.zk_session_timeout_ms = 0;
	assert_int_equal(sy_resolve_create(&c, &r), SY_RESOLVE_EINVAL);

	snprintf(servers, sizeof(servers), "127.0.0.1:%u", dead_port);
	sy_resolve_config_default(&c);
	c.zk_servers = servers;
	c.zk_prefix = "/";
	c.fetch_timeout_ms = 300;
	c.retry_initial_ms = 50;
	c.retry_max_ms = 100;
	assert_int_equal(sy_resolve_create(&c, &r), SY_RESOLVE_OK);
	assert_int_equal(sy_resolve_service_open(r, "web", NULL, &s), SY_RESOLVE_ESOURCE);
	assert_non_null(s);
	assert_non_null(strstr(sy_resolve_errmsg(r), "no session within 300 ms"));
	assert_int_equal(sy_resolve_pick_rr(s, &(struct sy_resolve_pick){ 0 }), SY_RESOLVE_EEMPTY);
	assert_int_equal(sy_resolve_instances(s, inst, 2, &n, NULL, &st), SY_RESOLVE_OK);
	assert_int_equal(n, 0);
	assert_int_equal(st, SY_RESOLVE_NEW);
	assert_non_null(strstr(sy_resolve_source_error(s, err, sizeof(err)), servers));
	usleep(400000); /* new sessions meanwhile; destroy stops the thread */
	sy_resolve_destroy(r);
	close(dead);
}

/* Any registry kind by its URL (the `registry` field): the kinds the
 * library knows, their checks, one source per resolver, and TLS turning
 * etcd's endpoints to https. */
static void test_registry_url(void **state)
{
	struct sy_resolve_config c;
	sy_resolve_service *s;
	sy_resolver *r;
	char url[64], why[160];
	unsigned short dead_port;
	int dead = refused_port(&dead_port);

	(void)state;
	assert_int_equal(sy_resolve_registry_check("etcd://127.0.0.1:2379", why, sizeof(why)),
			 SY_RESOLVE_OK);
	assert_int_equal(sy_resolve_registry_check("etcd://h1:2379,h2:2379/my/", NULL, 0),
			 SY_RESOLVE_OK);
	assert_int_equal(sy_resolve_registry_check("zk://127.0.0.1:2181/switchyard/services",
						   why, sizeof(why)),
			 SY_RESOLVE_OK);
	assert_int_equal(sy_resolve_registry_check("consul://127.0.0.1:8500", why, sizeof(why)),
			 SY_RESOLVE_EINVAL);
	assert_non_null(strstr(why, "no registry URL this library knows"));
	assert_int_equal(sy_resolve_registry_check("zk://127.0.0.1:2181/a//b", why, sizeof(why)),
			 SY_RESOLVE_EINVAL); /* ZooKeeper's prefix: no empty part */
	assert_int_equal(sy_resolve_registry_check("zk://127.0.0.1/services", why, sizeof(why)),
			 SY_RESOLVE_EINVAL); /* HOST:PORT */
	assert_int_equal(sy_resolve_registry_check("etcd://127.0.0.1:2379/services", why,
						   sizeof(why)),
			 SY_RESOLVE_EINVAL); /* etcd's: a folder */
	assert_int_equal(sy_resolve_registry_check("etcd://", why, sizeof(why)),
			 SY_RESOLVE_EINVAL);
	assert_int_equal(sy_resolve_registry_check("127.0.0.1:2379", why, sizeof(why)),
			 SY_RESOLVE_EINVAL);
	assert_int_equal(sy_resolve_registry_check(NULL, why, sizeof(why)), SY_RESOLVE_EINVAL);

	sy_resolve_config_default(&c);
	c.registry = "zk://127.0.0.1:2181";
	assert_int_equal(sy_resolve_config_check(&c, why, sizeof(why)), SY_RESOLVE_OK);
	c.zk_servers = "127.0.0.1:2181"; /* one source per resolver */
	assert_int_equal(sy_resolve_create(&c, &r), SY_RESOLVE_EINVAL);
	assert_int_equal(sy_resolve_config_check(&c, why, sizeof(why)), SY_RESOLVE_EINVAL);
	assert_non_null(strstr(why, "one source per resolver"));
	c.zk_servers = NULL;
	c.registry_session_timeout_ms = 500; /* below ZooKeeper's 1000 */
	assert_int_equal(sy_resolve_create(&c, &r), SY_RESOLVE_EINVAL);
	c.registry_session_timeout_ms = 0;
	c.registry_ca_file = "/etc/ca.pem"; /* ZooKeeper: no TLS here */
	assert_int_equal(sy_resolve_create(&c, &r), SY_RESOLVE_EINVAL);
	assert_int_equal(sy_resolve_config_check(&c, why, sizeof(why)), SY_RESOLVE_EINVAL);
	assert_string_equal(why, "zookeeper takes no TLS files");
	c.registry_ca_file = NULL;
	c.registry_username = "u"; /* digest credentials: taken (read at a session) */
	c.registry_password_file = "/etc/pw";
	assert_int_equal(sy_resolve_config_check(&c, why, sizeof(why)), SY_RESOLVE_OK);
	c.registry_username = "u:v";
	assert_int_equal(sy_resolve_config_check(&c, why, sizeof(why)), SY_RESOLVE_EINVAL);
	assert_string_equal(why, "a digest user name has no ':'");
	c.registry_username = "u";
	c.registry_password_file = NULL;
	assert_int_equal(sy_resolve_config_check(&c, why, sizeof(why)), SY_RESOLVE_EINVAL);
	assert_string_equal(why, "a user and a password file go together");
	c.registry = "etcd://127.0.0.1:2379";
	c.registry_username = "root"; /* a user and a password file go together */
	assert_int_equal(sy_resolve_create(&c, &r), SY_RESOLVE_EINVAL);
	c.registry_username = NULL;
	c.registry_cert_file = "/etc/client.pem"; /* a certificate and its key too */
	assert_int_equal(sy_resolve_create(&c, &r), SY_RESOLVE_EINVAL);
	c.registry_cert_file = NULL;

	/* a CA: etcd's endpoints are spoken to over https */
	snprintf(url, sizeof(url), "etcd://127.0.0.1:%u", dead_port);
	sy_resolve_config_default(&c);
	c.registry = url;
	c.registry_ca_file = "/nonexistent-ca.pem";
	c.retry_max_ms = 200;
	assert_int_equal(sy_resolve_create(&c, &r), SY_RESOLVE_OK);
	assert_int_equal(sy_resolve_service_open(r, "web", NULL, &s), SY_RESOLVE_ESOURCE);
	snprintf(url, sizeof(url), "https://127.0.0.1:%u/v3/kv/range", dead_port);
	assert_non_null(strstr(sy_resolve_errmsg(r), url));
	sy_resolve_destroy(r);
	close(dead);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_watch_cycle),
		cmocka_unit_test(test_failover_and_errors),
		cmocka_unit_test(test_etcd_config),
		cmocka_unit_test(test_zk_config),
		cmocka_unit_test(test_registry_url),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
