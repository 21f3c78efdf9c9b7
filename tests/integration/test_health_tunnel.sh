#!/bin/bash
# Health checks through the tunnel (issue 15 point 5; control/daemon/health_tunnel.h),
# on lb_topology.sh's XDP variant (sy-control alone in the LB namespace) with
# two backends that decapsulate with sy-decap and hold the VIPs on loopback.
# Two static services on the same two backends:
#   tun    check { type: tcp, through: tunnel }: a SYN to the VIP,
#          encapsulated in MODE (ipip or gue), answered by the VIP
#   plain  check { type: tcp }: a connect to the backend's own address
# Checks:
#   1. both backends up in both services
#   2. backend 1's decapsulation removed (sy-decap detach): tun marks it
#      unhealthy (its traffic would be lost), plain keeps it up (its
#      address still answers); backend 2 stays up in both
#   3. decapsulation back: tun marks backend 1 up again
#   4. the configuration refuses through: tunnel where it cannot work
#      (an http check, an l2dsr service)
# On the XDP variant, an IPv6 service too (tun6: VIP 2001:2::1:2 on
# backends 2001:2::11 and ::12, IPv6 in IPv6 or gue over IPv6), checked
# through the tunnel in steps 1-3 beside tun (the DPDK variant's LB keeps
# IPv6 off its link).
#
# usage: test_health_tunnel.sh BUILD_DIR ipip|gue [xdp|dpdk]
set -u
BUILD=$(realpath "$1")
MODE=$2
HERE=$(dirname "$(realpath "$0")")
. "$HERE/netns_lib.sh"
P=syht$$
NB=2
DATAPLANE=${3:-xdp} # xdp or dpdk (sy-dataplane on net_af_packet, the kernel behind its TAP)
TUN_VIP=198.18.1.2
PLAIN_VIP=198.18.1.3
# static_service NAME VIP CHECK-OPTIONS: a service on backends 1 and 2.
# Its checks time out at 500 ms, twice in a row to fail: a loaded machine
# does not fail a backend that answers (150 ms did, in principle), and a
# backend that stops answering is down within ~1.5 s. No hold-down: a
# backend is up at its first passing check (in the DPDK variant the checks
# are not sent until the dataplane's TAP exists, and the first ones sent may
# time out until the route below and the neighbours through it are there;
# with the default 5 s hold-down such a failure held the backends down into
# step 2).
HEALTH='    health:\n      hold_down_s: 0\n'
static_service() {
	printf '  - name: %s\n    vip: %s\n    port: 80\n    protocol: tcp\n    mode: %s\n' "$1" "$2" "$MODE"
	printf '    table_size: 251\n    source: static\n    backends:\n'
	printf '      - { address: 198.18.0.11, port: 80 }\n      - { address: 198.18.0.12, port: 80 }\n'
	printf "$HEALTH"'      check: { type: tcp, %sinterval_ms: 500, timeout_ms: 500, rise: 1, fall: 2 }\n' "$3"
}
TUN6_VIP=2001:2::1:2
V6=0
[ "$DATAPLANE" = xdp ] && V6=1
static_service6() { # tun6 through the tunnel, from the LB's IPv6 address
	printf '  - name: tun6\n    vip: %s\n    port: 80\n    protocol: tcp\n    mode: %s\n' $TUN6_VIP "$MODE"
	printf '    encap_source6: 2001:2::1\n    table_size: 251\n    source: static\n    backends:\n'
	printf '      - { address: "2001:2::11", port: 80 }\n      - { address: "2001:2::12", port: 80 }\n'
	printf "$HEALTH"'      check: { type: tcp, through: tunnel, interval_ms: 500, timeout_ms: 500, rise: 1, fall: 2 }\n'
}
TOPO_EXTRA_CONFIG="$(static_service tun $TUN_VIP "through: tunnel, ")
$(static_service plain $PLAIN_VIP "")"
[ $V6 = 1 ] && TOPO_EXTRA_CONFIG="$TOPO_EXTRA_CONFIG
$(static_service6)"
. "$HERE/lb_topology.sh"
trap 'topo_xdp_cleanup; sy_cleanup' EXIT

