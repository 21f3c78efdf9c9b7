/* SPDX-License-Identifier: BSD-3-Clause
 * Address, endpoint and MAC text <-> binary, for the API, syctl and metrics.
 * Addresses are wire order in uint32_t[4] (IPv4 in [0]); families are
 * SY_AF_INET / SY_AF_INET6. */
#ifndef SY_CONTROL_NETADDR_H
#define SY_CONTROL_NETADDR_H

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

void sy_format_ip(uint8_t family, const uint32_t *addr, char *buf, size_t len);
/* "198.18.0.11:80" or "[2001:2::1]:80". */
void sy_format_endpoint(const struct sy_backend_id *id, char *buf, size_t len);

#endif
