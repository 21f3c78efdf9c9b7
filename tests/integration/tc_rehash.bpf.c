// SPDX-License-Identifier: BSD-3-Clause
/* Forget the flow hash a packet arrives with. On the ingress of a router's
 * client-side port (fleet_topology.sh): a packet sent by a local socket in
 * the client namespace keeps that socket's random hash across the veth, and
 * the router's ECMP (fib_multipath_hash_policy=1) reuses a hash it finds
 * instead of hashing the 5-tuple (shared/notes: 16 of 60 flows took the path
 * `ip route get ... sport P dport 80` names). Without it the router hashes the
 * 5-tuple, as a router receiving the flow from a wire would, and the test can
 * tell which LB host carries each connection. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>

static void (*const set_hash_invalid)(struct __sk_buff *skb) = (void *)BPF_FUNC_set_hash_invalid;

__attribute__((section("tc"), used)) int tc_rehash(struct __sk_buff *skb)
{
	set_hash_invalid(skb);
	return TC_ACT_OK;
}

char _license[] __attribute__((section("license"), used)) = "GPL";
