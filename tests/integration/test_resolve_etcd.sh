#!/bin/bash
# libswitchyard-resolve with the etcd source against a real etcd started by
# the test (etcd_lib.sh: own ports and data directory on 127.0.0.1) and real
# `syctl register --registry etcd://...` agents (a lease each, renewed every
# TTL/3) writing the keys sy-control's etcd source reads. No sy-control: the
# resolver reads etcd itself. The resolver is another process
# (resolve_watch.c: the public API only), picking all the time and printing
# each change it sees with the time.
#
#   - its endpoints are a dead one (127.0.0.1:1) and etcd's: every read
#     fails over; it is never stale while etcd runs;
#   - it opens `web` while no backend is registered; 4 agents start: it
#     sees the 4 within 1 s (time printed);
#   - an agent is killed -9: its lease expires, etcd deletes the key and the
#     instance leaves the resolver's cache within TTL + 1 s (time printed);
#   - a new agent starts: seen within 1 s (time printed);
#   - etcd is stopped (SIGKILL): the state turns stale, the last 4 instances
#     keep serving, picks go on with 0 failures, the source error says why;
#   - etcd back: the resolver is in sync (etcd's revision and keys, state
#     fresh) without restarting it, and a new agent is seen again;
#   - syctl resolve --registry etcd://...: --json shows etcd's revision, the
#     list, fresh and a pick; a prefix without '/' at its end exits 2;
#   - from the moment it saw the 4 to its end: 0 failed picks; it ends
#     cleanly on SIGTERM (the watch thread joined; under ASan no leak).
#
# usage: test_resolve_etcd.sh BUILD_DIR
set -u
BUILD=$(realpath "$1")
HERE=$(dirname "$(realpath "$0")")
. "$HERE/netns_lib.sh"
. "$HERE/resolve_lib.sh"
. "$HERE/etcd_lib.sh"
trap 'etcd_down; sy_cleanup' EXIT
# a test that cannot run fails loudly
command -v etcd >/dev/null && command -v etcdctl >/dev/null ||
	{ echo "FAIL: etcd/etcdctl not installed (scripts/install-deps.sh)"; exit 1; }
W=$(mktemp -d /tmp/sy-resolve-etcd-XXXXXX)
SY_FILES+=("$W")
PY=/usr/bin/python3
TTL=3
PFX=/switchyard/services/

etcd_up 1 || { sy_fail "etcd did not start"; exit 1; }
ETCD=etcd://$(etcd_endpoints)
DEAD_FIRST=etcd://127.0.0.1:1,$(etcd_endpoints) # nothing listens on port 1
echo "etcd at $ETCD"

declare -A AGENT
agent() { # N: backend 198.18.0.1N:80 of web
	"$BUILD/control/syctl" register --service web --addr 198.18.0.1$1 --port 80 --ttl $TTL \
		--registry "$ETCD" >>"$W/agent.$1.log" 2>&1 &
	AGENT[$1]=$!
	SY_PIDS+=("${AGENT[$1]}")
}
# etcd's own view of web: "REVISION IDS"
etcd_view() {
	ectl get "${PFX}web/" --prefix -w json 2>/dev/null | $PY -c '
import base64, json, sys
j = json.load(sys.stdin)
ids = sorted((base64.b64decode(kv["key"]).decode().rsplit("/", 1)[1] for kv in j.get("kvs", [])),
             key=lambda s: tuple(int(x) for x in s.split(":")[0].split(".")))
print(j["header"]["revision"], ",".join(ids))'
}
OUT=$W/resolver.out

# ---- the resolver opens web before any backend registered ------------------------
"$BUILD/tests/integration/resolve_watch" "$DEAD_FIRST" - web 120 >"$OUT" 2>"$W/resolver.err" &
RESOLVER=$!
SY_PIDS+=("$RESOLVER")
sy_wait 10 grep -q "^CHANGE .* state=fresh n=0 " "$OUT" ||
	{ sy_fail "the resolver did not open web: $(cat "$W/resolver.err" "$OUT")"; exit 1; }
sy_pass "resolver opened web (empty): $(head -1 "$OUT")"

