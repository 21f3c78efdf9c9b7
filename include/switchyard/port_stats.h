/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The NIC counters of the dataplane's ports, in the region (a block at
 * header->ports_off; docs/region.md, "Port counters"). sy-dataplane copies
 * each DPDK port's rte_eth_stats there about once a second from a thread of
 * its own; sy-control reads them from memory for /metrics and `syctl
 * stats`, without asking the dataplane anything. One writer; readers take a
 * consistent copy of a port through its sequence counter.
 */
#ifndef SWITCHYARD_PORT_STATS_H
#define SWITCHYARD_PORT_STATS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define SY_REGION_MAX_PORTS 8
#define SY_PORT_NAME_MAX 64 /* RTE_ETH_NAME_MAX_LEN */

/* X(rte_eth_stats field, "exported name", "what it means"): the exported
 * name is `syctl stats`' and, as switchyard_port_<name>_total, /metrics'. */
#define SY_PORT_COUNTERS(X)                                                                    \
	X(ipackets, "rx_packets", "Packets the port received")                                 \
	X(ibytes, "rx_bytes", "Bytes the port received")                                       \
	X(opackets, "tx_packets", "Packets the port sent")                                     \
	X(obytes, "tx_bytes", "Bytes the port sent")                                           \
	X(imissed, "rx_missed", "Packets the port dropped because its receive queues were full " \
				"(the workers did not keep up)")                                \
	X(ierrors, "rx_errors", "Erroneous packets the port received")                         \
	X(oerrors, "tx_errors", "Packets the port failed to send")                             \
	X(rx_nombuf, "rx_nombuf", "Receive buffer (mbuf) allocation failures")

struct sy_port_counters {
#define SY_X(field, name, help) uint64_t field;
	SY_PORT_COUNTERS(SY_X)
#undef SY_X
};

/* A port's link as the dataplane last read it (rte_eth_link_get_nowait).
 * 0 is what a dataplane before the field wrote there (it was padding). */
enum sy_port_link {
	SY_PORT_LINK_UNKNOWN = 0, /* not read (an older dataplane), or the read failed */
	SY_PORT_LINK_DOWN = 1,
	SY_PORT_LINK_UP = 2,
};

static inline const char *sy_port_link_name(uint16_t link)
{
	return link == SY_PORT_LINK_UP ? "up" : link == SY_PORT_LINK_DOWN ? "down" : "unknown";
}

/* One port; `seq` is odd while the dataplane rewrites the entry. */
struct sy_port_stats {
	_Atomic uint32_t seq;
	uint16_t port_id;          /* DPDK port id */
	uint16_t link;             /* enum sy_port_link */
	char name[SY_PORT_NAME_MAX]; /* device: PCI address, net_af_packet0, ... */
	uint64_t updated_ms;       /* CLOCK_MONOTONIC of the copy */
	struct sy_port_counters c;
};

struct sy_port_block {
	_Atomic uint32_t n_ports;  /* entries in use; 0: no dataplane publishes */
	_Atomic int32_t pid;       /* the dataplane that writes them */
	uint32_t interval_ms;      /* how often it does */
	uint32_t pad;
	struct sy_port_stats port[SY_REGION_MAX_PORTS];
};

/* Writer (the dataplane): begin, store the fields, end. */
static inline void sy_port_stats_write_begin(struct sy_port_stats *p)
{
	atomic_fetch_add_explicit(&p->seq, 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
}

static inline void sy_port_stats_write_end(struct sy_port_stats *p)
{
	atomic_fetch_add_explicit(&p->seq, 1, memory_order_release);
}

/* Reader: a consistent copy of *p, or -1 if none could be taken (the
 * writer is in the middle of a write for every try, or died in one). */
static inline int sy_port_stats_read(const struct sy_port_stats *p, struct sy_port_stats *out)
{
	for (int tries = 0; tries < 1000; tries++) {
		uint32_t s1 = atomic_load_explicit(&p->seq, memory_order_acquire), s2;

		if (s1 & 1)
			continue;
		memcpy((char *)out + offsetof(struct sy_port_stats, port_id),
		       (const char *)p + offsetof(struct sy_port_stats, port_id),
		       sizeof(*p) - offsetof(struct sy_port_stats, port_id));
		atomic_thread_fence(memory_order_acquire);
		s2 = atomic_load_explicit(&p->seq, memory_order_relaxed);
		if (s1 == s2) {
			atomic_store_explicit(&out->seq, s1, memory_order_relaxed);
			return 0;
		}
	}
	return -1;
}

/* Whole copies of the block's ports into out[SY_REGION_MAX_PORTS], in
 * port order; returns how many. A port whose copy cannot be taken is left
 * out (its next copy will do). */
static inline uint32_t sy_port_block_read(const struct sy_port_block *pb,
					  struct sy_port_stats *out)
{
	uint32_t n = atomic_load_explicit(&pb->n_ports, memory_order_acquire), got = 0;

	for (uint32_t i = 0; i < n && i < SY_REGION_MAX_PORTS; i++)
		if (sy_port_stats_read(&pb->port[i], &out[got]) == 0)
			got++;
	return got;
}

#endif
