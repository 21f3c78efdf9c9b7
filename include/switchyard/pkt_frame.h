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
 */
#ifndef SWITCHYARD_PKT_FRAME_H
#define SWITCHYARD_PKT_FRAME_H

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

static inline void *sy_frame_at(const struct sy_pkt *f, uint32_t off, uint32_t n)
{
	if (off > f->len || n > f->len - off)
		return NULL;
	return f->data + off;
}

#define sy_frame_off(off) (off)
#define sy_frame_off_ok(off) 1 /* any uint32_t */

#endif

#endif
