/* SPDX-License-Identifier: BSD-3-Clause
 *
 * libswitchyard-resolve: client-side discovery on the registry Switchyard's
 * balancer uses (docs/client-side.md, man switchyard-resolve(3)).
 *
 * One resolver object per process keeps, per service, the instance list a
 * source delivered (sy-control's embedded registry when the configuration
 * names registry_urls, etcd when it names etcd_endpoints, or ZooKeeper when
 * it names zk_servers, watched by a thread of the resolver; or the caller,
 * through
 * sy_resolve_set_instances()) and picks instances:
 *   - smooth weighted round-robin (nginx's algorithm), sy_resolve_pick_rr;
 *   - least outstanding requests, sy_resolve_pick_least + sy_resolve_done;
 *   - consistent hashing with the balancer's own Maglev builder and flow
 *     hash, sy_resolve_pick_flow (a 5-tuple: the backend `syctl lookup`
 *     names for the same set, table size and seed) and sy_resolve_pick_key
 *     (any byte string).
 *
 * Threads. Every function may be called from any thread. Picks never block:
 * they read an immutable snapshot of the service (instances, pick tables,
 * revision, state) published through an atomic pointer; an update builds a
 * new snapshot beside the old one and swaps it in, and the old one is freed
 * only when no thread holds it (hazard pointers, docs/client-side.md).
 *
 * Errors. Functions return SY_RESOLVE_OK (0) or a negative sy_resolve_err;
 * sy_resolve_strerror() names a code, sy_resolve_errmsg() gives the calling
 * thread's last detailed message. The library never exits, aborts or prints,
 * and keeps no state outside the resolver object.
 *
 * C11. Link with `pkg-config --cflags --libs switchyard-resolve`.
 */
#ifndef SWITCHYARD_RESOLVE_H
#define SWITCHYARD_RESOLVE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SY_RESOLVE_API_VERSION 1 /* the soname's major: libswitchyard-resolve.so.1 */

typedef struct sy_resolver sy_resolver;               /* one per process */
typedef struct sy_resolve_service sy_resolve_service; /* valid until sy_resolve_destroy */

enum sy_resolve_err {
	SY_RESOLVE_OK = 0,
	SY_RESOLVE_EINVAL = -1,   /* a bad argument (the message says which) */
	SY_RESOLVE_ENOMEM = -2,
	SY_RESOLVE_ENOENT = -3,   /* the instance is not in the current set */
	SY_RESOLVE_EEMPTY = -4,   /* no instance to pick (none yet, or all draining) */
	SY_RESOLVE_EOLD = -5,     /* an update older than the current revision: ignored */
	SY_RESOLVE_ESOURCE = -6,  /* the registry could not be read (the message says why) */
};

/* How current a service's set is (the snapshot a pick saw). */
enum sy_resolve_state {
	SY_RESOLVE_NEW = 0,         /* no update yet: nothing to pick */
	SY_RESOLVE_FRESH = 1,       /* the source's latest list, as delivered */
	SY_RESOLVE_STALE = 2,       /* the source is unreachable: the last list keeps serving */
	SY_RESOLVE_FAIL_STATIC = 3, /* too many instances vanished at once: the last good
				     * set keeps serving (the balancer's panic threshold) */
};

/* An address in wire (network) order; IPv4 uses bytes[0..3]. */
struct sy_resolve_addr {
	uint8_t family; /* 4 or 6 */
	uint8_t bytes[16];
};

/* An instance: its identity is (address, port), as for the balancer. */
struct sy_resolve_instance {
	struct sy_resolve_addr addr;
	uint16_t port;   /* host order */
	uint32_t weight; /* 0..65535; 0 = draining: never picked */
	char zone[32];   /* "" if none */
};

