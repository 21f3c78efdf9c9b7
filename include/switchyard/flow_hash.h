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

/* What of a flow a service hashes to choose a new flow's backend
 * (services[].hash; the low bits of struct sy_service's flags, struct
 * sy_xdp_service's hash_fields): the flow hash of the key with the other
 * fields zero. 0, the default, is the whole 5-tuple. */
enum sy_hash_fields {
	SY_HASH_5TUPLE = 0,
	SY_HASH_3TUPLE = 1,      /* addresses and protocol: a client's connections
				  * to the VIP go together */
	SY_HASH_SRC_IP = 2,      /* the client's address (and the protocol):
				  * session affinity, IPVS's persistence (-p) */
	SY_HASH_SRC_IP_PORT = 3, /* the client's address and port */
};
#define SY_HASH_FIELDS_MASK 3u

/* Their names, in that order: the configuration's (services[].hash), the
 * registry answers' (maglev.hash) and syctl's words. */
#define SY_HASH_FIELDS_NAMES "5-tuple", "3-tuple", "source-ip", "source-ip-port"

#if !defined(__bpf__)
static inline const char *sy_hash_fields_name(uint32_t fields)
{
	static const char *const names[] = { SY_HASH_FIELDS_NAMES };

	return names[fields & SY_HASH_FIELDS_MASK];
}

/* The enum sy_hash_fields of a name, -1 if it names none. */
static inline int sy_hash_fields_parse(const char *name)
{
	for (uint32_t i = 0; i <= SY_HASH_FIELDS_MASK; i++)
		if (!__builtin_strcmp(name, sy_hash_fields_name(i)))
			return (int)i;
	return -1;
}
#endif

/* services[].scheduler: round-robin (a flag beside the hash fields). A
 * tracked new flow takes the next entry of the service's Maglev table, in
 * table order, per lcore (DPDK) or CPU (XDP): the table holds each backend
 * in proportion to its weight, in a permuted order, so the walk is a
 * weighted round-robin exact over M new flows. The position is the
 * lcore's or CPU's count of the VIP's new tracked flows (new_flows).
 * Untracked packets (the new-flow guard's bypass, a reselection after a
 * backend left) keep Maglev: they must land where the next packet of their
 * flow will. */
#define SY_SERVICE_ROUND_ROBIN 4u

/* services[].quic: short-header QUIC packets go by the server ID of their
 * connection ID (switchyard/pkt_quic.h). 16: 8 is least-connections's
 * (branch i15-lc), the flags byte's next bit. */
#define SY_SERVICE_QUIC 16u

/* How `syctl lookup` explains a round-robin service's flow that no table
 * holds yet (control/daemon/api.c, the dataplane's telemetry lookup); a
 * "maglev: slot ..." for its untracked packets follows. */
#define SY_ROUND_ROBIN_LOOKUP_WHY                                                 \
	"round-robin: a new tracked flow takes its worker's next turn; untracked " \
	"packets "

/* services[].scheduler: least-connections (a flag beside the hash fields,
 * never with SY_SERVICE_ROUND_ROBIN): a tracked new flow goes to the backend
 * with the fewest active connections per unit of weight, counted from the
 * connection tables (switchyard/least_conns.h). Untracked packets keep
 * Maglev, as with round-robin. */
#define SY_SERVICE_LEAST_CONNS 8u

/* How `syctl lookup` explains a least-connections service's flow that no
 * table holds yet; a "maglev: slot ..." for its untracked packets follows. */
#define SY_LEAST_CONNS_LOOKUP_WHY                                                   \
	"least-connections: a new tracked flow takes the backend with the fewest " \
	"active connections per weight of its worker or CPU; untracked packets "

/* The scheduler's name of a service's flags, as the configuration spells it
 * (services[].scheduler; syctl services). */
static __sy_always_inline const char *sy_scheduler_name(uint32_t flags)
{
	return (flags & SY_SERVICE_LEAST_CONNS)	  ? "least-connections"
	       : (flags & SY_SERVICE_ROUND_ROBIN) ? "round-robin"
						  : "maglev";
}

/* What `syctl lookup` (control/daemon/api.c, the dataplane's telemetry lookup)
 * says of an untracked flow before its "maglev: slot ...": how a tracked
 * new flow of the service's scheduler would be placed ("" for Maglev). */
static __sy_always_inline const char *sy_scheduler_lookup_why(uint32_t flags)
{
	return (flags & SY_SERVICE_LEAST_CONNS)	  ? SY_LEAST_CONNS_LOOKUP_WHY
	       : (flags & SY_SERVICE_ROUND_ROBIN) ? SY_ROUND_ROBIN_LOOKUP_WHY
						  : "";
}

/* The Maglev table position of a round-robin service's next tracked new
 * flow: its count of new tracked flows (of this lcore or CPU) over M. */
static __sy_always_inline uint32_t sy_round_robin_slot(uint64_t new_flows, uint32_t table_size)
{
	return (uint32_t)(new_flows % table_size);
}

/* The flow hash of a service that hashes `fields` of the flow. */
static __sy_always_inline uint32_t sy_service_flow_hash(const struct sy_flow_key *k,
							uint32_t seed, uint32_t fields)
{
	struct sy_flow_key h;

	if (fields == SY_HASH_5TUPLE)
		return sy_flow_hash(k, seed);
	h = *k;
	h.dport = 0;
	if (fields != SY_HASH_SRC_IP_PORT)
		h.sport = 0;
	if (fields != SY_HASH_3TUPLE) {
		h.dst[0] = 0;
		h.dst[1] = 0;
		h.dst[2] = 0;
		h.dst[3] = 0;
	}
	return sy_flow_hash(&h, seed);
}

/* The fields a service hashes of a packet without ports (a fragment whose
 * first was not seen): the same without the ports. */
static __sy_always_inline uint32_t sy_hash_fields_without_ports(uint32_t fields)
{
	return fields == SY_HASH_5TUPLE	       ? SY_HASH_3TUPLE
	       : fields == SY_HASH_SRC_IP_PORT ? SY_HASH_SRC_IP
					       : fields;
}

/* Fragments of one datagram must all reach the same backend, but only the
 * first carries the ports: VIP fragments are hashed on (src, dst, proto). */
static __sy_always_inline void sy_flow_key_drop_ports(struct sy_flow_key *k)
{
	k->sport = 0;
	k->dport = 0;
}

#endif
