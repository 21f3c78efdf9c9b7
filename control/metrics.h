/* SPDX-License-Identifier: BSD-3-Clause
 * Prometheus text exposition of sy-control's and the dataplane's figures. */
#ifndef SY_CONTROL_METRICS_H
#define SY_CONTROL_METRICS_H

#include "daemon.h"
#include "http.h"

/* Caller holds d->lock. */
sy_mhd_result sy_metrics_reply(struct sy_daemon *d, struct MHD_Connection *c);
/* POST /v1/reload; caller holds d->lock. */
sy_mhd_result sy_api_reload(struct sy_daemon *d, struct MHD_Connection *c);
/* Re-read the config file; caller holds d->lock. 0 or -1 with err. */
int sy_daemon_reload(struct sy_daemon *d, char *err, size_t errlen);

#endif
