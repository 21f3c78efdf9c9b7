/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Health checks through the tunnel: see health_tunnel.h. The inner packet's
 * headers and checksums are the packet core's (switchyard/pkt_hdr.h,
 * pkt_csum.h); the outer header is the kernel's (a raw IPIP socket, or a
 * UDP socket for gue), from the service's encap_source4 when this host may
 * send from it (IP_FREEBIND), else from the route's source.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <switchyard/pkt_csum.h>
#include <switchyard/pkt_hdr.h>

#include "health_tunnel.h"

#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_RST 0x04
#define TCP_FLAG_ACK 0x10

int sy_tunnel_listener_open(void)
{
	int fd = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);

	return fd < 0 ? -errno : fd;
}

/* The address this host sends from towards dst (wire order): a connected
 * UDP socket's, no packet sent. */
static int source_towards(uint32_t dst, uint32_t *src)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(9) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc = 0;

	if (fd < 0)
		return -errno;
	a.sin_addr.s_addr = dst;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) ||
	    getsockname(fd, (struct sockaddr *)&a, &len))
		rc = -errno;
	else
		*src = a.sin_addr.s_addr;
	close(fd);
	return rc;
}

/* The inner IPv4 TCP SYN, 40 bytes, into buf. */
static void build_syn(const struct sy_tunnel_probe *t, uint8_t buf[40])
{
	struct sy_ip4_hdr ip = {
		.ver_ihl = 0x45,
		.tot_len = htons(40),
		.id = (uint16_t)t->seq,
		.frag_off = htons(0x4000), /* DF */
		.ttl = 64,
		.proto = SY_IPPROTO_TCP,
		.saddr = t->inner_src,
		.daddr = t->vip,
	};
	struct sy_tcp_hdr tcp = {
		.sport = t->sport,
		.dport = t->vip_port,
		.seq = htonl(t->seq),
		.doff_res = 5 << 4,
		.flags = TCP_FLAG_SYN,
		.window = htons(1024),
	};

	uint32_t src = t->inner_src, dst = t->vip;

	ip.csum = sy_csum_fold(sy_csum_partial(&ip, sizeof(ip), 0));
	tcp.csum = sy_csum_fold(sy_csum_partial(&tcp, sizeof(tcp),
			sy_csum_pseudo(SY_AF_INET, &src, &dst, sizeof(tcp), SY_IPPROTO_TCP)));
	memcpy(buf, &ip, sizeof(ip));
	memcpy(buf + sizeof(ip), &tcp, sizeof(tcp));
}

int sy_tunnel_probe_send(struct sy_tunnel_probe *t)
{
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_addr.s_addr = t->backend };
	struct sockaddr_in from = { .sin_family = AF_INET, .sin_addr.s_addr = t->outer_src };
	uint32_t rnd[2];
	uint8_t pkt[40];
	int fd, one = 1, rc;

	rc = source_towards(t->backend, &t->inner_src);
	if (rc)
		return rc;
	if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
		return -EAGAIN;
	/* an ephemeral port: the kernel has no socket for it and resets the
	 * backend's half-open connection when the SYN-ACK arrives */
	t->sport = htons((uint16_t)(32768 + rnd[0] % 28232));
	t->seq = rnd[1];
	build_syn(t, pkt);
	if (t->gue_port) {
		fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		to.sin_port = t->gue_port;
	} else {
		fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_IPIP);
	}
	if (fd < 0)
		return -errno;
	/* the outer source of real traffic, if this host may send from it */
	if (t->outer_src) {
		setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof(one));
		(void)bind(fd, (struct sockaddr *)&from, sizeof(from));
	}
	rc = sendto(fd, pkt, sizeof(pkt), MSG_NOSIGNAL, (struct sockaddr *)&to, sizeof(to)) ==
			     (ssize_t)sizeof(pkt)
		     ? 0
		     : -errno;
	close(fd);
	return rc;
}

enum sy_tunnel_answer sy_tunnel_answer(const uint8_t *pkt, size_t len,
				       const struct sy_tunnel_probe *t)
{
	struct sy_ip4_hdr ip;
	struct sy_tcp_hdr tcp;
	size_t ihl;

	if (len < sizeof(ip))
		return SY_TUNNEL_OTHER;
	memcpy(&ip, pkt, sizeof(ip));
	ihl = (size_t)(ip.ver_ihl & 0xf) * 4;
	if ((ip.ver_ihl >> 4) != 4 || ihl < sizeof(ip) || len < ihl + sizeof(tcp) ||
	    ip.proto != SY_IPPROTO_TCP || ip.saddr != t->vip || ip.daddr != t->inner_src)
		return SY_TUNNEL_OTHER;
	memcpy(&tcp, pkt + ihl, sizeof(tcp));
	if (tcp.sport != t->vip_port || tcp.dport != t->sport ||
	    ntohl(tcp.ack) != t->seq + 1)
		return SY_TUNNEL_OTHER;
	if (tcp.flags & TCP_FLAG_RST)
		return SY_TUNNEL_RESET;
	if ((tcp.flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == (TCP_FLAG_SYN | TCP_FLAG_ACK))
		return SY_TUNNEL_SYNACK;
	return SY_TUNNEL_OTHER;
}
