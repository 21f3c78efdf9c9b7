/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Following etcd (follow.h): the keys
 *
 *   <prefix><service>/<address>:<port>  ->  {"weight":1,"zone":"a","metadata":{}}
 *
 * put by `syctl register --registry etcd://...` agents with a lease (when an
 * agent dies its lease expires and etcd deletes the key), read through
 * etcd's v3 JSON gateway with libcurl (requests and answers: etcd_gateway.c;
 * keys and values: etcd_kv.c; what a range answer and a watch line mean for
 * a service's list: etcd_answers.c). The reader of sy-control's etcd
 * source and of the resolver's.
 *
 * One thread and one curl multi handle per follower drive, per followed
 * service (etcd's roles may grant one service's keys only: no stream over
 * the whole prefix), one request at a time:
 *   range  POST /v3/kv/range of <prefix><service>/: the whole list at a
 *          revision, delivered (listed);
 *   watch  POST /v3/watch from that revision + 1: a stream of JSON lines,
 *          each line's puts and deletes applied to the follower's own copy
 *          and the whole list delivered at once.
 * A compacted watch (canceled with compact_revision) reads again (a note);
 * a stream that ended (etcd stopped, a member left) resumes from the
 * revision held on the next endpoint (a note); a watch silent for renew_after_ms is started anew from the
 * revision held; TCP keepalives find a member that vanished without
 * closing. A failed request (no connection, a timeout, an error answer, an
 * answer that does not parse) tries the next endpoint at once (a note);
 * after a whole round failed the service is lost and the next round waits
 * a back-off (retry_initial_ms doubling up to retry_max_ms).
 *
 * Credentials (user, password_file): a log-in (/v3/auth/authenticate) at
 * the first request, its token sent with every request, dropped when etcd
 * refuses it (expired, etcd restarted): the next request logs in again.
 *
 * read_once reads in the caller's thread with a handle of its own, every
 * endpoint in turn; the follow of the same name that comes next starts on
 * the endpoint that answered (after the back-off if none did).
 *
 * Locks: f->mu is never held during a transfer nor during a sink call.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "etcd_answers.h"
#include "etcd_gateway.h"
#include "etcd_kv.h"
#include "follow.h"
#include "http_body.h"
#include "netaddr.h" /* sy_format_endpoint */

#define TICK_MS 1000          /* the sink's tick by default */
#define POLL_MS 100           /* the thread looks at its watches' clocks */
#define SHORT_STREAM_MS 1000  /* a watch that ended sooner is resumed after a back-off */
#define KEEPALIVE_S 2L        /* TCP keepalive idle and interval of a watch */
/* keys per kv/range request: a service's list comes in pages, all at the
 * first page's revision, so that no answer nears SY_HTTP_BODY_MAX (at
 * ~300 bytes a key, one answer held ~55,000 backends) */
#define RANGE_PAGE 2000u
#define DEFAULT_PREFIX "/switchyard/services/"

struct conf {
	char *servers, *prefix, *user, *password_file;
	char *ca_file, *cert_file, *key_file; /* TLS: NULL = the system's CAs, no client certificate */
	char **eps;               /* "http://H:P", no trailing '/' */
	unsigned n_eps;
	uint32_t timeout_ms, retry_initial_ms, retry_max_ms, renew_after_ms;
};

enum phase { PH_RANGE, PH_WATCH };
enum verdict { V_NONE, V_RELIST, V_FAIL };

/* One followed service: at most one request in flight. */
struct fsvc {
	struct fsvc *next;
	struct sy_follower *f;
	char *name;
	void *svc;                 /* the sink's */
	char range[600];           /* its keys: prefix + name + "/" ("" if too long) */
	struct sy_etcd_range rq;   /* range's kv/range requests (built at the first) */
	/* the list as of list.revision: the thread's own copy, changed by
	 * events, with its keys that are no backend (etcd_answers.h) */
	struct sy_etcd_list list;
	bool listed;               /* delivered since the last (re)start */
	/* a listing in pages (RANGE_PAGE keys each): the pages so far, at
	 * the first page's revision, their skipped keys, and the next page's
	 * first key (NULL: the first page) */
	struct sy_etcd_list paging;
	unsigned paging_skipped;
	char *page_key;
	/* the request */
	CURL *easy;
	bool in_flight;
	enum phase phase;
	struct sy_http_body body;          /* a range answer; a watch's unfinished line */
	struct curl_slist *headers;
	char errbuf[CURL_ERROR_SIZE];
	char url[600];
	char *post;
	/* endpoint failover and back-off */
	unsigned ep, failed_in_round;
	uint32_t backoff;
	uint64_t retry_at;         /* 0: now */
	/* the watch in flight */
	bool created;
	uint64_t started_ms, last_data_ms;
	enum verdict verdict;      /* why the write callback stopped it */
	char why[256];
};

struct sy_follower {
	struct sy_follow_sink sink;
	pthread_mutex_t mu;
	pthread_t thread;
	CURLM *multi;
	/* under mu: */
	struct conf conf;          /* the thread replaces it; read_once copies it */
	struct conf wanted;        /* configure() -> the thread */
	bool cfg_new, quit, refresh;
	struct fsvc *pending;      /* followed, not yet taken by the thread */
	char **gone;               /* unfollowed, not yet dropped by the thread */
	size_t n_gone;
	char token[512];           /* "" until logged in, or after etcd refused it */
	struct {                   /* the last read_once: where its follow starts */
		char *name;
		bool ok;
		unsigned ep;
	} once;
	struct sy_follow_status st;
	/* the thread's own: */
	struct fsvc *svcs;
	uint64_t tick_at;
};

