/* SPDX-License-Identifier: BSD-3-Clause
 *
 * ICMP errors on the DPDK path's packet path (sy_lb_process), beyond what
 * the packet corpus can say with one frame per case:
 *
 *   - the rate limit of the errors an lcore originates (frag-needed,
 *     packet-too-big): a token bucket per lcore, shared by both families,
 *     `icmp_burst` at once and `icmp_rate` per second after that, with the
 *     time injected through sy_lb.now. Before the limit existed, 300
 *     oversized packets got 300 answers:
 *         [ RUN      ] rate_limit_default
 *         [  ERROR   ] --- 0x12c != 0x32   (300 answers, not 50)
 *
 *   - ICMP errors about a flow another worker tracks (RSS steers an error
 *     by its own headers): two sy_lb instances that see each other's
 *     tables, as sy-dataplane's workers do. Flows of worker 0 that kept
 *     their backend when the set grew must get their errors on worker 1
 *     too. Before worker 1 looked at worker 0's table:
 *         flow 0: ICMP error on worker 1 went to backend 5, the flow is on 2 (Maglev: 5)
 *         [  FAILED  ] icmp_on_other_worker
 *   - reading another worker's table while it writes: one thread rewrites
 *     a two-line table, another reads it with sy_ct_peek_other(); a uid
 *     read must be its flow's. Reading key, uid and key again without the
 *     owner's "dead first, live last" order gave wrong uids in 5 runs of 5:
 *         flow 12 read with uid 0x5eed0005, its uid is 0x5eed000c
 *         6616724 reads found their flow, 15736 with another flow's uid
 *     and the same for telemetry's lookup (`syctl lookup`), which reads
 *     every worker's table from its own thread (sy_lb_lookup). With the
 *     plain read it did before (sy_lb_predict on a copy of the worker's
 *     sy_lb), 9 runs of 10 named another flow's backend:
 *         flow 12 looked up on backend 3, it is on 2
 *         6427794 lookups found their flow tracked, 109 on another flow's backend
 *
 * (Which clients get no error at all, multicast, broadcast, unspecified,
 * loopback sources and link-layer broadcasts, is in the packet corpus:
 * gen_corpus.py, gen_icmp_sources.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <pthread.h>
#include <stdatomic.h>

#include <cmocka.h>

#include <switchyard/counters.h>
#include <switchyard/pkt_hdr.h>
#include <switchyard/region_writer.h>

#include "flows.h"
#include "lb.h"

#define HEADROOM 256
#define TAILROOM 256
#define MTU 1500
#define BIG (MTU - 20 + 1) /* one byte too many once in IPv4-in-IPv4 */
#define FRAME_MAX (14 + MTU + 64)
#define CT_CAPACITY 4096
#define N_WORKERS 2
#define T0 1000u

static struct {
	char path[128];
	struct sy_writer *w;
	struct sy_region_map *map;
	void *ct_mem[N_WORKERS];
	struct sy_lb lb[N_WORKERS];
	const struct sy_conntrack *ct_of_worker[N_WORKERS];
} env;

/* Publish the fixture services (tests/common/flows.h) with n backends
 * each, and give every worker the new snapshot. */
static void publish(uint32_t n)
{
	char err[256] = "";

	if (sy_test_publish_web(env.w, n, n, err, sizeof(err))) {
		print_message("publish: %s\n", err);
		fail();
	}
	for (int i = 0; i < N_WORKERS; i++)
		env.lb[i].snap = sy_writer_snapshot(env.w);
}

static uint64_t counter(int worker, enum sy_counter c)
{
	return env.lb[worker].stats->counters[c];
}

/* Run a frame through a worker's packet path: the verdict, the output in
 * *out (pointing into buf). */
static enum sy_verdict run(int worker, uint8_t *buf, uint32_t len, struct sy_pkt *out)
{
	*out = (struct sy_pkt){ .data = buf + HEADROOM, .len = len, .headroom = HEADROOM,
				.tailroom = TAILROOM };
	return sy_lb_process(&env.lb[worker], out);
}

