/* SPDX-License-Identifier: BSD-3-Clause
 * syctl's HTTP client (libcurl): to sy-control's API over its unix socket
 * or loopback TCP, and to the embedded registry for `syctl register`. */
#ifndef SY_CONTROL_SYCTL_HTTP_H
#define SY_CONTROL_SYCTL_HTTP_H

#include <stddef.h>

#include <jansson.h>

struct sy_http_target {
	const char *socket;  /* unix socket path, or NULL */
	const char *base;    /* "http://localhost" or "http://127.0.0.1:9180" */
	const char *token;   /* bearer token, or NULL */
	long timeout_ms;
	/* TLS, for an https:// base: the CA that signs the server's
	 * certificate (NULL: the system's), a client certificate and its key
	 * (both or neither) */
	const char *ca_file, *cert_file, *key_file;
};

struct sy_http_reply {
	long status;         /* HTTP status; 0 = no answer (transport error) */
	json_t *json;        /* parsed body if JSON, else NULL */
	char *body;
	size_t len;
	char error[256];     /* transport error text */
	int os_errno;        /* the system's error of a failed connect (EACCES...), or 0 */
};

/* method "GET"/"POST"/"DELETE"; body may be NULL; extra_header may be NULL. */
int sy_http_request(const struct sy_http_target *t, const char *method, const char *path,
		    const char *body, size_t body_len, const char *extra_header,
		    struct sy_http_reply *r);
void sy_http_reply_free(struct sy_http_reply *r);

#endif
