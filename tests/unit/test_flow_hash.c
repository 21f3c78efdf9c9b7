/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Pins THE flow hash (include/switchyard/flow_hash.h) and the jhash it is
 * built on (include/switchyard/jhash.h). Every value below is hard-coded on
 * purpose: a change of the hash is a fleet-wide flag day and must not happen
 * by accident. If one of these tests fails, the hash changed.
 *
 * Where the constants come from:
 *  - The two byte-string answers (0x17770551, 0xcd628161) are the published
 *    answers of Bob Jenkins' lookup3.c self-test for
 *    hashlittle("Four score and seven years ago", 30, 0 / 1). They check the
 *    SY_JHASH_MIX / SY_JHASH_FINAL macros through a byte-oriented jhash (the
 *    Linux jhash()) assembled from them below.
 *  - The word vectors were computed with three independent implementations
 *    that agree on every value: DPDK 22.11's rte_jhash_32b(), a transcription
 *    of Linux include/linux/jhash.h jhash2() (which also reproduces the two
 *    lookup3 answers above) and sy_jhash_words() itself. An empty key hashes
 *    to JHASH_INITVAL + seed with no mixing, so those entries can be checked
 *    by hand.
 *  - The flow vectors were computed from the written definition in
 *    flow_hash.h (words loaded little-endian from wire-order bytes) by the same
 *    jhash2 transcription, and agree with sy_flow_hash().
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <switchyard/flow_hash.h>
#include <switchyard/jhash.h>

#include "test_rand.h"

/* ---- helpers ------------------------------------------------------------ */

static uint64_t rng_state;

static uint64_t rng_next(void)
{
	return sy_test_splitmix64(&rng_state); /* splitmix64: fixed seed per test, so runs are deterministic */
}

static uint32_t rng32(void)
{
	return (uint32_t)(rng_next() >> 32);
}

/* Byte-oriented jhash (Linux jhash(), lookup3 hashlittle() on little-endian
 * hosts) built from the header's mix and final steps, so that lookup3's
 * published answers can check those steps. */
static uint32_t jhash_bytes(const void *key, uint32_t length, uint32_t initval)
{
	const uint8_t *k = key;
	uint32_t a, b, c, w[3];

	a = b = c = SY_JHASH_INITVAL + length + initval;
	while (length > 12) {
		memcpy(w, k, sizeof(w));
		a += w[0];
		b += w[1];
		c += w[2];
		SY_JHASH_MIX(a, b, c);
		length -= 12;
		k += 12;
	}
	if (length == 0)
		return c;
	{
		uint8_t tail[12] = { 0 };

		memcpy(tail, k, length);
		memcpy(w, tail, sizeof(w));
	}
	a += w[0];
	b += w[1];
	c += w[2];
	SY_JHASH_FINAL(a, b, c);
	return c;
}

static struct sy_flow_key make_key(const char *src, const char *dst,
				   uint16_t sport, uint16_t dport, uint8_t proto)
{
	struct sy_flow_key k;
	int v6 = strchr(src, ':') != NULL;

	memset(&k, 0, sizeof(k));
	k.family = v6 ? SY_AF_INET6 : SY_AF_INET;
	assert_int_equal(inet_pton(v6 ? AF_INET6 : AF_INET, src, k.src), 1);
	assert_int_equal(inet_pton(v6 ? AF_INET6 : AF_INET, dst, k.dst), 1);
	k.sport = htons(sport);
	k.dport = htons(dport);
	k.proto = proto;
	return k;
}

static struct sy_flow_key random_key(int v6)
{
	struct sy_flow_key k;

	memset(&k, 0, sizeof(k));
	k.family = v6 ? SY_AF_INET6 : SY_AF_INET;
	for (int i = 0; i < (v6 ? 4 : 1); i++) {
		k.src[i] = rng32();
		k.dst[i] = rng32();
	}
	k.sport = (uint16_t)rng32();
	k.dport = (uint16_t)rng32();
	k.proto = (rng32() & 1) ? 6 : 17;
	return k;
}

/* ---- jhash -------------------------------------------------------------- */

