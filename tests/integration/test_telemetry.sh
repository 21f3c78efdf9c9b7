#!/bin/bash
# sy-dataplane's DPDK telemetry (dataplane/telemetry.c) against what
# sy-control published, with the names and sizes DPDK 22.11's telemetry
# cannot take as dictionary keys or in one answer:
#
#   web (3 backends), idle (1), api-v2.edge (300 backends, one of them IPv6,
#   weights 1..4) and 130 services pool-NNN.<long name with '-' and '.'>
#   (1 backend each): a service list and a backend list longer than one
#   16 KiB answer and than a 256-entry dictionary.
#
#   1. traffic to web and api-v2.edge (exact counts, send_udp.py)
#   2. check_telemetry.py: /switchyard/services lists every service by name
#      with its figures, /switchyard/backends,<svc> of every service lists
#      every backend (address, weight, packets, bytes), following "next"
#      pages; compared with `syctl --json services` / `stats`
#   3. bad requests answer {"error": "..."} saying what is wrong
#   4. dpdk-telemetry.py (DPDK's own client) reads the same answers, and
#      `syctl lookup` (sy-control asking /switchyard/lookup) still works
#
# Before the fix (names as dictionary keys, return codes ignored):
#   FAIL: /switchyard/services: total None; missing ['api-v2.edge',
#         'pool-000.a-service-name-as-long-as-names-may-be.example-org', ...
#   FAIL: /switchyard/backends,api-v2.edge from 0: {}
#
# usage: test_telemetry.sh BUILD_DIR
set -u
BUILD=$(realpath "$1")
HERE=$(dirname "$(realpath "$0")")
. "$HERE/netns_lib.sh"
. "$HERE/obs_lib.sh"
[ "$(id -u)" -eq 0 ] || { echo "FAIL: needs root (namespaces, DPDK)"; exit 1; }
command -v dpdk-telemetry.py >/dev/null || { echo "FAIL: no dpdk-telemetry.py (package dpdk)"; exit 1; }
trap 'obs_stop; sy_cleanup' EXIT

NPOOL=130
NAPI=300 # api-v2.edge's backends: 299 IPv4 and one IPv6
OBS_LIMITS="{ lcores: 4, services: 160, backends: 4096, heap_mb: 32 }"
OBS_SERVICES=$(
	cat <<YAML
  - name: api-v2.edge
    vip: 198.18.1.3
    port: 53
    protocol: udp
    mode: ipip
    source: static
    table_size: 1009
    max_backends: $NAPI
    encap_source6: 2001:2::1
    next_hop_mac: 02:00:00:00:00:fe
    backends:
      - { address: "2001:2::53", port: 53, weight: 2 }
YAML
	for i in $(seq 1 $((NAPI - 1))); do
		echo "      - { address: 198.18.$((2 + i / 200)).$((i % 200 + 1)), port: 53, weight: $((i % 4 + 1)) }"
	done
	for i in $(seq 0 $((NPOOL - 1))); do
		printf '  - name: pool-%03d.a-service-name-as-long-as-names-may-be.example-org\n' $i
		echo "    vip: 198.18.4.$((i + 1))"
		echo "    port: 80"
		echo "    protocol: tcp"
		echo "    mode: ipip"
		echo "    source: static"
		echo "    next_hop_mac: 02:00:00:00:00:fe"
		echo "    backends:"
		echo "      - { address: 198.18.5.$((i + 1)), port: 80 }"
	done
)
NSVC=$((NPOOL + 3))

