/* SPDX-License-Identifier: BSD-3-Clause
 *
 * libswitchyard-resolve through its public API (include/switchyard/resolve.h):
 * the pickers, the consistent-hash identity with the balancer's own publish
 * path (the region writer and the table reader sy-control's `syctl lookup`
 * uses), fail-static and passive health (with a test clock).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <cmocka.h>

#include <switchyard/flow_hash.h>
#include <switchyard/region_writer.h>
#include <switchyard/resolve.h>

static uint64_t test_now = 1000000;

static uint64_t test_clock(void *ctx)
{
	(void)ctx;
	return test_now;
}

static sy_resolver *make_resolver(double panic)
{
	struct sy_resolve_config c;
	sy_resolver *r;

	sy_resolve_config_default(&c);
	c.panic_threshold = panic;
	c.clock_ms = test_clock;
	assert_int_equal(sy_resolve_create(&c, &r), SY_RESOLVE_OK);
	return r;
}

/* 198.18.<c>.<d>:port, weight w */
static struct sy_resolve_instance inst4(uint8_t c, uint8_t d, uint16_t port, uint32_t w)
{
	struct sy_resolve_instance x = { .port = port, .weight = w };

	x.addr.family = 4;
	x.addr.bytes[0] = 198;
	x.addr.bytes[1] = 18;
	x.addr.bytes[2] = c;
	x.addr.bytes[3] = d;
	return x;
}

static bool same(const struct sy_resolve_instance *a, const struct sy_resolve_instance *b)
{
	return a->addr.family == b->addr.family && a->port == b->port &&
	       !memcmp(a->addr.bytes, b->addr.bytes, a->addr.family == 6 ? 16 : 4);
}

static int index_of(const struct sy_resolve_instance *set, int n,
		    const struct sy_resolve_instance *x)
{
	for (int i = 0; i < n; i++)
		if (same(&set[i], x))
			return i;
	return -1;
}

/* Weights 1..5 over 100,000 picks: every share within 1% of its weight's
 * share, and smooth: in every window of k consecutive picks (k up to the
 * period W = 15) an instance has at most one pick more than its exact share
 * k*w/W rounded up. Plain WRR fails this (the weight-5 instance 5 times in
 * a row: 5 picks where ceil(5*5/15) + 1 = 3). */
static int picks_seq[100000];

static void wrr_exact_and_smooth(void **state)
{
	sy_resolver *r = make_resolver(0.5);
	sy_resolve_service *s;
	struct sy_resolve_instance set[5];
	long count[5] = { 0 };
	int worst[5] = { 0 };

	(void)state;
	for (int i = 0; i < 5; i++)
		set[i] = inst4(1, (uint8_t)(10 + i), 8080, (uint32_t)(i + 1));
	assert_int_equal(sy_resolve_service_open(r, "web", NULL, &s), SY_RESOLVE_OK);
	assert_int_equal(sy_resolve_set_instances(s, 1, set, 5), SY_RESOLVE_OK);
	for (int k = 0; k < 100000; k++) {
		struct sy_resolve_pick p;
		int i;

		assert_int_equal(sy_resolve_pick_rr(s, &p), SY_RESOLVE_OK);
		assert_int_equal(p.revision, 1);
		assert_int_equal(p.state, SY_RESOLVE_FRESH);
		i = index_of(set, 5, &p.instance);
		assert_true(i >= 0);
		count[i]++;
		picks_seq[k] = i;
	}
	for (int len = 1; len <= 15; len++) {
		int c[5] = { 0 };

		for (int k = 0; k < 100000; k++) {
			c[picks_seq[k]]++;
			if (k >= len)
				c[picks_seq[k - len]]--;
			if (k + 1 < len)
				continue;
			for (int i = 0; i < 5; i++) {
				int over = c[i] - (len * (i + 1) + 14) / 15;

				if (over > worst[i])
					worst[i] = over;
			}
		}
	}
	for (int i = 0; i < 5; i++) {
		double want = 100000.0 * (i + 1) / 15.0;

		print_message("weight %d: %ld picks (exact %.1f), at most %d above its share "
			      "in any window\n", i + 1, count[i], want, worst[i]);
		assert_true(count[i] >= want * 0.99 && count[i] <= want * 1.01);
		assert_true(worst[i] <= 1);
	}
	sy_resolve_destroy(r);
}

