/* SPDX-License-Identifier: BSD-3-Clause
 *
 * A registry answer read over HTTP: a buffer that grows as libcurl hands
 * the bytes over (CURLOPT_WRITEFUNCTION sy_http_body_write, WRITEDATA the
 * body), always NUL-terminated, refused above SY_HTTP_BODY_MAX. Shared by
 * the etcd follower (etcd_follow.c) and the resolver's embedded-registry
 * source (resolve/source_embedded.c).
 */
#ifndef SY_REGISTRY_HTTP_BODY_H
#define SY_REGISTRY_HTTP_BODY_H

#include <stdbool.h>
#include <stddef.h>

#define SY_HTTP_BODY_MAX (16u << 20) /* an answer (a watch line) above this is refused */

struct sy_http_body {
	char *p;
	size_t len, cap;
	bool too_big; /* the answer went over SY_HTTP_BODY_MAX (curl ended the transfer) */
};

/* libcurl's write callback: arg is the body. */
size_t sy_http_body_write(char *data, size_t size, size_t nmemb, void *arg);
/* Empty again, keeping the buffer. */
void sy_http_body_reset(struct sy_http_body *b);

#endif
