#!/bin/bash
# The region's file removed under sy-control and sy-dataplane (issue 12,
# point 4; docs/region.md, "When the file is removed"). sy-control (a static
# service of 4 backends) and sy-dataplane (net_pcap: 40 TCP SYNs read once,
# so 40 flows tracked in its connection table) share a region in a
# temporary directory. What the dataplane forwards is asked of the
# dataplane itself (`syctl lookup`, which asks its telemetry).
#
#   A. the file is removed while both run: sy-control re-creates it from
#      the live region within a second, the dataplane follows it (the same
#      region: its tracked flows stay tracked), and a drain reaches the
#      dataplane;
#   B. sy-control is stopped, the file removed, sy-control started again:
#      it re-creates the file from the dataplane's mapping instead of
#      creating an empty region beside it; the dataplane follows, flows stay
#      tracked, and a drain reaches it;
#   C. with sy-control stopped, a new region (another region id) appears at
#      the path: the dataplane follows it and clears its connection table
#      (backend uids mean nothing in another region), and answers from the
#      new region's tables.
# Before the fix (8e34f0d) B split the brain: the restarted sy-control made
# a new region the dataplane never saw, and the drain never reached the
# packets.
#
# usage: test_region_file.sh BUILD_DIR
set -u
BUILD=$(realpath "$1")
HERE=$(dirname "$(realpath "$0")")
. "$HERE/netns_lib.sh"
[ "$(id -u)" -eq 0 ] || { echo "FAIL: needs root (DPDK, /proc/PID/map_files)"; exit 1; }
P=syrf$$
W=$(mktemp -d /tmp/sy-regionfile-XXXXXX)
trap 'sy_cleanup; rm -rf "$W" /var/run/dpdk/$P' EXIT
PY=/usr/bin/python3
SOCK=$W/api.sock
REGION=$W/region
PCAP_MAC=02:70:63:61:70:00 # DPDK's net_pcap port 0
ctl() { "$BUILD/control/syctl" --socket "$SOCK" "$@"; }
export BUILD SOCK
export -f ctl
cat >"$W/sw.yaml" <<EOF
instance: regionfile$$
region: $REGION
state_file: $W/state
limits: { lcores: 4, services: 8, backends: 64, heap_mb: 16 }
api: { socket: $SOCK }
defaults: { encap_source4: 198.18.0.1, table_size: 251 }
services:
  - name: web
    vip: 198.18.1.1
    port: 80
    protocol: tcp
    mode: ipip
    source: static
    next_hop_mac: 02:00:00:00:00:fe
    backends:
      - { address: 198.18.0.11, port: 80 }
      - { address: 198.18.0.12, port: 80 }
      - { address: 198.18.0.13, port: 80 }
      - { address: 198.18.0.14, port: 80 }
EOF
# 40 SYNs to the VIP from 198.18.2.1 ports 20000..20039
$PY - "$W/in.pcap" $PCAP_MAC <<'EOF' || { echo "FAIL: cannot write the pcap"; exit 1; }
import sys
from scapy.all import Ether, IP, TCP, wrpcap
wrpcap(sys.argv[1], [Ether(src="02:00:00:00:00:01", dst=sys.argv[2]) /
                     IP(src="198.18.2.1", dst="198.18.1.1") /
                     TCP(sport=20000 + i, dport=80, flags="S") for i in range(40)])
