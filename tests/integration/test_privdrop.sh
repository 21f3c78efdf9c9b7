#!/bin/bash
# sy-control --user: after setup the daemon runs as an unprivileged user with
# only the capabilities it still needs, and still does its work.
#   1. XDP dataplane on a veth in a namespace this test creates, --user nobody:
#      uid/gid are nobody's, the effective/permitted capabilities are exactly
#      CAP_BPF, no way back to root (NoNewPrivs)
#   2. it still publishes: a backend added through the API reaches the XDP
#      maps (a new table is a new BPF map: CAP_BPF suffices)
#   3. SIGTERM still detaches the program and removes its pins
#   4. DPDK mode: no capabilities at all
#   5. --user root and an unknown user are refused, nothing left behind
#
# usage: test_privdrop.sh BUILD_DIR
set -u
BUILD=$(realpath "$1")
HERE=$(dirname "$(realpath "$0")")
. "$HERE/netns_lib.sh"
[ "$(id -u)" -eq 0 ] || { echo "FAIL: needs root (namespaces, XDP, setuid)"; exit 1; }
id nobody >/dev/null 2>&1 || { echo "FAIL: no user 'nobody' on this machine"; exit 1; }
BPFTOOL=$(command -v bpftool || echo /usr/sbin/bpftool)

P=syp$$
INST=privtest$$
W=$(mktemp -d /tmp/sy-priv-XXXXXX)
chmod 755 "$W" # the config must stay readable by the daemon's user (reload)
# `ip netns exec` gives the daemon its own /sys (and /sys/fs/bpf): pin on a
# bpffs of ours instead, which this shell sees too
mkdir "$W/bpffs" && mount -t bpf bpf "$W/bpffs" || { echo "FAIL: cannot mount a bpffs"; exit 1; }
PINS=$W/bpffs/switchyard/$INST
trap 'sy_cleanup; umount "$W/bpffs" 2>/dev/null; rm -rf "$W"' EXIT
SOCK=$W/run/api.sock # a directory sy-control makes for its user
ctl() { "$BUILD/control/syctl" --socket "$SOCK" "$@"; }

cat >"$W/sw.yaml" <<EOF
instance: $INST
region: $W/region
state_file: $W/state/sy.state
limits: { lcores: 4, services: 16, backends: 256, heap_mb: 16 }
api:
  socket: $SOCK
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
EOF
chmod 644 "$W/sw.yaml"

sy_ns ${P}a || exit 1
ip -n ${P}a link add veth0 type veth peer name veth1 || exit 1
ip -n ${P}a link set veth0 up && ip -n ${P}a link set veth1 up

status_field() { awk -v f="$2:" '$1 == f {print $2}' /proc/$1/status; }

# ---- 1. XDP mode as nobody ------------------------------------------------------
ip netns exec ${P}a "$BUILD/control/sy-control" --config "$W/sw.yaml" --dataplane xdp \
	--iface veth0 --xdp-bpffs "$W/bpffs" --user nobody >"$W/log" 2>&1 &
PID=$!
SY_PIDS+=($PID)
sy_wait 10 test -S "$SOCK" || { cat "$W/log"; echo "FAIL: sy-control did not start"; exit 1; }
NOBODY=$(id -u nobody)
[ "$(status_field $PID Uid)" = "$NOBODY" ] && [ "$(status_field $PID Gid)" = "$(id -g nobody)" ] &&
	sy_pass "runs as nobody (uid $NOBODY)" || sy_fail "uid $(status_field $PID Uid), gid $(status_field $PID Gid)"
# CAP_BPF is bit 39
CAPEFF=$(status_field $PID CapEff) CAPPRM=$(status_field $PID CapPrm)
[ "$CAPEFF" = 0000008000000000 ] && [ "$CAPPRM" = 0000008000000000 ] &&
	sy_pass "capabilities: CAP_BPF only (CapEff $CAPEFF)" || sy_fail "CapEff $CAPEFF CapPrm $CAPPRM"
