#!/bin/bash
# VIPs announced by BGP, tied to health, with real BIRD 2 daemons (issue 14,
# first step; docs/control.md, "Announcing the VIPs").
#
# Topology: lb_topology.sh (sy-control with its embedded registry, one
# backend registered, sy-dataplane on net_af_packet) plus a router
# namespace running BIRD 2, peering over a veth of its own (198.18.2.0/30)
# with a BIRD 2 in the LB namespace, which includes the file sy-control
# writes (bgp.daemon: bird, hold_down_s 1 doubling to 4). The router's BIRD
# installs what it learns in its kernel table: "announced" below means the
# VIP's route is in the router's FIB (`ip route`), "gone" that it is not.
# The BGP session does not run through the dataplane, so what moves the
# route is sy-control's decision alone.
#
#   0. deploy/bird/bird.conf.example parses (bird -p);
#   1. the VIP is announced once the dataplane runs and the backend is up;
#   2. a malformed drain command is refused (exit 2);
#   3. kill -9 sy-dataplane: the route goes (kill -> gone printed);
#   4. sy-dataplane restarted: the route returns after the hold-down, which
#      has doubled (the second failure: "VIP held down" hold_ms=2000);
#   5. syctl drain-host: gone, reason drained, in /metrics; BIRD on the LB
#      restarted while drained reads the file and announces nothing, and
#      sy-control shows it unreachable meanwhile, then up again;
#   6. syctl undrain-host: back at once (a drain is not a failure);
#   7. BIRD on the LB restarted while announced: it reads the VIP from the
#      file at its start and the router has the route again;
#   8. a clean stop of sy-control withdraws it (the dataplane keeps running);
#   9. sy-control refuses to start with BIRD down, and with a BIRD that does
#      not include the file, naming the problem (exit 1); with
#      bgp.required: false it starts, shows `unreachable`, and configures
#      BIRD once it runs: the route returns with no restart of sy-control.
# Times are printed, never asserted. BIRD runs as the test's own server
# (its own configuration and control socket under a temporary directory,
# never the system service); every process is stopped by its PID.
#
# usage: test_bgp_live.sh BUILD_DIR SOURCE_DIR
set -u
BUILD=$(realpath "$1")
SRC=$(realpath "$2")
HERE=$(dirname "$(realpath "$0")")
. "$HERE/netns_lib.sh"
P=sbg$$
MODE=ipip
NB=1
# heartbeats reach sy-control through the dataplane's TAP: they stop while
# it is down, so the TTL is well above the gap
TTL=20
ALLOWED=198.18.0.8/29
RTR=198.18.2.1 # the router's end of the peering link
LBP=198.18.2.2 # the LB's
. "$HERE/lb_topology.sh"
. "$HERE/bird_lib.sh"
trap 'topo_stop_agents; sy_cleanup' EXIT
PY=/usr/bin/python3

sy_require "namespaces, DPDK, BIRD" control/sy-control control/syctl dataplane/sy-dataplane bpf/sy-decap
bird_require

# ---- 0. the shipped example parses -----------------------------------------------
out=$(cd / && bird -p -c "$SRC/deploy/bird/bird.conf.example" 2>&1) &&
	sy_pass "deploy/bird/bird.conf.example parses (bird -p)" ||
	sy_fail "deploy/bird/bird.conf.example does not parse: $out"

BW=$(mktemp -d /tmp/sy-bgp-XXXXXX)
SY_FILES+=("$BW")
bird_lb_conf "$BW/lb.conf" $LBP "$BW/vips*.conf" $RTR
grep -v include "$BW/lb.conf" >"$BW/lb-noinclude.conf"
bird_router_conf "$BW/router.conf" $RTR $LBP
TOPO_EXTRA_CONFIG="bgp:
  daemon: bird
  socket: $BW/lb.ctl
  include_file: $BW/vips.conf
  hold_down_s: 1
  hold_down_max_s: 4
  stable_s: 60"

