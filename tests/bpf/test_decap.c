/* SPDX-License-Identifier: BSD-3-Clause
 *
 * bpf/sy_xdp_decap.bpf.c under BPF_PROG_TEST_RUN: frames built here, in C,
 * the way dataplane/lb.c encapsulates (ipip and GUE variant 1, outer IPv4 or
 * IPv6 independent of the inner family, optional 802.1Q tag). Every decap
 * case checks the exact output bytes (the L2 header with the inner ethertype,
 * then the inner packet) and every pass case that the frame comes back
 * untouched; each case checks which counter moved, and that no other did.
 *
 * Needs root (CAP_BPF + CAP_NET_ADMIN or CAP_SYS_ADMIN); fails, never skips,
 * when the program cannot be loaded.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <switchyard/pkt_hdr.h>
#include "sy_xdp_decap.skel.h"

/* enum sy_decap_counter in sy_xdp_decap.bpf.c */
enum {
	DECAP_IPIP4, DECAP_IPIP6, DECAP_GUE4, DECAP_GUE6,
	PASS_NOT_TUNNEL, PASS_NOT_ALLOWED, PASS_MALFORMED, N_COUNTERS,
};
static const char *const counter_names[N_COUNTERS] = {
	"decap_ipip4", "decap_ipip6", "decap_gue4", "decap_gue6",
	"pass_not_tunnel", "pass_not_allowed", "pass_malformed",
};

/* struct sy_decap_config / struct sy_decap_addr in sy_xdp_decap.bpf.c */
struct decap_config {
	uint16_t gue_port;
	uint8_t check_dst, check_src;
};
struct decap_addr {
	uint32_t family;
	uint32_t addr[4];
};

static struct sy_xdp_decap *skel;
static int ncpus;

/* Addresses as dataplane/lb.c would use them: LB -> backend outside, client
 * -> VIP inside. */
#define LB4 "198.18.0.1"
#define BE4 "198.18.0.11"
#define LB6 "2001:db8::1"
#define BE6 "2001:db8::b"
#define CLIENT4 "198.18.0.2"
#define VIP4 "198.18.50.1"
#define CLIENT6 "2001:db8:c::2"
#define VIP6 "2001:db8:50::1"

static const uint8_t BE_MAC[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x0b };
static const uint8_t LB_MAC[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 };

#define MAXPKT 1600

/* ---- Frame building --------------------------------------------------------- */

static uint16_t csum(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint32_t s = 0;

	for (; len >= 2; p += 2, len -= 2)
		s += (uint32_t)p[0] << 8 | p[1];
	if (len)
		s += (uint32_t)p[0] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return htons((uint16_t)~s);
}

static void addr(const char *s, void *out)
{
	assert_int_equal(inet_pton(strchr(s, ':') ? AF_INET6 : AF_INET, s, out), 1);
}

/* IPv4 header with optlen bytes of options (NOPs then EOL) before the
 * payload; returns the length. */
static size_t ip4(uint8_t *o, const char *src, const char *dst, uint8_t proto, uint8_t tos,
		  size_t optlen, const void *payload, size_t plen)
{
	size_t hl = 20 + optlen;
	struct sy_ip4_hdr h = {
		.ver_ihl = (uint8_t)(0x40 | hl / 4),
		.tos = tos,
		.tot_len = htons((uint16_t)(hl + plen)),
		.id = htons(0x1234),
		.frag_off = htons(SY_IP4_DF),
		.ttl = 64,
		.proto = proto,
	};

	assert_true(optlen % 4 == 0 && optlen <= 40);
	addr(src, &h.saddr);
	addr(dst, &h.daddr);
	memcpy(o, &h, 20);
	memset(o + 20, 1, optlen); /* NOP */
	if (optlen)
		o[hl - 1] = 0; /* EOL */
	h.csum = csum(o, hl);
	memcpy(o + 10, &h.csum, 2);
	memmove(o + hl, payload, plen);
	return hl + plen;
}

static size_t ip6(uint8_t *o, const char *src, const char *dst, uint8_t nexthdr, uint8_t tc,
		  const void *payload, size_t plen)
{
	struct sy_ip6_hdr h = {
		.ver_tc_flow = htonl(6u << 28 | (uint32_t)tc << 20 | 0x12345),
		.payload_len = htons((uint16_t)plen),
		.nexthdr = nexthdr,
		.hop_limit = 64,
	};

	addr(src, h.saddr);
	addr(dst, h.daddr);
	memcpy(o, &h, 40);
	memmove(o + 40, payload, plen);
	return 40 + plen;
}

