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
#define THREADED 1 /* the multi-threaded client library, libzookeeper_mt */

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
#include <zookeeper/zookeeper.h>

#include "netaddr.h"
#include "syctl.h"
#include "syctl_register_zk.h"

#define ZK_DEFAULT_PREFIX "/switchyard/services"

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
	(void)path;
	(void)ctx;
	if (type == ZOO_SESSION_EVENT &&
	    (state == ZOO_EXPIRED_SESSION_STATE || state == ZOO_AUTH_FAILED_STATE))
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

/* "zk://h:p,h:p/prefix" -> hosts "h:p,h:p", prefix. 0 or -1. */
static int parse_url(const char *url, char *hosts, size_t hlen, char *prefix, size_t plen)
{
	const char *h = url + 5, *slash = strchr(h, '/');
	size_t n = slash ? (size_t)(slash - h) : strlen(h);
	char tmp[1024], *save = NULL;

	if (!n || n >= hlen || n >= sizeof(tmp))
		return -1;
	memcpy(hosts, h, n);
	hosts[n] = 0;
	memcpy(tmp, h, n);
	tmp[n] = 0;
	for (char *tok = strtok_r(tmp, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *colon = strrchr(tok, ':');
		unsigned port;

		if (!colon || colon == tok || sy_parse_port(colon + 1, &port) || !port)
			return -1;
	}
	if (hosts[0] == ',' || hosts[n - 1] == ',' || strstr(hosts, ",,"))
		return -1;
	if (!slash || !strcmp(slash, "/")) {
		snprintf(prefix, plen, "%s", ZK_DEFAULT_PREFIX);
		return 0;
	}
	if (strlen(slash) >= plen || strstr(slash, "//"))
		return -1;
	snprintf(prefix, plen, "%s", slash);
	if (prefix[strlen(prefix) - 1] == '/')
		prefix[strlen(prefix) - 1] = 0;
	return 0;
}

/* Create path and its missing ancestors (persistent, empty, open ACL). */
static int create_parents(zhandle_t *zh, const char *path)
{
	char p[1024];

	snprintf(p, sizeof(p), "%s", path);
	for (char *s = p + 1;; s++) {
		char save;
		int rc;

		if (*s != '/' && *s)
			continue;
		save = *s;
		*s = 0;
		rc = zoo_create(zh, p, NULL, -1, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT, NULL, 0);
		*s = save;
		if (rc != ZOK && rc != ZNODEEXISTS)
			return rc;
		if (!save)
			return ZOK;
	}
}

/* Create (or take over) the ephemeral znode. */
static int create_node(zhandle_t *zh, const char *parent, const char *path, const char *val)
{
	int len = (int)strlen(val), rc;

	rc = create_parents(zh, parent);
	if (rc != ZOK)
		return rc;
	for (int tries = 0; tries < 3; tries++) {
		const clientid_t *me = zoo_client_id(zh);
		zoo_op_result_t res[2];
		zoo_op_t ops[2];
		struct Stat st;

		rc = zoo_create(zh, path, val, len, &ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL, NULL, 0);
		if (rc != ZNODEEXISTS)
			return rc;
		rc = zoo_exists(zh, path, 0, &st);
		if (rc == ZNONODE)
			continue; /* gone meanwhile: create again */
		if (rc != ZOK)
			return rc;
		if (me && st.ephemeralOwner == me->client_id) /* ours (a retried create) */
			return zoo_set(zh, path, val, len, -1);
		fprintf(stderr, "level=warn msg=\"replacing a znode of another session (a previous agent?)\" znode=%s owner=0x%" PRIx64 "\n",
			path, (uint64_t)st.ephemeralOwner);
		zoo_delete_op_init(&ops[0], path, st.version);
		zoo_create_op_init(&ops[1], path, val, len, &ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL, NULL, 0);
		rc = zoo_multi(zh, 2, ops, res);
		if (rc != ZNONODE && rc != ZBADVERSION && rc != ZNODEEXISTS)
			return rc;
	}
	return rc;
}

static bool fatal_rc(int rc)
{
	return rc == ZNOAUTH || rc == ZBADARGUMENTS || rc == ZINVALIDACL ||
	       rc == ZNOCHILDRENFOREPHEMERALS || rc == ZAUTHFAILED;
}

int syctl_register_zk(const char *url, const struct sy_registration *r, const char *addr,
		      int once)
{
	char hosts[1024], prefix[512], parent[1024], path[1200], ep[80];
	struct sy_backend_id id = { .port = r->port };
	int timeout_ms = (int)r->ttl_s * 1000, rc = 0;
	uint64_t down_since = syctl_mono_ms(), next_check = 0, retry_at = 0;
	bool created = false, ever = false, warned = false;
	zhandle_t *zh = NULL;
	const char *lvl = getenv("SY_ZK_LOG");
	json_t *v;
	char *val;

	if (!r->service[0] || !addr || !r->port) {
		fprintf(stderr, "syctl register: --service, --addr, --port and --registry are required\n");
		return 2;
	}
	if (once) {
		fprintf(stderr, "syctl register: --once does not apply to zk:// (the znode lives as long as the agent's session)\n");
		return 2;
	}
	if (parse_url(url, hosts, sizeof(hosts), prefix, sizeof(prefix))) {
		fprintf(stderr, "syctl register: --registry '%s' is not zk://HOST:PORT[,HOST:PORT...][/PREFIX]\n",
			url);
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
	snprintf(parent, sizeof(parent), "%s/%s", strcmp(prefix, "/") ? prefix : "", r->service);
	snprintf(path, sizeof(path), "%s/%s", parent, ep);

	zoo_set_debug_level((ZooLogLevel)(lvl ? atoi(lvl) : 0));
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
			zh = zookeeper_init(hosts, watcher, timeout_ms, NULL, NULL, 0);
			if (!zh) {
				fprintf(stderr, "level=warn msg=\"cannot start a ZooKeeper session; retrying\" registry=zk://%s error=\"%s\"\n",
					hosts, strerror(errno));
				retry_at = now + 1000;
				continue;
			}
			created = false;
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
			usleep(50000);
			continue;
		}
		down_since = now;
		warned = false;
		if (!created && now >= retry_at) {
			rc = create_node(zh, parent, path, val);
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
				fprintf(stderr, "level=error msg=\"registration refused\" znode=%s error=\"%s\"\n",
					path, zerror(rc));
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
	free(val);
	return stop ? 0 : 1;
}
