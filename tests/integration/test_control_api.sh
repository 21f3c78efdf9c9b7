#!/bin/bash
# sy-control's API and syctl, without a dataplane: a static configuration in
# a temporary directory, the API on a unix socket and on loopback TCP with a
# token. Checks outputs, exit codes, error messages, reloads (good and bad),
# operator changes reflected in the Maglev table, and malformed requests.
#
# usage: test_control_api.sh BUILD_DIR
set -u
BUILD=$(realpath "$1")
HERE=$(dirname "$(realpath "$0")")
. "$HERE/netns_lib.sh"
trap sy_cleanup EXIT
W=$(mktemp -d /tmp/sy-api-XXXXXX)
SY_FILES+=("$W")
SOCK=$W/api.sock
# free loopback ports, chosen by the kernel (a derived port may be in use)
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
TOKEN=abcdefghijklmnop0123456789
echo $TOKEN >"$W/token"
chmod 600 "$W/token"
ctl() { "$BUILD/control/syctl" --socket "$SOCK" "$@"; }
expect_rc() { # RC DESCRIPTION CMD...
	local want=$1 what=$2
	shift 2
	"$@" >"$W/out" 2>"$W/err"
	local rc=$?
	[ $rc -eq "$want" ] && sy_pass "$what (exit $rc)" || { sy_fail "$what: exit $rc, want $want"; cat "$W/err"; }
}

config() { # extra services appended
	cat >"$W/sw.yaml" <<EOF
instance: apitest
region: $W/region
limits: { lcores: 4, services: 16, backends: 256, heap_mb: 16 }
api:
  socket: $SOCK
  tcp: 127.0.0.1:$PORT
  token_file: $W/token
defaults:
  encap_source4: 198.18.0.1
  table_size: 65537
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
      - { address: 198.18.0.12, port: 80 }
$1
EOF
}
HPORT=$(free_port)
[ "$HPORT" != "$PORT" ] || HPORT=$(free_port)
CHECKED="  - name: checked
    vip: 198.18.1.3
    port: 80
    protocol: tcp
    mode: ipip
    source: static
    next_hop_mac: 02:00:00:00:00:fe
    backends:
      - { address: 127.0.0.1, port: $HPORT }
    health:
      check: { type: http, path: /, interval_ms: 200, timeout_ms: 150, rise: 2, fall: 2 }
      hold_down_s: 0"
config "$CHECKED"
"$BUILD/control/sy-control" --config "$W/sw.yaml" >"$W/log" 2>&1 &
SY_PIDS+=($!)
sy_wait 10 test -S "$SOCK" || { cat "$W/log"; echo "FAIL: sy-control did not start"; exit 1; }
sy_wait 5 bash -c "'$BUILD/control/syctl' --socket '$SOCK' --json services | grep -q '\"backends\": 2'"

[ "$(stat -c %a "$SOCK")" = 660 ] && sy_pass "API socket mode 0660" || sy_fail "socket mode $(stat -c %a "$SOCK")"

# ---- active health checks (HTTP) -------------------------------------------
backend_state() { ctl --json backends checked | sed -n 's/.*"state": "\([a-z-]*\)".*/\1/p'; }
sy_wait 5 bash -c "[ \"\$('$BUILD/control/syctl' --socket '$SOCK' --json backends checked | grep -c unhealthy)\" = 1 ]" &&
	sy_pass "HTTP check: no server -> unhealthy" || sy_fail "HTTP check: state $(backend_state) without a server"
python3 -m http.server $HPORT --bind 127.0.0.1 --directory "$W" >/dev/null 2>&1 &
HTTPD=$!
SY_PIDS+=($HTTPD)
sy_wait 5 bash -c "'$BUILD/control/syctl' --socket '$SOCK' --json backends checked | grep -q '\"state\": \"up\"'" &&
	sy_pass "HTTP check: server answers 200 -> up after rise" || sy_fail "HTTP check: state $(backend_state) with a server"
ctl table checked | grep -q "127.0.0.1:$HPORT .* 100.000" && sy_pass "a healthy backend is published" ||
	sy_fail "healthy backend not in the table"
