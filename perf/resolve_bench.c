/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Picks per second per thread of libswitchyard-resolve with a warm cache:
 * smooth weighted round-robin, consistent hash of a 5-tuple (Maglev, the
 * balancer's table), of a byte key, and least-outstanding (pick + done).
 * No assertion: it prints figures (perf/README.md).
 *
 *   build/perf/resolve_bench [--threads N] [--picks N] [--instances N]
 *                            [--kind rr|flow|key|least]
 *
 * --kind runs one picker only (for an instruction count per pick:
 * perf stat -e instructions, divided by the picks).
 *
 * Each thread makes N picks of each kind on one service of --instances
 * instances (weights 1..4), M = 65537; every figure is per thread.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <switchyard/resolve.h>

static sy_resolve_service *svc;
static long picks = 20000000;
static int only = -1; /* --kind */

enum kind { RR, FLOW, KEY, LEAST, KINDS };
static const char *const kind_flag[KINDS] = { "rr", "flow", "key", "least" };
static const char *const kind_name[KINDS] = { "round-robin", "hash 5-tuple", "hash key",
					      "least-outstanding" };

struct result {
	double rate[KINDS];
	unsigned long sink;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *run(void *arg)
{
	struct result *res = arg;
	struct sy_resolve_pick p;
	struct sy_resolve_flow f = { .dport = 443, .proto = 6 };

	f.src.family = f.dst.family = 4;
	f.src.bytes[0] = 198;
	f.src.bytes[1] = 18;
	f.dst.bytes[0] = 198;
	f.dst.bytes[1] = 19;
	for (int k = 0; k < KINDS; k++) {
		double t0 = now_s();

		if (only >= 0 && k != only)
			continue;

		for (long i = 0; i < picks; i++) {
			switch (k) {
			case RR:
				sy_resolve_pick_rr(svc, &p);
				break;
			case FLOW:
				f.sport = (uint16_t)i;
				f.src.bytes[3] = (uint8_t)(i >> 16);
				sy_resolve_pick_flow(svc, &f, &p);
				break;
			case KEY:
				sy_resolve_pick_key(svc, &i, sizeof(i), &p);
				break;
			default:
				sy_resolve_pick_least(svc, &p);
				sy_resolve_done(svc, &p, 1);
				break;
			}
			res->sink += p.instance.port;
		}
		res->rate[k] = (double)picks / (now_s() - t0);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int threads = 1, n = 16;
	struct sy_resolve_instance *set;
	struct sy_resolve_pick warm;
	struct result *res;
	pthread_t *t;
	sy_resolver *r;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--threads") && i + 1 < argc)
			threads = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--picks") && i + 1 < argc)
			picks = atol(argv[++i]);
		else if (!strcmp(argv[i], "--instances") && i + 1 < argc)
			n = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--kind") && i + 1 < argc) {
			only = -2;
			for (int k = 0; k < KINDS; k++)
				if (!strcmp(argv[i + 1], kind_flag[k]))
					only = k;
			i++;
		} else {
			only = -2;
		}
		if (only == -2) {
			fprintf(stderr, "usage: resolve_bench [--threads N] [--picks N] [--instances N] [--kind rr|flow|key|least]\n");
			return 2;
		}
	}
	if (threads < 1 || picks < 1 || n < 1 || n > 65535) {
		fprintf(stderr, "resolve_bench: bad arguments\n");
		return 2;
	}
	set = calloc((size_t)n, sizeof(*set));
	for (int i = 0; i < n; i++) {
		set[i].addr.family = 4;
		set[i].addr.bytes[0] = 198;
		set[i].addr.bytes[1] = 18;
		set[i].addr.bytes[2] = (uint8_t)(i >> 8);
		set[i].addr.bytes[3] = (uint8_t)i;
		set[i].port = 8080;
		set[i].weight = 1 + (uint32_t)(i % 4);
	}
	if (sy_resolve_create(NULL, &r) || sy_resolve_service_open(r, "bench", NULL, &svc) ||
	    sy_resolve_set_instances(svc, 1, set, (size_t)n) || sy_resolve_pick_rr(svc, &warm)) {
		fprintf(stderr, "resolve_bench: setup failed: %s\n", sy_resolve_errmsg(r));
		return 1;
	}
	res = calloc((size_t)threads, sizeof(*res));
	t = calloc((size_t)threads, sizeof(*t));
	for (int i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, run, &res[i]);
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	printf("resolve_bench: %d thread(s), %ld picks of each kind per thread, %d instances, M=65537\n",
	       threads, picks, n);
	for (int k = 0; k < KINDS; k++) {
		double sum = 0;

		if (only >= 0 && k != only)
			continue;
		for (int i = 0; i < threads; i++)
			sum += res[i].rate[k];
		printf("  %-18s %7.2f M picks/s per thread (mean of %d)\n", kind_name[k],
		       sum / threads / 1e6, threads);
	}
	sy_resolve_destroy(r);
	free(set);
	free(res);
	free(t);
	return 0;
}
