#!/bin/bash
# Live test of sy-dataplane on net_af_packet over veth, in namespaces this
# test creates: client -- bridge -- LB (DPDK + exception TAP) -- 3 backends.
# Backends hold the VIP on loopback and run real HTTP servers; in ipip/gue
# mode they decapsulate with our XDP program (bpf/sy_xdp_decap.bpf.c).
# Checks: every curl to the VIP succeeds and is answered by the backend that
# Maglev + the flow hash predict (so every backend serves its share);
# responses bypass the LB (DSR); ARP and host traffic work through the TAP,
# and through the TAP only: the LB kernel keeps off eth0 (sy_lb_tap_only),
# the host's own TCP and UDP packets all reach it on sy0 while it drops its
# copies from eth0, and each UDP datagram arrives once; dpdk-telemetry.py
# reads our counters.
#
# usage: test_dataplane_live.sh BUILD_DIR ipip|gue|l2dsr
set -u
BUILD=$(realpath "$1")
MODE=$2
HERE=$(dirname "$(realpath "$0")")
. "$HERE/netns_lib.sh"
trap sy_cleanup EXIT

ID=$$
P=syl$ID
REGION=/dev/shm/sy-live-$ID
PREFIX=syl$ID
VIP=198.18.1.1
LBIP=198.18.0.1
CLIENT=198.18.0.2
N_REQ=${N_REQ:-60}
SY_FILES+=("$REGION" "/var/run/dpdk/$PREFIX")

[ "$(id -u)" -eq 0 ] || { echo "FAIL: needs root (namespaces, DPDK)"; exit 1; }
for tool in ethtool curl python3 dpdk-telemetry.py; do
	command -v $tool >/dev/null || { echo "FAIL: $tool missing (scripts/install-deps.sh)"; exit 1; }
done

sy_log "topology ($MODE)"
sy_ns ${P}n && ip -n ${P}n link add br0 type bridge && ip -n ${P}n link set br0 up || exit 1
sy_ns ${P}c && sy_attach ${P}c ${P}n pc || exit 1
sy_ns ${P}l && sy_attach ${P}l ${P}n pl || exit 1
sy_lb_tap_only ${P}l eth0
ip -n ${P}c addr add $CLIENT/24 dev eth0
ip -n ${P}c route add 198.18.1.0/24 via $LBIP

declare -A NAME_OF
SERVICES=$(mktemp /tmp/sy-svc-XXXXXX)
SY_FILES+=("$SERVICES")
echo "service web tcp $VIP 80 $MODE m=251 seed=7 src4=$LBIP" >"$SERVICES"
for i in 1 2 3; do
	ns=${P}b$i
	sy_ns $ns && sy_attach $ns ${P}n pb$i || exit 1
	ip -n $ns addr add 198.18.0.1$i/24 dev eth0
	ip -n $ns addr add $VIP/32 dev lo
	for k in all.arp_ignore=1 all.arp_announce=2 all.rp_filter=0 eth0.rp_filter=0 lo.rp_filter=0; do
		ip netns exec $ns sysctl -qw net.ipv4.conf.$k
	done
	if [ "$MODE" != l2dsr ]; then
		ip netns exec $ns "$BUILD/bpf/sy-decap" attach eth0 --mode native ||
			{ echo "FAIL: sy-decap attach in $ns"; exit 1; }
	fi
	sy_http_backend $ns be$i
	echo "backend web 198.18.0.1$i 80 $(sy_mac $ns eth0)" >>"$SERVICES"
	NAME_OF[198.18.0.1$i]=be$i
done

"$BUILD/tests/tools/sy-publish" --create "$REGION" "$SERVICES" >/dev/null || exit 1