obs_setup dataplane || { echo "FAIL: sy-control + sy-dataplane did not start"; exit 1; }
published() { [ "$(obs_ctl --json services | python3 -c 'import json, sys
print(sum(1 for s in json.load(sys.stdin)["services"] if s["backends"]))')" = $NSVC ]; }
sy_wait 20 published && sy_pass "sy-control published $NSVC services" ||
	{ sy_fail "sy-control did not publish $NSVC services"; obs_ctl services | tail -3; }

# ---- 1. traffic ---------------------------------------------------------------------
obs_send 200 2000 10 --flows 20
ip netns exec $P python3 "$HERE/send_udp.py" gen0 "$DP_MAC" 198.18.1.3 53 600 2000 10 --flows 600
settled() { # the per-VIP packet counters stop moving (the worker counts per burst)
	local a b
	a=$(obs_stat web packets)/$(obs_stat api-v2.edge packets)
	sleep 0.3
	b=$(obs_stat web packets)/$(obs_stat api-v2.edge packets)
	[ "$a" = "$b" ] && [ "$b" = 200/600 ]
}
sy_wait 10 settled && sy_pass "the dataplane counted 200 packets to web and 600 to api-v2.edge" ||
	sy_fail "packets counted: web $(obs_stat web packets), api-v2.edge $(obs_stat api-v2.edge packets)"

# ---- 2. every service and every backend, page by page ------------------------------------
obs_ctl --json services >"$W/services.json"
obs_ctl --json stats >"$W/stats.json"
python3 "$HERE/check_telemetry.py" $P "$W/services.json" "$W/stats.json" >"$W/check.out" 2>&1
rc=$?
cat "$W/check.out"
[ $rc = 0 ] && sy_pass "telemetry lists every service and backend as sy-control published them" ||
	sy_fail "telemetry and sy-control differ"

# ---- 3. bad requests ----------------------------------------------------------------------
ask() { python3 "$HERE/check_telemetry.py" --ask $P "$1" 2>&1; }
expect_error() { # COMMAND TEXT: the answer is {"error": "...TEXT..."} and nothing else
	local ans
	ans=$(ask "$1")
	python3 -c 'import json, sys
a = json.loads(sys.argv[1])
sys.exit(not (isinstance(a, dict) and list(a) == ["error"] and sys.argv[2] in a["error"]))' \
		"$ans" "$2" && sy_pass "$1 -> $ans" || sy_fail "$1 -> $ans (want an error saying '$2')"
}
expect_error /switchyard/backends,no-such.service "no service named 'no-such.service'"
expect_error /switchyard/backends "name a service"
expect_error /switchyard/backends,web,3 "first is an index below 3"
expect_error /switchyard/services,x "first is an index below $NSVC"
expect_error /switchyard/services,$NSVC "first is an index below $NSVC"
expect_error /switchyard/lcore,1 "n is a worker index, 0..0"
expect_error /switchyard/lookup,198.18.0.2,1,nothing "cannot parse"
expect_error /switchyard/lookup,198.18.0.2,1,198.18.9.9,80,tcp "no service for that destination"

# ---- 4. DPDK's own client; syctl lookup ------------------------------------------------------
dpdk_tel() { # COMMAND: its answer through dpdk-telemetry.py, one JSON line
	echo "$1" | timeout 10 dpdk-telemetry.py -f $P 2>&1 | python3 -c 'import json, sys
for line in sys.stdin:
    line = line.strip().lstrip("-->").strip()
    if line.startswith("{\"/switchyard/"):
        print(json.dumps(next(iter(json.loads(line).values()))))'
}
page1=$(dpdk_tel /switchyard/backends,api-v2.edge)
next=$(python3 -c 'import json, sys
a = json.loads(sys.argv[1])
print(a["next"] if a["service"] == "api-v2.edge" and a["total"] == int(sys.argv[2]) else "")' \
	"$page1" $NAPI 2>/dev/null)
page2=$(dpdk_tel /switchyard/backends,api-v2.edge,${next:-0})
python3 -c 'import json, sys
a = json.loads(sys.argv[1])
sys.exit(not any(b["address"] == "[2001:2::53]:53" and b["weight"] == 2 for b in a["backends"].values()))' \
	"$page2" 2>/dev/null &&
	sy_pass "dpdk-telemetry.py: /switchyard/backends,api-v2.edge (total $NAPI) then ,$next (the IPv6 backend as [2001:2::53]:53)" ||
	sy_fail "dpdk-telemetry.py: page 1 ${page1:0:200}, page 2 from '$next' ${page2:0:200}"
obs_ctl lookup web 198.18.0.2:20000 $OBS_VIP:53 udp >"$W/lookup.out" 2>&1
grep -q "conntrack: an established flow of worker 0" "$W/lookup.out" &&
	sy_pass "syctl lookup: $(grep why "$W/lookup.out")" || { sy_fail "syctl lookup"; cat "$W/lookup.out"; }

obs_finish # sy-dataplane and sy-control must stop cleanly (exit 0)
[ "$SY_FAILED" = 0 ] || { echo "FAIL: test_telemetry"; exit 1; }
echo "PASS: test_telemetry"
