/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Is the dataplane serving? sy-control samples it on every tick of its main
 * loop (at most every 50 ms) without asking it anything:
 *   - DPDK: the region header names the dataplane's pid (dp_pid, 0 once it
 *     stopped cleanly) and every worker counts its loop iterations in its
 *     lcore slot (`bursts`, also when idle). A live pid whose workers have
 *     not moved for SY_DP_STALL_MS is stalled (stopped, wedged, starved);
 *     a pid that no longer exists is gone.
 *     Workers that have not moved for SY_DP_PAUSE_MS are paused: the
 *     state stays running (a stall is declared after SY_DP_STALL_MS), but
 *     this host's own traffic does not pass meanwhile (sy_dp_carries).
 *   - XDP: the program's BPF link still attached to its interface.
 * The state feeds `syctl status` (which exits non-zero unless running),
 * /v1/status and /metrics (switchyard_dataplane_up), the active checks and
 * the heartbeats' TTLs (sy_dp_carries).
 */
#ifndef SY_CONTROL_DP_HEALTH_H
#define SY_CONTROL_DP_HEALTH_H

#include <stdbool.h>
#include <stdint.h>

#define SY_DP_STALL_MS 1000
/* Workers standing still this long carry nothing now: a stall's first
 * second, or a dataplane held off its cores. Two samples at least (the
 * main loop samples every 50 ms at most), so that a late sample alone
 * never counts as one. */
#define SY_DP_PAUSE_MS 100

enum sy_dp_state {
	SY_DP_NONE,     /* no dataplane has attached to the region (or it stopped cleanly) */
	SY_DP_RUNNING,
	SY_DP_STALLED,  /* its process lives but its workers do not move */
	SY_DP_GONE,     /* its process died without detaching */
	SY_DP_DETACHED, /* XDP: the program's link is no longer attached */
};

struct sy_dp_health {
	enum sy_dp_state state;
	int32_t pid;              /* DPDK: the dataplane's process */
	uint32_t workers;         /* DPDK: lcore slots it owns */
	uint64_t bursts;          /* sum of its workers' loop counters */
	uint64_t moved_ms;        /* when that sum last changed */
	uint64_t moved_after_ms;  /* the sample before that change: they moved after it */
	uint64_t sampled_ms;      /* the last sample */
	bool paused;              /* DPDK: running, but not moved for SY_DP_PAUSE_MS */
	uint64_t since_ms;        /* when the state was entered */
	/* DPDK: the dataplane still maps a removed region file (it follows the
	 * re-created one within a second: region_follow.c), checked once a
	 * second through /proc (unknown, so false, without the rights) */
	bool stale_region;
	uint64_t region_checked_ms;
	bool ran;                 /* DPDK: a dataplane has attached to the region (seen running,
				   * stalled, or gone without detaching) */
	uint64_t stops;           /* times the dataplane stopped carrying (sy_dp_carries) */
};

struct sy_daemon;

/* Sample the dataplane now (d->lock held); logs state changes. */
void sy_dp_health_sample(struct sy_daemon *d, uint64_t now_ms);
/* Whether this host's own traffic with the backends passes now (d->lock
 * held): active checks out, heartbeats into the embedded registry in.
 * Behind a DPDK dataplane it goes through its exception TAP: once one has
 * run (or is found gone at start), not while it does not (gone, stalled,
 * stopped, paused). A check then would
 * leave by another way (a management interface's default route) or none,
 * and a missing heartbeat says nothing of its backend: the checks are not
 * sent and the TTLs held (health.c, main.c). XDP, or no DPDK dataplane
 * yet: the kernel's own routes, yes. *stops changes whenever it stops
 * carrying: a check under way across a change says nothing either. */
bool sy_dp_carries(const struct sy_daemon *d, uint64_t *stops);
/* Why this host's traffic does not pass now (d->lock held; sy_dp_carries
 * false): SY_UNSENT_DP_PAUSED while the dataplane runs but is paused (the
 * state `syctl status` shows is running), else SY_UNSENT_NO_DATAPLANE. */
int sy_dp_unsent_err(const struct sy_daemon *d);
/* Whether the dataplane has been seen moving since t_ms (d->lock held):
 * a check that ended at t_ms is judged only then, since until a sample
 * shows the workers moving after it, its failure may be theirs (a pause
 * not yet SY_DP_PAUSE_MS long); once they moved, a pause around it has
 * changed the stops. XDP, or no DPDK dataplane yet: at once. */
bool sy_dp_moved_since(const struct sy_daemon *d, uint64_t t_ms);
const char *sy_dp_state_name(enum sy_dp_state s);

#endif
