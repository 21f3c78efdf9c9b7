#!/bin/bash
# End-to-end test of the control plane with the real dataplane, in
# namespaces this test creates (tests/integration/lb_topology.sh):
#   1. a registration brings traffic to the new backend
#   2. a stopped heartbeat removes the backend (time printed); new
#      connections avoid it; established connections to the others live on
#   3. drain keeps established connections and takes no new ones
#   4. `syctl lookup` names the backend that answers, for 100 connections
#   5. kill -9 sy-control while requests run: none fails; the restarted
#      daemon adopts the region
#   6. a wrong key, a replayed heartbeat, a disallowed peer and a disallowed
#      address are refused, and nothing changes
#
# usage: test_control_e2e.sh BUILD_DIR
set -u
BUILD=$(realpath "$1")
HERE=$(dirname "$(realpath "$0")")
. "$HERE/netns_lib.sh"
P=sye$$
MODE=ipip
NB=3
TTL=2
ALLOWED=198.18.0.8/29 # the backends (.11-.13), not the client (.2)
. "$HERE/lb_topology.sh"
trap 'topo_stop_agents; sy_cleanup' EXIT
PY=/usr/bin/python3

[ "$(id -u)" -eq 0 ] || { echo "FAIL: needs root (namespaces, DPDK, XDP)"; exit 1; }

up_count() { sy_ctl --json backends web | grep -c '"state": "up"'; }
has_backend() { sy_ctl --json backends web | grep -q "\"address\": \"$1\""; }
table_shows() { sy_ctl table web | grep -q "$1"; } # the published table has a line matching $1
lookup() { sy_ctl --json lookup web $CLIENT:$1 $VIP:80 tcp | sed -n 's/.*"backend": "\([0-9.]*\):80".*/\1/p'; }