/* ---- small helpers --------------------------------------------------------------------- */

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void conf_free(struct conf *c)
{
	for (unsigned i = 0; i < c->n_eps; i++)
		free(c->eps[i]);
	free(c->eps);
	free(c->servers);
	free(c->prefix);
	free(c->user);
	free(c->password_file);
	free(c->ca_file);
	free(c->cert_file);
	free(c->key_file);
	memset(c, 0, sizeof(*c));
}

static char *dup_or_null(const char *s)
{
	return s && *s ? strdup(s) : NULL;
}

/* "H:P" or "http(s)://H:P/" -> "http://H:P". 0, or -1 (out of memory). */
static int add_endpoint(struct conf *c, const char *ep)
{
	size_t n = strlen(ep);
	bool scheme = strstr(ep, "://") != NULL;
	char **eps = realloc(c->eps, (c->n_eps + 1) * sizeof(*eps));
	char *e;

	if (!eps)
		return -1;
	c->eps = eps;
	while (n && ep[n - 1] == '/')
		n--;
	if (!(e = malloc(n + 8)))
		return -1;
	snprintf(e, n + 8, "%s%.*s", scheme ? "" : "http://", (int)n, ep);
	c->eps[c->n_eps++] = e;
	return 0;
}

/* 0, or -1 (out of memory: dst empty). */
static int conf_copy(struct conf *dst, const struct sy_follow_conf *src)
{
	char *list, *save = NULL;
	bool oom = false;

	memset(dst, 0, sizeof(*dst));
	dst->servers = dup_or_null(src->servers);
	dst->prefix = strdup(src->prefix && *src->prefix ? src->prefix : DEFAULT_PREFIX);
	dst->user = dup_or_null(src->user);
	dst->password_file = dup_or_null(src->password_file);
	dst->ca_file = dup_or_null(src->ca_file);
	dst->cert_file = dup_or_null(src->cert_file);
	dst->key_file = dup_or_null(src->key_file);
	dst->timeout_ms = src->request_timeout_ms ? src->request_timeout_ms : 2000;
	dst->retry_initial_ms = src->retry_initial_ms ? src->retry_initial_ms : 500;
	dst->retry_max_ms = src->retry_max_ms > dst->retry_initial_ms ? src->retry_max_ms
								       : dst->retry_initial_ms;
	dst->renew_after_ms = src->renew_after_ms ? src->renew_after_ms : 60000;
	list = dst->servers ? strdup(dst->servers) : NULL;
	for (char *u = list ? strtok_r(list, ", ", &save) : NULL; u; u = strtok_r(NULL, ", ", &save))
		oom |= add_endpoint(dst, u) != 0;
	free(list);
	if (oom || (dst->servers && !list) || !dst->prefix || (src->user && *src->user && !dst->user) ||
	    (src->password_file && *src->password_file && !dst->password_file) ||
	    (src->ca_file && *src->ca_file && !dst->ca_file) ||
	    (src->cert_file && *src->cert_file && !dst->cert_file) ||
	    (src->key_file && *src->key_file && !dst->key_file)) {
		conf_free(dst);
		return -1;
	}
	return 0;
}

/* The read_once's view of the thread's configuration. */
static int conf_dup(struct conf *dst, const struct conf *c)
{
	const struct sy_follow_conf fc = {
		.servers = c->servers, .prefix = c->prefix, .request_timeout_ms = c->timeout_ms,
		.retry_initial_ms = c->retry_initial_ms, .retry_max_ms = c->retry_max_ms,
		.renew_after_ms = c->renew_after_ms, .user = c->user,
		.password_file = c->password_file, .ca_file = c->ca_file, .cert_file = c->cert_file,
		.key_file = c->key_file,
	};

	return conf_copy(dst, &fc);
}

static void setup_post(CURL *e, const struct conf *c, struct curl_slist *headers, const char *url,
		       const char *post, char *errbuf, uint32_t connect_ms, uint32_t total_ms)
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
	if (c->ca_file)
		curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
	if (c->cert_file) { /* with its key: the configuration has both or neither */
		curl_easy_setopt(e, CURLOPT_SSLCERT, c->cert_file);
		curl_easy_setopt(e, CURLOPT_SSLKEY, c->key_file);
	}
	errbuf[0] = 0;
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

/* ---- authentication -------------------------------------------------------------------- */

/* The token for a request, logging in first (synchronously, at endpoint ep,
 * within timeout_ms) when none is held: 0 and tok ("" without credentials),
 * or -1 with why in err. */
