/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Maglev table builder (lib/maglev.c): fleet consistency, balance, weights,
 * loads within [floor, ceil] of the exact share, draining, disruption on
 * backend changes, equality with an independent reference of the fill, pinned
 * answers for a fixed set (from the Python model), edge cases and errors.
 * Every test uses a fixed PRNG seed and nothing asserts on timing; figures
 * quoted in notes are printed with print_message.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <switchyard/flow_hash.h>
#include <switchyard/maglev.h>

#include "maglev_bench_set.h"
#include "test_rand.h"

#define M_DEFAULT 65537u

/* ---- helpers ------------------------------------------------------------ */

static uint64_t rng_state;

static uint64_t rng_next(void)
{
	return sy_test_splitmix64(&rng_state); /* splitmix64 */
}

static uint32_t rng32(void)
{
	return (uint32_t)(rng_next() >> 32);
}

static uint32_t rng_below(uint32_t n)
{
	return (uint32_t)(rng_next() % n);
}

static int id_taken(const struct sy_maglev_backend *b, uint32_t n,
		    const struct sy_backend_id *id)
{
	for (uint32_t i = 0; i < n; i++)
		if (sy_backend_id_cmp(&b[i].id, id) == 0)
			return 1;
	return 0;
}

/* A random backend identity, distinct from b[0..n-1]; IPv4 or IPv6. */
static struct sy_backend_id random_id(const struct sy_maglev_backend *b,
				      uint32_t n, int v6)
{
	struct sy_backend_id id;

	do {
		memset(&id, 0, sizeof(id));
		id.family = v6 ? SY_AF_INET6 : SY_AF_INET;
		id.port = (uint16_t)(1024 + rng_below(64000));
		for (int i = 0; i < (v6 ? 4 : 1); i++)
			id.addr[i] = rng32();
	} while (id_taken(b, n, &id));
	return id;
}

/* n distinct backends, mixed families, weight w (or random 0..5 if w < 0). */
static struct sy_maglev_backend *make_set(uint32_t n, int w)
{
	struct sy_maglev_backend *b = calloc(n ? n : 1, sizeof(*b));

	assert_non_null(b);
	for (uint32_t i = 0; i < n; i++) {
		b[i].id = random_id(b, i, (int)(rng32() & 1));
		b[i].weight = w < 0 ? rng_below(6) : (uint32_t)w;
	}
	return b;
}

static uint32_t *build_ok(const struct sy_maglev_backend *b, uint32_t n, uint32_t m)
{
	char err[256] = "";
	uint32_t *t = malloc(sizeof(*t) * m);

	assert_non_null(t);
	if (sy_maglev_build(b, n, m, t, err, sizeof(err)) != 0) {
		print_message("unexpected build failure: %s\n", err);
		fail();
	}
	return t;
}

/* Entries owned by each backend; returns the number of SY_MAGLEV_NONE. */
static uint32_t count_owners(const uint32_t *t, uint32_t m, uint32_t n,
			     uint32_t *cnt)
{
	uint32_t none = 0;

	memset(cnt, 0, sizeof(*cnt) * (n ? n : 1));
	for (uint32_t s = 0; s < m; s++) {
		if (t[s] == SY_MAGLEV_NONE) {
			none++;
			continue;
		}
		assert_true(t[s] < n);
		cnt[t[s]]++;
	}
	return none;
}

/* Do entry s of two tables (over possibly different arrays) name the same
 * backend identity? */
static int same_owner(const struct sy_maglev_backend *ba, uint32_t va,
		      const struct sy_maglev_backend *bb, uint32_t vb)
{
	if (va == SY_MAGLEV_NONE || vb == SY_MAGLEV_NONE)
		return va == vb;
	return sy_backend_id_cmp(&ba[va].id, &bb[vb].id) == 0;
}

static uint32_t entries_changed(const struct sy_maglev_backend *ba,
				const uint32_t *ta,
				const struct sy_maglev_backend *bb,
				const uint32_t *tb, uint32_t m)
{
	uint32_t changed = 0;

	for (uint32_t s = 0; s < m; s++)
		if (!same_owner(ba, ta[s], bb, tb[s]))
			changed++;
	return changed;
}

static void shuffle(struct sy_maglev_backend *b, uint32_t n)
{
	for (uint32_t i = n; i > 1; i--) {
		uint32_t j = rng_below(i);
		struct sy_maglev_backend x = b[i - 1];

		b[i - 1] = b[j];
		b[j] = x;
	}
}

/* ---- fleet consistency -------------------------------------------------- */

#define FLEET_N 100u
#define FLEET_ORDERS 20

