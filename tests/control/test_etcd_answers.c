/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Tests of control/registry/etcd_answers.c, what etcd's range and watch
 * answers mean for one service's list (the etcd follower's, read by
 * sy-control's etcd source and libswitchyard-resolve's): keys and values
 * (control/registry/etcd_kv.c) become entries, bad keys are skipped with
 * their reason and held until put right or deleted, answers that are not
 * etcd's give an error with a message; a watch line's changes applied to a
 * list; and lists of 20,000 backends, read and changed by 20,000 events.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "etcd_answers.h"
#include "etcd_kv.h"

#define PFX "/switchyard/services/"

/* {"key": b64(key), "value": b64(value), "mod_revision": "rev"} */
static char *kv(const char *key, const char *value, unsigned rev)
{
	char *k = sy_b64_encode(key, strlen(key)), *v = sy_b64_encode(value, strlen(value));
	char *out = malloc(strlen(k) + strlen(v) + 96);

	assert_non_null(out);
	sprintf(out, "{\"key\":\"%s\",\"value\":\"%s\",\"mod_revision\":\"%u\"}", k, v, rev);
	free(k);
	free(v);
	return out;
}

static char *b64(const char *s)
{
	return sy_b64_encode(s, strlen(s));
}

/* What the skip function was told. */
struct skips {
	unsigned n;
	char key[8][128], why[8][160];
};

static void on_skip(void *ctx, const char *key, const char *why)
{
	struct skips *sk = ctx;

	assert_non_null(key);
	assert_true(why && why[0]);
	if (sk->n < 8) {
		snprintf(sk->key[sk->n], sizeof(sk->key[0]), "%s", key);
		snprintf(sk->why[sk->n], sizeof(sk->why[0]), "%s", why);
	}
	sk->n++;
}

/* Every entry is found where it is, every bad key held (the list's own
 * lookups agree with its arrays; no identity twice). */
static void check_list(const struct sy_etcd_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		if (sy_etcd_list_find(l, &l->e[i].id) != i)
			fail_msg("entry %zu is found at %zu", i, sy_etcd_list_find(l, &l->e[i].id));
	for (size_t i = 0; i < l->n_bad; i++) {
		assert_true(sy_etcd_list_bad(l, l->bad[i]));
		for (size_t j = i + 1; j < l->n_bad; j++)
			assert_string_not_equal(l->bad[i], l->bad[j]);
	}
}

static void test_range_ok(void **state)
{
	char *a = kv(PFX "web/198.18.0.11:80", "{\"weight\":5,\"zone\":\"a\"}", 7);
	char *b = kv(PFX "web/[2001:2::1]:8080", "", 8);
	char *bad = kv(PFX "web/198.18.0.011:80", "", 9);       /* a leading zero: not an address */
	char *badv = kv(PFX "web/198.18.0.12:80", "{\"weight\":70000}", 9);
	char *badk = b64(PFX "web/198.18.0.011:80"), *badvk = b64(PFX "web/198.18.0.12:80");
	char body[4096], err[200] = "";
	struct sy_etcd_list l;
	struct skips sk = { 0 };
	static const uint8_t v6[16] = { 0x20, 0x01, 0, 2, [15] = 1 };

	(void)state;
	snprintf(body, sizeof(body),
		 "{\"header\":{\"cluster_id\":\"1\",\"revision\":\"42\"},\"kvs\":[%s,%s,%s,%s],\"count\":\"4\"}",
		 a, b, bad, badv);
	assert_int_equal(sy_etcd_parse_range(body, strlen(body), PFX, "web", &l, on_skip, &sk, err,
					     sizeof(err)),
			 0);
	assert_int_equal(l.revision, 42);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.e[0].service, "web");
	assert_int_equal(l.e[0].id.family, SY_AF_INET);
	assert_memory_equal(l.e[0].id.addr, ((uint8_t[]){ 198, 18, 0, 11 }), 4);
	assert_int_equal(l.e[0].id.port, 80);
	assert_int_equal(l.e[0].weight, 5);
	assert_string_equal(l.e[0].zone, "a");
	assert_int_equal(l.e[1].id.family, SY_AF_INET6);
	assert_memory_equal(l.e[1].id.addr, v6, 16);
	assert_int_equal(l.e[1].id.port, 8080);
	assert_int_equal(l.e[1].weight, 1); /* an empty value: defaults */
	/* the bad key and the bad value: skipped with their reasons, held */
	assert_int_equal(sk.n, 2);
	if (!strstr(sk.key[0], "198.18.0.011:80") || !strstr(sk.why[0], "is not"))
		fail_msg("first skipped: %s: %s", sk.key[0], sk.why[0]);
	if (!strstr(sk.key[1], "198.18.0.12:80") || !strstr(sk.why[1], "weight"))
		fail_msg("second skipped: %s: %s", sk.key[1], sk.why[1]);
	assert_int_equal(l.n_bad, 2);
	assert_true(sy_etcd_list_bad(&l, badk));
	assert_true(sy_etcd_list_bad(&l, badvk));
	assert_false(sy_etcd_list_bad(&l, "x"));
	check_list(&l);
	sy_etcd_list_free(&l);
	assert_null(l.e);
	free(a), free(b), free(bad), free(badv), free(badk), free(badvk);
}

