#!/bin/bash
# sy-control's /metrics as Prometheus tooling reads it, on a scrape where
# every family has samples: services with traffic, backends, a degraded
# service (its etcd registry is unreachable: fail-static), the dataplane's
# counters, histograms with observations.
#
#   1. `promtool check metrics` (Debian's prometheus package) finds nothing:
#      no abbreviated units (_ms), HELP on every family, counters _total
#   2. check_metrics.py: every family is one contiguous block with HELP and
#      TYPE and at least one sample, no series twice; and it is shown to
#      catch a family split in two
#   3. the drop counters are one family, switchyard_drops_total, with one
#      sample per drop_<reason> counter of include/switchyard/counters.h
#      (as `syctl stats` lists them), and an exact figure: 7 frames to a VIP
#      port with no service are drops_total{reason="no_service"} 7
#   4. durations are in seconds: histogram bounds from 0.0005 to 30
#
# Before (the _ms histograms, families interleaved, 17 drop_* families):
#   switchyard_generation no help text
#   switchyard_publish_latency_ms metric names should not contain abbreviated units
#   switchyard_registrations_total no help text
#   switchyard_table_build_ms metric names should not contain abbreviated units
#   FAIL: line 115: family switchyard_vip_packets_total again, after
#         switchyard_service_degraded: its samples are not contiguous
#   47 families (a parser reading a family per run of names sees 71), ...
#
# usage: test_metrics.sh BUILD_DIR
set -u
BUILD=$(realpath "$1")
HERE=$(dirname "$(realpath "$0")")
. "$HERE/netns_lib.sh"
. "$HERE/obs_lib.sh"
[ "$(id -u)" -eq 0 ] || { echo "FAIL: needs root (namespaces, DPDK)"; exit 1; }
PROMTOOL=$(command -v promtool || echo /usr/bin/promtool)
[ -x "$PROMTOOL" ] || { echo "FAIL: no promtool (apt install prometheus; scripts/install-deps.sh)"; exit 1; }
trap 'obs_stop; sy_cleanup' EXIT

