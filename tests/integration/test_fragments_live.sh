#!/bin/bash
# Fragments through sy-dataplane on ports where they really arrive as sent
# (issue 12). net_af_packet cannot show them: DPDK's af_packet PMD joins a
# PACKET_FANOUT group with the DEFRAG flag, so the kernel reassembles IPv4
# fragments before the ring (the first and middle fragments never reach the
# dataplane; the last brings the whole datagram).
#
# 1. net_pcap: sy-dataplane reads the frames of a pcap file and writes what
#    it sends to another, no kernel in between. For 44 flows to the fixture
#    services of tests/packets (ipip, gue, l2dsr; 4in4, 4in6, 6in6, 6in4;
#    TCP and UDP, IPv4 and IPv6): an unfragmented packet, then a datagram of
#    3,000-8,000 bytes of the same flow cut into fragments of 1,160 bytes.
#    Every frame leaves, byte for byte, as tests/packets/gen_corpus.py's
#    independent model predicts: each datagram's fragments all to the
#    backend of its flow's unfragmented packet, and the fragments taken out
#    of what left reassemble into the datagram sent (fragments_pcap.py).
#    Counters: `fragments` = the fragments sent, `ct_new` = the flows (a
#    first fragment finds its flow's entry), `frag_followed` = the fragments
#    after the first, `frag_untracked` = 0.
# 2. net_af_packet, the same frames sent over a veth: what the dataplane
#    sees is what docs/dataplane.md says: IPv4 datagrams reassembled by the
#    kernel (here larger than a ring frame: `drop_ipv4_length`), IPv6
#    fragments one by one, following their first.
#
# usage: test_fragments_live.sh BUILD_DIR PYTHON_WITH_SCAPY
set -u
BUILD=$(realpath "$1")
PY=$2
HERE=$(dirname "$(realpath "$0")")
. "$HERE/netns_lib.sh"
trap sy_cleanup EXIT

P=syf$$
REGION=/dev/shm/sy-frag-$$
WORK=$(mktemp -d /tmp/sy-frag-XXXXXX)
SERVICES=$HERE/../packets/services.txt
PCAP_MAC=02:70:63:61:70:00 # DPDK's net_pcap: 02:70:63:61:70:<device index>
SY_FILES+=("$REGION" "$WORK" "/var/run/dpdk/$P")

[ "$(id -u)" -eq 0 ] || { echo "FAIL: needs root (DPDK, namespaces)"; exit 1; }
"$BUILD/tests/tools/sy-publish" --create "$REGION" "$SERVICES" >/dev/null || exit 1
N=$("$PY" "$HERE/fragments_pcap.py" gen "$SERVICES" $PCAP_MAC "$WORK/in.pcap" "$WORK/expected") ||
	{ echo "FAIL: cannot generate the fragments"; exit 1; }
# frames per family and kind (expected: NAME KIND BACKEND INNER_OFF HEX)
kinds() { awk -v f="^frag$1_" -v k="$2" '$1 ~ f && $2 ~ k' "$WORK/expected" | wc -l; }
W4=$(kinds 4 whole); W6=$(kinds 6 whole)
F4=$(kinds 4 'first|middle|last'); F6=$(kinds 6 'first|middle|last')
D4=$(kinds 4 first); D6=$(kinds 6 first)
echo "$N frames: $W4 + $W6 unfragmented (IPv4 + IPv6), $F4 + $F6 fragments of $D4 + $D6 datagrams"

# run_dataplane LOG VDEV [netns]: sy-dataplane with --stats-interval 1,
# no exception TAP (nothing here is the kernel's); sets DP
run_dataplane() {
	local log=$1 vdev=$2 ns=${3:-}
	${ns:+ip netns exec $ns} "$BUILD/dataplane/sy-dataplane" -l 0,1 --no-huge -m 256 --no-pci \
		--file-prefix $P --vdev="$vdev" -- --region "$REGION" --exception-tap off \
		--stats-interval 1 >"$log" 2>&1 &
	DP=$! DP_LOG=$log
	SY_PIDS+=($DP)
	sy_wait 30 grep -q "sy-dataplane running" "$log" || { cat "$log"; return 1; }
}
stop_dataplane() { sy_stop_checked $DP sy-dataplane "$DP_LOG"; }
# counter NAME LOG: from the last stats line (counters that are 0 are not printed)
counter() {
	grep 'msg=stats' "$2" | tail -1 | tr ' ' '\n' | sed -n "s/^$1=//p" | grep . || echo 0
}
# drops LOG: the drop counters of the last stats line, or "none"
drops() { grep 'msg=stats' "$1" | tail -1 | tr ' ' '\n' | grep '^drop_' | tr '\n' ' ' | grep . || echo none; }

