/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Packet-level tests of sy_lb_process(): every case of the corpus generated
 * by gen_corpus.py (crafted frames with independently predicted results) is
 * run through the packet path over the fixture services, one cmocka test per
 * case. For each case: the verdict, the exact change of every lcore counter,
 * and for tx the exact output bytes. For forwarded TCP/UDP packets and
 * fragments the output's destination is also checked against the backend the
 * C library selects (sy_service_pick() for the flow hash of the input's
 * tuple), which ties the Python model of the corpus to the C code.
 *
 * Usage: test_lb_packets SERVICES_FILE CORPUS_FILE
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <switchyard/counters.h>
#include <switchyard/pkt_hdr.h>
#include <switchyard/region_writer.h>

#include "lb.h"
#include "services_file.h"

#define HEADROOM 256
#define TAILROOM 256
#define CT_CAPACITY 4096

static const char *const counter_names[SY_C__COUNT] = {
#define SY_X(id, name, help) [SY_C_##id] = name,
	SY_COUNTERS(SY_X)
#undef SY_X
};

struct pcase {
	char *name;
	int line;
	enum sy_verdict verdict;
	int counter; /* enum sy_counter, or -1 for '-' */
	uint8_t *in, *out;
	uint32_t in_len, out_len;
};

static struct {
	const char *services;
	char path[128];
	struct sy_writer *w;
	struct sy_region_map *map;
	void *ct_mem;
	uint64_t ct_size;
	struct sy_lb lb;
} env;

/* ---- corpus ------------------------------------------------------------- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int unhex(const char *s, uint8_t **out, uint32_t *len)
{
	size_t n = strlen(s);

	*out = NULL;
	*len = 0;
	if (strcmp(s, "-") == 0)
		return 0;
	if (n % 2)
		return -1;
	*out = malloc(n / 2 ? n / 2 : 1);
	if (!*out)
		return -1;
	for (size_t i = 0; i < n / 2; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		(*out)[i] = (uint8_t)(hi << 4 | lo);
	}
	*len = (uint32_t)(n / 2);
	return 0;
}

static int counter_index(const char *name)
{
	if (strcmp(name, "-") == 0)
		return -1;
	for (int i = 0; i < SY_C__COUNT; i++)
		if (strcmp(counter_names[i], name) == 0)
			return i;
	return -2;
}

static void free_cases(struct pcase *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(c[i].name);
		free(c[i].in);
		free(c[i].out);
	}
	free(c);
}

/* Returns the number of cases, or -1 after printing what is wrong. */
static long load_corpus(const char *path, struct pcase **cases)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0, n = 0, alloc = 0;
	struct pcase *c = NULL;
	int lineno = 0;

	if (!f) {
		fprintf(stderr, "%s: cannot open\n", path);
		return -1;
	}
	while (getline(&line, &cap, f) > 0) {
		char *tok[6], *save = NULL, *t;
		int nt = 0;
		struct pcase *pc;

		lineno++;
		if (line[0] == '#')
			continue;
		for (t = strtok_r(line, " \t\r\n", &save); t && nt < 6;
		     t = strtok_r(NULL, " \t\r\n", &save))
			tok[nt++] = t;
		if (nt == 0)
			continue;
		if (nt != 5)
			goto bad;
		if (n == alloc) {
			struct pcase *nc;

			alloc = alloc ? alloc * 2 : 256;
			nc = realloc(c, alloc * sizeof(*c));
			if (!nc)
				goto bad;
			c = nc;
		}
		pc = &c[n];
		memset(pc, 0, sizeof(*pc));
		n++;
		pc->line = lineno;
		pc->name = strdup(tok[0]);
		if (strcmp(tok[1], "tx") == 0)
			pc->verdict = SY_V_TX;
		else if (strcmp(tok[1], "kernel") == 0)
			pc->verdict = SY_V_KERNEL;
		else if (strcmp(tok[1], "drop") == 0)
			pc->verdict = SY_V_DROP;
		else
			goto bad;
		pc->counter = counter_index(tok[2]);
		if (!pc->name || pc->counter == -2 || unhex(tok[3], &pc->in, &pc->in_len) ||
		    !pc->in || unhex(tok[4], &pc->out, &pc->out_len) ||
		    (pc->verdict == SY_V_TX) != (pc->out != NULL))
			goto bad;
	}
	free(line);
	fclose(f);
	*cases = c;
	return (long)n;