static void test_fleet_consistency(void **state)
{
	struct sy_maglev_backend *canon, *b;
	uint32_t *tc, *cnt, none, draining = 0;
	uint64_t dc;

	(void)state;
	rng_state = 0x5eedf1ee7ull;
	canon = make_set(FLEET_N, -1);
	sy_maglev_sort(canon, FLEET_N);
	tc = build_ok(canon, FLEET_N, M_DEFAULT);
	dc = sy_maglev_digest(canon, FLEET_N, M_DEFAULT, tc);
	cnt = calloc(FLEET_N, sizeof(*cnt));
	assert_non_null(cnt);
	none = count_owners(tc, M_DEFAULT, FLEET_N, cnt);
	assert_int_equal(none, 0);
	for (uint32_t i = 0; i < FLEET_N; i++) {
		if (canon[i].weight == 0) {
			draining++;
			assert_int_equal(cnt[i], 0);
		} else {
			assert_true(cnt[i] > 0);
		}
	}

	b = malloc(sizeof(*b) * FLEET_N);
	assert_non_null(b);
	for (int o = 0; o < FLEET_ORDERS; o++) {
		uint32_t *t;

		memcpy(b, canon, sizeof(*b) * FLEET_N);
		shuffle(b, FLEET_N);
		t = build_ok(b, FLEET_N, M_DEFAULT);
		/* Same ownership through identities. */
		assert_int_equal(entries_changed(canon, tc, b, t, M_DEFAULT), 0);
		/* The digest does not depend on the caller's order. */
		assert_true(sy_maglev_digest(b, FLEET_N, M_DEFAULT, t) == dc);
		free(t);
		/* Canonically sorted: byte-identical raw tables. */
		sy_maglev_sort(b, FLEET_N);
		assert_memory_equal(b, canon, sizeof(*b) * FLEET_N);
		t = build_ok(b, FLEET_N, M_DEFAULT);
		assert_int_equal(memcmp(t, tc, sizeof(*t) * M_DEFAULT), 0);
		free(t);
	}
	/* The digest does notice a change of ownership or of weight. */
	{
		uint32_t save = tc[0];

		tc[0] = (tc[0] + 1) % FLEET_N;
		assert_true(sy_maglev_digest(canon, FLEET_N, M_DEFAULT, tc) != dc);
		tc[0] = save;
		canon[3].weight ^= 1;
		assert_true(sy_maglev_digest(canon, FLEET_N, M_DEFAULT, tc) != dc);
		canon[3].weight ^= 1;
	}
	print_message("fleet: %u backends (weights 0..5, %u draining), M=%u, "
		      "%d orders: identical ownership, identical sorted tables, "
		      "digest 0x%016llx for all\n",
		      FLEET_N, draining, M_DEFAULT, FLEET_ORDERS,
		      (unsigned long long)dc);
	free(b);
	free(cnt);
	free(tc);
	free(canon);
}

/* ---- balance ------------------------------------------------------------ */

static void test_balance_equal_weights(void **state)
{
	static const uint32_t ns[] = { 3, 10, 100, 1000 };

	(void)state;
	rng_state = 0xba1a9ceull;
	for (size_t k = 0; k < sizeof(ns) / sizeof(ns[0]); k++) {
		uint32_t n = ns[k], mn = UINT32_MAX, mx = 0;
		struct sy_maglev_backend *b = make_set(n, 1);
		uint32_t *t = build_ok(b, n, M_DEFAULT);
		uint32_t *cnt = calloc(n, sizeof(*cnt));
		double ratio;

		assert_non_null(cnt);
		assert_int_equal(count_owners(t, M_DEFAULT, n, cnt), 0);
		for (uint32_t i = 0; i < n; i++) {
			if (cnt[i] < mn)
				mn = cnt[i];
			if (cnt[i] > mx)
				mx = cnt[i];
		}
		assert_true(mn > 0);
		ratio = (double)mx / mn;
		print_message("balance N=%-4u M=%u: min %u max %u entries, "
			      "max/min = %.4f (limit 1.02)\n",
			      n, M_DEFAULT, mn, mx, ratio);
		assert_true(ratio <= 1.02);
		free(cnt);
		free(t);
		free(b);
	}
}

/* ---- weights ------------------------------------------------------------ */

static void test_weights_two_to_one(void **state)
{
	const uint32_t n = 10;
	struct sy_maglev_backend *b;
	uint32_t *t, cnt[10];
	uint32_t min2 = UINT32_MAX, max2 = 0, min1 = UINT32_MAX, max1 = 0;
	uint64_t sum2 = 0, sum1 = 0;
	double avg_ratio, worst_lo, worst_hi;

	(void)state;
	rng_state = 0x3e1947ull;
	b = make_set(n, 1);
	for (uint32_t i = 0; i < n; i++)
		b[i].weight = (i % 2) ? 2 : 1; /* interleaved: 5 of each */
	t = build_ok(b, n, M_DEFAULT);
	assert_int_equal(count_owners(t, M_DEFAULT, n, cnt), 0);
	for (uint32_t i = 0; i < n; i++) {
		if (b[i].weight == 2) {
			sum2 += cnt[i];
			min2 = cnt[i] < min2 ? cnt[i] : min2;
			max2 = cnt[i] > max2 ? cnt[i] : max2;
		} else {
			sum1 += cnt[i];
			min1 = cnt[i] < min1 ? cnt[i] : min1;
			max1 = cnt[i] > max1 ? cnt[i] : max1;
		}
	}
	avg_ratio = ((double)sum2 / 5) / ((double)sum1 / 5);
	/* Every (weight-2, weight-1) pair, through the extremes. */
	worst_lo = (double)min2 / max1;
	worst_hi = (double)max2 / min1;
	print_message("weights 2:1 (5+5 backends, M=%u): weight-2 owns %u..%u, "
		      "weight-1 owns %u..%u; average ratio %.4f, per-backend "
		      "ratios %.4f..%.4f (limit 2 +-1%%)\n",
		      M_DEFAULT, min2, max2, min1, max1, avg_ratio, worst_lo,
		      worst_hi);
	assert_true(avg_ratio >= 1.98 && avg_ratio <= 2.02);
	assert_true(worst_lo >= 1.98 && worst_hi <= 2.02);
	free(t);
	free(b);
}

static void test_weights_proportional(void **state)
{
	const uint32_t n = 50;
	struct sy_maglev_backend *b;
	uint32_t *t, cnt[50], wsum = 0;
	double worst = 0;

	(void)state;
	rng_state = 0x9e19b75ull;
	b = make_set(n, 1);
	for (uint32_t i = 0; i < n; i++) {
		b[i].weight = 1 + i % 5;
		wsum += b[i].weight;
	}
	t = build_ok(b, n, M_DEFAULT);
	assert_int_equal(count_owners(t, M_DEFAULT, n, cnt), 0);
	for (uint32_t i = 0; i < n; i++) {
		double ideal = (double)M_DEFAULT * b[i].weight / wsum;
		double dev = (cnt[i] - ideal) / ideal;

		if (dev < 0)
			dev = -dev;
		if (dev > worst)
			worst = dev;
	}
	print_message("weights 1..5 (50 backends, M=%u): worst deviation from "
		      "the proportional share %.3f%% (limit 1%%)\n",
		      M_DEFAULT, worst * 100);
	assert_true(worst <= 0.01);
	free(t);
	free(b);
}

