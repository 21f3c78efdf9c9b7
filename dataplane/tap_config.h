/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The exception TAP's kernel side, configured by sy-dataplane itself
 * (`--tap-address`, `--tap-route`): the TAP exists only while sy-dataplane
 * runs, so an address or a route added by hand is gone after a restart, and
 * with it the host's path to the backends (the embedded registry's
 * heartbeats, health checks, BGP). Each TAP that sy-dataplane creates gets
 * its addresses, is set up, then gets its routes, on every start.
 */
#ifndef SY_TAP_CONFIG_H
#define SY_TAP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SY_TAP_MAX_ITEMS 32 /* addresses and routes together */

/* An address of a TAP, or a route through it. */
struct sy_tap_item {
	bool route;         /* a route: prefix is its destination */
	uint16_t port;      /* the DPDK port whose TAP gets it */
	uint8_t family;     /* AF_INET or AF_INET6 */
	uint8_t prefixlen;
	uint8_t prefix[16]; /* wire order: the address, or the route's destination */
	uint8_t gateway[16]; /* a route's next hop, on the TAP's network */
	char text[80];      /* as given, for the log and errors */
};

/* --tap-address "ADDR/LEN[@PORT]" (port 0 by default) into it; 0, or -1
 * with the reason in err. */
int sy_tap_address_parse(const char *s, struct sy_tap_item *it, char *err, size_t errlen);

/* --tap-route "DEST/LEN,GATEWAY[@PORT]" (DEST may be "default") into it; 0,
 * or -1 with the reason in err. */
int sy_tap_route_parse(const char *s, struct sy_tap_item *it, char *err, size_t errlen);

/* Give interface ifname the addresses of port `port` among the n items (an
 * address it has already is kept), set it up, then add the port's routes
 * (one there already is replaced): 0, or -1 with the reason in err. */
int sy_tap_configure(const char *ifname, uint16_t port, const struct sy_tap_item *it, unsigned n,
		     char *err, size_t errlen);

#endif
