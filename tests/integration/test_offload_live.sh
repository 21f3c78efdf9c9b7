#!/bin/bash
# Host traffic through the exception interface from a sender that leaves its
# checksums to offload (issue 12, point 18), in namespaces this test creates:
#
#   client eth0 (veth, offloads ON) ══ LB eth0: sy-dataplane (net_af_packet),
#                                              sy0 = 198.18.0.1 (the host)
#
# A veth with tx checksumming on (the default) sends TCP and UDP with only the
# pseudo-header sum in the checksum field; the packet socket under
# net_af_packet passes such frames on as they are, and DPDK's PMD drops the
# kernel's note of it. sy-dataplane fills those checksums on the way to the
# TAP. Checks:
#  - the client's veth has tx checksumming on, and the TCP and UDP frames the
#    LB's eth0 receives carry the pseudo-header sum only (a packet socket of
#    the test's own counts them);
#  - HTTP requests to a server on sy0's address all succeed, UDP datagrams to
#    it all arrive with their bytes;
#  - the LB kernel counts no TCP or UDP checksum error (TcpInCsumErrors,
#    UdpInCsumErrors) while its own copies of eth0's frames were dropped by
#    reverse-path filtering (TcpExtIPReversePathFilter > 0): what was served
#    came through sy0.
#
# Before the fix (the frames went to the TAP as they came):
#   FAIL: request 1 of 5: no answer   (and the 4 others)
#   FAIL: UDP: the host got 0 of 5 datagrams intact
#   FAIL: TcpInCsumErrors 25, UdpInCsumErrors 5 (want 0)
#   PASS: all 30 TCP/UDP frames from the client arrived with the pseudo-header sum only
#
# usage: test_offload_live.sh BUILD_DIR
set -u
BUILD=$(realpath "$1")

HERE=$(dirname "$(realpath "$0")")
. "$HERE/netns_lib.sh"
trap sy_cleanup EXIT

P=syo$$
REGION=/dev/shm/sy-offload-$$
LBIP=198.18.0.1
CLIENT=198.18.0.2
N=5
WORK=$(mktemp -d /tmp/sy-offload-XXXXXX)
SY_FILES+=("$REGION" "$WORK" "/var/run/dpdk/$P")

[ "$(id -u)" -eq 0 ] || { echo "FAIL: needs root (namespaces, DPDK)"; exit 1; }
for tool in ethtool curl nstat; do
	command -v $tool >/dev/null || { echo "FAIL: $tool missing"; exit 1; }
done

sy_log "topology: client ══ LB, client offloads left on"
sy_ns ${P}c && sy_ns ${P}l || exit 1
ip link add eth0 netns ${P}c type veth peer name eth0 netns ${P}l || exit 1
for ns in ${P}c ${P}l; do
	ip netns exec $ns sysctl -qw net.ipv6.conf.eth0.disable_ipv6=1
	ip -n $ns link set eth0 up
done
ip -n ${P}c addr add $CLIENT/24 dev eth0
sy_lb_tap_only ${P}l eth0
if ip netns exec ${P}c ethtool -k eth0 | grep -q '^tx-checksumming: on'; then
	sy_pass "client eth0: tx-checksumming on"
else
	sy_fail "client eth0: tx-checksumming is not on; this test needs it"
fi

echo "service web tcp 198.18.1.1 80 ipip m=251 seed=7 src4=$LBIP" >"$WORK/services"
echo "backend web 198.18.0.11 80 02:00:00:00:00:11" >>"$WORK/services"
"$BUILD/tests/tools/sy-publish" --create "$REGION" "$WORK/services" >/dev/null || exit 1

# what the LB's eth0 receives: TCP/UDP frames from the client, and how many
# carry the pseudo-header sum (folded, not complemented) in the checksum field
ip netns exec ${P}l python3 - "$WORK/eth0.count" <<'EOF' &
import socket, struct, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind(("eth0", 0))
s.settimeout(30)
total = partial = 0
def fold(x):
    while x >> 16:
        x = (x & 0xffff) + (x >> 16)
    return x
try:
    while True:
        d, a = s.recvfrom(65536)
        if a[2] == socket.PACKET_OUTGOING or len(d) < 34 or d[12:14] != b"\x08\x00":
            continue
        ihl = (d[14] & 15) * 4
        proto, tot = d[23], struct.unpack("!H", d[16:18])[0]
        if proto not in (6, 17) or d[26:30] != socket.inet_aton("198.18.0.2"):
            continue
        l4 = 14 + ihl
        off = 16 if proto == 6 else 6
        words = struct.unpack("!4H", d[26:34])
        ps = fold(sum(words) + proto + tot - ihl)
        total += 1
        partial += struct.unpack("!H", d[l4 + off:l4 + off + 2])[0] == ps
        with open(sys.argv[1], "w") as f:
            f.write("%d %d\n" % (total, partial))
