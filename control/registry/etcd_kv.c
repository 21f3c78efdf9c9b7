/* SPDX-License-Identifier: BSD-3-Clause
 * The etcd registry's key/value format and JSON-gateway helpers; see etcd_kv.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <switchyard/pkt_quic.h> /* SY_QUIC_SERVER_ID_MAX */

#include "etcd_kv.h"
#include "netaddr.h"
#include "registry_kinds.h"

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *sy_b64_encode(const void *in, size_t n)
{
	const uint8_t *p = in;
	char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		*o++ = b64chars[(v >> 18) & 63];
		*o++ = b64chars[(v >> 12) & 63];
		*o++ = i + 1 < n ? b64chars[(v >> 6) & 63] : '=';
		*o++ = i + 2 < n ? b64chars[v & 63] : '=';
	}
	*o = 0;
	return out;
}

static int b64val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

uint8_t *sy_b64_decode(const char *in, size_t *outlen)
{
	size_t n = strlen(in), len = 0;
	uint32_t acc = 0;
	int bits = 0;
	uint8_t *out;

	while (n && in[n - 1] == '=')
		n--;
	if (strlen(in) - n > 2 || n % 4 == 1)
		return NULL;
	out = malloc(n / 4 * 3 + 3 + 1);
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		int v = b64val(in[i]);

		if (v < 0) {
			free(out);
			return NULL;
		}
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[len++] = (uint8_t)(acc >> bits);
		}
	}
	out[len] = 0;
	*outlen = len;
	return out;
}

size_t sy_etcd_range_end(const char *prefix, char *out)
{
	size_t n = strlen(prefix);

	memcpy(out, prefix, n + 1);
	while (n && (uint8_t)out[n - 1] == 0xff)
		out[--n] = 0;
	if (!n) {
		out[0] = 0; /* "\0": every key */
		return 1;
	}
	out[n - 1] = (char)((uint8_t)out[n - 1] + 1);
	return n;
}

bool sy_etcd_u64(const json_t *v, uint64_t *out)
{
	const char *s;
	char *end;

	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		*out = (uint64_t)json_integer_value(v);
		return true;
	}
	if (!json_is_string(v))
		return false;
	s = json_string_value(v);
	if (*s < '0' || *s > '9')
		return false;
	*out = strtoull(s, &end, 10);
	return *end == 0;
}

static bool name_char(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.' || c == '-';
}

int sy_etcd_parse_key(const uint8_t *key, size_t len, const char *prefix,
		      struct sy_etcd_entry *e, char *why, size_t whylen)
{
	size_t pl = strlen(prefix), sl = 0;
	const uint8_t *rest;
	char ep[80];
	size_t rl;

	memset(e, 0, sizeof(*e));
	if (len < pl || memcmp(key, prefix, pl)) {
		snprintf(why, whylen, "not under the prefix %s", prefix);
		return -1;
	}
	rest = key + pl;
	rl = len - pl;
	while (sl < rl && rest[sl] != '/')
		sl++;
	if (sl == rl) {
		snprintf(why, whylen, "want <prefix><service>/<address>:<port>");
		return -1;
	}
	if (!sl || sl >= SY_NAME_MAX) {
		snprintf(why, whylen, "service name of 1..%d characters expected", SY_NAME_MAX - 1);
		return -1;
	}
	for (size_t i = 0; i < sl; i++)
		if (!name_char(rest[i])) {
			snprintf(why, whylen, "service name: only A-Z a-z 0-9 _ . -");
			return -1;
		}
	memcpy(e->service, rest, sl);
	e->service[sl] = 0;
	rest += sl + 1;
	rl -= sl + 1;
	if (!rl || rl >= sizeof(ep) || memchr(rest, 0, rl)) {
		snprintf(why, whylen, "want <address>:<port> after the service");
		return -1;
	}
	memcpy(ep, rest, rl);
	ep[rl] = 0;
	return sy_registry_endpoint_parse(ep, &e->id, why, whylen);
}

int sy_registry_endpoint_parse(const char *ep, struct sy_backend_id *id, char *why, size_t whylen)
{
	char canon[80];

	if (strlen(ep) >= sizeof(canon) || sy_parse_endpoint(ep, id)) {
		snprintf(why, whylen, "'%.80s' is not <address>:<port> ([address]:port for IPv6)", ep);
		return -1;
	}
	/* one spelling per backend, so that two names never mean one */
	sy_format_endpoint(id, canon, sizeof(canon));
	if (strcmp(canon, ep)) {
		snprintf(why, whylen, "'%s' is not canonical: write %s", ep, canon);
		return -1;
	}
	/* registered by a server for itself: a real address and port */
	return sy_backend_id_check(id, false, why, whylen);
}

int sy_registry_value_server_id(const json_t *value, uint32_t *out, char *why, size_t whylen)
{
	const json_t *v = json_object_get(value, "server_id");

	*out = 0;
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 1 ||
	    json_integer_value(v) > SY_QUIC_SERVER_ID_MAX) {
		snprintf(why, whylen, "server_id: an integer 1..%u expected (a QUIC server ID)",
			 SY_QUIC_SERVER_ID_MAX);
		return -1;
	}
	*out = (uint32_t)json_integer_value(v);
	return 0;
}