/* A list in pages (sy_etcd_parse_range_page): appended in order at the
 * first page's revision, the next page's key after each but the last, a
 * backend listed on two pages once, bad keys held across pages; a whole
 * answer's reader refuses a page that has more. */
static void test_range_pages(void **state)
{
	char *a = kv(PFX "web/198.18.0.11:80", "", 7), *b = kv(PFX "web/198.18.0.12:80", "", 8);
	char *bad = kv(PFX "web/198.18.0.011:80", "", 9);
	char *c = kv(PFX "web/198.18.0.13:80", "{\"weight\":3}", 9);
	char *a_again = kv(PFX "web/198.18.0.11:80", "", 10);
	char *last_key = b64(PFX "web/198.18.0.011:80"), body[4096], err[200] = "", *next = NULL;
	struct sy_etcd_list l = { 0 }, whole;
	struct skips sk = { 0 };
	size_t len;
	uint8_t *k;

	(void)state;
	snprintf(body, sizeof(body),
		 "{\"header\":{\"revision\":\"42\"},\"kvs\":[%s,%s,%s],\"more\":true,\"count\":\"5\"}",
		 a, b, bad);
	assert_int_equal(sy_etcd_parse_range_page(body, strlen(body), PFX, "web", &l, &next, on_skip,
						  &sk, err, sizeof(err)),
			 0);
	assert_int_equal(l.revision, 42);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.n_bad, 1);
	/* the next page starts right after the last key: its key + "\0" */
	assert_non_null(next);
	k = sy_b64_decode(next, &len);
	assert_int_equal(len, strlen(PFX "web/198.18.0.011:80") + 1);
	assert_memory_equal(k, PFX "web/198.18.0.011:80", len);
	free(k);
	free(next);
	/* whole-answer readers refuse it */
	assert_int_equal(sy_etcd_parse_range(body, strlen(body), PFX, "web", &whole, NULL, NULL,
					     err, sizeof(err)),
			 EINVAL);
	assert_non_null(strstr(err, "a partial answer"));

	/* the last page, read at revision 42 (its header says so too) */
	snprintf(body, sizeof(body),
		 "{\"header\":{\"revision\":\"42\"},\"kvs\":[%s,%s],\"count\":\"5\"}", c,
		 a_again);
	sk.n = 0;
	assert_int_equal(sy_etcd_parse_range_page(body, strlen(body), PFX, "web", &l, &next, on_skip,
						  &sk, err, sizeof(err)),
			 0);
	assert_null(next);
	assert_int_equal(l.revision, 42);
	assert_int_equal(l.n, 3);
	assert_memory_equal(l.e[2].id.addr, ((uint8_t[]){ 198, 18, 0, 13 }), 4);
	assert_int_equal(l.e[2].weight, 3);
	assert_int_equal(sk.n, 1); /* 198.18.0.11:80 again */
	assert_non_null(strstr(sk.why[0], "listed twice"));
	assert_true(sy_etcd_list_bad(&l, last_key));
	check_list(&l);
	sy_etcd_list_free(&l);
	free(a), free(b), free(bad), free(c), free(a_again), free(last_key);
}

