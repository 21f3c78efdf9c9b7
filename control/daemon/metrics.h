/* SPDX-License-Identifier: BSD-3-Clause
 * Prometheus text exposition of sy-control's and the dataplane's figures. */
#ifndef SY_CONTROL_METRICS_H
#define SY_CONTROL_METRICS_H

#include <stddef.h>

#include "daemon.h"

/* The text of GET /metrics (malloc'd, *len bytes; NULL if out of memory).
 * Caller holds d->lock. */
char *sy_metrics_text(struct sy_daemon *d, size_t *len);
/* Re-read the config file; caller holds d->lock. 0 or -1 with err. */
int sy_daemon_reload(struct sy_daemon *d, char *err, size_t errlen);

#endif
