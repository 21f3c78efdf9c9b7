/* SPDX-License-Identifier: BSD-3-Clause */
#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <ifaddrs.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "http.h"

bool sy_http_collect(void **con_cls, const char *upload, size_t *upload_size, size_t cap,
		     struct sy_body **out)
{
	struct sy_body *b = *con_cls;

	if (!b) {
		b = calloc(1, sizeof(*b));
		*con_cls = b;
		*out = b;
		return b == NULL; /* answer at once (500) if out of memory */
	}
	*out = b;
	if (*upload_size) {
		if (!b->refused && !b->too_large && b->len + *upload_size <= cap) {
			char *n = realloc(b->data, b->len + *upload_size + 1);

			if (n) {
				memcpy(n + b->len, upload, *upload_size);
				b->data = n;
				b->len += *upload_size;
				b->data[b->len] = 0;
			} else {
				b->too_large = true;
			}
		} else {
			b->too_large |= !b->refused;
			b->dropped += *upload_size;
		}
		*upload_size = 0;
		return false;
	}
	return true;
}

/* The request's Content-Length in *n: 1 if it has one (ULLONG_MAX if out of
 * range), 0 if none, -1 if it does not parse. */
static int content_length(struct MHD_Connection *c, unsigned long long *n)
{
	const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_CONTENT_LENGTH);
	char *end;

	if (!cl)
		return 0;
	errno = 0;
	*n = strtoull(cl, &end, 10);
	if (end == cl)
		return -1;
	if (errno == ERANGE)
		*n = ULLONG_MAX;
	return 1;
}

bool sy_http_declared_too_large(struct MHD_Connection *c, size_t cap)
{
	unsigned long long n;

	return content_length(c, &n) > 0 && n > cap;
}

bool sy_http_body_to_drain(struct MHD_Connection *c)
{
	const char *te = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_TRANSFER_ENCODING);
	unsigned long long n;
	int has = content_length(c, &n);

	if (has)
		return has > 0 && n > 0 && n <= SY_HTTP_DRAIN_MAX;
	return te && strcasestr(te, "chunked");
}

/* ---- slow-client guard --------------------------------------------------- */

struct guard_conn {
	struct guard_conn *prev, *next;
	int fd;
	bool shut;
	uint64_t since_ms;
};

struct sy_http_guard {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t thread;
	bool quit;
	unsigned deadline_ms;
	struct guard_conn head; /* circular list of open connections */
	char name[32];
};

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void *guard_main(void *arg)
{
	struct sy_http_guard *g = arg;

	pthread_mutex_lock(&g->lock);
	while (!g->quit) {
		struct timespec ts;
		uint64_t now = mono_ms();
		unsigned n = 0;

		/* MHD tells CLOSED before it closes the socket, and the entry goes
		 * then: every fd in the list is still the connection's own */
		for (struct guard_conn *e = g->head.next; e != &g->head; e = e->next)
			if (!e->shut && now > e->since_ms && now - e->since_ms > g->deadline_ms) {
				shutdown(e->fd, SHUT_RDWR); /* MHD sees the end and closes it */
				e->shut = true;
				n++;
			}
		if (n)
			fprintf(stderr, /* sy_logf's format; http.c stands alone (fuzz_http_api) */
				"level=warn msg=\"slow clients disconnected\" listener=%s count=%u deadline_ms=%u\n",
				g->name, n, g->deadline_ms);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 250 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&g->wake, &g->lock, &ts);
	}
	pthread_mutex_unlock(&g->lock);
	return NULL;
}

struct sy_http_guard *sy_http_guard_new(const char *name, unsigned deadline_ms)
{
	struct sy_http_guard *g = calloc(1, sizeof(*g));

	if (!g)
		return NULL;
	pthread_mutex_init(&g->lock, NULL);
	pthread_cond_init(&g->wake, NULL);
	g->deadline_ms = deadline_ms;
	g->head.next = g->head.prev = &g->head;
	snprintf(g->name, sizeof(g->name), "%s", name);
	if (pthread_create(&g->thread, NULL, guard_main, g)) {
		free(g);
		return NULL;
	}
	return g;
}

