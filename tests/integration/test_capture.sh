#!/bin/bash
# Packet capture with DPDK's own tool (issue 8): while sy-pktgen sends UDP
# to the VIP through sy-dataplane (net_memif, hugepages), `dpdk-dumpcap
# --file-prefix <the dataplane's>` attaches as a secondary process and
# captures its port; scapy then reads the file.
#
# Asserted:
#   - dpdk-dumpcap finds the dataplane's port and writes a pcap of the
#     requested number of packets;
#   - the capture holds frames in both directions: the generator's UDP
#     frames to the VIP (198.19.x.x -> 198.18.100.1:53, its payload pattern
#     intact) and the dataplane's IPIP frames to the two backends whose inner
#     packet is such a frame, byte for byte;
#   - a capture filter (-f "ip proto 4") keeps only the encapsulated ones;
#   - a capture that ends while a worker is inside pdump's copy of a frame
#     (held there by gdb) leaves the dataplane alive and forwarding
#     (dataplane/capture_guard.c);
#   - the dataplane keeps forwarding during and after the captures (no drop
#     counter moves), sy-pktgen gets its frames back, and sy-dataplane
#     stops cleanly (exit 0: a crash after the other checks shows here).
# Needs hugepages (secondary processes map the primary's memory): reserves
# and mounts them if needed, undone at exit.
# Prints PASS:/FAIL: lines and RESULT: PASS|FAIL.
#
# usage: test_capture.sh BUILD_DIR
set -u
BUILD=$(realpath "$1")
HERE=$(dirname "$(realpath "$0")")
. "$HERE/netns_lib.sh"
. "$HERE/memif_lib.sh"

HUGE_ORIG=""
MOUNTED=0
cleanup() {
	sy_cleanup
	rm -f /dev/hugepages/"${P:-none}"map_* 2>/dev/null
	[ $MOUNTED -eq 1 ] && umount /dev/hugepages
	[ -n "$HUGE_ORIG" ] && echo "$HUGE_ORIG" >/proc/sys/vm/nr_hugepages
}
trap cleanup EXIT
verdict() { echo "RESULT: $(sy_verdict)"; [ "$SY_FAILED" -eq 0 ]; exit $?; }

[ "$(id -u)" -eq 0 ] || { echo "FAIL: needs root (hugepages, namespace, DPDK)"; echo "RESULT: FAIL"; exit 1; }
DUMPCAP=$(command -v dpdk-dumpcap) || { echo "FAIL: dpdk-dumpcap missing (apt install dpdk)"; echo "RESULT: FAIL"; exit 1; }
command -v gdb >/dev/null || { echo "FAIL: gdb missing (scripts/install-deps.sh test)"; echo "RESULT: FAIL"; exit 1; }

# 2 MB hugepages for sy-dataplane's 256 MB (the generator uses plain memory)
free=$(awk '/HugePages_Free/ {print $2}' /proc/meminfo)
if [ "$free" -lt 160 ]; then
	HUGE_ORIG=$(cat /proc/sys/vm/nr_hugepages)
	echo $((HUGE_ORIG + 160 - free)) >/proc/sys/vm/nr_hugepages
fi
if ! awk '$2 == "/dev/hugepages" && $3 == "hugetlbfs" {f=1} END {exit !f}' /proc/mounts; then
	mkdir -p /dev/hugepages && mount -t hugetlbfs nodev /dev/hugepages && MOUNTED=1
fi
free=$(awk '/HugePages_Free/ {print $2}' /proc/meminfo)
[ "$free" -ge 160 ] || { echo "FAIL: only $free hugepages free"; echo "RESULT: FAIL"; exit 1; }

sy_log "namespace, sy-control (2 backends), sy-dataplane on hugepages"
memif_setup sycap 2 || { sy_fail "setup"; verdict; }
# no --huge-unlink: dpdk-dumpcap maps the same hugepage files
memif_dataplane "--socket-mem 256" --ct-size 65536 || { sy_fail "sy-dataplane did not start"; verdict; }
grep -q "packet capture unavailable" "$WORK/dataplane.log" &&
	sy_fail "sy-dataplane: $(grep 'packet capture unavailable' "$WORK/dataplane.log")"

# 20 s: both captures together take well under 1 s once the link is up (0.6
# s here), the capture that ends under gdb ~5 s; the rest shows the
# dataplane forwarding on after them
sy_log "sy-pktgen: 64 flows for 20 s, 256-byte frames"
memif_pktgen 100 --flows 64 --size 256 --warmup 0 --duration 20
sy_wait 10 grep -q "link up" "$WORK/pktgen.log" || { cat "$WORK/pktgen.log"; sy_fail "sy-pktgen: no link"; verdict; }

