/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Questions to the running dataplane over its DPDK telemetry socket (the
 * region's header says where it is): which backend a flow has in the
 * dataplane's connection tables. Telemetry protocol: a SOCK_SEQPACKET unix
 * socket; the server greets with a JSON object, then answers each command
 * with {"<command>": <data>}.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#include "dp_query.h"

static int recv_timeout(int fd, char *buf, size_t len, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ssize_t n;

	if (poll(&p, 1, ms) != 1)
		return -1;
	n = recv(fd, buf, len - 1, 0);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	return 0;
}

int sy_dp_lookup(const struct sy_region_map *m, const char *params, char *backend, size_t blen,
		 char *reason, size_t rlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int32_t pid = atomic_load(&m->hdr->dp_pid);
	char cmd[300], buf[16384];
	json_t *j, *v;
	int fd, rc = -1;

	if (pid <= 0 || (kill(pid, 0) && errno == ESRCH)) {
		snprintf(reason, rlen, "no dataplane is running on this region");
		return -1;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%.*s", (int)sizeof(m->hdr->dp_telemetry) - 1,
		 m->hdr->dp_telemetry);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    recv_timeout(fd, buf, sizeof(buf), 1000)) {
		snprintf(reason, rlen, "dataplane telemetry %s unreachable", sa.sun_path);
		goto out;
	}
	snprintf(cmd, sizeof(cmd), "/switchyard/lookup,%s", params);
	if (send(fd, cmd, strlen(cmd), 0) < 0 || recv_timeout(fd, buf, sizeof(buf), 1000)) {
		snprintf(reason, rlen, "dataplane telemetry did not answer");
		goto out;
	}
	j = json_loads(buf, 0, NULL);
	v = json_object_get(j, "/switchyard/lookup");
	if (json_is_object(v) && json_is_string(json_object_get(v, "backend"))) {
		snprintf(backend, blen, "%s", json_string_value(json_object_get(v, "backend")));
		snprintf(reason, rlen, "%s", json_string_value(json_object_get(v, "reason")) ?: "");
		rc = 0;
	} else {
		snprintf(reason, rlen, "dataplane does not know this flow's service");
	}
	json_decref(j);
out:
	if (fd >= 0)
		close(fd);
	return rc;
}
