/* SPDX-License-Identifier: BSD-3-Clause
 * The operator's API changes, kept across restarts and reloads; see
 * state_file.h. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "daemon.h"
#include "netaddr.h"
#include "state_file.h"

#define FORMAT "switchyard-state"

/* The host's state: {"drained": bool, "since": wall-clock seconds}, optional
 * (a file without it: not drained). 0, or -1 with err. */
static int read_host(const char *path, json_t *root, bool *drained, int64_t *since, char *err,
		     size_t errlen)
{
	json_t *h = json_object_get(root, "host"), *dr, *si;

	*drained = false;
	*since = 0;
	if (!h)
		return 0;
	dr = json_object_get(h, "drained");
	si = json_object_get(h, "since");
	if (!json_is_object(h) || !json_is_boolean(dr) || (si && !json_is_integer(si))) {
		snprintf(err, errlen, "state file %s: host: need {\"drained\": true|false, \"since\": SECONDS}",
			 path);
		return -1;
	}
	*drained = json_is_true(dr);
	*since = si ? (int64_t)json_integer_value(si) : 0;
	return 0;
}

/* Read and check the file: its services object (new reference), an empty
 * one for a missing file, NULL with err otherwise; and the host's drain. */
static json_t *read_services(const char *path, bool *drained, int64_t *since, char *err,
			     size_t errlen)
{
	json_error_t je;
	json_t *root, *svcs;

	*drained = false;
	*since = 0;
	if (access(path, F_OK) && errno == ENOENT)
		return json_object();
	root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		snprintf(err, errlen, "state file %s: %s (line %d): move it away to start without the operator's changes it holds",
			 path, je.text, je.line);
		return NULL;
	}
	if (!json_is_object(root) ||
	    strcmp(json_string_value(json_object_get(root, "format")) ?: "", FORMAT) ||
	    !json_is_integer(json_object_get(root, "version")) ||
	    !json_is_object(json_object_get(root, "services"))) {
		snprintf(err, errlen, "state file %s: not a Switchyard state file (format, version, services)",
			 path);
		json_decref(root);
		return NULL;
	}
	if (json_integer_value(json_object_get(root, "version")) != SY_STATE_VERSION) {
		snprintf(err, errlen, "state file %s: version %lld, this build reads version %d: move it away (or start the release that wrote it)",
			 path, (long long)json_integer_value(json_object_get(root, "version")),
			 SY_STATE_VERSION);
		json_decref(root);
		return NULL;
	}
	if (read_host(path, root, drained, since, err, errlen)) {
		json_decref(root);
		return NULL;
	}
	svcs = json_incref(json_object_get(root, "services"));
	json_decref(root);
	return svcs;
}

/* One "added" or "weights" item: its backend identity, weight and MAC. */
static int item(const char *path, const char *svc, const char *list, size_t i, json_t *it,
		struct sy_backend_id *id, uint32_t *weight, uint8_t mac[6], bool *has_mac,
		char *err, size_t errlen)
{
	const char *addr = json_string_value(json_object_get(it, "address"));
	json_t *port = json_object_get(it, "port"), *w = json_object_get(it, "weight");
	const char *m = json_string_value(json_object_get(it, "mac"));

	memset(id, 0, sizeof(*id));
	*has_mac = false;
	if (!json_is_object(it) || sy_parse_ip(addr, &id->family, id->addr) ||
	    !json_is_integer(port) || json_integer_value(port) < 0 ||
	    json_integer_value(port) > 65535 || !json_is_integer(w) || json_integer_value(w) < 0 ||
	    json_integer_value(w) > 65535 || (m && sy_parse_mac(m, mac))) {
		snprintf(err, errlen, "state file %s: services.%s.%s[%zu]: need address, port 0..65535, weight 0..65535 (and a mac)",
			 path, svc, list, i);
		return -1;
	}
	id->port = (uint16_t)json_integer_value(port);
	*weight = (uint32_t)json_integer_value(w);
	*has_mac = m != NULL;
	return 0;
}

/* Apply one service's saved state (or, with s NULL, only check it). */
static int apply(const char *path, const char *name, json_t *st, struct sy_service_state *s,
		 char *err, size_t errlen)
{
	static const char *const lists[] = { "added", "weights" };

	if (!json_is_object(st)) {
		snprintf(err, errlen, "state file %s: services.%s is not an object", path, name);
		return -1;
	}
	for (int l = 0; l < 2; l++) {
		json_t *arr = json_object_get(st, lists[l]), *it;
		size_t i;

		if (arr && !json_is_array(arr)) {
			snprintf(err, errlen, "state file %s: services.%s.%s is not a list", path,
				 name, lists[l]);
			return -1;
		}
		json_array_foreach(arr, i, it) {
			struct sy_backend_id id;
			uint32_t weight;
			uint8_t mac[6];
			bool has_mac;
			struct sy_be *b;

			if (item(path, name, lists[l], i, it, &id, &weight, mac, &has_mac, err, errlen))
				return -1;
			if (!s)
				continue;
			if (l == 1) {
				if (sy_svcb_set_override(&s->b, &id, weight))
					goto oom;
				continue;
			}
			b = sy_svcb_upsert(&s->b, &id, weight, SY_SRC_API, 0, sy_now_ms());
			if (!b)
				goto oom;
			if (has_mac) {
				memcpy(b->mac, mac, 6);
				b->has_mac = true;
			}
		}
	}
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	return -1;
}

