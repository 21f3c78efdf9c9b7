/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Active health checks (TCP connect, HTTP GET expecting a status, or a TCP
 * SYN to the VIP through the tunnel: health_tunnel.h), run by one thread:
 * collect the checks that are due under the lock, run them without it
 * (non-blocking connects and the tunnel probes' answers polled together,
 * bounded by the timeout), then record the results under the lock.
 *
 * A check that cannot leave this host (no route towards the backend: behind
 * sy-dataplane, its TAP is gone while the dataplane restarts; a socket
 * refused: no CAP_NET_RAW, no descriptors left) says nothing of the
 * backend: it is counted as not sent and the backend's state is kept.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>

#include "daemon.h"
#include "health_tunnel.h"

#include <switchyard/pkt_hdr.h>

#define MAX_BATCH 256

struct check {
	char service[SY_NAME_MAX];
	struct sy_backend_id id;
	enum sy_check_type type;
	uint32_t timeout_ms;
	char path[1025];  /* http(s): as configured (<= 1024 bytes) */
	char send[513];      /* udp: the datagram */
	char receive[513];   /* udp: what the answer starts with */
	uint16_t expect;
	bool tunnel;   /* through the tunnel: tp, no fd */
	CURL *easy;    /* http(s): the transfer, until it ends */
	struct sy_tunnel_probe tp;
	int fd;
	bool ok;
	int unsent;    /* errno: it did not leave this host; 0 = sent */
};

static pthread_t health_thread;
static bool health_running;

static int start_connect(struct check *k)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	int fd;

	if (k->id.family == 4) {
		struct sockaddr_in *s = (struct sockaddr_in *)&ss;

		s->sin_family = AF_INET;
		s->sin_port = htons(k->id.port);
		memcpy(&s->sin_addr, k->id.addr, 4);
		len = sizeof(*s);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;

		s->sin6_family = AF_INET6;
		s->sin6_port = htons(k->id.port);
		memcpy(&s->sin6_addr, k->id.addr, 16);
		len = sizeof(*s);
	}
	fd = socket(ss.ss_family,
		    (k->type == SY_CHECK_UDP ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0) {
		k->unsent = errno;
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&ss, len) && errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	/* udp: the datagram now; its answer (or the port unreachable that
	 * refuses it) makes the socket readable */
	if (k->type == SY_CHECK_UDP &&
	    send(fd, k->send, strlen(k->send), MSG_NOSIGNAL) != (ssize_t)strlen(k->send)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* udp: the answer starts with `receive` (a port unreachable fails recv) */
static bool udp_answer_ok(const struct check *k)
{
	char buf[520];
	size_t want = strlen(k->receive);
	ssize_t n = recv(k->fd, buf, sizeof(buf), MSG_DONTWAIT);

	return n >= 0 && (size_t)n >= want && !memcmp(buf, k->receive, want);
}

/* ---- HTTP and HTTPS: libcurl's multi interface, the batch's checks at once */

/* The status line is all a check needs: the body is refused at its first
 * byte (the transfer ends with CURLE_WRITE_ERROR, the status is known). */
static size_t refuse_body(char *p, size_t size, size_t n, void *u)
{
	(void)p, (void)size, (void)n, (void)u;
	return 0;
}

static bool http_start(CURLM *m, struct check *k)
{
	char host[INET6_ADDRSTRLEN], url[sizeof(k->path) + 80];
	CURL *e = curl_easy_init();

	if (!e)
		return false;
	inet_ntop(k->id.family == 4 ? AF_INET : AF_INET6, k->id.addr, host, sizeof(host));
	snprintf(url, sizeof(url), k->id.family == 4 ? "%s://%s:%u%s" : "%s://[%s]:%u%s",
		 k->type == SY_CHECK_HTTPS ? "https" : "http", host, k->id.port, k->path);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_PROXY, ""); /* never a proxy of the environment */
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)k->timeout_ms);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "sy-control");
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, refuse_body);
	/* addressed by IP, with whatever certificate it has: what is checked
	 * is that it speaks TLS and answers the status (docs/control.md) */
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	curl_easy_setopt(e, CURLOPT_PRIVATE, k);
	if (curl_multi_add_handle(m, e) != CURLM_OK) {
		curl_easy_cleanup(e);
		return false;
	}
	k->easy = e;
	return true;
}

