#!/bin/bash
# A fleet of Switchyard hosts behind a router doing ECMP, announced by BGP,
# carrying real TCP connections (issue 14, "The test"). The topology is
# fleet_topology.sh: a router running BIRD 2 with a multipath route to the
# VIP from the BGP sessions of 3 LB hosts (each: BIRD, sy-control with its
# embedded registry, sy-dataplane on net_af_packet, or the XDP path with
# `xdp`), 4 backends whose agents register with all 3 hosts, one client
# behind the router.
#
# 60 connections from the client stream data through the VIP for the whole
# test, each checking every byte that comes back (fleet_stream.py: the
# backends echo); each backend logs the connections it serves. After each
# event below every connection must verify more bytes again (it goes on),
# or it is counted broken: RST, closed, a wrong byte. The router's FIB says
# which host each connection takes (fleet_paths).
#   1. ECMP: the route has 3 next hops and each host carries connections
#      (the router's choice, the host's VIP counters, a lookup on the host
#      finding one of them in its connection table with its backend);
#   2. kill -9 host 1's sy-dataplane (XDP: its program's link detached):
#      the route via host 1 leaves the router's FIB; its connections move
#      to hosts 2 and 3 and keep their backends: 0 of 60 broken;
#   3. restarted (XDP: sy-control restarted, which attaches the program
#      again): back in the FIB after the hold-down; 0 broken;
#   4. `syctl drain-host` on host 2: withdrawn (reason drained), 0 broken;
#      `undrain-host`: back, 0 broken;
#   5. sy-control on host 3 stopped cleanly while its dataplane runs
#      (XDP: --xdp-stay keeps the program): withdrawn, as documented, 0
#      broken; started again: back at once, 0 broken;
#   6. backend 4's agent stopped (it deregisters from the 3 hosts): exactly
#      the connections be4 served break, all others go on; `syctl fleet`:
#      equal tables on the 3 hosts; the agent started again: be4 back on
#      all 3, equal tables, and equal to those before it left;
#   7. host 1 killed entirely (its link cut, then sy-control, dataplane and
#      BIRD killed): the route via host 1 goes (BFD); 0 broken (be4 is
#      back: the tables are those of the start); hosts 2 and 3 receive every
#      backend's renewals on time (each renewed after the kill, none
#      expires); `syctl fleet` on the two: equal.
# At the end every connection that was not on be4 still verifies, and each
# connection is in exactly one backend's log: the backend that answered it.
# Prints a table of figures (connections moved and broken, withdraw and
# announce times); times are never asserted.
#
# usage: test_fleet_ecmp.sh BUILD_DIR [dpdk|xdp]
set -u
BUILD=$(realpath "$1")
HERE=$(dirname "$(realpath "$0")")
. "$HERE/netns_lib.sh"
P=sfl$$
MODE=ipip
NB=4
NH=3
DATAPLANE=${2:-dpdk}
# the heartbeats reach a host through its dataplane's TAP: they stop while
# the dataplane is down (step 2), so the TTL is well above that gap
TTL=20
ALLOWED=198.18.0.8/29
# one worker per sy-dataplane, free to run on either CPU: three busy-polling
# workers share the machine's two
DP_LCORES="--lcores=0@0,1@(0-1)"
XDP_ARGS=
[ "$DATAPLANE" = xdp ] && XDP_ARGS=--xdp-stay
. "$HERE/lb_topology.sh"
. "$HERE/bird_lib.sh"
. "$HERE/fleet_topology.sh"
N=60
FIRST=40001
PY=/usr/bin/python3
CLIENT_PID=
stop_client() {
	[ -n "$CLIENT_PID" ] || return 0
	kill -TERM $CLIENT_PID 2>/dev/null
	wait $CLIENT_PID 2>/dev/null
	CLIENT_PID=
}
trap 'stop_client; fleet_cleanup; sy_cleanup' EXIT

