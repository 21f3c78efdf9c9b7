/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The memif unmap guard (unmap_guard.c), for any DPDK program that polls
 * memif ports from its own lcores: sy-dataplane's workers, sy-pktgen's
 * main lcore. The program says how to wait for its pollers.
 */
#ifndef SY_DATAPLANE_UNMAP_GUARD_H
#define SY_DATAPLANE_UNMAP_GUARD_H

#include <stdbool.h>
#include <stdint.h>

/* Wait until no lcore can still be inside a burst that began before the
 * call (each seen past the round or the burst it was in, or not polling);
 * false if one did not come within limit_ns. Called from DPDK's interrupt
 * thread before it unmaps memory. */
typedef bool (*sy_unmap_wait_fn)(uint64_t limit_ns);

/* Set by the program before its ports start; NULL: nothing waits. */
extern sy_unmap_wait_fn sy_unmap_wait;

#endif
