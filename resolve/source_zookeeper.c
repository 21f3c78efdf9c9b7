/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The ZooKeeper source: the znodes sy-control's ZooKeeper source reads,
 *
 *   <prefix>/<service>/<address>:<port>  (ephemeral)  {"weight":1,"zone":"a",...}
 *
 * kept by `syctl register --registry zk://...` agents (ZooKeeper deletes a
 * znode when its agent's session ends). Reading them is the registry
 * client's follower (control/registry/zk_follow.c, sy-control's too)
 * through the resolver's adapter on it (source_follow.c): one session per
 * resolver lists every opened service with watches; the list is published
 * with ZooKeeper's zxid of the latest change as the revision.
 *
 * While the session is disconnected or expired every service is
 * unreachable (STALE: the last list keeps serving, the reason in
 * sy_resolve_source_error). On every (re)connection everything is listed
 * again and published (FRESH). The first open of a service reads it once in
 * the caller's thread, on the follower's session (read_once).
 */
#include <string.h>

#include "source_follow.h"
#include "zk_client.h"

static int zk_conf(const struct sy_resolve_config *c, struct sy_follow_conf *fc)
{
	const char *prefix = c->zk_prefix && *c->zk_prefix ? c->zk_prefix : SY_ZK_DEFAULT_PREFIX;

	/* a prefix sy-control would refuse (registry.zookeeper.prefix) */
	if (prefix[0] != '/' || (strlen(prefix) > 1 && prefix[strlen(prefix) - 1] == '/') ||
	    strlen(prefix) > SY_ZK_PATH_MAX / 2 || c->zk_session_timeout_ms < 1000 ||
	    c->zk_session_timeout_ms > 600000)
		return SY_RESOLVE_EINVAL;
	*fc = (struct sy_follow_conf){
		.servers = c->zk_servers,
		.prefix = prefix,
		.session_timeout_ms = c->zk_session_timeout_ms,
		.retry_initial_ms = c->retry_initial_ms,
		.retry_max_ms = c->retry_max_ms,
		/* a reader holds no znode: a new session after the back-off's bound */
		.renew_after_ms = c->retry_max_ms,
		.create_missing = false,
	};
	return SY_RESOLVE_OK;
}

static const struct sy_follow_kind zk_kind = {
	.ops = &sy_zk_follow_ops,
	.conf = zk_conf,
	.skipped = "znodes skipped (not a backend)",
	.first_skip = false, /* the last */
	.quote_key = false,
};

static int zk_create(sy_resolver *r)
{
	return sy_follow_source_create(r, &zk_kind);
}

const struct sy_source_ops sy_source_zookeeper_ops = {
	.name = "zookeeper",
	.lists_opts = false, /* table size and seed are not in ZooKeeper */
	.create = zk_create,
	.prepare = sy_follow_source_prepare,
	.fetch = sy_follow_source_fetch,
	.watch = sy_follow_source_watch,
	.destroy = sy_follow_source_destroy,
};
