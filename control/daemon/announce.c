/* SPDX-License-Identifier: BSD-3-Clause
 * Announce or withdraw a VIP, with damping; see announce.h. */
#include "announce.h"

static const char *const names[SY_ANN__COUNT] = {
	[SY_ANN_HEALTHY] = "healthy",       [SY_ANN_STOPPING] = "stopping",
	[SY_ANN_DRAINED] = "drained",       [SY_ANN_DATAPLANE] = "dataplane",
	[SY_ANN_NO_BACKEND] = "no_backend", [SY_ANN_FAIL_STATIC] = "fail_static",
	[SY_ANN_HOLD_DOWN] = "hold_down",
};

static const char *const texts[SY_ANN__COUNT] = {
	[SY_ANN_HEALTHY] = "dataplane running and a service of the VIP has a usable backend",
	[SY_ANN_STOPPING] = "sy-control is stopping",
	[SY_ANN_DRAINED] = "the host is drained (syctl undrain-host announces it again)",
	[SY_ANN_DATAPLANE] = "the dataplane is not running",
	[SY_ANN_NO_BACKEND] = "no service of the VIP has a usable backend",
	[SY_ANN_FAIL_STATIC] = "its services serve only fail-static sets (bgp.announce_on_fail_static: false)",
	[SY_ANN_HOLD_DOWN] = "the failure is over; held down before announcing again",
};

const char *sy_ann_reason_name(enum sy_ann_reason r)
{
	return (unsigned)r < SY_ANN__COUNT ? names[r] : "?";
}

const char *sy_ann_reason_text(enum sy_ann_reason r)
{
	return (unsigned)r < SY_ANN__COUNT ? texts[r] : "?";
}

enum sy_ann_reason sy_announce_failure(const struct sy_announce_inputs *in,
				       const struct sy_announce_policy *p)
{
	if (!in->dataplane_ok)
		return SY_ANN_DATAPLANE;
	if (in->serving)
		return SY_ANN_HEALTHY;
	if (in->fail_static)
		return p->on_fail_static ? SY_ANN_HEALTHY : SY_ANN_FAIL_STATIC;
	return SY_ANN_NO_BACKEND;
}

uint32_t sy_announce_hold_ms(const struct sy_announce_policy *p, uint32_t flaps)
{
	uint64_t h = p->hold_down_ms;

	for (uint32_t i = 1; i < flaps && h < p->hold_down_max_ms; i++)
		h *= 2;
	if (h > p->hold_down_max_ms)
		h = p->hold_down_max_ms;
	return (uint32_t)h;
}

uint64_t sy_announce_hold_left_ms(const struct sy_vip_announce *v, uint64_t now_ms)
{
	uint64_t end;

	if (v->failure == SY_ANN_HEALTHY || !v->clear_ms)
		return 0;
	end = v->clear_ms + v->hold_ms;
	return end > now_ms ? end - now_ms : 0;
}

bool sy_announce_step(struct sy_vip_announce *v, const struct sy_announce_policy *p,
		      const struct sy_announce_inputs *in, uint64_t now_ms)
{
	enum sy_ann_reason fail = sy_announce_failure(in, p), reason;
	bool want;

	if (!v->seen) {
		v->seen = true;
		v->since_ms = now_ms;
	}
	if (fail != SY_ANN_HEALTHY) {
		/* a failure starts (not one going on): a flap, a longer hold */
		if (v->failure == SY_ANN_HEALTHY || v->clear_ms) {
			if (v->flaps < UINT32_MAX)
				v->flaps++;
			v->hold_ms = sy_announce_hold_ms(p, v->flaps);
		}
		v->failure = fail;
		v->clear_ms = 0;
	} else if (v->failure != SY_ANN_HEALTHY) {
		if (!v->clear_ms)
			v->clear_ms = now_ms;
		if (now_ms - v->clear_ms >= v->hold_ms) { /* the hold-down is over */
			v->failure = SY_ANN_HEALTHY;
			v->clear_ms = 0;
			v->healthy_ms = now_ms;
		}
	} else if (v->flaps && now_ms - v->healthy_ms >= p->stable_ms) {
		v->flaps = 0; /* stable long enough: forgiven */
	}

	if (in->stopping)
		reason = SY_ANN_STOPPING;
	else if (in->drained)
		reason = SY_ANN_DRAINED;
	else if (v->failure != SY_ANN_HEALTHY)
		reason = v->clear_ms ? SY_ANN_HOLD_DOWN : v->failure;
	else
		reason = SY_ANN_HEALTHY;
	v->reason = reason;
	want = reason == SY_ANN_HEALTHY;
	if (want == v->announced)
		return false;
	if (want)
		v->announcements++;
	else
		v->withdrawals[reason]++;
	v->announced = want;
	v->since_ms = now_ms;
	return true;
}