# dpdk-dumpcap: a secondary process of the dataplane; bounded by -c, -a and
# timeout(1)
capture() { # FILE COUNT [filter]
	local f=$1 n=$2
	shift 2
	timeout -k 5 30 ip netns exec "$NS" "$DUMPCAP" --file-prefix="$P" -i 0 -P -w "$f" -c "$n" \
		-a duration:10 "$@" >"$f.log" 2>&1
}
sy_log "dpdk-dumpcap: 2000 packets, both directions"
capture "$WORK/all.pcap" 2000
rc=$?
cat "$WORK/all.pcap.log" | tail -4
[ $rc -eq 0 ] && [ -s "$WORK/all.pcap" ] && sy_pass "dpdk-dumpcap captured on the dataplane's port (exit 0)" ||
	{ sy_fail "dpdk-dumpcap exit $rc: $(tail -2 "$WORK/all.pcap.log" | tr '\n' ' ')"; cat "$WORK/all.pcap.log"; }
sy_log "dpdk-dumpcap: 300 packets, filter 'ip proto 4'"
capture "$WORK/ipip.pcap" 300 -f "ip proto 4"
rc=$?
[ $rc -eq 0 ] && [ -s "$WORK/ipip.pcap" ] && sy_pass "dpdk-dumpcap with a capture filter (exit 0)" ||
	{ sy_fail "dpdk-dumpcap -f exit $rc: $(tail -2 "$WORK/ipip.pcap.log" | tr '\n' ' ')"; cat "$WORK/ipip.pcap.log"; }

# A capture that ends while a worker is inside pdump's copy of a frame
# (dataplane/capture_guard.c). gdb (gdb_hold.py) stops the worker at its
# first copy for capture A and holds it there 1.5 s while the other threads
# run (below the dataplane's 2 s limit for that wait); meanwhile A is told
# to stop (SIGINT). dpdk-dumpcap then asks the dataplane to end the capture
# and, once answered, frees its mempool and exits, and capture B starts. The
# answer must wait until the worker is out of the copy, so A ends after gdb
# lets the worker go. Before capture_guard.c the dataplane answered at once
# (A ended ~20 ms after its SIGINT, the worker still held): a worker
# preempted inside a copy went on with a freed mempool, and when the next
# capture's start-up took that memory, sy-dataplane died of SIGSEGV (4 runs
# in 34 of this test beside another tree's tests, cores: rte_pktmbuf_copy
# under pdump's tx callback, the mempool's ops index 0).
sy_log "a capture that ends while a worker is inside its copy of a frame, another starting"
SY_PID=$DP_PID SY_READY=$WORK/gdb.ready SY_HOLD=1.5 timeout -k 5 60 gdb -q -batch -nx \
	-x "$HERE/gdb_hold.py" >"$WORK/gdb.log" 2>&1 &
GDB_PID=$!
SY_PIDS+=($GDB_PID)
sy_wait 30 test -e "$WORK/gdb.ready" || sy_fail "gdb did not attach: $(tail -3 "$WORK/gdb.log")"
# (not capture(): a background job of this shell ignores SIGINT; timeout(1)
# passes its SIGINT on to dpdk-dumpcap, which ends its capture on it)
timeout -s INT -k 5 30 ip netns exec "$NS" "$DUMPCAP" --file-prefix="$P" -i 0 -P \
	-w "$WORK/a.pcap" >"$WORK/a.pcap.log" 2>&1 &
