/* SPDX-License-Identifier: BSD-3-Clause */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <switchyard/flow_hash.h>

#include "netaddr.h"

int sy_parse_ip(const char *s, uint8_t *family, uint32_t addr[4])
{
	memset(addr, 0, 16);
	if (s && inet_pton(AF_INET, s, addr) == 1) {
		*family = SY_AF_INET;
		return 0;
	}
	if (s && inet_pton(AF_INET6, s, addr) == 1) {
		*family = SY_AF_INET6;
		return 0;
	}
	return -1;
}

int sy_parse_port(const char *s, unsigned *port)
{
	unsigned long v;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -1;
	v = strtoul(s, &end, 10);
	if (*end || v > 65535)
		return -1;
	*port = (unsigned)v;
	return 0;
}

int sy_parse_endpoint(const char *s, struct sy_backend_id *id)
{
	const char *colon;
	char addr[64];
	unsigned port;
	size_t n;

	memset(id, 0, sizeof(*id));
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			return -1;
		n = (size_t)(close - s - 1);
		colon = close + 1;
		s++;
	} else {
		colon = strrchr(s, ':');
		if (!colon || strchr(s, ':') != colon) /* bare IPv6 needs brackets */
			return -1;
		n = (size_t)(colon - s);
	}
	if (!n || n >= sizeof(addr))
		return -1;
	memcpy(addr, s, n);
	addr[n] = 0;
	if (sy_parse_ip(addr, &id->family, id->addr) || sy_parse_port(colon + 1, &port))
		return -1;
	id->port = (uint16_t)port;
	return 0;
}

int sy_parse_mac(const char *s, uint8_t mac[6])
{
	unsigned b[6];
	char tail;

	if (!s || sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
			 &tail) != 6)
		return -1;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	return 0;
}

const char *sy_backend_addr_unusable(uint8_t family, const uint32_t addr[4])
{
	static const uint8_t v4mapped[12] = { [10] = 0xff, [11] = 0xff };
	const uint8_t *b = (const uint8_t *)addr;

	if (family == SY_AF_INET6) {
		static const uint8_t zero[15];

		if (!memcmp(b, v4mapped, sizeof(v4mapped)))
			b += 12; /* judged as the IPv4 address it carries */
		else if (!memcmp(b, zero, 15) && b[15] == 0)
			return "the unspecified address (::)";
		else if (!memcmp(b, zero, 15) && b[15] == 1)
			return "the loopback address (::1)";
		else if (b[0] == 0xff)
			return "a multicast address (ff00::/8)";
		else
			return NULL;
	} else if (family != SY_AF_INET) {
		return "not an IP address";
	}
	if (!(b[0] | b[1] | b[2] | b[3]))
		return "the unspecified address (0.0.0.0)";
	if (b[0] == 0)
		return "an address in 0.0.0.0/8 (\"this network\": never a destination)";
	if (b[0] == 127)
		return "a loopback address (127.0.0.0/8)";
	if (b[0] >= 224 && b[0] <= 239)
		return "a multicast address (224.0.0.0/4)";
	if (b[0] == 255 && b[1] == 255 && b[2] == 255 && b[3] == 255)
		return "the broadcast address (255.255.255.255)";
	return NULL;
}

int sy_backend_id_check(const struct sy_backend_id *id, bool port0_ok, char *why, size_t len)
{
	const char *what = sy_backend_addr_unusable(id->family, id->addr);
	char a[INET6_ADDRSTRLEN];

	if (what) {
		sy_format_ip(id->family, id->addr, a, sizeof(a));
		snprintf(why, len, "%s cannot be a backend: %s", a, what);
		return -1;
	}
	if (id->port == 0 && !port0_ok) {
		snprintf(why, len, "port 0 cannot be a backend's port (1..65535; 0 only in an all-ports service)");
		return -1;
	}
	return 0;
}

int sy_check_http_base(const char *url, char *why, size_t len)
{
	const char *h, *p;
	unsigned port;
	size_t n;

	if (!strncmp(url, "http://", 7))
		h = url + 7;
	else if (!strncmp(url, "https://", 8))
		h = url + 8;
	else
		goto bad;
	if (*h == '[') {
		char a6[INET6_ADDRSTRLEN];
		uint32_t bin[4];

		p = strchr(h, ']');
		n = p ? (size_t)(p - h - 1) : 0;
		if (!n || n >= sizeof(a6))
			goto bad;
		memcpy(a6, h + 1, n);
		a6[n] = 0;
		if (inet_pton(AF_INET6, a6, bin) != 1)
			goto bad;
		p++;
	} else {
		n = strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-");
		if (!n)
			goto bad;
		p = h + n;
	}
	if (*p == ':') {
		char digits[8];

		n = strspn(p + 1, "0123456789");
		if (!n || n >= sizeof(digits))
			goto bad;
		memcpy(digits, p + 1, n);
		digits[n] = 0;
		if (sy_parse_port(digits, &port) || !port)
			goto bad;
		p += 1 + n;
	}
	if (*p == '/')
		p++;
	if (!*p)
		return 0;
bad:
	snprintf(why, len, "'%.200s' is not http://HOST[:PORT] (HOST a name, an IPv4 address or [IPV6])",
		 url);
	return -1;
}

void sy_format_ip(uint8_t family, const uint32_t *addr, char *buf, size_t len)
{
	if (!inet_ntop(family == SY_AF_INET ? AF_INET : AF_INET6, addr, buf, (socklen_t)len))
		snprintf(buf, len, "?");
}

void sy_format_endpoint(const struct sy_backend_id *id, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	sy_format_ip(id->family, id->addr, a, sizeof(a));
	snprintf(buf, len, id->family == SY_AF_INET ? "%s:%u" : "[%s]:%u", a, id->port);
}
