/* SPDX-License-Identifier: BSD-3-Clause
 *
 * What every registry source of the resolver needs (source.h): its thread
 * (libcurl's multi interface), the source's error per service, the
 * monotonic clock and the retry back-off. An answer's buffer is the
 * registry client's (control/registry/http_body.h).
 */
#include <stdio.h>
#include <time.h>

#include "resolve_internal.h"

#define TICK_MS 1000 /* sy_resolve_tick from the thread */

uint64_t sy_source_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
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

/* ---- the thread -------------------------------------------------------------------- */

void sy_source_thread_init(struct sy_source_thread *t, const struct sy_source_thread_ops *ops)
{
	memset(t, 0, sizeof(*t));
	t->ops = ops;
	pthread_mutex_init(&t->lock, NULL);
}

static void *thread_main(void *arg)
{
	struct sy_source_thread *t = arg;
	sy_resolver *r = t->r;
	uint32_t poll_ms = t->ops->poll_ms ? t->ops->poll_ms : TICK_MS;
	uint64_t next_tick = sy_source_mono_ms() + TICK_MS;

	while (!atomic_load(&t->stop)) {
		uint64_t now, wake;
		int running, left, timeout;
		CURLMsg *m;

		pthread_mutex_lock(&t->lock);
		while (t->pending) {
			struct sy_source_watch *w = t->pending;

			t->pending = w->next;
			w->next = t->watches;
			t->watches = w;
		}
		pthread_mutex_unlock(&t->lock);
		now = sy_source_mono_ms();
		wake = now + poll_ms < next_tick ? now + poll_ms : next_tick;
		for (struct sy_source_watch *w = t->watches; w; w = w->next) {
			if (t->ops->clock && w->in_flight && t->ops->clock(r, w, now))
				wake = now;
			if (w->in_flight)
				continue;
			if (w->retry.retry_at_ms <= now)
				t->ops->start(r, w);
			else if (w->retry.retry_at_ms < wake)
				wake = w->retry.retry_at_ms;
		}
		curl_multi_perform(t->multi, &running);
		while ((m = curl_multi_info_read(t->multi, &left))) {
			struct sy_source_watch *w = NULL;
			CURLcode result = m->data.result;

			if (m->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&w);
			if (w) {
				sy_source_thread_end(t, w);
				t->ops->done(r, w, result);
			}
			wake = 0; /* it may ask again at once */
		}
		now = sy_source_mono_ms();
		if (now >= next_tick) {
			sy_resolve_tick(r);
			next_tick = now + TICK_MS;
		}
		timeout = wake <= now ? 0 : (int)(wake - now);
		curl_multi_poll(t->multi, NULL, 0, timeout, NULL);
	}
	return NULL;
}

int sy_source_thread_start(struct sy_source_thread *t, sy_resolver *r)
{
	int rc = SY_RESOLVE_OK;

	pthread_mutex_lock(&t->lock);
	if (t->started)
		goto out;
	t->r = r;
	if (t->ops->prepare && (rc = t->ops->prepare(r)))
		goto out;
	if (!t->multi && !(t->multi = curl_multi_init())) {
		rc = sy_resolve_fail(r, SY_RESOLVE_ENOMEM, "curl_multi_init failed");
		goto out;
	}
	if (pthread_create(&t->thread, NULL, thread_main, t)) {
		rc = sy_resolve_fail(r, SY_RESOLVE_ENOMEM, "cannot start the watch thread");
		goto out;
	}
	t->started = true;
out:
	pthread_mutex_unlock(&t->lock);
	return rc;
}

void sy_source_thread_add(struct sy_source_thread *t, struct sy_source_watch *w)
{
	pthread_mutex_lock(&t->lock);
	w->next = t->pending;
	t->pending = w;
	pthread_mutex_unlock(&t->lock);
	curl_multi_wakeup(t->multi);
}

bool sy_source_thread_send(struct sy_source_thread *t, struct sy_source_watch *w)
{
	curl_easy_setopt(w->easy, CURLOPT_PRIVATE, w);
	w->in_flight = curl_multi_add_handle(t->multi, w->easy) == CURLM_OK;
	return w->in_flight;
}

void sy_source_thread_end(struct sy_source_thread *t, struct sy_source_watch *w)
{
	if (w->in_flight)
		curl_multi_remove_handle(t->multi, w->easy);
	w->in_flight = false;
}

void sy_source_thread_stop(struct sy_source_thread *t)
{
	struct sy_source_watch *lists[2];

	if (t->started) {
		atomic_store(&t->stop, true);
		curl_multi_wakeup(t->multi);
		pthread_join(t->thread, NULL);
	}
	lists[0] = t->watches;
	lists[1] = t->pending;
	for (int l = 0; l < 2; l++) {
		for (struct sy_source_watch *w = lists[l], *next; w; w = next) {
			next = w->next;
			sy_source_thread_end(t, w);
			curl_easy_cleanup(w->easy);
			t->ops->free(w);
		}
	}
	if (t->multi)
		curl_multi_cleanup(t->multi);
	pthread_mutex_destroy(&t->lock);
	memset(t, 0, sizeof(*t));
}
