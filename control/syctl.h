/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef SY_CONTROL_SYCTL_H
#define SY_CONTROL_SYCTL_H

#include <stddef.h>

/* SY_VERSION: project()'s version, defined by the top-level meson.build. */

/* `syctl register ...` (argv[0] = "register"): the heartbeat agent. */
int syctl_register(int argc, char **argv);

#endif
