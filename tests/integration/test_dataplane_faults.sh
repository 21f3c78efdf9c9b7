#!/bin/bash
# sy-control facing a dataplane that stops, stalls or dies (issue 12):
# sy-control (embedded registry on loopback, a backend's agent heartbeating
# with a 3 s TTL) and sy-dataplane (net_null port, no hugepages) on one
# region in a temporary directory.
#
#   stuck: the dataplane is stopped (SIGSTOP) while 4 clients fire `syctl
#     lookup` without pause for 8 s. The lookups answer (the table's choice,
#     saying the dataplane did not answer); meanwhile `syctl status` answers
#     every time, the agent's heartbeats keep its backend (no expiry), and a
#     change (`syctl add`) is published. Before the fix (8e34f0d) lookups
#     asked the dataplane under the daemon lock with 1 s waits: status took
#     10 s and heartbeats queued behind them.
#   liveness: `syctl status` (its dataplane line and exit code),
#     /v1/status and /metrics say running, then stalled while the dataplane
#     is stopped, running again after SIGCONT, gone after kill -9, none after
#     a clean stop; on the XDP path, detached once the interface carrying the
#     program is deleted. Before (8e34f0d) status said "ok" and exited 0
#     throughout, and /metrics had no sign of the dataplane.
#
# usage: test_dataplane_faults.sh BUILD_DIR
set -u
BUILD=$(realpath "$1")
HERE=$(dirname "$(realpath "$0")")
. "$HERE/netns_lib.sh"
[ "$(id -u)" -eq 0 ] || { echo "FAIL: needs root (DPDK)"; exit 1; }
P=sydf$$
W=$(mktemp -d /tmp/sy-dpfault-XXXXXX)
trap 'kill -CONT ${DP:-0} 2>/dev/null; sy_cleanup; umount "$W/bpffs" 2>/dev/null; rm -rf "$W" /var/run/dpdk/$P' EXIT
SOCK=$W/api.sock
PY=/usr/bin/python3
RPORT=$($PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
sy_keyfile "$W/key"
ctl() { "$BUILD/control/syctl" --socket "$SOCK" "$@"; }
export BUILD SOCK
export -f ctl
cat >"$W/sw.yaml" <<EOF
instance: dpfault$$
region: $W/region
state_file: $W/region.state
limits: { lcores: 4, services: 16, backends: 256, heap_mb: 16 }
api: { socket: $SOCK }
defaults: { encap_source4: 198.18.0.1, table_size: 251 }
registry:
  embedded:
    listen: 127.0.0.1:$RPORT
    allowed_prefixes: [127.0.0.0/8, 198.18.0.0/15]
services:
  - name: web
    vip: 198.18.1.1
    port: 80
    protocol: tcp
    mode: ipip
    source: embedded
    key_file: $W/key
    next_hop_mac: 02:00:00:00:00:fe
    health: { hold_down_s: 0 }
    backends:
      - { address: 198.18.0.11, port: 80 }
EOF
"$BUILD/control/sy-control" --config "$W/sw.yaml" >"$W/control.log" 2>&1 &
CONTROL=$!
SY_PIDS+=($CONTROL)
sy_wait 10 test -S "$SOCK" || { cat "$W/control.log"; echo "FAIL: sy-control did not start"; exit 1; }
"$BUILD/control/syctl" register --service web --addr 198.18.0.12 --port 80 --ttl 3 \
	--key-file "$W/key" --registry "http://127.0.0.1:$RPORT" >"$W/agent.log" 2>&1 &
SY_PIDS+=($!)
"$BUILD/dataplane/sy-dataplane" -l 0 --no-huge -m 512 --no-pci --file-prefix $P \
	--vdev=net_null0 -- --region "$W/region" --exception-tap off --ct-size 4096 >"$W/dp.log" 2>&1 &
DP=$!
SY_PIDS+=($DP)
sy_wait 30 grep -q "sy-dataplane running" "$W/dp.log" || { cat "$W/dp.log"; echo "FAIL: sy-dataplane did not start"; exit 1; }
sy_wait 5 bash -c 'ctl --json services | grep -q "\"backends\": 2"' || sy_fail "web: 2 backends not published"
FLOW="web 198.18.0.2:1234 198.18.1.1:80 tcp"
# the running dataplane must answer one of the lookups of 10 s, not the
# first (sy_dp_answered)
by_dataplane() {
	local out
	out=$(ctl lookup $FLOW) && grep -q "198.18.0.1[12]:80" <<<"$out" && sy_dp_answered "$out"
}
sy_wait 10 by_dataplane && sy_pass "lookup answered by the running dataplane" ||
	sy_fail "lookup: $(ctl lookup $FLOW)"

# dp_state WANT: status's JSON state, its exit code (0 only when running),
# its dataplane line and /metrics all say WANT (within 5 s)
dp_state() {
	local want=$1 rc=5 st line up metric
	[ "$want" = running ] && rc=0
	if sy_wait 5 bash -c "ctl --json status | grep -q '\"state\": \"$want\"'"; then
		line=$(ctl status | grep '^dataplane')
		ctl status >/dev/null
		st=$?
		up=$(curl -s --unix-socket "$SOCK" http://x/metrics | sed -n 's/^switchyard_dataplane_up //p')
		metric=$(curl -s --unix-socket "$SOCK" http://x/metrics |
			sed -n "s/^switchyard_dataplane_state{state=\"$want\"} //p")
		[ $st = $rc ] && echo "$line" | grep -q " $want" && [ "$up" = "$([ $want = running ] && echo 1 || echo 0)" ] &&
			[ "$metric" = 1 ] &&
			sy_pass "dataplane $want: status exit $st, '$line', dataplane_up $up" ||
			sy_fail "dataplane $want: status exit $st (want $rc), '$line', dataplane_up '$up', state metric '$metric'"
	else
		sy_fail "dataplane state never became $want: $(ctl status | grep '^dataplane')"
	fi
}
dp_state running

# ---- stuck: a stopped dataplane and 4 clients looking up ---------------------------
kill -STOP $DP
dp_state stalled
sy_log "dataplane $DP stopped; 4 lookup loops for 8 s"
end=$((SECONDS + 8))
loops=()
for c in 1 2 3 4; do
	(
		n=0 bad=0
		while [ $SECONDS -lt $end ]; do
			out=$(timeout 20 "$BUILD/control/syctl" --socket "$SOCK" lookup $FLOW 2>&1)
			rc=$?
			n=$((n + 1))
			{ [ $rc = 0 ] && echo "$out" | grep -q "198.18.0.1[123]:80"; } || bad=$((bad + 1))
		done
		echo "$n $bad" >"$W/lookups.$c"
		echo "$out" >"$W/lookup-last.$c"
	) &
	loops+=($!)
done
status_n=0 status_bad=0 worst=0
added=0
while [ $SECONDS -lt $end ]; do
	t0=$(date +%s%N)
	# it answers, and says the dataplane is not running (exit 5)
	timeout 8 "$BUILD/control/syctl" --socket "$SOCK" status >/dev/null 2>&1
	[ $? = 5 ] || status_bad=$((status_bad + 1))
	ms=$((($(date +%s%N) - t0) / 1000000))
	[ $ms -gt $worst ] && worst=$ms
	status_n=$((status_n + 1))
	if [ $added = 0 ] && [ $status_n = 3 ]; then
		timeout 8 "$BUILD/control/syctl" --socket "$SOCK" add web 198.18.0.13:80 >/dev/null 2>&1 && added=1
	fi
	sleep 0.3
done
wait "${loops[@]}"
read -r ln lbad <<<"$(cat "$W"/lookups.* | awk '{n += $1; b += $2} END {print n, b}')"
echo "lookups: $ln, not answered as expected: $lbad; the last one said: $(cat "$W/lookup-last.1")"
[ "${ln:-0}" -gt 0 ] && [ "${lbad:-1}" = 0 ] &&
	sy_pass "$ln lookups against the stopped dataplane all answered (from the published table)" ||
	sy_fail "lookups: $lbad of $ln not answered"
grep -q "did not answer\|unreachable" "$W/lookup-last.1" &&
	grep -q "^answered from the published table alone" "$W/lookup-last.1" &&
	sy_pass "a lookup says the dataplane did not answer (answered from the published table)" ||
	sy_fail "lookup reason: $(cat "$W/lookup-last.1")"
[ $status_bad = 0 ] && sy_pass "syctl status answered $status_n of $status_n times meanwhile (slowest $worst ms)" ||
	sy_fail "syctl status failed or hung $status_bad of $status_n times (slowest $worst ms)"
grep -q "backend expired" "$W/control.log" && sy_fail "a backend expired: $(grep 'backend expired' "$W/control.log")" ||
	sy_pass "the agent's heartbeats kept its backend (no expiry)"
[ $added = 1 ] && sy_wait 5 bash -c 'ctl --json services | grep -q "\"backends\": 3"' &&
	sy_pass "syctl add meanwhile was published" || sy_fail "syctl add meanwhile: added=$added, $(ctl services)"
kill -CONT $DP
dp_state running

# ---- liveness: gone, none ------------------------------------------------------------
kill -9 $DP
wait $DP 2>/dev/null
dp_state gone
"$BUILD/dataplane/sy-dataplane" -l 0 --no-huge -m 512 --no-pci --file-prefix $P \
	--vdev=net_null0 -- --region "$W/region" --exception-tap off --ct-size 4096 >"$W/dp2.log" 2>&1 &
DP=$!
SY_PIDS+=($DP)
sy_wait 30 grep -q "sy-dataplane running" "$W/dp2.log" || sy_fail "the second sy-dataplane did not start"
dp_state running
sy_stop_checked $DP sy-dataplane "$W/dp2.log"
dp_state none
grep -q 'dataplane gone' "$W/control.log" && grep -q 'dataplane stalled' "$W/control.log" &&
	sy_pass "the state changes are logged" || sy_fail "no log line for the state changes"
kill -TERM $CONTROL
wait $CONTROL

# ---- liveness: XDP, detached ------------------------------------------------------------
sy_ns ${P}x || sy_fail "namespace"
ip -n ${P}x link add xdp0 type veth peer name xdp1 && ip -n ${P}x link set xdp0 up &&
	ip -n ${P}x link set xdp1 up || sy_fail "veth"
mkdir -p "$W/bpffs" && mount -t bpf bpf "$W/bpffs" || sy_fail "bpffs"
rm -f "$SOCK"
ip netns exec ${P}x "$BUILD/control/sy-control" --config "$W/sw.yaml" --dataplane xdp --iface xdp0 \
	--xdp-bpffs "$W/bpffs" >"$W/xdp.log" 2>&1 &
CONTROL=$!
SY_PIDS+=($CONTROL)
sy_wait 15 test -S "$SOCK" || { cat "$W/xdp.log"; sy_fail "sy-control (xdp) did not start"; }
dp_state running
ip -n ${P}x link del xdp0
dp_state detached
kill -TERM $CONTROL
wait $CONTROL
umount "$W/bpffs"

grep -q "ERROR: AddressSanitizer\|runtime error" "$W/control.log" && { sy_fail "sanitizer report"; cat "$W/control.log"; }
[ "$SY_FAILED" -eq 0 ] && echo "RESULT: PASS" || { echo "RESULT: FAIL"; tail -20 "$W/control.log"; }
exit "$SY_FAILED"
