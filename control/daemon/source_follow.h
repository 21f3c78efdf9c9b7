/* SPDX-License-Identifier: BSD-3-Clause
 *
 * A backend source on a registry's follower (control/registry/follow.h):
 * source_follow.c is the one adapter from a follower's sink to the daemon's
 * state, for every registry kind of registry_kinds.h: each one's source
 * (sy_source_<name>) is made here from that list. What a kind has of its
 * own is its follower (control/registry/<kind>_follow.c: the protocol,
 * and in its ops the words of its log lines and the traits below) and its
 * section of the configuration (registry.<name>, one structure for all).
 *
 * What the adapter does, for every kind:
 *   - follows exactly the services with `source: <kind>`, and makes each
 *     one's backends of that source match its registry: a whole list
 *     reconciles (removals first, so that room at a capped service goes to
 *     entries refused before); a follower that tells changes one by one
 *     (etcd's watch) has them piled up and applied together in one locked
 *     section, when d->lock is free or the pile is full, so one publish
 *     takes many;
 *   - while the registry is out of reach, fail-static: the services keep
 *     their last known set (sy_source_set_reachable false); when every
 *     service is listed again they are reachable (per_service_loss: each
 *     service on its own, when its reads fail and when it is listed
 *     again). After an outage, a kind with sessions (ZooKeeper) defers
 *     removals for two session timeouts: its agents re-create their
 *     znodes within that time, so that a backend present before and after
 *     an outage never leaves in between;
 *   - a service at its cap that lost a backend lists again (at most every
 *     5 s): a change feed says nothing more of the entries it refused;
 *   - malformed entries are logged (level=warn) and counted, never fatal.
 *
 * Locks: d->lock before the adapter's own mutex, never the other way. The
 * sink's calls come from the follower's thread.
 */
#ifndef SY_CONTROL_SOURCE_FOLLOW_H
#define SY_CONTROL_SOURCE_FOLLOW_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "daemon.h"
#include "follow.h"
#include "source.h"

struct sy_follow_source_kind {
	const char *name;              /* "etcd": log lines, status */
	enum sy_config_source source;  /* services with `source: <name>` */
	enum sy_be_source src;         /* what their backends are marked */
	enum sy_registry_id registry;  /* its section, cfg->registry.kind[registry] */
	const struct sy_follow_ops *ops; /* its follower, words and traits */
};

/* A kind's state: one per source, static in source_follow.c. */
struct sy_follow_source {
	const struct sy_follow_source_kind *kind;
	pthread_mutex_t mu;
	struct sy_daemon *d;
	struct sy_follower *f; /* NULL until started (and enabled) */
	bool started;
	/* followed service names (d->lock: configured, start, stop) */
	char (*names)[SY_NAME_MAX];
	size_t n_names;
	/* the pile of changes (the follower's thread only) */
	struct sy_follow_change *pile;
	size_t n_pile, cap_pile;
	/* under mu */
	bool reachable;        /* as told to the daemon */
	bool ever_synced;      /* every service was listed once in this process */
	bool lost;             /* the registry was lost since (an outage) */
	bool capped;           /* an entry was refused at a cap since the last relist */
	uint64_t settle_until; /* removals deferred until then (0: none) */
	uint64_t relist_at, relisted_ms;
	uint32_t settle_ms;
	uint64_t malformed, down_since_ms;
	char why[200];         /* why it was lost last */
	/* the servers as the follower's one string (etcd's endpoints joined);
	 * the follower copies it */
	char servers[SY_CONFIG_MAX_ENDPOINTS * 260];
};

/* The sy_source operations of every follower kind (self->state: its
 * struct sy_follow_source). */
int sy_follow_source_start(const struct sy_source *self, struct sy_daemon *d, char *err,
			   size_t errlen);
void sy_follow_source_configured(const struct sy_source *self, struct sy_daemon *d);
void sy_follow_source_stop(const struct sy_source *self, struct sy_daemon *d);
void sy_follow_source_describe(const struct sy_source *self, struct sy_daemon *d, char *buf,
			       size_t len, bool *up);

#endif