/* Settle the finished transfers; the number settled. */
static int http_finished(CURLM *m)
{
	CURLMsg *msg;
	int left, done = 0;

	while ((msg = curl_multi_info_read(m, &left))) {
		struct check *k;
		long status = 0;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&k);
		curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
		k->ok = (msg->data.result == CURLE_OK || msg->data.result == CURLE_WRITE_ERROR) &&
			status == k->expect;
		curl_multi_remove_handle(m, k->easy);
		curl_easy_cleanup(k->easy);
		k->easy = NULL;
		done++;
	}
	return done;
}

/* Wait for the batch's sockets (p) and, when there are HTTP checks, for
 * libcurl's. >0 when something happened, 0 on timeout, <0 on error. */
static int wait_events(CURLM *m, struct pollfd *p, int np, int timeout_ms)
{
	struct curl_waitfd w[MAX_BATCH + 2];
	int nw = 0, ready = 0;

	if (!m)
		return poll(p, (nfds_t)np, timeout_ms);
	for (int i = 0; i < np; i++)
		if (p[i].fd >= 0)
			w[nw++] = (struct curl_waitfd){ .fd = p[i].fd, .events = (short)p[i].events };
	if (curl_multi_poll(m, w, (unsigned)nw, timeout_ms, &ready) != CURLM_OK)
		return -1;
	nw = 0;
	for (int i = 0; i < np; i++) {
		p[i].revents = 0;
		if (p[i].fd >= 0)
			p[i].revents = w[nw++].revents;
	}
	return 1; /* libcurl's own sockets may be the ones that woke it */
}

/* Read what a tunnel listener (fd of family af) received; each answer
 * settles its probe. The number of probes settled. */
static int read_tunnel_answers(int fd, int af, struct check *k, int n, bool *settled)
{
	struct sockaddr_in6 from;
	socklen_t fl = sizeof(from);
	uint8_t buf[128];
	int done = 0;
	ssize_t len;

	/* IPv4: the packet with its IP header; IPv6: the TCP segment, and its
	 * source in from */
	while ((len = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from,
			       &fl)) > 0) {
		for (int i = 0; i < n; i++) {
			enum sy_tunnel_answer a;

			if (!k[i].tunnel || settled[i])
				continue;
			a = af == AF_INET ? sy_tunnel_answer(buf, (size_t)len, &k[i].tp)
					  : sy_tunnel_answer6((const uint32_t *)&from.sin6_addr, buf,
							      (size_t)len, &k[i].tp);
			if (a == SY_TUNNEL_OTHER)
				continue;
			k[i].ok = a == SY_TUNNEL_SYNACK;
			settled[i] = true;
			done++;
			break;
		}
	}
	return done;
}

/* Start check k: true when it is under way (a socket to poll, a transfer,
 * a probe whose answer the listener waits for); false when it ended at once,
 * failed, or not sent (k->unsent) when it could not leave this host. */
static bool start_check(struct check *k, const struct sy_tunnel_listener *l, int listener_err,
			CURLM *m)
{
	uint32_t src[4];
	int rc;

	k->ok = false;
	k->unsent = 0;
	k->fd = -1;
	k->easy = NULL;
	if (k->tunnel) { /* the probe asks for the route itself */
		if ((k->tp.family == SY_AF_INET ? l->fd4 : l->fd6) < 0)
			k->unsent = listener_err;
		else if ((rc = sy_tunnel_probe_send(&k->tp)))
			k->unsent = -rc;
		return !k->unsent;
	}
	if ((rc = sy_source_towards(k->id.family, k->id.addr, src))) {
		k->unsent = -rc;
		return false;
	}
	if (k->type == SY_CHECK_HTTP || k->type == SY_CHECK_HTTPS) {
		if (!m || !http_start(m, k))
			k->unsent = ENOMEM;
		return !k->unsent;
	}
	k->fd = start_connect(k);
	return k->fd >= 0;
}

