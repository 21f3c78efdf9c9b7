/* SPDX-License-Identifier: BSD-3-Clause
 *
 * How large a frame each port carries, decided before any port starts: the
 * L3 MTU the packet path encapsulates to (--mtu, else the port's own),
 * checked against what the port can receive whole and send, and the mbuf
 * data room a frame of that size needs (one mbuf per frame: the packet path
 * works on contiguous frames). A port that cannot carry the MTU is an error
 * at start naming the port and its limit, never frames truncated later.
 *
 * net_af_packet is a case of its own. DPDK 22.11 reports a fixed 1518-byte
 * frame for it and refuses any MTU above 1500 through ethdev, while what it
 * really carries is set by the kernel interface's MTU (which the kernel
 * enforces on receive and send) and by the size of the PMD's ring frames
 * (framesz=, default 2048): the kernel truncates a frame that does not fit
 * in one, and it arrives as a length error.
 */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <rte_ethdev.h>

#include "dataplane.h"

/* af_packet (TPACKET_V2, as the PMD sets up): the kernel writes a frame's
 * network header at TPACKET_ALIGN(TPACKET2_HDRLEN + 16) = 80 bytes into
 * its ring frame, so a ring frame of framesz bytes holds IP packets of up
 * to framesz - 80 bytes. The PMD wants an mbuf able to take a whole ring
 * frame but its 32-byte header: framesz - 32 bytes of data room. */
#define AFP_DEFAULT_FRAMESZ 2048u
#define AFP_NET_OFFSET 80u
#define AFP_FRAME_HDR 32u

uint32_t sy_frame_room(uint32_t mtu)
{
	/* whole KiB: some PMDs round a receive buffer down to one */
	uint32_t room = (mtu + SY_FRAME_L2_MAX + 1023u) & ~1023u;

	return room < RTE_MBUF_DEFAULT_DATAROOM ? RTE_MBUF_DEFAULT_DATAROOM : room;
}

/* The af_packet port's ring frame size, as its device arguments give it. */
static uint32_t afp_framesz(const struct rte_eth_dev_info *info)
{
	char v[32];

	if (!sy_port_devarg(info, "framesz", v, sizeof(v)))
		return AFP_DEFAULT_FRAMESZ;
	return (uint32_t)strtoul(v, NULL, 0); /* the PMD validated it */
}

static int iface_mtu(unsigned int ifindex, char name[IF_NAMESIZE], unsigned int *mtu)
{
	struct ifreq ifr = { 0 };
	int s, rc;

	if (!if_indextoname(ifindex, name))
		return -1;
	s = socket(AF_INET, SOCK_DGRAM, 0);
	if (s < 0)
		return -1;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	rc = ioctl(s, SIOCGIFMTU, &ifr);
	close(s);
	if (rc)
		return -1;
	*mtu = (unsigned int)ifr.ifr_mtu;
	return 0;
}

static int plan_af_packet(struct sy_dp_port *p, const struct rte_eth_dev_info *info,
			  uint16_t want)
{
	uint32_t framesz = afp_framesz(info), fits = framesz - AFP_NET_OFFSET;
	char ifname[IF_NAMESIZE];
	unsigned int kmtu;

	if (iface_mtu(info->if_index, ifname, &kmtu)) {
		fprintf(stderr, "port %u (%s): cannot read the MTU of its interface (index %u): %s\n",
			p->port_id, info->driver_name, info->if_index, strerror(errno));
		return -1;
	}
	p->mtu = want ? want : (uint16_t)(kmtu < SY_MTU_MAX ? kmtu : SY_MTU_MAX);
	if (p->mtu < SY_MTU_MIN) {
		fprintf(stderr, "port %u (%s, iface %s): MTU %u is below %u\n", p->port_id,
			info->driver_name, ifname, p->mtu, SY_MTU_MIN);
		return -1;
	}
	if (p->mtu > kmtu) {
		fprintf(stderr,
			"port %u (%s, iface %s): --mtu %u is above the interface's MTU %u, which the kernel enforces on this port: raise it (ip link set dev %s mtu %u) or lower --mtu\n",
			p->port_id, info->driver_name, ifname, p->mtu, kmtu, ifname, p->mtu);
		return -1;
	}
	if (p->mtu > fits) {
		fprintf(stderr,
			"port %u (%s, iface %s): MTU %u does not fit its ring frames: framesz=%u holds IP packets of at most %u bytes; give the vdev framesz=N with N >= %u, a multiple of 16, and blocksz=B a multiple of the page size >= N (e.g. blocksz=16384,framesz=16384), or lower %s\n",
			p->port_id, info->driver_name, ifname, p->mtu, framesz, fits,
			p->mtu + AFP_NET_OFFSET, want ? "--mtu" : "the interface's MTU or give --mtu");
		return -1;
	}
	if (kmtu > fits)
		printf("level=warn msg=\"interface MTU above what the ring frames hold: larger frames arrive truncated and are dropped (drop_ipv4_length)\" port=%u iface=%s iface_mtu=%u framesz=%u max_ip_packet=%u\n",
		       p->port_id, ifname, kmtu, framesz, fits);
	p->rx_room = framesz - AFP_FRAME_HDR;
	if (p->rx_room < sy_frame_room(p->mtu))
		p->rx_room = sy_frame_room(p->mtu);
	p->mtu_via_ethdev = false;
	return 0;
}

