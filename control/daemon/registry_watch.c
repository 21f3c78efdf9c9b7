/* SPDX-License-Identifier: BSD-3-Clause
 * Reads and blocking watches of the embedded registry; see registry_watch.h
 * and docs/registry-api.md. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "netaddr.h"
#include "preflight.h"
#include "registry_watch.h"
#include "source.h"

struct sy_registry_watch {
	struct sy_watcher head;   /* circular list of parked watchers */
	pthread_cond_t tick;      /* with d->lock: a watcher parked, or stop */
	pthread_t timer;
	bool timer_started, quit, stopping;
	uint32_t answering;       /* woken, answer not yet gone */
	char token[256];          /* "" with unauthenticated reads */
};

static uint64_t wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* ---- what a reader sees ----------------------------------------------------- */

/* The hash of everything a list shows but the TTLs: the service's VIP and
 * Maglev parameters, its state, and each published backend in canonical
 * order with what the registry knows of it (zone, metadata, liveness). A
 * change elsewhere (a backend in hold-down, an expired entry pruned) is not
 * a new revision: readers would see the same list. */
static uint64_t content_hash(const struct sy_daemon *d, struct sy_service_state *s)
{
	const struct sy_config_service *cs = &d->cfg->services[s->cfg_index];
	struct sy_be **idx = sy_svcb_sorted(&s->b);
	uint64_t h = SY_FNV64_INIT;

	h = sy_fnv64(h, &cs->vip, sizeof(cs->vip));
	h = sy_fnv64(h, &cs->table_size, sizeof(cs->table_size));
	h = sy_fnv64(h, &cs->hash_seed, sizeof(cs->hash_seed));
	h = sy_fnv64(h, &cs->hash_fields, sizeof(cs->hash_fields));
	h = sy_fnv64(h, &s->b.degraded, sizeof(s->b.degraded));
	h = sy_fnv64(h, s->b.degraded_reason, strlen(s->b.degraded_reason) + 1);
	for (uint32_t i = 0; i < s->b.n_published; i++) {
		const struct sy_maglev_backend *m = &s->b.published[i];
		const struct sy_be *b = idx ? sy_svcb_sorted_find(idx, s->b.n, &m->id) : NULL;
		bool live = b && b->present;

		h = sy_fnv64(h, &m->id, sizeof(m->id));
		h = sy_fnv64(h, &m->weight, sizeof(m->weight));
		h = sy_fnv64(h, &live, sizeof(live));
		if (b) {
			h = sy_fnv64(h, b->zone, strlen(b->zone) + 1);
			h = sy_fnv64(h, b->metadata, strlen(b->metadata) + 1);
		}
	}
	free(idx);
	return h;
}

static void wake(struct sy_daemon *d, struct sy_watcher *w, enum sy_watch_wake why)
{
	struct sy_registry_watch *rw = d->watch;

	w->prev->next = w->next;
	w->next->prev = w->prev;
	w->prev = w->next = NULL;
	w->parked = false;
	w->woken = true;
	w->why = why;
	d->read_stats.parked--;
	d->read_stats.wakeups[why]++;
	rw->answering++;
	MHD_resume_connection(w->conn); /* MHD calls the handler again */
}

void sy_registry_service_changed(struct sy_daemon *d, struct sy_service_state *s)
{
	struct sy_registry_watch *rw = d->watch;

	/* no reader can ask: spare every publish the hash (O(n log n)) */
	if (!d->cfg->registry.embedded.read.enabled)
		return;
	if (!sy_revision_update(&s->rev, content_hash(d, s), wall_us()) || !rw)
		return;
	for (struct sy_watcher *w = rw->head.next, *next; w != &rw->head; w = next) {
		next = w->next;
		if (!strcmp(w->service, s->name) && sy_watch_answers_now(&s->rev, w->index))
			wake(d, w, SY_WAKE_CHANGE);
	}
}

