/* SPDX-License-Identifier: BSD-3-Clause
 * `syctl top`: a refreshing view of per-VIP and per-backend rates, from
 * sy-control's GET /v1/stats. */
#ifndef SY_CONTROL_SYCTL_TOP_H
#define SY_CONTROL_SYCTL_TOP_H

#include "syctl_http.h"

/* argv[0] = "top"; json: one JSON object per line and frame (--json).
 * Returns the exit code (syctl.h): 0, 1 API error, 2 usage, 3 unreachable,
 * 4 permission denied. */
int syctl_top(const struct sy_http_target *t, int json, int argc, char **argv);

#endif
