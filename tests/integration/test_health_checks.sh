#!/bin/bash
# Active health checks of sy-control (issue 15 point 5; control/daemon/health.c):
# HTTPS, and HTTP checks run in parallel. sy-control (static services, no
# dataplane) and the backends' servers (health_server.py) share a network
# namespace of the test's, the backends' addresses on its loopback.
# Checks:
#   1. https: a TLS server answering 200 is up; a plain-HTTP server and a
#      TLS server answering 503 are unhealthy; an http check of the TLS
#      server is unhealthy too
#   2. udp: an answer starting with `receive` is up; another answer, or a
#      port unreachable (no server), is unhealthy
#   3. parallel: 400 backends (addresses of one server) each answering
#      after 1 s (timeout 2900 ms: a slow check on a loaded machine, 400
#      server threads beside the ASan tree, is not the test's verdict): all
#      up and staying up, and the server saw more than 256 checks in flight
#      together (before session 44: at most 256, a batch's cap, so that a
#      round of slow checks took several timeouts, and the checks were cut
#      at the 250 ms timeout of part 4's services: none came up; before
#      that, one GET at a time after the connects)
#   4. not sent: checks that cannot leave this host (no route towards the
#      backend: behind sy-dataplane, its TAP gone while it restarts; an
#      unreachable, prohibit or blackhole route) keep the backend's state:
#      tcp, http and through-the-tunnel checks of backends without a route
#      stay up with "unsent" in the CHECK column and the reason, counted in
#      /metrics, logged once a backend (before: each such check failed and
#      took the backend down at once with fall 1); given a route, the
#      checks are sent again: a server there passes, a closed port fails
#      and takes its backend down
#   5. a check due is not held behind a slow one: while an http check
#      waits 6 s for its answer, another service's checks (every 250 ms) go
#      on at their cadence (before session 44: the checks ran in rounds, and
#      a round ended with its slowest check: none in those 6 s)
#   6. more than 1024 descriptors: a second sy-control holds 1200 checks
#      at once (answers after 4 s), so that its descriptors pass FD_SETSIZE;
#      its API and its embedded registry answer meanwhile (select() cannot
#      wait on such a descriptor: libmicrohttpd must poll()), and all 1200
#      come up
#   7. an answer read late still counts: a third sy-control's tcp check
#      (every 500 ms, timeout 200 ms, fall 1) of a listening server, while
#      strace holds each of its connect() calls 400 ms (the handshake is
#      done meanwhile; the checking thread, as one starved of its core or
#      starting a large batch, looks only after the deadline): the checks
#      pass, none fails (before session 46 each failed unread: down)
#
# usage: test_health_checks.sh BUILD_DIR
set -u
BUILD=$(realpath "$1")
HERE=$(dirname "$(realpath "$0")")
. "$HERE/netns_lib.sh"
sy_require "a network namespace" control/sy-control control/syctl
trap sy_cleanup EXIT
W=$(mktemp -d /tmp/sy-hc-XXXXXX)
SY_FILES+=("$W")
SOCK=$W/api.sock # head_yaml puts it there
NS=syhc$$
sy_ns $NS || exit 1
for a in $(seq 21 28) $(seq 31 38); do ip -n $NS addr add 198.18.0.$a/32 dev lo; done
ctl() { "$BUILD/control/syctl" --socket "$SOCK" "$@"; }
state() { ctl backends "$1" | awk -v a="$2" '$1 == a { print $4 }'; }
# up counts by a passing last check (the CHECK column): a backend is up
# from the start, before its first check
is_state() {
	[ "$(state "$1" "$2")" = "$3" ] &&
		{ [ "$3" != up ] || ctl backends "$1" | grep -q "^$2 .* pass x[0-9]*, [0-9.]* s ago\$"; }
}
expect_state() { # WITHIN_S SVC ADDR:PORT STATE WHAT
	if sy_wait "$1" is_state "$2" "$3" "$4"; then
		sy_pass "$5: $2 $3 $4"
	else
		sy_fail "$5: $2 $3 is '$(state "$2" "$3")', not $4"
	fi
}

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=backend \
	-keyout "$W/key.pem" -out "$W/cert.pem" >/dev/null 2>&1 || { sy_fail "openssl"; exit 1; }