void sy_http_guard_free(struct sy_http_guard *g)
{
	if (!g)
		return;
	pthread_mutex_lock(&g->lock);
	g->quit = true;
	pthread_cond_signal(&g->wake);
	pthread_mutex_unlock(&g->lock);
	pthread_join(g->thread, NULL);
	while (g->head.next != &g->head) { /* none after MHD_stop_daemon */
		struct guard_conn *e = g->head.next;

		g->head.next = e->next;
		free(e);
	}
	pthread_cond_destroy(&g->wake);
	pthread_mutex_destroy(&g->lock);
	free(g);
}

void sy_http_guard_notify(void *cls, struct MHD_Connection *c, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	struct sy_http_guard *g = cls;
	struct guard_conn *e = *socket_context;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);

		if (!ci || !(e = calloc(1, sizeof(*e))))
			return; /* unguarded: MHD's inactivity timeout still applies */
		e->fd = ci->connect_fd;
		e->since_ms = mono_ms();
		pthread_mutex_lock(&g->lock);
		e->next = g->head.next;
		e->prev = &g->head;
		g->head.next->prev = e;
		g->head.next = e;
		pthread_mutex_unlock(&g->lock);
		*socket_context = e;
	} else if (code == MHD_CONNECTION_NOTIFY_CLOSED && e) {
		pthread_mutex_lock(&g->lock);
		e->prev->next = e->next;
		e->next->prev = e->prev;
		pthread_mutex_unlock(&g->lock);
		free(e);
		*socket_context = NULL;
	}
}

void sy_http_guard_extend(struct sy_http_guard *g, struct MHD_Connection *c, uint64_t ms)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct guard_conn *e = ci ? ci->socket_context : NULL;

	if (!g || !e)
		return;
	pthread_mutex_lock(&g->lock);
	e->since_ms = mono_ms() + ms;
	pthread_mutex_unlock(&g->lock);
}

void sy_http_completed(void *cls, struct MHD_Connection *c, void **con_cls,
		       enum MHD_RequestTerminationCode toe)
{
	struct sy_body *b = *con_cls;

	(void)toe;
	if (cls && c) { /* a guard: the connection's next request starts now */
		struct sy_http_guard *g = cls;
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
		struct guard_conn *e = ci ? ci->socket_context : NULL;

		if (e) {
			pthread_mutex_lock(&g->lock);
			e->since_ms = mono_ms();
			pthread_mutex_unlock(&g->lock);
		}
	}
	if (b) {
		free(b->data);
		free(b);
		*con_cls = NULL;
	}
}