static void test_jhash_lookup3_published(void **state)
{
	static const char s[] = "Four score and seven years ago";

	(void)state;
	assert_int_equal(sizeof(s) - 1, 30);
	/* lookup3.c driver5: hashlittle(s, 30, 0) and hashlittle(s, 30, 1) */
	assert_int_equal(jhash_bytes(s, 30, 0), 0x17770551u);
	assert_int_equal(jhash_bytes(s, 30, 1), 0xcd628161u);
	assert_int_equal(jhash_bytes("", 0, 0), 0xdeadbeefu);

	/* On whole words, the byte and word variants agree (hashword() ==
	 * hashlittle() on little-endian): 28 bytes = 7 words. */
	{
		uint32_t w[7];

		memcpy(w, s, sizeof(w));
		assert_int_equal(sy_jhash_words(w, 7, 0), jhash_bytes(s, 28, 0));
		assert_int_equal(sy_jhash_words(w, 7, 0x12345678u),
				 jhash_bytes(s, 28, 0x12345678u));
		print_message("lookup3 published answers: 0x%08x 0x%08x; "
			      "words(7) == bytes(28): 0x%08x\n",
			      jhash_bytes(s, 30, 0), jhash_bytes(s, 30, 1),
			      sy_jhash_words(w, 7, 0));
	}
}

static void test_jhash_words_vectors(void **state)
{
	static const uint32_t seeds[4] = { 0, 1, 0x9e3779b9u, 0xdeadbeefu };
	static const struct {
		uint32_t len;
		uint32_t expect[4];
	} v[] = {
		{ 0, { 0xdeadbeefu, 0xdeadbef0u, 0x7ce538a8u, 0xbd5b7ddeu } },
		{ 1, { 0xec5b1971u, 0xdce14329u, 0xb995150cu, 0x0b6093b1u } },
		{ 2, { 0x7d9f9502u, 0x6b366028u, 0xe08e5820u, 0xed82d051u } },
		{ 3, { 0x6c07eea8u, 0x56915653u, 0x10d08a83u, 0x750102a7u } },
		{ 4, { 0x4aa647c0u, 0x554b4c77u, 0x0cf017e6u, 0x5733b697u } },
		{ 5, { 0x8653d3b5u, 0xffe3d3a2u, 0x7936a46cu, 0xd7a8d66eu } },
		{ 6, { 0x281a9248u, 0xdbdcff98u, 0xc34f38fau, 0x42978b52u } },
		{ 7, { 0x6b104285u, 0xa67b2b07u, 0x18d85e66u, 0x221fc513u } },
		{ 10, { 0x9dfc13d6u, 0x32031d0cu, 0x37647f9fu, 0x744327ceu } },
		{ 13, { 0x870c865bu, 0xfefb20c0u, 0x28fe1143u, 0x853e0c1cu } },
	};
	uint32_t k[16];

	(void)state;
	/* key[i] = 0x01020304 * (i + 1) */
	for (uint32_t i = 0; i < 16; i++)
		k[i] = 0x01020304u * (i + 1);
	for (size_t t = 0; t < sizeof(v) / sizeof(v[0]); t++)
		for (int s = 0; s < 4; s++)
			assert_int_equal(sy_jhash_words(k, v[t].len, seeds[s]),
					 v[t].expect[s]);
	/* Empty key: no mixing, c = JHASH_INITVAL + seed. */
	assert_int_equal(sy_jhash_words(k, 0, 0x12345678u), 0xdeadbeefu + 0x12345678u);
	print_message("jhash2 vectors: %zu lengths x 4 seeds match "
		      "(e.g. len 4 seed 0 = 0x%08x)\n",
		      sizeof(v) / sizeof(v[0]), sy_jhash_words(k, 4, 0));
}

/* ---- flow hash ---------------------------------------------------------- */

static const struct {
	const char *src, *dst;
	uint16_t sport, dport;
	uint8_t proto;
	uint32_t full[4]; /* seeds: 0, 1, 0x5eed5eed, 0xdeadbeef */
	uint32_t frag[4]; /* same key after sy_flow_key_drop_ports */
} flow_vectors[] = {
	{ "10.0.0.1", "192.0.2.10", 12345, 80, 6,
	  { 0x386ff8aau, 0x91e0ddc9u, 0xbf04338fu, 0x3fb49bf6u },
	  { 0x4eb18c44u, 0xe8f0ccccu, 0x6e06f0fdu, 0x259349e7u } },
	{ "198.51.100.7", "203.0.113.1", 53000, 443, 17,
	  { 0x8ec8bc46u, 0x7cfbff70u, 0x6ed3bff2u, 0xe55c6776u },
	  { 0x8fa5ef69u, 0x43b129b2u, 0x03057f48u, 0x437c6a86u } },
	{ "2001:db8::1", "2001:db8:ffff::80", 40000, 443, 6,
	  { 0x4654d6c0u, 0x172eb103u, 0x3e6859a3u, 0xb13e4955u },
	  { 0xb335d37fu, 0x0b2f9ee2u, 0x457dbe27u, 0xda7df147u } },
	{ "fe80::1234:5678:9abc:def0", "ff02::fb", 5353, 5353, 17,
	  { 0x8f591b67u, 0xb9489913u, 0x5e11351eu, 0xf1cf3757u },
	  { 0xd29d9f24u, 0xb2e1aeecu, 0x9fd62a43u, 0x6b8bbfadu } },
};
static const uint32_t flow_seeds[4] = { 0, 1, 0x5eed5eedu, 0xdeadbeefu };

