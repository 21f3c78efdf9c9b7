/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Authentication of the embedded registry protocol (docs/control.md,
 * "Embedded registry protocol"): service keys, HMAC-SHA256 signatures over the
 * raw body, a bounded replay (nonce) cache, allowed-prefix lists, and the
 * strict parser and authorizer of a registration body.
 *
 * Crypto is OpenSSL's libcrypto (HMAC-SHA256, CRYPTO_memcmp); JSON is jansson.
 * Nothing here keeps global state or reads the clock: every time is passed in
 * as now_ms, so the caller decides the clock and tests are deterministic.
 *
 * Addresses follow include/switchyard/flow_hash.h: family SY_AF_INET or
 * SY_AF_INET6, and addr[] holds the address's wire-order bytes (an IPv4 address
 * in addr[0], addr[1..3] zero).
 */
#ifndef SWITCHYARD_CONTROL_AUTH_H
#define SWITCHYARD_CONTROL_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "switchyard/flow_hash.h" /* SY_AF_INET, SY_AF_INET6 */

/* ---- keys ---------------------------------------------------------------- */

#define SY_KEY_MIN 32 /* bytes; shorter keys are refused */
#define SY_KEY_MAX 64 /* bytes; longer keys are refused (HMAC-SHA256 would
		       * only hash a key longer than its 64-byte block) */

/* Loads a service key from `path`. The file holds either
 *   - hex: one run of at least 64 hex digits (an even number), optionally
 *     surrounded by whitespace/newlines, which are trimmed; or
 *   - raw bytes: anything else, used exactly as stored, at least 32 bytes.
 * Content made only of hex digits is always read as hex (so a 40-digit hex key
 * is a too-short 20-byte key, never a 40-byte raw one).
 * The file must be a regular file not accessible by group or others
 * (mode & 077 == 0).
 * `key` must have room for SY_KEY_MAX bytes; on success *len is the key's
 * length (SY_KEY_MIN..SY_KEY_MAX). Returns 0, or -1 with a message naming the
 * file in err (err may be NULL). Nothing is written to key or *len on failure. */
int sy_key_load(const char *path, uint8_t *key, size_t *len, char *err,
		size_t errlen);

/* ---- signatures ---------------------------------------------------------- */

#define SY_SIG_HEX_LEN 64 /* hex digits of an HMAC-SHA256 */

/* hex_out = lowercase hex HMAC-SHA256(key, body) and a NUL. On an (unexpected)
 * libcrypto failure hex_out is the empty string, which no verify accepts. */
void sy_hmac_sign(const uint8_t *key, size_t klen, const void *body, size_t len,
		  char hex_out[SY_SIG_HEX_LEN + 1]);

/* True iff hex_sig is exactly 64 hex digits (either case) equal to
 * HMAC-SHA256(key, body). The comparison is constant time; a NULL, truncated,
 * over-long or non-hex signature is false. */
bool sy_hmac_verify(const uint8_t *key, size_t klen, const void *body,
		    size_t len, const char *hex_sig);

/* ---- replay cache -------------------------------------------------------- */

#define SY_NONCE_MIN 16 /* characters of [0-9A-Za-z_-] */
#define SY_NONCE_MAX 64
#define SY_NONCE_CACHE_MAX_CAPACITY (1u << 24)

/* True iff s is SY_NONCE_MIN..SY_NONCE_MAX characters of [0-9A-Za-z_-]. */
bool sy_nonce_valid(const char *s);

struct sy_nonce_entry {
	uint64_t expires_ms; /* forgotten once now_ms >= expires_ms */
	uint64_t hash;
	uint8_t len;
	char nonce[SY_NONCE_MAX];
};

/* Remembers up to `capacity` nonces, each for at least window_ms. Entries live
 * in a FIFO ring (expiry order) indexed by an open-addressing hash table
 * (linear probing, load <= 1/2, keyed SipHash so chosen nonces cannot collide
 * on purpose); check-and-add is O(1) on average and memory is fixed at init.
 * Memory: about 96 bytes per entry (88 in the ring, 2 x 4 in the table).
 * Not thread-safe: one cache per thread, or a lock around it. Fields are
 * private. */
