/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The etcd source: the keys sy-control's etcd source reads,
 *
 *   <prefix><service>/<address>:<port>  ->  {"weight":1,"zone":"a","metadata":{}}
 *
 * (put by `syctl register --registry etcd://...` with a lease: when an
 * agent dies its lease expires and etcd deletes the key), read through
 * etcd's v3 JSON gateway with libcurl.
 *
 * One thread per resolver (started at the first open) drives, per opened
 * service, one request at a time through libcurl's multi interface:
 *   range  POST /v3/kv/range of <prefix><service>/: the whole list at a
 *          revision -> sy_service_update (reachable again, state FRESH)
 *   watch  POST /v3/watch from that revision + 1: a stream of JSON lines,
 *          each put/delete applied to the list and published at once.
 * A compacted watch (canceled with compact_revision) or a lost one (the
 * stream ended: etcd stopped, a member left) reads again. A watch silent
 * for watch_wait_ms is renewed from the revision held (no read); TCP
 * keepalives find a peer that vanished without closing.
 * A failed read (no connection, a timeout, an error answer, an answer that
 * does not parse) marks the service unreachable: the last list keeps
 * serving with state STALE and the reason is kept for
 * sy_resolve_source_error; the next endpoint is tried at once, and after a
 * whole round failed the next waits a back-off (retry_initial_ms doubling
 * up to retry_max_ms). Picks never wait for any of this.
 *
 * The first open of a service reads it once synchronously, in the
 * caller's thread, with its own handle (etcd_fetch); the watch then starts
 * with a read of its own (the thread's list is its own).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "etcd_gateway.h"
#include "etcd_kv.h"
#include "parse_etcd.h"
#include "resolve_internal.h"

#define POLL_MS 100            /* the thread looks at its watches' clocks */
#define SHORT_STREAM_MS 1000   /* a watch that ended sooner counts as a failure */
#define KEEPALIVE_S 2L         /* TCP keepalive idle and interval of a watch */
#define DEFAULT_PREFIX "/switchyard/services/"

enum phase { PH_RANGE, PH_WATCH };
enum verdict { V_NONE, V_RELIST, V_FAIL };

/* One service's reads and watch: at most one request in flight. */
struct etcd_watch {
	struct sy_source_watch w;   /* .retry.endpoint: the member asked now */
	struct sy_source_body body; /* a range answer; a watch's unfinished line */
	struct curl_slist *headers; /* the request's: with the token, if any */
	char errbuf[CURL_ERROR_SIZE];
	char url[600];
	char *post;                 /* the request's body */
	char *range;                /* the service's keys: prefix + name + "/" */
	enum phase phase;
	/* the list as of rev (the thread's own copy, changed by events) */
	struct sy_source_list list;
	uint64_t rev;
	bool reachable;
	/* the watch in flight */
	bool created;
	uint64_t started_ms, last_data_ms;
	enum verdict verdict;       /* why the write callback stopped it */
	char why[SY_RESOLVE_ERRLEN];
};

struct etcd_source {
	char **eps;                 /* "http://H:P", no trailing '/' */
	unsigned n_eps;
	char *prefix;
	struct curl_slist *headers; /* without a token (authenticate, no auth) */
	/* etcd's authentication (etcd_username, etcd_password_file): the token
	 * every request sends, "" until authenticated or after etcd refused it;
	 * the thread and first opens share it */
	const char *user, *password_file;
	pthread_mutex_t token_lock;
	char token[512];
	unsigned fetch_ep;          /* the member that answered the first read */
	struct sy_source_thread t;
};

static const struct sy_source_thread_ops thread_ops;

/* ---- configuration ----------------------------------------------------------------- */

static void destroy_config(struct etcd_source *src)
{
	sy_source_thread_stop(&src->t); /* first: the thread uses the rest */
	for (unsigned i = 0; i < src->n_eps; i++)
		free(src->eps[i]);
	free(src->eps);
	free(src->prefix);
	curl_slist_free_all(src->headers);
	explicit_bzero(src->token, sizeof(src->token));
	pthread_mutex_destroy(&src->token_lock);
	free(src);
}

static int add_endpoint(struct etcd_source *src, const char *ep)
{
	size_t n = strlen(ep);
	bool scheme = strstr(ep, "://") != NULL;
	char **eps = realloc(src->eps, (src->n_eps + 1) * sizeof(*eps));
	char *e;

	if (!eps)
		return -1;
	src->eps = eps;
	while (n && ep[n - 1] == '/')
		n--;
	if (!(e = malloc(n + 8)))
		return -1;
	snprintf(e, n + 8, "%s%.*s", scheme ? "" : "http://", (int)n, ep);
	src->eps[src->n_eps++] = e;
	return 0;
}

static int etcd_create(sy_resolver *r)
{
	const struct sy_resolve_config *c = &r->cfg;
	const char *prefix = c->etcd_prefix && *c->etcd_prefix ? c->etcd_prefix : DEFAULT_PREFIX;
	struct etcd_source *src = calloc(1, sizeof(*src));
	char *list = strdup(c->etcd_endpoints), *save = NULL;

	if (!src || !list) {
		free(src);
		free(list);
		return SY_RESOLVE_ENOMEM;
	}
	sy_source_thread_init(&src->t, &thread_ops);
	pthread_mutex_init(&src->token_lock, NULL);
	src->user = c->etcd_username && *c->etcd_username ? c->etcd_username : NULL;
	src->password_file = c->etcd_password_file && *c->etcd_password_file ? c->etcd_password_file : NULL;
	for (char *u = strtok_r(list, ", ", &save); u; u = strtok_r(NULL, ", ", &save))
		if (add_endpoint(src, u)) {
			free(list);
			destroy_config(src);
			return SY_RESOLVE_ENOMEM;
		}
	free(list);
	src->prefix = strdup(prefix);
	src->headers = curl_slist_append(NULL, "Content-Type: application/json");
	if (!src->prefix || !src->headers) {
		destroy_config(src);
		return SY_RESOLVE_ENOMEM;
	}
	/* no endpoint, or a prefix sy-control would refuse: a bad argument */
	if (!src->n_eps || prefix[strlen(prefix) - 1] != '/' || c->etcd_timeout_ms == 0 ||
	    !src->user != !src->password_file) { /* a user and a password go together */
		destroy_config(src);
		return SY_RESOLVE_EINVAL;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT)) { /* reference-counted */
		destroy_config(src);
		return SY_RESOLVE_ENOMEM;
	}
	r->source = src;
	return SY_RESOLVE_OK;
}

