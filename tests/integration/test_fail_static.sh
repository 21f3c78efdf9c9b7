#!/bin/bash
# Fail-static and the panic threshold, live (issue 12, point 1;
# docs/control.md, "Fail-static and the panic threshold"): sy-control with
# its embedded registry on loopback and no dataplane; what is published is
# read back with syctl.
#
#   1. removals on purpose always apply: `syctl remove` of 3 of 4 static
#      backends leaves 1, not degraded, and still 1 after the panic window;
#   2. one backend registers then deregisters: nothing is left;
#   3. N (10,000) registrations then N deregistrations: nothing is left, and
#      still nothing a panic window later;
#   4. the panic over gradual losses is re-examined when its window ends,
#      with no event: 3 of 4 backends stop heartbeating 1 s apart (TTL 2, 3
#      and 4 s, hold-down 0, window 5 s); the third loss is one too many:
#      the set of the window's start (4) is kept, degraded; when the first
#      loss leaves the window 3 are kept, when the second leaves, 1 of the
#      last good 2 lost is no longer more than half: 1 published, ok,
#      although nothing else happened;
#   5. a mass loss (3 of 4 at once) is kept, a newcomer that joins and then
#      expires during the panic is not (the kept set is the last good set),
#      and the loss is confirmed when the window ends (1 published, ok);
#   6. `syctl remove` of the dead ones ends a panic at once.
#
# Before the fix (sy-control of 8e34f0d): case 1: 2 of 4 still published;
# case 2: the deregistered backend still published, "panic: 1 of 1
# backends left"; case 3: thousands of deregistered backends still
# published; case 4: the third loss kept until the next change; case 5: the
# expired newcomer kept; case 6: 404 for a backend fail-static kept.
#
# usage: test_fail_static.sh BUILD_DIR
set -u
BUILD=$(realpath "$1")
HERE=$(dirname "$(realpath "$0")")
. "$HERE/netns_lib.sh"
trap sy_cleanup EXIT
: "${BULK_N:=10000}"
W=$(mktemp -d /tmp/sy-failstatic-XXXXXX)
SY_FILES+=("$W")
SOCK=$W/api.sock
PY=/usr/bin/python3
free_port() { $PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
RPORT=$(free_port)
REG=127.0.0.1:$RPORT
sy_keyfile "$W/key"
ctl() { "$BUILD/control/syctl" --socket "$SOCK" "$@"; }
# published backends of a service (the table's backend lines)
published() { ctl --json services | $PY -c "
import json, sys
for s in json.load(sys.stdin)['services']:
    if s['name'] == '$1': print(s['backends'])"; }
state() { ctl --json services | $PY -c "
import json, sys
for s in json.load(sys.stdin)['services']:
    if s['name'] == '$1': print(s['state'])"; }
export BUILD SOCK PY
export -f ctl published state
wait_published() { sy_wait "$3" bash -c "[ \"\$(published $1)\" = $2 ]"; } # SERVICE N SECONDS
wait_state() { sy_wait "$3" bash -c "[ \"\$(state $1)\" = $2 ]"; }        # SERVICE STATE SECONDS
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# after MS T0: sleep what is left of MS milliseconds since T0 (now_ms). The
# checks "a panic window later" wait for the window to pass while the next
# case runs, not idle beside it.
after() {
	local left=$(($2 + $1 - $(now_ms)))
	[ $left -gt 0 ] && sleep "$((left / 1000)).$(printf %03d $((left % 1000)))"
	return 0
}
register() { # SERVICE ADDRESS TTL: one registration, no heartbeat after it
	"$BUILD/control/syctl" register --service "$1" --addr "$2" --port 80 --ttl "$3" \
		--key-file "$W/key" --registry "http://$REG" --once >/dev/null
}

svc() { # NAME VIP HEALTH [BACKENDS] [SOURCE] [MAX_BACKENDS]
	cat <<EOF
  - name: $1
    vip: $2
    port: 80
    protocol: tcp
    mode: ipip
    source: ${5:-embedded}
$([ "${5:-embedded}" = embedded ] && echo "    key_file: $W/key")
$([ -n "${6:-}" ] && echo "    max_backends: $6")
    next_hop_mac: 02:00:00:00:00:fe
    health: $3
    backends: [${4:-}]
EOF
}
{
	cat <<EOF
instance: failstatic
region: $W/region
state_file: $W/region.state
limits: { lcores: 2, services: 8, backends: 32768, heap_mb: 256 }
api: { socket: $SOCK }
defaults: { encap_source4: 198.18.0.1, table_size: 65537 }
registry:
  embedded:
    listen: $REG
    allowed_prefixes: [127.0.0.0/8, 198.18.0.0/15]
services:
EOF
	svc web 198.18.1.1 "{ panic_threshold: 0.5, panic_window_s: 5 }" \
		"{ address: 198.18.0.11, port: 80 }, { address: 198.18.0.12, port: 80 },
	   { address: 198.18.0.13, port: 80 }, { address: 198.18.0.14, port: 80 }" static
	svc one 198.18.1.2 "{ panic_threshold: 0.5, panic_window_s: 5 }"
	# all of its registrations at once: more than an equal share of the
	# region (32768 / 6) allows (docs/control.md, "Backend caps")
	svc bulk 198.18.1.3 "{ panic_threshold: 0.5, panic_window_s: 5 }" "" embedded "$BULK_N"
	svc erode 198.18.1.4 "{ panic_threshold: 0.5, panic_window_s: 5, hold_down_s: 0 }" \
		"{ address: 198.18.0.44, port: 80 }"
	svc mass 198.18.1.5 "{ panic_threshold: 0.5, panic_window_s: 8, hold_down_s: 0 }" \
		"{ address: 198.18.0.54, port: 80 }"
	svc mass2 198.18.1.6 "{ panic_threshold: 0.5, panic_window_s: 60, hold_down_s: 0 }" \
		"{ address: 198.18.0.64, port: 80 }"
} >"$W/sw.yaml"
chmod 600 "$W/key"
"$BUILD/control/sy-control" --config "$W/sw.yaml" >"$W/log" 2>&1 &
SY_PIDS+=($!)
sy_wait 10 test -S "$SOCK" || { cat "$W/log"; echo "FAIL: sy-control did not start"; exit 1; }
wait_published web 4 5 || { sy_fail "web: 4 static backends not published"; ctl services; }

# ---- 1. removals on purpose ----------------------------------------------------
for i in 11 12 13; do ctl remove web 198.18.0.$i:80 >/dev/null || sy_fail "syctl remove 198.18.0.$i:80"; done
wait_published web 1 3 && [ "$(state web)" = ok ] &&
	sy_pass "syctl remove of 3 of 4: 1 published, not degraded" ||
	sy_fail "syctl remove of 3 of 4: $(published web) published, state $(state web)"
removed_ms=$(now_ms) # checked again a panic window later, after case 3

# ---- 2. one registration, then its deregistration -------------------------------
"$BUILD/control/syctl" register --service one --addr 198.18.0.21 --port 80 --ttl 30 \
	--key-file "$W/key" --registry "http://$REG" >"$W/agent.log" 2>&1 &
AGENT=$!
SY_PIDS+=($AGENT)
wait_published one 1 5 || sy_fail "one: the registered backend was not published"
kill -TERM $AGENT # the agent deregisters on SIGTERM
wait $AGENT 2>/dev/null
grep -q deregistered "$W/agent.log" || sy_fail "the agent did not deregister: $(cat "$W/agent.log")"
wait_published one 0 3 && [ "$(state one)" = ok ] &&
	sy_pass "registered then deregistered: nothing published, not degraded" ||
	{ sy_fail "registered then deregistered: $(published one) published, state $(state one)"; ctl status; }

# ---- 3. N registrations, then N deregistrations ---------------------------------
sy_log "bulk: $BULK_N registrations, then as many deregistrations"
out=$(timeout 600 $PY "$HERE/registry_flood.py" bulk "$REG" "$W/key" bulk "$BULK_N")
echo "bulk: $out"
[ "$out" = "registered $BULK_N deregistered $BULK_N failed 0" ] &&
	sy_pass "bulk: every registration and deregistration answered 200" ||
	sy_fail "bulk: $out"
wait_published bulk 0 30 && [ "$(state bulk)" = ok ] &&
	sy_pass "bulk: nothing published after the deregistrations" ||
	sy_fail "bulk: $(published bulk) published after $BULK_N deregistrations, state $(state bulk)"
bulk_ms=$(now_ms) # checked again a panic window later, after case 4

# ---- 1, a panic window (5 s) after the removals (6 s) -------------------------
after 6000 "$removed_ms"
[ "$(published web)" = 1 ] && [ "$(state web)" = ok ] &&
	sy_pass "a panic window later: still 1, not degraded" ||
	sy_fail "a panic window later: $(published web) published, state $(state web)"

# ---- 4. gradual losses: the verdict changes when the window ends ----------------
register erode 198.18.0.41 2 && register erode 198.18.0.42 3 && register erode 198.18.0.43 4 ||
	sy_fail "erode: registrations refused"
wait_published erode 4 3 || sy_fail "erode: 4 backends not published"
# a (2 s) and b (3 s) go: 2 of 4 is not more than half; c (4 s) is one too many
wait_state erode degraded 8 &&
	[ "$(published erode)" = 4 ] &&
	sy_pass "erode: the third loss within the window: the window's set (4) kept, degraded" ||
	sy_fail "erode: $(published erode) published, state $(state erode) after 3 of 4 losses"
t0=$SECONDS
# nothing else happens: a's loss leaves the window (3 kept), then b's
wait_published erode 3 8 && sy_pass "erode: the oldest loss left the window: 3 kept" ||
	sy_fail "erode: $(published erode) published, state $(state erode), $((SECONDS - t0)) s after the panic"
wait_published erode 1 8 && [ "$(state erode)" = ok ] &&
	sy_pass "erode: re-examined when the window ended: 1 published, ok, $((SECONDS - t0)) s after the panic, with no event" ||
	sy_fail "erode: still $(published erode) published, state $(state erode), $((SECONDS - t0)) s after the panic"

# ---- 3, a panic window after the deregistrations ------------------------------
after 6000 "$bulk_ms"
[ "$(published bulk)" = 0 ] && sy_pass "bulk: still nothing a panic window later" ||
	sy_fail "bulk: $(published bulk) published a panic window later"

# ---- 5. a mass loss is kept for the window, a newcomer during it is not -------
register mass 198.18.0.51 2 && register mass 198.18.0.52 2 && register mass 198.18.0.53 2 ||
	sy_fail "mass: registrations refused"
# case 6's service loses its 3 at the same time (its window of 60 s outlasts case 5)
register mass2 198.18.0.61 2 && register mass2 198.18.0.62 2 && register mass2 198.18.0.63 2 ||
	sy_fail "mass2: registrations refused"
wait_published mass 4 3 || sy_fail "mass: 4 backends not published"
wait_published mass2 4 3 || sy_fail "mass2: 4 backends not published"
wait_state mass degraded 6 && [ "$(published mass)" = 4 ] &&
	sy_pass "mass: 3 of 4 lost at once: the last good set (4) kept, degraded" ||
	sy_fail "mass: $(published mass) published, state $(state mass)"
t0=$SECONDS
register mass 198.18.0.55 2 || sy_fail "mass: newcomer refused"
wait_published mass 5 2 && sy_pass "mass: a newcomer is taken during the panic" || sy_fail "mass: newcomer not published"
wait_published mass 4 4 && sy_pass "mass: the newcomer that expired is not kept" ||
	sy_fail "mass: $(published mass) published after the newcomer expired"
# the window (8 s) ends with no event: the losses are confirmed
wait_published mass 1 12 && [ "$(state mass)" = ok ] &&
	sy_pass "mass: confirmed when the window ended: 1 published, ok ($((SECONDS - t0)) s after the panic)" ||
	sy_fail "mass: $(published mass) published, state $(state mass), $((SECONDS - t0)) s after the panic"

# ---- 6. the operator removes the dead: the panic ends at once -------------------
# (registered with case 5's, above)
wait_state mass2 degraded 6 || sy_fail "mass2: not degraded after 3 of 4 losses"
[ "$(published mass2)" = 4 ] || sy_fail "mass2: $(published mass2) published in its panic, want the last good 4"
for i in 61 62 63; do
	ctl remove mass2 198.18.0.$i:80 >/dev/null || sy_fail "syctl remove of the dead 198.18.0.$i:80"
done
wait_published mass2 1 3 && [ "$(state mass2)" = ok ] &&
	sy_pass "mass2: syctl remove of the dead ones ends the panic (window 60 s)" ||
	sy_fail "mass2: $(published mass2) published, state $(state mass2) after removing the dead"

grep -q "ERROR: AddressSanitizer\|runtime error" "$W/log" && { sy_fail "sanitizer report"; cat "$W/log"; }
[ "$SY_FAILED" -eq 0 ] && echo "RESULT: PASS" || { echo "RESULT: FAIL"; tail -20 "$W/log"; }
exit "$SY_FAILED"