/* Weights whose nginx sequence is too long to precompute (65535 + 65534
 * entries): picks step nginx's state under the snapshot's lock, still
 * exact: over 100,000 picks the two alternate, each within 1% of half. */
static void wrr_long_sequence(void **state)
{
	sy_resolver *r = make_resolver(0.5);
	sy_resolve_service *s;
	struct sy_resolve_instance set[2] = { inst4(1, 1, 80, 65535), inst4(1, 2, 80, 65534) };
	long count[2] = { 0 }, longest = 0, run = 0;
	int last = -1;

	(void)state;
	assert_int_equal(sy_resolve_service_open(r, "big", NULL, &s), SY_RESOLVE_OK);
	assert_int_equal(sy_resolve_set_instances(s, 1, set, 2), SY_RESOLVE_OK);
	for (int k = 0; k < 100000; k++) {
		struct sy_resolve_pick p;
		int i;

		assert_int_equal(sy_resolve_pick_rr(s, &p), SY_RESOLVE_OK);
		i = index_of(set, 2, &p.instance);
		count[i]++;
		run = i == last ? run + 1 : 1;
		longest = run > longest ? run : longest;
		last = i;
	}
	assert_true(count[0] >= 49500 && count[0] <= 50500);
	assert_true(count[1] >= 49500 && count[1] <= 50500);
	assert_true(longest <= 2);
	sy_resolve_destroy(r);
}

/* Least outstanding: equal weights fill evenly, completion frees, weights
 * count (o/w), tickets outlive a snapshot change. */
static void least_outstanding(void **state)
{
	sy_resolver *r = make_resolver(0.5);
	sy_resolve_service *s;
	struct sy_resolve_instance set[3] = { inst4(2, 1, 80, 1), inst4(2, 2, 80, 1),
					      inst4(2, 3, 80, 1) };
	struct sy_resolve_pick p[6];
	int seen[3] = { 0 };

	(void)state;
	assert_int_equal(sy_resolve_service_open(r, "api", NULL, &s), SY_RESOLVE_OK);
	assert_int_equal(sy_resolve_set_instances(s, 7, set, 3), SY_RESOLVE_OK);
	/* three picks with none done: one each */
	for (int k = 0; k < 3; k++) {
		assert_int_equal(sy_resolve_pick_least(s, &p[k]), SY_RESOLVE_OK);
		assert_non_null(p[k].ticket);
		seen[index_of(set, 3, &p[k].instance)]++;
	}
	assert_int_equal(seen[0], 1);
	assert_int_equal(seen[1], 1);
	assert_int_equal(seen[2], 1);
	/* the instance of p[1] finishes: it is the least loaded, twice over */
	sy_resolve_done(s, &p[1], 1);
	assert_null(p[1].ticket);
	assert_int_equal(sy_resolve_pick_least(s, &p[3]), SY_RESOLVE_OK);
	assert_true(same(&p[3].instance, &p[1].instance));
	/* all at 1 again; a new revision of the same set keeps the counts */
	assert_int_equal(sy_resolve_set_instances(s, 8, set, 3), SY_RESOLVE_OK);
	sy_resolve_done(s, &p[0], 1); /* ticket from revision 7 */
	assert_int_equal(sy_resolve_pick_least(s, &p[4]), SY_RESOLVE_OK);
	assert_int_equal(p[4].revision, 8);
	assert_true(same(&p[4].instance, &p[0].instance));
	/* the instance of p[2] leaves while its request runs: done is safe */
	assert_int_equal(sy_resolve_set_instances(s, 9, set, 2), SY_RESOLVE_OK);
	sy_resolve_done(s, &p[2], 1);
	sy_resolve_done(s, &p[3], 1);
	sy_resolve_done(s, &p[4], 1);

	/* weights 3:1, nothing done: picks split 3:1 */
	struct sy_resolve_instance w[2] = { inst4(3, 1, 80, 3), inst4(3, 2, 80, 1) };
	struct sy_resolve_pick q[8];
	int cnt[2] = { 0 };

	/* (another service: replacing the whole set at once would be held by
	 * fail-static) */
	assert_int_equal(sy_resolve_service_open(r, "api2", NULL, &s), SY_RESOLVE_OK);
	assert_int_equal(sy_resolve_set_instances(s, 1, w, 2), SY_RESOLVE_OK);
	for (int k = 0; k < 8; k++) {
		assert_int_equal(sy_resolve_pick_least(s, &q[k]), SY_RESOLVE_OK);
		cnt[index_of(w, 2, &q[k].instance)]++;
	}
	assert_int_equal(cnt[0], 6);
	assert_int_equal(cnt[1], 2);
	for (int k = 0; k < 8; k++)
		sy_resolve_done(s, &q[k], 1);
	sy_resolve_destroy(r);
}