/* n oversized packets (IPv4, or IPv6 when v6; one byte too many once
 * encapsulated) through a worker: how many were answered with frag-needed /
 * packet-too-big. */
static uint32_t oversized(int worker, uint32_t n, bool v6)
{
	static uint8_t buf[HEADROOM + FRAME_MAX + TAILROOM];
	uint32_t answered = 0;

	for (uint32_t i = 0; i < n; i++) {
		struct sy_test_flow f = sy_test_web_flow(i, v6);
		uint32_t len = sy_test_frame(buf + HEADROOM, &f, SY_TCP_ACK, v6 ? MTU - 40 + 1 : BIG);
		struct sy_pkt out;

		if (run(worker, buf, len, &out) != SY_V_TX)
			continue;
		/* an ICMP(v6) error back to the client, nothing else */
		if (v6)
			assert_true(out.data[14 + 6] == SY_IPPROTO_ICMPV6 &&
				    out.data[14 + 40] == SY_ICMP6_PKT_TOO_BIG);
		else
			assert_true(out.data[14 + 9] == SY_IPPROTO_ICMP &&
				    out.data[14 + 20] == SY_ICMP_DEST_UNREACH &&
				    out.data[14 + 21] == SY_ICMP_FRAG_NEEDED);
		answered++;
	}
	return answered;
}

/* ---- flows across workers ---------------------------------------------- */

/* The backend (n of its MAC 02:00:00:00:1x:<n>) a frame went to, 0 if none. */
static uint32_t backend_of(enum sy_verdict v, const struct sy_pkt *out)
{
	return v == SY_V_TX ? out->data[5] : 0;
}

/* A SYN of flow i through a worker: its backend. */
static uint32_t syn(int worker, uint32_t i, bool v6)
{
	static uint8_t buf[HEADROOM + FRAME_MAX + TAILROOM];
	struct sy_test_flow f = sy_test_web_flow(i, v6);
	uint32_t len = sy_test_frame(buf + HEADROOM, &f, SY_TCP_SYN, v6 ? 60 : 40);
	struct sy_pkt out;

	return backend_of(run(worker, buf, len, &out), &out);
}

/* A router's frag-needed / packet-too-big about flow i, through a worker:
 * the backend it was sent to. */
static uint32_t icmp_about(int worker, uint32_t i, bool v6)
{
	static uint8_t buf[HEADROOM + FRAME_MAX + TAILROOM];
	struct sy_test_flow f = sy_test_web_flow(i, v6);
	uint32_t len = sy_test_icmp_too_big(buf + HEADROOM, &f, 1400);
	struct sy_pkt out;

	return backend_of(run(worker, buf, len, &out), &out);
}

static uint32_t maglev_of(uint32_t i, bool v6)
{
	return sy_test_web_maglev(env.map->base, env.lb[0].snap, i, v6);
}

static void reset_worker(int worker, uint32_t rate, uint32_t burst)
{
	struct sy_lb *lb = &env.lb[worker];

	memset(env.ct_mem[worker], 0, sy_ct_memsize(CT_CAPACITY));
	sy_ct_init(&lb->ct, env.ct_mem[worker], CT_CAPACITY, NULL, 1);
	memset(&lb->icmp_bucket, 0, sizeof(lb->icmp_bucket));
	lb->icmp_rate = rate;
	lb->icmp_burst = burst;
	lb->now = T0;
}

/* ---- rate limit ----------------------------------------------------------- */

/* Defaults (rate/burst 0): a burst of SY_ICMP_BURST_DEFAULT answers, the
 * rest counted as rate-limited and as drop_mtu. */
