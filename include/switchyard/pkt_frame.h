/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The access layer of the shared packet core (pkt_parse.h and what follows
 * it): "n bytes at offset off of the frame", written once for two targets.
 *
 *   C (sy-dataplane, tests, syctl): the frame is a struct sy_pkt, a buffer
 *   with room on both sides; sy_frame_at() is a plain bounds check.
 *
 *   BPF (`clang -target bpf`, the XDP program): the frame is the struct
 *   xdp_md context; sy_frame_at() turns a scalar offset, bounded by
 *   SY_FRAME_OFF_MAX, into a packet pointer checked against data_end in the
 *   shape the verifier accepts.
 *
 * Functions of the core that BPF verifies on their own (global functions:
 * their paths do not multiply the caller's) are declared SY_PKT_GLOBAL; in C
 * they are static inline. Every offset is an unsigned 32-bit number from the
 * first byte of the Ethernet header.
 *
 * The rewriters (pkt_encap.h, pkt_icmp_reply.h) edit the frame through a few
 * more operations that the two targets do differently:
 *
 *   sy_frame_edit(f, off, n)   n bytes the caller knows are in the frame, to
 *                              write: C takes its word (no check), BPF checks
 *                              again for the verifier (sy_frame_edit_ok());
 *   sy_frame_len(f)            the frame's length now;
 *   sy_frame_grow_head(f, l2, n)  n bytes more in front of the L3 packet,
 *                              keeping the L2 header's VLAN tags; the MACs
 *                              and the innermost ethertype are the caller's
 *                              to write (sy_write_l2(), which every caller
 *                              calls next): C moves the tags alone into the
 *                              headroom, BPF saves the whole L2 header,
 *                              bpf_xdp_adjust_head()s and restores it;
 *   sy_frame_trim(f, len)      cut the frame to len bytes (C: the length,
 *                              BPF: bpf_xdp_adjust_tail());
 *   sy_frame_csum(f, off, n, seed)  the checksum sum of a frame range (C: a
 *                              word loop, BPF: bpf_csum_diff() in chunks, a
 *                              global function);
 *   sy_frame_clock_ms(tick)    the ICMP error token bucket's millisecond
 *                              clock (C: the driver's per-burst tick, BPF:
 *                              bpf_ktime_get_ns());
 *   sy_get/sy_put 16/32/64     unaligned loads and stores of wire words, one
 *                              instruction each (in BPF, memcpy to a packet
 *                              pointer would be byte by byte);
 *   sy_put_mac(to, from)       6 bytes (C: through registers; BPF: bytes,
 *                              the source may be on the stack).
 */
#ifndef SWITCHYARD_PKT_FRAME_H
#define SWITCHYARD_PKT_FRAME_H

#include "pkt_csum.h"
#include "sy_types.h"

/* What the packet path decides for a frame. */
enum sy_verdict {
	SY_V_TX = 0,     /* send out of the port it came from (rewritten) */
	SY_V_KERNEL = 1, /* not VIP traffic: to the host (exception path, XDP_PASS) */
	SY_V_DROP = 2,   /* counted under a SY_C_DROP_* reason */
};

/* Wire-order 16/32-bit values (hosts and BPF are little-endian: sy_types.h). */
#define sy_ntoh16(v) ((uint16_t)__builtin_bswap16((uint16_t)(v)))
#define sy_hton16(v) sy_ntoh16(v)
#define sy_ntoh32(v) ((uint32_t)__builtin_bswap32((uint32_t)(v)))
#define sy_hton32(v) sy_ntoh32(v)

#if defined(__bpf__)

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

typedef struct xdp_md sy_frame;

/* Every packet offset is below this bound (linear frames: an XDP frame
 * without frags is at most a page). It is also the mask the verifier needs
 * to see on an offset before it is added to a packet pointer. */
#define SY_FRAME_OFF_MAX 0x3fff

#define SY_PKT_GLOBAL __attribute__((noinline))
/* A loop of the core unrolled in BPF: Debian 12's kernel (6.1) refuses
 * a loop whose back-edge is a fall-through, the shape clang gives a
 * rotated loop ("back-edge from insn N to N+1"); an unrolled loop has no
 * back-edge. tests/bpf/test_bpf_on_kernel.sh runs the BPF tests there. */
#define SY_PKT_UNROLL _Pragma("unroll")
/* A function of the core inlined in BPF, where a call would be one more
 * frame in a chain of calls the verifier bounds to 512 bytes of stack. */
#define SY_PKT_INLINED static __attribute__((always_inline)) inline

/* A pointer to n bytes at offset off of the frame, or NULL if the frame is
 * shorter. n is a constant at every call site. */
static __always_inline void *sy_frame_at(struct xdp_md *ctx, uint64_t off, const uint32_t n)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	void *p;

	if (off > SY_FRAME_OFF_MAX)
		return NULL;
	/* The same bound as an AND on the very register added to data (a no-op
	 * here): clang may merge or move the comparison above, or apply it to
	 * a copy, and the verifier must know the offset is bounded. */
	asm volatile("%0 &= 0x3fff" : "+r"(off));
	p = data + off;
	/* keep clang from turning the check into arithmetic on data_end,
	 * which the verifier refuses */
	asm volatile("" : "+r"(p));
	if (p + n > end)
		return NULL;
	return p;
}

