#!/bin/bash
# ICMP errors about a flow that another worker tracks, through a running
# 2-worker sy-dataplane (issue 12, point 10). RSS steers an ICMP error by its
# own headers (router -> VIP), so it usually reaches another worker than the
# flow it quotes; after a backend-set change, the error must still go to the
# flow's tracked backend, not to Maglev's new choice (PMTU discovery of
# long-lived flows depends on it).
#
# net_pcap with two RX queues, one file each, and a TX file per queue: queue
# i is worker i's, so what each worker receives and sends is fixed, with no
# kernel or timing in between.
#  - queue 0 reads flows.pcap: the first packets of 64 flows (TCP over IPv4
#    to an ipip service, UDP over IPv6 to a gue one, 2 backends each), chosen
#    so that Maglev gives each another backend once the set grows to 5;
#    worker 0 tracks them (ct_new = 64);
#  - then the set grows to 5 backends (sy-publish, as sy-control would);
#  - queue 1 reads a FIFO: worker 1 blocks on it from the start, holding the
#    snapshot of before the change, so the FIFO carries first a runt frame
#    (processed with that snapshot, counted as drop_runt) and then a router's
#    frag-needed (IPv4) or packet-too-big (IPv6) about each flow (with
#    --burst 1, every later frame is read after a fresh snapshot).
# Checks: each error leaves worker 1 encapsulated to its flow's tracked
# backend, byte for byte as tests/packets/gen_corpus.py's independent model
# predicts (none to Maglev's new choice); icmp_ct_other = icmp_to_backend =
# 64; the flows' first packets left worker 0 for their backends; after the
# change, /switchyard/lookup (what `syctl lookup` asks, from the telemetry
# thread) names each flow's tracked backend, found in worker 0's table.
#
# Before the fix (944d7bc, the commit before 58c8ead, which has no
# icmp_ct_other yet; run with -m 512, which its mbuf pool needs):
#   FAIL: icmp_ct_other = 0, want 64
#   first packets of the flows (worker 0): 64 of 64 left for the flow's backend, byte for byte
#     web4_0: ICMP error sent to 198.18.1.5 (Maglev's new choice), the flow is on 198.18.1.1
#     web4_1: ICMP error sent to 198.18.1.3 (Maglev's new choice), the flow is on 198.18.1.2
#   ICMP errors about them (worker 1): 0 of 64 left for the flow's backend, byte for byte
#
# usage: test_icmp_workers_live.sh BUILD_DIR PYTHON_WITH_SCAPY
set -u
BUILD=$(realpath "$1")
PY=$2
HERE=$(dirname "$(realpath "$0")")
. "$HERE/netns_lib.sh"
# the FIFO's write end first: a worker blocked on it returns at its end
trap 'exec 3>&-; sy_cleanup' EXIT

P=syw$$
REGION=/dev/shm/sy-icmpw-$$
WORK=$(mktemp -d /tmp/sy-icmpw-XXXXXX)
PCAP_MAC=02:70:63:61:70:00 # DPDK's net_pcap: 02:70:63:61:70:<device index>
SY_FILES+=("$REGION" "$WORK" "/var/run/dpdk/$P")

[ "$(id -u)" -eq 0 ] || { echo "FAIL: needs root (DPDK)"; exit 1; }

# services: 2 backends each before, 5 after
services() {
	local n=$1 i
	echo "service web4 tcp 198.18.100.1 80 ipip m=251 seed=7 src4=198.18.0.1"
	for i in $(seq "$n"); do echo "backend web4 198.18.1.$i 80 02:00:00:00:01:0$i"; done
	echo "service dns6 udp 2001:2::100 53 gue m=251 seed=7 gue_port=6080 src6=2001:2::1"
	for i in $(seq "$n"); do echo "backend dns6 2001:2::2:$i 53 02:00:00:00:06:1$i"; done
}
services 2 >"$WORK/before"
services 5 >"$WORK/after"
"$BUILD/tests/tools/sy-publish" --create "$REGION" "$WORK/before" >/dev/null || exit 1
read -r NF NE < <("$PY" "$HERE/icmp_workers_pcap.py" gen "$WORK/before" "$WORK/after" \
	$PCAP_MAC "$WORK/flows.pcap" "$WORK/errors.pcap" "$WORK/expected") ||
	{ echo "FAIL: cannot generate the frames"; exit 1; }
