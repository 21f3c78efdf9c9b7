/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Everything start-up (and a reload) would refuse in a configuration,
 * checked without side effects: `sy-control --check` runs it, start-up runs
 * it before it creates anything, so a configuration that passes --check
 * starts (binding sockets aside) and one that cannot start leaves nothing
 * behind.
 */
#ifndef SY_CONTROL_PREFLIGHT_H
#define SY_CONTROL_PREFLIGHT_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct sy_preflight {
	const char *run_as;      /* --user NAME, or NULL */
	const char *xdp_iface;   /* --iface when the XDP path may run, or NULL */
	/* the region's limits when it exists (adopted, or the running one on
	 * reload); NULL: the configuration's (a region created from it) */
	const struct sy_region_limits *region_limits;
};

/* Each service's backend cap (caps[i] for cfg->services[i]): its
 * max_backends, or an equal share of what the explicit caps leave of the
 * region's backends. -1 with the reason if they cannot fit. */
int sy_config_caps(const struct sy_config *cfg, const struct sy_region_limits *lim,
		   uint32_t *caps, char *err, size_t errlen);

/* 0, or -1 with one message naming the file, line and field where there is
 * one. Reads key and token files; binds nothing, creates nothing. */
int sy_preflight_run(const struct sy_config *cfg, const struct sy_preflight *o, char *err,
		     size_t errlen);

/* The API token from token_file (at least 16 characters, trailing blanks
 * trimmed) into buf. 0, or -1 with the reason. */
int sy_read_token(const struct sy_config *cfg, char *buf, size_t len, char *err, size_t errlen);
/* The same for any token file; what names its field in messages. */
int sy_read_token_file(const struct sy_config *cfg, const char *what, const char *path,
		       char *buf, size_t len, char *err, size_t errlen);

#endif