static int etcd_prepare(sy_resolver *r)
{
	struct etcd_source *src = r->source;

	return sy_source_thread_start(&src->t, r);
}

/* ---- requests ------------------------------------------------------------------------- */

/* The prefix of the service's keys, malloc'd; NULL if it cannot be one. */
static char *service_range(const struct etcd_source *src, const char *name)
{
	char k[600];

	return sy_etcd_service_prefix(src->prefix, name, k, sizeof(k)) < 0 ? NULL : strdup(k);
}

static void setup_post(CURL *e, struct curl_slist *headers, const char *url, const char *post,
		       char *errbuf, uint32_t connect_ms, uint32_t total_ms)
{
	curl_easy_reset(e);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, post);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(post));
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)connect_ms);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)total_ms); /* 0: none (a watch) */
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
	errbuf[0] = 0;
}

/* ---- authentication ------------------------------------------------------------------ */

/* The token for a request, authenticating first (synchronously, at
 * endpoint ep, within timeout_ms) when none is held: 0 and tok ("" without
 * authentication), or -1 with why in err. */
static int get_token(struct etcd_source *src, unsigned ep, uint32_t timeout_ms, char *tok,
		     size_t tlen, char *err, size_t errlen)
{
	char url[600], errbuf[CURL_ERROR_SIZE], why[200];
	struct sy_source_body b = { 0 };
	CURL *e;
	char *post;
	json_t *j;
	long status = 0;
	CURLcode cc;
	int rc = -1;

	tok[0] = 0;
	if (!src->user)
		return 0;
	pthread_mutex_lock(&src->token_lock);
	snprintf(tok, tlen, "%s", src->token);
	pthread_mutex_unlock(&src->token_lock);
	if (tok[0])
		return 0;
	snprintf(url, sizeof(url), "%s/v3/auth/authenticate", src->eps[ep]);
	if (!(post = sy_etcd_auth_body(src->user, src->password_file, why, sizeof(why))))
		return snprintf(err, errlen, "authenticate: %s", why), -1;
	if (!(e = curl_easy_init())) {
		free(post);
		return snprintf(err, errlen, "out of memory"), -1;
	}
	setup_post(e, src->headers, url, post, errbuf, timeout_ms, timeout_ms);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sy_source_body_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
	cc = curl_easy_perform(e);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	explicit_bzero(post, strlen(post));
	free(post);
	curl_easy_cleanup(e);
	j = cc == CURLE_OK && b.p ? json_loadb(b.p, b.len, 0, NULL) : NULL;
	if (cc != CURLE_OK) {
		snprintf(err, errlen, "POST %.100s: %.120s", url, errbuf[0] ? errbuf : curl_easy_strerror(cc));
	} else if (status != 200 || sy_etcd_auth_token(j, tok, tlen, why, sizeof(why))) {
		const char *m = json_string_value(json_object_get(j, "message"));

		if (!m)
			m = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
		snprintf(err, errlen, "POST %.100s: HTTP %ld: %.120s", url, status,
			 m ? m : status == 200 ? why : "not etcd's answer");
		tok[0] = 0;
	} else {
		pthread_mutex_lock(&src->token_lock);
		snprintf(src->token, sizeof(src->token), "%s", tok);
		pthread_mutex_unlock(&src->token_lock);
		rc = 0;
	}
	json_decref(j);
	if (b.p)
		explicit_bzero(b.p, b.len);
	free(b.p);
	return rc;
}

