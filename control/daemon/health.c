/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Active health checks (TCP connect, HTTP GET expecting a status, or a TCP
 * SYN to the VIP through the tunnel: health_tunnel.h), run by one thread:
 * collect the checks that are due under the lock, run them without it
 * (non-blocking connects, HTTP transfers and the tunnel probes' answers
 * polled together, each bounded by its own service's timeout), then record
 * the results under the lock.
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
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>

#include "daemon.h"
#include "health_tunnel.h"

#include <switchyard/pkt_hdr.h>

/* Every check that is due starts, as many under way at once as the
 * descriptor limit leaves room for (a check holds a socket while it runs):
 * a round of checks takes one timeout however many backends there are.
 * Until session 44 the checks ran in batches of at most 256: with more
 * checked backends, the slow and the dead ones holding each batch up to
 * its timeout, a round took several timeouts, and a failure was seen that
 * much later (a rack of backends lost at once: 2,000 backends, 500 ms
 * timeouts, ~4 s a round). */
#define FD_RESERVE 256   /* descriptors left to the rest of sy-control */
#define IN_FLIGHT_MIN 64     /* room for checks under way, to start with */
#define IN_FLIGHT_MAX 65536
static uint32_t in_flight_max = IN_FLIGHT_MIN; /* under way at most: RLIMIT_NOFILE, at start */

struct check {
	char service[SY_NAME_MAX];
	struct sy_backend_id id;
	enum sy_check_type type;
	uint32_t timeout_ms;
	char *path;       /* http(s): as configured (<= 1024 bytes) */
	char *send;       /* udp: the datagram */
	char *receive;    /* udp: what the answer starts with */
	uint16_t expect;
	bool tunnel;   /* through the tunnel: tp, no fd */
	CURL *easy;    /* http(s): the transfer, until it ends */
	struct sy_tunnel_probe tp;
	int fd;
	bool ok;
	int unsent;    /* errno: it did not leave this host; 0 = sent */
	bool waiting;  /* under way: no answer yet, its deadline not passed */
	uint64_t deadline_ms; /* when it fails for want of an answer */
	uint64_t dp_stops; /* the dataplane's stops when it started (dp_health.h) */
	uint64_t ended_ms; /* when its end was found (0: under way); judged once the
			    * dataplane is seen moving after it (record_results) */
	bool recorded;     /* its result taken: out at the next compaction */
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

/* ---- HTTP and HTTPS: libcurl's multi interface, every transfer at once */

/* The status line is all a check needs: the body is refused at its first
 * byte (the transfer ends with CURLE_WRITE_ERROR, the status is known). */
static size_t refuse_body(char *p, size_t size, size_t n, void *u)
{
	(void)p, (void)size, (void)n, (void)u;
	return 0;
}

static bool http_start(CURLM *m, struct check *k)
{
	char host[INET6_ADDRSTRLEN], url[1200]; /* a path is at most 1024 bytes */
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

/* Settle the finished transfers (one past its deadline has failed
 * already). */
static void http_finished(CURLM *m)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(m, &left))) {
		struct check *k;
		long status = 0;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&k);
		curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
		if (k->waiting)
			k->ok = (msg->data.result == CURLE_OK ||
				 msg->data.result == CURLE_WRITE_ERROR) &&
				status == k->expect;
		k->waiting = false;
		curl_multi_remove_handle(m, k->easy);
		curl_easy_cleanup(k->easy);
		k->easy = NULL;
	}
}

/* libcurl's transfers moved on, and those that ended settled. */
static void http_progress(CURLM *m)
{
	int running;

	curl_multi_perform(m, &running);
	http_finished(m);
}

/* Wait for the checks' sockets (p) and, when there are HTTP checks, for
 * libcurl's (w: room for np). >0 when something happened, 0 on timeout,
 * <0 on error. */
