/* SPDX-License-Identifier: BSD-3-Clause
 * Small helpers over libmicrohttpd shared by the API and the embedded
 * registry: body collection with a size cap, JSON replies, listeners. */
#ifndef SY_CONTROL_HTTP_H
#define SY_CONTROL_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <microhttpd.h>

#if MHD_VERSION >= 0x00097002
typedef enum MHD_Result sy_mhd_result;
#else
typedef int sy_mhd_result;
#endif

struct sy_body {
	char *data;
	size_t len;
	size_t dropped; /* bytes read and thrown away: over the cap, or refused */
	bool too_large;
	bool refused;   /* to be refused (a bad token): its body is dropped */
};

/* A request refused before its body (a bad token, a declared oversized
 * body) is answered only once its body is read and dropped, up to this many
 * bytes: answered at once, MHD closes the connection while the client still
 * sends, and the client sees a broken pipe instead of the answer (curl: 3 of
 * 400 oversized POSTs to the API answered "000"). Beyond it (4x the API's
 * 64 KiB cap) the connection closes: a body that large is no mistake worth
 * reading through for an error message. */
#define SY_HTTP_DRAIN_MAX (256u << 10)

/* The access-handler boilerplate: collects the request body (at most cap
 * bytes, the rest discarded and flagged too_large; all of it discarded if
 * the body is refused). Returns true when the request is complete and
 * should be answered now. */
bool sy_http_collect(void **con_cls, const char *upload, size_t *upload_size, size_t cap,
		     struct sy_body **out);
/* MHD_OPTION_NOTIFY_COMPLETED: frees the body; cls NULL or a guard (below),
 * whose deadline then starts again for the connection's next request. */
void sy_http_completed(void *cls, struct MHD_Connection *c, void **con_cls,
		       enum MHD_RequestTerminationCode toe);
/* At the request's first call: true if its Content-Length is over cap, so
 * that it can be refused without keeping any of the body. */
bool sy_http_declared_too_large(struct MHD_Connection *c, size_t cap);
/* At the request's first call: true if a body follows that a refusal should
 * read and drop before it answers (a Content-Length of 1 to
 * SY_HTTP_DRAIN_MAX, or chunked); false: answer at once. */
bool sy_http_body_to_drain(struct MHD_Connection *c);
/* While a body is being read: true once more than SY_HTTP_DRAIN_MAX bytes
 * of it were dropped (the handler then closes the connection: MHD_NO). */
static inline bool sy_http_drained_too_much(const struct sy_body *b)
{
	return b && b->dropped > SY_HTTP_DRAIN_MAX;
}

/* Slow clients. MHD's connection timeout counts inactivity only: a client
 * sending one byte every few seconds would keep its connection forever. A
 * guard (one thread) shuts down every connection whose request is not
 * answered within deadline_ms of the connection's start or of the end of its
 * previous request. Give it to MHD_start_daemon as
 *   MHD_OPTION_NOTIFY_CONNECTION, sy_http_guard_notify, guard,
 *   MHD_OPTION_NOTIFY_COMPLETED, sy_http_completed, guard,
 * and free it after MHD_stop_daemon. */
struct sy_http_guard;
struct sy_http_guard *sy_http_guard_new(const char *name, unsigned deadline_ms);
void sy_http_guard_free(struct sy_http_guard *g);
/* The connection's current request may take ms longer (a parked watch): its
 * deadline runs from now + ms. */
void sy_http_guard_extend(struct sy_http_guard *g, struct MHD_Connection *c, uint64_t ms);
void sy_http_guard_notify(void *cls, struct MHD_Connection *c, void **socket_context,
			  enum MHD_ConnectionNotificationCode code);

/* {"error": msg}; a msg that is not UTF-8 (quoting the request) has its
 * non-ASCII bytes replaced by '?' (jansson refuses such strings). */
json_t *sy_json_error(const char *msg);
sy_mhd_result sy_http_json(struct MHD_Connection *c, unsigned status, json_t *j);
sy_mhd_result sy_http_error(struct MHD_Connection *c, unsigned status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
sy_mhd_result sy_http_text(struct MHD_Connection *c, unsigned status, const char *ctype,
			   const char *text, size_t len);

/* The client's address: family 4 or 6 (0 if unknown), addr in wire order
 * (IPv4 in addr[0]). */
void sy_http_peer(struct MHD_Connection *c, uint8_t *family, uint32_t addr[4]);

/* Listening sockets handed to MHD. */
int sy_listen_unix(const char *path, const char *group, char *err, size_t errlen);
/* family 4 or 6, addr in wire order. freebind: bind even if no interface
 * has the address yet (IP_FREEBIND): the embedded registry listens on the
 * address of sy0, which sy-dataplane creates after sy-control starts. */
int sy_listen_tcp(int family, const uint32_t *addr, unsigned port, bool freebind, char *err,
		  size_t errlen);
/* Whether an interface has this address now (the wildcard: always). */
bool sy_addr_is_local(int family, const uint32_t *addr);

#endif
