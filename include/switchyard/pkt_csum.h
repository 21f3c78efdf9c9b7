/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Internet checksum arithmetic (RFC 1071) of the shared packet core, for
 * both targets. Sums are "partial": 32 or 64-bit one's complement sums of
 * the data read as little-endian words, i.e. in memory order; folding them
 * to 16 bits and inverting gives the checksum field, stored as it is.
 *
 * The checksum of a frame range (many bytes) is a frame operation
 * (sy_frame_csum() in pkt_frame.h): a loop over words in C, bpf_csum_diff()
 * in BPF. sy_csum_partial() is its C body, also used on plain buffers.
 */
#ifndef SWITCHYARD_PKT_CSUM_H
#define SWITCHYARD_PKT_CSUM_H

#include "flow_hash.h" /* SY_AF_INET */
#include "sy_types.h"

/* Fold a 64-bit partial sum to 16 bits, not inverted. */
static __sy_always_inline uint16_t sy_csum_fold16(uint64_t s)
{
	s = (s & 0xffffffff) + (s >> 32);
	s = (s & 0xffffffff) + (s >> 32);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

/* A 64-bit partial sum folded to 32 bits with the end-around carry. In C
 * by rotation: the high half of s + (s rotated by 32) is hi + lo + the
 * carry of that sum, the value of two fold steps, in one add (x86 has a
 * rotate; BPF has none, and keeps the two steps). */
static __sy_always_inline uint32_t sy_csum_fold32(uint64_t s)
{
#if defined(__bpf__)
	s = (s & 0xffffffff) + (s >> 32);
	s = (s & 0xffffffff) + (s >> 32);
	return (uint32_t)s;
#else
	s += (s >> 32) | (s << 32);
	return (uint32_t)(s >> 32);
#endif
}

/* The checksum field of a 32-bit partial sum: folded and inverted (in C by
 * rotation, as sy_csum_fold32(): the same value as two fold steps). */
static __sy_always_inline uint16_t sy_csum_fold(uint32_t sum)
{
#if defined(__bpf__)
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
#else
	sum += (sum >> 16) | (sum << 16);
	return (uint16_t)~(sum >> 16);
#endif
}

/* Partial sum of an upper-layer pseudo-header (RFC 768, RFC 8200 §8.1) in
 * memory order, 32 bits with the end-around carry: a seed for the sum of the
 * upper-layer packet. Addresses in wire order, IPv4 in [0]. */
static __sy_always_inline uint32_t sy_csum_pseudo(uint8_t family, const uint32_t *src,
						  const uint32_t *dst, uint32_t len, uint8_t proto)
{
	/* 64-bit: the address words add up to more than 2^32, and a carry
	 * lost here would be a checksum off by one */
	uint64_t s;

	if (family == SY_AF_INET) {
		s = (uint64_t)src[0] + dst[0];
		s += (uint16_t)__builtin_bswap16((uint16_t)len);
	} else {
		s = (uint64_t)src[0] + src[1] + src[2] + src[3];
		s += (uint64_t)dst[0] + dst[1] + dst[2] + dst[3];
		s += (uint16_t)__builtin_bswap16((uint16_t)(len >> 16));
		s += (uint16_t)__builtin_bswap16((uint16_t)len);
	}
	s += (uint16_t)__builtin_bswap16((uint16_t)proto);
	s = (s & 0xffffffff) + (s >> 32);
	return (uint32_t)((s & 0xffffffff) + (s >> 32));
}

#if !defined(__bpf__)

/* Partial sum of len bytes at data, added to sum (C only: a loop). */
static inline uint32_t sy_csum_partial(const void *data, uint32_t len, uint32_t sum)
{
	const uint8_t *p = (const uint8_t *)data;
	uint64_t s = sum;

	/* 32-bit words into a 64-bit accumulator: the one's complement sum
	 * is the same, four times fewer steps than 16-bit words */
	for (; len >= 4; p += 4, len -= 4) {
		uint32_t w;

		__builtin_memcpy(&w, p, 4);
		s += w;
	}
	if (len >= 2) {
		uint16_t w;

		__builtin_memcpy(&w, p, 2);
		s += w;
		p += 2;
		len -= 2;
	}
	if (len) /* odd trailing byte, padded with zero in memory order */
		s += *p;
	s = (s & 0xffffffff) + (s >> 32);
	s = (s & 0xffffffff) + (s >> 32);
	return (uint32_t)s;
}

#endif

#endif
