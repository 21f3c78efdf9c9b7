/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The Maglev fill: quotas, the order of turns and the probes (the contract is
 * in include/switchyard/maglev.h, the inputs in lib/maglev_fill.h). Every way
 * below gives the same table, that of turns in (round, canonical rank) order,
 * one probe each; they differ only in cost.
 *
 * Turns. With the weights divided by their gcd and P the largest of them, a
 * backend of weight w has w turns in every P consecutive rounds, in the same
 * rounds of every period: its k-th turn (k >= 1) is in round ceil(k*P/w) - 1.
 * So the order of turns is a calendar of P lists, list i holding in canonical
 * order the backends with a turn in round i mod P, read again and again; a
 * backend that may take no more entries drops out of the lists as they are
 * read. It costs one entry per unit of weight, and then a few instructions per
 * probe, with no search for whose turn it is. With equal weights it is one
 * list: round-robin. When the weights add up to far more units than the table
 * has slots (wide-ranging weights) the calendar would be mostly unread, and a
 * heap of (round, rank) turns gives the same order at a heap operation per
 * probe.
 *
 * Probes. A probe only needs to know whether a slot is still free: a bitmap
 * (8 KiB at M=65537) stays in L1 where the table (256 KiB) would not. A round
 * makes all its probes first and its claims after (calendar_rounds), so that
 * "is this slot free", a coin toss for much of the fill, is not a branch;
 * with equal weights (one list) a pass covers BATCH_ROUNDS rounds, so that a
 * backend's state is loaded once for several probes.
 *
 * Endgame. Most probes are made at the end, by the few backends still taking,
 * looking for the few slots still free (at M=65537, N=1000: 40% of them with
 * 256 slots left). There each backend's next successful probe is computed
 * instead: its j-th probe looks at pos + j*skip, so it reaches free slot s
 * after (s - pos) * skip^-1 mod M more probes; the nearest free slot gives the
 * turn, hence the round, of its next claim, and a heap of claims in (round,
 * rank) order replaces the probes in between, which would all have missed.
 */
#include <stdbool.h>
#include <stdlib.h>

#include <switchyard/maglev.h>

#include "maglev_fill.h"

/* Calendar entries allowed per table slot before the heap is used instead:
 * 64 bytes per slot, 4 MiB at the default M, 64 MiB at the largest. A build
 * makes about 10 probes per slot, so a calendar this size is still read more
 * than it is written, and beats the heap severalfold. */
#define CALENDAR_PER_SLOT 16u

/* The endgame starts when its cost, about F*(A + F/2) distance computations
 * for F free slots and A backends still taking (every backend's first look,
 * then more looks as slots are taken), is at most this many times M; the
 * probes it saves are about M*ln(F). Measured best at M=65537, N=10..10000. */
#define ENDGAME_WORK_PER_SLOT 1u

/* A backend's place in its permutation; skip 0: out of the rotation (it may
 * take no more entries). What every probe reads, apart from what only claims
 * read (struct quota), so that probes touch 8 bytes per backend. */
struct place {
	uint32_t pos;
	uint32_t skip;
};

/* A backend's quota: the entries it still takes before its floor, and
 * whether its share M*w/W is not whole (then its ceiling is one above its
 * floor, an entry from the pool); and what the table holds for it. */
struct quota {
	uint32_t need;
	uint32_t fractional;
	uint32_t index;
};

struct fill {
	uint64_t *free;  /* bit s set: slot s not taken yet */
	uint32_t *table;
	uint32_t m;
	uint32_t left;   /* slots not taken yet */
	uint32_t tokens; /* entries above the floors not taken yet (the pool) */
	uint32_t n;
	uint32_t active; /* backends in the rotation */
	uint32_t period; /* P: the largest weight over the weights' gcd */
	uint32_t *w;     /* by rank: weight over the weights' gcd */
	struct place *pr; /* by rank */
	struct quota *q;  /* by rank */
};

