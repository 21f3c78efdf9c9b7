/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The embedded-registry source: sy-control's read/watch API
 * (docs/registry-api.md) keeps the resolver's services current.
 *
 * One thread per resolver (started at the first open of a service) drives
 * one blocking query per service at a time (GET .../instances?index=N&wait=T)
 * through libcurl's multi interface, so N services cost one thread and N
 * parked connections. An answer with another revision replaces the
 * service's list (sy_service_update: a revision lower than the one held is
 * a reset, as the API asks: a restarted sy-control or another LB host).
 * A failure (no connection, a timeout, a non-200 status, an answer that
 * does not parse or check) marks the service unreachable: the last list
 * keeps serving with state STALE (fail-static) and the reason is kept for
 * sy_resolve_source_error. The next URL is tried at once; after a whole
 * round of URLs failed, the next round waits a back-off (retry_initial_ms,
 * doubling up to retry_max_ms). Picks never wait for any of this.
 *
 * The first open of a service reads it once synchronously, in the caller's
 * thread, with its own handle (embedded_fetch), bounded by
 * fetch_timeout_ms over all URLs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "http_body.h"
#include "parse_embedded.h"
#include "resolve_internal.h"

#define CONNECT_TIMEOUT_MS 1000
#define WATCH_SLACK_MS 5000        /* a watch's timeout: its wait plus this */

/* One service's watch: at most one request in flight. */
struct sy_watch {
	struct sy_source_watch w; /* .retry.endpoint: the registry asked now */
	struct sy_http_body body;
	char errbuf[CURL_ERROR_SIZE];
	char url[1024];
	bool have_index;       /* index: the revision of the list held */
	uint64_t index;
	bool reachable;
};

struct sy_source {
	char **urls;
	unsigned n_urls;
	char *token;           /* NULL until loaded (or none configured) */
	struct curl_slist *headers;
	struct sy_source_thread t;
};

static const struct sy_source_thread_ops thread_ops;

/* ---- configuration ----------------------------------------------------------------- */

static void destroy_config(struct sy_source *src);

static int embedded_create(sy_resolver *r)
{
	const struct sy_resolve_config *c = &r->cfg;
	struct sy_source *src;
	char *list, *save = NULL;

	if (!c->registry_urls || !*c->registry_urls)
		return SY_RESOLVE_OK;
	src = calloc(1, sizeof(*src));
	list = strdup(c->registry_urls);
	if (!src || !list)
		goto nomem;
	sy_source_thread_init(&src->t, &thread_ops);
	for (char *u = strtok_r(list, ", ", &save); u; u = strtok_r(NULL, ", ", &save)) {
		char **urls = realloc(src->urls, (src->n_urls + 1) * sizeof(*urls));
		size_t n = strlen(u);

		if (!urls)
			goto nomem;
		src->urls = urls;
		while (n && u[n - 1] == '/') /* "http://h:9181/" is "http://h:9181" */
			u[--n] = 0;
		if (!(src->urls[src->n_urls] = strdup(u)))
			goto nomem;
		src->n_urls++;
	}
	free(list);
	if (!src->n_urls) {
		destroy_config(src);
		return SY_RESOLVE_EINVAL;
	}
	if (c->read_token && !(src->token = strdup(c->read_token))) {
		destroy_config(src);
		return SY_RESOLVE_ENOMEM;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT)) { /* reference-counted */
		destroy_config(src);
		return SY_RESOLVE_ENOMEM;
	}
	r->source = src;
	return SY_RESOLVE_OK;
nomem:
	free(list);
	if (src)
		destroy_config(src);
	return SY_RESOLVE_ENOMEM;
}

static void destroy_config(struct sy_source *src)
{
	sy_source_thread_stop(&src->t); /* first: the thread uses the rest */
	for (unsigned i = 0; i < src->n_urls; i++)
		free(src->urls[i]);
	free(src->urls);
	free(src->token);
	curl_slist_free_all(src->headers);
	free(src);
}

/* The token file: its first line, trailing blanks trimmed. */
static int load_token(sy_resolver *r, struct sy_source *src)
{
	const char *path = r->cfg.read_token_file;
	char buf[1024];
	size_t n;
	FILE *f;

	if (src->token || !path || !*path)
		return SY_RESOLVE_OK;
	f = fopen(path, "re");
	if (!f)
		return sy_resolve_fail(r, SY_RESOLVE_EINVAL, "read_token_file %s: %s", path,
				       strerror(errno));
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	buf[strcspn(buf, "\r\n")] = 0;
	n = strlen(buf);
	while (n && (buf[n - 1] == ' ' || buf[n - 1] == '\t'))
		buf[--n] = 0;
	if (!n)
		return sy_resolve_fail(r, SY_RESOLVE_EINVAL, "read_token_file %s: empty", path);
	src->token = strdup(buf);
	explicit_bzero(buf, sizeof(buf));
	return src->token ? SY_RESOLVE_OK
			  : sy_resolve_fail(r, SY_RESOLVE_ENOMEM, "out of memory for the token");
}

