#!/bin/bash
# Builds the libFuzzer targets of tests/fuzz with clang into build-fuzz/
# (-Dfuzz=true: ASan+UBSan and coverage instrumentation everywhere), replays
# every target's regression inputs and seed corpus, then fuzzes each target
# for a bounded time, two targets at a time (one a core: nothing else runs
# then in scripts/test.sh).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]      (default 60)
#   scripts/fuzz.sh --build-only              (configure and build, no run)
#
# --build-only: scripts/test.sh builds build-fuzz/ with it in the background
# (niced) while the release tree's tests run, which mostly wait; the
# fuzzing run later finds the targets built (ninja: nothing to do) and
# rebuilds whatever that build did not finish.
#
# Per target it prints one line: executions, exec/s, coverage (libFuzzer's
# cov: and ft:), corpus size, crashes, and whether the regression inputs
# passed. A target passes when its regressions replay cleanly and fuzzing
# found nothing. The last line is "fuzz summary: passed=P failed=F" (read by
# scripts/test.sh); the exit status is 0 only if every target passed.
#
# New inputs are kept in build-fuzz/fuzz-corpus/TARGET (grows across runs);
# crashing inputs land in build-fuzz/fuzz-artifacts/TARGET/. A crash found is
# fixed in the product and its input copied to tests/fuzz/regressions/TARGET/
# (docs/fuzzing.md).
set -uo pipefail
cd "$(dirname "$0")/.."

BUILD_ONLY=0
if [ "${1:-}" = --build-only ]; then
	BUILD_ONLY=1
	shift
fi
SECS=${1:-60}
DIR=build-fuzz
TARGETS=(fuzz_packet fuzz_config fuzz_registry_value fuzz_http_api fuzz_api_router fuzz_syctl_args
	fuzz_import_ipvs fuzz_resolve_answer fuzz_resolve_etcd)
MAX_RESTARTS=5 # after a crash, fuzzing goes on (for the rest of the time) at most this often

if ! [[ "$SECS" =~ ^[0-9]+$ ]] || [ "$SECS" -lt 1 ]; then
	echo "usage: $0 [SECONDS_PER_TARGET] | --build-only" >&2
	exit 2
fi

summary_fail_all() { # why
	echo "fuzz: $1" >&2
	for t in "${TARGETS[@]}"; do
		echo "fuzz $t: FAILED ($1)"
	done
	echo "fuzz summary: passed=0 failed=${#TARGETS[@]}"
	exit 1
}

command -v clang >/dev/null || summary_fail_all "clang not found"
# fuzz_configured: the tree exists with -Dfuzz=true (ninja re-runs meson
# itself when a meson.build changes; a reconfigure costs ~4 s)
fuzz_configured() {
	[ -f "$DIR/build.ninja" ] && python3 -c '
import json, sys
opts = json.load(open(sys.argv[1]))
sys.exit(0 if any(o["name"] == "fuzz" and o["value"] is True for o in opts) else 1)' \
		"$DIR/meson-info/intro-buildoptions.json" 2>/dev/null
}
if fuzz_configured; then
	:
elif [ -f "$DIR/build.ninja" ]; then
	meson setup --reconfigure "$DIR" -Dfuzz=true >/dev/null || summary_fail_all "meson setup failed"
else
	CC=clang meson setup "$DIR" -Dfuzz=true >/dev/null || summary_fail_all "meson setup failed"
fi
exes=()
for t in "${TARGETS[@]}"; do
	exes+=("tests/fuzz/$t")
done
if [ "$BUILD_ONLY" = 1 ]; then
	ninja -C "$DIR" "${exes[@]}"
	exit
fi
ninja -C "$DIR" "${exes[@]}" || summary_fail_all "build failed"

export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
root=$(pwd)
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT

# One target: its report (what it found, then its line) into
# $results/TARGET, its verdict into $results/TARGET.verdict.
fuzz_one() {
	local t=$1 exe seeds regr work art log inputs nreg regr_ok before start execs cov ft corp
	local restarts left rc last n c f k elapsed after crashes verdict
	exec >"$results/$t" 2>&1
	exe="$root/$DIR/tests/fuzz/$t"
	seeds="$root/tests/fuzz/corpus/$t"
	regr="$root/tests/fuzz/regressions/$t"
	work="$root/$DIR/fuzz-corpus/$t"
	art="$root/$DIR/fuzz-artifacts/$t"
	log="$root/$DIR/fuzz-logs/$t.log"
	mkdir -p "$work" "$art" "$(dirname "$log")"
	inputs=("$seeds")
	[ -d "$regr" ] && inputs+=("$regr")

	# 1. the regression inputs and seeds, once each, no mutation
	nreg=$( [ -d "$regr" ] && find "$regr" -type f | wc -l || echo 0)
	# (bounded: an input that hangs, e.g. a deadlock, fails; it never stalls CI)
	if timeout -k 5 300 "$exe" -runs=0 -timeout=10 -close_fd_mask=3 "${inputs[@]}" \
		>"$log.replay" 2>&1; then
		regr_ok=ok
	else
		regr_ok=FAILED
		echo "--- $t: replay of seeds/regressions failed:"
		grep -E "ERROR|SUMMARY|invariant|Running" "$log.replay" | head -20
	fi

	# 2. fuzzing for SECS seconds (restarted after a crash while time is left)
	before=$(find "$art" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
	: >"$log"
	start=$(date +%s)
	execs=0
	cov=0
	ft=0
	corp=0
	restarts=0
	while :; do
		left=$((SECS - ($(date +%s) - start)))
		[ "$left" -ge 1 ] || break
		timeout -k 5 $((left + 60)) nice -n 10 "$exe" -max_total_time="$left" -timeout=10 -close_fd_mask=3 \
			-artifact_prefix="$art/" -print_final_stats=1 "$work" "${inputs[@]}" >>"$log.run" 2>&1
		rc=$?
		cat "$log.run" >>"$log"
		# the last status line: "#N ... cov: C ft: F corp: K/..."
		last=$(grep -E '^#[0-9]+' "$log.run" | tail -1)
		rm -f "$log.run"
		n=$(sed -nE 's/^#([0-9]+).*/\1/p' <<<"$last")
		execs=$((execs + ${n:-0}))
		c=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")
		f=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$last")
		k=$(sed -nE 's/.* corp: ([0-9]+)\/.*/\1/p' <<<"$last")
		[ "${c:-0}" -gt "$cov" ] && cov=$c
		[ "${f:-0}" -gt "$ft" ] && ft=$f
		[ -n "$k" ] && corp=$k
		[ "$rc" -eq 0 ] && break
		restarts=$((restarts + 1))
		[ "$restarts" -ge "$MAX_RESTARTS" ] && break
	done
	elapsed=$(($(date +%s) - start))
	[ "$elapsed" -ge 1 ] || elapsed=1
	after=$(find "$art" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
	crashes=$((after - before))
	if [ "$crashes" -gt 0 ]; then
		echo "--- $t: $crashes crashing input(s) in $art:"
		grep -E "ERROR: |invariant violated|SUMMARY" "$log" | head -10
	fi
	if [ "$regr_ok" = ok ] && [ "$crashes" -eq 0 ] && [ "$restarts" -eq 0 ]; then
		verdict=ok
	else
		verdict=FAILED
	fi
	printf 'fuzz %-20s %s: %d s, %d execs (%d/s), cov %d, ft %d, corpus %d, crashes %d, regressions %d %s\n' \
		"$t" "$verdict" "$elapsed" "$execs" $((execs / elapsed)) "$cov" "$ft" "$corp" \
		"$crashes" "$nreg" "$regr_ok"
	echo "$verdict" >"$results/$t.verdict"
}

running=0
for t in "${TARGETS[@]}"; do
	if [ "$running" -ge 2 ]; then
		wait -n
		running=$((running - 1))
	fi
	fuzz_one "$t" &
	running=$((running + 1))
done
wait
passed=0
failed=0
for t in "${TARGETS[@]}"; do
	cat "$results/$t"
	if [ "$(cat "$results/$t.verdict" 2>/dev/null)" = ok ]; then
		passed=$((passed + 1))
	else
		[ -s "$results/$t.verdict" ] || echo "fuzz $t: FAILED (no result: the target's run ended abnormally)"
		failed=$((failed + 1))
	fi
done
echo "fuzz summary: passed=$passed failed=$failed"
[ "$failed" -eq 0 ]