void sy_http_peer(struct MHD_Connection *c, uint8_t *family, uint32_t addr[4])
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;

	memset(addr, 0, 16);
	*family = 0;
	if (sa && sa->sa_family == AF_INET) {
		*family = 4;
		memcpy(addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else if (sa && sa->sa_family == AF_INET6) {
		*family = 6;
		memcpy(addr, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	}
}

sy_mhd_result sy_http_text(struct MHD_Connection *c, unsigned status, const char *ctype,
			   const char *text, size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)text,
								  MHD_RESPMEM_MUST_COPY);
	sy_mhd_result ret;

	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", ctype);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

sy_mhd_result sy_http_json(struct MHD_Connection *c, unsigned status, json_t *j)
{
	char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	sy_mhd_result ret;

	json_decref(j);
	if (!text)
		return sy_http_text(c, 500, "application/json", "{\"error\":\"out of memory\"}", 25);
	ret = sy_http_text(c, status, "application/json", text, strlen(text));
	free(text);
	return ret;
}

json_t *sy_json_error(const char *msg)
{
	json_t *j = json_pack("{s:s}", "error", msg);
	char safe[512];
	size_t i;

	if (j)
		return j;
	/* not UTF-8 (it quotes a URL or a name from the request, or was cut in
	 * a character): JSON strings must be, so non-ASCII bytes become '?' */
	for (i = 0; msg[i] && i < sizeof(safe) - 1; i++)
		safe[i] = (unsigned char)msg[i] < 0x80 ? msg[i] : '?';
	safe[i] = 0;
	return json_pack("{s:s}", "error", safe);
}

sy_mhd_result sy_http_error(struct MHD_Connection *c, unsigned status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return sy_http_json(c, status, sy_json_error(msg));
}

int sy_listen_unix(const char *path, const char *group, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "socket path %s too long", path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	{
		/* make the directory (one level, like /run/switchyard) */
		char dir[sizeof(sa.sun_path)], *slash;

		snprintf(dir, sizeof(dir), "%s", path);
		slash = strrchr(dir, '/');
		if (slash && slash != dir) {
			*slash = 0;
			mkdir(dir, 0755);
		}
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	unlink(path); /* a stale socket of a previous run */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 64)) {
		snprintf(err, errlen, "cannot listen on %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (chmod(path, 0660)) {
		snprintf(err, errlen, "chmod 0660 %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (group) {
		struct group *g = getgrnam(group);

		if (!g || chown(path, (uid_t)-1, g->gr_gid)) {
			snprintf(err, errlen, "cannot give %s to group %s: %s", path, group,
				 g ? strerror(errno) : "no such group");
			close(fd);
			return -1;
		}
	}
	return fd;
}

int sy_listen_tcp(int family, const uint32_t *addr, unsigned port, bool freebind, char *err,
		  size_t errlen)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	int fd, one = 1;

	if (family == 4) {
		struct sockaddr_in *s = (struct sockaddr_in *)&ss;

		s->sin_family = AF_INET;
		s->sin_port = htons((uint16_t)port);
		memcpy(&s->sin_addr, addr, 4);
		len = sizeof(*s);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;

		s->sin6_family = AF_INET6;
		s->sin6_port = htons((uint16_t)port);
		memcpy(&s->sin6_addr, addr, 16);
		len = sizeof(*s);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (freebind && (family == 4 ? setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof(one))
				     : setsockopt(fd, IPPROTO_IPV6, IPV6_FREEBIND, &one, sizeof(one)))) {
		snprintf(err, errlen, "setsockopt %s: %s", family == 4 ? "IP_FREEBIND" : "IPV6_FREEBIND",
			 strerror(errno));
		close(fd);
		return -1;
	}
	if (bind(fd, (struct sockaddr *)&ss, len) || listen(fd, 128)) {
		char a[64];

		inet_ntop(ss.ss_family, family == 4 ? (void *)&((struct sockaddr_in *)&ss)->sin_addr
						    : (void *)&((struct sockaddr_in6 *)&ss)->sin6_addr,
			  a, sizeof(a));
		snprintf(err, errlen, "cannot listen on %s port %u: %s", a, port, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

bool sy_addr_is_local(int family, const uint32_t *addr)
{
	static const uint32_t any[4];
	struct ifaddrs *ifs, *i;
	bool found = false;

	if (!memcmp(addr, any, family == 4 ? 4 : 16))
		return true;
	if (getifaddrs(&ifs))
		return true; /* cannot tell: do not claim it is missing */
	for (i = ifs; i && !found; i = i->ifa_next) {
		const struct sockaddr *sa = i->ifa_addr;

		if (!sa)
			continue;
		if (family == 4 && sa->sa_family == AF_INET)
			found = !memcmp(&((const struct sockaddr_in *)sa)->sin_addr, addr, 4);
		else if (family == 6 && sa->sa_family == AF_INET6)
			found = !memcmp(&((const struct sockaddr_in6 *)sa)->sin6_addr, addr, 16);
	}
	freeifaddrs(ifs);
	return found;
}
