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
 * One thread per sy-control (not per service):
 *   list the prefix (kv/range, paged at one revision) -> reconcile: upsert
 *   every listed backend of the services with `source: etcd`, remove the ones
 *   no longer listed -> watch from the list's revision + 1 (POST /v3/watch,
 *   one JSON object per line) -> apply each event.
 * Any end of the stream (etcd stopped, a member died, an error): reconnect
 * and resume from the last seen revision + 1, trying the endpoints in turn.
 * `canceled` (the revision was compacted) or a new configuration: list and
 * reconcile again. When no endpoint has answered for two timeouts the
 * services go fail-static (sy_source_set_reachable false: the last known set
 * stays published); the first answer after that lists, reconciles and makes
 * them reachable again in one locked section, so a backend present before and
 * after the outage never leaves. Keys and values that do not parse are
 * logged (level=warn) and counted, never fatal.
 *
 * The thread takes d->lock only to apply changes (at most CHUNK at a time)
 * and to read the configuration; all I/O runs unlocked. Transfers run in a
 * curl multi loop that checks d->quit every 100 ms (and stop() wakes it), so
 * shutdown is prompt.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "daemon.h"
#include "etcd_gateway.h"
#include "etcd_kv.h"
#include "netaddr.h"
#include "source.h"

#define CHUNK 1024           /* changes applied per d->lock section */
#define PAGE 2000            /* keys per kv/range request */
#define IDLE_REFRESH_MS 15000 /* a silent watch is re-created (a hung member) */
#define LOG_EACH_MAX 32      /* more changes than this in one go: one summary line */
#define PILE_MAX 100000      /* watch events read ahead of d->lock at most */
#define RELIST_CAPPED_MS 5000 /* room at a capped service: list again, at most this often */

struct conf {
	bool enabled;
	char *endpoints[SY_CONFIG_MAX_ENDPOINTS];
	size_t n_endpoints;
	char *prefix, *ca_file, *cert_file, *key_file, *username, *password_file;
	uint32_t timeout_ms;
};

static struct {
	struct sy_daemon *d;
	pthread_t thread;
	bool started, running;
	volatile bool stopping;
	atomic_uint gen;     /* bumped by configured() */
	CURLM *multi;
	/* under d->lock */
	struct conf conf;    /* the latest registry.etcd */
	bool reachable;      /* false: fail-static */
	bool answered;       /* some endpoint has answered since start */
	bool watching;
	char endpoint[256];
	char error[160];
	uint64_t revision, relists, reconnects, down_since_ms;
} E = { .reachable = true };

/* ---- configuration copies -------------------------------------------------- */

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static void conf_free(struct conf *c)
{
	for (size_t i = 0; i < c->n_endpoints; i++)
		free(c->endpoints[i]);
	free(c->prefix);
	free(c->ca_file);
	free(c->cert_file);
	free(c->key_file);
	free(c->username);
	free(c->password_file);
	memset(c, 0, sizeof(*c));
}

static void conf_copy(struct conf *dst, const struct conf *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->enabled = src->enabled;
	for (size_t i = 0; i < src->n_endpoints; i++)
		if ((dst->endpoints[dst->n_endpoints] = dup_or_null(src->endpoints[i])))
			dst->n_endpoints++;
	dst->prefix = dup_or_null(src->prefix);
	dst->ca_file = dup_or_null(src->ca_file);
	dst->cert_file = dup_or_null(src->cert_file);
	dst->key_file = dup_or_null(src->key_file);
	dst->username = dup_or_null(src->username);
	dst->password_file = dup_or_null(src->password_file);
	dst->timeout_ms = src->timeout_ms;
	if (dst->enabled && (!dst->n_endpoints || !dst->prefix))
		dst->enabled = false; /* out of memory: try again at the next reload */
}

static void conf_from_config(struct conf *dst, const struct sy_config_etcd *e)
{
	struct conf tmp = {
		.enabled = e->enabled, .n_endpoints = e->n_endpoints, .prefix = e->prefix,
		.ca_file = e->ca_file, .cert_file = e->cert_file, .key_file = e->key_file,
		.username = e->username, .password_file = e->password_file,
		.timeout_ms = e->timeout_ms ? e->timeout_ms : 2000,
	};

	memcpy(tmp.endpoints, e->endpoints, sizeof(tmp.endpoints));
	conf_copy(dst, &tmp);
}