case $DATAPLANE in
dpdk) sy_require "namespaces, DPDK, BIRD" control/sy-control control/syctl dataplane/sy-dataplane bpf/sy-decap ;;
xdp) sy_require "namespaces, XDP, BIRD" control/sy-control control/syctl bpf/sy-decap ;;
*) echo "FAIL: usage: test_fleet_ecmp.sh BUILD_DIR [dpdk|xdp]"; echo "RESULT: FAIL"; exit 1 ;;
esac
for o in tc_rehash xdp_pass; do
	[ -f "$BUILD/tests/integration/$o.bpf.o" ] ||
		{ echo "FAIL: missing $BUILD/tests/integration/$o.bpf.o"; echo "RESULT: FAIL"; exit 1; }
done
bird_require

# ---- helpers ------------------------------------------------------------------------
declare -a FIG # rows of the figures table
figure() { FIG+=("$(printf '%-50s %8s %6s %7s' "$1" "$2" "$3" "$4")"); } # EVENT MS MOVED BROKEN
hosts_equal() { "$BUILD/control/syctl" fleet "$@" >"$FW/fleet.out" 2>&1; }
host_sockets() { local h; for h in "$@"; do echo "h$h=${HWORK[$h]}/api.sock"; done; }
web_digest() { fleet_ctl $1 --json services | $PY -c 'import json, sys; print([s for s in json.load(sys.stdin)["services"] if s["name"] == "web"][0]["digest"])'; }
vip_packets() { fleet_ctl $1 --json stats | $PY -c 'import json, sys; s = json.load(sys.stdin)["services"]["web"]; print(s["packets"], s["new_flows"])'; }

# stream_mark NAME: the connections' state now, to compare with later
stream_mark() { cp "$FW/status" "$FW/mark.$1"; }
# stream_settle NAME SECONDS: wait until every connection that was ok at
# mark NAME has verified 4000 more bytes or broke; SETTLE (compare's
# output), BROKEN (count). 0 when none is left pending.
stream_settle() {
	local end=$((SECONDS + $2)) rc
	while :; do
		SETTLE=$($PY "$HERE/fleet_stream.py" compare "$FW/mark.$1" "$FW/status" 4000)
		rc=$?
		[ $rc -eq 0 ] || [ $SECONDS -ge $end ] && break
		sleep 0.5
	done
	BROKEN=$(awk 'NR == 1 { print $4 }' <<<"$SETTLE")
	return $rc
}
# intact STEP MARK SECONDS: after STEP, every connection goes on
intact() {
	local be
	if stream_settle "$2" "$3" && [ "$BROKEN" -eq 0 ]; then
		sy_pass "$1: 0 broken, all $(ok_count) connections verify new bytes"
	else
		sy_fail "$1: $(head -1 <<<"$SETTLE")"
		tail -n +2 <<<"$SETTLE" | head -10
		for be in $(tail -n +2 <<<"$SETTLE" | awk '{ print $3 }' | sort -u | head -2); do
			diagnose "$be" $LIVE
		done
	fi
}
ok_count() { awk '$3 == "ok"' "$FW/status" | wc -l; }
# paths NAME: the host each connection takes now (fleet_paths), kept as NAME
paths() { fleet_paths $FIRST $N >"$FW/paths.$1"; }
per_host() { awk '{ n[$2]++ } END { for (h = 1; h <= 3; h++) printf "%s%d", (h > 1 ? " " : ""), n[h] + 0 }' "$FW/paths.$1"; }
# moved A B: connections whose host differs between paths A and B
moved() { join "$FW/paths.$1" "$FW/paths.$2" | awk '$2 != $3' | wc -l; }
moved_from() { join "$FW/paths.$1" "$FW/paths.$2" | awk -v h=$3 '$2 == h && $3 != h' | wc -l; }
backend_of() { awk -v s=$1 '$1 == s { print $2 }' "$FW/status"; }
# diagnose BACKEND HOST...: what each host's dataplane and control say of
# BACKEND's connections, printed when a step's verdict on them fails (a
# failure seen only on a loaded CI machine must say where the packets went)
diagnose() {
	local be=$1 h sport
	shift
	for h in "$@"; do
		echo "  host $h:"
		for sport in $(awk -v b="$be" '$2 == b { print $1 }' "$FW/status" | head -3); do
			echo "    lookup $sport ($(awk -v s=$sport '$1 == s { print $3 }' "$FW/status")):" \
				"$(fleet_ctl $h --json lookup web $FLEET_CLIENT:$sport $VIP:$FLEET_PORT tcp 2>&1 |
					$PY -c 'import json, sys; j = json.load(sys.stdin); print(j["backend"], j["reason"])' 2>&1 | tail -1)"
		done
		echo "    counters: $(fleet_ctl $h --json stats 2>&1 | grep -oE '"(ct_reselect|ct_hits|ct_new|drop_no_backend)": [0-9]+' | xargs)"
		echo "    up: $(fleet_ctl $h --json backends web 2>&1 | grep -oE '"(address|state)": "[^"]*"' | xargs)"
		grep -hE 'backend|publish|XDP|xdp' "${HWORK[$h]}/control.log" 2>/dev/null | tail -6 | sed 's/^/    log: /'
	done
}
# route_change WHAT VIAS SECONDS T0: wait for the router's FIB, then print the
# time since T0 (or fail)
route_change() {
	if fleet_wait_vias "$2" "$3"; then
		WAITED=$(sy_ms_since "$4")
		sy_pass "$1: the router's route to $VIP is via [$2] after $WAITED ms"
	else
		WAITED=-1
		sy_fail "$1: the route stayed via [$(fleet_vias)], not [$2]"
	fi
}
# event NAME WHAT VIAS PREV CMD...: step NAME: CMD, after which the router's
# route must be via VIAS and every connection go on. Its figures: the time
# from CMD to the router's FIB, the connections that moved since paths
# PREV, those broken. EVENT_T: when CMD ran.
event() {
	local name=$1 what=$2 vias=$3 prev=$4
	shift 4
	stream_mark $name
	EVENT_T=$EPOCHREALTIME
	"$@" || sy_fail "$name. $what: '$*' failed"
	route_change "$name. $what" "$vias" 20 "$EVENT_T"
	paths $name
	intact "$name. $what" $name 30
	figure "$name. $what" "$WAITED" "$(moved $prev $name)" "$BROKEN"
}
ALL=$(fleet_hosts_ips)
LIVE="1 2 3" # hosts that answer syctl (diagnose)
without() { fleet_hosts_ips | tr ' ' '\n' | grep -vx "$(fleet_host_ip $1)" | xargs; }