static void run_batch(struct check *k, int n)
{
	struct pollfd p[MAX_BATCH + 2];
	bool settled[MAX_BATCH] = { false }, want4 = false, want6 = false;
	uint64_t deadline = sy_now_ms() + 5000;
	int pending = 0;
	struct sy_tunnel_listener l = { -1, -1 };
	int listener_err = 0;
	CURLM *m = NULL;

	for (int i = 0; i < n; i++) {
		want4 |= k[i].tunnel && k[i].tp.family == SY_AF_INET;
		want6 |= k[i].tunnel && k[i].tp.family == SY_AF_INET6;
		if ((k[i].type == SY_CHECK_HTTP || k[i].type == SY_CHECK_HTTPS) && !m)
			m = curl_multi_init();
	}
	if (want4 || want6) /* open before the first probe leaves */
		listener_err = -sy_tunnel_listener_open(&l, want4, want6);
	for (int i = 0; i < n; i++) {
		pending += start_check(&k[i], &l, listener_err, m);
		if (k[i].timeout_ms && sy_now_ms() + k[i].timeout_ms < deadline)
			deadline = sy_now_ms() + k[i].timeout_ms;
		p[i] = (struct pollfd){ .fd = k[i].fd,
					.events = k[i].type == SY_CHECK_UDP ? POLLIN : POLLOUT };
	}
	p[n] = (struct pollfd){ .fd = l.fd4, .events = POLLIN };
	p[n + 1] = (struct pollfd){ .fd = l.fd6, .events = POLLIN };
	if (m) { /* the transfers' own timeouts end them */
		int running;

		curl_multi_perform(m, &running);
		pending -= http_finished(m);
	}
	while (pending > 0) {
		int64_t left = (int64_t)(deadline - sy_now_ms());

		if (left <= 0 || wait_events(m, p, n + 2, (int)left) <= 0)
			break;
		if (m) {
			int running;

			curl_multi_perform(m, &running);
			pending -= http_finished(m);
		}
		if (l.fd4 >= 0 && p[n].revents)
			pending -= read_tunnel_answers(l.fd4, AF_INET, k, n, settled);
		if (l.fd6 >= 0 && p[n + 1].revents)
			pending -= read_tunnel_answers(l.fd6, AF_INET6, k, n, settled);
		for (int i = 0; i < n; i++) {
			int soerr = 0;
			socklen_t sl = sizeof(soerr);

			if (p[i].fd < 0 || !p[i].revents)
				continue;
			if (k[i].type == SY_CHECK_UDP) {
				k[i].ok = udp_answer_ok(&k[i]);
			} else {
				getsockopt(p[i].fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
				k[i].ok = soerr == 0 && !(p[i].revents & (POLLERR | POLLHUP));
			}
			p[i].fd = -1; /* done with poll for this one */
			pending--;
		}
	}
	for (int i = 0; i < n; i++)
		if (k[i].fd >= 0)
			close(k[i].fd);
	sy_tunnel_listener_close(&l);
	for (int i = 0; i < n; i++)
		if (k[i].easy) { /* still running at the deadline: failed */
			curl_multi_remove_handle(m, k[i].easy);
			curl_easy_cleanup(k[i].easy);
			k[i].easy = NULL;
		}
	if (m)
		curl_multi_cleanup(m);
}

/* The tunnel probe of backend b of service c, when the check goes through
 * the tunnel (backends of the VIP's family; the others are checked
 * directly). */
static bool tunnel_probe_of(const struct sy_config_service *c, const struct sy_backend_id *b,
			    struct sy_tunnel_probe *tp)
{
	if (!c->health.check.through_tunnel || b->family != c->vip.family)
		return false;
	*tp = (struct sy_tunnel_probe){
		.family = b->family,
		.vip_port = c->vip.port ? c->vip.port : htons(b->port),
		.gue_port = c->mode == SY_FWD_GUE ? (c->gue_port ? c->gue_port
								 : htons(SY_GUE_DEFAULT_PORT))
						  : 0,
	};
	if (b->family == SY_AF_INET)
		tp->outer_src[0] = c->encap_source4;
	else
		memcpy(tp->outer_src, c->encap_source6, 16);
	memcpy(tp->vip, c->vip.addr, b->family == SY_AF_INET ? 4 : 16);
	memcpy(tp->backend, b->addr, b->family == SY_AF_INET ? 4 : 16);
	return true;
}

static void *health_main(void *arg)
{
	struct sy_daemon *d = arg;
	static struct check k[MAX_BATCH];

	while (!d->quit) {
		uint64_t now = sy_now_ms();
		int n = 0;

		pthread_mutex_lock(&d->lock);
		for (size_t i = 0; i < d->n_svc && n < MAX_BATCH; i++) {
			struct sy_service_state *s = &d->svc[i];
			const struct sy_config_service *sc = &d->cfg->services[s->cfg_index];
			const struct sy_config_check *c = &sc->health.check;

			if (c->type == SY_CHECK_NONE)
				continue;
			for (uint32_t j = 0; j < s->b.n && n < MAX_BATCH; j++) {
				struct sy_be *b = &s->b.be[j];

				if (!b->present || now < b->next_check_ms)
					continue;
				b->next_check_ms = now + c->interval_ms;
				k[n] = (struct check){ .id = b->id, .type = c->type,
						       .timeout_ms = c->timeout_ms, .expect = c->expect };
				k[n].tunnel = tunnel_probe_of(sc, &b->id, &k[n].tp);
				snprintf(k[n].send, sizeof(k[n].send), "%s", c->send ? c->send : "");
				snprintf(k[n].receive, sizeof(k[n].receive), "%s",
					 c->receive ? c->receive : "");
				snprintf(k[n].service, sizeof(k[n].service), "%s", s->name);
				snprintf(k[n].path, sizeof(k[n].path), "%s", c->path ? c->path : "/");
				n++;
			}
		}
		pthread_mutex_unlock(&d->lock);
		if (n)
			run_batch(k, n);
		pthread_mutex_lock(&d->lock);
		for (int i = 0; i < n; i++) {
			struct sy_service_state *s = sy_daemon_service(d, k[i].service);
			struct sy_be *b = s ? sy_svcb_find(&s->b, &k[i].id) : NULL;
			bool was_unsent = b && b->unsent_streak;
			char a[64] = "";

			if (b)
				inet_ntop(b->id.family == 4 ? AF_INET : AF_INET6, b->id.addr, a, sizeof(a));
			if (k[i].unsent) {
				if (s)
					s->checks_unsent++;
				if (b && sy_svcb_check_unsent(b, k[i].unsent, sy_now_ms()))
					sy_logf("warn",
						"\"health check not sent: backend state kept\" service=%s "
						"backend=%s:%u error=\"%s\"",
						s->name, a, b->id.port, strerror(k[i].unsent));
				continue;
			}
			if (s)
				s->checks[k[i].ok]++;
			if (was_unsent)
				sy_logf("info", "\"health check sent again\" service=%s backend=%s:%u",
					s->name, a, b->id.port);
			if (b && sy_svcb_check_result(&s->b, b, k[i].ok, sy_now_ms())) {
				sy_logf(k[i].ok ? "info" : "warn", "\"health check %s\" service=%s backend=%s:%u",
					k[i].ok ? "passes: backend up" : "fails: backend down", s->name, a,
					b->id.port);
				sy_daemon_mark(d, s);
			}
		}
		pthread_mutex_unlock(&d->lock);
		usleep(100000);
	}
	return NULL;
}

int sy_health_start(struct sy_daemon *d)
{
	/* here, before the thread: libcurl's global setup is not thread-safe */
	if (curl_global_init(CURL_GLOBAL_DEFAULT))
		return -1;
	if (pthread_create(&health_thread, NULL, health_main, d)) {
		curl_global_cleanup();
		return -1;
	}
	health_running = true;
	return 0;
}

void sy_health_stop(struct sy_daemon *d)
{
	(void)d;
	if (health_running) {
		pthread_join(health_thread, NULL);
		curl_global_cleanup();
	}
	health_running = false;
}
