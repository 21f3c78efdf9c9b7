#!/bin/bash
# The Grafana dashboard (deploy/grafana/switchyard.json) against what a
# running sy-control serves on /metrics: every metric name and label that a
# panel or a templating query uses must be in a real scrape
# (check_dashboard.py). sy-dataplane runs too: the NIC counter families have
# samples only while a DPDK dataplane copies them into the region. Then the checker itself is checked: a dashboard with
# a renamed metric, and a scrape that lacks a metric, must both fail.
#
# usage: test_dashboard.sh BUILD_DIR
set -u
BUILD=$(realpath "$1")
HERE=$(dirname "$(realpath "$0")")
DASH=$(realpath "$HERE/../../deploy/grafana/switchyard.json")
. "$HERE/netns_lib.sh"
. "$HERE/obs_lib.sh"
[ "$(id -u)" -eq 0 ] || { echo "FAIL: needs root (a network namespace, DPDK)"; exit 1; }
[ -r "$DASH" ] || { echo "FAIL: no dashboard at $DASH"; exit 1; }
trap 'obs_stop; sy_cleanup' EXIT

obs_setup dataplane || { echo "FAIL: sy-control + sy-dataplane did not start"; exit 1; }
# the scrape Prometheus would make: TCP with the bearer token
ip netns exec $P curl -sS --max-time 5 -H "Authorization: Bearer $(cat "$TOKEN_FILE")" \
	-o "$W/metrics.txt" -w '%{http_code}' http://127.0.0.1:$OBS_API_PORT/metrics >"$W/code"
[ "$(cat "$W/code")" = 200 ] && grep -q '^switchyard_vip_packets_total{service="web"}' "$W/metrics.txt" &&
	sy_pass "scraped /metrics over TCP with the token ($(grep -vc '^#' "$W/metrics.txt") samples)" ||
	{ sy_fail "scrape: HTTP $(cat "$W/code")"; exit 1; }

python3 "$HERE/check_dashboard.py" "$DASH" "$W/metrics.txt" >"$W/check.out" 2>&1
rc=$?
cat "$W/check.out"
[ $rc = 0 ] && sy_pass "every metric and label of the dashboard is served" ||
	sy_fail "the dashboard uses what sy-control does not serve"

# the checker catches a renamed metric in the dashboard ...
sed 's/switchyard_vip_new_flows_total/switchyard_vip_newflows_total/' "$DASH" >"$W/renamed.json"
python3 "$HERE/check_dashboard.py" "$W/renamed.json" "$W/metrics.txt" >"$W/renamed.out" 2>&1
[ $? = 1 ] && grep -q "FAIL: .*switchyard_vip_newflows_total is not served" "$W/renamed.out" &&
	sy_pass "a renamed metric in the dashboard fails the check" ||
	sy_fail "a renamed metric was not caught: $(tail -3 "$W/renamed.out")"
# ... a metric sy-control stops serving (as if metrics.c renamed it) ...
grep -v '^switchyard_ct_evictions_total' "$W/metrics.txt" >"$W/less.txt"
python3 "$HERE/check_dashboard.py" "$DASH" "$W/less.txt" >"$W/less.out" 2>&1
[ $? = 1 ] && grep -q "FAIL: .*switchyard_ct_evictions_total is not served" "$W/less.out" &&
	sy_pass "a metric missing from /metrics fails the check" ||
	sy_fail "a missing metric was not caught: $(tail -3 "$W/less.out")"
# ... a label sy-control renames ...
sed 's/,backend="/,server="/' "$W/metrics.txt" >"$W/label.txt"
python3 "$HERE/check_dashboard.py" "$DASH" "$W/label.txt" >"$W/label.out" 2>&1
[ $? = 1 ] && grep -q "FAIL: .*label 'backend' is on none of" "$W/label.out" &&
	sy_pass "a label renamed in /metrics fails the check" ||
	sy_fail "a renamed label was not caught: $(tail -3 "$W/label.out")"
# ... and a label the dashboard gets wrong
sed 's/by (service, backend) (rate(switchyard_backend_packets_total/by (service, server) (rate(switchyard_backend_packets_total/' \
	"$DASH" >"$W/label.json"
python3 "$HERE/check_dashboard.py" "$W/label.json" "$W/metrics.txt" >"$W/label.out" 2>&1
[ $? = 1 ] && grep -q "FAIL: .*label 'server' is on none of" "$W/label.out" &&
	sy_pass "a label the metric does not have fails the check" ||
	sy_fail "a wrong label was not caught: $(tail -3 "$W/label.out")"

obs_finish # sy-dataplane and sy-control must stop cleanly (exit 0)
[ "$SY_FAILED" = 0 ] || { echo "FAIL: test_dashboard"; exit 1; }
echo "PASS: test_dashboard"