/* ---- the thread's context ---------------------------------------------------- */

enum xr {
	XR_OK,       /* done (a complete answer, or a stream that ended) */
	XR_FAIL,     /* no usable answer */
	XR_QUIT,     /* shutting down */
	XR_RECONF,   /* the configuration changed: start over */
	XR_CANCELED, /* watch canceled: compacted, list again */
	XR_IDLE,     /* watch silent for IDLE_REFRESH_MS: re-create it */
};

struct ctx {
	struct sy_daemon *d;
	struct conf c;
	unsigned gen;
	size_t ep;              /* endpoint in use */
	char token[512];        /* auth token, "" = none yet */
	char err[160];
	uint64_t rev;           /* last revision seen (applied) */
	bool need_list;
	/* Entries ignored at their service's cap since the last listing: the
	 * watch tells nothing more of a key that does not change, so a
	 * removal that makes room has the prefix listed again (relist_at_ms,
	 * RELIST_CAPPED_MS after the last listing at the soonest). */
	bool capped;
	uint64_t listed_ms, relist_at_ms;
	uint64_t last_ok_ms;    /* an endpoint last answered */
	/* the transfer in progress */
	char *buf;
	size_t len, cap;
	bool stream, created;
	enum xr stream_result;
	uint64_t last_data_ms;
	long http_status;
	/* watch answers read but not applied yet (see flush()) */
	json_t **pending;
	size_t npending, cap_pending, pending_events;
};

static bool interrupted(struct ctx *x, enum xr *why)
{
	if (x->d->quit || E.stopping) {
		*why = XR_QUIT;
		return true;
	}
	if (atomic_load(&E.gen) != x->gen) {
		*why = XR_RECONF;
		return true;
	}
	return false;
}

/* sleep up to ms, in slices, unless interrupted */
static void nap(struct ctx *x, uint32_t ms)
{
	enum xr why;

	for (uint32_t t = 0; t < ms && !interrupted(x, &why); t += 20)
		usleep(20000);
}

static void set_status(struct ctx *x, bool watching)
{
	pthread_mutex_lock(&x->d->lock);
	E.watching = watching;
	snprintf(E.endpoint, sizeof(E.endpoint), "%s", x->c.endpoints[x->ep]);
	snprintf(E.error, sizeof(E.error), "%s", x->err);
	E.revision = x->rev;
	pthread_mutex_unlock(&x->d->lock);
}

/* ---- HTTP ----------------------------------------------------------------------- */

static int handle_watch_answer(struct ctx *x, json_t *j);

static void drop_pending(struct ctx *x)
{
	for (size_t i = 0; i < x->npending; i++)
		json_decref(x->pending[i]);
	x->npending = 0;
	x->pending_events = 0;
}

/* Apply the watch answers received so far, all in one locked section. Not
 * forced, only if d->lock is free (or too much piled up): while the main
 * loop publishes, answers keep being read and parsed, and the next section
 * applies them all, so the next publish takes them all. 0 to go on, else
 * x->stream_result says why the stream must stop. */
static int flush(struct ctx *x, bool force)
{
	int stop = 0;

	if (!x->npending)
		return 0;
	if (force || x->pending_events >= PILE_MAX)
		pthread_mutex_lock(&x->d->lock);
	else if (pthread_mutex_trylock(&x->d->lock))
		return 0;
	for (size_t i = 0; i < x->npending; i++) {
		if (!stop && handle_watch_answer(x, x->pending[i]))
			stop = 1;
		json_decref(x->pending[i]);
	}
	pthread_mutex_unlock(&x->d->lock);
	x->npending = 0;
	x->pending_events = 0;
	return stop;
}

