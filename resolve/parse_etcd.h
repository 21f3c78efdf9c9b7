/* SPDX-License-Identifier: BSD-3-Clause
 *
 * A registry entry as the resolver's instance (sy_etcd_entry_to_inst, every
 * registry source's), and the parser of etcd's v3 JSON gateway answers the
 * resolver's etcd source used before it read through the registry client's
 * follower (control/registry/etcd_follow.c): a range read of a service's keys and the lines of
 * a watch stream, each key/value read as sy-control reads it
 * (control/registry/etcd_kv.c, compiled into the library from its one source).
 * Pure, on its own so that it can be fuzzed
 * (tests/fuzz/fuzz_resolve_etcd.c): any input gives a checked answer or an
 * error code with a message, never a crash.
 *
 * A key or value that is not a backend's is skipped and counted (as
 * sy-control does: one bad key never hides the others); an answer that is
 * not etcd's (not JSON, no header.revision, an error object) is an error.
 */
#ifndef SY_RESOLVE_PARSE_ETCD_H
#define SY_RESOLVE_PARSE_ETCD_H

#include "source.h"

#define SY_ETCD_SKIP_WHY 200

/* Keys and values skipped in one answer: how many, and why the first. */
struct sy_etcd_skipped {
	size_t n;
	char first[SY_ETCD_SKIP_WHY];
};

/* One event of a watch: an instance put (upsert) or gone. */
struct sy_etcd_change {
	bool gone;
	struct sy_resolve_instance inst; /* gone: only addr and port matter */
};

struct sy_etcd_watch_msg {
	bool created;              /* the watch is up */
	bool compacted;            /* canceled: its start revision was compacted */
	uint64_t compact_revision;
	uint64_t revision;         /* the highest mod_revision of the events; 0 if none */
	size_t n;
	struct sy_etcd_change *ch; /* n entries, malloc'd */
	struct sy_etcd_skipped skipped;
};

/* A registry entry (an etcd key/value, a ZooKeeper child) as an instance. */
struct sy_etcd_entry; /* control/etcd_kv.h */
void sy_etcd_entry_to_inst(const struct sy_etcd_entry *e, struct sy_resolve_instance *x);
/* The key range of a service: prefix + service + "/". Returns the length,
 * or -1 if it does not fit in len. */
int sy_etcd_service_prefix(const char *prefix, const char *service, char *buf, size_t len);

/* A kv/range answer for `service`'s keys -> its list at header.revision.
 * 0, or SY_RESOLVE_EINVAL / SY_RESOLVE_ENOMEM with a message in err (*l
 * then holds nothing to free). */
int sy_etcd_parse_range(const char *body, size_t len, const char *prefix, const char *service,
			struct sy_source_list *l, struct sy_etcd_skipped *skipped, char *err,
			size_t errlen);
/* One line of a watch stream ({"result": {...}} or {"error": {...}}). A
 * cancellation other than a compaction is an error (its reason in err).
 * 0, or SY_RESOLVE_EINVAL / ENOMEM with a message (*m then holds nothing). */
int sy_etcd_parse_watch(const char *line, size_t len, const char *prefix, const char *service,
			struct sy_etcd_watch_msg *m, char *err, size_t errlen);
void sy_etcd_watch_msg_free(struct sy_etcd_watch_msg *m);
/* Apply changes to a list (upsert by address and port, remove). 0, or
 * SY_RESOLVE_ENOMEM (the changes before the failed one are applied). */
int sy_etcd_apply(struct sy_source_list *l, const struct sy_etcd_change *ch, size_t n);

#endif
