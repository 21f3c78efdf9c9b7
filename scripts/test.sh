#!/bin/bash
# The test command: installs what is needed, builds the release and the
# ASan+UBSan builds (the latter beside the release tree's tests), runs every
# test in both, the two trees at once (the ASan tree's in namespaces of their
# own: scripts/isolated.sh), and beside them sy-control under 10 minutes of
# churn (SY_LONG_CHURN_SECONDS), fuzzes (scripts/fuzz.sh,
# SY_FUZZ_SECONDS per target, default 6), writes the reliability report
# into build/reliability.md (scripts/reliability_report.py; the tracked
# docs/reliability.md is a copy committed with a release, never rewritten
# here: a run leaves the checkout as it was), prints its path and ends with
# one line "N passed, N failed". A skipped test counts as failed: a test that
# cannot run here must say so, not vanish.
set -uo pipefail
cd "$(dirname "$0")/.."

if ! scripts/install-deps.sh runtime build demo test; then
	echo "0 passed, 1 failed"
	exit 1
fi
# the release tree now; the ASan tree and build-fuzz below, beside the
# release tree's tests
if ! scripts/build.sh; then
	echo "build failed"
	echo "0 passed, 1 failed"
	exit 1
fi

passed=0
failed=0
t0=$SECONDS
# what the host holds before the tests (scripts/leftovers.sh): compared
# with what it holds after them, at the end
leftovers_before=$(mktemp)
scripts/leftovers.sh >"$leftovers_before"
phase() { echo "=== $* (at $(( (SECONDS - t0) / 60 )) min $(( (SECONDS - t0) % 60 )) s) ==="; }
mkdir -p build/meson-logs
# The ASan+UBSan tree (scripts/build.sh --asan-only: ~50 s of both cores
# here), then build-fuzz (fuzz.sh --build-only: clang, the fuzz targets,
# ~45 s), built beside the release tree's tests, which mostly wait (they
# run one at a time): at nice 19 with idle-class I/O, so that the tests keep
# the CPU. The ASan build's exit status goes to $asan_status: its tests (and
# the long churn) start once it is there. The fuzzing phase rebuilds what
# the fuzz build did not finish (a build error is reported there).
asan_status=$(mktemp)
(
	nice -n 19 ionice -c 3 scripts/build.sh --asan-only >build/meson-logs/asan_build.log 2>&1
	echo $? >"$asan_status"
	nice -n 19 ionice -c 3 scripts/fuzz.sh --build-only >build/meson-logs/fuzz_build.log 2>&1
) &
bg_build_pid=$!
asan_built() { # waits for the ASan build; true if it succeeded
	while [ ! -s "$asan_status" ]; do sleep 1; done
	[ "$(cat "$asan_status")" = 0 ]
}
# sy-control under 10 minutes of churn (issue 7), beside both trees' tests:
# the ASan binary (as soon as it is built), so LeakSanitizer judges its
# exit, niced so that the tests keep the CPU
(
	built=0
	asan_built && built=1
	mkdir -p build-asan/meson-logs
	exec >build-asan/meson-logs/control_churn_long.log 2>&1
	[ $built = 1 ] || { echo "FAIL: no ASan build (build/meson-logs/asan_build.log)"; exit 1; }
	exec nice -n 10 env SY_CHURN_SECONDS="${SY_LONG_CHURN_SECONDS:-600}" \
		bash tests/integration/test_control_churn.sh build-asan
) &
long_churn_pid=$!
# run_tests DIR [WRAPPER...]: every test of DIR; two at a time only the
# tests that may share the machine (unit tests, no namespaces, no fixed
# ports): meson runs every is_parallel: false test (all that start servers
# or build namespaces) alone. ASan reports are errors; leak checking is on
# by default.
run_tests() {
	local dir=$1
	shift
	ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		"$@" meson test -C "$dir" --print-errorlogs --num-processes 2
}
# The two trees' tests at once: the release tree's on the host, the ASan
# tree's (once it is built) in a network and mount namespace of their own
# (scripts/isolated.sh), where the names, ports, DPDK prefixes and pins
# they share with the release tree's are theirs alone. Most tests mostly
# wait (registries' timeouts, links, probes): the two trees together took
# ~22 minutes here, one after the other ~31 (docs/testing.md). The ASan
# tree's output is kept and printed after the release tree's.
asan_out=build/meson-logs/asan_tests.log
# a tree whose tests never ran (its build failed) counts as a failure
# (count_results.py: no test log), not as an earlier run's results
rm -f build/meson-logs/testlog.json build-asan/meson-logs/testlog.json
(
	if ! asan_built; then
		echo "build failed: build-asan (build/meson-logs/asan_build.log):"
		tail -n 40 build/meson-logs/asan_build.log
		exit 1
	fi
	phase "tests in build-asan (beside build's, scripts/isolated.sh)"
	run_tests build-asan scripts/isolated.sh
	phase "tests in build-asan: done"
) >"$asan_out" 2>&1 &
asan_tests_pid=$!
phase "tests in build"
run_tests build
phase "tests in build: done"
count_tree() { # DIR: its test log's results into passed/failed
	local p f
	read -r p f < <(python3 scripts/count_results.py "$1/meson-logs/testlog.json")
	passed=$((passed + p))
	failed=$((failed + f))
}
count_tree build
wait "$asan_tests_pid"
cat "$asan_out"
count_tree build-asan

