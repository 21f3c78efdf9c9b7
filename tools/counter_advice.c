/* SPDX-License-Identifier: BSD-3-Clause
 *
 * What to do about each counter (see counter_advice.h). Markdown, one table
 * cell each; keep to what the programs and docs/troubleshooting.md offer.
 */
#include <stddef.h>

#include "counter_advice.h"

const struct sy_counter_advice sy_counter_advice[] = {
	{ "rx_packets",
	  "Zero while traffic is sent: the port receives nothing. Check the link (`syctl "
	  "stats`: `port N ... link up`), that the "
	  "VIPs are routed to this host (BGP announcement seen by the router), and on a "
	  "multi-queue NIC that every worker polls (`/switchyard/lcore,<n>`)." },
	{ "rx_bytes", "Throughput in: compare with the NIC's line rate." },
	{ "tx_packets",
	  "Should follow `forwarded` + `icmp_too_big_sent` + `from_kernel`. Far below it: "
	  "see `drop_tx_full`." },
	{ "tx_bytes", "Throughput out, encapsulation overhead included." },
	{ "forwarded",
	  "The work done. Not growing while `rx_packets` grows: the packets are not VIP "
	  "traffic (`to_kernel`) or are dropped (the `drop_*` rows)." },
	{ "to_kernel",
	  "ARP, NDP, the host's own SSH/BGP: normal. VIP traffic ends up here when no table "
	  "is published yet (`syctl status`: generation 0) or the VIP is not in the "
	  "configuration (`syctl services`)." },
	{ "from_kernel",
	  "The kernel's answers through the exception interface (ARP replies, BGP). Zero "
	  "while `to_kernel` grows: the TAP is down or has no address (`ip addr show sy0`)." },
	{ "ct_hits", "Packets of established flows: the bulk of the traffic, normally." },
	{ "ct_new",
	  "New flows per second given an entry. A sudden jump with few `ct_hits`: a SYN "
	  "flood or a scan; the new-flow guard caps it per worker or CPU (`--ct-guard-rate`, "
	  "`--xdp-ct-guard-rate`; the rest shows in `ct_bypass`), else the connection table "
	  "absorbs it by evicting (`ct_evictions`)." },
	{ "ct_reselect",
	  "Flows moved because their backend left the set. Grows with every backend "
	  "removal; steadily growing: backends flapping (`syctl backends SVC`, raise "
	  "`health.hold_down_s`)." },
	{ "ct_evictions",
	  "Live flows pushed out when both lines a flow may use are full and no occupant could move: the table is too small for the flows "
	  "(raise `--ct-size`; `--xdp-ct-flows` on the XDP path, where this stays 0). An "
	  "evicted flow keeps its backend through Maglev unless the set changed meanwhile." },
	{ "ct_expired", "Idle flows whose entries were reused: normal." },
	{ "fragments",
	  "Fragmented VIP traffic: the first fragment of a datagram goes as a packet of its "
	  "flow, the later ones follow it (`frag_followed`) or, if it was not seen, go by the "
	  "3-tuple (`frag_untracked`); docs/dataplane.md, \"Fragments\". On "
	  "`net_af_packet` IPv4 fragments never show here: the kernel reassembles them first." },
	{ "icmp_to_backend",
	  "PMTU and unreachable errors routed to the flow's backend: normal in small "
	  "numbers." },
	{ "icmp_too_big_sent",
	  "Clients sent packets that do not fit after encapsulation. Steady: raise the MTU "
	  "between the load balancer and the backends (ipip adds 20 bytes over IPv4, 40 over "
	  "IPv6; gue 8 more) or clamp the MSS on the backends." },
	{ "drop_runt",
	  "Malformed frames: a faulty peer, a bad cable or a scan. Nothing to tune; large "
	  "numbers: find the sender on the switch." },
	{ "drop_vlan",
	  "More than two VLAN tags or a truncated tag. Check the switch port's tagging (the "
	  "dataplane reads up to two tags and keeps them on output)." },
	{ "drop_ipv4_header", "Malformed IPv4: attack traffic or a broken sender." },
	{ "drop_ipv4_length",
	  "IPv4 length larger than the frame. If steady: frames cut short by the port. On "
	  "`net_af_packet`: larger than a ring frame (jumbo frames need `framesz=`; GRO/LRO on "
	  "the interface or TSO on a veth peer merge segments: turn them off with `ethtool "
	  "-K`; docs/dataplane.md, \"What net_af_packet hides\")." },
	{ "drop_ipv6_header", "Malformed IPv6: attack traffic or a broken sender." },
	{ "drop_ipv6_ext",
	  "More than 8 IPv6 extension headers or a truncated chain: almost always "
	  "hostile." },
	{ "drop_l4_header", "Truncated TCP/UDP headers: attack traffic or a broken sender." },
	{ "drop_icmp",
	  "ICMP errors about a VIP whose quoted packet is unreadable or names no service: "
	  "noise or spoofing." },
	{ "drop_no_service",
	  "TCP/UDP to a VIP address on a port/protocol with no service: scans, or a service "
	  "missing from the configuration (`syctl services`; `port: all` takes every "
	  "port)." },
	{ "drop_no_backend",
	  "A service with no backend in its table: `syctl backends SVC` (all gone, all "
	  "weight 0, registry empty?), `syctl status` for the registry, `/metrics` "
	  "`switchyard_backend_up`. A backend whose next-hop MAC is unknown is left out of "
	  "the table: check the kernel's neighbour table (`ip neigh`) through the exception "
	  "interface, or set `mac` / `next_hop_mac`." },
	{ "drop_mtu",
	  "Too big after encapsulation and not answered: IPv4 without DF, fragments, ICMP "
	  "errors, everything with `--mtu-action drop`, and the answers held back "
	  "(`icmp_suppressed_dest`, `icmp_rate_limited`). Raise the path MTU to the "
	  "backends (`--mtu` states the port's), or keep `--mtu-action icmp`." },
	{ "drop_no_room",
	  "No headroom for the outer headers, or a multi-segment frame that could not be "
	  "linearised (the mbufs are sized for the ports' MTU, so a driver chained "
	  "segments anyway). Should stay 0; report it with the port's driver." },
	{ "drop_family",
	  "A backend of a family with no encapsulation source: an IPv6 backend registered "
	  "for an ipip/gue service without `encap_source6` (or IPv4 without "
	  "`encap_source4`). Set it in the service or `defaults`." },
	{ "drop_no_tables",
	  "Reserved: this version does not count it. Before the first publish, every packet "
	  "goes to the kernel instead (`to_kernel`): check `syctl status` (generation, "
	  "configuration loaded)." },
	{ "drop_tx_full",
	  "The port's transmit ring was full: the egress link or NIC is saturated, or the "
	  "worker cannot keep up. Check the link speed and errors (`dpdk-telemetry.py`: "
	  "`/ethdev/xstats,<port>`), add workers (`-l`), spread RSS." },
	{ "drop_kernel_full",
	  "The exception TAP did not take the packet: it is down (`ip link set sy0 up`), "
	  "the kernel does not drain it fast enough (an ARP or SYN flood to the host), the "
	  "frame is larger than the TAP takes (at most 1500-byte packets: jumbo frames to the "
	  "host's own address), or `--exception-tap off`." },
	{ "drop_encapsulated",
	  "IP-in-IP (protocol 4 or 41) addressed to a VIP address: spoofed tunnel input, "
	  "dropped by design so that nobody can make the load balancer forward a packet of "
	  "their choice. Nothing to fix on this host." },
	{ "icmp_suppressed_dest",
	  "Oversized packets from a source that cannot be answered (0.0.0.0/8, loopback, "
	  "multicast, 255.255.255.255 and class E, `::`, `ff00::/8`) or, for IPv4, sent as a "
	  "link-layer broadcast: spoofed or broken senders (RFC 1122 3.2.2, RFC 4443 2.4). "
	  "Nothing to tune; steady numbers: find the sender on the switch." },
	{ "icmp_rate_limited",
	  "Frag-needed / packet-too-big answers held back by the per-lcore (per-CPU on XDP) "
	  "token bucket: a flood of oversized packets, often spoofed to reflect ICMP at a "
	  "victim. Legitimate clients hitting it: raise `--icmp-rate` / `--icmp-burst` "
	  "(`--xdp-icmp-rate` / `--xdp-icmp-burst`), and the MTU towards the backends so "
	  "that fewer packets need an answer." },
	{ "icmp_ct_other",
	  "ICMP errors (PMTU, unreachable) that RSS delivered to another worker or CPU than "
	  "their flow's, sent to the backend that flow's table names: normal, a share of "
	  "`icmp_to_backend` that grows with the number of workers." },
	{ "frag_followed",
	  "Later fragments sent to the backend of their datagram's flow, after its first "
	  "fragment: normal for fragmented traffic (about fragments minus datagrams)." },
	{ "frag_untracked",
	  "Later fragments whose first fragment this worker (XDP: the host) did not see in the "
	  "last `--frag-timeout` seconds (XDP: 2 s), balanced on the 3-tuple, possibly to "
	  "another backend than their flow's: reordering that delivers the first fragment "
	  "last, first fragments lost, or a NIC whose RSS sends a datagram's fragments to "
	  "different queues (docs/dataplane.md, \"Fragments\"). Steady growth with few "
	  "`fragments`: a scan or an attack with fragments only." },
	{ "ct_bypass",
	  "New flows over the new-flow budget of a worker or CPU (`--ct-guard-rate`, "
	  "`--ct-guard-burst`; XDP: `--xdp-ct-guard-*`), forwarded to their Maglev backend "
	  "without an entry so that the flood cannot evict established flows (docs/dataplane.md, "
	  "\"New-flow guard\"). Growing in a flood: the guard at work. Growing with real "
	  "traffic: legitimate new connections exceed the budget and go untracked (they move "
	  "if the backend set changes): raise `--ct-guard-rate` if the table has room "
	  "(`ct_evictions` stays 0)." },
	{ "ct_bypass_no_syn",
	  "TCP segments without SYN of no tracked flow under `--ct-syn-only on`, forwarded "
	  "untracked: an ACK flood, or connections that began before this worker or host saw "
	  "them (a restart, an ECMP change). They stay on Maglev's backend while the set does "
	  "not change." },
	{ "quic_cid_routed",
	  "QUIC short-header packets of `quic: true` services sent to the backend whose "
	  "`server_id` their connection ID carries (docs/dataplane.md, \"QUIC connection IDs\"): "
	  "normal, most of a QUIC service's packets once its connections are up." },
	{ "quic_cid_unknown",
	  "QUIC short-header packets whose connection ID names no backend of the service (an "
	  "ID nobody registered, a backend gone, CID version 0 or 3, too short, fixed bit "
	  "clear), balanced by the hash: after a backend left its clients' packets count here "
	  "until they reconnect. Steady growth: backends writing IDs they did not register "
	  "(check each backend's `server_id` in `syctl backends`) or non-QUIC UDP to the VIP." },
	{ "busy_cycles",
	  "Not a fault: the worker's busy time in TSC cycles. Its growth over a second divided "
	  "by the TSC rate (`tsc_hz` in sy-dataplane's \"running\" log line) is the worker's "
	  "load (1.0: no idle polls left, the next frames wait in the NIC's ring); divided by "
	  "the frames received (rx_packets + from_kernel), the cycles a frame costs. A load "
	  "near 1.0 with the NIC missing frames (`rx_missed` on `syctl stats`' port lines): "
	  "add workers (RSS queues) or hosts." },
	{ "busy_polls",
	  "Not a fault: rounds of the worker loop that received frames. Frames per round "
	  "(rx_packets + from_kernel divided by it) near the burst size (32) say the worker "
	  "is saturated; a few frames a round, that it keeps up with room to spare." },
	{ NULL, NULL },
};