static void test_range_empty(void **state)
{
	const char *body = "{\"header\":{\"revision\":\"3\"}}"; /* no key: no kvs */
	struct sy_etcd_list l;
	char err[200];

	(void)state;
	/* no skip function: skipped keys are only held */
	assert_int_equal(sy_etcd_parse_range(body, strlen(body), PFX, "web", &l, NULL, NULL, err,
					     sizeof(err)),
			 0);
	assert_int_equal(l.revision, 3);
	assert_int_equal(l.n, 0);
	assert_int_equal(l.n_bad, 0);
	sy_etcd_list_free(&l);
}

/* Found by fuzz_resolve_etcd (in the resolver's parser before the
 * follower's): an answer naming one backend twice gave a list with a
 * duplicate identity. The first stays, the second is skipped. */
static void test_range_twice(void **state)
{
	char *a = kv(PFX "web/198.18.0.11:80", "{\"weight\":5}", 7);
	char *b = kv(PFX "web/198.18.0.11:80", "{\"weight\":6}", 7);
	char body[1024], err[200];
	struct sy_etcd_list l;
	struct skips sk = { 0 };

	(void)state;
	snprintf(body, sizeof(body), "{\"header\":{\"revision\":\"9\"},\"kvs\":[%s,%s]}", a, b);
	assert_int_equal(sy_etcd_parse_range(body, strlen(body), PFX, "web", &l, on_skip, &sk, err,
					     sizeof(err)),
			 0);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.e[0].weight, 5);
	assert_int_equal(sk.n, 1);
	assert_string_equal(sk.key[0], "198.18.0.11:80");
	assert_string_equal(sk.why[0], "a backend listed twice");
	assert_int_equal(l.n_bad, 0); /* a backend's key: not held as bad */
	sy_etcd_list_free(&l);
	free(a);
	free(b);
}

static void expect_range_error(const char *body, const char *msg)
{
	struct sy_etcd_list l;
	char err[200] = "";

	assert_int_equal(sy_etcd_parse_range(body, strlen(body), PFX, "web", &l, on_skip,
					     &(struct skips){ 0 }, err, sizeof(err)),
			 EINVAL);
	if (!strstr(err, msg))
		fail_msg("'%s': error '%s', want '%s'", body, err, msg);
	assert_null(l.e);
	assert_null(l.bad);
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
	struct sy_etcd_watch w;
	struct skips sk = { 0 };
	char *badvk = b64(PFX "web/198.18.0.13:80");

	(void)state;
	snprintf(line, sizeof(line),
		 "{\"result\":{\"header\":{\"revision\":\"12\"},\"events\":[{\"kv\":%s},{\"type\":\"DELETE\",\"kv\":%s},{\"kv\":%s},{\"kv\":%s}]}}",
		 put, del, badv, other);
	assert_int_equal(sy_etcd_parse_watch(line, strlen(line), PFX, "web", &w, on_skip, &sk, err,
					     sizeof(err)),
			 SY_ETCD_WATCH_EVENTS);
	assert_int_equal(w.kind, SY_ETCD_WATCH_EVENTS);
	assert_false(w.created);
	assert_int_equal(w.revision, 12);
	assert_int_equal(w.n, 4); /* one change per event */
	/* a put */
	assert_true(w.ch[0].backend);
	assert_false(w.ch[0].gone);
	assert_false(w.ch[0].bad);
	assert_int_equal(w.ch[0].e.weight, 3);
	/* a delete */
	assert_true(w.ch[1].backend);
	assert_true(w.ch[1].gone);
	assert_false(w.ch[1].bad);
	assert_int_equal(((uint8_t *)w.ch[1].e.id.addr)[3], 12);
	/* a value that no longer describes a backend: the backend goes, the
	 * key is held as bad */
	assert_true(w.ch[2].backend);
	assert_true(w.ch[2].gone);
	assert_true(w.ch[2].bad);
	assert_int_equal(((uint8_t *)w.ch[2].e.id.addr)[3], 13);
	assert_string_equal(w.ch[2].key, badvk);
	/* another service's key: no backend, held as bad */
	assert_false(w.ch[3].backend);
	assert_true(w.ch[3].bad);
	assert_int_equal(sk.n, 2);
	assert_non_null(strstr(sk.why[0], "not a JSON object"));
	assert_string_equal(sk.why[1], "another service's key");
	sy_etcd_watch_free(&w);
	assert_null(w.ch);
	free(put), free(del), free(badv), free(other), free(badvk);
}

