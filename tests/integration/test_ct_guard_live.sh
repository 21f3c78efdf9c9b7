#!/bin/bash
# The new-flow guard with real processes (issue 15 point 2): sy-control
# (static UDP service "bulk", 4 backends) publishes; sy-dataplane (one
# worker, --ct-guard-rate 10 --ct-guard-burst 500) forwards one-armed over
# net_memif; sy-pktgen sends 5,000 distinct UDP flows for 3 s (each flow
# many times over). The whole run happens in a network namespace of its own.
#
# Asserted:
#   - the start line says the guard's settings;
#   - the worker inserted its burst and what the rate refilled meanwhile:
#     500 <= ct_new <= 500 + 10 x (the seconds from start to the stats read)
#     + 10, no eviction;
#   - every frame was forwarded (forwarded = rx_packets) and every packet of
#     an untracked flow is counted: ct_bypass = forwarded - ct_hits - ct_new
#     (> 0);
#   - bypassed flows are consistent: sy-pktgen saw every one of the 5,000
#     flows come back, none from a second backend (AUDIT moved=0);
#   - `syctl lookup` answers a tracked flow "conntrack" and an untracked one
#     "maglev ... not tracked" with the backend Maglev gives new flows.
# Prints PASS:/FAIL: lines and RESULT: PASS|FAIL.
#
# usage: test_ct_guard_live.sh BUILD_DIR
set -u
BUILD=$(realpath "$1")
HERE=$(dirname "$(realpath "$0")")
. "$HERE/netns_lib.sh"
trap sy_cleanup EXIT

FLOWS=5000
RATE=10
BURST=500
SECONDS_SENT=3
. "$HERE/memif_lib.sh"
VIP=$MEMIF_VIP

memif_require
ctl() { memif_ctl "$@"; }

memif_setup syctg 4 || { echo "FAIL: setup"; echo "RESULT: FAIL"; exit 1; }
t_start=$(date +%s)
memif_dataplane "--no-huge -m 256" --ct-guard-rate $RATE --ct-guard-burst $BURST ||
	{ echo "FAIL: sy-dataplane did not start"; echo "RESULT: FAIL"; exit 1; }
line=$(grep "sy-dataplane running" "$WORK/dataplane.log")
echo "$line"
echo "$line" | grep -q "ct_guard_rate=$RATE ct_guard_burst=$BURST ct_syn_only=off" &&
	sy_pass "start line: ct_guard_rate=$RATE ct_guard_burst=$BURST ct_syn_only=off" ||
	sy_fail "start line without the guard's settings"

memif_pktgen $((SECONDS_SENT + 60)) --flows $FLOWS --warmup 0 --duration $SECONDS_SENT \
	--flow-report "$WORK/flows.txt"
sy_wait $((SECONDS_SENT + 40)) grep -q "^AUDIT " "$WORK/pktgen.log" ||
	sy_fail "sy-pktgen printed no AUDIT line"
grep -v "^  measure" "$WORK/pktgen.log"

STATS=$(ctl --json stats)
elapsed=$(( $(date +%s) - t_start + 1 ))
c() { memif_counter "$1" "$STATS"; }
rx=$(c rx_packets) fwd=$(c forwarded) new=$(c ct_new) hits=$(c ct_hits)
bypass=$(c ct_bypass) nosyn=$(c ct_bypass_no_syn) evict=$(c ct_evictions)
drops=$(memif_drops "$STATS")
echo "dataplane: rx $rx forwarded $fwd ct_new $new ct_hits $hits ct_bypass $bypass ct_bypass_no_syn $nosyn ct_evictions $evict; drops: $drops (${elapsed} s since start)"

max_new=$((BURST + RATE * elapsed + RATE))
[ "$new" -ge $BURST ] && [ "$new" -le $max_new ] && [ "$evict" -eq 0 ] &&
	sy_pass "ct_new $new: the burst $BURST plus at most $RATE/s over ${elapsed} s (<= $max_new), no eviction" ||
	sy_fail "ct_new $new not in $BURST..$max_new (ct_evictions $evict)"
[ "$rx" -gt 0 ] && [ "$fwd" -eq "$rx" ] && sy_pass "every received frame forwarded ($fwd)" ||
	sy_fail "received $rx, forwarded $fwd"
[ "$bypass" -gt 0 ] && [ "$bypass" -eq $((fwd - hits - new)) ] && [ "$nosyn" -eq 0 ] &&
	sy_pass "ct_bypass $bypass = forwarded - ct_hits - ct_new: every untracked packet counted" ||
	sy_fail "ct_bypass $bypass, forwarded - ct_hits - ct_new = $((fwd - hits - new)), ct_bypass_no_syn $nosyn"
[ "$drops" = none ] && sy_pass "no drop counter moved but drop_tx_full" || sy_fail "drops: $drops"
audit=$(sed -n 's/^AUDIT //p' "$WORK/pktgen.log")
echo "$audit" | grep -q "seen=$FLOWS moved=0 " &&
	sy_pass "all $FLOWS flows came back, none from a second backend ($audit)" ||
	sy_fail "sy-pktgen audit: ${audit:-none}"

# flow k = 198.19.(k/256).(k%256):1024 (5,000 flows: one source port)
# (the answers read by one python3 at the end: a python3 each took about
# half of the loop's ~20 s. The lookups stay one at a time: each asks the
# dataplane's telemetry, which must answer within 500 ms while the worker
# and sy-pktgen keep both cores busy)
mkdir -p "$WORK/lookups"
for k in $(seq 0 49 4999); do
	# an answer counts only if syctl succeeded
	ctl --json lookup bulk 198.19.$((k / 256)).$((k % 256)):1024 $VIP:53 udp >"$WORK/lookups/$k.tmp" &&
		mv "$WORK/lookups/$k.tmp" "$WORK/lookups/$k.json"
done
read -r tracked untracked consistent < <(python3 -c '
import json, sys
tracked = untracked = consistent = 0
for f in sys.argv[1:]:
    j = json.load(open(f))
    t = j["reason"].startswith("conntrack")
    u = j["reason"].startswith("maglev") and "not tracked" in j["reason"]
    tracked += int(t)
    untracked += int(u)
    consistent += int(u and j["backend"] == j["new_flow_backend"])
print(tracked, untracked, consistent)' "$WORK"/lookups/*.json)
: "${tracked:=0}" "${untracked:=0}" "${consistent:=0}"
[ "$tracked" -gt 0 ] && [ "$untracked" -gt 0 ] && [ "$consistent" -eq "$untracked" ] &&
	sy_pass "syctl lookup of 103 flows: $tracked tracked (conntrack), $untracked not tracked (maglev, on the new-flow backend)" ||
	sy_fail "syctl lookup: $tracked tracked, $untracked untracked, $consistent of them on the new-flow backend"

memif_finish
echo "RESULT: $(sy_verdict)"
[ "$SY_FAILED" -eq 0 ]
