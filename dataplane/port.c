/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Port setup: one RX/TX queue pair per worker on every port, RSS across them,
 * and an exception TAP per port (same MAC as the port) through which non-VIP
 * traffic reaches the kernel and the kernel's answers leave. The mbuf pool
 * is made here too, once every port's MTU is known (port_mtu.c): one mbuf
 * holds the largest frame any port receives.
 */
#include <net/if.h>
#include <stdio.h>

#include <rte_bus_vdev.h>
#include <rte_dev.h>
#include <rte_devargs.h>
#include <rte_ethdev.h>
#include <rte_kvargs.h>
#include <rte_log.h>

#include "dataplane.h"

#define RX_DESC 1024
#define TX_DESC 1024

bool sy_port_devarg(const struct rte_eth_dev_info *info, const char *key, char *buf,
		    size_t len)
{
	const struct rte_devargs *da = info->device ? rte_dev_devargs(info->device) : NULL;
	struct rte_kvargs *kv;
	const char *v;
	bool found = false;

	if (!da || !da->args || !*da->args)
		return false;
	kv = rte_kvargs_parse(da->args, NULL);
	if (!kv)
		return false;
	v = rte_kvargs_get(kv, key);
	if (v) {
		snprintf(buf, len, "%s", v);
		found = true;
	}
	rte_kvargs_free(kv);
	return found;
}