srv() { # ADDR PORT STATUS DELAY NAME [tls]
	local tls=()
	[ "${6:-}" = tls ] && tls=(--tls "$W/cert.pem" "$W/key.pem")
	ip netns exec $NS python3 "$HERE/health_server.py" "$1" "$3" "$4" "$W/$5.stats" --port "$2" \
		--times "$W/$5.times" "${tls[@]}" &
	SY_PIDS+=($!)
}
srv 198.18.0.21 443 200 0 tls200 tls
srv 198.18.0.22 443 200 0 plain
srv 198.18.0.23 443 503 0 tls503 tls
srv 0.0.0.0 8081 200 1 slow
srv 198.18.0.26 80 200 0 fast
srv 198.18.0.27 8082 200 6 slower
# 3's 400 backends: 198.18.8.0/23 all local, one route
ip -n $NS route add local 198.18.8.0/23 dev lo
SLOW_BACKENDS=$(for i in $(seq 200); do echo 198.18.8.$i 198.18.9.$i; done)
# a UDP server answering "PONG " and the datagram
ip netns exec $NS python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("198.18.0.24", 5353))
while True:
    d, a = s.recvfrom(600)
    s.sendto(b"PONG " + d, a)' &
SY_PIDS+=($!)
# bound before sy-control's first check: a check that finds no socket yet
# fails (port unreachable), and udpok's failed count is asserted 0 below
# (it read 1 once, on a loaded machine)
sy_wait 10 eval "ip netns exec $NS ss -Hlun | grep -q '198.18.0.24:5353 '" ||
	{ sy_fail "the UDP server did not bind 198.18.0.24:5353"; exit 1; }
# and part 5's servers (its window starts at the slower one's first check)
for l in 198.18.0.26:80 198.18.0.27:8082; do
	sy_wait 10 eval "ip netns exec $NS ss -Hltn | grep -q '$l '" ||
		{ sy_fail "no server listens on $l"; exit 1; }
done

CHECK="interval_ms: 1000, timeout_ms: 900, rise: 1, fall: 1"
svc() { # NAME VIP TYPE PORT ADDR... (EXTRA: more check options)
	local name=$1 vip=$2 type=$3 port=$4 a
	shift 4
	printf '  - name: %s\n    vip: %s\n    port: 80\n    protocol: tcp\n    mode: ipip\n' "$name" "$vip"
	printf '    source: static\n    next_hop_mac: 02:00:00:00:00:fe\n'
	[ -n "${MAXB:-}" ] && printf '    max_backends: %s\n' "$MAXB"
	printf '    backends:\n'
	for a in "$@"; do printf '      - { address: %s, port: %s }\n' "$a" "$port"; done
	printf '    health:\n      check: { type: %s, %s%s }\n      hold_down_s: 0\n' "$type" "$CHECK" "${EXTRA:-}"
	printf '      panic_threshold: 0\n'
}
head_yaml() { # INSTANCE DIR LIMITS TABLE_SIZE [MORE]: up to `services:`
	printf 'instance: %s\nregion: %s/region\nstate_file: %s/region.state\n' "$1" "$2" "$2"
	printf 'limits: { lcores: 4, %s }\napi:\n  socket: %s/api.sock\n%s' "$3" "$2" "${5:-}"
	printf 'defaults:\n  encap_source4: 198.18.0.1\n  table_size: %s\nservices:\n' "$4"
}
{
	head_yaml hctest "$W" "services: 12, backends: 1024, heap_mb: 16" 1021
	svc tls 198.18.1.1 https 443 198.18.0.21 198.18.0.22 198.18.0.23
	svc tlsplain 198.18.1.2 http 443 198.18.0.21
	EXTRA=', send: PING, receive: "PONG PING"' svc udpok 198.18.1.4 udp 5353 198.18.0.24
	EXTRA=', send: PING, receive: NOPE' svc udpwrong 198.18.1.5 udp 5353 198.18.0.24
	EXTRA=', send: PING' svc udpclosed 198.18.1.6 udp 5353 198.18.0.25
	CHECK="interval_ms: 3000, timeout_ms: 2900, rise: 1, fall: 1" \
		MAXB=400 svc slow 198.18.1.3 http 8081 $SLOW_BACKENDS
	# 4: no route from this namespace (198.18.2.1, .4, .5), an unreachable,
	# a prohibit and a blackhole route (.6, .2, .3)
	CHECK="interval_ms: 300, timeout_ms: 250, rise: 1, fall: 1"
	svc noroute 198.18.1.7 tcp 80 198.18.2.1 198.18.2.2 198.18.2.3 198.18.2.6
	EXTRA=', through: tunnel' svc noroutetun 198.18.1.8 tcp 80 198.18.2.4
	svc noroutehttp 198.18.1.9 http 80 198.18.2.5
	# 5
	CHECK="interval_ms: 250, timeout_ms: 240, rise: 1, fall: 1" svc fast 198.18.1.10 http 80 198.18.0.26
	CHECK="interval_ms: 9000, timeout_ms: 8000, rise: 1, fall: 1" svc slower 198.18.1.11 http 8082 198.18.0.27
} >"$W/sw.yaml"
ip -n $NS route add unreachable 198.18.2.6/32
ip -n $NS route add prohibit 198.18.2.2/32
ip -n $NS route add blackhole 198.18.2.3/32
"$BUILD/control/sy-control" --check --config "$W/sw.yaml" >"$W/check.out" 2>&1 ||
	{ sy_fail "--check: $(cat "$W/check.out")"; exit 1; }