static void rate_limit_default(void **state)
{
	uint64_t sent0 = counter(0, SY_C_ICMP_TOO_BIG_SENT), lim0 = counter(0, SY_C_ICMP_RATE_LIMITED),
		 mtu0 = counter(0, SY_C_DROP_MTU);

	(void)state;
	reset_worker(0, 0, 0);
	assert_int_equal(oversized(0, 300, false), SY_ICMP_BURST_DEFAULT);
	assert_int_equal(counter(0, SY_C_ICMP_TOO_BIG_SENT) - sent0, SY_ICMP_BURST_DEFAULT);
	assert_int_equal(counter(0, SY_C_ICMP_RATE_LIMITED) - lim0, 300 - SY_ICMP_BURST_DEFAULT);
	assert_int_equal(counter(0, SY_C_DROP_MTU) - mtu0, 300 - SY_ICMP_BURST_DEFAULT);
}

/* rate 100/s, burst 10: 10 at once; 50 ms later 5 more; after a long quiet
 * spell never more than the burst. One bucket for both families. */
static void rate_limit_refill(void **state)
{
	uint64_t lim0 = counter(0, SY_C_ICMP_RATE_LIMITED);

	(void)state;
	reset_worker(0, 100, 10);
	assert_int_equal(oversized(0, 300, false), 10);
	assert_int_equal(oversized(0, 300, true), 0); /* the same bucket */
	env.lb[0].now += 50;
	assert_int_equal(oversized(0, 300, true), 5);
	env.lb[0].now += 9;
	assert_int_equal(oversized(0, 300, false), 0); /* 0.9 of a token */
	env.lb[0].now += 1;
	assert_int_equal(oversized(0, 300, false), 1);
	env.lb[0].now += 100000;
	assert_int_equal(oversized(0, 300, false), 10);
	assert_int_equal(counter(0, SY_C_ICMP_RATE_LIMITED) - lim0, 6 * 300 - 26);
	/* the tick wraps at 2^32 ms: elapsed time is still right */
	reset_worker(0, 100, 10);
	env.lb[0].now = UINT32_MAX - 20;
	assert_int_equal(oversized(0, 300, false), 10);
	env.lb[0].now += 50; /* wraps */
	assert_int_equal(oversized(0, 300, false), 5);
}

/* Each lcore has its own bucket: one worker's flood leaves another's
 * answers alone. */
static void rate_limit_per_worker(void **state)
{
	(void)state;
	reset_worker(0, 100, 10);
	reset_worker(1, 100, 10);
	assert_int_equal(oversized(0, 300, false), 10);
	assert_int_equal(oversized(1, 300, true), 10);
	assert_int_equal(oversized(0, 300, true), 0);
}

/* ---- ICMP errors about another worker's flows -------------------------- */

#define N_FLOWS 200

/* Flows established on worker 0 with 2 backends keep them when the set
 * grows to 5, although Maglev now sends many elsewhere. A router's ICMP
 * error about such a flow that RSS hands to worker 1 must still reach the
 * flow's backend (worker 1 reads worker 0's table), and so must one on
 * worker 0 (its own table). */
static void icmp_on_other_worker(void **state)
{
	static uint32_t be[2][N_FLOWS];
	uint64_t other0 = counter(1, SY_C_ICMP_CT_OTHER), to_be0 = counter(1, SY_C_ICMP_TO_BACKEND);
	uint32_t moved = 0;

	(void)state;
	reset_worker(0, 0, 0);
	reset_worker(1, 0, 0);
	publish(2);
	for (int v6 = 0; v6 < 2; v6++)
		for (uint32_t i = 0; i < N_FLOWS; i++) {
			be[v6][i] = syn(0, i, v6);
			assert_int_not_equal(be[v6][i], 0);
		}
	publish(5);
	for (int v6 = 0; v6 < 2; v6++)
		for (uint32_t i = 0; i < N_FLOWS; i++) {
			uint32_t got = icmp_about(1, i, v6);

			moved += maglev_of(i, v6) != be[v6][i];
			if (got != be[v6][i])
				print_message("flow %u%s: ICMP error on worker 1 went to backend %u, the flow is on %u (Maglev: %u)\n",
					      i, v6 ? " (IPv6)" : "", got, be[v6][i], maglev_of(i, v6));
			assert_int_equal(got, be[v6][i]);
			assert_int_equal(icmp_about(0, i, v6), be[v6][i]);
		}
	/* 2 -> 5 backends moves about 3 flows in 5 away from their Maglev slot */
	assert_true(moved > N_FLOWS);
	assert_int_equal(counter(1, SY_C_ICMP_CT_OTHER) - other0, 2 * N_FLOWS);
	assert_int_equal(counter(1, SY_C_ICMP_TO_BACKEND) - to_be0, 2 * N_FLOWS);
	assert_int_equal(counter(0, SY_C_ICMP_CT_OTHER), 0);
}

