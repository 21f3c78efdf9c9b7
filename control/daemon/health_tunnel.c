/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Health checks through the tunnel: see health_tunnel.h. The inner packet's
 * headers and checksums are the packet core's (switchyard/pkt_hdr.h,
 * pkt_csum.h); the outer header is the kernel's (a raw socket whose
 * protocol is the inner packet's, 4 or 41, or a UDP socket for gue), from
 * the service's encap source when this host may send from it (FREEBIND),
 * else from the route's source.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <switchyard/flow_hash.h>
#include <switchyard/pkt_csum.h>
#include <switchyard/pkt_hdr.h>

#include "health_tunnel.h"

#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_RST 0x04
#define TCP_FLAG_ACK 0x10

static int raw_tcp(int family)
{
	int fd = socket(family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);

	return fd < 0 ? -errno : fd;
}

void sy_tunnel_listener_close(struct sy_tunnel_listener *l)
{
	if (l->fd4 >= 0)
		close(l->fd4);
	if (l->fd6 >= 0)
		close(l->fd6);
	l->fd4 = l->fd6 = -1;
}

int sy_tunnel_listener_open(struct sy_tunnel_listener *l, int want4, int want6)
{
	int rc;

	l->fd4 = l->fd6 = -1;
	if (want4 && (rc = raw_tcp(AF_INET)) < 0)
		return rc;
	l->fd4 = want4 ? rc : -1;
	if (want6 && (rc = raw_tcp(AF_INET6)) < 0) {
		sy_tunnel_listener_close(l);
		return rc;
	}
	l->fd6 = want6 ? rc : -1;
	return 0;
}

/* A socket address of family with addr (wire order) and port. */
static socklen_t sockaddr_of(uint8_t family, const uint32_t addr[4], uint16_t port,
			     struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (family == SY_AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;

		a->sin_family = AF_INET;
		a->sin_port = port;
		a->sin_addr.s_addr = addr[0];
		return sizeof(*a);
	}
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

	a6->sin6_family = AF_INET6;
	a6->sin6_port = port;
	memcpy(&a6->sin6_addr, addr, 16);
	return sizeof(*a6);
}

/* The address this host sends from towards dst: a connected UDP socket's,
 * no packet sent. */
int sy_source_towards(uint8_t family, const uint32_t dst[4], uint32_t src[4])
{
	struct sockaddr_storage a;
	socklen_t len = sockaddr_of(family, dst, htons(9), &a);
	int fd = socket(a.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc = 0;

	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&a, len) || getsockname(fd, (struct sockaddr *)&a, &len))
		rc = -errno;
	else if (family == SY_AF_INET)
		src[0] = ((struct sockaddr_in *)&a)->sin_addr.s_addr;
	else
		memcpy(src, &((struct sockaddr_in6 *)&a)->sin6_addr, 16);
	close(fd);
	return rc;
}

/* The inner TCP SYN (IPv4: 40 bytes, IPv6: 60) into buf; its length. */
static size_t build_syn(const struct sy_tunnel_probe *t, uint8_t buf[60])
{
	struct sy_tcp_hdr tcp = {
		.sport = t->sport,
		.dport = t->vip_port,
		.seq = htonl(t->seq),
		.doff_res = 5 << 4,
		.flags = TCP_FLAG_SYN,
		.window = htons(1024),
	};
	size_t ipl;

	tcp.csum = sy_csum_fold(sy_csum_partial(&tcp, sizeof(tcp),
			sy_csum_pseudo(t->family, t->inner_src, t->vip, sizeof(tcp), SY_IPPROTO_TCP)));
	if (t->family == SY_AF_INET) {
		struct sy_ip4_hdr ip = {
			.ver_ihl = 0x45,
			.tot_len = htons(40),
			.id = (uint16_t)t->seq,
			.frag_off = htons(0x4000), /* DF */
			.ttl = 64,
			.proto = SY_IPPROTO_TCP,
			.saddr = t->inner_src[0],
			.daddr = t->vip[0],
		};

		ip.csum = sy_csum_fold(sy_csum_partial(&ip, sizeof(ip), 0));
		memcpy(buf, &ip, ipl = sizeof(ip));
	} else {
		struct sy_ip6_hdr ip6 = {
			.ver_tc_flow = htonl(6u << 28),
			.payload_len = htons(sizeof(tcp)),
			.nexthdr = SY_IPPROTO_TCP,
			.hop_limit = 64,
		};

		memcpy(ip6.saddr, t->inner_src, 16);
		memcpy(ip6.daddr, t->vip, 16);
		memcpy(buf, &ip6, ipl = sizeof(ip6));
	}
	memcpy(buf + ipl, &tcp, sizeof(tcp));
	return ipl + sizeof(tcp);
}

