// SPDX-License-Identifier: BSD-3-Clause
/* Computes THE flow hash inside BPF so that tests/bpf/test_flow_hash_bpf.c can
 * compare it with the userspace result. Run with BPF_PROG_TEST_RUN; the
 * "packet" is a struct sy_flow_key followed by a 32-bit seed. The results go
 * to global variables (read through the skeleton's bss). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <switchyard/flow_hash.h>

__u32 hash_full;
__u32 hash_frag;

SEC("xdp")
int flow_hash_test(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct sy_flow_key *pkt = data;
	struct sy_flow_key key;
	__u32 seed;

	if ((void *)(pkt + 1) + sizeof(seed) > data_end)
		return XDP_ABORTED; /* the test checks for XDP_PASS */

	/* Like the real dataplane: hash a key held on the stack. */
	__builtin_memcpy(&key, pkt, sizeof(key));
	__builtin_memcpy(&seed, pkt + 1, sizeof(seed));

	hash_full = sy_flow_hash(&key, seed);
	sy_flow_key_drop_ports(&key); /* the 3-tuple used for IP fragments */
	hash_frag = sy_flow_hash(&key, seed);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