/* The largest MTU ethdev lets a port have. Its own rule (22.11): the frame
 * is the MTU plus an overhead the driver implies by its two maxima, else
 * Ethernet header and FCS, and must not exceed max_rx_pktlen. */
static uint32_t ethdev_mtu_limit(const struct rte_eth_dev_info *info)
{
	uint32_t overhead = info->max_mtu != UINT16_MAX && info->max_rx_pktlen > info->max_mtu
				    ? info->max_rx_pktlen - info->max_mtu
				    : RTE_ETHER_HDR_LEN + RTE_ETHER_CRC_LEN;
	uint32_t limit = info->max_rx_pktlen > overhead ? info->max_rx_pktlen - overhead : 0;

	return limit < info->max_mtu ? limit : info->max_mtu;
}

int sy_port_mtu_plan(struct sy_dp_port *p, uint16_t want)
{
	struct rte_eth_dev_info info;
	uint32_t limit;
	uint16_t cur = 0;
	int rc;

	rc = rte_eth_dev_info_get(p->port_id, &info);
	if (rc) {
		fprintf(stderr, "port %u: no device information: %s\n", p->port_id,
			rte_strerror(-rc));
		return -1;
	}
	if (strcmp(info.driver_name, "net_af_packet") == 0)
		return plan_af_packet(p, &info, want);

	limit = ethdev_mtu_limit(&info);
	if (rte_eth_dev_get_mtu(p->port_id, &cur) || !cur)
		cur = RTE_ETHER_MTU;
	p->mtu = want ? want : cur;
	if (p->mtu > limit || p->mtu < info.min_mtu || p->mtu < SY_MTU_MIN) {
		fprintf(stderr,
			"port %u (%s): cannot do MTU %u: it receives frames of at most %u bytes (MTU %u..%u)\n",
			p->port_id, info.driver_name, p->mtu, info.max_rx_pktlen, info.min_mtu, limit);
		return -1;
	}
	p->rx_room = sy_frame_room(p->mtu);
	p->mtu_via_ethdev = true;
	return 0;
}

int sy_port_mtu_apply(uint16_t port, uint16_t mtu)
{
	uint16_t got = 0;
	int rc;

	/* configure() took rxmode.mtu; drivers that keep an MTU of their own
	 * (a kernel interface behind af_xdp or tap, mlx5) set it here. A driver
	 * without the operation receives what its dev_info said. */
	rc = rte_eth_dev_set_mtu(port, mtu);
	if (rc && rc != -ENOTSUP) {
		fprintf(stderr, "port %u: cannot set MTU %u: %s\n", port, mtu, rte_strerror(-rc));
		return -1;
	}
	if (rte_eth_dev_get_mtu(port, &got) == 0 && got != mtu) {
		fprintf(stderr, "port %u: MTU is %u after setting %u\n", port, got, mtu);
		return -1;
	}
	return 0;
}

uint16_t sy_tap_mtu(uint16_t tap, uint16_t port_mtu)
{
	struct rte_eth_dev_info info;

	/* DPDK 22.11's TAP takes frames of up to 1522 bytes: above that, the
	 * kernel side keeps the standard MTU and host traffic its MSS */
	if (port_mtu <= RTE_ETHER_MTU ||
	    (rte_eth_dev_info_get(tap, &info) == 0 && port_mtu <= ethdev_mtu_limit(&info)))
		return port_mtu;
	return RTE_ETHER_MTU;
}
