/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef SY_CONTROL_DP_QUERY_H
#define SY_CONTROL_DP_QUERY_H

#include <stddef.h>

#include <switchyard/region.h>

/* Ask the running dataplane which backend the flow "src,sport,dst,dport,
 * tcp|udp" gets and why ("conntrack: ..." or "maglev: ..."). 0 with backend
 * and reason, or -1 with reason saying why it could not be asked. */
int sy_dp_lookup(const struct sy_region_map *m, const char *params, char *backend, size_t blen,
		 char *reason, size_t rlen);

#endif
