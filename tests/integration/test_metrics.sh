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
#   5. the NIC counters of the dataplane's port (copied into the region by
#      sy-dataplane every second): switchyard_port_rx_packets_total and
#      _rx_bytes_total equal the dataplane's rx counters, _tx_ the tx ones;
#      rx_missed, rx_errors, tx_errors, rx_nombuf are there (0 here);
#      switchyard_port_link_up is 1; `syctl stats` prints the same line per
#      port, with its link; once sy-dataplane stops, none
#
# Before (no NIC counters): port counters: {}; FAIL: port counters in /metrics;
#   FAIL: syctl stats: no port line
# Before (the _ms histograms, families interleaved, 17 drop_* families):
#   switchyard_generation no help text
#   switchyard_publish_latency_ms metric names should not contain abbreviated units
#   switchyard_registrations_total no help text
#   switchyard_table_build_ms metric names should not contain abbreviated units
#   FAIL: line 115: family switchyard_vip_packets_total again, after
#         switchyard_service_degraded: its samples are not contiguous
#   47 families (a parser reading a family per run of names sees 77), ...
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
# the port block follows within its interval (1 s)
ports_caught_up() { obs_ctl --json stats | python3 -c 'import json, sys
s = json.load(sys.stdin)
p = s.get("ports") or [{}]
sys.exit(not (p[0].get("rx_packets") == s["counters"]["rx_packets"] == 107 and
              p[0].get("tx_packets") == s["counters"]["tx_packets"]))'; }
sy_wait 5 ports_caught_up
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

# ---- 5. NIC counters --------------------------------------------------------------------------
python3 - "$W/metrics.txt" "$W/stats.json" >"$W/ports.out" 2>&1 <<'PY'
import json, re, sys
text = open(sys.argv[1]).read()
c = json.load(open(sys.argv[2]))["counters"]
got = {name: (port, dev, int(v)) for name, port, dev, v in re.findall(
    r'^switchyard_port_(\w+)_total\{port="(\d+)",device="([^"]*)"\} (\d+)$', text, re.M)}
want = {"rx_packets": c["rx_packets"], "rx_bytes": c["rx_bytes"], "tx_packets": c["tx_packets"],
        "tx_bytes": c["tx_bytes"], "rx_missed": 0, "rx_errors": 0, "tx_errors": 0, "rx_nombuf": 0}
vals = {k: v[2] for k, v in got.items()}
print("port counters: %s" % vals)
print("dataplane:     %s" % {k: want[k] for k in ("rx_packets", "rx_bytes", "tx_packets", "tx_bytes")})
ok = vals == want and {(p, d) for p, d, _ in got.values()} == {("0", "net_af_packet0")}
sys.exit(0 if ok else 1)
PY
rc=$?
cat "$W/ports.out"
[ $rc = 0 ] && sy_pass "switchyard_port_*_total{port=\"0\",device=\"net_af_packet0\"}: rx/tx equal the dataplane's counters; missed, errors, nombuf 0" ||
	sy_fail "port counters in /metrics"
obs_ctl stats | grep '^port ' >"$W/ports.txt"
cat "$W/ports.txt"
rx=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["counters"]["rx_packets"])' "$W/stats.json")
grep -Eq "^port 0 net_af_packet0 link up \([0-9]+ ms ago\): rx_packets $rx rx_bytes [0-9]+ tx_packets [0-9]+ tx_bytes [0-9]+ rx_missed 0 rx_errors 0 tx_errors 0 rx_nombuf 0$" "$W/ports.txt" &&
	sy_pass "syctl stats shows the port's link and counters" || sy_fail "syctl stats: no port line"
grep -q '^switchyard_port_link_up{port="0",device="net_af_packet0"} 1$' "$W/metrics.txt" &&
	sy_pass "switchyard_port_link_up{port=\"0\",device=\"net_af_packet0\"} 1" ||
	sy_fail "port link in /metrics: $(grep switchyard_port_link_up "$W/metrics.txt")"
# a clean stop of the dataplane empties the block: no figures of a port nobody reads
sy_stop_checked "$DP" sy-dataplane "$W/dataplane.log"
DP=''
scrape "$W/after.txt"
n=$(grep -c '^switchyard_port_' "$W/after.txt")
[ "$n" = 0 ] && ! obs_ctl stats | grep -q '^port ' &&
	sy_pass "sy-dataplane stopped: no port samples, no port line" ||
	sy_fail "sy-dataplane stopped, still $n port samples"

obs_finish # sy-dataplane and sy-control must stop cleanly (exit 0)
[ "$SY_FAILED" = 0 ] || { echo "FAIL: test_metrics"; exit 1; }
echo "PASS: test_metrics"