sy_require "namespaces, XDP, raw sockets" control/sy-control control/syctl bpf/sy-decap
case $MODE in ipip | gue) ;; *) echo "FAIL: mode $MODE (ipip or gue)"; exit 1 ;; esac

# the backends hold the services' VIPs as they hold web's
topo_before_control() {
	local i
	for i in $(seq $NB); do
		ip -n ${P}b$i addr add $TUN_VIP/32 dev lo && ip -n ${P}b$i addr add $PLAIN_VIP/32 dev lo ||
			return 1
	done
	[ $V6 = 1 ] || return 0
	# IPv6: the LB's address (the outer and inner source), the backends'
	# and the VIP on their loopback, a server on the VIP
	ip netns exec ${P}l sysctl -qw net.ipv6.conf.eth0.disable_ipv6=0 &&
		ip -n ${P}l addr add 2001:2::1/64 dev eth0 nodad || return 1
	for i in $(seq $NB); do
		ip -n ${P}b$i addr add 2001:2::1$i/64 dev eth0 nodad &&
			ip -n ${P}b$i addr add $TUN6_VIP/128 dev lo || return 1
		ip netns exec ${P}b$i python3 -m http.server 80 --bind $TUN6_VIP --directory /tmp \
			>/dev/null 2>&1 &
		SY_PIDS+=($!)
	done
}
topo_up || { sy_fail "topology"; cat "$WORK/control.log" 2>/dev/null; exit 1; }
# The answers come from the VIPs. The DPDK variant's LB kernel filters by
# strict reverse path (sy_lb_tap_only) and has no route but the backends'
# subnet: a gateway host's default route towards its uplink is what lets
# them in; this is that route (docs/control.md, "Checks through the tunnel")
[ "$DATAPLANE" = dpdk ] && ip -n ${P}l route add 198.18.1.0/24 dev sy0

# state of backend ADDR in service SVC (the STATE column of syctl backends)
state() { sy_ctl backends "$1" | awk -v a="$2:80" '$1 == a { print $4 }'; }
is_state() { [ "$(state "$1" "$2")" = "$3" ]; }
expect_state() { # WITHIN_S SVC ADDR STATE WHAT
	local t0=$EPOCHREALTIME
	if sy_wait "$1" is_state "$2" "$3" "$4"; then
		sy_pass "$5: $2 $3 $4 (after $(sy_ms_since "$t0") ms)"
	else
		sy_fail "$5: $2 $3 is '$(state "$2" "$3")', not $4"
		tail -5 "$WORK/control.log"
	fi
}
stays_state() { # SECONDS SVC ADDR STATE WHAT: in that state at every sample
	local end=$((SECONDS + $1)) bad=0 n=0 st
	while [ $SECONDS -lt $end ]; do
		st=$(state "$2" "$3")
		n=$((n + 1))
		[ "$st" = "$4" ] || bad=$((bad + 1))
		sleep 0.2
	done
	[ $bad -eq 0 ] && sy_pass "$5: $2 $3 stayed $4 ($n samples)" ||
		sy_fail "$5: $2 $3 not $4 in $bad of $n samples"
}

# 1. everything up, by a passing check: a backend is up from the start,
# before its first check
checked_up() { # SVC ADDR: up, and its last check passed
	sy_ctl --json backends "$1" | python3 -c 'import json, sys
a = sys.argv[1].strip("[]")
sys.exit(not any(b["address"] == a and b["state"] == "up" and (b["check"] or {}).get("last") == "pass"
                 for b in json.load(sys.stdin)["backends"]))' "$2"
}
expect_checked_up() { # SVC ADDR WHAT
	local t0=$EPOCHREALTIME
	sy_wait 10 checked_up "$1" "$2" && sy_pass "$3: $1 $2 up, its check passing (after $(sy_ms_since "$t0") ms)" ||
		sy_fail "$3: $1 $2: $(sy_ctl --json backends "$1" | tr -d '\n' | cut -c1-400)"
}
for svc in tun plain; do
	for i in 1 2; do expect_checked_up $svc 198.18.0.1$i "decapsulating backends"; done