/* Before the thread starts: the token and its header. */
static int load_credentials(sy_resolver *r)
{
	struct sy_source *src = r->source;
	int rc = load_token(r, src);

	if (!rc && src->token && !src->headers) {
		size_t n = strlen(src->token) + 32;
		char *h = malloc(n);

		if (h) {
			snprintf(h, n, "Authorization: Bearer %s", src->token);
			src->headers = curl_slist_append(NULL, h);
			explicit_bzero(h, n);
			free(h);
		}
		if (!src->headers)
			rc = sy_resolve_fail(r, SY_RESOLVE_ENOMEM, "out of memory for headers");
	}
	return rc;
}

static int embedded_prepare(sy_resolver *r)
{
	struct sy_source *src = r->source;

	return sy_source_thread_start(&src->t, r);
}

/* ---- one request ---------------------------------------------------------------------- */

static void build_url(CURL *e, const struct sy_source *src, unsigned url_i, const char *name,
		      bool watch, uint64_t index, uint32_t wait_ms, char *url, size_t len)
{
	char *esc = curl_easy_escape(e, name, 0);

	if (watch)
		snprintf(url, len, "%s/v1/services/%s/instances?index=%llu&wait=%ums",
			 src->urls[url_i], esc ? esc : name, (unsigned long long)index, wait_ms);
	else
		snprintf(url, len, "%s/v1/services/%s/instances", src->urls[url_i],
			 esc ? esc : name);
	curl_free(esc);
}

static void setup_easy(CURL *e, const struct sy_source *src, const char *url, struct sy_http_body *b,
		       char *errbuf, uint32_t timeout_ms)
{
	curl_easy_reset(e);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
			 (long)(timeout_ms < CONNECT_TIMEOUT_MS ? timeout_ms : CONNECT_TIMEOUT_MS));
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sy_http_body_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
	if (src->headers)
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, src->headers);
	sy_http_body_reset(b);
	errbuf[0] = 0;
}

/* A finished transfer: 0 and *a, or -1 with why in err. */
static int read_answer(CURL *e, CURLcode cc, const struct sy_http_body *b, const char *errbuf,
		       const char *url, const char *name, struct sy_source_list *a,
		       char *err, size_t errlen)
{
	char why[200];
	long status = 0;

	if (cc != CURLE_OK) {
		snprintf(err, errlen, "GET %s: %s", url,
			 b->too_big ? "answer larger than 16 MiB"
				    : (errbuf[0] ? errbuf : curl_easy_strerror(cc)));
		return -1;
	}
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		size_t n = 0;

		/* the registry's {"error":"..."}, shown as it came (printable) */
		for (size_t i = 0; b->p && i < b->len && n < 120; i++)
			if (b->p[i] >= 0x20 && b->p[i] < 0x7f)
				why[n++] = b->p[i];
		why[n] = 0;
		snprintf(err, errlen, "GET %s: HTTP %ld %s", url, status, why);
		return -1;
	}
	if (sy_embedded_parse(b->p, b->len, name, a, why, sizeof(why))) {
		snprintf(err, errlen, "GET %s: bad answer: %s", url, why);
		return -1;
	}
	return 0;
}

static int embedded_fetch(sy_resolver *r, const char *name, struct sy_source_list *a, char *err,
			  size_t errlen)
{
	struct sy_source *src = r->source;
	uint64_t deadline = sy_source_mono_ms() + r->cfg.fetch_timeout_ms;
	char errbuf[CURL_ERROR_SIZE], url[1024];
	struct sy_http_body b = { 0 };
	CURL *e = curl_easy_init();
	int rc = -1;

	if (!e) {
		snprintf(err, errlen, "curl_easy_init failed");
		return -1;
	}
	for (unsigned i = 0; i < src->n_urls && rc; i++) {
		uint64_t now = sy_source_mono_ms();

		if (now >= deadline) {
			if (i == 0)
				snprintf(err, errlen, "fetch_timeout_ms passed");
			break;
		}
		build_url(e, src, i, name, false, 0, 0, url, sizeof(url));
		setup_easy(e, src, url, &b, errbuf, (uint32_t)(deadline - now));
		rc = read_answer(e, curl_easy_perform(e), &b, errbuf, url, name, a, err, errlen);
	}
	free(b.p);
	curl_easy_cleanup(e);
	return rc;
}