# ---- setup --------------------------------------------------------------------------
sy_log "fleet: router (BIRD, ECMP), $NH LB hosts ($DATAPLANE), $NB backends"
t=$EPOCHREALTIME
if ! fleet_up; then
	for f in "$FW"/*.log "${HWORK[@]/%//control.log}" "${HWORK[@]/%//dataplane.log}" "${HWORK[@]/%//bird.log}"; do
		[ -f "$f" ] && { echo "--- $f"; tail -5 "$f"; }
	done
	echo "FAIL: setup"
	echo "RESULT: FAIL"
	exit 1
fi
for h in $(seq $NH); do
	fleet_wait_up $h $NB 30 ||
		sy_fail "host $h: $(fleet_up_count $h) of $NB backends up"
done
route_change "setup" "$ALL" 60 "$t"
for h in $(seq $NH); do
	[ "$(fleet_vip_state $h)" = "announced healthy" ] || sy_fail "host $h: VIP '$(fleet_vip_state $h)'"
done
# shellcheck disable=SC2046 # one argument per host
hosts_equal $(host_sockets 1 2 3) && sy_pass "syctl fleet: the 3 hosts' tables are equal" ||
	{ sy_fail "syctl fleet: $(cat "$FW/fleet.out")"; }
DIGEST0=$(web_digest 1)

# ---- 1. 60 connections, ECMP over the 3 hosts -----------------------------------------
ip netns exec ${P}c $PY "$HERE/fleet_stream.py" client $VIP $FLEET_PORT $FIRST $N "$FW/status" 900 \
	>"$FW/client.log" 2>&1 &
CLIENT_PID=$!
SY_PIDS+=($CLIENT_PID)
sy_wait 60 bash -c "[ -f '$FW/status' ] && [ \$(awk '\$2 != \"-\" || \$3 != \"ok\"' '$FW/status' | wc -l) -eq $N ]" ||
	sy_fail "the client's $N connections are not all set up: $(cat "$FW/client.log")"
for h in $(seq $NH); do read -r PK0[$h] _ <<<"$(vip_packets $h)"; done
stream_mark 1
intact "1. $N connections streaming" 1 30
paths 1
read -r c1 c2 c3 <<<"$(per_host 1)"
[ "$c1" -gt 0 ] && [ "$c2" -gt 0 ] && [ "$c3" -gt 0 ] &&
	sy_pass "1. ECMP: the router sends $c1 / $c2 / $c3 connections to hosts 1 / 2 / 3" ||
	sy_fail "1. ECMP: hosts 1 / 2 / 3 get $c1 / $c2 / $c3 connections"
for h in $(seq $NH); do
	read -r pk nf <<<"$(vip_packets $h)"
	sport=$(awk -v h=$h '$2 == h { print $1; exit }' "$FW/paths.1")
	be=$(backend_of $sport)
	look=$(fleet_ctl $h lookup web $FLEET_CLIENT:$sport $VIP:$FLEET_PORT tcp 2>&1)
	[ "$pk" -gt "${PK0[$h]}" ] && grep -q "198.18.0.1${be#be}:80" <<<"$look" && grep -q conntrack <<<"$look" &&
		sy_pass "1. host $h carries traffic (VIP packets ${PK0[$h]} -> $pk, new flows $nf); port $sport is in its connection table, on $be" ||
		sy_fail "1. host $h: VIP packets ${PK0[$h]} -> $pk; lookup of port $sport ($be): $look"
done
echo "  backends: $(awk '{ n[$2]++ } END { for (b in n) printf "%s %d  ", b, n[b] }' "$FW/status")"

# ---- 2. kill -9 host 1's dataplane ----------------------------------------------------
event 2 "kill -9 host 1's dataplane" "$(without 1)" 1 fleet_dataplane_kill 1
mv1=$(moved_from 1 2 1)
[ "$mv1" -eq "$c1" ] && sy_pass "2. the $c1 connections of host 1 moved ($(moved 1 2) moved in all)" ||
	sy_fail "2. $mv1 of host 1's $c1 connections moved"
st=$(fleet_vip_state 1)
[ "$st" = "withdrawn dataplane" ] && sy_pass "2. host 1: $st" || sy_fail "2. host 1's VIP: '$st'"
read -r sport h <<<"$(join "$FW/paths.1" "$FW/paths.2" | awk '$2 == 1 { print $1, $3; exit }')"
look=$(fleet_ctl $h lookup web $FLEET_CLIENT:$sport $VIP:$FLEET_PORT tcp 2>&1)
be=$(backend_of $sport)
grep -q "198.18.0.1${be#be}:80" <<<"$look" &&
	sy_pass "2. port $sport, moved from host 1 to host $h, is on $be there too" ||
	sy_fail "2. port $sport (on $be) on host $h: $look"

# ---- 3. bring it back -----------------------------------------------------------------
event 3 "host 1's dataplane restarted" "$ALL" 2 fleet_dataplane_restart 1
[ "$(per_host 3)" = "$(per_host 1)" ] && [ "$(moved 1 3)" -eq 0 ] &&
	sy_pass "3. every connection takes the host it took at first" ||
	sy_fail "3. connections per host $(per_host 3), at first $(per_host 1)"

# ---- 4. drain and undrain host 2 -------------------------------------------------------
event 4 "syctl drain-host on host 2" "$(without 2)" 3 fleet_ctl 2 drain-host
st=$(fleet_vip_state 2)
[ "$st" = "withdrawn drained" ] && sy_pass "4. host 2: $st" || sy_fail "4. host 2's VIP: '$st'"
event 4b "syctl undrain-host on host 2" "$ALL" 4 fleet_ctl 2 undrain-host

# ---- 5. a clean stop of host 3's sy-control -----------------------------------------------
stop_control() { kill -TERM ${HCONTROL[$1]}; wait ${HCONTROL[$1]}; }
event 5 "host 3's sy-control stopped (SIGTERM)" "$(without 3)" 4b stop_control 3
if [ "$DATAPLANE" = xdp ]; then
	ip -n ${P}3l link show eth0 | grep -q "prog/xdp" && sy_pass "5. host 3's XDP program stays attached (--xdp-stay)" ||
		sy_fail "5. host 3's XDP program is gone"
else
	kill -0 ${HDATAPLANE[3]} && sy_pass "5. host 3's sy-dataplane runs on" || sy_fail "5. host 3's sy-dataplane is gone"
fi
event 5b "host 3's sy-control started again" "$ALL" 5 fleet_start_control 3

# ---- 6. a backend leaves, and comes back -----------------------------------------------------
on4=$(awk '$2 == "be4" && $3 == "ok" { print $1 }' "$FW/status" | sort | xargs)
n4=$(wc -w <<<"$on4")
stream_mark 6
kill -TERM ${AGENT_PID[4]}
wait ${AGENT_PID[4]} 2>/dev/null
for h in $(seq $NH); do
	fleet_wait_up $h $((NB - 1)) 15 ||
		sy_fail "6. host $h still has $(fleet_up_count $h) backends up"
done
# be4 leaves the backends list first and the published table (what the
# dataplane forwards by) when the publisher has run: on a loaded machine
# that is later, and until then be4's connections still verify bytes. A
# mark taken before would count them as intact, and their reset would show
# only in step 7 (seen in stop 23's CI and twice in stop 26)
for h in $(seq $NH); do
	WORK=${HWORK[$h]} topo_wait_published web $((NB - 1)) 15 ||
		sy_fail "6. host $h still publishes be4 in its table"
done
# from here on be4's connections cannot verify new bytes (what they send
# reaches another backend, which resets them): the others must
stream_mark 6b
stream_settle 6b 30
after=$(head -1 <<<"$SETTLE")
stream_settle 6 0 # what broke since before be4 left
gone=$(tail -n +2 <<<"$SETTLE" | awk '{ print $2 }' | sort | xargs)
if [ "$gone" = "$on4" ] && [ "$(awk '{ print $2, $6 }' <<<"$after")" = "$((N - n4)) 0" ]; then
	sy_pass "6. be4 left: exactly its $n4 connections broke ($(tail -n +2 <<<"$SETTLE" | awk '{ print $4 }' | sort | uniq -c | xargs)); the other $((N - n4)) verify new bytes"
else
	sy_fail "6. be4 left: since it left: $after; broken [$gone], be4 served [$on4]"
	diagnose be4 1 2 3
fi
figure "6. be4's agent stopped (deregistered)" - - "$(wc -w <<<"$gone")"
# shellcheck disable=SC2046
hosts_equal $(host_sockets 1 2 3) && sy_pass "6. syctl fleet: equal tables on the 3 hosts without be4" ||
	sy_fail "6. syctl fleet: $(cat "$FW/fleet.out")"
WORK=$FW topo_register 4
for h in $(seq $NH); do
	fleet_wait_up $h $NB 15 ||
		sy_fail "6. host $h: be4 did not come back ($(fleet_up_count $h) up)"
done
DIGEST6=$(web_digest 2)
# shellcheck disable=SC2046
hosts_equal $(host_sockets 1 2 3) && [ "$DIGEST6" = "$DIGEST0" ] &&
	sy_pass "6. be4 back: equal tables on the 3 hosts, the same as at the start ($DIGEST0)" ||
	sy_fail "6. be4 back: digest $DIGEST6 (at the start $DIGEST0); $(cat "$FW/fleet.out")"

# ---- 7. host 1 dies -----------------------------------------------------------------------
LIVE="2 3"
event 7 "host 1 killed (link cut, processes killed)" "$(without 1)" 5b fleet_kill_host 1
# every backend renewed on hosts 2 and 3 after the kill, none older than a TTL
renewed() { # H MS_SINCE_KILL: every backend of H heard from since the kill
	fleet_ctl $1 --json backends web | $PY -c '
import json, sys
bs = json.load(sys.stdin)["backends"]
ok = len(bs) == int(sys.argv[2]) and all(b["state"] == "up" and b["last_seen_ms_ago"] < int(sys.argv[1]) for b in bs)
print(max(b["last_seen_ms_ago"] for b in bs) if bs else -1)
sys.exit(0 if ok else 1)' "$2" $NB
}
declare -A RENEWED WORST
end=$((SECONDS + TTL / 3 + 10))
while [ $SECONDS -lt $end ]; do
	for h in 2 3; do
		w=$(renewed $h $(sy_ms_since "$EVENT_T"))
		rc=$?
		[ "${w:--1}" -gt "${WORST[$h]:-0}" ] && WORST[$h]=$w
		[ $rc -eq 0 ] && [ -z "${RENEWED[$h]:-}" ] && RENEWED[$h]=$(sy_ms_since "$EVENT_T")
	done
	[ -n "${RENEWED[2]:-}" ] && [ -n "${RENEWED[3]:-}" ] && break
	sleep 0.5
done
for h in 2 3; do
	[ -n "${RENEWED[$h]:-}" ] && [ "${WORST[$h]}" -lt $((TTL * 1000)) ] &&
		sy_pass "7. host $h: all $NB backends up and renewed within ${RENEWED[$h]} ms of the kill (oldest heartbeat seen ${WORST[$h]} ms, TTL ${TTL} s)" ||
		sy_fail "7. host $h: not every backend renewed since the kill (oldest heartbeat ${WORST[$h]:-?} ms): $(fleet_ctl $h backends web)"
	grep -q "backend expired" "${HWORK[$h]}/control.log" && sy_fail "7. host $h expired a backend: $(grep 'backend expired' "${HWORK[$h]}/control.log" | head -3)"
done
# shellcheck disable=SC2046
hosts_equal $(host_sockets 2 3) && sy_pass "7. syctl fleet: hosts 2 and 3 have equal tables" ||
	sy_fail "7. syctl fleet on hosts 2 and 3: $(cat "$FW/fleet.out")"
# shellcheck disable=SC2046
hosts_equal $(host_sockets 1 2 3)
rc=$?
[ $rc -eq 3 ] && grep -q "h1" "$FW/fleet.out" && sy_pass "7. syctl fleet on all 3: host 1 cannot be asked (exit 3), named" ||
	sy_fail "7. syctl fleet on all 3: exit $rc: $(cat "$FW/fleet.out")"

# ---- the end: every byte, every log -------------------------------------------------------------
stop_client
ok=$(ok_count)
bad=$(awk '$3 == "ok" && $4 != $5' "$FW/status" | wc -l) # ok, but not all that was sent came back: in flight at the stop
[ "$ok" -eq $((N - n4)) ] && sy_pass "end: $ok of $N connections intact ($n4 were on be4); $bad had bytes in flight at the stop" ||
	sy_fail "end: $ok of $N connections intact ($n4 were on be4)"
wrong=0 n=0
# (the backends' logs read once by awk: "SPORT ANSWERED_BY LOGS...", the
# logs in file order, each once; a grep -l and 4 more processes a
# connection took ~5 s)
while read -r sport be logs; do
	n=$((n + 1))
	[ "$logs" = "$be" ] || { wrong=$((wrong + 1)); echo "  port $sport: answered by $be, in the logs of [$logs]"; }
done < <(awk -v status="$FW/status" '
	FILENAME != status {
		b = FILENAME
		sub(/.*\//, "", b)
		sub(/\.conns$/, "", b)
		if (!(($1, b) in seen)) { seen[$1, b] = 1; logs[$1] = logs[$1] (logs[$1] == "" ? "" : " ") b }
		next
	}
	{ print $1, $2, logs[$1] }' "$FW"/be*.conns "$FW/status")
[ $n -eq "$(wc -l <"$FW/status")" ] || { wrong=$((wrong + 1)); echo "  the backends' logs not read: $n of $(wc -l <"$FW/status") connections"; }
[ $wrong -eq 0 ] && sy_pass "end: each connection is in exactly one backend's log, the one that answered it" ||
	sy_fail "end: $wrong connections not in their backend's log alone"

fleet_finish # every host's daemons still running must stop cleanly (exit 0)
for f in "${HWORK[@]/%//control.log}" "${HWORK[@]/%//dataplane.log}"; do
	[ -f "$f" ] || continue
	grep -q "ERROR: AddressSanitizer\|runtime error" "$f" && { sy_fail "sanitizer report in $f"; grep -m5 -A5 "ERROR: AddressSanitizer\|runtime error" "$f"; }
done

echo
echo "figures ($DATAPLANE, $N connections; times from the event to the router's FIB, polled every 50 ms)"
printf '%-50s %8s %6s %7s\n' "event" "ms" "moved" "broken"
printf '%s\n' "${FIG[@]}"
[ $SY_FAILED -eq 0 ] && echo "RESULT: PASS" || echo "RESULT: FAIL"
exit $SY_FAILED
