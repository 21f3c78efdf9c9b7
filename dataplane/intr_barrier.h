/* SPDX-License-Identifier: BSD-3-Clause
 *
 * A barrier with DPDK's interrupt thread (intr_barrier.c), for processes
 * that stop their ports: sy-dataplane and perf/sy-pktgen.
 */
#ifndef SY_INTR_BARRIER_H
#define SY_INTR_BARRIER_H

#include <stdbool.h>

/* Returns true once the EAL interrupt thread sleeps waiting for events:
 * done with every handler (e.g. net_memif handling its peer's disconnect)
 * and every rebuild of its epoll set asked of it so far. False after
 * timeout_ms, or at once if the thread is not found. */
bool sy_intr_barrier(unsigned int timeout_ms);

#endif