/* What the other table says is checked: a flow whose backend left, or whose
 * entry expired, is the current Maglev choice's, as on the flow's own
 * worker. */
static void icmp_other_worker_checked(void **state)
{
	static uint32_t be[N_FLOWS];
	uint64_t other0 = counter(1, SY_C_ICMP_CT_OTHER);
	uint32_t kept = 0;

	(void)state;
	reset_worker(0, 0, 0);
	reset_worker(1, 0, 0);
	publish(5);
	for (uint32_t i = 0; i < N_FLOWS; i++)
		be[i] = syn(0, i, false);
	publish(2); /* backends 3..5 leave */
	for (uint32_t i = 0; i < N_FLOWS; i++) {
		uint32_t want = be[i] <= 2 ? be[i] : maglev_of(i, false);

		kept += be[i] <= 2;
		assert_int_equal(icmp_about(1, i, false), want);
	}
	assert_true(kept > 0 && kept < N_FLOWS);
	assert_int_equal(counter(1, SY_C_ICMP_CT_OTHER) - other0, kept);
	/* idle beyond the TCP timeout: worker 0's entries are dead */
	env.lb[1].now = T0 + SY_CT_DEFAULT_TIMEOUTS.tcp_ms + 1;
	for (uint32_t i = 0; i < N_FLOWS; i++)
		assert_int_equal(icmp_about(1, i, false), maglev_of(i, false));
	assert_int_equal(counter(1, SY_C_ICMP_CT_OTHER) - other0, kept);
}

/* ---- reading a table its owner is writing ------------------------------ */

#define STRESS_KEYS 24           /* six times the slots of the two lines */
#define STRESS_READS 20000000u   /* bounds of the run: reads ... */
#define STRESS_SECONDS 3         /* ... and time */

struct stress {
	struct sy_conntrack ct;
	void *mem;
	struct sy_flow_key key[STRESS_KEYS];
	uint32_t hash[STRESS_KEYS];
	/* what the owner writes into flow k's entry */
	uint32_t uid[STRESS_KEYS];
	uint32_t backend[STRESS_KEYS];
	uint32_t svc_version;
	atomic_bool stop;
	pthread_t owner;
};

/* The owner: select_tracked()'s writes, flow after flow, in a two-line
 * table (every flow's two lines) that is always full, so that every miss evicts and rewrites an
 * entry another flow was using. Its clock moves a tick per packet (a
 * worker's moves a tick per millisecond): a reader's check that an entry
 * did not die and come back meanwhile compares expiry times (an ABA
 * within one tick is the documented limit of sy_ct_peek_other). */
static void *stress_owner(void *arg)
{
	struct stress *s = arg;

	for (uint64_t n = 0; !atomic_load_explicit(&s->stop, memory_order_relaxed); n++) {
		uint32_t k = (uint32_t)(n * 7 % STRESS_KEYS), now = T0 + (uint32_t)(n % 100000);
		struct sy_ct_entry *e = sy_ct_lookup(&s->ct, &s->key[k], s->hash[k], now);
		enum sy_ct_insert_result how;

		if (!e) {
			e = sy_ct_insert(&s->ct, &s->key[k], s->hash[k], now, &how);
			e->uid = s->uid[k];
			e->svc_version = s->svc_version;
			e->backend = s->backend[k];
		}
		sy_ct_touch(&s->ct, e, SY_IPPROTO_TCP, SY_TCP_ACK, now, false);
	}
	return NULL;
}