struct sy_nonce_cache {
	struct sy_nonce_entry *entries; /* ring of `capacity` entries */
	uint32_t *slots;                /* entry index + 1, 0 = empty */
	uint32_t capacity;
	uint32_t nslots; /* power of two >= 2 * capacity */
	uint32_t head;   /* oldest entry */
	uint32_t count;  /* live entries */
	uint64_t window_ms;
	uint64_t last_expires_ms; /* expiries are kept non-decreasing */
	uint64_t sipkey[2];
};

/* capacity 1..SY_NONCE_CACHE_MAX_CAPACITY, window_ms > 0. Returns 0, or -1
 * (bad argument, out of memory, or no randomness for the hash key). */
int sy_nonce_cache_init(struct sy_nonce_cache *cache, size_t capacity,
			uint64_t window_ms);
void sy_nonce_cache_destroy(struct sy_nonce_cache *cache);

#define SY_NONCE_FRESH 0
#define SY_NONCE_REPLAY (-1)
#define SY_NONCE_FULL (-2)    /* full of unexpired nonces: refuse (fail closed) */
#define SY_NONCE_INVALID (-3) /* not a valid nonce (sy_nonce_valid) */

/* First forgets entries that expired at now_ms, then: SY_NONCE_REPLAY if the
 * nonce is remembered; SY_NONCE_FULL if the cache holds `capacity` unexpired
 * nonces (nothing is forgotten early); else remembers it until
 * now_ms + window_ms and returns SY_NONCE_FRESH. Expiries never decrease, so a
 * clock that steps back makes entries live longer, never shorter. */
int sy_nonce_check_and_add(struct sy_nonce_cache *cache, const char *nonce,
			   uint64_t now_ms);

/* Live entries (after the last call's expiry pass). */
size_t sy_nonce_cache_count(const struct sy_nonce_cache *cache);

/* ---- prefixes ------------------------------------------------------------ */

struct sy_prefix {
	uint8_t family; /* SY_AF_INET or SY_AF_INET6 */
	uint8_t len;    /* 0..32 or 0..128 */
	uint32_t addr[4]; /* wire order; bits beyond len are zero */
};

#define SY_PREFIX_SYNTAX (-1)
#define SY_PREFIX_HOST_BITS (-2) /* e.g. 198.18.0.1/24 */

/* Parses "198.18.0.0/24" or "2001:2::/48" (the /len is required; no spaces).
 * An IPv4-mapped IPv6 prefix of length >= 96 (::ffff:198.18.0.0/120) is stored
 * as the IPv4 prefix it denotes (198.18.0.0/24). Returns 0, SY_PREFIX_SYNTAX,
 * or SY_PREFIX_HOST_BITS. */
int sy_prefix_parse(const char *s, struct sy_prefix *p);

/* Writes "a.b.c.d/len" or "x::/len" (buf of at least 64 bytes is enough). */
void sy_prefix_format(const struct sy_prefix *p, char *buf, size_t buflen);

/* True iff addr (wire order) lies in one of the prefixes. An IPv4-mapped IPv6
 * address (::ffff:a.b.c.d) is judged as the IPv4 address a.b.c.d, against the
 * IPv4 prefixes only, so an IPv4 peer is treated alike whether it reached a
 * dual-stack socket or an IPv4 one. An empty list contains nothing. */
bool sy_prefix_list_contains(const struct sy_prefix *list, size_t n,
			     uint8_t family, const uint32_t *addr);

/* ---- registrations ------------------------------------------------------- */

#define SY_REG_MAX_BODY 4096

struct sy_registration {
	char service[64];       /* [A-Za-z0-9_.-]{1,63} */
	uint8_t family;         /* SY_AF_INET / SY_AF_INET6 (mapped -> INET) */
	uint32_t addr[4];       /* wire order */
	uint16_t port;          /* 1..65535 */
	uint32_t weight;        /* 0..65535, default 1 */
	char zone[32];          /* [A-Za-z0-9_.-]{0,31}, default "" */
	char metadata_json[1024]; /* compact, keys sorted; "" when absent */
	uint32_t server_id;     /* QUIC server ID 1..0xffffff, 0 when absent */
	uint32_t ttl_s;         /* 2..3600, 0 = the service's default */
	uint64_t timestamp_ms;  /* agent's wall clock, ms since the epoch */
	char nonce[65];         /* see sy_nonce_valid */
};