static void test_flow_hash_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(flow_vectors) / sizeof(flow_vectors[0]); i++) {
		struct sy_flow_key k = make_key(flow_vectors[i].src, flow_vectors[i].dst,
						flow_vectors[i].sport,
						flow_vectors[i].dport,
						flow_vectors[i].proto);

		for (int s = 0; s < 4; s++)
			assert_int_equal(sy_flow_hash(&k, flow_seeds[s]),
					 flow_vectors[i].full[s]);
		print_message("%s:%u -> %s:%u proto %u: seed 0 = 0x%08x",
			      flow_vectors[i].src, flow_vectors[i].sport,
			      flow_vectors[i].dst, flow_vectors[i].dport,
			      flow_vectors[i].proto, sy_flow_hash(&k, 0));
		sy_flow_key_drop_ports(&k);
		assert_int_equal(k.sport, 0);
		assert_int_equal(k.dport, 0);
		for (int s = 0; s < 4; s++)
			assert_int_equal(sy_flow_hash(&k, flow_seeds[s]),
					 flow_vectors[i].frag[s]);
		print_message(", fragment 3-tuple = 0x%08x\n", sy_flow_hash(&k, 0));
	}
}

/* sy_flow_hash against the written definition, assembled here from the key's
 * raw wire-order bytes rather than from the header's helpers. */
static void test_flow_hash_definition(void **state)
{
	(void)state;
	rng_state = 0xf10f1234ull;
	for (int i = 0; i < 2000; i++) {
		int v6 = i & 1;
		struct sy_flow_key k = random_key(v6);
		uint32_t seed = rng32();
		uint32_t w[10], n = 0;
		uint8_t ports[4];

		memcpy(&w[n], k.src, v6 ? 16 : 4);
		n += v6 ? 4 : 1;
		memcpy(&w[n], k.dst, v6 ? 16 : 4);
		n += v6 ? 4 : 1;
		memcpy(&ports[0], &k.sport, 2); /* wire order */
		memcpy(&ports[2], &k.dport, 2);
		w[n++] = (uint32_t)ports[0] | (uint32_t)ports[1] << 8 |
			 (uint32_t)ports[2] << 16 | (uint32_t)ports[3] << 24;
		w[n++] = k.proto;
		assert_int_equal(sy_flow_hash(&k, seed), sy_jhash_words(w, n, seed));
	}
}

static void test_flow_hash_v4_equals_generic(void **state)
{
	(void)state;
	rng_state = 0x4444ull;
	for (int i = 0; i < 1000; i++) {
		struct sy_flow_key k = random_key(0);
		uint32_t seed = rng32();

		assert_int_equal(sy_flow_hash(&k, seed),
				 sy_flow_hash_v4(k.src[0], k.dst[0],
						 sy_flow_ports_word(&k), k.proto, seed));
		assert_int_equal(sy_flow_ports_word(&k),
				 (uint32_t)k.sport | (uint32_t)k.dport << 16);
	}
	for (int i = 0; i < 1000; i++) {
		struct sy_flow_key k = random_key(1);
		uint32_t seed = rng32();

		assert_int_equal(sy_flow_hash(&k, seed),
				 sy_flow_hash_v6(k.src, k.dst, sy_flow_ports_word(&k),
						 k.proto, seed));
	}
}

enum field { F_SRC0, F_SRC1, F_SRC2, F_SRC3, F_DST0, F_DST1, F_DST2, F_DST3,
	     F_SPORT, F_DPORT, F_PROTO, F_COUNT };
static const char *const field_name[F_COUNT] = {
	"src[0]", "src[1]", "src[2]", "src[3]", "dst[0]", "dst[1]",
	"dst[2]", "dst[3]", "sport", "dport", "proto",
};

