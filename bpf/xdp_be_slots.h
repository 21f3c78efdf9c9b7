/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The slots of sy_be_slots (include/switchyard/xdp_maps.h), the array the
 * XDP program finds a backend's record in by the slot its ref carries.
 * A slot is free, held by one backend's current record, or retired: its
 * record was marked gone and the slot waits out the grace period before it
 * is reused, so that no table still in flight names it for another backend.
 *
 * A record is written into a slot only while nothing reads it as current:
 * first marked gone, then as it is (which changes its flags byte alone).
 * After that a held slot changes only in its flags byte, a one-byte store
 * that a packet reads whole. Used by bpf/xdp_lb.c; not thread-safe.
 */
#ifndef SY_BPF_XDP_BE_SLOTS_H
#define SY_BPF_XDP_BE_SLOTS_H

#include <stdbool.h>
#include <stdint.h>

#include <switchyard/xdp_maps.h>

struct sy_xdp_be_slots;

/* Slots of the array map fd (SY_XDP_MAX_BACKENDS entries), all free. */
struct sy_xdp_be_slots *sy_xdp_be_slots_new(int map_fd, uint32_t grace_ms);
void sy_xdp_be_slots_free(struct sy_xdp_be_slots *s);

/* Write rec into a free slot (its slot field set to it) and hold the slot.
 * 0, or -1 with errno (ENOSPC: every slot is held or in its grace period). */
int sy_xdp_be_slots_place(struct sy_xdp_be_slots *s, struct sy_xdp_backend *rec, uint64_t now_ms);

/* Rewrite the record of the slot rec->slot holds, whose flags alone changed. */
int sy_xdp_be_slots_set_flags(struct sy_xdp_be_slots *s, const struct sy_xdp_backend *rec);

/* Mark the record rec->slot holds gone and retire the slot: free again
 * grace_ms after now_ms. */
void sy_xdp_be_slots_retire(struct sy_xdp_be_slots *s, const struct sy_xdp_backend *rec,
			    uint64_t now_ms);

/* Whether rec->slot holds rec (the slot is held and has rec's uid). */
bool sy_xdp_be_slots_holds(const struct sy_xdp_be_slots *s, const struct sy_xdp_backend *rec);

/* Adopting pinned maps: the slot of every current record in recs[n] (the
 * records of sy_backends not marked gone) is held if the array has that
 * record there; every other slot that holds something is marked gone and
 * retired now. A record whose slot is not held gets a new one on the next
 * place(). */
void sy_xdp_be_slots_adopt(struct sy_xdp_be_slots *s, const struct sy_xdp_backend *recs, size_t n,
			   uint64_t now_ms);

#endif