static json_t *instance_json(const struct sy_maglev_backend *m, const struct sy_be *b,
			     uint64_t now_ms)
{
	char a[64], ep[80];
	json_t *meta = NULL, *j;

	sy_format_ip(m->id.family, m->id.addr, a, sizeof(a));
	sy_format_endpoint(&m->id, ep, sizeof(ep));
	if (b && b->metadata[0])
		meta = json_loads(b->metadata, 0, NULL);
	if (!meta)
		meta = json_object();
	j = json_pack("{s:s, s:s, s:i, s:i, s:s, s:o, s:s, s:b}", "id", ep, "address", a, "port",
		      (int)m->id.port, "weight", (int)m->weight, "zone", b ? b->zone : "", "metadata",
		      meta, "source", b ? sy_be_source_name(b->source) : "unknown", "live",
		      b && b->present);
	if (!j)
		return NULL;
	if (b && b->expires_ms)
		json_object_set_new(j, "expires_in_ms",
				    json_integer(b->expires_ms > now_ms ? (json_int_t)(b->expires_ms - now_ms) : 0));
	else
		json_object_set_new(j, "expires_in_ms", json_null());
	return j;
}

static const char *state_of(const struct sy_service_state *s)
{
	return s->b.degraded ? "fail-static" : "ok";
}

static json_t *instances_json(struct sy_daemon *d, struct sy_service_state *s)
{
	const struct sy_config_service *cs = &d->cfg->services[s->cfg_index];
	struct sy_be **idx = sy_svcb_sorted(&s->b);
	json_t *list = json_array(), *j;
	uint64_t now = sy_now_ms();
	char vip[64];

	if (!idx || !list) {
		free(idx);
		json_decref(list);
		return NULL;
	}
	for (uint32_t i = 0; i < s->b.n_published; i++) {
		const struct sy_maglev_backend *m = &s->b.published[i];

		json_array_append_new(list, instance_json(m, sy_svcb_sorted_find(idx, s->b.n, &m->id), now));
	}
	free(idx);
	sy_format_ip(cs->vip.family, cs->vip.addr, vip, sizeof(vip));
	j = json_pack("{s:s, s:I, s:s, s:s, s:{s:s, s:i, s:s}, s:{s:i, s:I, s:s}, s:o}", "service",
		      s->name, "revision", (json_int_t)s->rev.revision, "state", state_of(s),
		      "state_reason", s->b.degraded ? s->b.degraded_reason : "", "vip", "address", vip,
		      "port", (int)ntohs(cs->vip.port), "protocol", cs->vip.proto == 17 ? "udp" : "tcp",
		      "maglev", "table_size", (int)cs->table_size, "hash_seed",
		      (json_int_t)cs->hash_seed, "hash",
		      sy_hash_fields_name(cs->hash_fields), "instances", list);
	return j;
}

static const char *source_name(enum sy_config_source kind)
{
	for (const struct sy_source *const *src = sy_sources; *src; src++)
		if ((*src)->kind == kind)
			return (*src)->name;
	return "?";
}

/* ---- answers ------------------------------------------------------------------ */

/* peers: room for 64 prefixes (the loader's bound) */
static struct sy_read_policy policy_of(struct sy_daemon *d, struct sy_prefix *peers)
{
	const struct sy_config_read *r = &d->cfg->registry.embedded.read;

	return (struct sy_read_policy){ .enabled = r->enabled,
					.peers = peers,
					.n_peers = sy_prefixes_of_config(r->allowed_prefixes,
									 r->n_allowed_prefixes, peers, 64),
					.token = r->unauthenticated || !d->watch ? NULL
										  : d->watch->token,
					.services = (const char(*)[64])r->services,
					.n_services = r->n_services };
}