echo "$NF flows whose Maglev choice changes with the set, $NE ICMP errors about them"

# queue 1's FIFO, held open read-write by this shell (opening it so never
# blocks); the pcap file header now, for the PMD's open at probe
mkfifo "$WORK/errors.fifo" && exec 3<>"$WORK/errors.fifo" || exit 1
head -c 24 "$WORK/errors.pcap" >&3

LOG=$WORK/dataplane.log
# workers on lcores 1 and 2 (both on CPU 1: worker 1 sleeps in read() until
# the FIFO has frames), the main lcore prints stats every second
"$BUILD/dataplane/sy-dataplane" --lcores 0@0,1@1,2@1 --no-huge -m 256 --no-pci --file-prefix $P \
	--vdev="net_pcap0,rx_pcap=$WORK/flows.pcap,rx_pcap=$WORK/errors.fifo,tx_pcap=$WORK/out0.pcap,tx_pcap=$WORK/out1.pcap" \
	-- --region "$REGION" --exception-tap off --burst 1 --ct-size 4096 --stats-interval 1 \
	>"$LOG" 2>&1 3>&- &
DP=$!
SY_PIDS+=($DP)
sy_wait 30 grep -q "sy-dataplane running" "$LOG" || { cat "$LOG"; echo "FAIL: sy-dataplane did not start"; exit 1; }
grep -q "sy-dataplane running.* workers=2 " "$LOG" || sy_fail "not 2 workers: $(grep 'sy-dataplane running' "$LOG")"
grep -q "msg=\"port\" port=0 mac=$PCAP_MAC " "$LOG" ||
	sy_fail "net_pcap's MAC is not $PCAP_MAC (the expected frames' source): $(grep 'msg="port"' "$LOG")"

# counter NAME: from the last stats line (counters that are 0 are not printed)
counter() {
	grep 'msg=stats' "$LOG" | tail -1 | tr ' ' '\n' | sed -n "s/^$1=//p" | grep . || echo 0
}
stats_have() { grep 'msg=stats' "$LOG" | tail -1 | grep -q " $1\( \|$\)"; }

sy_log "1. worker 0 tracks $NF flows on 2 backends per service"
sy_wait 20 stats_have "ct_new=$NF" || sy_fail "ct_new did not reach $NF in 20 s"
grep 'msg=stats' "$LOG" | tail -1

sy_log "2. the set grows to 5 backends per service"
"$BUILD/tests/tools/sy-publish" "$REGION" "$WORK/after" | grep -E '^(generation|service)' ||
	sy_fail "cannot publish the new set"

# telemetry's lookup (`syctl lookup`) reads the workers' tables from its own
# thread: each flow is on its tracked backend, from worker 0's
if "$PY" "$HERE/icmp_workers_pcap.py" lookup $P "$WORK/expected"; then
	sy_pass "/switchyard/lookup: every flow on its tracked backend (worker 0's table)"
else
	sy_fail "/switchyard/lookup disagrees with worker 0's table"
fi

sy_log "3. worker 1 reads the runt and the $NE ICMP errors"
tail -c +25 "$WORK/errors.pcap" >&3
exec 3>&-
sy_wait 20 stats_have "rx_packets=$((NF + 1 + NE))" ||
	sy_fail "rx_packets did not reach $((NF + 1 + NE)) in 20 s"
sy_stop_checked $DP sy-dataplane "$LOG"
grep 'msg=stats' "$LOG" | tail -1

for c in "ct_new $NF" "forwarded $((NF + NE))" "icmp_to_backend $NE" "icmp_ct_other $NE" \
	"drop_runt 1" "ct_reselect 0" "tx_packets $((NF + NE))"; do
	read -r name want <<<"$c"
	v=$(counter "$name")
	[ "$v" -eq "$want" ] && sy_pass "$name = $want" || sy_fail "$name = $v, want $want"
done
if "$PY" "$HERE/icmp_workers_pcap.py" check "$WORK/expected" "$WORK/out0.pcap" "$WORK/out1.pcap"; then
	sy_pass "every ICMP error left worker 1 for its flow's tracked backend, byte for byte"
else
	sy_fail "frames differ from the model's"
fi

[ $SY_FAILED -eq 0 ] && echo "RESULT: PASS" || echo "RESULT: FAIL"
exit $SY_FAILED
