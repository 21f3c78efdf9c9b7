/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Fragments that follow their flow, the one copy of the decision for both
 * packet paths (docs/dataplane.md, "Fragments"). Only the first fragment of
 * a datagram carries the TCP/UDP ports, so:
 *
 *   - the first fragment (pkt_parse.h: frag_first, ports in key) is balanced
 *     as an unfragmented packet of its flow (5-tuple service lookup,
 *     conntrack, Maglev), and its ports are remembered under the datagram's
 *     identity (source, destination, protocol, IPv4 ID / IPv6 fragment
 *     identification) for a short time;
 *   - a later fragment that finds them takes them (sy_frag_follow) and from
 *     then on is a packet of that flow: same service, same conntrack entry,
 *     same backend (frag_followed);
 *   - a later fragment that finds nothing (it overtook its first, or the
 *     entry expired or was overwritten) is balanced on the 3-tuple to the
 *     address's fragment service, as every fragment was before
 *     (frag_untracked).
 *
 * The table is the driver's, as the connection table is: a small array per
 * worker in sy-dataplane (dataplane/frag_table.c), one LRU hash map shared
 * by the CPUs in XDP (sy_frag in xdp_maps.h). Remembering the ports rather
 * than the backend makes later fragments take the first's service (a VIP
 * address may have several, one per port) and its tracked backend.
 *
 *   switch (sy_frag_step(p)) {
 *   case SY_FRAG_REMEMBER: the driver stores sy_frag_ports_of(p) under
 *                          sy_frag_key_of(f, p) (once its service is found)
 *   case SY_FRAG_LOOKUP:   if the driver finds ports: sy_frag_follow(p, ports)
 *   }
 *   ... then the service lookup and sy_class_choice() as for any packet.
 */
#ifndef SWITCHYARD_PKT_FRAG_H
#define SWITCHYARD_PKT_FRAG_H

#include "counters.h"
#include "pkt_frame.h"
#include "pkt_parse.h"

/* How long a first fragment's ports are remembered: the fragments of one
 * datagram leave the sender back to back, so a few seconds is plenty, and
 * IPv4 IDs of a busy sender come round again after 65,536 datagrams. */
#define SY_FRAG_TIMEOUT_MS_DEFAULT 2000u

/* The identity of a datagram (RFC 791 / RFC 8200): 40 bytes. */
struct sy_frag_key {
	uint32_t src[4]; /* IPv4: src[0] only, the rest 0 */
	uint32_t dst[4];
	uint32_t id;     /* IPv4: the 16-bit ID, as loaded, zero-extended */
	uint8_t family;
	uint8_t proto;
	uint8_t pad[2];
};

/* What is remembered: the first fragment's ports (wire order). */
struct sy_frag_ports {
	uint16_t sport;
	uint16_t dport;
};

enum sy_frag_step {
	SY_FRAG_NONE = 0,     /* not a TCP/UDP fragment: nothing to do */
	SY_FRAG_REMEMBER = 1, /* a first fragment: remember its ports */
	SY_FRAG_LOOKUP = 2,   /* a later fragment: look its first's ports up */
};

static __sy_always_inline enum sy_frag_step sy_frag_step(const struct sy_parsed *p)
{
	if (!p->is_frag || (p->key.proto != SY_IPPROTO_TCP && p->key.proto != SY_IPPROTO_UDP))
		return SY_FRAG_NONE;
	return p->frag_first ? SY_FRAG_REMEMBER : SY_FRAG_LOOKUP;
}

/* The datagram's identity, its ID read from the frame (not kept in struct
 * sy_parsed, which every packet clears and fills): the IPv4 header's, or
 * the IPv6 fragment header's, the 8 bytes before l4_off. 0, or -1 if the
 * bytes are not there (the parser read them: cannot happen). */
static __sy_always_inline int sy_frag_key_of(sy_frame *f, const struct sy_parsed *p,
					     struct sy_frag_key *k)
{
	uint32_t off = p->family == SY_AF_INET ? p->l2_len + 4 : p->l4_off - 4;
	const uint8_t *id = (const uint8_t *)sy_frame_at(f, sy_frame_off(off), 4);

	if (!id)
		return -1;
	__builtin_memset(k, 0, sizeof(*k));
	__builtin_memcpy(k->src, p->key.src, sizeof(k->src));
	__builtin_memcpy(k->dst, p->key.dst, sizeof(k->dst));
	/* IPv4: ID and the flags/offset word after it; only the ID is the
	 * datagram's (the offset differs between its fragments) */
	k->id = p->family == SY_AF_INET ? (uint32_t)sy_get16(id) : sy_get32(id);
	k->family = p->key.family;
	k->proto = p->key.proto;
	return 0;
}

static __sy_always_inline struct sy_frag_ports sy_frag_ports_of(const struct sy_parsed *p)
{
	struct sy_frag_ports v = { .sport = p->key.sport, .dport = p->key.dport };

	return v;
}

/* A later fragment whose first's ports were found: a packet of that flow. */
static __sy_always_inline void sy_frag_follow(struct sy_parsed *p, struct sy_frag_ports v)
{
	p->key.sport = v.sport;
	p->key.dport = v.dport;
	p->frag_followed = 1;
}

/* 1: the key holds the flow's ports (a whole packet, a first fragment, a
 * later fragment that found its first); 0: a fragment on the 3-tuple. */
static __sy_always_inline int sy_frag_has_ports(const struct sy_parsed *p)
{
	return !p->is_frag || p->frag_first || p->frag_followed;
}

#endif
