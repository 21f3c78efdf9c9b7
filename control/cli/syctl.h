/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef SY_CONTROL_SYCTL_H
#define SY_CONTROL_SYCTL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "syctl_http.h"

/* SY_VERSION: project()'s version, defined by the top-level meson.build. */

/* syctl's exit codes, for every command (syctl.8, docs/control.md). */
enum {
	SYCTL_OK = 0,
	SYCTL_FAILED = 1,      /* sy-control (or the registry) answered with an error */
	SYCTL_USAGE = 2,       /* bad command line; nothing was sent */
	SYCTL_UNREACHABLE = 3, /* no answer: sy-control not running, socket missing */
	SYCTL_DENIED = 4,      /* not allowed: the socket's permissions, a wrong token */
	SYCTL_NOT_SERVING = 5, /* status: sy-control answers, the dataplane does not run */
};

/* The exit code of an API answer (SYCTL_OK for a 2xx), its diagnostic printed
 * on stderr otherwise: "cannot reach sy-control", "permission denied on
 * SOCKET (...)", or "METHOD PATH: STATUS error". */
int syctl_answer(const struct sy_http_target *t, const char *method, const char *path,
		 const struct sy_http_reply *r);

/* `syctl register ...` (argv[0] = "register"): the heartbeat agent. */
int syctl_register(int argc, char **argv);

/* `syctl fleet HOST...` (argv[0] = "fleet"): table digests compared across
 * LB hosts; token: for http:// hosts, or NULL. */
int syctl_fleet(const char *token, int json, int argc, char **argv);

/* `syctl resolve SERVICE --registry URL ...` (argv[0] = "resolve"):
 * libswitchyard-resolve's view of a service (syctl_resolve.c). */
int syctl_resolve(int json, int argc, char **argv);

/* Milliseconds on CLOCK_MONOTONIC: the agents' timers. */
static inline uint64_t syctl_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

#endif
