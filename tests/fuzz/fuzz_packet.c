/* SPDX-License-Identifier: BSD-3-Clause
 *
 * libFuzzer target: the DPDK path's packet path, sy_lb_process(), on raw
 * frames, over the services of tests/packets/services.txt (published once
 * into a region with the tests' services-file loader). That is the parser
 * (Ethernet, VLAN, IPv4 options, IPv6 extension headers, TCP, UDP, ICMP
 * errors, fragments), the VIP lookup, conntrack + Maglev selection, the
 * encapsulations (ipip, gue, l2dsr) and the ICMP too-big answers.
 *
 * Input: one control byte, then the frame.
 *   bits 0-1  egress MTU: 1500, 1280, 576, 68
 *   bit  2    MTU overflow action: ICMP (0) or drop (1)
 *   bit  3    process the frame a second time (a conntrack hit)
 *   bits 4-5  headroom: 256, 0, 14, 40
 *   bits 6-7  tailroom: 256, 0, 8, 64
 * The frame is copied into a buffer of exactly headroom + len + tailroom
 * bytes, so any write outside it is an ASan error. A frame that is a first
 * fragment (its ports remembered) is run again as a later fragment of its
 * datagram (offset 8), which follows those ports.
 *
 * Invariants checked (abort on violation):
 *  - the verdict is one of TX, KERNEL, DROP;
 *  - a drop is counted (some counter grows);
 *  - on TX the frame stays inside the buffer and head/len/tailroom add up;
 *  - what is forwarded was addressed to a configured VIP address, goes to
 *    the MAC of a configured backend, and when encapsulated, to the address
 *    of a configured backend, with a correct outer IPv4 header checksum
 *    and consistent outer lengths;
 *  - an ICMP too-big answer goes back to the client, fits the RFC's quote
 *    limit and has a correct IPv4 header checksum;
 *  - a frame for the kernel, passed through sy_lb_fill_offload_csum() as
 *    worker.c does, changes in at most the two bytes of a checksum field,
 *    and only when that says it filled one.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <switchyard/counters.h>
#include <switchyard/pkt_hdr.h>
#include <switchyard/region_writer.h>

#include "lb.h"
#include "services_file.h"

#ifndef SY_FUZZ_SERVICES
#error "SY_FUZZ_SERVICES (the services file) must be defined"
#endif

#define CT_CAPACITY 1024
#define MAX_FRAME 9216

static struct {
	struct sy_writer *w;
	struct sy_region_map *map;
	void *ct_mem;
	uint64_t ct_size;
	struct sy_lb lb;
} env;

#define FUZZ_TARGET "fuzz_packet"
#include "fuzz_check.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const struct sy_region_limits lim = { .max_lcores = 1, .max_services = 64,
						     .max_backends = 256, .heap_size = 8u << 20 };
	char path[128], err[256] = "";
	struct sy_lcore_stats *st;

	(void)argc;
	(void)argv;
	snprintf(path, sizeof(path), "/dev/shm/sy-fuzz-packet-%d", (int)getpid());
	unlink(path);
	if (sy_writer_create(path, "fuzz_packet", &lim, NULL, &env.w, err, sizeof(err))) {
		fprintf(stderr, "sy_writer_create: %s\n", err);
		exit(1);
	}
	if (sy_services_file_apply(env.w, SY_FUZZ_SERVICES, err, sizeof(err))) {
		fprintf(stderr, "services: %s\n", err);
		unlink(path);
		exit(1);
	}
	unlink(path); /* stays mapped; nothing left behind if we crash */
	env.map = sy_writer_map(env.w);
	st = sy_region_stats(env.map, 0);
	env.lb = (struct sy_lb){
		.base = env.map->base,
		.snap = sy_writer_snapshot(env.w),
		.stats = st,
		.vips = sy_stats_vips(st),
		.backends = sy_stats_backends(env.map, st),
		.now = 1000,
		.port_mac = { 0x02, 0, 0, 0, 0, 0x01 },
	};
	env.ct_size = sy_ct_memsize(CT_CAPACITY);
	env.ct_mem = calloc(1, env.ct_size);
	if (!env.ct_mem || !env.lb.snap) {
		fprintf(stderr, "fuzz_packet: setup failed\n");
		exit(1);
	}
	return 0;
}

static uint64_t counter_sum(void)
{
	uint64_t s = 0;

	for (int i = 0; i < SY_C__COUNT; i++)
		s += env.lb.stats->counters[i];
	return s;
}

static bool is_vip_address(const struct sy_flow_key *key)
{
	struct sy_vip_key k = { .family = key->family, .proto = SY_IPPROTO_TCP };

	memcpy(k.addr, key->dst, sizeof(k.addr));
	if (sy_snapshot_vip_addr(env.lb.base, env.lb.snap, &k))
		return true;
	k.proto = SY_IPPROTO_UDP;
	return sy_snapshot_vip_addr(env.lb.base, env.lb.snap, &k) != NULL;
}

