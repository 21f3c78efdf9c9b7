// SPDX-License-Identifier: BSD-3-Clause
//
// A C entry point to Katran's MaglevHashV2, for perf/maglev_bench --katran
// DIR. Not part of the build: maglev_bench compiles it at run time with g++,
// together with MaglevHashV2.cpp, MaglevBase.cpp and MurmurHash3.cpp of the
// Katran checkout in DIR, into a shared object in the build directory. Nothing
// of Katran is in this tree.
#include <cstdint>
#include <cstring>
#include <ctime>
#include <new>
#include <vector>

#include "katran/lib/MaglevHashV2.h"

static double thread_cpu_ns()
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

// Builds Katran's ring of m entries for backends 0..n-1 (Endpoint.num = i,
// .weight = weight[i], .hash = hash[i]) into ring[0..m-1]; *cpu_ns gets the
// thread CPU time of the generateHashRing() call alone. Returns 0, or -1 on a
// C++ exception (e.g. out of memory).
extern "C" int sy_katran_maglev_v2(const uint32_t *weight, const uint64_t *hash,
				   uint32_t n, uint32_t m, int32_t *ring,
				   double *cpu_ns)
{
	try {
		std::vector<katran::Endpoint> endpoints(n);
		katran::MaglevHashV2 maglev;

		for (uint32_t i = 0; i < n; i++) {
			endpoints[i].num = i;
			endpoints[i].weight = weight[i];
			endpoints[i].hash = hash[i];
		}
		double t0 = thread_cpu_ns();
		std::vector<int> out = maglev.generateHashRing(endpoints, m);
		*cpu_ns = thread_cpu_ns() - t0;
		if (out.size() != m)
			return -1;
		std::memcpy(ring, out.data(), sizeof(int32_t) * m);
		return 0;
	} catch (...) {
		return -1;
	}
}