struct sy_resolve_config {
	/* Fail-static (the balancer's health.panic_threshold/_window_s): while
	 * more than this share of the good set has vanished within the window,
	 * the good set is kept. 0 = never. Default 0.5 and 10 s. */
	double panic_threshold;
	uint32_t panic_window_ms;
	/* Passive health: an instance marked failed is avoided for
	 * backoff_initial_ms, doubling with every consecutive failure up to
	 * backoff_max_ms. Default 1 s and 30 s. */
	uint32_t backoff_initial_ms;
	uint32_t backoff_max_ms;
	/* Monotonic milliseconds; NULL = CLOCK_MONOTONIC (tests pass their own). */
	uint64_t (*clock_ms)(void *ctx);
	void *clock_ctx;

	/* Source: sy-control's embedded registry (docs/registry-api.md). With
	 * registry_urls set, a thread of the resolver watches every opened
	 * service with blocking queries and keeps its cache current; picks
	 * never wait for it. NULL or "": no source (the caller updates).
	 * The strings are copied by sy_resolve_create. */
	const char *registry_urls;   /* "http://H1:9181,http://H2:9181": several LB
				      * hosts' registries, tried in turn */
	const char *read_token;      /* registry.embedded.read's token; or */
	const char *read_token_file; /* a file holding it (read at the first open) */
	uint32_t watch_wait_ms;      /* a blocking query's wait; default 30000 (1..300000) */
	uint32_t fetch_timeout_ms;   /* the first open's synchronous fetch, over all
				      * URLs; default 2000 */
	/* After a failed read (every URL tried), the next round waits
	 * retry_initial_ms, doubling up to retry_max_ms. Default 200 ms, 5 s. */
	uint32_t retry_initial_ms;
	uint32_t retry_max_ms;

	/* Source: etcd, instead of registry_urls (setting both is EINVAL).
	 * The keys sy-control's etcd source reads (docs/registry-etcd.md),
	 *   <etcd_prefix><service>/<address>:<port> -> {"weight":..,"zone":..}
	 * read through etcd's v3 JSON gateway: a range read of the service's
	 * keys, then a watch from the next revision; a compacted or lost
	 * watch reads again. The revision of a pick is etcd's. watch_wait_ms
	 * renews a silent watch (a read and a new watch); fetch_timeout_ms and
	 * retry_* as above. The table size and hash seed are not in etcd:
	 * open services with the balancer's opts (NULL: sy-control's
	 * defaults, 65537 and 0). */
	const char *etcd_endpoints;  /* "http://H1:2379,http://H2:2379" (or
				      * "H1:2379,..."), tried in turn */
	const char *etcd_prefix;     /* NULL: "/switchyard/services/" (ends with '/') */
	uint32_t etcd_timeout_ms;    /* one range read, a watch's creation;
				      * default 2000 */
	/* etcd's authentication (sy-control's registry.etcd.username and
	 * password_file; both or neither): the resolver authenticates
	 * (/v3/auth/authenticate) before its first request and again when etcd
	 * refuses its token (expired, etcd restarted), and sends the token
	 * with every request. The file is read at each authentication. */
	const char *etcd_username;
	const char *etcd_password_file;

	/* Source: ZooKeeper, instead of the others (setting two is EINVAL).
	 * The znodes sy-control's ZooKeeper source reads (docs/control.md),
	 *   <zk_prefix>/<service>/<address>:<port>  (ephemeral) holding
	 *   {"weight":..,"zone":..}
	 * kept by `syctl register --registry zk://...` agents: the children
	 * listed with a child watch, each value read with a data watch; a
	 * fired watch lists again. One session per resolver (its own thread);
	 * while it is disconnected the services are STALE, and every
	 * (re)connection lists everything again. The revision of a pick is
	 * ZooKeeper's zxid of the last change it saw (the parent's pzxid or a
	 * child's mzxid, whichever is later). fetch_timeout_ms bounds the first
	 * open's wait for the session and its read; retry_* pace failed
	 * listings and new sessions. Table size and seed as for etcd. */
	const char *zk_servers;         /* "H1:2181,H2:2181" (zookeeper_init's list) */
	const char *zk_prefix;          /* NULL: "/switchyard/services" (no trailing '/') */
	uint32_t zk_session_timeout_ms; /* the resolver's session; default 10000
					 * (the server bounds it) */

