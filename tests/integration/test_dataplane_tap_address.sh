#!/bin/bash
# sy-dataplane --tap-address and --tap-route (dataplane/tap_config.c): the
# exception TAP gets its addresses, is set up and gets its routes from
# sy-dataplane itself, on every start. Before, an operator added them by
# hand (or by a hook of their own) and a restarted dataplane came back with
# a TAP without them: no heartbeats, no health checks, no BGP until someone
# added them again.
#
#   1. bad arguments are refused before anything starts, each with its
#      reason (exit 2, a usage error): no prefix length, not an address, a
#      prefix length too long for the family, a port that is not a number,
#      more than 32 in all, with --exception-tap off, a route without a
#      gateway, with a gateway that is not an address, of one family through
#      the other's gateway; and a port the dataplane has not, once its ports
#      are known (exit 1), before any TAP is made; a route the kernel
#      refuses (its gateway on none of the TAP's networks): exit 1 with the
#      kernel's reason
#   2. an IPv4 and an IPv6 address (the second as ADDR/LEN@0), an IPv4 route
#      and an IPv6 default route: sy0 has both addresses and is up, the
#      routes go through it, a log line each
#   3. kill -9 and start again with the same arguments: the new sy0 has them
#      again, nothing added by hand
#
# usage: test_dataplane_tap_address.sh BUILD_DIR
set -u
BUILD=$(realpath "$1")
HERE=$(dirname "$(realpath "$0")")
. "$HERE/netns_lib.sh"
trap sy_cleanup EXIT

ID=$$
P=syta$ID
REGION=/dev/shm/sy-tapaddr-$ID
WORK=$(mktemp -d /tmp/sy-tapaddr-XXXXXX)
SY_FILES+=("$REGION" "$WORK" "/var/run/dpdk/$P")

[ "$(id -u)" -eq 0 ] || { echo "FAIL: needs root (namespaces, DPDK)"; exit 1; }
sy_ns ${P}l || exit 1
cat >"$WORK/services" <<EOF
service web tcp 198.18.1.1 80 ipip m=251 seed=7 src4=198.18.0.1
backend web 198.18.0.11 80 02:00:00:00:00:0b
EOF
"$BUILD/tests/tools/sy-publish" --create "$REGION" "$WORK/services" >/dev/null || exit 1

DP_ARGS=(-l 0 --no-huge -m 256 --no-pci --file-prefix $P --vdev=net_null0 -- --region "$REGION")

# 1. bad arguments
refused() { # WHAT EXIT-STATUS EXPECTED-TEXT ARGS...
	local what=$1 want_rc=$2 want=$3 rc
	shift 3
	ip netns exec ${P}l timeout 60 "$BUILD/dataplane/sy-dataplane" "${DP_ARGS[@]}" "$@" \
		>"$WORK/bad.out" 2>&1
	rc=$?
	if [ $rc = "$want_rc" ] && grep -q -- "$want" "$WORK/bad.out"; then
		sy_pass "$what: exit $rc, $(grep -m1 -- "$want" "$WORK/bad.out")"
	else
		sy_fail "$what: exit $rc, $(grep -v '^EAL' "$WORK/bad.out" | head -3 | tr '\n' ' ')"
	fi
	ip netns exec ${P}l ip link show sy0 >/dev/null 2>&1 && sy_fail "$what: sy0 exists"
}
refused "no prefix length" 2 "'198.18.0.1' is not ADDRESS/PREFIX-LENGTH" --tap-address 198.18.0.1
refused "not an address" 2 "'300.1.1.1' is not an IPv4 or IPv6 address" --tap-address 300.1.1.1/24
refused "/33 for IPv4" 2 "'/33' is not a prefix length of an IPv4 address" --tap-address 198.18.0.1/33
refused "/129 for IPv6" 2 "'/129' is not a prefix length of an IPv6 address" --tap-address 2001:2::1/129
refused "a port not a number" 2 "'@x' is not a port number" --tap-address 198.18.0.1/24@x
too_many=()
for i in $(seq 17); do too_many+=(--tap-address 198.18.0.$i/24 --tap-route 198.19.$i.0/24,198.18.0.254); done
refused "34 addresses and routes" 2 "--tap-address and --tap-route: at most 32 in all" "${too_many[@]}"
refused "with --exception-tap off" 2 "there is no exception interface" \
	--exception-tap off --tap-address 198.18.0.1/24
