/* SPDX-License-Identifier: BSD-3-Clause
 *
 * What the balancer does with a parsed frame (pkt_parse.h), the one copy for
 * both packet paths: whether it can be VIP traffic at all, whether it has a
 * service to look up, the verdict when it has none, how its backend is
 * chosen and which flow hash chooses it. The lookups themselves are the
 * drivers' (region tables in C, BPF maps in XDP), so this header decides
 * around them:
 *
 *   if (!sy_class_may_be_ours(p))          -> SY_V_KERNEL, no lookup at all
 *   if (sy_class_has_service(p) && (svc = the driver's service lookup))
 *                                          -> balance: sy_class_choice(p)
 *   else sy_class_unserved(p, is this destination a VIP address?)
 *
 * A driver may ask "is it a VIP address" first (XDP does: the host's own
 * traffic then costs that one lookup): sy_class_unserved(p, 0) is its verdict
 * for a destination that is not one.
 */
#ifndef SWITCHYARD_PKT_CLASSIFY_H
#define SWITCHYARD_PKT_CLASSIFY_H

#include "counters.h"
#include "flow_hash.h"
#include "pkt_frag.h"
#include "pkt_frame.h"
#include "pkt_parse.h"

/* A TCP or UDP flow, or an ICMP error quoting one: what services balance. */
static __sy_always_inline int sy_class_is_l4(const struct sy_parsed *p)
{
	return p->key.proto == SY_IPPROTO_TCP || p->key.proto == SY_IPPROTO_UDP || p->icmp_error;
}

/* 0: the host's business whatever its destination (echo, NDP answers, ...):
 * no lookup is needed to send it to the kernel. Tunnelled packets (IPIP,
 * IPv6-in-IP) may be: to a VIP they are spoofed input to drop. */
static __sy_always_inline int sy_class_may_be_ours(const struct sy_parsed *p)
{
	return sy_class_is_l4(p) || p->proto == SY_IPPROTO_IPIP || p->proto == SY_IPPROTO_IPV6;
}

/* 1: look up its service. 0: it has none to find (a tunnel, an ICMP error
 * whose quote is unreadable): sy_class_unserved() decides. */
static __sy_always_inline int sy_class_has_service(const struct sy_parsed *p)
{
	return sy_class_is_l4(p) && p->icmp_error != 2;
}

/* The verdict for a frame that may be ours and has no service, given
 * whether its destination is a VIP address (of a TCP or UDP service): a VIP
 * address is never the kernel's, so such a frame is dropped with *reason;
 * any other destination is the host's. */
static __sy_always_inline int sy_class_unserved(const struct sy_parsed *p, int is_vip,
						uint32_t *reason)
{
	if (!is_vip)
		return SY_V_KERNEL;
	if (!sy_class_is_l4(p))
		*reason = SY_C_DROP_ENCAPSULATED; /* tunnels to a VIP: spoofed input */
	else if (p->icmp_error)
		*reason = SY_C_DROP_ICMP; /* unreadable quote, or a flow of no service */
	else
		*reason = SY_C_DROP_NO_SERVICE;
	return SY_V_DROP;
}

/* How a balanced frame's backend is chosen. */
enum sy_class_choice {
	SY_CHOOSE_TRACKED = 0,  /* its connection-table entry, else Maglev (and track it) */
	SY_CHOOSE_FRAGMENT = 1, /* Maglev on the 3-tuple: a later fragment whose
				 * first's ports are not known (pkt_frag.h) */
	SY_CHOOSE_ICMP = 2,     /* the backend of the flow an ICMP error quotes, untracked */
};

static __sy_always_inline enum sy_class_choice sy_class_choice(const struct sy_parsed *p)
{
	if (!sy_frag_has_ports(p))
		return SY_CHOOSE_FRAGMENT;
	return p->icmp_error ? SY_CHOOSE_ICMP : SY_CHOOSE_TRACKED;
}

/* The flow hash that chooses the backend: of the fields the service hashes
 * (enum sy_hash_fields, flow_hash.h), without the ports for a fragment
 * without its flow's ports (SY_CHOOSE_FRAGMENT). */
static __sy_always_inline uint32_t sy_class_hash_fields(const struct sy_parsed *p,
							uint32_t fields)
{
	return sy_frag_has_ports(p) ? fields : sy_hash_fields_without_ports(fields);
}

static __sy_always_inline uint32_t sy_class_flow_hash(const struct sy_parsed *p, uint32_t seed,
						      uint32_t fields)
{
	return sy_service_flow_hash(&p->key, seed, sy_class_hash_fields(p, fields));
}
/* The counters of a forwarded frame beside fwd_pkts (which counts them
 * all): c[0] how its backend was chosen when not SY_CHOOSE_TRACKED
 * (icmp_to_backend, frag_untracked), c[1] and c[2] a fragment's
 * (`fragments`, and frag_followed for a later one that followed its first);
 * 0 = none. */
static __sy_always_inline void sy_class_forward_counters(const struct sy_parsed *p,
							 enum sy_class_choice how, uint32_t c[3])
{
	c[0] = how == SY_CHOOSE_ICMP ? SY_C_ICMP_TO_BACKEND
	       : how == SY_CHOOSE_FRAGMENT ? SY_C_FRAG_UNTRACKED : 0;
	c[1] = p->is_frag ? SY_C_FRAGMENTS : 0;
	c[2] = p->frag_followed ? SY_C_FRAG_FOLLOWED : 0;
}

#endif