/* A failure whose reason says etcd refused the token (expired, etcd
 * restarted): the next request authenticates again. */
static void drop_token(struct etcd_source *src, const char *why)
{
	if (!src->user || !sy_etcd_token_refused(why))
		return;
	pthread_mutex_lock(&src->token_lock);
	explicit_bzero(src->token, sizeof(src->token));
	pthread_mutex_unlock(&src->token_lock);
}

/* Content-Type and, with a token, its header: a new list, NULL if out of
 * memory. */
static struct curl_slist *request_headers(const char *tok)
{
	char h[600];
	struct curl_slist *l = curl_slist_append(NULL, "Content-Type: application/json"), *t;

	if (!l || !tok[0])
		return l;
	snprintf(h, sizeof(h), "Authorization: %s", tok);
	t = curl_slist_append(l, h);
	explicit_bzero(h, sizeof(h));
	if (!t)
		curl_slist_free_all(l);
	return t;
}

/* A finished range read: 0 and *l, or -1 with why in err. */
static int read_range(CURL *e, CURLcode cc, const struct sy_source_body *b, const char *errbuf,
		      const char *url, const struct etcd_source *src, const char *name,
		      struct sy_source_list *l, struct sy_etcd_skipped *sk, char *err,
		      size_t errlen)
{
	char why[200];
	long status = 0;

	if (cc != CURLE_OK) {
		snprintf(err, errlen, "POST %s: %s", url,
			 b->too_big ? "answer larger than 16 MiB"
				    : (errbuf[0] ? errbuf : curl_easy_strerror(cc)));
		return -1;
	}
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	if (sy_etcd_parse_range(b->p ? b->p : "", b->len, src->prefix, name, l, sk, why,
				sizeof(why))) {
		snprintf(err, errlen, "POST %s: HTTP %ld: %s", url, status, why);
		return -1;
	}
	if (status != 200) { /* a revision in an error answer is not a list */
		sy_source_list_free(l);
		snprintf(err, errlen, "POST %s: HTTP %ld", url, status);
		return -1;
	}
	return 0;
}

