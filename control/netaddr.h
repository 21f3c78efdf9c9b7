/* SPDX-License-Identifier: BSD-3-Clause
 * Address, endpoint and MAC text <-> binary, for the API, syctl and metrics.
 * Addresses are wire order in uint32_t[4] (IPv4 in [0]); families are
 * SY_AF_INET / SY_AF_INET6. */
#ifndef SY_CONTROL_NETADDR_H
#define SY_CONTROL_NETADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <switchyard/maglev.h>

/* 0 or -1 (NULL, empty or not an IPv4/IPv6 address). */
int sy_parse_ip(const char *s, uint8_t *family, uint32_t addr[4]);
/* Decimal 0..65535 with nothing after it. */
int sy_parse_port(const char *s, unsigned *port);
/* "ADDR:PORT" or "[ADDR]:PORT" (IPv6). */
int sy_parse_endpoint(const char *s, struct sy_backend_id *id);
/* "aa:bb:cc:dd:ee:ff". */
int sy_parse_mac(const char *s, uint8_t mac[6]);

/* Whether an address can be a backend, the one rule for every way a backend
 * comes in (configuration, API, embedded registry, etcd, ZooKeeper, syctl
 * import-ipvs and register). NULL if it can, else what it is, e.g. "a
 * loopback address (127.0.0.0/8)". Refused: IPv4 0.0.0.0/8 (this network),
 * 127.0.0.0/8 (loopback), 224.0.0.0/4 (multicast), 255.255.255.255
 * (broadcast); IPv6 :: and ::1, ff00::/8 (multicast); IPv4-mapped IPv6
 * (::ffff:a.b.c.d) as the IPv4 address. A packet forwarded to any of them
 * cannot reach a server. Allowed: link-local, private, documentation and
 * benchmark ranges, and 240.0.0.0/4 (reserved, but used as private space). */
const char *sy_backend_addr_unusable(uint8_t family, const uint32_t addr[4]);
/* The same rule for an identity, into why ("127.0.0.1 cannot be a backend: a
 * loopback address (127.0.0.0/8)"); port 0 is refused unless port0_ok (an
 * all-ports service's backend, whose port is only part of its name).
 * Returns 0 or -1. */
int sy_backend_id_check(const struct sy_backend_id *id, bool port0_ok, char *why, size_t len);

/* A base URL of an HTTP service (the API over TCP, the embedded registry):
 * "http://HOST[:PORT]" or https, HOST a name, an IPv4 address or [IPV6],
 * PORT 1..65535, nothing after but one "/". 0, or -1 with why. */
int sy_check_http_base(const char *url, char *why, size_t len);

void sy_format_ip(uint8_t family, const uint32_t *addr, char *buf, size_t len);
/* "198.18.0.11:80" or "[2001:2::1]:80". */
void sy_format_endpoint(const struct sy_backend_id *id, char *buf, size_t len);

#endif
