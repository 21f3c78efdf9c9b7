/* SPDX-License-Identifier: BSD-3-Clause
 *
 * A packet capture that ends must not crash the workers.
 *
 * dpdk-dumpcap (a secondary process) has DPDK's pdump library, inside
 * sy-dataplane, install rx and tx callbacks that copy every frame into the
 * capture's ring, from the capture's mempool; the workers run them inside
 * rte_eth_rx_burst() and rte_eth_tx_burst(). When the capture ends, the
 * library removes the callbacks (in the EAL's multi-process thread),
 * answers dpdk-dumpcap, and dpdk-dumpcap frees its ring and mempool. DPDK
 * 22.11 does not wait for a worker that was inside a callback at that
 * moment: such a worker goes on copying from the freed mempool, whose
 * memory the next capture's start-up takes. Seen: sy-dataplane killed by
 * SIGSEGV in rte_pktmbuf_copy() under pdump's tx callback, the mempool's
 * header zeroed (ops index 0), in 4 runs of 34 of the capture test beside
 * another tree's tests (a worker preempted inside a copy).
 *
 * So sy-dataplane takes the removal over: it defines the two ethdev
 * functions the library calls (the executable exports them, so the
 * dynamic linker binds the library's calls here), removes the callback
 * with ethdev's own function, and returns only once every worker has been
 * seen outside its loop iteration of the time (struct sy_worker.loops):
 * a callback still running then has finished, and the answer to the
 * capture leaves after that. ethdev's documentation leaves exactly this to
 * the application (rte_eth_remove_rx_callback(): a removed callback "may
 * still be in use" until "in-flight callbacks" complete).
 *
 * dpdk-dumpcap waits 5 s for the answer (and frees its memory after that
 * anyway): the wait here is bounded below it (a worker that does not come
 * round in that time is logged).
 *
 * Test: tests/integration/test_capture.sh holds the worker inside the copy
 * with gdb while a capture ends: the capture now ends only once the worker
 * is let go (before, ~20 ms after it was told to stop, the worker held).
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#include <rte_ethdev.h>

#include "dataplane.h"

/* dpdk-dumpcap's end of a capture is one request (5 s for the answer) in
 * which both removals wait: 2 s each at most */
#define QUIESCE_LIMIT_NS 2000000000ull

typedef int (*remove_fn)(uint16_t, uint16_t, const struct rte_eth_rxtx_callback *);

/* ethdev's own function of that name (the next definition after ours) */
static remove_fn ethdev_fn(const char *name)
{
	remove_fn f = (remove_fn)dlsym(RTLD_NEXT, name);

	if (!f) {
		fprintf(stderr, "sy-dataplane: %s not found in DPDK's libraries: %s\n", name,
			dlerror());
		abort();
	}
	return f;
}

/* ethdev's function *real (looked up by name the first time), then the
 * wait for the workers if it removed the callback */
static int remove_then_quiesce(remove_fn *real, const char *name, const char *what,
			       uint16_t port_id, uint16_t queue_id,
			       const struct rte_eth_rxtx_callback *user_cb)
{
	int rc;

	if (!*real)
		*real = ethdev_fn(name);
	rc = (*real)(port_id, queue_id, user_cb);
	if (rc == 0 && !sy_workers_quiesce(sy_dp, QUIESCE_LIMIT_NS)) {
		printf("level=warn msg=\"a capture ended and a worker did not come round its loop within %llu ms; a copy still under way may touch the capture's freed memory\" callback=%s\n",
		       QUIESCE_LIMIT_NS / 1000000ull, what);
		fflush(stdout);
	}
	return rc;
}

/* The two functions DPDK's pdump library calls to end a capture (exported
 * by sy-dataplane's link: see dataplane/meson.build). Not to be called
 * from a worker, which would wait for itself until the limit. */
int rte_eth_remove_rx_callback(uint16_t port_id, uint16_t queue_id,
			       const struct rte_eth_rxtx_callback *user_cb)
{
	static remove_fn real;

	return remove_then_quiesce(&real, "rte_eth_remove_rx_callback", "rx", port_id, queue_id,
				   user_cb);
}

int rte_eth_remove_tx_callback(uint16_t port_id, uint16_t queue_id,
			       const struct rte_eth_rxtx_callback *user_cb)
{
	static remove_fn real;

	return remove_then_quiesce(&real, "rte_eth_remove_tx_callback", "tx", port_id, queue_id,
				   user_cb);
}