static bool buf_add(struct ctx *x, const char *p, size_t n)
{
	if (x->len + n + 1 > x->cap) {
		size_t cap = x->cap ? x->cap : 65536;
		char *nb;

		while (cap < x->len + n + 1)
			cap *= 2;
		if (cap > (size_t)1 << 30 || !(nb = realloc(x->buf, cap)))
			return false;
		x->buf = nb;
		x->cap = cap;
	}
	memcpy(x->buf + x->len, p, n);
	x->len += n;
	x->buf[x->len] = 0;
	return true;
}

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	struct ctx *x = arg;
	size_t add = size * n, start = 0;

	x->last_data_ms = sy_now_ms();
	if (!buf_add(x, p, add)) {
		snprintf(x->err, sizeof(x->err), "answer too large or out of memory");
		return 0;
	}
	if (!x->stream)
		return add;
	/* the watch: one JSON object per line, parsed here, applied by flush() */
	for (size_t i = 0; i < x->len; i++) {
		if (x->buf[i] != '\n')
			continue;
		if (i > start) {
			if (x->npending == x->cap_pending) {
				size_t cap = x->cap_pending ? 2 * x->cap_pending : 64;
				json_t **np = realloc(x->pending, cap * sizeof(*np));

				if (!np) {
					snprintf(x->err, sizeof(x->err), "out of memory");
					return 0;
				}
				x->pending = np;
				x->cap_pending = cap;
			}
			x->pending[x->npending] = json_loadb(x->buf + start, i - start, 0, NULL);
			x->pending_events += json_array_size(
				json_object_get(json_object_get(x->pending[x->npending], "result"), "events"));
			x->npending++;
		}
		start = i + 1;
	}
	memmove(x->buf, x->buf + start, x->len - start);
	x->len -= start;
	if (flush(x, false)) {
		x->len = 0;
		return 0; /* stop the stream: x->stream_result says why */
	}
	return add;
}

/* One request to the endpoint in use: unary (the answer's JSON in *out) or
 * the watch stream (lines handled as they come). */
static enum xr transfer(struct ctx *x, const char *path, const char *body, bool stream,
			json_t **out)
{
	struct curl_slist *h = NULL;
	char url[1024], auth[600];
	enum xr rc = XR_OK;
	uint64_t t0 = sy_now_ms();
	CURLcode res = CURLE_OK;
	CURL *c = curl_easy_init();
	CURLMsg *msg;
	int running = 1, left;

	if (out)
		*out = NULL;
	if (!c) {
		snprintf(x->err, sizeof(x->err), "cannot initialise libcurl");
		return XR_FAIL;
	}
	x->len = 0;
	x->stream = stream;
	x->created = false;
	x->stream_result = XR_OK;
	x->last_data_ms = t0;
	x->http_status = 0;
	snprintf(url, sizeof(url), "%s%s", x->c.endpoints[x->ep], path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)x->c.timeout_ms);
	if (!stream)
		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)x->c.timeout_ms);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	if (x->c.ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, x->c.ca_file);
	if (x->c.cert_file) {
		curl_easy_setopt(c, CURLOPT_SSLCERT, x->c.cert_file);
		curl_easy_setopt(c, CURLOPT_SSLKEY, x->c.key_file);
	}
	h = curl_slist_append(h, "Content-Type: application/json");
	if (x->token[0]) {
		snprintf(auth, sizeof(auth), "Authorization: %s", x->token);
		h = curl_slist_append(h, auth);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_multi_add_handle(E.multi, c);
	while (running) {
		uint64_t now;
		int nfds = 0;

		if (curl_multi_perform(E.multi, &running) != CURLM_OK)
			break;
		if (!running || interrupted(x, &rc))
			break;
		now = sy_now_ms();
		if (stream) {
			if (!x->created && now - t0 > x->c.timeout_ms) {
				snprintf(x->err, sizeof(x->err), "watch: no answer within %u ms",
					 x->c.timeout_ms);
				rc = XR_FAIL;
				break;
			}
			if (x->created)
				x->last_ok_ms = now; /* the stream is up */
			if (now - x->last_data_ms > IDLE_REFRESH_MS) {
				rc = XR_IDLE;
				break;
			}
			if (x->relist_at_ms && now >= x->relist_at_ms) {
				rc = XR_CANCELED; /* room at a capped service */
				break;
			}
		}
		/* read-ahead waiting for d->lock: apply it when nothing more comes */
		curl_multi_poll(E.multi, NULL, 0, x->npending ? 2 : 100, &nfds);
		if (x->npending && !nfds && flush(x, true))
			break; /* x->stream_result says why */
	}
	while ((msg = curl_multi_info_read(E.multi, &left)))
		if (msg->msg == CURLMSG_DONE && msg->easy_handle == c)
			res = msg->data.result;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &x->http_status);
	curl_multi_remove_handle(E.multi, c);
	curl_easy_cleanup(c);
	curl_slist_free_all(h);
	if (stream) {
		if (rc == XR_QUIT || rc == XR_RECONF)
			drop_pending(x);
		else
			flush(x, true); /* what came before the end is valid */
		if (x->stream_result != XR_OK)
			return x->stream_result;
	}
	if (rc != XR_OK || running)
		return rc == XR_OK ? XR_FAIL : rc;
	if (stream) {
		if (x->created) {
			x->last_ok_ms = sy_now_ms(); /* alive until just now */
			return XR_OK;
		}
		if (res != CURLE_OK)
			snprintf(x->err, sizeof(x->err), "watch: %s", curl_easy_strerror(res));
		else if (x->http_status != 200)
			snprintf(x->err, sizeof(x->err), "watch: HTTP %ld: %.100s", x->http_status,
				 x->buf ? x->buf : "");
		else if (!x->err[0])
			snprintf(x->err, sizeof(x->err), "watch: stream ended before it was created");
		return XR_FAIL;
	}
	if (res != CURLE_OK) {
		snprintf(x->err, sizeof(x->err), "%s: %s", path, curl_easy_strerror(res));
		return XR_FAIL;
	}
	{
		json_t *j = x->len ? json_loadb(x->buf, x->len, 0, NULL) : NULL;

		if (x->http_status != 200 || !json_is_object(j)) {
			const char *m = sy_etcd_answer_error(j);

			snprintf(x->err, sizeof(x->err), "%s: HTTP %ld: %s", path, x->http_status,
				 m ? m : "not a JSON object");
			if (sy_etcd_token_refused(m))
				x->token[0] = 0; /* expired or invalid: authenticate again */
			json_decref(j);
			return XR_FAIL;
		}
		x->last_ok_ms = sy_now_ms();
		*out = j;
	}
	return XR_OK;
}

