/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Reader cost per burst on the shared-table region: sy_reader_begin() is one
 * acquire load of the root, one load of its generation and one release store
 * of the quiescent report. Measured alone (the steady state of a dataplane
 * whose tables do not change) and while a writer process on the other core
 * publishes continuously (the root's cache line then moves between cores).
 * Prints ns and TSC cycles per call; median of several runs.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#include <switchyard/region_writer.h>

#define CALLS 20000000u
#define RUNS 7

static void pin(int cpu)
{
	cpu_set_t s;

	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	sched_setaffinity(0, sizeof(s), &s);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void publish(struct sy_writer *w, uint32_t n)
{
	struct sy_backend_spec b[8];
	struct sy_service_spec s = { .name = "bench", .fwd_mode = SY_FWD_IPIP,
				     .table_size = 251, .n_backends = n, .backends = b };
	char err[256];

	memset(b, 0, sizeof(b));
	for (uint32_t i = 0; i < 8; i++) {
		b[i].id.family = SY_AF_INET;
		b[i].id.addr[0] = 198u | 18u << 8 | i << 24;
		b[i].weight = 1;
	}
	s.vip.family = SY_AF_INET;
	s.vip.proto = 6;
	s.vip.addr[0] = 198u | 19u << 8 | 1u << 24;
	static unsigned refused;

	/* Refusals are back-pressure (a reader is offline between runs and
	 * slots wait for it); count them rather than print each. */
	if (sy_writer_set_service(w, &s, err, sizeof(err)) ||
	    sy_writer_commit(w, NULL, err, sizeof(err)))
		if (refused++ == 0)
			fprintf(stderr, "publish refused (further ones not shown): %s\n", err);
}

static void measure(const char *label, struct sy_reader *r)
{
	double ns[RUNS], cyc[RUNS];
	uint64_t sink = 0;

	for (int k = 0; k < RUNS; k++) {
		uint64_t t0 = now_ns(), c0 = __rdtsc();

		for (uint32_t i = 0; i < CALLS; i++) {
			const struct sy_snapshot *s = sy_reader_begin(r);

			sink += s->n_services; /* the burst would use the root */
		}
		cyc[k] = (double)(__rdtsc() - c0) / CALLS;
		ns[k] = (double)(now_ns() - t0) / CALLS;
	}
	printf("%-44s", label);
	for (int k = 0; k < RUNS; k++)
		printf(" %5.2f", ns[k]);
	qsort(ns, RUNS, sizeof(double), cmp_d);
	qsort(cyc, RUNS, sizeof(double), cmp_d);
	printf("  | median %.2f ns, %.1f TSC cycles%s\n", ns[RUNS / 2], cyc[RUNS / 2],
	       sink ? "" : " ");
}

int main(void)
{
	struct sy_region_limits lim = { .max_lcores = 4, .max_services = 16,
					.max_backends = 256, .heap_size = 16u << 20 };
	struct sy_region_map m;
	struct sy_writer *w;
	struct sy_reader r;
	char path[96], err[256];
	pid_t writer;

	snprintf(path, sizeof(path), "/dev/shm/sy-region-bench-%d", getpid());
	if (sy_writer_create(path, "bench", &lim, NULL, &w, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	publish(w, 4);
	if (sy_region_map_open(path, &m, err, sizeof(err)) ||
	    sy_reader_register(&m, 0, &r, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	pin(1);
	printf("sy_reader_begin() per burst, %u calls per run, %d runs (ns each run)\n", CALLS, RUNS);
	measure("no writer activity:", &r);

	writer = fork();
	if (writer == 0) {
		pin(0);
		for (uint32_t i = 0; i < 200000000u; i++) /* bounded; killed below */
			publish(w, 1 + i % 8);
		_exit(0);
	}
	measure("writer publishing continuously (core 0):", &r);
	kill(writer, SIGTERM);
	waitpid(writer, NULL, 0);
	sy_reader_unregister(&r);
	sy_region_map_close(&m);
	sy_writer_close(w);
	unlink(path);
	return 0;
}
