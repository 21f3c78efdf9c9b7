# A fleet of Switchyard hosts behind a router doing ECMP, in namespaces
# (issue 14): the topology of test_fleet_ecmp.sh and scripts/demo-fleet.sh.
#
#   client ns ── router ns ───────────── bridge ns (br0: 198.18.0.0/24)
#   198.18.3.2   198.18.3.1 | .0.254      ├─ LB host 1..NH  198.18.0.1..3
#                BIRD: ECMP route to       │    BIRD, sy-control (embedded registry, bgp: bird),
#                the VIP, L4 hash          │    sy-dataplane (net_af_packet) or the XDP path
#                                          └─ backend 1..NB  198.18.0.11..14
#                                               VIP on lo, sy-decap, fleet_stream.py server,
#                                               `syctl register` with all NH registries
#
# Every LB host is lb_topology.sh's LB (its pieces, called with the host's
# P, WORK and LBIP: fleet_on): namespace ${P}<h>l, instance ${P}<h>, the
# address 198.18.0.<h> on sy0 (or on eth0 for the XDP path), its registry
# on :9181, the same HMAC key, table size and seed on all. Its BIRD (AS
# 65001) includes the file sy-control writes and peers with the router (AS
# 65000) on 198.18.0.0/24, through the dataplane's TAP on the DPDK path:
# so the session, like the heartbeats, dies with the dataplane, and BFD
# (5 x 200 ms) tells the router. The router's BIRD merges the hosts' routes
# into one multipath route (merge paths); the kernel hashes the 5-tuple
# (fib_multipath_hash_policy=1), and tc_rehash.bpf.o on its client port
# makes it hash rather than reuse the client socket's hash (see there), so
# `ip route get ... sport S dport 80` on the router names the host a
# connection takes (fleet_paths). Backends answer the client directly
# through the router (DSR).
#
# Requires netns_lib.sh, lb_topology.sh and bird_lib.sh, sourced first.
# Variables: those of lb_topology.sh (BUILD, P, MODE, TTL, DATAPLANE,
# XDP_ARGS, ALLOWED), NH (LB hosts, 3), NB (backends, 4). fleet_up sets FW
# (the fleet's directory: key, router BIRD, agent logs, backend logs) and,
# per host h: HWORK[h], HCONTROL[h], HDATAPLANE[h] (DPDK path), HBIRD[h].

: "${NH:=3}" "${NB:=4}"
FLEET_CLIENT=198.18.3.2
FLEET_ROUTER=198.18.0.254
FLEET_PORT=80
declare -A HWORK HCONTROL HDATAPLANE HBIRD

fleet_host_ip() { echo "198.18.0.$1"; }
fleet_hosts_ips() { local h; for h in $(seq $NH); do fleet_host_ip $h; done | sort | xargs; }

# fleet_on H CMD...: CMD (a function of lb_topology.sh, sy_ctl, ...) for LB
# host H: its prefix, directory and address
fleet_on() {
	local h=$1
	shift
	# shellcheck disable=SC2097,SC2098 # XDP_PINS: the fleet's P, on purpose
	P=$P$h WORK=${HWORK[$h]} LBIP=$(fleet_host_ip $h) XDP_BPFFS=${HWORK[$h]}/bpffs \
		XDP_PINS=${HWORK[$h]}/bpffs/switchyard/$P$h "$@"
}

# fleet_ctl H ARGS...: syctl against host H's sy-control
fleet_ctl() { "$BUILD/control/syctl" --socket "${HWORK[$1]}/api.sock" "${@:2}"; }

fleet_bgp_yaml() { # H
	cat <<EOF
bgp:
  daemon: bird
  socket: ${HWORK[$1]}/bird.ctl
  include_file: ${HWORK[$1]}/vips.conf
  hold_down_s: 1
  hold_down_max_s: 4
  stable_s: 60
EOF
}

# fleet_start_control H: (re)start host H's sy-control
fleet_start_control() {
	fleet_on $1 topo_start_control || return 1
	HCONTROL[$1]=$CONTROL_PID
}

# fleet_start_dataplane H: (re)start host H's sy-dataplane (DPDK path)
fleet_start_dataplane() {
	fleet_on $1 topo_start_dataplane || return 1
	HDATAPLANE[$1]=$DATAPLANE_PID
}

fleet_start_bird() { # H
	bird_start $P$1l "${HWORK[$1]}/bird.conf" "${HWORK[$1]}/bird.ctl" "${HWORK[$1]}/bird.log" || return 1
	HBIRD[$1]=$BIRD_PID
}