static uint32_t rnd_state = 12345;
static uint32_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 17;
	rnd_state ^= rnd_state << 5;
	return rnd_state;
}

/* For one family: the same backends published by the balancer's writer
 * (lib/region_writer.c, as sy-control's publish.c stages them) and given
 * to the resolver (in another order); 1,000 random flows: the resolver's
 * pick is the backend the published table gives the flow, looked up as
 * `syctl lookup` does (control/daemon/api.c: sy_flow_hash with the service's seed,
 * table[hash % table_size]). */
static void identity_for(int family)
{
	static const struct sy_region_limits lim = { .max_lcores = 4, .max_services = 4,
						     .max_backends = 1024,
						     .heap_size = 32u << 20 };
	struct sy_backend_spec be[40];
	struct sy_resolve_instance inst[40];
	struct sy_service_spec spec = { .fwd_mode = SY_FWD_IPIP, .table_size = 65537,
					.hash_seed = 0x5eed1234u, .n_backends = 40,
					.backends = be };
	struct sy_resolve_service_opts opts = { .table_size = 65537, .hash_seed = 0x5eed1234u };
	struct sy_commit_stats cs;
	struct sy_writer *w;
	sy_resolver *r = make_resolver(0.5);
	sy_resolve_service *s;
	char path[128], err[256];
	int alen = family == 6 ? 16 : 4, nonzero = 0;

	snprintf(path, sizeof(path), "/dev/shm/sy-resolve-test-%d-%d", getpid(), family);
	unlink(path);
	assert_int_equal(sy_writer_create(path, "resolve-test", &lim, NULL, &w, err, sizeof(err)), 0);
	snprintf(spec.name, sizeof(spec.name), "web");
	spec.vip.family = family == 6 ? SY_AF_INET6 : SY_AF_INET;
	spec.vip.proto = 6;
	spec.vip.port = htons(443);
	for (int i = 0; i < 40; i++) {
		memset(&be[i], 0, sizeof(be[i]));
		memset(&inst[39 - i], 0, sizeof(inst[0]));
		be[i].id.family = family == 6 ? SY_AF_INET6 : SY_AF_INET;
		be[i].id.port = (uint16_t)(8000 + rnd() % 3);
		be[i].weight = i % 10 == 9 ? 0 : 1 + rnd() % 4; /* some draining */
		inst[39 - i].addr.family = (uint8_t)family;
		inst[39 - i].addr.bytes[0] = family == 6 ? 0x20 : 198;
		inst[39 - i].addr.bytes[1] = family == 6 ? 0x01 : 18;
		if (family == 6)
			inst[39 - i].addr.bytes[3] = 2; /* 2001:2::/48 */
		inst[39 - i].addr.bytes[alen - 2] = (uint8_t)(i / 7);
		inst[39 - i].addr.bytes[alen - 1] = (uint8_t)(1 + i);
		memcpy(be[i].id.addr, inst[39 - i].addr.bytes, (size_t)alen);
		inst[39 - i].port = be[i].id.port;
		inst[39 - i].weight = be[i].weight;
	}
	assert_int_equal(sy_writer_set_service(w, &spec, err, sizeof(err)), 0);
	assert_int_equal(sy_writer_commit(w, &cs, err, sizeof(err)), 0);
	assert_int_equal(sy_resolve_service_open(r, "web", &opts, &s), SY_RESOLVE_OK);
	assert_int_equal(sy_resolve_set_instances(s, 1, inst, 40), SY_RESOLVE_OK);

	const uint8_t *base = sy_writer_map(w)->base;
	const struct sy_service *svc = sy_snapshot_find_name(base, sy_writer_snapshot(w), "web");

	assert_non_null(svc);
	for (int k = 0; k < 1000; k++) {
		struct sy_resolve_flow f = { .proto = k % 2 ? 6 : 17 };
		struct sy_flow_key key = { 0 };
		struct sy_resolve_pick p;
		uint32_t idx;

		f.src.family = f.dst.family = (uint8_t)family;
		for (int b = 0; b < alen; b++)
			f.src.bytes[b] = (uint8_t)rnd();
		memcpy(f.dst.bytes, inst[0].addr.bytes, (size_t)alen); /* a VIP */
		f.dst.bytes[alen - 1] = 200;
		f.sport = (uint16_t)(1024 + rnd() % 60000);
		f.dport = 443;
		/* the balancer's side, as control/daemon/api.c's lookup_locked */
		key.family = family == 6 ? SY_AF_INET6 : SY_AF_INET;
		memcpy(key.src, f.src.bytes, (size_t)alen);
		memcpy(key.dst, f.dst.bytes, (size_t)alen);
		key.sport = htons(f.sport);
		key.dport = htons(f.dport);
		key.proto = f.proto;
		idx = sy_service_pick(base, svc, sy_flow_hash(&key, svc->hash_seed));
		assert_int_not_equal(idx, SY_MAGLEV_NONE);
		const struct sy_backend *b = &sy_service_backends(base, svc)[idx];

		assert_int_equal(sy_resolve_pick_flow(s, &f, &p), SY_RESOLVE_OK);
		assert_int_equal(p.flags, 0);
		assert_memory_equal(p.instance.addr.bytes, b->id.addr, (size_t)alen);
		assert_int_equal(p.instance.port, b->id.port);
		assert_int_not_equal(p.instance.weight, 0);
		nonzero++;
	}
	assert_int_equal(nonzero, 1000);
	sy_writer_close(w);
	unlink(path);
	sy_resolve_destroy(r);
}

