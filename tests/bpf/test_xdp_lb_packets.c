/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The XDP path (bpf/sy_xdp_lb.bpf.c) on THE packet corpus of tests/packets
 * (gen_corpus.py over services.txt, the same corpus.txt test_lb_packets
 * replays through sy_lb_process()). The services are published into a
 * region and mirrored into the program's maps with sy_xdp_sync(); the
 * program is configured as the DPDK test's packet path is (port MAC
 * 02:00:00:00:00:01, MTU 1500, ICMP answers). Each case is one
 * BPF_PROG_TEST_RUN, with empty connection tracking and a full ICMP error
 * bucket (the rate limit is test_xdp_icmp.c's), and asserts:
 *   - the verdict: tx -> XDP_TX, kernel -> XDP_PASS, drop -> XDP_DROP;
 *   - the exact output bytes of tx cases, and for kernel cases that the
 *     frame goes to the kernel untouched;
 *   - the exact change of every counter: the corpus's expectation for the
 *     packet path (as in test_lb_packets) plus what the XDP program counts
 *     for the loop the DPDK path has around it: rx_packets/rx_bytes for
 *     every frame, tx_packets/tx_bytes (output length) for tx, to_kernel for
 *     kernel;
 *   - the per-VIP and per-backend counters, and for forwarded packets and
 *     fragments that the output reaches the backend the C library selects.
 *
 * Cases the XDP path cannot be given, one by one:
 *   - frames shorter than an Ethernet header (the drop_runt cases):
 *     BPF_PROG_TEST_RUN refuses data shorter than ETH_HLEN with EINVAL, and
 *     no driver hands such a frame to XDP. For these the test asserts that
 *     refusal; the program's own runt check is unreachable in practice.
 * Every case starts with empty conntrack and no remembered fragments, on
 * both paths, except an `after` case (a fragment after its datagram's
 * first), which runs in the state the case before it left: the test runs
 * pinned to one CPU, as RSS keeps a flow on one. No case depends on headroom (BPF_PROG_TEST_RUN gives XDP_PACKET_HEADROOM, 256
 * bytes, as the DPDK test does; nothing needs more than 48).
 *
 * Plus: before sy_xdp_configure() the program passes every frame untouched
 * and counts nothing.
 *
 * Needs root (CAP_BPF + CAP_NET_ADMIN or CAP_SYS_ADMIN); fails, never skips.
 *
 * Usage: test_xdp_lb_packets SERVICES_FILE CORPUS_FILE
 */
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <errno.h>
#include <linux/bpf.h>

#include <switchyard/counters.h>
#include <switchyard/region_writer.h>

#include "corpus.h"
#include "services_file.h"
#include "xdp_lb.h"
#include "xdp_lb_util.h"

#define OUT_SLACK 512
#define CT_FLOWS 4096

static const struct sy_region_limits limits = { .max_lcores = 2, .max_services = 64,
						.max_backends = 256, .heap_size = 8u << 20 };

static struct {
	const char *services;
	char path[128];
	struct sy_writer *w;
	struct sy_region_map *map;
	const struct sy_snapshot *snap;
	struct sy_xdp *x;
	int prog_fd, ct_fd, bucket_fd, frag_fd;
	struct sy_corpus_case *cases;
	long n_cases;
} env;

static const uint32_t xdp_action[] = {
	[SY_CORPUS_TX] = XDP_TX,
	[SY_CORPUS_KERNEL] = XDP_PASS,
	[SY_CORPUS_DROP] = XDP_DROP,
};

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
	memset(s, 0, sizeof(*s));
	for (uint32_t i = 0; i < limits.max_services; i++) {
		struct sy_vip_counters v;

		sy_xdp_read_vip(env.x, i, &v);
		s->vip_pkts += v.pkts;
		s->vip_bytes += v.bytes;
		s->vip_drops += v.drops;
		s->vip_new += v.new_flows;
	}
	for (uint32_t i = 0; i < limits.max_backends; i++) {
		struct sy_backend_counters b;

		sy_xdp_read_backend(env.x, i, &b);
		s->be_pkts += b.pkts;
		s->be_bytes += b.bytes;
	}
}

