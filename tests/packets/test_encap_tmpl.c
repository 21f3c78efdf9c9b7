/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Outer header templates (switchyard/pkt_encap.h, sy_encap_tmpl_*; the
 * per-worker cache in dataplane/lb.c):
 *
 *  1. sy_encap_tmpl_build() + sy_encap_tmpl_put() make the frame
 *     sy_encap_write() makes, byte for byte and with the same head, length
 *     and rooms: ipip and gue, random addresses, MACs, GUE ports, hashes,
 *     TOS, lengths and Ethernet padding; no template where the writer would
 *     not encapsulate alike (no source address, an IPv6 backend, l2dsr) nor
 *     for IPv6 inner packets (6in4: the writer's alone).
 *  2. The packet path's templates follow the tables: after a backend's MAC,
 *     the service's source address, the backend itself (its address) or the
 *     mode changes, the next packet carries the new outer header with a
 *     correct checksum, and equals the general writer's frame; the source
 *     MAC and the MTU follow the port of each call; sy_lb_region_changed()
 *     forgets the templates and the last VIP lookup (a region file replaced
 *     at the same address);
 *     a template slot another backend holds is left to it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <switchyard/pkt_hdr.h>
#include <switchyard/region_writer.h>

#include "lb_scenario.h"
#include "services_file.h"
#include "test_rand.h"

#define ROOM 128

static int failed;

static uint64_t rng = SY_TEST_RNG_SEED;

static uint32_t rnd(void)
{
	return sy_test_rnd(&rng);
}

static uint16_t be16(uint16_t x)
{
	return (uint16_t)(x >> 8 | x << 8);
}

static uint32_t v4(uint32_t a, uint32_t b, uint32_t c, uint32_t d)
{
	return a | b << 8 | c << 16 | d << 24;
}

/* ---- 1. the template's frame is the writer's ------------------------------ */

struct frame {
	uint8_t buf[ROOM + 14 + 1500 + 64 + ROOM];
	struct sy_pkt pkt;
};

static void frame_init(struct frame *f, uint32_t len)
{
	f->pkt = (struct sy_pkt){ .data = f->buf + ROOM, .len = len, .headroom = ROOM,
				  .tailroom = (uint32_t)sizeof(f->buf) - ROOM - len };
}

static int same_frame(const struct frame *a, const struct frame *b)
{
	return a->pkt.data - a->buf == b->pkt.data - b->buf && a->pkt.len == b->pkt.len &&
	       a->pkt.headroom == b->pkt.headroom && a->pkt.tailroom == b->pkt.tailroom &&
	       memcmp(a->buf, b->buf, sizeof(a->buf)) == 0;
}

static void test_writer_equivalence(void)
{
	static struct frame a, b;
	uint32_t cases = 0, wrong = 0, no_tmpl_wrong = 0;

	for (int i = 0; i < 200000; i++) {
		uint8_t port_mac[6], next_hop[6];
		uint32_t src[4] = { 0 }, dst[4] = { 0 };
		uint8_t inner = rnd() & 1 ? SY_AF_INET : SY_AF_INET6;
		uint32_t l3 = (inner == SY_AF_INET ? 20 : 40) + rnd() % 1400;
		uint32_t pad = rnd() % 4 ? 0 : rnd() % 40;
		struct sy_out o = { .port_mac = port_mac, .next_hop = next_hop, .src = src,
				    .dst = dst, .hash = rnd(), .mtu = 1500,
				    .gue_port = rnd() & 1 ? 0 : (uint16_t)rnd(),
				    .family = SY_AF_INET,
				    .fwd_mode = rnd() & 1 ? SY_FWD_GUE : SY_FWD_IPIP };
		struct sy_parsed p;
		struct sy_encap_tmpl t;
		struct sy_rewrite r;
		int gue = o.fwd_mode == SY_FWD_GUE;

		for (int k = 0; k < 6; k++) {
			port_mac[k] = (uint8_t)rnd();
			next_hop[k] = (uint8_t)rnd();
		}
		src[0] = rnd() % 16 ? rnd() | 1 : 0; /* now and then none */
		dst[0] = rnd();
		memset(&p, 0, sizeof(p));
		p.l2_len = 14;
		p.l3_len = l3;
		p.family = inner;
		memset(a.buf, 0, sizeof(a.buf));
		frame_init(&a, 14 + l3 + pad);
		for (uint32_t k = 0; k < 14 + l3 + pad; k++)
			a.pkt.data[k] = (uint8_t)rnd();
		a.pkt.data[12] = inner == SY_AF_INET ? 0x08 : 0x86;
		a.pkt.data[13] = inner == SY_AF_INET ? 0x00 : 0xdd;
		a.pkt.data[14] = inner == SY_AF_INET ? 0x45 : (uint8_t)(0x60 | (a.pkt.data[14] & 15));
		b = a;
		b.pkt.data = b.buf + ROOM;
		r = sy_encap_write(&a.pkt, &p, &o);
		sy_encap_tmpl_build(&t, &o, inner);
		if (!src[0]) {
			no_tmpl_wrong += t.family != 0 || r.verdict != SY_V_DROP;
			continue;
		}
		if (inner != SY_AF_INET) { /* 6in4: the writer's alone */
			no_tmpl_wrong += t.family != 0;
			continue;
		}
		cases++;
		if (t.family != inner || r.verdict != SY_V_TX) {
			wrong++;
			continue;
		}
		sy_encap_tmpl_put(&b.pkt, &t, &p, b.pkt.data[15], o.hash, gue,
				  sy_encap_tmpl_mac(port_mac));
		if (!same_frame(&a, &b)) {
			if (!wrong)
				printf("# first difference: case %d, %s, inner IPv%u, l3 %u, pad %u\n",
				       i, gue ? "gue" : "ipip", inner == SY_AF_INET ? 4 : 6, l3,
				       pad);
			wrong++;
		}
	}
	SY_SCN_CHECK(&failed, wrong == 0 && cases > 80000,
		     "template frames equal the writer's: %u of %u differ", wrong, cases);
	SY_SCN_CHECK(&failed, no_tmpl_wrong == 0,
		     "no template where the writer drops (no source address) nor for 6in4: "
		     "%u wrong",
		     no_tmpl_wrong);

	/* what a template does not serve */
	{
		uint8_t mac[6] = { 2, 0, 0, 0, 0, 1 };
		uint32_t src[4] = { 1, 2, 3, 4 }, dst[4] = { 5, 6, 7, 8 };
		struct sy_out o = { .port_mac = mac, .next_hop = mac, .src = src, .dst = dst,
				    .mtu = 1500, .family = SY_AF_INET6, .fwd_mode = SY_FWD_IPIP };
		struct sy_encap_tmpl t;
		int none = 1;

		sy_encap_tmpl_build(&t, &o, SY_AF_INET);
		none &= t.family == 0;
		o.family = SY_AF_INET;
		o.fwd_mode = SY_FWD_L2DSR;
		sy_encap_tmpl_build(&t, &o, SY_AF_INET);
		none &= t.family == 0;
		o.fwd_mode = SY_FWD_GUE;
		sy_encap_tmpl_build(&t, &o, SY_AF_INET);
		none &= t.family == SY_AF_INET;
		SY_SCN_CHECK(&failed, none, "no template for an IPv6 backend or l2dsr");
	}
}

/* ---- 2. the packet path's templates follow the tables ---------------------- */

#define VPORT 80

static int publish(struct sy_scn *s, const char *text)
{
	char err[256] = "";
	FILE *f = fopen(s->svcfile, "w");

	if (!f)
		return -1;
	fputs(text, f);
	fclose(f);
	if (sy_services_file_apply(s->w, s->svcfile, err, sizeof(err))) {
		printf("# publish: %s\n", err);
		return -1;
	}
	s->lb.snap = sy_writer_snapshot(s->w);
	return s->lb.snap ? 0 : -1;
}

/* A TCP segment from 198.18.200.1:sport to the VIP with payload bytes of
 * payload and tos, through sy_lb_process() (via the burst path when burst),
 * into f; its verdict. in: the frame as sent. */
static enum sy_verdict send_tcp(struct sy_scn *s, struct frame *f, struct frame *in,
				uint16_t sport, uint32_t payload, uint8_t tos, int burst)
{
	static const uint8_t eth[14] = { 0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0xaa, 0, 0x01,
					 0x08, 0x00 };
	struct sy_ip4_hdr ip = { .ver_ihl = 0x45, .tos = tos, .tot_len = be16((uint16_t)(40 + payload)),
				 .frag_off = be16(SY_IP4_DF), .ttl = 64, .proto = SY_IPPROTO_TCP,
				 .saddr = v4(198, 18, 200, 1), .daddr = SY_SCN_VIP };
	struct sy_tcp_hdr t = { .sport = be16(sport), .dport = be16(VPORT), .doff_res = 5 << 4,
				.flags = 0x10, .window = be16(65535) };
	enum sy_verdict v;

	memset(f->buf, 0, sizeof(f->buf));
	frame_init(f, 54 + payload);
	ip.csum = sy_csum_fold(sy_csum_partial(&ip, sizeof(ip), 0));
	memcpy(f->pkt.data, eth, 14);
	memcpy(f->pkt.data + 14, &ip, sizeof(ip));
	memcpy(f->pkt.data + 34, &t, sizeof(t));
	for (uint32_t k = 0; k < payload; k++)
		f->pkt.data[54 + k] = (uint8_t)(k * 7 + sport);
	*in = *f;
	in->pkt.data = in->buf + ROOM;
	if (burst)
		sy_lb_process_burst(&s->lb, &f->pkt, 1, &v);
	else
		v = sy_lb_process(&s->lb, &f->pkt);
	return v;
}

/* Is f in's frame encapsulated by the general writer for (mode, src, dst,
 * next hop, our MAC, MTU)? For gue, the source port is taken from f (the
 * flow hash's low bits). Also checks the outer checksum on its own. */
static int is_encap(const struct frame *f, const struct frame *in, uint8_t mode, uint32_t src,
		    uint32_t dst, const uint8_t *next_hop, const uint8_t *port_mac, uint16_t mtu,
		    uint16_t gue_port)
{
	static struct frame want;
	uint32_t s4[4] = { src }, d4[4] = { dst };
	struct sy_out o = { .port_mac = port_mac, .next_hop = next_hop, .src = s4, .dst = d4,
			    .mtu = mtu, .gue_port = gue_port, .family = SY_AF_INET,
			    .fwd_mode = mode };
	struct sy_parsed p;

	if (mode == SY_FWD_GUE && f->pkt.len > 42)
		o.hash = sy_ntoh16(sy_get16(f->pkt.data + 34)) & 0x3fff;
	memset(&p, 0, sizeof(p));
	p.l2_len = 14;
	p.l3_len = sy_ntoh16(sy_get16(in->pkt.data + 16));
	p.family = SY_AF_INET;
	want = *in;
	want.pkt.data = want.buf + ROOM;
	if (sy_encap_write(&want.pkt, &p, &o).verdict != SY_V_TX)
		return 0;
	return same_frame(f, &want) &&
	       sy_csum_fold(sy_csum_partial(f->pkt.data + 14, 20, 0)) == 0;
}

static void test_lb_follows(void)
{
	static struct frame f, in;
	static const uint8_t mac1[6] = { 2, 0, 0, 0, 1, 1 }, mac1b[6] = { 2, 0, 0, 0, 1, 0x77 },
			     mac2[6] = { 2, 0, 0, 0, 1, 2 }, port1[6] = { 2, 0, 0, 0, 0, 1 },
			     port2[6] = { 2, 0, 0, 0, 0, 2 };
	uint64_t ct_bytes = (sy_ct_memsize(1024) + 63) / 64 * 64;
	void *ct_mem = aligned_alloc(64, ct_bytes);
	static struct sy_scn s;
	enum sy_verdict v;

	if (!ct_mem || sy_scn_open(&s, "encap-tmpl")) {
		failed = 1;
		free(ct_mem);
		return;
	}
	memset(ct_mem, 0, ct_bytes);
	sy_ct_init(&s.lb.ct, ct_mem, 1024, NULL, 1);

	publish(&s, "service web4 tcp 198.18.100.1 80 ipip m=251 seed=7 src4=198.18.0.1\n"
		    "backend web4 198.18.1.1 80 02:00:00:00:01:01 1\n");
	v = send_tcp(&s, &f, &in, 1000, 100, 0x28, 1);
	SY_SCN_CHECK(&failed, v == SY_V_TX && is_encap(&f, &in, SY_FWD_IPIP, v4(198, 18, 0, 1),
						       v4(198, 18, 1, 1), mac1, port1, 1500, 0),
		     "ipip: the first packet's outer header (via the burst path)");
	v = send_tcp(&s, &f, &in, 1000, 333, 0xb8, 0);
	SY_SCN_CHECK(&failed, v == SY_V_TX && is_encap(&f, &in, SY_FWD_IPIP, v4(198, 18, 0, 1),
						       v4(198, 18, 1, 1), mac1, port1, 1500, 0),
		     "ipip: another length and TOS, same template");

	/* the same backend (its slot kept), another next hop; another source */
	publish(&s, "service web4 tcp 198.18.100.1 80 ipip m=251 seed=7 src4=198.18.0.9\n"
		    "backend web4 198.18.1.1 80 02:00:00:00:01:77 1\n");
	v = send_tcp(&s, &f, &in, 1000, 100, 0x28, 1);
	SY_SCN_CHECK(&failed, v == SY_V_TX && is_encap(&f, &in, SY_FWD_IPIP, v4(198, 18, 0, 9),
						       v4(198, 18, 1, 1), mac1b, port1, 1500, 0),
		     "ipip: a new next-hop MAC and source address are in the next packet");

	/* new next hops and sources, publication after publication, until the
	 * heap hands the memory of the backend object of the last packet to a
	 * later object (no reader holds the old: this lcore registered none):
	 * the same address then holds another MAC and source, and no packet
	 * went to the objects in between (which would have rebuilt the
	 * template anyway). The templates are forgotten with the generation. */
	{
		enum { MAX_PUB = 20000 };
		const struct sy_backend *last = NULL;
		int reused = 0, ok = 1, n = 0;

		for (int i = 0; i < MAX_PUB && reused < 3 && ok; i++, n++) {
			char text[256];
			uint8_t mac[6] = { 2, 0, 0, 0, (uint8_t)(i >> 8), (uint8_t)i };
			uint32_t src = v4(198, 18, 2 + (uint32_t)(i >> 8 & 0x3f), (uint32_t)(i & 0xff));
			struct sy_vip_key k = { .family = SY_AF_INET, .proto = SY_IPPROTO_TCP,
						.port = be16(VPORT) };
			const struct sy_service *svc;
			const struct sy_backend *b;

			snprintf(text, sizeof(text),
				 "service web4 tcp 198.18.100.1 80 ipip m=251 seed=7 "
				 "src4=198.18.%d.%d\n"
				 "backend web4 198.18.1.1 80 02:00:00:00:%02x:%02x 1\n",
				 2 + (i >> 8 & 0x3f), i & 0xff, mac[4], mac[5]);
			if (publish(&s, text)) {
				ok = 0;
				break;
			}
			k.addr[0] = SY_SCN_VIP;
			svc = sy_snapshot_match(s.lb.base, s.lb.snap, &k);
			b = svc ? sy_service_backends(s.lb.base, svc) : NULL;
			if (i && b != last)
				continue;
			reused += i > 0;
			last = b;
			v = send_tcp(&s, &f, &in, 1000, 100 + (uint32_t)(i & 63), (uint8_t)i, i & 1);
			ok &= v == SY_V_TX && is_encap(&f, &in, SY_FWD_IPIP, src, v4(198, 18, 1, 1),
						       mac, port1, 1500, 0);
		}
		SY_SCN_CHECK(&failed, ok && reused,
			     "ipip: %d publications; a packet whenever the backend object of the "
			     "last one came back at its address (%d times) carries the new next hop "
			     "and source", n, reused);
	}

	/* another region file at the same address with the same generation
	 * (simulated: the backend's MAC changed in place, which a published
	 * object never is): the templates are kept until the driver says the
	 * region changed (sy_lb_region_changed(), worker.c's bind_region) */
	{
		struct sy_vip_key k = { .family = SY_AF_INET, .proto = SY_IPPROTO_TCP,
					.port = be16(VPORT) };
		const struct sy_service *svc;
		uint8_t *mac;
		static const uint8_t mac_new[6] = { 2, 0, 0, 0, 9, 9 };
		uint8_t mac_old[6];
		uint32_t src;
		int stale, fresh;

		k.addr[0] = SY_SCN_VIP;
		svc = sy_snapshot_match(s.lb.base, s.lb.snap, &k);
		mac = (uint8_t *)(uintptr_t)sy_service_backends(s.lb.base, svc)[0].mac;
		src = svc->encap_src4;
		memcpy(mac_old, mac, 6);
		v = send_tcp(&s, &f, &in, 1000, 100, 0, 1); /* the template */
		memcpy(mac, mac_new, 6);
		v = send_tcp(&s, &f, &in, 1000, 100, 0, 1);
		stale = v == SY_V_TX && is_encap(&f, &in, SY_FWD_IPIP, src, v4(198, 18, 1, 1),
						 mac_old, port1, 1500, 0);
		sy_lb_region_changed(&s.lb);
		v = send_tcp(&s, &f, &in, 1000, 100, 0, 1);
		fresh = v == SY_V_TX && is_encap(&f, &in, SY_FWD_IPIP, src, v4(198, 18, 1, 1),
						 mac_new, port1, 1500, 0);
		memcpy(mac, mac_old, 6);
		SY_SCN_CHECK(&failed, stale && fresh,
			     "ipip: after sy_lb_region_changed() the next packet's template is "
			     "built again (before it: the old one, %s)", stale ? "as expected" : "not");
	}

	/* the same for the VIP cache (the last VIP lookup, lb.c's
	 * find_service()): in another region at the same address with the
	 * same generation (simulated: the service's VIP index entry moved to
	 * another port in place), port 80 is no service. The cache answers
	 * until the driver says the region changed; then the lookup does. */
	{
		struct sy_vip_key k = { .family = SY_AF_INET, .proto = SY_IPPROTO_TCP,
					.port = be16(VPORT) };
		struct sy_vip_bucket *bk = NULL;
		const struct sy_snapshot *snap = s.lb.snap;
		struct sy_vip_bucket *b = (struct sy_vip_bucket *)(uintptr_t)(s.lb.base +
									   snap->buckets_off);
		enum sy_verdict before, after;

		k.addr[0] = SY_SCN_VIP;
		for (uint32_t i = 0; i < snap->n_buckets; i++)
			if (b[i].service_off && sy_vip_key_eq(&b[i].key, &k))
				bk = &b[i];
		v = send_tcp(&s, &f, &in, 1000, 100, 0, 1); /* fills the cache */
		if (bk)
			bk->key.port = be16(VPORT + 1);
		before = send_tcp(&s, &f, &in, 1000, 100, 0, 1);
		sy_lb_region_changed(&s.lb);
		after = send_tcp(&s, &f, &in, 1000, 100, 0, 1);
		if (bk)
			bk->key.port = be16(VPORT);
		SY_SCN_CHECK(&failed, bk && v == SY_V_TX && before == SY_V_TX && after != SY_V_TX,
			     "after sy_lb_region_changed() the VIP is looked up again: a port that "
			     "is no service in the new region is not forwarded (verdicts %d, cached "
			     "%d, then %d)", (int)v, (int)before, (int)after);
	}

	/* the backend replaced by another address (its slot may be reused) */
	publish(&s, "service web4 tcp 198.18.100.1 80 ipip m=251 seed=7 src4=198.18.0.9\n"
		    "backend web4 198.18.1.2 80 02:00:00:00:01:02 1\n");
	for (int i = 0; i < 3; i++) /* conntrack reselects, then hits */
		v = send_tcp(&s, &f, &in, 1000, 100 + (uint32_t)i, 0x28, i & 1);
	SY_SCN_CHECK(&failed, v == SY_V_TX && is_encap(&f, &in, SY_FWD_IPIP, v4(198, 18, 0, 9),
						       v4(198, 18, 1, 2), mac2, port1, 1500, 0),
		     "ipip: a backend's new address is the next packet's outer destination, "
		     "checksum correct");

	/* another port's MAC and MTU on the next call */
	memcpy(s.lb.port_mac, port2, 6);
	s.lb.mtu = 1400;
	v = send_tcp(&s, &f, &in, 1000, 1380 - 40, 0, 1);
	SY_SCN_CHECK(&failed, v == SY_V_TX && is_encap(&f, &in, SY_FWD_IPIP, v4(198, 18, 0, 9),
						       v4(198, 18, 1, 2), mac2, port2, 1400, 0),
		     "ipip: the port's MAC follows; 1380 bytes fit an MTU of 1400");
	v = send_tcp(&s, &f, &in, 1000, 1381 - 40, 0, 1);
	SY_SCN_CHECK(&failed, !(v == SY_V_TX && f.pkt.len > 34 && f.pkt.data[23] == SY_IPPROTO_IPIP),
		     "ipip: 1381 bytes do not (verdict %d)", (int)v);
	memcpy(s.lb.port_mac, port1, 6);
	s.lb.mtu = 1500;

	/* a template entry another backend holds (slots that differ by a
	 * multiple of SY_LB_TMPL_SLOTS; forged here) stays its for the
	 * generation: this backend's packets take the writer, with the same
	 * frame */
	{
		static const int dummy;
		struct sy_vip_key k = { .family = SY_AF_INET, .proto = SY_IPPROTO_TCP,
					.port = be16(VPORT) };
		const struct sy_service *svc;
		const struct sy_backend *b;
		struct sy_encap_tmpl *t;
		int ok;

		k.addr[0] = SY_SCN_VIP;
		svc = sy_snapshot_match(s.lb.base, s.lb.snap, &k);
		b = sy_service_backends(s.lb.base, svc);
		t = &s.lb.tmpl[b->slot & (SY_LB_TMPL_SLOTS - 1)];
		v = send_tcp(&s, &f, &in, 1000, 300, 0x20, 1);
		ok = t->key == b;
		t->key = &dummy;
		v = send_tcp(&s, &f, &in, 1000, 301, 0x24, 1);
		ok &= v == SY_V_TX && t->key == &dummy &&
		      is_encap(&f, &in, SY_FWD_IPIP, v4(198, 18, 0, 9), v4(198, 18, 1, 2), mac2,
			       port1, 1500, 0);
		SY_SCN_CHECK(&failed, ok,
			     "ipip: a slot another backend holds is left to it, the packet "
			     "encapsulated by the writer alike");
	}

	/* the mode changes */
	publish(&s, "service web4 tcp 198.18.100.1 80 gue m=251 seed=7 src4=198.18.0.9 "
		    "gue_port=6080\n"
		    "backend web4 198.18.1.2 80 02:00:00:00:01:02 1\n");
	v = send_tcp(&s, &f, &in, 1000, 200, 0x10, 1);
	SY_SCN_CHECK(&failed, v == SY_V_TX && is_encap(&f, &in, SY_FWD_GUE, v4(198, 18, 0, 9),
						       v4(198, 18, 1, 2), mac2, port1, 1500,
						       be16(6080)),
		     "gue: the mode's new headers in the next packet");
	v = send_tcp(&s, &f, &in, 1000, 201, 0x11, 0);
	SY_SCN_CHECK(&failed, v == SY_V_TX && is_encap(&f, &in, SY_FWD_GUE, v4(198, 18, 0, 9),
						       v4(198, 18, 1, 2), mac2, port1, 1500,
						       be16(6080)),
		     "gue: again, from the template");
	publish(&s, "service web4 tcp 198.18.100.1 80 gue m=251 seed=7 src4=198.18.0.9\n"
		    "backend web4 198.18.1.2 80 02:00:00:00:01:02 1\n");
	v = send_tcp(&s, &f, &in, 1000, 201, 0x11, 1);
	SY_SCN_CHECK(&failed, v == SY_V_TX && is_encap(&f, &in, SY_FWD_GUE, v4(198, 18, 0, 9),
						       v4(198, 18, 1, 2), mac2, port1, 1500, 0),
		     "gue: the default port once the service's is gone");

	sy_scn_close(&s);
	free(ct_mem);
}

int main(void)
{
	test_writer_equivalence();
	test_lb_follows();
	printf("%s\n", failed ? "FAILED" : "ALL PASSED");
	return failed;
}
