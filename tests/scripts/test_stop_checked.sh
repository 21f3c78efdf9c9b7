#!/bin/bash
# netns_lib.sh's sy_stop_checked, which the live tests' topo_finish uses to
# judge how sy-dataplane and sy-control end, against stand-ins: it must pass
# a process that exits 0 on SIGTERM and fail one that crashes on it (exit
# 139), one that ignores it, and one that had ended before. Each case runs in
# a subshell with its own SY_FAILED. About 4 s.
set -u
. "$1/tests/integration/netns_lib.sh"

failed=0
W=$(mktemp -d /tmp/sy-stopchk-XXXXXX)
trap 'rm -rf "$W"; sy_cleanup' EXIT
echo "a line of the stand-in's log" >"$W/log"

# case NAME WANT(PASS|FAIL) PATTERN SCRIPT: run sy_stop_checked on `bash -c
# SCRIPT` started in a subshell, which prints its PASS/FAIL line and exits
# with its SY_FAILED; the verdict and the line must be WANT and match PATTERN
case_() {
	local name=$1 want=$2 pattern=$3 script=$4 out rc got
	out=$(
		SY_FAILED=0 SY_STOP_SECONDS=2
		bash -c "$script" &
		pid=$!
		sleep 0.3 # its trap is set
		sy_stop_checked $pid stand-in "$W/log"
		kill -9 $pid 2>/dev/null # the one that ignores SIGTERM
		exit $SY_FAILED
	)
	rc=$?
	got=PASS
	[ $rc -eq 0 ] || got=FAIL
	if [ $got = "$want" ] && [[ $out == *$pattern* ]]; then
		echo "PASS: $name: $out"
	else
		echo "FAIL: $name: want $want matching '$pattern', got $got: $out"
		failed=$((failed + 1))
	fi
}

case_ "exit 0 on SIGTERM" PASS "stopped cleanly on SIGTERM (exit 0)" \
	'trap "exit 0" TERM; for i in $(seq 100); do sleep 0.1; done; exit 5'
case_ "SIGSEGV on SIGTERM" FAIL "exit 139 on SIGTERM: a line of the stand-in" \
	'trap "trap - SEGV; kill -SEGV \$\$" TERM; for i in $(seq 100); do sleep 0.1; done'
case_ "exit 1 on SIGTERM" FAIL "exit 1 on SIGTERM" \
	'trap "exit 1" TERM; for i in $(seq 100); do sleep 0.1; done'
case_ "SIGTERM ignored" FAIL "still running 2 s after SIGTERM" \
	'trap "" TERM; for i in $(seq 40); do sleep 0.1; done'
case_ "ended before the stop" FAIL "had ended (exit 3) before the test stopped it" \
	'exit 3'

echo "test_stop_checked: $failed failed"
[ $failed -eq 0 ]