static int get_token(struct sy_follower *f, const struct conf *c, unsigned ep, uint32_t timeout_ms,
		     char *tok, size_t tlen, char *err, size_t errlen)
{
	char url[600], errbuf[CURL_ERROR_SIZE], why[200];
	struct sy_http_body b = { 0 };
	struct curl_slist *headers;
	CURL *e;
	char *post;
	json_t *j;
	long status = 0;
	CURLcode cc;
	int rc = -1;

	tok[0] = 0;
	if (!c->user)
		return 0;
	pthread_mutex_lock(&f->mu);
	snprintf(tok, tlen, "%s", f->token);
	pthread_mutex_unlock(&f->mu);
	if (tok[0])
		return 0;
	snprintf(url, sizeof(url), "%s/v3/auth/authenticate", c->eps[ep]);
	if (!(post = sy_etcd_auth_body(c->user, c->password_file, why, sizeof(why))))
		return snprintf(err, errlen, "authenticate: %s", why), -1;
	headers = request_headers("");
	if (!headers || !(e = curl_easy_init())) {
		curl_slist_free_all(headers);
		explicit_bzero(post, strlen(post));
		free(post);
		return snprintf(err, errlen, "out of memory"), -1;
	}
	setup_post(e, c, headers, url, post, errbuf, timeout_ms, timeout_ms);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sy_http_body_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
	cc = curl_easy_perform(e);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	explicit_bzero(post, strlen(post));
	free(post);
	curl_easy_cleanup(e);
	curl_slist_free_all(headers);
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
		pthread_mutex_lock(&f->mu);
		snprintf(f->token, sizeof(f->token), "%s", tok);
		pthread_mutex_unlock(&f->mu);
		rc = 0;
	}
	json_decref(j);
	if (b.p)
		explicit_bzero(b.p, b.len);
	free(b.p);
	return rc;
}

/* A failure whose reason says etcd refused the token (expired, etcd
 * restarted): the next request logs in again. */
static void drop_token(struct sy_follower *f, const struct conf *c, const char *why)
{
	if (!c->user || !sy_etcd_token_refused(why))
		return;
	pthread_mutex_lock(&f->mu);
	explicit_bzero(f->token, sizeof(f->token));
	pthread_mutex_unlock(&f->mu);
}

/* ---- answers --------------------------------------------------------------------------- */

/* Where an entry that is no backend goes: the sink (the thread's), or
 * nowhere (read_once's). */
struct skips {
	struct sy_follower *f; /* NULL: quiet */
	const char *service;
	void *svc;
	unsigned n;
};

static void skip(void *arg, const char *key, const char *why)
{
	struct skips *sk = arg;

	sk->n++;
	if (sk->f)
		sk->f->sink.malformed(sk->f->sink.ctx, sk->service, sk->svc, key, why);
}

/* A finished range read of one page: 0 with its keys added to *l (with
 * those that are no backend) and *next, the next page's first key (NULL
 * after the last page); or -1 with why in err (*l may hold part of the
 * page: the caller drops it). */
