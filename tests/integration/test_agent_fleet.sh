#!/bin/bash
# One heartbeat agent, the embedded registries of three load-balancer hosts
# (issue 14, "one registry, many hosts"): `syctl register --registry A
# --registry B --registry C` keeps A and B current while C accepts
# connections but never answers in time (a host that hangs).
#
# Three stub registries (stub_registry.py, 127.0.0.1) record when
# registrations arrive; C holds every one for 100 s. The agent runs with
# TTL 5 s for 11 s. Asserted:
#   - A and B each get a renewal at least every TTL (the backend would not
#     expire there) and at least 5 in 11 s: C delays neither;
#   - C keeps being tried;
#   - SIGTERM deregisters from A and B, and the agent exits 0 (a 30 s
#     hang guard; its own bounds are TTL/3 for the renewal in flight and
#     3 s for a deregistration);
#   - bad lists are refused with a message and exit 2: a registry given
#     twice, an etcd:// or zk:// URL among several.
#
# usage: test_agent_fleet.sh BUILD_DIR
set -u
BUILD=$(realpath "$1")
HERE=$(dirname "$(realpath "$0")")
. "$HERE/netns_lib.sh"
PY=/usr/bin/python3
TTL=5
RUN_S=11
WORK=$(mktemp -d /tmp/sy-agent-fleet-XXXXXX)
SY_FILES+=("$WORK")
trap sy_cleanup EXIT
SYCTL=$BUILD/control/syctl

sy_keyfile "$WORK/key"
declare -A STUB
for h in a b c; do
	stall=0
	[ $h = c ] && stall=-1
	$PY "$HERE/stub_registry.py" "$WORK/port.$h" $((RUN_S + 1)) $stall 100 >"$WORK/arrivals.$h" &
	STUB[$h]=$!
	SY_PIDS+=(${STUB[$h]})
done
for h in a b c; do
	sy_wait 5 test -s "$WORK/port.$h" || { echo "FAIL: stub registry $h did not start"; exit 1; }
done
url() { echo "http://127.0.0.1:$(cat "$WORK/port.$1")"; }

"$SYCTL" register --service web --addr 198.18.0.11 --port 80 --ttl $TTL --key-file "$WORK/key" \
	--registry "$(url a)" --registry "$(url c)" --registry "$(url b)" >"$WORK/agent.log" 2>&1 &
AGENT=$!
SY_PIDS+=($AGENT)
sleep $RUN_S
t0=$(date +%s%N)
kill -TERM $AGENT
wait $AGENT
rc=$?
stop_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
for h in a b c; do wait ${STUB[$h]}; done

for h in a b; do
	read -r n worst <<<"$(awk '{ if (NR > 1 && $1 - last > worst) worst = $1 - last; last = $1 }
		END { print NR + 0, worst + 0 }' "$WORK/arrivals.$h")"
	[ "$n" -ge 5 ] && [ "$worst" -lt $((TTL * 1000)) ] &&
		sy_pass "registry $h: $n renewals in ${RUN_S} s, longest gap $worst ms (TTL ${TTL} s) while c hangs" ||
		sy_fail "registry $h: $n renewals in ${RUN_S} s, longest gap $worst ms (TTL ${TTL} s): $(tr '\n' ',' <"$WORK/arrivals.$h")"
	grep -q "msg=registered .*registry=$(url $h)\$" "$WORK/agent.log" &&
		grep -q "msg=deregistered .*registry=$(url $h)\$" "$WORK/agent.log" &&
		sy_pass "registry $h: registered, and deregistered on SIGTERM" ||
		sy_fail "registry $h: no registered/deregistered line in the agent's log"
done
nc=$(wc -l <"$WORK/arrivals.c")
[ "$nc" -ge 2 ] && sy_pass "registry c (hanging): tried $nc times" ||
	sy_fail "registry c (hanging): tried $nc times, want at least 2"
# the hanging registry holds the exit for its timeouts only (the renewal in
# flight ~1.7 s, the deregistration 3 s): 30 s is a hang guard, not a latency
# bound a loaded machine could miss
[ $rc -eq 0 ] && [ $stop_ms -lt 30000 ] && sy_pass "SIGTERM: exit 0 after $stop_ms ms" ||
	{ sy_fail "SIGTERM: exit $rc after $stop_ms ms"; cat "$WORK/agent.log"; }

# bad lists: refused before anything is sent
bad() {
	local what=$1
	shift
	out=$("$SYCTL" register --service web --addr 198.18.0.11 --port 80 --key-file "$WORK/key" --once "$@" 2>&1)
	st=$?
	[ $st -eq 2 ] && grep -q -- "--registry" <<<"$out" &&
		sy_pass "$what: refused (exit 2: $(head -1 <<<"$out"))" ||
		sy_fail "$what: exit $st, output: $out"
}
bad "a registry given twice" --registry http://127.0.0.1:1 --registry http://127.0.0.1:1
bad "etcd among several" --registry http://127.0.0.1:1 --registry etcd://127.0.0.1:2379
bad "zk among several" --registry zk://127.0.0.1:2181 --registry http://127.0.0.1:1
bad "a registry that is no URL" --registry http://127.0.0.1:1 --registry 127.0.0.1:2

sy_rel agent_fleet "one of three registries hangs (TTL ${TTL} s)" "heartbeat agent for ${RUN_S} s" \
	"$(sy_verdict)" "renewals to the two others kept their cadence"
[ $SY_FAILED -eq 0 ] && echo "RESULT: PASS" || echo "RESULT: FAIL"
exit $SY_FAILED
