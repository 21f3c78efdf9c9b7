/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef SY_CONTROL_DP_QUERY_H
#define SY_CONTROL_DP_QUERY_H

#include <stddef.h>
#include <stdint.h>

/* The whole question, connect to answer, within this time: a dataplane
 * that is stopped or stalled costs a caller this much, never more. */
#define SY_DP_QUERY_DEADLINE_MS 500

/* Ask the running dataplane (dp_pid, serving DPDK telemetry on the unix
 * socket `socket_path`, both as its region header says) which backend the
 * flow "src,sport,dst,dport,tcp|udp" gets and why ("conntrack: ..." or
 * "maglev: ..."). 0 with backend and reason, or -1 with reason saying why
 * it could not be asked. Never call it holding a lock others wait for: it
 * may take up to SY_DP_QUERY_DEADLINE_MS. */
int sy_dp_lookup(int32_t dp_pid, const char *socket_path, const char *params, char *backend,
		 size_t blen, char *reason, size_t rlen);

#endif
