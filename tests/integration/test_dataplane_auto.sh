#!/bin/bash
# sy-control's dataplane selection and the XDP program's lifetime:
# --dataplane auto is DPDK when a sy-dataplane serves the region, else XDP on
# --iface, and it says which (log line and /v1/status).
#   1. no sy-dataplane: after --dpdk-wait it attaches XDP on the veth
#   2. a sy-dataplane (net_null port, no hugepages) attached to the region:
#      it loads nothing, the interface keeps no XDP program
#   1b. --xdp-mode generic attaches in the generic (skb) path
#   1c. --xdp-stay: SIGTERM leaves the program attached and pinned; the next
#       sy-control adopts it with its connection tables (one per CPU,
#       --xdp-ct-flows / 8 sets of 8 ways each); pins of an earlier layout
#       (the shared LRU_PERCPU_HASH conntrack, a shorter sy_config, no
#       sy_frag) are replaced (sy_frag created), said in the log, without
#       detaching; a pinned link detached by hand (bpftool) is `detached`,
#       and a restart attaches the program again; the per-CPU LRU hashes of f5f4934 and before: their 100
#       tracked flows migrated into the new tables (syctl lookup: conntrack);
#       --xdp-detach removes it
#   3. bad flag values are refused with exit 2
#
# usage: test_dataplane_auto.sh BUILD_DIR
set -u
BUILD=$(realpath "$1")
HERE=$(dirname "$(realpath "$0")")
. "$HERE/netns_lib.sh"
[ "$(id -u)" -eq 0 ] || { echo "FAIL: needs root (namespaces, XDP, DPDK)"; exit 1; }

P=sya$$
INST=autotest$$
W=$(mktemp -d /tmp/sy-auto-XXXXXX)
mkdir "$W/bpffs" && mount -t bpf bpf "$W/bpffs" || { echo "FAIL: cannot mount a bpffs"; exit 1; }
trap 'sy_cleanup; umount "$W/bpffs" 2>/dev/null; rm -rf "$W" /var/run/dpdk/$P' EXIT
SOCK=$W/api.sock
ctl() { "$BUILD/control/syctl" --socket "$SOCK" "$@"; }
cat >"$W/sw.yaml" <<EOF
instance: $INST
region: $W/region
state_file: $W/region.state
limits: { lcores: 4, services: 16, backends: 256, heap_mb: 16 }
api:
  socket: $SOCK
defaults:
  encap_source4: 198.18.0.1
  table_size: 251
services:
$(sy_static_service web 198.18.1.1 80 198.18.0.11)
EOF
sy_ns ${P}a || exit 1
ip -n ${P}a link add veth0 type veth peer name veth1 || exit 1
ip -n ${P}a link set veth0 up && ip -n ${P}a link set veth1 up
has_xdp() { ip -n ${P}a link show veth0 | grep -q "prog/xdp"; }
start_control() {
	rm -f "$SOCK"
	ip netns exec ${P}a "$BUILD/control/sy-control" --config "$W/sw.yaml" --dataplane auto \
		--iface veth0 --dpdk-wait 2 --xdp-bpffs "$W/bpffs" >"$W/$1.log" 2>&1 &
	CONTROL=$!
	SY_PIDS+=($CONTROL)
	sy_wait 15 test -S "$SOCK" || { cat "$W/$1.log"; sy_fail "sy-control did not start"; }
}
stop_control() { kill -TERM $CONTROL; wait $CONTROL; }

# ---- 1. nothing else on the region: XDP -----------------------------------------
start_control auto1
grep -q 'dataplane: xdp on veth0' "$W/auto1.log" && has_xdp &&
	ctl --json status | grep -q '"dataplane": "xdp"' &&
	sy_pass "no sy-dataplane: xdp chosen, said in the log and the status" ||
	{ sy_fail "auto without DPDK"; cat "$W/auto1.log"; }
stop_control
has_xdp && sy_fail "XDP left attached after SIGTERM" || sy_pass "detached on stop"

