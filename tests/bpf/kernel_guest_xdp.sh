#!/bin/sh
# Run by busybox sh inside test_bpf_on_kernel.sh's guest (Debian 12's
# kernel): the XDP mode end to end, which the BPF_PROG_TEST_RUN tests do
# not reach. sy-control loads the balancer, attaches it to veth0 (native
# XDP), pins and fills its maps and answers a lookup from them; a client
# segment sent into veth1 (frame_exchange) comes back out of veth0 (XDP_TX)
# encapsulated to the backend the lookup named; with that backend drained,
# the flow's next segment still goes to it and a new flow to the other;
# sy-decap on veth1 then gives back the inner packet byte for byte;
# sy-control detaches on SIGTERM, sy-decap on detach. PASS/FAIL lines; exit
# status 1 on any FAIL.
#
# usage: kernel_guest_xdp.sh BUILD_DIR IP   (IP: iproute2's ip, copied into
# the guest with its libraries; the guest has veth.ko at /veth.ko)
B=$1
IP=$2
ip() { "$IP" "$@"; }
rc=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; rc=1; }
# wait_for N CMD...: CMD true within N seconds (emulated: everything is slow)
wait_for() {
	n=$(($1 * 10))
	shift
	while [ $n -gt 0 ]; do
		"$@" && return 0
		sleep 0.1
		n=$((n - 1))
	done
	return 1
}
has_xdp() { ip link show "$1" | grep -q "prog/xdp"; }

insmod /veth.ko || { echo "FAIL: insmod veth.ko"; exit 1; }
# veth0's address is where frame_exchange sends (tests/common/flows.c)
ip link add veth0 type veth peer name veth1 && ip link set veth0 address 02:00:00:00:00:01 &&
	ip link set veth0 up && ip link set veth1 up ||
	{ echo "FAIL: no veth pair"; exit 1; }
cat >/tmp/sw.yaml <<YAML
instance: kernel
region: /tmp/region
state_file: /tmp/region.state
limits: { lcores: 4, services: 16, backends: 256, heap_mb: 16 }
api:
  socket: /tmp/api.sock
defaults:
  encap_source4: 198.18.0.1
  table_size: 251
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
YAML
ctl() { "$B/control/syctl" --socket /tmp/api.sock "$@"; }
"$B/control/sy-control" --config /tmp/sw.yaml --dataplane xdp --iface veth0 \
	--xdp-bpffs /sys/fs/bpf >/tmp/control.log 2>&1 &
pid=$!
if wait_for 120 test -S /tmp/api.sock && wait_for 60 has_xdp veth0; then
	pass "sy-control attached the XDP balancer to veth0 (native)"
else
	fail "sy-control did not attach: $(tail -5 /tmp/control.log)"
fi
ctl --json status | grep -q '"dataplane": "xdp"' && pass "syctl status: dataplane xdp" ||
	fail "syctl status: $(ctl --json status 2>&1 | grep dataplane)"
# the flow's lookup, kept in /tmp/lookup: its backend once the maps are filled
looked_up() {
	ctl --json lookup web 198.18.0.2:1234 198.18.1.1:80 tcp >/tmp/lookup 2>&1 &&
		grep -q '"backend": "198.18.0.1[12]:80"' /tmp/lookup
}
BE=
wait_for 30 looked_up && grep -q '"answered_by": "xdp"' /tmp/lookup &&
	BE=$(sed -n 's/.*"backend": "\(198[0-9.]*\):80".*/\1/p' /tmp/lookup)
[ -n "$BE" ] && pass "syctl lookup answered from the program's maps (backend $BE:80)" ||
	fail "syctl lookup: $(tr '\n' ' ' </tmp/lookup)"

# Traffic. veth0's XDP_TX reaches veth1 only through an XDP program there:
# first sy-decap for an address no backend has, which passes the tunnel
# as it came, then for the backend, which strips it.
decap() { "$B/bpf/sy-decap" "$@" >>/tmp/decap.log 2>&1; }
# send FLAGS [CLIENT]: a segment of the flow (or of CLIENT's) into veth1,
# what came back (20 s: emulated). Sent from CPU 0: a veth runs the peer's
# XDP on the sender's CPU, and each CPU has its own connection table (as
# under a NIC's RSS, which keeps a flow on one; docs/xdp.md "Connection
# tracking" says what a flow that changes CPU gets)
send() {
	taskset 1 "$B/tests/bpf/frame_exchange" veth1 "${2:-198.18.0.2:1234}" 198.18.1.1:80 "$1" 20000 2>&1
}
tunnel() { echo "ipip 198.18.0.1 > $1 mac 02:00:00:00:00:fe inner same"; }
decap attach veth1 --mode native --allow-dst 198.18.0.99 && has_xdp veth1 ||
	fail "sy-decap attach (pass-through): $(tail -3 /tmp/decap.log)"
got=$(send S)
[ "$got" = "$(tunnel $BE)" ] && pass "the SYN came back encapsulated to the backend: $got" ||
	fail "the SYN: '$got', want '$(tunnel $BE)'"
# Drained, the backend keeps its flows and gets no new one: the flow's ACK
# follows it only if the program tracked the flow. NEW, a flow Maglev gives
# the same backend, says when the new table is in the maps: it moves.
[ "$BE" = 198.18.0.11 ] && OTHER=198.18.0.12 || OTHER=198.18.0.11
new_goes_to() { ctl lookup web "$NEW" 198.18.1.1:80 tcp 2>&1 | grep -q "$1:80"; }
NEW=
for c in 3 4 5 6 7 8 9 10 11 12 13 14 15 16; do
	NEW=198.18.0.$c:2345
	new_goes_to "$BE" && break
	NEW=
done
[ -n "$NEW" ] || fail "none of 14 new flows' lookups gave $BE"
ctl drain web "$BE:80" >/tmp/drain.log 2>&1 || fail "syctl drain: $(cat /tmp/drain.log)"
wait_for 30 new_goes_to "$OTHER" ||
	fail "$NEW's lookup after the drain: $(ctl lookup web "$NEW" 198.18.1.1:80 tcp 2>&1 | tr '\n' ' ')"
got=$(send A)
[ "$got" = "$(tunnel $BE)" ] && pass "the flow's ACK stayed with the drained backend (tracked): $got" ||
	fail "the ACK: '$got', want '$(tunnel $BE)'"
got=$(send S "$NEW")
[ "$got" = "$(tunnel $OTHER)" ] && pass "a new flow went to the other backend: $got" ||
	fail "the new flow's SYN: '$got', want '$(tunnel $OTHER)'"
decap detach veth1 && decap attach veth1 --mode native --allow-dst "$BE" && has_xdp veth1 &&
	pass "sy-decap attached to veth1 (native) for $BE" || fail "sy-decap attach: $(tail -3 /tmp/decap.log)"
INNER="ipv4 198.18.0.2 > 198.18.1.1 proto 6 mac 02:00:00:00:00:fe same"
got=$(send A)
[ "$got" = "$INNER" ] && pass "sy-decap gave back the client's packet intact: $got" ||
	fail "decapsulated: '$got', want '$INNER'"

kill -TERM $pid
wait $pid
has_xdp veth0 && fail "the balancer left attached after SIGTERM" || pass "detached on SIGTERM"
decap detach veth1 && ! has_xdp veth1 && pass "sy-decap detached" ||
	fail "sy-decap detach: $(tail -3 /tmp/decap.log)"
exit $rc