/* ---- draining ----------------------------------------------------------- */

static void test_weight_zero_draining(void **state)
{
	const uint32_t n = 10;
	struct sy_maglev_backend *b;
	uint32_t *t, cnt[10];

	(void)state;
	rng_state = 0xd7a1ull;
	b = make_set(n, 3);
	b[0].weight = 0;
	b[4].weight = 0;
	b[9].weight = 0;
	t = build_ok(b, n, M_DEFAULT);
	assert_int_equal(count_owners(t, M_DEFAULT, n, cnt), 0);
	for (uint32_t i = 0; i < n; i++) {
		if (b[i].weight == 0)
			assert_int_equal(cnt[i], 0);
		else
			assert_true(cnt[i] > 0);
	}
	/* Draining a backend is, for ownership, the same as removing it. */
	{
		struct sy_maglev_backend live[10];
		uint32_t nlive = 0, *t2;

		for (uint32_t i = 0; i < n; i++)
			if (b[i].weight)
				live[nlive++] = b[i];
		t2 = build_ok(live, nlive, M_DEFAULT);
		assert_int_equal(entries_changed(b, t, live, t2, M_DEFAULT), 0);
		free(t2);
	}
	print_message("draining: 3 of 10 backends at weight 0 own 0 entries; "
		      "ownership identical to the set without them\n");
	free(t);

	for (uint32_t i = 0; i < n; i++)
		b[i].weight = 0;
	t = build_ok(b, n, M_DEFAULT);
	for (uint32_t s = 0; s < M_DEFAULT; s++)
		assert_int_equal(t[s], SY_MAGLEV_NONE);
	free(t);
	free(b);
}

/* ---- minimal disruption ------------------------------------------------- */

/*
 * Disruption is near-minimal, not minimal: when a backend leaves (or joins),
 * the entries it owned (or takes) move, and the changed fill also moves some
 * entries between the remaining backends. How many depends on M/N. The quota
 * fill keeps this below Maglev's: measured over random sets of N=100 equal
 * backends (changed entries / entries of the backend removed or added),
 *   M=65537:  mean 1.28 (remove) and 1.30 (add), max 1.43; Maglev's fill
 *             (the builder before this one): mean 1.56, up to 1.69;
 *   M=655373: about 1.09 (Maglev 1.14).
 * Both table sizes are held to the 1.5x of the requirement on the fixed seeds
 * below; an unstable fill order or a broken permutation moves most of the
 * table.
 */
#define DISRUPT_N 100u

static const struct {
	uint32_t m;
	double limit;
} disrupt_cases[] = {
	{ 65537, 1.5 },
	{ 655373, 1.5 },
};

static void test_disruption_remove(void **state)
{
	static const uint32_t victims[] = { 0, 17, 42, 63, 99 };
	struct sy_maglev_backend *b, *b2;
	uint32_t cnt[DISRUPT_N];

	(void)state;
	rng_state = 0xd15ea5eull;
	b = make_set(DISRUPT_N, 1);
	b2 = malloc(sizeof(*b2) * DISRUPT_N);
	assert_non_null(b2);
	for (size_t c = 0; c < sizeof(disrupt_cases) / sizeof(disrupt_cases[0]); c++) {
		const uint32_t m = disrupt_cases[c].m;
		const double limit = disrupt_cases[c].limit;
		uint32_t *t = build_ok(b, DISRUPT_N, m);
		double worst = 0, sum = 0;

		assert_int_equal(count_owners(t, m, DISRUPT_N, cnt), 0);
		for (size_t v = 0; v < sizeof(victims) / sizeof(victims[0]); v++) {
			uint32_t k = victims[v], *t2, changed;
			double ratio;

			/* Remove b[k]: later indices shift down by one. */
			memcpy(b2, b, sizeof(*b) * k);
			memcpy(b2 + k, b + k + 1, sizeof(*b) * (DISRUPT_N - 1 - k));
			t2 = build_ok(b2, DISRUPT_N - 1, m);
			changed = entries_changed(b, t, b2, t2, m);
			/* Every entry of the removed backend must move. */
			assert_true(changed >= cnt[k]);
			ratio = (double)changed / cnt[k];
			print_message("remove 1 of %u (M=%u, backend #%u): it owned %u, "
				      "%u entries changed, ratio %.4f (limit %.2f)\n",
				      DISRUPT_N, m, k, cnt[k], changed, ratio, limit);
			assert_true(ratio <= limit);
			sum += ratio;
			if (ratio > worst)
				worst = ratio;
			free(t2);
		}
		print_message("remove, M=%u: mean ratio %.4f, worst %.4f\n", m,
			      sum / (sizeof(victims) / sizeof(victims[0])), worst);
		free(t);
	}
	free(b2);
	free(b);
}

