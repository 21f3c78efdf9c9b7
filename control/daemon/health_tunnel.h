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
 * real traffic takes. IPv4 only (the check is refused for IPv6 VIPs; IPv6
 * backends of an IPv4 VIP are checked directly).
 */
#ifndef SY_HEALTH_TUNNEL_H
#define SY_HEALTH_TUNNEL_H

#include <stddef.h>
#include <stdint.h>

struct sy_tunnel_probe {
	/* what to probe (wire order) */
	uint32_t vip;
	uint16_t vip_port;
	uint32_t backend;
	uint32_t outer_src; /* the service's encap_source4 */
	uint16_t gue_port;  /* 0: ipip */
	/* what was sent (wire order), to match the answer */
	uint32_t inner_src;
	uint16_t sport;
	uint32_t seq;       /* host order */
};

/* A raw socket that sees the TCP packets this host receives while it is
 * open: opened before a batch's probes are sent, closed after. -errno. */
int sy_tunnel_listener_open(void);

/* Send one probe. 0, or -errno (no route to the backend, raw sockets not
 * permitted: the check fails). */
int sy_tunnel_probe_send(struct sy_tunnel_probe *t);

/* What an IPv4 packet read from the listener says of probe t. */
enum sy_tunnel_answer {
	SY_TUNNEL_OTHER = 0, /* not an answer to t */
	SY_TUNNEL_SYNACK,    /* the VIP accepted the connection: up */
	SY_TUNNEL_RESET,     /* the VIP refused it: down */
};
enum sy_tunnel_answer sy_tunnel_answer(const uint8_t *pkt, size_t len,
				       const struct sy_tunnel_probe *t);

#endif