done
if [ $V6 = 1 ]; then
	for i in 1 2; do expect_checked_up tun6 "[2001:2::1$i]" "decapsulating backends (IPv6)"; done
fi

# 2. backend 1 stops decapsulating
ip netns exec ${P}b1 "$BUILD/bpf/sy-decap" detach eth0 >/dev/null ||
	sy_fail "sy-decap detach on backend 1"
expect_state 10 tun 198.18.0.11 unhealthy "decap removed on backend 1"
stays_state 2 plain 198.18.0.11 up "decap removed on backend 1, plain check"
[ "$(state tun 198.18.0.12)" = up ] && sy_pass "backend 2 stays up through the tunnel" ||
	sy_fail "backend 2 through the tunnel: $(state tun 198.18.0.12)"
grep -q '"health check fails: backend down" service=tun backend=198.18.0.11:80' "$WORK/control.log" &&
	sy_pass "logged: tun's backend 198.18.0.11 down" || sy_fail "no log line for tun's backend down"
if [ $V6 = 1 ]; then
	expect_state 10 tun6 "[2001:2::11]" unhealthy "decap removed on backend 1 (IPv6)"
	[ "$(state tun6 "[2001:2::12]")" = up ] && sy_pass "backend 2 stays up through the IPv6 tunnel" ||
		sy_fail "backend 2 through the IPv6 tunnel: $(state tun6 "[2001:2::12]")"
fi

# 3. decapsulation back
ip netns exec ${P}b1 "$BUILD/bpf/sy-decap" attach eth0 --mode native >/dev/null ||
	sy_fail "sy-decap attach on backend 1"
expect_state 10 tun 198.18.0.11 up "decap back on backend 1"
[ $V6 = 1 ] && expect_state 10 tun6 "[2001:2::11]" up "decap back on backend 1 (IPv6)"

# 4. where it cannot work, refused with a message
bad() { # WHAT YAML-SERVICE-LINES EXPECTED-TEXT
	sed '/^services:/q' "$WORK/switchyard.yaml" >"$WORK/bad.yaml"
	printf '%s\n' "$2" >>"$WORK/bad.yaml"
	if "$BUILD/control/sy-control" --check --config "$WORK/bad.yaml" >"$WORK/bad.out" 2>&1; then
		sy_fail "$1: --check accepted it"
	elif grep -q "$3" "$WORK/bad.out"; then
		sy_pass "$1 refused: $(head -1 "$WORK/bad.out")"
	else
		sy_fail "$1: $(cat "$WORK/bad.out")"
	fi
}
bad "through: tunnel on an http check" "  - name: h
    vip: $TUN_VIP
    port: 80
    protocol: tcp
    mode: $MODE
    source: static
    backends: [{ address: 198.18.0.11, port: 80 }]
    health: { check: { type: http, through: tunnel } }" "tcp check"
bad "through: tunnel on an l2dsr service" "  - name: l
    vip: $TUN_VIP
    port: 80
    protocol: tcp
    mode: l2dsr
    source: static
    backends: [{ address: 198.18.0.11, port: 80, mac: \"02:00:00:00:00:11\" }]
    health: { check: { type: tcp, through: tunnel } }" "mode ipip or gue"

topo_finish # sy-dataplane and sy-control must stop cleanly (exit 0)
[ $SY_FAILED -eq 0 ] && echo "RESULT: PASS" || echo "RESULT: FAIL"
exit $SY_FAILED
