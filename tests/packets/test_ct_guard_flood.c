/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The new-flow guard under the flood of issue 15 point 2, in process: one
 * lcore's packet path (sy_lb) with sy-dataplane's default connection table
 * (262,144 flows) and guard (switchyard/ct_guard.h defaults: 125,000 new
 * flows a second, bursts of 12,500). 10,000 established flows, then a flood
 * of 5,000,000 spoofed SYNs (distinct sources and ports) at 5 Mpps of
 * simulated time (the lcore's millisecond tick moves 1 ms every 5,000
 * packets), in 10 rounds, after each of which every established flow sends
 * a segment; after the 5th round a fifth backend is added, so that Maglev
 * alone would move about a fifth of the established flows.
 *
 * Run twice. With the guard, asserted:
 *   - 0 established flows moved: each of their segments reached the backend
 *     of its SYN, every one a ct_hit (none re-created), no eviction at all;
 *   - the bypass counter accounts for the flood: the flood's ct_new is
 *     exactly the budget, burst + rate x (simulated ms of the flood) / 1000,
 *     and ct_bypass = flood - that, to the packet;
 *   - every flood SYN was forwarded, to the backend Maglev's current table
 *     gives it (before and after the backend was added).
 * Without the guard (--ct-guard-rate 0), the same scenario is asserted to
 * fail those: established flows evicted (re-created) and moved. Before the
 * guard existed that was the only behaviour:
 *     INFO: without the guard: 97627 established segments re-created after
 *           eviction, 2065 of 10000 flows moved, ct_evictions 4845483
 *
 * usage: test_ct_guard_flood (no arguments)
 * Environment (the ASan tree scales it down: tests/packets/meson.build):
 *   SY_CT_FLOOD_SYNS (default 5000000), SY_CT_FLOOD_CAPACITY (262144),
 *   SY_CT_FLOOD_RATE (125000), SY_CT_FLOOD_BURST (12500).
 * Prints PASS:/FAIL: lines and RESULT: PASS|FAIL.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <switchyard/counters.h>
#include <switchyard/ct_guard.h>
#include <switchyard/pkt_hdr.h>
#include <switchyard/region_writer.h>

#include "lb.h"
#include "services_file.h"

#define HEADROOM 256
#define TAILROOM 256
#define T0 1000u
#define VPORT 80
#define N_ESTABLISHED 10000u
#define ROUNDS 10
#define PKTS_PER_MS 5000u /* 5 Mpps of simulated time */

static int failed;

#define CHECK(cond, ...)                         \
	do {                                     \
		if (cond) {                      \
			printf("PASS: ");        \
		} else {                         \
			printf("FAIL: ");        \
			failed = 1;              \
		}                                \
		printf(__VA_ARGS__);             \
		printf("\n");                    \
	} while (0)

static struct {
	char region[128];
	char svcfile[128];
	struct sy_writer *w;
	struct sy_lb lb;
	uint64_t sent; /* packets of this run: the simulated clock */
} env;

static uint32_t v4(uint32_t a, uint32_t b, uint32_t c, uint32_t d)
{
	return a | b << 8 | c << 16 | d << 24;
}

static uint16_t be16(uint16_t x)
{
	return (uint16_t)(x >> 8 | x << 8);
}

#define VIP v4(198, 18, 100, 1)

/* Backends 198.18.1.1..n. */
static int publish(uint32_t n)
{
	char err[256] = "";
	FILE *f = fopen(env.svcfile, "w");

	if (!f)
		return -1;
	fprintf(f, "service web4 tcp 198.18.100.1 %u ipip m=65537 seed=7 src4=198.18.0.1\n",
		VPORT);
	for (uint32_t i = 1; i <= n; i++)
		fprintf(f, "backend web4 198.18.1.%u %u 02:00:00:00:01:%02x 1\n", i, VPORT, i);
	fclose(f);
	if (sy_services_file_apply(env.w, env.svcfile, err, sizeof(err))) {
		fprintf(stderr, "publish: %s\n", err);
		return -1;
	}
	env.lb.snap = sy_writer_snapshot(env.w);
	return env.lb.snap ? 0 : -1;
}

struct flow {
	uint32_t client; /* wire order */
	uint16_t sport;  /* host order */
};

/* Spoofed flood flow i: sources 198.19.0.0/16, 65,536 flows a source port. */
static struct flow flood_flow(uint64_t i)
{
	uint32_t a = (uint32_t)(i & 0xffff);