bad:
	fprintf(stderr, "%s:%d: bad corpus line\n", path, lineno);
	free(line);
	fclose(f);
	free_cases(c, n);
	return -1;
}

/* ---- an independent reading of the input (test side) ---------------------- */

struct tuple {
	uint8_t family, proto;
	bool frag, icmp_err;
	struct sy_flow_key key; /* as the flow hash defines it */
};

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* Offset of the L3 header and its ethertype (after up to two VLAN tags). */
static int l2_skip(const uint8_t *d, uint32_t len, uint16_t *et)
{
	uint32_t off = 14;

	if (len < 14)
		return -1;
	*et = get16(d + 12);
	while (*et == SY_ETH_P_8021Q || *et == SY_ETH_P_8021AD) {
		if (off + 4 > len)
			return -1;
		*et = get16(d + off + 2);
		off += 4;
	}
	return (int)off;
}

/* The 5-tuple (ports 0 for fragments), whether it is a fragment and whether
 * it is an ICMP error. 0, or -1 for what is not a well-formed IP packet. */
static int read_tuple(const uint8_t *d, uint32_t len, struct tuple *t)
{
	uint16_t et;
	int o = l2_skip(d, len, &et);
	uint32_t off, l4;
	uint8_t nh;

	memset(t, 0, sizeof(*t));
	if (o < 0)
		return -1;
	off = (uint32_t)o;
	if (et == SY_ETH_P_IPV4) {
		if (off + 20 > len || d[off] >> 4 != 4)
			return -1;
		t->family = SY_AF_INET;
		nh = d[off + 9];
		t->frag = (get16(d + off + 6) & 0x3fff) != 0;
		memcpy(&t->key.src[0], d + off + 12, 4);
		memcpy(&t->key.dst[0], d + off + 16, 4);
		l4 = off + (uint32_t)(d[off] & 0xf) * 4;
		t->icmp_err = nh == 1 && l4 < len &&
			      (d[l4] == 3 || d[l4] == 11 || d[l4] == 12);
	} else if (et == SY_ETH_P_IPV6) {
		if (off + 40 > len || d[off] >> 4 != 6)
			return -1;
		t->family = SY_AF_INET6;
		nh = d[off + 6];
		memcpy(t->key.src, d + off + 8, 16);
		memcpy(t->key.dst, d + off + 24, 16);
		l4 = off + 40;
		while (nh == 0 || nh == 43 || nh == 44 || nh == 60 || nh == 51) {
			uint32_t hl;

			if (l4 + 8 > len)
				return -1;
			if (nh == 44) {
				hl = 8;
				t->frag |= (get16(d + l4 + 2) & 0xfff9) != 0; /* offset or M */
			} else if (nh == 51) {
				hl = (d[l4 + 1] + 2u) * 4; /* AH: 4-octet units */
			} else {
				hl = (d[l4 + 1] + 1u) * 8;
			}
			nh = d[l4];
			l4 += hl;
		}
		t->icmp_err = nh == 58 && l4 < len && d[l4] >= 1 && d[l4] <= 4;
	} else {
		return -1;
	}
	t->proto = nh;
	t->key.family = t->family;
	t->key.proto = nh;
	if (!t->frag && (nh == 6 || nh == 17)) {
		if (l4 + 4 > len)
			return -1;
		memcpy(&t->key.sport, d + l4, 2);
		memcpy(&t->key.dport, d + l4 + 2, 2);
	}
	return 0;
}

/* ---- expectations ------------------------------------------------------- */