static void test_watch_control(void **state)
{
	const char *created = "{\"result\":{\"header\":{\"revision\":\"5\"},\"created\":true}}";
	const char *compacted =
		"{\"result\":{\"header\":{\"revision\":\"90\"},\"canceled\":true,\"compact_revision\":\"80\"}}";
	struct sy_etcd_watch w;
	char err[200];

	(void)state;
	assert_int_equal(sy_etcd_parse_watch(created, strlen(created), PFX, "web", &w, NULL, NULL,
					     err, sizeof(err)),
			 SY_ETCD_WATCH_EVENTS);
	assert_true(w.created);
	assert_int_equal(w.n, 0);
	assert_int_equal(w.revision, 0);
	sy_etcd_watch_free(&w);
	assert_int_equal(sy_etcd_parse_watch(compacted, strlen(compacted), PFX, "web", &w, NULL,
					     NULL, err, sizeof(err)),
			 SY_ETCD_WATCH_COMPACTED);
	assert_int_equal(w.compact_revision, 80);
	assert_int_equal(w.n, 0);
	assert_null(w.line);
	sy_etcd_watch_free(&w);
}

static void expect_watch_error(const char *line, const char *msg)
{
	struct sy_etcd_watch w;
	char err[200] = "";

	assert_int_equal(sy_etcd_parse_watch(line, strlen(line), PFX, "web", &w, on_skip,
					     &(struct skips){ 0 }, err, sizeof(err)),
			 SY_ETCD_WATCH_FAILED);
	if (!strstr(err, msg))
		fail_msg("'%s': error '%s', want '%s'", line, err, msg);
	assert_int_equal(w.kind, SY_ETCD_WATCH_FAILED);
	assert_null(w.ch);
	assert_null(w.line);
	assert_int_equal(w.n, 0);
}

static void test_watch_malformed(void **state)
{
	char *ok = kv(PFX "web/198.18.0.11:80", "", 10), line[1024];

	(void)state;
	expect_watch_error("{\"result\":", "watch: not JSON");
	expect_watch_error("[]", "watch: not a JSON object");
	expect_watch_error("{\"error\":{\"grpc_code\":14,\"http_code\":503,\"message\":\"etcdserver: no leader\"}}",
			   "watch: etcdserver: no leader");
	expect_watch_error("{\"result\":{\"canceled\":true,\"cancel_reason\":\"permission denied\"}}",
			   "watch canceled: permission denied");
	expect_watch_error("{\"result\":{\"events\":5}}", "events is not an array");
	expect_watch_error("{\"result\":{\"events\":[{\"type\":\"EXPIRE\",\"kv\":{\"mod_revision\":\"3\"}}]}}",
			   "events[0].type is not PUT or DELETE");
	expect_watch_error("{\"result\":{\"events\":[{\"kv\":{\"key\":\"\"}}]}}",
			   "events[0].kv.mod_revision is not a number");
	/* a malformed event after a good one: the whole line fails */
	snprintf(line, sizeof(line), "{\"result\":{\"events\":[{\"kv\":%s},{\"type\":\"X\"}]}}", ok);
	expect_watch_error(line, "events[1].");
	free(ok);
}

