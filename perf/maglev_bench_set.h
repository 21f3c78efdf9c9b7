/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The backend set of perf/maglev_bench, shared with the unit test that pins
 * its tables (tests/unit/test_maglev.c): distinct identities by construction,
 * backend i is IPv4 10.x.y.z:80 for even i and IPv6 2001:db8::i:443 for odd
 * i. */
#ifndef SWITCHYARD_PERF_MAGLEV_BENCH_SET_H
#define SWITCHYARD_PERF_MAGLEV_BENCH_SET_H

#include <stdint.h>
#include <string.h>

#include <switchyard/maglev.h>

static inline struct sy_backend_id sy_bench_backend_id(uint32_t i)
{
	struct sy_backend_id id;
	uint8_t a[16] = { 0 };

	memset(&id, 0, sizeof(id));
	if (i % 2 == 0) {
		id.family = SY_AF_INET;
		id.port = 80;
		a[0] = 10;
		a[1] = (uint8_t)(i >> 16);
		a[2] = (uint8_t)(i >> 8);
		a[3] = (uint8_t)i;
	} else {
		id.family = SY_AF_INET6;
		id.port = 443;
		a[0] = 0x20;
		a[1] = 0x01;
		a[2] = 0x0d;
		a[3] = 0xb8;
		a[12] = (uint8_t)(i >> 24);
		a[13] = (uint8_t)(i >> 16);
		a[14] = (uint8_t)(i >> 8);
		a[15] = (uint8_t)i;
	}
	memcpy(id.addr, a, sizeof(a));
	return id;
}

#endif