static void test_disruption_add(void **state)
{
	struct sy_maglev_backend *b, *b2;
	uint32_t cnt[DISRUPT_N + 1];

	(void)state;
	rng_state = 0xadd0e5ull;
	b = make_set(DISRUPT_N + 1, 1);
	b2 = malloc(sizeof(*b2) * (DISRUPT_N + 1));
	assert_non_null(b2);
	for (size_t c = 0; c < sizeof(disrupt_cases) / sizeof(disrupt_cases[0]); c++) {
		const uint32_t m = disrupt_cases[c].m;
		const double limit = disrupt_cases[c].limit;
		uint32_t *t = build_ok(b, DISRUPT_N, m);
		double worst = 0, sum = 0;

		for (int trial = 0; trial < 5; trial++) {
			uint32_t *t2, changed, pos = rng_below(DISRUPT_N + 1);
			double ratio;

			/* Insert a fresh backend at a random position. */
			b[DISRUPT_N].id = random_id(b, DISRUPT_N, trial & 1);
			memcpy(b2, b, sizeof(*b) * pos);
			b2[pos] = b[DISRUPT_N];
			memcpy(b2 + pos + 1, b + pos, sizeof(*b) * (DISRUPT_N - pos));
			t2 = build_ok(b2, DISRUPT_N + 1, m);
			assert_int_equal(count_owners(t2, m, DISRUPT_N + 1, cnt), 0);
			changed = entries_changed(b, t, b2, t2, m);
			assert_true(changed >= cnt[pos]);
			ratio = (double)changed / cnt[pos];
			print_message("add 1 to %u (M=%u, IPv%d): new share %u, "
				      "%u entries changed, ratio %.4f (limit %.2f)\n",
				      DISRUPT_N, m, (trial & 1) ? 6 : 4, cnt[pos],
				      changed, ratio, limit);
			assert_true(ratio <= limit);
			sum += ratio;
			if (ratio > worst)
				worst = ratio;
			free(t2);
		}
		print_message("add, M=%u: mean ratio %.4f, worst %.4f\n", m,
			      sum / (5), worst);
		free(t);
	}
	free(b2);
	free(b);
}

/* ---- reference and pinned answers ---------------------------------------- */

/* Seeds of the identity hashes, copied from lib/maglev.c: they are part of
 * the fleet contract (a change reshuffles every table), so the test pins them
 * through the reference below and the pinned digest. */
#define REF_SEED_OFFSET 0x4d61676cu
#define REF_SEED_SKIP 0x65763136u

/* The fill of include/switchyard/maglev.h written out independently of
 * lib/maglev.c, for b[] in canonical order: rounds scanned one by one (no
 * heap, no equal-weight shortcut); in round r a backend of weight w has a turn
 * iff floor((r+1)w/maxw) > floor(rw/maxw), which is the same as its k-th turn
 * being in round ceil(k*maxw/w)-1; its j-th probe (j >= 0) looks at slot
 * offset + j*skip mod M. */
static void reference_fill(const struct sy_maglev_backend *b, uint32_t n,
			   uint32_t m, uint32_t *entry)
{
	uint32_t *offset = malloc(sizeof(uint32_t) * (n + 1));
	uint32_t *skip = malloc(sizeof(uint32_t) * (n + 1));
	uint32_t *load = calloc(n + 1, sizeof(uint32_t));
	uint64_t *probe = calloc(n + 1, sizeof(uint64_t));
	uint64_t *lo = malloc(sizeof(uint64_t) * (n + 1));
	uint64_t *hi = malloc(sizeof(uint64_t) * (n + 1));
	char *out = calloc(n + 1, 1);
	uint64_t wsum = 0, tokens = m;
	uint32_t maxw = 0, filled = 0;

	assert_true(offset && skip && load && probe && lo && hi && out);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t w[6] = { b[i].id.family, b[i].id.addr[0], b[i].id.addr[1],
				  b[i].id.addr[2], b[i].id.addr[3], b[i].id.port };

		offset[i] = sy_jhash_words(w, 6, REF_SEED_OFFSET) % m;
		skip[i] = sy_jhash_words(w, 6, REF_SEED_SKIP) % (m - 1) + 1;
		wsum += b[i].weight;
		maxw = b[i].weight > maxw ? b[i].weight : maxw;
	}
	for (uint32_t i = 0; i < n; i++) {
		lo[i] = wsum ? (uint64_t)m * b[i].weight / wsum : 0;
		hi[i] = lo[i] + (wsum && (uint64_t)m * b[i].weight % wsum != 0);
		tokens -= lo[i];
		out[i] = b[i].weight == 0;
	}
	for (uint32_t s = 0; s < m; s++)
		entry[s] = SY_MAGLEV_NONE;
	for (uint64_t r = 0; maxw && filled < m; r++) {
		for (uint32_t i = 0; i < n; i++) {
			uint32_t c;

			if (out[i] || (r + 1) * b[i].weight / maxw == r * b[i].weight / maxw)
				continue;
			c = (uint32_t)((offset[i] + skip[i] * probe[i]++) % m);
			if (entry[c] == SY_MAGLEV_NONE) {
				if (load[i] < lo[i]) {
					entry[c] = i;
					load[i]++;
					filled++;
				} else if (load[i] < hi[i] && tokens > 0) {
					entry[c] = i;
					load[i]++;
					filled++;
					tokens--;
				}
			}
			/* Out of the rotation: at the ceiling, or at the floor
			 * with the shared pool used up. */
			if (load[i] == hi[i] || (load[i] == lo[i] && tokens == 0))
				out[i] = 1;
		}
	}
	free(out);
	free(hi);
	free(lo);
	free(probe);
	free(load);
	free(skip);
	free(offset);
}

/* make_set's weight argument, plus a kind for weights up to the maximum. */
#define W_WIDE (-2) /* random 1..SY_MAGLEV_MAX_WEIGHT */

static struct sy_maglev_backend *make_weighted_set(uint32_t n, int w)
{
	struct sy_maglev_backend *b = make_set(n, w == W_WIDE ? 1 : w);

	if (w == W_WIDE)
		for (uint32_t i = 0; i < n; i++)
			b[i].weight = 1 + rng_below(SY_MAGLEV_MAX_WEIGHT);
	return b;
}

static const char *weights_name(int w)
{
	return w == W_WIDE ? "1..65535" : w < 0 ? "0..5" : "equal";
}