static int etcd_fetch(sy_resolver *r, const char *name, struct sy_source_list *a, char *err,
		      size_t errlen)
{
	struct etcd_source *src = r->source;
	uint64_t deadline = sy_source_mono_ms() + r->cfg.fetch_timeout_ms;
	char errbuf[CURL_ERROR_SIZE], url[600], *range = NULL, *post = NULL, tok[512];
	struct sy_source_body b = { 0 };
	struct sy_etcd_skipped sk;
	struct curl_slist *headers = NULL;
	CURL *e = curl_easy_init();
	int rc = -1;

	snprintf(err, errlen, "out of memory");
	if (!e || !(range = service_range(src, name)) ||
	    !(post = sy_etcd_range_request(range, NULL, 0, 0))) {
		if (e && !range)
			snprintf(err, errlen, "service name too long for a key");
		goto out;
	}
	for (unsigned i = 0; i < src->n_eps && rc; i++) {
		uint64_t now = sy_source_mono_ms(), left = deadline > now ? deadline - now : 0;

		if (!left) {
			if (i == 0)
				snprintf(err, errlen, "fetch_timeout_ms passed");
			break;
		}
		if (get_token(src, i, (uint32_t)left, tok, sizeof(tok), err, errlen))
			continue; /* the next member */
		curl_slist_free_all(headers);
		headers = request_headers(tok);
		explicit_bzero(tok, sizeof(tok));
		if (!headers) {
			snprintf(err, errlen, "out of memory");
			break;
		}
		snprintf(url, sizeof(url), "%s/v3/kv/range", src->eps[i]);
		setup_post(e, headers, url, post, errbuf, (uint32_t)left, (uint32_t)left);
		curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sy_source_body_write);
		curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
		sy_source_body_reset(&b);
		rc = read_range(e, curl_easy_perform(e), &b, errbuf, url, src, name, a, &sk, err,
				errlen);
		if (!rc)
			src->fetch_ep = i; /* the watch starts there */
		else
			drop_token(src, err);
	}
out:
	free(range);
	free(post);
	free(b.p);
	curl_slist_free_all(headers);
	curl_easy_cleanup(e);
	return rc;
}

/* ---- the thread ---------------------------------------------------------------------- */

static int etcd_watch(struct sy_resolve_service *s, bool have_rev, uint64_t rev)
{
	struct etcd_source *src = s->r->source;
	struct etcd_watch *w = calloc(1, sizeof(*w));

	(void)rev; /* the thread reads its own list first */
	if (!w || !(w->w.easy = curl_easy_init()) ||
	    !(w->range = service_range(src, s->name))) {
		if (w)
			curl_easy_cleanup(w->w.easy);
		free(w);
		return sy_resolve_fail(s->r, SY_RESOLVE_ENOMEM, "out of memory watching %s",
				       s->name);
	}
	w->w.s = s;
	w->phase = PH_RANGE;
	w->reachable = have_rev;
	w->w.retry.endpoint = have_rev ? src->fetch_ep : 0;
	w->w.retry.backoff_ms = s->r->cfg.retry_initial_ms;
	/* a failed first read is retried after the back-off, not at once */
	w->w.retry.retry_at_ms = have_rev ? 0 : sy_source_mono_ms() + w->w.retry.backoff_ms;
	sy_source_thread_add(&src->t, &w->w);
	return SY_RESOLVE_OK;
}

