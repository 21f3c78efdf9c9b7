/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The ZooKeeper source: backends are ephemeral znodes
 *
 *   <prefix>/<service>/<address>:<port>     ([address]:port for IPv6)
 *
 * holding JSON {"weight":1,"zone":"a","metadata":{...}} (every field
 * optional; an empty value means weight 1). Agents (`syctl register
 * --registry zk://...`) create them; ZooKeeper deletes them when the agent's
 * session ends (a clean stop deletes at once).
 *
 * Reading ZooKeeper (the session, watches, listings, retries, renewals) is
 * the registry client's follower (control/registry/zk_follow.c, shared with
 * the resolver); the daemon's adapter on it (source_follow.c) makes the
 * services' backends match each whole list it hands over. A missing
 * <prefix>/<service> is created (persistent, open ACL); if that is refused
 * the follower waits for it.
 *
 * Session events: while disconnected or expired the source is unreachable
 * (the services keep their last known set, degraded). On every
 * (re)connection everything is listed again; when all services are listed
 * the source is reachable again. After a reconnection, removals are deferred
 * for one session timeout ("settling"): an agent whose session expired
 * during the outage re-creates its znode in that time, so a backend present
 * before and after an outage is never removed in between.
 */
#include "source_follow.h"

#define ZK_RETRY_MS 500      /* a failed listing or session start, at first */
#define ZK_RETRY_MAX_MS 1000 /* and at most */

static bool zk_enabled(const struct sy_config *cfg)
{
	return cfg->registry.kind[SY_REGISTRY_ZOOKEEPER].enabled;
}

static void zk_conf(const struct sy_config *cfg, struct sy_follow_conf *fc)
{
	const struct sy_config_registry *c = &cfg->registry.kind[SY_REGISTRY_ZOOKEEPER];

	*fc = (struct sy_follow_conf){
		.servers = c->enabled && c->n_servers ? c->servers[0] : NULL,
		.prefix = c->prefix,
		.session_timeout_ms = c->session_timeout_ms,
		.retry_initial_ms = ZK_RETRY_MS,
		.retry_max_ms = ZK_RETRY_MAX_MS,
		/* a reader holds no znode: a new session after one timeout */
		.renew_after_ms = c->session_timeout_ms,
		.create_missing = true,
	};
}

/* Removals wait after an outage until every agent (with a session timeout
 * no longer than ours) is back: an agent unconnected for two session
 * timeouts starts a new session and re-creates its znode; one timeout was
 * too short for an agent whose reconnection came late. */
static uint32_t zk_settle_ms(const struct sy_config *cfg)
{
	return 2 * cfg->registry.kind[SY_REGISTRY_ZOOKEEPER].session_timeout_ms;
}

static const struct sy_follow_source_kind zk_kind = {
	.name = "zookeeper",
	.source = SY_SOURCE_ZOOKEEPER,
	.src = SY_SRC_ZOOKEEPER,
	.ops = &sy_zk_follow_ops,
	.enabled = zk_enabled,
	.conf = zk_conf,
	.settle_ms = zk_settle_ms,
	.malformed_msg = "malformed znode ignored",
	.entry_field = "znode",
	.malformed_count = "malformed znodes ignored",
};

static struct sy_follow_source zk = SY_FOLLOW_SOURCE_STATE(&zk_kind);

const struct sy_source sy_source_zookeeper =
	SY_FOLLOW_SOURCE("zookeeper", SY_SOURCE_ZOOKEEPER, &zk);
