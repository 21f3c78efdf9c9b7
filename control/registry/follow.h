/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Following a registry: the reader half of a registry client. A follower
 * owns a thread and its connection to one registry, keeps a set of
 * services current and tells its user through a sink. Its users are the
 * balancer's source (control/daemon/source_*.c: backends into the daemon's
 * state) and the resolver's (resolve/source_*.c: instances into a cache);
 * what a registry's protocol takes (sessions, watches, listings, retries,
 * renewals) is written once, in the registry's driver:
 *
 *   zk_follow.c   ZooKeeper (children + watches, zk_client.c)
 *   etcd_follow.c etcd (per service a range read + a watch stream over the
 *                 v3 JSON gateway, libcurl; etcd_gateway.c, etcd_kv.c)
 *
 * (one per kind of registry_kinds.h: its ops, sy_<name>_follow_ops, say
 * also what the kind is to its users: log words, URL, traits)
 *
 * The sink's calls come from the follower's thread, never under a lock of
 * the follower's: a sink may take its own locks, and may call follow,
 * unfollow and refresh, but not close.
 */
#ifndef SY_REGISTRY_FOLLOW_H
#define SY_REGISTRY_FOLLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "etcd_kv.h" /* struct sy_etcd_entry: a backend as a registry holds it */
#include "registry_kinds.h"

struct sy_follower;

struct sy_follow_conf {
	const char *servers;         /* the registry's endpoints; NULL: idle (no connection) */
	const char *prefix;          /* where its services live */
	uint32_t session_timeout_ms; /* the registry's session, where it has one */
	/* One request's bound, where the registry is asked per request (etcd:
	 * a range read, a log-in, a watch's creation). 0: 2000. */
	uint32_t request_timeout_ms;
	uint32_t retry_initial_ms;   /* a failed attempt is retried after this, */
	uint32_t retry_max_ms;       /* doubling up to this */
	/* No server has answered for this long: a new session (zk_client.h,
	 * sy_zk_renew_due). etcd: a watch silent this long is started anew
	 * from the revision held. */
	uint32_t renew_after_ms;
	bool create_missing;         /* a missing service is created (else waited for) */
	/* The registry's credentials, where it has them (etcd: a user and the
	 * file that holds the password, logged in with before the first request
	 * and again when the registry refuses the token). Both or neither;
	 * NULL: none. */
	const char *user;
	const char *password_file;
	/* TLS, where the registry speaks it (etcd over https): the CA that
	 * signs the servers' certificates (NULL: the system's) and a client
	 * certificate with its key (both or neither). */
	const char *ca_file;
	const char *cert_file;
	const char *key_file;
};

/* One service's list as read. */
struct sy_follow_list {
	uint64_t revision;           /* of the latest change the list holds */
	size_t n;
	const struct sy_etcd_entry *e; /* the valid entries (e[i].id from the name) */
	unsigned skipped;            /* entries that are no backend (etcd: the service's
				      * keys that are not, as of the list) */
};

/* One change of a watched service: a backend put (e as it is now), or gone
 * (deleted, or its value no longer a backend's: only e.id is set). */
struct sy_follow_change {
	bool gone;
	struct sy_etcd_entry e;
};

struct sy_follow_sink {
	void *ctx;
	/* A followed service's whole list: after every (re)connection, every
	 * change, and refresh. */
	void (*listed)(void *ctx, const char *service, void *svc, const struct sy_follow_list *l);
	/* May be NULL. Where the registry tells changes (etcd's watch), a
	 * sink that has this gets each answer's changes, in order, instead of
	 * the whole list after each: a flood of single changes then costs
	 * what they change, not the list's size each. Every read of a whole
	 * list still comes by listed. Returns the ms until it wants a tick
	 * (it holds changes it could not apply yet), or 0. */
	uint32_t (*changed)(void *ctx, const char *service, void *svc, uint64_t revision,
			    const struct sy_follow_change *c, size_t n);
	/* The registry answers again (where: "SERVERS session 0x... new_session=yes
	 * timeout_ms=N" for a log line): every service is listed anew next.
	 * etcd: where is "endpoints=... endpoint=...", said when a read
	 * succeeds after a whole round failed (each service is listed when
	 * its own read succeeds). May be NULL. */
	void (*connected)(void *ctx, const char *where);
	/* service NULL: the registry is out of reach (called on every round
	 * while it is); else that service's listing failed (it is retried;
	 * etcd: on every endpoint, a whole round). */
	void (*lost)(void *ctx, const char *service, void *svc, const char *why);
	/* An entry of service that is no backend (its name or value). */
	void (*malformed)(void *ctx, const char *service, void *svc, const char *entry,
			  const char *why);
	/* What befell a followed service that is no loss yet, for its
	 * operator (may be NULL): a request failed while other endpoints are
	 * left to try, a watch stream ended and is read again. */
	void (*note)(void *ctx, const char *service, void *svc, const char *why);
	/* A line for an operator's log ("warn", "info"); may be NULL. */
	void (*log)(void *ctx, const char *level, const char *msg);
	/* After every round of the thread, and at least once a second: whether
	 * every followed service was listed since the last connection. Returns
	 * the ms until it wants the next call (0: a second). */
	uint32_t (*tick)(void *ctx, bool all_listed);
};

