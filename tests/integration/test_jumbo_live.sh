#!/bin/bash
# Jumbo frames through sy-dataplane on net_af_packet (issue 12), in
# namespaces this test creates: client -- bridge -- LB -- backend, every
# veth and the bridge at MTU 9100 but the client's (9000).
#
#   client (MTU 9000) ── br0 ── LB eth0 (9100): sy-dataplane, net_af_packet
#                           └── backend eth0 (9100): sy-decap (generic XDP)
#
# Checks:
#  - UDP datagrams of 9000-byte IP packets (DF) to the VIP reach the backend
#    after ipip encapsulation (9020 bytes) and decapsulation byte for byte;
#    a TCP upload whose segments are 9000-byte packets arrives whole
#    (SHA-256 of what the backend read);
#  - nothing dropped as a length error (drop_ipv4_length 0);
#  - the exception interface sy0 stays at MTU 1500 (what DPDK 22.11's TAP
#    takes): a 9000-byte datagram to the LB host's own address is counted
#    (drop_kernel_full), and the next, small one still arrives;
#  - the MTUs the port cannot do are refused at start with exit code 1 and
#    a message naming the port and its limit: ring frames too small for
#    the MTU (framesz), --mtu above the interface's MTU, and a port whose
#    driver takes at most 1518-byte frames (net_memif).
#
# Before the fix (sy-dataplane sized its mbufs at 2 KiB and never looked
# at the MTU), with the default ring (framesz=2048) and --mtu 9100, every
# jumbo frame arrived truncated to the ring frame and was dropped:
#   FAIL: datagram 1 of 5: backend got nothing
#   FAIL: TCP: '' (want MSS >= 8900, sha ,  bytes)
#   level=info msg=stats rx_packets=57 rx_bytes=52674 tx_packets=15 tx_bytes=1902
#     forwarded=3 to_kernel=29 from_kernel=12 ct_hits=2 ct_new=1 drop_ipv4_length=25
# with framesz=16384 (as below) it did not start at all:
#   eth_rx_queue_setup(): net_af_packet0: 16352 bytes will not fit in mbuf (2048 bytes)
#   cannot set up port 0
# and none of the three MTUs below was refused with its reason.
#
# usage: test_jumbo_live.sh BUILD_DIR
set -u
BUILD=$(realpath "$1")
HERE=$(dirname "$(realpath "$0")")
. "$HERE/netns_lib.sh"
trap sy_cleanup EXIT

ID=$$
P=syj$ID
REGION=/dev/shm/sy-jumbo-$ID
VIP=198.18.1.1
LBIP=198.18.0.1
CLIENT=198.18.0.2
BACKEND=198.18.0.11
N_DGRAMS=5
AFP="net_af_packet0,iface=eth0,blocksz=16384,framesz=16384"
WORK=$(mktemp -d /tmp/sy-jumbo-XXXXXX)
SY_FILES+=("$REGION" "$WORK" "/var/run/dpdk/$P" "/var/run/dpdk/${P}m")

[ "$(id -u)" -eq 0 ] || { echo "FAIL: needs root (namespaces, DPDK)"; exit 1; }
command -v python3 >/dev/null || { echo "FAIL: python3 missing"; exit 1; }

sy_log "topology"
sy_ns ${P}n && ip -n ${P}n link add br0 type bridge && ip -n ${P}n link set br0 up || exit 1
sy_ns ${P}c && sy_attach ${P}c ${P}n pc || exit 1
sy_ns ${P}l && sy_attach ${P}l ${P}n pl || exit 1
sy_ns ${P}b && sy_attach ${P}b ${P}n pb || exit 1
sy_lb_tap_only ${P}l eth0
ip -n ${P}c addr add $CLIENT/24 dev eth0
ip -n ${P}c route add 198.18.1.0/24 via $LBIP
ip -n ${P}b addr add $BACKEND/24 dev eth0
ip -n ${P}b addr add $VIP/32 dev lo
for k in all.arp_ignore=1 all.arp_announce=2 all.rp_filter=0 eth0.rp_filter=0 lo.rp_filter=0; do
	ip netns exec ${P}b sysctl -qw net.ipv4.conf.$k
done
# native XDP on a veth wants an MTU that fits a page; generic takes any
ip netns exec ${P}b "$BUILD/bpf/sy-decap" attach eth0 --mode generic >/dev/null ||
	{ echo "FAIL: sy-decap attach"; exit 1; }

cat >"$WORK/services" <<EOF
service jumbo udp $VIP 9000 ipip m=251 seed=7 src4=$LBIP
backend jumbo $BACKEND 9000 $(sy_mac ${P}b eth0)
service jumbot tcp $VIP 8080 ipip m=251 seed=7 src4=$LBIP
backend jumbot $BACKEND 8080 $(sy_mac ${P}b eth0)
EOF
"$BUILD/tests/tools/sy-publish" --create "$REGION" "$WORK/services" >/dev/null || exit 1

