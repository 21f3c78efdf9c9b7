/* SPDX-License-Identifier: BSD-3-Clause */
#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
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
		if (!b->too_large && b->len + *upload_size <= cap) {
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
			b->too_large = true;
		}
		*upload_size = 0;
		return false;
	}
	return true;
}

void sy_http_completed(void *cls, struct MHD_Connection *c, void **con_cls,
		       enum MHD_RequestTerminationCode toe)
{
	struct sy_body *b = *con_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (b) {
		free(b->data);
		free(b);
		*con_cls = NULL;
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

sy_mhd_result sy_http_error(struct MHD_Connection *c, unsigned status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return sy_http_json(c, status, json_pack("{s:s}", "error", msg));
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

int sy_listen_tcp(int family, const uint32_t *addr, unsigned port, char *err, size_t errlen)
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
