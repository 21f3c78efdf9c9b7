#!/bin/bash
# Fragments through the XDP dataplane, live (issue 15): the kernel does not
# reassemble before XDP, so the balancer sees every fragment as sent. The
# namespace topology of the XDP tests (tests/integration/lb_topology.sh,
# DATAPLANE=xdp, native XDP on a veth) with a UDP service of 3 backends
# (ipip; the backends decapsulate with sy-decap and their kernel reassembles).
# The client's interface has an MTU of 1400, so that its fragments still fit
# the LB's 1500 once encapsulated. For 30 flows, the client sends a datagram
# of 100-300 bytes and then one of 3,000-8,000 bytes from the same socket
# (the kernel cuts it into 3-6 fragments). Checks:
#   - every datagram arrives once, whole (its SHA-256), and the large one of
#     each flow at the backend of its small one: the first fragment went as
#     its flow and the later ones followed it; more than one backend is used
#   - the program's counters: fragments = the fragments the client sent,
#     frag_followed = those after a first, frag_untracked = 0
#
# usage: test_xdp_fragments_live.sh BUILD_DIR
set -u
BUILD=$(realpath "$1")
HERE=$(dirname "$(realpath "$0")")
. "$HERE/netns_lib.sh"
P=syxf$$
NB=3
TTL=2
MODE=ipip
ALLOWED=198.18.0.8/29
DATAPLANE=xdp
FLOWS=30
UPORT=5353
TOPO_EXTRA_CONFIG="  - name: frag
    vip: 198.18.1.1
    port: $UPORT
    protocol: udp
    mode: ipip
    table_size: 65537
    source: static
    backends:
      - { address: 198.18.0.11, port: $UPORT }
      - { address: 198.18.0.12, port: $UPORT }
      - { address: 198.18.0.13, port: $UPORT }"
. "$HERE/lb_topology.sh"
trap 'topo_xdp_cleanup; sy_cleanup' EXIT

[ "$(id -u)" -eq 0 ] || { echo "FAIL: needs root (namespaces, XDP, bpffs)"; exit 1; }
PATH=$PATH:/usr/sbin:/sbin
for tool in python3 bpftool mountpoint; do
	command -v $tool >/dev/null || { echo "FAIL: $tool missing (scripts/install-deps.sh)"; exit 1; }
done
ctl() { "$BUILD/control/syctl" --socket "$WORK/api.sock" "$@"; }
counter() { ctl --json stats | python3 -c "import json,sys; print(json.load(sys.stdin)['counters'].get('$1', 0))"; }

sy_log "topology (ipip, XDP dataplane, UDP service on :$UPORT)"
topo_up || { tail -20 "$WORK/control.log" 2>/dev/null; echo "FAIL: setup"; exit 1; }
sy_wait 10 bash -c "'$BUILD/control/syctl' --socket '$WORK/api.sock' table frag | grep -c '198.18.0.1[123]:$UPORT' | grep -qx 3" ||
	{ ctl table frag; echo "FAIL: the UDP service's 3 backends are not published"; exit 1; }
ip -n ${P}c link set eth0 mtu 1400

for i in $(seq $NB); do
	ip netns exec ${P}b$i python3 "$HERE/udp_datagrams.py" recv $VIP $UPORT 30 "$WORK/recv$i" &
	SY_PIDS+=($!)
done
sleep 0.5 # the receivers bind
F0=$(counter fragments) U0=$(counter frag_untracked) L0=$(counter frag_followed)
ip netns exec ${P}c python3 "$HERE/udp_datagrams.py" send $VIP $UPORT $CLIENT 41000 $FLOWS 15 "$WORK/sent" ||
	{ echo "FAIL: cannot send"; exit 1; }
total() { cat "$WORK"/recv[1-9] 2>/dev/null | wc -l; }
sy_wait 10 bash -c "[ \$(cat '$WORK'/recv[1-9] 2>/dev/null | wc -l) -ge $((2 * FLOWS)) ]" ||
	sy_fail "$(total) of $((2 * FLOWS)) datagrams arrived"
sleep 0.3 # anything arriving twice would be here by now

python3 - "$WORK" $NB <<'PY' || SY_FAILED=1
import sys
work, nb = sys.argv[1], int(sys.argv[2])
sent = [l.split() for l in open(work + "/sent")]
got = {}
for i in range(1, nb + 1):
    try:
        for l in open("%s/recv%d" % (work, i)):
            sport, size, sha = l.split()
            got.setdefault((sport, size, sha), []).append(i)
    except FileNotFoundError:
        pass
flows, bad, big = {}, 0, []
for sport, size, sha in sent:
    where = got.get((sport, size, sha), [])
    if len(where) != 1:
        print("  datagram %s bytes from port %s: received %d times" % (size, sport, len(where)))
        bad += 1
        continue
    flows.setdefault(sport, []).append(where[0])
    if int(size) >= 3000:
        big.append(int(size))
split = [s for s, w in flows.items() if len(w) == 2 and w[0] != w[1]]
for s in split[:5]:
    print("  flow from port %s: small datagram at backend %d, large at %d" % (s, *flows[s]))
used = {w[0] for w in flows.values()}
ok = not bad and not split and len(used) > 1 and len(flows) == len(sent) // 2
print("%s: %d flows, large datagrams of %d..%d bytes: %d received once and intact, %d at "
      "another backend than their flow's small one; backends used: %d"
      % ("PASS" if ok else "FAIL", len(flows), min(big or [0]), max(big or [0]),
         len(sent) - bad, len(split), len(used)))
sys.exit(0 if ok else 1)
PY

# fragments sent: each large datagram (UDP header + payload) in pieces of
# (1400 - 20) & ~7 = 1376 bytes
NF=$(awk '$2 >= 3000 { n += int(($2 + 8 + 1375) / 1376) } END { print n }' "$WORK/sent")
F=$(($(counter fragments) - F0)) U=$(($(counter frag_untracked) - U0)) L=$(($(counter frag_followed) - L0))
[ "$F" -eq "$NF" ] && sy_pass "fragments = $F: every fragment the client sent" || sy_fail "fragments = $F, want $NF"
[ "$L" -eq $((NF - FLOWS)) ] && sy_pass "frag_followed = $L: every fragment after a first" ||
	sy_fail "frag_followed = $L, want $((NF - FLOWS))"
[ "$U" -eq 0 ] && sy_pass "frag_untracked = 0" || sy_fail "frag_untracked = $U, want 0"

topo_finish # sy-dataplane and sy-control must stop cleanly (exit 0)
[ $SY_FAILED -eq 0 ] && echo "RESULT: PASS" || echo "RESULT: FAIL"
exit $SY_FAILED