static void test_matches_reference(void **state)
{
	static const uint32_t ms[] = { 251, 65537 };
	static const uint32_t ns[] = { 1, 7, 100, 300 };
	static const int ws[] = { 3, -1, W_WIDE };

	(void)state;
	rng_state = 0x7e47b00cull;
	for (size_t i = 0; i < sizeof(ms) / sizeof(ms[0]); i++) {
		for (size_t j = 0; j < sizeof(ns) / sizeof(ns[0]); j++) {
			for (size_t k = 0; k < sizeof(ws) / sizeof(ws[0]); k++) {
				struct sy_maglev_backend *b = make_weighted_set(ns[j], ws[k]);
				uint32_t *ref = malloc(sizeof(*ref) * ms[i]), *t;

				assert_non_null(ref);
				sy_maglev_sort(b, ns[j]);
				t = build_ok(b, ns[j], ms[i]);
				reference_fill(b, ns[j], ms[i], ref);
				if (memcmp(t, ref, sizeof(*t) * ms[i]) != 0) {
					print_message("M=%u N=%u weights %s: table differs "
						      "from the reference\n", ms[i], ns[j],
						      weights_name(ws[k]));
					fail();
				}
				free(t);
				free(ref);
				free(b);
			}
		}
	}
	print_message("table == independent reference of the fill for M in {251, "
		      "65537} x N in {1, 7, 100, 300} x weights {equal, 0..5, "
		      "1..65535}\n");
}

static void expect_reference(const struct sy_maglev_backend *b, uint32_t n,
			     uint32_t m, const char *what)
{
	uint32_t *ref = malloc(sizeof(*ref) * m), *t;

	assert_non_null(ref);
	t = build_ok(b, n, m);
	reference_fill(b, n, m, ref);
	if (memcmp(t, ref, sizeof(*t) * m) != 0) {
		print_message("%s: table differs from the reference\n", what);
		fail();
	}
	print_message("%s: table == reference\n", what);
	free(t);
	free(ref);
}

/* The ways lib/maglev_fill.c orders turns, each against the reference: more
 * backends than slots (every share below one entry: the endgame starts with
 * nearly every backend still taking), and weights whose units (weight / gcd)
 * add up to 16 per slot, where the calendar of turns ends and the heap
 * begins (one unit more). */
static void test_matches_reference_fill_ways(void **state)
{
	struct sy_maglev_backend *b;

	(void)state;
	rng_state = 0xf111a7eull;
	b = make_set(1000, 1);
	sy_maglev_sort(b, 1000);
	expect_reference(b, 1000, 251, "M=251 N=1000 equal weights");
	for (uint32_t i = 0; i < 1000; i++)
		b[i].weight = rng_below(6);
	expect_reference(b, 1000, 251, "M=251 N=1000 weights 0..5");
	free(b);

	b = make_set(8, 1);
	sy_maglev_sort(b, 8);
	for (uint32_t i = 0; i < 8; i++)
		b[i].weight = 502;
	b[0].weight = 501;
	b[7].weight = 503; /* gcd 1, 4016 units: 16 per slot */
	expect_reference(b, 8, 251, "M=251 weights 501..503, 16 units per slot");
	b[0].weight = 502; /* 4017 units */
	expect_reference(b, 8, 251, "M=251 weights 502..503, one unit more");
	free(b);
}

/* Every backend owns floor or ceil of its exact share M*w/W: the balance and
 * weight properties, exactly, for any set (including shares below one entry,
 * where a positive-weight backend may own nothing). */
static void test_loads_within_share(void **state)
{
	static const struct {
		uint32_t m, n;
		int w; /* as make_weighted_set */
	} cases[] = {
		{ 65537, 3, 1 },      { 65537, 1000, 1 },      { 65537, 5000, 1 },
		{ 65537, 100, -1 },   { 65537, 1000, W_WIDE }, { 251, 7, -1 },
		{ 251, 300, 1 },      { 251, 300, W_WIDE },    { 655373, 10000, -1 },
	};

	(void)state;
	rng_state = 0x10ad5ull;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		const uint32_t m = cases[c].m, n = cases[c].n;
		struct sy_maglev_backend *b = make_weighted_set(n, cases[c].w);
		uint32_t *t, *cnt = calloc(n, sizeof(*cnt)), empty = 0;
		uint64_t wsum = 0;

		assert_non_null(cnt);
		for (uint32_t i = 0; i < n; i++)
			wsum += b[i].weight;
		t = build_ok(b, n, m);
		assert_int_equal(count_owners(t, m, n, cnt), wsum ? 0 : m);
		for (uint32_t i = 0; i < n; i++) {
			uint64_t share = (uint64_t)m * b[i].weight;
			uint64_t lo = wsum ? share / wsum : 0;
			uint64_t hi = wsum ? (share + wsum - 1) / wsum : 0;

			if (cnt[i] < lo || cnt[i] > hi) {
				print_message("M=%u N=%u backend %u weight %u: owns %u, "
					      "share %llu..%llu\n", m, n, i, b[i].weight,
					      cnt[i], (unsigned long long)lo,
					      (unsigned long long)hi);
				fail();
			}
			empty += b[i].weight && cnt[i] == 0;
		}
		print_message("loads M=%-6u N=%-5u weights %-8s: every backend owns "
			      "floor or ceil of M*w/W (%u of positive weight own none)\n",
			      m, n, weights_name(cases[c].w), empty);
		free(cnt);
		free(t);
		free(b);
	}
}

/* Fixed backends, fixed answers: a change of the identity hashes, of their
 * seeds, of the canonical order, of the fill or of the digest changes these
 * values. Computed with the Python model of tests/packets/gen_corpus.py
 * (maglev_table, and FNV-1a over the digest's bytes), not with this builder;
 * do not update them casually: hosts on different versions would disagree. */
