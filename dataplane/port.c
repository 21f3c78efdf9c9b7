/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Port setup: one RX/TX queue pair per worker on every port, RSS across them,
 * and an exception TAP per port (same MAC as the port) through which non-VIP
 * traffic reaches the kernel and the kernel's answers leave.
 */
#include <stdio.h>

#include <rte_bus_vdev.h>
#include <rte_ethdev.h>
#include <rte_log.h>

#include "dataplane.h"

#define RX_DESC 1024
#define TX_DESC 1024

static int setup_queues(struct sy_dataplane *dp, uint16_t port, bool rss)
{
	struct rte_eth_conf conf = { 0 };
	struct rte_eth_dev_info info;
	uint16_t nq = (uint16_t)dp->n_workers, rxd = RX_DESC, txd = TX_DESC;
	int socket = rte_eth_dev_socket_id(port), rc;

	rc = rte_eth_dev_info_get(port, &info);
	if (rc)
		return rc;
	if (info.max_rx_queues < nq || info.max_tx_queues < nq) {
		fprintf(stderr, "port %u (%s): %u workers need %u queues, the port has %u rx / %u tx\n",
			port, info.driver_name, nq, nq, info.max_rx_queues, info.max_tx_queues);
		return -1;
	}
	if (rss && nq > 1) {
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_hf =
			(RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP) &
			info.flow_type_rss_offloads;
		if (!conf.rx_adv_conf.rss_conf.rss_hf) {
			conf.rxmode.mq_mode = RTE_ETH_MQ_RX_NONE;
			printf("level=warn msg=\"port has no RSS; relying on the driver's own queue spreading\" port=%u driver=%s\n",
			       port, info.driver_name);
		}
	}
	rc = rte_eth_dev_configure(port, nq, nq, &conf);
	if (rc)
		return rc;
	rc = rte_eth_dev_adjust_nb_rx_tx_desc(port, &rxd, &txd);
	if (rc)
		return rc;
	for (uint16_t q = 0; q < nq; q++) {
		rc = rte_eth_rx_queue_setup(port, q, rxd, (unsigned int)socket, NULL, dp->pool);
		if (rc)
			return rc;
		rc = rte_eth_tx_queue_setup(port, q, txd, (unsigned int)socket, NULL);
		if (rc)
			return rc;
	}
	rc = rte_eth_dev_start(port);
	if (rc)
		return rc;
	rte_eth_promiscuous_enable(port); /* not every PMD supports it; fine */
	return 0;
}

static int create_tap(struct sy_dataplane *dp, struct sy_dp_port *p)
{
	char name[64], args[128];
	const struct rte_ether_addr *m = &p->mac;

	snprintf(name, sizeof(name), "net_tap_sy%u", p->port_id);
	snprintf(args, sizeof(args), "iface=%s%u,mac=%02x:%02x:%02x:%02x:%02x:%02x",
		 dp->opts.tap_prefix, p->port_id, m->addr_bytes[0], m->addr_bytes[1],
		 m->addr_bytes[2], m->addr_bytes[3], m->addr_bytes[4], m->addr_bytes[5]);
	if (rte_vdev_init(name, args)) {
		fprintf(stderr, "cannot create exception TAP %s (%s)\n", name, args);
		return -1;
	}
	if (rte_eth_dev_get_port_by_name(name, &p->tap_id)) {
		fprintf(stderr, "exception TAP %s has no port\n", name);
		return -1;
	}
	if (setup_queues(dp, p->tap_id, false)) {
		fprintf(stderr, "cannot start exception TAP %s\n", name);
		return -1;
	}
	p->has_tap = true;
	printf("level=info msg=\"exception interface\" port=%u iface=%s%u\n", p->port_id,
	       dp->opts.tap_prefix, p->port_id);
	return 0;
}

int sy_ports_init(struct sy_dataplane *dp)
{
	uint16_t port;

	dp->n_ports = 0;
	RTE_ETH_FOREACH_DEV(port) {
		struct sy_dp_port *p;

		if (dp->n_ports == SY_MAX_PORTS) {
			fprintf(stderr, "more than %d ports\n", SY_MAX_PORTS);
			return -1;
		}
		p = &dp->ports[dp->n_ports++];
		p->port_id = port;
		if (rte_eth_macaddr_get(port, &p->mac) || setup_queues(dp, port, true)) {
			fprintf(stderr, "cannot set up port %u\n", port);
			return -1;
		}
		if (rte_eth_dev_get_mtu(port, &p->mtu) || p->mtu == 0)
			p->mtu = 1500;
		if (dp->opts.mtu)
			p->mtu = dp->opts.mtu;
	}
	if (!dp->n_ports) {
		fprintf(stderr, "no DPDK port: give one with -a PCI or --vdev (e.g. net_af_packet0,iface=eth0)\n");
		return -1;
	}
	/* TAPs are created after the scan so they are not taken as ports. */
	for (uint16_t i = 0; dp->opts.exception_tap && i < dp->n_ports; i++)
		if (create_tap(dp, &dp->ports[i]))
			return -1;
	return 0;
}

void sy_ports_close(struct sy_dataplane *dp)
{
	for (uint16_t i = 0; i < dp->n_ports; i++) {
		struct sy_dp_port *p = &dp->ports[i];

		rte_eth_dev_stop(p->port_id);
		rte_eth_dev_close(p->port_id);
		if (p->has_tap) {
			rte_eth_dev_stop(p->tap_id);
			rte_eth_dev_close(p->tap_id);
		}
	}
}