static void on_failure(sy_resolver *r, struct etcd_source *src, struct etcd_watch *w,
		       const char *why)
{
	sy_source_set_error(w->w.s, why);
	drop_token(src, why);
	w->phase = PH_RANGE; /* whatever happened meanwhile: read again */
	/* one cluster: stale only when no member answers (a whole round) */
	if (sy_source_retry_failed(r, &w->w.retry, src->n_eps) && w->reachable) {
		w->reachable = false;
		sy_resolve_set_reachable(w->w.s, 0);
	}
}

/* A list read or changed: publish it as of w->rev. */
static int publish(sy_resolver *r, struct etcd_watch *w, char *err, size_t errlen)
{
	if (sy_service_update(w->w.s, w->rev, w->list.inst, w->list.n, true)) {
		snprintf(err, errlen, "%s", sy_resolve_errmsg(r));
		return -1;
	}
	w->reachable = true;
	return 0;
}

static void note_skipped(struct etcd_watch *w, const struct sy_etcd_skipped *sk)
{
	char msg[SY_RESOLVE_ERRLEN];

	if (!sk->n)
		return;
	snprintf(msg, sizeof(msg), "%zu key(s) skipped, the first: %s", sk->n, sk->first);
	sy_source_set_error(w->w.s, msg);
}

/* One line of the watch stream (the thread, in curl's write callback). */
static void on_watch_line(sy_resolver *r, struct etcd_source *src, struct etcd_watch *w,
			  const char *line, size_t len)
{
	struct sy_etcd_watch_msg m;
	char err[200];

	if (w->verdict != V_NONE)
		return;
	if (sy_etcd_parse_watch(line, len, src->prefix, w->w.s->name, &m, err, sizeof(err))) {
		snprintf(w->why, sizeof(w->why), "POST %.100s: %.140s", w->url, err);
		w->verdict = V_FAIL;
		return;
	}
	if (m.created)
		w->created = true;
	if (m.compacted) {
		w->verdict = V_RELIST; /* the events we missed are gone: read again */
	} else if (m.n || m.revision > w->rev) {
		if (sy_etcd_apply(&w->list, m.ch, m.n)) {
			snprintf(w->why, sizeof(w->why), "out of memory applying a watch event");
			w->verdict = V_FAIL;
		} else {
			if (m.revision > w->rev)
				w->rev = m.revision;
			if (publish(r, w, err, sizeof(err))) {
				snprintf(w->why, sizeof(w->why), "%s", err);
				w->verdict = V_FAIL;
			}
		}
	}
	note_skipped(w, &m.skipped);
	sy_etcd_watch_msg_free(&m);
}

static size_t on_watch_data(char *data, size_t size, size_t nmemb, void *arg)
{
	struct etcd_watch *w = arg;
	sy_resolver *r = w->w.s->r;
	size_t n = size * nmemb, start = 0;
	struct sy_source_body *b = &w->body;

	w->last_data_ms = sy_source_mono_ms();
	if (sy_source_body_write(data, size, nmemb, b) != n) {
		snprintf(w->why, sizeof(w->why), "watch: a line longer than 16 MiB");
		w->verdict = V_FAIL;
		return 0;
	}
	for (size_t i = 0; i < b->len; i++) {
		if (b->p[i] != '\n')
			continue;
		if (i > start)
			on_watch_line(r, r->source, w, b->p + start, i - start);
		start = i + 1;
	}
	memmove(b->p, b->p + start, b->len - start);
	b->len -= start;
	b->p[b->len] = 0;
	return w->verdict == V_NONE ? n : 0; /* 0: curl ends the stream */
}

