#!/bin/bash
# QUIC connection-ID routing live (issue 15 point 4; docs/dataplane.md,
# "QUIC connection IDs"): lb_topology.sh with 3 backends, a udp service
# `quic` (VIP:443, quic: true) beside web, each backend registered with the
# embedded registry with its server ID (syctl register --server-id 0x10I)
# and answering QUIC-like datagrams with its name (quic_udp.py). Checks:
#   1. an Initial (long header) is answered by a backend, which says its ID
#   2. 20 short headers carrying that ID, each from a NEW source port (a
#      client rebound by a NAT, or migrating), are all answered by that
#      same backend
#   3. short headers with an ID nobody has, from 20 other ports, spread
#      over the backends (the hash: what 2. would do without the ID)
#   4. quic_cid_routed and quic_cid_unknown count them: their growth adds
#      up to the short headers sent, each at least 20
#   5. syctl services says quic, syctl backends shows the IDs; syctl lookup
#      with the ID names the backend ("quic: server id 0x10I -> backend ...")
#   6. registrations: an ID out of range is refused by syctl register; a
#      second backend with a taken ID is refused by the registry (409)
#   6b. sy-control restarts (kill -9; XDP adopts its maps), its agents
#      paused: the adopted backends' IDs still route to them; then a
#      backend changes its ID: the new one routes to it, the old one by
#      the hash
#   7. the backend leaves (its agent deregisters): short headers with its
#      ID go by the hash to the others, counted in quic_cid_unknown (the
#      ID left the region's table / the XDP map)
#
# Without the routing (the same test with `quic: false`, XDP): "FAIL: short
# headers from new ports: 7 of 20 by be1: 7 be1; 4 be2; 9 be3".
#
# usage: test_quic_live.sh BUILD_DIR dpdk|xdp
set -u
BUILD=$(realpath "$1")
DATAPLANE=$2
HERE=$(dirname "$(realpath "$0")")
. "$HERE/netns_lib.sh"
P=syqu$$
NB=3
TTL=3
MODE=ipip
. "$HERE/lb_topology.sh"
trap 'topo_stop_agents; topo_xdp_cleanup; sy_cleanup' EXIT
sy_require "namespaces, XDP or DPDK" control/sy-control control/syctl bpf/sy-decap
case $DATAPLANE in dpdk) sy_require "DPDK" dataplane/sy-dataplane ;; xdp) ;;
*) echo "FAIL: dataplane $DATAPLANE (dpdk or xdp)"; exit 1 ;; esac
QUIC=$HERE/quic_udp.py

# the quic service, after web (topo_config wrote the file; WORK exists now)
topo_before_control() {
	sy_keyfile "$WORK/quic.key"
	cat >>"$WORK/switchyard.yaml" <<EOF
  - name: quic
    vip: $VIP
    port: 443
    protocol: udp
    mode: $MODE
    quic: true
    source: embedded
    key_file: $WORK/quic.key
    health:
      default_ttl_s: $TTL
      hold_down_s: 0
EOF
}

# quic_up N: the quic service has N backends up
quic_up() { [ "$(sy_ctl --json backends quic | grep -c '"state": "up"')" = "$1" ]; }
# has_id ADDR ID: syctl backends shows the quic backend ADDR:443 with that ID
has_id() { sy_ctl backends quic | grep -q "^$1:443 .*quic server id $2"; }
# the published tables (syctl lookup reads them) route server ID $1: to
# backend $2, or nowhere (unknown)
id_routes() {
	sy_ctl lookup quic $CLIENT:47999 $VIP:443 udp "$1" 2>&1 |
		grep -q "^why *quic: $([ "$2" = unknown ] && echo "unknown server id $1" || echo "server id $1 -> backend $2:443")"
}
counter() { sy_ctl --json stats | python3 -c "import json,sys; print(json.load(sys.stdin)['counters']['$1'])"; }