/* The socket that adds the outer header: UDP for gue, else raw with the
 * inner packet's protocol; bound to the outer source when there is one. */
static int outer_socket(const struct sy_tunnel_probe *t)
{
	int af = t->family == SY_AF_INET ? AF_INET : AF_INET6, one = 1, fd;
	struct sockaddr_storage from;
	socklen_t len;

	if (t->gue_port)
		fd = socket(af, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	else
		fd = socket(af, SOCK_RAW | SOCK_CLOEXEC,
			    t->family == SY_AF_INET ? IPPROTO_IPIP : IPPROTO_IPV6);
	if (fd < 0)
		return -errno;
	/* the outer source of real traffic, if this host may send from it */
	if (t->outer_src[0] | t->outer_src[1] | t->outer_src[2] | t->outer_src[3]) {
		if (af == AF_INET)
			setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof(one));
		else
			setsockopt(fd, IPPROTO_IPV6, IPV6_FREEBIND, &one, sizeof(one));
		len = sockaddr_of(t->family, t->outer_src, 0, &from);
		(void)bind(fd, (struct sockaddr *)&from, len);
	}
	return fd;
}

int sy_tunnel_probe_send(struct sy_tunnel_probe *t)
{
	struct sockaddr_storage to;
	socklen_t tolen;
	uint32_t rnd[2];
	uint8_t pkt[60];
	size_t n;
	int fd, rc;

	rc = sy_source_towards(t->family, t->backend, t->inner_src);
	if (rc)
		return rc;
	if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
		return -EAGAIN;
	/* an ephemeral port: the kernel has no socket for it and resets the
	 * backend's half-open connection when the SYN-ACK arrives */
	t->sport = htons((uint16_t)(32768 + rnd[0] % 28232));
	t->seq = rnd[1];
	n = build_syn(t, pkt);
	fd = outer_socket(t);
	if (fd < 0)
		return fd;
	/* port 0 for ipip: a raw IPv6 socket takes it as the protocol */
	tolen = sockaddr_of(t->family, t->backend, t->gue_port, &to);
	rc = sendto(fd, pkt, n, MSG_NOSIGNAL, (struct sockaddr *)&to, tolen) == (ssize_t)n ? 0
											   : -errno;
	close(fd);
	return rc;
}

/* The TCP part of an answer from the VIP. */
static enum sy_tunnel_answer tcp_answer(const uint8_t *seg, size_t len,
					const struct sy_tunnel_probe *t)
{
	struct sy_tcp_hdr tcp;

	if (len < sizeof(tcp))
		return SY_TUNNEL_OTHER;
	memcpy(&tcp, seg, sizeof(tcp));
	if (tcp.sport != t->vip_port || tcp.dport != t->sport || ntohl(tcp.ack) != t->seq + 1)
		return SY_TUNNEL_OTHER;
	if (tcp.flags & TCP_FLAG_RST)
		return SY_TUNNEL_RESET;
	if ((tcp.flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == (TCP_FLAG_SYN | TCP_FLAG_ACK))
		return SY_TUNNEL_SYNACK;
	return SY_TUNNEL_OTHER;
}

enum sy_tunnel_answer sy_tunnel_answer(const uint8_t *pkt, size_t len,
				       const struct sy_tunnel_probe *t)
{
	struct sy_ip4_hdr ip;
	size_t ihl;

	if (t->family != SY_AF_INET || len < sizeof(ip))
		return SY_TUNNEL_OTHER;
	memcpy(&ip, pkt, sizeof(ip));
	ihl = (size_t)(ip.ver_ihl & 0xf) * 4;
	if ((ip.ver_ihl >> 4) != 4 || ihl < sizeof(ip) || len < ihl || ip.proto != SY_IPPROTO_TCP ||
	    ip.saddr != t->vip[0] || ip.daddr != t->inner_src[0])
		return SY_TUNNEL_OTHER;
	return tcp_answer(pkt + ihl, len - ihl, t);
}

enum sy_tunnel_answer sy_tunnel_answer6(const uint32_t src[4], const uint8_t *tcp, size_t len,
					const struct sy_tunnel_probe *t)
{
	if (t->family != SY_AF_INET6 || memcmp(src, t->vip, 16))
		return SY_TUNNEL_OTHER;
	return tcp_answer(tcp, len, t);
}