static void hash_identity_v4(void **state)
{
	(void)state;
	identity_for(4);
}

static void hash_identity_v6(void **state)
{
	(void)state;
	identity_for(6);
}

/* A byte-string key: the same instance every time, on any resolver, and
 * keys spread over the instances. */
static void key_is_stable(void **state)
{
	sy_resolver *r1 = make_resolver(0.5), *r2 = make_resolver(0.5);
	sy_resolve_service *s1, *s2;
	struct sy_resolve_instance set[4] = { inst4(4, 1, 80, 1), inst4(4, 2, 80, 1),
					      inst4(4, 3, 80, 1), inst4(4, 4, 80, 1) };
	struct sy_resolve_instance rev[4] = { set[3], set[2], set[1], set[0] };
	int hits[4] = { 0 };

	(void)state;
	assert_int_equal(sy_resolve_service_open(r1, "kv", NULL, &s1), SY_RESOLVE_OK);
	assert_int_equal(sy_resolve_service_open(r2, "kv", NULL, &s2), SY_RESOLVE_OK);
	assert_int_equal(sy_resolve_set_instances(s1, 1, set, 4), SY_RESOLVE_OK);
	assert_int_equal(sy_resolve_set_instances(s2, 1, rev, 4), SY_RESOLVE_OK);
	for (int k = 0; k < 400; k++) {
		char key[32];
		struct sy_resolve_pick a, b;

		snprintf(key, sizeof(key), "user-%d", k);
		assert_int_equal(sy_resolve_pick_key(s1, key, strlen(key), &a), SY_RESOLVE_OK);
		assert_int_equal(sy_resolve_pick_key(s2, key, strlen(key), &b), SY_RESOLVE_OK);
		assert_true(same(&a.instance, &b.instance));
		hits[index_of(set, 4, &a.instance)]++;
	}
	for (int i = 0; i < 4; i++)
		assert_true(hits[i] > 50);
	sy_resolve_destroy(r1);
	sy_resolve_destroy(r2);
}