ip netns exec $NS "$BUILD/control/sy-control" --config "$W/sw.yaml" >"$W/log" 2>&1 &
SY_PIDS+=($!)
sy_wait 10 test -S "$SOCK" || { cat "$W/log"; sy_fail "sy-control did not start"; exit 1; }

# 1. https
expect_state 10 tls 198.18.0.21:443 up "https, TLS server answering 200"
expect_state 10 tls 198.18.0.22:443 unhealthy "https, plain-HTTP server"
expect_state 10 tls 198.18.0.23:443 unhealthy "https, TLS server answering 503"
expect_state 10 tlsplain 198.18.0.21:443 unhealthy "http check of a TLS server"

# 2. udp
expect_state 10 udpwrong 198.18.0.24:5353 unhealthy "udp, another answer"
expect_state 10 udpclosed 198.18.0.25:5353 unhealthy "udp, port unreachable"
expect_state 10 udpok 198.18.0.24:5353 up "udp, the expected answer"

# what the checks said: syctl backends' CHECK column, /metrics' counters
ctl backends udpclosed | grep -q '^198.18.0.25:5353 .* fail x[0-9]*, [0-9.]* s ago$' &&
	sy_pass "syctl backends: $(ctl backends udpclosed | tail -1 | sed 's/  */ /g')" ||
	sy_fail "syctl backends udpclosed: $(ctl backends udpclosed)"
ctl backends udpok | grep -q '^198.18.0.24:5353 .* pass x[0-9]*, [0-9.]* s ago$' &&
	sy_pass "syctl backends: $(ctl backends udpok | tail -1 | sed 's/  */ /g')" ||
	sy_fail "syctl backends udpok: $(ctl backends udpok)"
curl -s --unix-socket "$SOCK" http://x/metrics >"$W/metrics"
metric() { sed -n "s/^$1{service=\"$2\"} \([0-9]*\)$/\1/p" "$W/metrics"; }
f=$(metric switchyard_health_checks_failed_total udpclosed)
p=$(metric switchyard_health_checks_passed_total udpok)
[ "${f:-0}" -ge 1 ] && [ "$(metric switchyard_health_checks_passed_total udpclosed)" = 0 ] &&
	[ "${p:-0}" -ge 1 ] && [ "$(metric switchyard_health_checks_failed_total udpok)" = 0 ] &&
	sy_pass "/metrics: udpclosed $f checks failed, udpok $p passed (0 the other way)" ||
	sy_fail "/metrics: $(grep switchyard_health_checks "$W/metrics" | grep udp | tr '\n' ' ')"

# 3. parallel
up=0
checked_up_all() { [ "$(ctl backends slow | grep -c ' up .* pass x[0-9]*, [0-9.]* s ago$')" = 400 ]; }
sy_wait 15 checked_up_all && up=400
[ $up = 400 ] && sy_pass "400 backends answering after 1 s, timeout 2900 ms: all up" ||
	sy_fail "slow backends up: $(ctl backends slow | grep -c ' up .* pass') of 400"
