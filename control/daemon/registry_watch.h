/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Reads of the embedded registry over its HTTP listener (docs/registry-api.md):
 * GET /v1/services, GET /v1/services/NAME/instances and its blocking form
 * (?index=N&wait=T). A watch whose revision has not passed N is parked: its
 * connection is suspended (libmicrohttpd suspend/resume, no thread per
 * watcher) until the service changes, its wait ends (one timer thread for
 * all) or sy-control stops. The rules (access, query, revisions) are
 * registry_read.c's. Everything here runs with d->lock held unless said.
 */
#ifndef SY_CONTROL_REGISTRY_WATCH_H
#define SY_CONTROL_REGISTRY_WATCH_H

#include <stdbool.h>

#include "daemon.h"
#include "http.h"

/* A request on the registry's listener: its body first, so that
 * sy_http_collect and sy_http_completed take it as one; the watch state
 * after. Allocated by the listener at a request's first call. */
struct sy_watcher {
	struct sy_watcher *prev, *next; /* parked: in the watch list */
	struct MHD_Connection *conn;
	int fd;                          /* its socket: is the client still there? */
	char service[64];
	uint64_t index;
	uint64_t deadline_ms;            /* monotonic */
	bool parked, woken;
	enum sy_watch_wake why;
};
struct sy_registry_request {
	struct sy_body body;
	struct sy_watcher w;
};

/* Start (the timer thread; the read token) and stop. Stop, without d->lock:
 * wakes every parked watcher (answered 503 "stopping") and waits up to 2 s
 * for their answers to leave, before the listener is stopped. */
int sy_registry_watch_start(struct sy_daemon *d, char *err, size_t errlen);
void sy_registry_watch_stop(struct sy_daemon *d);
/* After the listener stopped: no request is left. */
void sy_registry_watch_free(struct sy_daemon *d);
/* After a reload: the read token again, and watchers of services no longer
 * configured are answered (404). */
void sy_registry_watch_configured(struct sy_daemon *d);

/* What readers see of s may have changed (it was published, a backend's
 * metadata changed): a new revision if so, and its watchers wake. */
void sy_registry_service_changed(struct sy_daemon *d, struct sy_service_state *s);

/* A complete GET on the listener (d->lock held): answered, or parked. */
sy_mhd_result sy_registry_read(struct sy_daemon *d, struct MHD_Connection *c, const char *url,
			       struct sy_registry_request *rq);
/* The listener's request ended (MHD_OPTION_NOTIFY_COMPLETED; takes d->lock). */
void sy_registry_request_done(struct sy_daemon *d, struct sy_registry_request *rq);

#endif
