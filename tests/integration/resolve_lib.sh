# What the resolver tests (test_resolve_embedded.sh, test_resolve_etcd.sh)
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
# expect_change T0 CONDITION SECONDS LIMIT_MS WHAT: a change satisfying
# CONDITION within LIMIT_MS of T0 (waiting up to SECONDS); sets LINE and MS
expect_change() {
	LINE=$(wait_change "$1" "$2" "$3")
	MS=$(($(field ms "$LINE") - $1))
	if [ -n "$LINE" ] && [ "$MS" -le "$4" ]; then
		sy_pass "$5: after $MS ms (limit $4 ms)"
	else
		sy_fail "$5: after $MS ms (limit $4 ms): ${LINE:-never}"
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
