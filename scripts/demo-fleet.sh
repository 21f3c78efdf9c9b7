#!/bin/bash
# The fleet demo: installs, builds, and runs three Switchyard hosts behind a
# router in network namespaces (tests/integration/fleet_topology.sh): the
# router runs BIRD 2 and learns the VIP by BGP from each host's BIRD, which
# sy-control drives, and spreads the connections over the three hosts by
# ECMP (5-tuple hash); four backends register with all three hosts' embedded
# registries. 60 TCP connections from the client stream data through the
# VIP, each checking every byte it gets back. One host is killed (its link
# cut, its processes killed): the router drops its route (BFD), its
# connections move to the other two hosts and keep their backends, since
# every host builds the same Maglev table. Prints a table; cleans up.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)

[ "$(id -u)" -eq 0 ] || { echo "demo-fleet: run as root (namespaces, DPDK, XDP)"; exit 1; }
scripts/install-deps.sh runtime build demo bgp || exit 1
scripts/build.sh >/dev/null || { echo "demo-fleet: build failed"; exit 1; }

BUILD=$ROOT/build
P=syfleet
MODE=ipip
NB=4
NH=3
TTL=20
ALLOWED=198.18.0.8/29
DATAPLANE=${DATAPLANE:-dpdk} # or xdp: the XDP path on the three hosts
DP_LCORES="--lcores=0@0,1@(0-1)" # three busy-polling workers share the CPUs
N=60
FIRST=40001
VICTIM=2
. "$ROOT/tests/integration/netns_lib.sh"
. "$ROOT/tests/integration/lb_topology.sh"
. "$ROOT/tests/integration/bird_lib.sh"
. "$ROOT/tests/integration/fleet_topology.sh"
CLIENT_PID=
stop_client() { [ -n "$CLIENT_PID" ] && kill -TERM "$CLIENT_PID" 2>/dev/null && wait "$CLIENT_PID" 2>/dev/null; CLIENT_PID=; }
trap 'stop_client; fleet_cleanup; sy_cleanup' EXIT
for ns in $(ip netns list | awk '{print $1}' | grep "^${P}"); do ip netns del "$ns"; done

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
per_host() { awk '{ n[$2]++ } END { for (h = 1; h <= 3; h++) printf "%s%d", (h > 1 ? " " : ""), n[h] + 0 }' "$1"; }
verified() { awk '$3 == "ok" { n++; b += $5 } END { printf "%d %d", n, b }' "$FW/status"; }
# settle MARK: until every connection has verified 4000 bytes more than at
# MARK (or broke), at most 40 s; prints compare's summary line
settle() {
	local end=$((SECONDS + 40)) out
	while :; do
		out=$(python3 tests/integration/fleet_stream.py compare "$1" "$FW/status" 4000) && break
		[ $SECONDS -ge $end ] && break
		sleep 0.5
	done
	head -1 <<<"$out"
}

say "Building the fleet: a client, a router (BIRD 2, ECMP), $NH Switchyard hosts ($DATAPLANE), $NB backends"
fleet_up || { echo "demo-fleet: setup failed"; exit 1; }
for h in $(seq $NH); do
	fleet_wait_up $h $NB 30 || { echo "demo-fleet: host $h has $(fleet_up_count $h) backends up"; exit 1; }
done
fleet_wait_vias "$(fleet_hosts_ips)" 60 || { echo "demo-fleet: the router never got the 3 routes"; exit 1; }
echo "The router's route to the VIP, learnt by BGP from the 3 hosts:"
ip -n ${P}r route show $VIP/32 | sed 's/^/  /'
echo "Each host's decision (syctl status):"
for h in $(seq $NH); do printf '  host %d: %s\n' $h "$(fleet_vip_state $h)"; done
echo "The hosts' Maglev tables (syctl fleet):"
# shellcheck disable=SC2046 # a socket per host
"$BUILD/control/syctl" fleet $(for h in $(seq $NH); do echo "host$h=${HWORK[$h]}/api.sock"; done) | sed 's/^/  /'

say "$N TCP connections from the client to $VIP:$FLEET_PORT, each streaming and checking every byte"
ip netns exec ${P}c python3 tests/integration/fleet_stream.py client $VIP $FLEET_PORT $FIRST $N \
	"$FW/status" 600 >"$FW/client.log" 2>&1 &
CLIENT_PID=$!
SY_PIDS+=($CLIENT_PID)
sy_wait 60 bash -c "[ -f '$FW/status' ] && [ \$(awk '\$2 != \"-\"' '$FW/status' | wc -l) -eq $N ]" ||
	{ echo "demo-fleet: the connections did not all open"; cat "$FW/client.log"; exit 1; }
cp "$FW/status" "$FW/mark.1"
echo "  $(settle "$FW/mark.1")"
fleet_paths $FIRST $N >"$FW/paths.1"
read -r a1 a2 a3 <<<"$(per_host "$FW/paths.1")"
echo "  the router sends $a1 / $a2 / $a3 of them to hosts 1 / 2 / 3"
echo "  the backends answering them: $(awk '{ n[$2]++ } END { for (b in n) print b, n[b] }' "$FW/status" | sort | xargs)"
read -r ok1 bytes1 <<<"$(verified)"

say "Killing host $VICTIM: link cut, sy-control, sy-dataplane and BIRD killed (a power cut)"
cp "$FW/status" "$FW/mark.2"
t=$EPOCHREALTIME
fleet_kill_host $VICTIM
# shellcheck disable=SC2046
fleet_wait_vias "$(fleet_hosts_ips | tr ' ' '\n' | grep -vx "$(fleet_host_ip $VICTIM)" | xargs)" 30 &&
	gone_ms=$(sy_ms_since "$t") || gone_ms="not gone"
echo "  the router dropped host $VICTIM's route after $gone_ms ms (BFD: 5 x 200 ms):"
ip -n ${P}r route show $VIP/32 | sed 's/^/  /'
echo "  $(settle "$FW/mark.2")"
fleet_paths $FIRST $N >"$FW/paths.2"
read -r b1 b2 b3 <<<"$(per_host "$FW/paths.2")"
moved=$(join "$FW/paths.1" "$FW/paths.2" | awk '$2 != $3' | wc -l)
broken=$(awk '$3 != "ok"' "$FW/status" | wc -l)
read -r ok2 bytes2 <<<"$(verified)"

say "The connections"
printf '  %-28s %7s %7s %7s %7s %7s %12s\n' "" "host 1" "host 2" "host 3" "moved" "broken" "route gone"
printf '  %-28s %7d %7d %7d %7s %7s %12s\n' "3 hosts" $a1 $a2 $a3 - - -
printf '  %-28s %7d %7d %7d %7d %7d %12s\n' "host $VICTIM killed" $b1 $b2 $b3 $moved $broken "$gone_ms ms"
echo "  connections intact: $ok2 of $N; bytes checked end to end: $bytes1 when host $VICTIM died, $bytes2 now"
echo "  (a connection that moved reached the same backend on its new host: else that backend,"
echo "   which knows nothing of it, would have reset it)"
say "Done: cleaning up namespaces and processes"
