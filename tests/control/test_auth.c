/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Tests of control/auth.c: HMAC-SHA256 (RFC 4231 vectors), signature checks,
 * the replay cache, prefix lists, key files, and the registration parser and
 * authorizer of the embedded registry protocol (docs/control.md).
 *
 * Deterministic: every time is an explicit now_ms, nothing sleeps. The only
 * randomness (the nonce cache's hash key, generated nonces) cannot change a
 * result.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"

/* ---- helpers ------------------------------------------------------------ */

#define NOW 1795000000000ULL
#define SKEW 30000ULL

static const uint8_t KEY[32] = {
	0x5e, 0xed, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09,
	0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14,
	0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e,
};
static const uint8_t OTHER_KEY[32] = { 0x42 };

static size_t unhex(const char *hex, uint8_t *out)
{
	size_t n = strlen(hex) / 2, i;

	for (i = 0; i < n; i++) {
		unsigned v;

		assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
	return n;
}

static void ip(const char *s, uint8_t *family, uint32_t addr[4])
{
	memset(addr, 0, 16);
	if (inet_pton(AF_INET, s, addr) == 1) {
		*family = SY_AF_INET;
		return;
	}
	assert_int_equal(inet_pton(AF_INET6, s, addr), 1);
	*family = SY_AF_INET6;
}

static struct sy_prefix prefixes[2];
static struct sy_auth_policy policy;
static struct sy_nonce_cache cache;
static uint8_t peer_family;
static uint32_t peer[4];
static struct sy_registration out;
static char err[512];

static int setup(void **state)
{
	(void)state;
	assert_int_equal(sy_prefix_parse("198.18.0.0/24", &prefixes[0]), 0);
	assert_int_equal(sy_prefix_parse("2001:2::/48", &prefixes[1]), 0);
	memset(&policy, 0, sizeof(policy));
	policy.key = KEY;
	policy.klen = sizeof(KEY);
	policy.prefixes = prefixes;
	policy.n_prefixes = 2;
	policy.max_skew_ms = SKEW;
	ip("198.18.0.11", &peer_family, peer);
	assert_int_equal(sy_nonce_cache_init(&cache, 1024, SKEW), 0);
	memset(&out, 0, sizeof(out));
	err[0] = '\0';
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	sy_nonce_cache_destroy(&cache);
	return 0;
}

/* The embedded registry's pipeline (source_embedded.c handle()): size, one
 * strict parse, then authorization of the parsed registration against the
 * raw bytes. out is the registration when accepted, untouched otherwise. */
static enum sy_auth_result authorize_sig(const char *body, size_t len,
					 const char *sig, uint64_t now)
{
	struct sy_registration r = { 0 };
	enum sy_auth_result res;

	err[0] = '\0';
	if (len > SY_REG_MAX_BODY) /* refused on its size alone */
		return sy_registration_authorize(&policy, body, len, &r, sig, peer_family,
						 peer, now, &cache, err, sizeof(err));
	if (sy_registration_parse(body, len, &r, err, sizeof(err)))
		return SY_AUTH_MALFORMED;
	res = sy_registration_authorize(&policy, body, len, &r, sig, peer_family, peer,
					now, &cache, err, sizeof(err));
	if (res == SY_AUTH_OK)
		out = r;
	return res;
}

/* Signs body with KEY and authorizes it from `peer` at `now`. */
static enum sy_auth_result authorize(const char *body, uint64_t now)
{
	char sig[65];

	sy_hmac_sign(KEY, sizeof(KEY), body, strlen(body), sig);
	return authorize_sig(body, strlen(body), sig, now);
}

static char *make_body(uint64_t ts, const char *nonce, const char *address)
{
	static char buf[1024];

	snprintf(buf, sizeof(buf),
		 "{\"service\":\"web\",\"address\":\"%s\",\"port\":80,"
		 "\"weight\":1,\"zone\":\"a\",\"metadata\":{\"version\":\"1.2\"},"
		 "\"ttl_s\":5,\"timestamp_ms\":%llu,\"nonce\":\"%s\"}",
		 address, (unsigned long long)ts, nonce);
	return buf;
}

#define NONCE1 "9f1c0a77b2d34e5f8a6b"
#define NONCE2 "0123456789abcdef-_XY"

/* ---- HMAC ---------------------------------------------------------------- */

static void test_rfc4231(void **state)
{
	static const struct {
		const char *key_hex, *data_hex, *data, *mac;
	} v[] = {
		/* case 1 */
		{ "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", NULL, "Hi There",
		  "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7" },
		/* case 2 */
		{ "4a656665", NULL, "what do ya want for nothing?",
		  "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" },
		/* case 4 */
		{ "0102030405060708090a0b0c0d0e0f10111213141516171819",
		  "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd",
		  NULL,
		  "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b" },
		/* case 6: 131-byte key */
		{ NULL, NULL,
		  "Test Using Larger Than Block-Size Key - Hash Key First",
		  "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54" },
		/* case 7: 131-byte key, long data */
		{ NULL, NULL,
		  "This is a test using a larger than block-size key and a larger "
		  "than block-size data. The key needs to be hashed before being "
		  "used by the HMAC algorithm.",
		  "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		uint8_t key[131], data[64];
		const void *d;
		size_t klen, dlen;
		char hex[65];

		if (v[i].key_hex) {
			klen = unhex(v[i].key_hex, key);
		} else {
			memset(key, 0xaa, sizeof(key));
			klen = sizeof(key);
		}
		if (v[i].data_hex) {
			dlen = unhex(v[i].data_hex, data);
			d = data;
		} else {
			dlen = strlen(v[i].data);
			d = v[i].data;
		}
		sy_hmac_sign(key, klen, d, dlen, hex);
		assert_string_equal(hex, v[i].mac);
		assert_true(sy_hmac_verify(key, klen, d, dlen, v[i].mac));
	}
}

static void test_sign_verify(void **state)
{
	const char *body = make_body(NOW, NONCE1, "198.18.0.11");
	size_t len = strlen(body), i, bit;
	char sig[65], bad[66], upper[65];
	char copy[1024];

	(void)state;
	sy_hmac_sign(KEY, sizeof(KEY), body, len, sig);
	assert_int_equal(strlen(sig), 64);
	assert_true(sy_hmac_verify(KEY, sizeof(KEY), body, len, sig));

	/* upper-case hex is the same signature */
	for (i = 0; i <= 64; i++)
		upper[i] = (char)((sig[i] >= 'a' && sig[i] <= 'f') ? sig[i] - 32 : sig[i]);
	assert_true(sy_hmac_verify(KEY, sizeof(KEY), body, len, upper));

	/* every single flipped bit of the body is rejected */
	memcpy(copy, body, len);
	for (i = 0; i < len; i++) {
		for (bit = 0; bit < 8; bit++) {
			copy[i] ^= (char)(1u << bit);
			assert_false(sy_hmac_verify(KEY, sizeof(KEY), copy, len, sig));
			copy[i] ^= (char)(1u << bit);
		}
	}
	/* every single flipped bit of the signature is rejected */
	for (i = 0; i < 64; i++) {
		for (bit = 0; bit < 8; bit++) {
			memcpy(bad, sig, 65);
			bad[i] ^= (char)(1u << bit);
			if (bad[i] == '\0')
				continue; /* that is a truncation, below */
			/* a flip that only changes case is the same value */
			if ((bad[i] | 0x20) == (sig[i] | 0x20) && bad[i] != sig[i] &&
			    ((sig[i] | 0x20) >= 'a' && (sig[i] | 0x20) <= 'f'))
				continue;
			assert_false(sy_hmac_verify(KEY, sizeof(KEY), body, len, bad));
		}
	}
	/* appended, truncated, empty body */
	assert_false(sy_hmac_verify(KEY, sizeof(KEY), body, len - 1, sig));
	memcpy(copy, body, len);
	copy[len] = ' ';
	assert_false(sy_hmac_verify(KEY, sizeof(KEY), copy, len + 1, sig));
	assert_false(sy_hmac_verify(KEY, sizeof(KEY), body, 0, sig));

	/* wrong key */
	assert_false(sy_hmac_verify(OTHER_KEY, sizeof(OTHER_KEY), body, len, sig));
	assert_false(sy_hmac_verify(KEY, sizeof(KEY) - 1, body, len, sig));
}

static void test_malformed_signatures(void **state)
{
	const char *body = "{}";
	char sig[65], bad[80];

	(void)state;
	sy_hmac_sign(KEY, sizeof(KEY), body, 2, sig);
	assert_true(sy_hmac_verify(KEY, sizeof(KEY), body, 2, sig));

	assert_false(sy_hmac_verify(KEY, sizeof(KEY), body, 2, NULL));
	assert_false(sy_hmac_verify(KEY, sizeof(KEY), body, 2, ""));
	/* truncated to 63 and to 32 hex digits */
	memcpy(bad, sig, 63);
	bad[63] = '\0';
	assert_false(sy_hmac_verify(KEY, sizeof(KEY), body, 2, bad));
	bad[32] = '\0';
	assert_false(sy_hmac_verify(KEY, sizeof(KEY), body, 2, bad));
	/* one digit too many, or trailing whitespace */
	snprintf(bad, sizeof(bad), "%s0", sig);
	assert_false(sy_hmac_verify(KEY, sizeof(KEY), body, 2, bad));
	snprintf(bad, sizeof(bad), "%s\n", sig);
	assert_false(sy_hmac_verify(KEY, sizeof(KEY), body, 2, bad));
	/* non-hex characters */
	memcpy(bad, sig, 65);
	bad[10] = 'g';
	assert_false(sy_hmac_verify(KEY, sizeof(KEY), body, 2, bad));
	memcpy(bad, sig, 65);
	bad[0] = ' ';
	assert_false(sy_hmac_verify(KEY, sizeof(KEY), body, 2, bad));
	snprintf(bad, sizeof(bad), "0x%.62s", sig);
	assert_false(sy_hmac_verify(KEY, sizeof(KEY), body, 2, bad));
}

/* ---- replay cache -------------------------------------------------------- */

static void test_nonce_basic(void **state)
{
	struct sy_nonce_cache c;

	(void)state;
	assert_int_equal(sy_nonce_cache_init(&c, 8, 1000), 0);
	assert_int_equal(sy_nonce_check_and_add(&c, NONCE1, 5000), SY_NONCE_FRESH);
	assert_int_equal(sy_nonce_check_and_add(&c, NONCE1, 5000), SY_NONCE_REPLAY);
	assert_int_equal(sy_nonce_check_and_add(&c, NONCE2, 5000), SY_NONCE_FRESH);
	/* still remembered one ms before the window ends ... */
	assert_int_equal(sy_nonce_check_and_add(&c, NONCE1, 5999), SY_NONCE_REPLAY);
	assert_int_equal(sy_nonce_cache_count(&c), 2);
	/* ... and forgotten when it ends */
	assert_int_equal(sy_nonce_check_and_add(&c, NONCE1, 6000), SY_NONCE_FRESH);
	assert_int_equal(sy_nonce_cache_count(&c), 1);
	assert_int_equal(sy_nonce_check_and_add(&c, NONCE1, 6999), SY_NONCE_REPLAY);

	/* invalid nonces */
	assert_int_equal(sy_nonce_check_and_add(&c, NULL, 7000), SY_NONCE_INVALID);
	assert_int_equal(sy_nonce_check_and_add(&c, "", 7000), SY_NONCE_INVALID);
	assert_int_equal(sy_nonce_check_and_add(&c, "0123456789abcde", 7000),
			 SY_NONCE_INVALID); /* 15 */
	assert_int_equal(sy_nonce_check_and_add(&c, "0123456789abcdef", 7000),
			 SY_NONCE_FRESH); /* 16 */
	assert_int_equal(sy_nonce_check_and_add(&c,
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		7000), SY_NONCE_FRESH); /* 64 */
	assert_int_equal(sy_nonce_check_and_add(&c,
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0",
		7000), SY_NONCE_INVALID); /* 65 */
	assert_int_equal(sy_nonce_check_and_add(&c, "0123456789abcdef/", 7000),
			 SY_NONCE_INVALID);
	assert_int_equal(sy_nonce_check_and_add(&c, "0123456789abcdef ", 7000),
			 SY_NONCE_INVALID);
	assert_int_equal(sy_nonce_check_and_add(&c, "0123456789abcdef\xc3\xa9", 7000),
			 SY_NONCE_INVALID);
	sy_nonce_cache_destroy(&c);

	/* bad arguments */
	assert_int_equal(sy_nonce_cache_init(&c, 0, 1000), -1);
	assert_int_equal(sy_nonce_cache_init(&c, 8, 0), -1);
	assert_int_equal(sy_nonce_cache_init(&c, SY_NONCE_CACHE_MAX_CAPACITY + 1ULL, 1000), -1);
	assert_int_equal(sy_nonce_cache_init(NULL, 8, 1000), -1);
	sy_nonce_cache_destroy(&c); /* harmless after a failed init */
	assert_int_equal(sy_nonce_check_and_add(NULL, NONCE1, 0), SY_NONCE_FULL);
}

static void test_nonce_full_fails_closed(void **state)
{
	struct sy_nonce_cache c;
	char n[32];
	int i;

	(void)state;
	assert_int_equal(sy_nonce_cache_init(&c, 4, 1000), 0);
	for (i = 0; i < 4; i++) {
		snprintf(n, sizeof(n), "nonce-%010d", i);
		assert_int_equal(sy_nonce_check_and_add(&c, n, 100 + (uint64_t)i),
				 SY_NONCE_FRESH);
	}
	/* full of live nonces: a new one is refused, a known one is still a
	 * replay, and nothing was forgotten to make room */
	assert_int_equal(sy_nonce_check_and_add(&c, "nonce-new-0000000", 500),
			 SY_NONCE_FULL);
	assert_int_equal(sy_nonce_check_and_add(&c, "nonce-0000000000", 500),
			 SY_NONCE_REPLAY);
	assert_int_equal(sy_nonce_check_and_add(&c, "nonce-0000000003", 1099),
			 SY_NONCE_REPLAY);
	assert_int_equal(sy_nonce_cache_count(&c), 4);
	/* the oldest expires at 1100: room for exactly one */
	assert_int_equal(sy_nonce_check_and_add(&c, "nonce-new-0000000", 1100),
			 SY_NONCE_FRESH);
	assert_int_equal(sy_nonce_check_and_add(&c, "nonce-new-0000001", 1100),
			 SY_NONCE_FULL);
	assert_int_equal(sy_nonce_check_and_add(&c, "nonce-0000000001", 1100),
			 SY_NONCE_REPLAY);
	/* all expire */
	assert_int_equal(sy_nonce_check_and_add(&c, "nonce-new-0000001", 5000),
			 SY_NONCE_FRESH);
	assert_int_equal(sy_nonce_cache_count(&c), 1);
	sy_nonce_cache_destroy(&c);
}

static void test_nonce_clock_steps_back(void **state)
{
	struct sy_nonce_cache c;

	(void)state;
	assert_int_equal(sy_nonce_cache_init(&c, 8, 1000), 0);
	assert_int_equal(sy_nonce_check_and_add(&c, NONCE1, 10000), SY_NONCE_FRESH);
	/* the clock steps back: the later entry must not expire before NONCE1 */
	assert_int_equal(sy_nonce_check_and_add(&c, NONCE2, 2000), SY_NONCE_FRESH);
	assert_int_equal(sy_nonce_check_and_add(&c, NONCE2, 3500), SY_NONCE_REPLAY);
	assert_int_equal(sy_nonce_check_and_add(&c, NONCE1, 10999), SY_NONCE_REPLAY);
	assert_int_equal(sy_nonce_check_and_add(&c, NONCE2, 11000), SY_NONCE_FRESH);
	sy_nonce_cache_destroy(&c);
}

/* The hash table against a plain model, with heavy insert/expire churn so
 * that backward-shift deletion runs through wrapped probe chains. */
static void test_nonce_model(void **state)
{
	enum { CAP = 64, WINDOW = 50, POOL = 200 };
	struct sy_nonce_cache c;
	uint64_t seen_until[POOL] = { 0 }, now = 1, rng = 0x9e3779b97f4a7c15ULL;
	int round, live, i, fresh = 0, replays = 0, fulls = 0;

	(void)state;
	assert_int_equal(sy_nonce_cache_init(&c, CAP, WINDOW), 0);
	for (round = 0; round < 100000; round++) {
		char n[32];
		int k, want, got;

		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		k = (int)(rng % POOL);
		if ((rng >> 32) % 4 == 0)
			now += (rng >> 40) % 3;
		snprintf(n, sizeof(n), "model-nonce-%05d", k);

		live = 0;
		for (i = 0; i < POOL; i++)
			live += seen_until[i] > now;
		if (seen_until[k] > now) {
			want = SY_NONCE_REPLAY;
		} else if (live >= CAP) {
			want = SY_NONCE_FULL;
		} else {
			want = SY_NONCE_FRESH;
			seen_until[k] = now + WINDOW;
		}
		got = sy_nonce_check_and_add(&c, n, now);
		if (got != want)
			fail_msg("round %d nonce %d at %llu: got %d want %d", round,
				 k, (unsigned long long)now, got, want);
		fresh += want == SY_NONCE_FRESH;
		replays += want == SY_NONCE_REPLAY;
		fulls += want == SY_NONCE_FULL;
	}
	/* the walk exercised every outcome */
	assert_true(fresh > 1000 && replays > 1000 && fulls > 1000);
	sy_nonce_cache_destroy(&c);
}

/* ---- prefixes ------------------------------------------------------------ */

static void test_prefix_parse(void **state)
{
	struct sy_prefix p;
	char buf[64];
	static const char *const bad[] = {
		"", "/", "198.18.0.0", "198.18.0.0/", "/24", "198.18.0.0/33",
		"2001:2::/129", "198.18.0.0/024", "198.18.0.0/+24", "198.18.0.0/2 4",
		" 198.18.0.0/24", "198.18.0.0/24 ", "198.18.0/24", "198.18.0.0.0/24",
		"198.18.0.256/32", "hello/8", "2001:2::/48/1", "1.2.3.4/1000",
		"2001:2::1::/64",
	};
	size_t i;

	(void)state;
	assert_int_equal(sy_prefix_parse("198.18.0.0/24", &p), 0);
	assert_int_equal(p.family, SY_AF_INET);
	assert_int_equal(p.len, 24);
	assert_memory_equal(p.addr, "\xc6\x12\x00\x00", 4);
	assert_int_equal(p.addr[1] | p.addr[2] | p.addr[3], 0);
	sy_prefix_format(&p, buf, sizeof(buf));
	assert_string_equal(buf, "198.18.0.0/24");

	assert_int_equal(sy_prefix_parse("2001:2::/48", &p), 0);
	assert_int_equal(p.family, SY_AF_INET6);
	assert_int_equal(p.len, 48);
	assert_memory_equal(p.addr, "\x20\x01\x00\x02\0\0\0\0\0\0\0\0\0\0\0\0", 16);
	sy_prefix_format(&p, buf, sizeof(buf));
	assert_string_equal(buf, "2001:2::/48");

	assert_int_equal(sy_prefix_parse("0.0.0.0/0", &p), 0);
	assert_int_equal(p.len, 0);
	assert_int_equal(sy_prefix_parse("::/0", &p), 0);
	assert_int_equal(sy_prefix_parse("198.18.0.11/32", &p), 0);
	assert_int_equal(sy_prefix_parse("2001:2::1/128", &p), 0);
	assert_int_equal(sy_prefix_parse("198.18.0.128/25", &p), 0);

	/* host bits */
	assert_int_equal(sy_prefix_parse("198.18.0.1/24", &p), SY_PREFIX_HOST_BITS);
	assert_int_equal(sy_prefix_parse("198.18.0.128/24", &p), SY_PREFIX_HOST_BITS);
	assert_int_equal(sy_prefix_parse("198.19.0.0/15", &p), SY_PREFIX_HOST_BITS);
	assert_int_equal(sy_prefix_parse("198.18.0.0/15", &p), 0);
	assert_int_equal(sy_prefix_parse("2001:2::1/48", &p), SY_PREFIX_HOST_BITS);
	assert_int_equal(sy_prefix_parse("2001:2:0:8000::/48", &p), SY_PREFIX_HOST_BITS);
	assert_int_equal(sy_prefix_parse("1.0.0.0/0", &p), SY_PREFIX_HOST_BITS);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (sy_prefix_parse(bad[i], &p) != SY_PREFIX_SYNTAX)
			fail_msg("\"%s\" parsed", bad[i]);
	assert_int_equal(sy_prefix_parse(NULL, &p), SY_PREFIX_SYNTAX);

	/* an IPv4-mapped IPv6 prefix is the IPv4 prefix it denotes */
	assert_int_equal(sy_prefix_parse("::ffff:198.18.0.0/120", &p), 0);
	assert_int_equal(p.family, SY_AF_INET);
	assert_int_equal(p.len, 24);
	sy_prefix_format(&p, buf, sizeof(buf));
	assert_string_equal(buf, "198.18.0.0/24");
	assert_int_equal(sy_prefix_parse("::ffff:198.18.0.1/120", &p),
			 SY_PREFIX_HOST_BITS);
}

static void test_prefix_contains(void **state)
{
	struct sy_prefix l[3];
	uint32_t a[4];
	uint8_t f;

	(void)state;
	assert_int_equal(sy_prefix_parse("198.18.0.0/24", &l[0]), 0);
	assert_int_equal(sy_prefix_parse("10.128.0.0/9", &l[1]), 0);
	assert_int_equal(sy_prefix_parse("2001:2::/48", &l[2]), 0);

#define IN(s) (ip(s, &f, a), sy_prefix_list_contains(l, 3, f, a))
	assert_true(IN("198.18.0.0"));
	assert_true(IN("198.18.0.11"));
	assert_true(IN("198.18.0.255"));
	assert_false(IN("198.18.1.0"));
	assert_false(IN("198.17.255.255"));
	assert_true(IN("10.128.0.1"));
	assert_true(IN("10.255.255.255"));
	assert_false(IN("10.127.255.255"));
	assert_true(IN("2001:2::"));
	assert_true(IN("2001:2:0:ffff:ffff:ffff:ffff:ffff"));
	assert_false(IN("2001:2:1::"));
	assert_false(IN("2001:3::1"));
	/* IPv4-mapped addresses are judged as IPv4 */
	assert_true(IN("::ffff:198.18.0.11"));
	assert_false(IN("::ffff:198.18.1.11"));
	/* an IPv4 address whose bytes equal an IPv6 prefix's first word does not
	 * match it, and vice versa */
	assert_false(IN("32.1.0.2"));
	assert_false(IN("c612::"));
#undef IN

	ip("198.18.0.11", &f, a);
	assert_false(sy_prefix_list_contains(l, 0, f, a)); /* empty list */
	assert_false(sy_prefix_list_contains(NULL, 0, f, a));
	assert_false(sy_prefix_list_contains(l, 3, f, NULL));
	assert_false(sy_prefix_list_contains(l, 3, 5, a));

	/* /0 and /32 */
	assert_int_equal(sy_prefix_parse("0.0.0.0/0", &l[0]), 0);
	assert_true(sy_prefix_list_contains(l, 1, f, a));
	ip("2001:db8::1", &f, a);
	assert_false(sy_prefix_list_contains(l, 1, f, a));
	assert_int_equal(sy_prefix_parse("198.18.0.11/32", &l[0]), 0);
	ip("198.18.0.11", &f, a);
	assert_true(sy_prefix_list_contains(l, 1, f, a));
	ip("198.18.0.10", &f, a);
	assert_false(sy_prefix_list_contains(l, 1, f, a));
}

/* ---- key files ----------------------------------------------------------- */

static char tmpdir[64];

static const char *write_key(const char *name, const void *data, size_t n,
			     mode_t mode)
{
	static char path[128];
	int fd;

	if (!tmpdir[0]) {
		strcpy(tmpdir, "/tmp/sy-test-auth-XXXXXX");
		assert_non_null(mkdtemp(tmpdir));
	}
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, n), (ssize_t)n);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
	return path;
}

static int load(const char *path, uint8_t *key, size_t *len)
{
	*len = 0; /* output only */
	err[0] = '\0';
	return sy_key_load(path, key, len, err, sizeof(err));
}

static void test_key_file(void **state)
{
	static const char hex64[] =
		"5eed0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e";
	uint8_t key[SY_KEY_MAX], raw[40];
	char buf[256];
	size_t len, i;
	const char *p;

	(void)state;
	/* hex, with surrounding whitespace and newline */
	snprintf(buf, sizeof(buf), "  %s\n", hex64);
	p = write_key("hex.key", buf, strlen(buf), 0600);
	assert_int_equal(load(p, key, &len), 0);
	assert_int_equal(len, 32);
	assert_memory_equal(key, KEY, 32);
	/* upper case, 0400 */
	for (i = 0; hex64[i]; i++)
		buf[i] = (char)((hex64[i] >= 'a' && hex64[i] <= 'f') ? hex64[i] - 32 : hex64[i]);
	buf[i] = '\0';
	p = write_key("upper.key", buf, strlen(buf), 0400);
	assert_int_equal(load(p, key, &len), 0);
	assert_memory_equal(key, KEY, 32);

	/* raw bytes, used exactly (a trailing byte that looks like whitespace
	 * stays) */
	for (i = 0; i < sizeof(raw); i++)
		raw[i] = (uint8_t)(0xf0 ^ i * 7);
	raw[39] = '\n';
	p = write_key("raw.key", raw, sizeof(raw), 0600);
	assert_int_equal(load(p, key, &len), 0);
	assert_int_equal(len, 40);
	assert_memory_equal(key, raw, 40);
	p = write_key("raw32.key", raw, 32, 0600);
	assert_int_equal(load(p, key, &len), 0);
	assert_int_equal(len, 32);

	/* too short: 62 hex digits, 31 raw bytes, empty */
	p = write_key("short.key", hex64, 62, 0600);
	assert_int_equal(load(p, key, &len), -1);
	assert_non_null(strstr(err, "too short"));
	assert_non_null(strstr(err, "short.key"));
	p = write_key("short-raw.key", raw, 31, 0600);
	assert_int_equal(load(p, key, &len), -1);
	assert_non_null(strstr(err, "too short"));
	p = write_key("empty.key", "", 0, 0600);
	assert_int_equal(load(p, key, &len), -1);
	assert_non_null(strstr(err, "too short"));
	/* odd number of hex digits; hex broken by whitespace */
	p = write_key("odd.key", hex64, 63, 0600);
	assert_int_equal(load(p, key, &len), -1);
	assert_non_null(strstr(err, "odd"));
	snprintf(buf, sizeof(buf), "%.32s %s", hex64, hex64 + 32);
	p = write_key("split.key", buf, strlen(buf), 0600);
	assert_int_equal(load(p, key, &len), -1);
	assert_non_null(strstr(err, "whitespace"));

	/* readable by others or by the group */
	p = write_key("world.key", hex64, 64, 0644);
	assert_int_equal(load(p, key, &len), -1);
	assert_non_null(strstr(err, "mode 0644"));
	assert_non_null(strstr(err, "world.key"));
	p = write_key("group.key", hex64, 64, 0640);
	assert_int_equal(load(p, key, &len), -1);
	assert_non_null(strstr(err, "mode 0640"));
	p = write_key("otherx.key", hex64, 64, 0601);
	assert_int_equal(load(p, key, &len), -1);

	/* missing, a directory */
	snprintf(buf, sizeof(buf), "%s/missing.key", tmpdir);
	assert_int_equal(load(buf, key, &len), -1);
	assert_non_null(strstr(err, "missing.key"));
	assert_non_null(strstr(err, "No such file"));
	chmod(tmpdir, 0700);
	assert_int_equal(load(tmpdir, key, &len), -1);
	assert_non_null(strstr(err, "not a regular file"));

	/* longest accepted: 64 bytes (128 hex digits); longer is refused and
	 * nothing is written */
	snprintf(buf, sizeof(buf), "%s%s\n", hex64, hex64);
	p = write_key("long.key", buf, strlen(buf), 0600);
	assert_int_equal(load(p, key, &len), 0);
	assert_int_equal(len, SY_KEY_MAX);
	assert_memory_equal(key + 32, KEY, 32);
	snprintf(buf, sizeof(buf), "%s%s00", hex64, hex64);
	p = write_key("toolong.key", buf, strlen(buf), 0600);
	memset(key, 0xee, sizeof(key));
	len = 7;
	assert_int_equal(sy_key_load(p, key, &len, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "too long"));
	assert_int_equal(len, 7);
	assert_int_equal(key[0], 0xee);
	memset(buf, 0x80, SY_KEY_MAX + 1);
	p = write_key("toolong-raw.key", buf, SY_KEY_MAX + 1, 0600);
	assert_int_equal(load(p, key, &len), -1);
	assert_non_null(strstr(err, "too long"));
	memset(buf, 0x80, SY_KEY_MAX);
	p = write_key("max-raw.key", buf, SY_KEY_MAX, 0600);
	assert_int_equal(sy_key_load(p, key, &len, NULL, 0), 0);
	assert_int_equal(len, SY_KEY_MAX);
}

static void test_key_file_cleanup(void **state)
{
	static const char *const names[] = {
		"hex.key", "upper.key", "raw.key", "raw32.key", "short.key",
		"short-raw.key", "empty.key", "odd.key", "split.key", "world.key",
		"group.key", "otherx.key", "long.key", "toolong.key",
		"toolong-raw.key", "max-raw.key",
	};
	char path[128];
	size_t i;

	(void)state;
	if (!tmpdir[0])
		return;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", tmpdir, names[i]);
		unlink(path);
	}
	assert_int_equal(rmdir(tmpdir), 0);
}