A_PID=$!
SY_PIDS+=($A_PID)
if sy_wait 30 grep -q "^held at" "$WORK/gdb.log"; then
	sy_pass "gdb holds the worker inside pdump's copy: $(grep -o 'Thread [0-9]* "[^"]*" hit Breakpoint 1' "$WORK/gdb.log" | head -1)"
else
	sy_fail "the worker never stopped in rte_pktmbuf_copy: $(grep -v '^\[New' "$WORK/gdb.log" | tail -4 | tr '\n' ' ')"
fi
t0=$(date +%s%N)
kill -INT $A_PID
wait $A_PID
rc_a=$?
t_a=$(date +%s%N)
capture "$WORK/b.pcap" 100
rc_b=$?
wait $GDB_PID
echo "capture A ended $(((t_a - t0) / 1000000)) ms after its SIGINT (exit $rc_a); gdb: $(grep -E '^(held|let go)' "$WORK/gdb.log" | tr '\n' ' ')"
let_go=$(sed -n 's/^let go at .*(epoch \([0-9.]*\)).*/\1/p' "$WORK/gdb.log")
python3 -c "import sys; sys.exit(not float(sys.argv[1]) >= float(sys.argv[2]))" "$t_a" "${let_go:-0}e9" 2>/dev/null &&
	[ -n "$let_go" ] &&
	sy_pass "capture A ended only after the worker had left the copy (the dataplane's answer waited for it)" ||
	sy_fail "capture A ended while the worker was still inside the copy (A ended at $t_a ns, the worker let go at ${let_go:-?} s): the dataplane answered before the worker was out"
rx0=$(memif_counter rx_packets)
rx_grew() { rx1=$(memif_counter rx_packets); [ "${rx1:-0}" -gt "${rx0:-0}" ]; }
sy_wait 10 rx_grew
rx_grew
kill -0 "$DP_PID" 2>/dev/null && [ "${rx1:-0}" -gt "${rx0:-0}" ] &&
	sy_pass "sy-dataplane lives on and forwards (rx_packets $rx0 -> $rx1)" ||
	sy_fail "sy-dataplane: $(kill -0 "$DP_PID" 2>/dev/null && echo "rx_packets $rx0 -> $rx1 in 10 s" || echo "gone: $(tail -2 "$WORK/dataplane.log" | tr '\n' ' ')")"
[ $rc_a -eq 0 ] && [ $rc_b -eq 0 ] && [ -s "$WORK/b.pcap" ] &&
	sy_pass "both captures ended with exit 0, the second with a file" ||
	{ sy_fail "dpdk-dumpcap exit $rc_a (A), $rc_b (B)"; tail -3 "$WORK/a.pcap.log" "$WORK/b.pcap.log"; }

# read both files back (Debian's python3, which has scapy)
/usr/bin/python3 - "$WORK/all.pcap" "$WORK/ipip.pcap" <<'EOF' || SY_FAILED=1
import sys
from scapy.all import rdpcap, IP, UDP

VIP, BACKENDS = "198.18.100.1", {"198.18.1.1", "198.18.1.2"}
# sy-pktgen's payload: 'S' + i % 8 after the 8-byte UDP header
def ours(ip):
    if not (ip.haslayer(UDP) and ip.dst == VIP and ip.src.startswith("198.19.") and ip[UDP].dport == 53):
        return False
    pay = bytes(ip[UDP].payload)
    return len(pay) > 0 and all(b == ord('S') + (i + 8) % 8 for i, b in enumerate(pay))

ok = True
def check(cond, msg):
    global ok
    print(("PASS: " if cond else "FAIL: ") + msg)
    ok &= bool(cond)

allp = rdpcap(sys.argv[1])
client = [p for p in allp if IP in p and ours(p[IP])]
raw_client = {bytes(p[IP]) for p in client}
encap = [p for p in allp if IP in p and p[IP].proto == 4]
enc_ok = [p for p in encap if p[IP].dst in BACKENDS and p[IP].src == "198.18.0.1"
          and ours(IP(bytes(p[IP].payload)))]
matched = sum(bytes(p[IP].payload) in raw_client for p in enc_ok)
print(f"capture: {len(allp)} packets, {len(client)} client frames to the VIP, {len(encap)} IPIP "
      f"({len(enc_ok)} well-formed to a backend, {matched} carrying a captured client frame byte for byte); "
      f"backends {sorted({p[IP].dst for p in enc_ok})}")
# dpdk-dumpcap stops at the end of the burst that reaches -c
check(len(allp) >= 2000, f"the capture holds the 2000 packets asked for ({len(allp)})")
check(len(client) > 0, f"client frames to the VIP found, payload intact ({len(client)})")
check(len(enc_ok) > 0 and len(enc_ok) == len(encap), f"every IPIP frame goes from 198.18.0.1 to a backend with a client frame inside ({len(enc_ok)}/{len(encap)})")
check({p[IP].dst for p in enc_ok} == BACKENDS, "both backends appear")
check(matched > 0, f"IPIP frames whose inner packet is a captured client frame byte for byte ({matched})")
check(len(client) + len(encap) == len(allp), "nothing else was captured")

filt = rdpcap(sys.argv[2])
check(len(filt) >= 300 and all(IP in p and p[IP].proto == 4 for p in filt),
      f"the filtered capture holds 300 packets, all IPIP ({len(filt)}, "
      f"{sum(IP in p and p[IP].proto == 4 for p in filt)} IPIP)")
sys.exit(0 if ok else 1)
EOF

# sy-pktgen done sending: it lingers until the dataplane leaves the port
# (memif_lib.sh), so the dataplane stops first, once its counters are read
sy_wait 30 grep -q "^sy-pktgen: idle" "$WORK/pktgen.log" || sy_fail "sy-pktgen did not finish sending"
drops=$(memif_drops)
[ "$drops" = none ] && sy_pass "no drop counter moved (drop_tx_full aside: the generator's ring)" ||
	sy_fail "drops: $drops"
memif_stop_dataplane
wait "$GEN_PID"
gen_rc=$?
grep -E "^RESULT|average" "$WORK/pktgen.log"
rxg=$(sed -n 's/^RESULT .*rx_mpps=\([0-9.]*\).*/\1/p' "$WORK/pktgen.log")
[ $gen_rc -eq 0 ] && python3 -c "import sys; sys.exit(not float('${rxg:-0}') > 0)" &&
	sy_pass "sy-pktgen got its frames back through the capture (rx ${rxg} Mpps)" ||
	sy_fail "sy-pktgen exit $gen_rc, rx ${rxg:-?} Mpps"
verdict
