/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef SY_CONTROL_SYCTL_H
#define SY_CONTROL_SYCTL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* SY_VERSION: project()'s version, defined by the top-level meson.build. */

/* `syctl register ...` (argv[0] = "register"): the heartbeat agent. */
int syctl_register(int argc, char **argv);

/* Milliseconds on CLOCK_MONOTONIC: the agents' timers. */
static inline uint64_t syctl_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

#endif
