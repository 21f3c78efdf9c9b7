/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The flow hash (include/switchyard/flow_hash.h) must give the same value in
 * the XDP program as in the DPDK dataplane and syctl. This test loads
 * flow_hash_test.bpf.c, runs it with BPF_PROG_TEST_RUN on random keys and on
 * pinned vectors, and compares every result with userspace sy_flow_hash().
 *
 * Needs root (CAP_BPF + CAP_PERFMON or CAP_SYS_ADMIN). It fails, never skips,
 * when the program cannot be loaded: a skipped check would hide a BPF build
 * that hashes differently.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <switchyard/flow_hash.h>
#include "flow_hash_test.skel.h"
#include "test_rand.h"

#define RANDOM_KEYS 10000

/* The program's input "packet": a key followed by the seed. */
struct fh_input {
	struct sy_flow_key key;
	uint32_t seed;
};
_Static_assert(sizeof(struct fh_input) == sizeof(struct sy_flow_key) + 4,
	       "fh_input must have no padding");

static struct flow_hash_test *skel;

static int load_prog(void **state)
{
	(void)state;
	skel = flow_hash_test__open_and_load();
	if (!skel) {
		int err = errno;

		print_error("cannot load flow_hash_test.bpf.o: %s (errno %d)\n"
			    "This test needs root (CAP_BPF + CAP_PERFMON, or "
			    "CAP_SYS_ADMIN) and Linux >= 5.5 (XDP test runs, "
			    "global data); libbpf's log is above.\n",
			    strerror(err), err);
		return -1;
	}
	return 0;
}

static int unload_prog(void **state)
{
	(void)state;
	flow_hash_test__destroy(skel);
	return 0;
}

/* Hash `k` with `seed` in BPF: full 5-tuple and 3-tuple (ports dropped). */
static void bpf_hash(const struct sy_flow_key *k, uint32_t seed,
		     uint32_t *full, uint32_t *frag)
{
	struct fh_input in = { .key = *k, .seed = seed };
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		.data_in = &in,
		.data_size_in = sizeof(in),
	);
	int err = bpf_prog_test_run_opts(
		bpf_program__fd(skel->progs.flow_hash_test), &opts);

	if (err)
		print_error("bpf_prog_test_run_opts: %s\n", strerror(-err));
	assert_int_equal(err, 0);
	/* XDP_PASS only once the program has written both results */
	assert_int_equal(opts.retval, XDP_PASS);
	*full = skel->bss->hash_full;
	*frag = skel->bss->hash_frag;
}

static uint64_t rng_state;

static uint64_t rng_next(void)
{
	return sy_test_splitmix64(&rng_state); /* splitmix64 with a fixed seed, so a failure reproduces */
}

static uint32_t rng32(void)
{
	return (uint32_t)(rng_next() >> 32);
}

static struct sy_flow_key make_key(const char *src, const char *dst,
				   uint16_t sport, uint16_t dport, uint8_t proto)
{
	struct sy_flow_key k;
	int v6 = strchr(src, ':') != NULL;

	memset(&k, 0, sizeof(k));
	k.family = v6 ? SY_AF_INET6 : SY_AF_INET;
	assert_int_equal(inet_pton(v6 ? AF_INET6 : AF_INET, src, k.src), 1);
	assert_int_equal(inet_pton(v6 ? AF_INET6 : AF_INET, dst, k.dst), 1);
	k.sport = htons(sport);
	k.dport = htons(dport);
	k.proto = proto;
	return k;
}

/* Pinned in userspace (the same values as tests/unit/test_flow_hash.c), so a
 * change of the hash is caught on the BPF side too. */