/* Strict parse of a registration body: at most SY_REG_MAX_BODY bytes of valid
 * UTF-8 holding one JSON object (no trailing data, no duplicate keys), with the
 * required fields service, address, port, timestamp_ms, nonce and the optional
 * weight, zone, metadata (an object), ttl_s, server_id; any other field is an error, and
 * so is an address no backend can have (netaddr.h). Returns 0, or -1 with a
 * message naming the field or the body's flaw in err (err may be NULL). r is
 * fully written on success (zeroed on failure).
 * A server parses a body before it authenticates it: the body names the
 * service whose key verifies it, and a malformed one is answered as such
 * whatever its signature. Nothing in it is trusted before
 * sy_registration_authorize. */
int sy_registration_parse(const char *body, size_t len,
			  struct sy_registration *r, char *err, size_t errlen);

/* Agent side: writes the canonical compact body (fields in the order service,
 * address, port, weight, zone?, metadata?, ttl_s?, timestamp_ms, nonce; the
 * optional ones only when set) and its signature. If r->nonce is empty a
 * random 32-hex-digit nonce from getrandom() is used. The result is checked
 * with sy_registration_parse. Returns 0 (body NUL-terminated; its length is
 * strlen(body)), or -1 (invalid registration, too small a buffer, a key
 * shorter than SY_KEY_MIN, no randomness), leaving body and sig_hex empty. */
int sy_registration_build(const struct sy_registration *r, const uint8_t *key,
			  size_t klen, char *body, size_t body_cap,
			  char sig_hex[SY_SIG_HEX_LEN + 1]);

enum sy_auth_result {
	SY_AUTH_OK = 0,
	SY_AUTH_MALFORMED,     /* 400 */
	SY_AUTH_BAD_SIGNATURE, /* 401: also a missing/short policy key, or a body
				*      for another service than policy->service */
	SY_AUTH_STALE,         /* 401: |now - timestamp_ms| > max_skew_ms */
	SY_AUTH_REPLAY,        /* 401 */
	SY_AUTH_PREFIX,        /* 403: peer or registered address not allowed */
	SY_AUTH_TOO_LARGE,     /* 413: body over SY_REG_MAX_BODY */
	SY_AUTH_BUSY,          /* 503: replay cache full of live nonces */
};

/* The HTTP status for a result (200, 400, 401, 403, 413, 503). */
int sy_auth_http_status(enum sy_auth_result res);
const char *sy_auth_result_str(enum sy_auth_result res);

struct sy_auth_policy {
	const uint8_t *key; /* the service's key: at least SY_KEY_MIN bytes */
	size_t klen;
	const struct sy_prefix *prefixes; /* allowed_prefixes; empty = none */
	size_t n_prefixes;
	uint64_t max_skew_ms;
	/* If not NULL, the body's service must be this one (the service whose key
	 * this is). Set it whenever the key was chosen from the body. */
	const char *service;
};

/* Authorizes one registration: r is what sy_registration_parse made of the
 * same body bytes (a server gets there only with a well-formed body), and
 * policy->key the key of the service r names. In this order (only an
 * accepted request consumes its nonce):
 *   1. size            -> SY_AUTH_TOO_LARGE
 *   2. signature over the raw bytes -> SY_AUTH_BAD_SIGNATURE
 *   3. r->service != policy->service (a key chosen for another service)
 *                      -> SY_AUTH_BAD_SIGNATURE
 *   4. |now_ms - timestamp_ms| <= max_skew_ms -> else SY_AUTH_STALE
 *   5. the peer's address, then the registered address, in the prefixes
 *                      -> SY_AUTH_PREFIX
 *   6. the nonce, recorded until at least timestamp_ms + max_skew_ms (the last
 *      instant step 4 would still pass) and at least the cache's window
 *                      -> SY_AUTH_REPLAY, or SY_AUTH_BUSY if the cache is full
 * err says why a request is refused (err may be NULL). sig_hex may be NULL
 * (no signature header). Use one nonce cache for every endpoint that accepts
 * these bodies (/v1/register and /v1/deregister), since the signature does
 * not cover the path. */
enum sy_auth_result sy_registration_authorize(
	const struct sy_auth_policy *p, const char *body, size_t len,
	const struct sy_registration *r, const char *sig_hex,
	uint8_t peer_family, const uint32_t *peer_addr, uint64_t now_ms,
	struct sy_nonce_cache *cache, char *err, size_t errlen);

#endif