static void run_case(void **state)
{
	const struct sy_corpus_case *c = *state;
	uint64_t before[SY_LCORE_NCOUNTERS], after[SY_LCORE_NCOUNTERS], exp[SY_C__COUNT];
	uint32_t cap = c->in_len + OUT_SLACK, out_len = 0, action = 0;
	uint8_t *out = calloc(1, cap);
	struct side_sums s0, s1;
	struct sy_corpus_tuple t;
	bool ok = true;
	int err;

	assert_non_null(out);
	if (!c->after) {
		assert_true(sy_xdp_test_ct_clear(env.ct_fd) >= 0); /* empty conntrack */
		assert_true(sy_xdp_test_map_clear(env.frag_fd) >= 0); /* no fragments */
		assert_int_equal(sy_xdp_test_percpu_zero(env.bucket_fd, 0), 0); /* full ICMP bucket */
	}
	sy_xdp_read_counters(env.x, before);
	side_sums(&s0);

	err = sy_xdp_test_run(env.prog_fd, c->in, c->in_len, out, cap, &out_len, &action, NULL);
	if (c->in_len < 14) {
		/* drop_runt: see the header comment */
		assert_int_equal(c->counter, SY_C_DROP_RUNT);
		if (err != -EINVAL)
			print_message("%s: BPF_PROG_TEST_RUN of %u bytes: %d, expected -EINVAL\n",
				      c->name, c->in_len, err);
		assert_int_equal(err, -EINVAL);
		sy_xdp_read_counters(env.x, after);
		assert_memory_equal(before, after, sizeof(before));
		free(out);
		return;
	}
	if (err)
		print_message("%s: BPF_PROG_TEST_RUN: %s\n", c->name, strerror(-err));
	assert_int_equal(err, 0);
	sy_xdp_read_counters(env.x, after);
	side_sums(&s1);

	if (action != xdp_action[c->verdict]) {
		print_message("%s (corpus line %d): XDP action %u, expected %u\n", c->name, c->line,
			      action, xdp_action[c->verdict]);
		ok = false;
	}
	if (sy_corpus_read_tuple(c->in, c->in_len, &t) && sy_corpus_needs_tuple(c->counter)) {
		print_message("%s: the test cannot read the input's tuple\n", c->name);
		fail();
	}
	sy_corpus_expected_delta(c, &t, exp);
	exp[SY_C_RX_PKTS] += 1;
	exp[SY_C_RX_BYTES] += c->in_len;
	if (c->verdict == SY_CORPUS_TX) {
		exp[SY_C_TX_PKTS] += 1;
		exp[SY_C_TX_BYTES] += c->out_len;
	} else if (c->verdict == SY_CORPUS_KERNEL) {
		exp[SY_C_TO_KERNEL] += 1;
	}
	for (int i = 0; i < SY_C__COUNT; i++) {
		uint64_t d = after[i] - before[i];

		if (d != exp[i]) {
			print_message("%s (corpus line %d): counter %s +%llu, expected +%llu\n",
				      c->name, c->line, sy_corpus_counter_names[i],
				      (unsigned long long)d, (unsigned long long)exp[i]);
			ok = false;
		}
	}
	for (int i = SY_C__COUNT; i < SY_LCORE_NCOUNTERS; i++)
		ok &= after[i] == before[i];

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

	if (c->verdict != SY_CORPUS_DROP && action == xdp_action[c->verdict]) {
		/* tx: the expected frame; kernel: the input, untouched */
		const uint8_t *want = c->verdict == SY_CORPUS_TX ? c->out : c->in;
		uint32_t want_len = c->verdict == SY_CORPUS_TX ? c->out_len : c->in_len;

		if (out_len != want_len || memcmp(out, want, want_len) != 0) {
			uint32_t i, n = out_len < want_len ? out_len : want_len;

			for (i = 0; i < n && out[i] == want[i]; i++)
				;
			print_message("%s (corpus line %d): output differs at offset %u\n", c->name,
				      c->line, i);
			print_hex("got     ", out, out_len);
			print_hex("expected", want, want_len);
			ok = false;
		}
		if (ok && (c->counter == SY_C_FWD_PKTS || c->counter == SY_C_FRAGMENTS ||
			   c->counter == SY_C_FRAG_UNTRACKED ||
			   c->counter == SY_C_QUIC_CID_UNKNOWN)) {
			char why[128];

			if (sy_corpus_check_backend(env.map->base, env.snap, &t, out, out_len, why,
						    sizeof(why))) {
				print_message("%s: %s\n", c->name, why);
				ok = false;
			}
		}
	}
	free(out);
	if (!ok)
		fail();
}

