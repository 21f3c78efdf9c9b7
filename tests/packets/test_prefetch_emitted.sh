#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# The staged burst's conntrack prefetches are in the compiled packet path.
# GCC 12 at -O1 and above silently deleted them: sy_ct_prefetch() was a
# static inline function made only of __builtin_prefetch calls, which the
# IPA pure-const pass took for a function without side effects before it
# was inlined, and the calls to it were removed as dead. Nothing failed,
# only 1M-flow lookups took one DRAM miss after another (lb_process_bench
# ipip est 1M flows: 303 cycles/packet without the prefetches, 133 with).
# A build property, so it is checked on the build: the objects of
# libsydp.a must contain prefetch instructions (x86: prefetcht0/prefetchw;
# aarch64: prfm).
#
#   test_prefetch_emitted.sh PATH/TO/libsydp.a
set -u
lib=$1
command -v objdump >/dev/null || { echo "FAIL: objdump (binutils) not found"; exit 1; }
[ -f "$lib" ] || { echo "FAIL: $lib not found"; exit 1; }
n=$(objdump -d "$lib" | grep -c -E $'\t(prefetch[a-z0-9]*|prfm)[ \t]')
if [ "$n" -lt 2 ]; then
	echo "FAIL: $n prefetch instructions in $lib: the conntrack prefetch of the burst was compiled out"
	exit 1
fi
echo "PASS: $n prefetch instructions in $lib"
