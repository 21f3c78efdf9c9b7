/* SPDX-License-Identifier: BSD-3-Clause
 *
 * sy-dataplane: shared state of the DPDK application (options, ports,
 * workers). The packet path itself is in lb.c; this is I/O around it.
 */
#ifndef SY_DATAPLANE_H
#define SY_DATAPLANE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <rte_ethdev.h>
#include <rte_mempool.h>

#include <switchyard/region.h>

#include "lb.h"
#include "tap_config.h"

#define SY_MAX_PORTS 8
#define SY_MAX_WORKERS 16
#define SY_MAX_BURST 64
#define SY_MTU_MIN 576
#define SY_MTU_MAX 9702
/* Ethernet and the two VLAN tags the parser accepts (FCS stripped): what a
 * frame adds to its IP packet */
#define SY_FRAME_L2_MAX (RTE_ETHER_HDR_LEN + 2u * RTE_VLAN_HLEN)

struct sy_dp_opts {
	const char *region;
	uint32_t burst;
	uint64_t ct_size;        /* flows per worker */
	bool exception_tap;
	const char *tap_prefix;  /* TAP interface names: <prefix><port> */
	struct sy_tap_item tap_items[SY_TAP_MAX_ITEMS]; /* --tap-address, --tap-route */
	unsigned n_tap_items;
	uint16_t mtu;            /* 0 = each port's own MTU */
	uint8_t mtu_action;
	uint32_t icmp_rate;      /* ICMP errors per second per worker */
	uint32_t icmp_burst;
	struct sy_ct_guard ct_guard; /* new-flow guard of every worker (ct_guard.h) */
	uint32_t stats_interval; /* seconds, 0 = quiet */
	struct sy_ct_timeouts ct_timeouts;
	uint32_t frag_timeout_ms; /* first fragments' ports remembered (pkt_frag.h) */
};

struct sy_dp_port {
	uint16_t port_id;
	uint16_t tap_id;         /* exception TAP port, if has_tap */
	bool has_tap;
	uint16_t mtu;            /* L3 MTU: received whole, sent, encapsulated to */
	uint16_t tap_mtu;        /* the exception TAP's (at most mtu) */
	uint32_t rx_room;        /* mbuf data room one received frame needs */
	bool mtu_via_ethdev;     /* set through ethdev (not af_packet's kernel MTU) */
	bool memif_client;       /* net_memif, role=client: restarted when its link
				  * stays down (port_reconnect.c) */
	/* the workers leave the port alone while set (its restart) */
	atomic_bool paused;
	struct rte_ether_addr mac;
};

struct sy_worker {
	uint32_t index;          /* queue id on every port, region lcore slot */
	unsigned int lcore;
	/* iterations of the worker's loop, from 1; 0 before it started,
	 * SY_WORKER_GONE once it left it: what sy_workers_quiesce() waits on */
	_Atomic uint64_t loops;
	struct sy_reader reader;
	struct sy_lb lb;
} __rte_cache_aligned;

#define SY_WORKER_GONE UINT64_MAX

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
	/* The region follower (region_follow.c) moves the workers to a
	 * re-created region file: it holds map_mu (which telemetry and the port
	 * counters take to read dp->map) and sets park; each worker parks at
	 * the top of its loop (offline, counted in parked) until park clears. */
	pthread_mutex_t map_mu;
	atomic_uint park, parked;
	volatile bool quit;
};

/* port.c: ports, their TAPs and the mbuf pool */
int sy_ports_init(struct sy_dataplane *dp);
void sy_ports_close(struct sy_dataplane *dp);
/* The value of device argument `key` of a port (e.g. "role" of
 * net_memif0,role=client) into buf; false if it was not given. */
bool sy_port_devarg(const struct rte_eth_dev_info *info, const char *key, char *buf,
		    size_t len);

/* port_queues.c: a queue pair for each of nq workers, or a one-line error
 * (-1) naming the port and what to change */
int sy_port_queues_check(uint16_t port, const struct rte_eth_dev_info *info, uint16_t nq);
/* whether the port is net_memif with role=client */
bool sy_port_is_memif_client(uint16_t port);

/* port_reconnect.c: a memif client port whose link stays down (its server
 * left) restarted, so that it connects again: called about every 100 ms
 * by the port counter thread */
void sy_port_reconnect_tick(struct sy_dataplane *dp);

/* port_mtu.c: what frames a port carries */
int sy_port_mtu_plan(struct sy_dp_port *p, uint16_t want); /* sets mtu, rx_room */
int sy_port_mtu_apply(uint16_t port, uint16_t mtu);        /* after configure */
uint16_t sy_tap_mtu(uint16_t tap, uint16_t port_mtu);
uint32_t sy_frame_room(uint32_t mtu);

/* worker.c */
int sy_worker_init(struct sy_dataplane *dp, struct sy_worker *w);
/* The worker's pointers into dp->map taken again (after a region switch;
 * the worker parked). -1 with err if its reader slot cannot be claimed. */
int sy_worker_region_moved(struct sy_dataplane *dp, struct sy_worker *w, char *err,
			   size_t errlen);
int sy_worker_main(void *arg); /* lcore entry: arg is the sy_worker */
/* Wait until every running worker has been seen past the loop iteration
 * it was in on entry (its count changed, or all parked, or it left its
 * loop): a round that starts after sees what the caller changed before
 * (a callback removed, a driver's "connected" flag cleared). false if one
 * did not come round within limit_ns. From a thread that is not a worker
 * (a worker would wait for itself until the limit). */
bool sy_workers_quiesce(struct sy_dataplane *dp, uint64_t limit_ns);
/* The same for sy_dp, as unmap_guard.h's wait */
bool sy_workers_unmap_wait(uint64_t limit_ns);
extern struct sy_dataplane *sy_dp;

/* CLOCK_MONOTONIC in ns and ms: the control threads' clock (deadlines,
 * waits, the port counters' update time), not the workers' (TSC) */
static inline uint64_t sy_mono_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static inline uint64_t sy_mono_ms(void)
{
	return sy_mono_ns() / 1000000u;
}

/* port_stats.c: the ports' NIC counters into the region, every second */
int sy_port_stats_start(struct sy_dataplane *dp);
void sy_port_stats_stop(struct sy_dataplane *dp); /* no-op if not started */
/* dp->map is another region now (map_mu held): its port block named and
 * filled */
void sy_port_stats_region_moved(struct sy_dataplane *dp);

/* region_follow.c: a control thread checking once a second that the region
 * path still names the mapped file, following a re-created one */
int sy_region_follow_start(struct sy_dataplane *dp);
void sy_region_follow_stop(void);

/* telemetry.c */
int sy_telemetry_init(struct sy_dataplane *dp);
/* dp->map is another region now (map_mu held): telemetry's reader slot and
 * the dataplane's pid and socket written into it */
void sy_telemetry_region_moved(struct sy_dataplane *dp);
void sy_stats_print(struct sy_dataplane *dp);

#endif