sy_log "starting sy-dataplane"
LOG=$(mktemp /tmp/sy-dp-XXXXXX)
SY_FILES+=("$LOG" "$LOG.udp")
ip netns exec ${P}l "$BUILD/dataplane/sy-dataplane" -l 0,1 --no-huge -m 512 --no-pci \
	--file-prefix $PREFIX --vdev=net_af_packet0,iface=eth0 -- \
	--region "$REGION" --tap-prefix sy >"$LOG" 2>&1 &
DP=$!
SY_PIDS+=($DP)
if ! sy_wait 30 ip -n ${P}l link show sy0; then
	cat "$LOG"
	echo "FAIL: exception interface sy0 never appeared"
	exit 1
fi
ip -n ${P}l addr add $LBIP/24 dev sy0
ip -n ${P}l link set sy0 up
# a service of the LB host itself, reached through the exception path
ip netns exec ${P}l python3 -m http.server 8080 --bind $LBIP --directory /tmp >/dev/null 2>&1 &
SY_PIDS+=($!)

sy_log "host traffic through the exception TAP"
if sy_wait 10 ip netns exec ${P}c ping -c1 -W1 $LBIP; then
	sy_pass "ARP + ICMP to the LB host through the TAP"
else
	sy_fail "cannot ping the LB host through the TAP"
fi
# The LB kernel also receives eth0's frames (the packet socket takes a
# copy): a connection to the host would succeed without the TAP. What proves
# the TAP: every IPv4 packet the client sends the host meanwhile reaches the
# kernel on sy0, the kernel drops its copy from eth0 (reverse-path filter),
# and a UDP datagram arrives once, not twice.
sy_wait 5 bash -c "ip netns exec ${P}l ss -Hltn 'sport = 8080' | grep -q ."
ip netns exec ${P}l python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 5353))
print("bound", flush=True)
s.settimeout(10)  # the first one comes after the TCP check
n = 0
try:
    while True:
        s.recv(2048)
        n += 1
        # a second copy would come with its original (one frame, two paths):
        # 1 s of silence after the last datagram ends the count
        s.settimeout(1)
except socket.timeout:
    pass
print(n)' $LBIP >"$LOG.udp" &
UDP_RX=$!
SY_PIDS+=($UDP_RX)
sy_wait 5 grep -q bound "$LOG.udp"
N_UDP=5
out0=$(sy_snmp ${P}c Ip OutRequests)
sy0rx0=$(ip netns exec ${P}l cat /sys/class/net/sy0/statistics/rx_packets)
rpf0=$(sy_snmp ${P}l TcpExt IPReversePathFilter)
if ip netns exec ${P}c curl -s --max-time 5 -o /dev/null http://$LBIP:8080/; then
	sy_pass "TCP to the LB host's own server"
else
	sy_fail "no TCP to the LB host"
fi
ip netns exec ${P}c python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(int(sys.argv[2])):
    s.sendto(b"host", (sys.argv[1], 5353))
    time.sleep(0.05)' $LBIP $N_UDP
wait $UDP_RX
sent=$(($(sy_snmp ${P}c Ip OutRequests) - out0))
sy0rx=$(($(ip netns exec ${P}l cat /sys/class/net/sy0/statistics/rx_packets) - sy0rx0))
rpf=$(($(sy_snmp ${P}l TcpExt IPReversePathFilter) - rpf0))
udp_got=$(tail -1 "$LOG.udp")
[ "$sy0rx" -ge "$sent" ] && sy_pass "the client sent the host $sent IPv4 packets; sy0 received $sy0rx" ||
	sy_fail "the client sent the host $sent IPv4 packets; sy0 received only $sy0rx"
[ "$rpf" -ge "$sent" ] && sy_pass "the LB kernel dropped its own copy from eth0 of each ($rpf, reverse-path filter)" ||
	sy_fail "the LB kernel dropped $rpf of its $sent copies from eth0: it served eth0 too"
[ "$udp_got" = $N_UDP ] && sy_pass "UDP: the host got each of $N_UDP datagrams once" ||
	sy_fail "UDP: the host got ${udp_got:-no} datagrams for $N_UDP sent"
