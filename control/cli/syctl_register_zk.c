/* SPDX-License-Identifier: BSD-3-Clause
 *
 * `syctl register --registry zk://HOST:PORT[,HOST:PORT...][/PREFIX]`: the
 * backend-side agent for the ZooKeeper source. Keeps one ephemeral znode
 *
 *   PREFIX/SERVICE/ADDR:PORT   ([ADDR]:PORT for IPv6; PREFIX default
 *                               /switchyard/services)
 *
 * holding {"weight":W,"zone":"Z","metadata":{...}} for as long as it runs.
 * The TTL is the session timeout (--ttl, at least 2 s; the server may
 * negotiate it within its own bounds): the client library heartbeats, and if
 * the agent dies ZooKeeper deletes the znode when the session expires. Missing
 * parents are created (persistent). If the session expires (the agent was cut
 * off longer than its timeout) a new session is started and the znode is
 * created again; a znode left by another session (an agent restarted before
 * its old session expired) is replaced in one transaction. On SIGTERM/SIGINT
 * the znode is deleted and the session closed.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "netaddr.h"
#include "syctl.h"
#include "syctl_register_agent.h"
#include "zk_client.h" /* the session, paths, the ephemeral znode: shared */

static volatile sig_atomic_t stop;
static atomic_int expired;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* The library's thread: only note what happened. */
static void watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
	(void)zh;
	(void)ctx;
	if (sy_zk_event(type, state, path) == SY_ZK_EV_EXPIRED)
		atomic_store(&expired, 1);
}

static bool name_ok(const char *s, size_t min, size_t max)
{
	size_t n = strlen(s);

	if (n < min || n > max)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '.' || *s == '-'))
			return false;
	return true;
}

static bool fatal_rc(int rc)
{
	return rc == ZNOAUTH || rc == ZBADARGUMENTS || rc == ZINVALIDACL ||
	       rc == ZNOCHILDRENFOREPHEMERALS || rc == ZAUTHFAILED;
}

