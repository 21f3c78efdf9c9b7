/* SPDX-License-Identifier: BSD-3-Clause
 *
 * sy_lb_fill_offload_csum(): frames for the kernel whose TCP/UDP checksum
 * the sender left to offload (the field holds the pseudo-header sum, as
 * Linux writes it for CHECKSUM_PARTIAL) get the real checksum; every other
 * frame stays as it is, byte for byte: correct checksums, wrong ones (the
 * kernel must still drop those), UDP without checksum, fragments, non-IP,
 * malformed frames.
 *
 * The checksums the test expects come from its own RFC 1071 sum (16-bit
 * big-endian words, one at a time), not from the dataplane's helpers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lb.h"

#define MAXF 1600

struct frame {
	uint8_t b[MAXF];
	uint32_t len;
	uint32_t l3, l4;   /* offsets */
	int v6, tcp;
	uint32_t csum_off; /* of the L4 checksum field */
};

/* ---- reference one's complement arithmetic ------------------------------ */

static uint32_t ref_sum(const uint8_t *p, uint32_t n, uint32_t s)
{
	for (uint32_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)p[i] << 8 | p[i + 1];
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return s;
}

static uint32_t pseudo(const struct frame *f)
{
	uint8_t ph[40];
	uint32_t l4len = f->len - f->l4, n;

	if (f->v6) {
		memcpy(ph, f->b + f->l3 + 8, 32); /* source, destination */
		n = 32;
	} else {
		memcpy(ph, f->b + f->l3 + 12, 8);
		n = 8;
	}
	ph[n++] = 0;
	ph[n++] = f->tcp ? 6 : 17;
	ph[n++] = (uint8_t)(l4len >> 8);
	ph[n++] = (uint8_t)l4len;
	return ref_sum(ph, n, 0);
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* the correct checksum of f (its field taken as 0) */
static uint16_t correct(const struct frame *f)
{
	struct frame t = *f;
	uint16_t c;

	put16(t.b + t.csum_off, 0);
	c = (uint16_t)~ref_sum(t.b + t.l4, t.len - t.l4, pseudo(&t));
	return !t.tcp && c == 0 ? 0xffff : c;
}

/* does f's checksum verify (sum over pseudo header and segment = 0xffff)? */
static int verifies(const struct frame *f)
{
	return ref_sum(f->b + f->l4, f->len - f->l4, pseudo(f)) == 0xffff;
}

/* what Linux leaves in the field for CHECKSUM_PARTIAL */
static void make_partial(struct frame *f)
{
	put16(f->b + f->csum_off, (uint16_t)pseudo(f));
}

/* ---- frames ----------------------------------------------------------------- */

static void build(struct frame *f, int v6, int tcp, int vlan, uint32_t payload)
{
	uint8_t *b = f->b;
	uint32_t o = 12, l4len = (tcp ? 20u : 8u) + payload;

	memset(f, 0, sizeof(*f));
	f->v6 = v6;
	f->tcp = tcp;
	memcpy(b, "\x02\x00\x00\x00\x00\x01\x02\x00\x00\xaa\x00\x01", 12);
	if (vlan) {
		put16(b + o, 0x8100);
		put16(b + o + 2, 7);
		o += 4;
	}
	put16(b + o, v6 ? 0x86dd : 0x0800);
	f->l3 = o + 2;
	if (v6) {
		uint8_t *ip = b + f->l3;

		ip[0] = 0x60;
		put16(ip + 4, (uint16_t)l4len);
		ip[6] = tcp ? 6 : 17;
		ip[7] = 64;
		memcpy(ip + 8, "\x20\x01\x00\x02\x00\x00\x00\x07\x00\x00\x00\x00\x00\x00\x00\x02", 16);
		memcpy(ip + 24, "\x20\x01\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01", 16);
		f->l4 = f->l3 + 40;
	} else {
		uint8_t *ip = b + f->l3;

		ip[0] = 0x45;
		put16(ip + 2, (uint16_t)(20 + l4len));
		put16(ip + 6, 0x4000); /* DF */
		ip[8] = 64;
		ip[9] = tcp ? 6 : 17;
		memcpy(ip + 12, "\xc6\x12\x00\x02\xc6\x12\x00\x01", 8);
		put16(ip + 10, (uint16_t)~ref_sum(ip, 20, 0));
		f->l4 = f->l3 + 20;
	}
	put16(b + f->l4, 40000);
	put16(b + f->l4 + 2, tcp ? 8080 : 5353);
	if (tcp) {
		b[f->l4 + 12] = 5 << 4;
		b[f->l4 + 13] = 0x18; /* PSH ACK */
		put16(b + f->l4 + 14, 512);
		f->csum_off = f->l4 + 16;
	} else {
		put16(b + f->l4 + 4, (uint16_t)l4len);
		f->csum_off = f->l4 + 6;
	}
	for (uint32_t i = 0; i < payload; i++)
		b[f->l4 + (tcp ? 20 : 8) + i] = (uint8_t)(i * 7 + 3);
	f->len = f->l4 + l4len;
}

/* ---- cases ------------------------------------------------------------------ */

static void partial_is_filled(int v6, int tcp, int vlan, uint32_t payload)
{
	struct frame f;
	uint16_t want;

	build(&f, v6, tcp, vlan, payload);
	want = correct(&f);
	make_partial(&f);
	assert_false(verifies(&f));
	assert_int_equal(sy_lb_fill_offload_csum(f.b, f.len), 1);
	assert_int_equal(get16(f.b + f.csum_off), want);
	assert_true(verifies(&f));
}

static void t_partial_v4_tcp(void **s)
{
	(void)s;
	partial_is_filled(0, 1, 0, 517); /* odd payload: the trailing byte */
}

static void t_partial_v4_udp(void **s)
{
	(void)s;
	partial_is_filled(0, 0, 0, 100);
}

static void t_partial_v6_tcp_vlan(void **s)
{
	(void)s;
	partial_is_filled(1, 1, 1, 1400);
}

static void t_partial_v6_udp(void **s)
{
	(void)s;
	partial_is_filled(1, 0, 0, 33);
}

/* f must come out of sy_lb_fill_offload_csum() unchanged, with rc */
static void unchanged(struct frame *f, int rc)
{
	struct frame before = *f;

	assert_int_equal(sy_lb_fill_offload_csum(f->b, f->len), rc);
	assert_memory_equal(f->b, before.b, f->len);
}

static void t_correct_untouched(void **s)
{
	struct frame f;

	(void)s;
	build(&f, 0, 1, 0, 200);
	put16(f.b + f.csum_off, correct(&f));
	assert_true(verifies(&f));
	unchanged(&f, 0);
}

static void t_wrong_untouched(void **s)
{
	struct frame f;

	(void)s;
	build(&f, 1, 0, 0, 200);
	put16(f.b + f.csum_off, (uint16_t)(correct(&f) ^ 0x0101));
	assert_int_not_equal(get16(f.b + f.csum_off), (uint16_t)pseudo(&f));
	unchanged(&f, 0); /* damaged: for the kernel to drop */
}

static void t_udp_no_checksum(void **s)
{
	struct frame f;

	(void)s;
	build(&f, 0, 0, 0, 64);
	put16(f.b + f.csum_off, 0);
	unchanged(&f, 0);
}

static void t_fragment_untouched(void **s)
{
	struct frame f;

	(void)s;
	build(&f, 0, 1, 0, 200);
	make_partial(&f);
	put16(f.b + f.l3 + 6, 0x2000); /* MF: a first fragment */
	unchanged(&f, 0);
}

static void t_not_ip_or_malformed(void **s)
{
	struct frame f;

	(void)s;
	build(&f, 0, 1, 0, 200);
	make_partial(&f);
	f.len -= 10; /* IPv4 length beyond the frame */
	unchanged(&f, 0);
	build(&f, 0, 1, 0, 200);
	put16(f.b + 12, 0x0806); /* ARP */
	unchanged(&f, 0);
	build(&f, 1, 0, 0, 10);
	f.len = f.l4 + 4; /* UDP header cut */
	put16(f.b + f.l3 + 4, 4);
	unchanged(&f, 0);
}

/* Set the 2 payload bytes at off so that the full checksum becomes `want`. */
static void steer(struct frame *f, uint32_t off, uint16_t want)
{
	uint32_t s;

	put16(f->b + off, 0);
	put16(f->b + f->csum_off, 0);
	s = ref_sum(f->b + f->l4, f->len - f->l4, pseudo(f)); /* ~s is the checksum now */
	/* adding x makes it ~(s + x): want s + x = ~want (one's complement) */
	s = (uint16_t)~want + (0xffff - s);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	put16(f->b + off, (uint16_t)s);
}

static void t_udp_zero_becomes_ffff(void **s)
{
	struct frame f;

	(void)s;
	build(&f, 0, 0, 0, 64);
	steer(&f, f.l4 + 8 + 62, 0x0000);
	make_partial(&f);
	assert_int_equal(sy_lb_fill_offload_csum(f.b, f.len), 1);
	assert_int_equal(get16(f.b + f.csum_off), 0xffff); /* 0 would mean "none" */
	assert_true(verifies(&f));
}

static void t_correct_equal_to_partial(void **s)
{
	struct frame f, before;

	(void)s;
	/* a correct checksum that happens to equal the pseudo-header sum */
	build(&f, 1, 1, 0, 64);
	steer(&f, f.l4 + 20 + 62, (uint16_t)pseudo(&f));
	put16(f.b + f.csum_off, (uint16_t)pseudo(&f));
	assert_true(verifies(&f));
	before = f;
	assert_int_equal(sy_lb_fill_offload_csum(f.b, f.len), 1);
	assert_memory_equal(f.b, before.b, f.len); /* rewritten with the same value */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_partial_v4_tcp),
		cmocka_unit_test(t_partial_v4_udp),
		cmocka_unit_test(t_partial_v6_tcp_vlan),
		cmocka_unit_test(t_partial_v6_udp),
		cmocka_unit_test(t_correct_untouched),
		cmocka_unit_test(t_wrong_untouched),
		cmocka_unit_test(t_udp_no_checksum),
		cmocka_unit_test(t_fragment_untouched),
		cmocka_unit_test(t_not_ip_or_malformed),
		cmocka_unit_test(t_udp_zero_becomes_ffff),
		cmocka_unit_test(t_correct_equal_to_partial),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
