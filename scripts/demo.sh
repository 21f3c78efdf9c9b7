#!/bin/bash
# The demo: installs, builds, and runs Switchyard on an embedded default in
# network namespaces: a client, a load balancer (sy-control + sy-dataplane on
# DPDK over veth), three backends that register themselves with the embedded
# registry and serve real HTTP. Sends requests through the VIP, prints the
# distribution, stops one backend's heartbeat and shows that after its TTL its
# share moved to the others while the others' flows stayed. Cleans up.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

[ "$(id -u)" -eq 0 ] || { echo "demo: run as root (namespaces, DPDK, XDP)"; exit 1; }
scripts/install-deps.sh runtime build demo || exit 1
scripts/build.sh >/dev/null || { echo "demo: build failed"; exit 1; }

# Hugepages for DPDK (the dataplane falls back to --no-huge if none can be had).
HUGE=0
if [ "$(cat /proc/sys/vm/nr_hugepages)" -lt 256 ]; then
	echo 256 >/proc/sys/vm/nr_hugepages 2>/dev/null
fi
mountpoint -q /dev/hugepages || { mkdir -p /dev/hugepages && mount -t hugetlbfs nodev /dev/hugepages; }
[ "$(cat /proc/sys/vm/nr_hugepages)" -ge 256 ] && mountpoint -q /dev/hugepages && HUGE=1

BUILD=$ROOT/build
P=sydemo
MODE=${MODE:-ipip}
NB=3
TTL=3
. "$ROOT/tests/integration/netns_lib.sh"
. "$ROOT/tests/integration/lb_topology.sh"
trap sy_cleanup EXIT
for ns in $(ip netns list | awk '{print $1}' | grep "^${P}"); do ip netns del "$ns"; done

N=30
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "Building the network: client, load balancer, 3 backends (mode $MODE, hugepages $HUGE)"
topo_up || { echo "demo: setup failed"; exit 1; }

say "Backends register with the embedded registry (signed heartbeats, TTL ${TTL}s)"
for i in 1 2 3; do topo_register $i; done
sy_wait 20 bash -c "[ \$(ip netns exec ${P}l $BUILD/control/syctl --socket $WORK/api.sock --json backends web | grep -c '\"state\": \"up\"') -eq 3 ]" ||
	{ echo "demo: backends did not come up"; cat "$WORK/control.log"; exit 1; }
sleep 0.5
sy_ctl backends web
sy_ctl table web

say "$N HTTP requests from the client to http://$VIP/ (each its own TCP connection)"
declare -A BEFORE COUNT
while read -r sport ans; do
	BEFORE[$sport]=$ans
	COUNT[$ans]=$((${COUNT[$ans]:-0} + 1))
done < <(topo_probe 30001 $N)
for b in be1 be2 be3; do printf '  %s answered %2d of %d\n' $b "${COUNT[$b]:-0}" $N; done

say "Stopping be2's heartbeat (its agent dies without deregistering)"
kill -9 "${AGENT_PID[2]}"
wait "${AGENT_PID[2]}" 2>/dev/null
t0=$(date +%s.%N)
sy_wait $((TTL + 5)) bash -c "[ \$(ip netns exec ${P}l $BUILD/control/syctl --socket $WORK/api.sock --json backends web | grep -c '\"state\": \"up\"') -eq 2 ]"
t1=$(date +%s.%N)
awk -v a="$t0" -v b="$t1" -v ttl=$TTL \
	'BEGIN { printf "  be2 left the set %.1f s after its agent died (TTL %s s)\n", b - a, ttl }'
sy_ctl backends web

say "The same $N flows again (same client addresses and ports)"
declare -A AFTER
stayed=0 moved=0 other=0 failed=0
while read -r sport ans; do
	AFTER[$ans]=$((${AFTER[$ans]:-0} + 1))
	if [ "$ans" = - ]; then
		failed=$((failed + 1))
	elif [ "${BEFORE[$sport]}" = be2 ]; then
		[ "$ans" != be2 ] && moved=$((moved + 1))
	elif [ "$ans" = "${BEFORE[$sport]}" ]; then
		stayed=$((stayed + 1))
	else
		other=$((other + 1))
	fi
done < <(topo_probe 30001 $N)
for b in be1 be2 be3; do printf '  %s answered %2d of %d\n' $b "${AFTER[$b]:-0}" $N; done
echo "  flows that were on be1/be3 and stayed there: $stayed (moved elsewhere: $other)"
echo "  flows that were on be2, now on be1/be3:      $moved (of ${COUNT[be2]:-0}); failed requests: $failed"

say "Dataplane counters"
sy_ctl stats # counters, then per service and per backend of the current set
say "Done: cleaning up namespaces and processes"