static size_t udp(uint8_t *o, uint16_t sport, uint16_t dport, const void *payload, size_t plen)
{
	struct sy_udp_hdr h = {
		.sport = htons(sport),
		.dport = htons(dport),
		.len = htons((uint16_t)(8 + plen)),
	};

	memcpy(o, &h, 8);
	memmove(o + 8, payload, plen);
	return 8 + plen;
}

/* Ethernet (+ an 802.1Q tag if tci >= 0) around l3. */
static size_t eth(uint8_t *o, int tci, uint16_t ethertype, const void *l3, size_t len)
{
	size_t l2 = 14;

	memcpy(o, BE_MAC, 6);
	memcpy(o + 6, LB_MAC, 6);
	if (tci >= 0) {
		uint16_t t = htons(SY_ETH_P_8021Q), v = htons((uint16_t)tci);

		memcpy(o + 12, &t, 2);
		memcpy(o + 14, &v, 2);
		l2 = 18;
	}
	ethertype = htons(ethertype);
	memcpy(o + l2 - 2, &ethertype, 2);
	memmove(o + l2, l3, len);
	return l2 + len;
}

/* The inner packets: a client's UDP datagram to the VIP. */
static size_t inner4(uint8_t *o, uint8_t tos)
{
	uint8_t u[64];
	size_t n = udp(u, 40000, 53, "switchyard-inner-v4", 19);

	return ip4(o, CLIENT4, VIP4, SY_IPPROTO_UDP, tos, 0, u, n);
}

static size_t inner6(uint8_t *o, uint8_t tc)
{
	uint8_t u[64];
	size_t n = udp(u, 40000, 53, "switchyard-inner-v6", 19);

	return ip6(o, CLIENT6, VIP6, SY_IPPROTO_UDP, tc, u, n);
}

/* ---- Running -------------------------------------------------------------- */

static void counters(uint64_t out[N_COUNTERS])
{
	uint64_t *v = calloc((size_t)ncpus, sizeof(*v));

	assert_non_null(v);
	for (uint32_t k = 0; k < N_COUNTERS; k++) {
		assert_int_equal(bpf_map__lookup_elem(skel->maps.counters, &k, sizeof(k), v,
						      sizeof(*v) * (size_t)ncpus, 0),
				 0);
		out[k] = 0;
		for (int c = 0; c < ncpus; c++)
			out[k] += v[c];
	}
	free(v);
}

/* Runs the program on frame; returns the verdict, output in out/out_len;
 * asserts that exactly the counter `ctr` went up by one. */
static uint32_t run(const uint8_t *frame, size_t len, uint8_t *out, size_t *out_len, int ctr)
{
	uint64_t before[N_COUNTERS], after[N_COUNTERS];
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		.data_in = frame,
		.data_size_in = (uint32_t)len,
		.data_out = out,
		.data_size_out = MAXPKT,
	);
	int err;

	counters(before);
	err = bpf_prog_test_run_opts(bpf_program__fd(skel->progs.sy_xdp_decap), &opts);
	if (err)
		print_error("bpf_prog_test_run_opts: %s\n", strerror(-err));
	assert_int_equal(err, 0);
	counters(after);
	for (int k = 0; k < N_COUNTERS; k++) {
		uint64_t want = k == ctr ? 1 : 0;

		if (after[k] - before[k] != want)
			print_error("counter %s moved by %llu, expected %llu\n", counter_names[k],
				    (unsigned long long)(after[k] - before[k]),
				    (unsigned long long)want);
		assert_int_equal(after[k] - before[k], want);
	}
	*out_len = opts.data_size_out;
	return opts.retval;
}

static void dump(const char *what, const uint8_t *p, size_t n)
{
	print_message("%s (%zu bytes):", what, n);
	for (size_t i = 0; i < n; i++)
		print_message("%s%02x", i % 16 ? " " : "\n  ", p[i]);
	print_message("\n");
}

static void expect_bytes(const uint8_t *got, size_t got_len, const uint8_t *want, size_t want_len)
{
	if (got_len != want_len || memcmp(got, want, want_len)) {
		dump("expected", want, want_len);
		dump("got", got, got_len);
	}
	assert_int_equal(got_len, want_len);
	assert_memory_equal(got, want, want_len);
}

/* XDP_PASS with the frame turned into `want` (L2 header + inner packet). */
static void expect_decap(const uint8_t *frame, size_t len, const uint8_t *want, size_t want_len,
			 int ctr)
{
	uint8_t out[MAXPKT];
	size_t out_len;

	assert_int_equal(run(frame, len, out, &out_len, ctr), XDP_PASS);
	expect_bytes(out, out_len, want, want_len);
}

