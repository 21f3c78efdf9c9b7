/* SPDX-License-Identifier: BSD-3-Clause
 *
 * maglev_bench: Maglev table build time and flow lookup rate.
 *
 *   maglev_bench [--quick] [--katran DIR [--rounds R] [--peer-only | --prepare]]
 *
 * 1. Build time of sy_maglev_build() for M in {65537, 655373} x N in
 *    {10, 100, 1000, 10000} backends, equal weights and then weights 1..5:
 *    median, min and max over several runs (15; 5 with --quick), in
 *    milliseconds.
 * 2. Disruption at N=100, M=65537: random sets of 100 equal-weight backends
 *    (20; 5 with --quick), 5 removals and 5 additions of one backend each;
 *    entries whose owner changed / entries of the backend removed (or taken
 *    by the backend added): mean and max.
 * 3. Lookup rate: 1M distinct random flows, keys built up front; each lookup
 *    is sy_flow_hash() + table[h % M], as the dataplane does it. Several
 *    passes (10; 3 with --quick) over the keys, for IPv4 and IPv6 flows, for
 *    M=65537 N=100 and M=655373 N=1000. Reported as Mflows/s and ns/lookup.
 *
 * With --katran DIR (a checkout of facebookincubator/katran), a peer row
 * first: Katran's MaglevHashV2 is compiled from DIR with g++ into the build
 * directory (perf/katran-maglev/ beside this binary; reused while DIR and the
 * sources are unchanged; --prepare only compiles it), then both builders make
 * the table for the same M=65537, N=1000 set, weights 1..5 and equal weights,
 * in R interleaved rounds (default 9, the order alternating), timed in thread
 * CPU time: every value, medians and the same-run ratio. Section 2 then
 * measures Katran's disruption on the same sets. --peer-only stops after the
 * peer row.
 *
 * Timing of sections 1 and 3 uses clock_gettime(CLOCK_MONOTONIC), that of the
 * peer row CLOCK_THREAD_CPUTIME_ID. Not a test: numbers depend on the host;
 * nothing is asserted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <switchyard/flow_hash.h>
#include <switchyard/maglev.h>

#include "host_state.h"
#include "maglev_bench_set.h"
#include "maglev_katran.h"

#define NFLOWS (1u << 20) /* 1,048,576 distinct flows */
#define FLOW_SEED 0x5eed5eedu

static uint64_t rng_state = 0xbe9c4ull;