[ "$(status_field $PID NoNewPrivs)" = 1 ] && sy_pass "NoNewPrivs set" || sy_fail "NoNewPrivs not set"
# every thread, not only the main one
bad=0
for t in /proc/$PID/task/*; do
	[ "$(awk '$1 == "CapEff:" {print $2}' $t/status)" = 0000008000000000 ] || bad=1
done
[ $bad = 0 ] && sy_pass "every thread has the reduced set" || sy_fail "a thread kept other capabilities"
sy_rel privdrop_xdp "sy-control --user nobody --dataplane xdp" "-" \
	"$([ "$(status_field $PID Uid)" = "$NOBODY" ] && [ "$CAPEFF" = 0000008000000000 ] && [ "$CAPPRM" = 0000008000000000 ] && [ $bad = 0 ] && [ "$(status_field $PID NoNewPrivs)" = 1 ] && echo PASS || echo FAIL)" \
	"uid $(status_field $PID Uid); CapEff $CAPEFF CapPrm $CAPPRM (CAP_BPF only) in every thread: $([ $bad = 0 ] && echo yes || echo no); NoNewPrivs $(status_field $PID NoNewPrivs)"
ip -n ${P}a link show veth0 | grep -q "prog/xdp" && sy_pass "XDP program attached before the drop" ||
	sy_fail "no XDP program on veth0"

# ---- 2. still publishes into the XDP maps ---------------------------------------
n_backends() { "$BPFTOOL" -j map dump pinned $PINS/sy_backends 2>/dev/null | grep -o '"key"' | wc -l; }
before=$(n_backends)
ctl add web 198.18.0.12:80 1 02:00:00:00:00:fe >/dev/null
sy_wait 5 bash -c "[ \$(\"$BPFTOOL\" -j map dump pinned $PINS/sy_backends 2>/dev/null | grep -o '\"key\"' | wc -l) -gt $before ]" &&
	sy_pass "a backend added after the drop reached the XDP maps ($before -> $(n_backends) keys)" ||
	{ sy_fail "the XDP maps did not change after the drop"; tail -5 "$W/log"; }
ctl --json services | grep -q '"backends": 2' && sy_pass "published: 2 backends" || sy_fail "not published"
grep -q "XDP maps not updated" "$W/log" && sy_fail "a sync failed: $(grep 'XDP maps' "$W/log" | tail -1)"

# ---- 3. SIGTERM detaches --------------------------------------------------------
kill -TERM $PID
wait $PID
rc=$?
[ $rc = 0 ] && sy_pass "clean exit" || sy_fail "exit code $rc"
ip -n ${P}a link show veth0 | grep -q "prog/xdp" && sy_fail "program still attached after SIGTERM" ||
	sy_pass "program detached"
# (the emptied directory may stay: its parent is root's)
[ -z "$(ls -A "$PINS" 2>/dev/null)" ] && sy_pass "pins removed by the unprivileged daemon" ||
	sy_fail "pins left in $PINS: $(ls "$PINS")"

# ---- 4. DPDK mode: nothing kept -------------------------------------------------
rm -rf "$W/region" "$W/run"
"$BUILD/control/sy-control" --config "$W/sw.yaml" --user nobody >"$W/log2" 2>&1 &
PID=$!
SY_PIDS+=($PID)
sy_wait 10 test -S "$SOCK" || { cat "$W/log2"; sy_fail "sy-control (dpdk mode) did not start"; }
CAPEFF=$(status_field $PID CapEff)
[ "$CAPEFF" = 0000000000000000 ] && [ "$(status_field $PID Uid)" = "$NOBODY" ] &&
	sy_pass "dpdk mode: no capabilities" || sy_fail "dpdk mode: CapEff $CAPEFF"
sy_rel privdrop_dpdk "sy-control --user nobody (DPDK mode)" "-" \
	"$([ "$CAPEFF" = 0000000000000000 ] && [ "$(status_field $PID Uid)" = "$NOBODY" ] && echo PASS || echo FAIL)" "uid $(status_field $PID Uid); CapEff $CAPEFF"
ctl reload >/dev/null && sy_pass "reload works as nobody" || sy_fail "reload refused as nobody"
kill -TERM $PID
wait $PID

# ---- 5. refused users: before anything is set up (the start's own checks,
# as --check runs them: exit 2) ----------------------------------------------
for u in root no-such-user-$$; do
	rm -rf "$W/run"
	ip netns exec ${P}a "$BUILD/control/sy-control" --config "$W/sw.yaml" --dataplane xdp \
		--iface veth0 --xdp-bpffs "$W/bpffs" --user $u >"$W/log3" 2>&1
	rc=$?
	if [ $rc = 2 ] && grep -q -- "--user $u" "$W/log3" && ! ip -n ${P}a link show veth0 | grep -q prog/xdp &&
		[ -z "$(ls -A "$PINS" 2>/dev/null)" ]; then
		sy_pass "--user $u refused (exit 2, nothing left attached)"
	else
		sy_fail "--user $u: exit $rc: $(tail -1 "$W/log3")"
	fi
done

[ "$SY_FAILED" = 0 ] || { echo "FAIL: test_privdrop"; exit 1; }
echo "PASS: test_privdrop"
