# What the resolver tests (test_resolve_embedded.sh, test_resolve_etcd.sh,
# test_resolve_zk.sh)
# read of resolve_watch's lines:
#   CHANGE ms=EPOCH_MS rev=R state=S n=N ids=A:P,... picks=P failures=F err=...
#   END picks=P failures=F
# OUT: the resolver's stdout file. Requires netns_lib.sh (sy_pass, sy_fail).

now_ms() { echo $(($(date +%s%N) / 1000000)); }
# field NAME LINE: a field's value
field() { sed -nE "s/.* $1=([^ ]*).*/\1/p" <<<"$2"; }
# first_change MS CONDITION: the first CHANGE line at or after epoch MS
# whose fields satisfy the awk CONDITION (over f["ms"], f["rev"],
# f["state"], f["n"], f["ids"], ...)
first_change() {
	awk -v t0="$1" '$1 == "CHANGE" {
		for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = substr($i, length(kv[1]) + 2) }
		if (f["ms"] + 0 >= t0 + 0 && ('"$2"')) { print; exit }
	}' "$OUT"
}
wait_change() { # T0 CONDITION SECONDS
	local line
	for _ in $(seq $((${3} * 20))); do
		line=$(first_change "$1" "$2")
		[ -n "$line" ] && { echo "$line"; return 0; }
		sleep 0.05
	done
	return 1
}
# expect_change T0 CONDITION SECONDS WHAT: a change satisfying CONDITION,
# waited for up to SECONDS (a hang guard: how soon it came is printed, not
# bounded; perf/resolve_latency_bench measures that); sets LINE and MS
# (empty if it never came)
expect_change() {
	LINE=$(wait_change "$1" "$2" "$3")
	MS=
	if [ -n "$LINE" ]; then
		MS=$(($(field ms "$LINE") - $1))
		sy_pass "$4: after $MS ms"
	else
		sy_fail "$4: not within $3 s"
	fi
}
# resolver_end PID FAILURES_BEFORE: SIGTERM ends it cleanly (exit 0, an END
# line) with no failed pick since FAILURES_BEFORE, and no sanitizer report
# in ERRFILE ($3)
resolver_end() {
	local rc end fails
	kill -TERM "$1"
	sy_wait 10 bash -c "! kill -0 $1" || sy_fail "the resolver did not end on SIGTERM"
	wait "$1"
	rc=$?
	end=$(grep '^END' "$OUT")
	fails=$(($(field failures "$end") - $2))
	[ $rc -eq 0 ] && [ -n "$end" ] && [ $fails -eq 0 ] &&
		sy_pass "resolver ended (exit 0): $end; failed picks since it saw the 4: $fails" ||
		sy_fail "resolver end: exit $rc, '$end', $fails failures since the 4 (stderr: $(head -5 "$3"))"
	grep -q "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:" "$3" &&
		sy_fail "sanitizer: $(grep -h -m3 'ERROR\|runtime error' "$3")"
	return 0
}
# agent N: `syctl register` of backend 198.18.0.1N:80 of web with TTL s at
# AGENT_REGISTRY (etcd://, zk://), in the background, its PID in AGENT[N].
declare -A AGENT
agent() {
	"$BUILD/control/syctl" register --service web --addr 198.18.0.1$1 --port 80 --ttl $TTL \
		--registry "$AGENT_REGISTRY" >>"$W/agent.$1.log" 2>&1 &
	AGENT[$1]=$!
	SY_PIDS+=("${AGENT[$1]}")
}
# resolve_open_empty URLS WHAT: resolve_watch opens web (no token) before
# any backend registered: fresh and empty within 10 s, or the test ends.
# Sets RESOLVER. Needs BUILD, W.
resolve_open_empty() {
	"$BUILD/tests/integration/resolve_watch" "$1" - web 120 >"$OUT" 2>"$W/resolver.err" &
	RESOLVER=$!
	SY_PIDS+=("$RESOLVER")
	sy_wait 10 grep -q "^CHANGE .* state=fresh n=0 " "$OUT" ||
		{ sy_fail "the resolver did not open web: $(cat "$W/resolver.err" "$OUT")"; exit 1; }
	sy_pass "resolver opened web ($2): $(head -1 "$OUT")"
}
# resolve_same_revision VIEW WHAT: the resolver reaches VIEW's revision with
# its ids; and it was fresh all along so far (WHAT: the registry, and why it
# might not have been)
resolve_same_revision() {
	local rrev rids line stale
	read -r rrev rids <<<"$($1)"
	line=$(wait_change 0 "f[\"rev\"] == \"$rrev\"" 5)
	[ -n "$line" ] && [ "$(field ids "$line")" = "$rids" ] &&
		sy_pass "the resolver's revision is $2's: $rrev ($rids)" ||
		sy_fail "revision: $2 $rrev $rids, resolver: $(tail -2 "$OUT")"
	stale=$(first_change 0 'f["state"] != "fresh"')
	[ -z "$stale" ] && sy_pass "$3: fresh all along while $2 ran ($(grep -c ^CHANGE "$OUT") changes)" ||
		sy_fail "not fresh while $2 ran: $stale"
}
# resolve_join_leave VIEW REL_NAME WHAT: the issue's scenario
# for a source, with the test's `agent N` (registers 198.18.0.1N:80 of web
# with TTL s, its PID in AGENT[N]) and VIEW (prints the registry's
# "REVISION IDS"):
#   4 agents start -> the 4 in the cache;
#   agent 4 killed -9 -> gone (a reliability row REL_NAME);
#   agent 5 starts -> in the cache (each time printed).
# Sets FOUR, NEWSET, REV4 and FAILS_AT_FOUR (failed picks until the 4 came).
resolve_join_leave() {
	local t0 ids4 left three="198.18.0.11:80,198.18.0.12:80,198.18.0.13:80"
	FOUR="$three,198.18.0.14:80"
	NEWSET="$three,198.18.0.15:80"
	t0=$(now_ms)
	for i in 1 2 3 4; do agent $i; done
	expect_change "$t0" "f[\"ids\"] == \"$FOUR\" && f[\"state\"] == \"fresh\"" 10 \
		"4 agents started: the resolver saw the 4"
	FAILS_AT_FOUR=$(field failures "$(first_change 0 "f[\"n\"] == 4")")
	read -r REV4 ids4 <<<"$($1)"
	[ "$ids4" = "$FOUR" ] || sy_fail "the registry holds $ids4"

	{ kill -9 "${AGENT[4]}"; wait "${AGENT[4]}"; } 2>/dev/null
	t0=$(now_ms)
	expect_change "$t0" "f[\"ids\"] == \"$three\" && f[\"state\"] == \"fresh\"" $((TTL + 15)) \
		"agent of .14 killed -9 (TTL $TTL s): left the resolver's cache"
	left="not within $((TTL + 15)) s"
	[ -n "$MS" ] && left="$MS ms after the kill"
	sy_rel "$2" "a backend's agent killed -9" "$3" "$(sy_verdict)" \
		"instance left the resolver's cache $left (TTL ${TTL} s)"

	t0=$(now_ms)
	agent 5
	expect_change "$t0" "f[\"ids\"] == \"$NEWSET\"" 10 "agent of .15 started: in the resolver's cache"
}
# resolve_outage STOP START VIEW WHAT: the registry stopped (the command
# STOP) -> the resolver says stale, keeps NEWSET and picks go on with 0
# failures; START brings it back -> the resolver reaches the registry's
# revision (above REV4) and NEWSET, fresh, without a restart. WHAT names the
# registry in the messages. Sets DURING_PICKS and DURING_FAILS.
resolve_outage() {
	local t0 t_back line ms stale_picks stale_fails sync_line="" back_line rrev rids
	sleep 0.5
	t0=$(now_ms)
	$1
	line=$(wait_change "$t0" 'f["state"] == "stale"' 10)
	ms=$(($(field ms "$line") - t0))
	if [ -n "$line" ] && [ "$(field ids "$line")" = "$NEWSET" ]; then
		sy_pass "$4 stopped: the resolver says stale after $ms ms, keeps $NEWSET (why: $(sed 's/.* err=//' <<<"$line"))"
	else
		sy_fail "$4 stopped: ${line:-no stale state}"
	fi
	stale_picks=$(field picks "$line")
	stale_fails=$(field failures "$line")
	sleep 3 # the agents keep trying; the resolver retries with back-off
	t_back=$(now_ms)
	$2
	for _ in $(seq 300); do # 15 s: the agents re-register within a heartbeat
		read -r rrev rids <<<"$($3)"
		if [ "$rids" = "$NEWSET" ]; then
			sync_line=$(first_change "$t_back" "f[\"rev\"] == \"$rrev\" && f[\"state\"] == \"fresh\" && f[\"ids\"] == \"$NEWSET\"")
			[ -n "$sync_line" ] && break
		fi
		sleep 0.05
	done
	back_line=$(first_change "$t_back" 'f["state"] != "stale"')
	DURING_PICKS=$(($(field picks "$back_line") - stale_picks))
	DURING_FAILS=$(($(field failures "$back_line") - stale_fails))
	if [ -n "$back_line" ] && [ $DURING_PICKS -gt 1000 ] && [ $DURING_FAILS -eq 0 ]; then
		sy_pass "while $4 was down: $DURING_PICKS picks from the cache, $DURING_FAILS failures"
	else
		sy_fail "while $4 was down: $DURING_PICKS picks, $DURING_FAILS failures (${back_line:-never back})"
	fi
	if [ -n "$sync_line" ] && [ "$(field rev "$sync_line")" -gt "$REV4" ]; then
		sy_pass "$4 back: the resolver in sync after $(($(field ms "$sync_line") - t_back)) ms without a restart (revision $(field rev "$sync_line") = the registry's, state fresh, $NEWSET)"
	else
		sy_fail "$4 back: not in sync: registry '$rrev $rids', resolver: $(tail -3 "$OUT")"
	fi
}
# resolve_registry_back VIEW WHAT URL OTHER_URL: after resolve_outage, the
# source's watch works again and syctl resolve reads the registry:
#   agent 6 starts -> in the resolver's cache (sets SIX);
#   syctl resolve --registry URL --json: VIEW's revision, fresh, SIX, a
#   round-robin pick among them, no source error;
#   syctl resolve --registry OTHER_URL (the same registry written otherwise,
#   e.g. with a dead server first): the same revision in its text form;
#   URL with an http:// registry too: exit 2, "give it once, alone".
# Needs BUILD, W, PY and the test's `agent N`.
resolve_registry_back() {
	local t0 rc got rrev rids syctl=$BUILD/control/syctl
	t0=$(now_ms)
	agent 6
	SIX="198.18.0.11:80,198.18.0.12:80,198.18.0.13:80,198.18.0.15:80,198.18.0.16:80"
	expect_change "$t0" "f[\"ids\"] == \"$SIX\" && f[\"state\"] == \"fresh\"" 10 \
		"after the outage, agent of .16 in the resolver's cache"
	# Each answer is compared with the registry's view read just before it;
	# if the registry moved while the resolver read it (agents renew
	# sessions after an outage: real changes), the pair is read again
	against_registry() { # VIEW OUT ARGS...: rrev, rids, rc of the last try
		local view=$1 out=$2 try r
		shift 2
		for try in 1 2 3 4 5; do
			read -r rrev rids <<<"$($view)"
			"$syctl" "$@" >"$out" 2>"$out.err"
			rc=$?
			read -r r _ <<<"$($view)"
			[ "$r" = "$rrev" ] && return
			sy_log "the registry moved during the check ($rrev -> $r, try $try): again"
		done
	}
	against_registry "$1" "$W/res.json" resolve web --registry "$3" --json
	got=$($PY -c "import json; j = json.load(open('$W/res.json')); print(j['revision'], j['state'], ','.join(i['id'] for i in j['instances']), j['pick']['by'], j['pick']['id'] in [i['id'] for i in j['instances']], j['source_error'] == '')" 2>&1)
	[ $rc -eq 0 ] && [ "$got" = "$rrev fresh $SIX round-robin True True" ] &&
		sy_pass "syctl resolve --registry $3 --json: revision $rrev, fresh, $SIX, a round-robin pick among them" ||
		sy_fail "syctl resolve $2 --json: exit $rc, '$got' ($2 $rrev $rids) $(cat "$W/res.json.err")"
	against_registry "$1" "$W/res.txt" resolve web --registry "$4"
	[ $rc -eq 0 ] && grep -q "^service web  revision $rrev  state fresh  instances 5$" "$W/res.txt" &&
		sy_pass "syctl resolve --registry $4: $(head -1 "$W/res.txt")" ||
		sy_fail "syctl resolve --registry $4: exit $rc $(cat "$W/res.txt" "$W/res.txt.err")"
	"$syctl" resolve web --registry "$3" --registry http://127.0.0.1:1 >"$W/res.bad" 2>&1
	rc=$?
	[ $rc -eq 2 ] && grep -q "give it once, alone" "$W/res.bad" &&
		sy_pass "syctl resolve with $3 and http://: exit 2 ($(cat "$W/res.bad"))" ||
		sy_fail "syctl resolve $2 + http: exit $rc $(cat "$W/res.bad")"
}