static inline bool slot_free(const struct fill *f, uint32_t s)
{
	return f->free[s / 64] >> (s % 64) & 1;
}

static inline uint32_t add_mod(uint32_t a, uint32_t b, uint32_t m)
{
	return a >= m - b ? a - (m - b) : a + b;
}

static bool endgame_due(const struct fill *f)
{
	return (uint64_t)f->left * (f->active + f->left / 2) <=
	       (uint64_t)ENDGAME_WORK_PER_SLOT * f->m;
}

static void leave(struct fill *f, uint32_t r)
{
	f->pr[r].skip = 0;
	f->active--;
}

/* The pool is used up: every backend at its floor leaves the rotation. */
static void pool_used_up(struct fill *f)
{
	for (uint32_t r = 0; r < f->n; r++)
		if (f->pr[r].skip && !f->q[r].need)
			leave(f, r);
}

/* Rank r takes free slot s. A backend in the rotation may always take: it
 * leaves as soon as it may not, at its ceiling (a floor with no fraction
 * above it, or one entry from the pool above it), or at its floor once the
 * pool is used up. */
static inline void take(struct fill *f, uint32_t r, uint32_t s)
{
	struct quota *q = &f->q[r];

	f->table[s] = q->index;
	f->free[s / 64] &= ~(1ull << (s % 64));
	f->left--;
	if (q->need) {
		if (--q->need == 0 && (!q->fractional || !f->tokens))
			leave(f, r);
	} else {
		leave(f, r);
		if (--f->tokens == 0)
			pool_used_up(f);
	}
}

/* Rank r's turn: one probe. It takes the slot if it is free, and moves on to
 * the next slot of its permutation either way. */
static inline void turn(struct fill *f, uint32_t r)
{
	struct place *p = &f->pr[r];
	uint32_t s = p->pos;

	p->pos = add_mod(s, p->skip, f->m);
	if (slot_free(f, s))
		take(f, r, s);
}

/* A turn in a heap is one integer: round << TURN_RANK_BITS | rank, so that
 * (round, rank) order is integer order. A backend probes at most M times (one
 * still taking after M probes has seen every slot taken), so a round is below
 * M*P < 2^40. */
#define TURN_RANK_BITS 24
#define TURN_RANK_MASK ((1u << TURN_RANK_BITS) - 1)
_Static_assert(SY_MAGLEV_MAX_BACKENDS <= 1u << TURN_RANK_BITS, "rank bits");
_Static_assert((uint64_t)(SY_MAGLEV_MAX_M + 1) * SY_MAGLEV_MAX_WEIGHT <
		       1ull << (64 - TURN_RANK_BITS), "round bits");

/* The round of rank r's turn after it has had `turns` turns. */
static uint64_t turn_round(const struct fill *f, uint32_t r, uint64_t turns)
{
	return ((turns + 1) * f->period + f->w[r] - 1) / f->w[r] - 1;
}

/* Restore the heap below `at` after h[at] was made later (or replaced). */
static void heap_sift_down(uint64_t *h, uint32_t n, uint32_t at)
{
	uint64_t x = h[at];

	for (;;) {
		uint32_t c = 2 * at + 1;

		if (c >= n)
			break;
		if (c + 1 < n && h[c + 1] < h[c])
			c++;
		if (h[c] >= x)
			break;
		h[at] = h[c];
		at = c;
	}
	h[at] = x;
}

static void heapify(uint64_t *h, uint32_t n)
{
	for (uint32_t i = n / 2; i-- > 0;)
		heap_sift_down(h, n, i);
}

/* ---- endgame ------------------------------------------------------------ */

/* Free slots each backend keeps in view: the nearest ones along its
 * permutation, so that a claim, or a slot taken by someone else, rarely
 * costs a look over all the free slots. */
#define ENDGAME_AHEAD 4

/* A free slot a backend will probe, and the number of that turn. */
struct sighting {
	uint64_t turn;
	uint32_t slot;
};

