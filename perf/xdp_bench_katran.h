/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The peer row of perf/xdp_bench.c: Katran's XDP balancer
 * (katran/lib/bpf/balancer.bpf.c of a Katran checkout given by path),
 * compiled with clang -target bpf and its default features into the build
 * directory at run time (nothing of Katran is part of our tree), loaded
 * with libbpf and given the benchmark's service through its own maps: the
 * same VIP, the same reals and the same consistent-hash ring (our Maglev
 * table, entry for entry), ipip encapsulation.
 *
 * Katran's map layouts are its ABI; the few structs we write are declared
 * in xdp_bench_katran.c and checked against the sizes of the loaded maps,
 * so a checkout whose layout differs fails with a clear message.
 */
#ifndef SY_PERF_XDP_BENCH_KATRAN_H
#define SY_PERF_XDP_BENCH_KATRAN_H

#include <stddef.h>
#include <stdint.h>

struct katran_bench;

/* The service to mirror: one IPv4 VIP, its reals and its ring. */
struct katran_service {
	uint32_t vip;             /* wire order */
	uint16_t port;            /* wire order */
	uint8_t proto;
	uint32_t n_reals;
	const uint32_t *reals;    /* wire-order IPv4 addresses, [n_reals] */
	uint32_t ring_size;       /* must be Katran's RING_SIZE */
	const uint32_t *ring;     /* [ring_size] index into reals, >= n_reals = none */
	uint8_t next_hop_mac[6];
	uint32_t lru_flows;       /* entries of each CPU's connection table */
};

/* What a round did, from Katran's own counters (summed over CPUs). */
struct katran_counters {
	uint64_t lru_misses; /* VIP packets not found in the connection table */
	uint64_t tx;         /* XDP_TX verdicts */
	uint64_t pass;       /* XDP_PASS verdicts */
};

/* Compile <checkout>/katran/lib/bpf/balancer.bpf.c with `clang` into
 * out_dir (created), load it and configure svc. 0, or -1 with err. */
int katran_bench_open(struct katran_bench **out, const char *checkout, const char *out_dir,
		      const char *clang, const char *multiarch_inc,
		      const struct katran_service *svc, char *err, size_t errlen);

int katran_bench_prog_fd(const struct katran_bench *k);

/* xlated instructions and jited bytes of the loaded program. */
void katran_bench_prog_size(const struct katran_bench *k, uint32_t *insns, uint32_t *jited);

int katran_bench_counters(const struct katran_bench *k, struct katran_counters *c);

/* Whether CPU cpu's connection table holds the IPv4 flow
 * saddr:sport -> daddr:dport (all wire order). */
int katran_bench_tracked(const struct katran_bench *k, int cpu, uint32_t saddr, uint16_t sport,
			 uint32_t daddr, uint16_t dport, uint8_t proto);

void katran_bench_close(struct katran_bench *k);

#endif