static sy_mhd_result answer(struct MHD_Connection *c, unsigned status, json_t *j,
			    uint64_t revision, unsigned retry_after_s)
{
	char *text = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	struct MHD_Response *r;
	sy_mhd_result ret;
	char hdr[32];

	json_decref(j);
	if (!text)
		return sy_http_text(c, 500, "application/json", "{\"error\":\"out of memory\"}", 25);
	r = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "application/json");
	if (revision) {
		snprintf(hdr, sizeof(hdr), "%llu", (unsigned long long)revision);
		MHD_add_response_header(r, "X-Switchyard-Revision", hdr);
	}
	if (retry_after_s) {
		snprintf(hdr, sizeof(hdr), "%u", retry_after_s);
		MHD_add_response_header(r, "Retry-After", hdr);
	}
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static sy_mhd_result refuse(struct sy_daemon *d, struct MHD_Connection *c, enum sy_read_refusal why,
			    unsigned status, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static sy_mhd_result refuse(struct sy_daemon *d, struct MHD_Connection *c, enum sy_read_refusal why,
			    unsigned status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	d->read_stats.refused[why]++;
	return answer(c, status, sy_json_error(msg), 0,
		      why == SY_REFUSED_TOO_MANY_WATCHERS || why == SY_REFUSED_STOPPING ? 1 : 0);
}

static enum sy_read_refusal refusal_of(enum sy_read_auth a)
{
	switch (a) {
	case SY_READ_NO_TOKEN:
		return SY_REFUSED_UNAUTHENTICATED;
	case SY_READ_BAD_TOKEN:
		return SY_REFUSED_BAD_TOKEN;
	case SY_READ_FORBIDDEN:
		return SY_REFUSED_FORBIDDEN;
	case SY_READ_ADDRESS:
		return SY_REFUSED_ADDRESS;
	default:
		return SY_REFUSED_DISABLED;
	}
}

static sy_mhd_result list_services(struct sy_daemon *d, struct MHD_Connection *c,
				   const struct sy_read_policy *p)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < d->n_svc; i++) {
		struct sy_service_state *s = &d->svc[i];

		if (!sy_read_service_allowed(p, s->name))
			continue;
		sy_registry_service_changed(d, s);
		json_array_append_new(
			arr, json_pack("{s:s, s:I, s:i, s:s, s:s}", "name", s->name, "revision",
				       (json_int_t)s->rev.revision, "instances",
				       (int)s->b.n_published, "state", state_of(s), "source",
				       source_name(d->cfg->services[s->cfg_index].source)));
	}
	d->read_stats.lists++;
	return answer(c, 200, json_pack("{s:o}", "services", arr ? arr : json_array()), 0, 0);
}

static sy_mhd_result list_instances(struct sy_daemon *d, struct MHD_Connection *c,
				    struct sy_service_state *s)
{
	return answer(c, 200, instances_json(d, s), s->rev.revision, 0);
}

/* The woken watcher's answer. */
static sy_mhd_result answer_woken(struct sy_daemon *d, struct MHD_Connection *c,
				  struct sy_watcher *w)
{
	struct sy_service_state *s = sy_daemon_service(d, w->service);
	char msg[128];

	/* counted as wake-ups (shutdown, gone), not as refusals */
	if (w->why == SY_WAKE_SHUTDOWN)
		return answer(c, 503, sy_json_error("sy-control is stopping; watch again once it is back"),
			      0, 1);
	if (!s) {
		snprintf(msg, sizeof(msg), "service '%s' is no longer configured", w->service);
		return answer(c, 404, sy_json_error(msg), 0, 0);
	}
	sy_registry_service_changed(d, s);
	return list_instances(d, c, s);
}

sy_mhd_result sy_registry_read(struct sy_daemon *d, struct MHD_Connection *c, const char *url,
			       struct sy_registry_request *rq)
{
	struct sy_registry_watch *rw = d->watch;
	struct sy_watcher *w = &rq->w;
	struct sy_prefix peers[64];
	struct sy_read_policy p = policy_of(d, peers);
	const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	uint32_t peer[4];
	uint8_t pf;
	struct sy_read_query q;
	struct sy_service_state *s;
	enum sy_read_auth a;
	char name[SY_NAME_MAX], err[256];
	const char *rest;
	size_t n;