	return (struct flow){ .client = v4(198, 19, a >> 8, a & 0xff),
			      .sport = (uint16_t)(1024 + i / 65536) };
}

/* Established flow j: clients 198.18.128.0/17 (disjoint from the flood). */
static struct flow established_flow(uint32_t j)
{
	uint32_t a = 0x8000 + j % 0x8000;

	return (struct flow){ .client = v4(198, 18, a >> 8, a & 0xff),
			      .sport = (uint16_t)(40000 + j / 0x8000) };
}

static uint64_t counter(enum sy_counter c)
{
	return env.lb.stats->counters[c];
}

/* A TCP segment of the flow through sy_lb_process, on the simulated clock;
 * its backend (outer IPv4 destination) or 0 when it is not forwarded. */
static uint32_t send_tcp(struct flow f, uint8_t flags)
{
	uint8_t buf[HEADROOM + 54 + TAILROOM];
	uint8_t *p = buf + HEADROOM;
	static const uint8_t eth[14] = { 0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0xaa, 0, 0x01,
					 0x08, 0x00 };
	struct sy_ip4_hdr ip = { .ver_ihl = 0x45, .tot_len = be16(40), .frag_off = be16(SY_IP4_DF),
				 .ttl = 64, .proto = SY_IPPROTO_TCP, .saddr = f.client,
				 .daddr = VIP };
	struct sy_tcp_hdr t = { .sport = be16(f.sport), .dport = be16(VPORT), .doff_res = 5 << 4,
				.flags = flags, .window = be16(65535) };
	struct sy_pkt pkt = { .data = p, .len = 54, .headroom = HEADROOM, .tailroom = TAILROOM };
	uint32_t dst;

	if (env.sent++ % PKTS_PER_MS == 0)
		env.lb.now++;
	ip.csum = sy_csum_fold(sy_csum_partial(&ip, sizeof(ip), 0));
	memcpy(p, eth, 14);
	memcpy(p + 14, &ip, sizeof(ip));
	memcpy(p + 34, &t, sizeof(t));
	if (sy_lb_process(&env.lb, &pkt) != SY_V_TX)
		return 0;
	memcpy(&dst, pkt.data + 14 + 16, 4);
	return dst;
}

/* The backend Maglev's current table alone gives the flow. */
static uint32_t table_pick(struct flow f)
{
	struct sy_vip_key k = { .family = SY_AF_INET, .proto = SY_IPPROTO_TCP,
				.port = be16(VPORT) };
	struct sy_flow_key fk = { .family = SY_AF_INET, .proto = SY_IPPROTO_TCP };
	const struct sy_service *s;
	uint32_t idx;

	k.addr[0] = VIP;
	fk.src[0] = f.client;
	fk.dst[0] = VIP;
	fk.sport = be16(f.sport);
	fk.dport = be16(VPORT);
	s = sy_snapshot_match(env.lb.base, env.lb.snap, &k);
	if (!s)
		return 0;
	idx = sy_service_pick(env.lb.base, s, sy_flow_hash(&fk, s->hash_seed));
	if (idx == SY_MAGLEV_NONE)
		return 0;
	return sy_service_backends(env.lb.base, s)[idx].id.addr[0];
}

static uint64_t env_u64(const char *name, uint64_t def)
{
	const char *v = getenv(name);

	return v && *v ? strtoull(v, NULL, 0) : def;
}

struct outcome {
	uint64_t moved;         /* established flows that reached another backend */
	uint64_t recreated;     /* their segments that found no entry (evicted) */
	uint64_t hits;          /* their segments that hit their entry */
	uint64_t est_pkts;
	uint64_t flood_new;     /* ct_new during the flood's packets */
	uint64_t flood_bypass;  /* ct_bypass during them */
	uint64_t flood_misrouted; /* flood SYNs not sent to Maglev's current pick */
	uint64_t evictions;
	uint64_t would_move;    /* established flows the new table alone would move */
	uint64_t flood_ms;      /* simulated ms from the flood's first to last packet */
	double seconds;
};

