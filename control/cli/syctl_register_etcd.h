/* SPDX-License-Identifier: BSD-3-Clause
 * `syctl register --registry etcd://...`: the heartbeat agent for the etcd
 * registry (syctl_register_etcd.c). */
#ifndef SY_CONTROL_SYCTL_REGISTER_ETCD_H
#define SY_CONTROL_SYCTL_REGISTER_ETCD_H

#include "auth.h"

/* How the agent reaches etcd besides its URL (each NULL if not given). */
struct syctl_etcd_access {
	const char *user, *password_file;          /* authentication: both or neither */
	const char *ca_file, *cert_file, *key_file; /* any of them: https to every
						     * endpoint; cert and key together */
};

/* registry: "etcd://HOST:PORT[,HOST:PORT...][/PREFIX/]". Runs until
 * SIGTERM/SIGINT (then revokes its lease), or registers once with --once.
 * Returns syctl's exit code. */
int syctl_register_etcd(const struct sy_registration *r, const char *registry, int once,
			const struct syctl_etcd_access *access);

#endif
