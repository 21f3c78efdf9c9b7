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
 * Fail-static: if the eligible set would lose more than panic_threshold of
 * the last published set within panic_window, or the service's source says
 * it is unreachable, the last good set stays published and the service is
 * marked degraded. Pure logic with explicit time: unit-testable.
 */
#ifndef SY_CONTROL_BACKENDS_H
#define SY_CONTROL_BACKENDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <switchyard/maglev.h>

enum sy_be_source {
	SY_SRC_STATIC = 0, /* configuration file */
	SY_SRC_EMBEDDED,   /* our registry: heartbeats with TTL */
	SY_SRC_API,        /* added by the operator (syctl add) */
	SY_SRC_ETCD,
	SY_SRC_ZOOKEEPER,
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
	enum sy_be_source source;
	uint64_t expires_ms;     /* 0 = no TTL */
	uint64_t last_seen_ms;
	bool present;            /* registered and not expired / deregistered */
	bool healthy;            /* verdict of active checks (true without) */
	uint32_t ok_streak, fail_streak;
	uint64_t hold_until_ms;  /* not eligible before (flap damping) */
	uint64_t next_check_ms;  /* active checks: when the next one is due */
};

struct sy_removal {
	uint64_t at_ms;
	struct sy_backend_id id;
};

struct sy_svc_backends {
	struct sy_policy policy;
	struct sy_be *be;
	uint32_t n, cap;
	/* what was last published (canonical order), the "last good set" */
	struct sy_maglev_backend *published;
	uint32_t n_published;
	/* removals from the published set in the panic window */
	struct sy_removal *removals;
	uint32_t n_removals, cap_removals;
	bool source_unreachable;
	bool degraded;
	char degraded_reason[96];
	bool dirty;              /* desired set may differ from published */
};

void sy_svcb_init(struct sy_svc_backends *s, const struct sy_policy *p);
void sy_svcb_free(struct sy_svc_backends *s);

/* Add or refresh a backend (a registration, a heartbeat, a config entry).
 * ttl_ms 0 = no expiry. Returns the entry, NULL on allocation failure. */
struct sy_be *sy_svcb_upsert(struct sy_svc_backends *s, const struct sy_backend_id *id,
			     uint32_t weight, enum sy_be_source src, uint64_t ttl_ms,
			     uint64_t now_ms);
struct sy_be *sy_svcb_find(struct sy_svc_backends *s, const struct sy_backend_id *id);
/* A deregistration or operator removal: the backend leaves now. */
bool sy_svcb_remove(struct sy_svc_backends *s, const struct sy_backend_id *id, uint64_t now_ms);
/* Drop entries of a source not in `keep` (config reload of static backends). */
void sy_svcb_forget_source(struct sy_svc_backends *s, enum sy_be_source src);

/* Expire TTLs; returns true if anything changed. on_expire (may be NULL)
 * hears of each backend whose heartbeats stopped, as it leaves. */
bool sy_svcb_expire(struct sy_svc_backends *s, uint64_t now_ms,
		    void (*on_expire)(void *ctx, const struct sy_be *b), void *ctx);
/* Feed one active-check result. Returns true if the verdict flipped. */
bool sy_svcb_check_result(struct sy_svc_backends *s, struct sy_be *b, bool ok, uint64_t now_ms);

/* The set to publish now (canonical order) into out (capacity
 * s->n + s->n_published).
 * Applies hold-down, health, overrides and the fail-static rule; updates
 * degraded/degraded_reason. Returns the number of backends in out. */
uint32_t sy_svcb_desired(struct sy_svc_backends *s, uint64_t now_ms,
			 struct sy_maglev_backend *out);
/* Record that `set` was published (it becomes the last good set). The
 * dirty flag is the publisher's: changes may have come in meanwhile. */
int sy_svcb_published(struct sy_svc_backends *s, const struct sy_maglev_backend *set,
		      uint32_t n, uint64_t now_ms);

/* Effective weight of a backend (override or registered). */
static inline uint32_t sy_be_weight(const struct sy_be *b)
{
	return b->override >= 0 ? (uint32_t)b->override : b->weight;
}

const char *sy_be_source_name(enum sy_be_source s);

#endif