EOF
start_control() { # LOG
	rm -f "$SOCK"
	"$BUILD/control/sy-control" --config "$W/sw.yaml" >"$W/$1" 2>&1 &
	CONTROL=$!
	SY_PIDS+=($CONTROL)
	sy_wait 10 test -S "$SOCK" || { cat "$W/$1"; sy_fail "sy-control did not start"; }
}
stop_control() { kill -TERM $CONTROL && wait $CONTROL; }
# answer SPORT: the dataplane's backend and reason for a flow, "BACKEND|REASON"
# answers FROM TO: "PORT BACKEND|REASON" for the flows from 198.18.2.1
# ports FROM..TO, asked over the API socket in one process (GET /v1/lookup:
# sy-control asks the dataplane)
answers() {
	$PY - "$SOCK" "$1" "$2" <<'PYEOF'
import http.client, json, socket, sys
class Conn(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(sys.argv[1])
for p in range(int(sys.argv[2]), int(sys.argv[3]) + 1):
    c = Conn("localhost", timeout=10)
    c.request("GET", "/v1/lookup?service=web&src=198.18.2.1&sport=%d&dst=198.18.1.1&dport=80&proto=tcp" % p)
    a = json.loads(c.getresponse().read())
    c.close()
    print("%d %s|%s" % (p, a.get("backend"), a.get("reason")))
PYEOF
}
answer() { answers "$1" "$1" | cut -d' ' -f2-; }
# tracked FROM TO: how many of the flows FROM..TO the dataplane says it tracks
tracked() { answers "$1" "$2" | grep -c "|conntrack"; }
# picks BACKEND: how many of 64 new flows (ports 30000..) the dataplane gives
# BACKEND, or -1 if one answer did not come from the dataplane
picks() {
	answers 30000 30063 >"$W/answers"
	grep -q "did not answer\|no dataplane\|unreachable" "$W/answers" && { echo -1; return; }
	grep -c " $1|" "$W/answers"
}
inode() { stat -c %i "$REGION" 2>/dev/null || echo none; }

start_control control1.log
"$BUILD/dataplane/sy-dataplane" -l 0,1 --no-huge -m 256 --no-pci --file-prefix $P \
	--vdev="net_pcap0,rx_pcap=$W/in.pcap,tx_pcap=$W/out.pcap" -- --region "$REGION" \
	--exception-tap off >"$W/dp.log" 2>&1 &
DP=$!
SY_PIDS+=($DP)
sy_wait 30 grep -q "sy-dataplane running" "$W/dp.log" || { cat "$W/dp.log"; echo "FAIL: sy-dataplane did not start"; exit 1; }
sy_wait 10 bash -c 'ctl --json stats | grep -q "\"ct_new\": 40"' || sy_fail "40 flows not tracked: $(ctl stats | head -20)"
n=$(tracked 20000 20039)
[ "$n" = 40 ] && sy_pass "the dataplane tracks the 40 flows" || sy_fail "the dataplane tracks $n of 40 flows"
b1=$(answer 30000 | cut -d'|' -f1)
[ "$(picks "$b1")" -gt 0 ] && sy_pass "before: the dataplane gives $b1 some new flows" || sy_fail "picks of $b1"

# ---- A. removed while both run ---------------------------------------------------------
ino=$(inode)
rm "$REGION"
# (the removed file stays allocated while it is mapped: the new one has
# another inode number)
sy_wait 10 bash -c "[ -e '$REGION' ] && [ \"\$(stat -c %i '$REGION')\" != $ino ]" &&
	sy_wait 5 grep -q "region file was removed: re-created from the live region" "$W/control1.log" &&
	sy_pass "A: sy-control re-created the removed file" || sy_fail "A: the file was not re-created: $(tail -3 "$W/control1.log")"
sy_wait 10 grep -q "region file replaced: this dataplane follows it.*same_region=yes connection_tables=kept" "$W/dp.log" &&
	sy_pass "A: the dataplane follows it (same region, connection tables kept)" ||
	sy_fail "A: the dataplane did not follow: $(grep region "$W/dp.log" | tail -3)"
n=$(tracked 20000 20039)
[ "$n" = 40 ] && sy_pass "A: the 40 flows are still tracked" || sy_fail "A: $n of 40 flows still tracked"
ctl status | grep -q "file ok, re-created 1 times" && sy_pass "A: syctl status: $(ctl status | grep '^region')" ||
	sy_fail "A: status: $(ctl status | grep '^region')"
curl -s --unix-socket "$SOCK" http://x/metrics | grep -q '^switchyard_region_recreated_total 1$' &&
	sy_pass "A: switchyard_region_recreated_total 1" || sy_fail "A: metrics"
ctl drain web "$b1" >/dev/null
sleep 0.5
[ "$(picks "$b1")" = 0 ] && sy_pass "A: the drain of $b1 reached the dataplane (no new flow to it)" ||
	sy_fail "A: the dataplane still gives $b1 $(picks "$b1") new flows after the drain"

# ---- B. removed while sy-control is down --------------------------------------------
ctl reset web "$b1" >/dev/null
sleep 0.3
stop_control
ino=$(inode)
rm "$REGION"
start_control control2.log
grep -q "re-created from its mapping" "$W/control2.log" && [ "$(inode)" != "$ino" ] &&
	sy_pass "B: the restarted sy-control re-created the file from the dataplane's mapping" ||
	sy_fail "B: $(grep region "$W/control2.log" | head -3)"
sy_wait 10 bash -c "[ \$(grep -c 'region file replaced: this dataplane follows it.*same_region=yes' '$W/dp.log') = 2 ]" &&
	sy_pass "B: the dataplane follows it (same region)" || sy_fail "B: the dataplane did not follow: $(grep region "$W/dp.log" | tail -3)"
n=$(tracked 20000 20039)
[ "$n" = 40 ] && sy_pass "B: the 40 flows are still tracked" || sy_fail "B: $n of 40 flows still tracked"
b2=$(answer 30001 | cut -d'|' -f1)
ctl drain web "$b2" >/dev/null
sleep 0.5
[ "$(picks "$b2")" = 0 ] && sy_pass "B: the drain of $b2 reached the dataplane (no new flow to it)" ||
	sy_fail "B: the dataplane still gives $b2 $(picks "$b2") new flows after the drain (split brain)"
ctl status | grep -q "recovered at start from pid $DP" && sy_pass "B: syctl status says where the region came from" ||
	sy_fail "B: status: $(ctl status | grep '^region')"

# ---- C. a new region at the path ----------------------------------------------------
stop_control
rm "$REGION"
echo "service web tcp 198.18.1.1 80 ipip m=251 src4=198.18.0.1
backend web 198.18.0.99 80 02:00:00:00:00:fe" >"$W/services.txt"
"$BUILD/tests/tools/sy-publish" --create "$REGION" "$W/services.txt" >"$W/publish.log" 2>&1 ||
	sy_fail "C: sy-publish: $(cat "$W/publish.log")"
sy_wait 10 grep -q "same_region=no connection_tables=cleared" "$W/dp.log" &&
	sy_pass "C: the dataplane follows the new region and clears its connection tables" ||
	sy_fail "C: $(grep region "$W/dp.log" | tail -3)"
a=$($PY "$HERE/check_telemetry.py" --ask $P "/switchyard/lookup,198.18.2.1,20000,198.18.1.1,80,tcp" 2>&1)
echo "$a" | grep -q "198.18.0.99" && ! echo "$a" | grep -q conntrack &&
	sy_pass "C: a formerly tracked flow now goes by the new region's table: $a" || sy_fail "C: lookup: $a"

# the dataplane followed three region files: it must still stop cleanly
sy_stop_checked $DP sy-dataplane "$W/dp.log"
grep -q "ERROR: AddressSanitizer\|runtime error" "$W"/control*.log && { sy_fail "sanitizer report"; cat "$W"/control*.log; }
[ "$SY_FAILED" -eq 0 ] && echo "RESULT: PASS" || { echo "RESULT: FAIL"; tail -5 "$W/dp.log"; }
exit "$SY_FAILED"
