/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The per-worker count of active connections per backend (backend_conns.h).
 */
#include <string.h>

#include "backend_conns.h"

static uint32_t slots_for(uint64_t capacity)
{
	uint64_t want = 2 * capacity, n = 16;

	while (n < want && n < SY_BACKEND_CONNS_MAX_SLOTS)
		n <<= 1;
	return (uint32_t)n;
}

uint64_t sy_backend_conns_memsize(uint64_t capacity)
{
	return (uint64_t)slots_for(capacity) * sizeof(struct sy_backend_conns_slot);
}

void sy_backend_conns_init(struct sy_backend_conns *bc, void *mem, uint64_t capacity)
{
	bc->slots = mem;
	bc->mask = slots_for(capacity) - 1;
	bc->used = 0;
}

void sy_backend_conns_clear(struct sy_backend_conns *bc)
{
	memset(bc->slots, 0, ((size_t)bc->mask + 1) * sizeof(*bc->slots));
	bc->used = 0;
}

/* uids are handed out in order: a multiplicative hash spreads neighbours */
static inline uint32_t home(const struct sy_backend_conns *bc, uint32_t uid)
{
	return (uid * 0x9e3779b1u) & bc->mask;
}

/* The slot of uid, or of the empty slot where it would go. */
static uint32_t find(const struct sy_backend_conns *bc, uint32_t uid)
{
	uint32_t i = home(bc, uid);

	while (bc->slots[i].conns && bc->slots[i].uid != uid)
		i = (i + 1) & bc->mask;
	return i;
}

uint32_t sy_backend_conns_get(const struct sy_backend_conns *bc, uint32_t uid)
{
	if (!bc->slots)
		return 0;
	return bc->slots[find(bc, uid)].conns;
}

void sy_backend_conns_add(struct sy_backend_conns *bc, uint32_t uid)
{
	uint32_t i;

	if (!bc->slots)
		return;
	i = find(bc, uid);
	if (!bc->slots[i].conns) {
		if (bc->used >= bc->mask) /* keep one empty: probes end */
			return;
		bc->used++;
		bc->slots[i].uid = uid;
	}
	bc->slots[i].conns++;
}

void sy_backend_conns_drop(struct sy_backend_conns *bc, uint32_t uid)
{
	uint32_t i, j;

	if (!bc->slots)
		return;
	i = find(bc, uid);
	if (!bc->slots[i].conns || --bc->slots[i].conns)
		return; /* not counted (the table was full), or still held */
	/* emptied: shift later members of the run back over the hole, each
	 * that may move there (its home is not cyclically in (i, j]) */
	bc->used--;
	for (j = (i + 1) & bc->mask; bc->slots[j].conns; j = (j + 1) & bc->mask) {
		uint32_t h = home(bc, bc->slots[j].uid);

		if (((j - h) & bc->mask) >= ((j - i) & bc->mask)) {
			bc->slots[i] = bc->slots[j];
			bc->slots[j].conns = 0;
			i = j;
		}
	}
}
