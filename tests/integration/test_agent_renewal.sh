#!/bin/bash
# The heartbeat agent (`syctl register`) keeps its backend registered when
# one renewal gets stuck in a slow registry: a backend must not expire, and
# take its connections along, because one answer came late.
#
# A stub registry (stub_registry.py, 127.0.0.1) records when registrations
# arrive and answers the second one (the first renewal) only after 4 s, as a
# registry busy with a flood would. The agent runs with TTL 5 s for 11 s.
# Asserted, from the arrival times, the stalled renewal not counting (the
# registry had not processed it in time):
#   - the gap between two renewals that counted stays below the TTL: the
#     backend would not have expired;
#   - the agent renews at about TTL/3 otherwise (at least 5 renewals in
#     11 s, none closer than 1 s apart);
#   - SIGTERM deregisters and the agent exits 0.
#
# usage: test_agent_renewal.sh BUILD_DIR
set -u
BUILD=$(realpath "$1")
HERE=$(dirname "$(realpath "$0")")
. "$HERE/netns_lib.sh"
PY=/usr/bin/python3
TTL=5
RUN_S=11
WORK=$(mktemp -d /tmp/sy-agent-XXXXXX)
SY_FILES+=("$WORK")
trap sy_cleanup EXIT

sy_keyfile "$WORK/key"
$PY "$HERE/stub_registry.py" "$WORK/port" $((RUN_S + 1)) 2 4 >"$WORK/arrivals" &
STUB=$!
SY_PIDS+=($STUB)
sy_wait 5 test -s "$WORK/port" || { echo "FAIL: the stub registry did not start"; exit 1; }
"$BUILD/control/syctl" register --service web --addr 198.18.0.11 --port 80 --ttl $TTL \
	--key-file "$WORK/key" --registry "http://127.0.0.1:$(cat "$WORK/port")" \
	>"$WORK/agent.log" 2>&1 &
AGENT=$!
SY_PIDS+=($AGENT)
sleep $RUN_S
kill -TERM $AGENT
wait $AGENT
rc=$?
wait $STUB

echo "arrivals (ms since the first, 1 = the stalled one): $(tr '\n' ',' <"$WORK/arrivals")"
read -r n gaps worst near <<<"$(awk -v ttl=$TTL '
	{ if ($2 == 0) { if (n) { g = $1 - last; gaps = gaps sep g; sep = "/"; if (g > worst) worst = g }
	                 last = $1; n++ }
	  if (prev != "" && $1 - prev < 1000) near++; prev = $1 }
	END { print n + 0, (gaps == "" ? "-" : gaps), worst + 0, near + 0 }' "$WORK/arrivals")"
stalled=$(awk '$2 == 1' "$WORK/arrivals" | wc -l)
[ "$stalled" -eq 1 ] || sy_fail "the stub stalled $stalled registrations, want 1 (did the agent renew?)"
[ "$worst" -gt 0 ] && [ "$worst" -lt $((TTL * 1000)) ] &&
	sy_pass "with one renewal stuck, the longest gap between counted renewals was $worst ms (TTL ${TTL} s; gaps $gaps)" ||
	sy_fail "a gap of $worst ms between counted renewals: the backend would have expired (TTL ${TTL} s; gaps $gaps)"
[ "$n" -ge 5 ] && [ "$near" -eq 0 ] &&
	sy_pass "$n renewals counted in ${RUN_S} s, none closer than 1 s" ||
	sy_fail "$n renewals counted in ${RUN_S} s, $near closer than 1 s apart"
[ $rc -eq 0 ] && grep -q "msg=deregistered" "$WORK/agent.log" &&
	sy_pass "SIGTERM: deregistered, exit 0" ||
	{ sy_fail "SIGTERM: exit $rc"; cat "$WORK/agent.log"; }
sy_rel agent_renewal "one renewal answered 4 s late by the registry (TTL ${TTL} s)" "heartbeat agent for ${RUN_S} s" \
	"$(sy_verdict)" "longest gap between counted renewals $worst ms; $n renewals"
[ $SY_FAILED -eq 0 ] && echo "RESULT: PASS" || echo "RESULT: FAIL"
exit $SY_FAILED
