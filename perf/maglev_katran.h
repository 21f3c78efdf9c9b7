/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Katran's MaglevHashV2 as a peer for perf/maglev_bench: compiled at run time
 * from a Katran checkout (never vendored) into the build directory, loaded
 * with dlopen. */
#ifndef SWITCHYARD_PERF_MAGLEV_KATRAN_H
#define SWITCHYARD_PERF_MAGLEV_KATRAN_H

#include <stdint.h>

/* perf/maglev_katran_shim.cpp: Katran's ring of m entries for backends
 * 0..n-1 into ring[], *cpu_ns = thread CPU time of generateHashRing(). */
typedef int (*sy_katran_maglev_fn)(const uint32_t *weight, const uint64_t *hash,
				   uint32_t n, uint32_t m, int32_t *ring,
				   double *cpu_ns);

/* Compiles perf/maglev_katran_shim.cpp with MaglevHashV2.cpp, MaglevBase.cpp
 * and MurmurHash3.cpp of the checkout in dir (g++ -O2 -std=c++17, or $CXX)
 * into katran-maglev/ beside this program, unless the shared object there is
 * newer than every source and was built from the same dir; then loads it.
 * Returns the entry point, or NULL with a message on stderr. */
sy_katran_maglev_fn sy_katran_maglev_load(const char *dir);

#endif