/* Until sy_xdp_configure(), everything passes, untouched and uncounted. */
static void unconfigured_passes(void **state)
{
	struct sy_xdp_opts o = { .ct_flows = 64 };
	struct sy_xdp *x = NULL;
	uint64_t c0[SY_LCORE_NCOUNTERS], c1[SY_LCORE_NCOUNTERS];
	char err[256] = "";
	long tried = 0;

	(void)state;
	if (sy_xdp_open(&x, &o, err, sizeof(err)))
		print_message("sy_xdp_open: %s\n", err);
	assert_non_null(x);
	assert_int_equal(sy_xdp_sync(x, env.map->base, env.snap, err, sizeof(err)), 0);
	sy_xdp_read_counters(x, c0);
	for (long i = 0; i < env.n_cases; i++) {
		const struct sy_corpus_case *c = &env.cases[i];
		uint32_t cap = c->in_len + OUT_SLACK, out_len = 0, action = 0;
		uint8_t *out;

		if (c->in_len < 14 || (i % 7 && c->verdict != SY_CORPUS_TX))
			continue; /* every tx case, a sample of the others */
		out = malloc(cap);
		assert_non_null(out);
		assert_int_equal(sy_xdp_test_run(sy_xdp_prog_fd(x), c->in, c->in_len, out, cap,
						 &out_len, &action, NULL),
				 0);
		if (action != XDP_PASS)
			print_message("%s: action %u before configuration\n", c->name, action);
		assert_int_equal(action, XDP_PASS);
		assert_int_equal(out_len, c->in_len);
		assert_memory_equal(out, c->in, c->in_len);
		free(out);
		tried++;
	}
	sy_xdp_read_counters(x, c1);
	assert_memory_equal(c0, c1, sizeof(c0));
	assert_true(tried > 400);
	sy_xdp_close(x, false);
}

/* With sy_config.tx_ifindex set, what would be XDP_TX is redirected to that
 * interface instead, with the very same bytes; the rest is unchanged. */
static void redirect_when_configured(void **state)
{
	struct sy_xdp_opts o = { .ct_flows = 64 };
	struct sy_xdp_config cfg = {
		.port_mac = { 0x02, 0, 0, 0, 0, 0x01 },
		.mtu = 1500,
		.tx_ifindex = if_nametoindex("lo"),
	};
	struct sy_xdp *x = NULL;
	char err[256] = "";
	long redirected = 0;
	int ct_fd, bucket_fd, frag_fd;

	(void)state;
	assert_true(cfg.tx_ifindex > 0);
	if (sy_xdp_open(&x, &o, err, sizeof(err)) || sy_xdp_configure(x, &cfg, err, sizeof(err)) ||
	    sy_xdp_sync(x, env.map->base, env.snap, err, sizeof(err)))
		print_message("xdp: %s\n", err);
	assert_non_null(x);
	ct_fd = sy_xdp_test_map_fd(sy_xdp_prog_fd(x), "sy_conntrack");
	bucket_fd = sy_xdp_test_map_fd(sy_xdp_prog_fd(x), "sy_icmp_bucket");
	frag_fd = sy_xdp_test_map_fd(sy_xdp_prog_fd(x), "sy_frag");
	assert_true(ct_fd >= 0 && bucket_fd >= 0 && frag_fd >= 0);
	for (long i = 0; i < env.n_cases; i++) {
		const struct sy_corpus_case *c = &env.cases[i];
		uint32_t cap = c->in_len + OUT_SLACK, out_len = 0, action = 0;
		uint8_t *out;

		/* every tx case that needs no case before it, a sample of the others */
		if (c->in_len < 14 || c->after || (c->verdict != SY_CORPUS_TX && i % 5))
			continue;
		assert_true(sy_xdp_test_ct_clear(ct_fd) >= 0); /* each case from fresh tables */
		assert_true(sy_xdp_test_map_clear(frag_fd) >= 0);
		sy_xdp_test_percpu_zero(bucket_fd, 0);
		out = malloc(cap);
		assert_non_null(out);
		assert_int_equal(sy_xdp_test_run(sy_xdp_prog_fd(x), c->in, c->in_len, out, cap,
						 &out_len, &action, NULL),
				 0);
		if (c->verdict == SY_CORPUS_TX) {
			if (action != XDP_REDIRECT || out_len != c->out_len ||
			    memcmp(out, c->out, out_len))
				print_message("%s: action %u, %u bytes\n", c->name, action, out_len);
			assert_int_equal(action, XDP_REDIRECT);
			assert_int_equal(out_len, c->out_len);
			assert_memory_equal(out, c->out, out_len);
			redirected++;
		} else {
			assert_int_not_equal(action, XDP_REDIRECT);
			assert_int_not_equal(action, XDP_TX);
		}
		free(out);
	}
	assert_true(redirected > 300);
	close(ct_fd);
	close(bucket_fd);
	close(frag_fd);
	sy_xdp_close(x, false);
}

