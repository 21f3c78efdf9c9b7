/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The address slots (sy_vip_slots; see xdp_vip_slots.h).
 */
#include <stdlib.h>
#include <string.h>

#include "xdp_vip_slots.h"

struct sy_xdp_vip_slots {
	struct sy_xdp_vip_slot *map; /* [SY_XDP_VIP_SLOTS], mapped: what the program reads */
	uint32_t grace_ms;
	uint64_t *free_from;         /* [SY_XDP_VIP_SLOTS] its body may be written from then (ms) */
	uint8_t *want;               /* [SY_XDP_VIP_SLOTS] SY_XDP_VIP_SLOT_* of the last sync */
	uint32_t *want_rec;          /* [SY_XDP_VIP_SLOTS] ONE: index into recs (want[] is ASK,
				      * 0, until the first sync: nothing settles before it) */
	struct sy_xdp_addr_record *recs; /* the last sync's records */
	size_t n_recs;
	size_t waiting;              /* slots that want ONE and are not yet */
};

struct sy_xdp_vip_slots *sy_xdp_vip_slots_new(struct sy_xdp_vip_slot *map, uint32_t grace_ms,
					      int adopted, uint64_t now_ms)
{
	struct sy_xdp_vip_slots *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->map = map;
	s->grace_ms = grace_ms;
	s->free_from = calloc(SY_XDP_VIP_SLOTS, sizeof(*s->free_from));
	s->want = calloc(SY_XDP_VIP_SLOTS, sizeof(*s->want));
	s->want_rec = calloc(SY_XDP_VIP_SLOTS, sizeof(*s->want_rec));
	if (!s->free_from || !s->want || !s->want_rec) {
		sy_xdp_vip_slots_free(s);
		return NULL;
	}
	for (uint32_t i = 0; adopted && i < SY_XDP_VIP_SLOTS; i++)
		s->free_from[i] = now_ms + grace_ms;
	return s;
}

void sy_xdp_vip_slots_free(struct sy_xdp_vip_slots *s)
{
	if (!s)
		return;
	free(s->free_from);
	free(s->want);
	free(s->want_rec);
	free(s->recs);
	free(s);
}

static void set_state(struct sy_xdp_vip_slots *s, uint32_t i, uint32_t state, uint64_t now_ms)
{
	uint32_t cur = __atomic_load_n(&s->map[i].state, __ATOMIC_RELAXED);

	if (cur == state)
		return;
	if (cur == SY_XDP_VIP_SLOT_ONE) /* a program may be reading its body */
		s->free_from[i] = now_ms + s->grace_ms;
	__atomic_store_n(&s->map[i].state, state, __ATOMIC_RELEASE);
}

/* Move slot i toward what the last sync wants. Whether it got there. */
static int settle(struct sy_xdp_vip_slots *s, uint32_t i, uint64_t now_ms)
{
	struct sy_xdp_vip_slot *m = &s->map[i];
	const struct sy_xdp_addr_record *r;

	if (s->want[i] != SY_XDP_VIP_SLOT_ONE) {
		set_state(s, i, s->want[i], now_ms);
		return 1;
	}
	r = &s->recs[s->want_rec[i]];
	if (__atomic_load_n(&m->state, __ATOMIC_RELAXED) == SY_XDP_VIP_SLOT_ONE &&
	    !memcmp(&m->key, &r->key, sizeof(r->key)) && !memcmp(&m->v, &r->v, sizeof(r->v)))
		return 1;
	set_state(s, i, SY_XDP_VIP_SLOT_ASK, now_ms); /* the hash map answers meanwhile */
	if (now_ms < s->free_from[i])
		return 0;
	memcpy(&m->key, &r->key, sizeof(r->key));
	memcpy(&m->v, &r->v, sizeof(r->v));
	memset(m->pad, 0, sizeof(m->pad));
	/* the body before the state that makes it readable */
	__atomic_store_n(&m->state, SY_XDP_VIP_SLOT_ONE, __ATOMIC_RELEASE);
	return 1;
}

static void settle_all(struct sy_xdp_vip_slots *s, uint64_t now_ms)
{
	s->waiting = 0;
	for (uint32_t i = 0; i < SY_XDP_VIP_SLOTS; i++)
		if (!settle(s, i, now_ms))
			s->waiting++;
}

void sy_xdp_vip_slots_ask_all(struct sy_xdp_vip_slots *s, uint64_t now_ms)
{
	memset(s->want, SY_XDP_VIP_SLOT_ASK, SY_XDP_VIP_SLOTS);
	settle_all(s, now_ms);
}

int sy_xdp_vip_slots_sync(struct sy_xdp_vip_slots *s, const struct sy_xdp_addr_record *recs,
			  size_t n, uint64_t now_ms)
{
	struct sy_xdp_addr_record *copy = malloc((n ? n : 1) * sizeof(*copy));

	if (!copy) {
		sy_xdp_vip_slots_ask_all(s, now_ms);
		return -1;
	}
	memcpy(copy, recs, n * sizeof(*copy));
	free(s->recs);
	s->recs = copy;
	s->n_recs = n;
	memset(s->want, SY_XDP_VIP_SLOT_EMPTY, SY_XDP_VIP_SLOTS);
	for (size_t k = 0; k < n; k++) {
		uint32_t i = sy_xdp_vip_slot_of(copy[k].key.addr, copy[k].key.family);

		if (s->want[i] == SY_XDP_VIP_SLOT_EMPTY) {
			s->want[i] = SY_XDP_VIP_SLOT_ONE;
			s->want_rec[i] = (uint32_t)k;
		} else {
			s->want[i] = SY_XDP_VIP_SLOT_ASK; /* two addresses collide */
		}
	}
	settle_all(s, now_ms);
	return 0;
}

void sy_xdp_vip_slots_tick(struct sy_xdp_vip_slots *s, uint64_t now_ms)
{
	if (s->waiting)
		settle_all(s, now_ms);
}