/* ---- the thread ---------------------------------------------------------------------- */

static int embedded_watch(struct sy_resolve_service *s, bool have_index, uint64_t index)
{
	struct sy_source *src = s->r->source;
	struct sy_watch *w = calloc(1, sizeof(*w));

	if (!w || !(w->w.easy = curl_easy_init())) {
		free(w);
		return sy_resolve_fail(s->r, SY_RESOLVE_ENOMEM, "out of memory watching %s",
				       s->name);
	}
	w->w.s = s;
	w->have_index = have_index;
	w->index = index;
	w->reachable = have_index;
	w->w.retry.backoff_ms = s->r->cfg.retry_initial_ms;
	/* a failed first read is retried after the back-off, not at once */
	w->w.retry.retry_at_ms = have_index ? 0 : sy_source_mono_ms() + w->w.retry.backoff_ms;
	sy_source_thread_add(&src->t, &w->w);
	return SY_RESOLVE_OK;
}

static void start_request(sy_resolver *r, struct sy_source_watch *base)
{
	struct sy_source *src = r->source;
	struct sy_watch *w = (struct sy_watch *)base;
	uint32_t wait = r->cfg.watch_wait_ms;

	/* without a list, ask at once (index 0); with one, park until it changes */
	build_url(w->w.easy, src, w->w.retry.endpoint, w->w.s->name, true,
		  w->have_index ? w->index : 0, wait, w->url, sizeof(w->url));
	setup_easy(w->w.easy, src, w->url, &w->body, w->errbuf, wait + WATCH_SLACK_MS);
	if (!sy_source_thread_send(&src->t, &w->w))
		w->w.retry.retry_at_ms = sy_source_mono_ms() + w->w.retry.backoff_ms;
}

static void on_failure(sy_resolver *r, struct sy_source *src, struct sy_watch *w, const char *why)
{
	sy_source_set_error(w->w.s, why);
	if (w->reachable) {
		w->reachable = false;
		sy_resolve_set_reachable(w->w.s, 0);
	}
	/* another host's revisions mean nothing here: start over with index 0 */
	w->have_index = false;
	sy_source_retry_failed(r, &w->w.retry, src->n_urls);
}

static void on_done(sy_resolver *r, struct sy_source_watch *base, CURLcode cc)
{
	struct sy_source *src = r->source;
	struct sy_watch *w = (struct sy_watch *)base;
	struct sy_source_list a;
	char err[SY_RESOLVE_ERRLEN];

	if (read_answer(w->w.easy, cc, &w->body, w->errbuf, w->url, w->w.s->name, &a, err,
			sizeof(err))) {
		on_failure(r, src, w, err);
		return;
	}
	/* the balancer's table size, seed or hash changed (a reload): the
	 * new snapshot is built with them (a new revision, too) */
	bool opts_changed = sy_service_follow_opts(w->w.s, &a, err, sizeof(err));

	/* the list and its note ("") published as one; a list not published
	 * again (the revision held, reachable) keeps the note it came with */
	if (!w->have_index || a.revision != w->index || !w->reachable || opts_changed) {
		int rc = sy_service_update(w->w.s, a.revision, a.inst, a.n, true, "");

		if (rc) {
			snprintf(err, sizeof(err), "GET %.120s: %.120s", w->url, sy_resolve_errmsg(r));
			sy_source_list_free(&a);
			on_failure(r, src, w, err);
			return;
		}
	}
	w->have_index = true;
	w->index = a.revision;
	w->reachable = true;
	sy_source_retry_ok(r, &w->w.retry);
	sy_source_list_free(&a);
}

static void free_watch(struct sy_source_watch *base)
{
	struct sy_watch *w = (struct sy_watch *)base;

	free(w->body.p);
	free(w);
}

static const struct sy_source_thread_ops thread_ops = {
	.prepare = load_credentials,
	.start = start_request,
	.done = on_done,
	.free = free_watch,
};

static void embedded_destroy(sy_resolver *r)
{
	struct sy_source *src = r->source;

	if (!src)
		return;
	sy_source_thread_stop(&src->t); /* first: the thread uses the token */
	if (src->token)
		explicit_bzero(src->token, strlen(src->token));
	destroy_config(src);
	curl_global_cleanup();
	r->source = NULL;
}

const struct sy_source_ops sy_source_embedded_ops = {
	.name = "embedded",
	.lists_opts = true,
	.create = embedded_create,
	.prepare = embedded_prepare,
	.fetch = embedded_fetch,
	.watch = embedded_watch,
	.destroy = embedded_destroy,
};
