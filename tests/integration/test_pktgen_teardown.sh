#!/bin/bash
# sy-pktgen and sy-dataplane stop cleanly over net_memif, run after run
# (issue 13, point 6). perf/bench_dataplane.sh stops them the way this test
# does: sy-pktgen prints its result and lingers (--linger) without touching
# the port, sy-dataplane is stopped (SIGINT), its memif peer disconnects,
# sy-pktgen sees the link go down and stops its own port and EAL.
#
# DPDK's interrupt thread handles the peer's disconnect: it marks the link
# down first, then unmaps the rings and frees the control channel. Before
# the fix sy-pktgen stopped the port and ran rte_eal_cleanup() (which unmaps
# DPDK's memory) as soon as the link was down, while that thread was still
# at it: a SIGSEGV in the interrupt thread (rte_intr_instance_free, in
# memif's unregistration of the channel), after the result was printed.
# Rings of 16384 slots (rsize=14) take longest to unmap and make the window
# wide enough to see it nearly every other run. Before (sy-pktgen of
# 333e56c, 20 runs, rsize=14): 10 ended in SIGSEGV ("EAL: Error: Invalid
# memory" first, in some); this test's output then:
#   FAIL: run 2: sy-pktgen exit 139 (SIGSEGV) after its result
#   ...
#   FAIL: 5 of 10 runs: sy-pktgen did not stop cleanly
#
# Each run: sy-dataplane (memif server, one worker, core 1) forwards
# sy-pktgen's UDP flows (memif client, core 0) for 1 s. Checked per run:
# sy-pktgen printed its result and exited 0; sy-dataplane exited 0; what
# sy-pktgen counted as sent is what sy-dataplane counted as received; the
# worker's busy counters (busy_polls, busy_cycles) count the rounds that
# received frames and only those: at least one, at most one per frame and at
# least one per burst (32), each of at least 100 TSC cycles (an idle round
# counted would make them outnumber the frames: the worker idles for seconds
# around the traffic).
#
# usage: test_pktgen_teardown.sh BUILD_DIR
# Environment: SY_TEARDOWN_RUNS (default 20; the suite runs 10, 4 under the
# sanitizers: tests/integration/meson.build)
set -u
BUILD=$(realpath "$1")
HERE=$(dirname "$(realpath "$0")")
. "$HERE/netns_lib.sh"
trap sy_cleanup EXIT

RUNS=${SY_TEARDOWN_RUNS:-20}
P=sytd$$
WORK=$(mktemp -d /tmp/sy-teardown-XXXXXX)
SY_FILES+=("$WORK" "/var/run/dpdk/${P}d" "/var/run/dpdk/${P}g")

sy_require "DPDK" dataplane/sy-dataplane perf/sy-pktgen tests/tools/sy-publish
cat >"$WORK/services" <<EOF
service bulk udp 198.18.100.1 53 ipip m=251 seed=7 src4=198.18.0.1
backend bulk 198.18.1.1 53 02:00:00:00:01:01 1
backend bulk 198.18.1.2 53 02:00:00:00:01:02 1
EOF

# busy_wrong STATS_LINE BURST: why the busy counters of sy-dataplane's
# closing stats line do not fit its rx_packets and burst size (no exception
# interface here, so no from_kernel); nothing if they do
busy_wrong() {
	python3 - "$1" "$2" <<'PY'
import sys
kv = dict(w.split("=", 1) for w in sys.argv[1].split() if "=" in w)
rx, polls, cycles = (int(kv.get(k, 0)) for k in ("rx_packets", "busy_polls", "busy_cycles"))
burst = int(sys.argv[2])
if polls < 1:
    print(f"no busy round counted for {rx} frames")
elif polls > rx:
    print(f"busy_polls {polls} > rx_packets {rx}: rounds without frames counted")
elif polls * burst < rx:
    print(f"busy_polls {polls} < rx_packets {rx} / {burst}: rounds with frames missed")
elif cycles < 100 * polls:
    print(f"busy_cycles {cycles} < 100 x busy_polls {polls}")
PY
}

# received N: sy-dataplane (DPDK telemetry) has received N frames
received() {
	python3 "$HERE/check_telemetry.py" --ask "${P}d" /switchyard/stats |
		python3 -c 'import json, sys; sys.exit(json.load(sys.stdin).get("rx_packets") != int(sys.argv[1]))' "$1"
}

