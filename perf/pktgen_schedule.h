/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Which flow each frame of sy-pktgen carries (one queue): a sweep over
 * flows 0..flows-1, and with active flows ("--hot N --hot-every K") every
 * K-th frame is the next of flows 0..N-1 instead. Flow k is source address
 * index k % n_addr and source port index k / n_addr.
 *
 * The schedule counts frames the port took, not frames written: a port
 * that takes only the head of a burst gives the rest back
 * (pg_take_back()), and the schedule resumes exactly after the last frame
 * sent. Otherwise the active flows' turns, at fixed offsets of every burst
 * (a burst of 32 is a multiple of K = 8), could fall in the refused tail
 * burst after burst: the sweep went on while the active flows were not
 * sent at all, and a connection table evicted them as idle (what
 * ct_pressure_live once saw on a loaded machine).
 *
 * Header only and free of DPDK, for tests/unit/test_pktgen_schedule.c.
 */
#ifndef SY_PERF_PKTGEN_SCHEDULE_H
#define SY_PERF_PKTGEN_SCHEDULE_H

#include <stdint.h>

struct pg_schedule {
	uint32_t flows, n_addr;        /* the sweep's flows; source addresses */
	uint32_t hot, hot_every;       /* active flows 0..hot-1 (0: none), 1 frame in hot_every */
	uint32_t next, addr_i, port_i; /* the sweep's next flow and its two indices */
	uint32_t hot_next;             /* the next active flow */
	uint32_t since_hot;            /* frames since the last active one, < hot_every */
};

static inline void pg_schedule_init(struct pg_schedule *s, uint32_t flows, uint32_t n_addr,
				    uint32_t hot, uint32_t hot_every)
{
	*s = (struct pg_schedule){ .flows = flows, .n_addr = n_addr, .hot = hot,
				   .hot_every = hot_every };
}

/* The next frame's flow, as its address and port indices; 1 if it is an
 * active flow's turn. */
static inline int pg_next(struct pg_schedule *s, uint32_t *addr_i, uint32_t *port_i)
{
	if (s->hot && ++s->since_hot >= s->hot_every) {
		s->since_hot = 0;
		*addr_i = s->hot_next % s->n_addr;
		*port_i = s->hot_next / s->n_addr;
		if (++s->hot_next == s->hot)
			s->hot_next = 0;
		return 1;
	}
	*addr_i = s->addr_i;
	*port_i = s->port_i;
	if (++s->next == s->flows) {
		s->next = s->addr_i = s->port_i = 0;
	} else if (++s->addr_i == s->n_addr) {
		s->addr_i = 0;
		s->port_i++;
	}
	return 0;
}

/* The last n frames of pg_next() were not sent, n_hot of them active: the
 * next frames are those again, in the same order. */
static inline void pg_take_back(struct pg_schedule *s, uint32_t n, uint32_t n_hot)
{
	uint32_t sweep = n - n_hot;

	s->next = (uint32_t)(((uint64_t)s->next + s->flows - sweep % s->flows) % s->flows);
	s->addr_i = s->next % s->n_addr;
	s->port_i = s->next / s->n_addr;
	if (!s->hot)
		return;
	s->hot_next = (uint32_t)(((uint64_t)s->hot_next + s->hot - n_hot % s->hot) % s->hot);
	/* the turn counter steps once a frame and wraps at hot_every */
	s->since_hot = (s->since_hot + s->hot_every - n % s->hot_every) % s->hot_every;
}

#endif
