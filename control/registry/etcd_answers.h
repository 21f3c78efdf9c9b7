/* SPDX-License-Identifier: BSD-3-Clause
 *
 * What etcd's answers mean for one service's list: a kv/range answer (the
 * whole list at a revision) and a watch stream's line (its puts and
 * deletes), read through etcd's v3 JSON gateway, each key/value read by
 * sy_etcd_kv_parse (etcd_kv.h), and those changes applied to the list.
 * The etcd follower's (etcd_follow.c: sy-control's etcd source and
 * libswitchyard-resolve's read through it); on its own, with no curl, no
 * thread and no sink, so that it is unit-tested and fuzzed
 * (tests/fuzz/fuzz_resolve_etcd.c): any input gives a checked answer or an
 * error with a message, never a crash.
 *
 * A key or value that is not a backend's is skipped, told to the caller's
 * skip function with its reason (one bad key never hides the others), and
 * held among the list's bad keys until it is put right or deleted; an
 * answer that is not etcd's (not JSON, no header.revision, an error
 * object) is an error.
 *
 * A list finds a backend by identity, and a bad key, in constant time (an
 * index beside each array): a range of N keys, or a watch line of N
 * events, costs O(N) whatever the list's size.
 */
#ifndef SY_REGISTRY_ETCD_ANSWERS_H
#define SY_REGISTRY_ETCD_ANSWERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "etcd_gateway.h" /* enum sy_etcd_watch_kind */
#include "etcd_kv.h"      /* struct sy_etcd_entry */

/* Told of each key that is not a backend of the service (key: its
 * printable form, or the backend's endpoint when an answer lists it twice)
 * and why. */
typedef void sy_etcd_skip_fn(void *ctx, const char *key, const char *why);

/* The positions of an array by a hash of their item (private). */
struct sy_etcd_index {
	uint32_t *slot; /* position + 1, 0: free; at most half full */
	size_t cap;     /* a power of two, 0: none yet */
};

/* A service's list as of a revision. Zeroed: empty. */
struct sy_etcd_list {
	uint64_t revision;
	struct sy_etcd_entry *e; /* n backends, each identity once (malloc'd) */
	size_t n, e_cap;
	char **bad;              /* n_bad keys of the service's that are no backend,
				  * as the gateway sends them (base64), each once */
	size_t n_bad, bad_cap;
	struct sy_etcd_index by_id, by_key; /* of e, of bad */
};

void sy_etcd_list_free(struct sy_etcd_list *l);
/* The position of the backend id in l, l->n if absent. */
size_t sy_etcd_list_find(const struct sy_etcd_list *l, const struct sy_backend_id *id);
/* Whether key (as the gateway sends it) is among l's bad keys. */
bool sy_etcd_list_bad(const struct sy_etcd_list *l, const char *key);

/* A kv/range answer for service's keys (under prefix) -> its list at
 * header.revision, the backends in the answer's order (a backend listed
 * twice: the first, the second skipped). skip (may be NULL) is told of
 * every key skipped. 0, or EINVAL (not a whole answer of etcd's) or ENOMEM
 * with the reason in err; *l then holds nothing. */
int sy_etcd_parse_range(const char *body, size_t len, const char *prefix, const char *service,
			struct sy_etcd_list *l, sy_etcd_skip_fn *skip, void *ctx, char *err,
			size_t errlen);

/* One page of a paged kv/range answer (sy_etcd_range_request() with a
 * limit) for service's keys, appended to *l: its backends after l's (one
 * already in l skipped as listed twice), its other keys among l's bad
 * ones, l->revision the first page's. *next: the next page's first key
 * (malloc'd), NULL after the last page. 0, or EINVAL / ENOMEM with the
 * reason in err (*l may then hold part of the page: the caller drops it). */
int sy_etcd_parse_range_page(const char *body, size_t len, const char *prefix,
			     const char *service, struct sy_etcd_list *l, char **next,
			     sy_etcd_skip_fn *skip, void *ctx, char *err, size_t errlen);

/* One event of a watch line, as it changes a list. */
struct sy_etcd_change {
	bool backend;     /* it changes the backend e.id: */
	bool gone;        /* e.id leaves (a delete, or a put of a value that is
			   * no backend's: only e.service and e.id are set);
			   * else e is put */
	bool bad;         /* key is held as no backend's (a put that is not a
			   * backend's); else it leaves the bad keys */
	const char *key;  /* as the gateway sends it, borrowed from the line
			   * (NULL if it has none) */
	struct sy_etcd_entry e;
};

/* One line of a watch stream ({"result": {...}} or {"error": {...}}). */
struct sy_etcd_watch {
	enum sy_etcd_watch_kind kind; /* EVENTS, COMPACTED, or FAILED (err says) */
	bool created;                 /* the watch is up */
	uint64_t compact_revision;    /* COMPACTED: read the list again */
	uint64_t revision;            /* the highest mod_revision of the events, 0: none */
	size_t n;                     /* events: one change each, in order */
	struct sy_etcd_change *ch;
	json_t *line;                 /* private: the parsed line (ch[].key) */
};

/* Reads a watch line of service's keys. skip (may be NULL) is told of
 * every key skipped. Returns w->kind; FAILED (not JSON, an error, a
 * cancellation other than a compaction, a malformed event, out of memory)
 * with the reason in err and nothing held in *w. */
enum sy_etcd_watch_kind sy_etcd_parse_watch(const char *line, size_t len, const char *prefix,
					    const char *service, struct sy_etcd_watch *w,
					    sy_etcd_skip_fn *skip, void *ctx, char *err,
					    size_t errlen);
void sy_etcd_watch_free(struct sy_etcd_watch *w);

/* A watch line's changes applied to l in order: puts upsert (a new
 * backend at the end), gones remove (the last backend takes its place),
 * bad keys come and go. 0, or ENOMEM (the changes before the failed one
 * applied; l stays consistent). l->revision is the caller's. */
int sy_etcd_list_apply(struct sy_etcd_list *l, const struct sy_etcd_change *ch, size_t n);

#endif