/* Re-derive an offset's bound after arithmetic (a no-op for offsets that
 * are in range, which is all of them): every path then carries the same
 * bounds, so that the verifier prunes. */
#define sy_frame_off(off) ((off) & SY_FRAME_OFF_MAX)

/* Is this offset or length within the bound? */
#define sy_frame_off_ok(off) ((off) <= SY_FRAME_OFF_MAX)

/* ---- Frame editing (BPF) -------------------------------------------------- */

/* The largest L2 header: Ethernet and two VLAN tags (pkt_parse.h). */
#define SY_FRAME_L2_MAX 22u

/* Wire words through pointers of any alignment: misaligned packet and map
 * value accesses are allowed where unaligned access is cheap (x86, arm64);
 * the stack's are not, so these are for packet pointers only. */
typedef uint16_t __attribute__((may_alias)) sy_wire16;
typedef uint32_t __attribute__((may_alias)) sy_wire32;
typedef uint64_t __attribute__((may_alias)) sy_wire64;

static __always_inline uint16_t sy_get16(const void *p) { return *(const sy_wire16 *)p; }
static __always_inline uint32_t sy_get32(const void *p) { return *(const sy_wire32 *)p; }
static __always_inline uint64_t sy_get64(const void *p) { return *(const sy_wire64 *)p; }
static __always_inline void sy_put16(void *p, uint16_t v) { *(sy_wire16 *)p = v; }
static __always_inline void sy_put32(void *p, uint32_t v) { *(sy_wire32 *)p = v; }
static __always_inline void sy_put64(void *p, uint64_t v) { *(sy_wire64 *)p = v; }

/* A MAC address into the frame. Byte by byte: the source may be on the
 * stack, where the verifier refuses misaligned loads. */
static __always_inline void sy_put_mac(void *to, const uint8_t *from)
{
	__builtin_memcpy(to, from, 6);
}

/* The verifier knows nothing of what the caller knows: check again. */
#define sy_frame_edit(f, off, n) sy_frame_at((f), (off), (n))
#define sy_frame_edit_ok(p) ((p) != NULL)

static __always_inline uint32_t sy_frame_len(const struct xdp_md *ctx)
{
	return (uint32_t)(ctx->data_end - ctx->data); /* linear frames */
}

/* n bytes more before the L3 packet, which starts at l2_len. The L2 header
 * is saved whole (SY_FRAME_L2_MAX bytes, one fixed-size copy whatever the
 * tag count) and written back at the new head; the bytes it writes beyond
 * l2_len land in the new gap, which the caller fills (n >= 8). The gap's
 * content is undefined. 0, or -1 (no headroom, or a frame too short). */