/* A two-line table (four IPv4 slots, IPv6 flows take a line) for flows 0..STRESS_KEYS-1 of web4 (v6: web6
 * too, every other flow), the table's hash keyed by seed; the caller fills uid, backend
 * and svc_version, then starts the owner with stress_start(). */
static struct stress *stress_new(bool v6, uint32_t seed)
{
	struct stress *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	s->mem = calloc(1, sy_ct_memsize(2 * SY_CT_LINE_SLOTS));
	assert_non_null(s->mem);
	sy_ct_init(&s->ct, s->mem, 2 * SY_CT_LINE_SLOTS, NULL, seed);
	for (uint32_t k = 0; k < STRESS_KEYS; k++) {
		struct sy_test_flow f = sy_test_web_flow(k, v6 && (k & 1));

		s->key[k] = sy_test_flow_key(&f);
		s->hash[k] = sy_ct_hash(&s->ct, &s->key[k]);
	}
	return s;
}

static void stress_start(struct stress *s)
{
	assert_int_equal(pthread_create(&s->owner, NULL, stress_owner, s), 0);
}

/* Whether the reading side should go on: bounded in reads and time. */
static bool stress_more(uint32_t r, uint64_t t_end)
{
	return r < STRESS_READS && (r & 0xffff || (uint64_t)time(NULL) < t_end);
}

static void stress_free(struct stress *s)
{
	atomic_store(&s->stop, true);
	pthread_join(s->owner, NULL);
	free(s->mem);
	free(s);
}

/* Another worker reads the table while its owner rewrites it: a uid it
 * returns is always the uid of the flow it asked for, never that of the
 * flow the entry held a moment before or after. */
static void peek_other_never_torn(void **state)
{
	struct stress *s = stress_new(true, 7);
	uint64_t found = 0, wrong = 0, t_end = (uint64_t)time(NULL) + STRESS_SECONDS;

	(void)state;
	for (uint32_t k = 0; k < STRESS_KEYS; k++) {
		s->uid[k] = 0x5eed0000u + k;
		s->backend[k] = k;
	}
	s->svc_version = 1;
	stress_start(s);
	for (uint32_t r = 0; stress_more(r, t_end); r++) {
		uint32_t k = r % STRESS_KEYS;
		uint32_t uid;

		if (!sy_ct_peek_other(&s->ct, &s->key[k], s->hash[k], T0, &uid))
			continue;
		found++;
		if (uid != s->uid[k] && wrong++ < 5)
			print_message("flow %u read with uid %#llx, its uid is %#llx\n", k,
				      (unsigned long long)uid, (unsigned long long)s->uid[k]);
	}
	stress_free(s);
	print_message("%llu reads found their flow, %llu with another flow's uid\n",
		      (unsigned long long)found, (unsigned long long)wrong);
	assert_int_equal(wrong, 0);
	assert_true(found > 0);
}

/* Telemetry's lookup (`syctl lookup`) reads the workers' tables from its
 * own thread while they run: sy_lb_lookup() must name a tracked flow's own
 * backend, never that of the flow its entry held a moment before or after.
 * Flow k is on backend k % 5 of web4 (5 backends), whatever Maglev says. */
