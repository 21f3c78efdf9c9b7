/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The embedded source: sy-control's own registry. Backends POST signed
 * registrations (heartbeats with a TTL) and deregistrations over HTTP.
 * Authentication is auth.c's job; this file maps accepted requests onto the
 * service's backend set. Protocol: docs/control.md. The same listener
 * answers reads and blocking watches (GET; registry_watch.c,
 * docs/registry-api.md).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "http.h"
#include "netaddr.h"
#include "registry_watch.h"
#include "source.h"

static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static sy_mhd_result reject(struct sy_daemon *d, struct sy_service_state *s,
			    struct MHD_Connection *c, unsigned status, const char *what,
			    const char *why)
{
	char peer[64] = "?";
	uint8_t f;
	uint32_t a[4];

	sy_http_peer(c, &f, a);
	if (f)
		inet_ntop(f == 4 ? AF_INET : AF_INET6, a, peer, sizeof(peer));
	d->reg_rejected++;
	if (s)
		s->rejected++;
	/* the caller holds d->lock, which guards the limiter too */
	if (sy_log_limit_pass(&d->refused_log, 10, "registration refused"))
		sy_logf("warn", "\"registration refused\" peer=%s service=%s status=%u error=\"%s: %s\"",
			peer, s ? s->name : "?", status, what, why);
	return sy_http_error(c, status, "%s: %s", what, why);
}

/* A registration whose QUIC server ID another backend of the service has:
 * refused (409), as a packet's ID must name one backend. 1 with why. */
static int server_id_taken(const struct sy_service_state *s, const struct sy_backend_id *id,
			   uint32_t server_id, char *why, size_t len)
{
	const struct sy_be *o = sy_source_server_id_owner(s, server_id, id);
	char a[64];

	if (!o)
		return 0;
	sy_format_ip(o->id.family, o->id.addr, a, sizeof(a));
	snprintf(why, len, "server_id %u (0x%x) is already backend %s:%u's in service %s",
		 server_id, server_id, a, o->id.port, s->name);
	return 1;
}

static sy_mhd_result handle(struct sy_daemon *d, struct MHD_Connection *c, const char *url,
			    const struct sy_body *body)
{
	bool reg = !strcmp(url, "/v1/register");
	const char *sig = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Switchyard-Signature");
	const char *data = body->data ? body->data : "";
	const struct sy_config_service *cs;
	struct sy_prefix prefixes[64];
	struct sy_auth_policy pol;
	struct sy_registration r;
	struct sy_service_state *s;
	enum sy_auth_result res;
	char err[256];
	uint32_t peer[4];
	uint8_t pf;
	size_t np;

	/* Parsed once, before anything else: a malformed body is answered 400
	 * with its flaw whoever sent it; a well-formed one names the service
	 * whose key then authenticates it. */
	if (sy_registration_parse(data, body->len, &r, err, sizeof(err)))
		return reject(d, NULL, c, 400, sy_auth_result_str(SY_AUTH_MALFORMED), err);
	s = sy_daemon_service(d, r.service);
	if (!s) {
		snprintf(err, sizeof(err), "no such service '%s'", r.service);
		return reject(d, NULL, c, 404, "service", err);
	}
	cs = &d->cfg->services[s->cfg_index];
	if (cs->source != SY_SOURCE_EMBEDDED)
		return reject(d, s, c, 404, "service", "does not take registrations (source is not embedded)");
	np = sy_prefixes_of_config(d->cfg->registry.embedded.allowed_prefixes,
				   d->cfg->registry.embedded.n_allowed_prefixes, prefixes, 64);
	pol = (struct sy_auth_policy){ .key = s->key, .klen = s->key_len, .prefixes = prefixes,
				       .n_prefixes = np,
				       .max_skew_ms = (uint64_t)d->cfg->registry.embedded.max_clock_skew_s * 1000,
				       .service = s->name };
	sy_http_peer(c, &pf, peer);
	res = sy_registration_authorize(&pol, data, body->len, &r, sig, pf, peer, wall_ms(),
					&d->nonces, err, sizeof(err));
	if (res != SY_AUTH_OK)
		return reject(d, s, c, (unsigned)sy_auth_http_status(res), sy_auth_result_str(res), err);

	{
		struct sy_backend_id id = { .family = r.family, .port = r.port };
		uint32_t ttl = r.ttl_s ? r.ttl_s : cs->health.default_ttl_s;

		memcpy(id.addr, r.addr, sizeof(id.addr));
		/* a new backend over the service's cap: 507, counted apart
		 * from the rejected (it was authentic), logged a line a
		 * minute; its agent keeps trying and gets in once one leaves */
		if (reg && !sy_source_admit(d, s, &id, SY_SRC_EMBEDDED, err, sizeof(err)))
			return sy_http_error(c, 507, "%s", err);
		if (reg && server_id_taken(s, &id, r.server_id, err, sizeof(err)))
			return sy_http_error(c, 409, "%s", err);
		d->reg_accepted++;
		if (reg) {
			struct sy_be *b = sy_svcb_find(&s->b, &id);
			bool was = b && b->present;
			uint32_t old_w = b ? b->weight : 0;

			b = sy_source_upsert(d, s, &id, r.weight, SY_SRC_EMBEDDED, (uint64_t)ttl * 1000);
			if (!b)
				return sy_http_error(c, 500, "out of memory");
			sy_source_set_server_id(d, s, b, r.server_id);
			if (strcmp(b->zone, r.zone) || strcmp(b->metadata, r.metadata_json)) {
				snprintf(b->zone, sizeof(b->zone), "%s", r.zone);
				snprintf(b->metadata, sizeof(b->metadata), "%s", r.metadata_json);
				/* readers see it, the balancer does not: a new
				 * revision now, not at the next publish */
				sy_registry_service_changed(d, s);
			}
			if (!was || old_w != r.weight) {
				char a[64];

				inet_ntop(id.family == 4 ? AF_INET : AF_INET6, id.addr, a, sizeof(a));
				sy_logf("info", "\"backend registered\" service=%s backend=%s:%u weight=%u ttl_s=%u",
					s->name, a, id.port, r.weight, ttl);
			}
		} else if (sy_source_remove(d, s, &id, SY_LEAVE_EXPLICIT)) {
			sy_logf("info", "\"backend deregistered\" service=%s port=%u", s->name, id.port);
		}
		return sy_http_json(c, 200, json_pack("{s:b, s:i}", "ok", 1, "ttl_s", (int)ttl));
	}
}

