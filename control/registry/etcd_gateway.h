/* SPDX-License-Identifier: BSD-3-Clause
 *
 * etcd's v3 JSON gateway as the registry's readers speak it: the request
 * bodies of a prefix range read, a watch from a revision and a log-in, and
 * the parts of the answers the readers need (the etcd follower,
 * etcd_follow.c + etcd_answers.c, that sy-control's etcd source and
 * libswitchyard-resolve's drive); and the writer's, `syctl register
 * --registry etcd://` (control/cli/syctl_register_etcd.c): a lease, a key
 * put with it, its keepalives. Pure functions over jansson, no I/O: what
 * the readers do with the keys (a daemon's services, a resolver's cache) is
 * theirs; how they ask and what an answer says is here, once.
 *
 * The gateway speaks base64 for keys and 64-bit numbers as JSON strings
 * (etcd_kv.h).
 */
#ifndef SY_REGISTRY_ETCD_GATEWAY_H
#define SY_REGISTRY_ETCD_GATEWAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Every key under a prefix: what its kv/range requests have in common
 * (the range's first key and end, base64), built once for all their
 * pages. */
struct sy_etcd_range {
	char *key, *end;
};
/* 0, or -1 when out of memory (r then holds nothing). */
int sy_etcd_range_init(struct sy_etcd_range *r, const char *prefix);
void sy_etcd_range_free(struct sy_etcd_range *r);
/* The body of POST /v3/kv/range for every key of r. page_key: the first
 * key of this page (base64, from sy_etcd_range_next_page), or NULL for the
 * first page; revision: 0 for the newest, else every page at the first
 * page's revision; limit: keys per page, 0 for no limit. A malloc'd
 * string, NULL when out of memory. */
char *sy_etcd_range_request(const struct sy_etcd_range *r, const char *page_key,
			    uint64_t revision, uint32_t limit);
/* The body of POST /v3/watch for every key under prefix, from revision
 * `from` on. Malloc'd, NULL when out of memory. */
char *sy_etcd_watch_request(const char *prefix, uint64_t from);
/* The body of POST /v3/auth/authenticate. Malloc'd, NULL when out of memory. */
char *sy_etcd_auth_request(const char *name, const char *password);

/* The writer's: POST /v3/lease/grant of ttl seconds; /v3/kv/put of key =
 * value (strings) with a lease; /v3/lease/keepalive and /v3/lease/revoke of
 * a lease. Malloc'd, NULL when out of memory. */
char *sy_etcd_lease_grant_request(uint32_t ttl);
char *sy_etcd_put_request(const char *key, const char *value, uint64_t lease);
char *sy_etcd_lease_request(uint64_t lease);
/* A lease/grant answer's lease ID: 0, or -1 (none, or 0). */
int sy_etcd_lease_granted(const json_t *ans, uint64_t *lease);
/* Whether a lease/keepalive answer says the lease is alive (a TTL above 0;
 * the gateway wraps it in "result"); else it expired: grant another. */
bool sy_etcd_lease_alive(const json_t *ans);

/* The message of an answer that is not a result ({"error": {"message"}},
 * {"message"} or {"error": "..."}), NULL if it has none. */
const char *sy_etcd_answer_error(const json_t *j);
/* Whether an error message says the auth token is invalid or expired: the
 * reader logs in again. */
bool sy_etcd_token_refused(const char *message);

/* A kv/range answer: its revision, its kvs (borrowed from the answer; NULL
 * when no key matched) and whether more pages follow. 0, or -1 with the
 * reason in err. */
struct sy_etcd_range_page {
	uint64_t revision;
	const json_t *kvs;
	bool more;
};
int sy_etcd_range_answer(const json_t *ans, struct sy_etcd_range_page *p, char *err,
			 size_t errlen);
/* The first key of the page after kvs (its last key + "\0"), base64,
 * malloc'd; NULL when out of memory or kvs has no key. */
char *sy_etcd_range_next_page(const json_t *kvs);

/* One line of a watch stream: {"result": {...}}, or an error. */
enum sy_etcd_watch_kind {
	SY_ETCD_WATCH_EVENTS,    /* events (maybe none: the creation, progress) */
	SY_ETCD_WATCH_COMPACTED, /* canceled: the start revision was compacted */
	SY_ETCD_WATCH_FAILED,    /* an error or another cancellation: err says */
};
struct sy_etcd_watch_line {
	enum sy_etcd_watch_kind kind;
	bool created;              /* the watch is up */
	uint64_t compact_revision; /* COMPACTED */
	const json_t *events;      /* EVENTS: borrowed, NULL if none */
};
/* Reads a parsed line (j NULL: the line was not JSON). Returns the kind;
 * FAILED with the reason in err. */
enum sy_etcd_watch_kind sy_etcd_watch_answer(const json_t *j, struct sy_etcd_watch_line *w,
					     char *err, size_t errlen);
/* One event of a watch line: a DELETE (else a PUT: the gateway leaves type
 * 0 out), its kv and its mod_revision. 0, or -1 with the reason in err (an
 * unknown type, no mod_revision: "type is not PUT or DELETE", to follow the
 * event's name). */
int sy_etcd_watch_event(const json_t *ev, bool *deleted, const json_t **kv, uint64_t *mod_revision,
			char *err, size_t errlen);

/* etcd's authentication (sy-control's registry.etcd.username /
 * password_file, the resolver's etcd_username / etcd_password_file): the
 * body of POST /v3/auth/authenticate for user with the password read from
 * password_file (its content, trailing newlines dropped), malloc'd; NULL
 * with the reason in why. The password is wiped from memory. */
char *sy_etcd_auth_body(const char *user, const char *password_file, char *why, size_t whylen);
/* The token of /v3/auth/authenticate's answer (a JSON object) into token.
 * 0, or -1 with the reason in why. */
int sy_etcd_auth_token(const json_t *answer, char *token, size_t tlen, char *why, size_t whylen);

#endif
