/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Writer side of the shared-table region (sy-control). One writer per region,
 * enforced with an exclusive flock on the region file.
 *
 * Changes are staged (sy_writer_set_service / sy_writer_remove_service) and
 * published together by sy_writer_commit: only staged services get new
 * objects (a new Maglev table); the others are shared by the old and the new
 * root. A commit is all-or-nothing: on error nothing is published and the
 * running state is unchanged. When the error is one staged service's own
 * (no backend or service slot, no heap for its object) that service alone
 * is unstaged and named, and the others stay staged: committing again
 * publishes them, so one service that cannot fit never holds up the rest.
 *
 * Memory of an unlinked object is reused only after every online reader has
 * passed a quiescent point (sy_writer_reclaim, also run by each commit).
 */
#ifndef SWITCHYARD_REGION_WRITER_H
#define SWITCHYARD_REGION_WRITER_H

#include <stdint.h>

#include "region.h"

struct sy_writer;

struct sy_backend_spec {
	struct sy_backend_id id;
	uint32_t weight;  /* 0 = draining */
	uint8_t mac[6];   /* next hop */
	uint32_t server_id; /* QUIC server ID (pkt_quic.h), 0 = none; unique
			     * in its service, at most SY_QUIC_SERVER_ID_MAX */
};

struct sy_service_spec {
	char name[SY_NAME_MAX];
	struct sy_vip_key vip;
	uint8_t fwd_mode;       /* enum sy_fwd_mode */
	uint16_t gue_port;      /* network order */
	uint32_t hash_seed;
	uint8_t hash_fields;    /* enum sy_hash_fields: what of a flow is hashed */
	uint8_t round_robin;    /* 1: scheduler round-robin (SY_SERVICE_ROUND_ROBIN) */
	uint8_t least_conns;    /* 1: scheduler least-connections (SY_SERVICE_LEAST_CONNS) */
	uint8_t quic;           /* 1: QUIC connection-ID routing (SY_SERVICE_QUIC) */
	uint32_t table_size;    /* 0 = SY_MAGLEV_DEFAULT_M */
	uint32_t encap_src4;
	uint32_t encap_src6[4];
	uint32_t n_backends;
	const struct sy_backend_spec *backends; /* any order */
};

struct sy_writer_opts {
	/* Fill reclaimed memory with a pattern: turns a reader using freed
	 * memory into a visible corruption (stress tests, debug builds). */
	int poison_on_free;
	/* TEST ONLY, UNSAFE: reclaim without waiting for readers. Exists so the
	 * stress test can prove that it detects premature reuse. */
	int unsafe_eager_reclaim;
};

#define SY_REGION_DEFAULT_LIMITS                                               \
	((struct sy_region_limits){ .max_lcores = 16, .max_services = 1024,    \
				    .max_backends = 65536,                     \
				    .heap_size = 256ull << 20 })

/* Create a region file (failing if it exists) and become its writer. */
int sy_writer_create(const char *path, const char *instance,
		     const struct sy_region_limits *lim,
		     const struct sy_writer_opts *opts, struct sy_writer **out,
		     char *err, size_t errlen);

/* Become the writer of an existing region (a restarted sy-control): the
 * published snapshot keeps serving untouched; the writer's bookkeeping is
 * rebuilt from it. Fails if another live writer holds the region. */
int sy_writer_adopt(const char *path, const struct sy_writer_opts *opts,
		    struct sy_writer **out, char *err, size_t errlen);

/* The region's file was removed (the writer and its readers still map it):
 * copy the live region into a new file at path and continue on that one.
 * Readers follow by mapping the new file (the same region: same id, same
 * uids). Not while changes are staged. 0, or -1 with err (the writer keeps
 * its mapping). */
int sy_writer_recreate(struct sy_writer *w, const char *path, char *err, size_t errlen);

/* Release the region (it stays, and keeps serving readers). */
void sy_writer_close(struct sy_writer *w);

/* Stage adding or replacing a service (matched by name). The spec is copied
 * and its Maglev table built here, the costly part of a publish (tens of ms
 * for 10,000 backends): a caller can stage outside its own locks and hold
 * them only for the commit, which copies the table. Staging reads the
 * published snapshot, so it must not run concurrently with a commit. On
 * error nothing of this call is staged (an earlier staging of the same
 * name is dropped too). */
int sy_writer_set_service(struct sy_writer *w, const struct sy_service_spec *spec,
			  char *err, size_t errlen);
/* Stage removing a service; -1 if no such service is published or staged. */
int sy_writer_remove_service(struct sy_writer *w, const char *name, char *err,
			     size_t errlen);
/* Drop every staged change. */
void sy_writer_discard(struct sy_writer *w);

struct sy_commit_stats {
	uint64_t generation;  /* of the published root (unchanged if nothing to do) */
	uint32_t rebuilt;     /* services that got a new object */
	uint32_t unchanged;   /* staged services identical to the published one */
	uint32_t removed;
	/* on error: the staged service that caused it (unstaged; the other
	 * changes stay staged), "" if the cause is not one service's (the
	 * snapshot's heap, readers behind, the same VIP twice): all dropped */
	char failed[SY_NAME_MAX];
};

/* Publish every staged change as one new snapshot; *st is filled on error
 * too (st->failed). */
int sy_writer_commit(struct sy_writer *w, struct sy_commit_stats *st, char *err,
		     size_t errlen);

/* Reuse memory whose grace period has passed. Returns the number of objects
 * still waiting. Readers whose process died are taken offline here. */
uint32_t sy_writer_reclaim(struct sy_writer *w);

/* The mapping, for reading the published snapshot and the counters. */
struct sy_region_map *sy_writer_map(struct sy_writer *w);
const struct sy_snapshot *sy_writer_snapshot(struct sy_writer *w);

/* Heap pages in use and free (for metrics and tests). */
void sy_writer_heap_usage(struct sy_writer *w, uint64_t *used_pages,
			  uint64_t *free_pages);

#endif
