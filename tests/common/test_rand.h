/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Reproducible pseudo-random numbers for the tests that make their own
 * inputs (flows, frames, backends): the same sequence on every run, so
 * that a failure comes back when the test runs again. Each test keeps its
 * own state (its sequence is its own, whatever other tests draw), e.g.
 *
 *   static uint64_t rng = SY_TEST_RNG_SEED;
 *   static uint32_t rnd(void) { return sy_test_rnd(&rng); }
 *
 *   sy_test_rnd         xorshift64 (13, 7, 17), bits 16..47 of the state
 *                       (test_encap_tmpl, test_pkt_parse_fast,
 *                       test_xdp_vs_dpdk, from SY_TEST_RNG_SEED)
 *   sy_test_splitmix64  splitmix64, 64 bits (test_maglev, test_flow_hash,
 *                       test_flow_hash_bpf, a seed per test case)
 *
 * Header only: include it with test_common_dep.
 */
#ifndef SY_TESTS_RAND_H
#define SY_TESTS_RAND_H

#include <stdint.h>

#define SY_TEST_RNG_SEED 0x9e3779b97f4a7c15ull

static inline uint32_t sy_test_rnd(uint64_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return (uint32_t)(*state >> 16);
}

static inline uint64_t sy_test_splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

#endif
