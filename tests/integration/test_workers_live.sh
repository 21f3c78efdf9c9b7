#!/bin/bash
# Several workers, each with a queue pair of every port (issue 13, point 5).
#
# 1. Two workers on a port that really has two queues: sy-dataplane is the
#    memif client with 2 queue pairs, sy-pktgen the memif server with 2
#    (--queues 2), sending 256 UDP flows to an ipip service for 2 s, each
#    flow always on the queue a NIC's RSS (Toeplitz, default key) would
#    give it. Checked:
#    - every flow stays on one worker: worker w's ct_new is exactly the
#      number of flows sy-pktgen put on queue w (their sum is the number of
#      flows: no flow was new on both workers), and its rx_packets exactly
#      what sy-pktgen sent on queue w; every frame came back on the queue
#      its flow was sent on (wrong_queue 0);
#    - the workers' counters sum to what was sent: rx_packets and forwarded
#      summed over the workers = sy-pktgen's frames sent, every forwarded
#      frame sent or counted in drop_tx_full, no other drop;
#    - each worker counts its own busy rounds (busy_polls, busy_cycles):
#      at least one, at most one a frame, at least one a burst;
#    - each flow reaches its expected backend: the backend every one of the
#      256 flows came back from (outer destination of the IPIP frames) is
#      the one Maglev gives it (sy-publish --lookup), and no flow came back
#      from two backends.
# 2. A port with fewer queues than workers is refused at start, with a
#    message that says what to change (exit code 1):
#    - net_memif as the server (role=server, its default), whose queue
#      count is the peer's choice: it cannot be checked, and DPDK 22.11's
#      extra queues read the first queue's ring again. Before, it started,
#      and with sy-pktgen's one queue pair: ct_new 1125 for 1000 flows,
#      drop_ipv4_header 1046, drop_kernel_full 8,178,015 (what the second
#      worker made of the first queue's ring);
#    - net_af_packet without qpairs= (one queue pair) in a namespace.
# 3. As the memif client, a peer with fewer queue pairs refuses the
#    connection: sy-pktgen as a 1-queue server, sy-dataplane with 2
#    workers: the link never comes up, sy-dataplane logs the PMD's reason
#    ("Invalid ring index"), receives nothing and stops cleanly.
#
# usage: test_workers_live.sh BUILD_DIR
set -u
BUILD=$(realpath "$1")
HERE=$(dirname "$(realpath "$0")")
. "$HERE/netns_lib.sh"
trap sy_cleanup EXIT

P=sywk$$
WORK=$(mktemp -d /tmp/sy-workers-XXXXXX)
VIP=198.18.100.1
CLIENTS=198.19.0.0
FLOWS=256
SY_FILES+=("$WORK" "/var/run/dpdk/${P}d" "/var/run/dpdk/${P}g")

sy_require "DPDK, namespace" dataplane/sy-dataplane perf/sy-pktgen tests/tools/sy-publish
cat >"$WORK/services" <<EOF
service bulk udp $VIP 53 ipip m=65537 seed=7 src4=198.18.0.1
backend bulk 198.18.1.1 53 02:00:00:00:01:01 1
backend bulk 198.18.1.2 53 02:00:00:00:01:02 1
backend bulk 198.18.1.3 53 02:00:00:00:01:03 2
EOF
# fresh_region NAME: REGION = a new region with the service, so that each
# part's counters are its own (they live in the region, and a dataplane
# taking up a region keeps counting from where its predecessor left off)
fresh_region() {
	REGION=$WORK/$1.region
	"$BUILD/tests/tools/sy-publish" --create "$REGION" "$WORK/services" >/dev/null ||
		{ echo "FAIL: cannot publish"; echo "RESULT: FAIL"; exit 1; }
}

# dataplane NAME VDEV [sy-dataplane options]: 2 workers (lcores 1 and 2 on
# CPU 1; the main lcore, which only idles, on CPU 0), in the background;
# DP_PID, log $WORK/NAME.log (with the memif handshake's debug messages,
# here and in pktgen's: what a failed connection needs to be read)
dataplane() {
	local name=$1 vdev=$2
	shift 2
	"$BUILD/dataplane/sy-dataplane" --lcores 0@0,1@1,2@1 --no-huge -m 256 --no-pci \
		--file-prefix "${P}d" --log-level=pmd.net.memif:debug --vdev="$vdev" -- \
		--region "$REGION" --exception-tap off --ct-size 8192 "$@" >"$WORK/$name.log" 2>&1 &
	DP_PID=$!
	SY_PIDS+=($DP_PID)
}

