/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Active health checks (TCP connect, HTTP GET expecting a status, or a TCP
 * SYN to the VIP through the tunnel: health_tunnel.h), run by one thread:
 * collect the checks that are due under the lock, run them without it
 * (non-blocking connects and the tunnel probes' answers polled together,
 * bounded by the timeout), then record the results under the lock.
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

#include "daemon.h"
#include "health_tunnel.h"

#include <switchyard/pkt_hdr.h>

#define MAX_BATCH 256

struct check {
	char service[SY_NAME_MAX];
	struct sy_backend_id id;
	enum sy_check_type type;
	uint32_t timeout_ms;
	char path[128];
	uint16_t expect;
	bool tunnel;   /* through the tunnel: tp, no fd */
	struct sy_tunnel_probe tp;
	int fd;
	bool ok;
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
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&ss, len) && errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	return fd;
}

/* HTTP: send a GET on the connected socket and read the status line. */
static bool http_probe(struct check *k)
{
	char req[256], buf[64];
	struct pollfd p = { .fd = k->fd, .events = POLLIN };
	unsigned status = 0;
	ssize_t n;
	int len = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: switchyard-check\r\nUser-Agent: sy-control\r\n\r\n", k->path);

	if (send(k->fd, req, (size_t)len, MSG_NOSIGNAL) != len)
		return false;
	if (poll(&p, 1, (int)k->timeout_ms) != 1)
		return false;
	n = recv(k->fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return false;
	buf[n] = 0;
	return sscanf(buf, "HTTP/%*u.%*u %u", &status) == 1 && status == k->expect;
}

/* Read what the tunnel listener received; each answer settles its probe.
 * The number of probes settled. */
static int read_tunnel_answers(int lfd, struct check *k, int n, bool *settled)
{
	uint8_t buf[128];
	int done = 0;
	ssize_t len;

	while ((len = recv(lfd, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
		for (int i = 0; i < n; i++) {
			enum sy_tunnel_answer a;

			if (!k[i].tunnel || settled[i])
				continue;
			a = sy_tunnel_answer(buf, (size_t)len, &k[i].tp);
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

static void run_batch(struct check *k, int n)
{
	struct pollfd p[MAX_BATCH + 1];
	bool settled[MAX_BATCH] = { false };
	uint64_t deadline = sy_now_ms() + 5000;
	int pending = 0, lfd = -1;

	for (int i = 0; i < n && lfd < 0; i++)
		if (k[i].tunnel) /* open before the first probe leaves */
			lfd = sy_tunnel_listener_open();
	for (int i = 0; i < n; i++) {
		k[i].ok = false;
		k[i].fd = -1;
		if (k[i].tunnel)
			pending += lfd >= 0 && !sy_tunnel_probe_send(&k[i].tp);
		else
			k[i].fd = start_connect(&k[i]);
		if (k[i].timeout_ms && sy_now_ms() + k[i].timeout_ms < deadline)
			deadline = sy_now_ms() + k[i].timeout_ms;
		p[i] = (struct pollfd){ .fd = k[i].fd, .events = POLLOUT };
		pending += k[i].fd >= 0;
	}
	p[n] = (struct pollfd){ .fd = lfd, .events = POLLIN };
	while (pending) {
		int64_t left = (int64_t)(deadline - sy_now_ms());

		if (left <= 0 || poll(p, (nfds_t)n + 1, (int)left) <= 0)
			break;
		if (lfd >= 0 && p[n].revents)
			pending -= read_tunnel_answers(lfd, k, n, settled);
		for (int i = 0; i < n; i++) {
			int soerr = 0;
			socklen_t sl = sizeof(soerr);

			if (p[i].fd < 0 || !p[i].revents)
				continue;
			getsockopt(p[i].fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
			k[i].ok = soerr == 0 && !(p[i].revents & (POLLERR | POLLHUP));
			p[i].fd = -1; /* done with poll for this one */
			pending--;
		}
	}
	for (int i = 0; i < n; i++) {
		if (k[i].ok && k[i].type == SY_CHECK_HTTP)
			k[i].ok = http_probe(&k[i]);
		if (k[i].fd >= 0)
			close(k[i].fd);
	}
	if (lfd >= 0)
		close(lfd);
}

/* The tunnel probe of backend b of service c, when the check goes through
 * the tunnel (IPv4 backends; IPv6 ones are checked directly). */
static bool tunnel_probe_of(const struct sy_config_service *c, const struct sy_backend_id *b,
			    struct sy_tunnel_probe *tp)
{
	if (!c->health.check.through_tunnel || b->family != 4)
		return false;
	*tp = (struct sy_tunnel_probe){
		.vip_port = c->vip.port ? c->vip.port : htons(b->port),
		.outer_src = c->encap_source4,
		.gue_port = c->mode == SY_FWD_GUE ? (c->gue_port ? c->gue_port
								 : htons(SY_GUE_DEFAULT_PORT))
						  : 0,
	};
	memcpy(&tp->vip, c->vip.addr, 4);
	memcpy(&tp->backend, b->addr, 4);
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

			if (b && sy_svcb_check_result(&s->b, b, k[i].ok, sy_now_ms())) {
				char a[64];

				inet_ntop(b->id.family == 4 ? AF_INET : AF_INET6, b->id.addr, a, sizeof(a));
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
	if (pthread_create(&health_thread, NULL, health_main, d))
		return -1;
	health_running = true;
	return 0;
}

void sy_health_stop(struct sy_daemon *d)
{
	(void)d;
	if (health_running)
		pthread_join(health_thread, NULL);
	health_running = false;
}