	/* Source: any registry sy-control follows, by its URL, the form
	 * `syctl register --registry` takes, instead of the per-kind fields
	 * above (kept for older callers; setting two sources is EINVAL):
	 *   etcd://HOST:PORT[,HOST:PORT...][/PREFIX/]  as etcd_endpoints
	 *   zk://HOST:PORT[,HOST:PORT...][/PREFIX]     as zk_servers
	 * A registry kind added to Switchyard is one more scheme here, with
	 * no change of this structure. sy_resolve_registry_check() says
	 * whether a URL is one. The registry's credentials and TLS, where the
	 * kind has them: a user and the file of its password (both or neither;
	 * etcd's log-in, ZooKeeper's digest credentials), a CA file and a
	 * client certificate with its key (both or neither; etcd: with either,
	 * the servers are spoken to over https).
	 * registry_timeout_ms bounds one request (etcd; 0: 2000),
	 * registry_session_timeout_ms is the session (ZooKeeper; 0: 10000).
	 * watch_wait_ms, fetch_timeout_ms and retry_* as for etcd. */
	const char *registry;
	const char *registry_username;
	const char *registry_password_file;
	const char *registry_ca_file;
	const char *registry_cert_file;
	const char *registry_key_file;
	uint32_t registry_timeout_ms;
	uint32_t registry_session_timeout_ms;
};

/* Per-service hashing parameters: those of the balancer's service
 * (services.<name>.table_size / hash_seed in sy-control's configuration). */
struct sy_resolve_service_opts {
	uint32_t table_size; /* prime, 251..1048573; 0 = 65537 (sy-control's default) */
	uint32_t hash_seed;  /* 0 = sy-control's default (0) */
	uint32_t hash;       /* what sy_resolve_pick_flow hashes: services.<name>.hash,
			      * SY_RESOLVE_HASH_*; 0 = the 5-tuple (the default) */
};

/* services.<name>.hash (the values of enum sy_hash_fields, flow_hash.h) */
#define SY_RESOLVE_HASH_5TUPLE 0u
#define SY_RESOLVE_HASH_3TUPLE 1u
#define SY_RESOLVE_HASH_SOURCE_IP 2u
#define SY_RESOLVE_HASH_SOURCE_IP_PORT 3u

/* A picked instance, and what the pick saw. */
struct sy_resolve_pick {
	struct sy_resolve_instance instance;
	uint64_t revision;           /* of the snapshot the pick used */
	enum sy_resolve_state state; /* of that snapshot */
	uint32_t flags;              /* SY_RESOLVE_PICK_* */
	void *ticket;                /* least-outstanding: give back to sy_resolve_done */
};
#define SY_RESOLVE_PICK_ALL_FAILED 1u /* every candidate is marked failed: picked anyway */
#define SY_RESOLVE_PICK_DETOUR 2u     /* the first choice is marked failed: another one */

/* A flow as `syctl lookup SVC SRC:PORT DST:PORT PROTO` takes it: src is the
 * client, dst the service's address (the VIP). */
struct sy_resolve_flow {
	struct sy_resolve_addr src, dst; /* same family */
	uint16_t sport, dport;           /* host order */
	uint8_t proto;                   /* 6 (TCP) or 17 (UDP) */
};

void sy_resolve_config_default(struct sy_resolve_config *c);

/* c may be NULL (defaults). */
int sy_resolve_create(const struct sy_resolve_config *c, sy_resolver **out);

/* Whether sy_resolve_create would take c: SY_RESOLVE_OK, or
 * SY_RESOLVE_EINVAL with the reason in why (why may be NULL). */
int sy_resolve_config_check(const struct sy_resolve_config *c, char *why, size_t whylen);

/* Whether url names a registry the resolver can follow (its kind known,
 * its servers and prefix well-formed): SY_RESOLVE_OK, or SY_RESOLVE_EINVAL
 * with the reason in why (why may be NULL). */
int sy_resolve_registry_check(const char *url, char *why, size_t whylen);
/* Frees everything. No thread may use r or its services any more, and
 * tickets of least-outstanding picks not yet done become invalid. */
void sy_resolve_destroy(sy_resolver *r);