static __always_inline int sy_frame_grow_head(struct xdp_md *ctx, uint32_t l2_len, uint32_t n)
{
	const uint8_t *old = (const uint8_t *)sy_frame_at(ctx, 0, SY_FRAME_L2_MAX);
	uint64_t a, b;
	uint32_t c;
	uint16_t d;
	uint8_t *p;

	(void)l2_len;
	if (!old)
		return -1;
	a = sy_get64(old);
	b = sy_get64(old + 8);
	c = sy_get32(old + 16);
	d = sy_get16(old + 20);
	if (bpf_xdp_adjust_head(ctx, -(int)n))
		return -1;
	p = (uint8_t *)sy_frame_at(ctx, 0, SY_FRAME_L2_MAX);
	if (!p)
		return -1;
	sy_put64(p, a);
	sy_put64(p + 8, b);
	sy_put32(p + 16, c);
	sy_put16(p + 20, d);
	return 0;
}

/* Cut the frame to len bytes (len <= its length). 0, or -1. */
static __always_inline int sy_frame_trim(struct xdp_md *ctx, uint32_t len)
{
	uint32_t cur = sy_frame_len(ctx);

	if (cur > len && bpf_xdp_adjust_tail(ctx, (int)len - (int)cur))
		return -1;
	return 0;
}

#define SY_CSUM_CHUNK(k)                                                      \
	do {                                                                  \
		if (len & (k)) {                                              \
			o &= SY_FRAME_OFF_MAX;                                \
			q = sy_frame_at(ctx, o, (k));                         \
			if (!q)                                               \
				return -1;                                    \
			s = bpf_csum_diff(NULL, 0, (__be32 *)q, (k), (uint32_t)s); \
			if (s < 0)                                            \
				return -1;                                    \
			o += (k);                                             \
		}                                                             \
	} while (0)

/* Partial sum (folded to 16 bits, not inverted) of len bytes of the frame
 * at off, seeded with seed (e.g. a pseudo-header sum), or -1. Memory order
 * like sy_csum_partial(): an odd last byte counts as if followed by a zero.
 * bpf_csum_diff in chunks of constant size (512, then the binary digits of
 * the rest): every size is known to the verifier. */
SY_PKT_GLOBAL int sy_frame_csum(struct xdp_md *ctx, uint32_t off, uint32_t len, uint32_t seed)
{
	int64_t s = seed;
	uint32_t o = off, tail = 0;
	void *q;

	if (!ctx || off > SY_FRAME_OFF_MAX || len > 8 * 512)
		return -1;
	for (int i = 0; i < 8; i++) {
		if (len < 512)
			break;
		o &= SY_FRAME_OFF_MAX;
		q = sy_frame_at(ctx, o, 512);
		if (!q)
			return -1;
		s = bpf_csum_diff(NULL, 0, (__be32 *)q, 512, (uint32_t)s);
		if (s < 0)
			return -1;
		o += 512;
		len -= 512;
	}
	SY_CSUM_CHUNK(256);
	SY_CSUM_CHUNK(128);
	SY_CSUM_CHUNK(64);
	SY_CSUM_CHUNK(32);
	SY_CSUM_CHUNK(16);
	SY_CSUM_CHUNK(8);
	SY_CSUM_CHUNK(4);
	o &= SY_FRAME_OFF_MAX;
	if (len & 2) {
		const uint8_t *b = (const uint8_t *)sy_frame_at(ctx, o, 2);

		if (!b)
			return -1;
		tail = (uint32_t)b[0] | (uint32_t)b[1] << 8;
		o += 2;
	}
	if (len & 1) {
		const uint8_t *b = (const uint8_t *)sy_frame_at(ctx, o & SY_FRAME_OFF_MAX, 1);

		if (!b)
			return -1;
		/* memory order, zero-padded: the byte's place in its 32-bit word */
		tail |= (uint32_t)b[0] << ((len & 2) ? 16 : 0);
	}
	return sy_csum_fold16((uint64_t)(uint32_t)s + tail);
}

#undef SY_CSUM_CHUNK

/* The ICMP error bucket's clock, read only when an error is due. */
static __always_inline uint32_t sy_frame_clock_ms(uint32_t tick_ms)
{
	(void)tick_ms;
	return (uint32_t)(bpf_ktime_get_ns() / 1000000);
}

#else /* C */

/* A frame in a buffer with room on both sides for rewriting. */
struct sy_pkt {
	uint8_t *data;     /* first byte of the Ethernet header */
	uint32_t len;
	uint32_t headroom; /* bytes available before data */
	uint32_t tailroom; /* bytes available after data + len */
};

typedef struct sy_pkt sy_frame;