/* XDP_PASS with the frame untouched. */
static void expect_pass(const uint8_t *frame, size_t len, int ctr)
{
	uint8_t out[MAXPKT];
	size_t out_len;

	assert_int_equal(run(frame, len, out, &out_len, ctr), XDP_PASS);
	expect_bytes(out, out_len, frame, len);
}

/* Builders of whole frames: the outer header(s) around `in`. */
enum encap { IPIP, GUE };

static size_t tunnel(uint8_t *f, int tci, int outer6, enum encap e, uint16_t port,
		     const uint8_t *in, size_t in_len, size_t optlen, uint8_t outer_tos)
{
	uint8_t l4[MAXPKT], l3[MAXPKT];
	int inner_v4 = in[0] >> 4 == 4;
	uint8_t proto = inner_v4 ? SY_IPPROTO_IPIP : SY_IPPROTO_IPV6;
	size_t n;

	if (e == GUE) {
		n = udp(l4, 0xc123, port, in, in_len);
		proto = SY_IPPROTO_UDP;
	} else {
		memcpy(l4, in, in_len);
		n = in_len;
	}
	if (outer6)
		n = ip6(l3, LB6, BE6, proto, outer_tos, l4, n);
	else
		n = ip4(l3, LB4, BE4, proto, outer_tos, optlen, l4, n);
	return eth(f, tci, outer6 ? SY_ETH_P_IPV6 : SY_ETH_P_IPV4, l3, n);
}

/* The expected result of decapsulating `in` behind the same L2 header. */
static size_t decapped(uint8_t *f, int tci, const uint8_t *in, size_t in_len)
{
	return eth(f, tci, in[0] >> 4 == 4 ? SY_ETH_P_IPV4 : SY_ETH_P_IPV6, in, in_len);
}

static void set_config(uint16_t port, int check_dst, int check_src)
{
	struct decap_config c = { .gue_port = htons(port), .check_dst = (uint8_t)check_dst,
				  .check_src = (uint8_t)check_src };
	uint32_t zero = 0;

	assert_int_equal(bpf_map__update_elem(skel->maps.config, &zero, sizeof(zero), &c,
					      sizeof(c), BPF_ANY),
			 0);
}

static void allow(struct bpf_map *m, const char *s)
{
	struct decap_addr a = { .family = strchr(s, ':') ? 6 : 4 };
	uint8_t one = 1;

	addr(s, a.addr);
	assert_int_equal(bpf_map__update_elem(m, &a, sizeof(a), &one, 1, BPF_ANY), 0);
}

static void clear(struct bpf_map *m)
{
	struct decap_addr k;

	while (bpf_map__get_next_key(m, NULL, &k, sizeof(k)) == 0)
		assert_int_equal(bpf_map__delete_elem(m, &k, sizeof(k), 0), 0);
}

/* ---- Setup ------------------------------------------------------------------ */

static int load_prog(void **state)
{
	(void)state;
	ncpus = libbpf_num_possible_cpus();
	if (ncpus <= 0)
		return -1;
	skel = sy_xdp_decap__open_and_load();
	if (!skel) {
		int err = errno;

		print_error("cannot load sy_xdp_decap.bpf.o: %s (errno %d)\n"
			    "This test needs root; the verifier's log is above.\n",
			    strerror(err), err);
		return -1;
	}
	return 0;
}

static int unload_prog(void **state)
{
	(void)state;
	sy_xdp_decap__destroy(skel);
	return 0;
}

/* Every test starts from the defaults: port 6080, no allow-list. */
static int reset(void **state)
{
	(void)state;
	set_config(0, 0, 0);
	clear(skel->maps.allow_dst);
	clear(skel->maps.allow_src);
	return 0;
}

/* ---- Decapsulation -------------------------------------------------------- */

struct dcase {
	const char *name;
	int tci, outer6, inner6;
	enum encap e;
	size_t optlen;
	int ctr;
};

static void check_dcase(const struct dcase *c)
{
	uint8_t in[MAXPKT], f[MAXPKT], want[MAXPKT];
	size_t in_len = c->inner6 ? inner6(in, 0) : inner4(in, 0);
	size_t n = tunnel(f, c->tci, c->outer6, c->e, SY_GUE_DEFAULT_PORT, in, in_len,
			  c->optlen, 0);
	size_t wn = decapped(want, c->tci, in, in_len);

	print_message("%s\n", c->name);
	expect_decap(f, n, want, wn, c->ctr);
}