# Fuzzing (clang + libFuzzer, build-fuzz/): every target of tests/fuzz for
# SY_FUZZ_SECONDS (default 6) after replaying its regression inputs; each
# target counts as one test.
if ! wait "$bg_build_pid"; then
	echo "fuzz build beside the tests failed (build/meson-logs/fuzz_build.log); fuzz.sh builds again" >&2
fi
phase "fuzzing (${SY_FUZZ_SECONDS:-6} s per target)"
fuzz_log=$(mktemp)
scripts/fuzz.sh "${SY_FUZZ_SECONDS:-6}" 2>&1 | tee "$fuzz_log"
read -r fp ff < <(sed -nE 's/^fuzz summary: passed=([0-9]+) failed=([0-9]+)$/\1 \2/p' "$fuzz_log" | tail -1)
phase "sy-control under ${SY_LONG_CHURN_SECONDS:-600} s of churn (ASan binary)"
if wait "$long_churn_pid"; then
	passed=$((passed + 1))
else
	failed=$((failed + 1))
	echo "FAILED: control_churn_long" >&2
fi
tail -5 build-asan/meson-logs/control_churn_long.log
rm -f "$asan_status"
# The reliability report from this run's own output: the tests' RELIABILITY|
# lines in both builds' testlog.json, the long churn and the fuzzing summary
report=build/reliability.md
python3 scripts/reliability_report.py --out "$report" --fuzz "$fuzz_log" \
	--log control_churn_long:asan:build-asan/meson-logs/control_churn_long.log build build-asan ||
	{ echo "reliability report: scripts/reliability_report.py failed" >&2; report=; }
rm -f "$fuzz_log"
if [ -n "${fp:-}" ] && [ -n "${ff:-}" ]; then
	passed=$((passed + fp))
	failed=$((failed + ff))
else
	echo "FAILED: fuzz (scripts/fuzz.sh gave no summary)" >&2
	failed=$((failed + 1))
fi
# Nothing left behind: a temp file, a region, a namespace or a process
# that was not on the host before the tests and still is (processes get 5 s
# to finish exiting) counts as a failed test, named with what it left
left=
for _ in 1 2 3 4 5 6; do
	left=$(scripts/leftovers.sh | LC_ALL=C comm -13 "$leftovers_before" -)
	[ -z "$left" ] && break
	sleep 1
done
rm -f "$leftovers_before"
if [ -z "$left" ]; then
	passed=$((passed + 1))
	echo "leftovers: none (scripts/leftovers.sh)"
else
	failed=$((failed + 1))
	echo "FAILED: leftovers: the tests left on the host:" >&2
	echo "$left" | sed 's/^/  /' >&2
fi
phase "done"
[ -n "$report" ] && echo "reliability report: $(pwd)/$report"
echo "${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