int sy_etcd_parse_value(const uint8_t *val, size_t len, struct sy_etcd_entry *e, char *why,
			size_t whylen)
{
	json_error_t jerr;
	json_t *j, *w, *z, *m;
	int rc = -1;

	e->weight = 1;
	e->server_id = 0;
	e->zone[0] = 0;
	e->metadata[0] = 0;
	if (!len)
		return 0; /* an empty value: all defaults */
	j = json_loadb((const char *)val, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(j)) {
		snprintf(why, whylen, "value is not a JSON object%s%s", j ? "" : ": ",
			 j ? "" : jerr.text);
		goto out;
	}
	/* other fields are ignored: later writers may add some */
	w = json_object_get(j, "weight");
	z = json_object_get(j, "zone");
	m = json_object_get(j, "metadata");
	if (w) {
		if (!json_is_integer(w) || json_integer_value(w) < 0 ||
		    json_integer_value(w) > 65535) {
			snprintf(why, whylen, "weight: an integer 0..65535 expected");
			goto out;
		}
		e->weight = (uint32_t)json_integer_value(w);
	}
	if (sy_registry_value_server_id(j, &e->server_id, why, whylen))
		goto out;
	if (z) {
		const char *s = json_string_value(z);
		size_t n = s ? strlen(s) : 0;

		if (!s || n >= SY_ETCD_ZONE_MAX) {
			snprintf(why, whylen, "zone: a string of 0..%d characters expected",
				 SY_ETCD_ZONE_MAX - 1);
			goto out;
		}
		for (size_t i = 0; i < n; i++)
			if (!name_char((uint8_t)s[i])) {
				snprintf(why, whylen, "zone: only A-Z a-z 0-9 _ . -");
				goto out;
			}
		memcpy(e->zone, s, n + 1);
	}
	if (m) {
		char *txt;

		if (!json_is_object(m)) {
			snprintf(why, whylen, "metadata: a JSON object expected");
			goto out;
		}
		txt = json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS);
		if (!txt || strlen(txt) >= SY_ETCD_METADATA_MAX) {
			snprintf(why, whylen, "metadata: over %d bytes", SY_ETCD_METADATA_MAX - 1);
			free(txt);
			goto out;
		}
		memcpy(e->metadata, txt, strlen(txt) + 1);
		free(txt);
	}
	rc = 0;
out:
	json_decref(j);
	return rc;
}

/* ---- ZooKeeper znode values ---------------------------------------------- */

static bool zk_zone_ok(const char *z)
{
	size_t n = strlen(z);

	if (n > 31)
		return false;
	for (; *z; z++)
		if (!((*z >= 'a' && *z <= 'z') || (*z >= 'A' && *z <= 'Z') ||
		      (*z >= '0' && *z <= '9') || *z == '_' || *z == '.' || *z == '-'))
			return false;
	return true;
}

int sy_zk_parse_value(const char *buf, size_t len, struct sy_etcd_entry *c, char *why,
		      size_t whylen)
{
	json_error_t e;
	json_t *j, *v;
	int rc = -1;

	c->weight = 1;
	c->server_id = 0;
	c->zone[0] = 0;
	c->metadata[0] = 0;
	if (len == 0)
		return 0;
	j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &e);
	if (!j) {
		snprintf(why, whylen, "value is not JSON: %s", e.text);
		return -1;
	}
	if (!json_is_object(j)) {
		snprintf(why, whylen, "value is not a JSON object");
		goto out;
	}
	v = json_object_get(j, "weight");
	if (v) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) > 65535) {
			snprintf(why, whylen, "weight must be an integer 0..65535");
			goto out;
		}
		c->weight = (uint32_t)json_integer_value(v);
	}
	if (sy_registry_value_server_id(j, &c->server_id, why, whylen))
		goto out;
	v = json_object_get(j, "zone");
	if (v) {
		if (!json_is_string(v) || !zk_zone_ok(json_string_value(v))) {
			snprintf(why, whylen, "zone must be a string of [A-Za-z0-9_.-]{0,31}");
			goto out;
		}
		snprintf(c->zone, sizeof(c->zone), "%s", json_string_value(v));
	}
	v = json_object_get(j, "metadata");
	if (v) {
		size_t n;

		if (!json_is_object(v)) {
			snprintf(why, whylen, "metadata must be a JSON object");
			goto out;
		}
		n = json_dumpb(v, c->metadata, sizeof(c->metadata), JSON_COMPACT | JSON_SORT_KEYS);
		if (n == 0 || n >= sizeof(c->metadata)) {
			c->metadata[0] = 0;
			snprintf(why, whylen, "metadata over %zu bytes", sizeof(c->metadata) - 1);
			goto out;
		}
		c->metadata[n] = 0;
	}
	rc = 0;
out:
	json_decref(j);
	return rc;
}

