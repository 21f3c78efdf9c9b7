/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The region's file, followed (docs/region.md, "When the file is removed").
 * A region file removed while the processes map it (an operator, a tmpfiles
 * cleaner, a container restart) keeps serving them, but the dataplane and a
 * control plane that creates a new file would part ways: drains and
 * removals would never reach the packets. A control thread checks once a
 * second that the region path still names the file this dataplane maps:
 *   - the same file: nothing to do;
 *   - no file: it keeps forwarding with the tables it has and says so every
 *     10 s; sy-control re-creates the file from its live region within a
 *     second (or, restarted, from this dataplane's mapping);
 *   - another file that is a region of this build: the workers park for a
 *     moment (packets wait in their RX rings) and move to it. The same
 *     region (a copy, the same region_id) keeps the connection tables; a
 *     new region clears them: their backend uids mean nothing there.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <rte_lcore.h>

#include "dataplane.h"

#define FOLLOW_INTERVAL_MS 1000
#define COMPLAIN_EVERY_S 10
#define PARK_WAIT_MS 2000

static pthread_t thread;
static bool started;
static atomic_bool stop;

/* Every worker slot of the new region is free, dead or ours (a copy). */
static int slots_free(struct sy_dataplane *dp, const struct sy_region_map *nm, char *err,
		      size_t errlen)
{
	int32_t me = (int32_t)getpid();

	if (nm->hdr->limits.max_lcores <= dp->n_workers) {
		snprintf(err, errlen, "it has %u lcore slots, this dataplane needs %u",
			 nm->hdr->limits.max_lcores, dp->n_workers + 1);
		return -1;
	}
	for (uint32_t i = 0; i <= dp->n_workers; i++) {
		int32_t pid = atomic_load(&sy_region_slot(nm, i)->pid);

		if (pid && pid != me && (kill(pid, 0) == 0 || errno == EPERM)) {
			snprintf(err, errlen, "its lcore slot %u belongs to live process %d", i,
				 (int)pid);
			return -1;
		}
	}
	return 0;
}

/* Park every worker; false (and nobody parked) if they did not all come. */
static bool park_workers(struct sy_dataplane *dp)
{
	uint64_t until = sy_mono_ms() + PARK_WAIT_MS;

	atomic_store(&dp->park, 1);
	while (atomic_load(&dp->parked) < dp->n_workers) {
		if (dp->quit || sy_mono_ms() > until) {
			atomic_store(&dp->park, 0);
			return false;
		}
		usleep(100);
	}
	return true;
}

/* Move to the region mapped as nm (taken over on success). */
static int follow(struct sy_dataplane *dp, struct sy_region_map *nm, const char *path)
{
	bool same = nm->hdr->region_id == dp->map.hdr->region_id;
	struct sy_region_map old;
	char err[256];

	if (slots_free(dp, nm, err, sizeof(err))) {
		printf("level=error msg=\"region file replaced by one this dataplane cannot serve from: it keeps the removed one\" region=%s error=\"%s\"\n",
		       path, err);
		return -1;
	}
	pthread_mutex_lock(&dp->map_mu); /* telemetry and the port counters wait */
	if (!park_workers(dp)) {
		pthread_mutex_unlock(&dp->map_mu);
		printf("level=warn msg=\"workers did not park: the region switch is tried again\" region=%s\n",
		       path);
		return -1;
	}
	old = dp->map;
	dp->map = *nm;
	for (uint32_t i = 0; i < dp->n_workers; i++) {
		/* cannot fail: the slots were checked free or ours */
		if (sy_worker_region_moved(dp, &dp->workers[i], err, sizeof(err)))
			printf("level=error msg=\"worker %u: %s\"\n", i, err);
		if (!same)
			sy_ct_clear(&dp->workers[i].lb.ct);
	}
	sy_telemetry_region_moved(dp);
	sy_port_stats_region_moved(dp);
	atomic_store(&old.hdr->dp_pid, 0);
	atomic_store(&dp->park, 0);
	pthread_mutex_unlock(&dp->map_mu);
	while (atomic_load(&dp->parked) && !dp->quit) /* every worker out of park() */
		usleep(100);
	sy_region_map_close(&old);
	printf("level=warn msg=\"region file replaced: this dataplane follows it\" region=%s %s\n", path,
	       same ? "same_region=yes connection_tables=kept"
		    : "same_region=no connection_tables=cleared (a new region: its backends are not the old ones)");
	fflush(stdout);
	return 0;
}

static void *run(void *arg)
{
	struct sy_dataplane *dp = arg;
	const char *path = dp->opts.region;
	uint64_t complained = 0;

	while (!atomic_load(&stop)) {
		struct sy_region_map nm;
		char err[512] = "";
		int st;

		for (int t = 0; t < FOLLOW_INTERVAL_MS / 100 && !atomic_load(&stop); t++)
			usleep(100 * 1000);
		st = sy_region_file_state(dp->map.fd, path);
		if (st == SY_REGION_FILE_SAME) {
			if (complained)
				printf("level=info msg=\"region file back\" region=%s\n", path);
			complained = 0;
			continue;
		}
		if (st == SY_REGION_FILE_OTHER && sy_region_map_open(path, &nm, err, sizeof(err)) == 0) {
			if (follow(dp, &nm, path) == 0) {
				complained = 0;
				continue;
			}
			sy_region_map_close(&nm);
			snprintf(err, sizeof(err), "see the line above");
		}
		if (!complained || sy_mono_ms() - complained >= COMPLAIN_EVERY_S * 1000) {
			complained = sy_mono_ms();
			if (st == SY_REGION_FILE_MISSING)
				printf("level=error msg=\"region file removed: forwarding goes on with the tables this dataplane has, but sy-control cannot change them until it re-creates the file\" region=%s\n",
				       path);
			else if (st == SY_REGION_FILE_OTHER)
				printf("level=error msg=\"region file replaced by one this dataplane cannot map: it keeps the removed one\" region=%s error=\"%s\"\n",
				       path, err);
			else
				printf("level=error msg=\"region file cannot be checked\" region=%s error=\"%s\"\n",
				       path, strerror(errno));
			fflush(stdout);
		}
	}
	return NULL;
}

int sy_region_follow_start(struct sy_dataplane *dp)
{
	int rc;

	atomic_store(&stop, false);
	rc = rte_ctrl_thread_create(&thread, "sy-regionwatch", NULL, run, dp);
	if (rc) {
		printf("level=error msg=\"cannot start the region file watch: a removed region file goes unnoticed\" err=\"%s\"\n",
		       strerror(rc > 0 ? rc : -rc));
		return -1;
	}
	started = true;
	return 0;
}

void sy_region_follow_stop(void)
{
	if (!started)
		return;
	atomic_store(&stop, true);
	pthread_join(thread, NULL);
	started = false;
}