static enum xr authenticate(struct ctx *x)
{
	json_t *ans;
	char *body;
	enum xr rc;

	if (!x->c.username || x->token[0])
		return XR_OK;
	body = sy_etcd_auth_body(x->c.username, x->c.password_file, x->err, sizeof(x->err));
	if (!body)
		return XR_FAIL;
	rc = transfer(x, "/v3/auth/authenticate", body, false, &ans);
	free(body);
	if (rc != XR_OK)
		return rc;
	if (sy_etcd_auth_token(ans, x->token, sizeof(x->token), x->err, sizeof(x->err)))
		rc = XR_FAIL;
	json_decref(ans);
	return rc;
}

/* ---- applying what etcd says (d->lock held) ----------------------------------------- */

static struct sy_service_state *etcd_service(struct sy_daemon *d, const char *name)
{
	struct sy_service_state *s = sy_daemon_service(d, name);

	return s && d->cfg->services[s->cfg_index].source == SY_SOURCE_ETCD ? s : NULL;
}

/* ours to remove: learnt from etcd, or taken over from the previous process's
 * published set at adoption (main.c marks those embedded) */
static bool removable(const struct sy_be *b)
{
	return b->source == SY_SRC_ETCD || b->source == SY_SRC_EMBEDDED;
}

/* key: printable (sy_etcd_kv_parse's) */
static void log_invalid(struct sy_daemon *d, const char *key, const char *why)
{
	d->registry_invalid[SY_SOURCE_ETCD]++;
	sy_logf("warn", "\"etcd: key or value ignored\" key=\"%s\" error=\"%s\"", key, why);
}

/* One entry into its service; false (and x->capped) if its service is at
 * its cap and does not know it: ignored, counted (sy_source_admit). */
static bool upsert(struct ctx *x, struct sy_service_state *s, const struct sy_etcd_entry *e,
		   bool verbose)
{
	struct sy_daemon *d = x->d;
	struct sy_be *b = sy_svcb_find(&s->b, &e->id);
	bool was = b && b->present && removable(b);
	uint32_t old_w = b ? b->weight : 0;
	char why[256];

	if (!b && !sy_source_admit(d, s, &e->id, SY_SRC_ETCD, why, sizeof(why))) {
		x->capped = true;
		return false;
	}
	b = sy_source_upsert(d, s, &e->id, e->weight, SY_SRC_ETCD, 0);
	if (!b)
		return false;
	snprintf(b->zone, sizeof(b->zone), "%s", e->zone);
	snprintf(b->metadata, sizeof(b->metadata), "%s", e->metadata);
	/* an ID another backend has: published without it (publish.c) */
	sy_source_set_server_id(d, s, b, e->server_id);
	if (verbose && (!was || old_w != e->weight)) {
		char ep[80];

		sy_format_endpoint(&e->id, ep, sizeof(ep));
		sy_logf("info", "\"etcd: backend %s\" service=%s backend=%s weight=%u",
			was ? "updated" : "registered", s->name, ep, e->weight);
	}
	return !was || old_w != e->weight;
}

