# A complete Switchyard host in namespaces, shared by the demo and the
# end-to-end tests:
#
#   client ns ──┐
#   LB ns ──────┤ bridge (own ns) ── backend ns 1..N
#
# The LB runs sy-control (embedded registry on :9181) and sy-dataplane
# (net_af_packet on its veth, exception TAP sy0 holding 198.18.0.1). The LB
# kernel keeps off its veth (sy_lb_tap_only): host traffic, the agents'
# heartbeats included, reaches it through sy0 only.
# Backends hold the VIP on loopback, decapsulate with sy-decap (ipip/gue),
# run a real HTTP server answering their name, and register themselves
# with `syctl register`. Requires netns_lib.sh. Addresses: 198.18.0.0/15.
#
# Variables: BUILD (build dir), MODE (ipip|gue|l2dsr), NB (backends),
# TTL (heartbeat TTL, s), P (namespace prefix), HUGE (1: use hugepages),
# SOURCE (embedded | etcd; etcd: ETCD_URLS = YAML items of the endpoints,
# ETCD_REGISTRY = HOST:PORT,... for the agents, which then run in the LB
# namespace where the test's etcd listens on loopback),
# DATAPLANE (dpdk, the default: sy-dataplane as above | xdp: no sy-dataplane
# and no TAP; sy-control loads the XDP balancer on the LB's eth0, which holds
# 198.18.0.1 itself, so ARP and host traffic are the kernel's via XDP_PASS;
# XDP_ARGS: more sy-control options, e.g. --xdp-mode generic),
# TOPO_EXTRA_CONFIG (YAML appended to the configuration, e.g. a bgp:
# section), TOPO_WEB_EXTRA (more keys of the web service, e.g. "hash:
# source-ip"), TOPO_WEB_CHECK (the web service's active check, e.g. "{
# type: tcp, interval_ms: 200 }"), DP_LCORES (sy-dataplane's EAL lcores, default -l 0,1),
# TOPO_REGISTRIES (the agents' registry URLs, default the LB's), and a
# function topo_before_control, if defined, that topo_up calls once the LB
# namespace exists, before sy-control starts.
#
# The pieces of topo_up (topo_backend_ns, topo_start_control,
# topo_start_dataplane, topo_xdp_prepare) read P, WORK and LBIP when they
# run: fleet_topology.sh calls them once per LB host with that host's.

VIP=198.18.1.1
LBIP=198.18.0.1
CLIENT=198.18.0.2
: "${MODE:=ipip}" "${NB:=3}" "${TTL:=3}" "${HUGE:=0}" "${ALLOWED:=198.18.0.0/24}" "${SOURCE:=embedded}"
: "${DATAPLANE:=dpdk}" "${XDP_ARGS:=}"
declare -A AGENT_PID
declare -A NAME_OF

# run syctl against our sy-control (its API is a unix socket, a file: no
# need for the LB's namespace, whose ip netns exec costs 15-90 ms a call)
sy_ctl() { "$BUILD/control/syctl" --socket "$WORK/api.sock" "$@"; }

topo_config() {
	local reg="  embedded:
    listen: 0.0.0.0:9181
    allowed_prefixes: [$ALLOWED]
    max_clock_skew_s: 30" src="source: embedded
    key_file: $WORK/web.key"
	[ "$SOURCE" = etcd ] && reg="  etcd:
    endpoints:
$ETCD_URLS
    timeout_ms: 500" src="source: etcd"
	cat >"$WORK/switchyard.yaml" <<EOF
instance: $P
region: $WORK/region
state_file: $WORK/region.state
api:
  socket: $WORK/api.sock
defaults:
  encap_source4: $LBIP
registry:
$reg
services:
  - name: web
    vip: $VIP
    port: 80
    protocol: tcp
    mode: $MODE
    table_size: 65537
    ${TOPO_WEB_EXTRA:-}
    $src
    health:
      default_ttl_s: $TTL
      hold_down_s: 0
      panic_threshold: 0.9
      panic_window_s: 5
${TOPO_WEB_CHECK:+      check: $TOPO_WEB_CHECK}
${TOPO_EXTRA_CONFIG:-}
EOF
}

