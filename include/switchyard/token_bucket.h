/* SPDX-License-Identifier: BSD-3-Clause
 *
 * A token bucket per lcore (DPDK) or per CPU (XDP), for the rate limits of
 * the packet path: the ICMP errors we originate (icmp_error.h), the new
 * flows that get a connection-table entry (ct_guard.h). Header-only, no
 * libc: compiles with gcc and with `clang -target bpf`.
 */
#ifndef SWITCHYARD_TOKEN_BUCKET_H
#define SWITCHYARD_TOKEN_BUCKET_H

#include "sy_types.h"

/* Zero-initialised = full. `debt` counts thousandths of a token spent and
 * not yet refilled, so that `rate` per second refills exactly `rate`
 * thousandths per millisecond: no rounding, no division. */
struct sy_token_bucket {
	uint64_t debt;
	uint32_t last_ms; /* time debt was last brought up to date */
	uint32_t pad;
};

/* Take a token at now_ms (a millisecond tick that wraps at 2^32): 1 if
 * granted, 0 if over `rate` per second with bursts of `burst` (both > 0).
 * Saturated from a full bucket, exactly burst + rate x elapsed_ms / 1000
 * tokens are granted in elapsed_ms. */
static __sy_always_inline int sy_token_take(struct sy_token_bucket *b, uint32_t now_ms,
					    uint32_t rate, uint32_t burst)
{
	uint64_t refill, cap;

	/* wrap-safe elapsed time; a clock going back looks like a long gap,
	 * which refills the bucket */
	refill = (uint64_t)(uint32_t)(now_ms - b->last_ms) * rate;
	cap = (uint64_t)burst * 1000;
	b->last_ms = now_ms;
	b->debt = b->debt > refill ? b->debt - refill : 0;
	if (b->debt + 1000 > cap)
		return 0;
	b->debt += 1000;
	return 1;
}

#endif