sy_log "1. net_pcap: $N frames in, what leaves written out"
LOG=$WORK/pcap.log
run_dataplane "$LOG" "net_pcap0,rx_pcap=$WORK/in.pcap,tx_pcap=$WORK/out.pcap" ||
	{ echo "FAIL: sy-dataplane did not start on net_pcap"; exit 1; }
grep -q "msg=\"port\" port=0 mac=$PCAP_MAC " "$LOG" ||
	sy_fail "net_pcap's MAC is not $PCAP_MAC (the expected frames' source): $(grep 'msg="port"' "$LOG")"
sy_wait 20 bash -c "[ \"\$(grep 'msg=stats' '$LOG' | tail -1 | grep -o 'rx_packets=[0-9]*')\" = rx_packets=$N ]" ||
	sy_fail "the dataplane did not receive $N frames in 20 s"
stop_dataplane
grep 'msg=stats' "$LOG" | tail -1
for c in rx_packets forwarded tx_packets; do
	v=$(counter $c "$LOG")
	[ "$v" -eq "$N" ] && sy_pass "$c = $N" || sy_fail "$c = $v, want $N"
done
[ "$(drops "$LOG")" = none ] && sy_pass "no drop" || sy_fail "drops: $(drops "$LOG")"
want_counter() { # NAME VALUE WHY
	local v
	v=$(counter "$1" "$LOG")
	[ "$v" -eq "$2" ] && sy_pass "$1 = $2: $3" || sy_fail "$1 = $v, want $2 ($3)"
}
want_counter fragments $((F4 + F6)) "every fragment"
want_counter ct_new $((W4 + W6)) "the flows; their first fragments found their entries"
want_counter frag_followed $((F4 + F6 - D4 - D6)) "every fragment after a first"
want_counter frag_untracked 0 "no fragment overtook its first"
if "$PY" "$HERE/fragments_pcap.py" check "$WORK/expected" "$WORK/out.pcap"; then
	sy_pass "every fragment reached its flow's backend, byte for byte, and reassembles there"
else
	sy_fail "output frames differ from the model's"
fi

sy_log "2. net_af_packet over a veth: the same $N frames"
# a fresh region: counters live in it and would add up across runs
rm -f "$REGION"
"$BUILD/tests/tools/sy-publish" --create "$REGION" "$SERVICES" >/dev/null || exit 1
NS=${P}a
sy_ns $NS && ip -n $NS link add dp0 type veth peer name gen0 || exit 1
for i in dp0 gen0; do
	ip netns exec $NS sysctl -qw net.ipv6.conf.$i.disable_ipv6=1
	ip -n $NS link set $i up
	sy_nooffload $NS $i
done
LOG=$WORK/afpacket.log
run_dataplane "$LOG" "net_af_packet0,iface=dp0" $NS ||
	{ echo "FAIL: sy-dataplane did not start on net_af_packet"; exit 1; }
ip netns exec $NS "$PY" -c '
import logging, sys
logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.all import rdpcap, sendp
sendp(rdpcap(sys.argv[1]), iface="gen0", verbose=False)' "$WORK/in.pcap" ||
	sy_fail "cannot send the frames on the veth"
WANT_RX=$((W4 + D4 + W6 + F6))
sy_wait 20 bash -c "[ \"\$(grep 'msg=stats' '$LOG' | tail -1 | grep -o 'rx_packets=[0-9]*')\" = rx_packets=$WANT_RX ]"
stop_dataplane
grep 'msg=stats' "$LOG" | tail -1
want_counter rx_packets $WANT_RX "$W4 + $W6 unfragmented, $D4 IPv4 datagrams reassembled by the kernel, $F6 IPv6 fragments"
want_counter drop_ipv4_length $D4 "the reassembled IPv4 datagrams do not fit a ring frame"
want_counter fragments $F6 "the IPv6 ones only"
want_counter frag_followed $((F6 - D6)) "the IPv6 fragments after a first"
want_counter ct_new $((W4 + W6)) "the flows"

[ $SY_FAILED -eq 0 ] && echo "RESULT: PASS" || echo "RESULT: FAIL"
exit $SY_FAILED
