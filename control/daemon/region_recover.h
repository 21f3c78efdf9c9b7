/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Finding a region whose file was removed while processes still map it:
 * /proc/PID/maps names such a mapping "PATH (deleted)", and root can open
 * it again through /proc/PID/map_files/START-END. sy-control uses it at
 * start-up, when its region's file is missing: if a sy-dataplane still
 * serves the removed file, the region is re-created from that mapping (the
 * dataplane follows the new file) instead of a new, empty region being
 * created beside it (docs/region.md, "When the file is removed").
 */
#ifndef SY_CONTROL_REGION_RECOVER_H
#define SY_CONTROL_REGION_RECOVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A live process mapping the removed region file `path`, other than this
 * one: 1 with *pid and a read-only descriptor of the mapping in *fd (close
 * it), 0 if none, -1 with err if one exists but cannot be opened. */
int sy_region_find_orphan(const char *path, pid_t *pid, int *fd, char *err, size_t errlen);

/* Whether process pid maps the removed file `path` (its mapping is an
 * orphan): 1 yes, 0 no (or pid gone). */
int sy_region_pid_maps_orphan(pid_t pid, const char *path);

struct sy_daemon;
/* Start-up, before the region is opened: if its file is missing while a
 * process still maps the removed one, re-create the file from that mapping
 * (then adopted as usual). 0 (nothing to do, or done), or -1 with err: the
 * mapping cannot be read, or another sy-control still writes it. */
int sy_daemon_recover_region(struct sy_daemon *d, char *err, size_t errlen);
/* Every tick (acts once a second; d->lock held, not while publishing): the
 * region's file still there? Re-created from the live region if removed. */
void sy_daemon_region_watch(struct sy_daemon *d, uint64_t now_ms);

#endif