/* A backend still taking when the endgame starts. */
struct player {
	uint32_t rank;
	uint32_t inv;     /* skip^-1 mod M */
	uint64_t turns;   /* turns had so far */
	uint8_t seen;     /* sightings in view */
	uint8_t next;     /* the next of them */
	struct sighting ahead[ENDGAME_AHEAD]; /* in turn order */
};

struct endgame {
	uint32_t *slots;  /* the free slots (some taken since; dropped when seen) */
	uint32_t nslots;
	uint64_t mu;      /* floor(2^64 / M), for Barrett reduction */
	struct player *pl; /* in rank order, so that the heap can order by index */
	uint64_t *heap;   /* claims: round << TURN_RANK_BITS | player index */
	uint32_t hn;
};

/* a^-1 mod m, m prime, 0 < a < m (extended Euclid; m < 2^31). */
static uint32_t inverse_mod(uint32_t a, uint32_t m)
{
	int32_t t = 0, nt = 1;
	uint32_t r = m, nr = a;

	while (nr) {
		uint32_t q = r / nr, x = r - q * nr;
		int32_t y = t - (int32_t)q * nt;

		t = nt;
		nt = y;
		r = nr;
		nr = x;
	}
	return (uint32_t)(t < 0 ? t + (int32_t)m : t);
}

/* x mod m for x < 2^64, given mu = floor(2^64 / m). */
static inline uint32_t reduce(uint64_t x, uint64_t mu, uint32_t m)
{
	uint64_t q = (uint64_t)(((unsigned __int128)x * mu) >> 64);
	uint64_t r = x - q * m;

	return (uint32_t)(r >= m ? r - m : r);
}

/* Player p looks over the free slots from its next probe on and keeps the
 * nearest in view. Slots taken since the last look are dropped. */
static void look(struct fill *f, struct endgame *e, struct player *p)
{
	const uint32_t m = f->m, pos = f->pr[p->rank].pos, inv = p->inv;
	uint32_t dist[ENDGAME_AHEAD], slot[ENDGAME_AHEAD], n = 0, keep = 0;
	uint32_t worst = UINT32_MAX; /* the farthest in view once it is full */

	for (uint32_t k = 0; k < e->nslots; k++) {
		uint32_t s = e->slots[k], d, i;

		if (!slot_free(f, s))
			continue;
		e->slots[keep++] = s;
		/* its j-th probe from here looks at pos + j*skip: j = (s-pos)/skip */
		d = reduce((uint64_t)(s >= pos ? s - pos : s + m - pos) * inv, e->mu, m);
		if (d >= worst)
			continue;
		i = n < ENDGAME_AHEAD ? n++ : ENDGAME_AHEAD - 1;
		for (; i > 0 && dist[i - 1] > d; i--) {
			dist[i] = dist[i - 1];
			slot[i] = slot[i - 1];
		}
		dist[i] = d;
		slot[i] = s;
		if (n == ENDGAME_AHEAD)
			worst = dist[ENDGAME_AHEAD - 1];
	}
	e->nslots = keep;
	for (uint32_t i = 0; i < n; i++)
		p->ahead[i] = (struct sighting){ .turn = p->turns + dist[i], .slot = slot[i] };
	p->seen = (uint8_t)n;
	p->next = 0;
}

/* Player i's next claim: the nearest slot in view that is still free, looking
 * again when none is. Its key in the heap. The probes before it would all
 * have found their slot taken. */
static uint64_t next_claim(struct fill *f, struct endgame *e, uint32_t i)
{
	struct player *p = &e->pl[i];

	for (;;) {
		for (; p->next < p->seen; p->next++)
			if (slot_free(f, p->ahead[p->next].slot))
				return turn_round(f, p->rank, p->ahead[p->next].turn)
					       << TURN_RANK_BITS | i;
		look(f, e, p); /* finds one: a slot is free while f->left */
	}
}

/* From a point between two turns to the end: claims in (round, rank) order
 * from a heap. Rank r has had turns[r] turns, or, without turns[], all its
 * turns of the first `rounds` rounds. A claim that finds its slot taken by an
 * earlier one (the probe missed) goes on to its next. */
