/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The API's request handling without libmicrohttpd: api.c's MHD access
 * handler gathers a complete request into a struct sy_api_request and sends
 * what sy_api_handle() answers. tests/fuzz/fuzz_api_router.c drives it
 * directly.
 */
#ifndef SY_CONTROL_API_H
#define SY_CONTROL_API_H

#include <stdbool.h>
#include <stddef.h>

#include "daemon.h"
#include "http.h"

struct sy_api_request {
	const char *method, *url;         /* url: the path, without the query */
	/* the query argument NAME's value, NULL if absent */
	const char *(*arg)(void *arg_ctx, const char *name);
	void *arg_ctx;
	const char *authorization;        /* the Authorization header, NULL if absent */
	bool needs_token;                 /* the TCP listener: every endpoint needs it */
	const struct sy_body *body;       /* collected, NUL-terminated; too_large flagged */
};

struct sy_api_reply {
	unsigned status;
	const char *ctype;
	char *text;                       /* malloc'd, len bytes; NULL: out of memory (500) */
	size_t len;
	/* an operator change to save (state_file.h) once the lock is released;
	 * sy_api_handle does and frees them */
	char *state_text, *state_path;
	unsigned long long state_seq;
};

/* Answers a request: the bearer token (if needed), the body cap, then the
 * route, under d->lock (taken here). The caller frees reply.text. */
struct sy_api_reply sy_api_handle(struct sy_daemon *d, const struct sy_api_request *rq);
/* "Bearer <d->api_token>", compared in constant time; never with an empty token. */
bool sy_api_token_ok(const struct sy_daemon *d, const char *authorization);

#endif
