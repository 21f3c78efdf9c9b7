/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef SY_CONTROL_SYCTL_H
#define SY_CONTROL_SYCTL_H

#include <stddef.h>

#ifndef SY_VERSION
#define SY_VERSION "0.1.0"
#endif

/* `syctl register ...` (argv[0] = "register"): the heartbeat agent. */
int syctl_register(int argc, char **argv);

#endif