/* The whole request (connect to answer) within registry.embedded.
 * request_deadline_s (default 10), however slowly the bytes come: MHD's
 * CONNECTION_TIMEOUT (idle_timeout_s, default 5) counts inactivity only. A
 * parked watch has its wait added. */
static struct sy_http_guard *guard;

/* A body over the registry's cap: refused and counted. */
static sy_mhd_result refuse_too_large(struct sy_daemon *d, struct MHD_Connection *c)
{
	sy_mhd_result r;

	pthread_mutex_lock(&d->lock);
	r = reject(d, NULL, c, 413, "body", "over 4096 bytes");
	pthread_mutex_unlock(&d->lock);
	return r;
}

static sy_mhd_result handler(void *cls, struct MHD_Connection *c, const char *url,
			     const char *method, const char *version, const char *upload,
			     size_t *upload_size, void **con_cls)
{
	struct sy_daemon *d = cls;
	struct sy_registry_request *rq;
	struct sy_body *body;
	sy_mhd_result r;

	(void)version;
	/* a declared oversized body is refused without keeping any of it: at
	 * once if over SY_HTTP_DRAIN_MAX, else once it is read and dropped, so
	 * that the client, still sending, reads the answer (http.h); one that
	 * grows too large on the way (chunked) likewise */
	if (!*con_cls) {
		bool too_large = sy_http_declared_too_large(c, SY_REG_MAX_BODY);

		if (too_large && !sy_http_body_to_drain(c))
			return refuse_too_large(d, c);
		/* the request's own state: its body, a watch */
		rq = calloc(1, sizeof(struct sy_registry_request));
		if (!rq)
			return sy_http_error(c, 500, "out of memory");
		rq->body.too_large = too_large;
		*con_cls = rq;
		return MHD_YES;
	}
	if (!sy_http_collect(con_cls, upload, upload_size, SY_REG_MAX_BODY, &body))
		return sy_http_drained_too_much(body) ? MHD_NO : MHD_YES;
	if (body->too_large)
		return refuse_too_large(d, c);
	rq = (struct sy_registry_request *)body;
	if (!strcmp(method, "GET")) {
		pthread_mutex_lock(&d->lock);
		r = sy_registry_read(d, c, url, rq);
		if (rq->w.parked) /* the guard's deadline runs from the wait's end */
			sy_http_guard_extend(guard, c, rq->w.deadline_ms - sy_now_ms());
		pthread_mutex_unlock(&d->lock);
		return r;
	}
	if (!strncmp(url, "/v1/services", 12) && (!url[12] || url[12] == '/')) {
		pthread_mutex_lock(&d->lock);
		d->read_stats.refused[SY_REFUSED_BAD_REQUEST]++;
		pthread_mutex_unlock(&d->lock);
		return sy_http_error(c, 405, "use GET");
	}
	if (strcmp(url, "/v1/register") && strcmp(url, "/v1/deregister"))
		return sy_http_error(c, 404, "no such path %s", url);
	if (strcmp(method, "POST"))
		return sy_http_error(c, 405, "use POST");
	if (body->too_large) {
		pthread_mutex_lock(&d->lock);
		r = reject(d, NULL, c, 413, "body", "over 4096 bytes");
		pthread_mutex_unlock(&d->lock);
		return r;
	}
	pthread_mutex_lock(&d->lock);
	r = handle(d, c, url, body);
	pthread_mutex_unlock(&d->lock);
	return r;
}

/* MHD_OPTION_NOTIFY_COMPLETED: a watch's end, then the body's. */
static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	struct sy_daemon *d = cls;

	if (*con_cls)
		sy_registry_request_done(d, *con_cls);
	sy_http_completed(guard, c, con_cls, toe);
}