/* ---- registration parse -------------------------------------------------- */

static void test_parse_ok(void **state)
{
	struct sy_registration r;
	const char *body =
		"{\"service\":\"web\",\"address\":\"198.18.0.11\",\"port\":80,"
		"\"weight\":1,\n \"zone\":\"a\",\"metadata\":{\"z\":[1, 2],\"version\":\"1.2\"},"
		"\"ttl_s\":5,\n \"timestamp_ms\":1795000000000,\"nonce\":\"" NONCE1 "\"}";
	uint8_t f;
	uint32_t a[4];

	(void)state;
	assert_int_equal(sy_registration_parse(body, strlen(body), &r, err,
					       sizeof(err)), 0);
	assert_string_equal(r.service, "web");
	ip("198.18.0.11", &f, a);
	assert_int_equal(r.family, SY_AF_INET);
	assert_memory_equal(r.addr, a, 16);
	assert_int_equal(r.port, 80);
	assert_int_equal(r.weight, 1);
	assert_string_equal(r.zone, "a");
	assert_string_equal(r.metadata_json, "{\"version\":\"1.2\",\"z\":[1,2]}");
	assert_int_equal(r.ttl_s, 5);
	assert_int_equal(r.timestamp_ms, 1795000000000ULL);
	assert_string_equal(r.nonce, NONCE1);

	/* only the required fields: the defaults */
	body = "{\"service\":\"a.b-c_D9\",\"address\":\"2001:2::11\",\"port\":65535,"
	       "\"timestamp_ms\":0,\"nonce\":\"" NONCE2 "\"}";
	assert_int_equal(sy_registration_parse(body, strlen(body), &r, err,
					       sizeof(err)), 0);
	assert_string_equal(r.service, "a.b-c_D9");
	assert_int_equal(r.family, SY_AF_INET6);
	ip("2001:2::11", &f, a);
	assert_memory_equal(r.addr, a, 16);
	assert_int_equal(r.port, 65535);
	assert_int_equal(r.weight, 1);
	assert_string_equal(r.zone, "");
	assert_string_equal(r.metadata_json, "");
	assert_int_equal(r.ttl_s, 0);
	assert_int_equal(r.server_id, 0); /* no QUIC server ID */

	/* a QUIC server ID, the largest there is */
	body = "{\"service\":\"web\",\"address\":\"198.18.0.11\",\"port\":443,"
	       "\"server_id\":16777215,\"timestamp_ms\":0,\"nonce\":\"" NONCE2 "\"}";
	assert_int_equal(sy_registration_parse(body, strlen(body), &r, err, sizeof(err)), 0);
	assert_int_equal(r.server_id, 0xffffff);

	/* a mapped address is stored as IPv4; weight 0 (drain) is allowed */
	body = "{\"service\":\"web\",\"address\":\"::ffff:198.18.0.12\",\"port\":1,"
	       "\"weight\":0,\"ttl_s\":3600,\"metadata\":{},"
	       "\"timestamp_ms\":1,\"nonce\":\"" NONCE2 "\"}";
	assert_int_equal(sy_registration_parse(body, strlen(body), &r, err,
					       sizeof(err)), 0);
	assert_int_equal(r.family, SY_AF_INET);
	ip("198.18.0.12", &f, a);
	assert_memory_equal(r.addr, a, 16);
	assert_int_equal(r.weight, 0);
	assert_int_equal(r.ttl_s, 3600);
	assert_string_equal(r.metadata_json, "{}");
}

