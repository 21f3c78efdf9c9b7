/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The etcd registry's data format and the small pieces of etcd's v3 JSON
 * gateway both sides need (sy-control's etcd source and `syctl register
 * --registry etcd://...`). Pure functions, no I/O: unit-tested.
 *
 *   key   <prefix><service>/<address>:<port>      ([address]:port for IPv6)
 *   value {"weight": 0..65535, "zone": "a", "metadata": {...}}  (all optional;
 *         weight defaults to 1)
 *
 * The gateway speaks standard base64 for keys and values, and 64-bit numbers
 * (revisions, lease IDs) as JSON strings.
 */
#ifndef SY_CONTROL_ETCD_KV_H
#define SY_CONTROL_ETCD_KV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <switchyard/maglev.h>
#include <switchyard/region.h>

#define SY_ETCD_ZONE_MAX 32       /* as struct sy_be's zone, NUL included */
#define SY_ETCD_METADATA_MAX 1024 /* as struct sy_be's metadata, NUL included */

/* Standard base64 with padding. Returns a malloc'd NUL-terminated string, or
 * NULL when out of memory. */
char *sy_b64_encode(const void *in, size_t n);
/* Decodes standard base64 (padding optional, no whitespace) into a malloc'd
 * buffer with a NUL after the *outlen bytes. NULL if malformed or out of
 * memory. */
uint8_t *sy_b64_decode(const char *in, size_t *outlen);

/* The range_end of a prefix range: the prefix with its last byte incremented
 * (a prefix of 0xff bytes only has none: "\0", all keys). Writes into out
 * (room for strlen(prefix) + 1); returns its length. */
size_t sy_etcd_range_end(const char *prefix, char *out);

/* A number etcd sends as a JSON string (or, tolerated, an integer). */
bool sy_etcd_u64(const json_t *v, uint64_t *out);

struct sy_etcd_entry {
	char service[SY_NAME_MAX];
	struct sy_backend_id id;
	uint32_t weight;
	uint32_t server_id;                  /* QUIC server ID, 0 = none */
	char zone[SY_ETCD_ZONE_MAX];
	char metadata[SY_ETCD_METADATA_MAX]; /* compact JSON object or "" */
};

/* Key bytes (not NUL-terminated, any bytes) -> service and backend. The key
 * must start with prefix. 0, or -1 with the reason in why. */
int sy_etcd_parse_key(const uint8_t *key, size_t len, const char *prefix,
		      struct sy_etcd_entry *e, char *why, size_t whylen);
/* A backend's name in a registry (the end of an etcd key, a ZooKeeper
 * znode's name): "198.18.0.11:80" or "[2001:db8::1]:80", canonical (as
 * sy_format_endpoint writes it: two names never mean one backend), and a
 * possible backend (netaddr.h's rule, port 1..65535). 0, or -1 with the
 * reason in why. */
int sy_registry_endpoint_parse(const char *ep, struct sy_backend_id *id, char *why,
			       size_t whylen);
/* Value bytes -> weight, zone, metadata, server_id of e. 0, or -1 with the
 * reason. */
int sy_etcd_parse_value(const uint8_t *val, size_t len, struct sy_etcd_entry *e, char *why,
			size_t whylen);
/* The ZooKeeper registry's znode data (source_zookeeper.c): a JSON object
 * with optional weight (0..65535, default 1), zone ([A-Za-z0-9_.-]{0,31}),
 * metadata (an object, stored compact with sorted keys) and server_id (a
 * QUIC server ID, 1..16777215); other keys are ignored; empty data means
 * all defaults. Fills weight, zone, metadata and server_id of e (only
 * those). 0, or -1 with the reason in why. */
int sy_zk_parse_value(const char *buf, size_t len, struct sy_etcd_entry *e, char *why,
		      size_t whylen);
/* The optional "server_id" of a registry value (etcd, ZooKeeper): a QUIC
 * server ID 1..16777215 into *out (0 when absent). 0, or -1 with the
 * reason in why. */
int sy_registry_value_server_id(const json_t *value, uint32_t *out, char *why, size_t whylen);

/* The key of a backend: prefix + service + "/" + endpoint. Returns the
 * length, or -1 if it does not fit. */
int sy_etcd_format_key(const char *prefix, const char *service, const struct sy_backend_id *id,
		       char *buf, size_t len);
/* One kv of a gateway answer ({"key": b64, "value": b64, ...}: a range's
 * kvs[i], a watch event's kv) -> e. with_value false: the key only (a
 * DELETE event). 0; -1 if the key is not a backend's (e tells nothing);
 * -2 if the key is a backend's but its value is not (e->service and e->id
 * are set: the caller drops that backend). The reason in why, the key's
 * printable form in key (may be NULL). */
int sy_etcd_kv_parse(const json_t *kv, const char *prefix, bool with_value,
		     struct sy_etcd_entry *e, char *key, size_t keylen, char *why, size_t whylen);
/* An etcd registry URL as `syctl register` and `syctl resolve` take it,
 * etcd://HOST:PORT[,HOST:PORT...][/PREFIX/], into endpoints
 * ("http://HOST:PORT,...") and prefix (default SY_ETCD_DEFAULT_PREFIX,
 * ending with '/'). 0, or -1 with the reason in why. */
#define SY_ETCD_DEFAULT_PREFIX "/switchyard/services/"
int sy_etcd_url_parse(const char *url, char *endpoints, size_t eplen, char *prefix,
		      size_t prefixlen, char *why, size_t whylen);
/* Those endpoints to be spoken to over TLS (the TLS files are given): each
 * "http://HOST:PORT" of the list becomes "https://HOST:PORT", in place. 0,
 * or -1 (endpoints unchanged) when the list no longer fits in len. */
int sy_etcd_endpoints_tls(char *endpoints, size_t len);
/* Printable form of arbitrary key bytes for a log line: non-printable bytes,
 * quotes and backslashes as \xNN, truncated to fit. */
void sy_etcd_printable(const uint8_t *s, size_t len, char *buf, size_t buflen);

#endif