# dataplane LOG VDEV [options]: sy-dataplane in the LB namespace (background)
dataplane() {
	local log=$1 vdev=$2
	shift 2
	ip netns exec ${P}l "$BUILD/dataplane/sy-dataplane" -l 0,1 --no-huge -m 512 --no-pci \
		--file-prefix $P --vdev="$vdev" -- --region "$REGION" --tap-prefix sy "$@" \
		>"$log" 2>&1 &
	DP=$!
	SY_PIDS+=($DP)
}
# refused WHAT PATTERN LOG VDEV [options]: sy-dataplane must exit 1 at once,
# saying PATTERN
refused() {
	local what=$1 pattern=$2 log=$3 rc
	shift 3
	dataplane "$log" "$@"
	for _ in $(seq 300); do kill -0 $DP 2>/dev/null || break; sleep 0.1; done
	if kill -0 $DP 2>/dev/null; then
		sy_fail "$what: sy-dataplane still running"
		kill -INT $DP
		sy_wait 10 bash -c "! kill -0 $DP"
		return
	fi
	wait $DP
	rc=$?
	if [ $rc -eq 1 ] && grep -q "$pattern" "$log"; then
		sy_pass "$what: refused (exit 1): $(grep -m1 "$pattern" "$log")"
	else
		cat "$log"
		sy_fail "$what: exit $rc, no '$pattern'"
	fi
}

sy_log "MTUs the port cannot do are refused"
ip -n ${P}l link set eth0 mtu 9100
refused "default ring frames (framesz=2048), --mtu 9100" \
	"port 0 (net_af_packet, iface eth0): MTU 9100 does not fit its ring frames: framesz=2048 holds IP packets of at most 1968 bytes" \
	"$WORK/r1.log" "net_af_packet0,iface=eth0" --mtu 9100
refused "--mtu 9600 above the interface's 9100" \
	"port 0 (net_af_packet, iface eth0): --mtu 9600 is above the interface's MTU 9100" \
	"$WORK/r2.log" "$AFP" --mtu 9600
refused "net_memif (1518-byte frames), --mtu 9000" \
	"port 0 (net_memif): cannot do MTU 9000: it receives frames of at most 1518 bytes" \
	"$WORK/r3.log" "net_memif0,role=server,socket=$WORK/memif.sock,socket-abstract=no" \
	--mtu 9000 --exception-tap off

sy_log "jumbo MTUs: client 9000, bridge, LB and backend 9100"
for dev in pc pl pb; do ip -n ${P}n link set $dev mtu 9100; done
ip -n ${P}c link set eth0 mtu 9000
ip -n ${P}b link set eth0 mtu 9100

sy_log "starting sy-dataplane ($AFP, --mtu 9100)"
LOG=$WORK/dataplane.log
dataplane "$LOG" "$AFP" --mtu 9100
if ! sy_wait 30 ip -n ${P}l link show sy0; then
	cat "$LOG"
	echo "FAIL: exception interface sy0 never appeared"
	exit 1
fi
grep -q 'msg="port" port=0 .* mtu=9100' "$LOG" && sy_pass "port 0 runs with MTU 9100" ||
	sy_fail "no 'port 0 mtu=9100' line in the log"
ip -n ${P}l addr add $LBIP/24 dev sy0
ip -n ${P}l link set sy0 up
sy_wait 10 ip netns exec ${P}c ping -c1 -W1 $LBIP || sy_fail "cannot reach the LB host through sy0"

# the backend: UDP datagrams to VIP:9000 saved one per file; TCP on 8080
# answers the SHA-256 and length of what it read until the client's FIN
ip netns exec ${P}b python3 - "$WORK" "$VIP" <<'EOF' >"$WORK/backend.log" 2>&1 &
import hashlib, os, socket, sys, threading
work, vip = sys.argv[1], sys.argv[2]
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind((vip, 9000))
t = socket.socket()
t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind((vip, 8080))
t.listen(4)
def tcp():
    while True:
        c, _ = t.accept()
        h, n = hashlib.sha256(), 0
        while True:
            b = c.recv(65536)
            if not b:
                break
            h.update(b)
            n += len(b)
        c.sendall(("%s %d\n" % (h.hexdigest(), n)).encode())
        c.close()
threading.Thread(target=tcp, daemon=True).start()
open(os.path.join(work, "backend.ready"), "w").close()
i = 0
while True:
    d, _ = u.recvfrom(65536)
    i += 1
    # whole or not there: the test reads it while this runs
    with open(os.path.join(work, "got.%d.part" % i), "wb") as f:
        f.write(d)
    os.replace(os.path.join(work, "got.%d.part" % i), os.path.join(work, "got.%d" % i))
EOF
SY_PIDS+=($!)
sy_wait 10 test -e "$WORK/backend.ready" || { cat "$WORK/backend.log"; sy_fail "backend did not start"; }

