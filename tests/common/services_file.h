/* SPDX-License-Identifier: BSD-3-Clause
 *
 * A plain-text description of services and backends for tests and the
 * sy-publish test tool (until sy-control exists, tests publish through it).
 * One directive per line, '#' starts a comment:
 *
 *   service NAME tcp|udp VIP PORT ipip|gue|l2dsr [m=PRIME] [seed=N]
 *           [gue_port=N] [src4=IPV4] [src6=IPV6] [quic=1]
 *           [hash=5-tuple|3-tuple|source-ip|source-ip-port]
 *   backend NAME ADDR PORT MAC [WEIGHT] [sid=QUIC_SERVER_ID]
 *
 * PORT 0 is an all-ports service; WEIGHT defaults to 1 (0 = draining).
 * quic=1: QUIC connection-ID routing (pkt_quic.h), sid= a backend's ID.
 * Applying a file makes the region hold exactly its services.
 */
#ifndef SY_TESTS_SERVICES_FILE_H
#define SY_TESTS_SERVICES_FILE_H

#include <stddef.h>

#include <switchyard/region_writer.h>

/* Parse `path`, stage its services (and removal of any other published
 * service) and commit. 0, or -1 with "file:line: message" in err. */
int sy_services_file_apply(struct sy_writer *w, const char *path, char *err, size_t errlen);

#endif
