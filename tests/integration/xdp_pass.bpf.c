// SPDX-License-Identifier: BSD-3-Clause
/* XDP_PASS, nothing else. The integration tests attach it to the peer veth
 * of an interface that runs the XDP balancer natively (lb_topology.sh,
 * DATAPLANE=xdp): a veth delivers XDP_TX'd frames to its peer promptly only
 * while the peer has an XDP program of its own (see topo_xdp_prepare). */
#include <linux/bpf.h>

__attribute__((section("xdp"), used)) int xdp_pass(struct xdp_md *ctx)
{
	(void)ctx;
	return XDP_PASS;
}

char _license[] __attribute__((section("license"), used)) = "GPL";