int sy_etcd_format_key(const char *prefix, const char *service, const struct sy_backend_id *id,
		       char *buf, size_t len)
{
	char ep[80];
	int n;

	sy_format_endpoint(id, ep, sizeof(ep));
	n = snprintf(buf, len, "%s%s/%s", prefix, service, ep);
	return n < 0 || (size_t)n >= len ? -1 : n;
}

void sy_etcd_printable(const uint8_t *s, size_t len, char *buf, size_t buflen)
{
	size_t o = 0;

	if (!buflen)
		return;
	for (size_t i = 0; i < len && o + 5 < buflen; i++) {
		if (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"' && s[i] != '\\')
			buf[o++] = (char)s[i];
		else
			o += (size_t)snprintf(buf + o, buflen - o, "\\x%02x", s[i]);
	}
	buf[o] = 0;
}

int sy_etcd_kv_parse(const json_t *kv, const char *prefix, bool with_value,
		     struct sy_etcd_entry *e, char *key, size_t keylen, char *why, size_t whylen)
{
	const char *kb = json_string_value(json_object_get(kv, "key"));
	const char *vb = json_string_value(json_object_get(kv, "value"));
	size_t klen = 0, vlen = 0;
	uint8_t *k = kb ? sy_b64_decode(kb, &klen) : NULL;
	uint8_t *v = with_value ? sy_b64_decode(vb ? vb : "", &vlen) : NULL;
	int rc = -1;

	memset(e, 0, sizeof(*e));
	if (key && keylen)
		snprintf(key, keylen, "?");
	if (!k || (with_value && !v)) {
		snprintf(why, whylen, "%s", json_is_object(kv) ? "bad base64 from etcd"
							       : "a kv that is not an object");
		goto out;
	}
	if (key && keylen)
		sy_etcd_printable(k, klen, key, keylen);
	if (sy_etcd_parse_key(k, klen, prefix, e, why, whylen))
		goto out;
	rc = with_value && sy_etcd_parse_value(v, vlen, e, why, whylen) ? -2 : 0;
out:
	free(k);
	free(v);
	return rc;
}

const char *sy_registry_prefix_check(const char *prefix, bool folder)
{
	size_t n = strlen(prefix);

	if (folder)
		return prefix[0] == '/' && prefix[n - 1] == '/' ? NULL : "must start and end with '/'";
	return prefix[0] == '/' && !(n > 1 && prefix[n - 1] == '/')
		       ? NULL
		       : "must start with '/' and not end with it";
}

int sy_etcd_url_parse(const char *url, char *endpoints, size_t eplen, char *prefix,
		      size_t prefixlen, char *why, size_t whylen)
{
	const char *p, *slash;
	size_t hl, off = 0;

	if (strncmp(url, "etcd://", 7)) {
		snprintf(why, whylen, "not etcd://HOST:PORT[,HOST:PORT...][/PREFIX/]");
		return -1;
	}
	p = url + 7;
	slash = strchr(p, '/');
	hl = slash ? (size_t)(slash - p) : strlen(p);
	if (snprintf(prefix, prefixlen, "%s", slash && strcmp(slash, "/") ? slash
									: SY_ETCD_DEFAULT_PREFIX) >=
	    (int)prefixlen) {
		snprintf(why, whylen, "the etcd prefix is too long");
		return -1;
	}
	if (sy_registry_prefix_check(prefix, SY_REGISTRY_FOLDER_ETCD)) { /* it starts with '/' */
		snprintf(why, whylen, "the etcd prefix must end with '/'");
		return -1;
	}
	endpoints[0] = 0;
	for (size_t i = 0; i < hl;) {
		size_t n = strcspn(p + i, ",/");
		int w;

		if (n > hl - i)
			n = hl - i;
		if (!n) {
			snprintf(why, whylen, "an empty HOST:PORT in '%s'", url);
			return -1;
		}
		w = snprintf(endpoints + off, eplen - off, "%shttp://%.*s", off ? "," : "", (int)n, p + i);
		if (w < 0 || (size_t)w >= eplen - off) {
			snprintf(why, whylen, "too many etcd endpoints");
			return -1;
		}
		off += (size_t)w;
		i += n + 1;
	}
	if (!off) {
		snprintf(why, whylen, "no etcd endpoint in '%s'", url);
		return -1;
	}
	return 0;
}

int sy_etcd_endpoints_tls(char *endpoints, size_t len)
{
	size_t n = strlen(endpoints), http = 0;

	for (const char *p = endpoints; *p;) {
		size_t m = strcspn(p, ",");

		http += m >= 7 && !strncmp(p, "http://", 7);
		p += m + (p[m] == ',');
	}
	if (n + http >= len)
		return -1;
	for (char *p = endpoints; *p;) {
		size_t m = strcspn(p, ",");

		if (m >= 7 && !strncmp(p, "http://", 7)) {
			memmove(p + 5, p + 4, strlen(p + 4) + 1); /* "http" "s" "://..." */
			p[4] = 's';
			m++;
		}
		p += m + (p[m] == ',');
	}
	return 0;
}
