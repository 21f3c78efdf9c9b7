/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Health checks through the tunnel (`check: { type: tcp, through: tunnel }`):
 * a TCP SYN to the VIP, encapsulated as the dataplane encapsulates traffic
 * (ipip, or gue: UDP to the service's gue_port), sent to the backend. A
 * backend that decapsulates it and holds the VIP answers with a SYN-ACK
 * from the VIP, straight back (direct server return) to the inner source,
 * this host's address towards the backend; this host's kernel, which has
 * no socket for it, resets the half-open connection. A plain check proves
 * only that the backend's own address answers; this one proves the path
 * real traffic takes. IPv4 and IPv6 VIPs alike, for the backends of the
 * VIP's family (outer and inner header of one family: IPv4 in IPv4, IPv6
 * in IPv6); a service's backends of the other family are checked directly.
 */
#ifndef SY_HEALTH_TUNNEL_H
#define SY_HEALTH_TUNNEL_H

#include <stddef.h>
#include <stdint.h>

struct sy_tunnel_probe {
	/* what to probe (addresses in wire order, IPv4 in [0]) */
	uint8_t family;        /* SY_AF_INET or SY_AF_INET6: the VIP's and the backend's */
	uint32_t vip[4];
	uint16_t vip_port;     /* wire order */
	uint32_t backend[4];
	uint32_t outer_src[4]; /* the service's encap_source4/6; all 0: the route's */
	uint16_t gue_port;     /* wire order; 0: ipip */
	/* what was sent, to match the answer */
	uint32_t inner_src[4];
	uint16_t sport;        /* wire order */
	uint32_t seq;          /* host order */
};

/* Raw sockets that see the TCP packets this host receives while they are
 * open, one per family (-1 where not asked for): opened before a batch's
 * probes are sent, closed after. */
struct sy_tunnel_listener {
	int fd4, fd6;
};
/* 0, or -errno (both fds -1 then). */
int sy_tunnel_listener_open(struct sy_tunnel_listener *l, int want4, int want6);
void sy_tunnel_listener_close(struct sy_tunnel_listener *l);

/* Send one probe. 0, or -errno: it did not leave this host (no route to
 * the backend, raw sockets not permitted), and the check is not sent. */
int sy_tunnel_probe_send(struct sy_tunnel_probe *t);

/* Whether this host has a route towards dst (wire order, IPv4 in [0]), and
 * the source address it would send from (src): 0, or -errno without one
 * (ENETUNREACH; EHOSTUNREACH, EACCES, EINVAL for an unreachable, prohibit
 * or blackhole route). Asks the kernel (a UDP socket connected, nothing
 * sent); health.c asks it before each check. */
int sy_source_towards(uint8_t family, const uint32_t dst[4], uint32_t src[4]);

/* What a packet says of probe t. */
enum sy_tunnel_answer {
	SY_TUNNEL_OTHER = 0, /* not an answer to t */
	SY_TUNNEL_SYNACK,    /* the VIP accepted the connection: up */
	SY_TUNNEL_RESET,     /* the VIP refused it: down */
};
/* An IPv4 packet read from the IPv4 listener (its IP header included). */
enum sy_tunnel_answer sy_tunnel_answer(const uint8_t *pkt, size_t len,
				       const struct sy_tunnel_probe *t);
/* A TCP segment read from the IPv6 listener (the kernel keeps the IPv6
 * header) and its source address (wire order). */
enum sy_tunnel_answer sy_tunnel_answer6(const uint32_t src[4], const uint8_t *tcp, size_t len,
					const struct sy_tunnel_probe *t);

#endif