static bool remove_backend(struct sy_daemon *d, struct sy_service_state *s,
			   const struct sy_backend_id *id, bool verbose)
{
	struct sy_be *b = sy_svcb_find(&s->b, id);
	char ep[80];

	if (!b || !removable(b) || !sy_source_remove(d, s, id, SY_LEAVE_LOST))
		return false;
	if (verbose) {
		sy_format_endpoint(id, ep, sizeof(ep));
		sy_logf("info", "\"etcd: backend removed\" service=%s backend=%s", s->name, ep);
	}
	return true;
}

/* ---- list and reconcile --------------------------------------------------------------- */

struct listed {
	struct sy_etcd_entry *e;
	size_t n, cap;
};

static int entry_cmp(const void *a, const void *b)
{
	const struct sy_etcd_entry *x = a, *y = b;
	int c = strcmp(x->service, y->service);

	return c ? c : sy_backend_id_cmp(&x->id, &y->id);
}

/* One kv of a range answer: a valid entry into l, or counted as invalid. */
static void take_kv(struct ctx *x, json_t *kv, struct listed *l, uint64_t *invalid)
{
	struct sy_etcd_entry e;
	char key[200], why[160];

	if (sy_etcd_kv_parse(kv, x->c.prefix, true, &e, key, sizeof(key), why, sizeof(why))) {
		pthread_mutex_lock(&x->d->lock);
		log_invalid(x->d, key, why);
		pthread_mutex_unlock(&x->d->lock);
		(*invalid)++;
		return;
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct sy_etcd_entry *ne = realloc(l->e, cap * sizeof(*ne));

		if (!ne)
			return;
		l->e = ne;
		l->cap = cap;
	}
	l->e[l->n++] = e;
}

static enum xr list_prefix(struct ctx *x, struct listed *l, uint64_t *rev)
{
	char *next = NULL;
	uint64_t invalid = 0;
	enum xr rc = XR_OK;

	*rev = 0;
	for (;;) {
		/* every page at the first page's revision */
		char *body = sy_etcd_range_request(x->c.prefix, next, *rev, PAGE);
		struct sy_etcd_range_page page;
		json_t *ans, *kv;
		size_t i;

		if (!body) {
			rc = XR_FAIL;
			break;
		}
		rc = transfer(x, "/v3/kv/range", body, false, &ans);
		free(body);
		if (rc != XR_OK)
			break;
		if (sy_etcd_range_answer(ans, &page, x->err, sizeof(x->err))) {
			json_decref(ans);
			rc = XR_FAIL;
			break;
		}
		if (!*rev)
			*rev = page.revision;
		json_array_foreach(page.kvs, i, kv)
			take_kv(x, kv, l, &invalid);
		free(next);
		next = NULL;
		if (page.more && json_array_size(page.kvs)) {
			/* the next page starts right after the last key */
			next = sy_etcd_range_next_page(page.kvs);
			json_decref(ans);
			if (!next) {
				rc = XR_FAIL;
				break;
			}
			continue;
		}
		json_decref(ans);
		break;
	}
	free(next);
	return rc;
}

