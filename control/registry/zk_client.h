/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The ZooKeeper registry client: the protocol pieces sy-control's ZooKeeper
 * source (source_zookeeper.c), `syctl register --registry zk://...`
 * (syctl_register_zk.c) and libswitchyard-resolve's ZooKeeper source
 * (resolve/source_zookeeper.c) all need, written once. The data format (the
 * znode's JSON value) is etcd_kv.h's sy_zk_parse_value.
 *
 *   <prefix>/<service>/<address>:<port>    ([address]:port for IPv6)
 *
 * an ephemeral znode per backend, holding {"weight":1,"zone":"a",...}.
 *
 * libzookeeper_mt, synchronous calls: they may be made from any thread but
 * never from the watcher callback (the library's own thread; the call would
 * deadlock). Callers' watchers only record what sy_zk_event says.
 */
#ifndef SY_CONTROL_ZK_CLIENT_H
#define SY_CONTROL_ZK_CLIENT_H

#ifndef THREADED
#define THREADED 1 /* the multi-threaded client library, libzookeeper_mt */
#endif

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <zookeeper/zookeeper.h>

#include "etcd_kv.h"

#define SY_ZK_DEFAULT_PREFIX "/switchyard/services"
#define SY_ZK_PATH_MAX 1024
#define SY_ZK_VALUE_MAX 8192 /* a znode value above this is refused (malformed) */

/* ---- session ------------------------------------------------------------- */

/* Starts a session (zookeeper_init) with watcher and ctx; the client
 * library's log level from $SY_ZK_LOG (1 error .. 4 debug; default none).
 * digest: "user:password" (ZooKeeper's digest scheme, zoo_add_auth: the
 * library sends it on every connection of the session), or NULL for none.
 * NULL with errno on failure. zookeeper_close ends it. */
zhandle_t *sy_zk_open(const char *servers, int timeout_ms, watcher_fn watcher, void *ctx,
		      const char *digest);

/* The digest credentials "user:password" for user and the password in
 * password_file (password_file.h) into out. 0, or -1 with the reason in
 * why (a user with ':' or empty, an unreadable or empty file, too long). */
int sy_zk_digest(const char *user, const char *password_file, char *out, size_t len, char *why,
		 size_t whylen);

/* What a watcher event means to a registry client. */
enum sy_zk_event {
	SY_ZK_EV_OTHER = 0,  /* connecting, associating: nothing to do */
	SY_ZK_EV_CONNECTED,  /* (re)connected: watches may have been lost, list again */
	SY_ZK_EV_EXPIRED,    /* the session is over (expired, auth refused): a new one */
	SY_ZK_EV_NODE,       /* a watch on `path` fired */
};
enum sy_zk_event sy_zk_event(int type, int state, const char *path);

/* The CLOCK_MONOTONIC time ms from now, for pthread_cond_timedwait on the
 * condition a reader's watcher signals (the condition made with
 * pthread_condattr_setclock(CLOCK_MONOTONIC)). */
struct timespec;
void sy_zk_deadline(struct timespec *ts, uint64_t ms);

/* CLOCK_MONOTONIC now, in ms. */
uint64_t sy_zk_mono_ms(void);

/* A connection error (retry on the same session, or after reconnecting),
 * as opposed to a refusal (no rights, bad arguments). */
bool sy_zk_transient(int rc);

/* Whether a client that no server has answered since down_since (0: it is
 * connected) should start a new session: the 3.8 C client, once it lost
 * its server, can keep retrying a dead or refusing one of the list for
 * minutes ("Delaying connection after exhaustively trying all servers")
 * while another answers; a new session takes the list in a new random
 * order. after_ms is the caller's: a reader holds no ephemeral znode and
 * renews after one session timeout (by then the servers have expired its
 * session anyway) or its retry bound; an agent after two, since a new
 * session re-creates its znode, a change every reader sees, where a
 * server restarted on its data would have resumed the old session. */
static inline bool sy_zk_renew_due(uint64_t down_since, uint64_t now, uint64_t after_ms)
{
	return down_since && now - down_since >= after_ms;
}

/* ---- paths and URLs ------------------------------------------------------- */

/* <prefix>/<service> (a prefix of "/" has no trailing part). 0, or -1 if it
 * does not fit. */
int sy_zk_service_path(const char *prefix, const char *service, char *buf, size_t len);
/* <service path>/<child>. 0 or -1. */
int sy_zk_child_path(const char *service_path, const char *child, char *buf, size_t len);

/* zk://HOST:PORT[,HOST:PORT...][/PREFIX] -> hosts "HOST:PORT,..." and the
 * prefix (SY_ZK_DEFAULT_PREFIX without one; no trailing '/'). 0, or -1 with
 * the reason in why. */
int sy_zk_url_parse(const char *url, char *hosts, size_t hlen, char *prefix, size_t plen,
		    char *why, size_t whylen);

/* ---- reading ------------------------------------------------------------- */

enum sy_zk_missing {
	SY_ZK_MISSING_WAIT,   /* an absent service znode: an exists watch, no children */
	SY_ZK_MISSING_CREATE, /* create it (persistent, with its parents); if refused, wait */
	SY_ZK_MISSING_CREATE_OWNED, /* the same, owned (sy_zk_create_parents) */
};
enum sy_zk_listed {
	SY_ZK_LISTED = 0,     /* the children of an existing znode */
	SY_ZK_CREATED,        /* the znode was missing and was created */
	SY_ZK_ABSENT,         /* missing (and not created: *create_rc says why, ZOK
			       * when not asked to): no children, an exists watch set */
};

/* The children of path, sorted (strcmp), with a child watch when watch;
 * *pzxid (may be NULL) gets the zxid of the last change of the children (0
 * when absent). A missing path: see missing. ZOK (sv to free with
 * deallocate_String_vector) or a ZooKeeper error. */
int sy_zk_list_children(zhandle_t *zh, const char *path, bool watch, enum sy_zk_missing missing,
			struct String_vector *sv, int64_t *pzxid, enum sy_zk_listed *how,
			int *create_rc);

/* A backend znode's value as read and parsed. */
struct sy_zk_value {
	int64_t mzxid;        /* of the data read */
	bool valid;           /* it parses: weight, zone, metadata of e */
	struct sy_etcd_entry e;
	char why[192];        /* why not valid */
};
/* Reads path's data (with a data watch when watch). When its mzxid is
 * known_mzxid the data is not parsed again: ZOK with *changed false and v
 * untouched but for mzxid. ZNONODE when it is gone; another ZooKeeper error
 * otherwise. */
int sy_zk_read_value(zhandle_t *zh, const char *path, bool watch, int64_t known_mzxid,
		     struct sy_zk_value *v, bool *changed);

/* ---- a service's children, cached ----------------------------------------
 * Every reader (sy-control, the resolver) keeps the children it listed with
 * their values, and after a fired watch lists again and reads only the new
 * and changed ones. */
struct sy_zk_child {
	char *name;
	bool bad_name;            /* not ADDRESS:PORT: never read */
	bool stale;               /* read the value (again) */
	struct sy_backend_id id;  /* from the name */
	struct sy_zk_value v;     /* v.mzxid 0: not read; v.valid: name and value parse */
};
struct sy_zk_children {
	struct sy_zk_child *c;    /* sorted by name (strcmp) */
	size_t n;
};
/* Told about a child whose name or value does not describe a backend. */
typedef void (*sy_zk_malformed_fn)(void *ctx, const char *child, const char *why);

/* Lists service_path (sy_zk_list_children: watch, missing, pzxid, how,
 * create_rc as there), merges the listing into cc (children gone are
 * dropped, new ones parsed) and reads the new and stale ones (with data
 * watches when watch). *changed is set when the set of valid backends or a
 * value may have changed. ZOK; ZNONODE when a listed child vanished before
 * its value was read (the others were read: list again); or a ZooKeeper
 * error, after which cc keeps what was read and the next call continues. */
int sy_zk_children_sync(zhandle_t *zh, const char *service_path, bool watch,
			enum sy_zk_missing missing, struct sy_zk_children *cc, bool *changed,
			int64_t *pzxid, enum sy_zk_listed *how, int *create_rc,
			sy_zk_malformed_fn malformed, void *ctx);
/* The child named name, NULL if none. */
struct sy_zk_child *sy_zk_children_find(struct sy_zk_children *cc, const char *name);
/* Every child is read again at the next sync (after a reconnection). */
void sy_zk_children_mark_stale(struct sy_zk_children *cc);
void sy_zk_children_free(struct sy_zk_children *cc);

/* ---- writing ------------------------------------------------------------- */

/* path and its missing ancestors, persistent, empty. owned (a session with
 * digest credentials): every right to the credentials' identity and
 * reading to anyone (ZooKeeper's auth ids + world read), so that clients
 * without them cannot add, change or remove backends there; else the open
 * ACL (anyone may do anything). */
int sy_zk_create_parents(zhandle_t *zh, const char *path, bool owned);
/* The backend's ephemeral znode path (under parent, created if missing,
 * owned as above) holding val: created, or taken over when it is this
 * session's (a retried create), or replaced in one transaction when another
 * session left it (an agent restarted before its old session expired;
 * *replaced_owner gets that session, 0 otherwise). ZNOAUTH: the parent's
 * ACL does not let this session's identity create there. */
int sy_zk_create_ephemeral(zhandle_t *zh, const char *parent, const char *path, const char *val,
			   bool owned, int64_t *replaced_owner);

#endif