	if (w->woken)
		return answer_woken(d, c, w);
	sy_http_peer(c, &pf, peer);
	/* which resource: the services, or one service's instances */
	if (!strcmp(url, "/v1/services")) {
		a = sy_read_authorize(&p, pf, peer, auth, NULL, err, sizeof(err));
		if (a != SY_READ_OK)
			return refuse(d, c, refusal_of(a), (unsigned)sy_read_auth_status(a), "%s", err);
		return list_services(d, c, &p);
	}
	if (strncmp(url, "/v1/services/", 13))
		return refuse(d, c, SY_REFUSED_BAD_REQUEST, 404, "no such path %.200s", url);
	rest = url + 13;
	n = strcspn(rest, "/");
	if (!n || n >= sizeof(name) || strcmp(rest + n, "/instances"))
		return refuse(d, c, SY_REFUSED_BAD_REQUEST, 404, "no such path %.200s (GET /v1/services/NAME/instances)", url);
	memcpy(name, rest, n);
	name[n] = 0;
	/* the credential first: a refused reader learns nothing, not even
	 * whether the service exists */
	a = sy_read_authorize(&p, pf, peer, auth, name, err, sizeof(err));
	if (a != SY_READ_OK)
		return refuse(d, c, refusal_of(a), (unsigned)sy_read_auth_status(a), "%s", err);
	if (sy_read_query_parse(MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "index"),
				MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "wait"), &q, err,
				sizeof(err)))
		return refuse(d, c, SY_REFUSED_BAD_REQUEST, 400, "%s", err);
	s = sy_daemon_service(d, name);
	if (!s)
		return refuse(d, c, SY_REFUSED_BAD_REQUEST, 404, "no service '%s'", name);
	sy_registry_service_changed(d, s); /* the revision is current */
	if (!q.watch || sy_watch_answers_now(&s->rev, q.index)) {
		d->read_stats.lists++;
		return list_instances(d, c, s);
	}
	/* park it */
	if (!rw || rw->stopping)
		return refuse(d, c, SY_REFUSED_STOPPING, 503, "sy-control is stopping; watch again once it is back");
	if (d->read_stats.parked >= d->cfg->registry.embedded.read.max_watchers)
		return refuse(d, c, SY_REFUSED_TOO_MANY_WATCHERS, 503,
			      "too many watches parked (registry.embedded.read.max_watchers %u); retry later, or read without index",
			      d->cfg->registry.embedded.read.max_watchers);
	snprintf(w->service, sizeof(w->service), "%s", s->name);
	w->conn = c;
	{
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);

		w->fd = ci ? ci->connect_fd : -1;
	}
	w->index = q.index;
	w->deadline_ms = sy_now_ms() + q.wait_ms;
	w->parked = true;
	w->next = rw->head.next;
	w->prev = &rw->head;
	rw->head.next->prev = w;
	rw->head.next = w;
	d->read_stats.parked++;
	d->read_stats.watches++;
	MHD_suspend_connection(c);
	pthread_cond_signal(&rw->tick); /* the timer learns its deadline */
	return MHD_YES;
}

void sy_registry_request_done(struct sy_daemon *d, struct sy_registry_request *rq)
{
	pthread_mutex_lock(&d->lock);
	if (rq->w.parked) { /* cannot happen: a parked connection is only closed once woken */
		rq->w.prev->next = rq->w.next;
		rq->w.next->prev = rq->w.prev;
		rq->w.parked = false;
		d->read_stats.parked--;
	} else if (rq->w.woken && d->watch) {
		d->watch->answering--;
		pthread_cond_broadcast(&d->watch->tick);
	}
	pthread_mutex_unlock(&d->lock);
}

/* ---- the timer ------------------------------------------------------------------ */

