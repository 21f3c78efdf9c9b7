# Shared helpers for integration tests that build a small network out of
# namespaces. Every namespace and process a test creates is recorded and
# removed by sy_cleanup (install it with `trap sy_cleanup EXIT`).
# Addresses come from 198.18.0.0/15 only.

SY_NAMESPACES=()
SY_PIDS=()
SY_FILES=()
SY_FAILED=0

# python3 is the system one (/usr/bin/python3, which the python3-* packages
# of scripts/install-deps.sh extend), not whatever python3 comes first on
# PATH, for the tests' own calls and for those under ip netns exec, timeout
# or a script's "#!/usr/bin/env python3": a pyenv shim there takes ~0.7 s to
# start (Debian's python3: 0.04 s), and some tests start python dozens of
# times (control_api: 15 of its 21 s went to starting it).
if [ -x /usr/bin/python3 ] && [ "$(command -v python3)" != /usr/bin/python3 ]; then
	SY_PYTHON_DIR=$(mktemp -d /tmp/sy-python-XXXXXX)
	ln -s /usr/bin/python3 "$SY_PYTHON_DIR/python3"
	PATH=$SY_PYTHON_DIR:$PATH
	SY_FILES+=("$SY_PYTHON_DIR")
fi

sy_log() { echo "[$(date +%H:%M:%S)] $*"; }
sy_pass() { echo "PASS: $*"; }
sy_fail() { echo "FAIL: $*"; SY_FAILED=1; }
# sy_rel TEST FAULT LOAD OUTCOME FIGURES: a row of the reliability report
# (scripts/reliability_report.py collects these lines); OUTCOME PASS or FAIL
sy_rel() { echo "RELIABILITY|$1|$2|$3|$4|$5"; }
# sy_verdict: PASS if no check of this test has failed so far
sy_verdict() { [ "$SY_FAILED" -eq 0 ] && echo PASS || echo FAIL; }

# sy_stop_checked PID NAME LOG: end a daemon this shell started (PID its
# child) with SIGTERM, as `systemctl stop` does, and judge how it ended:
# PASS if it exited 0 within SY_STOP_SECONDS (10), else FAIL with its exit
# status (139: SIGSEGV; under ASan, 1 or 23 for a report at exit) and LOG's
# last lines.
# sy_cleanup's kill ignores how processes end: a crash at shutdown, or one
# while the test's last checks ran, shows only here.
sy_stop_checked() {
	local pid=$1 name=$2 log=$3 rc
	if ! kill -TERM "$pid" 2>/dev/null; then
		wait "$pid"
		rc=$?
		sy_fail "$name (pid $pid) had ended (exit $rc) before the test stopped it: $(tail -3 "$log" | tr '\n' ' ')"
		return
	fi
	if ! sy_wait "${SY_STOP_SECONDS:-10}" sy_gone "$pid"; then
		sy_fail "$name (pid $pid) still running ${SY_STOP_SECONDS:-10} s after SIGTERM"
		return
	fi
	wait "$pid"
	rc=$?
	[ $rc -eq 0 ] && sy_pass "$name stopped cleanly on SIGTERM (exit 0)" ||
		sy_fail "$name exit $rc on SIGTERM: $(tail -3 "$log" | tr '\n' ' ')"
}

# sy_gone PID: true once PID has ended (for sy_wait)
sy_gone() { ! kill -0 "$1" 2>/dev/null; }

sy_cleanup() {
	local pid
	for pid in "${SY_PIDS[@]}"; do
		kill "$pid" 2>/dev/null
	done
	for pid in "${SY_PIDS[@]}"; do
		# bounded wait, then force
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null
	done
	for ns in "${SY_NAMESPACES[@]}"; do
		ip netns del "$ns" 2>/dev/null
	done
	for f in "${SY_FILES[@]}"; do
		rm -rf "$f"
	done
}

# sy_ns NAME: create a namespace with loopback up
sy_ns() {
	ip netns add "$1" || return 1
	SY_NAMESPACES+=("$1")
	ip -n "$1" link set lo up
}

# sy_nooffload NS IFACE: no checksum/segmentation offloads, so frames seen by
# packet sockets and XDP are complete and correctly checksummed
sy_nooffload() {
	ip netns exec "$1" ethtool -K "$2" tx off rx off tso off gso off gro off >/dev/null 2>&1 || true
}

# sy_attach NS BRIDGE_NS PEER: veth eth0 in NS, its peer PEER on br0 in BRIDGE_NS
sy_attach() {
	local ns=$1 brns=$2 peer=$3
	ip link add eth0 netns "$ns" type veth peer name "$peer" netns "$brns" || return 1
	ip -n "$brns" link set "$peer" master br0 up
	ip -n "$ns" link set eth0 up
	sy_nooffload "$ns" eth0
	sy_nooffload "$brns" "$peer"
}

sy_mac() { ip -n "$1" -br link show "$2" | awk '{print $3}'; }

# sy_snmp NS GROUP FIELD: a counter of the kernel's IP stack in NS, from
# /proc/net/snmp or /proc/net/netstat (Ip OutRequests, TcpExt
# IPReversePathFilter, ...)
sy_snmp() {
	ip netns exec "$1" cat /proc/net/snmp /proc/net/netstat | awk -v g="$2:" -v f="$3" '
		$1 == g && !col { for (i = 2; i <= NF; i++) if ($i == f) col = i; next }
		$1 == g && col { print $col; exit }'
}