topo_up() {
	WORK=$(mktemp -d /tmp/sy-topo-XXXXXX)
	SY_FILES+=("$WORK" "/var/run/dpdk/$P")
	sy_keyfile "$WORK/web.key"
	topo_config

	sy_ns ${P}n && ip -n ${P}n link add br0 type bridge && ip -n ${P}n link set br0 up || return 1
	sy_ns ${P}c && sy_attach ${P}c ${P}n pc || return 1
	sy_ns ${P}l && sy_attach ${P}l ${P}n pl || return 1
	ip netns exec ${P}l sysctl -qw net.ipv6.conf.eth0.disable_ipv6=1
	ip -n ${P}c addr add $CLIENT/24 dev eth0
	ip -n ${P}c route add 198.18.1.0/24 via $LBIP

	for i in $(seq $NB); do
		topo_backend_ns $i || return 1
		sy_http_backend ${P}b$i be$i
	done

	if declare -F topo_before_control >/dev/null; then
		topo_before_control || return 1
	fi
	if [ "$DATAPLANE" = xdp ]; then
		topo_xdp_prepare || return 1
		topo_start_control || return 1
		for i in $(seq $NB); do
			sy_wait 10 ip netns exec ${P}b$i curl -s --max-time 1 -o /dev/null http://127.0.0.1/ ||
				return 1
		done
		return 0
	fi

	topo_start_control || return 1

	sy_lb_tap_only ${P}l eth0
	topo_start_dataplane || { cat "$WORK/dataplane.log"; return 1; }
	for i in $(seq $NB); do
		sy_wait 10 ip netns exec ${P}b$i curl -s --max-time 1 -o /dev/null http://127.0.0.1/ ||
			return 1
	done
}

# topo_backend_ns I: backend I's namespace on the bridge: 198.18.0.1I, the
# VIP on its loopback (no ARP for it), decapsulation (ipip, gue). Its server
# is the caller's.
topo_backend_ns() {
	local i=$1 ns=${P}b$1 k
	sy_ns $ns && sy_attach $ns ${P}n pb$i || return 1
	ip -n $ns addr add 198.18.0.1$i/24 dev eth0
	ip -n $ns addr add $VIP/32 dev lo
	for k in all.arp_ignore=1 all.arp_announce=2 all.rp_filter=0 eth0.rp_filter=0 lo.rp_filter=0; do
		ip netns exec $ns sysctl -qw net.ipv4.conf.$k
	done
	if [ "$MODE" != l2dsr ]; then
		ip netns exec $ns "$BUILD/bpf/sy-decap" attach eth0 --mode native >/dev/null || return 1
	fi
	NAME_OF[198.18.0.1$i]=be$i
}

# (re)start sy-dataplane in the LB namespace on net_af_packet over eth0
# (DP_LCORES: its EAL lcore option); it gives its exception TAP sy0 the
# LB's address (--tap-address) and sets it up, as on every start: a
# restarted dataplane makes a new TAP
topo_has_lb_address() { ip -n ${P}l -4 addr show dev sy0 up 2>/dev/null | grep -q " $LBIP/24 "; }
topo_start_dataplane() {
	local eal=(--no-huge -m 512)
	# hugepage files unlinked as they are mapped: none stays behind, even
	# after a kill (no secondary process attaches here)
	[ "$HUGE" = 1 ] && eal=(--socket-mem 256 --huge-unlink)
	# shellcheck disable=SC2086 # DP_LCORES: words
	ip netns exec ${P}l "$BUILD/dataplane/sy-dataplane" ${DP_LCORES:--l 0,1} "${eal[@]}" --no-pci \
		--file-prefix $P --vdev=net_af_packet0,iface=eth0 -- \
		--region "$WORK/region" --tap-prefix sy --tap-address $LBIP/24 >>"$WORK/dataplane.log" 2>&1 &
	DATAPLANE_PID=$!
	SY_PIDS+=($DATAPLANE_PID)
	sy_wait 30 topo_has_lb_address
}

# start (or restart) sy-control in the LB namespace
topo_start_control() {
	rm -f "$WORK/api.sock" # a killed predecessor leaves it behind
	if [ "$DATAPLANE" = xdp ]; then
		# shellcheck disable=SC2086 # XDP_ARGS: words
		ip netns exec ${P}l "$BUILD/control/sy-control" --config "$WORK/switchyard.yaml" \
			--dataplane xdp --iface eth0 --xdp-bpffs "$XDP_BPFFS" $XDP_ARGS \
			>>"$WORK/control.log" 2>&1 &
	else
		ip netns exec ${P}l "$BUILD/control/sy-control" --config "$WORK/switchyard.yaml" \
			>>"$WORK/control.log" 2>&1 &
	fi
	CONTROL_PID=$!
	SY_PIDS+=($CONTROL_PID)
	sy_wait 10 test -S "$WORK/api.sock" -a -e "$WORK/region" || { cat "$WORK/control.log"; return 1; }
}

# ---- XDP variant (DATAPLANE=xdp) ----------------------------------------

