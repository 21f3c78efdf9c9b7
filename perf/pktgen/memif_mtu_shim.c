/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * LD_PRELOAD shim that lets Pktgen-DPDK 23.03 run on net_memif.
 *
 * Pktgen 23.03 sets every port's MTU at start-up and panics when that
 * fails:
 *   PANIC in pktgen_config_ports():
 *   Cannot set MTU 1500 on port 0, (95)Operation not supported
 * net_memif (DPDK 22.11) has no MTU operation, so rte_eth_dev_set_mtu()
 * returns -ENOTSUP even when asked for the MTU the port already has.
 * Here, and only there, that request is answered with success: setting a
 * port to its current MTU changes nothing. Every other request, and every
 * other error, goes through unchanged.
 *
 * perf/bench_dataplane.sh --pktgen preloads it into Pktgen (and nothing
 * else); it is built as build/perf/sy_pktgen_mtu_shim.so.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* RTLD_NEXT */
#endif
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_ethdev.h>

/* What Pktgen starts (a shell for a Lua io.popen) runs without the shim.
 * Only in Pktgen: a wrapper that execs it (timeout, env) must pass it on. */
__attribute__((constructor)) static void not_inherited(void)
{
	if (strcmp(program_invocation_short_name, "pktgen") == 0)
		unsetenv("LD_PRELOAD");
}

typedef int (*set_mtu_fn)(uint16_t port_id, uint16_t mtu);

int rte_eth_dev_set_mtu(uint16_t port_id, uint16_t mtu)
{
	static set_mtu_fn real;
	uint16_t current;
	int ret;

	if (real == NULL)
		real = (set_mtu_fn)dlsym(RTLD_NEXT, "rte_eth_dev_set_mtu");
	if (real == NULL)
		return -ENOSYS;
	ret = real(port_id, mtu);
	if (ret == -ENOTSUP && rte_eth_dev_get_mtu(port_id, &current) == 0 && current == mtu) {
		fprintf(stderr, "sy_pktgen_mtu_shim: port %u has no MTU operation; it already has MTU %u, "
			"so setting it is a no-op\n", port_id, mtu);
		return 0;
	}
	return ret;
}
