/* SPDX-License-Identifier: BSD-3-Clause
 *
 * What sy-control knows about each service's backends, from every source,
 * and the health policy that turns it into the set to publish:
 *
 *   known backends (registered / configured / added by the operator)
 *     - expired registrations (heartbeat TTL passed)
 *     - failed active health checks (fall/rise counts)
 *     - backends in hold-down (flap damping: left recently)
 *   = eligible set, weighted (operator drain/weight overrides win)
 *
 * Fail-static (docs/control.md, "Fail-static and the panic threshold"): the
 * good set is what was published while not failing static, plus the
 * members lost since whose loss is not yet confirmed. A backend that leaves
 * on purpose (a deregistration, `syctl remove`, a configuration change)
 * leaves the good set at once and never counts. A member that stops being
 * eligible without saying so (heartbeats stopped, active checks failed, a
 * registry key that vanished) is lost; its loss is confirmed once it has
 * lasted panic_window (it then leaves the good set). While more than
 * panic_threshold of the good set is lost and unconfirmed, or while the
 * service's source is unreachable, the whole good set stays published
 * (newcomers are still taken) and the service is degraded. So losses that
 * come together (within one window, in one tick or spread over it) are held
 * until they are confirmed, they return, or an operator removes them; a
 * lone loss applies at once. Every decision that time alone changes is
 * re-taken when its time comes (sy_svcb_due), not only at the next change.
 * Pure logic with explicit time: unit-testable.
 */
#ifndef SY_CONTROL_BACKENDS_H
#define SY_CONTROL_BACKENDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <switchyard/maglev.h>

#include "registry_kinds.h"

enum sy_be_source {
	SY_SRC_STATIC = 0, /* configuration file */
	SY_SRC_EMBEDDED,   /* our registry: heartbeats with TTL */
	SY_SRC_API,        /* added by the operator (syctl add) */
	/* the registries (registry_kinds.h): SY_SRC_ETCD, SY_SRC_ZOOKEEPER, ... */
#define SY_BE_SOURCE_ENUM(ID, name, req, dir, sdesc, kdesc, a, b) SY_SRC_##ID,
	SY_REGISTRY_KINDS(SY_BE_SOURCE_ENUM, ~, ~)
#undef SY_BE_SOURCE_ENUM
	SY_SRC_END /* one past the last */
};

struct sy_policy {
	uint32_t hold_down_ms;  /* 0 = no damping */
	double panic_threshold; /* 0 = never fail static; e.g. 0.5 */
	uint32_t panic_window_ms;
	uint32_t check_rise;    /* consecutive successes to come up */
	uint32_t check_fall;    /* consecutive failures to go down */
	bool has_check;         /* active checks configured */
};

struct sy_be {
	struct sy_backend_id id;
	uint32_t weight;         /* as registered or configured */
	int32_t override;        /* operator weight (0 = drain), -1 = none */
	uint8_t mac[6];
	bool has_mac;
	char zone[32];
	char metadata[1024];     /* compact JSON object, "" if none */
	uint32_t server_id;      /* QUIC server ID (pkt_quic.h), 0 = none */
	enum sy_be_source source;
	uint64_t expires_ms;     /* 0 = no TTL */
	uint64_t last_seen_ms;
	bool present;            /* registered and not expired / deregistered */
	bool healthy;            /* verdict of active checks (true without) */
	uint32_t ok_streak, fail_streak;
	uint64_t hold_until_ms;  /* not eligible before (flap damping) */
	uint64_t next_check_ms;  /* active checks: when the next one is due */
	uint64_t last_check_ms;  /* when the last one ended, 0 = none yet */
	bool last_check_ok;
	uint32_t unsent_streak;  /* checks in a row that could not leave this host */
	int unsent_errno;        /* why the last of them could not */
};

/* How a backend leaves (sy_svcb_remove). */
enum sy_leave {
	SY_LEAVE_EXPLICIT, /* on purpose: deregistered, removed, unconfigured */
	SY_LEAVE_LOST,     /* unexplained: its registry entry vanished */
};

/* An operator's weight for a backend (drain = 0): kept by identity, so it
 * holds while the backend comes and goes (a drained backend whose agent
 * restarts stays drained) and across reloads; persisted by state_file.c. */
struct sy_override {
	struct sy_backend_id id;
	uint32_t weight;
};

/* A member of the good set. */
struct sy_good {
	struct sy_maglev_backend b; /* its last eligible weight */
	uint64_t lost_ms;           /* 0, or since when it is lost (unconfirmed) */
	uint32_t server_id;         /* QUIC server ID as last published (0: none) */
};

struct sy_svc_backends {
	struct sy_policy policy;
	struct sy_be *be;
	uint32_t n, cap;
	/* be[] by id (backends.c): a registry's listing of 10,000 backends
	 * is matched in O(n), not O(n^2), under the daemon's lock */
	uint32_t *index, index_cap;
	/* what was last published (canonical order) */
	struct sy_maglev_backend *published;
	uint32_t n_published;
	/* operator weights, by id (sy_svcb_set_override) */
	struct sy_override *overrides;
	uint32_t n_overrides;
	/* the good set, by id: what fail-static keeps */
	struct sy_good *good;
	uint32_t n_good;
	bool source_unreachable;
	bool degraded;           /* the last desired set kept the good set */
	char degraded_reason[128];
	bool dirty;              /* desired set may differ from published */
	uint64_t due_ms;         /* 0, or when time alone may change the
				  * desired set (sy_svcb_due) */
};

void sy_svcb_init(struct sy_svc_backends *s, const struct sy_policy *p);
void sy_svcb_free(struct sy_svc_backends *s);