/* ---- setup ---------------------------------------------------------------- */

static int group_setup(void **state)
{
	struct sy_xdp_opts o = { .pin_dir = NULL, .ct_flows = CT_FLOWS };
	struct sy_xdp_config cfg = {
		.port_mac = { 0x02, 0, 0, 0, 0, 0x01 },
		.mtu = 1500,
		.mtu_action = 0, /* SY_MTU_ICMP */
		.tcp_ms = 900000,
		.tcp_fin_ms = 10000,
		.udp_ms = 300000,
	};
	char err[256] = "";
	cpu_set_t one;

	(void)state;
	/* an `after` case finds its flow in this CPU's connection table */
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu(), &one);
	if (sched_setaffinity(0, sizeof(one), &one)) {
		perror("sched_setaffinity");
		return -1;
	}
	snprintf(env.path, sizeof(env.path), "/dev/shm/sy-test-xdplbpackets-%d", (int)getpid());
	unlink(env.path);
	if (sy_writer_create(env.path, "xdp_lb_packets", &limits, NULL, &env.w, err,
			     sizeof(err))) {
		fprintf(stderr, "sy_writer_create: %s\n", err);
		return -1;
	}
	if (sy_services_file_apply(env.w, env.services, err, sizeof(err))) {
		fprintf(stderr, "services: %s\n", err);
		return -1;
	}
	env.map = sy_writer_map(env.w);
	env.snap = sy_writer_snapshot(env.w);
	if (!env.snap)
		return -1;
	if (sy_xdp_open(&env.x, &o, err, sizeof(err)) ||
	    sy_xdp_configure(env.x, &cfg, err, sizeof(err)) ||
	    sy_xdp_sync(env.x, env.map->base, env.snap, err, sizeof(err))) {
		fprintf(stderr, "xdp: %s\n", err);
		return -1;
	}
	env.prog_fd = sy_xdp_prog_fd(env.x);
	env.ct_fd = sy_xdp_test_map_fd(env.prog_fd, "sy_conntrack");
	env.bucket_fd = sy_xdp_test_map_fd(env.prog_fd, "sy_icmp_bucket");
	env.frag_fd = sy_xdp_test_map_fd(env.prog_fd, "sy_frag");
	if (env.ct_fd < 0 || env.bucket_fd < 0 || env.frag_fd < 0) {
		fprintf(stderr, "no sy_conntrack, sy_icmp_bucket or sy_frag map on the program\n");
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	if (env.ct_fd > 0)
		close(env.ct_fd);
	if (env.bucket_fd > 0)
		close(env.bucket_fd);
	if (env.frag_fd > 0)
		close(env.frag_fd);
	if (env.x)
		sy_xdp_close(env.x, false);
	env.x = NULL;
	if (env.w)
		sy_writer_close(env.w);
	env.w = NULL;
	unlink(env.path);
	return 0;
}

int main(int argc, char **argv)
{
	struct CMUnitTest *tests;
	long n;
	int rc;

	if (argc != 3) {
		fprintf(stderr, "usage: %s SERVICES_FILE CORPUS_FILE\n", argv[0]);
		return 2;
	}
	env.services = argv[1];
	n = sy_corpus_load(argv[2], &env.cases);
	if (n <= 0) {
		fprintf(stderr, "%s: no cases\n", argv[2]);
		return 1;
	}
	env.n_cases = n;
	tests = calloc((size_t)n + 2, sizeof(*tests));
	if (!tests) {
		sy_corpus_free(env.cases, (size_t)n);
		return 1;
	}
	tests[0].name = "unconfigured_passes";
	tests[0].test_func = unconfigured_passes;
	tests[1].name = "redirect_when_configured";
	tests[1].test_func = redirect_when_configured;
	for (long i = 0; i < n; i++) {
		tests[i + 2].name = env.cases[i].name;
		tests[i + 2].test_func = run_case;
		tests[i + 2].initial_state = &env.cases[i];
	}
	rc = _cmocka_run_group_tests("xdp_lb_packets", tests, (size_t)n + 2, group_setup,
				     group_teardown);
	sy_corpus_report("xdp_lb_packets",
			 "XDP program under BPF_PROG_TEST_RUN; runt frames refused by the kernel",
			 env.cases, (size_t)n, rc == 0);
	free(tests);
	sy_corpus_free(env.cases, (size_t)n);
	return rc;
}