static int wait_events(CURLM *m, struct pollfd *p, struct curl_waitfd *w, int np, int timeout_ms)
{
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

/* The tunnel probes under way by their source port, which an answer has
 * for destination: the listeners copy every TCP packet the host receives,
 * and each is compared with the few probes of its port rather than with
 * every check under way (there may be thousands). */
struct probe_index {
	int32_t *head; /* by port: the last probe sent from it, -1: none */
	int32_t *next; /* by check: the probe before it from the same port */
};

/* Index the probes waiting among the n checks (x->head: 65536 entries,
 * x->next: n at least). */
static void probe_index_build(struct probe_index *x, const struct check *k, int n)
{
	memset(x->head, 0xff, 65536 * sizeof(*x->head));
	for (int i = 0; i < n; i++)
		if (k[i].tunnel && k[i].waiting) {
			uint16_t port = ntohs(k[i].tp.sport);

			x->next[i] = x->head[port];
			x->head[port] = i;
		}
}

/* Read what a tunnel listener (fd of family af) received; each answer
 * settles its probe. */
static void read_tunnel_answers(int fd, int af, struct check *k, const struct probe_index *x)
{
	struct sockaddr_in6 from;
	socklen_t fl = sizeof(from);
	uint8_t buf[128];
	ssize_t len;

	/* IPv4: the packet with its IP header; IPv6: the TCP segment, and its
	 * source in from */
	while ((len = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from,
			       &fl)) > 0) {
		size_t tcp = af == AF_INET ? (size_t)(buf[0] & 0xf) * 4 : 0;

		if ((size_t)len < tcp + 4)
			continue;
		for (int32_t i = x->head[buf[tcp + 2] << 8 | buf[tcp + 3]]; i >= 0; i = x->next[i]) {
			enum sy_tunnel_answer a;

			if (!k[i].waiting)
				continue;
			a = af == AF_INET ? sy_tunnel_answer(buf, (size_t)len, &k[i].tp)
					  : sy_tunnel_answer6((const uint32_t *)&from.sin6_addr, buf,
							      (size_t)len, &k[i].tp);
			if (a == SY_TUNNEL_OTHER)
				continue;
			k[i].ok = a == SY_TUNNEL_SYNACK;
			k[i].waiting = false;
			break;
		}
	}
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
	k->deadline_ms = sy_now_ms() + (k->timeout_ms ? k->timeout_ms : 5000);
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

/* The checks still waiting, after failing those past their deadline; the
 * earliest deadline of the others in *next. Each check has its own: the
 * checks under way are of many services, and one's short timeout must not
 * cut another's checks short (until session 44 a batch ended at the
 * shortest timeout of its checks, and a backend answering in 300 ms of a
 * service with a 1900 ms timeout failed beside a service whose timeout was
 * 250 ms). */
static int expire_checks(struct check *k, struct pollfd *p, int n, uint64_t now, uint64_t *next)
{
	int waiting = 0;

	*next = UINT64_MAX;
	for (int i = 0; i < n; i++) {
		if (!k[i].waiting)
			continue;
		if (now >= k[i].deadline_ms) { /* no answer in time: failed */
			k[i].waiting = false;
			k[i].ok = false;
			p[i].fd = -1; /* its socket is closed with the others' */
			continue;
		}
		waiting++;
		if (k[i].deadline_ms < *next)
			*next = k[i].deadline_ms;
	}
	return waiting;
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

/* What a check holds of its own (its strings), released. */
static void check_release(struct check *k)
{
	free(k->path);
	free(k->send);
	free(k->receive);
	k->path = k->send = k->receive = NULL;
}

/* Check k of backend b of service s, filled from the service's
 * configuration: false when its strings could not be copied. */
static bool check_fill(struct check *k, const struct sy_service_state *s,
		       const struct sy_config_service *sc, const struct sy_be *b)
{
	const struct sy_config_check *c = &sc->health.check;
	bool copied = true;

	*k = (struct check){ .id = b->id, .type = c->type, .timeout_ms = c->timeout_ms,
			     .expect = c->expect };
	k->tunnel = tunnel_probe_of(sc, &b->id, &k->tp);
	snprintf(k->service, sizeof(k->service), "%s", s->name);
	if (c->type == SY_CHECK_HTTP || c->type == SY_CHECK_HTTPS) {
		k->path = strdup(c->path ? c->path : "/");
		copied = k->path;
	} else if (c->type == SY_CHECK_UDP) {
		k->send = strdup(c->send ? c->send : "");
		k->receive = strdup(c->receive ? c->receive : "");
		copied = k->send && k->receive;
	}
	if (!copied)
		check_release(k);
	return copied;
}

/* The checks under way and what they share, kept by the health thread from
 * one turn to the next: a check starts when it is due, whatever else is
 * under way, and ends at its answer or its own deadline. (Until session 44
 * the checks ran in batches: a batch started only when the one before had
 * ended, so a check due meanwhile waited for the slowest check of the
 * batch before, up to another service's timeout.) */
struct runner {
	struct check *k;        /* [0, n): under way, or ended this turn */
	uint32_t n, cap;
	struct pollfd *p;       /* cap + 2: the checks' sockets, the listeners */
	struct curl_waitfd *w;  /* cap + 2 */
	struct probe_index probes; /* head: 65536; next: cap */
	CURLM *m;               /* the HTTP(S) transfers, once there was one */
	struct sy_tunnel_listener l; /* open while tunnel probes are under way */
};

/* Room for `more` checks beyond n. The transfers' CURLOPT_PRIVATE point
 * into k: set again where k moved. */
static bool runner_reserve(struct runner *r, uint32_t more)
{
	uint32_t cap = r->cap ? r->cap : IN_FLIGHT_MIN;
	struct check *k;

	if (r->n + more <= r->cap)
		return true;
	while (cap < r->n + more)
		cap *= 2;
	k = realloc(r->k, cap * sizeof(*k));
	if (!k)
		return false;
	r->k = k;
	for (uint32_t i = 0; i < r->n; i++)
		if (k[i].easy)
			curl_easy_setopt(k[i].easy, CURLOPT_PRIVATE, &k[i]);
	struct pollfd *p = realloc(r->p, (cap + 2) * sizeof(*p));
	if (p)
		r->p = p;
	struct curl_waitfd *w = realloc(r->w, (cap + 2) * sizeof(*w));
	if (w)
		r->w = w;
	int32_t *next = realloc(r->probes.next, cap * sizeof(*next));
	if (next)
		r->probes.next = next;
	if (!p || !w || !next)
		return false;
	r->cap = cap;
	return true;
}

/* Start checks [from, n): the listeners opened first for tunnel probes. */
static void runner_start(struct runner *r, uint32_t from)
{
	bool want4 = false, want6 = false, http = false;
	int listener_err = 0;

	for (uint32_t i = from; i < r->n; i++) {
		want4 |= r->k[i].tunnel && r->k[i].tp.family == SY_AF_INET;
		want6 |= r->k[i].tunnel && r->k[i].tp.family == SY_AF_INET6;
		http |= r->k[i].type == SY_CHECK_HTTP || r->k[i].type == SY_CHECK_HTTPS;
	}
	if ((want4 && r->l.fd4 < 0) || (want6 && r->l.fd6 < 0)) {
		struct sy_tunnel_listener add;

		listener_err = -sy_tunnel_listener_open(&add, want4 && r->l.fd4 < 0,
							 want6 && r->l.fd6 < 0);
		if (add.fd4 >= 0)
			r->l.fd4 = add.fd4;
		if (add.fd6 >= 0)
			r->l.fd6 = add.fd6;
	}
	if (http && !r->m)
		r->m = curl_multi_init();
	for (uint32_t i = from; i < r->n; i++)
		r->k[i].waiting = start_check(&r->k[i], &r->l, listener_err, r->m);
	if (r->m) /* what ended at once */
		http_progress(r->m);
}

/* The answers that poll (p) reported for the n checks: each such check
 * ended, passed or failed. */
static void take_answers(struct runner *r, struct pollfd *p, uint32_t n)
{
	if (r->m)
		http_progress(r->m);
	if (p[n].fd >= 0 && p[n].revents)
		read_tunnel_answers(r->l.fd4, AF_INET, r->k, &r->probes);
	if (p[n + 1].fd >= 0 && p[n + 1].revents)
		read_tunnel_answers(r->l.fd6, AF_INET6, r->k, &r->probes);
	for (uint32_t i = 0; i < n; i++) {
		struct check *k = &r->k[i];
		int soerr = 0;
		socklen_t sl = sizeof(soerr);

		if (p[i].fd < 0 || !p[i].revents || !k->waiting)
			continue;
		if (k->type == SY_CHECK_UDP) {
			k->ok = udp_answer_ok(k);
		} else {
			getsockopt(p[i].fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
			k->ok = soerr == 0 && !(p[i].revents & (POLLERR | POLLHUP));
		}
		k->waiting = false;
		p[i].fd = -1; /* done with poll for this one */
	}
}

/* One tick: the answers and the deadlines of the checks under way, for
 * tick_ms. Results are recorded and new checks started between ticks, so
 * that the lock and the scan of the backends come 1000/tick_ms times a
 * second however many answers arrive. */
static void runner_tick(struct runner *r, int tick_ms)
{
	uint32_t n = r->n;
	struct pollfd *p = r->p;
	bool tunnels = false;
	uint64_t next, end = sy_now_ms() + (uint64_t)tick_ms;

	if (!p) { /* no room yet (out of memory): nothing under way */
		usleep((useconds_t)tick_ms * 1000);
		return;
	}

	for (uint32_t i = 0; i < n; i++) {
		const struct check *k = &r->k[i];

		p[i] = (struct pollfd){ .fd = k->waiting ? k->fd : -1,
					.events = k->type == SY_CHECK_UDP ? POLLIN : POLLOUT };
		tunnels |= k->tunnel && k->waiting;
	}
	p[n] = (struct pollfd){ .fd = r->l.fd4, .events = POLLIN };
	p[n + 1] = (struct pollfd){ .fd = r->l.fd6, .events = POLLIN };
	if (tunnels && !r->probes.head)
		r->probes.head = malloc(65536 * sizeof(*r->probes.head));
	if (tunnels && r->probes.head)
		probe_index_build(&r->probes, r->k, (int)n);
	else /* no probe to answer, or no room to match the answers: unread */
		p[n].fd = p[n + 1].fd = -1;
	/* A deadline is judged only after a look at the sockets that covers
	 * it: first at once, for what arrived while this thread was away from
	 * poll (starting a batch of checks, waiting for the lock, off its
	 * core); before session 46 a check whose deadline passed meanwhile
	 * failed with its answer unread. */
	for (int wait_ms = 0;;) {
		uint64_t now;

		if (wait_events(r->m, p, r->w, (int)n + 2, wait_ms) < 0 && errno != EINTR)
			break;
		take_answers(r, p, n);
		now = sy_now_ms();
		expire_checks(r->k, p, (int)n, now, &next);
		if (now >= end)
			break;
		wait_ms = (int)((next < end ? next : end) - now);
	}
}

/* What an ended check holds, released: its socket, its transfer, its
 * strings. */
static void check_end(struct runner *r, struct check *k)
{
	if (k->fd >= 0)
		close(k->fd);
	k->fd = -1;
	if (k->easy) { /* past its deadline, still running: failed */
		curl_multi_remove_handle(r->m, k->easy);
		curl_easy_cleanup(k->easy);
		k->easy = NULL;
	}
	check_release(k);
}

/* The recorded checks out of [0, n), the others kept in order; the listeners
 * closed when no probe waits (they copy every TCP packet the host
 * receives). */
static void runner_compact(struct runner *r)
{
	uint32_t j = 0;
	bool tunnels = false;

	for (uint32_t i = 0; i < r->n; i++) {
		if (r->k[i].recorded) {
			check_end(r, &r->k[i]);
			continue;
		}
		tunnels |= r->k[i].tunnel && r->k[i].waiting;
		if (i != j) {
			r->k[j] = r->k[i];
			if (r->k[j].easy)
				curl_easy_setopt(r->k[j].easy, CURLOPT_PRIVATE, &r->k[j]);
		}
		j++;
	}
	r->n = j;
	if (!tunnels)
		sy_tunnel_listener_close(&r->l);
}

static void runner_free(struct runner *r)
{
	for (uint32_t i = 0; i < r->n; i++)
		check_end(r, &r->k[i]);
	sy_tunnel_listener_close(&r->l);
	if (r->m)
		curl_multi_cleanup(r->m);
	free(r->k);
	free(r->p);
	free(r->w);
	free(r->probes.head);
	free(r->probes.next);
}

/* The "not sent" (for the dataplane), "sent again", "backend down" and
 * "backend up" lines: at most this many a second each, the rest summed up
 * in one line (the metrics and `syctl backends` have every backend). */
#define HEALTH_LINES_PER_S 10
#define UNSENT_WHAT "health check not sent (the dataplane did not carry it)"
#define RESENT_WHAT "health check sent again"
#define DOWN_WHAT "health check fails: backend down"
#define UP_WHAT "health check passes: backend up"

/* A check of backend b not sent (err: why; d->lock held): counted, logged
 * at the first of a run (the dataplane's cause, every backend's at once,
 * rate-limited); the backend's state is kept. */
static void note_unsent(struct sy_daemon *d, struct sy_service_state *s, struct sy_be *b, int err)
{
	char a[64] = "";

	s->checks_unsent++;
	if (!b || !sy_svcb_check_unsent(b, err, sy_now_ms()))
		return;
	if (err < 0 && /* the dataplane's: one cause for every backend */
	    !sy_log_limit_pass(&d->unsent_log, HEALTH_LINES_PER_S, UNSENT_WHAT))
		return;
	inet_ntop(b->id.family == 4 ? AF_INET : AF_INET6, b->id.addr, a, sizeof(a));
	sy_logf("warn", "\"health check not sent: backend state kept\" service=%s backend=%s:%u error=\"%s\"",
		s->name, a, b->id.port, sy_check_unsent_reason(err));
}

/* Take the checks that are due (d->lock held): appended to r, as many as
 * the descriptor limit leaves room for. While the checks cannot reach the
 * backends (the DPDK dataplane is not running), none is started: each due
 * is not sent. */
static void collect_due(struct sy_daemon *d, struct runner *r, uint64_t now)
{
	uint64_t stops;
	bool carried = sy_dp_carries(d, &stops);
	int unsent = carried ? 0 : sy_dp_unsent_err(d);

	for (size_t i = 0; i < d->n_svc; i++) {
		struct sy_service_state *s = &d->svc[i];
		const struct sy_config_service *sc = &d->cfg->services[s->cfg_index];
		const struct sy_config_check *c = &sc->health.check;

		if (c->type == SY_CHECK_NONE)
			continue;
		for (uint32_t j = 0; j < s->b.n; j++) {
			struct sy_be *b = &s->b.be[j];

			if (!b->present || now < b->next_check_ms)
				continue;
			if (!carried) {
				note_unsent(d, s, b, unsent);
				b->next_check_ms = now + c->interval_ms;
				continue;
			}
			/* full: the others at a later tick */
			if (r->n >= in_flight_max || !runner_reserve(r, 1) ||
			    !check_fill(&r->k[r->n], s, sc, b))
				return;
			b->next_check_ms = now + c->interval_ms;
			r->k[r->n++].dp_stops = stops;
		}
	}
}

/* The ended checks' results, recorded under the lock. A check under way
 * while the dataplane stopped carrying (stopped, stalled, paused) is taken
 * as not sent: it may have left by another way, or been lost with the
 * dataplane. Since a pause is seen only SY_DP_PAUSE_MS after it starts, a
 * check is judged once the dataplane is seen moving after its end (about
 * a tick later), not before: a failure in a pause's first moments would
 * otherwise count (checks every 100 ms, fall 3: down within a stall's
 * first second, before session 46). */
static void record_results(struct sy_daemon *d, struct runner *r)
{
	uint32_t ended = 0;
	uint64_t stops, now = sy_now_ms();
	bool carried;

	for (uint32_t i = 0; i < r->n; i++) {
		struct check *k = &r->k[i];

		if (k->waiting || k->recorded)
			continue;
		if (!k->ended_ms) {
			k->ended_ms = now;
			check_end(r, k); /* its socket and transfer, while it waits */
		}
		ended++;
	}
	if (!ended)
		return;
	pthread_mutex_lock(&d->lock);
	carried = sy_dp_carries(d, &stops);
	for (uint32_t i = 0; i < r->n; i++) {
		struct check *k = &r->k[i];
		struct sy_service_state *s;
		struct sy_be *b;
		bool was_unsent;
		char a[64] = "";
		int unsent = k->unsent;

		if (k->waiting || k->recorded)
			continue;
		if (!unsent && (!carried || stops != k->dp_stops))
			unsent = carried ? SY_UNSENT_DP_INTERRUPTED : sy_dp_unsent_err(d);
		else if (!unsent && !sy_dp_moved_since(d, k->ended_ms))
			continue; /* judged at a later tick */
		k->recorded = true;
		s = sy_daemon_service(d, k->service);
		b = s ? sy_svcb_find(&s->b, &k->id) : NULL;
		if (unsent) {
			if (s)
				note_unsent(d, s, b, unsent);
			continue;
		}
		was_unsent = b && b->unsent_streak;
		if (b)
			inet_ntop(b->id.family == 4 ? AF_INET : AF_INET6, b->id.addr, a, sizeof(a));
		if (s)
			s->checks[k->ok]++;
		if (was_unsent &&
		    sy_log_limit_pass(&d->resent_log, HEALTH_LINES_PER_S, RESENT_WHAT))
			sy_logf("info", "\"health check sent again\" service=%s backend=%s:%u", s->name,
				a, b->id.port);
		if (b && sy_svcb_check_result(&s->b, b, k->ok, sy_now_ms())) {
			const char *what = k->ok ? UP_WHAT : DOWN_WHAT;

			if (sy_log_limit_pass(k->ok ? &d->up_log : &d->down_log, HEALTH_LINES_PER_S, what))
				sy_logf(k->ok ? "info" : "warn", "\"%s\" service=%s backend=%s:%u", what,
					s->name, a, b->id.port);
			sy_daemon_mark(d, s);
		}
	}
	pthread_mutex_unlock(&d->lock);
}

#define TICK_MS 100

static void *health_main(void *arg)
{
	struct sy_daemon *d = arg;
	struct runner r = { .l = { -1, -1 } };

	(void)runner_reserve(&r, IN_FLIGHT_MIN); /* the listeners' poll entries, at least */
	while (!d->quit) {
		uint32_t from = r.n;

		pthread_mutex_lock(&d->lock);
		collect_due(d, &r, sy_now_ms());
		sy_log_limit_flush(&d->unsent_log, HEALTH_LINES_PER_S, UNSENT_WHAT);
		sy_log_limit_flush(&d->resent_log, HEALTH_LINES_PER_S, RESENT_WHAT);
		sy_log_limit_flush(&d->down_log, HEALTH_LINES_PER_S, DOWN_WHAT);
		sy_log_limit_flush(&d->up_log, HEALTH_LINES_PER_S, UP_WHAT);
		pthread_mutex_unlock(&d->lock);
		if (r.n > from)
			runner_start(&r, from);
		runner_tick(&r, TICK_MS);
		record_results(d, &r);
		runner_compact(&r);
	}
	runner_free(&r);
	return NULL;
}

/* The most checks under way at once: the descriptor limit (its soft
 * limit raised to the hard one) less what the rest of sy-control needs. */
static uint32_t in_flight_max_from_limit(void)
{
	struct rlimit r;
	rlim_t room;

	if (getrlimit(RLIMIT_NOFILE, &r))
		return IN_FLIGHT_MIN;
	if (r.rlim_cur < r.rlim_max) {
		struct rlimit up = { .rlim_cur = r.rlim_max, .rlim_max = r.rlim_max };

		if (up.rlim_cur == RLIM_INFINITY || up.rlim_cur > 1u << 20)
			up.rlim_cur = 1u << 20;
		if (!setrlimit(RLIMIT_NOFILE, &up))
			r.rlim_cur = up.rlim_cur;
	}
	room = r.rlim_cur > FD_RESERVE + IN_FLIGHT_MIN ? r.rlim_cur - FD_RESERVE : IN_FLIGHT_MIN;
	return room > IN_FLIGHT_MAX ? IN_FLIGHT_MAX : (uint32_t)room;
}

int sy_health_start(struct sy_daemon *d)
{
	/* here, before the thread: libcurl's global setup is not thread-safe */
	if (curl_global_init(CURL_GLOBAL_DEFAULT))
		return -1;
	in_flight_max = in_flight_max_from_limit();
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