/* Cases whose expectations depend on the input's tuple. */
static bool needs_tuple(int counter)
{
	return counter == SY_C_FWD_PKTS || counter == SY_C_FRAGMENTS ||
	       counter == SY_C_ICMP_TO_BACKEND || counter == SY_C_ICMP_TOO_BIG_SENT ||
	       counter == SY_C_DROP_MTU || counter == SY_C_DROP_FAMILY ||
	       counter == SY_C_DROP_NO_ROOM || counter == SY_C_DROP_NO_BACKEND;
}

/* The exact change of the lcore counters for a case (empty conntrack):
 * the case's counter, plus what the packet path counts on the way:
 *  - the selection: ct_new for a TCP/UDP flow, fragments for a fragment,
 *    icmp_to_backend for an ICMP error, counted once a backend is chosen
 *    (fragments also when there is none);
 *  - forwarded, for everything sent to a backend. */
static void expected_delta(const struct pcase *c, const struct tuple *t,
			   uint64_t exp[SY_C__COUNT])
{
	enum sy_counter sel = t->frag ? SY_C_FRAGMENTS
			      : t->icmp_err ? SY_C_ICMP_TO_BACKEND : SY_C_CT_NEW;

	memset(exp, 0, sizeof(uint64_t) * SY_C__COUNT);
	if (c->counter < 0)
		return;
	exp[c->counter] = 1;
	switch (c->counter) {
	case SY_C_FWD_PKTS:
		exp[SY_C_CT_NEW] = 1;
		break;
	case SY_C_FRAGMENTS:
	case SY_C_ICMP_TO_BACKEND:
		exp[SY_C_FWD_PKTS] = 1;
		break;
	case SY_C_ICMP_TOO_BIG_SENT:
	case SY_C_DROP_MTU:
	case SY_C_DROP_FAMILY:
	case SY_C_DROP_NO_ROOM:
		/* a TCP/UDP flow is tracked before the rewrite fails; fragments
		 * and ICMP errors count how they were routed only when sent */
		if (sel == SY_C_CT_NEW)
			exp[sel] = 1;
		break;
	default:
		break;
	}
}

static void print_hex(const char *what, const uint8_t *p, uint32_t n)
{
	print_message("%s (%u bytes): ", what, n);
	for (uint32_t i = 0; i < n; i++)
		print_message("%02x", p[i]);
	print_message("\n");
}

/* The output goes to the backend the C library selects for the input. */
static void check_backend(const struct pcase *c, const struct tuple *t, const uint8_t *out,
			  uint32_t out_len)
{
	const uint8_t *base = env.lb.base;
	struct sy_vip_key k = { .family = t->family, .proto = t->proto, .port = t->key.dport };
	const struct sy_service *svc;
	const struct sy_backend *b;
	uint32_t idx;
	uint16_t et;
	int o;

	memcpy(k.addr, t->key.dst, sizeof(k.addr));
	svc = t->frag ? sy_snapshot_vip_addr(base, env.lb.snap, &k)
		      : sy_snapshot_match(base, env.lb.snap, &k);
	assert_non_null(svc);
	idx = sy_service_pick(base, svc, sy_flow_hash(&t->key, svc->hash_seed));
	assert_int_not_equal(idx, SY_MAGLEV_NONE);
	b = &sy_service_backends(base, svc)[idx];

	assert_true(out_len >= 14);
	if (memcmp(out, b->mac, 6) != 0) {
		print_message("%s: output MAC is not backend %u's\n", c->name, idx);
		fail();
	}
	o = l2_skip(out, out_len, &et);
	assert_true(o > 0);
	if (svc->fwd_mode == SY_FWD_L2DSR) {
		/* the IP packet is untouched: still to the VIP */
		assert_int_equal(et, t->family == SY_AF_INET ? SY_ETH_P_IPV4 : SY_ETH_P_IPV6);
		return;
	}
	if (b->id.family == SY_AF_INET) {
		assert_int_equal(et, SY_ETH_P_IPV4);
		assert_true((uint32_t)o + 20 <= out_len);
		assert_memory_equal(out + o + 16, &b->id.addr[0], 4);
	} else {
		assert_int_equal(et, SY_ETH_P_IPV6);
		assert_true((uint32_t)o + 40 <= out_len);
		assert_memory_equal(out + o + 24, b->id.addr, 16);
	}
}