static struct sy_etcd_change change(uint8_t last, uint16_t port, uint32_t weight, bool gone)
{
	struct sy_etcd_change c = { .backend = true, .gone = gone };

	c.e.id.family = SY_AF_INET;
	memcpy(c.e.id.addr, ((uint8_t[]){ 198, 18, 0, last }), 4);
	c.e.id.port = port;
	c.e.weight = weight;
	snprintf(c.e.service, sizeof(c.e.service), "web");
	return c;
}

static void test_apply(void **state)
{
	struct sy_etcd_list l = { 0 };
	struct sy_etcd_change ch[] = {
		change(1, 80, 1, false), change(2, 80, 1, false), change(1, 81, 1, false),
		change(1, 80, 9, false),  /* an update of the first */
		change(2, 80, 0, true),   /* gone */
		change(7, 80, 0, true),   /* gone, never there: nothing */
	};
	/* bad keys: held by a bad put, released by a good put or a delete */
	struct sy_etcd_change keys[] = {
		{ .bad = true, .key = "a" }, { .bad = true, .key = "b" }, { .bad = true, .key = "a" },
		{ .bad = true, .key = NULL }, /* no key: nothing to hold */
		{ .bad = false, .key = "a" }, { .bad = true, .key = "c" },
	};

	(void)state;
	assert_int_equal(sy_etcd_list_apply(&l, ch, 6), 0);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.e[0].id.port, 80);
	assert_int_equal(l.e[0].weight, 9);
	assert_int_equal(l.e[1].id.port, 81);
	check_list(&l);
	assert_int_equal(sy_etcd_list_apply(&l, keys, 6), 0);
	assert_int_equal(l.n, 2); /* no backend changed */
	assert_int_equal(l.n_bad, 2);
	assert_false(sy_etcd_list_bad(&l, "a"));
	assert_true(sy_etcd_list_bad(&l, "b"));
	assert_true(sy_etcd_list_bad(&l, "c"));
	check_list(&l);
	sy_etcd_list_free(&l);
}

/* Random changes over a small set of identities and keys, applied in
 * batches, against a plain model: the list holds what the model holds. */