except socket.timeout:
    pass
EOF
SY_PIDS+=($!)

sy_log "starting sy-dataplane"
LOG=$WORK/dataplane.log
ip netns exec ${P}l "$BUILD/dataplane/sy-dataplane" -l 0,1 --no-huge -m 256 --no-pci \
	--file-prefix $P --vdev=net_af_packet0,iface=eth0 -- --region "$REGION" --tap-prefix sy \
	>"$LOG" 2>&1 &
DP=$!
SY_PIDS+=($DP)
sy_wait 30 ip -n ${P}l link show sy0 || { cat "$LOG"; echo "FAIL: no sy0"; exit 1; }
ip -n ${P}l addr add $LBIP/24 dev sy0
ip -n ${P}l link set sy0 up
echo "host page" >"$WORK/index.html"
ip netns exec ${P}l python3 -m http.server 8080 --bind $LBIP --directory "$WORK" >/dev/null 2>&1 &
SY_PIDS+=($!)
ip netns exec ${P}l python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 5353))
s.settimeout(20)
n = 0
try:
    while True:
        d, _ = s.recvfrom(2048)
        n += d == bytes(range(200))
        print(n, flush=True)
except socket.timeout:
    pass' $LBIP >"$WORK/udp.got" 2>&1 &
SY_PIDS+=($!)
sy_wait 10 ip netns exec ${P}c ping -c1 -W1 $LBIP || sy_fail "no ping to the LB host through sy0"
sy_wait 10 ip netns exec ${P}l bash -c "ss -ltn | grep -q ':8080 '" || sy_fail "HTTP server did not start"
ip netns exec ${P}l nstat -n >/dev/null # from here on, nstat shows what changed

sy_log "$N HTTP requests and $N UDP datagrams to the host's own address"
ok=0
for i in $(seq $N); do
	got=$(ip netns exec ${P}c curl -s --max-time 5 http://$LBIP:8080/)
	if [ "$got" = "host page" ]; then
		ok=$((ok + 1))
	else
		echo "FAIL: request $i of $N: no answer"
	fi
done
[ $ok -eq $N ] && sy_pass "all $N HTTP requests answered" || sy_fail "$((N - ok)) of $N requests failed"
ip netns exec ${P}c python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(int(sys.argv[2])):
    s.sendto(bytes(range(200)), (sys.argv[1], 5353))
    time.sleep(0.1)' $LBIP $N
sy_wait 5 grep -qx $N "$WORK/udp.got"
got=$(tail -1 "$WORK/udp.got" 2>/dev/null)
[ "${got:-0}" = $N ] && sy_pass "UDP: the host got all $N datagrams intact" ||
	sy_fail "UDP: the host got ${got:-0} of $N datagrams intact"

st=$(ip netns exec ${P}l nstat -az TcpInCsumErrors UdpInCsumErrors TcpExtIPReversePathFilter)
v() { echo "$st" | awk -v k="$1" '$1 == k { print $2 }'; }
tcp_err=$(v TcpInCsumErrors) udp_err=$(v UdpInCsumErrors) rpf=$(v TcpExtIPReversePathFilter)
[ "${tcp_err:-1}" -eq 0 ] && [ "${udp_err:-1}" -eq 0 ] && sy_pass "no TCP or UDP checksum error on the LB host" ||
	sy_fail "TcpInCsumErrors ${tcp_err:-?}, UdpInCsumErrors ${udp_err:-?} (want 0)"
[ "${rpf:-0}" -gt 0 ] && sy_pass "the kernel dropped its own $rpf copies of eth0's frames (rp_filter): only sy0 could serve" ||
	sy_fail "no reverse-path drops on eth0: traffic may have bypassed sy0"
read -r total partial <"$WORK/eth0.count"
if [ "${total:-0}" -gt 0 ] && [ "$partial" -eq "$total" ]; then
	sy_pass "all $total TCP/UDP frames from the client arrived with the pseudo-header sum only"
else
	sy_fail "frames from the client: ${total:-0}, with the pseudo-header sum only: ${partial:-0}"
fi

sy_stop_checked $DP sy-dataplane "$LOG"
grep 'msg=stats' "$LOG" | tail -1
[ $SY_FAILED -eq 0 ] && echo "RESULT: PASS" || echo "RESULT: FAIL"
exit $SY_FAILED