# sy_lb_tap_only NS IF: the LB kernel in NS keeps off IF, the dataplane's
# net_af_packet port (docs/dataplane.md, "What net_af_packet hides"). The
# kernel receives IF's frames too, and would accept those to its address on
# the exception TAP there as well (weak host model): strict reverse-path
# filtering drops them after the packet socket has seen them (the kernel
# counts TcpExtIPReversePathFilter), no ARP answers from IF, no IPv6 on it.
# Host traffic then arrives through the TAP only.
sy_lb_tap_only() {
	ip netns exec "$1" sysctl -qw net.ipv4.conf.all.rp_filter=1 "net.ipv4.conf.$2.rp_filter=1" \
		"net.ipv4.conf.$2.arp_ignore=1" "net.ipv6.conf.$2.disable_ipv6=1"
}

# sy_keyfile PATH: a fresh HMAC key for a service (32 random bytes in hex),
# private to its owner as sy-control and syctl require
sy_keyfile() {
	head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$1" && chmod 600 "$1"
}

# sy_static_service NAME VIP PORT ADDR...: a configuration's list entry
# (under `services:`) for a static ipip TCP service, backends ADDR:PORT, to
# which the caller appends its own keys (e.g. `    health:`)
sy_static_service() {
	local name=$1 vip=$2 port=$3 a
	shift 3
	printf '  - name: %s\n    vip: %s\n    port: %s\n    protocol: tcp\n    mode: ipip\n' \
		"$name" "$vip" "$port"
	printf '    source: static\n    next_hop_mac: 02:00:00:00:00:fe\n    backends:\n'
	for a in "$@"; do printf '      - { address: %s, port: %s }\n' "$a" "$port"; done
}

# sy_metric SOCK SERIES: the value of one series of sy-control's /metrics
# (API socket SOCK), e.g. 'switchyard_health_checks_passed_total{service="web"}'
sy_metric() {
	curl -s --unix-socket "$1" http://x/metrics | awk -v s="$2" '$1 == s { print $2 }'
}

# sy_log_held WHAT: of the log lines on stdin, the lines sy-control's rate
# limits held back, summed from their summaries ("WHAT: N more not logged")
sy_log_held() {
	awk -v w="\"$1: " '{ i = index($0, w); if (i) n += substr($0, i + length(w)) + 0 } END { print n + 0 }'
}

# sy_no_leak_check CMD...: CMD with LeakSanitizer off (ASan builds; nothing
# changes otherwise), whose check at a process's exit costs ~55 ms here.
# For a loop that runs one syctl query many times, where a run of the same
# query with the check has passed in the test: each run is a new process
# taking the same path, so the repeats' checks add time, not coverage.
sy_no_leak_check() { ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" "$@"; }

# sy_ms_since T: milliseconds since T, an $EPOCHREALTIME taken earlier
sy_ms_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", (b - a) * 1000 }'; }

# sy_dp_answered TEXT: a `syctl lookup` answer (plain or --json) is the
# running dataplane's own: "answered_by": "dataplane" (plain: "answered by
# the dataplane's connection tables"). sy-control asks the dataplane's
# telemetry with a 500 ms deadline (control/daemon/dp_query.c); when an
# ask misses it, or the socket is unreachable, it answers from the
# published table ("table"). On a loaded machine one ask can miss: a check
# that needs the dataplane's answer (conntrack) asks again (sy_wait) and
# does not take one missed ask as its verdict.
sy_dp_answered() { grep -Eq '"answered_by": *"dataplane"|^answered +by the dataplane' <<<"$1"; }

# sy_batch N CMD...: CMD in the background, at most N of a batch at a time
# (a redirection of the call goes to CMD); sy_batch_wait: the batch's rest.
# For many independent lookups, each a process that mostly waits.
SY_BATCH=()
sy_batch() {
	local n=$1
	shift
	"$@" &
	SY_BATCH+=($!)
	[ ${#SY_BATCH[@]} -lt "$n" ] || sy_batch_wait
}
sy_batch_wait() {
	[ ${#SY_BATCH[@]} -eq 0 ] || wait "${SY_BATCH[@]}"
	SY_BATCH=()
}

# sy_wait SECONDS CMD...: retry CMD every 0.1 s until it succeeds or time runs out
# (microseconds of $EPOCHREALTIME: with the whole seconds of $SECONDS,
# `sy_wait N` gave up anywhere between N-1 and N seconds)
sy_wait() {
	local t=$1
	shift
	local end=$((${EPOCHREALTIME/[.,]/} + t * 1000000))
	while [ "${EPOCHREALTIME/[.,]/}" -lt $end ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

# sy_http_backend NS NAME: a real HTTP server on port 80 answering its name
# at / and a 256 KiB body at /big
sy_http_backend() {
	local ns=$1 name=$2 dir
	dir=$(mktemp -d /tmp/sy-www-XXXXXX)
	SY_FILES+=("$dir")
	echo "$name" >"$dir/index.html"
	head -c 262144 /dev/zero | tr '\0' 'x' >"$dir/big"
	ip netns exec "$ns" python3 -m http.server 80 --bind 0.0.0.0 --directory "$dir" \
		>/dev/null 2>&1 &
	SY_PIDS+=($!)
}

# sy_require WHY BINARY...: root (for WHY) and BUILD's binaries (paths
# below BUILD), else a FAIL line and exit 1
sy_require() {
	local why=$1 b
	shift
	[ "$(id -u)" -eq 0 ] || { echo "FAIL: needs root ($why)"; echo "RESULT: FAIL"; exit 1; }
	for b in "$@"; do
		[ -x "$BUILD/$b" ] || { echo "FAIL: missing $BUILD/$b"; echo "RESULT: FAIL"; exit 1; }
	done
}
