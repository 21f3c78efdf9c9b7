/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Embedded registry authentication: see auth.h and docs/control.md.
 */
#include "auth.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <switchyard/pkt_quic.h> /* SY_QUIC_SERVER_ID_MAX */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "netaddr.h" /* the backend address rule */

#define SY_KEY_FILE_MAX 4096 /* bytes read from a key file at most */

/* ---- small helpers ------------------------------------------------------- */

static void __attribute__((format(printf, 3, 4)))
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Copies untrusted text into buf for an error message: printable ASCII only,
 * at most 40 characters. */
static const char *sanitize(const char *s, size_t n, char *buf, size_t buflen)
{
	size_t i, o = 0;

	for (i = 0; i < n && o + 4 < buflen; i++) {
		unsigned char c = (unsigned char)s[i];

		if (o >= 40) {
			buf[o++] = '.';
			buf[o++] = '.';
			buf[o++] = '.';
			break;
		}
		buf[o++] = (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') ? (char)c : '?';
	}
	buf[o] = '\0';
	return buf;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static void hex_encode(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static int fill_random(void *buf, size_t n)
{
	uint8_t *p = buf;

	while (n > 0) {
		ssize_t r = getrandom(p, n, 0);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static bool is_space(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
	       c == '\f';
}

static bool is_name_char(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z') || c == '_' || c == '.' || c == '-';
}

static void addr_str(uint8_t family, const uint32_t *addr, char *buf,
		     size_t buflen)
{
	if (!addr || (family != SY_AF_INET && family != SY_AF_INET6) ||
	    !inet_ntop(family == SY_AF_INET ? AF_INET : AF_INET6, addr, buf,
		       (socklen_t)buflen))
		snprintf(buf, buflen, "(no address)");
}

/* ---- keys ---------------------------------------------------------------- */

static int key_parse(const char *path, const uint8_t *buf, size_t n,
		     uint8_t *key, size_t *len, char *err, size_t errlen)
{
	size_t s = 0, e = n, i, ndig = 0;
	bool only_hex = true, only_hex_ws = true;

	while (s < e && is_space(buf[s]))
		s++;
	while (e > s && is_space(buf[e - 1]))
		e--;
	for (i = s; i < e; i++) {
		bool h = hexval(buf[i]) >= 0;

		ndig += h;
		if (!h)
			only_hex = false;
		if (!h && !is_space(buf[i]))
			only_hex_ws = false;
	}

	if (e > s && only_hex) {
		size_t klen = ndig / 2;

		if (ndig % 2) {
			seterr(err, errlen,
			       "key file %s: odd number of hex digits (%zu)", path,
			       ndig);
			return -1;
		}
		if (klen < SY_KEY_MIN) {
			seterr(err, errlen,
			       "key file %s: key too short: %zu bytes (%zu hex digits); need at least %d bytes (%d hex digits)",
			       path, klen, ndig, SY_KEY_MIN, 2 * SY_KEY_MIN);
			return -1;
		}
		if (klen > SY_KEY_MAX) {
			seterr(err, errlen,
			       "key file %s: key too long: %zu bytes (%zu hex digits); at most %d bytes (%d hex digits)",
			       path, klen, ndig, SY_KEY_MAX, 2 * SY_KEY_MAX);
			return -1;
		}
		for (i = 0; i < klen; i++)
			key[i] = (uint8_t)(hexval(buf[s + 2 * i]) << 4 |
					   hexval(buf[s + 2 * i + 1]));
		*len = klen;
		return 0;
	}
	if (e > s && only_hex_ws && ndig >= 2 * SY_KEY_MIN) {
		seterr(err, errlen,
		       "key file %s: hex key interrupted by whitespace; write it as one run of hex digits",
		       path);
		return -1;
	}
	if (n < SY_KEY_MIN) {
		seterr(err, errlen,
		       "key file %s: key too short: %zu bytes; need at least %d raw bytes or %d hex digits",
		       path, n, SY_KEY_MIN, 2 * SY_KEY_MIN);
		return -1;
	}
	if (n > SY_KEY_MAX) {
		seterr(err, errlen, "key file %s: key too long: %zu bytes; at most %d raw bytes or %d hex digits",
		       path, n, SY_KEY_MAX, 2 * SY_KEY_MAX);
		return -1;
	}
	memcpy(key, buf, n);
	*len = n;
	return 0;
}

int sy_key_load(const char *path, uint8_t *key, size_t *len, char *err,
		size_t errlen)
{
	uint8_t buf[SY_KEY_FILE_MAX + 1];
	struct stat st;
	size_t n = 0;
	int fd, rc;

	if (!path || !key || !len) {
		seterr(err, errlen, "key file: invalid arguments");
		return -1;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		seterr(err, errlen, "key file %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0) {
		seterr(err, errlen, "key file %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		seterr(err, errlen, "key file %s: not a regular file", path);
		close(fd);
		return -1;
	}
	if (st.st_mode & 077) {
		seterr(err, errlen,
		       "key file %s: mode %04o lets group or others access it; it must be private to its owner (chmod 600)",
		       path, (unsigned)(st.st_mode & 07777));
		close(fd);
		return -1;
	}
	for (;;) {
		ssize_t r = read(fd, buf + n, sizeof(buf) - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			seterr(err, errlen, "key file %s: %s", path,
			       strerror(errno));
			close(fd);
			OPENSSL_cleanse(buf, sizeof(buf));
			return -1;
		}
		if (r == 0 || (n += (size_t)r) == sizeof(buf))
			break;
	}
	close(fd);
	if (n > SY_KEY_FILE_MAX) {
		seterr(err, errlen, "key file %s: too large (more than %d bytes)",
		       path, SY_KEY_FILE_MAX);
		OPENSSL_cleanse(buf, sizeof(buf));
		return -1;
	}
	rc = key_parse(path, buf, n, key, len, err, errlen);
	OPENSSL_cleanse(buf, sizeof(buf));
	return rc;
}

/* ---- signatures ---------------------------------------------------------- */

static int hmac_sha256(const uint8_t *key, size_t klen, const void *body,
		       size_t len, uint8_t out[32])
{
	static const uint8_t empty[1];
	unsigned int olen = 0;

	if (klen > INT_MAX)
		return -1;
	if (!HMAC(EVP_sha256(), key ? (const void *)key : empty, (int)klen,
		  body ? body : empty, body ? len : 0, out, &olen) ||
	    olen != 32)
		return -1;
	return 0;
}

void sy_hmac_sign(const uint8_t *key, size_t klen, const void *body, size_t len,
		  char hex_out[SY_SIG_HEX_LEN + 1])
{
	uint8_t mac[32];

	if (hmac_sha256(key, klen, body, len, mac) != 0) {
		hex_out[0] = '\0';
		return;
	}
	hex_encode(mac, sizeof(mac), hex_out);
	OPENSSL_cleanse(mac, sizeof(mac));
}

bool sy_hmac_verify(const uint8_t *key, size_t klen, const void *body,
		    size_t len, const char *hex_sig)
{
	uint8_t want[32], got[32];
	size_t i;
	bool ok;

	if (!hex_sig || strnlen(hex_sig, SY_SIG_HEX_LEN + 1) != SY_SIG_HEX_LEN)
		return false;
	for (i = 0; i < sizeof(got); i++) {
		int hi = hexval((unsigned char)hex_sig[2 * i]);
		int lo = hexval((unsigned char)hex_sig[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		got[i] = (uint8_t)(hi << 4 | lo);
	}
	if (hmac_sha256(key, klen, body, len, want) != 0)
		return false;
	ok = CRYPTO_memcmp(want, got, sizeof(want)) == 0;
	OPENSSL_cleanse(want, sizeof(want));
	return ok;
}

/* ---- replay cache -------------------------------------------------------- */

#define ROTL64(x, b) (((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                               \
	do {                                                                   \
		v0 += v1; v1 = ROTL64(v1, 13); v1 ^= v0; v0 = ROTL64(v0, 32); \
		v2 += v3; v3 = ROTL64(v3, 16); v3 ^= v2;                       \
		v0 += v3; v3 = ROTL64(v3, 21); v3 ^= v0;                       \
		v2 += v1; v1 = ROTL64(v1, 17); v1 ^= v2; v2 = ROTL64(v2, 32); \
	} while (0)

/* SipHash-2-4 (Aumasson and Bernstein); hosts are little-endian (sy_types.h). */
static uint64_t siphash24(const void *data, size_t n, const uint64_t k[2])
{
	const uint8_t *in = data;
	uint64_t v0 = 0x736f6d6570736575ULL ^ k[0];
	uint64_t v1 = 0x646f72616e646f6dULL ^ k[1];
	uint64_t v2 = 0x6c7967656e657261ULL ^ k[0];
	uint64_t v3 = 0x7465646279746573ULL ^ k[1];
	uint64_t m, b = (uint64_t)n << 56;
	size_t i, full = n - n % 8;

	for (i = 0; i < full; i += 8) {
		memcpy(&m, in + i, 8);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	for (i = 0; i < n % 8; i++)
		b |= (uint64_t)in[full + i] << (8 * i);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

bool sy_nonce_valid(const char *s)
{
	size_t i;

	if (!s)
		return false;
	for (i = 0; s[i]; i++) {
		char c = s[i];

		if (i >= SY_NONCE_MAX)
			return false;
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
		      (c >= 'A' && c <= 'Z') || c == '_' || c == '-'))
			return false;
	}
	return i >= SY_NONCE_MIN;
}

int sy_nonce_cache_init(struct sy_nonce_cache *c, size_t capacity,
			uint64_t window_ms)
{
	uint32_t nslots = 16;

	if (!c)
		return -1;
	memset(c, 0, sizeof(*c));
	if (capacity == 0 || capacity > SY_NONCE_CACHE_MAX_CAPACITY ||
	    window_ms == 0)
		return -1;
	while (nslots < 2 * capacity)
		nslots <<= 1;
	c->entries = calloc(capacity, sizeof(*c->entries));
	c->slots = calloc(nslots, sizeof(*c->slots));
	if (!c->entries || !c->slots || fill_random(c->sipkey, sizeof(c->sipkey))) {
		sy_nonce_cache_destroy(c);
		return -1;
	}
	c->capacity = (uint32_t)capacity;
	c->nslots = nslots;
	c->window_ms = window_ms;
	return 0;
}

void sy_nonce_cache_destroy(struct sy_nonce_cache *c)
{
	if (!c)
		return;
	free(c->entries);
	free(c->slots);
	memset(c, 0, sizeof(*c));
}

size_t sy_nonce_cache_count(const struct sy_nonce_cache *c)
{
	return c ? c->count : 0;
}

/* Forgets the oldest entry: finds its slot and closes the gap by backward
 * shifting (linear probing without tombstones). */
static void nonce_remove_head(struct sy_nonce_cache *c)
{
	uint32_t mask = c->nslots - 1, idx = c->head;
	uint32_t i = (uint32_t)c->entries[idx].hash & mask, j;

	while (c->slots[i] != idx + 1)
		i = (i + 1) & mask;
	j = i;
	for (;;) {
		uint32_t home;

		j = (j + 1) & mask;
		if (c->slots[j] == 0)
			break;
		home = (uint32_t)c->entries[c->slots[j] - 1].hash & mask;
		/* The entry at j may move to the hole at i unless its home lies
		 * cyclically in (i, j]. */
		if (i <= j ? (home <= i || home > j) : (home <= i && home > j)) {
			c->slots[i] = c->slots[j];
			i = j;
		}
	}
	c->slots[i] = 0;
	c->head = (c->head + 1) % c->capacity;
	c->count--;
}

static int nonce_check_add(struct sy_nonce_cache *c, const char *nonce,
			   uint64_t now_ms, uint64_t min_expires_ms)
{
	uint32_t mask, i, tail;
	uint64_t h, expires;
	struct sy_nonce_entry *e;
	size_t len;

	if (!c || !c->entries)
		return SY_NONCE_FULL; /* no cache: refuse */
	if (!sy_nonce_valid(nonce))
		return SY_NONCE_INVALID;
	while (c->count > 0 && c->entries[c->head].expires_ms <= now_ms)
		nonce_remove_head(c);

	len = strlen(nonce);
	h = siphash24(nonce, len, c->sipkey);
	mask = c->nslots - 1;
	for (i = (uint32_t)h & mask; c->slots[i] != 0; i = (i + 1) & mask) {
		e = &c->entries[c->slots[i] - 1];
		if (e->hash == h && e->len == len && memcmp(e->nonce, nonce, len) == 0)
			return SY_NONCE_REPLAY;
	}
	if (c->count >= c->capacity)
		return SY_NONCE_FULL;

	expires = sat_add(now_ms, c->window_ms);
	if (expires < min_expires_ms)
		expires = min_expires_ms;
	if (expires < c->last_expires_ms)
		expires = c->last_expires_ms; /* keep the ring in expiry order */
	c->last_expires_ms = expires;

	tail = (uint32_t)(((uint64_t)c->head + c->count) % c->capacity);
	e = &c->entries[tail];
	e->expires_ms = expires;
	e->hash = h;
	e->len = (uint8_t)len;
	memcpy(e->nonce, nonce, len);
	c->slots[i] = tail + 1;
	c->count++;
	return SY_NONCE_FRESH;
}

int sy_nonce_check_and_add(struct sy_nonce_cache *c, const char *nonce,
			   uint64_t now_ms)
{
	return nonce_check_add(c, nonce, now_ms, 0);
}

/* ---- prefixes ------------------------------------------------------------ */

static const uint8_t v4mapped_prefix[12] = { 0, 0, 0, 0, 0, 0,
					     0, 0, 0, 0, 0xff, 0xff };

static bool bits_match(const uint8_t *a, const uint8_t *b, unsigned len)
{
	unsigned full = len / 8, rem = len % 8;

	if (memcmp(a, b, full) != 0)
		return false;
	if (rem) {
		uint8_t mask = (uint8_t)(0xff << (8 - rem));

		if ((a[full] ^ b[full]) & mask)
			return false;
	}
	return true;
}

int sy_prefix_parse(const char *s, struct sy_prefix *p)
{
	char abuf[INET6_ADDRSTRLEN + 1];
	uint8_t bytes[16] = { 0 };
	const char *slash, *d;
	unsigned len = 0, maxlen, i;
	uint8_t family;
	size_t alen;

	if (!s || !p)
		return SY_PREFIX_SYNTAX;
	slash = strchr(s, '/');
	if (!slash)
		return SY_PREFIX_SYNTAX;
	alen = (size_t)(slash - s);
	if (alen == 0 || alen >= sizeof(abuf))
		return SY_PREFIX_SYNTAX;
	memcpy(abuf, s, alen);
	abuf[alen] = '\0';

	d = slash + 1;
	if (d[0] == '\0' || (d[0] == '0' && d[1] != '\0') || strlen(d) > 3)
		return SY_PREFIX_SYNTAX;
	for (; *d; d++) {
		if (*d < '0' || *d > '9')
			return SY_PREFIX_SYNTAX;
		len = len * 10 + (unsigned)(*d - '0');
	}

	if (inet_pton(AF_INET, abuf, bytes) == 1) {
		family = SY_AF_INET;
		maxlen = 32;
	} else if (inet_pton(AF_INET6, abuf, bytes) == 1) {
		family = SY_AF_INET6;
		maxlen = 128;
	} else {
		return SY_PREFIX_SYNTAX;
	}
	if (len > maxlen)
		return SY_PREFIX_SYNTAX;
	for (i = len; i < maxlen; i++)
		if (bytes[i / 8] & (0x80 >> (i % 8)))
			return SY_PREFIX_HOST_BITS;

	if (family == SY_AF_INET6 && len >= 96 &&
	    memcmp(bytes, v4mapped_prefix, sizeof(v4mapped_prefix)) == 0) {
		memmove(bytes, bytes + 12, 4);
		memset(bytes + 4, 0, 12);
		family = SY_AF_INET;
		len -= 96;
	}
	memset(p, 0, sizeof(*p));
	p->family = family;
	p->len = (uint8_t)len;
	memcpy(p->addr, bytes, sizeof(p->addr));
	return 0;
}

void sy_prefix_format(const struct sy_prefix *p, char *buf, size_t buflen)
{
	char a[INET6_ADDRSTRLEN];

	if (!buf || buflen == 0)
		return;
	if (!p) {
		snprintf(buf, buflen, "(none)");
		return;
	}
	addr_str(p->family, p->addr, a, sizeof(a));
	snprintf(buf, buflen, "%s/%u", a, (unsigned)p->len);
}

bool sy_prefix_list_contains(const struct sy_prefix *list, size_t n,
			     uint8_t family, const uint32_t *addr)
{
	uint8_t a[16];
	size_t i;

	if (!list || !addr)
		return false;
	if (family == SY_AF_INET) {
		memcpy(a, addr, 4);
	} else if (family == SY_AF_INET6) {
		memcpy(a, addr, 16);
		if (memcmp(a, v4mapped_prefix, sizeof(v4mapped_prefix)) == 0) {
			memmove(a, a + 12, 4);
			family = SY_AF_INET;
		}
	} else {
		return false;
	}
	for (i = 0; i < n; i++) {
		const struct sy_prefix *p = &list[i];

		if (p->family != family ||
		    p->len > (family == SY_AF_INET ? 32 : 128))
			continue;
		if (bits_match((const uint8_t *)p->addr, a, p->len))
			return true;
	}
	return false;
}

/* ---- registrations ------------------------------------------------------- */

/* Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. */
static bool utf8_valid(const uint8_t *s, size_t n, size_t *bad)
{
	size_t i = 0;

	while (i < n) {
		uint32_t c = s[i], cp, min;
		size_t need, k;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			need = 1, cp = c & 0x1f, min = 0x80;
		} else if (c >= 0xe0 && c <= 0xef) {
			need = 2, cp = c & 0x0f, min = 0x800;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3, cp = c & 0x07, min = 0x10000;
		} else {
			*bad = i;
			return false;
		}
		if (n - i - 1 < need) {
			*bad = i;
			return false;
		}
		for (k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80) {
				*bad = i;
				return false;
			}
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
			*bad = i;
			return false;
		}
		i += need + 1;
	}
	return true;
}

static const char *json_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number with a fraction or exponent";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	case JSON_NULL: return "null";
	}
	return "something else";
}

/* The body's own flaws (size, NUL, UTF-8, JSON), each answered with its
 * reason, before any field is read. */
static json_t *load_object(const char *body, size_t len, char *err,
			   size_t errlen)
{
	json_error_t je;
	size_t bad = 0;
	json_t *root;

	if (!body) {
		seterr(err, errlen, "body: missing");
		return NULL;
	}
	if (len > SY_REG_MAX_BODY) {
		seterr(err, errlen, "body: %zu bytes, more than %d", len,
		       SY_REG_MAX_BODY);
		return NULL;
	}
	if (len == 0) {
		seterr(err, errlen, "body: empty");
		return NULL;
	}
	if (memchr(body, '\0', len)) {
		seterr(err, errlen, "body: contains a NUL byte");
		return NULL;
	}
	if (!utf8_valid((const uint8_t *)body, len, &bad)) {
		seterr(err, errlen, "body: not valid UTF-8 (at byte %zu)", bad);
		return NULL;
	}
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		seterr(err, errlen, "body: not valid JSON: %s (line %d, column %d)",
		       je.text, je.line, je.column);
		return NULL;
	}
	if (!json_is_object(root)) {
		seterr(err, errlen, "body: must be a JSON object, not %s",
		       json_type_name(root));
		json_decref(root);
		return NULL;
	}
	return root;
}

static const char *const reg_fields[] = {
	"service", "address", "port", "weight", "zone",
	"metadata", "ttl_s", "timestamp_ms", "nonce", "server_id",
};

static int get_int(const json_t *root, const char *name, bool required,
		   long long min, long long max, long long def, long long *out,
		   char *err, size_t errlen)
{
	json_t *v = json_object_get(root, name);

	if (!v) {
		if (required) {
			seterr(err, errlen, "%s: missing required field", name);
			return -1;
		}
		*out = def;
		return 0;
	}
	if (!json_is_integer(v)) {
		seterr(err, errlen, "%s: must be an integer, not %s", name,
		       json_type_name(v));
		return -1;
	}
	*out = (long long)json_integer_value(v);
	if (*out < min || *out > max) {
		seterr(err, errlen, "%s: %lld is out of range %lld..%lld", name,
		       *out, min, max);
		return -1;
	}
	return 0;
}

/* The optional QUIC server ID (pkt_quic.h): 1..0xffffff. */
static int parse_server_id(const json_t *root, struct sy_registration *r, char *err,
			   size_t errlen)
{
	long long iv;

	if (get_int(root, "server_id", false, 1, SY_QUIC_SERVER_ID_MAX, 0, &iv, err, errlen))
		return -1;
	r->server_id = (uint32_t)iv;
	return 0;
}

/* Returns the string (NUL-free, valid UTF-8) or NULL; *absent when missing. */
static const char *get_str(const json_t *root, const char *name, bool required,
			   size_t *len, bool *absent, char *err, size_t errlen)
{
	json_t *v = json_object_get(root, name);

	*absent = !v;
	if (!v) {
		if (required)
			seterr(err, errlen, "%s: missing required field", name);
		return NULL;
	}
	if (!json_is_string(v)) {
		seterr(err, errlen, "%s: must be a string, not %s", name,
		       json_type_name(v));
		return NULL;
	}
	*len = json_string_length(v);
	return json_string_value(v);
}

static int check_name(const char *name, const char *s, size_t len, size_t min,
		      size_t max, char *err, size_t errlen)
{
	char tmp[64];
	size_t i;

	if (len < min || len > max) {
		seterr(err, errlen, "%s: \"%s\" must be %zu..%zu characters",
		       name, sanitize(s, len, tmp, sizeof(tmp)), min, max);
		return -1;
	}
	for (i = 0; i < len; i++) {
		if (!is_name_char(s[i])) {
			seterr(err, errlen,
			       "%s: \"%s\" may contain only A-Z a-z 0-9 _ . -",
			       name, sanitize(s, len, tmp, sizeof(tmp)));
			return -1;
		}
	}
	return 0;
}

static int parse_fields(const json_t *root, struct sy_registration *r,
			char *err, size_t errlen)
{
	const char *key, *s, *what;
	json_t *val;
	long long iv;
	size_t len = 0, i;
	bool absent;
	uint8_t bytes[16] = { 0 };
	char tmp[64];

	json_object_foreach((json_t *)root, key, val) {
		bool known = false;

		for (i = 0; i < sizeof(reg_fields) / sizeof(reg_fields[0]); i++)
			known |= strcmp(key, reg_fields[i]) == 0;
		if (!known) {
			seterr(err, errlen, "unknown field \"%s\"",
			       sanitize(key, strlen(key), tmp, sizeof(tmp)));
			return -1;
		}
	}

	s = get_str(root, "service", true, &len, &absent, err, errlen);
	if (!s || check_name("service", s, len, 1, sizeof(r->service) - 1, err,
			     errlen))
		return -1;
	memcpy(r->service, s, len);

	s = get_str(root, "address", true, &len, &absent, err, errlen);
	if (!s)
		return -1;
	if (len < INET6_ADDRSTRLEN && inet_pton(AF_INET, s, bytes) == 1) {
		r->family = SY_AF_INET;
	} else if (len < INET6_ADDRSTRLEN && inet_pton(AF_INET6, s, bytes) == 1) {
		r->family = SY_AF_INET6;
		if (memcmp(bytes, v4mapped_prefix, sizeof(v4mapped_prefix)) == 0) {
			memmove(bytes, bytes + 12, 4);
			memset(bytes + 4, 0, 12);
			r->family = SY_AF_INET;
		}
	} else {
		seterr(err, errlen, "address: \"%s\" is not an IPv4 or IPv6 address",
		       sanitize(s, len, tmp, sizeof(tmp)));
		return -1;
	}
	memcpy(r->addr, bytes, sizeof(r->addr));
	if ((what = sy_backend_addr_unusable(r->family, r->addr))) {
		seterr(err, errlen, "address: %s cannot be a backend: %s",
		       sanitize(s, len, tmp, sizeof(tmp)), what);
		return -1;
	}

	if (get_int(root, "port", true, 1, 65535, 0, &iv, err, errlen))
		return -1;
	r->port = (uint16_t)iv;
	if (get_int(root, "weight", false, 0, 65535, 1, &iv, err, errlen))
		return -1;
	r->weight = (uint32_t)iv;
	if (parse_server_id(root, r, err, errlen))
		return -1;

	s = get_str(root, "zone", false, &len, &absent, err, errlen);
	if (!s && !absent)
		return -1;
	if (s) {
		if (check_name("zone", s, len, 0, sizeof(r->zone) - 1, err, errlen))
			return -1;
		memcpy(r->zone, s, len);
	}

	val = json_object_get(root, "metadata");
	if (val) {
		size_t n;

		if (!json_is_object(val)) {
			seterr(err, errlen, "metadata: must be an object, not %s",
			       json_type_name(val));
			return -1;
		}
		n = json_dumpb(val, r->metadata_json, sizeof(r->metadata_json),
			       JSON_COMPACT | JSON_SORT_KEYS);
		if (n == 0 || n >= sizeof(r->metadata_json)) {
			memset(r->metadata_json, 0, sizeof(r->metadata_json));
			seterr(err, errlen,
			       "metadata: more than %zu bytes when serialized",
			       sizeof(r->metadata_json) - 1);
			return -1;
		}
		r->metadata_json[n] = '\0';
	}

	/* absent: 0, the service's default; present: 2..3600 */
	if (get_int(root, "ttl_s", false, 2, 3600, 0, &iv, err, errlen))
		return -1;
	r->ttl_s = (uint32_t)iv;

	if (get_int(root, "timestamp_ms", true, 0, LLONG_MAX, 0, &iv, err, errlen))
		return -1;
	r->timestamp_ms = (uint64_t)iv;

	s = get_str(root, "nonce", true, &len, &absent, err, errlen);
	if (!s)
		return -1;
	if (len > SY_NONCE_MAX || !sy_nonce_valid(s)) {
		seterr(err, errlen,
		       "nonce: \"%s\" must be %d..%d characters of 0-9 A-Z a-z _ -",
		       sanitize(s, len, tmp, sizeof(tmp)), SY_NONCE_MIN,
		       SY_NONCE_MAX);
		return -1;
	}
	memcpy(r->nonce, s, len);
	return 0;
}

int sy_registration_parse(const char *body, size_t len,
			  struct sy_registration *r, char *err, size_t errlen)
{
	json_t *root;
	int rc;

	if (!r) {
		seterr(err, errlen, "body: no output");
		return -1;
	}
	memset(r, 0, sizeof(*r));
	root = load_object(body, len, err, errlen);
	if (!root)
		return -1;
	rc = parse_fields(root, r, err, errlen);
	json_decref(root);
	if (rc)
		memset(r, 0, sizeof(*r));
	return rc;
}

static int set_new(json_t *o, const char *k, json_t *v)
{
	return v ? json_object_set_new(o, k, v) : -1;
}

int sy_registration_build(const struct sy_registration *r, const uint8_t *key,
			  size_t klen, char *body, size_t body_cap,
			  char sig_hex[SY_SIG_HEX_LEN + 1])
{
	char addr[INET6_ADDRSTRLEN], nonce[SY_NONCE_MAX + 1];
	struct sy_registration check;
	json_t *o = NULL;
	size_t n;
	int rc = -1;

	if (sig_hex)
		sig_hex[0] = '\0';
	if (!body || body_cap == 0)
		return -1;
	body[0] = '\0';
	if (!r || !sig_hex || !key || klen < SY_KEY_MIN)
		return -1;
	if (r->timestamp_ms > (uint64_t)LLONG_MAX ||
	    !memchr(r->service, '\0', sizeof(r->service)) ||
	    !memchr(r->zone, '\0', sizeof(r->zone)) ||
	    !memchr(r->metadata_json, '\0', sizeof(r->metadata_json)) ||
	    !memchr(r->nonce, '\0', sizeof(r->nonce)))
		return -1;
	if (r->nonce[0]) {
		memcpy(nonce, r->nonce, strlen(r->nonce) + 1);
	} else {
		uint8_t rnd[16];

		if (fill_random(rnd, sizeof(rnd)))
			return -1;
		hex_encode(rnd, sizeof(rnd), nonce);
	}
	if (r->family != SY_AF_INET && r->family != SY_AF_INET6)
		return -1;
	addr_str(r->family, r->addr, addr, sizeof(addr));

	o = json_object();
	if (!o)
		return -1;
	if (set_new(o, "service", json_string(r->service)) ||
	    set_new(o, "address", json_string(addr)) ||
	    set_new(o, "port", json_integer(r->port)) ||
	    set_new(o, "weight", json_integer(r->weight)))
		goto out;
	if (r->zone[0] && set_new(o, "zone", json_string(r->zone)))
		goto out;
	if (r->metadata_json[0]) {
		json_t *m = json_loads(r->metadata_json, JSON_REJECT_DUPLICATES, NULL);

		if (!json_is_object(m)) {
			json_decref(m);
			goto out;
		}
		if (set_new(o, "metadata", m))
			goto out;
	}
	if (r->ttl_s && set_new(o, "ttl_s", json_integer(r->ttl_s)))
		goto out;
	if (r->server_id && set_new(o, "server_id", json_integer(r->server_id)))
		goto out;
	if (set_new(o, "timestamp_ms", json_integer((json_int_t)r->timestamp_ms)) ||
	    set_new(o, "nonce", json_string(nonce)))
		goto out;

	n = json_dumpb(o, body, body_cap, JSON_COMPACT);
	if (n == 0 || n >= body_cap)
		goto out;
	body[n] = '\0';
	if (sy_registration_parse(body, n, &check, NULL, 0))
		goto out;
	sy_hmac_sign(key, klen, body, n, sig_hex);
	if (!sig_hex[0])
		goto out;
	rc = 0;
out:
	json_decref(o);
	if (rc < 0)
		body[0] = '\0';
	return rc;
}

int sy_auth_http_status(enum sy_auth_result res)
{
	switch (res) {
	case SY_AUTH_OK: return 200;
	case SY_AUTH_MALFORMED: return 400;
	case SY_AUTH_BAD_SIGNATURE:
	case SY_AUTH_STALE:
	case SY_AUTH_REPLAY: return 401;
	case SY_AUTH_PREFIX: return 403;
	case SY_AUTH_TOO_LARGE: return 413;
	case SY_AUTH_BUSY: return 503;
	}
	return 500;
}

const char *sy_auth_result_str(enum sy_auth_result res)
{
	switch (res) {
	case SY_AUTH_OK: return "ok";
	case SY_AUTH_MALFORMED: return "malformed";
	case SY_AUTH_BAD_SIGNATURE: return "bad signature";
	case SY_AUTH_STALE: return "stale timestamp";
	case SY_AUTH_REPLAY: return "replay";
	case SY_AUTH_PREFIX: return "address not allowed";
	case SY_AUTH_TOO_LARGE: return "body too large";
	case SY_AUTH_BUSY: return "replay cache full";
	}
	return "unknown";
}

enum sy_auth_result sy_registration_authorize(
	const struct sy_auth_policy *p, const char *body, size_t len,
	const struct sy_registration *r, const char *sig_hex,
	uint8_t peer_family, const uint32_t *peer_addr, uint64_t now_ms,
	struct sy_nonce_cache *cache, char *err, size_t errlen)
{
	char a[INET6_ADDRSTRLEN], tmp[64];
	uint64_t skew;
	int rc;

	if (!p || !r) {
		seterr(err, errlen, "internal: no policy or registration");
		return SY_AUTH_MALFORMED;
	}
	/* 1. size */
	if (len > SY_REG_MAX_BODY) {
		seterr(err, errlen, "body: %zu bytes, more than %d", len,
		       SY_REG_MAX_BODY);
		return SY_AUTH_TOO_LARGE;
	}
	/* 2. signature over the raw bytes */
	if (!p->key || p->klen < SY_KEY_MIN) {
		seterr(err, errlen, "signature: the service has no usable key");
		return SY_AUTH_BAD_SIGNATURE;
	}
	if (!sig_hex || !sig_hex[0]) {
		seterr(err, errlen, "signature: missing");
		return SY_AUTH_BAD_SIGNATURE;
	}
	if (!body || !sy_hmac_verify(p->key, p->klen, body, len, sig_hex)) {
		seterr(err, errlen, "signature: does not match the body");
		return SY_AUTH_BAD_SIGNATURE;
	}
	/* 3. the key is the one of the service the body names (the body is
	 *    authentic from here on) */
	if (p->service && strcmp(r->service, p->service) != 0) {
		seterr(err, errlen,
		       "service: \"%s\" signed with another service's key (\"%s\")",
		       r->service, sanitize(p->service, strlen(p->service), tmp,
					    sizeof(tmp)));
		return SY_AUTH_BAD_SIGNATURE;
	}
	/* 4. timestamp */
	skew = now_ms >= r->timestamp_ms ? now_ms - r->timestamp_ms
					 : r->timestamp_ms - now_ms;
	if (skew > p->max_skew_ms) {
		seterr(err, errlen,
		       "timestamp_ms: %" PRIu64 " is %" PRIu64
		       " ms in the %s (allowed skew %" PRIu64 " ms)",
		       r->timestamp_ms, skew,
		       now_ms >= r->timestamp_ms ? "past" : "future",
		       p->max_skew_ms);
		return SY_AUTH_STALE;
	}
	/* 5. prefixes: the peer, then the registered address */
	if (!sy_prefix_list_contains(p->prefixes, p->n_prefixes, peer_family,
				     peer_addr)) {
		addr_str(peer_family, peer_addr, a, sizeof(a));
		seterr(err, errlen, "peer address %s is not in allowed_prefixes", a);
		return SY_AUTH_PREFIX;
	}
	if (!sy_prefix_list_contains(p->prefixes, p->n_prefixes, r->family,
				     r->addr)) {
		addr_str(r->family, r->addr, a, sizeof(a));
		seterr(err, errlen, "address: %s is not in allowed_prefixes", a);
		return SY_AUTH_PREFIX;
	}
	/* 6. only an otherwise acceptable request consumes its nonce; remember it
	 *    as long as step 4 could accept the same body again */
	rc = nonce_check_add(cache, r->nonce, now_ms,
			     sat_add(sat_add(r->timestamp_ms, p->max_skew_ms), 1));
	switch (rc) {
	case SY_NONCE_FRESH:
		break;
	case SY_NONCE_REPLAY:
		seterr(err, errlen, "nonce: %s was already used (replay)", r->nonce);
		return SY_AUTH_REPLAY;
	case SY_NONCE_INVALID:
		seterr(err, errlen, "nonce: invalid");
		return SY_AUTH_MALFORMED;
	default:
		seterr(err, errlen,
		       "nonce: replay cache full of unexpired nonces; refusing");
		return SY_AUTH_BUSY;
	}
	return SY_AUTH_OK;
}