#define REQ "\"service\":\"web\",\"address\":\"198.18.0.11\",\"port\":80," \
	    "\"timestamp_ms\":1795000000000,\"nonce\":\"" NONCE1 "\""

static const struct bad_body {
	const char *body;
	const char *field; /* the error must name it */
} bad_bodies[] = {
	{ "not json", "body" },
	{ "", "body" },
	{ "{", "body" },
	{ "[1,2]", "body" },
	{ "\"web\"", "body" },
	{ "{" REQ "} trailing", "body" },
	{ "{" REQ ",\"port\":81}", "body" }, /* duplicate key */
	{ "{\"address\":\"198.18.0.11\",\"port\":80,\"timestamp_ms\":1,\"nonce\":\"" NONCE1 "\"}", "service" },
	{ "{\"service\":\"web\",\"port\":80,\"timestamp_ms\":1,\"nonce\":\"" NONCE1 "\"}", "address" },
	{ "{\"service\":\"web\",\"address\":\"198.18.0.11\",\"timestamp_ms\":1,\"nonce\":\"" NONCE1 "\"}", "port" },
	{ "{\"service\":\"web\",\"address\":\"198.18.0.11\",\"port\":80,\"nonce\":\"" NONCE1 "\"}", "timestamp_ms" },
	{ "{\"service\":\"web\",\"address\":\"198.18.0.11\",\"port\":80,\"timestamp_ms\":1}", "nonce" },
	{ "{" REQ ",\"extra\":1}", "extra" },
	{ "{" REQ ",\"Weight\":1}", "Weight" },
	{ "{" REQ ",\"weight\":70000}", "weight" },
	{ "{" REQ ",\"weight\":-1}", "weight" },
	{ "{" REQ ",\"weight\":\"1\"}", "weight" },
	{ "{" REQ ",\"weight\":1.5}", "weight" },
	{ "{" REQ ",\"weight\":null}", "weight" },
	{ "{" REQ ",\"ttl_s\":1}", "ttl_s" },
	{ "{" REQ ",\"ttl_s\":0}", "ttl_s" },
	{ "{" REQ ",\"ttl_s\":3601}", "ttl_s" },
	{ "{" REQ ",\"server_id\":0}", "server_id: 0 is out of range 1..16777215" },
	{ "{" REQ ",\"server_id\":16777216}", "server_id: 16777216 is out of range" },
	{ "{" REQ ",\"server_id\":-5}", "server_id" },
	{ "{" REQ ",\"server_id\":\"0x123\"}", "server_id: must be an integer" },
	{ "{" REQ ",\"zone\":7}", "zone" },
	{ "{" REQ ",\"zone\":\"a b\"}", "zone" },
	{ "{" REQ ",\"zone\":\"0123456789012345678901234567890123\"}", "zone" },
	{ "{" REQ ",\"metadata\":[1]}", "metadata" },
	{ "{" REQ ",\"metadata\":\"x\"}", "metadata" },
	{ "{\"service\":\"web\",\"address\":\"198.18.0.11\",\"port\":0,\"timestamp_ms\":1,\"nonce\":\"" NONCE1 "\"}", "port" },
	{ "{\"service\":\"web\",\"address\":\"198.18.0.11\",\"port\":65536,\"timestamp_ms\":1,\"nonce\":\"" NONCE1 "\"}", "port" },
	{ "{\"service\":\"web\",\"address\":\"198.18.0.11\",\"port\":\"80\",\"timestamp_ms\":1,\"nonce\":\"" NONCE1 "\"}", "port" },
	{ "{\"service\":\"web\",\"address\":\"198.18.0.11\",\"port\":80.0,\"timestamp_ms\":1,\"nonce\":\"" NONCE1 "\"}", "port" },
	{ "{\"service\":\"web\",\"address\":\"198.18.0.11\",\"port\":true,\"timestamp_ms\":1,\"nonce\":\"" NONCE1 "\"}", "port" },
	{ "{\"service\":\"web\",\"address\":\"198.18.0.11\",\"port\":80,\"timestamp_ms\":-1,\"nonce\":\"" NONCE1 "\"}", "timestamp_ms" },
	{ "{\"service\":\"web\",\"address\":\"198.18.0.11\",\"port\":80,\"timestamp_ms\":\"1\",\"nonce\":\"" NONCE1 "\"}", "timestamp_ms" },
	{ "{\"service\":\"web\",\"address\":\"198.18.0.11\",\"port\":80,\"timestamp_ms\":99999999999999999999,\"nonce\":\"" NONCE1 "\"}", "body" },
	{ "{\"service\":\"web\",\"address\":\"198.18.0.11\",\"port\":80,\"timestamp_ms\":1,\"nonce\":\"short\"}", "nonce" },
	{ "{\"service\":\"web\",\"address\":\"198.18.0.11\",\"port\":80,\"timestamp_ms\":1,\"nonce\":\"9f1c0a77b2d34e5f8a6b/\"}", "nonce" },
	{ "{\"service\":\"web\",\"address\":\"198.18.0.11\",\"port\":80,\"timestamp_ms\":1,\"nonce\":1234567890123456}", "nonce" },
	{ "{\"service\":\"\",\"address\":\"198.18.0.11\",\"port\":80,\"timestamp_ms\":1,\"nonce\":\"" NONCE1 "\"}", "service" },
	{ "{\"service\":\"we b\",\"address\":\"198.18.0.11\",\"port\":80,\"timestamp_ms\":1,\"nonce\":\"" NONCE1 "\"}", "service" },
	{ "{\"service\":\"web/../x\",\"address\":\"198.18.0.11\",\"port\":80,\"timestamp_ms\":1,\"nonce\":\"" NONCE1 "\"}", "service" },
	{ "{\"service\":[\"web\"],\"address\":\"198.18.0.11\",\"port\":80,\"timestamp_ms\":1,\"nonce\":\"" NONCE1 "\"}", "service" },
	{ "{\"service\":\"web\",\"address\":\"198.18.0.1/24\",\"port\":80,\"timestamp_ms\":1,\"nonce\":\"" NONCE1 "\"}", "address" },
	{ "{\"service\":\"web\",\"address\":\"web.example\",\"port\":80,\"timestamp_ms\":1,\"nonce\":\"" NONCE1 "\"}", "address" },
	{ "{\"service\":\"web\",\"address\":\" 198.18.0.11\",\"port\":80,\"timestamp_ms\":1,\"nonce\":\"" NONCE1 "\"}", "address" },
	{ "{\"service\":\"web\",\"address\":198,\"port\":80,\"timestamp_ms\":1,\"nonce\":\"" NONCE1 "\"}", "address" },
	/* addresses no backend can have (netaddr.h), the reason named */
	{ "{\"service\":\"web\",\"address\":\"127.0.0.1\",\"port\":80,\"timestamp_ms\":1,\"nonce\":\"" NONCE1 "\"}", "loopback" },
	{ "{\"service\":\"web\",\"address\":\"0.0.0.0\",\"port\":80,\"timestamp_ms\":1,\"nonce\":\"" NONCE1 "\"}", "unspecified" },
	{ "{\"service\":\"web\",\"address\":\"255.255.255.255\",\"port\":80,\"timestamp_ms\":1,\"nonce\":\"" NONCE1 "\"}", "broadcast" },
	{ "{\"service\":\"web\",\"address\":\"224.0.0.1\",\"port\":80,\"timestamp_ms\":1,\"nonce\":\"" NONCE1 "\"}", "multicast" },
	{ "{\"service\":\"web\",\"address\":\"ff02::1\",\"port\":80,\"timestamp_ms\":1,\"nonce\":\"" NONCE1 "\"}", "multicast" },
	{ "{\"service\":\"web\",\"address\":\"::ffff:127.0.0.1\",\"port\":80,\"timestamp_ms\":1,\"nonce\":\"" NONCE1 "\"}", "loopback" },
	/* 2^64: beyond any integer the parser holds */
	{ "{\"service\":\"web\",\"address\":\"198.18.0.11\",\"port\":18446744073709551616,\"timestamp_ms\":1,\"nonce\":\"" NONCE1 "\"}", "too big integer" },
	/* bad UTF-8: a lone continuation byte, an overlong '/', a surrogate */
	{ "{" REQ ",\"zone\":\"\x80\"}", "UTF-8" },
	{ "{" REQ ",\"zone\":\"\xc0\xaf\"}", "UTF-8" },
	{ "{" REQ ",\"zone\":\"\xed\xa0\x80\"}", "UTF-8" },
	{ "{" REQ ",\"zone\":\"\xf4\x90\x80\x80\"}", "UTF-8" },
	{ "{" REQ ",\"zone\":\"\xe2\x82\"}", "UTF-8" },
	{ "{" REQ ",\"zone\":\"\\u0000\"}", "body" },
};

