# BIRD 2 daemons for the integration tests that announce VIPs by BGP
# (test_bgp_live.sh, fleet_topology.sh): an LB host's BIRD, which reads the
# file sy-control writes (bgp.daemon: bird) and exports its VIPs, and a
# router's, which installs what it learns in its kernel table. Each BIRD is
# the test's own process, with its configuration and control socket under
# the test's directory, never the system service; it is stopped by its PID.
# Requires netns_lib.sh.

# short timers: a session comes up within a second or two, a silent peer is
# dropped after 3 s (BIRD's defaults: 240 s)
BIRD_TIMERS="hold time 3; keepalive time 1; connect delay time 1; connect retry time 1; error wait time 1, 2;"
# BFD where BIRD_BFD=1: as deploy/bird/bird.conf.example, but 5 x 200 ms
# rather than 3 x 100 ms, so that a loaded test machine does not flap it
BIRD_BFD_PROTOCOL='protocol bfd { interface "*" { min rx interval 200 ms; min tx interval 200 ms; multiplier 5; }; }'

bird_require() {
	command -v bird >/dev/null && command -v birdc >/dev/null && return 0
	echo "FAIL: bird2 is not installed (scripts/install-deps.sh test)"
	echo "RESULT: FAIL"
	exit 1
}

# bird_lb_conf FILE ROUTER_ID INCLUDE NEIGHBOR: an LB host's BIRD (AS 65001):
# reads the files matching INCLUDE (sy-control's bgp.include_file) and
# exports protocol switchyard4 to the router at NEIGHBOR (AS 65000), on a
# directly connected network, with itself as the next hop
bird_lb_conf() {
	local bfd=
	[ "${BIRD_BFD:-0}" = 1 ] && bfd="bfd on;"
	cat >"$1" <<EOF
log stderr all;
router id $2;
protocol device { scan time 1; }
include "$3";
${bfd:+$BIRD_BFD_PROTOCOL}
protocol bgp uplink {
	local as 65001;
	neighbor $4 as 65000;
	$BIRD_TIMERS
	$bfd
	ipv4 { import none; export where proto = "switchyard4"; next hop self; };
}
EOF
}

# bird_router_conf FILE ROUTER_ID NEIGHBOR...: a router's BIRD (AS 65000):
# a session with each NEIGHBOR (AS 65001), whose routes go to the kernel;
# equal routes from several neighbors as one multipath route (merge paths:
# ECMP)
bird_router_conf() {
	local file=$1 id=$2 bfd= n=0 nbr
	shift 2
	[ "${BIRD_BFD:-0}" = 1 ] && bfd="bfd on;"
	cat >"$file" <<EOF
log stderr all;
router id $id;
protocol device { scan time 1; }
protocol kernel { merge paths on; ipv4 { import none; export all; }; }
${bfd:+$BIRD_BFD_PROTOCOL}
EOF
	for nbr in "$@"; do
		n=$((n + 1))
		cat >>"$file" <<EOF
protocol bgp lb$n {
	local as 65000;
	neighbor $nbr as 65001;
	$BIRD_TIMERS
	$bfd
	ipv4 { import all; export none; };
}
EOF
	done
}

# bird_start NS CONF SOCKET LOG: BIRD in NS (BIRD_PID), once it answers on
# SOCKET
bird_start() {
	rm -f "$3"
	ip netns exec "$1" bird -f -c "$2" -s "$3" >>"$4" 2>&1 &
	BIRD_PID=$!
	SY_PIDS+=($BIRD_PID)
	sy_wait 10 birdc -s "$3" show status
}

# bird_vias NS PREFIX: the next hops of PREFIX in NS's FIB, sorted, on one
# line ("" when NS has no route for it)
bird_vias() { ip -n "$1" route show "$2" | grep -o 'via [0-9.]*' | cut -d' ' -f2 | sort | xargs; }

# bird_wait_vias NS PREFIX VIAS SECONDS: poll NS's FIB every 50 ms until
# PREFIX's next hops are VIAS (as bird_vias prints them; "" for no route)
bird_wait_vias() {
	local end=$((SECONDS + $4))
	while [ $SECONDS -lt $end ]; do
		[ "$(bird_vias "$1" "$2")" = "$3" ] && return 0
		sleep 0.05
	done
	return 1
}
