/* SPDX-License-Identifier: BSD-3-Clause
 *
 * A memif client port connects again after its server left.
 *
 * DPDK 22.11's net_memif client connects once, when the port starts
 * (memif_dev_start()): after its server leaves (restarts, crashes) the
 * link stays down for good. Several workers on a memif port need
 * sy-dataplane to be the client (docs/dataplane.md, "Workers and queues"),
 * so a peer's restart would cut such a dataplane off until it is
 * restarted itself. Here, a client port whose link has been down for a
 * second is restarted (stopped and started: the start connects), again
 * while it stays down, one second apart and doubling to at most 10 s while
 * the server is not there. The workers leave the port alone meanwhile:
 * the port is marked paused, every worker is seen to come round its loop
 * (sy_workers_quiesce(): none is inside a burst on it), and DPDK's
 * interrupt thread, which handles the port's control channel, is waited
 * for to sleep (sy_intr_barrier()). A paused port is not polled until its
 * start succeeds; the link comes up when the server answers.
 *
 * Test: tests/integration/test_memif_peer_leaves.sh, part 4.
 */
#include <stdio.h>

#include <rte_ethdev.h>

#include "dataplane.h"
#include "intr_barrier.h"

#define DOWN_BEFORE_RESTART_MS 1000u
#define RETRY_MAX_MS 10000u
#define QUIESCE_LIMIT_NS 2000000000ull

/* per port: owned by the port counter thread, the only caller */
static struct {
	uint64_t down_since; /* ms; 0: up (or not seen down yet) */
	uint64_t next_try;   /* ms */
	uint32_t backoff;    /* ms */
	uint32_t failures;   /* starts that failed in a row */
} state[SY_MAX_PORTS];

/* Stop and start port i, the workers away from it. */
static void restart(struct sy_dataplane *dp, uint16_t i, uint64_t now)
{
	struct sy_dp_port *p = &dp->ports[i];
	int rc;

	atomic_store(&p->paused, true);
	if (!sy_workers_quiesce(dp, QUIESCE_LIMIT_NS)) {
		/* a worker may be in a burst on the port: not now */
		if (!state[i].failures)
			atomic_store(&p->paused, false);
		state[i].next_try = now + DOWN_BEFORE_RESTART_MS;
		return;
	}
	sy_intr_barrier(2000);
	rte_eth_dev_stop(p->port_id); /* a stopped port (a failed start) says so: fine */
	rc = rte_eth_dev_start(p->port_id);
	if (rc == 0) {
		printf("level=info msg=\"memif client port restarted to reconnect: its link was down\" port=%u down_ms=%llu attempts=%u\n",
		       p->port_id, (unsigned long long)(now - state[i].down_since),
		       state[i].failures + 1);
		state[i].failures = 0;
		atomic_store(&p->paused, false);
	} else {
		/* stopped: ethdev's burst functions are stubs that complain;
		 * the port stays paused until a start succeeds */
		if (!state[i].failures)
			printf("level=warn msg=\"memif client port cannot reconnect yet (its server is not there?): tried again\" port=%u error=\"%s\"\n",
			       p->port_id, rte_strerror(-rc));
		state[i].failures++;
	}
	fflush(stdout);
	state[i].backoff = state[i].backoff ? state[i].backoff * 2 : DOWN_BEFORE_RESTART_MS;
	if (state[i].backoff > RETRY_MAX_MS)
		state[i].backoff = RETRY_MAX_MS;
	state[i].next_try = now + state[i].backoff;
}

void sy_port_reconnect_tick(struct sy_dataplane *dp)
{
	uint64_t now = sy_mono_ms();

	for (uint16_t i = 0; i < dp->n_ports && !dp->quit; i++) {
		struct rte_eth_link link;

		if (!dp->ports[i].memif_client)
			continue;
		if (!state[i].failures && rte_eth_link_get_nowait(dp->ports[i].port_id, &link) == 0 &&
		    link.link_status == RTE_ETH_LINK_UP) {
			state[i].down_since = 0;
			state[i].backoff = 0;
			continue;
		}
		if (!state[i].down_since) {
			state[i].down_since = now;
			state[i].next_try = now + DOWN_BEFORE_RESTART_MS;
			continue;
		}
		if (now >= state[i].next_try)
			restart(dp, i, now);
	}
}
