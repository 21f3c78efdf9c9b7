/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The packet corpus of tests/packets/gen_corpus.py, shared by the tests that
 * replay it: tests/packets/test_lb_packets.c (DPDK path, sy_lb_process())
 * and tests/bpf/test_xdp_lb_packets.c (XDP path, BPF_PROG_TEST_RUN).
 *
 * One case per line: `name verdict counter in_hex out_hex [after]` (see
 * gen_corpus.py); `after`: the case runs after the one before it, in the
 * state it left (connection tracking, remembered first fragments), where
 * every other case starts from empty state. Besides loading, this module holds what both tests predict
 * from a case on their own, independently of the code under test: the
 * input's 5-tuple, the exact change of the counters of the packet path, and
 * which backend a forwarded packet must reach.
 */
#ifndef SY_TESTS_CORPUS_H
#define SY_TESTS_CORPUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <switchyard/counters.h>
#include <switchyard/region.h>

/* The corpus verdicts, with the values of enum sy_verdict (switchyard/pkt_frame.h). */
enum sy_corpus_verdict {
	SY_CORPUS_TX = 0,
	SY_CORPUS_KERNEL = 1,
	SY_CORPUS_DROP = 2,
};

struct sy_corpus_case {
	char *name;
	int line;
	enum sy_corpus_verdict verdict;
	int counter; /* enum sy_counter, or -1 for '-' */
	bool after;  /* runs in the state the case before it left */
	uint8_t *in, *out;
	uint32_t in_len, out_len;
};

/* Exported counter names, by index (counters.h). */
extern const char *const sy_corpus_counter_names[SY_C__COUNT];

/* Returns the number of cases (*cases to free with sy_corpus_free), or -1
 * after printing what is wrong to stderr. */
long sy_corpus_load(const char *path, struct sy_corpus_case **cases);
void sy_corpus_free(struct sy_corpus_case *cases, size_t n);

/* Print the corpus run's RELIABILITY rows (docs/reliability.md): what was
 * forwarded, passed to the kernel, dropped as spoofed tunnel input or as
 * malformed, with the test's verdict (passed: every case held). */
void sy_corpus_report(const char *test, const char *path, const struct sy_corpus_case *cases,
		      size_t n, bool passed);

/* An independent reading of an input frame. */
struct sy_corpus_tuple {
	uint8_t family, proto;
	bool frag, icmp_err;
	bool frag_first; /* a first fragment with its TCP/UDP header: ports in key */
	struct sy_flow_key key; /* as the flow hash defines it (ports 0 for later fragments) */
};

/* Offset of the L3 header and its ethertype (after up to two VLAN tags), or -1. */
int sy_corpus_l2_skip(const uint8_t *d, uint32_t len, uint16_t *et);

/* 0, or -1 for what is not a well-formed IP packet. */
int sy_corpus_read_tuple(const uint8_t *d, uint32_t len, struct sy_corpus_tuple *t);

/* Cases whose expectations depend on the input's tuple. */
bool sy_corpus_needs_tuple(int counter);

/* The exact change of the packet path's counters for a case, with empty
 * connection tracking (an `after` case: with the state its sequence left):
 * the case's counter, plus what the packet path counts on the way (the
 * selection: ct_new, ct_hits, fragments or icmp_to_backend; and forwarded
 * for what went to a backend). I/O counters (rx, tx, to_kernel)
 * are not included: they belong to the loop around the packet path. */
void sy_corpus_expected_delta(const struct sy_corpus_case *c, const struct sy_corpus_tuple *t,
			      uint64_t exp[SY_C__COUNT]);

/* Whether out (a forwarded packet or fragment) goes to the backend the C
 * library selects for the input's tuple (sy_service_pick of its flow hash):
 * 0, or -1 with the reason in why. */
int sy_corpus_check_backend(const uint8_t *base, const struct sy_snapshot *snap,
			    const struct sy_corpus_tuple *t, const uint8_t *out, uint32_t out_len,
			    char *why, size_t whylen);

#endif
