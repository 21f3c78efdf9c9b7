/* SPDX-License-Identifier: BSD-3-Clause
 *
 * THE flow hash. One function, used by the DPDK dataplane, the XDP program and
 * `syctl lookup`, so that a flow maps to the same Maglev slot on every host of
 * a fleet and on both paths (DESIGN.md, "One hash, everywhere").
 *
 * Definition (a change here is a fleet-wide flag day; tests/unit/test_flow_hash.c
 * pins fixed vectors so it cannot happen by accident):
 *   jhash over 32-bit words with the fleet seed;
 *   IPv4: 4 words  = src, dst, ports, proto
 *   IPv6: 10 words = src[4], dst[4], ports, proto
 *   where an address word is 4 wire-order bytes loaded as a little-endian u32,
 *   ports = sport | dport << 16 (each the wire-order u16 as loaded), and
 *   proto is the IP protocol number (6, 17, ...).
 * Non-first IP fragments carry no ports: the dataplane hashes every fragment
 * of VIP traffic with ports = 0 (a 3-tuple hash, see sy_flow_key_drop_ports).
 */
#ifndef SWITCHYARD_FLOW_HASH_H
#define SWITCHYARD_FLOW_HASH_H

#include "sy_types.h"
#include "jhash.h"

#define SY_AF_INET 4
#define SY_AF_INET6 6

/* A normalised 5-tuple. Unused address words are zero for IPv4; the struct has
 * no implicit padding so it can also be a BPF map key. */
struct sy_flow_key {
	uint32_t src[4];
	uint32_t dst[4];
	uint16_t sport; /* network byte order */
	uint16_t dport; /* network byte order */
	uint8_t proto;
	uint8_t family; /* SY_AF_INET or SY_AF_INET6 */
	uint16_t pad;   /* always 0 */
};

static __sy_always_inline uint32_t sy_flow_ports_word(const struct sy_flow_key *k)
{
	return (uint32_t)k->sport | ((uint32_t)k->dport << 16);
}

static __sy_always_inline uint32_t sy_flow_hash_v4(uint32_t src, uint32_t dst,
						   uint32_t ports, uint8_t proto,
						   uint32_t seed)
{
	uint32_t w[4] = { src, dst, ports, proto };

	return sy_jhash_words(w, 4, seed);
}

static __sy_always_inline uint32_t sy_flow_hash_v6(const uint32_t *src,
						   const uint32_t *dst,
						   uint32_t ports, uint8_t proto,
						   uint32_t seed)
{
	uint32_t w[10] = { src[0], src[1], src[2], src[3], dst[0],
			   dst[1], dst[2], dst[3], ports,  proto };

	return sy_jhash_words(w, 10, seed);
}

static __sy_always_inline uint32_t sy_flow_hash(const struct sy_flow_key *k,
						uint32_t seed)
{
	if (k->family == SY_AF_INET6)
		return sy_flow_hash_v6(k->src, k->dst, sy_flow_ports_word(k),
				       k->proto, seed);
	return sy_flow_hash_v4(k->src[0], k->dst[0], sy_flow_ports_word(k),
			       k->proto, seed);
}

/* Fragments of one datagram must all reach the same backend, but only the
 * first carries the ports: VIP fragments are hashed on (src, dst, proto). */
static __sy_always_inline void sy_flow_key_drop_ports(struct sy_flow_key *k)
{
	k->sport = 0;
	k->dport = 0;
}

#endif
