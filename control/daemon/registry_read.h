/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Reading the embedded registry (docs/registry-api.md): the pure rules,
 * apart from HTTP so that they are unit-tested alone.
 *
 *  - who may read: the read token (its own, never a registration key) and
 *    the service-name prefixes it is limited to;
 *  - the query of a list or a blocking watch (?index=N&wait=T), parsed
 *    strictly: anything malformed is a 400 with its reason;
 *  - revisions: per service, bumped when what a reader sees changes, and
 *    kept increasing across restarts by taking the wall clock's
 *    microseconds when they are ahead (a hybrid logical clock).
 */
#ifndef SY_CONTROL_REGISTRY_READ_H
#define SY_CONTROL_REGISTRY_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "config.h"

#define SY_WATCH_MAX_WAIT_MS (300u * 1000u) /* wait=5m at most */
#define SY_WATCH_DEFAULT_WAIT_MS (60u * 1000u) /* index without wait */

/* ---- access ------------------------------------------------------------- */

struct sy_read_policy {
	bool enabled;                 /* registry.embedded.read is configured */
	const struct sy_prefix *peers; /* allowed reader addresses */
	size_t n_peers;               /* 0: any address */
	const char *token;            /* NULL: unauthenticated reads allowed */
	const char (*services)[64];   /* service-name prefixes */
	size_t n_services;            /* 0: every service */
};

enum sy_read_auth {
	SY_READ_OK = 0,
	SY_READ_DISABLED,    /* 403: no registry.embedded.read */
	SY_READ_ADDRESS,     /* 403: reader's address outside read.allowed_prefixes */
	SY_READ_NO_TOKEN,    /* 401: no Authorization: Bearer */
	SY_READ_BAD_TOKEN,   /* 401: another token (a registration key too) */
	SY_READ_FORBIDDEN,   /* 403: service outside the allowed prefixes */
};

int sy_read_auth_status(enum sy_read_auth a);   /* 200, 401 or 403 */
const char *sy_read_auth_str(enum sy_read_auth a); /* metric label */

/* True if service starts with one of p's prefixes (or p has none). */
bool sy_read_service_allowed(const struct sy_read_policy *p, const char *service);

/* A reader from peer_addr (family 4 or 6, wire order) with Authorization
 * header authorization (NULL: none) against p, in this order: reads
 * enabled, the address, the token (compared in constant time), the
 * service (NULL for the list of services, which sy_read_service_allowed
 * filters instead). err says why. */
enum sy_read_auth sy_read_authorize(const struct sy_read_policy *p, uint8_t peer_family,
				    const uint32_t *peer_addr, const char *authorization,
				    const char *service, char *err, size_t errlen);

/* A configuration's prefixes as auth.h's (at most cap of them, the rest
 * ignored: the loader allows no more); returns how many. */
size_t sy_prefixes_of_config(const struct sy_config_prefix *in, size_t n, struct sy_prefix *out,
			     size_t cap);

/* True if a read token is the same secret as a registration key: the key's
 * bytes, or their hex (either case), as a key file may hold either. Such a
 * configuration is refused (preflight.c): one secret, one role. */
bool sy_read_token_is_key(const char *token, const uint8_t *key, size_t klen);

/* ---- the query ---------------------------------------------------------- */

struct sy_read_query {
	bool watch;        /* index given: block until the revision passes it */
	uint64_t index;
	uint32_t wait_ms;  /* watch only: 1..SY_WATCH_MAX_WAIT_MS */
};

/* index: decimal digits (0..2^64-1), NULL if absent. wait: a positive
 * integer with unit ms, s or m ("10s", "500ms", "5m"; no unit: seconds), at
 * most 5 minutes; only with index. 0, or -1 with the reason in err. */
int sy_read_query_parse(const char *index, const char *wait, struct sy_read_query *q, char *err,
			size_t errlen);

/* ---- revisions ---------------------------------------------------------- */

struct sy_revision {
	uint64_t revision;   /* 0: never set */
	uint64_t content;    /* hash of what readers see at that revision */
};

/* The next revision after last: max(last + 1, now_us). */
uint64_t sy_revision_next(uint64_t last, uint64_t now_us);
/* What readers see hashes to content now: true (and a new revision) if it
 * differs from the last one, or if r was never set. */
bool sy_revision_update(struct sy_revision *r, uint64_t content, uint64_t now_us);
/* Whether a watch for index answers now: the revision passed it, or the
 * index is ahead of the revision (the client's index came from before a
 * restart whose clock stepped back, or from another host): answered at
 * once, so that the client sees the lower revision and resets, instead of
 * waiting out its wait. A watch parks only at the current revision. */
static inline bool sy_watch_answers_now(const struct sy_revision *r, uint64_t index)
{
	return r->revision != index;
}

/* ---- counters (/metrics) ------------------------------------------------ */

enum sy_read_refusal {
	SY_REFUSED_DISABLED,         /* 403 */
	SY_REFUSED_ADDRESS,          /* 403 */
	SY_REFUSED_UNAUTHENTICATED,  /* 401 */
	SY_REFUSED_BAD_TOKEN,        /* 401 */
	SY_REFUSED_FORBIDDEN,        /* 403 */
	SY_REFUSED_BAD_REQUEST,      /* 400, 404, 405 */
	SY_REFUSED_TOO_MANY_WATCHERS,/* 503 */
	SY_REFUSED_STOPPING,         /* 503 */
	SY_REFUSED_N
};
/* Why a parked watch ended: the revision passed its index, its wait ended,
 * sy-control stops, a reload removed its service, its client hung up. */
enum sy_watch_wake {
	SY_WAKE_CHANGE, SY_WAKE_TIMEOUT, SY_WAKE_SHUTDOWN, SY_WAKE_GONE, SY_WAKE_CLOSED, SY_WAKE_N
};

struct sy_read_stats {
	uint64_t lists;              /* answered at once (lists of instances or services) */
	uint64_t watches;            /* watches parked (ever) */
	uint32_t parked;             /* parked now */
	uint64_t wakeups[SY_WAKE_N];
	uint64_t refused[SY_REFUSED_N];
};
const char *sy_read_refusal_str(enum sy_read_refusal r);
const char *sy_watch_wake_str(enum sy_watch_wake w);

/* FNV-1a, 64 bits: the content hash, fed piece by piece. */
#define SY_FNV64_INIT 0xcbf29ce484222325ull
uint64_t sy_fnv64(uint64_t h, const void *data, size_t len);

#endif