/* Make the etcd services' sets equal to the listing; then reachable. */
static void reconcile(struct ctx *x, struct listed *l)
{
	struct sy_daemon *d = x->d;
	size_t added = 0, removed = 0;
	bool verbose = l->n <= LOG_EACH_MAX;

	if (l->n)
		qsort(l->e, l->n, sizeof(*l->e), entry_cmp);
	pthread_mutex_lock(&d->lock);
	/* removals first: the room they make at a capped service is taken
	 * by the entries below */
	for (size_t i = 0; i < d->n_svc; i++) {
		struct sy_service_state *s = &d->svc[i];
		struct sy_etcd_entry key;

		if (d->cfg->services[s->cfg_index].source != SY_SOURCE_ETCD)
			continue;
		snprintf(key.service, sizeof(key.service), "%s", s->name);
		for (uint32_t j = s->b.n; j-- > 0;) {
			struct sy_backend_id id = s->b.be[j].id;

			key.id = id;
			if (!removable(&s->b.be[j]) ||
			    (l->n && bsearch(&key, l->e, l->n, sizeof(*l->e), entry_cmp)))
				continue;
			removed += remove_backend(d, s, &id, verbose || removed < LOG_EACH_MAX);
		}
	}
	x->capped = false;
	x->listed_ms = sy_now_ms();
	x->relist_at_ms = 0;
	for (size_t i = 0; i < l->n; i++) {
		struct sy_service_state *s = etcd_service(d, l->e[i].service);

		if (s)
			added += upsert(x, s, &l->e[i], verbose);
		if (i % CHUNK == CHUNK - 1) { /* let the others in */
			pthread_mutex_unlock(&d->lock);
			pthread_mutex_lock(&d->lock);
		}
	}
	if (!E.reachable)
		sy_logf("info", "\"etcd reachable again: reconciled, services leave fail-static\" endpoint=%s",
			x->c.endpoints[x->ep]);
	E.reachable = true;
	E.answered = true;
	E.relists++;
	sy_source_set_reachable(d, SY_SOURCE_ETCD, true);
	pthread_mutex_unlock(&d->lock);
	sy_logf("info", "\"etcd: listed and reconciled\" endpoint=%s revision=%llu keys=%zu changed=%zu removed=%zu",
		x->c.endpoints[x->ep], (unsigned long long)x->rev, l->n, added, removed);
}

/* ---- the watch --------------------------------------------------------------------------- */

/* Apply the events of one watch answer (d->lock held; j NULL if the line
 * was not JSON); 0 to go on, else x->stream_result. */
static int handle_watch_answer(struct ctx *x, json_t *j)
{
	struct sy_etcd_watch_line w;
	struct sy_daemon *d = x->d;
	size_t i, n, changes = 0, removed = 0;
	json_t *ev;
	bool verbose;

	switch (sy_etcd_watch_answer(j, &w, x->err, sizeof(x->err))) {
	case SY_ETCD_WATCH_FAILED:
		if (sy_etcd_token_refused(sy_etcd_answer_error(j)))
			x->token[0] = 0;
		x->stream_result = XR_FAIL;
		return -1;
	case SY_ETCD_WATCH_COMPACTED:
		sy_logf("warn", "\"etcd: watch revision compacted; listing again\" wanted=%llu compact_revision=%llu",
			(unsigned long long)x->rev + 1, (unsigned long long)w.compact_revision);
		x->stream_result = XR_CANCELED;
		return -1;
	case SY_ETCD_WATCH_EVENTS:
		break;
	}
	if (w.created)
		x->created = true;
	n = json_array_size(w.events);
	verbose = n <= LOG_EACH_MAX;
	json_array_foreach(w.events, i, ev) {
		const json_t *kv;
		bool del;
		struct sy_service_state *s;
		struct sy_etcd_entry e;
		uint64_t mod;
		char key[200], why[160];
		int got;

		if (sy_etcd_watch_event(ev, &del, &kv, &mod, why, sizeof(why))) {
			log_invalid(d, "(a watch event)", why);
			continue;
		}
		if (mod > x->rev)
			x->rev = mod;
		got = sy_etcd_kv_parse(kv, x->c.prefix, !del, &e, key, sizeof(key), why, sizeof(why));
		if (got == -1) {
			if (!del) /* a deleted bad key: nothing to undo */
				log_invalid(d, key, why);
		} else if (!(s = etcd_service(d, e.service))) {
			/* another instance's service */
		} else if (del) {
			removed += remove_backend(d, s, &e.id, verbose);
		} else if (got == -2) {
			log_invalid(d, key, why);
			/* the key no longer describes a usable backend */
			removed += remove_backend(d, s, &e.id, verbose);
		} else {
			changes += upsert(x, s, &e, verbose);
		}
		if (i % CHUNK == CHUNK - 1) {
			pthread_mutex_unlock(&d->lock);
			pthread_mutex_lock(&d->lock);
		}
	}
	E.revision = x->rev;
	changes += removed;
	if (removed && x->capped && !x->relist_at_ms)
		x->relist_at_ms = x->listed_ms + RELIST_CAPPED_MS;
	if (!verbose)
		sy_logf("info", "\"etcd: events applied\" events=%zu changes=%zu revision=%llu", n,
			changes, (unsigned long long)x->rev);
	return 0;
}