static size_t count_now(sy_resolve_service *s, enum sy_resolve_state *st)
{
	size_t n;

	assert_int_equal(sy_resolve_instances(s, NULL, 0, &n, NULL, st), SY_RESOLVE_OK);
	return n;
}

/* The balancer's panic threshold: 8 of 10 vanish at once -> the 10 are
 * kept and the state says so, until the window confirms the losses; a lone
 * loss applies at once; an unreachable source is STALE. */
static void fail_static(void **state)
{
	sy_resolver *r = make_resolver(0.5);
	sy_resolve_service *s;
	struct sy_resolve_instance set[10];
	enum sy_resolve_state st;

	(void)state;
	for (int i = 0; i < 10; i++)
		set[i] = inst4(5, (uint8_t)(1 + i), 80, 1);
	assert_int_equal(sy_resolve_service_open(r, "db", NULL, &s), SY_RESOLVE_OK);
	assert_int_equal(count_now(s, &st), 0);
	assert_int_equal(st, SY_RESOLVE_NEW);
	assert_int_equal(sy_resolve_set_instances(s, 1, set, 10), SY_RESOLVE_OK);
	assert_int_equal(count_now(s, &st), 10);
	assert_int_equal(st, SY_RESOLVE_FRESH);

	/* one leaves: applied at once */
	assert_int_equal(sy_resolve_set_instances(s, 2, set, 9), SY_RESOLVE_OK);
	assert_int_equal(count_now(s, &st), 9);
	assert_int_equal(st, SY_RESOLVE_FRESH);

	/* (a loss is confirmed once it has lasted the panic window: until
	 * then it would be kept with the next ones, as by the balancer) */
	test_now += 10000;
	/* 7 of the remaining 9 vanish at once: the 9 are kept */
	assert_int_equal(sy_resolve_set_instances(s, 3, set, 2), SY_RESOLVE_OK);
	assert_int_equal(count_now(s, &st), 9);
	assert_int_equal(st, SY_RESOLVE_FAIL_STATIC);
	{
		struct sy_resolve_pick p;
		int seen8 = 0;

		for (int k = 0; k < 90; k++) {
			assert_int_equal(sy_resolve_pick_rr(s, &p), SY_RESOLVE_OK);
			assert_int_equal(p.state, SY_RESOLVE_FAIL_STATIC);
			assert_int_equal(p.revision, 3);
			seen8 += same(&p.instance, &set[8]);
		}
		assert_int_equal(seen8, 10); /* a kept one still gets its share */
	}
	/* before the window: still kept; after it: the losses are confirmed */
	test_now += 9000;
	assert_int_equal(sy_resolve_tick(r), SY_RESOLVE_OK);
	assert_int_equal(count_now(s, &st), 9);
	test_now += 1000;
	assert_int_equal(sy_resolve_tick(r), SY_RESOLVE_OK);
	assert_int_equal(count_now(s, &st), 2);
	assert_int_equal(st, SY_RESOLVE_FRESH);

	/* an older revision changes nothing */
	assert_int_equal(sy_resolve_set_instances(s, 2, set, 10), SY_RESOLVE_EOLD);
	assert_non_null(strstr(sy_resolve_errmsg(r), "older"));
	assert_int_equal(count_now(s, &st), 2);

	/* the source is unreachable: stale, the set stays */
	assert_int_equal(sy_resolve_set_reachable(s, 0), SY_RESOLVE_OK);
	assert_int_equal(count_now(s, &st), 2);
	assert_int_equal(st, SY_RESOLVE_STALE);
	assert_int_equal(sy_resolve_set_reachable(s, 1), SY_RESOLVE_OK);
	assert_int_equal(count_now(s, &st), 2);
	assert_int_equal(st, SY_RESOLVE_FRESH);
	sy_resolve_destroy(r);
}