# pktgen NAME TIMEOUT_S VDEV [sy-pktgen options]: on CPU 0, in the
# background; GEN_PID, log $WORK/NAME.log
pktgen() {
	local name=$1 limit=$2 vdev=$3
	shift 3
	timeout -s INT -k 10 "$limit" "$BUILD/perf/sy-pktgen" -l 0 --no-huge -m 256 --no-pci \
		--file-prefix "${P}g" --log-level=pmd.net.memif:debug --vdev="$vdev" -- \
		--src-ip $CLIENTS --dst-ip $VIP --dst-port 53 "$@" >"$WORK/$name.log" 2>&1 &
	GEN_PID=$!
	SY_PIDS+=($GEN_PID)
}

# pktgen_started NAME: sy-pktgen's port has started (a FAIL line if not in
# 20 s). Not its memif socket: that is there from the EAL's start on, and a
# client that connects before the port starts is refused with "ID not
# found", for good (DPDK's memif client does not try again)
pktgen_started() {
	sy_wait 20 grep -q "^sy-pktgen: port 0 started" "$WORK/$1.log" ||
		sy_fail "sy-pktgen's port did not start: $(tail -3 "$WORK/$1.log")"
}

# stop PID: SIGINT, bounded wait; its exit status
stop() {
	kill -INT "$1" 2>/dev/null
	sy_wait 15 bash -c "! kill -0 $1 2>/dev/null"
	wait "$1" 2>/dev/null
}

# exited_with PID CODE SECONDS: the process ends by itself within SECONDS
# with exit status CODE
exited_with() {
	local rc
	if ! sy_wait "$3" bash -c "! kill -0 $1 2>/dev/null"; then
		kill -INT "$1" 2>/dev/null
		wait "$1" 2>/dev/null
		return 1
	fi
	wait "$1" 2>/dev/null
	rc=$?
	[ $rc -eq "$2" ]
}

# value KEY TEXT: KEY=<number> from a line of counters (0 if absent)
value() { sed -n "s/.*[ ]$1=\([0-9]*\).*/\1/p" <<<" $2" | head -1 | grep . || echo 0; }

# lcore_counter W NAME: worker W's counter NAME from DPDK telemetry
lcore_counter() {
	python3 -c 'import json, sys; print(json.loads(sys.argv[1]).get(sys.argv[2], 0))' \
		"$(sed -n "$(($1 + 1))p" "$WORK/lcores.json")" "$2"
}

# ---- 2. refused at start -----------------------------------------------------

sy_log "2a. net_memif as the server, 2 workers: refused"
fresh_region refuse_memif
dataplane refuse_memif "net_memif0,role=server,socket=$WORK/refuse.sock,socket-abstract=no"
sy_wait 30 bash -c "! kill -0 $DP_PID 2>/dev/null || grep -q 'sy-dataplane running' $WORK/refuse_memif.log"
if ! grep -q "sy-dataplane running" "$WORK/refuse_memif.log" && exited_with $DP_PID 1 5; then
	msg=$(grep "net_memif, role=server" "$WORK/refuse_memif.log")
	if grep -q "2 workers need 2 queue pairs" <<<"$msg" && grep -q "role=client" <<<"$msg"; then
		sy_pass "refused with exit code 1: $msg"
	else
		sy_fail "exit code 1 without the message: $(tail -3 "$WORK/refuse_memif.log")"
	fi
elif grep -q "sy-dataplane running" "$WORK/refuse_memif.log"; then
	# what a 1-queue peer makes of it
	pktgen refuse_peer 40 "net_memif0,role=client,socket=$WORK/refuse.sock,socket-abstract=no" \
		--flows 1000 --duration 1 --warmup 0 --linger 15
	sy_wait 30 grep -q "^sy-pktgen: idle" "$WORK/refuse_peer.log"
	stop $DP_PID
	stop $GEN_PID
	sy_fail "sy-dataplane started with 2 workers on a memif server port; with a 1-queue peer and 1000 flows: $(grep 'msg=stats' "$WORK/refuse_memif.log" | tail -1)"
