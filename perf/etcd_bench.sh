#!/bin/bash
# etcd source benchmark (prints figures; not a test):
#   1. etcd lease expiry -> backend out of the published table, p50/p99 over
#      TRIALS leases of TTL 2 s (etcd checks expiry every 500 ms)
#   2. BACKENDS backends registering at once (one txn; many puts) -> time
#      until all are in the published table; and the lease revoked -> time
#      until all are out
# Starts its own 1-member etcd on 127.0.0.1 (own ports and data directory;
# --max-txn-ops and --max-request-bytes raised for the one-txn case) and one
# sy-control (static next_hop_mac, no dataplane needed); everything is stopped
# and removed at the end. The measuring is perf/etcd_bench.py; see there for
# exactly what is timed. "The published table" is read with GET
# /v1/services/... which sy-control answers from the region snapshot that
# dataplane lcores read.
#
# usage: perf/etcd_bench.sh [BUILD_DIR] [--trials N] [--backends N] [--quick]
set -u
HERE=$(dirname "$(realpath "$0")")
BUILD=$(realpath "${1:-$HERE/../build}")
[ $# -gt 0 ] && [ "${1#--}" = "$1" ] && shift
TRIALS=100
NB=10000
while [ $# -gt 0 ]; do
	case $1 in
	--trials) TRIALS=$2; shift 2 ;;
	--backends) NB=$2; shift 2 ;;
	--quick) TRIALS=20; NB=1000; shift ;;
	*) echo "usage: $0 [BUILD_DIR] [--trials N] [--backends N] [--quick]" >&2; exit 2 ;;
	esac
done
TI=$HERE/../tests/integration
. "$TI/netns_lib.sh"
. "$TI/etcd_lib.sh"
trap 'etcd_down; sy_cleanup' EXIT
command -v etcd >/dev/null || { echo "etcd_bench: etcd not installed (scripts/install-deps.sh)"; exit 1; }
[ -x "$BUILD/control/sy-control" ] || { echo "etcd_bench: no $BUILD/control/sy-control"; exit 1; }

ETCD_EXTRA="--max-txn-ops $((NB + 10)) --max-request-bytes 67108864 --quota-backend-bytes 4294967296"
etcd_up 1 || { echo "etcd_bench: etcd did not start"; exit 1; }
W=$(mktemp -d /tmp/sy-etcdbench-XXXXXX)
SY_FILES+=("$W")
cat >"$W/sw.yaml" <<EOF
instance: etcdbench
region: /dev/shm/sy-etcdbench-$$
limits: { lcores: 4, services: 16, backends: $((NB * 2 + 1024)), heap_mb: 512 }
api:
  socket: $W/api.sock
defaults:
  encap_source4: 198.18.0.1
  table_size: 65537
registry:
  etcd:
    endpoints:
$(etcd_urls)
services:
  - name: exp
    vip: 198.18.1.1
    port: 80
    protocol: tcp
    mode: ipip
    source: etcd
    next_hop_mac: 02:00:00:00:00:fe
    health: { hold_down_s: 0, panic_threshold: 0 }
  - name: bulk
    vip: 198.18.1.2
    port: 80
    protocol: tcp
    mode: ipip
    table_size: 131071
    source: etcd
    next_hop_mac: 02:00:00:00:00:fe
    health: { hold_down_s: 0, panic_threshold: 0 }
EOF
SY_FILES+=("/dev/shm/sy-etcdbench-$$")
"$BUILD/control/sy-control" --config "$W/sw.yaml" >"$W/control.log" 2>&1 &
SY_PIDS+=($!)
sy_wait 10 test -S "$W/api.sock" || { cat "$W/control.log"; exit 1; }
sy_wait 10 bash -c "'$BUILD/control/syctl' --socket '$W/api.sock' status | grep -q 'etcd *up'"
echo "etcd $(etcd --version | head -1 | awk '{print $3}') on 127.0.0.1:$ETCD_BASE; sy-control $("$BUILD/control/sy-control" --version | awk '{print $2}') ($BUILD); $(nproc) CPUs"
python3 "$HERE/etcd_bench.py" "http://127.0.0.1:$(etcd_client_port 0)" "$W/api.sock" "$TRIALS" "$NB"
rc=$?
echo "sy-control: $(grep -c 'etcd: events applied' "$W/control.log") event batches applied; publish latency histogram count $(curl -s --unix-socket "$W/api.sock" http://x/metrics | sed -n 's/^switchyard_publish_latency_seconds_count //p')"
exit $rc
