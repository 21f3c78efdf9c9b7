/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The etcd source: the keys sy-control's etcd source reads,
 *
 *   <prefix><service>/<address>:<port>  ->  {"weight":1,"zone":"a","metadata":{}}
 *
 * (put by `syctl register --registry etcd://...` with a lease: when an
 * agent dies its lease expires and etcd deletes the key), read through
 * etcd's v3 JSON gateway. Reading them is the registry client's follower
 * (control/registry/etcd_follow.c) through the resolver's adapter on it
 * (source_follow.c): per opened service a range read and a watch stream
 * from its revision; the list is published with etcd's revision.
 *
 * A request that failed (no connection, a timeout, an error answer, an
 * answer that does not parse) is noted (sy_resolve_source_error) and the
 * next endpoint is tried at once; when every endpoint failed (a whole round)
 * the service is unreachable: the last list keeps serving with state STALE
 * and the reason is kept; the next round waits a back-off (retry_initial_ms
 * doubling up to retry_max_ms). A compacted watch reads again; a watch
 * silent for watch_wait_ms is renewed; with etcd_username /
 * etcd_password_file every request carries a token, renewed when etcd
 * refuses it. Picks never wait for any of this.
 *
 * The first open of a service reads it once synchronously, in the caller's
 * thread (read_once, every endpoint within fetch_timeout_ms); the watch then
 * starts with a read of its own, on the endpoint that answered.
 */
#include <string.h>

#include "source_follow.h"

#define DEFAULT_PREFIX "/switchyard/services/"

/* How many endpoints the list names. */
static unsigned count_endpoints(const char *list)
{
	unsigned n = 0;

	for (const char *p = list; *p;) {
		size_t len = strcspn(p, ", ");

		n += len > 0;
		p += len;
		p += strspn(p, ", ");
	}
	return n;
}

static int etcd_conf(const struct sy_resolve_config *c, struct sy_follow_conf *fc)
{
	const char *prefix = c->etcd_prefix && *c->etcd_prefix ? c->etcd_prefix : DEFAULT_PREFIX;
	const char *user = c->etcd_username && *c->etcd_username ? c->etcd_username : NULL;
	const char *pwf = c->etcd_password_file && *c->etcd_password_file ? c->etcd_password_file
									  : NULL;

	/* no endpoint, or a prefix sy-control would refuse: a bad argument */
	if (!count_endpoints(c->etcd_endpoints) || prefix[strlen(prefix) - 1] != '/' ||
	    c->etcd_timeout_ms == 0 || !user != !pwf) /* a user and a password go together */
		return SY_RESOLVE_EINVAL;
	*fc = (struct sy_follow_conf){
		.servers = c->etcd_endpoints,
		.prefix = prefix,
		.request_timeout_ms = c->etcd_timeout_ms,
		.retry_initial_ms = c->retry_initial_ms,
		.retry_max_ms = c->retry_max_ms,
		.renew_after_ms = c->watch_wait_ms, /* a silent watch is renewed */
		.user = user,
		.password_file = pwf,
	};
	return SY_RESOLVE_OK;
}

static const struct sy_follow_kind etcd_kind = {
	.ops = &sy_etcd_follow_ops,
	.conf = etcd_conf,
	.skipped = "key(s) skipped",
	.first_skip = true,
	.quote_key = true,
};

static int etcd_create(sy_resolver *r)
{
	return sy_follow_source_create(r, &etcd_kind);
}

const struct sy_source_ops sy_source_etcd_ops = {
	.name = "etcd",
	.lists_opts = false, /* etcd holds no Maglev parameters */
	.create = etcd_create,
	.prepare = sy_follow_source_prepare,
	.fetch = sy_follow_source_fetch,
	.watch = sy_follow_source_watch,
	.destroy = sy_follow_source_destroy,
};
