/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The ports' NIC counters (rte_eth_stats) and link state into the region's
 * port block (include/switchyard/port_stats.h, docs/region.md "Port
 * counters"), at start and then every PORT_STATS_INTERVAL_MS, so that
 * sy-control exports them (/metrics, syctl stats) without asking the
 * dataplane anything.
 * A control thread does it, not a worker: rte_eth_stats_get() calls into the
 * PMD (register reads, a system call on some virtual ports), which the
 * packet path must not wait for, and with one lcore the main lcore is a
 * worker.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <rte_ethdev.h>
#include <rte_lcore.h>

#include "dataplane.h"

#define PORT_STATS_INTERVAL_MS 1000

_Static_assert(SY_MAX_PORTS <= SY_REGION_MAX_PORTS, "every port has an entry in the region");

static pthread_t thread;
static bool started;
static atomic_bool stop;
static bool read_failed[SY_MAX_PORTS]; /* logged once per port */
static uint16_t link_seen[SY_MAX_PORTS];  /* enum sy_port_link, last logged */

/* The port's link now, and its change logged (the first reading too): an
 * operator sees a cable pulled, or a memif peer gone, in the log as in
 * syctl stats and /metrics. */
static uint16_t read_link(struct sy_dataplane *dp, uint16_t i, const char *device)
{
	struct rte_eth_link link;
	uint16_t state;

	if (rte_eth_link_get_nowait(dp->ports[i].port_id, &link))
		return SY_PORT_LINK_UNKNOWN;
	state = link.link_status == RTE_ETH_LINK_UP ? SY_PORT_LINK_UP : SY_PORT_LINK_DOWN;
	if (state != link_seen[i]) {
		if (state == SY_PORT_LINK_UP)
			printf("level=info msg=\"port link up\" port=%u device=%s speed_mbps=%u\n",
			       dp->ports[i].port_id, device, link.link_speed);
		else
			printf("level=warn msg=\"port link down\" port=%u device=%s\n",
			       dp->ports[i].port_id, device);
		fflush(stdout);
		link_seen[i] = state;
	}
	return state;
}

static void copy_counters(struct sy_dataplane *dp, struct sy_port_block *pb)
{
	for (uint16_t i = 0; i < dp->n_ports; i++) {
		struct sy_port_stats *p = &pb->port[i];
		uint16_t link = read_link(dp, i, p->name); /* the name is this thread's too */
		struct rte_eth_stats st;
		int rc = rte_eth_stats_get(dp->ports[i].port_id, &st);

		if (rc) { /* keep the last counters; say so once */
			if (!read_failed[i])
				printf("level=warn msg=\"cannot read the port's counters; its last figures stay\" port=%u err=\"%s\"\n",
				       dp->ports[i].port_id, strerror(-rc));
			read_failed[i] = true;
			sy_port_stats_write_begin(p);
			p->link = link;
			sy_port_stats_write_end(p);
			continue;
		}
		read_failed[i] = false;
		sy_port_stats_write_begin(p);
		p->updated_ms = sy_mono_ms();
		p->link = link;
#define SY_X(field, name, help) p->c.field = st.field;
		SY_PORT_COUNTERS(SY_X)
#undef SY_X
		sy_port_stats_write_end(p);
	}
}

static void *run(void *arg)
{
	struct sy_dataplane *dp = arg;

	while (!atomic_load(&stop)) {
		/* the ports' other housekeeping, every 100 ms */
		for (int t = 0; t < PORT_STATS_INTERVAL_MS / 100 && !atomic_load(&stop); t++) {
			usleep(100 * 1000);
			sy_port_reconnect_tick(dp);
		}
		pthread_mutex_lock(&dp->map_mu); /* the region follower may move dp->map */
		copy_counters(dp, sy_region_ports(&dp->map));
		pthread_mutex_unlock(&dp->map_mu);
	}
	return NULL;
}

void sy_port_stats_region_moved(struct sy_dataplane *dp)
{
	struct sy_port_block *pb = sy_region_ports(&dp->map);

	atomic_store_explicit(&pb->n_ports, 0, memory_order_release);
	for (uint16_t i = 0; i < dp->n_ports; i++) {
		struct sy_port_stats *p = &pb->port[i];
		uint32_t seq = atomic_load(&p->seq);

		if (seq & 1) /* a dataplane died in the middle of a write */
			atomic_store(&p->seq, seq + 1);
		sy_port_stats_write_begin(p);
		p->port_id = dp->ports[i].port_id;
		if (rte_eth_dev_get_name_by_port(p->port_id, p->name))
			snprintf(p->name, sizeof(p->name), "port%u", p->port_id);
		memset(&p->c, 0, sizeof(p->c));
		p->link = SY_PORT_LINK_UNKNOWN;
		sy_port_stats_write_end(p);
	}
	copy_counters(dp, pb);
	atomic_store(&pb->pid, (int32_t)getpid());
	pb->interval_ms = PORT_STATS_INTERVAL_MS;
	atomic_store_explicit(&pb->n_ports, dp->n_ports, memory_order_release);
}

int sy_port_stats_start(struct sy_dataplane *dp)
{
	int rc;

	sy_port_stats_region_moved(dp); /* the block, named and filled once */
	atomic_store(&stop, false);
	rc = rte_ctrl_thread_create(&thread, "sy-portstats", NULL, run, dp);
	if (rc) {
		printf("level=error msg=\"cannot start the port counter thread: NIC counters stay at their start values\" err=\"%s\"\n",
		       strerror(rc > 0 ? rc : -rc));
		return -1;
	}
	started = true;
	return 0;
}

void sy_port_stats_stop(struct sy_dataplane *dp)
{
	if (!started)
		return;
	atomic_store(&stop, true);
	pthread_join(thread, NULL);
	started = false;
	atomic_store_explicit(&sy_region_ports(&dp->map)->n_ports, 0, memory_order_release);
	atomic_store(&sy_region_ports(&dp->map)->pid, 0);
}
