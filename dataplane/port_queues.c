/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Whether a port really has a receive/transmit queue pair for every worker
 * (worker i polls queue i of every port). Checked before the port is
 * configured; a port that has too few is a one-line error at start naming
 * the port and what to change, never a worker left reading a queue that is
 * not there.
 *
 * Most PMDs say how many queues they have in rte_eth_dev_info (net_af_packet:
 * its qpairs=, net_pcap: one per rx_pcap/rx_iface, ...). net_memif does not:
 * it reports 255 whatever happens, because the number of rings is agreed
 * with the peer at each connection, and DPDK 22.11 gives the application no
 * way to read the agreed number. As the memif server (role=server, the
 * default) it accepts a client that brings fewer rings than it has queues,
 * and then leaves its extra queues pointing at offset 0 of the shared
 * region, the first ring: a second worker reads queue 0's frames a second
 * time, against its own cursor, while queue 0's worker writes the same
 * ring (measured with 2 workers against sy-pktgen's single queue pair:
 * ct_new 1125 for 1000 flows, drop_ipv4_header 1046 and drop_kernel_full
 * 8,178,015 of frames that were not frames). As the memif client
 * (role=client) it brings all its rings, and a DPDK server with fewer
 * refuses the connection ("Invalid ring index"). So several workers on
 * net_memif need sy-dataplane to be the client; as a server it is refused.
 * docs/dataplane.md, "Workers and queues".
 */
#include <stdio.h>
#include <string.h>

#include <rte_ethdev.h>
#include <rte_log.h>

#include "dataplane.h"

/* What to change, by driver, when a port has fewer queues than workers. */
static const char *more_queues_hint(const char *driver)
{
	if (strcmp(driver, "net_af_packet") == 0)
		return "give the vdev qpairs=N (N = workers) or ";
	if (strcmp(driver, "net_pcap") == 0)
		return "give the vdev one rx_pcap/rx_iface and tx_pcap/tx_iface per worker or ";
	return "";
}

/* net_memif's role, from its device arguments as the PMD reads them (it
 * takes any value containing "client" or the older "slave" as client). */
static bool memif_is_client(const struct rte_eth_dev_info *info)
{
	char role[32];

	if (strcmp(info->driver_name, "net_memif") != 0 ||
	    !sy_port_devarg(info, "role", role, sizeof(role)))
		return false; /* the PMD's default: server */
	return strstr(role, "client") || strstr(role, "slave");
}

/* The peer's refusal of a connection (a DPDK memif server with fewer rings
 * than we bring: "Disconnect received: Invalid ring index") is logged by
 * the PMD at INFO, below its default level: raise it unless the operator
 * asked for more already. */
static void memif_log_refusals(void)
{
	int type = rte_log_register("pmd.net.memif"); /* the PMD's: its id */

	if (type >= 0 && rte_log_get_level((uint32_t)type) < (int)RTE_LOG_INFO)
		rte_log_set_level((uint32_t)type, RTE_LOG_INFO);
}

bool sy_port_is_memif_client(uint16_t port)
{
	struct rte_eth_dev_info info;

	return rte_eth_dev_info_get(port, &info) == 0 && memif_is_client(&info);
}

int sy_port_queues_check(uint16_t port, const struct rte_eth_dev_info *info, uint16_t nq)
{
	if (info->max_rx_queues < nq || info->max_tx_queues < nq) {
		fprintf(stderr, "port %u (%s): %u workers need %u queue pairs, the port has %u rx / %u tx queues: %srun at most %u worker lcore(s)\n",
			port, info->driver_name, nq, nq, info->max_rx_queues, info->max_tx_queues,
			more_queues_hint(info->driver_name),
			info->max_rx_queues < info->max_tx_queues ? info->max_rx_queues
								  : info->max_tx_queues);
		return -1;
	}
	if (nq == 1 || strcmp(info->driver_name, "net_memif") != 0)
		return 0;
	if (!memif_is_client(info)) {
		fprintf(stderr, "port %u (net_memif, role=server): %u workers need %u queue pairs, and a memif server cannot check how many its peer connects with (DPDK 22.11 takes a peer with fewer, and the queues beyond them read the first queue's ring again): run 1 worker lcore, or make sy-dataplane the client (role=client) of a peer with %u queue pairs, which refuses the connection if it has fewer\n",
			port, nq, nq, nq);
		return -1;
	}
	memif_log_refusals();
	printf("level=info msg=\"memif client: the peer must take one ring pair per worker; a peer with fewer refuses the connection (the PMD logs 'Invalid ring index')\" port=%u queue_pairs=%u\n",
	       port, nq);
	return 0;
}
