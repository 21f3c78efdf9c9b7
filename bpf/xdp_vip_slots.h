/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The address slots (sy_vip_slots, include/switchyard/xdp_maps.h): the
 * records of sy_vip_addrs again, direct-mapped by sy_xdp_vip_slot_of(), so
 * that the program finds a packet's address with one array index.
 *
 * A slot is ASK (the program asks sy_vip_addrs), EMPTY (no VIP address
 * maps there) or ONE (the one address that maps there, with its record).
 * Its key and record are written only while nothing reads them: a slot
 * leaves ONE with a 4-byte store of its state, and its body is rewritten
 * no earlier than the grace period after that; until then it is ASK and
 * the hash map answers. Written through a mapping of the map. Used by
 * bpf/xdp_lb.c after each write of sy_vip_addrs; not thread-safe.
 */
#ifndef SY_BPF_XDP_VIP_SLOTS_H
#define SY_BPF_XDP_VIP_SLOTS_H

#include <stddef.h>
#include <stdint.h>

#include <switchyard/xdp_maps.h>

#include "xdp_vip_addrs.h"

struct sy_xdp_vip_slots;

/* The slots of map (SY_XDP_VIP_SLOTS entries, mapped; the caller unmaps it
 * after the free). adopted: the map holds what an earlier run wrote, which
 * a program may still be reading, so no body is written before the grace
 * period from now_ms. NULL if out of memory. */
struct sy_xdp_vip_slots *sy_xdp_vip_slots_new(struct sy_xdp_vip_slot *map, uint32_t grace_ms,
					      int adopted, uint64_t now_ms);
void sy_xdp_vip_slots_free(struct sy_xdp_vip_slots *s);

/* Bring the slots to the records recs[n] (what sy_vip_addrs holds now, any
 * order): EMPTY where no address maps, ONE where one does (at once if its
 * body may be written, else ASK until sy_xdp_vip_slots_tick() writes it),
 * ASK where several collide. -1 if out of memory (then every slot that
 * could disagree with recs is ASK), else 0. */
int sy_xdp_vip_slots_sync(struct sy_xdp_vip_slots *s, const struct sy_xdp_addr_record *recs,
			  size_t n, uint64_t now_ms);

/* Every slot ASK (sy_vip_addrs answers every packet) until the next sync:
 * for a sync that failed between writes of sy_vip_addrs. */
void sy_xdp_vip_slots_ask_all(struct sy_xdp_vip_slots *s, uint64_t now_ms);

/* Write the slots whose grace period is over. */
void sy_xdp_vip_slots_tick(struct sy_xdp_vip_slots *s, uint64_t now_ms);

#endif