static int endgame(struct fill *f, const uint64_t *turns, uint64_t rounds)
{
	struct endgame e = { .mu = UINT64_MAX / f->m };
	int rc = -1;

	e.slots = malloc(sizeof(*e.slots) * f->left);
	e.pl = malloc(sizeof(*e.pl) * f->active);
	e.heap = malloc(sizeof(*e.heap) * f->active);
	if (!e.slots || !e.pl || !e.heap)
		goto out;
	for (uint32_t i = 0; i < (f->m + 63) / 64; i++)
		for (uint64_t word = f->free[i]; word; word &= word - 1)
			e.slots[e.nslots++] = i * 64 + (uint32_t)__builtin_ctzll(word);
	for (uint32_t r = 0; r < f->n; r++) {
		struct player *p = &e.pl[e.hn];

		if (!f->pr[r].skip)
			continue;
		*p = (struct player){
			.rank = r,
			.inv = inverse_mod(f->pr[r].skip, f->m),
			.turns = turns ? turns[r] : rounds * f->w[r] / f->period,
		};
		look(f, &e, p);
		e.heap[e.hn] = next_claim(f, &e, e.hn);
		e.hn++;
	}
	heapify(e.heap, e.hn);
	while (f->left && e.hn) {
		struct player *p = &e.pl[e.heap[0] & TURN_RANK_MASK];
		uint32_t r = p->rank;

		if (f->pr[r].skip) {
			const struct sighting *sg = &p->ahead[p->next++];

			p->turns = sg->turn + 1;
			f->pr[r].pos = add_mod(sg->slot, f->pr[r].skip, f->m);
			if (slot_free(f, sg->slot))
				take(f, r, sg->slot);
		}
		if (f->pr[r].skip && f->left)
			e.heap[0] = next_claim(f, &e, (uint32_t)(p - e.pl));
		else
			e.heap[0] = e.heap[--e.hn];
		heap_sift_down(e.heap, e.hn, 0);
	}
	rc = 0;
out:
	free(e.heap);
	free(e.pl);
	free(e.slots);
	return rc;
}

/* ---- calendar ----------------------------------------------------------- */

/* The rounds of the turns of a backend of weight w (1..period) within one
 * period, in order: ceil(k*period/w) - 1 for k = 1..w, kept as k*period =
 * q*w + rem so that no turn costs a division. */
struct turn_rounds {
	uint32_t w, step_q, step_rem;
	uint32_t q, rem;
};

static void turn_rounds_init(struct turn_rounds *t, uint32_t w, uint32_t period)
{
	*t = (struct turn_rounds){ .w = w, .step_q = period / w, .step_rem = period % w };
}

static inline uint32_t turn_rounds_next(struct turn_rounds *t)
{
	t->q += t->step_q;
	t->rem += t->step_rem;
	if (t->rem >= t->w) {
		t->rem -= t->w;
		t->q++;
	}
	return t->rem ? t->q : t->q - 1;
}

/* Rounds per read of the list when there is one list (equal weights), and
 * the most finds a read may note (128 KiB; more would be fresh pages of
 * memory on every build). */
#define BATCH_ROUNDS 4
#define FOUND_MAX 32768u

/* k rounds of the same list: the turns of list[0..len-1] in order, k times;
 * drops the backends out of the rotation from the list and returns its new
 * length. In two passes: all probes first, noting per round the ranks of
 * those that found a free slot without a branch (whether a slot is free is a
 * coin toss for much of the fill, which a branch would mispredict half the
 * time), then the claims in turn order, round by round. A claim checks that
 * its backend is still in the rotation (an earlier claim may have used up the
 * pool or its quota) and that the slot is still free (an earlier claim may
 * have taken it); a probe does nothing else, so the result is that of probing
 * turn by turn. found[] has room for k * len. */