sy_log "$N_DGRAMS UDP datagrams of 9000-byte IP packets (DF)"
# payload i: 8972 bytes (9000 - 20 IPv4 - 8 UDP) of a seeded pseudo-random stream
ip netns exec ${P}c python3 - "$WORK" "$VIP" "$N_DGRAMS" <<'EOF'
import os, random, socket, sys, time
work, vip, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, 10, 2)  # IP_MTU_DISCOVER = IP_PMTUDISC_DO: DF, never fragmented
s.bind(("0.0.0.0", 40000))
for i in range(1, n + 1):
    d = random.Random(i).randbytes(8972)
    with open(os.path.join(work, "sent.%d" % i), "wb") as f:
        f.write(d)
    s.sendto(d, (vip, 9000))
    time.sleep(0.2)
EOF
for i in $(seq $N_DGRAMS); do
	if ! sy_wait 5 test -e "$WORK/got.$i"; then
		sy_fail "datagram $i of $N_DGRAMS: backend got nothing"
	elif cmp -s "$WORK/sent.$i" "$WORK/got.$i"; then
		sy_pass "datagram $i: 8972 bytes arrived intact ($(stat -c %s "$WORK/got.$i") bytes)"
	else
		sy_fail "datagram $i: $(stat -c %s "$WORK/got.$i") bytes differ from the 8972 sent"
	fi
done

sy_log "TCP upload of 4 MiB with 9000-byte segments"
tcp=$(ip netns exec ${P}c python3 - "$VIP" <<'EOF'
import hashlib, random, socket, sys
data = random.Random(42).randbytes(4 << 20)
c = socket.create_connection((sys.argv[1], 8080), timeout=20)
mss = c.getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG)
c.sendall(data)
c.shutdown(socket.SHUT_WR)
got = c.makefile().readline().split()
print(mss, hashlib.sha256(data).hexdigest(), len(data), *got)
EOF
)
read -r mss want_sha want_len got_sha got_len <<<"$tcp"
if [ "${mss:-0}" -ge 8900 ] && [ "${got_sha:-}" = "$want_sha" ] && [ "${got_len:-}" = "$want_len" ]; then
	sy_pass "TCP: $got_len bytes arrived intact with MSS $mss"
else
	sy_fail "TCP: '$tcp' (want MSS >= 8900, sha $want_sha, $want_len bytes)"
fi

sy_log "a jumbo frame for the LB host itself: the exception TAP takes 1500"
grep -q 'msg="exception interface" port=0 iface=sy0 mtu=1500' "$LOG" &&
	sy_pass "sy0 at MTU 1500 (DPDK 22.11's TAP takes no more)" || sy_fail "sy0 not at MTU 1500"
ip netns exec ${P}l python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 5000))
s.settimeout(5)
open(sys.argv[2] + ".ready", "w").close()
try:
    while True:
        d, _ = s.recvfrom(65536)
        print(len(d), flush=True)
except socket.timeout:
    pass' $LBIP "$WORK/host" >"$WORK/host.got" 2>&1 &
SY_PIDS+=($!)
sy_wait 10 test -e "$WORK/host.ready"
ip netns exec ${P}c python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, 10, 2)  # DF
s.sendto(bytes(8972), (sys.argv[1], 5000))
s.sendto(bytes(100), (sys.argv[1], 5000))' $LBIP
sy_wait 10 grep -qx 100 "$WORK/host.got"
got=$(tr '\n' ' ' <"$WORK/host.got")
[ "$got" = "100 " ] && sy_pass "the host got the 100-byte datagram only (the 9000-byte one counted below)" ||
	sy_fail "the host got datagrams of: '$got' (want only 100)"

sy_stop_checked $DP sy-dataplane "$LOG"
stats=$(grep 'msg=stats' "$LOG" | tail -1)
echo "$stats"
c() { echo "$stats" | tr ' ' '\n' | sed -n "s/^$1=//p" | grep . || echo 0; }
# each 4 MiB upload segment is a 9000-byte packet: the average forwarded
# frame must be well above a standard MTU for the check to mean anything
fwd=$(c forwarded) rxb=$(c rx_bytes) rxp=$(c rx_packets)
[ "$(c drop_ipv4_length)" -eq 0 ] && sy_pass "drop_ipv4_length 0" ||
	sy_fail "drop_ipv4_length $(c drop_ipv4_length)"
[ "$(c drop_kernel_full)" -eq 1 ] && sy_pass "drop_kernel_full 1: the jumbo frame for the host" ||
	sy_fail "drop_kernel_full $(c drop_kernel_full), want 1"
if [ "$fwd" -ge $((N_DGRAMS + (4 << 20) / 9000)) ] && [ "$rxp" -gt 0 ] && [ $((rxb / rxp)) -gt 4000 ]; then
	sy_pass "forwarded $fwd packets, $((rxb / rxp)) bytes per received frame on average"
else
	sy_fail "forwarded $fwd, rx $rxp frames / $rxb bytes: not jumbo traffic"
fi
[ $SY_FAILED -eq 0 ] && echo "RESULT: PASS" || echo "RESULT: FAIL"
exit $SY_FAILED
