#!/bin/bash
# A real Prometheus (Debian's `prometheus`, started here: its own TSDB in a
# temporary directory, a generated prometheus.yml, 1 s scrape interval,
# listening on the loopback of a namespace of our own; never the system
# service; stopped by PID) scrapes sy-control's /metrics over the API's TCP
# listener with the bearer token (authorization: credentials_file). Then an
# exact number of packets goes through sy-dataplane and the per-VIP packet
# counter read back from Prometheus's HTTP API must equal it.
#
# Why the count is exact: send_udp.py counts a frame only when the kernel
# took all of it (send() returned its length); the veth hands it to dp0 at
# once, where sy-dataplane's af_packet ring (512 frames) is polled by a busy
# worker and fed at most 16 frames at a time, paced: it never overflows.
# The per-VIP counter counts a packet when it is processed (before TX), so a
# TX-side loss could not hide one either. The test also checks the
# dataplane's own rx figure and `syctl stats` against the same number, so a
# lost frame would show as a mismatch everywhere, not as a wrong metric.
#
#   1. Prometheus up, the target healthy; a job without the token is refused
#      (the 401 is Prometheus's last scrape error)
#   2. N packets to web: Prometheus's switchyard_vip_packets_total{service=
#      "web"} == N == syctl stats; bytes == N x frame; backends sum to N;
#      new flows == flows sent; the idle service stays 0
#   3. every expression of the Grafana dashboard is valid PromQL for this
#      Prometheus (check_dashboard.py --prometheus); the VIP panels have data
#
# usage: test_prometheus.sh BUILD_DIR
set -u
BUILD=$(realpath "$1")
HERE=$(dirname "$(realpath "$0")")
DASH=$(realpath "$HERE/../../deploy/grafana/switchyard.json")
. "$HERE/netns_lib.sh"
. "$HERE/obs_lib.sh"
[ "$(id -u)" -eq 0 ] || { echo "FAIL: needs root (namespaces, DPDK)"; exit 1; }
PROMETHEUS=$(command -v prometheus || echo /usr/bin/prometheus)
[ -x "$PROMETHEUS" ] || { echo "FAIL: no prometheus binary (apt install prometheus; scripts/install-deps.sh)"; exit 1; }
PROM_PID=''
stop_prom() {
	[ -n "$PROM_PID" ] || return 0
	kill -TERM "$PROM_PID" 2>/dev/null
	for _ in $(seq 100); do kill -0 "$PROM_PID" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$PROM_PID" 2>/dev/null
	wait "$PROM_PID" 2>/dev/null
	PROM_PID=''
}
trap 'stop_prom; obs_stop; sy_cleanup' EXIT

N=3000   # packets
FLOWS=300
FRAME=64

obs_setup dataplane || { echo "FAIL: sy-control + sy-dataplane did not start"; exit 1; }
sy_pass "sy-control and sy-dataplane (net_af_packet on dp0, pid $DP) running"

# ---- 1. Prometheus ---------------------------------------------------------------
# inside our namespace every port is free; Prometheus's own: 9090
PROM=127.0.0.1:9090
mkdir "$W/tsdb"
cat >"$W/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: switchyard
    authorization:
      type: Bearer
      credentials_file: $TOKEN_FILE
    static_configs:
      - targets: ['127.0.0.1:$OBS_API_PORT']
  - job_name: switchyard_without_token
    static_configs:
      - targets: ['127.0.0.1:$OBS_API_PORT']
EOF
"$PROMETHEUS" --version 2>&1 | head -1
"$(dirname "$PROMETHEUS")/promtool" check config "$W/prometheus.yml" >"$W/promtool.out" 2>&1 ||
	{ cat "$W/promtool.out"; sy_fail "promtool check config"; }
ip netns exec $P "$PROMETHEUS" --config.file="$W/prometheus.yml" --storage.tsdb.path="$W/tsdb" \
	--web.listen-address=$PROM --storage.tsdb.retention.time=1h >"$W/prometheus.log" 2>&1 &
PROM_PID=$!
SY_PIDS+=($PROM_PID)
pq() { # PromQL -> the first result's value ("none" if no result)
	ip netns exec $P curl -sS --max-time 5 --get --data-urlencode "query=$1" "http://$PROM/api/v1/query" |
		python3 -c 'import json, sys
r = json.load(sys.stdin)["data"]["result"]
print(r[0]["value"][1] if r else "none")' 2>/dev/null || echo error
}
sy_wait 30 ip netns exec $P curl -sf --max-time 1 http://$PROM/-/ready ||
	{ tail -20 "$W/prometheus.log"; echo "FAIL: Prometheus did not become ready"; exit 1; }