/* One run of the scenario on a fresh region and table. */
static int run(uint64_t n_flood, uint64_t capacity, struct sy_ct_guard guard, struct outcome *o)
{
	static const struct sy_region_limits lim = { .max_lcores = 2, .max_services = 8,
						     .max_backends = 64, .heap_size = 8u << 20 };
	uint32_t *first_be = calloc(N_ESTABLISHED, sizeof(*first_be));
	uint8_t *moved = calloc(N_ESTABLISHED, 1);
	uint64_t chunk = (n_flood + ROUNDS - 1) / ROUNDS, next = 0, t_first = 0, t_last = 0;
	struct sy_region_map *rm;
	struct sy_lcore_stats *st;
	struct timespec a, b;
	char err[256] = "";
	void *ct_mem;
	int rc = -1;

	memset(o, 0, sizeof(*o));
	memset(&env, 0, sizeof(env));
	snprintf(env.region, sizeof(env.region), "/dev/shm/sy-test-ctguard-%d", (int)getpid());
	snprintf(env.svcfile, sizeof(env.svcfile), "/tmp/sy-test-ctguard-%d.txt", (int)getpid());
	unlink(env.region);
	ct_mem = calloc(1, sy_ct_memsize(capacity));
	if (!first_be || !moved || !ct_mem ||
	    sy_writer_create(env.region, "ctguard", &lim, NULL, &env.w, err, sizeof(err))) {
		fprintf(stderr, "setup: %s\n", err);
		goto out;
	}
	rm = sy_writer_map(env.w);
	st = sy_region_stats(rm, 0);
	env.lb = (struct sy_lb){ .base = rm->base, .stats = st, .vips = sy_stats_vips(st),
				 .backends = sy_stats_backends(rm, st), .now = T0,
				 .port_mac = { 0x02, 0, 0, 0, 0, 0x01 }, .mtu = 1500,
				 .mtu_action = SY_MTU_ICMP, .ct_guard = guard };
	sy_ct_init(&env.lb.ct, ct_mem, capacity, NULL, 1);
	if (publish(4))
		goto out;
	clock_gettime(CLOCK_MONOTONIC, &a);

	/* the established flows: a SYN each (within the guard's burst) */
	for (uint32_t j = 0; j < N_ESTABLISHED; j++)
		first_be[j] = send_tcp(established_flow(j), SY_TCP_SYN);
	if (counter(SY_C_CT_NEW) != N_ESTABLISHED || counter(SY_C_CT_BYPASS) != 0) {
		printf("FAIL: %llu of %u established flows tracked\n",
		       (unsigned long long)counter(SY_C_CT_NEW), N_ESTABLISHED);
		goto out;
	}
	env.lb.now += 1000; /* a second later (the guard's bucket full again), the flood */

	for (int r = 0; r < ROUNDS; r++) {
		uint64_t end = next + chunk < n_flood ? next + chunk : n_flood;
		uint64_t new0 = counter(SY_C_CT_NEW), byp0 = counter(SY_C_CT_BYPASS);
		uint64_t hit0;

		for (; next < end; next++) {
			struct flow f = flood_flow(next);
			uint32_t be = send_tcp(f, SY_TCP_SYN);

			if (next == 0)
				t_first = env.lb.now;
			t_last = env.lb.now;
			o->flood_misrouted += !be || be != table_pick(f);
		}
		o->flood_new += counter(SY_C_CT_NEW) - new0;
		o->flood_bypass += counter(SY_C_CT_BYPASS) - byp0;

		new0 = counter(SY_C_CT_NEW);
		hit0 = counter(SY_C_CT_HIT);
		for (uint32_t j = 0; j < N_ESTABLISHED; j++) {
			uint32_t be = send_tcp(established_flow(j), SY_TCP_ACK);

			if (be != first_be[j]) {
				o->moved += !moved[j];
				moved[j] = 1;
			}
		}
		o->recreated += counter(SY_C_CT_NEW) - new0;
		o->hits += counter(SY_C_CT_HIT) - hit0;
		o->est_pkts += N_ESTABLISHED;

		if (r == ROUNDS / 2 - 1) { /* mid-flood: a fifth backend */
			if (publish(5))
				goto out;
			for (uint32_t j = 0; j < N_ESTABLISHED; j++)
				o->would_move += table_pick(established_flow(j)) != first_be[j];
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	o->evictions = counter(SY_C_CT_EVICT);
	o->flood_ms = t_last - t_first;
	o->seconds = (double)(b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
	rc = 0;
out:
	if (env.w)
		sy_writer_close(env.w);
	unlink(env.region);
	unlink(env.svcfile);
	free(ct_mem);
	free(first_be);
	free(moved);
	return rc;
}

int main(void)
{
	const uint64_t n_flood = env_u64("SY_CT_FLOOD_SYNS", 5000000);
	const uint64_t capacity = env_u64("SY_CT_FLOOD_CAPACITY", 262144);
	const struct sy_ct_guard on = {
		.rate = (uint32_t)env_u64("SY_CT_FLOOD_RATE", SY_CT_GUARD_RATE_DEFAULT),
		.burst = (uint32_t)env_u64("SY_CT_FLOOD_BURST", SY_CT_GUARD_BURST_DEFAULT),
	};
	const struct sy_ct_guard off = { 0 };
	struct outcome g, n;
	uint64_t budget;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (n_flood < 1000 || n_flood > 65536ull * 60000 || capacity < 2 * N_ESTABLISHED ||
	    on.rate == 0 || on.burst < N_ESTABLISHED) {
		fprintf(stderr, "bad SY_CT_FLOOD_* values (the burst must cover the %u established flows)\n",
			N_ESTABLISHED);
		return 2;
	}
	printf("INFO: %u established flows, a flood of %llu spoofed SYNs at %u per simulated ms, a %llu-flow table\n",
	       N_ESTABLISHED, (unsigned long long)n_flood, PKTS_PER_MS,
	       (unsigned long long)capacity);

	if (run(n_flood, capacity, on, &g)) {
		printf("RESULT: FAIL\n");
		return 1;
	}
	/* the bucket is full when the flood starts and never catches up with
	 * it: it grants its burst plus rate x elapsed time, to the token */
	budget = ((uint64_t)on.burst * 1000 + (uint64_t)on.rate * g.flood_ms) / 1000;
	printf("INFO: guard %u/s burst %u: %.1f s\n", on.rate, on.burst, g.seconds);
	CHECK(g.would_move > 0, "the backend added mid-flood is meaningful: Maglev alone would move %llu of %u established flows",
	      (unsigned long long)g.would_move, N_ESTABLISHED);
	CHECK(g.moved == 0, "with the guard: 0 established flows moved (%llu of %u)",
	      (unsigned long long)g.moved, N_ESTABLISHED);
	CHECK(g.hits == g.est_pkts && g.recreated == 0 && g.evictions == 0,
	      "with the guard: established flows keep their entries: %llu ct_hits of %llu segments, %llu re-created, ct_evictions %llu",
	      (unsigned long long)g.hits, (unsigned long long)g.est_pkts,
	      (unsigned long long)g.recreated, (unsigned long long)g.evictions);
	CHECK(g.flood_new == budget,
	      "with the guard: the flood's ct_new %llu = the budget: burst %u + %u/s x %llu ms",
	      (unsigned long long)g.flood_new, on.burst, on.rate, (unsigned long long)g.flood_ms);
	CHECK(g.flood_bypass == n_flood - budget && g.flood_new + g.flood_bypass == n_flood,
	      "with the guard: ct_bypass %llu accounts for the rest of the flood (%llu SYNs)",
	      (unsigned long long)g.flood_bypass, (unsigned long long)n_flood);
	CHECK(g.flood_misrouted == 0,
	      "with the guard: every flood SYN forwarded to its Maglev backend (%llu not)",
	      (unsigned long long)g.flood_misrouted);

	if (run(n_flood, capacity, off, &n)) {
		printf("RESULT: FAIL\n");
		return 1;
	}
	printf("INFO: without the guard: %.1f s\n", n.seconds);
	printf("INFO: without the guard: %llu established segments re-created after eviction, %llu of %u flows moved, ct_evictions %llu\n",
	       (unsigned long long)n.recreated, (unsigned long long)n.moved, N_ESTABLISHED,
	       (unsigned long long)n.evictions);
	CHECK(n.flood_new == n_flood && n.flood_bypass == 0,
	      "without the guard: every flood SYN inserted (ct_new %llu, ct_bypass %llu)",
	      (unsigned long long)n.flood_new, (unsigned long long)n.flood_bypass);
	CHECK(n.recreated > 0 && n.moved > 0,
	      "without the guard the scenario fails as the issue says: established flows evicted (%llu segments re-created) and %llu moved",
	      (unsigned long long)n.recreated, (unsigned long long)n.moved);
	printf("RESULT: %s\n", failed ? "FAIL" : "PASS");
	return failed;
}