const char *sy_resolve_strerror(int err);
/* "new", "fresh", "stale", "fail-static" (the names syctl resolve prints). */
const char *sy_resolve_state_str(enum sy_resolve_state state);
/* The calling thread's last error message on r ("" if none). */
const char *sy_resolve_errmsg(sy_resolver *r);

/* The service `name` (created empty on first use). opts may be NULL
 * (defaults); opening an existing service with other opts is EINVAL.
 *
 * With a source (registry_urls), the first open of a service reads its list
 * once, synchronously (at most fetch_timeout_ms), then the resolver's
 * thread watches it. opts NULL then means the balancer's table_size,
 * hash_seed and hash, taken from that first answer (if it fails, the open
 * fails, ESOURCE, and nothing is opened) and followed when later answers
 * change them (the embedded registry's: a reload of sy-control). With opts given, a failed first read
 * still opens the service (picks say EEMPTY until the watch delivers) and
 * returns ESOURCE with *out set. */
int sy_resolve_service_open(sy_resolver *r, const char *name,
			    const struct sy_resolve_service_opts *opts,
			    sy_resolve_service **out);

/* The source's last error about s ("" while its reads succeed; why the
 * state is STALE otherwise; with etcd, also how many keys were skipped and
 * why the first), copied into buf. Returns buf. */
const char *sy_resolve_source_error(sy_resolve_service *s, char *buf, size_t len);

/* ---- Picks: never block on an update (a set whose round-robin sequence is
 * too long to precompute steps it under a per-snapshot lock, see
 * docs/client-side.md); allocate only at a thread's first pick of a
 * service. */

int sy_resolve_pick_rr(sy_resolve_service *s, struct sy_resolve_pick *out);
/* out->ticket must be given back to sy_resolve_done exactly once. */
int sy_resolve_pick_least(sy_resolve_service *s, struct sy_resolve_pick *out);
/* The request of a least-outstanding pick ended; ok = 0 also marks the
 * instance failed (as sy_resolve_mark_failed), ok = 1 clears its failures. */
void sy_resolve_done(sy_resolve_service *s, struct sy_resolve_pick *p, int ok);
int sy_resolve_pick_flow(sy_resolve_service *s, const struct sy_resolve_flow *f,
			 struct sy_resolve_pick *out);
int sy_resolve_pick_key(sy_resolve_service *s, const void *key, size_t len,
			struct sy_resolve_pick *out);

/* Passive health: the caller could not use inst (connect refused, timeout):
 * picks avoid it for the back-off. ENOENT if it is not in the current set. */
int sy_resolve_mark_failed(sy_resolve_service *s, const struct sy_resolve_instance *inst);
/* It worked again: its failures are forgotten. */
int sy_resolve_mark_ok(sy_resolve_service *s, const struct sy_resolve_instance *inst);

/* Copy of the current set (canonical order: family, address, port) into
 * out[0..cap-1]; *n gets the set's size (which may exceed cap). Any of
 * revision and state may be NULL. */
int sy_resolve_instances(sy_resolve_service *s, struct sy_resolve_instance *out, size_t cap,
			 size_t *n, uint64_t *revision, enum sy_resolve_state *state);

/* ---- Updates: what sources call (and tests, and a static/manual source). */

/* The service's whole instance list as of `revision` (non-decreasing; an
 * older one is EOLD and changes nothing). Duplicated identities are EINVAL.
 * The fail-static rule decides what is published (state FAIL_STATIC). */
int sy_resolve_set_instances(sy_resolve_service *s, uint64_t revision,
			     const struct sy_resolve_instance *inst, size_t n);
/* The source lost (0) or regained (1) its registry: while lost, the last
 * set keeps serving and the state is STALE; no vanished instance counts as
 * gone until the source is back. */
int sy_resolve_set_reachable(sy_resolve_service *s, int reachable);
/* Re-take decisions that time alone changes (a fail-static loss confirmed
 * after the panic window). Sources call it periodically (about once a
 * second); picks never need it. */
int sy_resolve_tick(sy_resolver *r);

#ifdef __cplusplus
}
#endif

#endif
