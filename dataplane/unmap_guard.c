/* SPDX-License-Identifier: BSD-3-Clause
 *
 * A memif peer that leaves must not crash the workers.
 *
 * net_memif (DPDK 22.11) handles a peer's disconnect in the EAL's
 * interrupt thread (memif_disconnect()): it clears the port's "connected"
 * flag, then unmaps the shared regions that hold the rings and buffers.
 * A worker checks the flag once at the top of rte_eth_rx_burst() /
 * rte_eth_tx_burst() and then reads the rings: one that was past the check
 * when the regions went read unmapped memory. Seen: sy-dataplane killed by
 * SIGSEGV inside librte_net_memif.so when sy-pktgen stopped while the
 * worker polled (ct_pressure_live, session 36), and in a loop of peers
 * leaving under traffic (tests/integration/test_memif_peer_leaves.sh).
 *
 * The driver gives no event before it unmaps, so the program takes the
 * unmapping over: it defines munmap() (exported by its link, so that the
 * dynamic linker binds the drivers' calls here), and a call from the
 * interrupt thread first waits for the program's pollers (sy_unmap_wait:
 * sy-dataplane's, until every worker has come round its loop,
 * sy_workers_quiesce(); sy-pktgen's, until its lcore is out of the burst
 * it was in): the flag was cleared before the call, so every burst still
 * reading the rings has returned and every later one sees the port down.
 * As RCU's grace period, between unpublishing and freeing. Other threads'
 * calls, and the interrupt thread's while nothing polls, go straight to the
 * system call. Only library calls come here: glibc's own (malloc's) do not
 * go through the PLT. Both sides of a memif connection unmap on a
 * disconnect (the client its own regions too), so both programs have it.
 */
#include <stdio.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <rte_interrupts.h>

#include "unmap_guard.h"

/* The interrupt thread handles every port's events: a poller stuck longer
 * than this (a debugger) holds them up no longer, logged */
#define UNMAP_WAIT_LIMIT_NS 5000000000ull

sy_unmap_wait_fn sy_unmap_wait;

int munmap(void *addr, size_t len)
{
	sy_unmap_wait_fn wait = sy_unmap_wait;

	if (wait && rte_thread_is_intr() && !wait(UNMAP_WAIT_LIMIT_NS)) {
		printf("level=warn msg=\"a driver unmaps memory in the interrupt thread (a memif peer left) and a worker did not come round its loop within %llu ms: a burst still reading it may crash\"\n",
		       UNMAP_WAIT_LIMIT_NS / 1000000ull);
		fflush(stdout);
	}
	return (int)syscall(SYS_munmap, addr, len);
}
