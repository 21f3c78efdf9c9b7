/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Active connections per backend, of one worker's connection table: what
 * services[].scheduler: least-connections chooses by
 * (switchyard/least_conns.h). Keyed by the backend uid's low 32 bits, the
 * identity a conntrack entry keeps (conntrack.h), so a count survives
 * republished tables, a backend's new index and a service's change of
 * scheduler; every tracked entry of every service is counted.
 *
 * The count of a uid is the number of entries of the table holding it whose
 * slot is in use (expires != 0): it rises when the packet path makes an
 * entry live (lb.c) and falls wherever conntrack.c frees or overwrites one
 * (expired and found by a lookup, an insert or the sweep; evicted; cleared).
 * An expired entry counts until then: the sweep's round bounds the lag.
 * Only new flows, reselections and those frees touch it: never the packet
 * of an established flow.
 *
 * Open addressing (linear probing, deletion by backward shift), a slot
 * empty when its count is 0. At most one uid per live entry, and the table
 * has two slots per entry up to SY_BACKEND_CONNS_MAX_SLOTS: a uid that finds
 * it full (over 2^16 backends with flows on one worker) is not counted.
 */
#ifndef SY_DATAPLANE_BACKEND_CONNS_H
#define SY_DATAPLANE_BACKEND_CONNS_H

#include <stdint.h>

#define SY_BACKEND_CONNS_MAX_SLOTS (1u << 17)

struct sy_backend_conns_slot {
	uint32_t uid;   /* low 32 bits of the backend's uid */
	uint32_t conns; /* 0: the slot is empty */
};

struct sy_backend_conns {
	struct sy_backend_conns_slot *slots;
	uint32_t mask;  /* slots - 1 (a power of two) */
	uint32_t used;  /* slots with a count */
};

/* Bytes for the counts of a table of `capacity` flows. */
uint64_t sy_backend_conns_memsize(uint64_t capacity);
/* Over caller-provided zeroed memory of sy_backend_conns_memsize() bytes. */
void sy_backend_conns_init(struct sy_backend_conns *bc, void *mem, uint64_t capacity);
void sy_backend_conns_clear(struct sy_backend_conns *bc);

/* Active connections of the backend with this uid (low 32 bits). */
uint32_t sy_backend_conns_get(const struct sy_backend_conns *bc, uint32_t uid);
/* One entry more, or one fewer, holds uid. */
void sy_backend_conns_add(struct sy_backend_conns *bc, uint32_t uid);
void sy_backend_conns_drop(struct sy_backend_conns *bc, uint32_t uid);

#endif
