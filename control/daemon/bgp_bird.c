/* SPDX-License-Identifier: BSD-3-Clause
 * BIRD 2: the include file and the control socket; see bgp_bird.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <libgen.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <switchyard/flow_hash.h>

#include "bgp_bird.h"
#include "netaddr.h"

const char *sy_bird_result_name(enum sy_bird_result r)
{
	switch (r) {
	case SY_BIRD_OK:
		return "up";
	case SY_BIRD_UNREACHABLE:
		return "unreachable";
	case SY_BIRD_NOT_CONFIGURED:
		return "not_configured";
	case SY_BIRD_ERROR:
		return "error";
	}
	return "?";
}

/* ---- the include file ------------------------------------------------------ */

struct text {
	char *p;
	size_t len, cap;
	bool oom;
};

static void add(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->oom)
		return;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		t->oom = true;
		return;
	}
	if (t->len + (size_t)n + 1 > t->cap) {
		size_t cap = (t->cap + (size_t)n + 1) * 2;
		char *p = realloc(t->p, cap);

		if (!p) {
			t->oom = true;
			return;
		}
		t->p = p;
		t->cap = cap;
	}
	va_start(ap, fmt);
	vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
	va_end(ap);
	t->len += (size_t)n;
}

char *sy_bird_render(const char *protocol, const char *instance,
		     const struct sy_bird_route *routes, size_t n)
{
	struct text t = { 0 };

	add(&t, "# Written by sy-control (instance %s): the VIPs it announces now.\n"
		"# Do not edit: it is replaced at every change (bgp.include_file), and\n"
		"# bird.conf includes it (deploy/bird/bird.conf.example).\n",
	    instance);
	for (int fam = 0; fam < 2; fam++) {
		uint8_t want = fam ? SY_AF_INET6 : SY_AF_INET;

		add(&t, "protocol static %s%c {\n\t%s;\n", protocol, fam ? '6' : '4',
		    fam ? "ipv6" : "ipv4");
		for (size_t i = 0; i < n; i++) {
			char a[64];

			if (routes[i].family != want)
				continue;
			sy_format_ip(routes[i].family, routes[i].addr, a, sizeof(a));
			add(&t, "\troute %s/%d blackhole;%s%s\n", a, fam ? 128 : 32,
			    routes[i].comment && *routes[i].comment ? "\t# " : "",
			    routes[i].comment ? routes[i].comment : "");
		}
		add(&t, "}\n");
	}
	if (t.oom) {
		free(t.p);
		return NULL;
	}
	return t.p;
}