kill $HTTPD
t0=$(date +%s%N)
sy_wait 5 bash -c "'$BUILD/control/syctl' --socket '$SOCK' --json backends checked | grep -q unhealthy" &&
	sy_pass "HTTP check: server gone -> unhealthy after $(( ($(date +%s%N) - t0) / 1000000 )) ms (fall 2 x 200 ms)" ||
	sy_fail "HTTP check: state $(backend_state) after the server stopped"
sleep 0.2
# its only backend failing is more than the panic threshold (0.5 by default):
# fail-static keeps the last good set, and says so
ctl table checked | grep -q "127.0.0.1:$HPORT" && sy_pass "fail-static: the last good set stays published" ||
	sy_fail "panic threshold did not keep the last good set"
ctl status | grep -q "checked: panic" && sy_pass "syctl status shows the service degraded (panic)" ||
	{ sy_fail "no degraded state in syctl status"; ctl status; }
curl -s --unix-socket "$SOCK" http://x/metrics | grep -q 'switchyard_service_degraded{service="checked"} 1' &&
	sy_pass "/metrics shows the service degraded" || sy_fail "/metrics degraded gauge"

# ---- read commands, human and --json ------------------------------------------
for cmd in status services "backends web" "table web" stats "lookup web 198.18.0.2:1234 198.18.1.1:80 tcp"; do
	expect_rc 0 "syctl $cmd" ctl $cmd
	ctl --json $cmd | python3 -c 'import json,sys; json.load(sys.stdin)' 2>/dev/null &&
		sy_pass "syctl --json $cmd is JSON" || sy_fail "syctl --json $cmd is not JSON"
done
ctl table web | grep -q "198.18.0.11:80 .* 50.00" && sy_pass "two equal backends share the table evenly" ||
	{ sy_fail "table shares"; ctl table web; }

# ---- usage errors, unreachable, API errors --------------------------------------
expect_rc 2 "syctl with no command" ctl
expect_rc 2 "syctl unknown command" ctl frobnicate
expect_rc 2 "syctl weight with a bad weight" ctl weight web 198.18.0.11:80 70000
expect_rc 2 "syctl lookup with a bad endpoint" ctl lookup web 198.18.0.2 198.18.1.1:80 tcp
expect_rc 2 "syctl add with a bad endpoint" ctl add web nonsense
expect_rc 3 "syctl against a missing socket" "$BUILD/control/syctl" --socket "$W/nope.sock" status
expect_rc 1 "syctl backends of an unknown service" ctl backends nope
grep -q "no service 'nope'" "$W/err" && sy_pass "the error names the unknown service" || sy_fail "error text: $(cat "$W/err")"
expect_rc 1 "syctl remove of an unknown backend" ctl remove web 198.18.0.99:80

# ---- operator changes --------------------------------------------------------
expect_rc 0 "syctl add" ctl add web 198.18.0.13:80 2 02:00:00:00:00:13
sleep 0.3
ctl table web | grep -q "198.18.0.13:80 .* 50.00" && sy_pass "a weight-2 backend owns half of 1+1+2" ||
	{ sy_fail "weighted share"; ctl table web; }
expect_rc 0 "syctl drain" ctl drain web 198.18.0.12:80
sleep 0.3
ctl backends web | grep -q "198.18.0.12:80 .* draining" && sy_pass "drained backend shown as draining" || sy_fail "drain state"
ctl table web | grep -q "198.18.0.12:80 .* 0.000" && sy_pass "a drained backend owns no table entry" || sy_fail "drained share"
expect_rc 0 "syctl remove" ctl remove web 198.18.0.13:80
sleep 0.3
ctl --json backends web | grep -q 198.18.0.13 && sy_fail "removed backend still listed" || sy_pass "removed backend gone"

# ---- reloads ---------------------------------------------------------------------
gen=$(ctl --json status | sed -n 's/.*"generation": \([0-9]*\).*/\1/p')
cp "$W/sw.yaml" "$W/good.yaml"
config "$CHECKED
  - name: broken
    vip: 198.18.1.2
    port: 70000
    protocol: tcp
    mode: ipip
    source: static"
expect_rc 1 "syctl reload with a bad file" ctl reload
grep -q "sw.yaml:[0-9]*: services\[2\].port" "$W/err" && sy_pass "reload error names file, line and field" ||
	sy_fail "reload error: $(cat "$W/err")"