for i in 1 2 3; do
	sy_wait 10 ip netns exec ${P}b$i curl -s --max-time 1 -o /dev/null http://127.0.0.1/ ||
		sy_fail "backend be$i HTTP server did not start"
done

sy_log "$N_REQ connections to the VIP"
declare -A GOT
ok=0
mismatch=0
# one connection per client port 21001.., all from one http_probe.py (a
# curl per request spent ~70 ms starting curl under ip netns exec)
while read -r sport got; do
	n=$((sport - 21000))
	want=$("$BUILD/tests/tools/sy-publish" --lookup "$REGION" $CLIENT $sport $VIP 80 tcp)
	if [ "$got" = - ]; then
		echo "  request $n (port $sport): no answer"
		continue
	fi
	ok=$((ok + 1))
	GOT[$got]=$((${GOT[$got]:-0} + 1))
	if [ "$got" != "${NAME_OF[$want]:-?}" ]; then
		mismatch=$((mismatch + 1))
		echo "  request $n (port $sport): answered by $got, Maglev predicts ${NAME_OF[$want]:-$want}"
	fi
done < <(ip netns exec ${P}c python3 "$HERE/http_probe.py" $VIP 80 21001 $N_REQ / 5)
echo "distribution: be1=${GOT[be1]:-0} be2=${GOT[be2]:-0} be3=${GOT[be3]:-0} (answered $ok of $N_REQ)"
[ $ok -eq $N_REQ ] && sy_pass "all $N_REQ requests answered" || sy_fail "$((N_REQ - ok)) requests failed"
[ $mismatch -eq 0 ] && sy_pass "every answer came from the Maglev-predicted backend" ||
	sy_fail "$mismatch answers from an unexpected backend"
for b in be1 be2 be3; do
	[ "${GOT[$b]:-0}" -gt 0 ] || sy_fail "$b served nothing"
done

sy_log "direct server return"
rx0=$(ip netns exec ${P}l cat /sys/class/net/eth0/statistics/rx_bytes)
got_bytes=0
for n in 1 2 3 4 5; do
	b=$(ip netns exec ${P}c curl -s --max-time 5 --local-port $((23000 + n)) -o /dev/null \
		-w '%{size_download}' http://$VIP/big)
	got_bytes=$((got_bytes + ${b:-0}))
done
rx1=$(ip netns exec ${P}l cat /sys/class/net/eth0/statistics/rx_bytes)
echo "client downloaded $got_bytes bytes; the LB port received $((rx1 - rx0)) bytes meanwhile"
if [ $got_bytes -ge $((5 * 262144)) ] && [ $((rx1 - rx0)) -lt $((got_bytes / 4)) ]; then
	sy_pass "responses went directly from backends to the client"
else
	sy_fail "responses did not bypass the LB (or downloads failed)"
fi

sy_log "telemetry"
tele=$(echo /switchyard/stats | timeout 10 dpdk-telemetry.py -f $PREFIX 2>/dev/null)
fwd=$(echo "$tele" | python3 -c '
import json, sys
for line in sys.stdin:
    line = line.strip().lstrip("-->").strip()
    if line.startswith("{"):
        try:
            d = json.loads(line)
        except ValueError:
            continue
        s = d.get("/switchyard/stats")
        if s:
            print(s.get("forwarded", 0))
' | tail -1)
if [ "${fwd:-0}" -gt 0 ]; then
	sy_pass "dpdk-telemetry.py /switchyard/stats: forwarded=$fwd"
else
	echo "$tele" | head -5
	sy_fail "dpdk-telemetry.py did not return our counters"
fi

sy_stop_checked $DP sy-dataplane "$LOG"
echo "--- sy-dataplane log (tail)"
tail -3 "$LOG"
[ $SY_FAILED -eq 0 ] && echo "RESULT: PASS ($MODE)" || echo "RESULT: FAIL ($MODE)"
exit $SY_FAILED