# nothing listens on 2379 in our namespace: the registry is unreachable
OBS_REGISTRY="registry:
  etcd:
    endpoints: [http://127.0.0.1:2379]
    timeout_ms: 200"
OBS_SERVICES="  - name: reg.etcd-pool
    vip: 198.18.1.4
    port: 80
    protocol: tcp
    mode: ipip
    source: etcd
    next_hop_mac: 02:00:00:00:00:fe"
obs_setup dataplane || { echo "FAIL: sy-control + sy-dataplane did not start"; exit 1; }
scrape() { # FILE: GET /metrics the way Prometheus does (TCP, the token)
	ip netns exec $P curl -sS --max-time 5 -H "Authorization: Bearer $(cat "$TOKEN_FILE")" \
		-o "$1" http://127.0.0.1:$OBS_API_PORT/metrics
}
metric() { scrape "$W/m" && sed -n "s/^$1 //p" "$W/m"; } # SERIES (a sed pattern): its value
degraded() { [ "$(metric 'switchyard_service_degraded{service="reg.etcd-pool"}')" = 1 ]; }
sy_wait 15 degraded && sy_pass "reg.etcd-pool is degraded (registry unreachable)" ||
	sy_fail "reg.etcd-pool is not degraded: $(obs_ctl status | tail -3)"

# traffic: 100 frames to web, 7 to a port of its VIP that has no service
obs_send 100 1000 10 --flows 10
ip netns exec $P python3 "$HERE/send_udp.py" gen0 "$DP_MAC" $OBS_VIP 54 7 1000 10
counted() { [ "$(obs_ctl --json stats | python3 -c 'import json, sys
c = json.load(sys.stdin)["counters"]
print(c["forwarded"], c["drop_no_service"])')" = "100 7" ]; }
sy_wait 10 counted && sy_pass "the dataplane forwarded 100 frames and dropped 7 (no service)" ||
	sy_fail "dataplane counters: $(obs_ctl stats | head -8 | tr '\n' ' ')"
scrape "$W/metrics.txt" || { echo "FAIL: scrape"; exit 1; }
obs_ctl --json stats >"$W/stats.json"
echo "scraped $(grep -vc '^#' "$W/metrics.txt") samples"

# ---- 1. promtool --------------------------------------------------------------------------
"$PROMTOOL" check metrics <"$W/metrics.txt" >"$W/promtool.out" 2>&1
rc=$?
[ $rc = 0 ] && [ ! -s "$W/promtool.out" ] && sy_pass "promtool check metrics: no problem" ||
	{ sy_fail "promtool check metrics: exit $rc"; cat "$W/promtool.out"; }

# ---- 2. one block per family, every family populated ----------------------------------------
python3 "$HERE/check_metrics.py" "$W/metrics.txt" --populated >"$W/check.out" 2>&1
rc=$?
cat "$W/check.out"
[ $rc = 0 ] && sy_pass "every family contiguous, with HELP, TYPE and samples" ||
	sy_fail "check_metrics.py"
# the checker catches a family split in two: web's packet sample moved to the end
{ grep -v '^switchyard_vip_packets_total{service="web"}' "$W/metrics.txt"
  grep '^switchyard_vip_packets_total{service="web"}' "$W/metrics.txt"; } >"$W/split.txt"
python3 "$HERE/check_metrics.py" "$W/split.txt" >"$W/split.out" 2>&1
[ $? = 1 ] && grep -q "FAIL: .*family switchyard_vip_packets_total again" "$W/split.out" &&
	sy_pass "a family split in two fails the check" || sy_fail "a split family was not caught"

# ---- 3. drops by reason ----------------------------------------------------------------------
python3 - "$W/metrics.txt" "$W/stats.json" >"$W/drops.out" 2>&1 <<'PY'
import json, re, sys
text = open(sys.argv[1]).read()
counters = json.load(open(sys.argv[2]))["counters"]
want = {k[len("drop_"):]: v for k, v in counters.items() if k.startswith("drop_")}
got = re.findall(r'^switchyard_drops_total\{reason="([^"]*)"\} (\d+)$', text, re.M)
reasons = [r for r, _ in got]
ok = sorted(reasons) == sorted(want) and len(set(reasons)) == len(reasons)
print("drop reasons: %d samples, %d drop_* counters" % (len(got), len(want)))
old = sorted(set(re.findall(r"^(switchyard_drop_\w+)", text, re.M)))
if old:
    ok = False
    print("still served: %s" % old)
vals = {r: int(v) for r, v in got}
if vals.get("no_service") != 7 or any(vals.get(r) != v for r, v in want.items()):
    ok = False
    print("values differ from syctl stats: %s vs %s" % (vals, want))
sys.exit(0 if ok else 1)
PY
rc=$?
cat "$W/drops.out"
[ $rc = 0 ] && sy_pass "switchyard_drops_total: one sample per drop reason, equal to syctl stats; no_service = 7" ||
	sy_fail "switchyard_drops_total"

# ---- 4. seconds ------------------------------------------------------------------------------
les=$(sed -n 's/^switchyard_publish_latency_seconds_bucket{le="\([^"]*\)"}.*/\1/p' "$W/metrics.txt" | tr '\n' ' ')
cnt=$(sed -n 's/^switchyard_publish_latency_seconds_count //p' "$W/metrics.txt")
[ "${les%% *}" = 0.0005 ] && [[ "$les" == *" 30 +Inf "* ]] && [ "${cnt:-0}" -ge 1 ] &&
	sy_pass "switchyard_publish_latency_seconds: bounds $les; $cnt publishes" ||
	sy_fail "publish latency histogram: bounds '$les', count '$cnt'"

obs_stop
[ "$SY_FAILED" = 0 ] || { echo "FAIL: test_metrics"; exit 1; }
echo "PASS: test_metrics"
