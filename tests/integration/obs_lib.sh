# Shared set-up of the observability tests (test_dashboard.sh,
# test_prometheus.sh, test_syctl_top.sh). Requires netns_lib.sh and BUILD.
#
# One namespace ${P} of our own holds everything, so its loopback is ours
# (the fixed ports below cannot collide with anything else on the host):
#
#   send_udp.py ── gen0 ══veth══ dp0 ── sy-dataplane (net_af_packet, one lcore)
#                                          │ region (shm file in $W)
#   sy-control (API: unix socket $W/api.sock, and 127.0.0.1:9180 with a token)
#
# Services (static backends, next hop MAC from the config, so nothing waits
# for neighbour resolution):
#   web   udp 198.18.1.1:53 ipip, 3 backends (weights 1, 1, 2)  <- the traffic
#   idle  tcp 198.18.1.2:80 ipip, 1 backend                     <- none, stays 0
# The dataplane sends the encapsulated packets back out of dp0; the kernel
# drops them at gen0 (not its MAC). Addresses: 198.18.0.0/15.
#
# A test may set, before obs_setup: OBS_LIMITS (the region's limits, a YAML
# map), OBS_REGISTRY (a `registry:` section) and OBS_SERVICES (more items of
# the `services:` list, indented by two spaces like those above).

OBS_VIP=198.18.1.1
OBS_API_PORT=9180

# obs_setup [dataplane]: namespace, config, sy-control; with "dataplane" also
# the veth and sy-dataplane. Sets W, P, SOCK, TOKEN_FILE, CONTROL, DP, DP_MAC.
obs_setup() {
	P=syo$$
	W=$(mktemp -d /tmp/sy-obs-XXXXXX)
	SY_FILES+=("$W" "/var/run/dpdk/$P")
	SOCK=$W/api.sock
	TOKEN_FILE=$W/token
	head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$TOKEN_FILE"
	chmod 600 "$TOKEN_FILE"
	cat >"$W/sw.yaml" <<EOF
instance: obs$$
region: $W/region
state_file: $W/region.state
limits: ${OBS_LIMITS:-"{ lcores: 4, services: 16, backends: 256, heap_mb: 16 }"}
api:
  socket: $SOCK
  tcp: 127.0.0.1:$OBS_API_PORT
  token_file: $TOKEN_FILE
defaults:
  encap_source4: 198.18.0.1
  table_size: 251
services:
  - name: web
    vip: $OBS_VIP
    port: 53
    protocol: udp
    mode: ipip
    source: static
    next_hop_mac: 02:00:00:00:00:fe
    backends:
      - { address: 198.18.0.11, port: 53, weight: 1 }
      - { address: 198.18.0.12, port: 53, weight: 1 }
      - { address: 198.18.0.13, port: 53, weight: 2 }
  - name: idle
    vip: 198.18.1.2
    port: 80
    protocol: tcp
    mode: ipip
    source: static
    next_hop_mac: 02:00:00:00:00:fe
    backends:
      - { address: 198.18.0.21, port: 80 }
${OBS_SERVICES:-}
${OBS_REGISTRY:-}
EOF
	sy_ns $P || return 1
	if [ "${1:-}" = dataplane ]; then
		ip -n $P link add dp0 type veth peer name gen0 || return 1
		for i in dp0 gen0; do
			ip netns exec $P sysctl -qw net.ipv6.conf.$i.disable_ipv6=1
			ip -n $P link set $i up || return 1
			sy_nooffload $P $i
		done
		DP_MAC=$(sy_mac $P dp0)
	fi
	ip netns exec $P "$BUILD/control/sy-control" --config "$W/sw.yaml" >"$W/control.log" 2>&1 &
	CONTROL=$!
	SY_PIDS+=($CONTROL)
	sy_wait 15 test -S "$SOCK" -a -e "$W/region" || { cat "$W/control.log"; return 1; }
	[ "${1:-}" = dataplane ] || return 0
	# one lcore (the machine may have two), plain memory; stopped by PID
	ip netns exec $P "$BUILD/dataplane/sy-dataplane" -l 1 --no-huge -m 256 --no-pci \
		--file-prefix $P --vdev=net_af_packet0,iface=dp0 -- --region "$W/region" \
		--exception-tap off --ct-size 65536 >"$W/dataplane.log" 2>&1 &
	DP=$!
	SY_PIDS+=($DP)
	sy_wait 30 grep -q "sy-dataplane running" "$W/dataplane.log" || { cat "$W/dataplane.log"; return 1; }
}

obs_ctl() { "$BUILD/control/syctl" --socket "$SOCK" "$@"; }

# obs_send COUNT RATE DURATION [send_udp.py options]: frames to web's VIP;
# prints send_udp.py's SENT line
obs_send() {
	ip netns exec $P python3 "$HERE/send_udp.py" gen0 "$DP_MAC" $OBS_VIP 53 "$@"
}

# obs_stat SERVICE FIELD [BACKEND]: one figure of `syctl stats --json`
obs_stat() {
	obs_ctl --json stats | python3 -c 'import json, sys
s = json.load(sys.stdin)["services"][sys.argv[1]]
if len(sys.argv) > 3:
    s = s["backends"][sys.argv[3]]
print(s[sys.argv[2]])' "$@"
}

# obs_finish: at a test's end, before its verdict: sy-dataplane (if still
# running) and sy-control stopped with SIGTERM, each judged by its exit
# status (netns_lib.sh's sy_stop_checked)
obs_finish() {
	[ -n "${DP:-}" ] && sy_stop_checked "$DP" sy-dataplane "$W/dataplane.log"
	[ -n "${CONTROL:-}" ] && sy_stop_checked "$CONTROL" sy-control "$W/control.log"
	DP='' CONTROL=''
}

# obs_stop: sy-dataplane first (SIGINT, bounded), then sy-control; by PID
# (the EXIT trap's: it does not judge how they end)
obs_stop() {
	local pid i
	for pid in ${DP:-} ${CONTROL:-}; do
		kill -INT "$pid" 2>/dev/null || continue
		for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	DP='' CONTROL=''
}