/* A deadline ms from now for rw->tick, which runs on CLOCK_MONOTONIC. */
static struct timespec monotonic_in(uint64_t ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

/* Whether the client of a parked watch hung up. libmicrohttpd does not
 * look at a suspended connection's socket, so a client gone would keep its
 * max_watchers slot until its wait ends: a peek says whether the peer
 * closed (0), or is still there (no data: EAGAIN; or a next request). */
static bool client_gone(const struct sy_watcher *w)
{
	char b;
	ssize_t n;

	if (w->fd < 0)
		return false;
	n = recv(w->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* One thread for every parked watcher: sleeps until the nearest deadline
 * (or a new watcher, at most 1 s), wakes those whose wait is over and
 * those whose client hung up. */
static void *timer_main(void *arg)
{
	struct sy_daemon *d = arg;
	struct sy_registry_watch *rw = d->watch;

	pthread_mutex_lock(&d->lock);
	while (!rw->quit) {
		uint64_t now = sy_now_ms(), next = now + 1000;
		struct timespec ts;

		for (struct sy_watcher *w = rw->head.next, *nx; w != &rw->head; w = nx) {
			nx = w->next;
			if (w->deadline_ms <= now)
				wake(d, w, SY_WAKE_TIMEOUT);
			else if (client_gone(w))
				wake(d, w, SY_WAKE_CLOSED); /* MHD finds the socket closed */
			else if (w->deadline_ms < next)
				next = w->deadline_ms;
		}
		ts = monotonic_in(next - now);
		pthread_cond_timedwait(&rw->tick, &d->lock, &ts);
	}
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

static int load_token(struct sy_daemon *d, char *token, size_t len, char *err, size_t errlen)
{
	const struct sy_config_read *r = &d->cfg->registry.embedded.read;

	token[0] = 0;
	if (!r->enabled || !r->token_file)
		return 0;
	return sy_read_token_file(d->cfg, "registry.embedded.read.token_file", r->token_file, token,
				  len, err, errlen);
}

int sy_registry_watch_start(struct sy_daemon *d, char *err, size_t errlen)
{
	struct sy_registry_watch *rw = calloc(1, sizeof(*rw));
	pthread_condattr_t ca;

	if (!rw) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	rw->head.next = rw->head.prev = &rw->head;
	if (load_token(d, rw->token, sizeof(rw->token), err, errlen)) {
		free(rw);
		return -1;
	}
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&rw->tick, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_lock(&d->lock);
	d->watch = rw;
	pthread_mutex_unlock(&d->lock);
	if (pthread_create(&rw->timer, NULL, timer_main, d)) {
		snprintf(err, errlen, "cannot start the registry's watch timer: %s", strerror(errno));
		return -1;
	}
	rw->timer_started = true;
	return 0;
}

void sy_registry_watch_configured(struct sy_daemon *d)
{
	struct sy_registry_watch *rw = d->watch;
	char token[256], err[512];

	if (!rw)
		return;
	if (load_token(d, token, sizeof(token), err, sizeof(err)))
		sy_logf("error", "\"registry read token not reloaded; the previous one stays\" error=\"%s\"", err);
	else
		memcpy(rw->token, token, sizeof(token));
	explicit_bzero(token, sizeof(token));
	for (struct sy_watcher *w = rw->head.next, *next; w != &rw->head; w = next) {
		next = w->next;
		if (!sy_daemon_service(d, w->service))
			wake(d, w, SY_WAKE_GONE);
	}
}

void sy_registry_watch_stop(struct sy_daemon *d)
{
	struct sy_registry_watch *rw = d->watch;
	uint64_t until = sy_now_ms() + 2000;

	if (!rw)
		return;
	pthread_mutex_lock(&d->lock);
	rw->stopping = true;
	while (rw->head.next != &rw->head)
		wake(d, rw->head.next, SY_WAKE_SHUTDOWN);
	/* their answers go out before the listener closes (bounded) */
	while (rw->answering && sy_now_ms() < until) {
		struct timespec ts = monotonic_in(50);

		pthread_cond_timedwait(&rw->tick, &d->lock, &ts);
	}
	rw->quit = true;
	pthread_cond_broadcast(&rw->tick);
	pthread_mutex_unlock(&d->lock);
	if (rw->timer_started)
		pthread_join(rw->timer, NULL);
}

void sy_registry_watch_free(struct sy_daemon *d)
{
	if (!d->watch)
		return;
	pthread_cond_destroy(&d->watch->tick);
	explicit_bzero(d->watch->token, sizeof(d->watch->token));
	free(d->watch);
	d->watch = NULL;
}