pq_is() { [ "$(pq "$1")" = "$2" ]; }
sy_wait 20 pq_is 'up{job="switchyard"}' 1 &&
	sy_pass "Prometheus (pid $PROM_PID) scrapes sy-control with the token: up{job=\"switchyard\"} = 1" ||
	{ sy_fail "target switchyard not up"; ip netns exec $P curl -s http://$PROM/api/v1/targets; echo; }
sy_wait 10 pq_is 'up{job="switchyard_without_token"}' 0
ip netns exec $P curl -sS --max-time 5 http://$PROM/api/v1/targets | python3 -c 'import json, sys
for t in json.load(sys.stdin)["data"]["activeTargets"]:
    print(t["labels"]["job"], t["health"], t["lastError"])' >"$W/targets.txt"
cat "$W/targets.txt"
grep -q '^switchyard_without_token down .*401' "$W/targets.txt" &&
	sy_pass "a scrape without the token is refused (401)" ||
	sy_fail "the job without a token was not refused with 401"
V0=$(pq 'switchyard_vip_packets_total{job="switchyard",service="web"}')
[ "$V0" = 0 ] && sy_pass "before traffic: web's packet counter in Prometheus is 0" ||
	sy_fail "before traffic: web's counter is '$V0'"

# ---- 2. N packets --------------------------------------------------------------------
RX0=$(obs_ctl --json stats | python3 -c 'import json, sys; print(json.load(sys.stdin)["counters"]["rx_packets"])')
SENT=$(obs_send $N 2000 20 --flows $FLOWS --frame $FRAME)
echo "$SENT"
SENT_N=$(sed -n 's/.*frames=\([0-9]*\).*/\1/p' <<<"$SENT")
[ "$SENT_N" = $N ] || sy_fail "send_udp.py sent '$SENT_N' frames, not $N"
# the dataplane's figure reaches what was sent (a counter read twice 0.2 s
# apart can stand still on a loaded machine before it has)
counted() { [ "$(obs_stat web packets)" = "$SENT_N" ]; }
sy_wait 15 counted
T_SETTLED=$(date +%s.%N)
DP_PKTS=$(obs_stat web packets)
RX=$(obs_ctl --json stats | python3 -c 'import json, sys; print(json.load(sys.stdin)["counters"]["rx_packets"])')
echo "sent $SENT_N; syctl stats: web packets $DP_PKTS, dataplane rx_packets +$((RX - RX0))"
[ "$DP_PKTS" = "$SENT_N" ] && [ $((RX - RX0)) = "$SENT_N" ] &&
	sy_pass "the dataplane received and counted every frame sent ($SENT_N)" ||
	sy_fail "dataplane figures ($DP_PKTS, rx +$((RX - RX0))) differ from the frames sent ($SENT_N)"
# a sample scraped after the counter settled
fresh() { awk -v t="$(pq 'timestamp(switchyard_vip_packets_total{job="switchyard",service="web"})')" \
	-v s="$T_SETTLED" 'BEGIN {exit !(t != "none" && t > s + 0.1)}'; }
sy_wait 15 fresh || sy_fail "Prometheus has no sample scraped after the traffic"
PV=$(pq 'switchyard_vip_packets_total{job="switchyard",service="web"}')
PB=$(pq 'switchyard_vip_bytes_total{job="switchyard",service="web"}')
PF=$(pq 'switchyard_vip_new_flows_total{job="switchyard",service="web"}')
PBE=$(pq 'sum(switchyard_backend_packets_total{job="switchyard",service="web"})')
PBN=$(pq 'count(switchyard_backend_packets_total{job="switchyard",service="web"} > 0)')
PI=$(pq 'switchyard_vip_packets_total{job="switchyard",service="idle"}')
echo "Prometheus: web packets $PV bytes $PB new_flows $PF; backends sum $PBE ($PBN with traffic); idle $PI"
[ "$PV" = "$SENT_N" ] &&
	sy_pass "Prometheus /api/v1/query: switchyard_vip_packets_total{service=\"web\"} = $PV = packets sent" ||
	sy_fail "Prometheus says $PV packets, $SENT_N were sent"
[ "$PB" = $((SENT_N * FRAME)) ] && sy_pass "bytes = $PB = $SENT_N x $FRAME" ||
	sy_fail "bytes $PB, expected $((SENT_N * FRAME))"
[ "$PF" = $FLOWS ] && sy_pass "new flows = $PF = flows sent" || sy_fail "new flows $PF, expected $FLOWS"
[ "$PBE" = "$SENT_N" ] && [ "$PBN" = 3 ] && sy_pass "the 3 backends' counters sum to $PBE" ||
	sy_fail "backends: sum $PBE over $PBN backends"
[ "$PI" = 0 ] && sy_pass "the idle service stays at 0" || sy_fail "idle service: $PI"

# ---- 3. the dashboard's expressions on this Prometheus ---------------------------------
ip netns exec $P curl -sS --max-time 5 -H "Authorization: Bearer $(cat "$TOKEN_FILE")" \
	-o "$W/metrics.txt" http://127.0.0.1:$OBS_API_PORT/metrics
ip netns exec $P python3 "$HERE/check_dashboard.py" "$DASH" "$W/metrics.txt" --prometheus "http://$PROM" \
	--nonempty "Packets/s per VIP" --nonempty "Bits/s per VIP" --nonempty "New flows/s per VIP" \
	--nonempty "Backend share of the service's packets" --nonempty "Backends up per service" \
	--nonempty "NIC drops and errors/s per port" \
	>"$W/dash.out" 2>&1
rc=$?
grep -v ' served$' "$W/dash.out"
[ $rc = 0 ] && sy_pass "Prometheus evaluates every dashboard expression; the VIP panels show data" ||
	sy_fail "dashboard expressions on Prometheus"

stop_prom
obs_finish # sy-dataplane and sy-control must stop cleanly (exit 0)
[ "$SY_FAILED" = 0 ] || { echo "FAIL: test_prometheus"; exit 1; }
echo "PASS: test_prometheus"