static int range_result(CURL *h, CURLcode cc, const struct sy_http_body *b, const char *errbuf,
			const char *url, const char *prefix, const char *service,
			struct sy_etcd_list *l, char **next, struct skips *sk, char *err,
			size_t errlen)
{
	char why[200];
	long status = 0;

	*next = NULL;
	if (cc != CURLE_OK) {
		snprintf(err, errlen, "POST %s: %s", url,
			 b->too_big ? "answer larger than 16 MiB"
				    : (errbuf[0] ? errbuf : curl_easy_strerror(cc)));
		return -1;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (sy_etcd_parse_range_page(b->p ? b->p : "", b->len, prefix, service, l, next, skip, sk,
				     why, sizeof(why))) {
		snprintf(err, errlen, "POST %s: HTTP %ld: %s", url, status, why);
		return -1;
	}
	if (status != 200) { /* a revision in an error answer is not a list */
		free(*next);
		*next = NULL;
		snprintf(err, errlen, "POST %s: HTTP %ld", url, status);
		return -1;
	}
	return 0;
}

/* A listing in pages starts again from its first page. */
static void paging_reset(struct fsvc *v)
{
	sy_etcd_list_free(&v->paging);
	v->paging_skipped = 0;
	free(v->page_key);
	v->page_key = NULL;
}

/* ---- the thread: delivering, failing -------------------------------------------------- */

static void deliver(struct sy_follower *f, struct fsvc *v, unsigned skipped)
{
	const struct sy_follow_list l = { .revision = v->list.revision, .n = v->list.n,
					  .e = v->list.e, .skipped = skipped };

	v->listed = true;
	f->sink.listed(f->sink.ctx, v->name, v->svc, &l);
}

static void note(struct sy_follower *f, struct fsvc *v, const char *why)
{
	if (f->sink.note)
		f->sink.note(f->sink.ctx, v->name, v->svc, why);
}

/* A failed request: the next endpoint at once; after a whole round, the
 * service is lost and waits the back-off. */
static void on_failure(struct sy_follower *f, struct fsvc *v, const char *why)
{
	const struct conf *c = &f->conf;

	drop_token(f, c, why);
	v->phase = PH_RANGE; /* whatever happened meanwhile: read again */
	paging_reset(v);
	v->ep = (v->ep + 1) % c->n_eps;
	if (++v->failed_in_round < c->n_eps) {
		v->retry_at = 0;
		note(f, v, why);
		return;
	}
	v->failed_in_round = 0;
	v->retry_at = mono_ms() + v->backoff;
	v->backoff = v->backoff > c->retry_max_ms / 2 ? c->retry_max_ms : v->backoff * 2;
	v->listed = false;
	pthread_mutex_lock(&f->mu);
	f->st.connected = false;
	pthread_mutex_unlock(&f->mu);
	f->sink.lost(f->sink.ctx, v->name, v->svc, why);
}

/* The changes that concern backends, to a sink that takes them one by one
 * (sink.changed); the whole list if out of memory. */
static void tell_changes(struct sy_follower *f, struct fsvc *v, const struct sy_etcd_change *ch,
			 size_t n)
{
	struct sy_follow_change *c = malloc((n ? n : 1) * sizeof(*c));
	size_t m = 0;

	if (!c) {
		deliver(f, v, v->list.n_bad);
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (ch[i].backend)
			c[m++] = (struct sy_follow_change){ .gone = ch[i].gone, .e = ch[i].e };
	if (m) {
		uint32_t ms = f->sink.changed(f->sink.ctx, v->name, v->svc, v->list.revision, c, m);
		uint64_t at = mono_ms() + ms;

		if (ms && at < f->tick_at) /* it holds changes: a tick soon applies them */
			f->tick_at = at;
	}
	free(c);
}

/* One line of the watch stream (in curl's write callback). */
static void on_watch_line(struct sy_follower *f, struct fsvc *v, const char *line, size_t len)
{
	struct skips sk = { .f = f, .service = v->name, .svc = v->svc };
	struct sy_etcd_watch w;
	char err[200];

	if (v->verdict != V_NONE)
		return;
	switch (sy_etcd_parse_watch(line, len, f->conf.prefix, v->name, &w, skip, &sk, err,
				    sizeof(err))) {
	case SY_ETCD_WATCH_FAILED:
		snprintf(v->why, sizeof(v->why), "POST %.100s: %.140s", v->url, err);
		v->verdict = V_FAIL;
		return;
	case SY_ETCD_WATCH_COMPACTED:
		v->verdict = V_RELIST; /* the events we missed are gone: read again */
		snprintf(err, sizeof(err),
			 "watch revision compacted; listing again (wanted %" PRIu64 ", compacted up to %" PRIu64 ")",
			 v->list.revision + 1, w.compact_revision);
		note(f, v, err);
		return;
	case SY_ETCD_WATCH_EVENTS:
		break;
	}
	if (w.created && !v->created) { /* the endpoint it watches is the one to show */
		pthread_mutex_lock(&f->mu);
		snprintf(f->st.where, sizeof(f->st.where), "%.190s", f->conf.eps[v->ep]);
		pthread_mutex_unlock(&f->mu);
	}
	if (w.created)
		v->created = true;
	if (w.n || w.revision > v->list.revision) {
		if (sy_etcd_list_apply(&v->list, w.ch, w.n)) {
			snprintf(v->why, sizeof(v->why), "out of memory applying a watch event");
			v->verdict = V_FAIL;
		} else {
			if (w.revision > v->list.revision)
				v->list.revision = w.revision;
			if (f->sink.changed)
				tell_changes(f, v, w.ch, w.n);
			else
				deliver(f, v, v->list.n_bad);
		}
	}
	sy_etcd_watch_free(&w);
}

static size_t on_watch_data(char *data, size_t size, size_t nmemb, void *arg)
{
	struct fsvc *v = arg;
	struct sy_http_body *b = &v->body;
	size_t n = size * nmemb, start = 0;

	v->last_data_ms = mono_ms();
	if (sy_http_body_write(data, size, nmemb, b) != n) {
		snprintf(v->why, sizeof(v->why), "watch: a line longer than 16 MiB");
		v->verdict = V_FAIL;
		return 0;
	}
	for (size_t i = 0; i < b->len; i++) {
		if (b->p[i] != '\n')
			continue;
		if (i > start)
			on_watch_line(v->f, v, b->p + start, i - start);
		start = i + 1;
	}
	memmove(b->p, b->p + start, b->len - start);
	b->len -= start;
	b->p[b->len] = 0;
	return v->verdict == V_NONE ? n : 0; /* 0: curl ends the stream */
}

/* ---- the thread: requests -------------------------------------------------------------- */

static void end_transfer(struct sy_follower *f, struct fsvc *v)
{
	if (v->in_flight)
		curl_multi_remove_handle(f->multi, v->easy);
	v->in_flight = false;
}

static void start_request(struct sy_follower *f, struct fsvc *v)
{
	const struct conf *c = &f->conf;
	uint32_t t = c->timeout_ms;
	char tok[512], err[256];

	if (!v->range[0]) {
		snprintf(err, sizeof(err), "service name too long for a key");
		on_failure(f, v, err);
		return;
	}
	/* with credentials and no token: log in first (blocking this thread
	 * for at most timeout_ms) */
	if (get_token(f, c, v->ep, t, tok, sizeof(tok), err, sizeof(err))) {
		on_failure(f, v, err);
		return;
	}
	curl_slist_free_all(v->headers);
	v->headers = request_headers(tok);
	explicit_bzero(tok, sizeof(tok));
	free(v->post);
	v->post = NULL;
	if (v->phase == PH_WATCH)
		v->post = sy_etcd_watch_request(v->range, v->list.revision + 1);
	else if (v->rq.key || !sy_etcd_range_init(&v->rq, v->range))
		v->post = sy_etcd_range_request(&v->rq, v->page_key, v->paging.revision, RANGE_PAGE);
	snprintf(v->url, sizeof(v->url), "%s/v3/%s", c->eps[v->ep],
		 v->phase == PH_RANGE ? "kv/range" : "watch");
	if (!v->headers || !v->post || (!v->easy && !(v->easy = curl_easy_init()))) {
		on_failure(f, v, "out of memory for a request");
		return;
	}
	setup_post(v->easy, c, v->headers, v->url, v->post, v->errbuf, t, v->phase == PH_RANGE ? t : 0);
	sy_http_body_reset(&v->body);
	if (v->phase == PH_RANGE) {
		curl_easy_setopt(v->easy, CURLOPT_WRITEFUNCTION, sy_http_body_write);
		curl_easy_setopt(v->easy, CURLOPT_WRITEDATA, &v->body);
	} else {
		curl_easy_setopt(v->easy, CURLOPT_WRITEFUNCTION, on_watch_data);
		curl_easy_setopt(v->easy, CURLOPT_WRITEDATA, v);
		/* a member that vanished without closing: found in seconds */
		curl_easy_setopt(v->easy, CURLOPT_TCP_KEEPALIVE, 1L);
		curl_easy_setopt(v->easy, CURLOPT_TCP_KEEPIDLE, KEEPALIVE_S);
		curl_easy_setopt(v->easy, CURLOPT_TCP_KEEPINTVL, KEEPALIVE_S);
	}
	curl_easy_setopt(v->easy, CURLOPT_PRIVATE, v);
	v->created = false;
	v->verdict = V_NONE;
	v->why[0] = 0;
	v->started_ms = v->last_data_ms = mono_ms();
	v->in_flight = curl_multi_add_handle(f->multi, v->easy) == CURLM_OK;
	if (!v->in_flight)
		on_failure(f, v, "curl_multi_add_handle failed");
}

static void range_done(struct sy_follower *f, struct fsvc *v, CURLcode cc)
{
	struct skips sk = { .f = f, .service = v->name, .svc = v->svc };
	char err[256], *next;
	bool was_up;

	if (range_result(v->easy, cc, &v->body, v->errbuf, v->url, f->conf.prefix, v->name,
			 &v->paging, &next, &sk, err, sizeof(err))) {
		on_failure(f, v, err);
		return;
	}
	v->paging_skipped += sk.n;
	free(v->page_key);
	v->page_key = next;
	if (next) { /* the next page, at once, from the same member */
		v->retry_at = 0;
		return;
	}
	sy_etcd_list_free(&v->list);
	v->list = v->paging;
	memset(&v->paging, 0, sizeof(v->paging));
	sk.n = v->paging_skipped;
	v->paging_skipped = 0;
	v->failed_in_round = 0;
	v->backoff = f->conf.retry_initial_ms;
	v->retry_at = 0;
	v->phase = PH_WATCH;
	pthread_mutex_lock(&f->mu);
	was_up = f->st.connected;
	f->st.connected = true;
	snprintf(f->st.where, sizeof(f->st.where), "%.190s", f->conf.eps[v->ep]);
	pthread_mutex_unlock(&f->mu);
	if (!was_up && f->sink.connected) {
		char where[400];

		snprintf(where, sizeof(where), "endpoints=%.200s endpoint=%.90s", f->conf.servers,
			 f->conf.eps[v->ep]);
		f->sink.connected(f->sink.ctx, where);
	}
	deliver(f, v, sk.n);
}

static void watch_done(struct sy_follower *f, struct fsvc *v, CURLcode cc, bool renew)
{
	char err[256];
	long status = 0;

	curl_easy_getinfo(v->easy, CURLINFO_RESPONSE_CODE, &status);
	if (renew) { /* silent for renew_after_ms: a new watch from where we are */
		v->retry_at = 0;
		return;
	}
	if (v->verdict == V_RELIST) {
		v->phase = PH_RANGE;
		v->retry_at = 0;
		return;
	}
	if (v->verdict == V_FAIL) {
		on_failure(f, v, v->why);
		return;
	}
	if (!v->created) {
		snprintf(err, sizeof(err), "POST %.100s: %.120s", v->url,
			 cc != CURLE_OK ? (v->errbuf[0] ? v->errbuf : curl_easy_strerror(cc))
			 : status != 200 ? "an error status, no watch"
					 : "the stream ended before the watch was created");
		if (status != 200 && status)
			snprintf(err, sizeof(err), "POST %.100s: HTTP %ld %.100s", v->url, status,
				 v->body.p ? v->body.p : "");
		on_failure(f, v, err);
		return;
	}
	/* the stream ended (etcd stopped, a member left): resume from the
	 * revision held, on the next endpoint (no event is lost: a compacted
	 * revision reads again). A stream that ended at once is resumed the
	 * same way, only after a back-off that grows while they keep ending
	 * so; reading the service again instead would hide a compaction and
	 * cost a whole list each time. */
	snprintf(err, sizeof(err), "POST %.100s: the watch stream ended (%.100s)", v->url,
		 cc != CURLE_OK ? (v->errbuf[0] ? v->errbuf : curl_easy_strerror(cc)) : "closed");
	note(f, v, err);
	v->ep = (v->ep + 1) % f->conf.n_eps;
	if (mono_ms() - v->started_ms < SHORT_STREAM_MS) {
		v->retry_at = mono_ms() + v->backoff;
		v->backoff = v->backoff > f->conf.retry_max_ms / 2 ? f->conf.retry_max_ms
								   : v->backoff * 2;
	} else {
		v->retry_at = 0;
		v->backoff = f->conf.retry_initial_ms;
	}
}

static void finish(struct sy_follower *f, struct fsvc *v, CURLcode cc, bool renew)
{
	end_transfer(f, v);
	if (v->phase == PH_RANGE)
		range_done(f, v, cc);
	else
		watch_done(f, v, cc, renew);
}

/* A watch not created within the request timeout fails; one silent for
 * renew_after_ms is renewed. true if it ended v's transfer. */
static bool watch_clock(struct sy_follower *f, struct fsvc *v, uint64_t now)
{
	if (!v->in_flight || v->phase != PH_WATCH)
		return false;
	if (!v->created && now - v->started_ms > f->conf.timeout_ms) {
		snprintf(v->why, sizeof(v->why), "POST %.100s: no watch created within %u ms", v->url,
			 f->conf.timeout_ms);
		v->verdict = V_FAIL;
		finish(f, v, CURLE_OPERATION_TIMEDOUT, false);
		return true;
	}
	if (v->created && now - v->last_data_ms > f->conf.renew_after_ms) {
		finish(f, v, CURLE_OK, true);
		return true;
	}
	return false;
}

/* ---- the thread: services -------------------------------------------------------------- */

static void free_svc(struct sy_follower *f, struct fsvc *v)
{
	end_transfer(f, v);
	if (v->easy)
		curl_easy_cleanup(v->easy);
	curl_slist_free_all(v->headers);
	free(v->post);
	free(v->body.p);
	sy_etcd_list_free(&v->list);
	paging_reset(v);
	sy_etcd_range_free(&v->rq);
	free(v->name);
	free(v);
}

static void free_svcs(struct sy_follower *f, struct fsvc *v)
{
	while (v) {
		struct fsvc *next = v->next;

		free_svc(f, v);
		v = next;
	}
}

static void set_range(struct sy_follower *f, struct fsvc *v)
{
	int n = snprintf(v->range, sizeof(v->range), "%s%s/", f->conf.prefix, v->name);

	if (n < 0 || (size_t)n >= sizeof(v->range))
		v->range[0] = 0;
	sy_etcd_range_free(&v->rq); /* built again from the new range */
}

/* v is read anew, from its first endpoint after a reconfiguration. */
static void restart(struct sy_follower *f, struct fsvc *v, bool first_ep)
{
	end_transfer(f, v);
	v->phase = PH_RANGE;
	paging_reset(v); /* from the first page (a new prefix, endpoints) */
	v->listed = false;
	v->retry_at = 0;
	v->failed_in_round = 0;
	v->backoff = f->conf.retry_initial_ms;
	if (first_ep)
		v->ep = 0;
}

static struct fsvc **find(struct sy_follower *f, const char *name)
{
	struct fsvc **p = &f->svcs;

	while (*p && strcmp((*p)->name, name))
		p = &(*p)->next;
	return p;
}

static struct fsvc *reversed(struct fsvc *l)
{
	struct fsvc *r = NULL;

	while (l) {
		struct fsvc *next = l->next;

		l->next = r;
		r = l;
		l = next;
	}
	return r;
}

/* What the others left: a configuration, follows, unfollows, a refresh.
 * false: quit. */
static bool take(struct sy_follower *f)
{
	struct fsvc *pending;
	char **gone;
	size_t n_gone;
	bool cfg, refresh;

	pthread_mutex_lock(&f->mu);
	if (f->quit) {
		pthread_mutex_unlock(&f->mu);
		return false;
	}
	if ((cfg = f->cfg_new)) {
		conf_free(&f->conf);
		f->conf = f->wanted;
		memset(&f->wanted, 0, sizeof(f->wanted));
		f->cfg_new = false;
		explicit_bzero(f->token, sizeof(f->token)); /* maybe another user */
		f->st.connected = false;
		snprintf(f->st.where, sizeof(f->st.where), "%.190s",
			 f->conf.servers ? f->conf.servers : "");
	}
	pending = f->pending;
	f->pending = NULL;
	gone = f->gone;
	n_gone = f->n_gone;
	f->gone = NULL;
	f->n_gone = 0;
	refresh = f->refresh;
	f->refresh = false;
	pthread_mutex_unlock(&f->mu);
	for (struct fsvc *v = f->svcs; cfg && v; v = v->next) {
		set_range(f, v);
		restart(f, v, true);
	}
	for (size_t i = 0; i < n_gone; i++) {
		struct fsvc **p = find(f, gone[i]), *v = *p;

		if (v) {
			*p = v->next;
			free_svc(f, v);
		}
		free(gone[i]);
	}
	free(gone);
	pending = reversed(pending); /* oldest first: the latest follow of a name wins */
	while (pending) {
		struct fsvc *v = pending, **p = find(f, v->name);

		pending = v->next;
		if (*p) { /* followed again: read again */
			(*p)->svc = v->svc;
			restart(f, *p, false);
			free_svc(f, v);
			continue;
		}
		set_range(f, v);
		v->backoff = f->conf.retry_initial_ms;
		v->next = f->svcs;
		f->svcs = v;
	}
	for (struct fsvc *v = f->svcs; refresh && v; v = v->next)
		restart(f, v, false);
	return true;
}

/* The round's end: the status's count, the sink's tick. */
static void end_round(struct sy_follower *f)
{
	bool all_listed = true;
	uint64_t nb = 0;
	uint32_t next;

	for (struct fsvc *v = f->svcs; v; v = v->next) {
		all_listed &= v->listed || !f->conf.n_eps;
		nb += v->list.n;
	}
	pthread_mutex_lock(&f->mu);
	f->st.backends = nb;
	pthread_mutex_unlock(&f->mu);
	next = f->sink.tick(f->sink.ctx, all_listed);
	f->tick_at = mono_ms() + (next ? next : TICK_MS);
}

static void *follow_thread(void *arg)
{
	struct sy_follower *f = arg;

	while (take(f)) {
		uint64_t now = mono_ms(), wake = now + POLL_MS;
		int running, left;
		CURLMsg *m;

		for (struct fsvc *v = f->svcs; v && f->conf.n_eps; v = v->next) {
			if (v->in_flight && watch_clock(f, v, now))
				wake = now;
			if (v->in_flight)
				continue;
			if (v->retry_at <= now)
				start_request(f, v);
			else if (v->retry_at < wake)
				wake = v->retry_at;
		}
		curl_multi_perform(f->multi, &running);
		while ((m = curl_multi_info_read(f->multi, &left))) {
			struct fsvc *v = NULL;

			if (m->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&v);
			if (v)
				finish(f, v, m->data.result, false);
			wake = 0; /* it may ask again at once */
		}
		now = mono_ms();
		if (now >= f->tick_at)
			end_round(f);
		if (f->tick_at < wake)
			wake = f->tick_at;
		curl_multi_poll(f->multi, NULL, 0, wake <= now ? 0 : (int)(wake - now), NULL);
	}
	return NULL;
}

/* ---- the interface --------------------------------------------------------------------- */

static int etcd_open(const struct sy_follow_conf *conf, const struct sy_follow_sink *sink,
		     struct sy_follower **out, char *err, size_t errlen)
{
	struct sy_follower *f;
	int rc;

	if (curl_global_init(CURL_GLOBAL_DEFAULT)) /* reference-counted */
		return snprintf(err, errlen, "curl_global_init failed"), -1;
	f = calloc(1, sizeof(*f));
	if (!f || conf_copy(&f->conf, conf) || !(f->multi = curl_multi_init())) {
		if (f)
			conf_free(&f->conf);
		free(f);
		curl_global_cleanup();
		return snprintf(err, errlen, "out of memory"), -1;
	}
	f->sink = *sink;
	snprintf(f->st.where, sizeof(f->st.where), "%.190s", f->conf.servers ? f->conf.servers : "");
	pthread_mutex_init(&f->mu, NULL);
	rc = pthread_create(&f->thread, NULL, follow_thread, f);
	if (rc) {
		snprintf(err, errlen, "cannot start the etcd thread: %s", strerror(rc));
		curl_multi_cleanup(f->multi);
		pthread_mutex_destroy(&f->mu);
		conf_free(&f->conf);
		free(f);
		curl_global_cleanup();
		return -1;
	}
	*out = f;
	return 0;
}

static int etcd_configure(struct sy_follower *f, const struct sy_follow_conf *conf)
{
	struct conf c;

	if (conf_copy(&c, conf))
		return -1;
	pthread_mutex_lock(&f->mu);
	conf_free(&f->wanted);
	f->wanted = c;
	f->cfg_new = true;
	pthread_mutex_unlock(&f->mu);
	curl_multi_wakeup(f->multi);
	return 0;
}

static int etcd_follow(struct sy_follower *f, const char *service, void *svc)
{
	struct fsvc *v = calloc(1, sizeof(*v));

	if (!v || !(v->name = strdup(service))) {
		free(v);
		return -1;
	}
	v->svc = svc;
	v->f = f;
	pthread_mutex_lock(&f->mu);
	/* after read_once of the name: where it answered, or after the
	 * back-off if nowhere */
	if (f->once.name && !strcmp(f->once.name, service)) {
		v->ep = f->once.ok && f->once.ep < f->conf.n_eps ? f->once.ep : 0;
		v->retry_at = f->once.ok ? 0 : mono_ms() + f->conf.retry_initial_ms;
		v->backoff = f->conf.retry_initial_ms;
		free(f->once.name); /* once: a later follow of the name starts afresh */
		f->once.name = NULL;
	}
	v->next = f->pending;
	f->pending = v;
	pthread_mutex_unlock(&f->mu);
	curl_multi_wakeup(f->multi);
	return 0;
}

static void etcd_unfollow(struct sy_follower *f, const char *service)
{
	char *name = strdup(service), **ng;

	pthread_mutex_lock(&f->mu);
	/* a pending follow of the name goes first */
	for (struct fsvc **p = &f->pending; *p;) {
		struct fsvc *v = *p;

		if (!strcmp(v->name, service)) {
			*p = v->next;
			free(v->name);
			free(v);
		} else {
			p = &v->next;
		}
	}
	ng = name ? realloc(f->gone, (f->n_gone + 1) * sizeof(*ng)) : NULL;
	if (ng) {
		f->gone = ng;
		f->gone[f->n_gone++] = name;
	} else {
		free(name); /* out of memory: the service stays followed, harmless */
	}
	pthread_mutex_unlock(&f->mu);
	curl_multi_wakeup(f->multi);
}

static void etcd_refresh(struct sy_follower *f)
{
	pthread_mutex_lock(&f->mu);
	f->refresh = true;
	pthread_mutex_unlock(&f->mu);
	curl_multi_wakeup(f->multi);
}

/* Every endpoint in turn, within timeout_ms. */
static int etcd_read_once(struct sy_follower *f, const char *service, uint32_t timeout_ms,
			  struct sy_follow_list *l, char *err, size_t errlen)
{
	uint64_t deadline = mono_ms() + timeout_ms;
	char errbuf[CURL_ERROR_SIZE], url[600], range[600], *post = NULL, *page = NULL, tok[512];
	struct sy_etcd_range rq = { 0 };
	struct skips sk = { 0 };
	struct sy_etcd_list got_list = { 0 };
	struct sy_http_body b = { 0 };
	struct curl_slist *headers = NULL;
	struct conf c;
	CURL *h = NULL;
	unsigned i = 0, ok_ep = 0;
	bool new_ep = true; /* endpoint i not asked yet: log in first */
	int rc = -1, got;

	memset(l, 0, sizeof(*l));
	pthread_mutex_lock(&f->mu);
	got = conf_dup(&c, &f->conf);
	pthread_mutex_unlock(&f->mu);
	if (got)
		return snprintf(err, errlen, "out of memory"), -1;
	snprintf(err, errlen, "out of memory");
	got = snprintf(range, sizeof(range), "%s%s/", c.prefix, service);
	if (got < 0 || (size_t)got >= sizeof(range)) {
		snprintf(err, errlen, "service name too long for a key");
		goto out;
	}
	if (!c.n_eps) {
		snprintf(err, errlen, "no etcd endpoint");
		goto out;
	}
	if (sy_etcd_range_init(&rq, range) || !(h = curl_easy_init()))
		goto out;
	/* each request (a log-in, a page of the list) within what is left of
	 * timeout_ms; the list in pages from one member, all at its first
	 * page's revision */
	while (i < c.n_eps) {
		uint64_t now = mono_ms(), left = deadline > now ? deadline - now : 0;
		char *next = NULL;

		if (!left) { /* before a member is asked, the last one's failure says more */
			if (i == 0 || !new_ep)
				snprintf(err, errlen, "fetch_timeout_ms passed");
			rc = -1;
			break;
		}
		if (new_ep) {
			if (get_token(f, &c, i, (uint32_t)left, tok, sizeof(tok), err, errlen)) {
				i++;
				continue; /* the next member */
			}
			curl_slist_free_all(headers);
			headers = request_headers(tok);
			explicit_bzero(tok, sizeof(tok));
			if (!headers) {
				snprintf(err, errlen, "out of memory");
				break;
			}
			snprintf(url, sizeof(url), "%s/v3/kv/range", c.eps[i]);
			sy_etcd_list_free(&got_list);
			sk.n = 0;
			new_ep = false;
			continue; /* the log-in took time */
		}
		free(post);
		if (!(post = sy_etcd_range_request(&rq, page, got_list.revision, RANGE_PAGE))) {
			snprintf(err, errlen, "out of memory");
			rc = -1;
		} else {
			setup_post(h, &c, headers, url, post, errbuf, (uint32_t)left, (uint32_t)left);
			curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sy_http_body_write);
			curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
			sy_http_body_reset(&b);
			rc = range_result(h, curl_easy_perform(h), &b, errbuf, url, c.prefix, service,
					  &got_list, &next, &sk, err, errlen);
		}
		free(page);
		page = next;
		if (rc) { /* the next member, from its first page */
			free(page);
			page = NULL;
			drop_token(f, &c, err);
			i++;
			new_ep = true;
		} else if (!page) { /* the whole list */
			ok_ep = i;
			break;
		}
	}
	if (!rc) { /* the entries are the caller's */
		l->revision = got_list.revision;
		l->n = got_list.n;
		l->e = got_list.e;
		l->skipped = sk.n;
		got_list.e = NULL;
		sy_etcd_list_free(&got_list);
	}
out:
	pthread_mutex_lock(&f->mu);
	free(f->once.name);
	f->once.name = strdup(service); /* NULL: the follow starts as any */
	f->once.ok = rc == 0;
	f->once.ep = ok_ep;
	pthread_mutex_unlock(&f->mu);
	free(post);
	free(page);
	free(b.p);
	sy_etcd_range_free(&rq);
	sy_etcd_list_free(&got_list); /* a failed read's pages */
	curl_slist_free_all(headers);
	if (h)
		curl_easy_cleanup(h);
	conf_free(&c);
	return rc;
}

static void etcd_status(struct sy_follower *f, struct sy_follow_status *st)
{
	pthread_mutex_lock(&f->mu);
	*st = f->st;
	pthread_mutex_unlock(&f->mu);
}

static void etcd_close(struct sy_follower *f)
{
	struct fsvc *pending;

	if (!f)
		return;
	pthread_mutex_lock(&f->mu);
	f->quit = true;
	pthread_mutex_unlock(&f->mu);
	curl_multi_wakeup(f->multi);
	pthread_join(f->thread, NULL);
	free_svcs(f, f->svcs);
	for (pending = f->pending; pending;) {
		struct fsvc *next = pending->next;

		free(pending->name);
		free(pending);
		pending = next;
	}
	for (size_t i = 0; i < f->n_gone; i++)
		free(f->gone[i]);
	free(f->gone);
	free(f->once.name);
	curl_multi_cleanup(f->multi);
	conf_free(&f->wanted);
	conf_free(&f->conf);
	explicit_bzero(f->token, sizeof(f->token));
	pthread_mutex_destroy(&f->mu);
	free(f);
	curl_global_cleanup();
}

const struct sy_follow_ops sy_etcd_follow_ops = {
	.name = "etcd",
	.entry = "key",
	.malformed_msg = "etcd: key or value ignored",
	.malformed_count = "invalid keys ignored",
	.per_service_loss = true,
	.sessions = false,
	.skipped = "key(s) skipped",
	.first_skip = true,
	.quote_key = true,
	.scheme = "etcd",
	.url_parse = sy_etcd_url_parse,
	.url_tls = sy_etcd_endpoints_tls,
	.default_prefix = SY_ETCD_DEFAULT_PREFIX,
	.prefix_folder = SY_REGISTRY_FOLDER_ETCD,
	.auth = true,
	.tls = true,
	.open = etcd_open,
	.configure = etcd_configure,
	.follow = etcd_follow,
	.unfollow = etcd_unfollow,
	.refresh = etcd_refresh,
	.read_once = etcd_read_once,
	.status = etcd_status,
	.close = etcd_close,
};
