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
 * Then the whole corpus once more as one stream, twice: frame by frame
 * through sy_lb_process() and in bursts of varying size through
 * sy_lb_process_burst() (the staged path the workers run), each with its own
 * connection table and counters: the same verdict and bytes for every frame
 * (those of the corpus where it expects a frame) and the same counters.
 *
 * The corpus loader and the test-side predictions are tests/common/corpus.c,
 * shared with the XDP path's replay (tests/bpf/test_xdp_lb_packets.c).
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
#include "corpus.h"
#include "services_file.h"

#define HEADROOM 256
#define TAILROOM 256
#define CT_CAPACITY 4096

_Static_assert((int)SY_CORPUS_TX == (int)SY_V_TX && (int)SY_CORPUS_KERNEL == (int)SY_V_KERNEL &&
		       (int)SY_CORPUS_DROP == (int)SY_V_DROP,
	       "corpus verdicts are enum sy_verdict");

static struct {
	const char *services;
	char path[128];
	struct sy_writer *w;
	struct sy_region_map *map;
	void *ct_mem;
	uint64_t ct_size;
	struct sy_lb lb;
} env;

static void print_hex(const char *what, const uint8_t *p, uint32_t n)
{
	print_message("%s (%u bytes): ", what, n);
	for (uint32_t i = 0; i < n; i++)
		print_message("%02x", p[i]);
	print_message("\n");
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
	const struct sy_corpus_case *c = *state;
	uint64_t before[SY_C__COUNT], exp[SY_C__COUNT];
	struct side_sums s0, s1;
	struct sy_corpus_tuple t;
	bool ok = true;
	uint8_t *buf = malloc(HEADROOM + c->in_len + TAILROOM);
	struct sy_pkt pkt = { .data = buf + HEADROOM, .len = c->in_len,
			      .headroom = HEADROOM, .tailroom = TAILROOM };
	enum sy_verdict v;

	assert_non_null(buf);
	memcpy(pkt.data, c->in, c->in_len);
	/* each case starts with empty connection tracking, no remembered
	 * fragments and a full ICMP error bucket (the rate limit is
	 * test_icmp_errors.c's), unless it runs after the case before it */
	if (!c->after) {
		memset(env.ct_mem, 0, env.ct_size);
		sy_ct_init(&env.lb.ct, env.ct_mem, CT_CAPACITY, NULL, 1);
		memset(&env.lb.frag, 0, sizeof(env.lb.frag));
		memset(&env.lb.icmp_bucket, 0, sizeof(env.lb.icmp_bucket));
	}
	memcpy(before, env.lb.stats->counters, sizeof(before));
	side_sums(&s0);

	v = sy_lb_process(&env.lb, &pkt);
	side_sums(&s1);

	if ((int)v != (int)c->verdict) {
		print_message("%s (corpus line %d): verdict %d, expected %d\n", c->name, c->line,
			      v, c->verdict);
		ok = false;
	}
	if (sy_corpus_read_tuple(c->in, c->in_len, &t) && sy_corpus_needs_tuple(c->counter)) {
		print_message("%s: the test cannot read the input's tuple\n", c->name);
		fail();
	}
	sy_corpus_expected_delta(c, &t, exp);
	for (int i = 0; i < SY_C__COUNT; i++) {
		uint64_t d = env.lb.stats->counters[i] - before[i];

		if (d != exp[i]) {
			print_message("%s (corpus line %d): counter %s +%llu, expected +%llu\n",
				      c->name, c->line, sy_corpus_counter_names[i], (unsigned long long)d,
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

	if (v == SY_V_TX && c->verdict == SY_CORPUS_TX) {
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
		/* (a followed fragment's tuple lacks the ports its first gave
		 * it: its bytes, the model's, say where it goes) */
		if (ok && (c->counter == SY_C_FWD_PKTS || c->counter == SY_C_FRAGMENTS ||
			   c->counter == SY_C_FRAG_UNTRACKED ||
			   c->counter == SY_C_QUIC_CID_UNKNOWN)) {
			char why[128];

			if (sy_corpus_check_backend(env.lb.base, env.lb.snap, &t, pkt.data, pkt.len,
						    why, sizeof(why))) {
				print_message("%s: %s\n", c->name, why);
				ok = false;
			}
		}
	}
	free(buf);
	if (!ok)
		fail();
}

/* ---- the staged burst ------------------------------------------------------ */

struct stream {
	struct sy_lb lb;
	void *ct_mem;
	uint8_t *bufs;      /* one buffer a case */
	struct sy_pkt *pkt; /* one frame a case */
	enum sy_verdict *v;
};

static const struct sy_corpus_case *all_cases;
static long n_all_cases;
#define BUF_STRIDE (HEADROOM + 9800 + TAILROOM)

static void stream_init(struct stream *s, uint32_t lcore)
{
	struct sy_lcore_stats *st = sy_region_stats(env.map, lcore);

	s->lb = env.lb;
	s->lb.stats = st;
	s->lb.vips = sy_stats_vips(st);
	s->lb.backends = sy_stats_backends(env.map, st);
	/* one stream, not a case each: no ICMP error may be rate limited */
	s->lb.icmp_rate = 1000000;
	s->lb.icmp_burst = 1000000;
	memset(&s->lb.icmp_bucket, 0, sizeof(s->lb.icmp_bucket));
	s->ct_mem = calloc(1, env.ct_size);
	s->bufs = malloc((size_t)n_all_cases * BUF_STRIDE);
	s->pkt = calloc((size_t)n_all_cases, sizeof(*s->pkt));
	s->v = calloc((size_t)n_all_cases, sizeof(*s->v));
	assert_true(s->ct_mem && s->bufs && s->pkt && s->v);
	sy_ct_init(&s->lb.ct, s->ct_mem, CT_CAPACITY, NULL, 1);
	for (long i = 0; i < n_all_cases; i++) {
		const struct sy_corpus_case *c = &all_cases[i];

		assert_true(c->in_len <= 9800);
		s->pkt[i] = (struct sy_pkt){ .data = s->bufs + (size_t)i * BUF_STRIDE + HEADROOM,
					     .len = c->in_len, .headroom = HEADROOM,
					     .tailroom = BUF_STRIDE - HEADROOM - c->in_len };
		memcpy(s->pkt[i].data, c->in, c->in_len);
	}
}

static void stream_free(struct stream *s)
{
	free(s->ct_mem);
	free(s->bufs);
	free(s->pkt);
	free(s->v);
}

static void corpus_in_bursts(void **state)
{
	struct stream one, burst;
	uint64_t c1[SY_C__COUNT], cb[SY_C__COUNT];
	long bad = 0;

	(void)state;
	memcpy(c1, sy_region_stats(env.map, 0)->counters, sizeof(c1));
	memcpy(cb, sy_region_stats(env.map, 1)->counters, sizeof(cb));
	stream_init(&one, 0);
	stream_init(&burst, 1);
	for (long i = 0; i < n_all_cases; i++)
		one.v[i] = sy_lb_process(&one.lb, &one.pkt[i]);
	/* bursts of 1, 2, ... SY_LB_BURST + 7 frames: every size, and sizes
	 * the burst call splits */
	for (long i = 0, m = 1; i < n_all_cases; i += m, m = m % (SY_LB_BURST + 7) + 1) {
		long k = i + m <= n_all_cases ? m : n_all_cases - i;

		sy_lb_process_burst(&burst.lb, &burst.pkt[i], (uint32_t)k, &burst.v[i]);
	}
	for (long i = 0; i < n_all_cases; i++) {
		const struct sy_corpus_case *c = &all_cases[i];
		const struct sy_pkt *a = &one.pkt[i], *b = &burst.pkt[i];
		bool same = one.v[i] == burst.v[i] && (int)burst.v[i] == (int)c->verdict;

		if (same && burst.v[i] == SY_V_TX)
			same = a->len == b->len && !memcmp(a->data, b->data, a->len) &&
			       b->len == c->out_len && !memcmp(b->data, c->out, c->out_len);
		if (!same && bad++ < 5)
			print_message("%s (corpus line %d): frame by frame verdict %d, burst %d, corpus %d, or bytes differ\n",
				      c->name, c->line, one.v[i], burst.v[i], c->verdict);
	}
	for (int i = 0; i < SY_C__COUNT; i++) {
		uint64_t d1 = sy_region_stats(env.map, 0)->counters[i] - c1[i];
		uint64_t db = sy_region_stats(env.map, 1)->counters[i] - cb[i];

		if (d1 != db && bad++ < 10)
			print_message("counter %s: +%llu frame by frame, +%llu in bursts\n",
				      sy_corpus_counter_names[i], (unsigned long long)d1,
				      (unsigned long long)db);
	}
	print_message("%ld frames in bursts: %ld differences\n", n_all_cases, bad);
	stream_free(&one);
	stream_free(&burst);
	assert_int_equal(bad, 0);
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
	struct sy_corpus_case *cases = NULL;
	long n;
	int rc;

	if (argc != 3) {
		fprintf(stderr, "usage: %s SERVICES_FILE CORPUS_FILE\n", argv[0]);
		return 2;
	}
	env.services = argv[1];
	n = sy_corpus_load(argv[2], &cases);
	if (n <= 0) {
		fprintf(stderr, "%s: no cases\n", argv[2]);
		free(cases);
		return 1;
	}
	all_cases = cases;
	n_all_cases = n;
	tests = calloc((size_t)n + 1, sizeof(*tests));
	if (!tests) {
		sy_corpus_free(cases, (size_t)n);
		return 1;
	}
	for (long i = 0; i < n; i++) {
		tests[i].name = cases[i].name;
		tests[i].test_func = run_case;
		tests[i].initial_state = &cases[i];
	}
	tests[n].name = "corpus_in_bursts";
	tests[n].test_func = corpus_in_bursts;
	rc = _cmocka_run_group_tests("lb_packets", tests, (size_t)n + 1, group_setup, group_teardown);
	sy_corpus_report("lb_packets", "DPDK path, sy_lb_process", cases, (size_t)n, rc == 0);
	free(tests);
	sy_corpus_free(cases, (size_t)n);
	return rc;
}