/* Passive health: a failed instance is avoided for the back-off (1 s, then
 * 2 s after a second failure), picked again after it; with all failed a
 * pick still answers and says so. The hash pick detours the same way. */
static void passive_failure(void **state)
{
	sy_resolver *r = make_resolver(0.5);
	sy_resolve_service *s;
	struct sy_resolve_instance set[3] = { inst4(6, 1, 80, 1), inst4(6, 2, 80, 1),
					      inst4(6, 3, 80, 1) };
	struct sy_resolve_pick p;
	struct sy_resolve_instance ghost = inst4(6, 9, 80, 1);
	int seen;

	(void)state;
	assert_int_equal(sy_resolve_service_open(r, "svc", NULL, &s), SY_RESOLVE_OK);
	assert_int_equal(sy_resolve_set_instances(s, 1, set, 3), SY_RESOLVE_OK);
	assert_int_equal(sy_resolve_mark_failed(s, &ghost), SY_RESOLVE_ENOENT);

	assert_int_equal(sy_resolve_mark_failed(s, &set[0]), SY_RESOLVE_OK);
	seen = 0;
	for (int k = 0; k < 300; k++) {
		assert_int_equal(sy_resolve_pick_rr(s, &p), SY_RESOLVE_OK);
		seen += same(&p.instance, &set[0]);
		assert_int_equal(p.flags & SY_RESOLVE_PICK_ALL_FAILED, 0);
	}
	assert_int_equal(seen, 0);
	for (int k = 0; k < 300; k++) {
		char key[16];

		snprintf(key, sizeof(key), "k%d", k);
		assert_int_equal(sy_resolve_pick_key(s, key, strlen(key), &p), SY_RESOLVE_OK);
		assert_false(same(&p.instance, &set[0]));
	}
	/* after 1 s it is back */
	test_now += 1000;
	seen = 0;
	for (int k = 0; k < 300; k++) {
		assert_int_equal(sy_resolve_pick_rr(s, &p), SY_RESOLVE_OK);
		seen += same(&p.instance, &set[0]);
	}
	assert_int_equal(seen, 100);
	/* a second failure in a row: 2 s */
	assert_int_equal(sy_resolve_mark_failed(s, &set[0]), SY_RESOLVE_OK);
	test_now += 1500;
	for (int k = 0; k < 30; k++) {
		assert_int_equal(sy_resolve_pick_rr(s, &p), SY_RESOLVE_OK);
		assert_false(same(&p.instance, &set[0]));
	}
	test_now += 500;
	seen = 0;
	for (int k = 0; k < 30; k++) {
		assert_int_equal(sy_resolve_pick_rr(s, &p), SY_RESOLVE_OK);
		seen += same(&p.instance, &set[0]);
	}
	assert_int_equal(seen, 10);
	/* it works again: failures forgotten, the next one is 1 s again */
	assert_int_equal(sy_resolve_mark_ok(s, &set[0]), SY_RESOLVE_OK);
	/* all failed: picks go on and say so */
	for (int i = 0; i < 3; i++)
		assert_int_equal(sy_resolve_mark_failed(s, &set[i]), SY_RESOLVE_OK);
	assert_int_equal(sy_resolve_pick_rr(s, &p), SY_RESOLVE_OK);
	assert_int_equal(p.flags, SY_RESOLVE_PICK_ALL_FAILED);
	assert_int_equal(sy_resolve_pick_key(s, "x", 1, &p), SY_RESOLVE_OK);
	assert_int_equal(p.flags, SY_RESOLVE_PICK_ALL_FAILED);
	assert_int_equal(sy_resolve_pick_least(s, &p), SY_RESOLVE_OK);
	assert_int_equal(p.flags, SY_RESOLVE_PICK_ALL_FAILED);
	sy_resolve_done(s, &p, 1); /* it answered after all: healthy again */
	assert_int_equal(sy_resolve_pick_rr(s, &p), SY_RESOLVE_OK);
	assert_int_equal(p.flags & SY_RESOLVE_PICK_ALL_FAILED, 0);
	test_now += 1000; /* every back-off (1 s) is over */
	assert_int_equal(sy_resolve_pick_rr(s, &p), SY_RESOLVE_OK);
	assert_int_equal(p.flags, 0);
	sy_resolve_destroy(r);
}