refused "a route without a gateway" 2 "--tap-route: '198.19.0.0/16': DESTINATION/LENGTH,GATEWAY" \
	--tap-route 198.19.0.0/16
refused "a gateway not an address" 2 "gateway 'router' is not an IPv4 or IPv6 address" \
	--tap-route default,router
refused "an IPv6 route through an IPv4 gateway" 2 "an IPv6 destination through an IPv4 gateway" \
	--tap-route 2001:2:1::/48,198.18.0.254
refused "a port the dataplane has not" 1 "--tap-address 198.18.0.1/24@3: there is no port 3" \
	--tap-address 198.18.0.1/24@3
refused "a gateway on none of the TAP's networks" 1 \
	"sy0: adding route 198.19.0.0/16,198.19.5.5: Network is unreachable" \
	--tap-address 198.18.0.1/24 --tap-route 198.19.0.0/16,198.19.5.5

# 2. IPv4 and IPv6
LOG=$WORK/dataplane.log
start() {
	ip netns exec ${P}l "$BUILD/dataplane/sy-dataplane" "${DP_ARGS[@]}" --tap-address 198.18.0.1/24 \
		--tap-address 2001:2::1/64@0 --tap-route 198.19.0.0/16,198.18.0.254 \
		--tap-route default,2001:2::fe >>"$LOG" 2>&1 &
	DP=$!
	SY_PIDS+=($DP)
}
has_both() {
	local a
	a=$(ip -n ${P}l addr show dev sy0 up 2>/dev/null)
	grep -q ' 198.18.0.1/24 ' <<<"$a" && grep -q ' 2001:2::1/64 ' <<<"$a" || return 1
	[ "$(ip -n ${P}l -4 route show 198.19.0.0/16)" = "198.19.0.0/16 via 198.18.0.254 dev sy0 proto static " ] &&
		ip -n ${P}l -6 route show default | grep -q '^default via 2001:2::fe dev sy0 proto static '
}
expect_both() { # WHAT
	if sy_wait 60 has_both; then
		sy_pass "$1: sy0 up with $(ip -n ${P}l -br addr show dev sy0 | tr -s ' '); routes: $(ip -n ${P}l route show 198.19.0.0/16) / $(ip -n ${P}l -6 route show default)"
	else
		sy_fail "$1: sy0: $(ip -n ${P}l addr show dev sy0 2>&1 | tr -s ' \n' ' '); routes: $(ip -n ${P}l route; ip -n ${P}l -6 route)"
		tail -5 "$LOG"
	fi
}
start
expect_both "started with two addresses"
sy_wait 30 grep -q 'sy-dataplane running' "$LOG" || sy_fail "sy-dataplane never said it runs"
[ "$(grep -c 'msg="exception interface address" iface=sy0 address=' "$LOG")" = 2 ] &&
	grep -q 'msg="exception interface address" iface=sy0 address=2001:2::1/64@0' "$LOG" &&
	grep -q 'msg="exception interface route" iface=sy0 route=default,2001:2::fe$' "$LOG" &&
	sy_pass "logged: $(grep 'exception interface [ar]' "$LOG" | tr '\n' ' ')" ||
	sy_fail "log: $(grep 'exception interface' "$LOG" | tr '\n' ' ')"

# 3. killed and started again: the new TAP has them again
kill -9 $DP
wait $DP 2>/dev/null
sy_wait 10 bash -c "! ip -n ${P}l link show sy0 >/dev/null 2>&1" || sy_fail "sy0 outlived sy-dataplane"
start
expect_both "after kill -9 and a start with the same arguments"
sy_wait 30 eval "[ \$(grep -c 'sy-dataplane running' '$LOG') = 2 ]" || sy_fail "the second start never ran"
sy_stop_checked $DP sy-dataplane "$LOG"
echo "RESULT: $(sy_verdict)"
[ "$SY_FAILED" -eq 0 ]
