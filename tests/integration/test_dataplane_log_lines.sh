#!/bin/bash
# sy-dataplane's log reaches its file line by line, as it happens: the line
# of a step is there once the step's effect can be seen.
#
# sy-dataplane logs to stdout. Redirected to a file (or journald's socket)
# stdio buffers it by the block, and every line of the start waited for the
# flush after "sy-dataplane running": a port's line, printed before its
# exception interface is created, was missing from the log while that
# interface already existed (jumbo_live failed so in CI: "no 'port 0
# mtu=9100' line in the log", the TAP up, the port line still buffered).
#
# Here the start's later steps are made long (--ct-size 4M: worker 0's
# connection table, 256 MiB, zeroed after the ports are up). A watcher in
# the namespace stops sy-dataplane (SIGSTOP) the moment sy0 appears; the
# log must then hold the port's line, which was written before sy0 was
# created. Without line buffering it failed so:
#   FAIL: sy0 is up, but the log has no 'msg="port" port=0' line (7 lines: EAL's, from stderr)
# Then sy-dataplane goes on (SIGCONT), says it runs, and stops cleanly.
#
# usage: test_dataplane_log_lines.sh BUILD_DIR
set -u
BUILD=$(realpath "$1")
HERE=$(dirname "$(realpath "$0")")
. "$HERE/netns_lib.sh"
trap sy_cleanup EXIT

ID=$$
P=syll$ID
REGION=/dev/shm/sy-loglines-$ID
WORK=$(mktemp -d /tmp/sy-loglines-XXXXXX)
SY_FILES+=("$REGION" "$WORK" "/var/run/dpdk/$P")

[ "$(id -u)" -eq 0 ] || { echo "FAIL: needs root (namespaces, DPDK)"; exit 1; }

sy_log "topology: one namespace, a veth for net_af_packet"
sy_ns ${P}l || exit 1
ip -n ${P}l link add eth0 type veth peer name peer0 || exit 1
ip -n ${P}l link set eth0 up && ip -n ${P}l link set peer0 up || exit 1
cat >"$WORK/services" <<EOF
service web tcp 198.18.1.1 80 ipip m=251 seed=7 src4=198.18.0.1
backend web 198.18.0.11 80 02:00:00:00:00:0b
EOF
"$BUILD/tests/tools/sy-publish" --create "$REGION" "$WORK/services" >/dev/null || exit 1

LOG=$WORK/dataplane.log
sy_log "starting sy-dataplane (--ct-size 4194304) with a watcher for sy0"
ip netns exec ${P}l "$BUILD/dataplane/sy-dataplane" -l 0 --no-huge -m 1024 --no-pci \
	--file-prefix $P --vdev=net_af_packet0,iface=eth0 -- --region "$REGION" \
	--tap-prefix sy --ct-size 4194304 >"$LOG" 2>&1 &
DP=$!
SY_PIDS+=($DP)
# the watcher: a shell builtin in a loop (no fork a turn), inside the
# namespace (its /sys shows the namespace's interfaces); 30 s at most
ip netns exec ${P}l bash -c '
	end=$((SECONDS + 30))
	while [ ! -e /sys/class/net/sy0 ]; do
		[ $SECONDS -lt $end ] || exit 1
		kill -0 '$DP' 2>/dev/null || exit 2
	done
	kill -STOP '$DP''
case $? in
0) ;;
1) cat "$LOG"; echo "FAIL: sy0 did not appear in 30 s"; exit 1 ;;
*) cat "$LOG"; echo "FAIL: sy-dataplane ended before sy0 appeared"; exit 1 ;;
esac
if grep -q 'msg="port" port=0 ' "$LOG"; then
	sy_pass "sy0 is up and the log has the port's line: $(grep -m1 'msg="port"' "$LOG")"
else
	sy_fail "sy0 is up, but the log has no 'msg=\"port\" port=0' line ($(wc -l <"$LOG") lines)"
fi
grep -q 'sy-dataplane running' "$LOG" &&
	sy_log "(sy-dataplane had finished its start: the test proved less this time)"
kill -CONT $DP

sy_wait 60 grep -q 'sy-dataplane running' "$LOG" || sy_fail "sy-dataplane never said it runs"
# the lines in the order of the start's steps
order=$(grep -o -E 'msg="(mbuf pool|port|exception interface|sy-dataplane running)"' "$LOG" |
	tr '\n' ' ')
want='msg="mbuf pool" msg="port" msg="exception interface" msg="sy-dataplane running" '
[ "$order" = "$want" ] && sy_pass "the start's lines in order: $order" ||
	sy_fail "the start's lines: '$order' (want '$want')"
sy_stop_checked $DP sy-dataplane "$LOG"
echo "RESULT: $(sy_verdict)"
[ "$SY_FAILED" -eq 0 ]