# ---- 4 agents register, one dies, a new one joins (resolve_lib.sh) ---------------
resolve_join_leave etcd_view 1000 resolve_etcd_death "resolver watching etcd"
read -r rrev rids <<<"$(etcd_view)"
line=$(wait_change 0 "f[\"rev\"] == \"$rrev\"" 5)
[ -n "$line" ] && [ "$(field ids "$line")" = "$rids" ] &&
	sy_pass "the resolver's revision is etcd's: $rrev ($rids)" ||
	sy_fail "revision: etcd $rrev $rids, resolver: $(tail -2 "$OUT")"

# ---- etcd stopped: stale, the cache keeps serving, 0 failures; back: in sync -------------
stale=$(first_change 0 'f["state"] != "fresh"')
[ -z "$stale" ] && sy_pass "with a dead first endpoint: fresh all along while etcd ran ($(grep -c ^CHANGE "$OUT") changes)" ||
	sy_fail "not fresh while etcd ran: $stale"
etcd_restart() { etcd_start 0; etcd_healthy 20 || sy_fail "etcd did not come back"; }
resolve_outage "etcd_kill 0" etcd_restart etcd_view etcd
sy_rel resolve_etcd_outage "etcd stopped ~3 s" "resolver picking" "$(sy_verdict)" \
	"$DURING_PICKS picks from the cache, $DURING_FAILS failures; back in sync without a restart"
# the watch works again: a new agent is seen
t0=$(now_ms)
agent 6
SIX="198.18.0.11:80,198.18.0.12:80,198.18.0.13:80,198.18.0.15:80,198.18.0.16:80"
expect_change "$t0" "f[\"ids\"] == \"$SIX\" && f[\"state\"] == \"fresh\"" 5 1000 \
	"after the outage, agent of .16 in the resolver's cache"

# ---- syctl resolve --registry etcd://... -----------------------------------------------------
SYCTL=$BUILD/control/syctl
read -r rrev rids <<<"$(etcd_view)"
"$SYCTL" resolve web --registry "$ETCD" --json >"$W/res.json" 2>"$W/res.err"
rc=$?
got=$($PY -c "import json; j = json.load(open('$W/res.json')); print(j['revision'], j['state'], ','.join(i['id'] for i in j['instances']), j['pick']['by'], j['pick']['id'] in [i['id'] for i in j['instances']], j['source_error'] == '')" 2>&1)
[ $rc -eq 0 ] && [ "$got" = "$rrev fresh $SIX round-robin True True" ] &&
	sy_pass "syctl resolve --registry $ETCD --json: revision $rrev, fresh, $SIX, a round-robin pick among them" ||
	sy_fail "syctl resolve etcd --json: exit $rc, '$got' (etcd $rrev $rids) $(cat "$W/res.err")"
"$SYCTL" resolve web --registry "$DEAD_FIRST" >"$W/res.txt" 2>&1
rc=$?
[ $rc -eq 0 ] && grep -q "^service web  revision $rrev  state fresh  instances 5$" "$W/res.txt" &&
	sy_pass "syctl resolve --registry $DEAD_FIRST: $(head -1 "$W/res.txt")" ||
	sy_fail "syctl resolve, dead first endpoint: exit $rc $(cat "$W/res.txt")"
"$SYCTL" resolve web --registry "$ETCD/other" >"$W/res.bad" 2>&1
rc=$?
[ $rc -eq 2 ] && grep -q "prefix must end with '/'" "$W/res.bad" &&
	sy_pass "syctl resolve --registry etcd://.../other: exit 2 ($(cat "$W/res.bad"))" ||
	sy_fail "syctl resolve, bad etcd prefix: exit $rc $(cat "$W/res.bad")"
"$SYCTL" resolve web --registry "$ETCD" --registry http://127.0.0.1:1 >"$W/res.bad" 2>&1
rc=$?
[ $rc -eq 2 ] && grep -q "give it once, alone" "$W/res.bad" &&
	sy_pass "syctl resolve with etcd:// and http://: exit 2 ($(cat "$W/res.bad"))" ||
	sy_fail "syctl resolve etcd + http: exit $rc $(cat "$W/res.bad")"

# ---- the resolver ends cleanly, 0 failed picks since it saw the 4 ----------------------------
resolver_end $RESOLVER "$FAILS_AT_FOUR" "$W/resolver.err"
echo "--- what the resolver saw:"
cut -c1-240 "$OUT"
[ $SY_FAILED -eq 0 ] && echo "RESULT: PASS" || { echo "RESULT: FAIL"; tail -5 "$W"/agent.*.log; }
exit $SY_FAILED