static uint64_t rng_next(void)
{
	/* splitmix64, fixed seed: the same workload on every run */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint32_t rng32(void)
{
	return (uint32_t)(rng_next() >> 32);
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

struct stats {
	double median, min, max;
};

static struct stats summarize(double *v, unsigned n)
{
	struct stats s;

	s.median = sy_mem_median(v, (int)n); /* sorts v */
	s.min = v[0];
	s.max = v[n - 1];
	return s;
}

/* N backends of perf/maglev_bench_set.h, equal weights. */
static struct sy_maglev_backend *make_backends(uint32_t n)
{
	struct sy_maglev_backend *b = calloc(n, sizeof(*b));

	if (!b)
		return NULL;
	for (uint32_t i = 0; i < n; i++) {
		b[i].id = sy_bench_backend_id(i);
		b[i].weight = 1;
	}
	return b;
}

/* m itself if it is an allowed size, otherwise the nearest allowed prime
 * (the smaller one on a tie); 0 if none. */
static uint32_t usable_size(uint32_t m)
{
	char err[128];

	if (sy_maglev_check_size(m, err, sizeof(err)) == 0)
		return m;
	printf("note: M=%u rejected (%s)\n", m, err);
	for (uint32_t d = 1; d < SY_MAGLEV_MAX_M; d++) {
		if (m > d && sy_maglev_check_size(m - d, err, sizeof(err)) == 0)
			return m - d;
		if (sy_maglev_check_size(m + d, err, sizeof(err)) == 0)
			return m + d;
	}
	return 0;
}

/* 1M distinct flows: the source address is unique per flow (a counter mixed
 * into a random prefix); destinations are 16 VIPs; ports and protocol random. */
static struct sy_flow_key *make_flows(int v6)
{
	struct sy_flow_key *k = calloc(NFLOWS, sizeof(*k));
	uint32_t vip[16][4];

	if (!k)
		return NULL;
	for (int v = 0; v < 16; v++)
		for (int w = 0; w < 4; w++)
			vip[v][w] = rng32();
	for (uint32_t i = 0; i < NFLOWS; i++) {
		uint32_t v = rng32() % 16;

		k[i].family = v6 ? SY_AF_INET6 : SY_AF_INET;
		if (v6) {
			k[i].src[0] = rng32();
			k[i].src[1] = rng32();
			k[i].src[2] = rng32();
			k[i].src[3] = i; /* unique */
			memcpy(k[i].dst, vip[v], sizeof(k[i].dst));
		} else {
			k[i].src[0] = (rng32() & 0xffu) | (i << 8); /* unique: i < 2^24 */
			k[i].dst[0] = vip[v][0];
		}
		k[i].sport = (uint16_t)rng32();
		k[i].dport = (uint16_t)(v % 2 ? 0xbb01 : 0x5000); /* 443 / 80, wire order */
		k[i].proto = (rng32() % 8) ? 6 : 17;
	}
	return k;
}

static volatile uint64_t sink;

/* Build-time table for M in m[2] x N in ns[4]; weighted: weights 1..5 (i % 5
 * + 1), else all 1. */
static int bench_build(const uint32_t m[2], const uint32_t ns[4], int runs,
		       int weighted, int quick)
{
	printf("\nMaglev table build, %s, %d runs per row%s\n",
	       weighted ? "weights 1..5" : "equal weights", runs,
	       quick ? " (--quick)" : "");
	printf("%8s %6s  %11s %11s %11s  %14s\n", "M", "N", "median ms", "min ms",
	       "max ms", "ns/entry (med)");
	for (int i = 0; i < 2; i++) {
		uint32_t *table = malloc(sizeof(*table) * m[i]);
		double *t = malloc(sizeof(*t) * (size_t)runs);

		if (!table || !t) {
			fprintf(stderr, "out of memory\n");
			return -1;
		}
		for (int j = 0; j < 4; j++) {
			struct sy_maglev_backend *b = make_backends(ns[j]);
			char err[128];
			struct stats s;

			if (!b) {
				fprintf(stderr, "out of memory\n");
				return -1;
			}
			for (uint32_t k = 0; weighted && k < ns[j]; k++)
				b[k].weight = k % 5 + 1;
			for (int r = 0; r < runs; r++) {
				double t0 = now_ns();

				if (sy_maglev_build(b, ns[j], m[i], table, err,
						    sizeof(err))) {
					fprintf(stderr, "build M=%u N=%u: %s\n", m[i],
						ns[j], err);
					return -1;
				}
				t[r] = now_ns() - t0;
				sink += table[r % m[i]];
			}
			s = summarize(t, (unsigned)runs);
			printf("%8u %6u  %11.3f %11.3f %11.3f  %14.1f\n", m[i], ns[j],
			       s.median / 1e6, s.min / 1e6, s.max / 1e6,
			       s.median / m[i]);
			free(b);
		}
		free(t);
		free(table);
	}
	return 0;
}

/* A random identity, IPv4 or IPv6; weight 1. */
static struct sy_maglev_backend random_backend(void)
{
	struct sy_maglev_backend b;
	int v6 = rng32() & 1;

	memset(&b, 0, sizeof(b));
	b.id.family = v6 ? SY_AF_INET6 : SY_AF_INET;
	b.id.port = (uint16_t)(1024 + rng32() % 64000);
	for (int i = 0; i < (v6 ? 4 : 1); i++)
		b.id.addr[i] = rng32();
	b.weight = 1;
	return b;
}

/* Entries whose owner (by identity) differs between two tables; *owned gets
 * the entries of `who` in table b. */
static uint32_t changed_entries(const struct sy_maglev_backend *ba, const uint32_t *ta,
				const struct sy_maglev_backend *bb, const uint32_t *tb,
				uint32_t m, const struct sy_backend_id *who,
				uint32_t *owned)
{
	uint32_t changed = 0;

	*owned = 0;
	for (uint32_t s = 0; s < m; s++) {
		changed += sy_backend_id_cmp(&ba[ta[s]].id, &bb[tb[s]].id) != 0;
		*owned += sy_backend_id_cmp(&bb[tb[s]].id, who) == 0;
	}
	return changed;
}

/* ---- builders: ours, and Katran's as a peer ------------------------------ */

static double thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Katran's Endpoint.hash for a backend: 64 bits from its identity (Katran
 * hashes the backend's address). */
static uint64_t katran_endpoint_hash(const struct sy_backend_id *id)
{
	uint32_t w[6] = { id->family, id->addr[0], id->addr[1], id->addr[2],
			  id->addr[3], id->port };

	return (uint64_t)sy_jhash_words(w, 6, 0x6b617472u) << 32 |
	       sy_jhash_words(w, 6, 0x616e2121u);
}

/* Builds b[0..n-1]'s table with ours (katran NULL) or Katran's builder;
 * table[] holds indices into b[] either way (Katran's Endpoint.num is the
 * index). *cpu_ns: thread CPU time of the build call. */
static int build_table(sy_katran_maglev_fn katran, const struct sy_maglev_backend *b,
		       uint32_t n, uint32_t m, uint32_t *table, double *cpu_ns)
{
	uint32_t *weight;
	uint64_t *hash;
	char err[128];
	double t0;
	int rc;

	if (!katran) {
		t0 = thread_cpu_ns();
		rc = sy_maglev_build(b, n, m, table, err, sizeof(err));
		*cpu_ns = thread_cpu_ns() - t0;
		if (rc)
			fprintf(stderr, "build M=%u N=%u: %s\n", m, n, err);
		return rc;
	}
	weight = malloc(sizeof(*weight) * n);
	hash = malloc(sizeof(*hash) * n);
	rc = -1;
	if (weight && hash) {
		for (uint32_t i = 0; i < n; i++) {
			weight[i] = b[i].weight;
			hash[i] = katran_endpoint_hash(&b[i].id);
		}
		rc = katran(weight, hash, n, m, (int32_t *)table, cpu_ns);
	}
	if (rc)
		fprintf(stderr, "Katran's build M=%u N=%u failed\n", m, n);
	free(hash);
	free(weight);
	return rc;
}

/* ---- disruption ----------------------------------------------------------- */

#define DIS_N 100u
#define DIS_M 65537u
#define DIS_CHANGES 5

/* Changed / owned ratios of one builder over the sets. */
struct disruption {
	double rsum, rmax, asum, amax;
};

static void add_ratio(double *sum, double *max, uint32_t changed, uint32_t owned)
{
	double r = (double)changed / owned;

	*sum += r;
	*max = r > *max ? r : *max;
}

/* Removing and adding one backend of DIS_N: changed / owned, mean and max;
 * with katran, Katran's builder on the same sets and changes too. */
static int bench_disruption(int sets, sy_katran_maglev_fn katran)
{
	struct sy_maglev_backend b[DIS_N + 1], b2[DIS_N + 1];
	uint32_t *t = malloc(sizeof(*t) * DIS_M), *t2 = malloc(sizeof(*t2) * DIS_M);
	uint32_t *kt = malloc(sizeof(*kt) * DIS_M), *kt2 = malloc(sizeof(*kt2) * DIS_M);
	struct disruption ours = { 0 }, peer = { 0 };
	const int n_ratios = sets * DIS_CHANGES;
	char err[128];
	double ns;

	if (!t || !t2 || !kt || !kt2) {
		fprintf(stderr, "out of memory\n");
		return -1;
	}
	for (int set = 0; set < sets; set++) {
		/* Random identities collide with negligible probability; the
		 * build rejects a duplicate, and the set is drawn again. */
		do {
			for (uint32_t i = 0; i <= DIS_N; i++)
				b[i] = random_backend();
		} while (sy_maglev_build(b, DIS_N + 1, DIS_M, t, err, sizeof(err)));
		if (build_table(NULL, b, DIS_N, DIS_M, t, &ns) ||
		    (katran && build_table(katran, b, DIS_N, DIS_M, kt, &ns)))
			goto fail;
		for (int c = 0; c < DIS_CHANGES; c++) {
			uint32_t k = rng32() % DIS_N, owned, changed;

			/* remove b[k]: owned is counted in the old table */
			memcpy(b2, b, sizeof(b[0]) * DIS_N);
			b2[k] = b2[DIS_N - 1];
			if (build_table(NULL, b2, DIS_N - 1, DIS_M, t2, &ns))
				goto fail;
			changed = changed_entries(b2, t2, b, t, DIS_M, &b[k].id, &owned);
			add_ratio(&ours.rsum, &ours.rmax, changed, owned);
			if (katran) {
				if (build_table(katran, b2, DIS_N - 1, DIS_M, kt2, &ns))
					goto fail;
				changed = changed_entries(b2, kt2, b, kt, DIS_M, &b[k].id, &owned);
				add_ratio(&peer.rsum, &peer.rmax, changed, owned);
			}
			/* add b[DIS_N], a fresh identity per change (the first
			 * one was drawn with the set) */
			while (c > 0) {
				b[DIS_N] = random_backend();
				if (sy_maglev_build(b, DIS_N + 1, DIS_M, t2, err, sizeof(err)) == 0)
					break;
			}
			if (c == 0 && build_table(NULL, b, DIS_N + 1, DIS_M, t2, &ns))
				goto fail;
			changed = changed_entries(b, t, b, t2, DIS_M, &b[DIS_N].id, &owned);
			add_ratio(&ours.asum, &ours.amax, changed, owned);
			if (katran) {
				if (build_table(katran, b, DIS_N + 1, DIS_M, kt2, &ns))
					goto fail;
				changed = changed_entries(b, kt, b, kt2, DIS_M, &b[DIS_N].id, &owned);
				add_ratio(&peer.asum, &peer.amax, changed, owned);
			}
		}
	}
	printf("\nDisruption, N=%u equal weights, M=%u: %d sets x %d changes each; "
	       "changed entries / entries of the backend removed or added\n",
	       DIS_N, DIS_M, sets, DIS_CHANGES);
	printf("  remove 1 of %u: mean %.3f  max %.3f\n", DIS_N, ours.rsum / n_ratios,
	       ours.rmax);
	printf("  add 1 to %u:    mean %.3f  max %.3f\n", DIS_N, ours.asum / n_ratios,
	       ours.amax);
	if (katran) {
		printf("  Katran MaglevHashV2, the same sets and changes:\n");
		printf("  remove 1 of %u: mean %.3f  max %.3f\n", DIS_N,
		       peer.rsum / n_ratios, peer.rmax);
		printf("  add 1 to %u:    mean %.3f  max %.3f\n", DIS_N,
		       peer.asum / n_ratios, peer.amax);
	}
	free(t);
	free(t2);
	free(kt);
	free(kt2);
	return 0;
fail:
	free(t);
	free(t2);
	free(kt);
	free(kt2);
	return -1;
}

/* ---- peer row: build time against Katran's MaglevHashV2 ------------------- */

#define PEER_M 65537u
#define PEER_N 1000u

/* What a table gave its backends: the largest |entries - M*w/W| (at most 1
 * when every backend owns floor or ceil of its share) and the largest over
 * the smallest entries per unit of weight (balance). */
struct shares {
	double worst_entries;
	double max_over_min;
};

static struct shares table_shares(const struct sy_maglev_backend *b, uint32_t n,
				  uint32_t m, const uint32_t *table)
{
	struct shares sh = { 0, 0 };
	uint32_t *cnt = calloc(n, sizeof(*cnt));
	double lo = 1e300, hi = 0;
	uint64_t wsum = 0;

	if (!cnt)
		return sh;
	for (uint32_t s = 0; s < m; s++)
		if (table[s] < n)
			cnt[table[s]]++;
	for (uint32_t i = 0; i < n; i++)
		wsum += b[i].weight;
	for (uint32_t i = 0; i < n; i++) {
		double e = cnt[i] - (double)m * b[i].weight / wsum;
		double per_unit = (double)cnt[i] / b[i].weight;

		e = e < 0 ? -e : e;
		sh.worst_entries = e > sh.worst_entries ? e : sh.worst_entries;
		lo = per_unit < lo ? per_unit : lo;
		hi = per_unit > hi ? per_unit : hi;
	}
	sh.max_over_min = hi / lo;
	free(cnt);
	return sh;
}

/* M=65537, N=1000, weights 1..5 and equal: ours and Katran's build in thread
 * CPU time, interleaved (the order alternates by round). */
static int bench_peer(sy_katran_maglev_fn katran, int rounds)
{
	static const char *const kind_name[2] = { "weights 1..5", "equal weights" };
	struct sy_maglev_backend *b = make_backends(PEER_N);
	uint32_t *ours_t = malloc(sizeof(uint32_t) * PEER_M);
	uint32_t *peer_t = malloc(sizeof(uint32_t) * PEER_M);
	double *v = malloc(sizeof(*v) * 4 * (size_t)rounds); /* [kind][builder][round] */
	struct shares sh[2][2]; /* [kind][builder], of the last round's tables */
	double ns;

	if (!b || !ours_t || !peer_t || !v) {
		fprintf(stderr, "out of memory\n");
		return -1;
	}
#define V(kind, who, r) v[((kind) * 2 + (who)) * rounds + (r)]
	printf("\nPeer: build CPU time (CLOCK_THREAD_CPUTIME_ID), Switchyard "
	       "sy_maglev_build vs Katran MaglevHashV2::generateHashRing,\n"
	       "M=%u, N=%u, the same backends; %d interleaved rounds (ours first "
	       "in odd rounds, Katran first in even), after one warm-up build "
	       "each; ms\n", PEER_M, PEER_N, rounds);
	printf("%-7s | %-28s | %-28s\n", "", kind_name[0], kind_name[1]);
	printf("%-7s | %8s %8s %10s | %8s %8s %10s\n", "round", "ours", "katran",
	       "ours/kat", "ours", "katran", "ours/kat");
	for (int r = -1; r < rounds; r++) {
		for (int kind = 0; kind < 2; kind++) {
			for (uint32_t i = 0; i < PEER_N; i++)
				b[i].weight = kind == 0 ? i % 5 + 1 : 1;
			for (int k = 0; k < 2; k++) {
				int who = (k + r + 2) % 2; /* 0: ours, 1: Katran */
				double *slot = r < 0 ? &ns : &V(kind, who, r);

				if (build_table(who ? katran : NULL, b, PEER_N, PEER_M,
						who ? peer_t : ours_t, slot))
					return -1;
			}
			sh[kind][0] = table_shares(b, PEER_N, PEER_M, ours_t);
			sh[kind][1] = table_shares(b, PEER_N, PEER_M, peer_t);
		}
		if (r < 0)
			continue;
		printf("%-7d | %8.3f %8.3f %10.3f | %8.3f %8.3f %10.3f\n", r + 1,
		       V(0, 0, r) / 1e6, V(0, 1, r) / 1e6, V(0, 0, r) / V(0, 1, r),
		       V(1, 0, r) / 1e6, V(1, 1, r) / 1e6, V(1, 0, r) / V(1, 1, r));
	}
	{
		double med[2][2], ratio[2], *per_round = malloc(sizeof(double) * (size_t)rounds);

		if (!per_round)
			return -1;
		for (int kind = 0; kind < 2; kind++) {
			for (int who = 0; who < 2; who++)
				med[kind][who] = sy_median(&V(kind, who, 0), rounds);
			for (int r = 0; r < rounds; r++)
				per_round[r] = V(kind, 0, r) / V(kind, 1, r);
			ratio[kind] = sy_median(per_round, rounds);
		}
		printf("%-7s | %8.3f %8.3f %10.3f | %8.3f %8.3f %10.3f   (ratio: median "
		       "of the rounds' ratios)\n", "median", med[0][0] / 1e6,
		       med[0][1] / 1e6, ratio[0], med[1][0] / 1e6, med[1][1] / 1e6,
		       ratio[1]);
		printf("ratio of the medians: weights 1..5 %.3f, equal weights %.3f\n",
		       med[0][0] / med[0][1], med[1][0] / med[1][1]);
		for (int kind = 0; kind < 2; kind++)
			printf("tables, %s: largest |entries - M*w/W| ours %.2f, katran "
			       "%.2f; max/min entries per unit of weight ours %.4f, "
			       "katran %.4f\n", kind_name[kind], sh[kind][0].worst_entries,
			       sh[kind][1].worst_entries, sh[kind][0].max_over_min,
			       sh[kind][1].max_over_min);
		for (int kind = 0; kind < 2; kind++)
			printf("SUMMARY peer=katran-maglev-v2 m=%u n=%u weights=%s rounds=%d "
			       "ours_ms=%.3f katran_ms=%.3f ratio=%.3f\n", PEER_M, PEER_N,
			       kind == 0 ? "1..5" : "equal", rounds, med[kind][0] / 1e6,
			       med[kind][1] / 1e6, ratio[kind]);
		free(per_round);
	}
#undef V
	free(v);
	free(peer_t);
	free(ours_t);
	free(b);
	return 0;
}

static void bench_lookup(uint32_t m, uint32_t n, int passes)
{
	struct sy_maglev_backend *b = make_backends(n);
	uint32_t *table = malloc(sizeof(*table) * m);
	double *pass_ns = malloc(sizeof(*pass_ns) * (size_t)passes);
	char err[128];

	if (!b || !table || !pass_ns) {
		fprintf(stderr, "out of memory\n");
		exit(1);
	}
	if (sy_maglev_build(b, n, m, table, err, sizeof(err))) {
		fprintf(stderr, "build M=%u N=%u: %s\n", m, n, err);
		exit(1);
	}
	for (int v6 = 0; v6 <= 1; v6++) {
		struct sy_flow_key *keys = make_flows(v6);
		uint64_t acc = 0;
		struct stats s;

		if (!keys) {
			fprintf(stderr, "out of memory\n");
			exit(1);
		}
		/* warm-up pass (page faults, caches) */
		for (uint32_t i = 0; i < NFLOWS; i++)
			acc += table[sy_flow_hash(&keys[i], FLOW_SEED) % m];
		for (int p = 0; p < passes; p++) {
			double t0 = now_ns();

			for (uint32_t i = 0; i < NFLOWS; i++)
				acc += table[sy_flow_hash(&keys[i], FLOW_SEED) % m];
			pass_ns[p] = now_ns() - t0;
		}
		sink += acc;
		s = summarize(pass_ns, (unsigned)passes);
		printf("%8u %6u  IPv%d %9u %6d  %8.1f  %8.1f  %8.1f   %7.2f  %7.2f\n",
		       m, n, v6 ? 6 : 4, NFLOWS, passes,
		       NFLOWS / s.median * 1e3, NFLOWS / s.max * 1e3,
		       NFLOWS / s.min * 1e3, s.median / NFLOWS, s.min / NFLOWS);
		free(keys);
	}
	free(pass_ns);
	free(table);
	free(b);
}

static int usage(const char *prog, int rc)
{
	fprintf(rc ? stderr : stdout,
		"usage: %s [--quick] [--katran DIR [--rounds R] [--peer-only | --prepare]]\n",
		prog);
	return rc;
}

int main(int argc, char **argv)
{
	static const uint32_t want_m[2] = { 65537, 655373 };
	static const uint32_t ns[4] = { 10, 100, 1000, 10000 };
	uint32_t m[2];
	int quick = 0, runs, passes, rounds = 9, peer_only = 0, prepare = 0;
	const char *katran_dir = NULL;
	sy_katran_maglev_fn katran = NULL;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0) {
			quick = 1;
		} else if (strcmp(argv[i], "--katran") == 0 && i + 1 < argc) {
			katran_dir = argv[++i];
		} else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
			char *end;
			long r = strtol(argv[++i], &end, 10);

			if (*end || r < 1 || r > 1000) {
				fprintf(stderr, "--rounds %s: expected 1..1000\n", argv[i]);
				return 2;
			}
			rounds = (int)r;
		} else if (strcmp(argv[i], "--peer-only") == 0) {
			peer_only = 1;
		} else if (strcmp(argv[i], "--prepare") == 0) {
			prepare = 1;
		} else {
			return usage(argv[0], strcmp(argv[i], "--help") == 0 ? 0 : 2);
		}
	}
	if ((peer_only || prepare) && !katran_dir) {
		fprintf(stderr, "--peer-only and --prepare need --katran DIR\n");
		return 2;
	}
	runs = quick ? 5 : 15;
	passes = quick ? 3 : 10;

	if (katran_dir) {
		katran = sy_katran_maglev_load(katran_dir);
		if (!katran)
			return 1;
		if (prepare)
			return 0;
		/* the state the ratios were measured in (perf/host_state.h) */
		sy_host_state_report(stdout, "start");
		if (bench_peer(katran, rounds))
			return 1;
		if (peer_only) {
			sy_host_state_report(stdout, "end");
			return 0;
		}
	} else {
		sy_host_state_report(stdout, "start");
	}

	for (int i = 0; i < 2; i++) {
		m[i] = usable_size(want_m[i]);
		if (m[i] == 0) {
			fprintf(stderr, "no usable table size near %u\n", want_m[i]);
			return 1;
		}
		if (m[i] != want_m[i])
			printf("note: M=%u is not an allowed size; using the nearest "
			       "prime %u instead\n", want_m[i], m[i]);
		else
			printf("M=%u: prime, allowed (sy_maglev_check_size)\n", m[i]);
	}

	for (int weighted = 0; weighted <= 1; weighted++)
		if (bench_build(m, ns, runs, weighted, quick))
			return 1;
	if (bench_disruption(quick ? 5 : 20, katran))
		return 1;

	printf("\nLookup: sy_flow_hash + table[h %% M] over %u distinct flows, "
	       "%d timed passes (after 1 warm-up)\n", NFLOWS, passes);
	printf("%8s %6s  %4s %9s %6s  %8s  %8s  %8s   %7s  %7s\n", "M", "N", "fam",
	       "flows", "passes", "Mflows/s", "(worst)", "(best)", "ns/lkp",
	       "ns(best)");
	bench_lookup(m[0], 100, passes);
	bench_lookup(m[1], 1000, passes);
	printf("\n(Mflows/s = million lookups per second on one core; median pass,"
	       " with the worst and best pass; ns/lkp = nanoseconds per lookup)\n");
	sy_host_state_report(stdout, "end");
	return 0;
}
