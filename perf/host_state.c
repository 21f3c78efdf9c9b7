/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The host's state beside a benchmark's figures (host_state.h).
 */
#include "host_state.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <x86intrin.h>

#define MAX_ROUNDS 9

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

uint64_t sy_mem_rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

char *sy_mem_table_alloc(size_t size, enum sy_mem_kind kind)
{
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | (kind == SY_MEM_HUGETLB ? MAP_HUGETLB : 0);
	char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, flags, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	if (kind != SY_MEM_HUGETLB)
		madvise(p, size, kind == SY_MEM_THP ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	memset(p, 1, size);
	return p;
}

int sy_mem_link_lines(char *base, size_t size)
{
	size_t n = size / 64, *order = malloc(n * sizeof(*order));

	if (!order)
		return -1;
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	for (size_t i = n - 1; i > 0; i--) { /* Fisher-Yates: a random cycle */
		size_t j = sy_mem_rng() % (i + 1), t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	for (size_t i = 0; i < n; i++)
		*(void **)(base + order[i] * 64) = base + order[(i + 1) % n] * 64;
	free(order);
	return 0;
}

double sy_mem_chase(char *base, long steps)
{
	void *p = base;
	uint64_t t0;

	for (long i = 0; i < steps / 8; i++) /* warm what can be warm */
		p = *(void **)p;
	t0 = __rdtsc();
	for (long i = 0; i < steps; i++)
		p = *(void **)p;
	t0 = __rdtsc() - t0;
	__asm__ volatile("" ::"r"(p));
	return (double)t0 / (double)steps;
}

double sy_mem_batch(char *base, size_t size, long steps)
{
	size_t n = size / 64, off[SY_MEM_BATCH];
	uint64_t sum = 0, t0 = 0;

	for (long done = -(steps / 8 / SY_MEM_BATCH) * SY_MEM_BATCH; done < steps;
	     done += SY_MEM_BATCH) {
		if (done >= 0 && !t0)
			t0 = __rdtsc();
		for (int i = 0; i < SY_MEM_BATCH; i++) {
			off[i] = (sy_mem_rng() % n) * 64;
			__builtin_prefetch(base + off[i], 1);
		}
		for (int i = 0; i < SY_MEM_BATCH; i++)
			sum += *(volatile uint64_t *)(base + off[i] + 8);
	}
	t0 = __rdtsc() - t0;
	__asm__ volatile("" ::"r"(sum));
	return (double)t0 / (double)steps;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Core cycles are not counted on a VM without a PMU; a chain of dependent
 * adds is one add a core cycle on any x86 core (the loop's own counter runs
 * beside it on another ALU). Returns TSC cycles a core cycle and the TSC's
 * rate from the same stretch of time. */
#define CHAIN_ITERS 25000000L /* 4 adds each: ~30 ms at 3.4 GHz */

static double core_clock(double *tsc_ghz)
{
	uint64_t x = 0, t0, t1;
	double s0, s1;

	s0 = now_s();
	t0 = __rdtsc();
	for (long i = 0; i < CHAIN_ITERS; i++)
		__asm__ volatile("add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0"
				 : "+r"(x));
	t1 = __rdtsc();
	s1 = now_s();
	*tsc_ghz = (double)(t1 - t0) / (s1 - s0) * 1e-9;
	return (double)(t1 - t0) / (4.0 * CHAIN_ITERS);
}

/* The core's width left to this thread: eight independent chains of adds,
 * as many a cycle as the core's ALUs give one thread (fewer when another
 * thread shares the core, SMT), in TSC cycles an add. */
static double core_width(void)
{
	uint64_t a = 0, b = 0, c = 0, d = 0, e = 0, f = 0, g = 0, h = 0, t0;

	t0 = __rdtsc();
	for (long i = 0; i < CHAIN_ITERS / 2; i++)
		__asm__ volatile("add $1, %0\n\tadd $1, %1\n\tadd $1, %2\n\tadd $1, %3\n\t"
				 "add $1, %4\n\tadd $1, %5\n\tadd $1, %6\n\tadd $1, %7"
				 : "+r"(a), "+r"(b), "+r"(c), "+r"(d), "+r"(e), "+r"(f), "+r"(g),
				   "+r"(h));
	return (double)(__rdtsc() - t0) / (8.0 * (CHAIN_ITERS / 2));
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double sy_mem_median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double sy_median(const double *v, int n)
{
	double *s = malloc(sizeof(*s) * (size_t)n), m;

	if (!s)
		return NAN;
	memcpy(s, v, sizeof(*s) * (size_t)n);
	m = sy_mem_median(s, n);
	free(s);
	return m;
}

#define L2_SIZE (512ul << 10)
#define CHASE_SIZE (4ul << 20)
#define BATCH_SIZE (128ul << 20)
#define MEM_STEPS 1000000L

int sy_host_state_measure(struct sy_host_state *h, int rounds)
{
	double tsc[MAX_ROUNDS], ratio[MAX_ROUNDS], width[MAX_ROUNDS], l2[MAX_ROUNDS], chase[MAX_ROUNDS],
		batch[MAX_ROUNDS];
	char *tiny = sy_mem_table_alloc(L2_SIZE, SY_MEM_4K);
	char *small = sy_mem_table_alloc(CHASE_SIZE, SY_MEM_4K);
	char *big = sy_mem_table_alloc(BATCH_SIZE, SY_MEM_4K);
	int rc = -1;

	if (rounds < 1)
		rounds = 1;
	if (rounds > MAX_ROUNDS)
		rounds = MAX_ROUNDS;
	if (!tiny || !small || !big || sy_mem_link_lines(tiny, L2_SIZE) ||
	    sy_mem_link_lines(small, CHASE_SIZE))
		goto out;
	for (int r = 0; r < rounds; r++) {
		ratio[r] = core_clock(&tsc[r]);
		width[r] = ratio[r] / core_width();
		l2[r] = sy_mem_chase(tiny, MEM_STEPS);
		chase[r] = sy_mem_chase(small, MEM_STEPS);
		batch[r] = sy_mem_batch(big, BATCH_SIZE, MEM_STEPS);
	}
	h->tsc_ghz = sy_mem_median(tsc, rounds);
	h->tsc_per_core = sy_mem_median(ratio, rounds);
	h->core_ghz = h->tsc_ghz / h->tsc_per_core;
	h->adds_per_cycle = sy_mem_median(width, rounds);
	h->chase512k = sy_mem_median(l2, rounds);
	h->chase4mb = sy_mem_median(chase, rounds);
	h->batch128mb = sy_mem_median(batch, rounds);
	rc = 0;
out:
	if (tiny)
		munmap(tiny, L2_SIZE);
	if (small)
		munmap(small, CHASE_SIZE);
	if (big)
		munmap(big, BATCH_SIZE);
	return rc;
}

void sy_host_state_print(FILE *f, const char *when, const struct sy_host_state *h)
{
	fprintf(f, "host (%s): core %.2f GHz (TSC %.2f GHz, %.3f TSC cycles a core cycle), "
		   "%.2f independent adds a core cycle; TSC cycles a random line: chased in "
		   "512 KB %.1f, in 4 MB %.1f; 128 MB in batches of %d %.1f: %s\n",
		when, h->core_ghz, h->tsc_ghz, h->tsc_per_core, h->adds_per_cycle, h->chase512k,
		h->chase4mb, SY_MEM_BATCH, h->batch128mb,
		sy_host_state_quiet(h) ? "quiet" : "shared (the core or the L3; see perf/README.md)");
	fprintf(f, "HOST when=%s core_ghz=%.3f tsc_ghz=%.3f tsc_per_core=%.3f adds_per_cycle=%.2f "
		   "chase512k=%.1f chase4mb=%.1f batch128mb=%.1f state=%s\n",
		when, h->core_ghz, h->tsc_ghz, h->tsc_per_core, h->adds_per_cycle, h->chase512k,
		h->chase4mb, h->batch128mb, sy_host_state_quiet(h) ? "quiet" : "shared");
	fflush(f);
}

void sy_host_state_report(FILE *f, const char *when)
{
	struct sy_host_state h;

	if (sy_host_state_measure(&h, 3)) {
		fprintf(f, "host (%s): not measured (out of memory for its tables)\n", when);
		return;
	}
	sy_host_state_print(f, when, &h);
}