#define SY_PKT_GLOBAL static inline
#define SY_PKT_UNROLL
#define SY_PKT_INLINED static inline

static inline void *sy_frame_at(const struct sy_pkt *f, uint32_t off, uint32_t n)
{
	if (off > f->len || n > f->len - off)
		return NULL;
	return f->data + off;
}

#define sy_frame_off(off) (off)
#define sy_frame_off_ok(off) 1 /* any uint32_t */

/* ---- Frame editing (C) ---------------------------------------------------- */

static inline uint16_t sy_get16(const void *p) { uint16_t v; __builtin_memcpy(&v, p, 2); return v; }
static inline uint32_t sy_get32(const void *p) { uint32_t v; __builtin_memcpy(&v, p, 4); return v; }
static inline uint64_t sy_get64(const void *p) { uint64_t v; __builtin_memcpy(&v, p, 8); return v; }
static inline void sy_put16(void *p, uint16_t v) { __builtin_memcpy(p, &v, 2); }
static inline void sy_put32(void *p, uint32_t v) { __builtin_memcpy(p, &v, 4); }
static inline void sy_put64(void *p, uint64_t v) { __builtin_memcpy(p, &v, 8); }

/* A MAC address into the frame, through registers (the source may be
 * the frame's own bytes). */
static inline void sy_put_mac(void *to, const uint8_t *from)
{
	uint32_t a = sy_get32(from);
	uint16_t b = sy_get16(from + 4);

	sy_put32(to, a);
	sy_put16((uint8_t *)to + 4, b);
}

/* The caller knows the bytes are in the frame (the parser or a grow said
 * so): no check, no branch on the packet path. */
static inline void *sy_frame_edit(const struct sy_pkt *f, uint32_t off, uint32_t n)
{
	(void)n;
	return f->data + off;
}

#define sy_frame_edit_ok(p) ((void)(p), 1)

static inline uint32_t sy_frame_len(const struct sy_pkt *f)
{
	return f->len;
}

/* Move the VLAN tags of an l2_len-byte L2 header (bytes 12 .. l2_len - 2:
 * none, one or two tags) `back` bytes towards the headroom, through
 * registers (the ranges may overlap). The MACs and the innermost ethertype
 * are not moved: sy_frame_grow_head()'s caller writes them (sy_write_l2()),
 * so an untagged frame moves nothing. */
static inline void sy_frame_move_tags(uint8_t *d, uint32_t l2_len, uint32_t back)
{
	if (__builtin_expect(l2_len <= 14, 1))
		return;
	if (l2_len == 18)
		sy_put32(d - back + 12, sy_get32(d + 12));
	else if (l2_len == 22)
		sy_put64(d - back + 12, sy_get64(d + 12));
	else /* not a length pkt_parse.h makes: the whole header */
		__builtin_memmove(d - back, d, l2_len);
}

/* n bytes more before the L3 packet, which starts at l2_len: the L2
 * header's VLAN tags move into the headroom; its MACs and innermost
 * ethertype are left for the caller to write (sy_write_l2()). The gap's
 * content is undefined. 0, or -1 without headroom. */
static inline int sy_frame_grow_head(struct sy_pkt *f, uint32_t l2_len, uint32_t n)
{
	if (f->headroom < n)
		return -1;
	sy_frame_move_tags(f->data, l2_len, n);
	f->data -= n;
	f->headroom -= n;
	f->len += n;
	return 0;
}

/* Cut the frame to len bytes (len <= its length). Always 0. */
static inline int sy_frame_trim(struct sy_pkt *f, uint32_t len)
{
	f->tailroom += f->len - len;
	f->len = len;
	return 0;
}

/* Partial sum (folded to 16 bits, not inverted) of len bytes of the frame
 * at off, seeded with seed. Never negative in C. */
static inline int sy_frame_csum(const struct sy_pkt *f, uint32_t off, uint32_t len, uint32_t seed)
{
	return sy_csum_fold16(sy_csum_partial(f->data + off, len, seed));
}

/* The ICMP error bucket's clock: the driver's millisecond tick (read once
 * per burst, not per packet). */
static inline uint32_t sy_frame_clock_ms(uint32_t tick_ms)
{
	return tick_ms;
}

#endif

#endif