static void test_apply_model(void **state)
{
	enum { IDS = 96, KEYS = 24, ROUNDS = 400 };
	struct sy_etcd_list l = { 0 };
	uint32_t weight[IDS]; /* 0: absent, else weight + 1 */
	bool bad[KEYS];
	char names[KEYS][8];
	uint64_t r = 88172645463325252ull;

	(void)state;
	memset(weight, 0, sizeof(weight));
	memset(bad, 0, sizeof(bad));
	for (int k = 0; k < KEYS; k++)
		snprintf(names[k], sizeof(names[k]), "k%d", k);
	for (int round = 0; round < ROUNDS; round++) {
		struct sy_etcd_change ch[40];
		size_t n;

		r ^= r << 13, r ^= r >> 7, r ^= r << 17;
		n = r % 40;
		for (size_t c = 0; c < n; c++) {
			unsigned id, k;

			r ^= r << 13, r ^= r >> 7, r ^= r << 17;
			id = (unsigned)(r >> 8) % IDS;
			k = (unsigned)(r >> 24) % KEYS;
			/* long runs of puts, then of deletes: the list fills and empties */
			ch[c] = change((uint8_t)(id % 48 + 1), (uint16_t)(80 + id / 48),
				       (uint32_t)(r >> 40) % 100, ((r >> 4) & 3) == 0 || (round / 50) % 2);
			if ((r & 7) == 0) { /* now and then a key only */
				ch[c] = (struct sy_etcd_change){ .bad = (r >> 3) & 1, .key = names[k] };
				bad[k] = ch[c].bad;
				continue;
			}
			weight[id] = ch[c].gone ? 0 : ch[c].e.weight + 1;
		}
		assert_int_equal(sy_etcd_list_apply(&l, ch, n), 0);
		check_list(&l);
		{
			size_t want = 0, want_bad = 0;

			for (unsigned id = 0; id < IDS; id++) {
				struct sy_etcd_change x = change((uint8_t)(id % 48 + 1),
								 (uint16_t)(80 + id / 48), 0, false);
				size_t i = sy_etcd_list_find(&l, &x.e.id);

				if (!weight[id]) {
					assert_int_equal(i, l.n);
					continue;
				}
				want++;
				assert_true(i < l.n);
				assert_int_equal(l.e[i].weight, weight[id] - 1);
			}
			for (unsigned k = 0; k < KEYS; k++) {
				assert_int_equal(sy_etcd_list_bad(&l, names[k]), bad[k]);
				want_bad += bad[k];
			}
			assert_int_equal(l.n, want);
			assert_int_equal(l.n_bad, want_bad);
		}
	}
	sy_etcd_list_free(&l);
}

/* ---- 20,000 backends -------------------------------------------------------------------- */

#define BIG 20000

/* A growing string. */
struct buf {
	char *p;
	size_t len, cap;
};

static void put(struct buf *b, const char *s)
{
	size_t n = strlen(s);

	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
	memcpy(b->p + b->len, s, n + 1);
	b->len += n;
}

/* The i-th backend of the big list: 198.18.x.y:80 (net 0 or 1: 198.19). */
static void big_key(char *key, size_t len, unsigned net, unsigned i)
{
	snprintf(key, len, PFX "web/198.%u.%u.%u:80", 18 + net, i / 250, i % 250 + 1);
}

static void big_id(struct sy_backend_id *id, unsigned net, unsigned i)
{
	memset(id, 0, sizeof(*id));
	id->family = SY_AF_INET;
	memcpy(id->addr, ((uint8_t[]){ 198, (uint8_t)(18 + net), (uint8_t)(i / 250),
				       (uint8_t)(i % 250 + 1) }),
	       4);
	id->port = 80;
}

/* A range of BIG backends, then the first listed again and a bad key. */
static void big_range(struct sy_etcd_list *l)
{
	struct buf b = { 0 };
	struct skips sk = { 0 };
	char key[128], value[64], err[200], *k;

	put(&b, "{\"header\":{\"revision\":\"100\"},\"kvs\":[");
	for (unsigned i = 0; i <= BIG; i++) {
		big_key(key, sizeof(key), 0, i % BIG);
		snprintf(value, sizeof(value), "{\"weight\":%u}", i % 1000);
		k = kv(key, value, 50);
		put(&b, k);
		put(&b, ",");
		free(k);
	}
	k = kv(PFX "web/198.18.0.0011:80", "", 50);
	put(&b, k);
	free(k);
	put(&b, "]}");
	assert_int_equal(sy_etcd_parse_range(b.p, b.len, PFX, "web", l, on_skip, &sk, err, sizeof(err)),
			 0);
	assert_int_equal(l->revision, 100);
	assert_int_equal(l->n, BIG);
	assert_int_equal(l->n_bad, 1);
	assert_int_equal(sk.n, 2);
	assert_string_equal(sk.key[0], "198.18.0.1:80");
	assert_string_equal(sk.why[0], "a backend listed twice");
	for (unsigned i = 0; i < BIG; i++) { /* in the answer's order */
		struct sy_backend_id id;

		big_id(&id, 0, i);
		assert_int_equal(sy_backend_id_cmp(&l->e[i].id, &id), 0);
		assert_int_equal(l->e[i].weight, i % 1000);
	}
	check_list(l);
	free(b.p);
}

