/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Backend sources: where a service's backends come from. Each kind of source
 * (static configuration, the embedded registry, etcd, ZooKeeper) is one
 * sy_source; the daemon knows them only through this table of operations,
 * and a source changes the daemon's state only through the sy_source_*
 * functions below, with d->lock held.
 */
#ifndef SY_CONTROL_SOURCE_H
#define SY_CONTROL_SOURCE_H

#include <stdbool.h>
#include <stddef.h>

#include "daemon.h"

struct sy_source {
	const char *name;              /* "static", "embedded", ... */
	enum sy_config_source kind;    /* services with `source: <name>` */
	/* After the first configuration is applied; may start threads or
	 * listeners. 0, or -1 with err. */
	int (*start)(const struct sy_source *self, struct sy_daemon *d, char *err, size_t errlen);
	/* After a configuration (re)load was applied; d->lock held. */
	void (*configured)(const struct sy_source *self, struct sy_daemon *d);
	void (*stop)(const struct sy_source *self, struct sy_daemon *d);
	/* One line for `syctl status` and /metrics: "up: listening on ...". */
	void (*describe)(const struct sy_source *self, struct sy_daemon *d, char *buf, size_t len,
			 bool *up);
	void *state;                   /* the source's own (a follower kind's: source_follow.h) */
};

/* Every source this build has, NULL-terminated. */
extern const struct sy_source *const sy_sources[];
extern const struct sy_source sy_source_static, sy_source_embedded;
/* a registry's: sy_source_etcd, sy_source_zookeeper, ... (registry_kinds.h) */
#define SY_SOURCE_DECL(ID, name, req, dir, sdesc, kdesc, a, b) extern const struct sy_source sy_source_##name;
SY_REGISTRY_KINDS(SY_SOURCE_DECL, ~, ~)
#undef SY_SOURCE_DECL

/* ---- what sources may do (d->lock held) ----------------------------------- */

/* A backend appears or heartbeats (ttl_ms 0 = no expiry). Marks the service
 * for publishing when something changed. NULL on allocation failure. */
struct sy_be *sy_source_upsert(struct sy_daemon *d, struct sy_service_state *s,
			       const struct sy_backend_id *id, uint32_t weight,
			       enum sy_be_source src, uint64_t ttl_ms);
/* May id join s now (docs/control.md, "Backend caps")? A backend the
 * service knows always may (a heartbeat, a re-registration, a new weight);
 * a new one only while the service counts fewer backends than its cap
 * (sy_service_counted: its known entries of every source, plus fail-static
 * members no longer known). A refusal is counted, per service and per
 * source, logged at a bounded rate, and said in why. Static backends are
 * never asked: the configuration is checked to fit (preflight.c). */
bool sy_source_admit(struct sy_daemon *d, struct sy_service_state *s,
		     const struct sy_backend_id *id, enum sy_be_source src, char *why,
		     size_t len);
/* A backend leaves: SY_LEAVE_EXPLICIT for a departure on purpose (a
 * deregistration, a service no longer fed by this source), SY_LEAVE_LOST for
 * one the registry does not explain (a key or znode that vanished: a lease
 * or session expiry looks the same as a delete), which counts toward the
 * panic threshold (backends.h). */
bool sy_source_remove(struct sy_daemon *d, struct sy_service_state *s,
		      const struct sy_backend_id *id, enum sy_leave how);
/* A backend's QUIC server ID as its source gives it (0 = none): the
 * service republishes when it changes. Call after sy_source_upsert(). */
void sy_source_set_server_id(struct sy_daemon *d, struct sy_service_state *s, struct sy_be *b,
			     uint32_t server_id);
/* The present backend of s other than id registered with this QUIC server
 * ID, NULL if none: a second backend may not take an ID (the source
 * refuses it, or publishes it without the ID: docs/control.md). */
const struct sy_be *sy_source_server_id_owner(const struct sy_service_state *s,
					      uint32_t server_id, const struct sy_backend_id *id);

/* The source can or cannot reach its registry: while it cannot, its
 * services keep their last known set (fail-static) and show degraded. */
void sy_source_set_reachable(struct sy_daemon *d, enum sy_config_source kind, bool reachable);
/* The same for one service (a registry that one service's reads fail on
 * while the others' work: etcd's roles may deny one folder). */
void sy_source_set_service_reachable(struct sy_daemon *d, struct sy_service_state *s,
				     bool reachable);

#endif