# The LB namespace without sy-dataplane: its eth0 holds the LB address and
# the XDP program runs on it, natively. A veth hands a frame that the program
# sends back out (XDP_TX) to its peer's NAPI: the peer (pl, in the bridge
# namespace) needs one, and a veth has NAPI only while it has an XDP program
# or GRO enabled. Without either, XDP_TX'd frames are dropped (nothing
# reaches the backends). GRO alone is not enough: the frames are queued, but
# the kernel (veth_xdp_flush) wakes the peer's NAPI only when the peer has an
# XDP program, so they wait for unrelated traffic to the peer (connects took
# 40-660 ms here, 6.18). So pl gets an XDP program that passes everything
# (tests/integration/xdp_pass.bpf.c, built into $BUILD/tests/integration).
# The pins go to a bpffs of our own (sy-control --xdp-bpffs): under
# `ip netns exec` /sys is the command's own, and pins in a bpffs mounted
# there would die with it, taking the pinned XDP link along (a kill -9 would
# detach the program and leave nothing to adopt). This one is mounted in our
# mount namespace and outlives sy-control.
# BRIDGE_NS and PEER (default ${P}n, pl) name the LB's peer veth.
topo_xdp_prepare() { # [BRIDGE_NS PEER]
	ip -n ${P}l addr add $LBIP/24 dev eth0 || return 1
	ip -n "${1:-${P}n}" link set dev "${2:-pl}" xdpdrv obj "$BUILD/tests/integration/xdp_pass.bpf.o" sec xdp ||
		return 1
	XDP_BPFFS=$WORK/bpffs
	XDP_PINS=$XDP_BPFFS/switchyard/$P
	mkdir -p "$XDP_BPFFS" && mount -t bpf bpf "$XDP_BPFFS"
}

# unmount the bpffs of the XDP variant, pins included: call it before
# sy_cleanup, which removes $WORK (a running sy-control keeps its program
# until sy_cleanup stops it)
topo_xdp_cleanup() {
	[ -n "${XDP_BPFFS:-}" ] && mountpoint -q "$XDP_BPFFS" || return 0
	rm -rf "$XDP_PINS"
	umount -l "$XDP_BPFFS"
}

# start backend i's heartbeat agent, registering with the LB's registry
# (or with each URL of TOPO_REGISTRIES: a fleet of LB hosts)
topo_register() {
	local i=$1 url regs=()
	if [ "$SOURCE" = etcd ]; then
		ip netns exec ${P}l "$BUILD/control/syctl" register --service web \
			--addr 198.18.0.1$i --port 80 --ttl $TTL --registry "etcd://$ETCD_REGISTRY" \
			>>"$WORK/agent$i.log" 2>&1 &
		AGENT_PID[$i]=$!
		SY_PIDS+=(${AGENT_PID[$i]})
		return
	fi
	for url in ${TOPO_REGISTRIES:-http://$LBIP:9181}; do regs+=(--registry "$url"); done
	ip netns exec ${P}b$i "$BUILD/control/syctl" register --service web \
		--addr 198.18.0.1$i --port 80 --ttl $TTL --key-file "$WORK/web.key" \
		"${regs[@]}" >>"$WORK/agent$i.log" 2>&1 &
	AGENT_PID[$i]=$!
	SY_PIDS+=(${AGENT_PID[$i]})
}

# topo_stop_agents: SIGTERM to every heartbeat agent (each deregisters) and
# a bounded wait for them. For the EXIT trap, before sy_cleanup, while
# sy-control and sy-dataplane still answer: an agent stopped together with
# them waits out its deregistration's 3 s timeout (syctl_register.c).
topo_stop_agents() {
	local pid
	for pid in "${AGENT_PID[@]}"; do kill -TERM "$pid" 2>/dev/null; done
	for pid in "${AGENT_PID[@]}"; do
		for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	done
}

# topo_finish: at a test's end, before its RESULT line: the agents stopped
# (they deregister while sy-control answers), then sy-dataplane and
# sy-control with SIGTERM, each judged by its exit status (sy_stop_checked).
# Their PIDs are the last started (a test that restarts one sets it anew).
topo_finish() {
	topo_stop_agents
	if [ "$DATAPLANE" != xdp ] && [ -n "${DATAPLANE_PID:-}" ]; then
		sy_stop_checked "$DATAPLANE_PID" sy-dataplane "$WORK/dataplane.log"
	fi
	[ -n "${CONTROL_PID:-}" ] && sy_stop_checked "$CONTROL_PID" sy-control "$WORK/control.log"
}

# number of backends of `web` in state up
topo_up_count() { sy_ctl --json backends web | grep -c '"state": "up"'; }

# topo_wait_published SVC N [SECONDS]: until the table sy-control has
# published for SVC lists N backends (default 10 s; fails after). `syctl
# backends` shows a registration or a departure at once, the published
# table (what the dataplane forwards by; the XDP maps are written in the
# same step) only once the publisher has run: a connection opened in
# between takes the older table, and keeps its backend (tracked). Reads
# WORK when called (fleet_topology.sh: WORK=HOST_WORK topo_wait_published).
topo_wait_published() {
	local end=$((SECONDS + ${3:-10}))
	until [ "$(sy_ctl --json table "$1" 2>/dev/null | grep -c '"address"')" -eq "$2" ]; do
		[ $SECONDS -ge $end ] && return 1
		sleep 0.1
	done
}

# N GETs to the VIP from client ports FIRST.. (same ports = same flows);
# prints "SPORT NAME" lines, NAME "-" when a request failed
topo_probe() {
	ip netns exec ${P}c /usr/bin/python3 "$(dirname "${BASH_SOURCE[0]}")/http_probe.py" \
		$VIP 80 "$1" "$2" / "${3:-3}"
}
