#!/bin/bash
# One service cannot exhaust the region or block the others' publishing
# (issue 12, point 2; docs/control.md, "Backend caps" and "When a service
# cannot be published"). sy-control alone (no dataplane), limits
# {services: 4, backends: 16}: reg (embedded, its share: (16 - 4) / 2 = 6
# backends), web (static, max_backends: 4), dns (static, its share: 6).
#
#   1. 20 signed registrations to reg: the first 6 answered 200, the 14
#      others 507 with the reason; a heartbeat of a registered one is 200;
#      counted: registrations_total{result="over_capacity"} 14, per service
#      and per source in /metrics and in `syctl status`; one log line for
#      it, not one per refusal;
#   2. meanwhile web's changes are published (`syctl add` within its cap,
#      a weight change: its published backends and digest change); the
#      `syctl add` over web's cap exits 1 with 507 and the reason;
#   3. a service that cannot be published (a reload gives dns a table
#      the 2 MiB heap cannot hold) fails alone: web's changes still go out,
#      `syctl status` and /metrics say dns fails, it is retried with a
#      back-off (at most 3 attempts in 3.5 s, one log line), and publishes
#      again once the reload takes the table back.
#
# Before (7d62eb0): all 20 registrations answered 200, 13 of them got
# published, then every publish failed ("all 16 backend slots in use") for
# every service, retried every 50 ms with a log line each:
#   FAIL: registrations: 200 x20,  (want 200 x6, 507 x14)
#   FAIL: syctl add web 198.18.0.13:80 not published: web has 2 backends
#   FAIL: weight change not published: digest b63756b8c9c4a9d0 -> b63756b8c9c4a9d0 -> ...
#   FAIL: syctl add over the cap: exit 0, { "ok": true, ... }
#   FAIL: the log: 0 lines for reg's refusals (want 1..2), 184 publish lines (want 0)
#   FAIL: web's change not published while dns fails: digest b63756b8c9c4a9d0 -> ...
#
# usage: test_caps.sh BUILD_DIR
set -u
BUILD=$(realpath "$1")
HERE=$(dirname "$(realpath "$0")")
. "$HERE/netns_lib.sh"
trap sy_cleanup EXIT
W=$(mktemp -d /tmp/sy-caps-XXXXXX)
SY_FILES+=("$W")
SOCK=$W/api.sock
PY=/usr/bin/python3
RPORT=$($PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
sy_keyfile "$W/key"
ctl() { "$BUILD/control/syctl" --socket "$SOCK" "$@"; }
metric() { curl -s --unix-socket "$SOCK" http://x/metrics | awk -v s="$1" '$1 == s {print $2}'; }
# svc FIELD SERVICE: a field of `syctl --json services`
svc() { ctl --json services | $PY -c "
import json, sys
for s in json.load(sys.stdin)['services']:
    if s['name'] == '$2': print(s['$1'])"; }
# checks for sy_wait (it runs functions of this shell)
svc_is() { [ "$(svc "$1" "$2")" = "$3" ]; }                 # FIELD SERVICE VALUE
svc_not() { [ "$(svc "$1" "$2")" != "$3" ]; }               # FIELD SERVICE VALUE
metric_is() { [ "$(metric "$1")" = "$2" ]; }                # SERIES VALUE
status_has() { ctl status | grep -q -- "$1"; }              # PATTERN
config() { # DNS_TABLE_SIZE
	cat >"$W/sw.yaml" <<EOF
instance: caps$$
region: $W/region
state_file: $W/state
limits: { lcores: 2, services: 4, backends: 16, heap_mb: 2 }
api: { socket: $SOCK }
defaults: { encap_source4: 198.18.0.1, table_size: 251 }
registry:
  embedded: { listen: 127.0.0.1:$RPORT, allowed_prefixes: [127.0.0.0/8, 198.18.0.0/15] }
services:
  - { name: reg, vip: 198.18.1.1, port: 80, protocol: tcp, mode: ipip, source: embedded,
      key_file: $W/key, next_hop_mac: "02:00:00:00:00:fe", health: { default_ttl_s: 60 } }
  - name: web
    vip: 198.18.1.2
    port: 80
    protocol: tcp
    mode: ipip
    source: static
    max_backends: 4
    next_hop_mac: 02:00:00:00:00:fe
    backends:
      - { address: 198.18.0.11, port: 80 }
      - { address: 198.18.0.12, port: 80 }
  - { name: dns, vip: 198.18.1.3, port: 53, protocol: udp, mode: ipip, source: static,
      table_size: $1, next_hop_mac: "02:00:00:00:00:fe",
      backends: [ { address: 198.18.0.31, port: 53 } ] }
EOF
}
config 251
"$BUILD/control/sy-control" --config "$W/sw.yaml" >"$W/control.log" 2>&1 &
SY_PIDS+=($!)
sy_wait 10 test -S "$SOCK" || { cat "$W/control.log"; sy_fail "sy-control did not start"; exit 1; }
sy_wait 5 svc_is backends web 2 || sy_fail "web not published at start"

# ---- 1. 20 registrations to reg -------------------------------------------------
# prints "STATUS ERROR" per registration, in order (198.18.2.1 .. .20), then
# the heartbeat of 198.18.2.1
$PY - "$W/key" "$RPORT" >"$W/answers" <<'EOF'
import hashlib, hmac, http.client, json, os, sys, time
key = bytes.fromhex(open(sys.argv[1]).read().strip())
def register(addr):
    body = json.dumps({"service": "reg", "address": addr, "port": 80, "weight": 1, "ttl_s": 60,
                       "timestamp_ms": int(time.time() * 1000), "nonce": os.urandom(16).hex()},
                      separators=(",", ":")).encode()
    c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[2]), timeout=5)
    c.request("POST", "/v1/register", body, {"X-Switchyard-Signature":
                                             hmac.new(key, body, hashlib.sha256).hexdigest()})
    r = c.getresponse()
    answer = json.loads(r.read() or b"{}")
    print(r.status, answer.get("error", ""))
    c.close()
for i in range(1, 21):
    register("198.18.2.%d" % i)
register("198.18.2.1")
EOF
codes=$(head -20 "$W/answers" | awk '{print $1}' | uniq -c | awk '{printf "%s x%s, ", $2, $1}')
[ "$codes" = "200 x6, 507 x14, " ] && sy_pass "registrations: $codes" ||
	sy_fail "registrations: $codes (want 200 x6, 507 x14)"
reason=$(sed -n 7p "$W/answers" | cut -d' ' -f2-)
[ "$reason" = "service reg: at its cap of 6 backends (its share of limits.backends; services[0].max_backends sets it); one must leave before another joins" ] &&
	sy_pass "the 507 says why: $reason" || sy_fail "the 507's reason: '$reason'"
[ "$(sed -n 21p "$W/answers" | awk '{print $1}')" = 200 ] &&
	sy_pass "a heartbeat of a registered backend at the cap: 200" ||
	sy_fail "heartbeat at the cap: $(sed -n 21p "$W/answers")"
oc=$(metric 'switchyard_registrations_total{result="over_capacity"}')
acc=$(metric 'switchyard_registrations_total{result="accepted"}')
per=$(metric 'switchyard_service_backends_over_capacity_total{service="reg"}')
[ "$oc" = 14 ] && [ "$acc" = 7 ] && [ "$per" = 14 ] &&
	sy_pass "counted: registrations over_capacity 14, accepted 7, service reg 14" ||
	sy_fail "counts: over_capacity '$oc' accepted '$acc' service '$per' (want 14, 7, 14)"
ctl status | grep -q "embedded .* 14 over capacity" && sy_pass "syctl status: $(ctl status | grep 'source *embedded')" ||
	sy_fail "syctl status: $(ctl status | grep 'source *embedded')"
sy_wait 3 svc_is backends reg 6 && metric_is 'switchyard_service_backends_counted{service="reg"}' 6 &&
	sy_pass "reg publishes its 6 backends" ||
	sy_fail "reg: $(svc backends reg) published, $(metric 'switchyard_service_backends_counted{service="reg"}') counted"

# ---- 2. the other services publish meanwhile -----------------------------------------
d0=$(svc digest web)
ctl add web 198.18.0.13:80 >/dev/null || sy_fail "syctl add web 198.18.0.13:80"
sy_wait 3 svc_is backends web 3 &&
	sy_pass "syctl add web 198.18.0.13:80 is published: web has 3 backends" ||
	sy_fail "syctl add web 198.18.0.13:80 not published: web has $(svc backends web) backends"
d1=$(svc digest web)
ctl weight web 198.18.0.11:80 3 >/dev/null || sy_fail "syctl weight"
sy_wait 3 svc_not digest web "$d1" && [ "$d1" != "$d0" ] && sy_pass "a weight change is published: web's digest $d0 -> $d1 -> $(svc digest web)" ||
	sy_fail "weight change not published: digest $d0 -> $d1 -> $(svc digest web)"
ctl add web 198.18.0.14:80 >/dev/null || sy_fail "syctl add web 198.18.0.14:80 (the 4th, within the cap)"
out=$(ctl add web 198.18.0.15:80 2>&1)
rc=$?
[ $rc = 1 ] && echo "$out" | grep -q "507 .*service web: at its cap of 4 backends (services\[1\].max_backends)" &&
	sy_pass "syctl add over web's cap: exit 1, $out" || sy_fail "syctl add over the cap: exit $rc, $out"
[ "$(metric 'switchyard_backends_over_capacity_total{source="api"}')" = 1 ] &&
	sy_pass "counted: backends_over_capacity_total{source=\"api\"} 1" ||
	sy_fail "api over capacity: $(metric 'switchyard_backends_over_capacity_total{source="api"}')"

# the log: a line when reg reached its cap, none per refusal; no publish failed
nref=$(grep -c 'msg="backends\? refused.* service=reg ' "$W/control.log")
npub=$(grep -c 'publish failed\|cannot publish' "$W/control.log")
[ "$nref" -ge 1 ] && [ "$nref" -le 2 ] && [ "$npub" = 0 ] &&
	sy_pass "the log: $nref line(s) for reg's 14 refusals, no publish failure" ||
	sy_fail "the log: $nref lines for reg's refusals (want 1..2), $npub publish lines (want 0)"

# ---- 3. a service that cannot be published ---------------------------------------------
config 1048573 # dns: a 4 MiB table in a 2 MiB heap
ctl reload >/dev/null || sy_fail "syctl reload (dns table_size 1048573)"
t0=$SECONDS
sy_wait 3 status_has 'dns: service dns: region heap full' &&
	sy_pass "syctl status: $(ctl status | grep -A1 '^publishing' | tr '\n' ' ')" ||
	sy_fail "syctl status: $(ctl status | grep -A1 '^publishing' | tr '\n' ' ')"
[ "$(metric 'switchyard_service_publish_failing{service="dns"}')" = 1 ] &&
	[ "$(metric 'switchyard_service_publish_failing{service="web"}')" = 0 ] &&
	sy_pass "/metrics: service_publish_failing dns 1, web 0" ||
	sy_fail "/metrics publish_failing: dns $(metric 'switchyard_service_publish_failing{service="dns"}') web $(metric 'switchyard_service_publish_failing{service="web"}')"
ctl services | grep -q "^dns .* publish-failing: service dns: region heap full" &&
	sy_pass "syctl services: $(ctl services | grep '^dns')" || sy_fail "syctl services: $(ctl services | grep '^dns')"
d2=$(svc digest web)
ctl weight web 198.18.0.12:80 5 >/dev/null || sy_fail "syctl weight while dns fails"
sy_wait 3 svc_not digest web "$d2" &&
	sy_pass "web's weight change is published while dns fails" ||
	sy_fail "web's change not published while dns fails: digest $d2 -> $(svc digest web)"
metric_is 'switchyard_service_publish_failing{service="reg"}' 0 || sy_fail "reg failing too"
left=$((t0 + 4 - SECONDS)); [ $left -gt 0 ] && sleep $left
attempts=$(ctl --json status | $PY -c "import json,sys; print([f['attempts'] for f in json.load(sys.stdin)['publish_failing'] if f['service'] == 'dns'][0])")
nfail=$(grep -c 'cannot publish service.*service=dns' "$W/control.log")
[ "$attempts" -ge 2 ] && [ "$attempts" -le 3 ] && [ "$nfail" = 1 ] &&
	sy_pass "dns retried with a back-off: $attempts attempts in 4 s, $nfail log line" ||
	sy_fail "dns: $attempts attempts in 4 s (want 2..3: 1 s, then 2 s), $nfail log lines (want 1)"
config 251
ctl reload >/dev/null || sy_fail "syctl reload (dns table_size 251)"
sy_wait 3 status_has '^publishing  ok' && metric_is 'switchyard_service_publish_failing{service="dns"}' 0 &&
	grep -q '"service published again" service=dns' "$W/control.log" &&
	sy_pass "dns publishes again after the reload: $(grep 'published again' "$W/control.log")" ||
	sy_fail "dns after the reload: $(ctl status | grep -A1 '^publishing' | tr '\n' ' ')"
n=$(metric 'switchyard_service_publish_errors_total{service="dns"}')
[ "${n:-0}" -ge "$attempts" ] && [ "${n:-0}" -le $((attempts + 1)) ] &&
	sy_pass "counted: service_publish_errors_total{service=\"dns\"} $(metric 'switchyard_service_publish_errors_total{service="dns"}')" ||
	sy_fail "publish errors of dns: $(metric 'switchyard_service_publish_errors_total{service="dns"}')"

[ "$SY_FAILED" -eq 0 ] && echo "RESULT: PASS" || { echo "RESULT: FAIL"; tail -30 "$W/control.log"; }
exit "$SY_FAILED"
