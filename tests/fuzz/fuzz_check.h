/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The fuzz targets' invariant check. A violation prints
 * "TARGET: invariant violated: ..." (scripts/fuzz.sh looks for it) and
 * aborts, so that libFuzzer keeps the input. Define FUZZ_TARGET (the
 * target's name, a string literal) before including this.
 */
#ifndef SY_FUZZ_CHECK_H
#define SY_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond, ...)                                                                   \
	do {                                                                                \
		if (!(cond)) {                                                              \
			fprintf(stderr, FUZZ_TARGET ": invariant violated: " __VA_ARGS__);  \
			fprintf(stderr, "\n");                                              \
			abort();                                                            \
		}                                                                           \
	} while (0)

#endif
