/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Driving BIRD 2 (docs/control.md, "Announcing the VIPs"): the VIPs to
 * announce go into a file that bird.conf includes, one static protocol per
 * address family with a blackhole route per VIP:
 *
 *   protocol static switchyard4 { ipv4; route 198.18.1.1/32 blackhole; }
 *   protocol static switchyard6 { ipv6; }
 *
 * written atomically (a temporary file in the same directory, fsync,
 * rename), then BIRD is asked to re-read its configuration over its
 * control socket (`configure`, the protocol birdc speaks: a greeting, one
 * command line, reply lines "NNNN-text" ending with "NNNN text"; codes
 * 0xxx succeed, 8xxx and 9xxx are errors). BIRD restarted later reads the
 * same file: the routes survive a restart of either side. No process is
 * started: the socket is spoken directly, within a deadline.
 */
#ifndef SY_CONTROL_BGP_BIRD_H
#define SY_CONTROL_BGP_BIRD_H

#include <stddef.h>
#include <stdint.h>

struct sy_bird_route {
	uint8_t family;      /* SY_AF_INET / SY_AF_INET6 */
	uint32_t addr[4];    /* wire order */
	const char *comment; /* e.g. its services, "" for none; [A-Za-z0-9_.,- ] */
};

/* The include file's text: protocols <protocol>4 and <protocol>6, each
 * with the routes of its family (none: the protocol stays, with no route).
 * malloc'd; NULL when out of memory. */
char *sy_bird_render(const char *protocol, const char *instance,
		     const struct sy_bird_route *routes, size_t n);

/* Replace path with text atomically, mode 0644 (BIRD's user reads it). 0,
 * or -1 with err. */
int sy_bird_write_file(const char *path, const char *text, char *err, size_t errlen);

enum sy_bird_result {
	SY_BIRD_OK = 0,
	SY_BIRD_UNREACHABLE,    /* no socket, refused, no answer in time */
	SY_BIRD_NOT_CONFIGURED, /* BIRD answers but has not our protocols */
	SY_BIRD_ERROR,          /* BIRD refused the configuration, no permission, ... */
};

const char *sy_bird_result_name(enum sy_bird_result r);

/* Ask BIRD at socket to re-read its configuration (configure), then check
 * that it has the protocols of `protocol` (it includes the file). msg gets
 * what went wrong, or on success BIRD's answer; version (may be NULL)
 * BIRD's greeting. Waits at most timeout_ms in all. */
enum sy_bird_result sy_bird_configure(const char *sock_path, const char *protocol,
				      const char *include_file, unsigned timeout_ms, char *msg,
				      size_t msglen, char *version, size_t vlen);

/* The same check without re-reading: does BIRD answer and have our
 * protocols? */
enum sy_bird_result sy_bird_probe(const char *sock_path, const char *protocol,
				  const char *include_file, unsigned timeout_ms, char *msg,
				  size_t msglen, char *version, size_t vlen);

#endif