static void test_parse_malformed(void **state)
{
	struct sy_registration r;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad_bodies) / sizeof(bad_bodies[0]); i++) {
		const char *b = bad_bodies[i].body;

		err[0] = '\0';
		memset(&r, 0x5a, sizeof(r));
		if (sy_registration_parse(b, strlen(b), &r, err, sizeof(err)) != -1)
			fail_msg("accepted #%zu: %s", i, b);
		if (!strstr(err, bad_bodies[i].field))
			fail_msg("#%zu: error \"%s\" does not name \"%s\"", i, err,
				 bad_bodies[i].field);
		/* nothing half-parsed is left behind */
		assert_int_equal(r.service[0], 0);
		assert_int_equal(r.port, 0);
	}
}

static void test_parse_limits(void **state)
{
	struct sy_registration r;
	char body[5001], meta[1100];
	size_t n;

	(void)state;
	/* a NUL inside the given length */
	memcpy(body, "{" REQ "}", sizeof("{" REQ "}"));
	n = strlen(body);
	body[5] = '\0';
	assert_int_equal(sy_registration_parse(body, n, &r, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "NUL"));

	/* a 5000-byte body; a 4096-byte one is allowed */
	n = (size_t)snprintf(body, sizeof(body), "{" REQ ",\"zone\":\"a\"}");
	memmove(body + 4096 - n + 1, body + 1, n);
	memset(body + 1, ' ', 4096 - n);
	assert_int_equal(strlen(body), 4096);
	assert_int_equal(sy_registration_parse(body, 4096, &r, err, sizeof(err)), 0);
	memmove(body + 5000 - 4096 + 1, body + 1, 4096);
	memset(body + 1, ' ', 5000 - 4096);
	assert_int_equal(strlen(body), 5000);
	assert_int_equal(sy_registration_parse(body, 5000, &r, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "body"));
	assert_non_null(strstr(err, "4096"));

	/* metadata larger than 1023 bytes serialized */
	memset(meta, 'x', 1020);
	meta[1020] = '\0';
	snprintf(body, sizeof(body), "{" REQ ",\"metadata\":{\"k\":\"%s\"}}", meta);
	assert_int_equal(sy_registration_parse(body, strlen(body), &r, err,
					       sizeof(err)), -1);
	assert_non_null(strstr(err, "metadata"));
	meta[1023 - 8] = '\0'; /* {"k":"..."} is exactly 1023 bytes */
	snprintf(body, sizeof(body), "{" REQ ",\"metadata\":{\"k\":\"%s\"}}", meta);
	assert_int_equal(sy_registration_parse(body, strlen(body), &r, err,
					       sizeof(err)), 0);
	assert_int_equal(strlen(r.metadata_json), 1023);

	/* NULL arguments */
	assert_int_equal(sy_registration_parse(NULL, 0, &r, err, sizeof(err)), -1);
	assert_int_equal(sy_registration_parse("{}", 2, NULL, NULL, 0), -1);
}

