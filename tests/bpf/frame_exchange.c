/* SPDX-License-Identifier: BSD-3-Clause
 *
 * frame_exchange: one client TCP segment out of a network interface, and
 * what comes back on it, for kernel_guest_xdp.sh (test_bpf_on_kernel.sh's
 * guest has busybox, no Python or packet tools). On a veth pair whose other
 * end has the XDP balancer attached, the segment comes back encapsulated
 * (XDP_TX); with sy-decap on this end it comes back decapsulated.
 *
 * usage: frame_exchange IFACE CLIENT:PORT VIP:PORT FLAGS WAIT_MS
 *   FLAGS: TCP flags as letters (S, A, F, R, P: "S" a SYN, "A" an ACK).
 * The segment (tests/common/flows.c: checksums filled, DF, 20 bytes of
 * payload) goes to 02:00:00:00:00:01. The first IPv4 frame received within
 * WAIT_MS is printed, one line, and the exit status is 0:
 *   ipip OUTER_SRC > OUTER_DST mac DST_MAC inner same|differs
 *   ipv4 SRC > DST proto P mac DST_MAC same|differs
 * (same: the IP packet, or the tunnel's inner packet, is byte for byte the
 * one sent). Frames of other kinds (the veth's IPv6 neighbour discovery)
 * are skipped. None within WAIT_MS: "none", exit status 1; errors exit 2.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <switchyard/pkt_hdr.h>

#include "flows.h"

#define L3_LEN 60 /* IPv4 20 + TCP 20 + 20 bytes of payload */

static int usage(void)
{
	fprintf(stderr, "usage: frame_exchange IFACE CLIENT:PORT VIP:PORT FLAGS WAIT_MS\n");
	return 2;
}

/* "A.B.C.D:PORT" into an address (wire order) and a port; 0 or -1. */
static int endpoint(const char *text, uint32_t addr[4], uint16_t *port)
{
	char host[INET_ADDRSTRLEN];
	const char *colon = strrchr(text, ':');
	char *end;
	unsigned long p;

	if (!colon || (size_t)(colon - text) >= sizeof(host))
		return -1;
	memcpy(host, text, (size_t)(colon - text));
	host[colon - text] = '\0';
	p = strtoul(colon + 1, &end, 10);
	memset(addr, 0, 16);
	if (*end || p == 0 || p > 65535 || inet_pton(AF_INET, host, addr) != 1)
		return -1;
	*port = (uint16_t)p;
	return 0;
}

static int tcp_flags(const char *text, uint8_t *out)
{
	static const char letters[] = "FSRPA"; /* bits 0..4 */

	*out = 0;
	for (; *text; text++) {
		const char *l = strchr(letters, *text);

		if (!l)
			return -1;
		*out |= (uint8_t)(1u << (l - letters));
	}
	return *out ? 0 : -1;
}

static long ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

static const char *ip4(const uint8_t *a, char *buf)
{
	return inet_ntop(AF_INET, a, buf, INET_ADDRSTRLEN);
}

/* The frame's line, or 0 for a frame that is not IPv4. */
static int describe(const uint8_t *f, size_t len, const uint8_t *sent_l3, char *line, size_t n)
{
	char s[INET_ADDRSTRLEN], d[INET_ADDRSTRLEN];
	const uint8_t *ip = f + ETH_HLEN, *inner;
	size_t ihl;

	if (len < ETH_HLEN + 20 || f[12] != 0x08 || f[13] != 0x00 || (ip[0] >> 4) != 4)
		return 0;
	ihl = (size_t)(ip[0] & 0xf) * 4;
	if (ihl < 20 || len < ETH_HLEN + ihl)
		return 0;
	inner = ip + ihl;
	if (ip[9] == 4) /* IPPROTO_IPIP */
		snprintf(line, n, "ipip %s > %s mac %02x:%02x:%02x:%02x:%02x:%02x inner %s",
			 ip4(ip + 12, s), ip4(ip + 16, d), f[0], f[1], f[2], f[3], f[4], f[5],
			 len - ETH_HLEN - ihl == L3_LEN && !memcmp(inner, sent_l3, L3_LEN) ? "same"
											      : "differs");
	else
		snprintf(line, n, "ipv4 %s > %s proto %u mac %02x:%02x:%02x:%02x:%02x:%02x %s",
			 ip4(ip + 12, s), ip4(ip + 16, d), ip[9], f[0], f[1], f[2], f[3], f[4], f[5],
			 len - ETH_HLEN == L3_LEN && !memcmp(ip, sent_l3, L3_LEN) ? "same" : "differs");
	return 1;
}

int main(int argc, char **argv)
{
	struct sy_test_flow flow = { .family = SY_AF_INET, .proto = SY_IPPROTO_TCP };
	struct sockaddr_ll ll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL) };
	uint8_t frame[128], rx[2048];
	struct timespec t0;
	uint8_t flags;
	uint32_t len;
	long wait_ms;
	char *end;
	int fd;

	if (argc != 6)
		return usage();
	wait_ms = strtol(argv[5], &end, 10);
	if (endpoint(argv[2], flow.client, &flow.sport) || endpoint(argv[3], flow.vip, &flow.dport) ||
	    tcp_flags(argv[4], &flags) || *end || wait_ms <= 0)
		return usage();
	ll.sll_ifindex = (int)if_nametoindex(argv[1]);
	if (!ll.sll_ifindex) {
		fprintf(stderr, "frame_exchange: no interface %s\n", argv[1]);
		return 2;
	}
	/* bound before sending: the answer may come back at once */
	fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
	if (fd < 0 || bind(fd, (struct sockaddr *)&ll, sizeof(ll))) {
		fprintf(stderr, "frame_exchange: packet socket on %s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	len = sy_test_frame(frame, &flow, flags, L3_LEN);
	if (send(fd, frame, len, 0) != (ssize_t)len) {
		fprintf(stderr, "frame_exchange: send on %s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long left = wait_ms; left > 0; left = wait_ms - ms_since(&t0)) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		struct sockaddr_ll from;
		socklen_t fl = sizeof(from);
		char line[160];
		ssize_t n;

		if (poll(&p, 1, (int)left) <= 0)
			continue;
		n = recvfrom(fd, rx, sizeof(rx), 0, (struct sockaddr *)&from, &fl);
		/* our own segment leaving is seen too (PACKET_OUTGOING) */
		if (n <= 0 || from.sll_pkttype == PACKET_OUTGOING)
			continue;
		if (describe(rx, (size_t)n, frame + ETH_HLEN, line, sizeof(line))) {
			puts(line);
			return 0;
		}
	}
	puts("none");
	return 1;
}
