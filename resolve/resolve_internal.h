/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Inside libswitchyard-resolve: the resolver, its services, their snapshots
 * and the per-thread slots that protect snapshots from reclamation.
 *
 *   resolver.c  the object, errors, thread slots (hazard pointers), tick
 *   snapshot.c  updates: the fail-static policy (control/backends.c, the
 *               balancer's own), building and publishing a snapshot
 *               (WRR sequence, Maglev table), reclaiming old ones
 *   pick.c      the pickers and passive health
 *   source.h    what a registry source is (its ops, the list it reads)
 *   source_util.c      what sources share (the thread, back-off, errors)
 *   source_embedded.c  the embedded registry's watch (a thread, libcurl)
 *   parse_embedded.c   the parser of its answers (fuzzed on its own)
 *   source_follow.c    a source on a registry's follower (follow.h), for:
 *   source_etcd.c      etcd's range + watch (control/registry/etcd_follow.c's
 *                      thread; its answers: etcd_answers.c, fuzzed)
 *   source_zookeeper.c ZooKeeper's children + watches (control/registry/zk_follow.c's thread)
 */
#ifndef SY_RESOLVE_INTERNAL_H
#define SY_RESOLVE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <curl/curl.h>

#include <switchyard/maglev.h>
#include <switchyard/resolve.h>

#include "backends.h" /* control/: the balancer's fail-static policy */
#include "source.h"

#define SY_RESOLVE_ERRLEN 256

/* A string of the configuration that is given: not NULL, not "". */
static inline bool sy_str_set(const char *s)
{
	return s && *s;
}
#define SY_RESOLVE_CACHELINE 64

/* What outlives a snapshot about one instance: outstanding requests and
 * passive-health failures. Shared by every snapshot that holds the same
 * identity (refs: one per snapshot, one per least-outstanding ticket). */
struct sy_istate {
	_Alignas(SY_RESOLVE_CACHELINE) _Atomic uint32_t outstanding;
	_Atomic uint32_t fail_count;    /* consecutive failures */
	_Atomic uint64_t fail_until_ms; /* avoided before; 0 = healthy */
	_Atomic uint32_t refs;
	struct sy_backend_id id;
};

/* One immutable view of a service: never written after publication, apart
 * from the atomics of its sy_istate and the fallback WRR state. */
struct sy_snap {
	uint64_t gen;      /* unique per resolver (thread cursors key on it) */
	uint64_t revision;
	enum sy_resolve_state state;
	uint32_t n;        /* instances, canonical order (sy_backend_id_cmp) */
	struct sy_resolve_instance *inst;
	struct sy_backend_id *ids;   /* inst[i]'s identity */
	struct sy_istate **st;       /* inst[i]'s shared state */
	uint32_t n_active;           /* weight > 0 */
	/* smooth WRR: the whole nginx sequence (indices into inst), or, when
	 * it would be too long, nginx's state under a lock */
	uint32_t *seq;
	uint32_t seq_len;
	pthread_mutex_t wrr_lock;
	int64_t *wrr_current;
	int64_t wrr_total;
	/* Maglev: table[hash % m] = index into inst, SY_MAGLEV_NONE if none;
	 * built with m and seed, picks hash what `hash` says with seed (the
	 * service's opts when the snapshot was built: a pick never mixes a
	 * table with another seed) */
	uint32_t m, seed, hash;
	uint32_t *table;
	struct sy_snap *retired_next;
};

struct sy_resolve_service {
	struct sy_resolver *r;
	uint32_t id;                      /* index of thread cursors */
	char name[128];
	/* the Maglev parameters the next snapshot is built with (under lock);
	 * picks use the snapshot's copy */
	struct sy_resolve_service_opts opts;
	bool opts_follow;                 /* opened with opts NULL: the registry's,
					   * followed when they change */
	_Atomic(struct sy_snap *) current;
	/* latest time until which some instance is failed (0: none): picks
	 * read the clock only while it is set */
	_Atomic uint64_t failed_horizon_ms;
	/* writer side, under lock */
	pthread_mutex_t lock;
	struct sy_svc_backends policy;
	struct sy_snap *retired;          /* swapped out, maybe still held */
	char src_err[SY_RESOLVE_ERRLEN];  /* the source's last error, "" if none */
	struct sy_resolve_service *next;
};

/* A thread's slot in a resolver: its hazard pointer, its round-robin
 * cursors and its last error. Owned by one thread at a time (in_use);
 * slots are never freed before the resolver. */
struct sy_cursor {
	uint64_t gen; /* the snapshot pos is for */
	uint32_t pos;
};

struct sy_slot {
	_Alignas(SY_RESOLVE_CACHELINE) _Atomic(struct sy_snap *) hazard;
	_Atomic int in_use;
	uint32_t index;
	struct sy_cursor *cur; /* by service id */
	uint32_t ncur;
	char err[SY_RESOLVE_ERRLEN];
	struct sy_slot *_Atomic next;
};

struct sy_resolver {
	struct sy_resolve_config cfg;
	pthread_key_t key;               /* -> this thread's sy_slot */
	struct sy_slot *_Atomic slots;   /* push-only list */
	_Atomic uint32_t n_slots;
	_Atomic uint64_t next_gen;
	pthread_mutex_t lock;            /* services list, slot allocation */
	struct sy_resolve_service *services;
	uint32_t n_services;
	const struct sy_source_ops *source_ops; /* NULL: no source configured */
	void *source;                    /* the source's own state (its file's struct) */
	char *cfg_strings;               /* cfg's strings, copied */
	size_t cfg_strings_len;
};