/* ---- authorize ----------------------------------------------------------- */

static void test_authorize_ok(void **state)
{
	const char *body = make_body(NOW, NONCE1, "198.18.0.11");

	(void)state;
	assert_int_equal(authorize(body, NOW), SY_AUTH_OK);
	assert_string_equal(out.service, "web");
	assert_int_equal(out.port, 80);
	assert_int_equal(out.ttl_s, 5);
	assert_string_equal(out.nonce, NONCE1);
	assert_int_equal(sy_nonce_cache_count(&cache), 1);

	/* IPv6 peer and address */
	ip("2001:2::5", &peer_family, peer);
	body = make_body(NOW, NONCE2, "2001:2::11");
	assert_int_equal(authorize(body, NOW), SY_AUTH_OK);
	assert_int_equal(out.family, SY_AF_INET6);
	/* a v4 peer seen through a dual-stack socket */
	ip("::ffff:198.18.0.20", &peer_family, peer);
	body = make_body(NOW, "mapped-peer-nonce-0001", "198.18.0.20");
	assert_int_equal(authorize(body, NOW), SY_AUTH_OK);
}

static void test_authorize_bad_signature(void **state)
{
	const char *body = make_body(NOW, NONCE1, "198.18.0.11");
	size_t len = strlen(body);
	char sig[65], bad[65], copy[1024];

	(void)state;
	sy_hmac_sign(KEY, sizeof(KEY), body, len, sig);

	memcpy(bad, sig, 65);
	bad[17] ^= 1;
	assert_int_equal(authorize_sig(body, len, bad, NOW), SY_AUTH_BAD_SIGNATURE);
	assert_non_null(strstr(err, "signature"));
	memcpy(copy, body, len + 1);
	copy[len - 3] ^= 0x01; /* one bit of the nonce */
	assert_int_equal(authorize_sig(copy, len, sig, NOW), SY_AUTH_BAD_SIGNATURE);
	assert_int_equal(authorize_sig(body, len, NULL, NOW), SY_AUTH_BAD_SIGNATURE);
	assert_int_equal(authorize_sig(body, len, "", NOW), SY_AUTH_BAD_SIGNATURE);
	assert_int_equal(authorize_sig(body, len, "zz", NOW), SY_AUTH_BAD_SIGNATURE);
	memcpy(bad, sig, 65);
	bad[40] = '\0';
	assert_int_equal(authorize_sig(body, len, bad, NOW), SY_AUTH_BAD_SIGNATURE);
	/* signed with another key */
	sy_hmac_sign(OTHER_KEY, sizeof(OTHER_KEY), body, len, bad);
	assert_int_equal(authorize_sig(body, len, bad, NOW), SY_AUTH_BAD_SIGNATURE);
	/* a body is parsed first (it names the service whose key checks it):
	 * garbage is malformed, whatever its signature */
	assert_int_equal(authorize_sig("not json", 8, sig, NOW), SY_AUTH_MALFORMED);
	assert_non_null(strstr(err, "not valid JSON"));

	/* a policy without a usable key accepts nothing, not even a body
	 * "signed" with that same empty/short key */
	policy.klen = 0;
	sy_hmac_sign(KEY, 0, body, len, bad);
	assert_int_equal(authorize_sig(body, len, bad, NOW), SY_AUTH_BAD_SIGNATURE);
	policy.klen = 31;
	sy_hmac_sign(KEY, 31, body, len, bad);
	assert_int_equal(authorize_sig(body, len, bad, NOW), SY_AUTH_BAD_SIGNATURE);
	policy.key = NULL;
	policy.klen = 32;
	assert_int_equal(authorize_sig(body, len, sig, NOW), SY_AUTH_BAD_SIGNATURE);
	policy.key = KEY;

	/* none of these consumed the nonce */
	assert_int_equal(sy_nonce_cache_count(&cache), 0);
	assert_int_equal(authorize_sig(body, len, sig, NOW), SY_AUTH_OK);
}