LB_BIRD=
start_bird_lb() { # CONF
	bird_start ${P}l "$BW/$1" "$BW/lb.ctl" "$BW/bird-lb.log"
	local rc=$?
	LB_BIRD=$BIRD_PID
	return $rc
}
stop_bird_lb() {
	kill -TERM "$LB_BIRD" 2>/dev/null
	wait "$LB_BIRD" 2>/dev/null
}
topo_before_control() {
	sy_ns ${P}r || return 1
	ip link add r0 netns ${P}r type veth peer name bgp0 netns ${P}l || return 1
	ip -n ${P}r addr add $RTR/30 dev r0 && ip -n ${P}r link set r0 up || return 1
	ip -n ${P}l addr add $LBP/30 dev bgp0 && ip -n ${P}l link set bgp0 up || return 1
	bird_start ${P}r "$BW/router.conf" "$BW/router.ctl" "$BW/bird-router.log" || return 1
	start_bird_lb lb.conf
}

route_present() { [ "$(bird_vias ${P}r $VIP/32)" = $LBP ]; }
route_absent() { ! route_present; }
# wait_route present|absent SECONDS: poll the router's FIB every 50 ms
wait_route() {
	local want=$LBP
	[ "$1" = absent ] && want=
	bird_wait_vias ${P}r $VIP/32 "$want" "$2"
}
# the VIP's decision in syctl --json status: "announced reason"; bgp state
vip_state() {
	sy_ctl --json status | $PY -c '
import json, sys
j = json.load(sys.stdin)
v = [x for x in j["bgp"]["vips"] if x["vip"] == sys.argv[1]][0]
print("announced" if v["announced"] else "withdrawn", v["reason"])' $VIP 2>/dev/null
}
bgp_state() { sy_ctl --json status | $PY -c 'import json, sys; print(json.load(sys.stdin)["bgp"]["state"])' 2>/dev/null; }
export -f sy_ctl vip_state bgp_state
export BUILD WORK VIP PY
wait_vip() { sy_wait "$2" bash -c "[ \"\$(vip_state)\" = '$1' ]"; } # "STATE REASON" SECONDS
wait_bgp() { sy_wait "$2" bash -c "[ \"\$(bgp_state)\" = '$1' ]"; } # STATE SECONDS
lb_bird_has_vip() { birdc -s "$BW/lb.ctl" show route protocol switchyard4 | grep -q "$VIP/32"; }
router_established() { birdc -s "$BW/router.ctl" show protocols lb1 | grep -q Established; }

sy_log "topology: router + LB BIRD, sy-control, sy-dataplane, $NB backend"
topo_up || { cat "$WORK/control.log" "$BW"/bird-*.log 2>/dev/null | tail -30; echo "FAIL: setup"; echo "RESULT: FAIL"; exit 1; }
export WORK
topo_register 1
sy_wait 20 bash -c "[ \$(sy_ctl --json backends web | grep -c '\"state\": \"up\"') -eq $NB ]" ||
	sy_fail "the backend did not come up"

# ---- 1. announced ---------------------------------------------------------------------
if wait_route present 30; then
	sy_pass "the VIP's route is in the router's FIB: $(ip -n ${P}r route show $VIP/32)"
else
	sy_fail "the VIP was never announced: status '$(vip_state)', bgp '$(bgp_state)'"
	birdc -s "$BW/router.ctl" show protocols
	tail -5 "$WORK/control.log"
fi
[ "$(vip_state)" = "announced healthy" ] && [ "$(bgp_state)" = up ] &&
	grep -q "route $VIP/32 blackhole;" "$BW/vips.conf" &&
	sy_pass "status: announced, healthy, bgp up; the include file routes $VIP/32" ||
	sy_fail "status '$(vip_state)', bgp '$(bgp_state)', file: $(grep route "$BW/vips.conf")"

# ---- 2. a malformed drain command ---------------------------------------------------------
out=$(sy_ctl drain-host now 2>&1)
rc=$?
[ $rc -eq 2 ] && grep -q "wrong number of arguments" <<<"$out" && [ "$(vip_state)" = "announced healthy" ] &&
	sy_pass "syctl drain-host now: refused (exit 2), nothing sent" ||
	sy_fail "syctl drain-host now: exit $rc, '$out', state '$(vip_state)'"

