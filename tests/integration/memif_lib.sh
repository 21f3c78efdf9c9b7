# Shared set-up of the tests that drive sy-dataplane with sy-pktgen over
# net_memif (test_ct_pressure_live.sh, test_ct_guard_live.sh, test_capture.sh). Requires
# netns_lib.sh and BUILD.
#
#   sy-pktgen (core 0) ══memif══ sy-dataplane (core 1, one worker, one-armed)
#                                   │ region
#   sy-control (static service, API on a unix socket)
#
# Everything runs in one namespace of its own. The service:
#   bulk  udp 198.18.100.1:53 ipip, backends 198.18.1.1.. :53 (static, MACs
#   given, so nothing waits for neighbour resolution)
# Clients are 198.19.0.0/16 (sy-pktgen --src-ip).

MEMIF_VIP=198.18.100.1
MEMIF_CLIENTS=198.19.0.0

# memif_require: root, and the programs these tests run; else FAIL and exit
memif_require() {
	local b
	[ "$(id -u)" -eq 0 ] || { echo "FAIL: needs root (namespace, DPDK)"; echo "RESULT: FAIL"; exit 1; }
	for b in dataplane/sy-dataplane perf/sy-pktgen control/sy-control control/syctl; do
		[ -x "$BUILD/$b" ] || { echo "FAIL: missing $BUILD/$b"; echo "RESULT: FAIL"; exit 1; }
	done
}

# memif_setup TAG NBACKENDS: namespace, config, sy-control. Sets P, NS,
# WORK, SOCK (the memif socket) and CONTROL_PID.
memif_setup() {
	local i
	P=$1$$
	NS=$P
	WORK=$(mktemp -d /tmp/sy-$1-XXXXXX)
	SOCK=/tmp/$P.memif.sock
	SY_FILES+=("$WORK" "$SOCK" "/var/run/dpdk/$P" "/var/run/dpdk/${P}g")
	{
		cat <<EOF
instance: $P
region: $WORK/region
state_file: $WORK/region.state
api:
  socket: $WORK/api.sock
defaults:
  encap_source4: 198.18.0.1
services:
  - name: bulk
    vip: $MEMIF_VIP
    port: 53
    protocol: udp
    mode: ipip
    table_size: 65537
    source: static
    backends:
EOF
		for i in $(seq "$2"); do
			echo "      - { address: 198.18.1.$i, port: 53, mac: \"02:00:00:00:01:0$i\" }"
		done
	} >"$WORK/switchyard.yaml"
	sy_ns "$NS" || return 1
	ip netns exec "$NS" "$BUILD/control/sy-control" --config "$WORK/switchyard.yaml" \
		>"$WORK/control.log" 2>&1 &
	CONTROL_PID=$!
	SY_PIDS+=($CONTROL_PID)
	sy_wait 10 test -S "$WORK/api.sock" -a -e "$WORK/region" || { cat "$WORK/control.log"; return 1; }
}

# memif_ctl ARGS: syctl against our sy-control
memif_ctl() { ip netns exec "$NS" "$BUILD/control/syctl" --socket "$WORK/api.sock" "$@"; }

# memif_counter NAME [STATS]: the dataplane counter NAME, summed over
# workers, from `syctl --json stats` (STATS: an answer already read, so that
# several counters come from one moment); 0 if absent
memif_counter() {
	local j=${2:-$(memif_ctl --json stats)}
	python3 -c 'import json, sys; print(json.loads(sys.argv[1])["counters"].get(sys.argv[2], 0))' \
		"$j" "$1"
}

# memif_drops [STATS]: "name=value ..." of the drop counters that moved, or
# "none". drop_tx_full is left out: it is the generator's receive ring
# overflowing when the noisy machine preempts it (counted, not lost).
memif_drops() {
	local j=${1:-$(memif_ctl --json stats)}
	python3 -c 'import json, sys
c = json.loads(sys.argv[1])["counters"]
print(" ".join(f"{k}={v}" for k, v in c.items() if k.startswith("drop_") and k != "drop_tx_full" and v) or "none")' "$j"
}