static const struct {
	const char *src, *dst;
	uint16_t sport, dport;
	uint8_t proto;
	uint32_t seed, full, frag;
} vectors[] = {
	{ "10.0.0.1", "192.0.2.10", 12345, 80, 6, 0,
	  0x386ff8aau, 0x4eb18c44u },
	{ "10.0.0.1", "192.0.2.10", 12345, 80, 6, 0x5eed5eedu,
	  0xbf04338fu, 0x6e06f0fdu },
	{ "198.51.100.7", "203.0.113.1", 53000, 443, 17, 1,
	  0x7cfbff70u, 0x43b129b2u },
	{ "2001:db8::1", "2001:db8:ffff::80", 40000, 443, 6, 0,
	  0x4654d6c0u, 0xb335d37fu },
	{ "2001:db8::1", "2001:db8:ffff::80", 40000, 443, 6, 0x5eed5eedu,
	  0x3e6859a3u, 0x457dbe27u },
	{ "fe80::1234:5678:9abc:def0", "ff02::fb", 5353, 5353, 17, 0xdeadbeefu,
	  0xf1cf3757u, 0x6b8bbfadu },
};

static void test_known_answers(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		struct sy_flow_key k = make_key(vectors[i].src, vectors[i].dst,
						vectors[i].sport,
						vectors[i].dport,
						vectors[i].proto);
		struct sy_flow_key k3 = k;
		uint32_t full, frag;

		sy_flow_key_drop_ports(&k3);
		bpf_hash(&k, vectors[i].seed, &full, &frag);
		print_message("%s:%u -> %s:%u proto %u seed 0x%08x: "
			      "C 0x%08x/0x%08x, BPF 0x%08x/0x%08x\n",
			      vectors[i].src, vectors[i].sport, vectors[i].dst,
			      vectors[i].dport, vectors[i].proto, vectors[i].seed,
			      sy_flow_hash(&k, vectors[i].seed),
			      sy_flow_hash(&k3, vectors[i].seed), full, frag);
		assert_int_equal(sy_flow_hash(&k, vectors[i].seed), vectors[i].full);
		assert_int_equal(sy_flow_hash(&k3, vectors[i].seed), vectors[i].frag);
		assert_int_equal(full, vectors[i].full);
		assert_int_equal(frag, vectors[i].frag);
	}
}

static void test_random_keys(void **state)
{
	(void)state;
	rng_state = 0xb4f0f10aull;
	for (int i = 0; i < RANDOM_KEYS; i++) {
		int v6 = i & 1;
		struct sy_flow_key k, k3;
		uint32_t seed, full, frag, c_full, c_frag;

		memset(&k, 0, sizeof(k)); /* IPv4: upper address words stay 0 */
		k.family = v6 ? SY_AF_INET6 : SY_AF_INET;
		for (int w = 0; w < (v6 ? 4 : 1); w++) {
			k.src[w] = rng32();
			k.dst[w] = rng32();
		}
		k.sport = (uint16_t)rng32();
		k.dport = (uint16_t)rng32();
		k.proto = (rng32() & 1) ? 6 : 17;
		seed = rng32();

		k3 = k;
		sy_flow_key_drop_ports(&k3);
		c_full = sy_flow_hash(&k, seed);
		c_frag = sy_flow_hash(&k3, seed);
		bpf_hash(&k, seed, &full, &frag);
		if (full != c_full || frag != c_frag)
			print_error("key %d (IPv%d, proto %u, seed 0x%08x): "
				    "C 0x%08x/0x%08x != BPF 0x%08x/0x%08x\n",
				    i, v6 ? 6 : 4, k.proto, seed, c_full,
				    c_frag, full, frag);
		assert_int_equal(full, c_full);
		assert_int_equal(frag, c_frag);
	}
	print_message("%d random keys (half IPv4, half IPv6): BPF == C\n",
		      RANDOM_KEYS);
}

/* The program's bounds check: a packet one byte short is refused, so the
 * XDP_PASS asserted above really means "hashed". */
static void test_short_input_rejected(void **state)
{
	struct fh_input in = { 0 };
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		.data_in = &in,
		.data_size_in = sizeof(in) - 1,
	);

	(void)state;
	assert_int_equal(bpf_prog_test_run_opts(
		bpf_program__fd(skel->progs.flow_hash_test), &opts), 0);
	assert_int_equal(opts.retval, XDP_ABORTED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_answers),
		cmocka_unit_test(test_random_keys),
		cmocka_unit_test(test_short_input_rejected),
	};

	return cmocka_run_group_tests_name("bpf_flow_hash", tests, load_prog,
					   unload_prog);
}