static inline __attribute__((always_inline)) uint32_t
calendar_rounds(struct fill *f, uint32_t *restrict list, uint32_t len, uint32_t k,
		uint32_t *restrict found)
{
	struct place *restrict pr = f->pr;
	const uint64_t *restrict bits = f->free;
	const uint32_t m = f->m;
	uint32_t *kept = list, *end = list + len;
	uint32_t *next_found[BATCH_ROUNDS];

	for (uint32_t j = 0; j < k; j++)
		next_found[j] = found + (size_t)j * len;
	for (const uint32_t *it = list; it < end; it++) {
		uint32_t r = *it;
		struct place p = pr[r];

		if (!p.skip)
			continue;
		*kept++ = r;
#pragma GCC unroll 4
		for (uint32_t j = 0; j < k; j++) {
			uint32_t next = p.pos + p.skip; /* < 2M: no overflow */

			*next_found[j] = r;
			next_found[j] += (bits[p.pos / 64] >> (p.pos % 64)) & 1;
			p.pos = next >= m ? next - m : next;
		}
		pr[r].pos = p.pos;
	}
	for (uint32_t j = 0; j < k; j++) {
		for (const uint32_t *c = found + (size_t)j * len; c < next_found[j]; c++) {
			uint32_t r = *c, skip = pr[r].skip, s = pr[r].pos;

			if (!skip)
				continue;
			for (uint32_t back = j; back < k; back++) /* the slot of round j */
				s = add_mod(s, m - skip, m);
			if (slot_free(f, s))
				take(f, r, s);
		}
	}
	return (uint32_t)(kept - list);
}

/* Turns from the calendar (see the top of the file) up to the endgame.
 * units = sum of the weights over their gcd. */
static int fill_by_calendar(struct fill *f, uint64_t units)
{
	const uint32_t period = f->period;
	uint32_t *start = calloc((size_t)period + 1, sizeof(*start));
	uint32_t *len = calloc(period, sizeof(*len));
	uint32_t *due = malloc(sizeof(*due) * period); /* rounds whose list is not empty */
	uint32_t *cal = malloc(sizeof(*cal) * units);
	/* rounds per read of a list; finds of those rounds in at most 128 KiB */
	const uint32_t batch = period == 1 && f->n <= FOUND_MAX / BATCH_ROUNDS ? BATCH_ROUNDS : 1;
	uint32_t *found = malloc(sizeof(*found) * f->n * batch);
	uint64_t round = 0; /* rounds done */
	uint32_t ndue = 0;
	int rc = -1;

	if (!start || !len || !due || !cal || !found)
		goto out;
	for (uint32_t r = 0; r < f->n; r++) {
		struct turn_rounds t;

		turn_rounds_init(&t, f->w[r], period);
		for (uint32_t k = 0; k < f->w[r]; k++)
			start[turn_rounds_next(&t) + 1]++;
	}
	for (uint32_t i = 0; i < period; i++)
		start[i + 1] += start[i];
	for (uint32_t r = 0; r < f->n; r++) { /* in rank order: lists come out sorted */
		struct turn_rounds t;

		turn_rounds_init(&t, f->w[r], period);
		for (uint32_t k = 0; k < f->w[r]; k++) {
			uint32_t i = turn_rounds_next(&t);

			cal[start[i] + len[i]++] = r;
		}
	}
	for (uint32_t i = 0; i < period; i++)
		if (len[i])
			due[ndue++] = i;

	while (f->left && !endgame_due(f)) {
		uint32_t still_due = 0, d;

		for (d = 0; d < ndue; d++) {
			uint32_t i = due[d];

			/* two calls: the loop specialised for each batch */
			len[i] = batch == 1
					 ? calendar_rounds(f, cal + start[i], len[i], 1, found)
					 : calendar_rounds(f, cal + start[i], len[i], BATCH_ROUNDS,
							   found);
			if (len[i])
				due[still_due++] = i;
			if (endgame_due(f)) {
				round += i + batch;
				goto endgame;
			}
		}
		round += (uint64_t)period * batch;
		ndue = still_due;
	}
endgame:
	/* rounds 0..round-1 are done: a backend of weight w had
	 * floor(round*w/P) turns in them */
	rc = f->left ? endgame(f, NULL, round) : 0;
out:
	free(found);
	free(cal);
	free(due);
	free(len);
	free(start);
	return rc;
}