static enum xr watch(struct ctx *x)
{
	char *body = sy_etcd_watch_request(x->c.prefix, x->rev + 1);
	enum xr rc = XR_FAIL;

	if (body) {
		set_status(x, true);
		rc = transfer(x, "/v3/watch", body, true, NULL);
		free(body);
	}
	return rc;
}

/* ---- the thread ---------------------------------------------------------------------------- */

static void failed(struct ctx *x, size_t *fails)
{
	struct sy_daemon *d = x->d;
	uint64_t now = sy_now_ms();

	if (*fails < 2 * x->c.n_endpoints || *fails % 50 == 0) /* not every retry of an outage */
		sy_logf("warn", "\"etcd: endpoint failed; trying the next\" endpoint=%s error=\"%s\" failures=%zu",
			x->c.endpoints[x->ep], x->err, *fails + 1);
	set_status(x, false);
	x->ep = (x->ep + 1) % x->c.n_endpoints;
	(*fails)++;
	if (now - x->last_ok_ms > 2ull * x->c.timeout_ms) {
		pthread_mutex_lock(&d->lock);
		if (E.reachable) {
			sy_logf("warn", "\"etcd unreachable: services fail-static (last known set kept)\" for_ms=%llu error=\"%s\"",
				(unsigned long long)(now - x->last_ok_ms), x->err);
			E.down_since_ms = x->last_ok_ms;
		}
		E.reachable = false;
		/* also services configured while it is down */
		sy_source_set_reachable(d, SY_SOURCE_ETCD, false);
		pthread_mutex_unlock(&d->lock);
		x->need_list = true; /* reconcile when it answers again */
	}
	/* every endpoint failed in a row: back off a little */
	if (*fails % x->c.n_endpoints == 0)
		nap(x, *fails / x->c.n_endpoints > 3 ? 1000 : 250);
}

static void *run(void *arg)
{
	struct ctx x = { .d = arg };
	size_t fails = 0;

	x.last_ok_ms = sy_now_ms();
	x.need_list = true;
	x.gen = atomic_load(&E.gen) - 1; /* read the configuration first */
	while (!x.d->quit && !E.stopping) {
		struct listed l = { 0 };
		enum xr rc;
		uint64_t rev;

		if (atomic_load(&E.gen) != x.gen) {
			pthread_mutex_lock(&x.d->lock);
			x.gen = atomic_load(&E.gen);
			conf_free(&x.c);
			conf_copy(&x.c, &E.conf);
			pthread_mutex_unlock(&x.d->lock);
			x.ep = 0;
			x.token[0] = 0;
			x.need_list = true;
		}
		if (!x.c.enabled) {
			nap(&x, 200);
			continue;
		}
		x.err[0] = 0;
		rc = authenticate(&x);
		if (rc == XR_OK && x.need_list) {
			rc = list_prefix(&x, &l, &rev);
			if (rc == XR_OK) {
				x.rev = rev;
				reconcile(&x, &l);
				x.need_list = false;
			}
			free(l.e);
		}
		if (rc == XR_OK) {
			uint64_t t0 = sy_now_ms();

			rc = watch(&x);
			if (rc == XR_OK || rc == XR_CANCELED || rc == XR_IDLE) {
				fails = 0;
				if (rc == XR_CANCELED)
					x.need_list = true;
				if (rc == XR_OK) { /* the stream ended: etcd stopped or a member left */
					snprintf(x.err, sizeof(x.err), "watch stream ended");
					sy_logf("info", "\"etcd: watch stream ended; resuming\" endpoint=%s revision=%llu",
						x.c.endpoints[x.ep], (unsigned long long)x.rev + 1);
					x.ep = (x.ep + 1) % x.c.n_endpoints;
					if (sy_now_ms() - t0 < 1000)
						nap(&x, 100); /* no busy loop on a flapping stream */
				}
				pthread_mutex_lock(&x.d->lock);
				E.reconnects++;
				pthread_mutex_unlock(&x.d->lock);
				set_status(&x, false);
				continue;
			}
		}
		if (rc == XR_QUIT)
			break;
		if (rc == XR_RECONF)
			continue;
		failed(&x, &fails);
	}
	conf_free(&x.c);
	drop_pending(&x);
	free(x.pending);
	free(x.buf);
	return NULL;
}

