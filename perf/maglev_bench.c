/* SPDX-License-Identifier: BSD-3-Clause
 *
 * maglev_bench: Maglev table build time and flow lookup rate.
 *
 *   maglev_bench [--quick]
 *
 * 1. Build time of sy_maglev_build() for M in {65537, 655373} x N in
 *    {10, 100, 1000, 10000} backends, equal weights and then weights 1..5
 *    (the two fill paths): median, min and max over several runs (15; 5 with
 *    --quick), in milliseconds.
 * 2. Disruption at N=100, M=65537: random sets of 100 equal-weight backends
 *    (20; 5 with --quick), 5 removals and 5 additions of one backend each;
 *    entries whose owner changed / entries of the backend removed (or taken
 *    by the backend added): mean and max.
 * 3. Lookup rate: 1M distinct random flows, keys built up front; each lookup
 *    is sy_flow_hash() + table[h % M], as the dataplane does it. Several
 *    passes (10; 3 with --quick) over the keys, for IPv4 and IPv6 flows, for
 *    M=65537 N=100 and M=655373 N=1000. Reported as Mflows/s and ns/lookup.
 *
 * Timing uses clock_gettime(CLOCK_MONOTONIC). Not a test: numbers depend on
 * the host; nothing is asserted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <switchyard/flow_hash.h>
#include <switchyard/maglev.h>

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

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

struct stats {
	double median, min, max;
};

static struct stats summarize(double *v, unsigned n)
{
	struct stats s;

	qsort(v, n, sizeof(*v), cmp_double);
	s.min = v[0];
	s.max = v[n - 1];
	s.median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	return s;
}

/* Distinct identities by construction: even i is IPv4 10.x.y.z:80, odd i is
 * IPv6 2001:db8::i:443. Equal weights. */
static struct sy_maglev_backend *make_backends(uint32_t n)
{
	struct sy_maglev_backend *b = calloc(n, sizeof(*b));

	if (!b)
		return NULL;
	for (uint32_t i = 0; i < n; i++) {
		uint8_t a[16] = { 0 };

		if (i % 2 == 0) {
			b[i].id.family = SY_AF_INET;
			b[i].id.port = 80;
			a[0] = 10;
			a[1] = (uint8_t)(i >> 16);
			a[2] = (uint8_t)(i >> 8);
			a[3] = (uint8_t)i;
			memcpy(b[i].id.addr, a, 4);
		} else {
			b[i].id.family = SY_AF_INET6;
			b[i].id.port = 443;
			a[0] = 0x20;
			a[1] = 0x01;
			a[2] = 0x0d;
			a[3] = 0xb8;
			a[12] = (uint8_t)(i >> 24);
			a[13] = (uint8_t)(i >> 16);
			a[14] = (uint8_t)(i >> 8);
			a[15] = (uint8_t)i;
			memcpy(b[i].id.addr, a, 16);
		}
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

#define DIS_N 100u
#define DIS_M 65537u
#define DIS_CHANGES 5

/* Removing and adding one backend of DIS_N: changed / owned, mean and max. */
static int bench_disruption(int sets)
{
	struct sy_maglev_backend b[DIS_N + 1], b2[DIS_N + 1];
	uint32_t *t = malloc(sizeof(*t) * DIS_M), *t2 = malloc(sizeof(*t2) * DIS_M);
	double rsum = 0, rmax = 0, asum = 0, amax = 0;
	char err[128];

	if (!t || !t2) {
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
		if (sy_maglev_build(b, DIS_N, DIS_M, t, err, sizeof(err)))
			goto fail;
		for (int c = 0; c < DIS_CHANGES; c++) {
			uint32_t k = rng32() % DIS_N, owned, changed;
			double r;

			/* remove b[k]: owned is counted in the old table */
			memcpy(b2, b, sizeof(b[0]) * DIS_N);
			b2[k] = b2[DIS_N - 1];
			if (sy_maglev_build(b2, DIS_N - 1, DIS_M, t2, err, sizeof(err)))
				goto fail;
			changed = changed_entries(b2, t2, b, t, DIS_M, &b[k].id, &owned);
			r = (double)changed / owned;
			rsum += r;
			rmax = r > rmax ? r : rmax;
			/* add b[DIS_N], a fresh identity per change (the first
			 * one was drawn with the set) */
			while (c > 0) {
				b[DIS_N] = random_backend();
				if (sy_maglev_build(b, DIS_N + 1, DIS_M, t2, err, sizeof(err)) == 0)
					break;
			}
			if (c == 0 && sy_maglev_build(b, DIS_N + 1, DIS_M, t2, err, sizeof(err)))
				goto fail;
			changed = changed_entries(b, t, b, t2, DIS_M, &b[DIS_N].id, &owned);
			r = (double)changed / owned;
			asum += r;
			amax = r > amax ? r : amax;
		}
	}
	printf("\nDisruption, N=%u equal weights, M=%u: %d sets x %d changes each; "
	       "changed entries / entries of the backend removed or added\n",
	       DIS_N, DIS_M, sets, DIS_CHANGES);
	printf("  remove 1 of %u: mean %.3f  max %.3f\n", DIS_N,
	       rsum / (sets * DIS_CHANGES), rmax);
	printf("  add 1 to %u:    mean %.3f  max %.3f\n", DIS_N,
	       asum / (sets * DIS_CHANGES), amax);
	free(t);
	free(t2);
	return 0;
fail:
	fprintf(stderr, "disruption build: %s\n", err);
	free(t);
	free(t2);
	return -1;
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

int main(int argc, char **argv)
{
	static const uint32_t want_m[2] = { 65537, 655373 };
	static const uint32_t ns[4] = { 10, 100, 1000, 10000 };
	uint32_t m[2];
	int quick = 0, runs, passes;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0) {
			quick = 1;
		} else {
			fprintf(stderr, "usage: %s [--quick]\n", argv[0]);
			return strcmp(argv[i], "--help") == 0 ? 0 : 2;
		}
	}
	runs = quick ? 5 : 15;
	passes = quick ? 3 : 10;

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
	if (bench_disruption(quick ? 5 : 20))
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
	return 0;
}
