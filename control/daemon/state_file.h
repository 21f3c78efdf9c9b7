/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The operator's changes made through the API, kept in `state_file` so that
 * they survive restarts and reloads (docs/control.md, "Operator changes"):
 *   - backends added with `syctl add` (source api), per service;
 *   - operator weights (`syctl drain`, `syctl weight`; `syctl reset` clears
 *     one), per service and backend identity, whatever the backend's source;
 *   - the host's drain (`syctl drain-host`, `undrain-host`): no VIP is
 *     announced while it holds (bgp.c).
 * `syctl remove` is not kept: a configured backend returns with the next
 * reload, a registered one with its next heartbeat (syctl says so).
 *
 * The file is JSON, {"format": "switchyard-state", "version": 1, "services":
 * {NAME: {"added": [...], "weights": [...]}}, "host": {"drained": false,
 * "since": 0}} ("host" optional: not drained); services not configured now
 * are kept as they are for when they return. It is replaced atomically
 * (write, fsync, rename). A file that cannot be read, is not JSON or has
 * another version stops start-up (and --check, and a reload) with its name
 * and the reason: nothing the operator set is dropped silently.
 */
#ifndef SY_CONTROL_STATE_FILE_H
#define SY_CONTROL_STATE_FILE_H

#include <stddef.h>

#include "config.h"

#define SY_STATE_VERSION 1

struct sy_daemon;

/* Parse the state file of cfg (a missing file is an empty state). 0, or -1
 * with err. */
int sy_state_check(const struct sy_config *cfg, char *err, size_t errlen);

/* Apply the state file to the daemon's services (after the configuration,
 * before adoption; d->lock held or no other thread yet). 0, or -1 with err. */
int sy_state_load(struct sy_daemon *d, char *err, size_t errlen);

/* Around a reload (d->lock held): the services' state before it (a new
 * reference), then, after the new configuration is applied, given back:
 * services configured now take theirs (those that stayed keep it anyway),
 * the others are kept aside. */
struct json_t *sy_state_services(struct sy_daemon *d);
void sy_state_reloaded(struct sy_daemon *d, struct json_t *before);

/* The state as it is now (d->lock held): a new text for sy_state_save, a
 * sequence number that orders it and the file it goes to (path). NULL on
 * allocation failure. */
char *sy_state_capture(struct sy_daemon *d, unsigned long long *seq, char *path, size_t pathlen);

/* Write a captured text to path, unless a newer one was written already.
 * Without d->lock (it is disk I/O); serialised internally. 0, or -1 with
 * err. */
int sy_state_save(const char *path, const char *text, unsigned long long seq, char *err,
		  size_t errlen);

#endif