fleet_lb_up() { # H
	local h=$1 ns=$P${1}l
	HWORK[$h]=$(mktemp -d /tmp/sy-fleet-h$h-XXXXXX)
	SY_FILES+=("${HWORK[$h]}" "/var/run/dpdk/$P$h")
	cp "$FW/web.key" "${HWORK[$h]}/web.key"
	TOPO_EXTRA_CONFIG=$(fleet_bgp_yaml $h) fleet_on $h topo_config
	sy_ns $ns && sy_attach $ns ${P}n pl$h || return 1
	ip netns exec $ns sysctl -qw net.ipv6.conf.eth0.disable_ipv6=1
	bird_lb_conf "${HWORK[$h]}/bird.conf" "$(fleet_host_ip $h)" "${HWORK[$h]}/vips*.conf" $FLEET_ROUTER
	fleet_start_bird $h || return 1
	if [ "$DATAPLANE" = xdp ]; then
		fleet_on $h topo_xdp_prepare ${P}n pl$h || return 1
		fleet_start_control $h || return 1
		return 0
	fi
	fleet_start_control $h || return 1
	sy_lb_tap_only $ns eth0
	fleet_start_dataplane $h || { cat "${HWORK[$h]}/dataplane.log"; return 1; }
}

fleet_router_up() {
	local r=${P}r c=${P}c
	sy_ns $r && sy_attach $r ${P}n pr || return 1
	ip -n $r addr add $FLEET_ROUTER/24 dev eth0
	sy_ns $c || return 1
	ip link add eth0 netns $c type veth peer name rc netns $r || return 1
	ip -n $c link set eth0 up && ip -n $r link set rc up
	sy_nooffload $c eth0
	sy_nooffload $r rc
	ip -n $c addr add $FLEET_CLIENT/24 dev eth0
	ip -n $c route add default via 198.18.3.1
	ip -n $r addr add 198.18.3.1/24 dev rc
	ip netns exec $r sysctl -qw net.ipv4.ip_forward=1 net.ipv4.fib_multipath_hash_policy=1 \
		net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.eth0.rp_filter=0 net.ipv4.conf.rc.rp_filter=0
	ip netns exec $r tc qdisc add dev rc clsact &&
		ip netns exec $r tc filter add dev rc ingress bpf da \
			obj "$BUILD/tests/integration/tc_rehash.bpf.o" sec tc || return 1
	# shellcheck disable=SC2046 # one argument per host
	BIRD_BFD=1 bird_router_conf "$FW/router.conf" $FLEET_ROUTER $(fleet_hosts_ips)
	bird_start $r "$FW/router.conf" "$FW/router.ctl" "$FW/bird-router.log"
}

# fleet_backend_up I: backend I with its stream server (logging the
# connections it serves to $FW/be<I>.conns)
fleet_backend_up() {
	local i=$1 ns=${P}b$1
	topo_backend_ns $i || return 1
	ip -n $ns route add default via $FLEET_ROUTER
	ip netns exec $ns /usr/bin/python3 "$(dirname "${BASH_SOURCE[0]}")/fleet_stream.py" \
		serve be$i $FLEET_PORT "$FW/be$i.conns" >>"$FW/be$i.log" 2>&1 &
	SY_PIDS+=($!)
}

fleet_up() {
	FW=$(mktemp -d /tmp/sy-fleet-XXXXXX)
	SY_FILES+=("$FW")
	sy_keyfile "$FW/web.key"
	local h i
	sy_ns ${P}n && ip -n ${P}n link add br0 type bridge && ip -n ${P}n link set br0 up || return 1
	BIRD_BFD=1
	fleet_router_up || return 1
	for h in $(seq $NH); do fleet_lb_up $h || return 1; done
	for i in $(seq $NB); do fleet_backend_up $i || return 1; done
	for i in $(seq $NB); do
		sy_wait 10 fleet_listening ${P}b$i || return 1
	done
	TOPO_REGISTRIES=
	for h in $(seq $NH); do TOPO_REGISTRIES+=" http://$(fleet_host_ip $h):9181"; done
	for i in $(seq $NB); do WORK=$FW topo_register $i; done
}

fleet_listening() { ip netns exec "$1" ss -Hltn "sport = :$FLEET_PORT" | grep -q LISTEN; }

# fleet_up_count H: backends of `web` up on host H
fleet_up_count() { fleet_ctl $1 --json backends web 2>/dev/null | grep -c '"state": "up"'; }

# fleet_wait_up H COUNT SECONDS: until host H has COUNT backends of `web` up
fleet_wait_up() {
	local end=$((SECONDS + $3))
	until [ "$(fleet_up_count $1)" -eq $2 ]; do
		[ $SECONDS -ge $end ] && return 1
		sleep 0.2
	done
}