/* ---- the sy_source ----------------------------------------------------------------------------- */

static int spawn(struct sy_daemon *d)
{
	if (!E.multi)
		E.multi = curl_multi_init();
	if (!E.multi || pthread_create(&E.thread, NULL, run, d))
		return -1;
	E.running = true;
	return 0;
}

static int start(struct sy_daemon *d, char *err, size_t errlen)
{
	E.d = d;
	E.started = true;
	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		snprintf(err, errlen, "etcd source: cannot initialise libcurl");
		return -1;
	}
	if (!E.conf.enabled)
		return 0;
	if (spawn(d)) {
		snprintf(err, errlen, "etcd source: cannot start its thread");
		return -1;
	}
	sy_logf("info", "\"etcd source started\" endpoints=%zu prefix=%s", E.conf.n_endpoints,
		E.conf.prefix);
	return 0;
}

/* After every (re)load, d->lock held. */
static void configured(struct sy_daemon *d)
{
	conf_free(&E.conf);
	conf_from_config(&E.conf, &d->cfg->registry.etcd);
	atomic_fetch_add(&E.gen, 1);
	/* services that no longer take etcd: what etcd told us about them goes */
	for (size_t i = 0; i < d->n_svc; i++) {
		struct sy_service_state *s = &d->svc[i];

		if (d->cfg->services[s->cfg_index].source == SY_SOURCE_ETCD)
			continue;
		for (uint32_t j = s->b.n; j-- > 0;) {
			struct sy_backend_id id = s->b.be[j].id;

			if (s->b.be[j].source == SY_SRC_ETCD)
				sy_source_remove(d, s, &id, SY_LEAVE_EXPLICIT);
		}
	}
	if (E.started && E.conf.enabled && !E.running && spawn(d))
		sy_logf("error", "\"etcd source: cannot start its thread\"");
	if (E.multi)
		curl_multi_wakeup(E.multi);
}

static void stop(struct sy_daemon *d)
{
	(void)d;
	E.stopping = true;
	if (E.running) {
		curl_multi_wakeup(E.multi);
		pthread_join(E.thread, NULL);
		E.running = false;
	}
	if (E.multi)
		curl_multi_cleanup(E.multi);
	E.multi = NULL;
	conf_free(&E.conf);
}

/* d->lock held */
static void describe(struct sy_daemon *d, char *buf, size_t len, bool *up)
{
	uint64_t n = 0, invalid = d->registry_invalid[SY_SOURCE_ETCD];
	unsigned long long capped = (unsigned long long)d->over_capacity[SY_SRC_ETCD];

	if (!E.conf.enabled) {
		snprintf(buf, len, "not configured");
		*up = true;
		return;
	}
	for (size_t i = 0; i < d->n_svc; i++)
		for (uint32_t j = 0; j < d->svc[i].b.n; j++)
			n += d->svc[i].b.be[j].source == SY_SRC_ETCD;
	*up = E.reachable && E.answered;
	if (!E.reachable)
		snprintf(buf, len, "down: no endpoint answers for %llu s, last known set kept; %llu backends, %llu invalid, %llu over capacity (%s)",
			 (unsigned long long)((sy_now_ms() - E.down_since_ms) / 1000),
			 (unsigned long long)n, (unsigned long long)invalid, capped, E.error);
	else if (!E.answered)
		snprintf(buf, len, "connecting: %s (%s)", E.endpoint[0] ? E.endpoint : E.conf.endpoints[0],
			 E.error[0] ? E.error : "no answer yet");
	else
		snprintf(buf, len, "up: %s %s at revision %llu, %llu backends, %llu invalid, %llu over capacity",
			 E.watching ? "watching" : "reconnecting to", E.endpoint,
			 (unsigned long long)E.revision, (unsigned long long)n,
			 (unsigned long long)invalid, capped);
}

const struct sy_source sy_source_etcd = {
	.name = "etcd",
	.kind = SY_SOURCE_ETCD,
	.start = start,
	.configured = configured,
	.stop = stop,
	.describe = describe,
};
