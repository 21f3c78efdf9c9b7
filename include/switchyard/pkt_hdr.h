/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Wire-format headers, shared by the DPDK dataplane, the XDP programs and the
 * tests. Multi-byte fields are in network byte order. Compiles with
 * `clang -target bpf`.
 */
#ifndef SWITCHYARD_PKT_HDR_H
#define SWITCHYARD_PKT_HDR_H

#include "sy_types.h"

#define SY_ETH_ALEN 6
#define SY_ETH_P_IPV4 0x0800
#define SY_ETH_P_IPV6 0x86DD
#define SY_ETH_P_ARP 0x0806
#define SY_ETH_P_8021Q 0x8100
#define SY_ETH_P_8021AD 0x88A8

#define SY_IPPROTO_HOPOPTS 0
#define SY_IPPROTO_ICMP 1
#define SY_IPPROTO_IPIP 4
#define SY_IPPROTO_TCP 6
#define SY_IPPROTO_UDP 17
#define SY_IPPROTO_IPV6 41
#define SY_IPPROTO_ROUTING 43
#define SY_IPPROTO_FRAGMENT 44
#define SY_IPPROTO_ICMPV6 58
#define SY_IPPROTO_NONE 59
#define SY_IPPROTO_DSTOPTS 60

#define SY_IP4_DF 0x4000
#define SY_IP4_MF 0x2000
#define SY_IP4_OFFMASK 0x1fff

#define SY_ICMP_DEST_UNREACH 3
#define SY_ICMP_FRAG_NEEDED 4 /* code of DEST_UNREACH */
#define SY_ICMP_TIME_EXCEEDED 11
#define SY_ICMP_PARAMPROB 12
#define SY_ICMP6_DEST_UNREACH 1
#define SY_ICMP6_PKT_TOO_BIG 2
#define SY_ICMP6_TIME_EXCEEDED 3
#define SY_ICMP6_PARAMPROB 4

#define SY_TCP_FIN 0x01
#define SY_TCP_SYN 0x02
#define SY_TCP_RST 0x04
#define SY_TCP_ACK 0x10

struct sy_eth_hdr {
	uint8_t dst[SY_ETH_ALEN];
	uint8_t src[SY_ETH_ALEN];
	uint16_t proto;
} __attribute__((packed));

struct sy_vlan_hdr {
	uint16_t tci;
	uint16_t proto;
} __attribute__((packed));

struct sy_ip4_hdr {
	uint8_t ver_ihl;
	uint8_t tos;
	uint16_t tot_len;
	uint16_t id;
	uint16_t frag_off;
	uint8_t ttl;
	uint8_t proto;
	uint16_t csum;
	uint32_t saddr;
	uint32_t daddr;
} __attribute__((packed));

struct sy_ip6_hdr {
	uint32_t ver_tc_flow;
	uint16_t payload_len;
	uint8_t nexthdr;
	uint8_t hop_limit;
	uint32_t saddr[4];
	uint32_t daddr[4];
} __attribute__((packed));

struct sy_ip6_ext {
	uint8_t nexthdr;
	uint8_t len; /* 8-octet units beyond the first 8 (AH: 4-octet units - 2) */
} __attribute__((packed));

struct sy_ip6_frag {
	uint8_t nexthdr;
	uint8_t reserved;
	uint16_t frag_off; /* offset << 3 | M */
	uint32_t id;
} __attribute__((packed));

struct sy_udp_hdr {
	uint16_t sport;
	uint16_t dport;
	uint16_t len;
	uint16_t csum;
} __attribute__((packed));

struct sy_tcp_hdr {
	uint16_t sport;
	uint16_t dport;
	uint32_t seq;
	uint32_t ack;
	uint8_t doff_res; /* data offset in the high nibble */
	uint8_t flags;
	uint16_t window;
	uint16_t csum;
	uint16_t urg;
} __attribute__((packed));

struct sy_icmp_hdr {
	uint8_t type;
	uint8_t code;
	uint16_t csum;
	uint16_t unused;
	uint16_t mtu; /* frag-needed: next-hop MTU; ICMPv6 too-big: low half of a 32-bit MTU */
} __attribute__((packed));

/* Encapsulation sizes (outer headers added in front of the inner IP packet). */
#define SY_ENCAP_IPIP4 20u /* outer IPv4 */
#define SY_ENCAP_IPIP6 40u /* outer IPv6 */
#define SY_ENCAP_GUE4 28u  /* outer IPv4 + UDP (GUE variant 1: no GUE header) */
#define SY_ENCAP_GUE6 48u  /* outer IPv6 + UDP */
#define SY_GUE_DEFAULT_PORT 6080

#endif