topo_up || { sy_fail "topology"; cat "$WORK"/*.log 2>/dev/null | tail -20; exit 1; }
for i in $(seq $NB); do
	ip netns exec ${P}b$i python3 "$QUIC" server $VIP 443 be$i 0x10$i >/dev/null 2>&1 &
	SY_PIDS+=($!)
	ip netns exec ${P}b$i "$BUILD/control/syctl" register --service quic --addr 198.18.0.1$i \
		--port 443 --ttl $TTL --key-file "$WORK/quic.key" --server-id 0x10$i \
		--registry http://$LBIP:9181 >>"$WORK/agent-quic$i.log" 2>&1 &
	AGENT_PID[q$i]=$!
	SY_PIDS+=($!)
done
sy_wait 10 quic_up $NB ||
	{ sy_fail "quic backends not up: $(sy_ctl backends quic)"; exit 1; }

sy_ctl services | grep -q '^quic .* maglev/5-tuple+quic' &&
	sy_pass "syctl services: $(sy_ctl services | grep '^quic' | tr -s ' ')" ||
	sy_fail "syctl services: $(sy_ctl services)"

# 5a. the IDs as registered
ids=$(sy_ctl backends quic | grep -c "quic server id 0x10[1-3]")
[ "$ids" = $NB ] && sy_pass "syctl backends quic: $NB backends with their server IDs" ||
	sy_fail "syctl backends quic: $(sy_ctl backends quic)"

R0=$(counter quic_cid_routed) U0=$(counter quic_cid_unknown)
ip netns exec ${P}c timeout 300 python3 "$QUIC" client $VIP 443 45000 20 0x4242 >"$WORK/client.out" 2>&1
R=$(($(counter quic_cid_routed) - R0)) U=$(($(counter quic_cid_unknown) - U0))

# 1. the connection
read -r _ conn sid < <(grep '^CONN' "$WORK/client.out")
[ "${conn:--}" != - ] && sy_pass "Initial from $CLIENT:45000 answered by $conn (server id $sid)" ||
	{ sy_fail "Initial not answered: $(cat "$WORK/client.out")"; exit 1; }

# 2. migrations: every new port to the same backend
moved=$(grep -c '^MOVED' "$WORK/client.out")
same=$(grep -c "^MOVED [0-9]* $conn\$" "$WORK/client.out")
[ "$moved" = 20 ] && [ "$same" = 20 ] &&
	sy_pass "20 short headers with server id $sid, each from a new source port: all answered by $conn" ||
	sy_fail "short headers from new ports: $same of $moved by $conn: $(grep '^MOVED' "$WORK/client.out" | awk '{print $3}' | sort | uniq -c | tr -s ' ' | tr '\n' ';')"

# 3. without a known ID the hash spreads the ports
unk=$(grep '^UNKNOWN' "$WORK/client.out" | awk '$3 != "-" {print $3}')
n_unk=$(printf '%s\n' "$unk" | grep -c .)
distinct=$(printf '%s\n' "$unk" | sort -u | grep -c .)
[ "$n_unk" = 20 ] && [ "$distinct" -ge 2 ] &&
	sy_pass "20 short headers with an unknown id from 20 ports: answered by $distinct backends (the hash)" ||
	sy_fail "unknown id: $n_unk answered, by $distinct backends"

# 4. counted
read -r _ sent < <(grep '^SENT_SHORT' "$WORK/client.out")
[ "$((R + U))" = "${sent:-0}" ] && [ "$R" -ge 20 ] && [ "$U" -ge 20 ] &&
	sy_pass "quic_cid_routed +$R, quic_cid_unknown +$U: the $sent short headers sent" ||
	sy_fail "quic_cid_routed +$R, quic_cid_unknown +$U, short headers sent ${sent:-?}"

# 5b. syctl lookup explains it
sy_ctl lookup quic $CLIENT:45007 $VIP:443 udp "$sid" >"$WORK/lookup" 2>&1
be=${conn#be}
grep -q "^why *quic: server id $sid -> backend 198.18.0.1$be:443" "$WORK/lookup" &&
	sy_pass "syctl lookup: $(grep '^why' "$WORK/lookup" | cut -c1-90)" ||
	sy_fail "syctl lookup: $(cat "$WORK/lookup")"

# 6. bad registrations
"$BUILD/control/syctl" register --once --service quic --addr 198.18.0.11 --port 443 \
	--registry http://$LBIP:9181 --key-file "$WORK/quic.key" --server-id 0x1000000 >"$WORK/reg.out" 2>&1
rc=$?
[ $rc = 2 ] && grep -q "server-id '0x1000000' out of range (1..16777215)" "$WORK/reg.out" &&
	sy_pass "syctl register --server-id 0x1000000: exit 2, $(head -1 "$WORK/reg.out")" ||
	sy_fail "syctl register --server-id 0x1000000: rc $rc, $(cat "$WORK/reg.out")"
ip netns exec ${P}b1 "$BUILD/control/syctl" register --once --service quic --addr 198.18.0.14 \
	--port 443 --registry http://$LBIP:9181 --key-file "$WORK/quic.key" --server-id "$sid" \
	>"$WORK/reg.out" 2>&1
rc=$?
[ $rc = 1 ] && grep -q "server_id $((sid)) ($sid) is already backend 198.18.0.1$be:443's in service quic" "$WORK/reg.out" &&
	sy_pass "a second backend with server id $sid: refused, $(grep -o '409.*' "$WORK/reg.out" | head -1 | cut -c1-100)" ||
	sy_fail "a second backend with server id $sid: rc $rc, $(cat "$WORK/reg.out")"

# 6b. sy-control restarts (kill -9: XDP adopts its pinned maps, DPDK its
# region), then be2 keeps its place but changes its ID 0x102 -> 0x202 (its
# agent killed, one registration with the new ID within the TTL): the
# adopted state is followed, 0x102 goes by the hash, 0x202 to be2
# The agents are paused over the restart: until they register again, the
# adopted backends keep the server IDs they were published with (before
# the fix the restarted sy-control republished them without: "unknown
# server id" until each agent's next heartbeat)
for i in $(seq $NB); do kill -STOP "${AGENT_PID[q$i]}"; done
{ kill -9 $CONTROL_PID && wait $CONTROL_PID; } 2>/dev/null
topo_start_control || sy_fail "sy-control did not restart"
adopted=0
for i in $(seq $NB); do
	sy_ctl lookup quic $CLIENT:4510$i $VIP:443 udp 0x10$i 2>&1 |
		grep -q "^why *quic: server id 0x10$i -> backend 198.18.0.1$i:443" && adopted=$((adopted + 1))
done
for i in $(seq $NB); do kill -CONT "${AGENT_PID[q$i]}"; done
[ $adopted = $NB ] && sy_pass "restarted, before any agent registers again: the $NB server IDs route to their backends" ||
	sy_fail "restarted, agents paused: $adopted of $NB server IDs route ($(sy_ctl lookup quic $CLIENT:45101 $VIP:443 udp 0x101 2>&1 | grep '^why'))"
sy_wait 10 quic_up $NB ||
	sy_fail "quic backends not back after the restart: $(sy_ctl backends quic)"
{ kill -9 "${AGENT_PID[q2]}" && wait "${AGENT_PID[q2]}"; } 2>/dev/null
ip netns exec ${P}b2 "$BUILD/control/syctl" register --once --service quic --addr 198.18.0.12 \
	--port 443 --ttl 60 --key-file "$WORK/quic.key" --server-id 0x202 \
	--registry http://$LBIP:9181 >>"$WORK/agent-quic2.log" 2>&1 || sy_fail "be2 with 0x202 refused"
sy_wait 10 has_id 198.18.0.12 0x202 && sy_wait 10 id_routes 0x202 198.18.0.12 ||
	sy_fail "be2's new ID not seen or not published: $(sy_ctl backends quic)"
R0=$(counter quic_cid_routed) U0=$(counter quic_cid_unknown)
ip netns exec ${P}c timeout 120 python3 "$QUIC" shorts $VIP 443 47000 10 0x202 >"$WORK/new.out" 2>&1
ip netns exec ${P}c timeout 120 python3 "$QUIC" shorts $VIP 443 47100 10 0x102 >"$WORK/old.out" 2>&1
R=$(($(counter quic_cid_routed) - R0)) U=$(($(counter quic_cid_unknown) - U0))
n_new=$(grep -c '^SHORT [0-9]* be2$' "$WORK/new.out")
n_old=$(grep '^SHORT' "$WORK/old.out" | awk '$3 != "-"' | grep -c .)
old_be2=$(grep -c '^SHORT [0-9]* be2$' "$WORK/old.out")
[ "$n_new" = 10 ] && [ "$n_old" = 10 ] && [ "$old_be2" -lt 10 ] && [ "$R" -ge 10 ] && [ "$U" -ge 10 ] &&
	sy_pass "after a restart and be2's new ID: 0x202 -> be2 10/10, 0x102 by the hash ($old_be2 of 10 on be2), routed +$R unknown +$U" ||
	sy_fail "after the restart: 0x202 -> be2 $n_new/10; 0x102: $n_old answered, $old_be2 by be2; routed +$R unknown +$U"

# 7. the backend leaves: its ID with it
kill -TERM "${AGENT_PID[q$be]}"
sy_wait 10 quic_up $((NB - 1)) && sy_wait 10 id_routes "$sid" unknown ||
	sy_fail "backend $conn did not leave, or its ID is still published: $(sy_ctl backends quic)"
U0=$(counter quic_cid_unknown)
ip netns exec ${P}c timeout 120 python3 "$QUIC" shorts $VIP 443 46000 10 "$sid" >"$WORK/shorts.out" 2>&1
U=$(($(counter quic_cid_unknown) - U0))
read -r _ sent < <(grep '^SENT_SHORT' "$WORK/shorts.out")
n_other=$(grep '^SHORT' "$WORK/shorts.out" | awk -v c="$conn" '$3 != "-" && $3 != c' | grep -c .)
[ "$n_other" = 10 ] && [ "$U" = "${sent:-x}" ] &&
	sy_pass "after $conn left: 10 short headers with its id answered by the others (the hash), quic_cid_unknown +$U" ||
	sy_fail "after $conn left: $n_other of 10 by the others, quic_cid_unknown +$U of ${sent:-?} sent: $(tr '\n' ';' <"$WORK/shorts.out")"

topo_finish # sy-dataplane and sy-control must stop cleanly (exit 0)
[ "$SY_FAILED" -eq 0 ] && echo "RESULT: PASS" || echo "RESULT: FAIL"
exit "$SY_FAILED"