/* resolver.c */
uint64_t sy_resolve_now(const sy_resolver *r);
struct sy_slot *sy_resolve_slot(sy_resolver *r);   /* NULL: out of memory */
int sy_resolve_fail(sy_resolver *r, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
struct sy_snap *sy_snap_acquire(struct sy_slot *slot, struct sy_resolve_service *s);
static inline void sy_snap_release(struct sy_slot *slot)
{
	atomic_store_explicit(&slot->hazard, NULL, memory_order_release);
}
bool sy_snap_held(sy_resolver *r, const struct sy_snap *p);

/* source_util.c */
uint64_t sy_source_mono_ms(void);
void sy_source_set_error(sy_resolve_service *s, const char *msg); /* "" when fine */
/* Endpoint failover and back-off: a failure moves to the next endpoint at
 * once; after a whole round failed, the next waits backoff_ms (doubling
 * from retry_initial_ms up to retry_max_ms). */
struct sy_source_retry {
	unsigned endpoint;        /* the one asked now */
	unsigned failed_in_round;
	uint32_t backoff_ms;
	uint64_t retry_at_ms;     /* sy_source_mono_ms; 0: now */
};
/* true when a whole round failed (retry_at_ms is in the future) */
bool sy_source_retry_failed(const sy_resolver *r, struct sy_source_retry *t, unsigned n_endpoints);
void sy_source_retry_ok(const sy_resolver *r, struct sy_source_retry *t);

/* The thread every source runs: per opened service one request at a time
 * through libcurl's multi interface, so N services cost one thread. A
 * source's watch struct starts with a struct sy_source_watch; the thread
 * starts a request when its retry time comes, hands finished transfers to
 * done(), and calls sy_resolve_tick about once a second. */
struct sy_source_watch {
	struct sy_source_watch *next;
	struct sy_resolve_service *s;
	CURL *easy;
	bool in_flight;
	struct sy_source_retry retry;
};
struct sy_source_thread_ops {
	uint32_t poll_ms; /* how often clock() looks, at most (TICK_MS if no clock) */
	int (*prepare)(sy_resolver *r); /* once, before the thread starts; may be NULL */
	void (*start)(sy_resolver *r, struct sy_source_watch *w);
	void (*done)(sy_resolver *r, struct sy_source_watch *w, CURLcode result);
	/* a transfer's own timers; true if it ended the transfer. May be NULL. */
	bool (*clock)(sy_resolver *r, struct sy_source_watch *w, uint64_t now);
	void (*free)(struct sy_source_watch *w); /* after its easy handle is gone */
};
struct sy_source_thread {
	const struct sy_source_thread_ops *ops;
	sy_resolver *r;
	pthread_mutex_t lock;              /* pending, started */
	struct sy_source_watch *pending;   /* opened, not yet taken by the thread */
	struct sy_source_watch *watches;   /* the thread's own */
	CURLM *multi;
	pthread_t thread;
	bool started;
	_Atomic bool stop;
};
void sy_source_thread_init(struct sy_source_thread *t, const struct sy_source_thread_ops *ops);
/* The first call: ops->prepare, the multi handle, the thread. */
int sy_source_thread_start(struct sy_source_thread *t, sy_resolver *r);
void sy_source_thread_add(struct sy_source_thread *t, struct sy_source_watch *w);
/* Start w's request (its easy handle set up): in flight, or false. */
bool sy_source_thread_send(struct sy_source_thread *t, struct sy_source_watch *w);
/* w's transfer is over (finished or abandoned): out of the multi handle. */
void sy_source_thread_end(struct sy_source_thread *t, struct sy_source_watch *w);
/* Stops and joins the thread, frees every watch; t is unusable after. */
void sy_source_thread_stop(struct sy_source_thread *t);

/* snapshot.c */
/* The service's whole list (sy_resolve_set_instances). from_source: a
 * source's answer, which also says the registry is reachable, and whose
 * revision may be lower than the one held (a reset: another host, a
 * restart), so it is never EOLD. note: the source's note on this list
 * ("" or what it skipped), set under the same hold of s->lock that
 * publishes the list (if it is published), so that a reader of the list
 * then the note gets this note or a later one; NULL leaves the note (the
 * API's updates). */
int sy_service_update(struct sy_resolve_service *s, uint64_t revision,
		      const struct sy_resolve_instance *inst, size_t n, bool from_source,
		      const char *note);
/* A source's answer named the balancer's table size, seed and hash (l):
 * when the service follows them (opened with opts NULL) and they changed,
 * the next snapshot is built with them. True if they changed; an invalid
 * table size is ignored (false, the reason in why). */
bool sy_service_follow_opts(struct sy_resolve_service *s, const struct sy_source_list *l,
			    char *why, size_t whylen);
void sy_snap_free(struct sy_snap *p);
void sy_istate_put(struct sy_istate *st);
int sy_service_republish(struct sy_resolve_service *s, const struct sy_resolve_instance *listed,
			 const struct sy_backend_id *listed_ids, uint32_t n_listed,
			 uint64_t revision);
/* Index of id in ids[0..n-1] (canonical order), UINT32_MAX if absent. */
uint32_t sy_id_search(const struct sy_backend_id *ids, uint32_t n, const struct sy_backend_id *id);
void sy_service_reclaim(struct sy_resolve_service *s, bool all);
void sy_addr_to_id(const struct sy_resolve_addr *a, uint16_t port, struct sy_backend_id *id);

#endif
