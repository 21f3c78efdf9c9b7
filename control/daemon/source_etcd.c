/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The etcd source: backends are keys under registry.etcd.prefix,
 *
 *   <prefix><service>/<address>:<port>  ->  {"weight":1,"zone":"a","metadata":{}}
 *
 * normally put by `syctl register --registry etcd://...` with a lease (the
 * lease is etcd's business: when it expires etcd deletes the key and the
 * watch tells us). Spoken to through etcd's v3 JSON gateway with libcurl.
 *
 * Reading etcd is the registry client's follower
 * (control/registry/etcd_follow.c, shared with the resolver): per service
 * with `source: etcd`, a range read of <prefix><service>/ and a watch from
 * its revision + 1, resumed from the last revision seen on the next endpoint
 * when a stream ends (a member died), read again when the revision was
 * compacted; a log-in with username and password_file, TLS with ca_file,
 * cert_file and key_file. The daemon's adapter on it (source_follow.c)
 * applies each listing and piles up the watch's changes for one locked
 * section. When every endpoint failed for a service (a whole round) that
 * service goes fail-static (its last known set stays published); when it
 * is listed again it is reachable, reconciled in the same locked section,
 * so a backend present before and after an outage never leaves. A service
 * whose folder etcd refuses (its roles) is the only one degraded.
 * Keys outside a followed service's folder are not read: etcd's roles may
 * grant one service's keys only, and another sy-control's services are
 * none of this one's business.
 */
#include "source_follow.h"

static bool etcd_enabled(const struct sy_config *cfg)
{
	return cfg->registry.kind[SY_REGISTRY_ETCD].enabled;
}

/* registry.etcd as the follower's: the endpoints as one list */
static void etcd_conf(const struct sy_config *cfg, struct sy_follow_conf *fc)
{
	const struct sy_config_registry *c = &cfg->registry.kind[SY_REGISTRY_ETCD];
	/* the follower copies fc; describe prints it at once */
	static __thread char servers[SY_CONFIG_MAX_ENDPOINTS * 260];
	size_t off = 0;

	servers[0] = 0;
	for (size_t i = 0; i < c->n_servers && off < sizeof(servers); i++)
		off += (size_t)snprintf(servers + off, sizeof(servers) - off, "%s%s", i ? "," : "",
					c->servers[i]);
	*fc = (struct sy_follow_conf){
		.servers = c->enabled && c->n_servers ? servers : NULL,
		.prefix = c->prefix,
		.request_timeout_ms = c->timeout_ms ? c->timeout_ms : 2000,
		.retry_initial_ms = 250,
		.retry_max_ms = 1000,
		.renew_after_ms = 15000, /* a silent watch is started anew (a hung member) */
		.user = c->username,
		.password_file = c->password_file,
		.ca_file = c->ca_file,
		.cert_file = c->cert_file,
		.key_file = c->key_file,
	};
}

static const struct sy_follow_source_kind etcd_kind = {
	.name = "etcd",
	.source = SY_SOURCE_ETCD,
	.src = SY_SRC_ETCD,
	.ops = &sy_etcd_follow_ops,
	.enabled = etcd_enabled,
	.conf = etcd_conf,
	.per_service_loss = true,
	.malformed_msg = "etcd: key or value ignored",
	.entry_field = "key",
	.malformed_count = "invalid keys ignored",
};

static struct sy_follow_source etcd = SY_FOLLOW_SOURCE_STATE(&etcd_kind);

const struct sy_source sy_source_etcd = SY_FOLLOW_SOURCE("etcd", SY_SOURCE_ETCD, &etcd);
