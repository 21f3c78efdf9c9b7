#!/bin/bash
# The operator's API changes survive reloads and restarts (issue 12, point
# 8; docs/control.md, "Operator changes"): sy-control with a static service
# and an embedded one (one agent heartbeating), no dataplane.
#
#   - `syctl add` then a restart: the backend is still there, still "api",
#     and does not expire (before: adopted as "embedded", expired);
#   - `syctl weight` then `syctl reload`, and a restart: the weight holds
#     (before: reverted silently at the reload);
#   - `syctl drain` of a registered backend holds across its agent's
#     restart and sy-control's; `syctl reset` gives the registered weight
#     back, and that holds too;
#   - `syctl remove` of a configured backend says it returns with the next
#     reload, and it does;
#   - a state file that is not JSON, or of another version, stops --check
#     and the start with its name and the reason.
#
# usage: test_operator_state.sh BUILD_DIR
set -u
BUILD=$(realpath "$1")
HERE=$(dirname "$(realpath "$0")")
. "$HERE/netns_lib.sh"
trap sy_cleanup EXIT
W=$(mktemp -d /tmp/sy-opstate-XXXXXX)
SY_FILES+=("$W")
SOCK=$W/api.sock
STATE=$W/state/sy.state
PY=/usr/bin/python3
RPORT=$($PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
sy_keyfile "$W/key"
ctl() { "$BUILD/control/syctl" --socket "$SOCK" "$@"; }
# field FIELD SERVICE ADDR:PORT: a backend's field in `syctl --json backends`
field() { ctl --json backends "$2" | $PY -c "
import json, sys
for b in json.load(sys.stdin)['backends']:
    if '%s:%d' % (b['address'], b['port']) == '$3': print(b['$1'])"; }
cat >"$W/sw.yaml" <<EOF
instance: opstate$$
region: $W/region
state_file: $STATE
limits: { lcores: 2, services: 8, backends: 64, heap_mb: 8 }
api: { socket: $SOCK }
defaults: { encap_source4: 198.18.0.1, table_size: 251 }
registry:
  embedded: { listen: 127.0.0.1:$RPORT, allowed_prefixes: [127.0.0.0/8, 198.18.0.0/15] }
services:
$(sy_static_service web 198.18.1.1 80 198.18.0.11 198.18.0.12)
  - name: reg
    vip: 198.18.1.2
    port: 80
    protocol: tcp
    mode: ipip
    source: embedded
    key_file: $W/key
    next_hop_mac: 02:00:00:00:00:fe
    health: { default_ttl_s: 2, hold_down_s: 0 }
EOF
start() {
	rm -f "$SOCK"
	"$BUILD/control/sy-control" --config "$W/sw.yaml" >>"$W/control.log" 2>&1 &
	CONTROL=$!
	SY_PIDS+=($CONTROL)
	sy_wait 10 test -S "$SOCK" || { tail "$W/control.log"; sy_fail "sy-control did not start"; }
}
agent() {
	"$BUILD/control/syctl" register --service reg --addr 198.18.0.21 --port 80 --ttl 2 \
		--key-file "$W/key" --registry "http://127.0.0.1:$RPORT" >>"$W/agent.log" 2>&1 &
	AGENT=$!
	SY_PIDS+=($AGENT)
}
start
agent
sy_wait 5 bash -c "'$BUILD/control/syctl' --socket '$SOCK' --json backends reg | grep -q 198.18.0.21" ||
	sy_fail "the agent's backend did not register"

out=$(ctl add web 198.18.0.13:80 2) && echo "$out" | grep -q "$STATE" &&
	sy_pass "syctl add answers where the change is kept" || sy_fail "syctl add: $out"
ctl weight web 198.18.0.11:80 3 >/dev/null || sy_fail "syctl weight"
ctl drain reg 198.18.0.21:80 >/dev/null || sy_fail "syctl drain"
[ -s "$STATE" ] && $PY -c "import json; json.load(open('$STATE'))" &&
	sy_pass "the state file is written (JSON)" || sy_fail "no state file at $STATE"

# ---- a reload -----------------------------------------------------------------
ctl reload >/dev/null || sy_fail "syctl reload"
sleep 0.3
[ "$(field effective_weight web 198.18.0.11:80)" = 3 ] &&
	sy_pass "syctl weight holds across a reload" ||
	sy_fail "after a reload: effective weight $(field effective_weight web 198.18.0.11:80), want 3"
[ "$(field source web 198.18.0.13:80)" = api ] && sy_pass "the added backend stays after a reload" ||
	sy_fail "after a reload: 198.18.0.13 source '$(field source web 198.18.0.13:80)'"

# ---- a restart ------------------------------------------------------------------
kill -TERM $CONTROL && wait $CONTROL
kill -TERM $AGENT && wait $AGENT # deregisters; a new agent registers after
start
agent
sleep 6 # past the adoption grace (2 TTLs of 2 s)
[ "$(field source web 198.18.0.13:80)" = api ] && [ "$(field weight web 198.18.0.13:80)" = 2 ] &&
	[ "$(field state web 198.18.0.13:80)" = up ] &&
	sy_pass "the added backend survives a restart: source api, weight 2, up, not expired" ||
	sy_fail "after a restart: 198.18.0.13 source '$(field source web 198.18.0.13:80)' weight '$(field weight web 198.18.0.13:80)' state '$(field state web 198.18.0.13:80)'"
[ "$(field effective_weight web 198.18.0.11:80)" = 3 ] && sy_pass "syctl weight survives a restart" ||
	sy_fail "after a restart: effective weight $(field effective_weight web 198.18.0.11:80), want 3"
[ "$(field state reg 198.18.0.21:80)" = draining ] &&
	sy_pass "a drained registered backend stays drained across its agent's restart and sy-control's" ||
	sy_fail "after restarts: 198.18.0.21 state '$(field state reg 198.18.0.21:80)'"

# ---- reset --------------------------------------------------------------------------
ctl reset web 198.18.0.11:80 >/dev/null && ctl reset reg 198.18.0.21:80 >/dev/null || sy_fail "syctl reset"
sleep 0.3
[ "$(field effective_weight web 198.18.0.11:80)" = 1 ] && [ "$(field state reg 198.18.0.21:80)" = up ] &&
	sy_pass "syctl reset gives the configured and registered weights back" ||
	sy_fail "after reset: $(field effective_weight web 198.18.0.11:80), $(field state reg 198.18.0.21:80)"
kill -TERM $CONTROL && wait $CONTROL
start
[ "$(field effective_weight web 198.18.0.11:80)" = 1 ] && sy_pass "the reset survives a restart" ||
	sy_fail "after reset and restart: effective weight $(field effective_weight web 198.18.0.11:80)"

# ---- remove of a configured backend: said, and it returns with a reload ---------
out=$(ctl remove web 198.18.0.12:80)
echo "$out" | grep -q "returns with the next reload" && sy_pass "syctl remove of a configured backend says it returns with the next reload" ||
	sy_fail "syctl remove said: $out"
ctl reload >/dev/null
sleep 0.3
[ "$(field source web 198.18.0.12:80)" = static ] && sy_pass "and it returned with the reload" ||
	sy_fail "198.18.0.12 after the reload: '$(field source web 198.18.0.12:80)'"
kill -TERM $CONTROL && wait $CONTROL

# ---- a state file it cannot read stops the start -----------------------------------
cp "$STATE" "$W/good.state"
echo '{"format": "switchyard-state", "version": 1, "services": {' >"$STATE"
cp "$STATE" "$W/broken.state"
out=$("$BUILD/control/sy-control" --check --config "$W/sw.yaml" 2>&1)
rc=$?
[ $rc = 2 ] && echo "$out" | grep -q "state file $STATE" &&
	sy_pass "--check refuses a state file that is not JSON: $out" || sy_fail "--check with a broken state file: exit $rc, $out"
timeout 10 "$BUILD/control/sy-control" --config "$W/sw.yaml" >"$W/bad.log" 2>&1
rc=$?
[ $rc = 2 ] && grep -q "state file $STATE" "$W/bad.log" && cmp -s "$STATE" "$W/broken.state" &&
	sy_pass "so does the start (exit 2), and the file is left as it was" ||
	sy_fail "start with a broken state file: exit $rc, $(cat "$W/bad.log")"
sed 's/"version": 1/"version": 99/' "$W/good.state" >"$STATE"
out=$("$BUILD/control/sy-control" --check --config "$W/sw.yaml" 2>&1)
[ $? = 2 ] && echo "$out" | grep -q "version 99" && sy_pass "--check refuses a state file of another version: $out" ||
	sy_fail "--check with version 99: $out"

grep -q "ERROR: AddressSanitizer\|runtime error" "$W/control.log" && { sy_fail "sanitizer report"; cat "$W/control.log"; }
[ "$SY_FAILED" -eq 0 ] && echo "RESULT: PASS" || { echo "RESULT: FAIL"; tail -20 "$W/control.log"; }
exit "$SY_FAILED"