# and they stay up through two more rounds of checks (fall 1: one failed
# check would take a backend down)
bad=0
log0=$(wc -l <"$W/log")
end=$((SECONDS + 7))
while [ $SECONDS -lt $end ]; do
	[ "$(ctl backends slow | grep -c ' up ')" = 400 ] || bad=$((bad + 1))
	sleep 0.3
done
[ $bad = 0 ] && sy_pass "all 400 stayed up for 7 s of checks" || sy_fail "not all 400 up in $bad samples"
# (before, one may have: the servers start beside sy-control)
tail -n +$((log0 + 1)) "$W/log" | grep -q '"health check fails: backend down" service=slow' &&
	sy_fail "a slow backend's check failed: $(tail -n +$((log0 + 1)) "$W/log" | grep -m1 'service=slow')" ||
	sy_pass "no check of a slow backend failed meanwhile"
most=$(cat "$W/slow.stats")
[ "$most" -gt 256 ] && sy_pass "checks in flight together at the server: $most (of 400; more than a batch of 256)" ||
	sy_fail "checks in flight together: $most of 400 (a batch of at most 256?)"

# 4. not sent
unsent() { # SVC ADDR:PORT REASON: up, its last 3 checks or more not sent for REASON
	ctl backends "$1" | grep -q "^$2 .* up .* unsent x\([3-9]\|[0-9][0-9]\+\), [0-9.]* s ago ($3)\$"
}
expect_unsent() { # SVC ADDR:PORT REASON
	sy_wait 10 unsent "$@" && sy_pass "not sent ($3): $1 $2 stays up: $(ctl backends "$1" |
		awk -v a="$2" '$1 == a' | sed 's/  */ /g')" ||
		sy_fail "not sent ($3): $1 $2: $(ctl backends "$1" | awk -v a="$2" '$1 == a')"
}
expect_unsent noroute 198.18.2.1:80 "Network is unreachable"
expect_unsent noroute 198.18.2.2:80 "Permission denied"
expect_unsent noroute 198.18.2.3:80 "Invalid argument"
expect_unsent noroute 198.18.2.6:80 "No route to host"
expect_unsent noroutetun 198.18.2.4:80 "Network is unreachable"
expect_unsent noroutehttp 198.18.2.5:80 "Network is unreachable"
curl -s --unix-socket "$SOCK" http://x/metrics >"$W/metrics"
u=$(metric switchyard_health_checks_unsent_total noroute)
[ "${u:-0}" -ge 12 ] && [ "$(metric switchyard_health_checks_failed_total noroute)" = 0 ] &&
	[ "$(metric switchyard_health_checks_unsent_total udpok)" = 0 ] &&
	sy_pass "/metrics: noroute $u checks not sent, 0 failed (udpok: 0 not sent)" ||
	sy_fail "/metrics: $(grep -E 'switchyard_health_checks.*(noroute|udpok)' "$W/metrics" | tr '\n' ' ')"
n=$(grep -c '"health check not sent: backend state kept" service=noroute ' "$W/log")
grep -q '"health check not sent: backend state kept" service=noroute backend=198.18.2.1:80 error="Network is unreachable"' "$W/log" &&
	[ "$n" = 4 ] && ! grep -q '"health check fails: backend down" service=noroute ' "$W/log" &&
	sy_pass "logged once a backend (4 of noroute), none down" ||
	sy_fail "log: $n lines of noroute not sent; $(grep 'service=noroute ' "$W/log" | head -5)"
# a route (the address on this namespace's loopback): a server there
# passes; a closed port fails and takes its backend down
ip -n $NS addr add 198.18.2.1/32 dev lo
srv 198.18.2.1 80 200 0 back
ip -n $NS route del prohibit 198.18.2.2/32 && ip -n $NS addr add 198.18.2.2/32 dev lo
expect_state 10 noroute 198.18.2.1:80 up "a route and a server"
expect_state 10 noroute 198.18.2.2:80 unhealthy "a route and a closed port"
grep -q '"health check sent again" service=noroute backend=198.18.2.1:80' "$W/log" &&
	grep -q '"health check fails: backend down" service=noroute backend=198.18.2.2:80' "$W/log" &&
	sy_pass "logged: sent again, and 198.18.2.2 down" ||
	sy_fail "log: $(grep 'service=noroute ' "$W/log" | tail -4)"
