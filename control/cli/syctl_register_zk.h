/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef SY_CONTROL_SYCTL_REGISTER_ZK_H
#define SY_CONTROL_SYCTL_REGISTER_ZK_H

#include "auth.h"

/* `syctl register --registry zk://HOST:PORT[,HOST:PORT...][/PREFIX]`: keeps
 * an ephemeral znode PREFIX/SERVICE/ADDR:PORT alive until SIGTERM/SIGINT.
 * r holds the parsed options (service, port, weight, ttl_s, zone, metadata),
 * addr the --addr text. Returns syctl's exit code. */
int syctl_register_zk(const char *url, const struct sy_registration *r, const char *addr,
		      int once);

#endif
