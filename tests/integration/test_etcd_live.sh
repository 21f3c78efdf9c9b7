#!/bin/bash
# The etcd source with the real dataplane (tests/integration/lb_topology.sh
# with SOURCE=etcd): a 3-member etcd cluster on the LB namespace's loopback,
# sy-control watching it, backends registered by `syctl register --registry
# etcd://...`, requests through the VIP with http_probe.py:
#   1. registrations bring traffic to all three backends
#   2. every etcd member killed: fail-static (`syctl status` DEGRADED) and
#      traffic keeps flowing through the VIP to the same backends: no request
#      fails while etcd is down
#   3. etcd back: not degraded, all three still up and answering
#
# usage: test_etcd_live.sh BUILD_DIR
set -u
BUILD=$(realpath "$1")
HERE=$(dirname "$(realpath "$0")")
. "$HERE/netns_lib.sh"
. "$HERE/etcd_lib.sh"
P=syx$$
MODE=ipip
NB=3
TTL=2
SOURCE=etcd
. "$HERE/lb_topology.sh"
trap 'etcd_down; sy_cleanup' EXIT
[ "$(id -u)" -eq 0 ] || { echo "FAIL: needs root (namespaces, DPDK, XDP)"; exit 1; }
command -v etcd >/dev/null && command -v etcdctl >/dev/null ||
	{ echo "SKIP: etcd/etcdctl not installed (scripts/install-deps.sh)"; exit 77; }

# etcd runs in the LB namespace (created by topo_up); its ports are fixed now
# so that the configuration can name them
ETCD_N=3
etcd_pick_base || { echo "FAIL: no free ports"; exit 1; }
ETCD_URLS=$(etcd_urls)
ETCD_REGISTRY=$(etcd_endpoints)

up_count() { sy_ctl --json backends web | grep -c '"state": "up"'; }
answered_by() { grep -v ' -$' | awk '{print $2}' | sort -u | tr '\n' ' '; }

sy_log "topology (SOURCE=etcd)"
topo_up || { echo "FAIL: setup"; exit 1; }
ETCD_NS=${P}l
etcd_up 3 || { echo "FAIL: etcd did not start"; exit 1; }
sy_log "etcd: 3 members on the LB namespace's 127.0.0.1:$ETCD_BASE.."

# ---- 1. registrations -----------------------------------------------------------
sy_log "1. registrations through etcd"
for i in $(seq $NB); do topo_register $i; done
sy_wait 20 bash -c "[ \$(ip netns exec ${P}l $BUILD/control/syctl --socket $WORK/api.sock --json backends web | grep -c '\"state\": \"up\"') -eq 3 ]" ||
	sy_fail "the 3 backends did not come up: $(sy_ctl status | grep etcd)"
# up in the backends list at once, in the published table (what the
# dataplane forwards by) once the publisher has run
topo_wait_published web 3 || sy_fail "the published table lacks backends: $(sy_ctl table web)"
sy_wait 10 bash -c "ip netns exec ${P}l $BUILD/control/syctl --socket $WORK/api.sock status | grep -q 'state *ok'"
sleep 0.3
topo_probe 40001 90 >"$WORK/p1"
names=$(answered_by <"$WORK/p1")
failed=$(grep -c ' -$' "$WORK/p1")
[ "$failed" -eq 0 ] && [ "$names" = "be1 be2 be3 " ] &&
	sy_pass "90 requests through the VIP, none failed, answered by: $names" ||
	sy_fail "before the outage: $failed failed, answered by: $names"

# ---- 2. every etcd member down ------------------------------------------------------
sy_log "2. every etcd member is killed; requests keep running"
gen0=$(sy_ctl --json status | sed -n 's/.*"generation": \([0-9]*\).*/\1/p')
# requests all along: batches of 20 from fresh client ports until etcd is back
touch "$WORK/loading"
(port=44001
while [ -e "$WORK/loading" ] && [ $port -lt 60000 ]; do
	topo_probe $port 20 2
	port=$((port + 20))
	sleep 0.05
done) >"$WORK/during" &
LOAD=$!
SY_PIDS+=($LOAD)
sleep 0.5
for i in 0 1 2; do etcd_kill $i; done
t0=$(date +%s%N)
if sy_wait 6 bash -c "ip netns exec ${P}l $BUILD/control/syctl --socket $WORK/api.sock status | grep -q 'web: registry unreachable'"; then
	sy_pass "fail-static $((($(date +%s%N) - t0) / 1000000)) ms after the last member died"
else
	sy_fail "not degraded with etcd down"
	sy_ctl status
fi
sleep 3 # longer than the agents' TTL: the leases would have expired
sy_ctl status | grep -q "DEGRADED" && sy_pass "syctl status: DEGRADED while etcd is down" || sy_fail "status not degraded"
topo_probe 42001 90 >"$WORK/p2"
names=$(answered_by <"$WORK/p2")
failed=$(grep -c ' -$' "$WORK/p2")
[ "$failed" -eq 0 ] && [ "$names" = "be1 be2 be3 " ] &&
	sy_pass "with etcd down for 3+ s: 90 new connections, none failed, still answered by: $names" ||
	sy_fail "during the outage: $failed failed, answered by: $names"

# ---- 3. etcd back ---------------------------------------------------------------------
sy_log "3. etcd comes back"
for i in 0 1 2; do etcd_start $i; done
etcd_healthy 20 || sy_fail "etcd did not come back"
sleep 1
rm -f "$WORK/loading"
wait $LOAD
failed=$(grep -c ' -$' "$WORK/during")
total=$(wc -l <"$WORK/during")
[ "$total" -ge 200 ] && [ "$failed" -eq 0 ] &&
	sy_pass "$total requests all along the outage and the return of etcd, none failed ($(answered_by <"$WORK/during"))" ||
	sy_fail "$failed of $total requests failed across the outage"
if sy_wait 10 bash -c "ip netns exec ${P}l $BUILD/control/syctl --socket $WORK/api.sock status | grep -q 'state *ok'"; then
	sy_pass "etcd back: reconciled, not degraded"
else
	sy_fail "still degraded"
	sy_ctl status
fi
sleep $((TTL + 1))
[ "$(up_count)" -eq 3 ] && sy_pass "the agents' leases held: 3 backends up" || sy_fail "$(up_count) backends up after etcd returned"
topo_probe 43001 60 >"$WORK/p3"
failed=$(grep -c ' -$' "$WORK/p3")
[ "$failed" -eq 0 ] && sy_pass "after the outage: 60 requests, none failed" || sy_fail "after the outage: $failed failed"
grep -c "backend removed" "$WORK/control.log" | grep -qx 0 && sy_pass "no backend was ever removed" ||
	{ sy_fail "backends were removed"; grep "backend removed" "$WORK/control.log"; }
sy_rel etcd_live_total_loss "all 3 etcd members killed, then restarted" "HTTP requests through the VIP all along" "$(sy_verdict)" \
	"$(wc -l <"$WORK/during") requests across the outage, $(grep -c ' -$' "$WORK/during") failed; fail-static, then reconciled; backends removed: $(grep -c "backend removed" "$WORK/control.log")"

topo_finish # sy-dataplane and sy-control must stop cleanly (exit 0)
echo "--- sy-control log (etcd, tail)"
grep etcd "$WORK/control.log" | tail -5
[ $SY_FAILED -eq 0 ] && echo "RESULT: PASS" || echo "RESULT: FAIL"
exit $SY_FAILED