static void test_range_big(void **state)
{
	struct sy_etcd_list l;

	(void)state;
	big_range(&l);
	sy_etcd_list_free(&l);
}

/* BIG events on a list of BIG: the even backends deleted, a quarter of
 * the odd ones changed, BIG/4 new ones put; applied twice, the same. */
static void test_watch_big(void **state)
{
	struct sy_etcd_list l;
	struct sy_etcd_watch w;
	struct buf b = { 0 };
	char key[128], err[200], *k;
	size_t n1;

	(void)state;
	big_range(&l);
	put(&b, "{\"result\":{\"header\":{\"revision\":\"200\"},\"events\":[");
	for (unsigned i = 0; i < BIG / 2; i++) {
		big_key(key, sizeof(key), 0, 2 * i);
		k = kv(key, "", 101 + i);
		put(&b, i ? ",{\"type\":\"DELETE\",\"kv\":" : "{\"type\":\"DELETE\",\"kv\":");
		put(&b, k);
		put(&b, "}");
		free(k);
	}
	for (unsigned i = 0; i < BIG / 4; i++) {
		big_key(key, sizeof(key), 0, 4 * i + 1);
		k = kv(key, "{\"weight\":7777}", 20000 + i);
		put(&b, ",{\"kv\":");
		put(&b, k);
		put(&b, "}");
		free(k);
		big_key(key, sizeof(key), 1, i);
		k = kv(key, "{\"weight\":3}", 30000 + i);
		put(&b, ",{\"kv\":");
		put(&b, k);
		put(&b, "}");
		free(k);
	}
	put(&b, "]}}");
	assert_int_equal(sy_etcd_parse_watch(b.p, b.len, PFX, "web", &w, on_skip,
					     &(struct skips){ 0 }, err, sizeof(err)),
			 SY_ETCD_WATCH_EVENTS);
	assert_int_equal(w.n, BIG);
	assert_int_equal(w.revision, 30000 + BIG / 4 - 1);
	assert_int_equal(sy_etcd_list_apply(&l, w.ch, w.n), 0);
	n1 = l.n;
	assert_int_equal(n1, BIG / 2 + BIG / 4);
	for (int pass = 0; pass < 2; pass++) {
		for (unsigned i = 0; i < BIG; i++) {
			struct sy_backend_id id;
			size_t at;

			big_id(&id, 0, i);
			at = sy_etcd_list_find(&l, &id);
			if (i % 2 == 0) {
				assert_int_equal(at, l.n);
				continue;
			}
			assert_true(at < l.n);
			assert_int_equal(l.e[at].weight, i % 4 == 1 && i / 4 < BIG / 4 ? 7777 : i % 1000);
		}
		for (unsigned i = 0; i < BIG / 4; i++) {
			struct sy_backend_id id;
			size_t at;

			big_id(&id, 1, i);
			at = sy_etcd_list_find(&l, &id);
			assert_true(at < l.n);
			assert_int_equal(l.e[at].weight, 3);
		}
		check_list(&l);
		/* the same line again: nothing more changes */
		assert_int_equal(sy_etcd_list_apply(&l, w.ch, w.n), 0);
		assert_int_equal(l.n, n1);
	}
	sy_etcd_watch_free(&w);
	sy_etcd_list_free(&l);
	free(b.p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_range_ok),        cmocka_unit_test(test_range_empty),
		cmocka_unit_test(test_range_pages),
		cmocka_unit_test(test_range_twice),     cmocka_unit_test(test_range_malformed),
		cmocka_unit_test(test_watch_events),    cmocka_unit_test(test_watch_control),
		cmocka_unit_test(test_watch_malformed), cmocka_unit_test(test_apply),
		cmocka_unit_test(test_apply_model),     cmocka_unit_test(test_range_big),
		cmocka_unit_test(test_watch_big),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