expect_unsent noroute 198.18.2.3:80 "Invalid argument"

# 5. a check due is not held behind a slow one: the fast service's checks
# (the times its server saw them) within the slower one's first check, 6 s
# from its request to its answer
slower_done() { # the slower service's first check answered (6 s) a while ago
	python3 -c 'import sys, time
t = [float(x) for x in open(sys.argv[1])]
sys.exit(0 if t and t[0] + 6.5 < time.monotonic() else 1)' "$W/slower.times"
}
if sy_wait 20 slower_done; then
	read -r n gap < <(python3 -c 'import sys
s = float(open(sys.argv[1]).readline())
f = [float(x) for x in open(sys.argv[2])]
inside = [t for t in f if s <= t <= s + 6]
gaps = [b - a for a, b in zip([s] + inside, inside + [s + 6])]
print(len(inside), "%.2f" % max(gaps))' "$W/slower.times" "$W/fast.times")
	# a cadence of 250-350 ms gives ~20; held behind the slow check, 0
	[ "$n" -ge 8 ] && awk -v g="$gap" 'BEGIN { exit !(g < 2.5) }' &&
		sy_pass "while a check waited 6 s for its answer, another service's ran $n checks (longest gap ${gap} s)" ||
		sy_fail "while a check waited 6 s for its answer, another service's ran $n checks (longest gap ${gap} s): held behind it"
else
	sy_fail "the slower service's check was not answered: $(cat "$W/slower.times")"
fi
expect_state 10 slower 198.18.0.27:8082 up "a check answered after 6 s, timeout 8 s"

# 6. more than 1024 descriptors: a second sy-control, 1200 checks at once
# (1200 addresses of one server, answering 4 s after it reads a request,
# every 10 s). The timeout leaves the server 5 s to read them: beside the
# other tree's tests its one thread read them over seconds, and with 5.5 s
# and 6 s the rounds overlapped at the server (2,396 in flight in the full
# run of 4742fd7), each check that waited too long failing its backend.
M=$W/many
mkdir -p "$M"
sy_keyfile "$M/read.token"
ip -n $NS route add local 198.18.16.0/21 dev lo
ip netns exec $NS python3 "$HERE/health_server.py" 0.0.0.0 200 4 "$W/many.stats" --port 8083 &
SY_PIDS+=($!)
sy_wait 10 eval "ip netns exec $NS ss -Hltn | grep -q ':8083 '" ||
	{ sy_fail "the server of 1200 did not listen"; exit 1; }
MANY_BACKENDS=$(for i in $(seq 0 1199); do echo 198.18.$((16 + i / 200)).$((1 + i % 200)); done)
{
	head_yaml hcmany "$M" "services: 2, backends: 1300, heap_mb: 32" 4099 "registry:
  embedded:
    listen: 198.18.0.28:8300
    allowed_prefixes: [198.18.0.0/15]
    read:
      token_file: $M/read.token
"
	CHECK="interval_ms: 10000, timeout_ms: 9000, rise: 1, fall: 1" MAXB=1200 \
		svc many 198.18.1.12 http 8083 $MANY_BACKENDS
} >"$M/sw.yaml"
ip netns exec $NS "$BUILD/control/sy-control" --config "$M/sw.yaml" >"$M/log" 2>&1 &
MANY_PID=$!
SY_PIDS+=($MANY_PID)
sy_wait 10 test -S "$M/api.sock" || { cat "$M/log"; sy_fail "the second sy-control did not start"; exit 1; }
fds() { ls "/proc/$MANY_PID/fd" | wc -l; }
many_fds() { [ "$(fds)" -gt 1150 ]; }
if sy_wait 10 many_fds; then
	# the checks started together, and none ends before 4 s: no descriptor
	# below theirs is free, so the API's and the registry's are above 1150
	f0=$(fds)
	"$BUILD/control/syctl" --socket "$M/api.sock" backends many >"$M/backends" 2>&1
	rc=$?
	code=$(ip netns exec $NS curl -s -o "$M/services" -w '%{http_code}' \
		-H "Authorization: Bearer $(cat "$M/read.token")" http://198.18.0.28:8300/v1/services)
	f1=$(fds)
	[ $rc = 0 ] && [ "$(grep -c '^198\.18\.[0-9]*\.[0-9]*:8083 ' "$M/backends")" = 1200 ] &&
		sy_pass "syctl backends with $f0 descriptors open: 1200 rows" ||
		sy_fail "syctl backends with $f0 descriptors open: exit $rc, $(head -c 300 "$M/backends")"
	[ "$code" = 200 ] && grep -q many "$M/services" &&
		sy_pass "the embedded registry with $f0 descriptors open: HTTP 200" ||
		sy_fail "the embedded registry with $f0 descriptors open: HTTP $code $(head -c 300 "$M/services")"
	[ "$f1" -gt 1150 ] && sy_pass "still $f1 descriptors open after both answered" ||
		sy_fail "only $f1 descriptors open after the requests: the test did not hold them"
else
	sy_fail "the second sy-control has $(fds) descriptors open, not more than 1150"
fi
many_up() { [ "$("$BUILD/control/syctl" --socket "$M/api.sock" backends many |
	grep -c ' up .* pass x[0-9]*, [0-9.]* s ago$')" = 1200 ]; }
sy_wait 20 many_up && sy_pass "1200 checks answered after 4 s: all up" ||
	sy_fail "1200 checks: $("$BUILD/control/syctl" --socket "$M/api.sock" backends many | grep -c ' up .* pass') up with a passing check"
[ "$(cat "$W/many.stats")" -gt 1024 ] && sy_pass "checks in flight together at the server: $(cat "$W/many.stats")" ||
	sy_fail "checks in flight together: $(cat "$W/many.stats") of 1200"

# 7. an answer read late: the thread that makes the checks held 400 ms in
# each connect() (strace's delay injection), past the 200 ms timeout
L=$W/late
mkdir -p "$L"
command -v strace >/dev/null || sy_fail "part 7 needs strace (scripts/install-deps.sh test)"
{
	head_yaml hclate "$L" "services: 2, backends: 16, heap_mb: 16" 251
	CHECK="interval_ms: 500, timeout_ms: 200, rise: 1, fall: 1" svc late 198.18.1.13 tcp 443 198.18.0.21
} >"$L/sw.yaml"
ip netns exec $NS "$BUILD/control/sy-control" --config "$L/sw.yaml" >"$L/log" 2>&1 &
LATE_PID=$!
SY_PIDS+=($LATE_PID)
late_metric() { sy_metric "$L/api.sock" "switchyard_health_checks_$1_total{service=\"late\"}"; } # failed|passed
late_passing() { "$BUILD/control/syctl" --socket "$L/api.sock" backends late 2>/dev/null |
	grep -q "^198.18.0.21:443 .* up .* pass x[0-9]*, [0-9.]* s ago\$"; }
if sy_wait 10 late_passing; then
	f0=$(late_metric failed) p0=$(late_metric passed)
	strace -f -qq -o /dev/null -e trace=connect -e inject=connect:delay_exit=400000 -p $LATE_PID &
	STRACE_PID=$!
	SY_PIDS+=($STRACE_PID)
	sleep 4
	kill $STRACE_PID
	wait $STRACE_PID 2>/dev/null
	f1=$(late_metric failed) p1=$(late_metric passed)
	[ "$((p1 - p0))" -ge 3 ] && [ "$f1" = "$f0" ] && ! grep -q '"health check fails' "$L/log" &&
		sy_pass "each connect() held 400 ms past a 200 ms timeout: $((p1 - p0)) checks passed, none failed" ||
		sy_fail "each connect() held 400 ms: passed $p0 -> $p1, failed $f0 -> $f1; $(grep 'health check' "$L/log" | head -3)"
else
	sy_fail "the third sy-control's backend was not up with a passing check: $(tail -3 "$L/log")"
fi

[ "$SY_FAILED" -eq 0 ] && echo "RESULT: PASS" || echo "RESULT: FAIL"
exit "$SY_FAILED"
