/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The host's state beside a benchmark's figures. This machine kind changes
 * state for an hour at a time: in some states memory-bound code runs ~35%
 * slower, the bare-I/O baseline hardly (perf/README.md, "Reading a run:
 * the host line"). A figure is only comparable with another taken in the
 * same state, so every issue-13 bench prints, at its start and end
 * (page_latency_bench at its start; lb_process_bench at its start and
 * after every row; xdp_bench and bench_dataplane.sh also before each
 * round):
 *   core_ghz        the core's clock: a chain of dependent adds (one a core
 *                   cycle) timed against the TSC, whose rate is fixed
 *   adds_per_cycle  eight independent chains of adds: what of the core's
 *                   width this thread gets (less when another thread
 *                   shares the core: SMT on the host)
 *   chase512k       TSC cycles a random line of a 512 KB table, one load at
 *                   a time: the core's own L2 (a Maglev fill's working set)
 *   chase4mb        the same in 4 MB: the L3 shared with other cores (and
 *                   on a VM, maybe with other guests)
 *   batch128mb      TSC cycles a random line of a 128 MB table, 32 lines
 *                   prefetched in a row then read (the staged burst's
 *                   pattern at 1M flows: DRAM with its misses overlapped)
 * and the memory primitives page_latency_bench measures by page kind.
 */
#ifndef SY_PERF_HOST_STATE_H
#define SY_PERF_HOST_STATE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Lines a batch prefetches before it reads them (as the staged burst). */
#define SY_MEM_BATCH 32

enum sy_mem_kind { SY_MEM_4K, SY_MEM_THP, SY_MEM_HUGETLB, SY_MEM_KINDS };

/* A random number (xorshift64; a fixed sequence from the start). */
uint64_t sy_mem_rng(void);
/* size bytes of touched memory on pages of kind; NULL if there are none
 * (hugetlb without free hugepages). Free with munmap(). */
char *sy_mem_table_alloc(size_t size, enum sy_mem_kind kind);
/* One cycle through every 64-byte line of base in a random order, each
 * line's first word pointing at the next; -1 if out of memory. */
int sy_mem_link_lines(char *base, size_t size);
/* TSC cycles a line, following the cycle made by sy_mem_link_lines(). */
double sy_mem_chase(char *base, long steps);
/* TSC cycles a line, random lines read SY_MEM_BATCH at a time after their
 * prefetches. */
double sy_mem_batch(char *base, size_t size, long steps);
/* The median of v[0..n-1] (n >= 1; sorts v). */
double sy_mem_median(double *v, int n);
/* The same of a copy (v unchanged; NAN if out of memory): every bench's
 * medians. */
double sy_median(const double *v, int n);

struct sy_host_state {
	double tsc_ghz;         /* the TSC's rate against CLOCK_MONOTONIC */
	double tsc_per_core;    /* TSC cycles a core cycle */
	double core_ghz;        /* tsc_ghz / tsc_per_core */
	double adds_per_cycle;  /* independent adds a core cycle: the core's width */
	double chase512k;       /* TSC cycles a line (medians of the rounds) */
	double chase4mb;
	double batch128mb;
};

/* This machine kind's quiet state (AMD EPYC family 26 guests, measured in
 * session 48): the core's whole width to this thread (4.2-4.5 adds a
 * cycle; 2.5-3.9 while another thread shares the core) and the L3 its own
 * (a 4 MB chase of 39-80 TSC cycles; 130-312 while others hold it). On
 * other hardware the thresholds mean nothing: read the values. */
#define SY_HOST_QUIET_ADDS 4.2
#define SY_HOST_QUIET_CHASE4MB 100.0

static inline int sy_host_state_quiet(const struct sy_host_state *h)
{
	return h->adds_per_cycle >= SY_HOST_QUIET_ADDS && h->chase4mb > 0 &&
	       h->chase4mb < SY_HOST_QUIET_CHASE4MB;
}

/* Measure on the calling thread's CPU (about 0.2 s a round); medians of
 * rounds (1..9). -1 if out of memory. */
int sy_host_state_measure(struct sy_host_state *h, int rounds);
/* Two lines: one to read, and `HOST when=... key=value ... state=quiet|shared`
 * to parse. */
void sy_host_state_print(FILE *f, const char *when, const struct sy_host_state *h);
/* Measure (3 rounds) and print; a line saying why not if it cannot. */
void sy_host_state_report(FILE *f, const char *when);

#endif