bad=0
for r in $(seq "$RUNS"); do
	region=$WORK/region.$r sock=$WORK/memif.$r.sock
	dlog=$WORK/dataplane.$r.log glog=$WORK/pktgen.$r.log
	"$BUILD/tests/tools/sy-publish" --create "$region" "$WORK/services" >/dev/null ||
		{ sy_fail "run $r: cannot publish"; bad=$((bad + 1)); continue; }
	"$BUILD/dataplane/sy-dataplane" -l 1 --no-huge -m 256 --no-pci --file-prefix "${P}d" \
		--vdev="net_memif0,role=server,socket=$sock,socket-abstract=no,rsize=14,bsize=8192" -- \
		--region "$region" --exception-tap off --ct-size 8192 >"$dlog" 2>&1 &
	dp=$!
	SY_PIDS+=($dp)
	if ! sy_wait 60 grep -q "sy-dataplane running" "$dlog"; then
		sy_fail "run $r: sy-dataplane did not start"
		tail -5 "$dlog"
		bad=$((bad + 1))
		kill -INT $dp 2>/dev/null
		wait $dp 2>/dev/null
		continue
	fi
	timeout -s INT -k 10 60 "$BUILD/perf/sy-pktgen" -l 0 --no-huge -m 128 --no-pci \
		--file-prefix "${P}g" --vdev="net_memif0,role=client,socket=$sock,socket-abstract=no,rsize=14,bsize=8192" \
		-- --flows 100 --duration 1 --warmup 0 --linger 15 >"$glog" 2>&1 &
	gen=$!
	SY_PIDS+=($gen)
	# the forwarder first, once the generator idles (as bench_dataplane.sh)
	# and the forwarder has received all the generator sent (the ring may hold
	# frames still when it idles: the ASan tree's forwarder is slow)
	sy_wait 40 grep -q "^sy-pktgen: idle" "$glog"
	sent=$(sed -n 's/^TOTAL tx=\([0-9]*\).*/\1/p' "$glog")
	[ -n "$sent" ] && sy_wait 20 received "$sent"
	kill -INT $dp 2>/dev/null
	sy_wait 10 bash -c "! kill -0 $dp 2>/dev/null"
	wait $dp 2>/dev/null
	drc=$?
	wait $gen 2>/dev/null
	grc=$?
	stats=$(grep 'msg=stats' "$dlog" | tail -1)
	rx=$(sed -n 's/.* rx_packets=\([0-9]*\).*/\1/p' <<<"$stats")
	burst=$(sed -n 's/.*sy-dataplane running.* burst=\([0-9]*\).*/\1/p' "$dlog")
	busy=$(busy_wrong "$stats" "${burst:-0}")
	what="sy-pktgen exit $grc$([ $grc -eq 139 ] && echo " (SIGSEGV)")$(grep -q '^RESULT' "$glog" && echo " after its result"), sy-dataplane exit $drc"
	if [ $grc -eq 0 ] && [ $drc -eq 0 ] && grep -q '^RESULT tx_mpps=[0-9.]* ' "$glog" &&
		! grep -q 'error=' "$glog"; then
		if [ -n "$sent" ] && [ "$sent" != "${rx:-x}" ]; then
			sy_fail "run $r: sy-pktgen sent $sent frames, sy-dataplane received ${rx:-?}"
			bad=$((bad + 1))
		elif [ -n "$busy" ]; then
			sy_fail "run $r: $busy ($stats)"
			bad=$((bad + 1))
		else
			sy_pass "run $r: $what${sent:+; $sent frames sent and received}; $(grep -o 'busy_[a-z]*=[0-9]*' <<<"$stats" | tr '\n' ' ')"
		fi
	else
		sy_fail "run $r: $what"
		grep -v '^  ' "$glog" | tail -4
		bad=$((bad + 1))
	fi
	rm -f "$region" "$sock"
	rm -rf "/var/run/dpdk/${P}d" "/var/run/dpdk/${P}g"
done
[ $bad -eq 0 ] && sy_pass "all $RUNS runs: sy-pktgen and sy-dataplane stopped cleanly" ||
	sy_fail "$bad of $RUNS runs: a check above failed"
echo "RESULT: $(sy_verdict)"
[ "$SY_FAILED" -eq 0 ]