kill -HUP "${SY_PIDS[0]}"
sleep 0.5
grep -q "reload refused" "$W/log" && sy_pass "SIGHUP with a bad file is refused in the log" || sy_fail "SIGHUP: no refusal logged"
[ "$(ctl --json services | grep -c '"name"')" = 2 ] && [ "$(ctl --json status | sed -n 's/.*"generation": \([0-9]*\).*/\1/p')" = "$gen" ] &&
	sy_pass "bad reloads left the running state untouched" || sy_fail "bad reload changed the state"
expect_rc 2 "sy-control --check on the bad file" "$BUILD/control/sy-control" --check --config "$W/sw.yaml"
config "$CHECKED
  - name: dns
    vip: 198.18.1.1
    port: 53
    protocol: udp
    mode: gue
    source: static
    next_hop_mac: 02:00:00:00:00:fe
    backends:
      - { address: 198.18.0.21 }"
expect_rc 0 "syctl reload with a good file" ctl reload
sleep 0.3
ctl --json services | grep -q '"name": "dns"' && sy_pass "reload added a service" || sy_fail "reload did not add dns"

# ---- raw HTTP: malformed requests, token --------------------------------------------
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
u() { code --unix-socket "$SOCK" "$@"; }
[ "$(u http://x/v1/nope)" = 404 ] && sy_pass "unknown path: 404" || sy_fail "unknown path"
[ "$(u -X DELETE http://x/v1/status)" = 405 ] && sy_pass "wrong method: 405" || sy_fail "wrong method"
[ "$(u -X POST -d '{not json' http://x/v1/services/web/backends)" = 400 ] && sy_pass "malformed JSON: 400" || sy_fail "malformed JSON"
[ "$(u -X POST -d '{"address":"198.18.0.50","port":99999}' http://x/v1/services/web/backends)" = 400 ] &&
	sy_pass "out-of-range port: 400" || sy_fail "bad port accepted"
head -c 70000 /dev/zero | tr '\0' a >"$W/big"
[ "$(u -X POST --data-binary @"$W/big" http://x/v1/services/web/backends)" = 413 ] && sy_pass "oversized body: 413" || sy_fail "oversized body"
[ "$(u 'http://x/v1/lookup?service=web&src=1.2.3.4')" = 400 ] && sy_pass "incomplete lookup: 400" || sy_fail "incomplete lookup"
curl -s --unix-socket "$SOCK" http://x/v1/nope | python3 -c 'import json,sys; assert "error" in json.load(sys.stdin)' &&
	sy_pass "errors are JSON with an error field" || sy_fail "error body not JSON"
curl -s --unix-socket "$SOCK" http://x/metrics | grep -q '^switchyard_vip_packets_total{service="web"}' &&
	sy_pass "/metrics exposes per-VIP packet counters" || sy_fail "/metrics"
curl -s --unix-socket "$SOCK" http://x/metrics | grep -q 'switchyard_publish_latency_seconds_bucket' &&
	sy_pass "/metrics has the publish latency histogram" || sy_fail "no latency histogram"
T=http://127.0.0.1:$PORT
[ "$(code $T/v1/status)" = 401 ] && sy_pass "TCP API without token: 401" || sy_fail "TCP without token"
[ "$(code -H 'Authorization: Bearer wrongwrongwrongwrong' $T/v1/status)" = 401 ] && sy_pass "TCP API wrong token: 401" || sy_fail "wrong token"
[ "$(code -H 'Authorization: Basic abc' $T/v1/status)" = 401 ] && sy_pass "TCP API malformed auth: 401" || sy_fail "malformed auth"
[ "$(code $T/metrics)" = 401 ] && sy_pass "TCP /metrics needs the token too" || sy_fail "metrics without token"
[ "$(code -H "Authorization: Bearer $TOKEN" $T/v1/status)" = 200 ] && sy_pass "TCP API with token: 200" || sy_fail "token refused"
"$BUILD/control/syctl" --url $T --token-file "$W/token" status >/dev/null && sy_pass "syctl over TCP with --token-file" ||
	sy_fail "syctl over TCP"

[ $SY_FAILED -eq 0 ] && echo "RESULT: PASS" || echo "RESULT: FAIL"
exit $SY_FAILED
