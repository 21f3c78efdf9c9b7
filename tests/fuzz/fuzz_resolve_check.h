/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The resolver's parser's fuzz target (fuzz_resolve_answer.c): what every
 * instance it accepts must be.
 * Include after fuzz_check.h.
 */
#ifndef SY_FUZZ_RESOLVE_CHECK_H
#define SY_FUZZ_RESOLVE_CHECK_H

#include <string.h>

#include <switchyard/resolve.h>

/* family 4 or 6 (IPv4: bytes past 4 zero), port 1..65535, weight at most
 * 65535, a NUL-terminated zone */
static inline void check_resolve_instance(const struct sy_resolve_instance *x, size_t i)
{
	static const uint8_t zero[12];

	CHECK(x->addr.family == 4 || x->addr.family == 6, "instance %zu: family %u", i,
	      x->addr.family);
	CHECK(x->addr.family == 6 || !memcmp(x->addr.bytes + 4, zero, 12),
	      "instance %zu: IPv4 with bytes past 4", i);
	CHECK(x->port >= 1, "instance %zu: port 0", i);
	CHECK(x->weight <= 65535, "instance %zu: weight %u", i, x->weight);
	CHECK(memchr(x->zone, 0, sizeof(x->zone)), "instance %zu: zone not terminated", i);
}

#endif
