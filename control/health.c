/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Active health checks (TCP connect, or HTTP GET expecting a status), run by
 * one thread: collect the checks that are due under the lock, run them
 * without it (non-blocking connects polled together, bounded by the
 * timeout), then record the results under the lock.
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

#define MAX_BATCH 256

struct check {
	char service[SY_NAME_MAX];
	struct sy_backend_id id;
	enum sy_check_type type;
	uint32_t timeout_ms;
	char path[128];
	uint16_t expect;
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

static void run_batch(struct check *k, int n)
{
	struct pollfd p[MAX_BATCH];
	uint64_t deadline = sy_now_ms() + 5000;
	int pending = 0;

	for (int i = 0; i < n; i++) {
		k[i].fd = start_connect(&k[i]);
		k[i].ok = false;
		if (k[i].timeout_ms && sy_now_ms() + k[i].timeout_ms < deadline)
			deadline = sy_now_ms() + k[i].timeout_ms;
		p[i] = (struct pollfd){ .fd = k[i].fd, .events = POLLOUT };
		pending += k[i].fd >= 0;
	}
	while (pending) {
		int64_t left = (int64_t)(deadline - sy_now_ms());

		if (left <= 0 || poll(p, (nfds_t)n, (int)left) <= 0)
			break;
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
			const struct sy_config_check *c = &d->cfg->services[s->cfg_index].health.check;

			if (c->type == SY_CHECK_NONE)
				continue;
			for (uint32_t j = 0; j < s->b.n && n < MAX_BATCH; j++) {
				struct sy_be *b = &s->b.be[j];

				if (!b->present || now < b->next_check_ms)
					continue;
				b->next_check_ms = now + c->interval_ms;
				k[n] = (struct check){ .id = b->id, .type = c->type,
						       .timeout_ms = c->timeout_ms, .expect = c->expect };
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