static void test_ipip(void **state)
{
	static const struct dcase cases[] = {
		{ "ipip 4in4", -1, 0, 0, IPIP, 0, DECAP_IPIP4 },
		{ "ipip 4in4, outer IPv4 options (4 bytes)", -1, 0, 0, IPIP, 4, DECAP_IPIP4 },
		{ "ipip 4in4, outer IPv4 options (40 bytes)", -1, 0, 0, IPIP, 40, DECAP_IPIP4 },
		{ "ipip 6in4", -1, 0, 1, IPIP, 0, DECAP_IPIP4 },
		{ "ipip 6in4, outer IPv4 options", -1, 0, 1, IPIP, 12, DECAP_IPIP4 },
		{ "ipip 6in6", -1, 1, 1, IPIP, 0, DECAP_IPIP6 },
		{ "ipip 4in6", -1, 1, 0, IPIP, 0, DECAP_IPIP6 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_dcase(&cases[i]);
}

static void test_gue(void **state)
{
	static const struct dcase cases[] = {
		{ "gue 4in4", -1, 0, 0, GUE, 0, DECAP_GUE4 },
		{ "gue 6in4", -1, 0, 1, GUE, 0, DECAP_GUE4 },
		{ "gue 4in4, outer IPv4 options", -1, 0, 0, GUE, 8, DECAP_GUE4 },
		{ "gue 4in6", -1, 1, 0, GUE, 0, DECAP_GUE6 },
		{ "gue 6in6", -1, 1, 1, GUE, 0, DECAP_GUE6 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_dcase(&cases[i]);
}

static void test_vlan(void **state)
{
	static const struct dcase cases[] = {
		{ "vlan 100 ipip 4in4", 100, 0, 0, IPIP, 0, DECAP_IPIP4 },
		{ "vlan 4094 + PCP ipip 6in6", 0xefff, 1, 1, IPIP, 0, DECAP_IPIP6 },
		{ "vlan 7 ipip 6in4, options", 7, 0, 1, IPIP, 8, DECAP_IPIP4 },
		{ "vlan 100 gue 4in4", 100, 0, 0, GUE, 0, DECAP_GUE4 },
		{ "vlan 100 gue 6in6", 100, 1, 1, GUE, 0, DECAP_GUE6 },
		{ "vlan 100 gue 4in6", 100, 1, 0, GUE, 0, DECAP_GUE6 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_dcase(&cases[i]);
}

/* Ethernet padding after the outer packet (short frames) stays after the
 * inner packet, where the kernel trims it by the inner length. */
static void test_padding_kept(void **state)
{
	uint8_t in[MAXPKT], f[MAXPKT], want[MAXPKT], pad[16];
	size_t in_len, n, wn;

	(void)state;
	memset(pad, 0xee, sizeof(pad));
	in_len = inner4(in, 0);
	n = tunnel(f, -1, 0, IPIP, 0, in, in_len, 0, 0);
	memcpy(f + n, pad, sizeof(pad));
	wn = decapped(want, -1, in, in_len);
	memcpy(want + wn, pad, sizeof(pad));
	expect_decap(f, n + sizeof(pad), want, wn + sizeof(pad), DECAP_IPIP4);
}

/* A GUE port other than the default: its packets are decapsulated, those to
 * 6080 are ordinary UDP. */
static void test_gue_port(void **state)
{
	uint8_t in[MAXPKT], f[MAXPKT], want[MAXPKT];
	size_t in_len = inner4(in, 0), n, wn = decapped(want, -1, in, in_len);

	(void)state;
	set_config(7777, 0, 0);
	n = tunnel(f, -1, 0, GUE, 7777, in, in_len, 0, 0);
	expect_decap(f, n, want, wn, DECAP_GUE4);
	n = tunnel(f, -1, 1, GUE, 7777, in, in_len, 0, 0);
	expect_decap(f, n, want, wn, DECAP_GUE6);
	n = tunnel(f, -1, 0, GUE, SY_GUE_DEFAULT_PORT, in, in_len, 0, 0);
	expect_pass(f, n, PASS_NOT_TUNNEL);
}

/* RFC 6040: outer CE reaches an ECN-capable inner header (IPv4 checksum
 * updated); a Not-ECT inner header and non-CE outer marks are left alone. */
static void test_ecn(void **state)
{
	static const struct {
		uint8_t outer, inner, result; /* ECN bits */
	} cases[] = {
		{ 3, 2, 3 }, { 3, 1, 3 }, { 3, 3, 3 }, { 3, 0, 0 }, { 2, 1, 1 }, { 1, 2, 2 },
		{ 0, 2, 2 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (int v6 = 0; v6 < 2; v6++) {
			uint8_t in[MAXPKT], res[MAXPKT], f[MAXPKT], want[MAXPKT];
			uint8_t dscp = 0xb8; /* EF, kept */
			size_t in_len = v6 ? inner6(in, dscp | cases[i].inner)
					   : inner4(in, dscp | cases[i].inner);
			size_t res_len = v6 ? inner6(res, dscp | cases[i].result)
					    : inner4(res, dscp | cases[i].result);
			size_t n = tunnel(f, -1, v6, IPIP, 0, in, in_len, 0,
					  dscp | cases[i].outer);
			size_t wn = decapped(want, -1, res, res_len);

			print_message("ecn outer %u inner %u -> %u (outer IPv%d)\n",
				      cases[i].outer, cases[i].inner, cases[i].result, v6 ? 6 : 4);
			expect_decap(f, n, want, wn, v6 ? DECAP_IPIP6 : DECAP_IPIP4);
		}
	}
}

/* ---- Passed untouched ------------------------------------------------------ */

static void test_not_tunnel(void **state)
{
	uint8_t in[MAXPKT], l4[MAXPKT], l3[MAXPKT], f[MAXPKT];
	size_t in_len, n;
	struct sy_tcp_hdr tcp = { .sport = htons(40000), .dport = htons(80),
				  .doff_res = 0x50, .flags = SY_TCP_SYN };

	(void)state;
	print_message("UDP to another port, over IPv4 and IPv6, with an IP payload\n");
	in_len = inner4(in, 0);
	expect_pass(f, tunnel(f, -1, 0, GUE, 6081, in, in_len, 0, 0), PASS_NOT_TUNNEL);
	expect_pass(f, tunnel(f, -1, 1, GUE, 4789, in, in_len, 0, 0), PASS_NOT_TUNNEL);
	expect_pass(f, tunnel(f, 5, 0, GUE, 53, in, in_len, 0, 0), PASS_NOT_TUNNEL);

	print_message("TCP over IPv4 and IPv6 (also to the GUE port)\n");
	tcp.dport = htons(SY_GUE_DEFAULT_PORT);
	n = ip4(l3, CLIENT4, BE4, SY_IPPROTO_TCP, 0, 0, &tcp, sizeof(tcp));
	expect_pass(f, eth(f, -1, SY_ETH_P_IPV4, l3, n), PASS_NOT_TUNNEL);
	n = ip6(l3, CLIENT6, BE6, SY_IPPROTO_TCP, 0, &tcp, sizeof(tcp));
	expect_pass(f, eth(f, -1, SY_ETH_P_IPV6, l3, n), PASS_NOT_TUNNEL);
	expect_pass(f, eth(f, 9, SY_ETH_P_IPV6, l3, n), PASS_NOT_TUNNEL);

	print_message("ICMP, ARP, 802.1ad (QinQ) outer tag\n");
	n = ip4(l3, CLIENT4, BE4, SY_IPPROTO_ICMP, 0, 0, "\x08\0\0\0\0\0\0\0", 8);
	expect_pass(f, eth(f, -1, SY_ETH_P_IPV4, l3, n), PASS_NOT_TUNNEL);
	memset(l3, 0, 28);
	expect_pass(f, eth(f, -1, SY_ETH_P_ARP, l3, 28), PASS_NOT_TUNNEL);
	n = tunnel(f, 100, 0, IPIP, 0, in, in_len, 0, 0);
	f[12] = 0x88;
	f[13] = 0xa8;
	expect_pass(f, n, PASS_NOT_TUNNEL);

	print_message("GUE payload whose first nibble is not 4 or 6\n");
	for (int nib = 0; nib < 16; nib++) {
		if (nib == 4 || nib == 6)
			continue;
		memcpy(l4, in, in_len);
		l4[0] = (uint8_t)(nib << 4 | (l4[0] & 0x0f));
		expect_pass(f, tunnel(f, -1, nib & 1, GUE, SY_GUE_DEFAULT_PORT, l4, in_len, 0, 0),
			    PASS_NOT_TUNNEL);
	}

	print_message("outer IPv6 with an extension header before ipip / UDP\n");
	{
		uint8_t ext[MAXPKT];

		memset(ext, 0, 8);
		ext[0] = SY_IPPROTO_IPIP; /* hop-by-hop options, then the inner packet */
		ext[2] = 1;               /* PadN, 4 bytes */
		ext[3] = 4;
		memcpy(ext + 8, in, in_len);
		n = ip6(l3, LB6, BE6, SY_IPPROTO_HOPOPTS, 0, ext, 8 + in_len);
		expect_pass(f, eth(f, -1, SY_ETH_P_IPV6, l3, n), PASS_NOT_TUNNEL);
		ext[0] = SY_IPPROTO_UDP; /* a destination options header before GUE */
		n = udp(ext + 8, 0xc000, SY_GUE_DEFAULT_PORT, in, in_len);
		n = ip6(l3, LB6, BE6, SY_IPPROTO_DSTOPTS, 0, ext, 8 + n);
		expect_pass(f, eth(f, -1, SY_ETH_P_IPV6, l3, n), PASS_NOT_TUNNEL);
	}
}

static void test_malformed(void **state)
{
	uint8_t in4[MAXPKT], in6[MAXPKT], f[MAXPKT], g[MAXPKT];
	size_t l4 = inner4(in4, 0), l6 = inner6(in6, 0), n;

	(void)state;
	print_message("truncated outer IPv4 / IPv6 header (ipip), with and without a tag\n");
	n = tunnel(f, -1, 0, IPIP, 0, in4, l4, 0, 0);
	expect_pass(f, 14 + 19, PASS_MALFORMED);
	expect_pass(f, 14 + 1, PASS_MALFORMED);
	n = tunnel(f, -1, 0, IPIP, 0, in4, l4, 8, 0); /* options cut off */
	expect_pass(f, 14 + 24, PASS_MALFORMED);
	n = tunnel(f, -1, 1, IPIP, 0, in6, l6, 0, 0);
	expect_pass(f, 14 + 39, PASS_MALFORMED);
	n = tunnel(f, 3, 1, GUE, SY_GUE_DEFAULT_PORT, in6, l6, 0, 0);
	expect_pass(f, 18 + 20, PASS_MALFORMED);
	n = tunnel(f, 3, 0, IPIP, 0, in4, l4, 0, 0);
	expect_pass(f, 16, PASS_MALFORMED); /* the tag itself cut */

	print_message("truncated UDP header of a GUE packet\n");
	n = tunnel(f, -1, 0, GUE, SY_GUE_DEFAULT_PORT, in4, l4, 0, 0);
	f[14 + 2] = 0;
	f[14 + 3] = 20 + 4; /* outer tot_len: 4 bytes of UDP */
	f[14 + 10] = f[14 + 11] = 0;
	{
		uint16_t c = csum(f + 14, 20);

		memcpy(f + 14 + 10, &c, 2);
	}
	expect_pass(f, 14 + 24, PASS_MALFORMED);

	print_message("truncated inner header: ipip 4in4, 6in6, 6in4; gue 4in4, 6in6\n");
	/* A consistent outer packet whose payload is a cut inner header. */
	n = tunnel(f, -1, 0, IPIP, 0, in4, 19, 0, 0);
	expect_pass(f, n, PASS_MALFORMED);
	n = tunnel(f, -1, 1, IPIP, 0, in6, 39, 0, 0);
	expect_pass(f, n, PASS_MALFORMED);
	n = tunnel(f, -1, 0, IPIP, 0, in6, 20, 0, 0);
	expect_pass(f, n, PASS_MALFORMED);
	n = tunnel(f, -1, 0, GUE, SY_GUE_DEFAULT_PORT, in4, 12, 0, 0);
	expect_pass(f, n, PASS_MALFORMED);
	n = tunnel(f, 100, 1, GUE, SY_GUE_DEFAULT_PORT, in6, 1, 0, 0);
	expect_pass(f, n, PASS_MALFORMED);
	print_message("the frame cut inside the inner header\n");
	n = tunnel(f, -1, 0, IPIP, 0, in4, l4, 0, 0);
	expect_pass(f, 14 + 20 + 10, PASS_MALFORMED);
	n = tunnel(f, -1, 1, GUE, SY_GUE_DEFAULT_PORT, in6, l6, 0, 0);
	expect_pass(f, 14 + 48 + 30, PASS_MALFORMED);

	print_message("empty GUE payload\n");
	n = tunnel(f, -1, 0, GUE, SY_GUE_DEFAULT_PORT, in4, 0, 0, 0);
	expect_pass(f, n, PASS_MALFORMED);

	print_message("inner packet longer than the outer payload\n");
	memcpy(g, in4, l4);
	g[3] += 1; /* inner tot_len + 1 (checksum not redone: the length decides) */
	n = tunnel(f, -1, 0, IPIP, 0, g, l4, 0, 0);
	expect_pass(f, n, PASS_MALFORMED);
	memcpy(g, in6, l6);
	g[5] += 1;
	n = tunnel(f, -1, 0, GUE, SY_GUE_DEFAULT_PORT, g, l6, 0, 0);
	expect_pass(f, n, PASS_MALFORMED);

	print_message("outer lengths beyond the frame\n");
	n = tunnel(f, -1, 0, IPIP, 0, in4, l4, 0, 0);
	expect_pass(f, n - 1, PASS_MALFORMED);
	n = tunnel(f, -1, 1, IPIP, 0, in4, l4, 0, 0);
	expect_pass(f, n - 1, PASS_MALFORMED);
	n = tunnel(f, -1, 1, GUE, SY_GUE_DEFAULT_PORT, in4, l4, 0, 0);
	f[14 + 40 + 5] += 1; /* UDP length beyond the IPv6 payload */
	expect_pass(f, n, PASS_MALFORMED);

	print_message("inner version not what ipip says (4 with a v6 packet, 41 with v4)\n");
	n = tunnel(f, -1, 1, IPIP, 0, in6, l6, 0, 0);
	f[14 + 6] = SY_IPPROTO_IPIP;
	expect_pass(f, n, PASS_MALFORMED);
	n = tunnel(f, -1, 1, IPIP, 0, in4, l4, 0, 0);
	f[14 + 6] = SY_IPPROTO_IPV6;
	expect_pass(f, n, PASS_MALFORMED);

	print_message("bad outer IPv4: checksum, version, IHL < 5\n");
	n = tunnel(f, -1, 0, IPIP, 0, in4, l4, 0, 0);
	f[14 + 10] ^= 0x01;
	expect_pass(f, n, PASS_MALFORMED);
	n = tunnel(f, -1, 0, GUE, SY_GUE_DEFAULT_PORT, in4, l4, 4, 0);
	f[14 + 21] ^= 0x40; /* an option byte: covered by the checksum too */
	expect_pass(f, n, PASS_MALFORMED);
	n = tunnel(f, -1, 0, IPIP, 0, in4, l4, 0, 0);
	f[14] = 0x65;
	expect_pass(f, n, PASS_MALFORMED);
	f[14] = 0x44;
	expect_pass(f, n, PASS_MALFORMED);

	print_message("outer IPv4 fragments of a tunnel packet\n");
	n = tunnel(f, -1, 0, IPIP, 0, in4, l4, 0, 0);
	f[14 + 6] = 0x20; /* MF */
	expect_pass(f, n, PASS_MALFORMED);
	n = tunnel(f, -1, 0, GUE, SY_GUE_DEFAULT_PORT, in4, l4, 0, 0);
	f[14 + 6] = 0x20;
	expect_pass(f, n, PASS_MALFORMED);
	print_message("... but a later fragment of some UDP datagram is not a tunnel\n");
	n = tunnel(f, -1, 0, GUE, SY_GUE_DEFAULT_PORT, in4, l4, 0, 0);
	f[14 + 7] = 0x10;
	expect_pass(f, n, PASS_NOT_TUNNEL);

	print_message("a frame shorter than an Ethernet header plus IP, no IP at all\n");
	memset(g, 0, 14);
	expect_pass(g, 14, PASS_NOT_TUNNEL);
}

/* ---- Allow-lists -------------------------------------------------------------- */

static void test_allow_dst(void **state)
{
	uint8_t in[MAXPKT], f[MAXPKT], want[MAXPKT], l3[MAXPKT];
	size_t in_len = inner4(in, 0), n, wn = decapped(want, -1, in, in_len);

	(void)state;
	allow(skel->maps.allow_dst, BE4);
	allow(skel->maps.allow_dst, BE6);
	set_config(0, 1, 0);

	print_message("to a listed destination (IPv4, IPv6): decapsulated\n");
	expect_decap(f, tunnel(f, -1, 0, IPIP, 0, in, in_len, 0, 0), want, wn, DECAP_IPIP4);
	expect_decap(f, tunnel(f, -1, 1, GUE, SY_GUE_DEFAULT_PORT, in, in_len, 0, 0), want, wn,
		     DECAP_GUE6);

	print_message("to another destination: passed, counted\n");
	n = ip4(l3, LB4, "198.18.0.12", SY_IPPROTO_IPIP, 0, 0, in, in_len);
	expect_pass(f, eth(f, -1, SY_ETH_P_IPV4, l3, n), PASS_NOT_ALLOWED);
	n = ip6(l3, LB6, "2001:db8::c", SY_IPPROTO_IPIP, 0, in, in_len);
	expect_pass(f, eth(f, 100, SY_ETH_P_IPV6, l3, n), PASS_NOT_ALLOWED);
	/* the IPv4 address as an IPv6 one is another address */
	n = ip6(l3, LB6, "::ffff:" BE4, SY_IPPROTO_IPIP, 0, in, in_len);
	expect_pass(f, eth(f, -1, SY_ETH_P_IPV6, l3, n), PASS_NOT_ALLOWED);

	print_message("non-tunnel traffic is still counted as such\n");
	expect_pass(f, tunnel(f, -1, 0, GUE, 53, in, in_len, 0, 0), PASS_NOT_TUNNEL);

	print_message("only an IPv6 address listed: IPv4 outer packets are not allowed\n");
	clear(skel->maps.allow_dst);
	allow(skel->maps.allow_dst, BE6);
	expect_pass(f, tunnel(f, -1, 0, IPIP, 0, in, in_len, 0, 0), PASS_NOT_ALLOWED);
	expect_decap(f, tunnel(f, -1, 1, IPIP, 0, in, in_len, 0, 0), want, wn, DECAP_IPIP6);

	print_message("check off again: any destination\n");
	set_config(0, 0, 0);
	expect_decap(f, tunnel(f, -1, 0, IPIP, 0, in, in_len, 0, 0), want, wn, DECAP_IPIP4);
}

static void test_allow_src(void **state)
{
	uint8_t in[MAXPKT], f[MAXPKT], want[MAXPKT], l3[MAXPKT], l4[MAXPKT];
	size_t in_len = inner6(in, 0), n, wn = decapped(want, -1, in, in_len);

	(void)state;
	allow(skel->maps.allow_src, LB4);
	allow(skel->maps.allow_src, LB6);
	set_config(0, 0, 1);

	print_message("from a listed source: decapsulated\n");
	expect_decap(f, tunnel(f, -1, 0, GUE, SY_GUE_DEFAULT_PORT, in, in_len, 0, 0), want, wn,
		     DECAP_GUE4);
	expect_decap(f, tunnel(f, -1, 1, IPIP, 0, in, in_len, 0, 0), want, wn, DECAP_IPIP6);

	print_message("from another source: passed, counted\n");
	n = ip4(l3, "198.18.0.99", BE4, SY_IPPROTO_IPV6, 0, 0, in, in_len);
	expect_pass(f, eth(f, -1, SY_ETH_P_IPV4, l3, n), PASS_NOT_ALLOWED);
	n = udp(l4, 0xc000, SY_GUE_DEFAULT_PORT, in, in_len);
	n = ip6(l3, "2001:db8::99", BE6, SY_IPPROTO_UDP, 0, l4, n);
	expect_pass(f, eth(f, 7, SY_ETH_P_IPV6, l3, n), PASS_NOT_ALLOWED);

	print_message("both lists: both must match\n");
	allow(skel->maps.allow_dst, BE4);
	set_config(0, 1, 1);
	expect_decap(f, tunnel(f, -1, 0, IPIP, 0, in, in_len, 0, 0), want, wn, DECAP_IPIP4);
	n = ip4(l3, "198.18.0.99", BE4, SY_IPPROTO_IPV6, 0, 0, in, in_len);
	expect_pass(f, eth(f, -1, SY_ETH_P_IPV4, l3, n), PASS_NOT_ALLOWED);
	n = ip4(l3, LB4, "198.18.0.12", SY_IPPROTO_IPV6, 0, 0, in, in_len);
	expect_pass(f, eth(f, -1, SY_ETH_P_IPV4, l3, n), PASS_NOT_ALLOWED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_ipip, reset),
		cmocka_unit_test_setup(test_gue, reset),
		cmocka_unit_test_setup(test_vlan, reset),
		cmocka_unit_test_setup(test_padding_kept, reset),
		cmocka_unit_test_setup(test_gue_port, reset),
		cmocka_unit_test_setup(test_ecn, reset),
		cmocka_unit_test_setup(test_not_tunnel, reset),
		cmocka_unit_test_setup(test_malformed, reset),
		cmocka_unit_test_setup(test_allow_dst, reset),
		cmocka_unit_test_setup(test_allow_src, reset),
	};

	return cmocka_run_group_tests_name("bpf_decap", tests, load_prog, unload_prog);
}