/* Change one field to a different random value. */
static void perturb(struct sy_flow_key *k, enum field f)
{
	switch (f) {
	case F_SRC0: case F_SRC1: case F_SRC2: case F_SRC3: {
		uint32_t old = k->src[f - F_SRC0];

		do
			k->src[f - F_SRC0] = rng32();
		while (k->src[f - F_SRC0] == old);
		break;
	}
	case F_DST0: case F_DST1: case F_DST2: case F_DST3: {
		uint32_t old = k->dst[f - F_DST0];

		do
			k->dst[f - F_DST0] = rng32();
		while (k->dst[f - F_DST0] == old);
		break;
	}
	case F_SPORT: {
		uint16_t old = k->sport;

		do
			k->sport = (uint16_t)rng32();
		while (k->sport == old);
		break;
	}
	case F_DPORT: {
		uint16_t old = k->dport;

		do
			k->dport = (uint16_t)rng32();
		while (k->dport == old);
		break;
	}
	case F_PROTO: {
		uint8_t old = k->proto;

		do
			k->proto = (uint8_t)rng32();
		while (k->proto == old);
		break;
	}
	default:
		fail();
	}
}

#define SAMPLE_KEYS 500

static void test_flow_hash_every_field_counts(void **state)
{
	static const uint32_t seeds[3] = { 0, 0x5eed5eedu, 0xdeadbeefu };

	(void)state;
	rng_state = 0xf1e1dull;
	for (int v6 = 0; v6 <= 1; v6++) {
		int nfields = 0;

		for (int f = 0; f < F_COUNT; f++) {
			unsigned changed = 0, tried = 0;

			if (!v6 && ((f >= F_SRC1 && f <= F_SRC3) ||
				    (f >= F_DST1 && f <= F_DST3)))
				continue; /* not part of an IPv4 key */
			nfields++;
			for (int i = 0; i < SAMPLE_KEYS; i++) {
				struct sy_flow_key k = random_key(v6), k2 = k;

				perturb(&k2, (enum field)f);
				for (int s = 0; s < 3; s++) {
					tried++;
					if (sy_flow_hash(&k, seeds[s]) !=
					    sy_flow_hash(&k2, seeds[s]))
						changed++;
				}
			}
			if (changed != tried)
				print_message("IPv%d field %s: hash changed %u of %u\n",
					      v6 ? 6 : 4, field_name[f], changed, tried);
			assert_int_equal(changed, tried);
		}
		print_message("IPv%d: each of %d fields changes the hash for all "
			      "%d sample keys x 3 seeds\n",
			      v6 ? 6 : 4, nfields, SAMPLE_KEYS);
	}
}

/* The definition: an IPv4 hash covers exactly (src, dst, ports, proto); the
 * family selects the definition; pad is never hashed. */
static void test_flow_hash_family_and_unused(void **state)
{
	(void)state;
	rng_state = 0xabcdefull;
	for (int i = 0; i < 500; i++) {
		struct sy_flow_key k = random_key(i & 1), k2 = k;
		uint32_t seed = rng32();
		uint32_t h = sy_flow_hash(&k, seed);

		k2.pad = 0xffff;
		assert_int_equal(sy_flow_hash(&k2, seed), h);
		k2 = k;
		k2.family = (i & 1) ? SY_AF_INET : SY_AF_INET6;
		assert_int_not_equal(sy_flow_hash(&k2, seed), h);
		if (!(i & 1)) {
			/* words 1..3 of an IPv4 address are not part of the
			 * IPv4 definition (the contract keeps them zero) */
			k2 = k;
			k2.src[3] = rng32() | 1;
			k2.dst[1] = rng32() | 1;
			assert_int_equal(sy_flow_hash(&k2, seed), h);
		}
	}
}

static void test_drop_ports_fragment(void **state)
{
	(void)state;
	rng_state = 0xf4a6ull;
	/* All fragments of one datagram: whatever ports the first fragment
	 * carried, the 3-tuple hash is the same and equals the ports = 0 key. */
	for (int i = 0; i < 200; i++) {
		struct sy_flow_key k = random_key(i & 1), a = k, b = k;

		sy_flow_key_drop_ports(&a);
		b.sport = 0;
		b.dport = 0;
		assert_memory_equal(&a, &b, sizeof(a));
		k.sport = (uint16_t)(rng32() | 1);
		b = k;
		sy_flow_key_drop_ports(&b);
		assert_int_equal(sy_flow_hash(&a, 7), sy_flow_hash(&b, 7));
		assert_int_equal(a.proto, k.proto);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_jhash_lookup3_published),
		cmocka_unit_test(test_jhash_words_vectors),
		cmocka_unit_test(test_flow_hash_vectors),
		cmocka_unit_test(test_flow_hash_definition),
		cmocka_unit_test(test_flow_hash_v4_equals_generic),
		cmocka_unit_test(test_flow_hash_every_field_counts),
		cmocka_unit_test(test_flow_hash_family_and_unused),
		cmocka_unit_test(test_drop_ports_fragment),
	};

	return cmocka_run_group_tests_name("flow_hash", tests, NULL, NULL);
}
