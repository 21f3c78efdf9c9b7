/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Conntrack pressure (issue 7, "Faults"): millions of distinct flows through
 * one packet-path instance (one lcore's sy_lb) whose connection table is
 * smaller than the flow count, while a set of "active" flows is touched
 * throughout and the backend set changes twice (a backend added, then the
 * weights changed), so that Maglev alone would move part of them.
 *
 * Asserted:
 *   - every packet of an active flow goes to the backend its first packet
 *     got, although the current table would send some of them elsewhere
 *     (the table changes are meaningful: "would move" > 0);
 *   - no active flow is ever evicted (no ct_new while only active flows
 *     are sent, every one of their packets a ct_hit);
 *   - evictions are counted: ct_evictions >= flows - capacity (no flow
 *     expires in the simulated time, so every new flow beyond the capacity
 *     evicts one), and the table is full at the end;
 *   - memory is as configured: the capacity is the configured one, the
 *     table is sy_ct_memsize(capacity) bytes (32 bytes a flow) and the
 *     packet path stays inside them (inaccessible guard pages on both
 *     sides would fault);
 *   - new flows after the changes reach the added backend (the changes are
 *     live for new flows).
 * ns per packet is printed as information only.
 *
 * usage: test_ct_pressure (no arguments)
 * Environment: SY_CT_PRESSURE_FLOWS (default 5000000),
 *              SY_CT_PRESSURE_CAPACITY (default 4194304 = 4M entries),
 *              SY_CT_PRESSURE_ACTIVE (default 10000).
 * Prints PASS:/FAIL: lines, a RELIABILITY| report line and RESULT: PASS|FAIL.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <switchyard/counters.h>
#include <switchyard/pkt_hdr.h>
#include <switchyard/region_writer.h>

#include "lb.h"
#include "services_file.h"

#define HEADROOM 256
#define TAILROOM 256
#define T0 1000u
#define VPORT 80
#define ROUNDS 50 /* active-flow rounds spread over the bulk flows */

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
#define BACKEND_E v4(198, 18, 1, 5)

/* ---- publishing through the services file loader ------------------------- */

/* Backends 198.18.1.1..n, weights w[] (1 when w is NULL). */
static int publish(uint32_t n, const uint32_t *w)
{
	char err[256] = "";
	FILE *f = fopen(env.svcfile, "w");

	if (!f)
		return -1;
	fprintf(f, "service web4 tcp 198.18.100.1 %u ipip m=65537 seed=7 src4=198.18.0.1\n",
		VPORT);
	for (uint32_t i = 1; i <= n; i++)
		fprintf(f, "backend web4 198.18.1.%u %u 02:00:00:00:01:%02x %u\n", i, VPORT, i,
			w ? w[i - 1] : 1);
	fclose(f);
	if (sy_services_file_apply(env.w, env.svcfile, err, sizeof(err))) {
		fprintf(stderr, "publish: %s\n", err);
		return -1;
	}
	env.lb.snap = sy_writer_snapshot(env.w);
	return env.lb.snap ? 0 : -1;
}

/* ---- flows and packets ------------------------------------------------------ */

struct flow {
	uint32_t client; /* wire order */
	uint16_t sport;  /* host order */
};

/* Bulk flow i: clients 198.19.0.0/16, 65536 flows per source port. */
static struct flow bulk_flow(uint64_t i)
{
	uint32_t a = (uint32_t)(i & 0xffff);

	return (struct flow){ .client = v4(198, 19, a >> 8, a & 0xff),
			      .sport = (uint16_t)(1024 + i / 65536) };
}

/* Active flow j: clients 198.18.128.0/17 (disjoint from the bulk ones). */
static struct flow active_flow(uint32_t j)
{
	uint32_t a = 0x8000 + j % 0x8000;

	return (struct flow){ .client = v4(198, 18, a >> 8, a & 0xff),
			      .sport = (uint16_t)(40000 + j / 0x8000) };
}

static uint64_t counter(enum sy_counter c)
{
	return env.lb.stats->counters[c];
}

/* A TCP segment of the flow through sy_lb_process; its backend (outer IPv4
 * destination) or 0 when it is not forwarded. */
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

	ip.csum = sy_csum_fold(sy_csum_partial(&ip, sizeof(ip), 0));
	memcpy(p, eth, 14);
	memcpy(p + 14, &ip, sizeof(ip));
	memcpy(p + 34, &t, sizeof(t));
	if (sy_lb_process(&env.lb, &pkt) != SY_V_TX)
		return 0;
	memcpy(&dst, pkt.data + 14 + 16, 4);
	return dst;
}