int sy_bird_write_file(const char *path, const char *text, char *err, size_t errlen)
{
	char tmp[4200], dir[4200];
	size_t len = strlen(text);
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || fchmod(fd, 0644) || write(fd, text, len) != (ssize_t)len || fsync(fd)) {
		snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
		if (fd >= 0) {
			close(fd);
			unlink(tmp);
		}
		return -1;
	}
	close(fd);
	if (rename(tmp, path)) {
		snprintf(err, errlen, "cannot replace %s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	fd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	return 0;
}

/* ---- the control socket ---------------------------------------------------- */

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct conn {
	int fd;
	uint64_t deadline;
	char buf[8192]; /* received, not yet consumed */
	size_t len;
};

/* Wait for fd to be ready for `events` before the deadline: 0, or -1
 * (errno ETIMEDOUT). */
static int wait_fd(struct conn *c, short events)
{
	for (;;) {
		uint64_t now = mono_ms();
		struct pollfd p = { .fd = c->fd, .events = events };
		int r;

		if (now >= c->deadline) {
			errno = ETIMEDOUT;
			return -1;
		}
		r = poll(&p, 1, (int)(c->deadline - now));
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

/* One line (without its newline) into line; 0, or -1 (errno). */
static int read_line(struct conn *c, char *line, size_t len)
{
	for (;;) {
		char *nl = memchr(c->buf, '\n', c->len);
		ssize_t got;

		if (nl) {
			size_t n = (size_t)(nl - c->buf), k = n < len - 1 ? n : len - 1;

			memcpy(line, c->buf, k);
			line[k] = 0;
			memmove(c->buf, nl + 1, c->len - n - 1);
			c->len -= n + 1;
			return 0;
		}
		if (c->len == sizeof(c->buf)) { /* a line longer than we keep: cut it */
			size_t k = c->len < len - 1 ? c->len : len - 1;

			memcpy(line, c->buf, k);
			line[k] = 0;
			c->len = 0;
			return 0;
		}
		if (wait_fd(c, POLLIN))
			return -1;
		got = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
		if (got == 0) {
			errno = ECONNRESET;
			return -1;
		}
		if (got < 0 && errno != EINTR && errno != EAGAIN)
			return -1;
		if (got > 0)
			c->len += (size_t)got;
	}
}

/* A reply: every line until the final one ("NNNN text"). *code gets the
 * final code; text the lines' texts (codes and '-' cut), "; "-joined. 0,
 * or -1 (errno). */
static int read_reply(struct conn *c, int *code, char *text, size_t len)
{
	char line[1024];
	size_t used = 0;

	text[0] = 0;
	for (;;) {
		bool coded;

		if (read_line(c, line, sizeof(line)))
			return -1;
		coded = strlen(line) >= 5 && line[0] >= '0' && line[0] <= '9' && line[1] >= '0' &&
			line[1] <= '9' && line[2] >= '0' && line[2] <= '9' && line[3] >= '0' &&
			line[3] <= '9' && (line[4] == ' ' || line[4] == '-');
		if (used < len) {
			const char *t = coded ? line + 5 : line + (line[0] == ' ');

			if (*t)
				used += (size_t)snprintf(text + used, len - used, "%s%s",
							 used ? "; " : "", t);
		}
		if (used >= len)
			used = len - 1;
		if (coded && line[4] == ' ') {
			*code = atoi(line);
			return 0;
		}
		if (!coded && strlen(line) == 4 && line[0] >= '0' && line[0] <= '9') {
			/* "0000" alone (an empty final line) */
			*code = atoi(line);
			return 0;
		}
	}
}

static int send_line(struct conn *c, const char *cmd)
{
	char line[512];
	size_t n = (size_t)snprintf(line, sizeof(line), "%s\n", cmd), off = 0;

	while (off < n) {
		ssize_t w;

		if (wait_fd(c, POLLOUT))
			return -1;
		w = send(c->fd, line + off, n - off, MSG_NOSIGNAL);
		if (w < 0 && errno != EINTR && errno != EAGAIN)
			return -1;
		if (w > 0)
			off += (size_t)w;
	}
	return 0;
}

/* Connect and read the greeting (0001 BIRD x.y.z ready.). */
static enum sy_bird_result open_bird(struct conn *c, const char *path, unsigned timeout_ms,
				     char *msg, size_t msglen, char *version, size_t vlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char greeting[256];
	int code, e;

	c->len = 0;
	c->deadline = mono_ms() + timeout_ms;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(msg, msglen, "BIRD's socket path %s is too long", path);
		return SY_BIRD_ERROR;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		snprintf(msg, msglen, "socket: %s", strerror(errno));
		return SY_BIRD_ERROR;
	}
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) && errno != EINPROGRESS) {
		e = errno;
		close(c->fd);
		c->fd = -1;
		if (e == EACCES || e == EPERM) {
			snprintf(msg, msglen, "permission denied on BIRD's socket %s (sy-control's user needs BIRD's group, e.g. bird)",
				 path);
			return SY_BIRD_ERROR;
		}
		snprintf(msg, msglen, "cannot connect to BIRD at %s: %s (is bird running? bgp.socket names its control socket)",
			 path, strerror(e));
		return SY_BIRD_UNREACHABLE;
	}
	errno = 0;
	if (read_reply(c, &code, greeting, sizeof(greeting)) || code != 1) {
		e = code != 1 ? 0 : errno;
		close(c->fd);
		c->fd = -1;
		snprintf(msg, msglen, "BIRD at %s did not greet within %u ms: %s", path, timeout_ms,
			 e ? strerror(e) : "not a BIRD greeting");
		return SY_BIRD_UNREACHABLE;
	}
	if (version)
		snprintf(version, vlen, "%s", greeting);
	return SY_BIRD_OK;
}

