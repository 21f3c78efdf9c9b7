/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Per-lcore counter indices and names, shared by the DPDK dataplane (which
 * writes them into the region), the XDP program (per-CPU map, same indices)
 * and sy-control / syctl / telemetry (which read and name them).
 * Append only: indices are part of the region ABI.
 */
#ifndef SWITCHYARD_COUNTERS_H
#define SWITCHYARD_COUNTERS_H

/* X(index name, "exported name", "what it means") */
#define SY_COUNTERS(X)                                                                      \
	X(RX_PKTS, "rx_packets", "packets received on the dataplane ports")                 \
	X(RX_BYTES, "rx_bytes", "bytes received on the dataplane ports")                    \
	X(TX_PKTS, "tx_packets", "packets sent (to backends, ICMP answers, kernel traffic)") \
	X(TX_BYTES, "tx_bytes", "bytes sent")                                               \
	X(FWD_PKTS, "forwarded", "VIP packets forwarded to a backend")                      \
	X(TO_KERNEL, "to_kernel", "non-VIP packets passed to the exception interface")      \
	X(FROM_KERNEL, "from_kernel", "packets from the exception interface sent out")      \
	X(CT_HIT, "ct_hits", "packets of tracked flows")                                    \
	X(CT_NEW, "ct_new", "new flows given a conntrack entry (Maglev selection)")                                 \
	X(CT_RESELECT, "ct_reselect", "tracked flows whose backend left, re-hashed")        \
	X(CT_EVICT, "ct_evictions", "live flows evicted from a flow's two full conntrack lines")      \
	X(CT_EXPIRED, "ct_expired", "idle flows whose entry was reused")                   \
	X(FRAGMENTS, "fragments", "VIP fragments forwarded (the first of a datagram as a packet of its flow; later ones also in frag_followed or frag_untracked)")            \
	X(ICMP_TO_BACKEND, "icmp_to_backend", "ICMP errors about VIP flows sent to the flow's backend") \
	X(ICMP_TOO_BIG_SENT, "icmp_too_big_sent", "frag-needed / packet-too-big sent to clients") \
	X(DROP_RUNT, "drop_runt", "frame shorter than an Ethernet header")                 \
	X(DROP_VLAN, "drop_vlan", "truncated or too deeply nested VLAN tags")               \
	X(DROP_IP4_HDR, "drop_ipv4_header", "IPv4 header truncated, bad version or IHL")    \
	X(DROP_IP4_LEN, "drop_ipv4_length", "IPv4 total length inconsistent with the frame") \
	X(DROP_IP6_HDR, "drop_ipv6_header", "IPv6 header truncated or payload length inconsistent") \
	X(DROP_IP6_EXT, "drop_ipv6_ext", "IPv6 extension header chain truncated or too long") \
	X(DROP_L4_HDR, "drop_l4_header", "TCP or UDP header truncated or inconsistent")     \
	X(DROP_ICMP, "drop_icmp", "ICMP error about a VIP flow with an unusable inner packet") \
	X(DROP_NO_SERVICE, "drop_no_service", "VIP address but no service on that port/protocol") \
	X(DROP_NO_BACKEND, "drop_no_backend", "service has no backend for a new flow")      \
	X(DROP_MTU, "drop_mtu", "too big after encapsulation and not answered with ICMP")   \
	X(DROP_NO_ROOM, "drop_no_room", "no headroom/tailroom to build the output packet")  \
	X(DROP_FAMILY, "drop_family", "no encapsulation source address of the backend's family") \
	X(DROP_NO_TABLES, "drop_no_tables", "no snapshot published yet")                   \
	X(DROP_TX_FULL, "drop_tx_full", "transmit queue full")                             \
	X(DROP_KERNEL_FULL, "drop_kernel_full", "exception interface full or disabled")    \
	X(DROP_ENCAPSULATED, "drop_encapsulated", "encapsulated packets to a VIP (spoofed tunnel input)") \
	X(ICMP_SUPPRESSED_DEST, "icmp_suppressed_dest", "too big, no ICMP error: the client address names no single host or the frame was a link-layer broadcast (also in drop_mtu)") \
	X(ICMP_RATE_LIMITED, "icmp_rate_limited", "too big, no ICMP error: over the ICMP error rate of the lcore or CPU (also in drop_mtu)") \
	X(ICMP_CT_OTHER, "icmp_ct_other", "ICMP errors about a flow tracked by another worker (XDP: another CPU), sent to that flow's backend (also in icmp_to_backend)") \
	X(FRAG_FOLLOWED, "frag_followed", "later VIP fragments sent after their datagram's first fragment, to its flow's backend (also in fragments)") \
	X(FRAG_UNTRACKED, "frag_untracked", "later VIP fragments whose first fragment was not seen in time, balanced on the 3-tuple hash (also in fragments)") \
	X(CT_BYPASS, "ct_bypass", "packets of new flows forwarded to their Maglev backend without a conntrack entry: over the new-flow budget of the lcore or CPU, or TCP without SYN under the SYN-only mode") \
	X(CT_BYPASS_NO_SYN, "ct_bypass_no_syn", "TCP packets without SYN of no tracked flow, forwarded untracked under the SYN-only mode (also in ct_bypass)") \
	X(QUIC_CID_ROUTED, "quic_cid_routed", "QUIC short-header packets sent to the backend registered with their connection ID's server ID (quic services)") \
	X(QUIC_CID_UNKNOWN, "quic_cid_unknown", "QUIC short-header packets whose server ID no backend of the service has, of an unknown CID version, or too short: balanced by the service's hash") \
	X(BUSY_CYCLES, "busy_cycles", "TSC cycles of the worker loop's rounds that received frames (DPDK workers; 0 on XDP): divided by rx_packets + from_kernel, the cycles a frame costs; over the TSC rate, the time the worker was busy") \
	X(BUSY_POLLS, "busy_polls", "rounds of the worker loop that received frames (DPDK workers; 0 on XDP): rx_packets + from_kernel divided by it is the frames a round; near the burst size (32) the worker is saturated")

enum sy_counter {
#define SY_X(id, name, help) SY_C_##id,
	SY_COUNTERS(SY_X)
#undef SY_X
	SY_C__COUNT
};

_Static_assert(SY_C__COUNT <= 64, "SY_LCORE_NCOUNTERS is 64");

#endif