# memif_dataplane "EAL MEMORY OPTIONS" [sy-dataplane options]: one worker on
# core 1, the memif server (rings of 4096: the generator may be preempted
# on this noisy machine). Sets DP_PID; waits until it runs.
memif_dataplane() { memif_dataplane_as server "$SOCK" "$P" "$WORK/dataplane.log" "$@"; }

# memif_dataplane_as ROLE SOCKET PREFIX LOG "EAL MEMORY OPTIONS" [options]:
# the same with its memif role, socket, file prefix and log given (DP_PID)
memif_dataplane_as() {
	local role=$1 sock=$2 prefix=$3 log=$4 mem=$5
	shift 5
	: >"$log" # emptied here, not by the background job: see memif_pktgen_as
	# shellcheck disable=SC2086 # $mem: words
	ip netns exec "$NS" "$BUILD/dataplane/sy-dataplane" -l 1 $mem --no-pci --file-prefix "$prefix" \
		--vdev="net_memif0,role=$role,socket=$sock,socket-abstract=no,rsize=12" -- \
		--region "$WORK/region" --exception-tap off "$@" >"$log" 2>&1 &
	DP_PID=$!
	SY_PIDS+=($DP_PID)
	sy_wait 60 grep -q "sy-dataplane running" "$log" || { cat "$log"; return 1; }
}

# memif_pktgen TIMEOUT_S [sy-pktgen options]: the generator on core 0, plain
# memory, in the background (GEN_PID), output in $WORK/pktgen.log; it
# lingers after its result so that the dataplane can be stopped first
# (memif_stop_dataplane; see perf/sy_pktgen.c linger()). Up to 30 s, its
# most: the linger ends as soon as the dataplane is stopped. (A generator
# that left first crashed the still polling dataplane inside DPDK 22.11's
# net_memif until dataplane/unmap_guard.c: ct_pressure_live, session 36;
# sy-pktgen has the same guard; test_memif_peer_leaves.sh has peers leave
# on purpose, both ways. The order stays: these tests judge the
# dataplane's stop, not the peer's.)
memif_pktgen() { memif_pktgen_as client "$SOCK" "${P}g" "$WORK/pktgen.log" "$@"; }

# memif_pktgen_as ROLE SOCKET PREFIX LOG TIMEOUT_S [sy-pktgen options]: the
# same with its memif role, socket, file prefix and log given (GEN_PID)
memif_pktgen_as() {
	local role=$1 sock=$2 prefix=$3 log=$4 limit=$5
	shift 5
	# The log is emptied before the job starts: the job's own ">" runs in
	# the forked child, maybe after the caller has already read the file,
	# and a log reused from an earlier part (pktgen.log) then shows that
	# run's "link up" (memif_peer_leaves part 5 read a sy-pktgen that had
	# not mapped its regions yet: CI, session 38)
	: >"$log"
	timeout -s INT -k 10 "$limit" ip netns exec "$NS" "$BUILD/perf/sy-pktgen" -l 0 \
		--no-huge -m 256 --no-pci --file-prefix "$prefix" \
		--vdev="net_memif0,role=$role,socket=$sock,socket-abstract=no,rsize=12" -- \
		--src-ip $MEMIF_CLIENTS --proto udp --dst-ip $MEMIF_VIP --dst-port 53 --linger 30 "$@" \
		>"$log" 2>&1 &
	GEN_PID=$!
	SY_PIDS+=($GEN_PID)
}

# memif_stop_dataplane: the forwarder stopped (SIGTERM) and judged by its
# exit status, a PASS or FAIL line (netns_lib.sh's sy_stop_checked; a crash
# after a test's other checks shows only here)
memif_stop_dataplane() { sy_stop_checked "$DP_PID" sy-dataplane "$WORK/dataplane.log"; }

# memif_finish: the forwarder first, while the lingering generator leaves
# the port alone; then both exit statuses, PASS or FAIL lines
memif_finish() {
	local rc
	memif_stop_dataplane
	wait "$GEN_PID"
	rc=$?
	[ $rc -eq 0 ] && sy_pass "sy-pktgen ran and stopped (exit 0)" || sy_fail "sy-pktgen exit $rc"
}