# slow downloads of /big (256 KiB, read at 8 KiB/s: 32 s) from fixed client
# ports, until wait_downloads says that what they had to live through is
# over: then the rest at full speed (slow_download.py). Each writes
# "BYTES SPANNED" into $WORK/dl.<port> when done (SPANNED: in flight until
# then). (curl at 32 KiB/s lasted 8 s, of which the test waited ~5 s for
# nothing but their end.)
start_download() {
	ip netns exec ${P}c $PY "$HERE/slow_download.py" $VIP 80 $1 /big 8192 "$WORK/dl.stop" 60 \
		>"$WORK/dl.$1" 2>/dev/null &
	DL_PIDS+=($!)
}
wait_downloads() {
	local ok=1 p
	touch "$WORK/dl.stop"
	for pid in "${DL_PIDS[@]}"; do wait $pid; done
	rm -f "$WORK/dl.stop"
	for p in "$@"; do
		[ "$(cat "$WORK/dl.$p" 2>/dev/null)" = "262144 1" ] ||
			{ ok=0; echo "  download from port $p: $(cat "$WORK/dl.$p" 2>/dev/null) (bytes, in flight until the end)"; }
	done
	DL_PIDS=()
	[ $ok = 1 ]
}
# client ports (from FIRST) whose flows Maglev gives to backend ADDR: N of them
ports_for() {
	local addr=$1 n=$2 port=$3 found=()
	while [ ${#found[@]} -lt $n ] && [ $port -lt $(($3 + 400)) ]; do
		[ "$(lookup $port)" = "$addr" ] && found+=($port)
		port=$((port + 1))
	done
	echo "${found[@]}"
}

sy_log "topology"
topo_up || { echo "FAIL: setup"; exit 1; }

# ---- 1. registration brings traffic --------------------------------------
sy_log "1. registration"
topo_register 1
topo_register 2
sy_wait 15 bash -c "[ \$(ip netns exec ${P}l $BUILD/control/syctl --socket $WORK/api.sock --json backends web | grep -c '\"state\": \"up\"') -eq 2 ]" ||
	sy_fail "be1 and be2 did not come up"
sleep 0.3
n3=$(topo_probe 40001 60 | grep -c ' be3$')
[ "$n3" -eq 0 ] && sy_pass "before be3 registers, no request reaches it" || sy_fail "be3 answered $n3 before registering"
topo_register 3
t0=$SECONDS
sy_wait 15 bash -c "ip netns exec ${P}l $BUILD/control/syctl --socket $WORK/api.sock --json backends web | grep -q 198.18.0.13" ||
	sy_fail "be3 registration not seen"
# the backends list shows a registration or a departure at once, the
# published table (what the dataplane forwards by) once the publisher has
# run: the probes that say which backend answered wait for it
topo_wait_published web 3 || sy_fail "be3 is not in the published table: $(sy_ctl table web)"
sleep 0.3
n3=$(topo_probe 40101 60 | grep -c ' be3$')
[ "$n3" -gt 0 ] && sy_pass "after be3 registers, new connections reach it ($n3 of 60)" ||
	sy_fail "be3 registered but got no traffic"

# ---- 2. heartbeat stops ------------------------------------------------------
sy_log "2. a backend's heartbeat stops"
DL_PIDS=()
keep=($(ports_for 198.18.0.11 2 41001) $(ports_for 198.18.0.13 2 41001))
for p in "${keep[@]}"; do start_download $p; done
sleep 1
kill -9 "${AGENT_PID[2]}"
wait "${AGENT_PID[2]}" 2>/dev/null
killed=$(date +%s%N)
# (a hang guard, not a latency bound: the time is printed)
sy_wait $((TTL + 15)) eval '! has_backend 198.18.0.12'
gone=$(date +%s%N)
ms=$(((gone - killed) / 1000000))
if ! has_backend 198.18.0.12; then
	sy_pass "be2 removed ${ms} ms after its last possible heartbeat (TTL ${TTL} s)"
else
	sy_fail "be2 not removed ${ms} ms after its agent died (TTL ${TTL} s)"
fi
sy_rel control_e2e_backend_death "be2's agent killed -9 (no deregistration), $MODE" "${#keep[@]} downloads to be1/be3" \
	"$(! has_backend 198.18.0.12 && echo PASS || echo FAIL)" "removed after ${ms} ms (TTL ${TTL} s)"
topo_wait_published web 2 || sy_fail "be2 is still in the published table: $(sy_ctl table web)"
sleep 0.2
n2=$(topo_probe 42001 60 | grep -c ' be2$')
[ "$n2" -eq 0 ] && sy_pass "new connections avoid be2" || sy_fail "$n2 new connections reached be2"
if wait_downloads "${keep[@]}"; then
	sy_pass "established downloads to be1/be3 (${#keep[@]}) completed intact"
else
	sy_fail "established connections to other backends were disturbed"
fi
topo_register 2 # back for the next steps
sy_wait 15 bash -c "[ \$(ip netns exec ${P}l $BUILD/control/syctl --socket $WORK/api.sock --json backends web | grep -c '\"state\": \"up\"') -eq 3 ]" ||
	sy_fail "be2 did not come back"
topo_wait_published web 3 || sy_fail "be2 is not back in the published table: $(sy_ctl table web)"

# ---- 3. drain ------------------------------------------------------------------
sy_log "3. drain"
sleep 0.3
drainp=($(ports_for 198.18.0.11 3 43001))
for p in "${drainp[@]}"; do start_download $p; done
sleep 1
sy_ctl drain web 198.18.0.11:80 >/dev/null || sy_fail "syctl drain failed"
# the drain reaches the dataplane with the next publication: wait for the
# published table to give be1 no share (a fixed pause could race it)
sy_wait 5 table_shows "198.18.0.11:80 .* 0.000" || sy_fail "be1 keeps a share after the drain: $(sy_ctl table web)"
n1=$(topo_probe 44001 60 | grep -c ' be1$')
[ "$n1" -eq 0 ] && sy_pass "a drained backend gets no new connection" || sy_fail "$n1 new connections reached drained be1"
sy_ctl backends web | grep -q "198.18.0.11:80 .* draining" && sy_pass "syctl shows be1 draining" ||
	sy_fail "syctl does not show be1 draining"
# an established flow of the drained backend: the dataplane's connection table
# keeps it there, and syctl lookup says so (Maglev alone would move it); the
# dataplane's answer, asked again if an ask missed (sy_dp_answered)
drained_lookup() { out=$(sy_ctl lookup web $CLIENT:${drainp[0]} $VIP:80 tcp) && sy_dp_answered "$out"; }
out=
sy_wait 10 drained_lookup
if echo "$out" | grep -q "backend  198.18.0.11:80" && echo "$out" | grep -q "conntrack"; then
	sy_pass "syctl lookup: an established flow stays on the drained backend (conntrack)"
else
	sy_fail "syctl lookup of an established flow: $out"
fi
if wait_downloads "${drainp[@]}"; then
	sy_pass "established downloads to the drained backend (${#drainp[@]}) completed intact"
else
	sy_fail "drain broke established connections"
fi
sy_ctl weight web 198.18.0.11:80 1 >/dev/null || sy_fail "syctl weight failed"

# ---- 4. lookup agrees with the dataplane -------------------------------------
sy_log "4. syctl lookup vs the answering backend"
# the lookups below compare with the dataplane's forwarding: be1 back in the
# published table first
sy_wait 5 eval '! table_shows "198.18.0.11:80 .* 0.000"' ||
	sy_fail "be1 has no share after its weight came back: $(sy_ctl table web)"
# the 100 connections first, then a syctl lookup of each, 4 at a time
# (one after the other they took ~6 s of the test, each a new syctl
# process answered by sy-control and the dataplane's telemetry socket)
topo_probe 45001 100 >"$WORK/answers.txt"
while read -r sport _; do
	# the lookups of ports_for above ran with LeakSanitizer's check
	sy_batch 4 sy_no_leak_check lookup $sport >"$WORK/lookup.$sport"
done <"$WORK/answers.txt"
sy_batch_wait
agree=0
while read -r sport ans; do
	want=
	read -r want <"$WORK/lookup.$sport"
	[ "$ans" = "${NAME_OF[${want:-?}]:-?}" ] && agree=$((agree + 1)) ||
		echo "  port $sport: answered by $ans, syctl lookup says ${NAME_OF[${want:-?}]:-$want}"
done <"$WORK/answers.txt"
[ $agree -eq 100 ] && sy_pass "syctl lookup named the answering backend for 100 of 100 connections" ||
	sy_fail "syctl lookup agreed for only $agree of 100"

# ---- 5. kill -9 sy-control under load -----------------------------------------
sy_log "5. kill -9 sy-control while requests run"
gen0=$(sy_ctl --json status | sed -n 's/.*"generation": \([0-9]*\).*/\1/p')
topo_probe 46001 300 2 >"$WORK/during.txt" &
LOAD=$!
sleep 0.5
kill -9 $CONTROL_PID
wait $CONTROL_PID 2>/dev/null
sleep 0.5
topo_start_control || sy_fail "sy-control did not restart"
wait $LOAD
failed=$(grep -c ' -$' "$WORK/during.txt")
total=$(wc -l <"$WORK/during.txt")
[ "$total" -eq 300 ] && [ "$failed" -eq 0 ] && sy_pass "300 requests across the kill and restart, none failed" ||
	sy_fail "$failed of $total requests failed across the sy-control restart"
sy_rel control_e2e_kill_control "kill -9 sy-control, restart (adopts the region)" "300 HTTP requests through the VIP" \
	"$([ "$total" -eq 300 ] && [ "$failed" -eq 0 ] && echo PASS || echo FAIL)" "$total requests, $failed failed"
sy_ctl --json status | grep -q '"adopted": true' && sy_pass "the restarted sy-control adopted the region" ||
	sy_fail "restarted sy-control did not adopt the region"
grep -q "region adopted" "$WORK/control.log" || sy_fail "no adoption in the log"
sleep $((TTL + 1))
[ "$(up_count)" -eq 3 ] && sy_pass "after a TTL the agents' heartbeats hold all 3 backends" ||
	sy_fail "backends lost after the restart: $(up_count) up"

# ---- 6. refused registrations change nothing ---------------------------------
sy_log "6. refused registrations"
before=$(sy_ctl --json backends web | grep -c '"address"')
gen_before=$(sy_ctl --json status | sed -n 's/.*"generation": \([0-9]*\).*/\1/p')
sy_keyfile "$WORK/wrong.key"
ip netns exec ${P}b1 "$BUILD/control/syctl" register --once --service web --addr 198.18.0.11 \
	--port 8080 --key-file "$WORK/wrong.key" --registry http://$LBIP:9181 >/dev/null 2>&1
rc=$?
[ $rc -ne 0 ] && sy_pass "wrong key refused (syctl register exit $rc)" || sy_fail "a wrong key was accepted"

post() { # NS BODY SIG -> HTTP status
	ip netns exec $1 curl -s -o /dev/null -w '%{http_code}' --max-time 3 \
		-H "X-Switchyard-Signature: $3" -H 'Content-Type: application/json' \
		--data-binary "$2" http://$LBIP:9181/v1/register
}
mapfile -t signed < <($PY "$HERE/sign_registration.py" "$WORK/web.key" web 198.18.0.11 80 $TTL)
s1=$(post ${P}b1 "${signed[0]}" "${signed[1]}")
s2=$(post ${P}b1 "${signed[0]}" "${signed[1]}")
[ "$s1" = 200 ] && [ "$s2" = 401 ] && sy_pass "a replayed heartbeat is refused (200 then $s2)" ||
	sy_fail "replay: first $s1, replay $s2 (want 200, 401)"

mapfile -t signed < <($PY "$HERE/sign_registration.py" "$WORK/web.key" web 198.18.0.2 80 $TTL)
s=$(post ${P}c "${signed[0]}" "${signed[1]}")
s_peer=$s
[ "$s" = 403 ] && sy_pass "a registration from a disallowed peer is refused ($s)" || sy_fail "disallowed peer: $s (want 403)"
mapfile -t signed < <($PY "$HERE/sign_registration.py" "$WORK/web.key" web 198.18.9.9 80 $TTL)
s=$(post ${P}b1 "${signed[0]}" "${signed[1]}")
[ "$s" = 403 ] && sy_pass "a registration of a disallowed address is refused ($s)" || sy_fail "disallowed address: $s (want 403)"
s=$(post ${P}b1 "${signed[0]}" "0000000000000000000000000000000000000000000000000000000000000000")
[ "$s" = 401 ] && sy_pass "a bad signature is refused ($s)" || sy_fail "bad signature: $s (want 401)"

after=$(sy_ctl --json backends web | grep -c '"address"')
gen_after=$(sy_ctl --json status | sed -n 's/.*"generation": \([0-9]*\).*/\1/p')
if [ "$before" = "$after" ] && [ "$gen_before" = "$gen_after" ] && ! has_backend 198.18.9.9 && ! has_backend 198.18.0.2; then
	sy_pass "nothing changed: $after backends, generation $gen_after"
else
	sy_fail "refused registrations changed state: backends $before -> $after, generation $gen_before -> $gen_after"
fi
sy_rel control_e2e_bad_registrations "wrong key, replayed heartbeat, disallowed peer/address, bad signature" "3 agents heartbeating" \
	"$([ $rc -ne 0 ] && [ "$s1" = 200 ] && [ "$s2" = 401 ] && [ "$s_peer" = 403 ] && [ "$s" = 401 ] && [ "$before" = "$after" ] && [ "$gen_before" = "$gen_after" ] && echo PASS || echo FAIL)" \
	"wrong key: exit $rc; replay: $s1 then $s2; disallowed peer: $s_peer; bad signature: $s; backends $before -> $after, generation $gen_before -> $gen_after"

topo_finish # sy-dataplane and sy-control must stop cleanly (exit 0)
echo "--- sy-control log (tail)"
tail -5 "$WORK/control.log"
[ $SY_FAILED -eq 0 ] && echo "RESULT: PASS" || echo "RESULT: FAIL"
exit $SY_FAILED