/* Is there a configured backend with this MAC and (if addr) this address? */
static bool is_backend(const uint8_t *mac, uint8_t family, const uint32_t *addr)
{
	const struct sy_snapshot *snap = env.lb.snap;

	for (uint32_t i = 0; i < snap->n_services; i++) {
		const struct sy_service *s = sy_snapshot_service(env.lb.base, snap, i);
		const struct sy_backend *b = sy_service_backends(env.lb.base, s);

		for (uint32_t j = 0; j < s->n_backends; j++) {
			if (memcmp(b[j].mac, mac, 6))
				continue;
			if (!addr)
				return true;
			if (b[j].id.family == family &&
			    !memcmp(b[j].id.addr, addr, family == SY_AF_INET ? 4 : 16))
				return true;
		}
	}
	return false;
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void check_outer(const uint8_t *d, uint32_t len, bool too_big, const struct sy_parsed *in)
{
	/* the L2 header (with its VLAN tags) is the input's, moved */
	uint32_t l2 = in->l2_len;
	uint16_t et = rd16(d + l2 - 2);
	const uint8_t *ip = d + l2;

	CHECK(et == 0x0800 || et == 0x86dd, "output ethertype %04x", et);
	if (et == 0x0800) {
		CHECK(len >= l2 + 20, "output IPv4 header truncated (len %u)", len);
		CHECK(ip[0] == 0x45, "outer IPv4 version/IHL %02x", ip[0]);
		CHECK(sy_csum_fold(sy_csum_partial(ip, 20, 0)) == 0, "outer IPv4 checksum wrong");
		CHECK(rd16(ip + 2) == len - l2, "outer IPv4 total length %u, frame has %u",
		      rd16(ip + 2), len - l2);
		if (too_big) {
			CHECK(len - l2 <= 576, "ICMP frag-needed of %u bytes", len - l2);
			CHECK(!memcmp(ip + 16, in->key.src, 4), "ICMP frag-needed not to the client");
		} else {
			uint32_t daddr[4] = { 0 };

			memcpy(daddr, ip + 16, 4);
			CHECK(is_backend(d, SY_AF_INET, daddr), "encapsulated to a non-backend");
		}
	} else {
		CHECK(len >= l2 + 40, "output IPv6 header truncated (len %u)", len);
		CHECK(rd16(ip + 4) == len - l2 - 40, "outer IPv6 payload length %u, frame has %u",
		      rd16(ip + 4), len - l2 - 40);
		if (too_big) {
			CHECK(len - l2 <= 1280, "ICMPv6 packet-too-big of %u bytes", len - l2);
			CHECK(!memcmp(ip + 24, in->key.src, 16), "packet-too-big not to the client");
		} else {
			uint32_t daddr[4];

			memcpy(daddr, ip + 24, 16);
			CHECK(is_backend(d, SY_AF_INET6, daddr), "encapsulated to a non-backend");
		}
	}
}

static void run_once(const uint8_t *frame, uint32_t len, uint32_t head, uint32_t tail)
{
	uint32_t total = head + len + tail;
	uint8_t *buf = malloc(total ? total : 1);
	struct sy_pkt pkt = { .data = buf + head, .len = len, .headroom = head, .tailroom = tail };
	uint64_t sum0 = counter_sum(), too_big0 = env.lb.stats->counters[SY_C_ICMP_TOO_BIG_SENT];
	uint64_t fwd0 = env.lb.stats->counters[SY_C_FWD_PKTS];
	enum sy_verdict v;
	struct sy_parsed in;
	enum sy_counter reason;
	bool too_big, fwd;

	if (!buf)
		abort();
	memcpy(pkt.data, frame, len);
	v = sy_lb_process(&env.lb, &pkt);
	CHECK(v == SY_V_TX || v == SY_V_KERNEL || v == SY_V_DROP, "verdict %d", (int)v);
	if (v == SY_V_DROP)
		CHECK(counter_sum() > sum0, "a drop that no counter counted");
	if (v == SY_V_KERNEL) {
		/* what worker.c does to a frame for the TAP: at most the two
		 * bytes of a TCP/UDP checksum change, and only if it says so */
		int filled = sy_lb_fill_offload_csum(pkt.data, pkt.len);
		uint32_t first = len, last = 0;

		for (uint32_t i = 0; i < len; i++)
			if (pkt.data[i] != frame[i]) {
				first = i < first ? i : first;
				last = i;
			}
		CHECK(pkt.len == len, "a frame for the kernel changed length");
		CHECK(first == len || (filled && last - first < 2),
		      "a frame for the kernel changed beyond a checksum field");
	}
	if (v == SY_V_TX) {
		CHECK(pkt.data >= buf && pkt.data + pkt.len <= buf + total,
		      "output outside the buffer");
		CHECK((uint32_t)(pkt.data - buf) == pkt.headroom, "headroom accounting");
		CHECK(pkt.headroom + pkt.len + pkt.tailroom == total, "tailroom accounting");
		CHECK(pkt.len >= 14, "output of %u bytes", pkt.len);
		/* only VIP traffic is ever sent */
		CHECK(sy_lb_parse(frame, len, &in, &reason) == SY_V_TX, "sent a frame that does not parse");
		CHECK(is_vip_address(&in.key), "sent a packet that was not for a VIP address");
		too_big = env.lb.stats->counters[SY_C_ICMP_TOO_BIG_SENT] != too_big0;
		fwd = env.lb.stats->counters[SY_C_FWD_PKTS] != fwd0;
		CHECK(too_big != fwd, "TX is neither forwarded nor an ICMP answer (or both)");
		if (fwd)
			CHECK(is_backend(pkt.data, 0, NULL), "forwarded to a MAC that is no backend's");
		if (too_big || pkt.len != in.l2_len + in.l3_len) /* headers we wrote */
			check_outer(pkt.data, pkt.len, too_big, &in);
	}
	free(buf);
}

/* The staged burst agrees with the frame-by-frame path: the frame alone,
 * then twice in one burst (the second copy meets the first one's
 * conntrack entry), give the same verdict and bytes each time. */
static void burst_agrees(const uint8_t *frame, uint32_t len, uint32_t head, uint32_t tail)
{
	uint32_t total = head + len + tail;
	uint8_t *buf = malloc(3 * (size_t)(total ? total : 1));
	struct sy_pkt p[3];
	enum sy_verdict v[3];

	if (!buf)
		abort();
	for (int i = 0; i < 3; i++) {
		p[i] = (struct sy_pkt){ .data = buf + (size_t)i * total + head, .len = len,
					.headroom = head, .tailroom = tail };
		memcpy(p[i].data, frame, len);
	}
	memset(env.ct_mem, 0, env.ct_size);
	sy_ct_init(&env.lb.ct, env.ct_mem, CT_CAPACITY, NULL, 1);
	memset(&env.lb.icmp_bucket, 0, sizeof(env.lb.icmp_bucket));
	v[0] = sy_lb_process(&env.lb, &p[0]);
	memset(env.ct_mem, 0, env.ct_size);
	sy_ct_init(&env.lb.ct, env.ct_mem, CT_CAPACITY, NULL, 1);
	memset(&env.lb.icmp_bucket, 0, sizeof(env.lb.icmp_bucket));
	sy_lb_process_burst(&env.lb, &p[1], 2, &v[1]);
	for (int i = 1; i < 3; i++) {
		CHECK(v[i] == v[0], "burst frame %d: verdict %d, frame by frame %d", i, (int)v[i],
		      (int)v[0]);
		if (v[i] == SY_V_TX && v[0] == SY_V_TX)
			CHECK(p[i].len == p[0].len && !memcmp(p[i].data, p[0].data, p[0].len),
			      "burst frame %d: other bytes than frame by frame", i);
	}
	free(buf);
}

/* A first fragment just run: the same bytes as a later fragment of its
 * datagram (offset 8), which follows it (the remembered ports), through the
 * same checks. */
static void later_fragment(const uint8_t *frame, uint32_t len, uint32_t head, uint32_t tail)
{
	enum sy_counter reason;
	struct sy_parsed p;
	uint8_t *copy;
	uint32_t at;

	if (sy_lb_parse(frame, len, &p, &reason) != SY_V_TX || !p.frag_first)
		return;
	/* the offset field: IPv4 header bytes 6-7, IPv6 fragment header 2-3 */
	at = p.family == SY_AF_INET ? p.l2_len + 6 : p.l4_off - 6;
	copy = malloc(len);
	if (!copy)
		abort();
	memcpy(copy, frame, len);
	copy[at + 1] = (uint8_t)(copy[at + 1] | (p.family == SY_AF_INET ? 0x01 : 0x08));
	run_once(copy, len, head, tail);
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint16_t mtus[4] = { 1500, 1280, 576, 68 };
	static const uint32_t heads[4] = { 256, 0, 14, 40 }, tails[4] = { 256, 0, 8, 64 };
	uint8_t ctl;

	if (size < 1 || size - 1 > MAX_FRAME)
		return -1; /* not worth keeping in the corpus */
	ctl = data[0];
	data++;
	size--;
	env.lb.mtu = mtus[ctl & 3];
	env.lb.mtu_action = (ctl >> 2) & 1 ? SY_MTU_DROP : SY_MTU_ICMP;
	/* each input starts with empty connection tracking and no remembered
	 * fragments, at the same time */
	env.lb.now = 1000;
	memset(env.ct_mem, 0, env.ct_size);
	sy_ct_init(&env.lb.ct, env.ct_mem, CT_CAPACITY, NULL, 1);
	memset(&env.lb.frag, 0, sizeof(env.lb.frag));
	run_once(data, (uint32_t)size, heads[(ctl >> 4) & 3], tails[(ctl >> 6) & 3]);
	later_fragment(data, (uint32_t)size, heads[(ctl >> 4) & 3], tails[(ctl >> 6) & 3]);
	if (ctl & 8) {
		env.lb.now += 10;
		run_once(data, (uint32_t)size, heads[(ctl >> 4) & 3], tails[(ctl >> 6) & 3]);
	}
	burst_agrees(data, (uint32_t)size, heads[(ctl >> 4) & 3], tails[(ctl >> 6) & 3]);
	return 0;
}