static void test_authorize_service_binding(void **state)
{
	char body[1024];

	(void)state;
	snprintf(body, sizeof(body), "%s", make_body(NOW, NONCE1, "198.18.0.11"));

	/* web's key signing a body for "api" */
	policy.service = "api";
	assert_int_equal(authorize(body, NOW), SY_AUTH_BAD_SIGNATURE);
	assert_non_null(strstr(err, "service"));
	assert_int_equal(sy_nonce_cache_count(&cache), 0);
	policy.service = "web";
	assert_int_equal(authorize(body, NOW), SY_AUTH_OK);
}

static void test_authorize_stale(void **state)
{
	(void)state;
	/* just outside the skew, both ways */
	assert_int_equal(authorize(make_body(NOW - SKEW - 1, NONCE1, "198.18.0.11"), NOW),
			 SY_AUTH_STALE);
	assert_non_null(strstr(err, "timestamp_ms"));
	assert_non_null(strstr(err, "past"));
	assert_int_equal(authorize(make_body(NOW + SKEW + 1, NONCE1, "198.18.0.11"), NOW),
			 SY_AUTH_STALE);
	assert_non_null(strstr(err, "future"));
	assert_int_equal(authorize(make_body(0, NONCE1, "198.18.0.11"), NOW),
			 SY_AUTH_STALE);
	assert_int_equal(authorize(make_body(NOW, NONCE1, "198.18.0.11"), 0),
			 SY_AUTH_STALE);
	assert_int_equal(sy_nonce_cache_count(&cache), 0);
	/* exactly at the edges */
	assert_int_equal(authorize(make_body(NOW - SKEW, NONCE1, "198.18.0.11"), NOW),
			 SY_AUTH_OK);
	assert_int_equal(authorize(make_body(NOW + SKEW, NONCE2, "198.18.0.11"), NOW),
			 SY_AUTH_OK);
}