static void test_pinned_tables(void **state)
{
	static const struct {
		uint8_t family;
		uint8_t addr[16];
		uint16_t port;
		uint32_t weight;
	} set[] = {
		{ SY_AF_INET, { 10, 0, 0, 1 }, 80, 1 },
		{ SY_AF_INET, { 10, 0, 0, 2 }, 80, 2 },
		{ SY_AF_INET, { 192, 0, 2, 7 }, 8080, 3 },
		{ SY_AF_INET6, { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 }, 443, 1 },
		{ SY_AF_INET6, { 0x20, 0x01, 0x0d, 0xb8, [14] = 0x01, [15] = 0x02 }, 443, 0 },
	};
	enum { NSET = sizeof(set) / sizeof(set[0]) };
	static const struct {
		uint32_t m;
		uint64_t digest;
		uint32_t head[8];  /* table[0..7] */
		uint32_t owns[NSET]; /* entries per backend */
	} want[] = {
		{ 251, 0xa4f9a89e8b5c5625ull, { 0, 2, 2, 2, 2, 2, 2, 2 },
		  { 35, 72, 108, 36, 0 } },
		{ 65537, 0x81ded146f04843afull, { 0, 1, 3, 2, 2, 1, 0, 2 },
		  { 9362, 18725, 28088, 9362, 0 } },
	};
	struct sy_maglev_backend b[NSET];

	(void)state;
	memset(b, 0, sizeof(b));
	for (uint32_t i = 0; i < NSET; i++) {
		b[i].id.family = set[i].family;
		memcpy(b[i].id.addr, set[i].addr, sizeof(b[i].id.addr));
		b[i].id.port = set[i].port;
		b[i].weight = set[i].weight;
	}
	for (size_t k = 0; k < sizeof(want) / sizeof(want[0]); k++) {
		uint32_t *t = build_ok(b, NSET, want[k].m), cnt[NSET];
		uint64_t d = sy_maglev_digest(b, NSET, want[k].m, t);

		print_message("pinned: M=%u digest 0x%016llx head %u %u %u %u %u %u %u %u\n",
			      want[k].m, (unsigned long long)d, t[0], t[1], t[2],
			      t[3], t[4], t[5], t[6], t[7]);
		assert_memory_equal(t, want[k].head, sizeof(want[k].head));
		assert_int_equal(count_owners(t, want[k].m, NSET, cnt), 0);
		assert_memory_equal(cnt, want[k].owns, sizeof(cnt));
		assert_true(d == want[k].digest);
		/* pad is not part of an identity: neither ownership nor the
		 * digest may depend on it. */
		for (uint32_t i = 0; i < NSET; i++)
			b[i].id.pad = (uint8_t)(0xa5 + i);
		free(t);
		t = build_ok(b, NSET, want[k].m);
		assert_memory_equal(t, want[k].head, sizeof(want[k].head));
		assert_true(sy_maglev_digest(b, NSET, want[k].m, t) == want[k].digest);
		for (uint32_t i = 0; i < NSET; i++)
			b[i].id.pad = 0;
		free(t);
	}
}

/* ---- at the benchmark's scale -------------------------------------------- */

/* perf/maglev_bench's set (perf/maglev_bench_set.h); weight i % 5 + 1 or 1. */
static struct sy_maglev_backend *bench_set(uint32_t n, int weighted)
{
	struct sy_maglev_backend *b = calloc(n, sizeof(*b));

	assert_non_null(b);
	for (uint32_t i = 0; i < n; i++) {
		b[i].id = sy_bench_backend_id(i);
		b[i].weight = weighted ? i % 5 + 1 : 1;
	}
	return b;
}

/* The benchmark's tables, pinned: the digests were computed with the Python
 * model of tests/packets/gen_corpus.py (maglev_table, a heap of turns like
 * the builder before the turn calendar, and FNV-1a over the digest's bytes),
 * so the calendar, the two-pass rounds and the endgame give what the heap
 * gave. Given in the benchmark's order (not sorted), then sorted (which the
 * builder confirms in one pass instead of sorting). */
static void test_pinned_bench_tables(void **state)
{
	static const struct {
		int weighted;
		uint64_t digest;
		uint32_t head[8];
	} want[] = {
		{ 1, 0x71018faef8f0a0f6ull, { 553, 989, 219, 78, 878, 411, 441, 992 } },
		{ 0, 0x7cc1b58545bdf59full, { 553, 755, 485, 962, 878, 411, 441, 992 } },
	};
	const uint32_t n = 1000, m = M_DEFAULT;

	(void)state;
	for (size_t k = 0; k < sizeof(want) / sizeof(want[0]); k++) {
		struct sy_maglev_backend *b = bench_set(n, want[k].weighted);
		struct sy_maglev_backend *sorted = malloc(sizeof(*sorted) * n);
		uint32_t *t = build_ok(b, n, m), *ts;
		uint64_t d = sy_maglev_digest(b, n, m, t);

		print_message("bench set N=%u M=%u %s: digest 0x%016llx head %u %u %u "
			      "%u %u %u %u %u\n", n, m,
			      want[k].weighted ? "weights 1..5" : "equal weights",
			      (unsigned long long)d, t[0], t[1], t[2], t[3], t[4], t[5],
			      t[6], t[7]);
		assert_memory_equal(t, want[k].head, sizeof(want[k].head));
		assert_true(d == want[k].digest);
		assert_non_null(sorted);
		memcpy(sorted, b, sizeof(*b) * n);
		sy_maglev_sort(sorted, n);
		ts = build_ok(sorted, n, m);
		assert_int_equal(entries_changed(b, t, sorted, ts, m), 0);
		assert_true(sy_maglev_digest(sorted, n, m, ts) == want[k].digest);
		free(ts);
		free(t);
		free(sorted);
		free(b);
	}
}

/* Weights at scale: N=1000, weights 1..5, M=655373 (shares of 218 to 1092
 * entries): every backend within 1% of M*w/W; any order of the set gives the
 * same ownership; the same weights times 3 (a gcd the fill divides out) give
 * the same table. */