else
	sy_fail "sy-dataplane neither refused nor started: $(tail -3 "$WORK/refuse_memif.log")"
fi
rm -rf "/var/run/dpdk/${P}d" "/var/run/dpdk/${P}g"

sy_log "2b. net_af_packet with one queue pair, 2 workers: refused"
fresh_region refuse_afp
NS=${P}n
sy_ns $NS && ip -n $NS link add wk0 type veth peer name wk1 &&
	ip -n $NS link set wk0 up && ip -n $NS link set wk1 up ||
	{ echo "FAIL: cannot make the namespace"; echo "RESULT: FAIL"; exit 1; }
ip netns exec $NS "$BUILD/dataplane/sy-dataplane" --lcores 0@0,1@1,2@1 --no-huge -m 256 \
	--no-pci --file-prefix "${P}d" --vdev=net_af_packet0,iface=wk0 -- --region "$REGION" \
	--exception-tap off --ct-size 8192 >"$WORK/refuse_afp.log" 2>&1 &
DP_PID=$!
SY_PIDS+=($DP_PID)
if exited_with $DP_PID 1 30; then
	msg=$(grep "port 0 (net_af_packet)" "$WORK/refuse_afp.log")
	if grep -q "2 workers need 2 queue pairs, the port has 1 rx / 1 tx queues: give the vdev qpairs=N" <<<"$msg"; then
		sy_pass "refused with exit code 1: $msg"
	else
		sy_fail "exit code 1 without the message: $(tail -3 "$WORK/refuse_afp.log")"
	fi
else
	sy_fail "sy-dataplane was not refused: $(tail -3 "$WORK/refuse_afp.log")"
fi
rm -rf "/var/run/dpdk/${P}d"

# ---- 3. as the client, a peer with fewer queue pairs refuses ------------------

sy_log "3. sy-dataplane (memif client, 2 workers) and a 1-queue-pair server"
fresh_region peer1
# The generator waits for its link far longer than the refusal takes, and
# is told to give up once sy-dataplane has logged it (its link timeout was
# 8 s). sy-dataplane starts once the generator's port has (pktgen_started;
# waiting for the socket failed so on a busy machine, here and in step 1)
pktgen peer1 50 "net_memif0,role=server,socket=$WORK/peer1.sock,socket-abstract=no" \
	--flows 16 --duration 1 --warmup 0 --link-timeout 30
pktgen_started peer1
dataplane peer1_dp "net_memif0,role=client,socket=$WORK/peer1.sock,socket-abstract=no"
sy_wait 40 grep -q "Disconnect received" "$WORK/peer1_dp.log"
kill -INT $GEN_PID 2>/dev/null
exited_with $GEN_PID 1 30
grep -q "^RESULT .*error=link_down" "$WORK/peer1.log" &&
	sy_pass "the link never came up (sy-pktgen: $(grep '^RESULT' "$WORK/peer1.log"))" ||
	sy_fail "sy-pktgen: $(grep -v '^  ' "$WORK/peer1.log" | tail -2)"
stop $DP_PID && sy_pass "sy-dataplane stopped cleanly after the refusal" ||
	sy_fail "sy-dataplane's exit status after the refusal: $?"
grep -q "Disconnect received: Invalid ring index" "$WORK/peer1_dp.log" &&
	sy_pass "sy-dataplane logged the peer's refusal: $(grep 'Disconnect received' "$WORK/peer1_dp.log" | head -1)" ||
	sy_fail "no 'Invalid ring index' in sy-dataplane's log: $(tail -4 "$WORK/peer1_dp.log")"
stats=$(grep 'msg=stats' "$WORK/peer1_dp.log" | tail -1)
[ "$(value rx_packets "$stats")" -eq 0 ] && sy_pass "sy-dataplane received nothing" ||
	sy_fail "sy-dataplane received frames: $stats"
rm -rf "/var/run/dpdk/${P}d" "/var/run/dpdk/${P}g"

# ---- 1. two workers, two queues -------------------------------------------------

