/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The exception TAP's kernel side, configured by sy-dataplane itself
 * (`--tap-address`): the TAP exists only while sy-dataplane runs, so an
 * address added by hand is gone after a restart, and with it the host's
 * path to the backends (the embedded registry's heartbeats, health checks,
 * BGP). Each TAP that sy-dataplane creates gets its addresses and is set
 * up, on every start.
 */
#ifndef SY_TAP_CONFIG_H
#define SY_TAP_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define SY_TAP_MAX_ADDRS 16

struct sy_tap_addr {
	uint16_t port;      /* the DPDK port whose TAP gets it */
	uint8_t family;     /* AF_INET or AF_INET6 */
	uint8_t prefixlen;
	uint8_t addr[16];   /* wire order */
	char text[64];      /* as given, for the log */
};

/* "ADDR/LEN" or "ADDR/LEN@PORT" (port 0 by default) into a; 0, or -1 with
 * the reason in err. */
int sy_tap_addr_parse(const char *s, struct sy_tap_addr *a, char *err, size_t errlen);

/* Add those of the n addresses of port `port` to interface ifname (an
 * address it has already is kept) and set it up: 0, or -1 with the reason
 * in err. */
int sy_tap_configure(const char *ifname, uint16_t port, const struct sy_tap_addr *a, unsigned n,
		     char *err, size_t errlen);

#endif
