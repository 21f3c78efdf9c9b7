/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <switchyard/pkt_hdr.h>
#include <switchyard/region_writer.h>

#include "lb_scenario.h"
#include "services_file.h"

#define HEADROOM 256
#define TAILROOM 256
#define VPORT 80

static uint16_t be16(uint16_t x)
{
	return (uint16_t)(x >> 8 | x << 8);
}

static uint32_t v4(uint32_t a, uint32_t b, uint32_t c, uint32_t d)
{
	return a | b << 8 | c << 16 | d << 24;
}

int sy_scn_open(struct sy_scn *s, const char *name)
{
	static const struct sy_region_limits lim = { .max_lcores = 2, .max_services = 8,
						     .max_backends = 64, .heap_size = 8u << 20 };
	struct sy_region_map *rm;
	struct sy_lcore_stats *st;
	char err[256] = "";

	memset(s, 0, sizeof(*s));
	snprintf(s->region, sizeof(s->region), "/dev/shm/sy-test-%s-%d", name, (int)getpid());
	snprintf(s->svcfile, sizeof(s->svcfile), "/tmp/sy-test-%s-%d.txt", name, (int)getpid());
	unlink(s->region);
	if (sy_writer_create(s->region, name, &lim, NULL, &s->w, err, sizeof(err))) {
		fprintf(stderr, "sy_writer_create: %s\n", err);
		return -1;
	}
	rm = sy_writer_map(s->w);
	st = sy_region_stats(rm, 0);
	s->lb = (struct sy_lb){ .base = rm->base, .stats = st, .vips = sy_stats_vips(st),
				.backends = sy_stats_backends(rm, st), .now = 1000,
				.port_mac = { 0x02, 0, 0, 0, 0, 0x01 }, .mtu = 1500,
				.mtu_action = SY_MTU_ICMP };
	return 0;
}

void sy_scn_close(struct sy_scn *s)
{
	if (s->w)
		sy_writer_close(s->w);
	s->w = NULL;
	unlink(s->region);
	unlink(s->svcfile);
}

int sy_scn_publish(struct sy_scn *s, uint32_t n, const uint32_t *w)
{
	char err[256] = "";
	FILE *f = fopen(s->svcfile, "w");

	if (!f)
		return -1;
	fprintf(f, "service web4 tcp 198.18.100.1 %u ipip m=65537 seed=7 src4=198.18.0.1\n",
		VPORT);
	for (uint32_t i = 1; i <= n; i++)
		fprintf(f, "backend web4 198.18.1.%u %u 02:00:00:00:01:%02x %u\n", i, VPORT, i,
			w ? w[i - 1] : 1);
	fclose(f);
	if (sy_services_file_apply(s->w, s->svcfile, err, sizeof(err))) {
		fprintf(stderr, "publish: %s\n", err);
		return -1;
	}
	s->lb.snap = sy_writer_snapshot(s->w);
	return s->lb.snap ? 0 : -1;
}

struct sy_scn_flow sy_scn_bulk_flow(uint64_t i)
{
	uint32_t a = (uint32_t)(i & 0xffff);

	return (struct sy_scn_flow){ .client = v4(198, 19, a >> 8, a & 0xff),
				     .sport = (uint16_t)(1024 + i / 65536) };
}

struct sy_scn_flow sy_scn_active_flow(uint32_t j)
{
	uint32_t a = 0x8000 + j % 0x8000;

	return (struct sy_scn_flow){ .client = v4(198, 18, a >> 8, a & 0xff),
				     .sport = (uint16_t)(40000 + j / 0x8000) };
}

uint32_t sy_scn_tcp(struct sy_scn *s, struct sy_scn_flow f, uint8_t flags)
{
	uint8_t buf[HEADROOM + 54 + TAILROOM];
	uint8_t *p = buf + HEADROOM;
	static const uint8_t eth[14] = { 0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0xaa, 0, 0x01,
					 0x08, 0x00 };
	struct sy_ip4_hdr ip = { .ver_ihl = 0x45, .tot_len = be16(40), .frag_off = be16(SY_IP4_DF),
				 .ttl = 64, .proto = SY_IPPROTO_TCP, .saddr = f.client,
				 .daddr = SY_SCN_VIP };
	struct sy_tcp_hdr t = { .sport = be16(f.sport), .dport = be16(VPORT), .doff_res = 5 << 4,
				.flags = flags, .window = be16(65535) };
	struct sy_pkt pkt = { .data = p, .len = 54, .headroom = HEADROOM, .tailroom = TAILROOM };
	uint32_t dst;

	ip.csum = sy_csum_fold(sy_csum_partial(&ip, sizeof(ip), 0));
	memcpy(p, eth, 14);
	memcpy(p + 14, &ip, sizeof(ip));
	memcpy(p + 34, &t, sizeof(t));
	if (sy_lb_process(&s->lb, &pkt) != SY_V_TX)
		return 0;
	memcpy(&dst, pkt.data + 14 + 16, 4);
	return dst;
}

uint32_t sy_scn_pick(const struct sy_scn *s, struct sy_scn_flow f)
{
	struct sy_vip_key k = { .family = SY_AF_INET, .proto = SY_IPPROTO_TCP,
				.port = be16(VPORT) };
	struct sy_flow_key fk = { .family = SY_AF_INET, .proto = SY_IPPROTO_TCP };
	const struct sy_service *svc;
	uint32_t idx;

	k.addr[0] = SY_SCN_VIP;
	fk.src[0] = f.client;
	fk.dst[0] = SY_SCN_VIP;
	fk.sport = be16(f.sport);
	fk.dport = be16(VPORT);
	svc = sy_snapshot_match(s->lb.base, s->lb.snap, &k);
	if (!svc)
		return 0;
	idx = sy_service_pick(s->lb.base, svc, sy_flow_hash(&fk, svc->hash_seed));
	if (idx == SY_MAGLEV_NONE)
		return 0;
	return sy_service_backends(s->lb.base, svc)[idx].id.addr[0];
}

uint64_t sy_scn_env_u64(const char *name, uint64_t def)
{
	const char *v = getenv(name);

	return v && *v ? strtoull(v, NULL, 0) : def;
}