sy_log "1. sy-pktgen (memif server, 2 queue pairs) and sy-dataplane (client, 2 workers): $FLOWS flows"
fresh_region workers
# what each flow should reach: Maglev's choice for a new flow (flow k is
# address CLIENTS + k, port 1024, as sy-pktgen numbers them)
# (the first lookup with LeakSanitizer's check, the other 255 without it:
# with it, they took ~20 s in the ASan tree. One at a time: sy-publish
# opens the region as its writer, which one process at a time may be)
expect() { # K
	local src=198.19.$(($1 / 256)).$(($1 % 256))
	echo "$src 1024 $("$BUILD/tests/tools/sy-publish" --lookup "$REGION" "$src" 1024 $VIP 53 udp)"
}
{
	expect 0
	for k in $(seq 1 $((FLOWS - 1))); do sy_no_leak_check expect $k; done
} >"$WORK/expected"
sock=$WORK/memif.sock
pktgen gen 90 "net_memif0,role=server,socket=$sock,socket-abstract=no,rsize=12" \
	--queues 2 --flows $FLOWS --duration 2 --warmup 0 --link-timeout 30 --linger 15 \
	--flow-report "$WORK/flows"
pktgen_started gen
dataplane workers "net_memif0,role=client,socket=$sock,socket-abstract=no,rsize=12"
if ! sy_wait 60 grep -q "^sy-pktgen: idle" "$WORK/gen.log"; then
	sy_fail "sy-pktgen did not finish: $(tail -3 "$WORK/gen.log")"
	echo "--- sy-pktgen's log"; cat "$WORK/gen.log"
	echo "--- sy-dataplane's log"; cat "$WORK/workers.log"
fi
grep -v '^  ' "$WORK/gen.log" | grep -E '^(sy-pktgen: (link|average)|RESULT|QUEUE|TOTAL|AUDIT|BACKEND)'
grep -E 'msg="(memif|sy-dataplane running|worker started)' "$WORK/workers.log"
python3 "$HERE/check_telemetry.py" --ask "${P}d" /switchyard/lcore,0 /switchyard/lcore,1 \
	>"$WORK/lcores.json" || sy_fail "telemetry did not answer"
stop $DP_PID
dp_rc=$?
wait $GEN_PID 2>/dev/null
gen_rc=$?
grep 'msg=stats' "$WORK/workers.log" | tail -1

total_tx=$(value tx "$(grep '^TOTAL' "$WORK/gen.log")")
total_rx=$(value rx "$(grep '^TOTAL' "$WORK/gen.log")")
sum_rx=0 sum_fwd=0 sum_new=0 sum_txp=0 sum_full=0
burst=$(value burst "$(grep 'sy-dataplane running' "$WORK/workers.log")")
for w in 0 1; do
	q=$(grep "^QUEUE $w " "$WORK/gen.log")
	q_flows=$(value flows "$q") q_tx=$(value tx "$q")
	rx=$(lcore_counter $w rx_packets) fwd=$(lcore_counter $w forwarded)
	new=$(lcore_counter $w ct_new) txp=$(lcore_counter $w tx_packets)
	full=$(lcore_counter $w drop_tx_full)
	echo "worker $w: rx_packets $rx forwarded $fwd ct_new $new tx_packets $txp drop_tx_full $full; sy-pktgen queue $w: $q_flows flows, $q_tx frames sent"
	[ "$q_flows" -gt 0 ] && [ "$new" -eq "$q_flows" ] &&
		sy_pass "worker $w: ct_new $new = the $q_flows flows of queue $w" ||
		sy_fail "worker $w: ct_new $new, queue $w has $q_flows flows"
	[ "$q_tx" -gt 0 ] && [ "$rx" -eq "$q_tx" ] &&
		sy_pass "worker $w: rx_packets $rx = frames sent on queue $w" ||
		sy_fail "worker $w: rx_packets $rx, sent on queue $w: $q_tx"
	# its own busy counters: the rounds in which it received frames,
	# at most one a frame and at least one a burst, each 100+ cycles
	bp=$(lcore_counter $w busy_polls) bc=$(lcore_counter $w busy_cycles)
	[ "$bp" -ge 1 ] && [ "$bp" -le "$rx" ] && [ $((bp * ${burst:-0})) -ge "$rx" ] &&
		[ "$bc" -ge $((100 * bp)) ] &&
		sy_pass "worker $w: busy_polls $bp ($((rx / bp)) frames a round of at most ${burst:-?}), busy_cycles $bc ($((bc / rx)) a frame)" ||
		sy_fail "worker $w: busy_polls $bp, busy_cycles $bc for rx_packets $rx (burst ${burst:-?})"
	sum_rx=$((sum_rx + rx)) sum_fwd=$((sum_fwd + fwd)) sum_new=$((sum_new + new))
	sum_txp=$((sum_txp + txp)) sum_full=$((sum_full + full))
