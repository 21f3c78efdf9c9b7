// SPDX-License-Identifier: BSD-3-Clause
/* The floor of perf/xdp_bench.c: an XDP program that sends every frame back
 * out untouched. What BPF_PROG_TEST_RUN costs around any program (entering,
 * timing, running an XDP program at all) is measured with it, so that the
 * balancer's own cost is the difference. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_tx_floor(struct xdp_md *ctx)
{
	(void)ctx;
	return XDP_TX;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