# fleet_vip_state H: host H's decision for the VIP, "announced REASON" or
# "withdrawn REASON"
fleet_vip_state() {
	fleet_ctl $1 --json status 2>/dev/null | /usr/bin/python3 -c '
import json, sys
v = [x for x in json.load(sys.stdin)["bgp"]["vips"] if x["vip"] == sys.argv[1]][0]
print("announced" if v["announced"] else "withdrawn", v["reason"])' $VIP 2>/dev/null
}

# fleet_vias: the LB hosts the router's FIB sends the VIP to (sorted)
fleet_vias() { bird_vias ${P}r $VIP/32; }
# fleet_wait_vias "IPS" SECONDS
fleet_wait_vias() { bird_wait_vias ${P}r $VIP/32 "$1" "$2"; }

# fleet_paths FIRST COUNT: "SPORT HOST" for the client's connections from
# ports FIRST.., HOST the number of the LB host the router sends it to
# (- if none), as the router's FIB says for each 5-tuple
fleet_paths() {
	local s
	for s in $(seq $1 $(($1 + $2 - 1))); do
		echo "route get $VIP from $FLEET_CLIENT iif rc ipproto tcp sport $s dport $FLEET_PORT"
	done | ip -n ${P}r -force -batch - 2>&1 | awk -v first=$1 '
		/^[0-9]/ { via = "-"; for (i = 1; i < NF; i++) if ($i == "via") via = $(i + 1)
			   n = split(via, a, "."); print first + k++, (via == "-" ? "-" : a[n]) }
		/answers/ { print first + k++, "-" }'
}

# fleet_dataplane_kill H: host H's dataplane dies: sy-dataplane killed
# (-9); on the XDP path the program's link detached (bpftool), which
# sy-control sees as `detached`
fleet_dataplane_kill() {
	if [ "$DATAPLANE" = xdp ]; then
		bpftool link detach pinned "${HWORK[$1]}/bpffs/switchyard/$P$1/link"
	else
		kill -9 ${HDATAPLANE[$1]} || return 1
		wait ${HDATAPLANE[$1]} 2>/dev/null
	fi
	return 0
}

# fleet_dataplane_restart H: sy-dataplane started again; on the XDP path
# sy-control restarted, which attaches the program again
# (docs/troubleshooting.md, `detached`)
fleet_dataplane_restart() {
	if [ "$DATAPLANE" = xdp ]; then
		kill -TERM ${HCONTROL[$1]}
		wait ${HCONTROL[$1]} 2>/dev/null
		fleet_start_control $1
	else
		fleet_start_dataplane $1
	fi
}

# fleet_kill_host H: host H dies as in a power cut: its link down first (so
# that nothing it says reaches the router: a killed BIRD's kernel would
# close the BGP session with a FIN, and on the XDP path the program would
# go on forwarding), then sy-control, the dataplane and BIRD killed (-9).
# The router learns it from BFD.
fleet_kill_host() {
	local h=$1 pid
	ip -n $P${h}l link set eth0 down
	for pid in ${HCONTROL[$h]} ${HDATAPLANE[$h]:-} ${HBIRD[$h]}; do kill -9 $pid 2>/dev/null; done
	for pid in ${HCONTROL[$h]} ${HDATAPLANE[$h]:-} ${HBIRD[$h]}; do wait $pid 2>/dev/null; done
	return 0
}

# fleet_finish: at a test's end: every host's sy-dataplane and sy-control
# still running stopped with SIGTERM, each judged by its exit status
# (sy_stop_checked); those the test killed (a host's power cut) are gone
# and skipped
fleet_finish() {
	local h pid
	for h in $(seq $NH); do
		pid=${HDATAPLANE[$h]:-}
		[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null &&
			sy_stop_checked "$pid" "host $h's sy-dataplane" "${HWORK[$h]}/dataplane.log"
		pid=${HCONTROL[$h]:-}
		[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null &&
			sy_stop_checked "$pid" "host $h's sy-control" "${HWORK[$h]}/control.log"
	done
}

# fleet_cleanup: for the EXIT trap, before sy_cleanup: the agents killed
# (-9: the registries go with the fleet, and a dead host would hold their
# deregistration for its 3 s timeout), the XDP pins
fleet_cleanup() {
	local h pid
	for pid in "${AGENT_PID[@]}"; do kill -9 "$pid" 2>/dev/null; done
	for pid in "${AGENT_PID[@]}"; do wait "$pid" 2>/dev/null; done
	for h in "${!HWORK[@]}"; do fleet_on $h topo_xdp_cleanup; done
}