done
[ $sum_new -eq $FLOWS ] && sy_pass "ct_new over both workers = $FLOWS: no flow was new on both" ||
	sy_fail "ct_new over both workers $sum_new, $FLOWS flows"
[ "$total_tx" -gt 0 ] && [ $sum_rx -eq "$total_tx" ] && [ $sum_fwd -eq "$total_tx" ] &&
	sy_pass "rx_packets and forwarded over both workers = $total_tx, the frames sy-pktgen sent" ||
	sy_fail "workers: rx_packets $sum_rx, forwarded $sum_fwd; sy-pktgen sent $total_tx"
[ $((sum_txp + sum_full)) -eq $sum_fwd ] && [ "$total_rx" -le $sum_txp ] && [ "$total_rx" -gt 0 ] &&
	sy_pass "every forwarded frame sent ($sum_txp, $total_rx of them back at sy-pktgen) or counted in drop_tx_full ($sum_full)" ||
	sy_fail "forwarded $sum_fwd, sent $sum_txp, drop_tx_full $sum_full, back at sy-pktgen $total_rx"
drops=$(python3 -c 'import json, sys
bad = set()
for line in open(sys.argv[1]):
    bad |= {k for k, v in json.loads(line).items() if k.startswith("drop_") and k != "drop_tx_full" and v}
print(" ".join(sorted(bad)) or "none")' "$WORK/lcores.json")
[ "$drops" = none ] && sy_pass "no drop counter moved but drop_tx_full" || sy_fail "drops: $drops"

audit=$(grep '^AUDIT' "$WORK/gen.log")
[ "$(value seen "$audit")" -eq $FLOWS ] && [ -n "$audit" ] &&
	[ "$(value moved "$audit")" -eq 0 ] && [ "$(value wrong_queue "$audit")" -eq 0 ] &&
	[ "$(value undecoded "$audit")" -eq 0 ] &&
	sy_pass "every flow came back, from one backend, on the queue it was sent on, as IPIP ($audit)" ||
	sy_fail "sy-pktgen's audit: ${audit:-none}"
# each reported flow ("FLOW SRC SPORT queue=Q backend=B") against the
# expected backend of its SRC and SPORT, in one awk (an awk a flow took ~5 s)
cmp=$(awk 'FNR == NR { want[$1 " " $2] = $3; next }
	{
		w = want[$2 " " $3]
		if ("backend=" w == $5) { right++; next }
		wrong++
		b = $5
		sub(/^backend=/, "", b)
		if (wrong <= 3) printf "  flow %s:%s came back from %s, Maglev gives %s\n", $2, $3, b, w
	}
	END { print "COUNTS", right + 0, wrong + 0 }' "$WORK/expected" "$WORK/flows")
grep -v '^COUNTS ' <<<"$cmp"
read -r _ right wrong < <(grep '^COUNTS ' <<<"$cmp")
[ $right -eq $FLOWS ] && [ $wrong -eq 0 ] &&
	sy_pass "each of the $FLOWS flows reached the backend Maglev gives it ($(awk '{print $3}' "$WORK/expected" | sort | uniq -c | awk '{printf "%s: %s flows  ", $2, $1}'))" ||
	sy_fail "$right flows reached their expected backend, $wrong another"
[ $dp_rc -eq 0 ] && [ $gen_rc -eq 0 ] && sy_pass "sy-dataplane and sy-pktgen stopped cleanly" ||
	sy_fail "exit status: sy-dataplane $dp_rc, sy-pktgen $gen_rc"

echo "RESULT: $(sy_verdict)"
[ "$SY_FAILED" -eq 0 ]