static void test_weights_at_scale(void **state)
{
	const uint32_t n = 1000, m = 655373;
	struct sy_maglev_backend *canon, *b;
	uint32_t *tc, *cnt;
	double worst = 0;
	uint64_t dc;

	(void)state;
	rng_state = 0x5ca1e5ull;
	canon = make_set(n, 1);
	for (uint32_t i = 0; i < n; i++)
		canon[i].weight = 1 + i % 5;
	tc = build_ok(canon, n, m);
	dc = sy_maglev_digest(canon, n, m, tc);
	cnt = calloc(n, sizeof(*cnt));
	assert_non_null(cnt);
	assert_int_equal(count_owners(tc, m, n, cnt), 0);
	for (uint32_t i = 0; i < n; i++) {
		double ideal = (double)m * canon[i].weight / (3.0 * n);
		double dev = (cnt[i] - ideal) / ideal;

		dev = dev < 0 ? -dev : dev;
		worst = dev > worst ? dev : worst;
	}
	print_message("weights 1..5 at scale (N=%u, M=%u): worst deviation from the "
		      "proportional share %.3f%% (limit 1%%)\n", n, m, worst * 100);
	assert_true(worst <= 0.01);

	b = malloc(sizeof(*b) * n);
	assert_non_null(b);
	for (int o = 0; o < 3; o++) {
		uint32_t *t;

		memcpy(b, canon, sizeof(*b) * n);
		shuffle(b, n);
		t = build_ok(b, n, m);
		assert_int_equal(entries_changed(canon, tc, b, t, m), 0);
		assert_true(sy_maglev_digest(b, n, m, t) == dc);
		free(t);
	}
	for (uint32_t i = 0; i < n; i++)
		b[i] = canon[i], b[i].weight *= 3;
	{
		uint32_t *t = build_ok(b, n, m);

		assert_int_equal(memcmp(t, tc, sizeof(*t) * m), 0);
		free(t);
	}
	print_message("weights 1..5 at scale: 3 shuffled orders and the weights x3 "
		      "give the same table\n");
	free(b);
	free(cnt);
	free(tc);
	free(canon);
}

/* Disruption with weights: removing one of N=100 backends of weights 1..5
 * moves about 1.3x what it owned at M=65537 (worst 1.58 over 50 random
 * removals), 1.1x at M=655373. Held to 1.75 per removal and 1.5 on average
 * on the fixed seed below. */
static void test_disruption_weighted(void **state)
{
	static const uint32_t victims[] = { 3, 28, 51, 77, 96 };
	static const uint32_t ms[] = { 65537, 655373 };
	struct sy_maglev_backend *b, *b2;
	uint32_t cnt[DISRUPT_N];

	(void)state;
	rng_state = 0x3e16b7edull;
	b = make_set(DISRUPT_N, 1);
	for (uint32_t i = 0; i < DISRUPT_N; i++)
		b[i].weight = 1 + rng_below(5);
	b2 = malloc(sizeof(*b2) * DISRUPT_N);
	assert_non_null(b2);
	for (size_t c = 0; c < sizeof(ms) / sizeof(ms[0]); c++) {
		uint32_t *t = build_ok(b, DISRUPT_N, ms[c]);
		double sum = 0, worst = 0;

		assert_int_equal(count_owners(t, ms[c], DISRUPT_N, cnt), 0);
		for (size_t v = 0; v < sizeof(victims) / sizeof(victims[0]); v++) {
			uint32_t k = victims[v], *t2, changed;
			double ratio;

			memcpy(b2, b, sizeof(*b) * k);
			memcpy(b2 + k, b + k + 1, sizeof(*b) * (DISRUPT_N - 1 - k));
			t2 = build_ok(b2, DISRUPT_N - 1, ms[c]);
			changed = entries_changed(b, t, b2, t2, ms[c]);
			assert_true(changed >= cnt[k]);
			ratio = (double)changed / cnt[k];
			print_message("remove 1 of %u weighted (M=%u, backend #%u, weight "
				      "%u): it owned %u, %u changed, ratio %.4f (limit "
				      "1.75)\n", DISRUPT_N, ms[c], k, b[k].weight, cnt[k],
				      changed, ratio);
			assert_true(ratio <= 1.75);
			sum += ratio;
			worst = ratio > worst ? ratio : worst;
			free(t2);
		}
		print_message("remove weighted, M=%u: mean ratio %.4f (limit 1.5), "
			      "worst %.4f\n", ms[c], sum / 5, worst);
		assert_true(sum / 5 <= 1.5);
		free(t);
	}
	free(b2);
	free(b);
}

/* ---- edge cases --------------------------------------------------------- */

static void test_empty_and_single(void **state)
{
	char err[128] = "";
	uint32_t *t = malloc(sizeof(*t) * M_DEFAULT);
	struct sy_maglev_backend *b;

	(void)state;
	assert_non_null(t);
	memset(t, 0x5a, sizeof(*t) * M_DEFAULT);
	assert_int_equal(sy_maglev_build(NULL, 0, M_DEFAULT, t, err, sizeof(err)), 0);
	for (uint32_t s = 0; s < M_DEFAULT; s++)
		assert_int_equal(t[s], SY_MAGLEV_NONE);

	rng_state = 0x51691eull;
	b = make_set(1, 1);
	assert_int_equal(sy_maglev_build(b, 1, M_DEFAULT, t, err, sizeof(err)), 0);
	for (uint32_t s = 0; s < M_DEFAULT; s++)
		assert_int_equal(t[s], 0);
	/* Weight does not matter for a single backend, unless it is 0. */
	b[0].weight = SY_MAGLEV_MAX_WEIGHT;
	assert_int_equal(sy_maglev_build(b, 1, M_DEFAULT, t, err, sizeof(err)), 0);
	for (uint32_t s = 0; s < M_DEFAULT; s++)
		assert_int_equal(t[s], 0);
	b[0].weight = 0;
	assert_int_equal(sy_maglev_build(b, 1, M_DEFAULT, t, err, sizeof(err)), 0);
	for (uint32_t s = 0; s < M_DEFAULT; s++)
		assert_int_equal(t[s], SY_MAGLEV_NONE);
	free(b);
	free(t);
}