int sy_state_check(const struct sy_config *cfg, char *err, size_t errlen)
{
	bool drained;
	int64_t since;
	json_t *svcs = read_services(cfg->state_file, &drained, &since, err, errlen), *st;
	const char *name;
	int rc = 0;

	if (!svcs)
		return -1;
	json_object_foreach(svcs, name, st) {
		if (apply(cfg->state_file, name, st, NULL, err, errlen)) {
			rc = -1;
			break;
		}
	}
	json_decref(svcs);
	return rc;
}

/* Services of `svcs` that are configured take their state; the others are
 * kept aside (taking svcs). */
static int apply_services(struct sy_daemon *d, json_t *svcs, const char *path, char *err,
			  size_t errlen)
{
	const char *name;
	json_t *st;
	void *tmp;
	size_t applied = 0;

	json_object_foreach_safe(svcs, tmp, name, st) {
		struct sy_service_state *s = sy_daemon_service(d, name);

		if (!s)
			continue; /* kept for when the service is configured again */
		if (apply(path, name, st, s, err, errlen)) {
			json_decref(svcs);
			return -1;
		}
		sy_daemon_mark(d, s);
		json_object_del(svcs, name);
		applied++;
	}
	json_decref(d->state_dormant);
	d->state_dormant = svcs;
	if (applied)
		sy_logf("info", "\"operator changes applied\" file=%s services=%zu", path, applied);
	return 0;
}

int sy_state_load(struct sy_daemon *d, char *err, size_t errlen)
{
	json_t *svcs = read_services(d->cfg->state_file, &d->drained, &d->drained_since, err, errlen);

	if (svcs && d->drained)
		sy_logf("warn", "\"the host is drained (state file): no VIP is announced until syctl undrain-host\" file=%s",
			d->cfg->state_file);
	return svcs ? apply_services(d, svcs, d->cfg->state_file, err, errlen) : -1;
}

struct json_t *sy_state_services(struct sy_daemon *d)
{
	json_t *svcs = d->state_dormant ? json_deep_copy(d->state_dormant) : json_object();

	for (size_t i = 0; svcs && i < d->n_svc; i++) {
		const struct sy_svc_backends *b = &d->svc[i].b;
		json_t *added = json_array(), *weights = json_array();
		char a[64];

		for (uint32_t j = 0; j < b->n; j++) {
			const struct sy_be *e = &b->be[j];
			json_t *it;

			if (e->source != SY_SRC_API)
				continue;
			sy_format_ip(e->id.family, e->id.addr, a, sizeof(a));
			it = json_pack("{s:s, s:i, s:i}", "address", a, "port", e->id.port, "weight",
				       e->weight);
			if (e->has_mac) {
				char mac[20];

				snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", e->mac[0],
					 e->mac[1], e->mac[2], e->mac[3], e->mac[4], e->mac[5]);
				json_object_set_new(it, "mac", json_string(mac));
			}
			json_array_append_new(added, it);
		}
		for (uint32_t j = 0; j < b->n_overrides; j++) {
			sy_format_ip(b->overrides[j].id.family, b->overrides[j].id.addr, a, sizeof(a));
			json_array_append_new(weights, json_pack("{s:s, s:i, s:i}", "address", a, "port",
								 b->overrides[j].id.port, "weight",
								 b->overrides[j].weight));
		}
		if (json_array_size(added) || json_array_size(weights))
			json_object_set_new(svcs, d->svc[i].name,
					    json_pack("{s:o, s:o}", "added", added, "weights", weights));
		else {
			json_decref(added);
			json_decref(weights);
		}
	}
	return svcs;
}

void sy_state_reloaded(struct sy_daemon *d, struct json_t *before)
{
	char err[512];

	if (before && apply_services(d, before, d->cfg->state_file, err, sizeof(err)))
		sy_logf("error", "\"operator changes not applied after the reload\" error=\"%s\"", err);
}

char *sy_state_capture(struct sy_daemon *d, unsigned long long *seq, char *path, size_t pathlen)
{
	json_t *svcs = sy_state_services(d);
	json_t *root = svcs ? json_pack("{s:s, s:i, s:o, s:{s:b, s:I}}", "format", FORMAT, "version",
					SY_STATE_VERSION, "services", svcs, "host", "drained",
					d->drained, "since", (json_int_t)d->drained_since)
			    : NULL;
	char *text;

	text = root ? json_dumps(root, JSON_INDENT(1) | JSON_SORT_KEYS) : NULL;
	json_decref(root);
	*seq = ++d->state_seq;
	snprintf(path, pathlen, "%s", d->cfg->state_file);
	return text;
}

static pthread_mutex_t save_mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned long long saved_seq;

int sy_state_save(const char *path, const char *text, unsigned long long seq, char *err,
		  size_t errlen)
{
	char tmp[4200], dir[4200];
	size_t len = strlen(text);
	int fd, rc = -1;

	pthread_mutex_lock(&save_mu);
	if (seq <= saved_seq) { /* a newer state is on disk already */
		pthread_mutex_unlock(&save_mu);
		return 0;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, text, len) != (ssize_t)len || write(fd, "\n", 1) != 1 ||
	    fsync(fd)) {
		snprintf(err, errlen, "state file %s: cannot write %s: %s", path, tmp, strerror(errno));
		if (fd >= 0) {
			close(fd);
			unlink(tmp);
		}
		goto out;
	}
	close(fd);
	if (rename(tmp, path)) {
		snprintf(err, errlen, "state file %s: cannot replace it: %s", path, strerror(errno));
		unlink(tmp);
		goto out;
	}
	/* the rename itself durable too */
	snprintf(dir, sizeof(dir), "%s", path);
	fd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	saved_seq = seq;
	rc = 0;
out:
	pthread_mutex_unlock(&save_mu);
	return rc;
}