/* Bad input: clear codes and messages, nothing changed. */
static void bad_input(void **state)
{
	sy_resolver *r = make_resolver(0.5);
	sy_resolve_service *s, *s2;
	struct sy_resolve_service_opts bad = { .table_size = 1000 };
	struct sy_resolve_service_opts other = { .hash_seed = 9 };
	struct sy_resolve_instance dup[2] = { inst4(7, 1, 80, 1), inst4(7, 1, 80, 2) };
	struct sy_resolve_instance heavy = inst4(7, 2, 80, 70000);
	struct sy_resolve_flow f = { .proto = 1 };
	struct sy_resolve_pick p;

	(void)state;
	assert_int_equal(sy_resolve_service_open(r, "x", &bad, &s), SY_RESOLVE_EINVAL);
	assert_non_null(strstr(sy_resolve_errmsg(r), "not prime"));
	assert_int_equal(sy_resolve_service_open(r, "x", NULL, &s), SY_RESOLVE_OK);
	assert_int_equal(sy_resolve_service_open(r, "x", NULL, &s2), SY_RESOLVE_OK);
	assert_ptr_equal(s, s2);
	assert_int_equal(sy_resolve_service_open(r, "x", &other, &s2), SY_RESOLVE_EINVAL);
	assert_int_equal(sy_resolve_pick_rr(s, &p), SY_RESOLVE_EEMPTY);
	assert_non_null(strstr(sy_resolve_errmsg(r), "no update yet"));
	assert_int_equal(sy_resolve_set_instances(s, 1, dup, 2), SY_RESOLVE_EINVAL);
	assert_non_null(strstr(sy_resolve_errmsg(r), "twice"));
	assert_int_equal(sy_resolve_set_instances(s, 1, &heavy, 1), SY_RESOLVE_EINVAL);
	assert_non_null(strstr(sy_resolve_errmsg(r), "weight"));
	assert_int_equal(sy_resolve_set_instances(s, 1, dup, 1), SY_RESOLVE_OK);
	f.src.family = f.dst.family = 4;
	assert_int_equal(sy_resolve_pick_flow(s, &f, &p), SY_RESOLVE_EINVAL);
	dup[0].weight = 0; /* draining only */
	assert_int_equal(sy_resolve_set_instances(s, 2, dup, 1), SY_RESOLVE_OK);
	assert_int_equal(sy_resolve_pick_rr(s, &p), SY_RESOLVE_EEMPTY);
	assert_non_null(strstr(sy_resolve_errmsg(r), "draining"));
	assert_string_equal(sy_resolve_strerror(SY_RESOLVE_EEMPTY), "no instance to pick");
	sy_resolve_destroy(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(wrr_exact_and_smooth),
		cmocka_unit_test(wrr_long_sequence),
		cmocka_unit_test(least_outstanding),
		cmocka_unit_test(hash_identity_v4),
		cmocka_unit_test(hash_identity_v6),
		cmocka_unit_test(key_is_stable),
		cmocka_unit_test(fail_static),
		cmocka_unit_test(passive_failure),
		cmocka_unit_test(bad_input),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
