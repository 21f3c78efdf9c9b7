#!/bin/bash
# sy-dataplane's instructions per packet where it runs: the worker under
# callgrind, fed over memif by sy-pktgen (native, on the other core) faster
# than it can forward, so every received burst is full. Prints, per
# forwarded packet (callgrind Ir, collected inside poll_port only):
#   mbufs:    forward_rx's own work (the mbufs around the packet path)
#   path:     sy_lb_process_burst (the packet path, as lb_process_bench)
#   memif_tx: the memif PMD's transmit (testpmd io pays it too)
# The receive side is left out: its empty polls (before the generator
# starts, while it lingers) cannot be told from full ones here. Under
# callgrind the worker forwards ~100,000 packets a second: with --flows
# near the packets of a run, most packets are a flow's first (it says so).
# A figure that does not depend on the machine's load, beside
# bench_dataplane.sh's times (perf/README.md).
#
# usage: perf/dataplane_callgrind.sh [--build DIR] [--flows N] [--seconds S]
# Needs root (memif sockets, DPDK), valgrind (scripts/install-deps.sh test) and a
# build (ninja -C build). Runs with --no-huge; about S + 30 seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=build FLOWS=1000 SECONDS_RUN=12
while [ $# -gt 0 ]; do
	case $1 in
	--build) BUILD=$2; shift ;;
	--flows) FLOWS=$2; shift ;;
	--seconds) SECONDS_RUN=$2; shift ;;
	*) echo "usage: $0 [--build DIR] [--flows N] [--seconds S]" >&2; exit 2 ;;
	esac
	shift
done
for v in "$FLOWS" "$SECONDS_RUN"; do
	[[ $v =~ ^[1-9][0-9]*$ ]] || { echo "dataplane_callgrind.sh: --flows and --seconds take a positive integer, not '$v'" >&2; exit 2; }
done
command -v valgrind >/dev/null || { echo "dataplane_callgrind.sh: valgrind missing (scripts/install-deps.sh test installs it)" >&2; exit 1; }
SYDP=$BUILD/dataplane/sy-dataplane PKTGEN=$BUILD/perf/sy-pktgen PUBLISH=$BUILD/tests/tools/sy-publish
for b in "$SYDP" "$PKTGEN" "$PUBLISH"; do
	[ -x "$b" ] || { echo "dataplane_callgrind.sh: missing $b (ninja -C $BUILD)" >&2; exit 1; }
done
W=$(mktemp -d /tmp/sy-dpcg-XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill -INT "$p" 2>/dev/null || true; done
	sleep 1
	for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
	[ -n "${SY_KEEP:-}" ] && echo "kept $W" || rm -rf "$W"; rm -rf /var/run/dpdk/sydpcg-f$$ /var/run/dpdk/sydpcg-g$$
}
trap cleanup EXIT

cat >"$W/services.txt" <<EOF
service bench udp 198.18.100.1 53 ipip m=65537 seed=7 src4=198.18.0.1
backend bench 198.18.1.1 53 02:00:00:00:01:01 1
backend bench 198.18.1.2 53 02:00:00:00:01:02 1
backend bench 198.18.1.3 53 02:00:00:00:01:03 2
EOF
"$PUBLISH" --create "$W/region" "$W/services.txt" >"$W/publish.log"
ct=$((FLOWS * 2 > 262144 ? FLOWS * 2 : 262144))
taskset -c 1 valgrind --tool=callgrind --callgrind-out-file="$W/cg.out" --toggle-collect=poll_port \
	"$SYDP" -l 1 --no-huge -m 768 --no-pci --file-prefix sydpcg-f$$ \
	--vdev=net_memif0,role=server,socket="$W/m.sock",socket-abstract=no -- \
	--region "$W/region" --exception-tap off --ct-size $ct --ct-guard-rate 0 \
	</dev/null >"$W/fwd.log" 2>&1 &
fpid=$!
PIDS+=($fpid)
for _ in $(seq 600); do
	grep -q "sy-dataplane running" "$W/fwd.log" && break
	kill -0 $fpid 2>/dev/null || break
	sleep 0.2
done
grep -q "sy-dataplane running" "$W/fwd.log" || { cat "$W/fwd.log"; echo "dataplane_callgrind.sh: sy-dataplane did not start" >&2; exit 1; }
timeout -s INT -k 10 $((SECONDS_RUN + 60)) taskset -c 0 "$PKTGEN" -l 0 --no-huge -m 256 --no-pci \
	--file-prefix sydpcg-g$$ --vdev=net_memif0,role=client,socket="$W/m.sock",socket-abstract=no -- \
	--flows "$FLOWS" --proto udp --duration "$SECONDS_RUN" --warmup 2 --linger 15 --link-timeout 30 \
	</dev/null >"$W/gen.log" 2>&1 &
gpid=$!
PIDS+=($gpid)
# the generator ends by itself (--duration); the forwarder is stopped first,
# while the generator lingers without touching the port
for _ in $(seq $(((SECONDS_RUN + 40) * 5))); do
	grep -q "^RESULT" "$W/gen.log" && break
	kill -0 $gpid 2>/dev/null || break
	sleep 0.2
done
kill -INT $fpid
wait $fpid || true
wait $gpid || true
grep -q "^RESULT" "$W/gen.log" || { cat "$W/gen.log"; echo "dataplane_callgrind.sh: the generator gave no result" >&2; exit 1; }

n=$(grep -o "forwarded=[0-9]*" "$W/fwd.log" | tail -1 | cut -d= -f2)
[ "${n:-0}" -gt 0 ] || { echo "dataplane_callgrind.sh: nothing forwarded" >&2; exit 1; }
callgrind_annotate --inclusive=yes "$W/cg.out" >"$W/inclusive.txt" 2>/dev/null
callgrind_annotate --tree=calling "$W/cg.out" 2>/dev/null | grep -F 'worker.c:forward_rx [' >"$W/tree_fwd.txt"
# a function's inclusive count is the largest of the lines naming it
# (callgrind_annotate also lists its inlined parts by file)
ir() { grep -F -- "$1" "$2" | awk '{gsub(",", "", $1); if ($1 + 0 > m) m = $1 + 0} END {print m + 0}'; }
fwd_self=$(ir '*  ' "$W/tree_fwd.txt")
fwd_incl=$(ir 'dataplane/worker.c:forward_rx' "$W/inclusive.txt")
path=$(ir 'dataplane/lb.c:sy_lb_process_burst' "$W/inclusive.txt")
# what forward_rx calls besides the packet path is the transmit (and, on
# a ring that is full, the frees of what it did not take)
awk -v n="$n" -v s="${fwd_self:-0}" -v i="${fwd_incl:-0}" -v p="${path:-0}" -v f="$FLOWS" 'BEGIN {
	printf "sy-dataplane under callgrind, %d flows, %d packets forwarded (instructions a packet)\n", f, n
	printf "  mbufs    %7.1f  (forward_rx itself)\n", s / n
	printf "  path     %7.1f  (sy_lb_process_burst)\n", p / n
	printf "  memif_tx %7.1f  (the rest of forward_rx: rte_eth_tx_burst)\n", (i - s - p) / n
	printf "ROW flows=%d mbufs=%.1f path=%.1f memif_tx=%.1f\n", f, s / n, p / n, (i - s - p) / n
	if (n < 3 * f)
		printf "note: %d packets for %d flows: most packets were new flows (more --seconds, or fewer --flows)\n", n, f
}'
