/* SPDX-License-Identifier: BSD-3-Clause
 *
 * What every registry source of the resolver needs (source.h): a growing
 * answer buffer for libcurl, the source's error per service, the
 * monotonic clock of its thread and the retry back-off.
 */
#include <stdio.h>
#include <time.h>

#include "resolve_internal.h"

uint64_t sy_source_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

size_t sy_source_body_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct sy_source_body *b = arg;
	size_t n = size * nmemb;

	if (b->len + n + 1 > SY_SOURCE_BODY_MAX) {
		b->too_big = true;
		return 0; /* curl ends the transfer: CURLE_WRITE_ERROR */
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p)
			return 0;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = 0;
	return n;
}

void sy_source_body_reset(struct sy_source_body *b)
{
	b->len = 0;
	b->too_big = false;
	if (b->p)
		b->p[0] = 0;
}

void sy_source_set_error(sy_resolve_service *s, const char *msg)
{
	pthread_mutex_lock(&s->lock);
	snprintf(s->src_err, sizeof(s->src_err), "%s", msg);
	pthread_mutex_unlock(&s->lock);
}

const char *sy_resolve_source_error(sy_resolve_service *s, char *buf, size_t len)
{
	if (!buf || !len)
		return buf;
	pthread_mutex_lock(&s->lock);
	snprintf(buf, len, "%s", s->src_err);
	pthread_mutex_unlock(&s->lock);
	return buf;
}

bool sy_source_retry_failed(const sy_resolver *r, struct sy_source_retry *t, unsigned n_endpoints)
{
	t->endpoint = (t->endpoint + 1) % n_endpoints;
	if (++t->failed_in_round < n_endpoints) {
		t->retry_at_ms = 0; /* the next endpoint, at once */
		return false;
	}
	t->failed_in_round = 0;
	t->retry_at_ms = sy_source_mono_ms() + t->backoff_ms;
	t->backoff_ms = t->backoff_ms > r->cfg.retry_max_ms / 2 ? r->cfg.retry_max_ms
							      : t->backoff_ms * 2;
	return true;
}

void sy_source_retry_ok(const sy_resolver *r, struct sy_source_retry *t)
{
	t->failed_in_round = 0;
	t->backoff_ms = r->cfg.retry_initial_ms;
	t->retry_at_ms = 0;
}
