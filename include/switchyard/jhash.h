/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Bob Jenkins' lookup3 hash ("jhash") over 32-bit words, written so that the
 * same header compiles in userspace C and with `clang -target bpf` (no libc,
 * no DPDK). This is the word-oriented variant (jhash2 in Linux), which is all
 * Switchyard needs: every key we hash is built from whole 32-bit words.
 */
#ifndef SWITCHYARD_JHASH_H
#define SWITCHYARD_JHASH_H

#include "sy_types.h"

#define SY_JHASH_INITVAL 0xdeadbeefu

static __sy_always_inline uint32_t sy_rol32(uint32_t w, unsigned int s)
{
	return (w << s) | (w >> (32 - s));
}

#define SY_JHASH_MIX(a, b, c)                                                  \
	do {                                                                   \
		a -= c; a ^= sy_rol32(c, 4);  c += b;                          \
		b -= a; b ^= sy_rol32(a, 6);  a += c;                          \
		c -= b; c ^= sy_rol32(b, 8);  b += a;                          \
		a -= c; a ^= sy_rol32(c, 16); c += b;                          \
		b -= a; b ^= sy_rol32(a, 19); a += c;                          \
		c -= b; c ^= sy_rol32(b, 4);  b += a;                          \
	} while (0)

#define SY_JHASH_FINAL(a, b, c)                                                \
	do {                                                                   \
		c ^= b; c -= sy_rol32(b, 14);                                  \
		a ^= c; a -= sy_rol32(c, 11);                                  \
		b ^= a; b -= sy_rol32(a, 25);                                  \
		c ^= b; c -= sy_rol32(b, 16);                                  \
		a ^= c; a -= sy_rol32(c, 4);                                   \
		b ^= a; b -= sy_rol32(a, 14);                                  \
		c ^= b; c -= sy_rol32(b, 24);                                  \
	} while (0)

/* Hash `len` 32-bit words with `seed`. `len` is a compile-time constant at
 * every call site in the BPF program, so clang fully unrolls the loop. */
static __sy_always_inline uint32_t sy_jhash_words(const uint32_t *k,
						  uint32_t len, uint32_t seed)
{
	uint32_t a, b, c;

	a = b = c = SY_JHASH_INITVAL + (len << 2) + seed;
	while (len > 3) {
		a += k[0];
		b += k[1];
		c += k[2];
		SY_JHASH_MIX(a, b, c);
		len -= 3;
		k += 3;
	}
	switch (len) {
	case 3:
		c += k[2];
		/* fallthrough */
	case 2:
		b += k[1];
		/* fallthrough */
	case 1:
		a += k[0];
		SY_JHASH_FINAL(a, b, c);
		break;
	default:
		break;
	}
	return c;
}

#endif