static void test_authorize_replay(void **state)
{
	char body[1024], sig[65];
	size_t len;

	(void)state;
	snprintf(body, sizeof(body), "%s", make_body(NOW, NONCE1, "198.18.0.11"));
	len = strlen(body);
	sy_hmac_sign(KEY, sizeof(KEY), body, len, sig);

	/* rejections first: none of them burns the nonce */
	assert_int_equal(authorize_sig(body, len, sig, NOW + SKEW + 1), SY_AUTH_STALE);
	ip("203.0.113.9", &peer_family, peer);
	assert_int_equal(authorize_sig(body, len, sig, NOW), SY_AUTH_PREFIX);
	ip("198.18.0.11", &peer_family, peer);
	assert_int_equal(sy_nonce_cache_count(&cache), 0);

	/* the same body and signature twice */
	assert_int_equal(authorize_sig(body, len, sig, NOW), SY_AUTH_OK);
	memset(&out, 0, sizeof(out));
	assert_int_equal(authorize_sig(body, len, sig, NOW + 1), SY_AUTH_REPLAY);
	assert_non_null(strstr(err, "nonce"));
	assert_int_equal(out.port, 0); /* out untouched on failure */
	/* still a replay at the last instant the timestamp is acceptable, then
	 * stale */
	assert_int_equal(authorize_sig(body, len, sig, NOW + SKEW), SY_AUTH_REPLAY);
	assert_int_equal(authorize_sig(body, len, sig, NOW + SKEW + 1), SY_AUTH_STALE);
	/* a new nonce is fine */
	assert_int_equal(authorize(make_body(NOW, NONCE2, "198.18.0.11"), NOW + 2),
			 SY_AUTH_OK);
}

/* A body stamped in the future stays acceptable for up to 2 * skew; its nonce
 * must be remembered that long even if the cache's own window is shorter. */
static void test_authorize_replay_future_stamp(void **state)
{
	char body[1024], sig[65];
	size_t len;

	(void)state;
	sy_nonce_cache_destroy(&cache);
	assert_int_equal(sy_nonce_cache_init(&cache, 16, 1000), 0);
	snprintf(body, sizeof(body), "%s", make_body(NOW + SKEW, NONCE1, "198.18.0.11"));
	len = strlen(body);
	sy_hmac_sign(KEY, sizeof(KEY), body, len, sig);
	assert_int_equal(authorize_sig(body, len, sig, NOW), SY_AUTH_OK);
	assert_int_equal(authorize_sig(body, len, sig, NOW + 1000), SY_AUTH_REPLAY);
	assert_int_equal(authorize_sig(body, len, sig, NOW + 2 * SKEW), SY_AUTH_REPLAY);
	assert_int_equal(authorize_sig(body, len, sig, NOW + 2 * SKEW + 1), SY_AUTH_STALE);
	/* and then it is forgotten */
	assert_int_equal(sy_nonce_check_and_add(&cache, NONCE1, NOW + 2 * SKEW + 1),
			 SY_NONCE_FRESH);
}

static void test_authorize_prefix(void **state)
{
	(void)state;
	/* disallowed peer */
	ip("203.0.113.9", &peer_family, peer);
	assert_int_equal(authorize(make_body(NOW, NONCE1, "198.18.0.11"), NOW),
			 SY_AUTH_PREFIX);
	assert_non_null(strstr(err, "peer"));
	assert_non_null(strstr(err, "203.0.113.9"));
	ip("2001:db8::1", &peer_family, peer);
	assert_int_equal(authorize(make_body(NOW, NONCE1, "198.18.0.11"), NOW),
			 SY_AUTH_PREFIX);
	ip("::ffff:203.0.113.9", &peer_family, peer);
	assert_int_equal(authorize(make_body(NOW, NONCE1, "198.18.0.11"), NOW),
			 SY_AUTH_PREFIX);
	{ /* no peer address at all */
		const char *b = make_body(NOW, NONCE1, "198.18.0.11");
		struct sy_registration r;
		char sig[65];

		sy_hmac_sign(KEY, sizeof(KEY), b, strlen(b), sig);
		assert_int_equal(sy_registration_parse(b, strlen(b), &r, NULL, 0), 0);
		assert_int_equal(sy_registration_authorize(&policy, b, strlen(b), &r,
			sig, SY_AF_INET, NULL, NOW, &cache, NULL, 0),
			SY_AUTH_PREFIX);
	}

	/* allowed peer registering a disallowed address */
	ip("198.18.0.11", &peer_family, peer);
	assert_int_equal(authorize(make_body(NOW, NONCE1, "198.18.1.11"), NOW),
			 SY_AUTH_PREFIX);
	assert_non_null(strstr(err, "address"));
	assert_non_null(strstr(err, "198.18.1.11"));
	assert_int_equal(authorize(make_body(NOW, NONCE1, "2001:db8::11"), NOW),
			 SY_AUTH_PREFIX);
	assert_int_equal(authorize(make_body(NOW, NONCE1, "::ffff:10.0.0.1"), NOW),
			 SY_AUTH_PREFIX);

	/* no prefixes configured: nothing is allowed */
	policy.n_prefixes = 0;
	assert_int_equal(authorize(make_body(NOW, NONCE1, "198.18.0.11"), NOW),
			 SY_AUTH_PREFIX);
	policy.n_prefixes = 2;

	assert_int_equal(sy_nonce_cache_count(&cache), 0);
	assert_int_equal(authorize(make_body(NOW, NONCE1, "198.18.0.11"), NOW),
			 SY_AUTH_OK);
}

static void test_authorize_malformed(void **state)
{
	char big[5001];
	size_t i;

	(void)state;
	/* correctly signed but malformed bodies */
	for (i = 0; i < sizeof(bad_bodies) / sizeof(bad_bodies[0]); i++) {
		const char *b = bad_bodies[i].body;

		if (authorize(b, NOW) != SY_AUTH_MALFORMED)
			fail_msg("#%zu not malformed: %s", i, b);
		if (!strstr(err, bad_bodies[i].field))
			fail_msg("#%zu: error \"%s\" does not name \"%s\"", i, err,
				 bad_bodies[i].field);
	}
	/* over 4 KiB, even correctly signed: rejected before anything else */
	memset(big, ' ', 5000);
	big[5000] = '\0';
	memcpy(big, "{" REQ, strlen("{" REQ));
	big[4999] = '}';
	assert_int_equal(authorize(big, NOW), SY_AUTH_TOO_LARGE);
	assert_non_null(strstr(err, "body"));
	assert_int_equal(sy_auth_http_status(SY_AUTH_TOO_LARGE), 413);
	assert_int_equal(sy_nonce_cache_count(&cache), 0);
}

