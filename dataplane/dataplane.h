/* SPDX-License-Identifier: BSD-3-Clause
 *
 * sy-dataplane: shared state of the DPDK application (options, ports,
 * workers). The packet path itself is in lb.c; this is I/O around it.
 */
#ifndef SY_DATAPLANE_H
#define SY_DATAPLANE_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_ethdev.h>
#include <rte_mempool.h>

#include <switchyard/region.h>

#include "lb.h"

#define SY_MAX_PORTS 8
#define SY_MAX_WORKERS 16
#define SY_MAX_BURST 64

struct sy_dp_opts {
	const char *region;
	uint32_t burst;
	uint64_t ct_size;        /* flows per worker */
	bool exception_tap;
	const char *tap_prefix;  /* TAP interface names: <prefix><port> */
	uint16_t mtu;            /* 0 = the port's MTU */
	uint8_t mtu_action;
	uint32_t icmp_rate;      /* ICMP errors per second per worker */
	uint32_t icmp_burst;
	uint32_t stats_interval; /* seconds, 0 = quiet */
	struct sy_ct_timeouts ct_timeouts;
};

struct sy_dp_port {
	uint16_t port_id;
	uint16_t tap_id;         /* exception TAP port, if has_tap */
	bool has_tap;
	uint16_t mtu;
	struct rte_ether_addr mac;
};

struct sy_worker {
	uint32_t index;          /* queue id on every port, region lcore slot */
	unsigned int lcore;
	struct sy_reader reader;
	struct sy_lb lb;
} __rte_cache_aligned;

struct sy_dataplane {
	struct sy_dp_opts opts;
	struct sy_region_map map;
	struct rte_mempool *pool;
	struct sy_dp_port ports[SY_MAX_PORTS];
	uint16_t n_ports;
	struct sy_worker workers[SY_MAX_WORKERS];
	uint32_t n_workers;
	/* every worker's connection table, for each worker's ICMP errors
	 * (struct sy_lb.peer_ct) */
	const struct sy_conntrack *ct_of_worker[SY_MAX_WORKERS];
	volatile bool quit;
};

/* port.c */
int sy_ports_init(struct sy_dataplane *dp);
void sy_ports_close(struct sy_dataplane *dp);

/* worker.c */
int sy_worker_init(struct sy_dataplane *dp, struct sy_worker *w);
int sy_worker_main(void *arg); /* lcore entry: arg is the sy_worker */
extern struct sy_dataplane *sy_dp;

/* port_stats.c: the ports' NIC counters into the region, every second */
int sy_port_stats_start(struct sy_dataplane *dp);
void sy_port_stats_stop(struct sy_dataplane *dp); /* no-op if not started */

/* telemetry.c */
int sy_telemetry_init(struct sy_dataplane *dp);
void sy_stats_print(struct sy_dataplane *dp);

#endif