/* The backend the current table alone gives the flow. */
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

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(void)
{
	static const struct sy_region_limits lim = { .max_lcores = 2, .max_services = 8,
						     .max_backends = 64, .heap_size = 8u << 20 };
	static const uint32_t weights_b[] = { 3, 1, 1, 1, 2 };
	const uint64_t n_flows = env_u64("SY_CT_PRESSURE_FLOWS", 5000000);
	const uint64_t capacity = env_u64("SY_CT_PRESSURE_CAPACITY", 4u << 20);
	const uint32_t n_active = (uint32_t)env_u64("SY_CT_PRESSURE_ACTIVE", 10000);
	const long pg = sysconf(_SC_PAGESIZE);
	uint64_t memsize, mapsize, chunk, next_bulk = 0, sent = 0;
	uint64_t active_pkts = 0, active_hits = 0, active_new = 0, moved = 0;
	uint64_t would_move_add = 0, would_move_w = 0, on_e_new = 0, new_after = 0;
	uint32_t *first_be;
	uint8_t *moved_flag;
	uint64_t moved_flows = 0;
	uint8_t *map;
	char err[256] = "";
	struct sy_region_map *rm;
	struct sy_lcore_stats *st;
	double t_pkts = 0;
	int phase = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (n_active == 0 || n_active > 0x8000 * 16 || n_flows < 65536 || n_flows > 65536ull * 60000) {
		fprintf(stderr, "bad SY_CT_PRESSURE_* values\n");
		return 2;
	}
	snprintf(env.region, sizeof(env.region), "/dev/shm/sy-test-ctpressure-%d", (int)getpid());
	snprintf(env.svcfile, sizeof(env.svcfile), "/tmp/sy-test-ctpressure-%d.txt", (int)getpid());
	unlink(env.region);
	if (sy_writer_create(env.region, "ctpressure", &lim, NULL, &env.w, err, sizeof(err))) {
		fprintf(stderr, "sy_writer_create: %s\n", err);
		return 1;
	}
	rm = sy_writer_map(env.w);
	st = sy_region_stats(rm, 0);
	env.lb = (struct sy_lb){ .base = rm->base, .stats = st, .vips = sy_stats_vips(st),
				 .backends = sy_stats_backends(rm, st), .now = T0,
				 .port_mac = { 0x02, 0, 0, 0, 0, 0x01 }, .mtu = 1500,
				 .mtu_action = SY_MTU_ICMP };

	/* the table between two inaccessible guard pages */
	memsize = sy_ct_memsize(capacity);
	mapsize = (memsize + (uint64_t)pg - 1) / (uint64_t)pg * (uint64_t)pg;
	map = mmap(NULL, mapsize + 2 * (uint64_t)pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	first_be = calloc(n_active, sizeof(*first_be));
	moved_flag = calloc(n_active, 1);
	if (map == MAP_FAILED || !first_be || !moved_flag ||
	    mprotect(map + pg, mapsize, PROT_READ | PROT_WRITE)) {
		fprintf(stderr, "cannot map %llu bytes for the connection table\n",
			(unsigned long long)memsize);
		return 1;
	}
	sy_ct_init(&env.lb.ct, map + pg, capacity, NULL, 1);
	CHECK(sy_ct_capacity(&env.lb.ct) == capacity,
	      "connection table capacity %llu entries as configured (%llu)",
	      (unsigned long long)sy_ct_capacity(&env.lb.ct), (unsigned long long)capacity);
	CHECK(memsize == capacity / SY_CT_LINE_SLOTS * SY_CT_LINE,
	      "memory is sy_ct_memsize(capacity) = %llu bytes = %.1f MB (%.0f bytes a flow)",
	      (unsigned long long)memsize, memsize / 1048576.0, (double)memsize / capacity);

	if (publish(4, NULL)) {
		printf("FAIL: publish\nRESULT: FAIL\n");
		return 1;
	}

	/* the active flows' first packets */
	for (uint32_t j = 0; j < n_active; j++) {
		first_be[j] = send_tcp(active_flow(j), SY_TCP_SYN);
		if (!first_be[j]) {
			printf("FAIL: active flow %u not forwarded\n", j);
			failed = 1;
		}
	}

	/* bulk flows in ROUNDS chunks; after each chunk every active flow
	 * sends one packet; after 1/3 a backend is added, after 2/3 the
	 * weights change */
	chunk = (n_flows + ROUNDS - 1) / ROUNDS;
	for (int r = 0; r < ROUNDS; r++) {
		double t0 = now_s();
		uint64_t end = next_bulk + chunk < n_flows ? next_bulk + chunk : n_flows;
		uint64_t new0, hit0;

		for (; next_bulk < end; next_bulk++) {
			uint32_t b = send_tcp(bulk_flow(next_bulk), SY_TCP_SYN);

			if (phase > 0) {
				new_after++;
				on_e_new += b == BACKEND_E;
			}
			if (!b)
				failed = 1;
			if (++sent % 100 == 0)
				env.lb.now++; /* 1 ms a 100 packets: nothing expires */
		}
		new0 = counter(SY_C_CT_NEW);
		hit0 = counter(SY_C_CT_HIT);
		for (uint32_t j = 0; j < n_active; j++) {
			struct flow f = active_flow(j);
			uint32_t b = send_tcp(f, SY_TCP_ACK);

			if (b != first_be[j]) {
				moved++;
				moved_flows += !moved_flag[j];
				moved_flag[j] = 1;
			}
			if (++sent % 100 == 0)
				env.lb.now++;
		}
		t_pkts += now_s() - t0;
		active_pkts += n_active;
		active_new += counter(SY_C_CT_NEW) - new0;
		active_hits += counter(SY_C_CT_HIT) - hit0;

		if (phase == 0 && r == ROUNDS / 3 - 1) {
			if (publish(5, NULL))
				failed = 1;
			for (uint32_t j = 0; j < n_active; j++)
				would_move_add += table_pick(active_flow(j)) != first_be[j];
			phase = 1;
			printf("INFO: after %llu bulk flows: backend 198.18.1.5 added; the table alone would move %llu of %u active flows\n",
			       (unsigned long long)next_bulk, (unsigned long long)would_move_add, n_active);
		} else if (phase == 1 && r == 2 * ROUNDS / 3 - 1) {
			if (publish(5, weights_b))
				failed = 1;
			for (uint32_t j = 0; j < n_active; j++)
				would_move_w += table_pick(active_flow(j)) != first_be[j];
			phase = 2;
			printf("INFO: after %llu bulk flows: weights 3,1,1,1,2; the table alone would move %llu of %u active flows\n",
			       (unsigned long long)next_bulk, (unsigned long long)would_move_w, n_active);
		}
	}

	uint64_t evictions = counter(SY_C_CT_EVICT), expired = counter(SY_C_CT_EXPIRED);
	uint64_t live = sy_ct_count(&env.lb.ct, env.lb.now);
	uint64_t min_evict = n_flows + n_active > capacity ? n_flows + n_active - capacity : 0;
	double ns_pkt = t_pkts * 1e9 / (double)sent;

	CHECK(next_bulk == n_flows && !failed, "%llu distinct bulk flows + %u active flows forwarded (%llu packets)",
	      (unsigned long long)next_bulk, n_active, (unsigned long long)sent);
	CHECK(would_move_add > 0 && would_move_w > 0,
	      "the backend changes are meaningful: Maglev alone would move %llu (add) and %llu (weights) of %u active flows",
	      (unsigned long long)would_move_add, (unsigned long long)would_move_w, n_active);
	CHECK(moved == 0, "active flows keep their first backend: %llu of %u flows moved (%llu of %llu packets)",
	      (unsigned long long)moved_flows, n_active, (unsigned long long)moved,
	      (unsigned long long)active_pkts);
	CHECK(active_new == 0 && active_hits == active_pkts,
	      "no active flow was evicted: %llu ct_hits of %llu active packets, %llu re-created",
	      (unsigned long long)active_hits, (unsigned long long)active_pkts,
	      (unsigned long long)active_new);
	CHECK(evictions > 0 && evictions >= min_evict,
	      "evictions counted: ct_evictions %llu >= flows - capacity %llu (ct_expired %llu)",
	      (unsigned long long)evictions, (unsigned long long)min_evict,
	      (unsigned long long)expired);
	CHECK(live <= capacity && (n_flows + n_active < capacity || live >= capacity * 9 / 10),
	      "table holds %llu live flows of a capacity of %llu (%.1f%%)", (unsigned long long)live,
	      (unsigned long long)capacity, 100.0 * live / capacity);
	CHECK(on_e_new > new_after / 20,
	      "new flows after the changes reach the added backend: %llu of %llu",
	      (unsigned long long)on_e_new, (unsigned long long)new_after);
	printf("INFO: %.0f ns per packet (information only, not asserted)\n", ns_pkt);

	printf("RELIABILITY|ct_pressure|%llu distinct flows through one lcore's conntrack of %llu entries (%.0f MB); backend added and weights changed mid-run|%u active flows touched %d times each|%s|evictions %llu, active flows kept %llu/%u moved %llu (Maglev alone would move %llu), memory %.0f MB = sy_ct_memsize, %.0f ns/packet\n",
	       (unsigned long long)n_flows, (unsigned long long)capacity, memsize / 1048576.0,
	       n_active, ROUNDS, failed ? "FAIL" : "PASS", (unsigned long long)evictions,
	       (unsigned long long)(n_active - moved_flows), n_active, (unsigned long long)moved_flows,
	       (unsigned long long)(would_move_w > would_move_add ? would_move_w : would_move_add),
	       memsize / 1048576.0, ns_pkt);

	munmap(map, mapsize + 2 * (uint64_t)pg);
	free(first_be);
	free(moved_flag);
	sy_writer_close(env.w);
	unlink(env.region);
	unlink(env.svcfile);
	printf("RESULT: %s\n", failed ? "FAIL" : "PASS");
	return failed;
}
