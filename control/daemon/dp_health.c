/* SPDX-License-Identifier: BSD-3-Clause
 * Dataplane liveness, sampled from the region and the XDP link; see
 * dp_health.h. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>

#include "daemon.h"
#include "dp_health.h"
#include "region_recover.h"
#include "xdp_lb.h"

const char *sy_dp_state_name(enum sy_dp_state s)
{
	static const char *const names[] = { "none", "running", "stalled", "gone", "detached" };

	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

static enum sy_dp_state dpdk_state(struct sy_daemon *d, uint64_t now_ms)
{
	struct sy_dp_health *h = &d->dp_health;
	const struct sy_region_map *m = sy_writer_map(d->writer);
	int32_t pid = atomic_load(&m->hdr->dp_pid);
	uint64_t bursts = 0;
	uint32_t workers = 0;
	bool fresh = pid != h->pid;

	if (fresh) { /* another dataplane (or none): start afresh */
		h->pid = pid;
		h->moved_ms = now_ms;
		h->paused = false;
	}
	if (pid <= 0)
		return SY_DP_NONE;
	if (kill(pid, 0) && errno == ESRCH)
		return SY_DP_GONE;
	for (uint32_t l = 0; l < m->hdr->limits.max_lcores; l++) {
		struct sy_lcore_slot *s = sy_region_slot(m, l);

		/* its workers: online slots (its telemetry reader's slot stays
		 * offline and never counts a burst) */
		if (atomic_load_explicit(&s->pid, memory_order_relaxed) != pid ||
		    !atomic_load_explicit(&s->online, memory_order_relaxed))
			continue;
		workers++;
		bursts += atomic_load_explicit(&s->bursts, memory_order_relaxed);
	}
	h->workers = workers;
	if (now_ms - h->region_checked_ms >= 1000) {
		bool stale = sy_region_pid_maps_orphan(pid, d->cfg->region) == 1;

		if (stale && !h->stale_region)
			sy_logf("warn", "\"the dataplane serves a removed region file\" pid=%d region=%s",
				(int)pid, d->cfg->region);
		else if (!stale && h->stale_region)
			sy_logf("info", "\"the dataplane serves the region file again\" pid=%d region=%s",
				(int)pid, d->cfg->region);
		h->stale_region = stale;
		h->region_checked_ms = now_ms;
	}
	if (fresh) {
		h->bursts = bursts; /* what it did before says nothing of now */
	} else if (bursts != h->bursts) {
		if (h->paused && now_ms - h->moved_ms <= SY_DP_STALL_MS)
			sy_logf("info", "\"dataplane paused: checks and TTLs were held\" pid=%d paused_ms=%llu",
				(int)pid, (unsigned long long)(now_ms - h->moved_ms));
		h->bursts = bursts;
		h->moved_after_ms = h->sampled_ms;
		h->moved_ms = now_ms;
	}
	h->paused = now_ms - h->moved_ms > SY_DP_PAUSE_MS;
	return now_ms - h->moved_ms > SY_DP_STALL_MS ? SY_DP_STALLED : SY_DP_RUNNING;
}

static bool carries(const struct sy_daemon *d)
{
	const struct sy_dp_health *h = &d->dp_health;

	return d->xdp || !h->ran || (h->state == SY_DP_RUNNING && !h->paused);
}

/* The dataplane entered state st: logged (not a first sample that finds it
 * running), and whether one has run noted. */
static void state_changes(struct sy_daemon *d, enum sy_dp_state st, uint64_t now_ms)
{
	struct sy_dp_health *h = &d->dp_health;

	if (h->since_ms || st != SY_DP_RUNNING) {
		if (st == SY_DP_RUNNING)
			sy_logf("info", "\"dataplane running\" mode=%s pid=%d workers=%u", d->dp_mode,
				(int)h->pid, h->workers);
		else
			sy_logf("warn", "\"dataplane %s: tables are published but nothing may forward them\" mode=%s pid=%d was=%s",
				sy_dp_state_name(st), d->dp_mode, (int)h->pid,
				sy_dp_state_name(h->state));
	}
	/* a stalled or gone one has attached to the region too: also one that
	 * died before this sy-control started, leaving its pid there */
	h->ran |= !d->xdp && (st == SY_DP_RUNNING || st == SY_DP_STALLED || st == SY_DP_GONE);
	h->state = st;
	h->since_ms = now_ms;
}

void sy_dp_health_sample(struct sy_daemon *d, uint64_t now_ms)
{
	struct sy_dp_health *h = &d->dp_health;
	bool carried = carries(d);
	enum sy_dp_state st;

	if (d->xdp)
		st = sy_xdp_attached(d->xdp) ? SY_DP_RUNNING : SY_DP_DETACHED;
	else
		st = dpdk_state(d, now_ms);
	h->sampled_ms = now_ms;
	if (st != h->state || !h->since_ms)
		state_changes(d, st, now_ms);
	if (carried && !carries(d)) /* a check under way across this says nothing */
		h->stops++;
}

bool sy_dp_carries(const struct sy_daemon *d, uint64_t *stops)
{
	*stops = d->dp_health.stops;
	return carries(d);
}

int sy_dp_unsent_err(const struct sy_daemon *d)
{
	const struct sy_dp_health *h = &d->dp_health;

	return h->state == SY_DP_RUNNING && h->paused ? SY_UNSENT_DP_PAUSED
						      : SY_UNSENT_NO_DATAPLANE;
}

bool sy_dp_moved_since(const struct sy_daemon *d, uint64_t t_ms)
{
	return d->xdp || !d->dp_health.ran || d->dp_health.moved_after_ms >= t_ms;
}