/* mtu: set through ethdev (0: leave ethdev's default, for af_packet) */
static int setup_queues(struct sy_dataplane *dp, uint16_t port, bool rss, uint16_t mtu)
{
	struct rte_eth_conf conf = { .rxmode.mtu = mtu };
	struct rte_eth_dev_info info;
	uint16_t nq = (uint16_t)dp->n_workers, rxd = RX_DESC, txd = TX_DESC;
	int socket = rte_eth_dev_socket_id(port), rc;

	rc = rte_eth_dev_info_get(port, &info);
	if (rc)
		return rc;
	if (sy_port_queues_check(port, &info, nq))
		return -1;
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
	if (mtu && sy_port_mtu_apply(port, mtu))
		return -1;
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

/* The TAP's addresses (--tap-address), its link up and its routes
 * (--tap-route): on every start, as the TAP is new on every start. */
static int configure_tap(struct sy_dataplane *dp, const struct sy_dp_port *p)
{
	const struct sy_dp_opts *o = &dp->opts;
	char ifname[IF_NAMESIZE], err[256];
	unsigned n = 0;

	for (unsigned i = 0; i < o->n_tap_items; i++)
		n += o->tap_items[i].port == p->port_id;
	if (!n)
		return 0;
	snprintf(ifname, sizeof(ifname), "%s%u", o->tap_prefix, p->port_id);
	if (sy_tap_configure(ifname, p->port_id, o->tap_items, o->n_tap_items, err, sizeof(err))) {
		fprintf(stderr, "level=error msg=\"cannot configure the exception interface\" "
				"error=\"%s\"\n", err);
		return -1;
	}
	for (unsigned i = 0; i < o->n_tap_items; i++)
		if (o->tap_items[i].port == p->port_id)
			printf("level=info msg=\"exception interface %s\" iface=%s %s=%s\n",
			       o->tap_items[i].route ? "route" : "address", ifname,
			       o->tap_items[i].route ? "route" : "address", o->tap_items[i].text);
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
	/* the kernel side gets the port's MTU, so that what the kernel sends
	 * fits the port (and the TAP, which takes at most 1500 in DPDK 22.11) */
	p->tap_mtu = sy_tap_mtu(p->tap_id, p->mtu);
	if (setup_queues(dp, p->tap_id, false, p->tap_mtu)) {
		fprintf(stderr, "cannot start exception TAP %s\n", name);
		return -1;
	}
	p->has_tap = true;
	printf("level=info msg=\"exception interface\" port=%u iface=%s%u mtu=%u\n", p->port_id,
	       dp->opts.tap_prefix, p->port_id, p->tap_mtu);
	return configure_tap(dp, p);
}

/* rx + tx rings of every queue of every port and TAP, plus bursts in flight */
static unsigned int pool_size(const struct sy_dataplane *dp)
{
	unsigned int rings = dp->n_ports * (dp->opts.exception_tap ? 2u : 1u);
	unsigned int n = rings * dp->n_workers * (RX_DESC + TX_DESC) + dp->n_workers * 512u;

	return n < 8191 ? 8191 : n;
}

static int create_pool(struct sy_dataplane *dp)
{
	uint32_t room = sy_frame_room(RTE_ETHER_MTU); /* TAPs: at most 1500 */

	for (uint16_t i = 0; i < dp->n_ports; i++)
		if (dp->ports[i].rx_room > room)
			room = dp->ports[i].rx_room;
	room += RTE_PKTMBUF_HEADROOM;
	if (room > UINT16_MAX) {
		fprintf(stderr, "frames of %u bytes do not fit an mbuf (at most %u)\n", room,
			UINT16_MAX);
		return -1;
	}
	dp->pool = rte_pktmbuf_pool_create("sy_mbufs", pool_size(dp), 256, 0, (uint16_t)room,
					   (int)rte_socket_id());
	if (!dp->pool) {
		fprintf(stderr, "cannot create a pool of %u mbufs of %u bytes: %s\n", pool_size(dp),
			room, rte_strerror(rte_errno));
		return -1;
	}
	printf("level=info msg=\"mbuf pool\" mbufs=%u data_room=%u\n", pool_size(dp), room);
	return 0;
}

int sy_ports_init(struct sy_dataplane *dp)
{
	uint16_t port;

	/* every port's MTU first: the pool's mbufs must hold the largest */
	dp->n_ports = 0;
	RTE_ETH_FOREACH_DEV(port) {
		struct sy_dp_port *p;

		if (dp->n_ports == SY_MAX_PORTS) {
			fprintf(stderr, "more than %d ports\n", SY_MAX_PORTS);
			return -1;
		}
		p = &dp->ports[dp->n_ports++];
		p->port_id = port;
		if (sy_port_mtu_plan(p, dp->opts.mtu))
			return -1;
	}
	if (!dp->n_ports) {
		fprintf(stderr, "no DPDK port: give one with -a PCI or --vdev (e.g. net_af_packet0,iface=eth0)\n");
		return -1;
	}
	if (create_pool(dp))
		return -1;
	for (uint16_t i = 0; i < dp->n_ports; i++) {
		struct sy_dp_port *p = &dp->ports[i];

		if (rte_eth_macaddr_get(p->port_id, &p->mac) ||
		    setup_queues(dp, p->port_id, true, p->mtu_via_ethdev ? p->mtu : 0)) {
			fprintf(stderr, "cannot set up port %u\n", p->port_id);
			return -1;
		}
		p->memif_client = sy_port_is_memif_client(p->port_id);
		printf("level=info msg=\"port\" port=%u mac=%02x:%02x:%02x:%02x:%02x:%02x mtu=%u\n",
		       p->port_id, p->mac.addr_bytes[0], p->mac.addr_bytes[1], p->mac.addr_bytes[2],
		       p->mac.addr_bytes[3], p->mac.addr_bytes[4], p->mac.addr_bytes[5], p->mtu);
	}
	/* TAPs are created after the scan so they are not taken as ports. */
	for (unsigned i = 0; i < dp->opts.n_tap_items; i++) { /* each for a port there is */
		const struct sy_tap_item *it = &dp->opts.tap_items[i];
		uint16_t k = 0;

		while (k < dp->n_ports && dp->ports[k].port_id != it->port)
			k++;
		if (k == dp->n_ports) {
			fprintf(stderr, "--tap-%s %s: there is no port %u\n",
				it->route ? "route" : "address", it->text, it->port);
			return -1;
		}
	}
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