# ---- 3. kill -9 sy-dataplane ----------------------------------------------------------------
t=$EPOCHREALTIME
kill -9 "$DATAPLANE_PID"
wait "$DATAPLANE_PID" 2>/dev/null
if wait_route absent 15; then
	kill_ms=$(sy_ms_since "$t")
	sy_pass "kill -9 sy-dataplane: route gone from the router's FIB after ${kill_ms} ms"
else
	kill_ms=-1
	sy_fail "kill -9 sy-dataplane: the route stayed (status '$(vip_state)')"
fi
[ "$(vip_state)" = "withdrawn dataplane" ] && sy_pass "status: withdrawn, reason dataplane" ||
	sy_fail "status after the kill: '$(vip_state)'"

# ---- 4. restarted: back after the (doubled) hold-down -----------------------------------------
t=$EPOCHREALTIME
topo_start_dataplane || sy_fail "the restarted sy-dataplane did not make its TAP"
if wait_route present 30; then
	back_ms=$(sy_ms_since "$t")
	sy_pass "sy-dataplane restarted: route back after ${back_ms} ms"
else
	back_ms=-1
	sy_fail "sy-dataplane restarted: the route did not return (status '$(vip_state)')"
fi
# the second failure of this run (the first: no dataplane at start): 2 s
grep -q "VIP held down\" vip=$VIP hold_ms=2000 flaps=2" "$WORK/control.log" &&
	sy_pass "held down 2 s before announcing again (the second failure doubles the hold-down)" ||
	sy_fail "no doubled hold-down in the log: $(grep 'held down' "$WORK/control.log")"

# ---- 5. drain-host; BIRD restarted while drained ------------------------------------------
t=$EPOCHREALTIME
out=$(sy_ctl drain-host)
if [ $? -eq 0 ] && wait_route absent 15; then
	sy_pass "syctl drain-host: route gone after $(sy_ms_since "$t") ms ($out)"
else
	sy_fail "syctl drain-host: '$out', route $(route_present && echo still there)"
