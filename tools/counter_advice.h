/* SPDX-License-Identifier: BSD-3-Clause
 *
 * What an operator does about each counter of include/switchyard/counters.h,
 * keyed by the counter's exported name. gen_docs puts it beside the
 * counter's meaning in docs/troubleshooting.md and fails (so does the test
 * docs_troubleshooting) when a counter has no advice or advice names no
 * counter.
 */
#ifndef SWITCHYARD_TOOLS_COUNTER_ADVICE_H
#define SWITCHYARD_TOOLS_COUNTER_ADVICE_H

struct sy_counter_advice {
	const char *name;   /* exported name, e.g. "drop_no_backend" */
	const char *advice; /* markdown, one table cell */
};

/* Terminated by { NULL, NULL }. */
extern const struct sy_counter_advice sy_counter_advice[];

#endif
