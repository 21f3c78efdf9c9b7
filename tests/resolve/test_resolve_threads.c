/* SPDX-License-Identifier: BSD-3-Clause
 *
 * 100 threads x 100,000 picks (round-robin, least-outstanding, flow and
 * key hashing, mark_failed) while another thread replaces the service's
 * set as fast as it can. Every pick must name an instance of the revision
 * it reports, and that revision must be at least the one published before
 * the pick began (a pick never answers from a set that was already
 * replaced when it started). No crash, and clean under ASan (build-asan)
 * and TSan (a -Db_sanitize=thread tree).
 *
 * Usage: test_resolve_threads [THREADS [PICKS]] (defaults 100, 100000).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <switchyard/resolve.h>

#define MAX_SET 12

static sy_resolve_service *svc;
static _Atomic uint64_t published; /* last revision whose update returned */
static _Atomic int readers_left;
static _Atomic long bad_member, bad_revision, errors, picks_done;
static long picks_per_thread = 100000;

/* The set of revision rev (a pure function: readers check membership). */
static uint32_t set_of(uint64_t rev, struct sy_resolve_instance *out)
{
	uint32_t n = 2 + (uint32_t)(rev % (MAX_SET - 1));

	for (uint32_t j = 0; j < n; j++) {
		memset(&out[j], 0, sizeof(out[j]));
		out[j].addr.family = 4;
		out[j].addr.bytes[0] = 198;
		out[j].addr.bytes[1] = 18;
		out[j].addr.bytes[2] = (uint8_t)(rev % 5);
		out[j].addr.bytes[3] = (uint8_t)(1 + j);
		out[j].port = (uint16_t)(8000 + rev % 3);
		out[j].weight = 1 + (uint32_t)((rev + j) % 4);
	}
	return n;
}

static bool member(uint64_t rev, const struct sy_resolve_instance *x)
{
	struct sy_resolve_instance set[MAX_SET];
	uint32_t n = set_of(rev, set);

	for (uint32_t j = 0; j < n; j++)
		if (set[j].port == x->port && !memcmp(set[j].addr.bytes, x->addr.bytes, 4) &&
		    set[j].weight == x->weight)
			return true;
	return false;
}

static void *reader(void *arg)
{
	uintptr_t id = (uintptr_t)arg;

	for (long k = 0; k < picks_per_thread; k++) {
		uint64_t before = atomic_load(&published);
		struct sy_resolve_pick p;
		int rc;

		switch ((k + id) % 5) {
		case 0:
		case 1:
			rc = sy_resolve_pick_rr(svc, &p);
			break;
		case 2: {
			struct sy_resolve_flow f = { .sport = (uint16_t)(1024 + k % 50000),
						     .dport = 443, .proto = 6 };

			f.src.family = f.dst.family = 4;
			memcpy(f.src.bytes, &k, 4);
			f.dst.bytes[0] = 198;
			f.dst.bytes[1] = 19;
			rc = sy_resolve_pick_flow(svc, &f, &p);
			break;
		}
		case 3:
			rc = sy_resolve_pick_least(svc, &p);
			break;
		default:
			rc = sy_resolve_pick_key(svc, &k, sizeof(k), &p);
			break;
		}
		if (rc) {
			atomic_fetch_add(&errors, 1);
			continue;
		}
		if (!member(p.revision, &p.instance))
			atomic_fetch_add(&bad_member, 1);
		if (p.revision < before)
			atomic_fetch_add(&bad_revision, 1);
		if (p.ticket)
			sy_resolve_done(svc, &p, k % 1000 != 0);
		else if (k % 5000 == 0)
			sy_resolve_mark_failed(svc, &p.instance); /* may have left: ENOENT is fine */
	}
	atomic_fetch_add(&picks_done, picks_per_thread);
	atomic_fetch_sub(&readers_left, 1);
	return NULL;
}

int main(int argc, char **argv)
{
	int threads = argc > 1 ? atoi(argv[1]) : 100;
	struct sy_resolve_service_opts opts = { .table_size = 1021, .hash_seed = 7 };
	struct sy_resolve_instance set[MAX_SET];
	struct sy_resolve_config cfg;
	sy_resolver *r;
	pthread_t *t;
	uint64_t rev = 1;
	int fails = 0;

	if (argc > 2)
		picks_per_thread = atol(argv[2]);
	if (threads < 1 || picks_per_thread < 1) {
		fprintf(stderr, "usage: test_resolve_threads [THREADS [PICKS]]\n");
		return 2;
	}
	sy_resolve_config_default(&cfg);
	cfg.panic_threshold = 0; /* every update is published as given */
	if (sy_resolve_create(&cfg, &r) || sy_resolve_service_open(r, "web", &opts, &svc)) {
		fprintf(stderr, "cannot create the resolver\n");
		return 1;
	}
	if (sy_resolve_set_instances(svc, rev, set, set_of(rev, set))) {
		fprintf(stderr, "first update: %s\n", sy_resolve_errmsg(r));
		return 1;
	}
	atomic_store(&published, rev);
	t = calloc((size_t)threads, sizeof(*t));
	atomic_store(&readers_left, threads);
	for (int i = 0; i < threads; i++)
		if (pthread_create(&t[i], NULL, reader, (void *)(uintptr_t)i)) {
			fprintf(stderr, "pthread_create failed at thread %d\n", i);
			return 1;
		}
	/* the writer: a new set per revision while readers run */
	while (atomic_load(&readers_left) > 0) {
		rev++;
		if (sy_resolve_set_instances(svc, rev, set, set_of(rev, set))) {
			fprintf(stderr, "update %llu: %s\n", (unsigned long long)rev,
				sy_resolve_errmsg(r));
			fails++;
			break;
		}
		atomic_store(&published, rev);
	}
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	free(t);
	printf("%d threads, %ld picks, %llu updates: %ld errors, %ld picks of an instance "
	       "not in their revision, %ld picks of a revision replaced before they began\n",
	       threads, atomic_load(&picks_done), (unsigned long long)rev, atomic_load(&errors),
	       atomic_load(&bad_member), atomic_load(&bad_revision));
	sy_resolve_destroy(r);
	if (fails || atomic_load(&errors) || atomic_load(&bad_member) ||
	    atomic_load(&bad_revision) || rev < 10) {
		printf("FAIL\n");
		return 1;
	}
	printf("PASS\n");
	return 0;
}
