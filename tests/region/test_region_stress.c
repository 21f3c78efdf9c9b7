/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Stress test of the shared-table region: one writer publishes thousands of
 * updates (services and backends added, removed, reweighted) while reader
 * processes pinned to each core check, burst after burst, that
 *   - every snapshot they see is intact (checksums of root and services),
 *     complete (every table entry names a backend of its service) and one the
 *     writer published (its generation and checksum are in the writer's log);
 *   - generations never go backwards;
 *   - memory they hold is not reused while they hold it (they re-verify the
 *     objects after holding them; the writer poisons freed memory).
 * Readers also go offline and online now and then.
 *
 *   test_region_stress               expect no violation (exit 0 if none)
 *   test_region_stress --eager       negative control: the writer reclaims
 *                                    without waiting for readers; exit 0 only
 *                                    if the readers caught it
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <switchyard/region_writer.h>

#define N_READERS 2
#define MAX_GENS 40000
#define COMMITS 20000
#define MAX_SECONDS 60
#define MAX_SVCS 24

struct reader_result {
	uint64_t bursts, checks, gens_seen, violations, crashes;
	char first_violation[256];
};

/* Shared between the writer (parent) and readers (children). */
struct shared {
	volatile int stop;
	volatile int ready[N_READERS];
	uint64_t published_sum[MAX_GENS]; /* root checksum by generation */
	struct reader_result res[N_READERS];
	/* generations each reader saw, with the checksum it saw */
	uint64_t seen_sum[N_READERS][MAX_GENS];
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* ---- Reader --------------------------------------------------------------- */

static int off_ok(const struct sy_region_map *m, uint64_t off, uint64_t size)
{
	return off >= m->hdr->heap_off && size <= m->size && off + size <= m->size;
}

#define VIOLATION(r, ...)                                                     \
	do {                                                                  \
		if (!(r)->violations++)                                       \
			snprintf((r)->first_violation,                        \
				 sizeof((r)->first_violation), __VA_ARGS__);  \
		return -1;                                                    \
	} while (0)

/* Validate a service object without trusting any offset in it. */
static int check_service(const struct sy_region_map *m, const struct sy_service *s,
			 struct reader_result *r)
{
	uint64_t off = (uint64_t)((const uint8_t *)s - m->base);
	const struct sy_backend *b;
	const uint32_t *t;
	uint32_t live = 0;

	if (s->magic != SY_SERVICE_MAGIC || !off_ok(m, off, s->object_size))
		VIOLATION(r, "service at %llu: bad magic or size", (unsigned long long)off);
	if (!sy_service_intact(s))
		VIOLATION(r, "service %.64s: checksum mismatch", s->name);
	b = sy_service_backends(m->base, s);
	t = sy_service_table(m->base, s);
	for (uint32_t i = 0; i < s->n_backends; i++)
		live += b[i].weight > 0;
	for (uint32_t i = 0; i < s->table_size; i++) {
		if (live ? t[i] >= s->n_backends || b[t[i]].weight == 0
			 : t[i] != SY_MAGLEV_NONE)
			VIOLATION(r, "service %.64s: entry %u = %u (n=%u live=%u)", s->name,
				  i, t[i], s->n_backends, live);
	}
	for (uint32_t i = 0; i < s->n_backends; i++)
		if (sy_service_find_uid(m->base, s, b[i].uid) != i)
			VIOLATION(r, "service %.64s: uid index broken", s->name);
	return 0;
}

static int check_snapshot(const struct sy_region_map *m, const struct sy_snapshot *snap,
			  struct reader_result *r, const struct sy_service **held,
			  uint32_t *n_held, uint64_t *rng)
{
	uint64_t off = (uint64_t)((const uint8_t *)snap - m->base);

	if (snap->magic != SY_SNAPSHOT_MAGIC || !off_ok(m, off, snap->object_size) ||
	    !sy_snapshot_intact(snap))
		VIOLATION(r, "root at %llu: not intact", (unsigned long long)off);
	*n_held = 0;
	for (uint32_t k = 0; k < 3 && snap->n_services; k++) {
		uint32_t i = (uint32_t)(rng_next(rng) % snap->n_services);
		const uint64_t *offs = (const uint64_t *)(m->base + snap->services_off);
		const struct sy_service *s, *found;
		struct sy_vip_key key;

		if (!off_ok(m, offs[i], sizeof(struct sy_service)))
			VIOLATION(r, "root gen %llu: service offset out of range",
				  (unsigned long long)snap->generation);
		s = (const struct sy_service *)(m->base + offs[i]);
		if (check_service(m, s, r))
			return -1;
		key = s->vip;
		found = sy_snapshot_find_vip(m->base, snap, &key);
		if (found != s)
			VIOLATION(r, "VIP of %.64s does not find it", s->name);
		held[(*n_held)++] = s;
	}
	return 0;
}

static void reader_main(struct shared *sh, const char *path, int idx)
{
	struct reader_result *r = &sh->res[idx];
	const struct sy_service *held[3];
	struct sy_region_map m;
	struct sy_reader rd;
	uint64_t last_gen = 0, rng = 0x9e3779b97f4a7c15ull * (idx + 1);
	uint32_t n_held;
	cpu_set_t cpus;
	char err[200];

	/* never outlive the writer, whatever kills it */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)
		_exit(1);
	CPU_ZERO(&cpus);
	CPU_SET(idx % 2, &cpus);
	sched_setaffinity(0, sizeof(cpus), &cpus);
	if (sy_region_map_open(path, &m, err, sizeof(err)) ||
	    sy_reader_register(&m, (uint32_t)idx, &rd, err, sizeof(err))) {
		snprintf(r->first_violation, sizeof(r->first_violation), "setup: %s", err);
		r->violations++;
		_exit(1);
	}
	sh->ready[idx] = 1;
	while (!sh->stop) {
		const struct sy_snapshot *snap = sy_reader_begin(&rd);

		r->bursts++;
		if (r->bursts % 4096 == 0) {
			/* An idle lcore goes offline: it must not hold reclamation,
			 * and must see a current root when it comes back. */
			sy_reader_offline(&rd);
			usleep(50);
			sy_reader_online(&rd);
			continue;
		}
		if (!snap)
			continue;
		if (snap->generation < last_gen) {
			r->violations++;
			snprintf(r->first_violation, sizeof(r->first_violation),
				 "generation went back from %llu to %llu",
				 (unsigned long long)last_gen,
				 (unsigned long long)snap->generation);
			continue;
		}
		if (check_snapshot(&m, snap, r, held, &n_held, &rng))
			continue;
		if (snap->generation < MAX_GENS && snap->generation != last_gen) {
			sh->seen_sum[idx][snap->generation] = snap->checksum;
			r->gens_seen++;
		}
		last_gen = snap->generation;
		/* Hold the objects for a while, as a burst would, then check that
		 * nobody reused them meanwhile. */
		for (volatile uint32_t spin = rng_next(&rng) % 20000; spin; spin--)
			;
		for (uint32_t i = 0; i < n_held; i++)
			if (check_service(&m, held[i], r))
				break;
		if (!sy_snapshot_intact(snap)) {
			r->violations++;
			snprintf(r->first_violation, sizeof(r->first_violation),
				 "root gen %llu changed while held",
				 (unsigned long long)last_gen);
		}
		r->checks++;
	}
	sy_reader_unregister(&rd);
	sy_region_map_close(&m);
	_exit(0);
}

/* ---- Writer ----------------------------------------------------------------- */

struct model_svc {
	int present;
	uint32_t m;
	uint32_t n;
	struct sy_backend_spec be[64];
};

static void random_backend(struct sy_backend_spec *b, uint64_t *rng)
{
	memset(b, 0, sizeof(*b));
	b->id.family = SY_AF_INET;
	/* 198.18.0.0/15 test range, wire order */
	b->id.addr[0] = 198u | 18u << 8 | (uint32_t)(rng_next(rng) % 256) << 16 |
			(uint32_t)(rng_next(rng) % 256) << 24;
	b->id.port = (uint16_t)(8000 + rng_next(rng) % 8);
	b->weight = (uint32_t)(rng_next(rng) % 4); /* some draining */
}

static void spec_of(struct sy_service_spec *sp, int i, const struct model_svc *ms)
{
	memset(sp, 0, sizeof(*sp));
	snprintf(sp->name, sizeof(sp->name), "svc-%02d", i);
	sp->vip.family = SY_AF_INET;
	sp->vip.addr[0] = 198u | 19u << 8 | 1u << 16 | (uint32_t)i << 24;
	sp->vip.port = (uint16_t)((80 >> 8) | (80 & 0xff) << 8);
	sp->vip.proto = 6;
	sp->fwd_mode = SY_FWD_IPIP;
	sp->hash_seed = 42;
	sp->table_size = ms->m;
	sp->n_backends = ms->n;
	sp->backends = ms->be;
}

static void mutate(struct model_svc *ms, uint64_t *rng)
{
	uint32_t op = (uint32_t)(rng_next(rng) % 4);

	if (op == 0 && ms->n < 64) { /* add a backend (maybe a duplicate: retry) */
		struct sy_backend_spec b;
		int dup;

		do {
			random_backend(&b, rng);
			dup = 0;
			for (uint32_t i = 0; i < ms->n; i++)
				dup |= !sy_backend_id_cmp(&ms->be[i].id, &b.id);
		} while (dup);
		ms->be[ms->n++] = b;
	} else if (op == 1 && ms->n) { /* remove one */
		uint32_t victim = (uint32_t)(rng_next(rng) % ms->n);

		ms->n--;
		ms->be[victim] = ms->be[ms->n];
	} else if (ms->n) { /* reweight, drain */
		ms->be[rng_next(rng) % ms->n].weight = (uint32_t)(rng_next(rng) % 4);
	}
}

/* What a commit published, for the readers' "was it ever published" check. */
static void record_published(struct shared *sh, struct sy_writer *w,
			     const struct sy_commit_stats *cs)
{
	const struct sy_snapshot *snap = sy_writer_snapshot(w);

	if (cs->generation < MAX_GENS && snap)
		sh->published_sum[cs->generation] = snap->checksum;
}

int main(int argc, char **argv)
{
	const uint32_t sizes[] = { 251, 1021, 4099 };
	struct sy_region_limits lim = { .max_lcores = 4, .max_services = 64,
					.max_backends = 8192, .heap_size = 64u << 20 };
	int eager = argc > 1 && strcmp(argv[1], "--eager") == 0;
	struct sy_writer_opts opts = { .poison_on_free = 1, .unsafe_eager_reclaim = eager };
	static struct model_svc model[MAX_SVCS];
	uint64_t rng = 12345, t0, violations = 0, crashes = 0, not_published = 0;
	uint32_t commits = 0, failed_commits = 0;
	struct sy_writer *w;
	struct shared *sh;
	pid_t pids[N_READERS];
	char path[128], err[256];

	snprintf(path, sizeof(path), "/dev/shm/sy-region-stress-%d", getpid());
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED || sy_writer_create(path, "stress", &lim, &opts, &w, err, sizeof(err))) {
		fprintf(stderr, "setup failed: %s\n", sh == MAP_FAILED ? strerror(errno) : err);
		return 1;
	}
	for (int i = 0; i < N_READERS; i++) {
		pids[i] = fork();
		if (pids[i] == 0)
			reader_main(sh, path, i);
	}
	for (int i = 0; i < N_READERS; i++)
		while (!sh->ready[i] && !sh->res[i].violations)
			usleep(1000);

	t0 = now_ns();
	while (commits < COMMITS && now_ns() - t0 < MAX_SECONDS * 1000000000ull) {
		uint32_t changes = 1 + (uint32_t)(rng_next(&rng) % 3);
		struct sy_commit_stats cs;

		for (uint32_t c = 0; c < changes; c++) {
			int i = (int)(rng_next(&rng) % MAX_SVCS);
			struct model_svc *ms = &model[i];
			struct sy_service_spec sp;

			if (!ms->present || rng_next(&rng) % 50 == 0) {
				if (ms->present) { /* remove the service */
					snprintf(sp.name, sizeof(sp.name), "svc-%02d", i);
					if (sy_writer_remove_service(w, sp.name, err, sizeof(err)) == 0)
						ms->present = 0;
					continue;
				}
				ms->present = 1;
				ms->m = sizes[rng_next(&rng) % 3];
				ms->n = 0;
			}
			mutate(ms, &rng);
			spec_of(&sp, i, ms);
			if (sy_writer_set_service(w, &sp, err, sizeof(err))) {
				fprintf(stderr, "set_service: %s\n", err);
				return 1;
			}
		}
		if (sy_writer_commit(w, &cs, err, sizeof(err))) {
			/* Heap or retire list waiting on readers is legitimate
			 * back-pressure; the model is resynchronised below. */
			failed_commits++;
			usleep(100);
			for (int i = 0; i < MAX_SVCS; i++)
				model[i].present = 0;
			for (int i = 0; i < MAX_SVCS; i++) {
				char e2[256];

				snprintf(err, sizeof(err), "svc-%02d", i);
				sy_writer_remove_service(w, err, e2, sizeof(e2));
			}
			/* this commit publishes too (when it goes through):
			 * readers may see its generation */
			if (sy_writer_commit(w, &cs, err, sizeof(err)) == 0)
				record_published(sh, w, &cs);
			continue;
		}
		record_published(sh, w, &cs);
		commits++;
		if (commits % 64 == 0)
			usleep(200); /* let readers hold across several publishes */
	}
	sh->stop = 1;
	for (int i = 0; i < N_READERS; i++) {
		int st;

		/* A reader exits 0 by itself; anything else (a signal, or a
		 * sanitizer halting it on a poisoned offset) is a crash. */
		waitpid(pids[i], &st, 0);
		if (WIFSIGNALED(st)) {
			crashes++;
			fprintf(stderr, "reader %d died by signal %d\n", i, WTERMSIG(st));
		} else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			crashes++;
			fprintf(stderr, "reader %d exited with status %d\n", i,
				WIFEXITED(st) ? WEXITSTATUS(st) : -1);
		}
	}
	for (int i = 0; i < N_READERS; i++) {
		struct reader_result *r = &sh->res[i];

		violations += r->violations;
		for (uint32_t g = 1; g < MAX_GENS; g++)
			if (sh->seen_sum[i][g] && sh->seen_sum[i][g] != sh->published_sum[g])
				not_published++;
		printf("reader %d: bursts %llu, snapshots checked %llu, distinct generations %llu, violations %llu%s%s\n",
		       i, (unsigned long long)r->bursts, (unsigned long long)r->checks,
		       (unsigned long long)r->gens_seen, (unsigned long long)r->violations,
		       r->violations ? ": first: " : "", r->first_violation);
	}
	violations += not_published;
	{
		uint32_t waiting = sy_writer_reclaim(w);
		uint64_t used, free_pages, live = 0;
		const struct sy_snapshot *snap = sy_writer_snapshot(w);

		sy_writer_heap_usage(w, &used, &free_pages);
		if (snap) {
			live += (snap->object_size + SY_REGION_PAGE - 1) / SY_REGION_PAGE;
			for (uint32_t i = 0; i < snap->n_services; i++)
				live += (sy_snapshot_service(sy_writer_map(w)->base, snap, i)->object_size +
					 SY_REGION_PAGE - 1) / SY_REGION_PAGE;
		}
		printf("writer: %u commits (%u refused for back-pressure) in %.1f s, mode %s\n",
		       commits, failed_commits, (double)(now_ns() - t0) / 1e9,
		       eager ? "EAGER (unsafe, negative control)" : "QSBR");
		printf("snapshots seen that were never published: %llu; reader crashes: %llu\n",
		       (unsigned long long)not_published, (unsigned long long)crashes);
		printf("after readers left: %u retired objects waiting, heap pages used %llu, reachable %llu\n",
		       waiting, (unsigned long long)used, (unsigned long long)live);
		if (!eager && (waiting || used != live)) {
			printf("FAIL: memory not reclaimed or leaked\n");
			violations++;
		}
	}
	sy_writer_close(w);
	unlink(path);

	if (eager) {
		if (violations + crashes == 0) {
			printf("FAIL: eager reclamation went undetected: the stress test is blind\n");
			return 1;
		}
		printf("PASS: eager reclamation detected (%llu violations, %llu crashes)\n",
		       (unsigned long long)violations, (unsigned long long)crashes);
		return 0;
	}
	for (int i = 0; i < N_READERS; i++)
		if (sh->res[i].gens_seen < 100) {
			printf("FAIL: reader %d saw only %llu generations: no real concurrency\n", i,
			       (unsigned long long)sh->res[i].gens_seen);
			return 1;
		}
	if (commits < 1000) {
		printf("FAIL: only %u commits\n", commits);
		return 1;
	}
	if (violations || crashes) {
		printf("FAIL: %llu violations, %llu reader crashes\n",
		       (unsigned long long)violations, (unsigned long long)crashes);
		return 1;
	}
	printf("PASS\n");
	return 0;
}
