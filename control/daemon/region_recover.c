/* SPDX-License-Identifier: BSD-3-Clause
 * Orphaned region mappings, through /proc, and sy-control's watch on its
 * region's file; see region_recover.h. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <switchyard/region_writer.h>

#include "daemon.h"
#include "region_recover.h"

/* The first line of /proc/PID/maps that maps "PATH (deleted)": its address
 * range ("START-END") into range. 1 found, 0 not. */
static int orphan_range(pid_t pid, const char *path, char *range, size_t len)
{
	char file[64], line[4608], want[4200];
	FILE *f;
	int found = 0;

	snprintf(file, sizeof(file), "/proc/%d/maps", (int)pid);
	snprintf(want, sizeof(want), " %s (deleted)\n", path);
	f = fopen(file, "re");
	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f)) {
		size_t n = strlen(line), w = strlen(want);

		if (n > w && !strcmp(line + n - w, want)) {
			snprintf(range, len, "%.*s", (int)strcspn(line, " "), line);
			found = 1;
		}
	}
	fclose(f);
	return found;
}

int sy_region_pid_maps_orphan(pid_t pid, const char *path)
{
	char range[64];

	return pid > 0 && orphan_range(pid, path, range, sizeof(range));
}

int sy_region_find_orphan(const char *path, pid_t *pid, int *fd, char *err, size_t errlen)
{
	DIR *proc = opendir("/proc");
	struct dirent *e;
	int rc = 0;

	if (!proc) {
		snprintf(err, errlen, "cannot read /proc: %s", strerror(errno));
		return -1;
	}
	while (!rc && (e = readdir(proc))) {
		char range[64], file[128];
		pid_t p;

		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		p = (pid_t)atoi(e->d_name);
		if (p == getpid() || !orphan_range(p, path, range, sizeof(range)))
			continue;
		snprintf(file, sizeof(file), "/proc/%d/map_files/%s", (int)p, range);
		*pid = p;
		*fd = open(file, O_RDONLY | O_CLOEXEC);
		if (*fd < 0) {
			snprintf(err, errlen,
				 "process %d still maps the removed region file %s, and it cannot be opened through %s: %s (re-creating it from there needs root)",
				 (int)p, path, file, strerror(errno));
			rc = -1;
		} else {
			rc = 1;
		}
	}
	closedir(proc);
	return rc;
}

/* ---- sy-control's side ----------------------------------------------------- */

int sy_daemon_recover_region(struct sy_daemon *d, char *err, size_t errlen)
{
	const char *path = d->cfg->region;
	struct sy_region_header h;
	char self[64], why[512];
	pid_t pid;
	int fd, r;

	if (access(path, F_OK) == 0 || errno != ENOENT)
		return 0;
	r = sy_region_find_orphan(path, &pid, &fd, why, sizeof(why));
	if (r < 0) {
		snprintf(err, errlen,
			 "%s; refusing to create a new region beside it (the dataplane would never see it): restart sy-dataplane, or start sy-control as root so it re-creates the file from that mapping",
			 why);
		return -1;
	}
	if (r == 0)
		return 0; /* nobody serves a removed file: a new region it is */
	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	if (sy_region_peek(self, &h, why, sizeof(why))) {
		snprintf(err, errlen, "process %d maps a removed region file %s that is not a region this build can take over (%s)",
			 (int)pid, path, why);
		close(fd);
		return -1;
	}
	/* another sy-control still writing it re-creates the file itself */
	if (flock(fd, LOCK_SH | LOCK_NB)) {
		snprintf(err, errlen, "region %s was removed but sy-control pid %d still writes it (and re-creates the file itself): not starting a second writer",
			 path, (int)atomic_load(&h.writer_pid));
		close(fd);
		return -1;
	}
	flock(fd, LOCK_UN);
	if (sy_region_copy(fd, h.region_size, path, why, sizeof(why))) {
		snprintf(err, errlen, "re-creating %s from process %d's mapping: %s", path, (int)pid, why);
		close(fd);
		return -1;
	}
	close(fd);
	d->region_recovered_from = pid;
	sy_logf("warn", "\"region file was missing while process %d still served it: re-created from its mapping; the dataplane re-attaches to it\" region=%s generation=%llu",
		(int)pid, path, (unsigned long long)atomic_load(&h.generation));
	return 0;
}

void sy_daemon_region_watch(struct sy_daemon *d, uint64_t now_ms)
{
	const char *path = d->cfg->region;
	char err[512];
	int st;

	if (now_ms - d->region_checked_ms < 1000)
		return;
	d->region_checked_ms = now_ms;
	st = sy_region_file_state(sy_writer_map(d->writer)->fd, path);
	if (st == SY_REGION_FILE_MISSING) {
		if (sy_writer_recreate(d->writer, path, err, sizeof(err))) {
			sy_logf("error", "\"region file removed and not re-created: the dataplane keeps the tables it has\" error=\"%s\"",
				err);
		} else {
			d->region_recreated++;
			sy_logf("warn", "\"region file was removed: re-created from the live region; the dataplane re-attaches to it\" region=%s",
				path);
			sy_daemon_xdp_region_moved(d);
			st = SY_REGION_FILE_SAME;
		}
	} else if (st == SY_REGION_FILE_OTHER && d->region_file_state != st) {
		sy_logf("error", "\"region path names another file now: this sy-control keeps writing its own (removed) region; restart sy-dataplane and sy-control to settle on one\" region=%s",
			path);
	}
	d->region_file_state = st;
}
