/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Announce or withdraw, per VIP: the decision sy-control hands to the BGP
 * daemon (bgp.c drives it; docs/control.md, "Announcing the VIPs").
 *
 * A VIP is an address (a /32 or /128 route); several services may share it
 * (ports, protocols). Its cause to be withdrawn now, first match wins:
 *   stopping     sy-control is stopping cleanly
 *   drained      the operator drained the host (syctl drain-host)
 *   dataplane    the dataplane is not running (stalled, gone, none,
 *                detached: dp_health.h)
 *   no_backend   no service of the VIP has a usable backend (published
 *                with weight > 0)
 *   fail_static  its services serve only fail-static sets, and
 *                bgp.announce_on_fail_static is false
 * A VIP with no cause is announced, damped:
 *   - a withdrawal is at once;
 *   - after a failure (dataplane, no_backend, fail_static) the VIP comes
 *     back only once the failure has been clear for the hold-down (reason
 *     hold_down meanwhile). Each failure that starts while the VIP is
 *     healthy or holding down is a flap; the hold-down is hold_down_ms
 *     doubled for each flap after the first, at most hold_down_max_ms. A
 *     failure during the hold-down starts it again, longer;
 *   - no failure for stable_ms after a hold-down ended: the flaps are
 *     forgotten (the next failure holds down for hold_down_ms again);
 *   - the operator's drain and undrain and a clean stop are not failures:
 *     they apply at once and leave the damping as it was (an undrain
 *     during a hold-down waits for its end).
 * Pure logic with explicit time: unit-tested (tests/control/test_announce.c).
 */
#ifndef SY_CONTROL_ANNOUNCE_H
#define SY_CONTROL_ANNOUNCE_H

#include <stdbool.h>
#include <stdint.h>

enum sy_ann_reason {
	SY_ANN_HEALTHY = 0, /* announced: no cause */
	SY_ANN_STOPPING,
	SY_ANN_DRAINED,
	SY_ANN_DATAPLANE,
	SY_ANN_NO_BACKEND,
	SY_ANN_FAIL_STATIC,
	SY_ANN_HOLD_DOWN,   /* the failure is over, the hold-down is not */
	SY_ANN__COUNT,
};

struct sy_announce_policy {
	uint32_t hold_down_ms;     /* the first hold-down after a failure; 0: none */
	uint32_t hold_down_max_ms; /* its cap as flaps double it */
	uint32_t stable_ms;        /* announced this long: flaps forgotten */
	bool on_fail_static;       /* announce while fail-static keeps a set */
};

/* What holds for one VIP now. */
struct sy_announce_inputs {
	bool stopping, drained, dataplane_ok;
	uint32_t services;     /* services of the VIP */
	uint32_t serving;      /* ... with a usable backend, not failing static */
	uint32_t fail_static;  /* ... serving a fail-static set (usable) */
};

struct sy_vip_announce {
	uint8_t family;          /* SY_AF_INET / SY_AF_INET6 */
	uint32_t addr[4];        /* wire order */
	bool announced;
	enum sy_ann_reason reason;    /* SY_ANN_HEALTHY while announced */
	enum sy_ann_reason failure;   /* the failure a hold-down follows (or HEALTHY) */
	uint64_t since_ms;            /* announced / withdrawn since */
	uint64_t clear_ms;            /* the failure ended at (0: not ended) */
	uint64_t healthy_ms;          /* the last hold-down ended at */
	uint32_t flaps;               /* failures not yet forgotten */
	uint32_t hold_ms;             /* the hold-down of the current failure */
	bool seen;                    /* stepped at least once */
	uint64_t withdrawals[SY_ANN__COUNT]; /* announced -> withdrawn, by reason */
	uint64_t announcements;
};

/* The failure among the causes above (dataplane, no_backend, fail_static),
 * SY_ANN_HEALTHY if none; the operator's drain and a stop aside. */
enum sy_ann_reason sy_announce_failure(const struct sy_announce_inputs *in,
				       const struct sy_announce_policy *p);

/* One decision at now_ms for a VIP given what holds now. Updates the
 * damping and v->reason; returns true if v->announced changed. */
bool sy_announce_step(struct sy_vip_announce *v, const struct sy_announce_policy *p,
		      const struct sy_announce_inputs *in, uint64_t now_ms);

/* The hold-down for a VIP with `flaps` flaps (>= 1). */
uint32_t sy_announce_hold_ms(const struct sy_announce_policy *p, uint32_t flaps);

/* While holding down: milliseconds until it may announce (0 otherwise). */
uint64_t sy_announce_hold_left_ms(const struct sy_vip_announce *v, uint64_t now_ms);

/* "healthy", "stopping", "drained", "dataplane", "no_backend",
 * "fail_static", "hold_down": the API's and the metrics' names. */
const char *sy_ann_reason_name(enum sy_ann_reason r);
/* A sentence for operators ("no service of the VIP has a usable backend"). */
const char *sy_ann_reason_text(enum sy_ann_reason r);
/* A failure (starts a hold-down) rather than an operator's or a stop. */
static inline bool sy_ann_is_failure(enum sy_ann_reason r)
{
	return r == SY_ANN_DATAPLANE || r == SY_ANN_NO_BACKEND || r == SY_ANN_FAIL_STATIC;
}

#endif
