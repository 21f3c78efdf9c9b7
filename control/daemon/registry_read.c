/* SPDX-License-Identifier: BSD-3-Clause
 * Pure rules of reading the embedded registry; see registry_read.h. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "registry_read.h"

int sy_read_auth_status(enum sy_read_auth a)
{
	switch (a) {
	case SY_READ_OK:
		return 200;
	case SY_READ_NO_TOKEN:
	case SY_READ_BAD_TOKEN:
		return 401;
	case SY_READ_DISABLED:
	case SY_READ_ADDRESS:
	case SY_READ_FORBIDDEN:
		return 403;
	}
	return 500;
}

const char *sy_read_auth_str(enum sy_read_auth a)
{
	switch (a) {
	case SY_READ_OK:
		return "ok";
	case SY_READ_DISABLED:
		return "disabled";
	case SY_READ_ADDRESS:
		return "address";
	case SY_READ_NO_TOKEN:
		return "unauthenticated";
	case SY_READ_BAD_TOKEN:
		return "bad_token";
	case SY_READ_FORBIDDEN:
		return "forbidden";
	}
	return "?";
}

bool sy_read_service_allowed(const struct sy_read_policy *p, const char *service)
{
	if (!p->n_services)
		return true;
	for (size_t i = 0; i < p->n_services; i++)
		if (!strncmp(service, p->services[i], strlen(p->services[i])))
			return true;
	return false;
}

size_t sy_prefixes_of_config(const struct sy_config_prefix *in, size_t n, struct sy_prefix *out,
			     size_t cap)
{
	if (n > cap)
		n = cap;
	for (size_t i = 0; i < n; i++) {
		out[i].family = in[i].family;
		out[i].len = in[i].prefix_len;
		memcpy(out[i].addr, in[i].addr, sizeof(out[i].addr));
	}
	return n;
}

enum sy_read_auth sy_read_authorize(const struct sy_read_policy *p, uint8_t peer_family,
				    const uint32_t *peer_addr, const char *authorization,
				    const char *service, char *err, size_t errlen)
{
	if (!p->enabled) {
		snprintf(err, errlen, "reads are not enabled on this registry (registry.embedded.read)");
		return SY_READ_DISABLED;
	}
	if (p->n_peers && !sy_prefix_list_contains(p->peers, p->n_peers, peer_family, peer_addr)) {
		char a[64] = "?";

		if (peer_family)
			inet_ntop(peer_family == SY_AF_INET ? AF_INET : AF_INET6, peer_addr, a, sizeof(a));
		snprintf(err, errlen, "reader address %s is not in registry.embedded.read.allowed_prefixes", a);
		return SY_READ_ADDRESS;
	}
	if (p->token) {
		size_t n = strlen(p->token);

		if (!authorization || strncmp(authorization, "Bearer ", 7)) {
			snprintf(err, errlen, "a read needs the read token: Authorization: Bearer TOKEN");
			return SY_READ_NO_TOKEN;
		}
		/* the length is not secret; the bytes are compared in constant time */
		if (!n || strlen(authorization + 7) != n ||
		    CRYPTO_memcmp(authorization + 7, p->token, n)) {
			snprintf(err, errlen, "wrong read token");
			return SY_READ_BAD_TOKEN;
		}
	}
	if (service && !sy_read_service_allowed(p, service)) {
		snprintf(err, errlen, "service '%.64s' is outside the services this reader may read",
			 service);
		return SY_READ_FORBIDDEN;
	}
	return SY_READ_OK;
}

bool sy_read_token_is_key(const char *token, const uint8_t *key, size_t klen)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = strlen(token);

	if (n == klen && !memcmp(token, key, klen))
		return true;
	if (n != 2 * klen)
		return false;
	for (size_t i = 0; i < klen; i++) {
		char hi = token[2 * i], lo = token[2 * i + 1];

		hi = (char)(hi >= 'A' && hi <= 'F' ? hi - 'A' + 'a' : hi);
		lo = (char)(lo >= 'A' && lo <= 'F' ? lo - 'A' + 'a' : lo);
		if (hi != hex[key[i] >> 4] || lo != hex[key[i] & 15])
			return false;
	}
	return true;
}

/* Decimal digits only, no sign, no blanks, no overflow. */
static bool parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return false;
	for (; *s; s++) {
		unsigned dgt = (unsigned)(*s - '0');

		if (*s < '0' || *s > '9' || v > (UINT64_MAX - dgt) / 10)
			return false;
		v = v * 10 + dgt;
	}
	*out = v;
	return true;
}

int sy_read_query_parse(const char *index, const char *wait, struct sy_read_query *q, char *err,
			size_t errlen)
{
	*q = (struct sy_read_query){ 0 };
	if (index) {
		if (!parse_u64(index, &q->index)) {
			snprintf(err, errlen, "index: '%.32s' is not a revision (decimal digits)", index);
			return -1;
		}
		q->watch = true;
		q->wait_ms = SY_WATCH_DEFAULT_WAIT_MS;
	}
	if (wait) {
		char num[24];
		size_t n = strspn(wait, "0123456789");
		const char *unit = wait + n;
		uint64_t v, mult;

		if (!index) {
			snprintf(err, errlen, "wait without index: a watch needs the revision it waits past (?index=N&wait=T)");
			return -1;
		}
		if (!strcmp(unit, "ms"))
			mult = 1;
		else if (!strcmp(unit, "s") || !*unit)
			mult = 1000;
		else if (!strcmp(unit, "m"))
			mult = 60000;
		else
			mult = 0;
		if (!mult || !n || n >= sizeof(num)) {
			snprintf(err, errlen, "wait: '%.32s' is not a duration (e.g. 30s, 500ms, 5m)", wait);
			return -1;
		}
		memcpy(num, wait, n);
		num[n] = 0;
		if (!parse_u64(num, &v) || v == 0 || v > SY_WATCH_MAX_WAIT_MS / mult) {
			snprintf(err, errlen, "wait: '%.32s' is out of range (1ms..5m)", wait);
			return -1;
		}
		q->wait_ms = (uint32_t)(v * mult);
	}
	return 0;
}

uint64_t sy_revision_next(uint64_t last, uint64_t now_us)
{
	return now_us > last ? now_us : last + 1;
}

bool sy_revision_update(struct sy_revision *r, uint64_t content, uint64_t now_us)
{
	if (r->revision && r->content == content)
		return false;
	r->revision = sy_revision_next(r->revision, now_us);
	r->content = content;
	return true;
}

uint64_t sy_fnv64(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

const char *sy_read_refusal_str(enum sy_read_refusal r)
{
	static const char *const names[SY_REFUSED_N] = {
		"disabled", "address", "unauthenticated", "bad_token", "forbidden", "bad_request",
		"too_many_watchers", "stopping",
	};

	return (unsigned)r < SY_REFUSED_N ? names[r] : "?";
}

const char *sy_watch_wake_str(enum sy_watch_wake w)
{
	static const char *const names[SY_WAKE_N] = { "change", "timeout", "shutdown", "gone",
						       "closed" };

	return (unsigned)w < SY_WAKE_N ? names[w] : "?";
}
