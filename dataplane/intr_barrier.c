/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Waiting for DPDK's interrupt thread before stopping ports and freeing
 * DPDK's memory.
 *
 * The EAL interrupt thread runs the drivers' event handlers, net_memif's
 * control channel among them. When a memif peer disconnects, that thread
 * marks the link down first, then unmaps the shared rings, closes the
 * channel and frees it (DPDK 22.11, memif_disconnect()). A process that
 * waits for the link to go down and then stops and closes the port and
 * calls rte_eal_cleanup(), which unmaps all of DPDK's memory, can get there
 * while the thread is still at it: two threads disconnecting one port, or
 * the thread freeing memory that is no longer mapped. Seen: sy-pktgen
 * killed by SIGSEGV after its result, in the interrupt thread's
 * rte_intr_instance_free() (memif's unregistration of the channel) while
 * the main thread was unmapping in rte_eal_cleanup(); 10 runs of 20 with
 * 16384-slot rings (rsize=14), whose unmapping takes longest.
 *
 * Between handlers the thread also rebuilds its epoll set whenever a
 * callback is registered or unregistered, reading the handle of every
 * registered source; DPDK 22.11's memif server never unregisters its
 * listening socket (memif_socket_remove_device() frees it and leaves the
 * callback), whose handle lives in DPDK's memory. So the barrier must not
 * register anything itself (an EAL alarm would: rte_eal_cleanup() then
 * unregisters it, and the rebuild that follows read the listener's handle
 * while the memory was being unmapped: sy-dataplane, SIGSEGV in
 * rte_intr_fd_get(), 3 runs in 30), and must wait for rebuilds too.
 *
 * It watches the thread instead: the thread is done with everything asked
 * of it when it sleeps in epoll_wait(). An event (a peer closing its end,
 * our own unregistration) makes it runnable at once, in the context of
 * whoever caused it, so a thread seen sleeping there after our last action
 * has handled it.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include "intr_barrier.h"

#define INTR_THREAD_NAME "eal-intr-thread" /* DPDK 22.11's name for it */

static int read_file(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return -1;
	n = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[n] = '\0';
	return 0;
}

/* The interrupt thread's id, or -1 */
static pid_t intr_thread(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	pid_t tid = -1;

	if (!d)
		return -1;
	while (tid < 0 && (e = readdir(d))) {
		char path[300], comm[32];

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
		if (read_file(path, comm, sizeof(comm)) == 0 &&
		    strncmp(comm, INTR_THREAD_NAME "\n", sizeof(INTR_THREAD_NAME)) == 0)
			tid = (pid_t)atoi(e->d_name);
	}
	closedir(d);
	return tid;
}

static bool is_epoll_wait(long nr)
{
#ifdef SYS_epoll_wait
	if (nr == SYS_epoll_wait)
		return true;
#endif
#ifdef SYS_epoll_pwait2
	if (nr == SYS_epoll_pwait2)
		return true;
#endif
	return nr == SYS_epoll_pwait;
}

/* Sleeping in epoll_wait(): its state is S and its system call that one. */
static bool idle_in_epoll_wait(pid_t tid)
{
	char path[64], buf[512], *state;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
	if (read_file(path, buf, sizeof(buf)) || !(state = strrchr(buf, ')')))
		return false;
	if (state[1] != ' ' || state[2] != 'S')
		return false;
	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", (int)tid);
	if (read_file(path, buf, sizeof(buf)))
		return false;
	/* "running", or the number of the system call it sleeps in */
	return buf[0] >= '0' && buf[0] <= '9' && is_epoll_wait(strtol(buf, NULL, 10));
}

bool sy_intr_barrier(unsigned int timeout_ms)
{
	pid_t tid = intr_thread();

	if (tid < 0)
		return false;
	for (unsigned int waited = 0; waited < timeout_ms; waited++) {
		if (idle_in_epoll_wait(tid))
			return true;
		usleep(1000);
	}
	return false;
}
