/* Random memory access cost by page kind: does this host give 2 MB pages
 * their TLB reach?
 *
 * The dataplane keeps its conntrack and mbufs in 2 MB pages (DPDK
 * hugepages) so that a random line at 1M flows costs a DRAM access and not
 * a page walk too. Under a hypervisor the translation the hardware caches is
 * the smaller of the guest's page and the host's backing of it: a guest's
 * 2 MB page backed by 4 KB host pages gets 4 KB TLB entries. This prints,
 * for tables of each size, the TSC cycles a random 64-byte line costs on
 * 4 KB pages (MADV_NOHUGEPAGE), transparent huge pages (MADV_HUGEPAGE) and
 * hugetlbfs pages (MAP_HUGETLB, as DPDK's), three ways:
 *   chase  one load at a time, each address from the one before (latency)
 *   batch  32 random lines prefetched in a row, then read (the staged
 *          burst's pattern: dataplane/lb.c stage 1 and 2)
 *   ahead  32 lines prefetched a batch ahead: the next batch's prefetches,
 *          then ~1,200 cycles of other work (as if the worker received its
 *          next burst in between), then this batch's reads; the work's own
 *          time (timed alone) taken out: what a line still costs when its
 *          prefetch had that long (a table that fits the cache gives the
 *          loop's own cost, a few cycles)
 * Rounds interleave the kinds; medians. On bare metal 2 MB pages read
 * clearly below 4 KB ones once a table passes the 4 KB TLB's reach (a few
 * MB); equal columns mean they do not help on this host (perf/README.md,
 * session 39).
 *
 * usage: page_latency_bench [--sizes "MB ..."] [--rounds R] [--steps N]
 * hugetlbfs needs free hugepages (/proc/sys/vm/nr_hugepages); without
 * them its column reads n/a.
 */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <x86intrin.h>

#include "host_state.h"

static const char *const kind_name[SY_MEM_KINDS] = { "4k", "thp", "hugetlb" };

#define MAX_ROUNDS 31
#define BATCH SY_MEM_BATCH
#define N_MODES 3 /* chase, batch, ahead */

/* ahead(): dependent ALU work between a batch's prefetches and its reads,
 * iterations a batch (~3 cycles each) */
#define AHEAD_WORK 400

static inline uint64_t other_work(uint64_t x)
{
	for (int i = 0; i < AHEAD_WORK; i++) {
		x = x * 3 + 1;
		__asm__ volatile("" : "+r"(x));
	}
	return x;
}

static double ahead(char *base, size_t size, long steps)
{
	size_t n = size / 64, off[2][BATCH];
	uint64_t sum = 0, x = 1, t0 = 0, t_work;
	int cur = 0;

	for (int i = 0; i < BATCH; i++)
		off[cur][i] = (sy_mem_rng() % n) * 64;
	for (long done = -(steps / 8 / BATCH) * BATCH; done < steps; done += BATCH) {
		int next = cur ^ 1;

		if (done >= 0 && !t0)
			t0 = __rdtsc();
		for (int i = 0; i < BATCH; i++) {
			off[next][i] = (sy_mem_rng() % n) * 64;
			__builtin_prefetch(base + off[next][i], 1);
		}
		x = other_work(x);
		for (int i = 0; i < BATCH; i++)
			sum += *(volatile uint64_t *)(base + off[cur][i] + 8);
		cur = next;
	}
	t0 = __rdtsc() - t0;
	t_work = __rdtsc();
	for (long done = 0; done < steps; done += BATCH)
		x = other_work(x);
	t_work = __rdtsc() - t_work;
	__asm__ volatile("" ::"r"(sum), "r"(x));
	return ((double)t0 - (double)t_work) / (double)steps;
}

static void usage(void)
{
	fprintf(stderr, "usage: page_latency_bench [--sizes \"MB ...\"] [--rounds R (1..%d)] [--steps N]\n",
		MAX_ROUNDS);
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "sizes", required_argument, NULL, 's' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "steps", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sizes = "4 16 128";
	long rounds = 5, steps = 2000000;
	char *end;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			sizes = optarg;
			break;
		case 'r':
			rounds = strtol(optarg, &end, 10);
			if (*end || rounds < 1 || rounds > MAX_ROUNDS)
				usage();
			break;
		case 'n':
			steps = strtol(optarg, &end, 10);
			if (*end || steps < 1000 || steps > 1000000000)
				usage();
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	for (const char *s = sizes; *s;) { /* every size valid before any runs */
		long mb = strtol(s, &end, 10);

		if (end == s || mb < 1 || mb > 65536) {
			fprintf(stderr, "page_latency_bench: bad size in --sizes (MB, 1..65536): \"%s\"\n", s);
			return 2;
		}
		s = end + strspn(end, " ,");
	}

	sy_host_state_report(stdout, "start"); /* the core's clock beside the lines */
	printf("TSC cycles per random 64-byte line; %ld rounds of %ld accesses, kinds interleaved, medians\n",
	       rounds, steps);
	printf("%8s  %-7s %9s %9s %9s   %9s %9s %9s   %9s %9s %9s\n", "MB", "", "chase 4k", "thp",
	       "hugetlb", "batch 4k", "thp", "hugetlb", "ahead 4k", "thp", "hugetlb");
	for (const char *s = sizes; *s;) {
		static const char *const mode_name[N_MODES] = { "chase", "batch", "ahead" };
		double v[N_MODES][SY_MEM_KINDS][MAX_ROUNDS], med[N_MODES][SY_MEM_KINDS];
		int have[SY_MEM_KINDS] = { 1, 1, 1 };
		long mb = strtol(s, &end, 10);
		size_t size;

		s = end + strspn(end, " ,");
		size = (size_t)mb << 20;
		for (long r = 0; r < rounds; r++) {
			for (int k = 0; k < SY_MEM_KINDS; k++) {
				char *t = have[k] ? sy_mem_table_alloc(size, k) : NULL;

				if (!t) {
					have[k] = 0;
					continue;
				}
				if (sy_mem_link_lines(t, size)) {
					perror("malloc");
					return 1;
				}
				v[0][k][r] = sy_mem_chase(t, steps);
				v[1][k][r] = sy_mem_batch(t, size, steps);
				v[2][k][r] = ahead(t, size, steps);
				munmap(t, size);
			}
		}
		for (int m = 0; m < N_MODES; m++)
			for (int k = 0; k < SY_MEM_KINDS; k++)
				med[m][k] = have[k] ? sy_mem_median(v[m][k], (int)rounds) : 0;
		printf("%8ld  %-7s", mb, "median");
		for (int m = 0; m < N_MODES; m++) {
			printf(m ? "   " : " ");
			for (int k = 0; k < SY_MEM_KINDS; k++)
				have[k] ? printf(" %9.1f", med[m][k]) : printf(" %9s", "n/a");
		}
		printf("\n");
		printf("SUMMARY mb=%ld", mb);
		for (int m = 0; m < N_MODES; m++)
			for (int k = 0; k < SY_MEM_KINDS; k++)
				if (have[k])
					printf(" %s_%s=%.1f", mode_name[m], kind_name[k], med[m][k]);
		printf("\n");
	}
	return 0;
}
