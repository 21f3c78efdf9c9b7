/* SPDX-License-Identifier: BSD-3-Clause
 * `syctl register --registry etcd://...`: the heartbeat agent for the etcd
 * registry (syctl_register_etcd.c). */
#ifndef SY_CONTROL_SYCTL_REGISTER_ETCD_H
#define SY_CONTROL_SYCTL_REGISTER_ETCD_H

#include "auth.h"

/* registry: "etcd://HOST:PORT[,HOST:PORT...][/PREFIX/]". Runs until
 * SIGTERM/SIGINT (then revokes its lease), or registers once with --once.
 * user and password_file (both or neither): etcd's authentication.
 * Returns syctl's exit code. */
int syctl_register_etcd(const struct sy_registration *r, const char *registry, int once,
			const char *user, const char *password_file);

#endif