static void lookup_never_torn(void **state)
{
	const struct sy_service *svc;
	const struct sy_conntrack *tables[1];
	struct sy_vip_key vk = { 0 };
	struct stress *s;
	uint64_t found = 0, wrong = 0, t_end = (uint64_t)time(NULL) + STRESS_SECONDS;
	uint32_t n;

	(void)state;
	publish(5);
	s = stress_new(false, 0);
	vk.family = s->key[0].family;
	vk.proto = s->key[0].proto;
	vk.port = s->key[0].dport;
	memcpy(vk.addr, s->key[0].dst, sizeof(vk.addr));
	svc = sy_snapshot_match(env.map->base, env.lb[0].snap, &vk);
	assert_non_null(svc);
	n = svc->n_backends;
	assert_int_equal(n, 5);
	for (uint32_t k = 0; k < STRESS_KEYS; k++) {
		s->backend[k] = k % n;
		s->uid[k] = sy_service_backends(env.map->base, svc)[k % n].uid;
	}
	s->svc_version = svc->version;
	tables[0] = &s->ct;
	stress_start(s);
	for (uint32_t r = 0; stress_more(r, t_end); r++) {
		uint32_t k = r % STRESS_KEYS, idx;
		int table;

		idx = sy_lb_lookup(env.map->base, svc, tables, 1, &s->key[k], T0, &table);
		if (table < 0)
			continue;
		found++;
		if (idx != s->backend[k] && wrong++ < 5)
			print_message("flow %u looked up on backend %u, it is on %u\n", k, idx,
				      s->backend[k]);
	}
	stress_free(s);
	print_message("%llu lookups found their flow tracked, %llu on another flow's backend\n",
		      (unsigned long long)found, (unsigned long long)wrong);
	assert_int_equal(wrong, 0);
	assert_true(found > 0);
}

/* ---- setup ---------------------------------------------------------------- */

static int group_setup(void **state)
{
	static const struct sy_region_limits lim = { .max_lcores = N_WORKERS + 1, .max_services = 8,
						     .max_backends = 64, .heap_size = 4u << 20 };
	char err[256] = "";

	(void)state;
	snprintf(env.path, sizeof(env.path), "/dev/shm/sy-test-icmp-errors-%d", (int)getpid());
	unlink(env.path);
	if (sy_writer_create(env.path, "icmp_errors", &lim, NULL, &env.w, err, sizeof(err))) {
		fprintf(stderr, "sy_writer_create: %s\n", err);
		return -1;
	}
	env.map = sy_writer_map(env.w);
	for (int i = 0; i < N_WORKERS; i++) {
		struct sy_lcore_stats *st = sy_region_stats(env.map, (uint32_t)i);

		env.lb[i] = (struct sy_lb){
			.base = env.map->base,
			.stats = st,
			.vips = sy_stats_vips(st),
			.backends = sy_stats_backends(env.map, st),
			.now = T0,
			.port_mac = { 0x02, 0, 0, 0, 0, 0x01 },
			.mtu = MTU,
			.mtu_action = SY_MTU_ICMP,
		};
		env.ct_mem[i] = calloc(1, sy_ct_memsize(CT_CAPACITY));
		if (!env.ct_mem[i])
			return -1;
		sy_ct_init(&env.lb[i].ct, env.ct_mem[i], CT_CAPACITY, NULL, 1);
	}
	/* as sy-dataplane's main() does: every worker sees every table */
	for (int i = 0; i < N_WORKERS; i++) {
		env.ct_of_worker[i] = &env.lb[i].ct;
		env.lb[i].peer_ct = env.ct_of_worker;
		env.lb[i].n_peer_ct = N_WORKERS;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	for (int i = 0; i < N_WORKERS; i++)
		free(env.ct_mem[i]);
	if (env.w)
		sy_writer_close(env.w);
	unlink(env.path);
	return 0;
}

static int publish_four(void **state)
{
	(void)state;
	publish(4);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(rate_limit_default, publish_four),
		cmocka_unit_test_setup(rate_limit_refill, publish_four),
		cmocka_unit_test_setup(rate_limit_per_worker, publish_four),
		cmocka_unit_test(icmp_on_other_worker),
		cmocka_unit_test(icmp_other_worker_checked),
		cmocka_unit_test(peek_other_never_torn),
		cmocka_unit_test(lookup_never_torn),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
