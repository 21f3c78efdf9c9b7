/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The ZooKeeper registry client (zk_client.h): sessions, paths, listings,
 * values, ephemeral registrations, for sy-control, syctl and the resolver.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "netaddr.h"
#include "password_file.h"
#include "zk_client.h"

zhandle_t *sy_zk_open(const char *servers, int timeout_ms, watcher_fn watcher, void *ctx,
		      const char *digest)
{
	const char *lvl = getenv("SY_ZK_LOG");
	zhandle_t *zh;

	zoo_set_debug_level((ZooLogLevel)(lvl ? atoi(lvl) : 0));
	zh = zookeeper_init(servers, watcher, timeout_ms, NULL, ctx, 0);
	/* queued now, sent first on each connection of the session */
	if (zh && digest && zoo_add_auth(zh, "digest", digest, (int)strlen(digest), NULL, NULL) != ZOK) {
		zookeeper_close(zh);
		errno = EINVAL;
		return NULL;
	}
	return zh;
}

int sy_zk_digest(const char *user, const char *password_file, char *out, size_t len, char *why,
		 size_t whylen)
{
	char pw[512];
	int n;

	if (!*user || strchr(user, ':')) {
		snprintf(why, whylen, "user '%s': the digest scheme takes a non-empty name without ':'",
			 user);
		return -1;
	}
	if (sy_password_file_read(password_file, pw, sizeof(pw), why, whylen))
		return -1;
	n = snprintf(out, len, "%s:%s", user, pw);
	explicit_bzero(pw, sizeof(pw));
	if (n < 0 || (size_t)n >= len) {
		explicit_bzero(out, len);
		snprintf(why, whylen, "user and password too long");
		return -1;
	}
	return 0;
}

/* The ACL of a znode we create (sy_zk_create_parents, sy_zk_create_ephemeral). */
static struct ACL_vector create_acl(bool owned, struct ACL acl[2])
{
	if (!owned)
		return ZOO_OPEN_ACL_UNSAFE;
	acl[0] = (struct ACL){ .perms = ZOO_PERM_ALL, .id = ZOO_AUTH_IDS };
	acl[1] = (struct ACL){ .perms = ZOO_PERM_READ, .id = ZOO_ANYONE_ID_UNSAFE };
	return (struct ACL_vector){ .count = 2, .data = acl };
}

enum sy_zk_event sy_zk_event(int type, int state, const char *path)
{
	if (type == ZOO_SESSION_EVENT) {
		if (state == ZOO_CONNECTED_STATE)
			return SY_ZK_EV_CONNECTED;
		if (state == ZOO_EXPIRED_SESSION_STATE || state == ZOO_AUTH_FAILED_STATE)
			return SY_ZK_EV_EXPIRED;
		return SY_ZK_EV_OTHER;
	}
	return path && *path ? SY_ZK_EV_NODE : SY_ZK_EV_OTHER;
}