struct side_sums {
	uint64_t vip_pkts, vip_bytes, vip_drops, vip_new, be_pkts, be_bytes;
};

static void side_sums(struct side_sums *s)
{
	const struct sy_region_limits *lim = &env.map->hdr->limits;

	memset(s, 0, sizeof(*s));
	for (uint32_t i = 0; i < lim->max_services; i++) {
		s->vip_pkts += env.lb.vips[i].pkts;
		s->vip_bytes += env.lb.vips[i].bytes;
		s->vip_drops += env.lb.vips[i].drops;
		s->vip_new += env.lb.vips[i].new_flows;
	}
	for (uint32_t i = 0; i < lim->max_backends; i++) {
		s->be_pkts += env.lb.backends[i].pkts;
		s->be_bytes += env.lb.backends[i].bytes;
	}
}

static void run_case(void **state)
{
	const struct pcase *c = *state;
	uint64_t before[SY_C__COUNT], exp[SY_C__COUNT];
	struct side_sums s0, s1;
	struct tuple t;
	bool ok = true;
	uint8_t *buf = malloc(HEADROOM + c->in_len + TAILROOM);
	struct sy_pkt pkt = { .data = buf + HEADROOM, .len = c->in_len,
			      .headroom = HEADROOM, .tailroom = TAILROOM };
	enum sy_verdict v;

	assert_non_null(buf);
	memcpy(pkt.data, c->in, c->in_len);
	/* each case starts with empty connection tracking */
	memset(env.ct_mem, 0, env.ct_size);
	sy_ct_init(&env.lb.ct, env.ct_mem, CT_CAPACITY, NULL);
	memcpy(before, env.lb.stats->counters, sizeof(before));
	side_sums(&s0);

	v = sy_lb_process(&env.lb, &pkt);
	side_sums(&s1);

	if (v != c->verdict) {
		print_message("%s (corpus line %d): verdict %d, expected %d\n", c->name, c->line,
			      v, c->verdict);
		ok = false;
	}
	if (read_tuple(c->in, c->in_len, &t) && needs_tuple(c->counter)) {
		print_message("%s: the test cannot read the input's tuple\n", c->name);
		fail();
	}
	expected_delta(c, &t, exp);
	for (int i = 0; i < SY_C__COUNT; i++) {
		uint64_t d = env.lb.stats->counters[i] - before[i];

		if (d != exp[i]) {
			print_message("%s (corpus line %d): counter %s +%llu, expected +%llu\n",
				      c->name, c->line, counter_names[i], (unsigned long long)d,
				      (unsigned long long)exp[i]);
			ok = false;
		}
	}
	/* per-VIP and per-backend counters follow the packet */
	if (exp[SY_C_FWD_PKTS]) {
		ok &= s1.vip_pkts - s0.vip_pkts == 1 && s1.be_pkts - s0.be_pkts == 1 &&
		      s1.vip_bytes - s0.vip_bytes == c->in_len &&
		      s1.be_bytes - s0.be_bytes == c->in_len;
	} else {
		ok &= s1.vip_pkts == s0.vip_pkts && s1.be_pkts == s0.be_pkts;
	}
	ok &= s1.vip_drops - s0.vip_drops == (c->counter == SY_C_DROP_NO_BACKEND);
	ok &= s1.vip_new - s0.vip_new == exp[SY_C_CT_NEW];
	if (!ok)
		print_message("%s: per-VIP/backend counters: pkts +%llu/+%llu drops +%llu new +%llu\n",
			      c->name, (unsigned long long)(s1.vip_pkts - s0.vip_pkts),
			      (unsigned long long)(s1.be_pkts - s0.be_pkts),
			      (unsigned long long)(s1.vip_drops - s0.vip_drops),
			      (unsigned long long)(s1.vip_new - s0.vip_new));

	if (v == SY_V_TX && c->verdict == SY_V_TX) {
		if (pkt.len != c->out_len || memcmp(pkt.data, c->out, c->out_len) != 0) {
			uint32_t i, n = pkt.len < c->out_len ? pkt.len : c->out_len;

			for (i = 0; i < n && pkt.data[i] == c->out[i]; i++)
				;
			print_message("%s (corpus line %d): output differs at offset %u\n",
				      c->name, c->line, i);
			print_hex("got     ", pkt.data, pkt.len);
			print_hex("expected", c->out, c->out_len);
			ok = false;
		}
		/* data stays within the buffer */
		if (pkt.data < buf || pkt.data + pkt.len > buf + HEADROOM + c->in_len + TAILROOM ||
		    (uint32_t)(pkt.data - buf) != pkt.headroom ||
		    pkt.headroom + pkt.len + pkt.tailroom != HEADROOM + c->in_len + TAILROOM) {
			print_message("%s: head/tailroom accounting wrong\n", c->name);
			ok = false;
		}
		if (ok && (c->counter == SY_C_FWD_PKTS || c->counter == SY_C_FRAGMENTS))
			check_backend(c, &t, pkt.data, pkt.len);
	}
	free(buf);
	if (!ok)
		fail();
}