/* Add or refresh a backend (a registration, a heartbeat, a config entry).
 * ttl_ms 0 = no expiry. Returns the entry, NULL on allocation failure. */
struct sy_be *sy_svcb_upsert(struct sy_svc_backends *s, const struct sy_backend_id *id,
			     uint32_t weight, enum sy_be_source src, uint64_t ttl_ms,
			     uint64_t now_ms);
struct sy_be *sy_svcb_find(struct sy_svc_backends *s, const struct sy_backend_id *id);
/* s's entries sorted by identity (free() it), to find many of them in
 * O(log n) each with sy_svcb_sorted_find (n = s->n) while s does not change,
 * where sy_svcb_find's linear scan would make a pass over a large service
 * O(n^2). NULL on allocation failure. */
struct sy_be **sy_svcb_sorted(struct sy_svc_backends *s);
struct sy_be *sy_svcb_sorted_find(struct sy_be **idx, uint32_t n, const struct sy_backend_id *id);
/* The backend leaves now. SY_LEAVE_EXPLICIT also takes it out of the good
 * set (so fail-static never brings it back); SY_LEAVE_LOST leaves it there,
 * a loss. True if it was known (as an entry or as a member of the good
 * set). */
bool sy_svcb_remove(struct sy_svc_backends *s, const struct sy_backend_id *id,
		    enum sy_leave how, uint64_t now_ms);
/* True if id is in the good set (fail-static would keep it). */
bool sy_svcb_remembers(const struct sy_svc_backends *s, const struct sy_backend_id *id);
/* The QUIC server ID id was last published with, if it is in the good set
 * (else 0). */
uint32_t sy_svcb_good_server_id(const struct sy_svc_backends *s, const struct sy_backend_id *id);
/* Drop every entry of a source (the configuration no longer lists them):
 * an explicit departure for each. */
void sy_svcb_forget_source(struct sy_svc_backends *s, enum sy_be_source src);

/* Expire TTLs; returns true if anything changed. on_expire (may be NULL)
 * hears of each backend whose heartbeats stopped, as it leaves. */
/* Heartbeats could not arrive for the last delta_ms (they come through a
 * dataplane that was not running): every TTL is pushed back as much, so
 * that no backend expires for our own outage. */
void sy_svcb_hold_ttls(struct sy_svc_backends *s, uint64_t delta_ms);
bool sy_svcb_expire(struct sy_svc_backends *s, uint64_t now_ms,
		    void (*on_expire)(void *ctx, const struct sy_be *b), void *ctx);
/* True (and the set dirty) once now_ms reaches a time at which the desired
 * set may change with no event: a hold-down ending, a kept loss confirmed.
 * Cheap: call it on every tick. */
bool sy_svcb_due(struct sy_svc_backends *s, uint64_t now_ms);
/* Feed one active-check result. Returns true if the verdict flipped. */
bool sy_svcb_check_result(struct sy_svc_backends *s, struct sy_be *b, bool ok, uint64_t now_ms);
/* A check that could not leave this host (err: why): no evidence about the
 * backend, whose verdict and streaks stay as they are. Returns true when it
 * is the first of a run (the others since the last check sent). */
bool sy_svcb_check_unsent(struct sy_be *b, int err, uint64_t now_ms);
/* err of a check not sent because of the DPDK dataplane, through which the
 * checks leave (not errnos: those are positive): it is not running; it
 * runs but its workers stand still (paused: `syctl status` still says
 * running); it stopped or paused while the check was under way. */
#define SY_UNSENT_NO_DATAPLANE (-1)
#define SY_UNSENT_DP_PAUSED (-2)
#define SY_UNSENT_DP_INTERRUPTED (-3)
/* Why a check was not sent, for logs and the API: strerror(err), or the
 * dataplane's state. */
const char *sy_check_unsent_reason(int err);

/* The set to publish now (canonical order) into out (capacity
 * sy_svcb_desired_cap(s)).
 * Applies hold-down, health, overrides and the fail-static rule; updates
 * degraded/degraded_reason and due_ms. Returns the number of backends in
 * out. */
uint32_t sy_svcb_desired(struct sy_svc_backends *s, uint64_t now_ms,
			 struct sy_maglev_backend *out);
static inline uint32_t sy_svcb_desired_cap(const struct sy_svc_backends *s)
{
	return s->n + s->n_good + 1;
}
/* Record that `set` was published, server_ids[i] the QUIC server ID of
 * set[i] (NULL: none). kept_good: it was a fail-static set (s->degraded
 * when it was computed); otherwise its newcomers join the good set (not
 * those removed on purpose since it was computed). Members of the good set
 * keep the server ID they were published with: fail-static publishes a
 * member its source no longer knows with it (sy_svcb_good_server_id). The
 * dirty flag is the publisher's: changes may have come in meanwhile. */
int sy_svcb_published(struct sy_svc_backends *s, const struct sy_maglev_backend *set,
		      const uint32_t *server_ids,
		      uint32_t n, bool kept_good, uint64_t now_ms);

/* The operator's weight for id from now on (0 = drain), whether or not the
 * backend is known now; -1 on allocation failure. */
int sy_svcb_set_override(struct sy_svc_backends *s, const struct sy_backend_id *id,
			 uint32_t weight);
/* Back to the registered / configured weight; true if there was an
 * override. */
bool sy_svcb_clear_override(struct sy_svc_backends *s, const struct sy_backend_id *id);

/* Effective weight of a backend (override or registered). */
static inline uint32_t sy_be_weight(const struct sy_be *b)
{
	return b->override >= 0 ? (uint32_t)b->override : b->weight;
}

const char *sy_be_source_name(enum sy_be_source s);

#endif