int syctl_register_zookeeper(const char *url, const struct sy_registration *r, const char *addr,
			     int once, const struct syctl_registry_access *access)
{
	char hosts[1024], prefix[512], parent[1024], path[1200], ep[80];
	struct sy_backend_id id = { .port = r->port };
	int timeout_ms = (int)r->ttl_s * 1000, rc = 0;
	uint64_t down_since = syctl_mono_ms(), next_check = 0, retry_at = 0;
	bool created = false, ever = false, warned = false;
	zhandle_t *zh = NULL;
	json_t *v;
	char *val, why[300], digest[1024];

	if (strncmp(url, "zk://", 5))
		return SYCTL_AGENT_NOT_MINE;
	if (access->ca_file || access->cert_file || access->key_file) {
		fprintf(stderr, "syctl register: --registry zk://...: ZooKeeper takes no TLS files here (its digest credentials: --registry-user and --registry-password-file)\n");
		return 2;
	}
	/* digest credentials: the znodes made are this identity's, readable by all */
	if (access->user &&
	    sy_zk_digest(access->user, access->password_file, digest, sizeof(digest), why, sizeof(why))) {
		fprintf(stderr, "syctl register: --registry-user/--registry-password-file: %s\n", why);
		return 2;
	}
	if (!r->service[0] || !addr || !r->port) {
		fprintf(stderr, "syctl register: --service, --addr, --port and --registry are required\n");
		return 2;
	}
	if (once) {
		fprintf(stderr, "syctl register: --once does not apply to zk:// (the znode lives as long as the agent's session)\n");
		return 2;
	}
	if (sy_zk_url_parse(url, hosts, sizeof(hosts), prefix, sizeof(prefix), why, sizeof(why))) {
		fprintf(stderr, "syctl register: --registry '%s' is not zk://HOST:PORT[,HOST:PORT...][/PREFIX] (%s)\n",
			url, why);
		return 2;
	}
	if (!name_ok(r->service, 1, 63)) {
		fprintf(stderr, "syctl register: --service '%s' must be [A-Za-z0-9_.-]{1,63}\n", r->service);
		return 2;
	}
	if (!name_ok(r->zone, 0, 31)) {
		fprintf(stderr, "syctl register: --zone '%s' must be [A-Za-z0-9_.-]{0,31}\n", r->zone);
		return 2;
	}
	if (sy_parse_ip(addr, &id.family, id.addr)) {
		fprintf(stderr, "syctl register: --addr '%s' is not an IP address\n", addr);
		return 2;
	}
	v = json_pack("{s:i}", "weight", (int)r->weight);
	if (v && r->zone[0])
		json_object_set_new(v, "zone", json_string(r->zone));
	if (v && r->server_id)
		json_object_set_new(v, "server_id", json_integer(r->server_id));
	if (v && r->metadata_json[0]) {
		json_t *m = json_loads(r->metadata_json, 0, NULL);

		if (!json_is_object(m)) {
			fprintf(stderr, "syctl register: --metadata must be a JSON object\n");
			json_decref(m);
			json_decref(v);
			return 2;
		}
		json_object_set_new(v, "metadata", m);
	}
	val = v ? json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(v);
	if (!val) {
		fprintf(stderr, "syctl register: out of memory\n");
		return 1;
	}
	sy_format_endpoint(&id, ep, sizeof(ep));
	sy_zk_service_path(prefix, r->service, parent, sizeof(parent));
	sy_zk_child_path(parent, ep, path, sizeof(path));

	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, SIG_IGN);

	while (!stop) {
		uint64_t now = syctl_mono_ms();
		int st;

		if (!zh) {
			if (now < retry_at) {
				usleep(50000);
				continue;
			}
			atomic_store(&expired, 0);
			zh = sy_zk_open(hosts, timeout_ms, watcher, NULL, access->user ? digest : NULL);
			if (!zh) {
				fprintf(stderr, "level=warn msg=\"cannot start a ZooKeeper session; retrying\" registry=zk://%s error=\"%s\"\n",
					hosts, strerror(errno));
				retry_at = now + 1000;
				continue;
			}
			created = false;
			down_since = now;
		}
		st = zoo_state(zh);
		if (atomic_load(&expired) || st == ZOO_EXPIRED_SESSION_STATE ||
		    st == ZOO_AUTH_FAILED_STATE) {
			fprintf(stderr, "level=warn msg=\"session expired; starting a new one and re-creating the znode\" registry=zk://%s znode=%s\n",
				hosts, path);
			zookeeper_close(zh);
			zh = NULL;
			continue;
		}
		if (st != ZOO_CONNECTED_STATE) {
			if (!warned && now - down_since > 1000) {
				fprintf(stderr, "level=warn msg=\"registry unreachable\" registry=zk://%s\n", hosts);
				warned = true;
			}
			/* two session timeouts (sy_zk_renew_due says why) */
			if (sy_zk_renew_due(down_since, now, 2 * (uint64_t)timeout_ms)) {
				fprintf(stderr, "level=warn msg=\"no server answered for a session timeout; starting a new session\" registry=zk://%s\n",
					hosts);
				zookeeper_close(zh);
				zh = NULL;
				continue;
			}
			usleep(50000);
			continue;
		}
		down_since = now;
		warned = false;
		if (!created && now >= retry_at) {
			int64_t owner;

			rc = sy_zk_create_ephemeral(zh, parent, path, val, access->user != NULL, &owner);
			if (owner) /* an agent restarted before its old session expired */
				fprintf(stderr, "level=warn msg=\"replaced a znode of another session (a previous agent?)\" znode=%s owner=0x%" PRIx64 "\n",
					path, (uint64_t)owner);
			if (rc == ZOK) {
				const clientid_t *me = zoo_client_id(zh);

				created = true;
				next_check = now + (uint64_t)(timeout_ms / 3 > 1000 ? timeout_ms / 3 : 1000);
				printf("level=info msg=%s service=%s addr=%s port=%u znode=%s session=0x%" PRIx64 " session_timeout_ms=%d\n",
				       ever ? "re-registered" : "registered", r->service, addr, r->port, path,
				       me ? (uint64_t)me->client_id : 0, zoo_recv_timeout(zh));
				fflush(stdout);
				ever = true;
			} else if (fatal_rc(rc)) {
				fprintf(stderr, "level=error msg=\"registration refused\" znode=%s error=\"%s\"%s\n",
					path, zerror(rc),
					rc != ZNOAUTH ? ""
					: access->user
						? " hint=\"the ACL of the service's znode does not let this user create there\""
						: " hint=\"the service's znode is owned: give its user (--registry-user, --registry-password-file)\"");
				break;
			} else {
				fprintf(stderr, "level=warn msg=\"cannot create the znode; retrying\" znode=%s error=\"%s\"\n",
					path, zerror(rc));
				retry_at = now + 1000;
			}
		} else if (created && now >= next_check) {
			/* still there? (an operator may have deleted it) */
			struct Stat s;

			next_check = now + (uint64_t)(timeout_ms / 3 > 1000 ? timeout_ms / 3 : 1000);
			if (zoo_exists(zh, path, 0, &s) == ZNONODE) {
				fprintf(stderr, "level=warn msg=\"znode vanished; re-creating it\" znode=%s\n", path);
				created = false;
			}
		}
		usleep(50000);
	}
	if (zh && created && zoo_state(zh) == ZOO_CONNECTED_STATE) {
		const clientid_t *me = zoo_client_id(zh);
		struct Stat s;

		if (zoo_exists(zh, path, 0, &s) == ZOK && me && s.ephemeralOwner == me->client_id &&
		    zoo_delete(zh, path, -1) == ZOK) {
			printf("level=info msg=deregistered service=%s addr=%s port=%u znode=%s\n",
			       r->service, addr, r->port, path);
			fflush(stdout);
		}
	} else if (zh && created) {
		fprintf(stderr, "level=warn msg=\"registry unreachable at exit: the znode goes when the session expires\" znode=%s\n",
			path);
	}
	if (zh)
		zookeeper_close(zh);
	explicit_bzero(digest, sizeof(digest));
	free(val);
	return stop ? 0 : 1;
}