/* What the follower shows an operator. */
struct sy_follow_status {
	bool connected;
	char where[200];   /* "SERVERS session 0x... (timeout N ms)"; etcd: the
			    * endpoint that answered last */
	uint64_t backends; /* valid entries over the followed services */
};

struct sy_follow_ops {
	const char *name; /* "zookeeper", "etcd": as in registry_kinds.h */
	/* What the kind is, for its users (sy-control's source, the resolver's):
	 *  - entry: the log lines' field that names an entry ("key", "znode");
	 *  - malformed: sy-control's warn line of an entry that is no backend
	 *    ("etcd: key or value ignored"), and its status count of them
	 *    ("invalid keys ignored");
	 *  - per_service_loss: a failed listing of one service (lost(service):
	 *    etcd, every endpoint failed for it) leaves that service alone
	 *    fail-static until it is listed again; the others go on (etcd's
	 *    roles may deny one folder). Else (ZooKeeper) only a lost
	 *    connection (lost(NULL)) does, for every service, and a failed
	 *    listing is retried quietly;
	 *  - sessions: the agents' entries live by sessions the registry
	 *    restores after a restart (ZooKeeper): after an outage, sy-control
	 *    defers removals for two session timeouts (source_follow.c);
	 *  - the resolver's status words for skipped entries ("key(s)
	 *    skipped"), whether it names the first or the last one skipped,
	 *    and whether it quotes that name. */
	const char *entry, *malformed_msg, *malformed_count;
	bool per_service_loss;
	bool sessions;
	const char *skipped;
	bool first_skip, quote_key;
	/* Its URL, as syctl's --registry and the resolver's registry take it:
	 * "<scheme>://HOST:PORT[,HOST:PORT...][/PREFIX]", parsed into the
	 * servers its follower takes (conf.servers) and the prefix (the
	 * default without one); 0, or -1 with why. */
	const char *scheme;
	int (*url_parse)(const char *url, char *servers, size_t slen, char *prefix, size_t plen,
			 char *why, size_t whylen);
	/* Those servers to be spoken to over TLS (the TLS files are given),
	 * rewritten in place (etcd: https://); 0, or -1 when they no longer
	 * fit in slen. NULL: the servers stay as they are. */
	int (*url_tls)(char *servers, size_t slen);
	/* Its prefix: the default, and whether it is a folder of keys (ends
	 * with '/', etcd) or a path (must not, ZooKeeper); it starts with '/'.
	 * prefix_folder is the kind's dir in registry_kinds.h
	 * (SY_REGISTRY_FOLDER_<ID>), never written apart. */
	const char *default_prefix;
	bool prefix_folder;
	/* It takes a user and password file (conf.user), TLS files (conf.ca_file...). */
	bool auth, tls;
	/* Starts the thread. 0, or -1 with why in err. conf is copied. */
	int (*open)(const struct sy_follow_conf *conf, const struct sy_follow_sink *sink,
		    struct sy_follower **f, char *err, size_t errlen);
	/* A new configuration (a reload): a changed endpoint list or timeout
	 * starts a new session, a changed prefix lists every service anew
	 * (etcd: any new configuration reads every service anew). */
	int (*configure)(struct sy_follower *f, const struct sy_follow_conf *conf);
	/* Follow service (svc is given back to the sink); following one again
	 * lists it anew. 0, or -1 (out of memory). */
	int (*follow)(struct sy_follower *f, const char *service, void *svc);
	void (*unfollow)(struct sy_follower *f, const char *service);
	/* Every followed service is listed and delivered again. */
	void (*refresh)(struct sy_follower *f);
	/* One read of service in the caller's thread, no watch, within
	 * timeout_ms: 0 and *l (l->e malloc'd: free it), or -1 with why. */
	int (*read_once)(struct sy_follower *f, const char *service, uint32_t timeout_ms,
			 struct sy_follow_list *l, char *err, size_t errlen);
	void (*status)(struct sy_follower *f, struct sy_follow_status *st);
	/* Stops and joins the thread (not from a sink call), frees f. */
	void (*close)(struct sy_follower *f);
};

/* sy_<name>_follow_ops, for each kind of registry_kinds.h (in its
 * <kind>_follow.c) */
#define SY_FOLLOW_OPS_DECL(ID, name, req, dir, sdesc, kdesc, a, b) \
	extern const struct sy_follow_ops sy_##name##_follow_ops;
SY_REGISTRY_KINDS(SY_FOLLOW_OPS_DECL, ~, ~)
#undef SY_FOLLOW_OPS_DECL

#endif
