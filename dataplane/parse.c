/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Frame classification on a plain buffer: the shared packet core's parser
 * (switchyard/pkt_parse.h, the same code the XDP program runs) for callers
 * that hold bytes rather than a struct sy_pkt (syctl lookup, tests, the
 * offload checksum fill).
 */
#include "lb.h"

enum sy_verdict sy_lb_parse(const uint8_t *d, uint32_t len, struct sy_parsed *p,
			    enum sy_counter *reason)
{
	struct sy_pkt frame = { .data = (uint8_t *)d, .len = len };
	int v = sy_parse_frame(&frame, p, len);

	if (v == SY_V_DROP)
		*reason = (enum sy_counter)p->reason;
	return (enum sy_verdict)v;
}