/* ---- heap --------------------------------------------------------------- */

/* Turns from a heap up to the endgame: the calendar's order without its
 * memory. */
static int fill_by_heap(struct fill *f)
{
	uint64_t *h = malloc(sizeof(*h) * f->n);
	uint64_t *turns = calloc(f->n, sizeof(*turns)); /* by rank */
	uint32_t hn = 0;
	int rc = -1;

	if (!h || !turns)
		goto out;
	for (uint32_t r = 0; r < f->n; r++)
		h[hn++] = turn_round(f, r, 0) << TURN_RANK_BITS | r;
	heapify(h, hn);
	while (f->left && !endgame_due(f)) {
		uint32_t r = (uint32_t)(h[0] & TURN_RANK_MASK);

		if (f->pr[r].skip) {
			turn(f, r);
			turns[r]++;
		}
		if (f->pr[r].skip)
			h[0] = turn_round(f, r, turns[r]) << TURN_RANK_BITS | r;
		else
			h[0] = h[--hn];
		heap_sift_down(h, hn, 0);
	}
	rc = f->left ? endgame(f, turns, 0) : 0;
out:
	free(turns);
	free(h);
	return rc;
}

/* ---- the fill ----------------------------------------------------------- */

int sy_maglev_fill(const struct sy_maglev_fill_backend *b, uint32_t n, uint32_t m,
		   uint32_t *table)
{
	struct fill f = { .table = table, .m = m, .left = m, .tokens = m, .n = n,
			  .active = n };
	uint64_t wsum = 0, units = 0;
	uint32_t g = 0;
	int rc = -1;

	f.w = malloc(sizeof(*f.w) * n);
	f.free = malloc(sizeof(*f.free) * ((m + 63) / 64));
	f.pr = malloc(sizeof(*f.pr) * n);
	f.q = malloc(sizeof(*f.q) * n);
	if (!f.w || !f.free || !f.pr || !f.q)
		goto out;
	for (uint32_t i = 0; i < (m + 63) / 64; i++)
		f.free[i] = ~0ull;
	f.free[m / 64] &= (1ull << (m % 64)) - 1; /* m is prime: not a multiple of 64 */
	for (uint32_t r = 0; r < n; r++) {
		wsum += b[r].weight;
		g = sy_gcd(b[r].weight, g);
	}
	/* Quotas: with W the sum of the weights, every backend ends with lo =
	 * floor(M*w/W) or hi = ceil(M*w/W) entries; the pool is what is left
	 * when every backend has its floor. All start in the rotation: a
	 * backend with lo = 0 has a fractional share, so the pool is not empty.
	 * The fill ends with every slot taken: a backend stops only at hi, or
	 * at lo once the pool is used up, and its permutation visits every slot
	 * (M prime). */
	for (uint32_t r = 0; r < n; r++) {
		uint64_t share = (uint64_t)m * b[r].weight;
		uint32_t lo = (uint32_t)(share / wsum);

		f.pr[r] = (struct place){ .pos = b[r].offset, .skip = b[r].skip };
		f.q[r] = (struct quota){ .need = lo, .fractional = share % wsum != 0,
					 .index = b[r].index };
		f.tokens -= lo;
		f.w[r] = b[r].weight / g;
		units += f.w[r];
		f.period = f.w[r] > f.period ? f.w[r] : f.period;
	}
	if (units <= (uint64_t)CALENDAR_PER_SLOT * m)
		rc = fill_by_calendar(&f, units);
	else
		rc = fill_by_heap(&f);
	if (rc == 0 && f.left)
		rc = SY_MAGLEV_FILL_INCOMPLETE;
out:
	free(f.q);
	free(f.pr);
	free(f.free);
	free(f.w);
	return rc;
}