static void test_authorize_cache_full(void **state)
{
	(void)state;
	sy_nonce_cache_destroy(&cache);
	assert_int_equal(sy_nonce_cache_init(&cache, 1, SKEW), 0);
	assert_int_equal(authorize(make_body(NOW, NONCE1, "198.18.0.11"), NOW),
			 SY_AUTH_OK);
	assert_int_equal(authorize(make_body(NOW, NONCE2, "198.18.0.11"), NOW),
			 SY_AUTH_BUSY);
	assert_non_null(strstr(err, "full"));
	assert_int_equal(sy_auth_http_status(SY_AUTH_BUSY), 503);
	/* once the first expires there is room again */
	assert_int_equal(authorize(make_body(NOW + SKEW + 1, NONCE2, "198.18.0.11"),
				   NOW + SKEW + 1), SY_AUTH_OK);
	/* no cache at all: refuse */
	{
		const char *b = make_body(NOW, "no-cache-nonce-0001", "198.18.0.11");
		struct sy_registration r;
		char sig[65];

		sy_hmac_sign(KEY, sizeof(KEY), b, strlen(b), sig);
		assert_int_equal(sy_registration_parse(b, strlen(b), &r, NULL, 0), 0);
		assert_int_equal(sy_registration_authorize(&policy, b, strlen(b), &r,
			sig, peer_family, peer, NOW, NULL, NULL, 0),
			SY_AUTH_BUSY);
	}
}

/* ---- build (agent side) -------------------------------------------------- */

static void test_build(void **state)
{
	struct sy_registration r, back;
	char body[SY_REG_MAX_BODY + 1], body2[SY_REG_MAX_BODY + 1], sig[65], sig2[65];
	size_t n, n2;

	(void)state;
	memset(&r, 0, sizeof(r));
	strcpy(r.service, "web");
	ip("198.18.0.11", &r.family, r.addr);
	r.port = 80;
	r.weight = 1;
	strcpy(r.zone, "a");
	strcpy(r.metadata_json, "{\"version\":\"1.2\"}");
	r.ttl_s = 5;
	r.server_id = 0x123;
	r.timestamp_ms = NOW;
	strcpy(r.nonce, NONCE1);

	assert_int_equal(sy_registration_build(&r, KEY, sizeof(KEY), body,
					       sizeof(body), sig), 0);
	n = strlen(body);
	assert_string_equal(body,
		"{\"service\":\"web\",\"address\":\"198.18.0.11\",\"port\":80,"
		"\"weight\":1,\"zone\":\"a\",\"metadata\":{\"version\":\"1.2\"},"
		"\"ttl_s\":5,\"server_id\":291,\"timestamp_ms\":1795000000000,\"nonce\":\"" NONCE1 "\"}");
	assert_true(sy_hmac_verify(KEY, sizeof(KEY), body, n, sig));
	/* deterministic with an explicit nonce */
	assert_int_equal(sy_registration_build(&r, KEY, sizeof(KEY), body2,
					       sizeof(body2), sig2), 0);
	assert_string_equal(body, body2);
	assert_string_equal(sig, sig2);

	/* the server accepts it and gets the same registration back */
	assert_int_equal(authorize_sig(body, n, sig, NOW), SY_AUTH_OK);
	assert_string_equal(out.service, r.service);
	assert_int_equal(out.family, r.family);
	assert_memory_equal(out.addr, r.addr, sizeof(r.addr));
	assert_int_equal(out.port, r.port);
	assert_int_equal(out.weight, r.weight);
	assert_string_equal(out.zone, r.zone);
	assert_string_equal(out.metadata_json, r.metadata_json);
	assert_int_equal(out.ttl_s, r.ttl_s);
	assert_int_equal(out.server_id, 0x123);
	assert_int_equal(out.timestamp_ms, r.timestamp_ms);
	assert_string_equal(out.nonce, r.nonce);

	/* a random nonce when none is given: two builds differ */
	r.nonce[0] = '\0';
	r.zone[0] = '\0';
	r.metadata_json[0] = '\0';
	r.ttl_s = 0;
	r.server_id = 0;
	ip("2001:2::11", &r.family, r.addr);
	assert_int_equal(sy_registration_build(&r, KEY, sizeof(KEY), body,
					       sizeof(body), sig), 0);
	assert_int_equal(sy_registration_build(&r, KEY, sizeof(KEY), body2,
					       sizeof(body2), sig2), 0);
	n = strlen(body);
	n2 = strlen(body2);
	assert_string_not_equal(body, body2);
	assert_null(strstr(body, "zone"));
	assert_null(strstr(body, "metadata"));
	assert_null(strstr(body, "ttl_s"));
	assert_null(strstr(body, "server_id"));
	assert_int_equal(sy_registration_parse(body, n, &back, err,
					       sizeof(err)), 0);
	assert_int_equal(strlen(back.nonce), 32);
	assert_true(sy_nonce_valid(back.nonce));
	assert_int_equal(back.family, SY_AF_INET6);
	assert_memory_equal(back.addr, r.addr, 16);
	assert_int_equal(authorize_sig(body, n, sig, NOW), SY_AUTH_OK);
	assert_int_equal(authorize_sig(body2, n2, sig2, NOW), SY_AUTH_OK);
	assert_int_equal(authorize_sig(body2, n2, sig2, NOW), SY_AUTH_REPLAY);

	/* invalid registrations and buffers are refused */
	back = r;
	back.port = 0;
	assert_int_equal(sy_registration_build(&back, KEY, sizeof(KEY), body,
					       sizeof(body), sig), -1);
	assert_string_equal(body, "");
	assert_string_equal(sig, "");
	back = r;
	back.weight = 70000;
	assert_int_equal(sy_registration_build(&back, KEY, sizeof(KEY), body,
					       sizeof(body), sig), -1);
	back = r;
	back.server_id = 0x1000000; /* beyond a version-2 CID */
	assert_int_equal(sy_registration_build(&back, KEY, sizeof(KEY), body,
					       sizeof(body), sig), -1);
	back = r;
	strcpy(back.metadata_json, "[1]");
	assert_int_equal(sy_registration_build(&back, KEY, sizeof(KEY), body,
					       sizeof(body), sig), -1);
	back = r;
	strcpy(back.service, "bad name");
	assert_int_equal(sy_registration_build(&back, KEY, sizeof(KEY), body,
					       sizeof(body), sig), -1);
	back = r;
	strcpy(back.nonce, "short");
	assert_int_equal(sy_registration_build(&back, KEY, sizeof(KEY), body,
					       sizeof(body), sig), -1);
	back = r;
	back.family = 0;
	assert_int_equal(sy_registration_build(&back, KEY, sizeof(KEY), body,
					       sizeof(body), sig), -1);
	assert_int_equal(sy_registration_build(&r, KEY, sizeof(KEY), body, 20, sig), -1);
	assert_int_equal(sy_registration_build(&r, KEY, 16, body, sizeof(body), sig), -1);
}

static void test_result_names(void **state)
{
	(void)state;
	assert_int_equal(sy_auth_http_status(SY_AUTH_OK), 200);
	assert_int_equal(sy_auth_http_status(SY_AUTH_MALFORMED), 400);
	assert_int_equal(sy_auth_http_status(SY_AUTH_BAD_SIGNATURE), 401);
	assert_int_equal(sy_auth_http_status(SY_AUTH_STALE), 401);
	assert_int_equal(sy_auth_http_status(SY_AUTH_REPLAY), 401);
	assert_int_equal(sy_auth_http_status(SY_AUTH_PREFIX), 403);
	assert_string_equal(sy_auth_result_str(SY_AUTH_REPLAY), "replay");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc4231),
		cmocka_unit_test(test_sign_verify),
		cmocka_unit_test(test_malformed_signatures),
		cmocka_unit_test(test_nonce_basic),
		cmocka_unit_test(test_nonce_full_fails_closed),
		cmocka_unit_test(test_nonce_clock_steps_back),
		cmocka_unit_test(test_nonce_model),
		cmocka_unit_test(test_prefix_parse),
		cmocka_unit_test(test_prefix_contains),
		cmocka_unit_test(test_key_file),
		cmocka_unit_test(test_key_file_cleanup),
		cmocka_unit_test(test_parse_ok),
		cmocka_unit_test(test_parse_malformed),
		cmocka_unit_test(test_parse_limits),
		cmocka_unit_test_setup_teardown(test_authorize_ok, setup, teardown),
		cmocka_unit_test_setup_teardown(test_authorize_bad_signature, setup, teardown),
		cmocka_unit_test_setup_teardown(test_authorize_service_binding, setup, teardown),
		cmocka_unit_test_setup_teardown(test_authorize_stale, setup, teardown),
		cmocka_unit_test_setup_teardown(test_authorize_replay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_authorize_replay_future_stamp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_authorize_prefix, setup, teardown),
		cmocka_unit_test_setup_teardown(test_authorize_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_authorize_cache_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_build, setup, teardown),
		cmocka_unit_test(test_result_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