static void start_request(sy_resolver *r, struct sy_source_watch *base)
{
	struct etcd_source *src = r->source;
	struct etcd_watch *w = (struct etcd_watch *)base;
	uint32_t t = r->cfg.etcd_timeout_ms;
	char tok[512], err[SY_RESOLVE_ERRLEN];

	/* with authentication and no token: authenticate first (blocking this
	 * thread for at most etcd_timeout_ms) */
	if (get_token(src, w->w.retry.endpoint, t, tok, sizeof(tok), err, sizeof(err))) {
		on_failure(r, src, w, err);
		return;
	}
	curl_slist_free_all(w->headers);
	w->headers = request_headers(tok);
	explicit_bzero(tok, sizeof(tok));
	if (!w->headers) {
		on_failure(r, src, w, "out of memory for a request");
		return;
	}
	free(w->post);
	w->post = w->phase == PH_RANGE ? sy_etcd_range_request(w->range, NULL, 0, 0)
				       : sy_etcd_watch_request(w->range, w->rev + 1);
	snprintf(w->url, sizeof(w->url), "%s/v3/%s", src->eps[w->w.retry.endpoint],
		 w->phase == PH_RANGE ? "kv/range" : "watch");
	if (!w->post) {
		on_failure(r, src, w, "out of memory for a request");
		return;
	}
	setup_post(w->w.easy, w->headers, w->url, w->post, w->errbuf, t, w->phase == PH_RANGE ? t : 0);
	sy_source_body_reset(&w->body);
	if (w->phase == PH_RANGE) {
		curl_easy_setopt(w->w.easy, CURLOPT_WRITEFUNCTION, sy_source_body_write);
		curl_easy_setopt(w->w.easy, CURLOPT_WRITEDATA, &w->body);
	} else {
		curl_easy_setopt(w->w.easy, CURLOPT_WRITEFUNCTION, on_watch_data);
		curl_easy_setopt(w->w.easy, CURLOPT_WRITEDATA, w);
		/* a member that vanished without closing: found in seconds */
		curl_easy_setopt(w->w.easy, CURLOPT_TCP_KEEPALIVE, 1L);
		curl_easy_setopt(w->w.easy, CURLOPT_TCP_KEEPIDLE, KEEPALIVE_S);
		curl_easy_setopt(w->w.easy, CURLOPT_TCP_KEEPINTVL, KEEPALIVE_S);
	}
	w->created = false;
	w->verdict = V_NONE;
	w->why[0] = 0;
	w->started_ms = w->last_data_ms = sy_source_mono_ms();
	if (!sy_source_thread_send(&src->t, &w->w))
		on_failure(r, src, w, "curl_multi_add_handle failed");
}

static void range_done(sy_resolver *r, struct etcd_source *src, struct etcd_watch *w,
		       CURLcode cc)
{
	struct sy_source_list l;
	struct sy_etcd_skipped sk;
	char err[SY_RESOLVE_ERRLEN];

	if (read_range(w->w.easy, cc, &w->body, w->errbuf, w->url, src, w->w.s->name, &l, &sk, err,
		       sizeof(err))) {
		on_failure(r, src, w, err);
		return;
	}
	sy_source_list_free(&w->list);
	w->list = l;
	w->rev = l.revision;
	if (publish(r, w, err, sizeof(err))) {
		on_failure(r, src, w, err);
		return;
	}
	sy_source_retry_ok(r, &w->w.retry);
	sy_source_set_error(w->w.s, "");
	note_skipped(w, &sk);
	w->phase = PH_WATCH;
}