static int start(const struct sy_source *self, struct sy_daemon *d, char *err, size_t errlen)
{
	(void)self;
	const struct sy_config_embedded *e = &d->cfg->registry.embedded;
	int fd;

	if (!e->enabled)
		return 0;
	if (sy_nonce_cache_init(&d->nonces, 1u << 19, (uint64_t)e->max_clock_skew_s * 2000)) {
		snprintf(err, errlen, "cannot allocate the replay cache");
		return -1;
	}
	/* IP_FREEBIND: the documented start order runs sy-control before
	 * sy-dataplane creates sy0, the interface that carries this address */
	fd = sy_listen_tcp(e->listen_family, e->listen_addr, e->listen_port, true, err, errlen);
	if (fd < 0)
		return -1;
	if (sy_registry_watch_start(d, err, errlen)) {
		close(fd);
		return -1;
	}
	guard = sy_http_guard_new("registry", e->request_deadline_s * 1000u); /* <= 3600 s */
	if (!guard) {
		close(fd);
		snprintf(err, errlen, "cannot start the embedded registry's slow-client guard");
		return -1;
	}
	/* Slow or abusive clients: short timeouts, a deadline per request and
	 * per-address limits. One thread serves every connection; a parked
	 * watch is a suspended connection (no thread of its own). poll(), not
	 * select(): sy-control's descriptors go past FD_SETSIZE (health.c
	 * raises the limit for its checks), and select() cannot wait on those. */
	d->registry_http = MHD_start_daemon(
		MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME, 0,
		NULL, NULL, handler, d,
		MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_NOTIFY_COMPLETED, completed, d,
		MHD_OPTION_NOTIFY_CONNECTION, sy_http_guard_notify, guard,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)e->idle_timeout_s,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned int)1024, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
		(unsigned int)32,
		MHD_OPTION_END);
	if (!d->registry_http) {
		sy_http_guard_free(guard);
		guard = NULL;
		snprintf(err, errlen, "cannot start the embedded registry on %s:%u", e->listen_host,
			 e->listen_port);
		return -1;
	}
	sy_logf("info", "\"embedded registry listening\" address=%s port=%u", e->listen_host,
		e->listen_port);
	if (!sy_addr_is_local(e->listen_family, e->listen_addr))
		sy_logf("warn",
			"\"embedded registry address on no interface yet: registrations arrive once an interface has it (sy0 after sy-dataplane starts); syctl status shows it\" address=%s",
			e->listen_host);
	return 0;
}

static void stop(const struct sy_source *self, struct sy_daemon *d)
{
	(void)self;
	/* parked watchers are answered first: MHD must not stop with
	 * suspended connections, and their clients learn at once */
	sy_registry_watch_stop(d);
	if (d->registry_http)
		MHD_stop_daemon(d->registry_http);
	d->registry_http = NULL;
	sy_http_guard_free(guard); /* after the daemon: no connection is left */
	guard = NULL;
	sy_registry_watch_free(d);
}

static void configured(const struct sy_source *self, struct sy_daemon *d)
{
	(void)self;
	sy_registry_watch_configured(d);
}

static void describe(const struct sy_source *self, struct sy_daemon *d, char *buf, size_t len,
		     bool *up)
{
	(void)self;
	const struct sy_config_embedded *e = &d->cfg->registry.embedded;
	bool local = e->enabled && sy_addr_is_local(e->listen_family, e->listen_addr);
	size_t n;

	*up = !e->enabled || (d->registry_http != NULL && local);
	if (!e->enabled)
		snprintf(buf, len, "not configured");
	else if (d->registry_http && !local) /* sy0 not up yet, or a typo */
		snprintf(buf, len,
			 "waiting: listening on %s:%u, but no interface has %s yet; %llu accepted, %llu refused, %llu over capacity",
			 e->listen_host, e->listen_port, e->listen_host,
			 (unsigned long long)d->reg_accepted, (unsigned long long)d->reg_rejected,
			 (unsigned long long)d->over_capacity[SY_SRC_EMBEDDED]);
	else
		snprintf(buf, len, "%s: listening on %s:%u, %llu accepted, %llu refused, %llu over capacity",
			 d->registry_http ? "up" : "down", e->listen_host, e->listen_port,
			 (unsigned long long)d->reg_accepted, (unsigned long long)d->reg_rejected,
			 (unsigned long long)d->over_capacity[SY_SRC_EMBEDDED]);
	/* readers (docs/registry-api.md) */
	n = strlen(buf);
	if (e->enabled && n < len)
		snprintf(buf + n, len - n, "; reads %s, watches parked: %u of %u",
			 !e->read.enabled ? "off" : e->read.unauthenticated ? "unauthenticated" : "with token",
			 d->read_stats.parked, e->read.enabled ? e->read.max_watchers : 0);
}

const struct sy_source sy_source_embedded = {
	.name = "embedded",
	.kind = SY_SOURCE_EMBEDDED,
	.start = start,
	.configured = configured,
	.stop = stop,
	.describe = describe,
};