/* ---- errors ------------------------------------------------------------- */

static void expect_build_error(const struct sy_maglev_backend *b, uint32_t n,
			       uint32_t m, const char *what)
{
	char err[256] = "";
	uint32_t *t = malloc(sizeof(*t) * (m && m <= SY_MAGLEV_MAX_M ? m : 1));

	assert_non_null(t);
	assert_int_equal(sy_maglev_build(b, n, m, t, err, sizeof(err)), -1);
	assert_true(err[0] != '\0');
	print_message("%-26s -> -1: \"%s\"\n", what, err);
	free(t);
}

static void test_errors_size(void **state)
{
	static const struct {
		uint32_t m;
		const char *what;
	} bad[] = {
		{ 65536, "M=65536 (not prime)" },
		{ 250, "M=250 (below 251)" },
		{ 241, "M=241 (prime, below 251)" },
		{ 0, "M=0" },
		{ 1048574, "M=1048574 (above max)" },
		{ 1048583, "M=1048583 (prime, above)" },
		{ 65535, "M=65535 (not prime)" },
	};
	static const uint32_t good[] = { 251, 1048573, 65537, 655373 };
	struct sy_maglev_backend *b;
	char err[256];

	(void)state;
	rng_state = 0xe7707ull;
	b = make_set(5, 1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(sy_maglev_check_size(bad[i].m, err, sizeof(err)), -1);
		assert_true(err[0] != '\0');
		expect_build_error(b, 5, bad[i].m, bad[i].what);
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		uint32_t *t, cnt[5];

		assert_int_equal(sy_maglev_check_size(good[i], err, sizeof(err)), 0);
		t = build_ok(b, 5, good[i]);
		assert_int_equal(count_owners(t, good[i], 5, cnt), 0);
		free(t);
	}
	free(b);
}

static void test_errors_backends(void **state)
{
	struct sy_maglev_backend *b;

	(void)state;
	rng_state = 0xbadbe11ull;
	b = make_set(8, 1);

	/* Duplicate identity, not adjacent in the caller's order, different
	 * weights. */
	b[6].id = b[1].id;
	b[6].weight = 4;
	expect_build_error(b, 8, M_DEFAULT, "duplicate identity");
	/* pad is not part of the identity */
	b[6].id.pad = 0x7f;
	expect_build_error(b, 8, M_DEFAULT, "duplicate (differs in pad)");
	/* adjacent in a sorted set (the builder does not sort it again) */
	{
		struct sy_maglev_backend sorted[8];

		memcpy(sorted, b, sizeof(sorted));
		sy_maglev_sort(sorted, 8);
		expect_build_error(sorted, 8, M_DEFAULT, "duplicate (sorted set)");
	}
	b[6].id = random_id(b, 8, 1);

	b[3].weight = SY_MAGLEV_MAX_WEIGHT + 1;
	expect_build_error(b, 8, M_DEFAULT, "weight 65536");
	b[3].weight = UINT32_MAX;
	expect_build_error(b, 8, M_DEFAULT, "weight UINT32_MAX");
	b[3].weight = SY_MAGLEV_MAX_WEIGHT;
	free(build_ok(b, 8, M_DEFAULT));

	b[5].id.family = 0;
	expect_build_error(b, 8, M_DEFAULT, "family 0");
	b[5].id.family = 2; /* AF_INET's value, not SY_AF_INET */
	expect_build_error(b, 8, M_DEFAULT, "family 2");
	b[5].id.family = 10; /* AF_INET6's value on Linux */
	expect_build_error(b, 8, M_DEFAULT, "family 10");
	b[5].id.family = SY_AF_INET6;
	free(build_ok(b, 8, M_DEFAULT));

	/* The count is checked before the set is read. */
	expect_build_error(b, SY_MAGLEV_MAX_BACKENDS + 1, M_DEFAULT,
			   "too many backends");
	free(b);
}

/* ---- large table -------------------------------------------------------- */

static void test_large_table(void **state)
{
	const uint32_t n = 1000, m = SY_MAGLEV_MAX_M;
	struct sy_maglev_backend *b;
	uint32_t *t, *cnt, mn = UINT32_MAX, mx = 0;

	(void)state;
	rng_state = 0x1a26eull;
	b = make_set(n, 1);
	t = build_ok(b, n, m);
	cnt = calloc(n, sizeof(*cnt));
	assert_non_null(cnt);
	/* count_owners asserts every entry is < n; no entry is NONE. */
	assert_int_equal(count_owners(t, m, n, cnt), 0);
	for (uint32_t i = 0; i < n; i++) {
		mn = cnt[i] < mn ? cnt[i] : mn;
		mx = cnt[i] > mx ? cnt[i] : mx;
	}
	print_message("large: M=%u N=%u: every entry a valid index; "
		      "per-backend %u..%u entries\n", m, n, mn, mx);
	free(cnt);
	free(t);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fleet_consistency),
		cmocka_unit_test(test_balance_equal_weights),
		cmocka_unit_test(test_weights_two_to_one),
		cmocka_unit_test(test_weights_proportional),
		cmocka_unit_test(test_weight_zero_draining),
		cmocka_unit_test(test_disruption_remove),
		cmocka_unit_test(test_disruption_add),
		cmocka_unit_test(test_matches_reference),
		cmocka_unit_test(test_matches_reference_fill_ways),
		cmocka_unit_test(test_loads_within_share),
		cmocka_unit_test(test_pinned_tables),
		cmocka_unit_test(test_pinned_bench_tables),
		cmocka_unit_test(test_weights_at_scale),
		cmocka_unit_test(test_disruption_weighted),
		cmocka_unit_test(test_empty_and_single),
		cmocka_unit_test(test_errors_size),
		cmocka_unit_test(test_errors_backends),
		cmocka_unit_test(test_large_table),
	};

	return cmocka_run_group_tests_name("maglev", tests, NULL, NULL);
}