# ---- 1b. generic XDP, when asked for explicitly ---------------------------------
rm -f "$SOCK"
ip netns exec ${P}a "$BUILD/control/sy-control" --config "$W/sw.yaml" --dataplane xdp \
	--iface veth0 --xdp-mode generic --xdp-bpffs "$W/bpffs" >"$W/generic.log" 2>&1 &
CONTROL=$!
SY_PIDS+=($CONTROL)
sy_wait 15 test -S "$SOCK" || { cat "$W/generic.log"; sy_fail "sy-control (generic) did not start"; }
ip -n ${P}a link show veth0 | grep -q "xdpgeneric" && grep -q "mode=generic" "$W/generic.log" &&
	sy_pass "--xdp-mode generic attaches in the generic path" || sy_fail "no generic XDP program"
stop_control
has_xdp || ip -n ${P}a link show veth0 | grep -q xdpgeneric && sy_fail "generic program left attached" ||
	sy_pass "generic program detached on stop"

# ---- 1c. --xdp-stay, adoption of the connection table, --xdp-detach ------------
BPFTOOL=$(command -v bpftool || echo /usr/sbin/bpftool)
PINS=$W/bpffs/switchyard/$INST
start_xdp() { # LOG [flags]
	local log=$1
	shift
	rm -f "$SOCK"
	ip netns exec ${P}a "$BUILD/control/sy-control" --config "$W/sw.yaml" --dataplane xdp \
		--iface veth0 --xdp-bpffs "$W/bpffs" "$@" >"$W/$log.log" 2>&1 &
	CONTROL=$!
	SY_PIDS+=($CONTROL)
	sy_wait 15 test -S "$SOCK" || { cat "$W/$log.log"; sy_fail "sy-control ($log) did not start"; }
}
# type and max_entries of a map: "array_of_maps 2"
map_shape() { "$BPFTOOL" -j map show "$@" | python3 -c '
import json, sys
m = json.load(sys.stdin)
print(m["type"], m["max_entries"])'; }
# a set of 512 bytes: way 0's deadline in the far future, then 0x11 bytes
CT_SET="ff ff ff ff ff ff ff 7f $(printf '11 %.0s' $(seq 504))"
start_xdp stay1 --xdp-stay --xdp-ct-flows 4096
NCPU=$(($(cut -d- -f2 /sys/devices/system/cpu/possible) + 1)) # possible CPUs, as libbpf counts them
[ "$(map_shape pinned "$PINS/sy_conntrack")" = "array $((NCPU * 512))" ] &&
	sy_pass "a connection table per CPU ($NCPU), --xdp-ct-flows 4096: 512 sets of 8 each" ||
	sy_fail "connection tables: $(map_shape pinned "$PINS/sy_conntrack")"
"$BPFTOOL" map update pinned "$PINS/sy_conntrack" key 7 0 0 0 value hex $CT_SET ||
	sy_fail "cannot seed conntrack"
PROG1=$(ip -n ${P}a -d link show veth0 | sed -n 's/.*prog\/xdp id \([0-9]*\).*/\1/p')
stop_control
has_xdp && [ -e "$PINS/link" ] && [ -e "$PINS/sy_conntrack" ] && grep -q "left attached" "$W/stay1.log" &&
	sy_pass "--xdp-stay: SIGTERM left the program attached (prog $PROG1) and pinned" ||
	sy_fail "--xdp-stay did not keep the program"
start_xdp stay2 --xdp-ct-flows 4096 --xdp-ct-guard-rate 777 --xdp-ct-guard-burst 99 \
	--xdp-ct-syn-only on
PROG2=$(ip -n ${P}a -d link show veth0 | sed -n 's/.*prog\/xdp id \([0-9]*\).*/\1/p')
# the new-flow guard's flags in sy_config (struct sy_xdp_config: ct_guard at
# byte 40: rate, burst, syn_only, 32-bit little-endian)
guard=$("$BPFTOOL" -j map lookup pinned "$PINS/sy_config" key 0 0 0 0 | python3 -c '
import json, sys
v = [int(b, 16) for b in json.load(sys.stdin)["value"]]
print(*(int.from_bytes(bytes(v[o:o + 4]), "little") for o in (40, 44, 48)))')
[ "$guard" = "777 99 1" ] &&
	sy_pass "--xdp-ct-guard-rate 777 --xdp-ct-guard-burst 99 --xdp-ct-syn-only on reach sy_config ($guard)" ||
	sy_fail "new-flow guard in sy_config: '$guard', not '777 99 1'"
grep -q "adopted=yes" "$W/stay2.log" && [ -n "$PROG2" ] && [ "$PROG2" != "$PROG1" ] &&
	sy_pass "restart adopted the pinned link and swapped its program in (prog $PROG1 -> $PROG2)" ||
	{ sy_fail "no adoption (prog $PROG1 -> $PROG2)"; cat "$W/stay2.log"; }
"$BPFTOOL" -j map lookup pinned "$PINS/sy_conntrack" key 7 0 0 0 2>/dev/null |
	grep -q '"value":\["0xff","0xff","0xff","0xff","0xff","0xff","0xff","0x7f","0x11","0x11"' &&
	sy_pass "the connection table survived the restart" || sy_fail "conntrack entry lost across the restart"
kill -TERM $CONTROL; wait $CONTROL # --xdp-stay again: the next step detaches it by hand
start_xdp stay3 --xdp-stay
stop_control
# pins of the layout before the per-CPU tables and the ICMP rate fields: the
# conntrack one shared LRU_PERCPU_HASH, sy_config 28 bytes; and, as every
# version before fragments followed their flow, no sy_frag
[ "$(map_shape pinned "$PINS/sy_frag")" = "lru_hash 16384" ] && sy_pass "sy_frag pinned (LRU hash, 16384 entries)" ||
	sy_fail "sy_frag pin: $(map_shape pinned "$PINS/sy_frag" 2>&1)"
rm "$PINS/sy_conntrack" "$PINS/sy_config" "$PINS/sy_frag"
"$BPFTOOL" map create "$PINS/sy_conntrack" type lru_percpu_hash key 40 value 16 entries 4096 \
	name sy_conntrack && "$BPFTOOL" map create "$PINS/sy_config" type array key 4 value 28 \
	entries 1 name sy_config || sy_fail "cannot pin maps of the old layout"
PROG3=$(ip -n ${P}a -d link show veth0 | sed -n 's/.*prog\/xdp id \([0-9]*\).*/\1/p')
start_xdp stay4 --xdp-stay
PROG4=$(ip -n ${P}a -d link show veth0 | sed -n 's/.*prog\/xdp id \([0-9]*\).*/\1/p')
grep -q 'pinned XDP maps of another layout.*maps="sy_conntrack sy_config"' "$W/stay4.log" &&
	grep -q "adopted=yes" "$W/stay4.log" && [ -n "$PROG4" ] && [ "$PROG4" != "$PROG3" ] &&
	[ "$(map_shape pinned "$PINS/sy_conntrack")" = "array $((NCPU * 32768))" ] &&
	[ "$(map_shape pinned "$PINS/sy_frag")" = "lru_hash 16384" ] &&
	sy_pass "old-layout pins replaced and said, sy_frag created, the program swapped in place (prog $PROG3 -> $PROG4)" ||
	{ sy_fail "old-layout pins (prog $PROG3 -> $PROG4)"; cat "$W/stay4.log"; }
# sy_config of 40 bytes, the layout before the new-flow guard was appended:
# replaced like any pin of another layout; the new program reads the
# guard's settings from its own
stop_control
rm "$PINS/sy_config"
"$BPFTOOL" map create "$PINS/sy_config" type array key 4 value 40 entries 1 name sy_config ||
	sy_fail "cannot pin a 40-byte sy_config"
start_xdp stay4b --xdp-stay --xdp-ct-guard-rate 333
rate=$("$BPFTOOL" -j map lookup pinned "$PINS/sy_config" key 0 0 0 0 | python3 -c '
import json, sys
v = [int(b, 16) for b in json.load(sys.stdin)["value"]]
print(len(v), int.from_bytes(bytes(v[40:44]), "little"))')
grep -q 'pinned XDP maps of another layout.*maps="sy_config"' "$W/stay4b.log" &&
	grep -q "adopted=yes" "$W/stay4b.log" && [ "$rate" = "56 333" ] &&
	sy_pass "a 40-byte sy_config pin (before the guard) replaced by the 56-byte one, guard rate 333 in it" ||
	{ sy_fail "40-byte sy_config pin: '$rate'"; cat "$W/stay4b.log"; }
# the pinned link detached behind sy-control's back (`bpftool link detach`;
# also what deleting and re-creating the interface leaves): `detached`; the
# pin stays, kept by --xdp-stay (or a crash), and names no interface. A
# restart attaches the program again in a new link, adopting the maps.
# Before the fix: "the XDP program pinned in DIR is attached to ?, not
# veth0: stop it first (sy-control --xdp-detach)", exit 1.
"$BPFTOOL" link detach pinned "$PINS/link" || sy_fail "bpftool link detach"
sy_wait 5 sh -c "'$BUILD/control/syctl' --socket '$SOCK' status | grep -q 'xdp detached'" &&
	sy_pass "link detached by hand: syctl status says detached" ||
	sy_fail "link detached by hand: $(ctl status | grep dataplane)"
stop_control
start_xdp stay5 --xdp-stay
sy_wait 5 has_xdp && grep -q "adopted=yes" "$W/stay5.log" &&
	grep -q "pinned XDP link was detached" "$W/stay5.log" && ctl status >/dev/null &&
	sy_pass "restarted over the detached link's pin: attached again, maps adopted, said" ||
	{ sy_fail "restart over a detached link's pin"; cat "$W/stay5.log"; }
stop_control
# the connection tables of f5f4934 and before: an array of maps, CPU -> LRU
# hash of struct sy_flow_key (40 bytes) -> backend ref, deadline (16). 100
# flows 198.18.2.1:(40000+i) -> 198.18.1.1:80 tcp on CPU i % NCPU, to the
# web backend (its uid, the key of sy_backends), live for ever. The new
# sy-control copies them into its tables (same CPU) before its program runs.
# Without the copy (sy_xdp_ct_migrate() not called):
#   FAIL: migration of f5f4934's tables: 0 of 100 tracked
UID_HEX=$("$BPFTOOL" -j map dump pinned "$PINS/sy_backends" | python3 -c '
import json, sys
print(" ".join(b[2:] for b in json.load(sys.stdin)[0]["key"]))')
rm "$PINS/sy_conntrack"
for c in $(seq 0 $((NCPU - 1))); do
	"$BPFTOOL" map create "$PINS/old_ct$c" type lru_hash key 40 value 16 entries 4096 name sy_ct_cpu$c ||
		sy_fail "cannot create the old layout's table of CPU $c"
done
"$BPFTOOL" map create "$PINS/sy_conntrack" type array_of_maps key 4 value 4 entries $NCPU \
	name sy_conntrack inner_map pinned "$PINS/old_ct0" || sy_fail "cannot create the old layout's sy_conntrack"
for c in $(seq 0 $((NCPU - 1))); do
	"$BPFTOOL" map update pinned "$PINS/sy_conntrack" key $c 0 0 0 value pinned "$PINS/old_ct$c" ||
		sy_fail "cannot install the old table of CPU $c"
done
Z12="0 0 0 0 0 0 0 0 0 0 0 0"
for i in $(seq 0 99); do
	p=$((40000 + i))
	"$BPFTOOL" map update pinned "$PINS/old_ct$((i % NCPU))" \
		key 198 18 2 1 $Z12 198 18 1 1 $Z12 $((p >> 8)) $((p & 255)) 0 80 6 4 0 0 \
		value hex $UID_HEX ff ff ff ff ff ff ff 7f || { sy_fail "cannot seed old flow $i"; break; }
done
rm "$PINS"/old_ct*
start_xdp stay6 --xdp-stay
# the first lookup with LeakSanitizer's check, the other 99 without it
# (sy_no_leak_check) and 4 at a time: one after the other they took ~4 s
# (more under the sanitizers)
mkdir -p "$W/lookups"
ctl lookup web 198.18.2.1:40000 198.18.1.1:80 tcp >"$W/lookups/0" 2>&1
for i in $(seq 1 99); do
	sy_batch 4 sy_no_leak_check ctl lookup web 198.18.2.1:$((40000 + i)) 198.18.1.1:80 tcp \
		>"$W/lookups/$i" 2>&1
done
sy_batch_wait
conntracked=$(grep -l "conntrack (xdp)" "$W"/lookups/* | wc -l)
grep -q 'earlier layout migrated.*live=100 kept=100' "$W/stay6.log" &&
	! grep -q 'maps=.*sy_conntrack' "$W/stay6.log" && [ $conntracked = 100 ] &&
	[ "$(map_shape pinned "$PINS/sy_conntrack")" = "array $((NCPU * 32768))" ] &&
	sy_pass "f5f4934's per-CPU LRU tables: 100 of 100 tracked flows migrated (syctl lookup: conntrack)" ||
	{ sy_fail "migration of f5f4934's tables: $conntracked of 100 tracked"; cat "$W/stay6.log"; }
stop_control
"$BUILD/control/sy-control" --config "$W/sw.yaml" --xdp-bpffs "$W/bpffs" --xdp-detach >"$W/detach.log" 2>&1
rc=$?
[ $rc = 0 ] && ! has_xdp && [ ! -e "$PINS" ] &&
	sy_pass "--xdp-detach removed the program left by --xdp-stay" ||
	sy_fail "--xdp-detach: exit $rc, $(cat "$W/detach.log")"
"$BUILD/control/sy-control" --config "$W/sw.yaml" --xdp-bpffs "$W/bpffs" --xdp-detach >"$W/detach.log" 2>&1
[ $? = 1 ] && grep -q "no XDP program" "$W/detach.log" && sy_pass "--xdp-detach with nothing pinned: exit 1, said" ||
	sy_fail "--xdp-detach with nothing pinned: $(cat "$W/detach.log")"

# ---- 2. a sy-dataplane serves the region: DPDK --------------------------------
"$BUILD/dataplane/sy-dataplane" -l 0 --no-huge -m 512 --no-pci --file-prefix $P \
	--vdev=net_null0 -- --region "$W/region" --exception-tap off --ct-size 4096 >"$W/dp.log" 2>&1 &
DP=$!
SY_PIDS+=($DP)
# it announces its pid in the region (telemetry) before it says it runs
sy_wait 20 grep -q "sy-dataplane running" "$W/dp.log" || { cat "$W/dp.log"; sy_fail "sy-dataplane did not start"; }
start_control auto2
grep -q "dataplane: dpdk (sy-dataplane pid $DP" "$W/auto2.log" && ! has_xdp &&
	ctl --json status | grep -q '"dataplane": "dpdk"' &&
	sy_pass "sy-dataplane pid $DP serves the region: dpdk chosen, no XDP loaded" ||
	{ sy_fail "auto with DPDK"; cat "$W/auto2.log"; }
stop_control
sy_stop_checked $DP sy-dataplane "$W/dp.log"

# ---- 3. bad values ------------------------------------------------------------------
for args in "--dataplane dpkd" "--dataplane xdp" "--xdp-mode fast --dataplane xdp --iface veth0" \
	"--dpdk-wait -1 --dataplane auto --iface veth0" "--xdp-ct-flows 10 --dataplane xdp --iface veth0" \
	"--xdp-icmp-rate 0 --dataplane xdp --iface veth0" "--xdp-icmp-burst x --dataplane xdp --iface veth0" \
	"--xdp-ct-guard-rate -1 --dataplane xdp --iface veth0" \
	"--xdp-ct-guard-burst 0 --dataplane xdp --iface veth0" \
	"--xdp-ct-syn-only yes --dataplane xdp --iface veth0" \
	"--xdp-bpffs relative --dataplane xdp --iface veth0"; do
	"$BUILD/control/sy-control" --config "$W/sw.yaml" $args >"$W/bad.log" 2>&1
	rc=$?
	[ $rc = 2 ] && [ -s "$W/bad.log" ] && sy_pass "refused ($args): $(head -1 "$W/bad.log")" ||
		sy_fail "($args): exit $rc"
done

[ "$SY_FAILED" = 0 ] || { echo "FAIL: test_dataplane_auto"; exit 1; }
echo "PASS: test_dataplane_auto"
