#!/bin/sh
# Run by busybox sh inside test_bpf_on_kernel.sh's guest (Debian 12's
# kernel): the XDP mode end to end as far as loading goes, which the
# BPF_PROG_TEST_RUN tests do not reach: sy-control loads the balancer,
# attaches it to a veth (native XDP), pins and fills its maps, answers a
# lookup from them and detaches on SIGTERM; sy-decap attaches and detaches
# the backends' program. PASS/FAIL lines; exit status 1 on any FAIL.
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
ip link add veth0 type veth peer name veth1 && ip link set veth0 up && ip link set veth1 up ||
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
		grep -q '198.18.0.11:80' /tmp/lookup
}
wait_for 30 looked_up && grep -q '"answered_by": "xdp"' /tmp/lookup &&
	pass "syctl lookup answered from the program's maps (backend 198.18.0.11:80)" ||
	fail "syctl lookup: $(tr '\n' ' ' </tmp/lookup)"
kill -TERM $pid
wait $pid
has_xdp veth0 && fail "the balancer left attached after SIGTERM" || pass "detached on SIGTERM"

"$B/bpf/sy-decap" attach veth1 --mode native >/tmp/decap.log 2>&1 && has_xdp veth1 &&
	pass "sy-decap attached to veth1 (native)" || fail "sy-decap attach: $(tail -3 /tmp/decap.log)"
"$B/bpf/sy-decap" detach veth1 >>/tmp/decap.log 2>&1 && ! has_xdp veth1 &&
	pass "sy-decap detached" || fail "sy-decap detach: $(tail -3 /tmp/decap.log)"
exit $rc