void sy_zk_deadline(struct timespec *ts, uint64_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += (time_t)(ms / 1000);
	ts->tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

uint64_t sy_zk_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

bool sy_zk_transient(int rc)
{
	return rc == ZCONNECTIONLOSS || rc == ZOPERATIONTIMEOUT || rc == ZSESSIONEXPIRED ||
	       rc == ZINVALIDSTATE || rc == ZCLOSING;
}

int sy_zk_service_path(const char *prefix, const char *service, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s", strcmp(prefix, "/") ? prefix : "", service);

	return n < 0 || (size_t)n >= len ? -1 : 0;
}

int sy_zk_child_path(const char *service_path, const char *child, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s", service_path, child);

	return n < 0 || (size_t)n >= len ? -1 : 0;
}

int sy_zk_url_parse(const char *url, char *hosts, size_t hlen, char *prefix, size_t plen,
		    char *why, size_t whylen)
{
	const char *h, *slash;
	size_t n;
	char tmp[1024], *save = NULL;

	if (strncmp(url, "zk://", 5))
		return snprintf(why, whylen, "not zk://HOST:PORT[,HOST:PORT...][/PREFIX]"), -1;
	h = url + 5;
	slash = strchr(h, '/');
	n = slash ? (size_t)(slash - h) : strlen(h);
	if (!n || n >= hlen || n >= sizeof(tmp))
		return snprintf(why, whylen, "no servers, or too long"), -1;
	memcpy(hosts, h, n);
	hosts[n] = 0;
	memcpy(tmp, h, n);
	tmp[n] = 0;
	if (hosts[0] == ',' || hosts[n - 1] == ',' || strstr(hosts, ",,"))
		return snprintf(why, whylen, "an empty server in '%s'", hosts), -1;
	for (char *tok = strtok_r(tmp, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *colon = strrchr(tok, ':');
		unsigned port;

		if (!colon || colon == tok || sy_parse_port(colon + 1, &port) || !port)
			return snprintf(why, whylen, "server '%s' is not HOST:PORT", tok), -1;
	}
	if (!slash || !strcmp(slash, "/")) {
		snprintf(prefix, plen, "%s", SY_ZK_DEFAULT_PREFIX);
		return 0;
	}
	if (strlen(slash) >= plen || strstr(slash, "//"))
		return snprintf(why, whylen, "prefix '%s' too long or with an empty part", slash), -1;
	snprintf(prefix, plen, "%s", slash);
	if (prefix[strlen(prefix) - 1] == '/')
		prefix[strlen(prefix) - 1] = 0;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int sy_zk_list_children(zhandle_t *zh, const char *path, bool watch, enum sy_zk_missing missing,
			struct String_vector *sv, int64_t *pzxid, enum sy_zk_listed *how,
			int *create_rc)
{
	struct Stat st = { 0 };
	int rc;

	sv->count = 0;
	sv->data = NULL;
	*how = SY_ZK_LISTED;
	*create_rc = ZOK;
	rc = zoo_get_children2(zh, path, watch, sv, &st);
	if (rc == ZNONODE && missing != SY_ZK_MISSING_WAIT) {
		rc = *create_rc = sy_zk_create_parents(zh, path, missing == SY_ZK_MISSING_CREATE_OWNED);
		if (rc == ZOK) {
			*how = SY_ZK_CREATED;
			rc = zoo_get_children2(zh, path, watch, sv, &st);
		} else if (!sy_zk_transient(rc)) {
			rc = ZNONODE; /* not allowed to create it: wait for it */
		}
	}
	if (rc == ZNONODE) {
		/* an exists watch: its creation fires it (and lists again) */
		rc = zoo_exists(zh, path, watch, &st);
		if (rc == ZNONODE) {
			*how = SY_ZK_ABSENT;
			memset(&st, 0, sizeof(st));
			rc = ZOK;
		} else if (rc == ZOK) { /* created meanwhile */
			rc = zoo_get_children2(zh, path, watch, sv, &st);
		}
	}
	if (rc != ZOK)
		return rc;
	if (sv->count > 0)
		qsort(sv->data, (size_t)sv->count, sizeof(*sv->data), cmp_str);
	if (pzxid)
		*pzxid = st.pzxid;
	return ZOK;
}

int sy_zk_read_value(zhandle_t *zh, const char *path, bool watch, int64_t known_mzxid,
		     struct sy_zk_value *v, bool *changed)
{
	char *buf = malloc(SY_ZK_VALUE_MAX);
	int len = SY_ZK_VALUE_MAX, rc;
	struct Stat st;

	*changed = false;
	if (!buf)
		return ZSYSTEMERROR;
	rc = zoo_get(zh, path, watch, buf, &len, &st);
	if (rc == ZOK) {
		v->mzxid = st.mzxid;
		if (st.mzxid != known_mzxid) {
			*changed = true;
			memset(&v->e, 0, sizeof(v->e));
			v->why[0] = 0;
			if (st.dataLength > SY_ZK_VALUE_MAX) {
				snprintf(v->why, sizeof(v->why), "value over %d bytes", SY_ZK_VALUE_MAX);
				v->valid = false;
			} else {
				v->valid = sy_zk_parse_value(buf, len > 0 ? (size_t)len : 0, &v->e, v->why,
							     sizeof(v->why)) == 0;
			}
		}
	}
	free(buf);
	return rc;
}

struct sy_zk_child *sy_zk_children_find(struct sy_zk_children *cc, const char *name)
{
	size_t lo = 0, hi = cc->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(cc->c[mid].name, name);

		if (!c)
			return &cc->c[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

void sy_zk_children_mark_stale(struct sy_zk_children *cc)
{
	for (size_t i = 0; i < cc->n; i++)
		cc->c[i].stale = !cc->c[i].bad_name;
}

void sy_zk_children_free(struct sy_zk_children *cc)
{
	for (size_t i = 0; i < cc->n; i++)
		free(cc->c[i].name);
	free(cc->c);
	cc->c = NULL;
	cc->n = 0;
}

/* The sorted listing sv into cc: known children kept (with their values),
 * gone ones dropped, new ones parsed and marked to be read. */
static int merge_listing(struct sy_zk_children *cc, const struct String_vector *sv,
			 bool *changed, sy_zk_malformed_fn malformed, void *ctx)
{
	struct sy_zk_child *next = calloc(sv->count > 0 ? (size_t)sv->count : 1, sizeof(*next));
	size_t n = 0, j = 0;
	char why[160];

	if (!next)
		return ZSYSTEMERROR;
	for (int i = 0; i < sv->count; i++) {
		const char *name = sv->data[i];
		int c = 1;

		while (j < cc->n && (c = strcmp(cc->c[j].name, name)) < 0) {
			free(cc->c[j].name);
			j++;
			*changed = true; /* a child left */
		}
		if (j < cc->n && c == 0) {
			next[n++] = cc->c[j++];
			continue;
		}
		next[n].name = strdup(name);
		if (!next[n].name)
			continue; /* out of memory: this one is seen at the next listing */
		next[n].stale = true;
		*changed = true;
		if (sy_registry_endpoint_parse(name, &next[n].id, why, sizeof(why))) {
			next[n].bad_name = true;
			next[n].stale = false;
			malformed(ctx, name, why);
		}
		n++;
	}
	for (; j < cc->n; j++) {
		free(cc->c[j].name);
		*changed = true;
	}
	free(cc->c);
	cc->c = next;
	cc->n = n;
	return ZOK;
}

int sy_zk_children_sync(zhandle_t *zh, const char *service_path, bool watch,
			enum sy_zk_missing missing, struct sy_zk_children *cc, bool *changed,
			int64_t *pzxid, enum sy_zk_listed *how, int *create_rc,
			sy_zk_malformed_fn malformed, void *ctx)
{
	struct String_vector sv;
	char path[SY_ZK_PATH_MAX];
	bool vanished = false;
	int rc = sy_zk_list_children(zh, service_path, watch, missing, &sv, pzxid, how, create_rc);

	if (rc != ZOK)
		return rc;
	rc = merge_listing(cc, &sv, changed, malformed, ctx);
	deallocate_String_vector(&sv);
	for (size_t i = 0; rc == ZOK && i < cc->n; i++) {
		struct sy_zk_child *c = &cc->c[i];
		bool read_changed;

		if (!c->stale || c->bad_name)
			continue;
		if (sy_zk_child_path(service_path, c->name, path, sizeof(path)))
			return ZBADARGUMENTS;
		rc = sy_zk_read_value(zh, path, watch, c->v.mzxid, &c->v, &read_changed);
		if (rc == ZNONODE) {
			/* gone since the listing: list again (its child watch fires too) */
			if (c->v.valid)
				*changed = true;
			c->v.valid = false;
			c->v.mzxid = 0;
			c->stale = false;
			vanished = true;
			rc = ZOK;
			continue;
		}
		if (rc != ZOK)
			return rc;
		c->stale = false;
		if (!read_changed)
			continue;
		if (!c->v.valid)
			malformed(ctx, c->name, c->v.why);
		*changed = true;
	}
	return rc == ZOK && vanished ? ZNONODE : rc;
}

int sy_zk_create_parents(zhandle_t *zh, const char *path, bool owned)
{
	struct ACL a[2];
	struct ACL_vector acl = create_acl(owned, a);
	char p[SY_ZK_PATH_MAX];

	if ((size_t)snprintf(p, sizeof(p), "%s", path) >= sizeof(p))
		return ZBADARGUMENTS;
	for (char *s = p + 1;; s++) {
		char save;
		int rc;

		if (*s != '/' && *s)
			continue;
		save = *s;
		*s = 0;
		rc = zoo_create(zh, p, NULL, -1, &acl, ZOO_PERSISTENT, NULL, 0);
		*s = save;
		if (rc != ZOK && rc != ZNODEEXISTS)
			return rc;
		if (!save)
			return ZOK;
	}
}

int sy_zk_create_ephemeral(zhandle_t *zh, const char *parent, const char *path, const char *val,
			   bool owned, int64_t *replaced_owner)
{
	struct ACL a[2];
	struct ACL_vector acl = create_acl(owned, a);
	int len = (int)strlen(val), rc;

	*replaced_owner = 0;
	rc = sy_zk_create_parents(zh, parent, owned);
	if (rc != ZOK)
		return rc;
	for (int tries = 0; tries < 3; tries++) {
		const clientid_t *me = zoo_client_id(zh);
		zoo_op_result_t res[2];
		zoo_op_t ops[2];
		struct Stat st;

		rc = zoo_create(zh, path, val, len, &acl, ZOO_EPHEMERAL, NULL, 0);
		if (rc != ZNODEEXISTS)
			return rc;
		rc = zoo_exists(zh, path, 0, &st);
		if (rc == ZNONODE)
			continue; /* gone meanwhile: create again */
		if (rc != ZOK)
			return rc;
		if (me && st.ephemeralOwner == me->client_id) /* ours (a retried create) */
			return zoo_set(zh, path, val, len, -1);
		*replaced_owner = st.ephemeralOwner;
		zoo_delete_op_init(&ops[0], path, st.version);
		zoo_create_op_init(&ops[1], path, val, len, &acl, ZOO_EPHEMERAL, NULL, 0);
		rc = zoo_multi(zh, 2, ops, res);
		if (rc != ZNONODE && rc != ZBADVERSION && rc != ZNODEEXISTS)
			return rc;
	}
	return rc;
}