/* One command and its reply; false (with msg) if BIRD could not be asked. */
static bool ask(struct conn *c, const char *path, const char *cmd, int *code, char *text,
		size_t len, char *msg, size_t msglen)
{
	if (send_line(c, cmd) == 0 && read_reply(c, code, text, len) == 0)
		return true;
	snprintf(msg, msglen, "BIRD at %s did not answer '%s': %s", path, cmd, strerror(errno));
	return false;
}

/* Our protocols, by BIRD's pattern match: "<protocol>?" names both. */
static enum sy_bird_result check_protocols(struct conn *c, const char *path,
					   const char *protocol, const char *include_file,
					   char *msg, size_t msglen)
{
	char cmd[128], text[1024];
	int code;

	snprintf(cmd, sizeof(cmd), "show protocols \"%s?\"", protocol);
	if (!ask(c, path, cmd, &code, text, sizeof(text), msg, msglen))
		return SY_BIRD_UNREACHABLE;
	if (code == 8003) { /* No protocols match */
		snprintf(msg, msglen, "BIRD does not read %s: it has no protocol %s4 or %s6 (add `include \"%s\";` to bird.conf, then birdc configure)",
			 include_file, protocol, protocol, include_file);
		return SY_BIRD_NOT_CONFIGURED;
	}
	if (code >= 8000) {
		snprintf(msg, msglen, "BIRD: %s: %d %s", cmd, code, text);
		return SY_BIRD_ERROR;
	}
	return SY_BIRD_OK;
}

static enum sy_bird_result session(const char *path, const char *protocol,
				   const char *include_file, bool configure, unsigned timeout_ms,
				   char *msg, size_t msglen, char *version, size_t vlen)
{
	struct conn c;
	enum sy_bird_result r = open_bird(&c, path, timeout_ms, msg, msglen, version, vlen);
	char text[1024];
	int code;

	if (r != SY_BIRD_OK)
		return r;
	if (configure) {
		if (!ask(&c, path, "configure", &code, text, sizeof(text), msg, msglen)) {
			r = SY_BIRD_UNREACHABLE;
			goto out;
		}
		/* 0003 reconfigured, 0004 in progress, 0005 queued, 0019 nothing
		 * to do; 8002 a configuration error (BIRD keeps running the old
		 * one), 0006 shutting down, 8007 access denied */
		if (code != 3 && code != 4 && code != 5 && code != 19) {
			snprintf(msg, msglen, "BIRD refused to reconfigure (%d): %s", code, text);
			r = code == 6 ? SY_BIRD_UNREACHABLE : SY_BIRD_ERROR;
			goto out;
		}
	}
	r = check_protocols(&c, path, protocol, include_file, msg, msglen);
	if (r == SY_BIRD_OK)
		snprintf(msg, msglen, "%s", configure ? text : "ok");
out:
	close(c.fd);
	return r;
}

enum sy_bird_result sy_bird_configure(const char *sock_path, const char *protocol,
				      const char *include_file, unsigned timeout_ms, char *msg,
				      size_t msglen, char *version, size_t vlen)
{
	return session(sock_path, protocol, include_file, true, timeout_ms, msg, msglen, version,
		       vlen);
}

enum sy_bird_result sy_bird_probe(const char *sock_path, const char *protocol,
				  const char *include_file, unsigned timeout_ms, char *msg,
				  size_t msglen, char *version, size_t vlen)
{
	return session(sock_path, protocol, include_file, false, timeout_ms, msg, msglen, version,
		       vlen);
}