fi
metrics=$(curl -s --unix-socket "$WORK/api.sock" http://lb/metrics)
[ "$(vip_state)" = "withdrawn drained" ] && grep -qx "switchyard_host_drained 1" <<<"$metrics" &&
	grep -qx "switchyard_vip_withdrawn{vip=\"$VIP\",reason=\"drained\"} 1" <<<"$metrics" &&
	grep -qx "switchyard_vip_announced{vip=\"$VIP\"} 0" <<<"$metrics" &&
	grep -qx "switchyard_vip_withdrawals_total{vip=\"$VIP\",reason=\"dataplane\"} 1" <<<"$metrics" &&
	sy_pass "drained: status and /metrics say so (withdrawals: 1 dataplane, then drained)" ||
	sy_fail "drained: status '$(vip_state)', metrics: $(grep -E 'host_drained|vip_(announced|withdrawn\{.*drained)' <<<"$metrics")"
stop_bird_lb
wait_bgp unreachable 10 && sy_pass "BIRD on the LB stopped: sy-control shows bgp unreachable" ||
	sy_fail "BIRD on the LB stopped: bgp state '$(bgp_state)'"
grep -qx "switchyard_bgp_daemon_up 0" <(curl -s --unix-socket "$WORK/api.sock" http://lb/metrics) ||
	sy_fail "switchyard_bgp_daemon_up is not 0 while BIRD is down"
start_bird_lb lb.conf || sy_fail "BIRD on the LB did not restart"
lb_bird_has_vip && sy_fail "the restarted BIRD announces $VIP although the host is drained" ||
	sy_pass "BIRD restarted while drained: no route for $VIP in it (it read the file)"
sy_wait 20 router_established || sy_fail "the BGP session did not come back"
route_absent && sy_pass "the router has no route while drained" || sy_fail "the router has the route while drained"
wait_bgp up 15 && sy_pass "sy-control sees BIRD again: bgp up" || sy_fail "bgp state '$(bgp_state)' after BIRD's restart"

# ---- 6. undrain: back at once ----------------------------------------------------------------
t=$EPOCHREALTIME
sy_ctl undrain-host >/dev/null || sy_fail "syctl undrain-host failed"
if wait_route present 15; then
	sy_pass "syctl undrain-host: route back after $(sy_ms_since "$t") ms"
else
	sy_fail "syctl undrain-host: the route did not return (status '$(vip_state)')"
fi
grep -q "VIP held down\" vip=$VIP hold_ms=[0-9]* flaps=3" "$WORK/control.log" &&
	sy_fail "the undrain was held down: a drain is not a failure" ||
	sy_pass "the undrain was not held down"

# ---- 7. BIRD on the LB restarted while announced --------------------------------------------
stop_bird_lb
t=$EPOCHREALTIME
start_bird_lb lb.conf || sy_fail "BIRD on the LB did not restart"
lb_bird_has_vip && sy_pass "BIRD restarted: it announces $VIP from the file at once" ||
	sy_fail "BIRD restarted: no route for $VIP in it"
if wait_route present 20; then
	sy_pass "BIRD restarted: the router has the route again after $(sy_ms_since "$t") ms"
else
	sy_fail "BIRD restarted: the router did not get the route back"
fi

# ---- 8. a clean stop of sy-control ------------------------------------------------------------
t=$EPOCHREALTIME
kill -TERM "$CONTROL_PID"
wait "$CONTROL_PID" 2>/dev/null
rc=$?
[ $rc -eq 0 ] || sy_fail "sy-control exit $rc on SIGTERM (a clean stop exits 0): $(tail -3 "$WORK/control.log" | tr '\n' ' ')"
if wait_route absent 15; then
	sy_pass "sy-control stopped (exit $rc): route gone after $(sy_ms_since "$t") ms"
else
	sy_fail "sy-control stopped (exit $rc): the route stayed"
fi
! grep -q "route " "$BW/vips.conf" && kill -0 "$DATAPLANE_PID" &&
	sy_pass "the include file announces nothing; sy-dataplane still runs" ||
	sy_fail "after the stop: file '$(grep route "$BW/vips.conf")', dataplane $(kill -0 "$DATAPLANE_PID" 2>&1 || echo gone)"

# ---- 9. BIRD down or not configured at start ---------------------------------------------------
stop_bird_lb
start_fails() { # WHAT PATTERN: sy-control must exit 1 naming it
	local out rc
	out=$(ip netns exec ${P}l timeout 20 "$BUILD/control/sy-control" --config "$WORK/switchyard.yaml" 2>&1)
	rc=$?
	[ $rc -eq 1 ] && grep -q "sy-control: bgp: .*$2" <<<"$out" &&
		sy_pass "$1: sy-control refuses to start (exit 1): $(grep 'sy-control: bgp' <<<"$out")" ||
		sy_fail "$1: exit $rc: $(tail -3 <<<"$out")"
}
start_fails "BIRD not running" "cannot connect to BIRD at $BW/lb.ctl"
start_bird_lb lb-noinclude.conf || sy_fail "BIRD without the include did not start"
start_fails "BIRD not reading the file" "BIRD does not read $BW/vips.conf"
stop_bird_lb
echo "  required: false" >>"$WORK/switchyard.yaml"
topo_start_control || sy_fail "sy-control with bgp.required: false did not start without BIRD"
wait_bgp unreachable 10 && sy_pass "bgp.required: false, BIRD down: sy-control runs, bgp unreachable" ||
	sy_fail "bgp.required: false: bgp state '$(bgp_state)'"
t=$EPOCHREALTIME
start_bird_lb lb.conf || sy_fail "BIRD did not start"
wait_bgp up 15 && sy_pass "BIRD started later: sy-control configures it (bgp up after $(sy_ms_since "$t") ms)" ||
	sy_fail "BIRD started later: bgp state '$(bgp_state)'"
if wait_route present 30; then
	sy_pass "... and the router has the route again, sy-control not restarted"
else
	sy_fail "the route did not return once BIRD ran (status '$(vip_state)')"
fi

topo_finish # sy-dataplane and sy-control must stop cleanly (exit 0)
echo "figures: kill -9 -> route gone ${kill_ms} ms; dataplane restart -> route back ${back_ms} ms (hold-down 2 s included)"
echo "--- sy-control log (bgp lines)"
grep -E "VIP|bgp" "$WORK/control.log" | tail -20
[ $SY_FAILED -eq 0 ] && echo "RESULT: PASS" || echo "RESULT: FAIL"
exit $SY_FAILED
