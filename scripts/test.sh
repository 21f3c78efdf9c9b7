#!/bin/bash
# The test command: installs what is needed, builds the release and the
# ASan+UBSan builds, runs every test in both, fuzzes (scripts/fuzz.sh,
# SY_FUZZ_SECONDS per target, default 30), writes docs/reliability.md
# (scripts/reliability_report.py) and ends with one line "N passed, N
# failed". A skipped test counts as failed: a test that cannot run here must
# say so, not vanish.
set -uo pipefail
cd "$(dirname "$0")/.."

if ! scripts/install-deps.sh; then
	echo "0 passed, 1 failed"
	exit 1
fi
if ! scripts/build.sh --asan; then
	echo "build failed"
	echo "0 passed, 1 failed"
	exit 1
fi

passed=0
failed=0
for dir in build build-asan; do
	echo "=== tests in $dir ==="
	# ASan reports are errors; leak checking is on by default.
	ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		meson test -C "$dir" --print-errorlogs --num-processes 1
	read -r p f < <(python3 scripts/count_results.py "$dir/meson-logs/testlog.json")
	passed=$((passed + p))
	failed=$((failed + f))
done

# Fuzzing (clang + libFuzzer, build-fuzz/): every target of tests/fuzz for
# SY_FUZZ_SECONDS (default 30) after replaying its regression inputs; each
# target counts as one test.
echo "=== fuzzing (${SY_FUZZ_SECONDS:-30} s per target) ==="
fuzz_log=$(mktemp)
scripts/fuzz.sh "${SY_FUZZ_SECONDS:-30}" 2>&1 | tee "$fuzz_log"
read -r fp ff < <(sed -nE 's/^fuzz summary: passed=([0-9]+) failed=([0-9]+)$/\1 \2/p' "$fuzz_log" | tail -1)
# docs/reliability.md from this run's own output: the tests' RELIABILITY|
# lines in both builds' testlog.json, and the fuzzing summary
python3 scripts/reliability_report.py --out docs/reliability.md --fuzz "$fuzz_log" build build-asan ||
	echo "reliability report: scripts/reliability_report.py failed" >&2
rm -f "$fuzz_log"
if [ -n "${fp:-}" ] && [ -n "${ff:-}" ]; then
	passed=$((passed + fp))
	failed=$((failed + ff))
else
	echo "FAILED: fuzz (scripts/fuzz.sh gave no summary)" >&2
	failed=$((failed + 1))
fi
echo "${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
