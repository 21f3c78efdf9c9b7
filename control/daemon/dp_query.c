/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Questions to the running dataplane over its DPDK telemetry socket (the
 * region's header says where it is): which backend a flow has in the
 * dataplane's connection tables. Telemetry protocol: a SOCK_SEQPACKET unix
 * socket; the server greets with a JSON object, then answers each command
 * with {"<command>": <data>}. Every step is non-blocking under one deadline.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "dp_query.h"

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for `events` on fd until the deadline; 0 when ready. */
static int wait_for(int fd, short events, int64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = events };
	int64_t left = deadline - mono_ms();

	if (left <= 0)
		return -1;
	while (poll(&p, 1, (int)left) < 0) {
		if (errno != EINTR || (left = deadline - mono_ms()) <= 0)
			return -1;
	}
	return p.revents & (events | POLLERR | POLLHUP) ? 0 : -1;
}

/* One message (SOCK_SEQPACKET) before the deadline. */
static int recv_by(int fd, char *buf, size_t len, int64_t deadline)
{
	ssize_t n;

	if (wait_for(fd, POLLIN, deadline))
		return -1;
	n = recv(fd, buf, len - 1, MSG_DONTWAIT);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	return 0;
}

int sy_dp_lookup(int32_t dp_pid, const char *socket_path, const char *params, char *backend,
		 size_t blen, char *reason, size_t rlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int64_t deadline = mono_ms() + SY_DP_QUERY_DEADLINE_MS;
	char cmd[300], buf[16384];
	json_t *j, *v;
	int fd, rc = -1;

	if (dp_pid <= 0 || (kill(dp_pid, 0) && errno == ESRCH)) {
		snprintf(reason, rlen, "no dataplane is running on this region");
		return -1;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", socket_path);
	/* non-blocking: a dataplane that does not accept (stopped, stalled, a
	 * full backlog) fails the connect or the wait, not the caller */
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) && errno != EINPROGRESS)) {
		snprintf(reason, rlen, "dataplane telemetry %s unreachable: %s", sa.sun_path,
			 strerror(errno));
		goto out;
	}
	if (recv_by(fd, buf, sizeof(buf), deadline)) {
		snprintf(reason, rlen, "dataplane telemetry %s did not answer within %d ms",
			 sa.sun_path, SY_DP_QUERY_DEADLINE_MS);
		goto out;
	}
	snprintf(cmd, sizeof(cmd), "/switchyard/lookup,%s", params);
	if (send(fd, cmd, strlen(cmd), MSG_DONTWAIT | MSG_NOSIGNAL) < 0 ||
	    recv_by(fd, buf, sizeof(buf), deadline)) {
		snprintf(reason, rlen, "dataplane telemetry did not answer within %d ms",
			 SY_DP_QUERY_DEADLINE_MS);
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