/* ---- setup ---------------------------------------------------------------- */

static int group_setup(void **state)
{
	static const struct sy_region_limits lim = { .max_lcores = 2, .max_services = 64,
						     .max_backends = 256, .heap_size = 8u << 20 };
	char err[256] = "";
	struct sy_lcore_stats *st;

	(void)state;
	snprintf(env.path, sizeof(env.path), "/dev/shm/sy-test-lbpackets-%d", (int)getpid());
	unlink(env.path);
	if (sy_writer_create(env.path, "lb_packets", &lim, NULL, &env.w, err, sizeof(err))) {
		fprintf(stderr, "sy_writer_create: %s\n", err);
		return -1;
	}
	if (sy_services_file_apply(env.w, env.services, err, sizeof(err))) {
		fprintf(stderr, "services: %s\n", err);
		return -1;
	}
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
		.mtu = 1500,
		.mtu_action = SY_MTU_ICMP,
	};
	env.ct_size = sy_ct_memsize(CT_CAPACITY);
	env.ct_mem = calloc(1, env.ct_size);
	if (!env.ct_mem || !env.lb.snap)
		return -1;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	free(env.ct_mem);
	env.ct_mem = NULL;
	if (env.w)
		sy_writer_close(env.w);
	env.w = NULL;
	unlink(env.path);
	return 0;
}

int main(int argc, char **argv)
{
	struct CMUnitTest *tests;
	struct pcase *cases = NULL;
	long n;
	int rc;

	if (argc != 3) {
		fprintf(stderr, "usage: %s SERVICES_FILE CORPUS_FILE\n", argv[0]);
		return 2;
	}
	env.services = argv[1];
	n = load_corpus(argv[2], &cases);
	if (n <= 0) {
		fprintf(stderr, "%s: no cases\n", argv[2]);
		free(cases);
		return 1;
	}
	tests = calloc((size_t)n, sizeof(*tests));
	if (!tests) {
		free_cases(cases, (size_t)n);
		return 1;
	}
	for (long i = 0; i < n; i++) {
		tests[i].name = cases[i].name;
		tests[i].test_func = run_case;
		tests[i].initial_state = &cases[i];
	}
	rc = _cmocka_run_group_tests("lb_packets", tests, (size_t)n, group_setup, group_teardown);
	free(tests);
	free_cases(cases, (size_t)n);
	return rc;
}