static void watch_done(sy_resolver *r, struct etcd_source *src, struct etcd_watch *w,
		       CURLcode cc, bool renew)
{
	char err[SY_RESOLVE_ERRLEN];
	long status = 0;

	curl_easy_getinfo(w->w.easy, CURLINFO_RESPONSE_CODE, &status);
	if (renew) { /* silent for watch_wait_ms: a new watch from where we are */
		w->w.retry.retry_at_ms = 0;
		return;
	}
	if (w->verdict == V_RELIST) {
		w->phase = PH_RANGE;
		w->w.retry.retry_at_ms = 0;
		return;
	}
	if (w->verdict == V_FAIL) {
		on_failure(r, src, w, w->why);
		return;
	}
	if (!w->created) {
		snprintf(err, sizeof(err), "POST %.100s: %.120s", w->url,
			 cc != CURLE_OK ? (w->errbuf[0] ? w->errbuf : curl_easy_strerror(cc))
			 : status != 200 ? "an error status, no watch"
					 : "the stream ended before the watch was created");
		if (status != 200 && status)
			snprintf(err, sizeof(err), "POST %.100s: HTTP %ld %.100s", w->url, status,
				 w->body.p ? w->body.p : "");
		on_failure(r, src, w, err);
		return;
	}
	/* the stream ended (etcd stopped, a member left): read again, on the
	 * next endpoint; a stream that keeps ending at once backs off */
	snprintf(err, sizeof(err), "POST %.100s: the watch stream ended (%.100s)", w->url,
		 cc != CURLE_OK ? (w->errbuf[0] ? w->errbuf : curl_easy_strerror(cc)) : "closed");
	if (sy_source_mono_ms() - w->started_ms < SHORT_STREAM_MS) {
		on_failure(r, src, w, err);
		return;
	}
	sy_source_set_error(w->w.s, err);
	w->phase = PH_RANGE;
	w->w.retry.endpoint = (w->w.retry.endpoint + 1) % src->n_eps;
	w->w.retry.retry_at_ms = 0;
}

static void finish(sy_resolver *r, struct etcd_source *src, struct etcd_watch *w, CURLcode cc,
		   bool renew)
{
	sy_source_thread_end(&src->t, &w->w);
	if (w->phase == PH_RANGE)
		range_done(r, src, w, cc);
	else
		watch_done(r, src, w, cc, renew);
}

/* A watch not created within etcd_timeout_ms fails; one silent for
 * watch_wait_ms is renewed. Returns true if it ended w's transfer. */
static bool watch_clock(sy_resolver *r, struct sy_source_watch *base, uint64_t now)
{
	struct etcd_source *src = r->source;
	struct etcd_watch *w = (struct etcd_watch *)base;

	if (!w->w.in_flight || w->phase != PH_WATCH)
		return false;
	if (!w->created && now - w->started_ms > r->cfg.etcd_timeout_ms) {
		snprintf(w->why, sizeof(w->why), "POST %.100s: no watch created within %u ms", w->url,
			 r->cfg.etcd_timeout_ms);
		w->verdict = V_FAIL;
		finish(r, src, w, CURLE_OPERATION_TIMEDOUT, false);
		return true;
	}
	if (w->created && now - w->last_data_ms > r->cfg.watch_wait_ms) {
		finish(r, src, w, CURLE_OK, true);
		return true;
	}
	return false;
}

static void on_done(sy_resolver *r, struct sy_source_watch *base, CURLcode cc)
{
	finish(r, r->source, (struct etcd_watch *)base, cc, false);
}

static void free_watch(struct sy_source_watch *base)
{
	struct etcd_watch *w = (struct etcd_watch *)base;

	sy_source_list_free(&w->list);
	free(w->body.p);
	free(w->post);
	curl_slist_free_all(w->headers);
	free(w->range);
	free(w);
}

static const struct sy_source_thread_ops thread_ops = {
	.poll_ms = 100, /* watch_clock's timers */
	.start = start_request,
	.done = on_done,
	.clock = watch_clock,
	.free = free_watch,
};

static void etcd_destroy(sy_resolver *r)
{
	struct etcd_source *src = r->source;

	if (!src)
		return;
	destroy_config(src);
	curl_global_cleanup();
	r->source = NULL;
}

const struct sy_source_ops sy_source_etcd_ops = {
	.name = "etcd",
	.lists_opts = false, /* etcd holds no Maglev parameters */
	.create = etcd_create,
	.prepare = etcd_prepare,
	.fetch = etcd_fetch,
	.watch = etcd_watch,
	.destroy = etcd_destroy,
};
