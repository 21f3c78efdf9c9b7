#!/bin/bash
# libswitchyard-resolve with the ZooKeeper source against a real ZooKeeper
# 3.8 started by the test (zk_lib.sh: its own loopback port and data
# directory) and real `syctl register --registry zk://...` agents (an
# ephemeral znode each; the TTL is the agent's session timeout). No
# sy-control: the resolver reads ZooKeeper itself. The resolver is another
# process (resolve_watch.c: the public API only), picking all the time and
# printing each change it sees with the time. ZooKeeper's own view comes
# from zk_view.c (the raw C client, not the code under test).
#
#   - its server list names a dead server (127.0.0.1:1) too;
#   - it opens `web` before its znode exists: fresh, empty; 4 agents start:
#     it sees the 4 (time printed);
#   - an agent is killed -9: its session expires, ZooKeeper deletes the
#     znode and the instance leaves the resolver's cache (time printed);
#   - a new agent starts: seen (time printed);
#   - the revision is ZooKeeper's zxid of the last change;
#   - ZooKeeper is stopped (SIGKILL): the state turns stale, the last 4
#     instances keep serving, picks go on with 0 failures, the source error
#     says why; ZooKeeper back (same data directory): the resolver is in
#     sync without restarting it, and a new agent is seen again;
#   - syctl resolve --registry zk://...: --json shows the zxid, the list,
#     fresh and a pick; a bad URL and zk:// with http:// exit 2;
#   - a value changed (weight, zone): a watching resolver (syctl resolve
#     --watch) shows it, at the value's zxid;
#   - a znode that is not a backend (a bad name) is skipped, the source
#     error says so, the set stays;
#   - from the moment it saw the 4 to its end: 0 failed picks; it ends
#     cleanly on SIGTERM (the thread joined, the session closed; under ASan
#     no leak).
#
# usage: test_resolve_zk.sh BUILD_DIR
set -u
BUILD=$(realpath "$1")
HERE=$(dirname "$(realpath "$0")")
. "$HERE/netns_lib.sh"
. "$HERE/resolve_lib.sh"
. "$HERE/zk_lib.sh"
trap sy_cleanup EXIT
# a test that cannot run fails loudly
zk_available || { echo "FAIL: ZooKeeper not installed (packages zookeeper, zookeeper-bin and a JRE)"; exit 1; }
W=$(mktemp -d /tmp/sy-resolve-zk-XXXXXX)
SY_FILES+=("$W")
PY=/usr/bin/python3
TTL=3
ROOT=/switchyard/services
ZKPORT=$(zk_free_port)
zk_start "$W/zk" "$ZKPORT" || { sy_fail "ZooKeeper did not start"; exit 1; }
ZK=zk://127.0.0.1:$ZKPORT
DEAD_TOO=zk://127.0.0.1:1,127.0.0.1:$ZKPORT # nothing listens on port 1
echo "ZooKeeper at $ZK"

AGENT_REGISTRY=$ZK # resolve_lib.sh's agent N
# ZooKeeper's own view of web: "REVISION IDS"
zk_view() {
	"$BUILD/tests/integration/zk_view" "127.0.0.1:$ZKPORT" "$ROOT/web" 2>/dev/null | {
		read -r rev && echo "$rev $(sort -t. -k4,4n | paste -sd,)"
	}
}
OUT=$W/resolver.out

# ---- the resolver opens web before its znode exists -------------------------------
resolve_open_empty "$DEAD_TOO" "no znode yet: empty, fresh"

# ---- 4 agents register, one dies, a new one joins (resolve_lib.sh) ---------------
resolve_join_leave zk_view resolve_zk_death "resolver watching ZooKeeper"
# ZooKeeper's revision: the zxid of the last change (zk_view)
resolve_same_revision zk_view ZooKeeper "with a dead server in the list"

# ---- ZooKeeper stopped: stale, the cache keeps serving, 0 failures; back: in sync -------------
zk_restart() { zk_start "$W/zk" "$ZKPORT" || sy_fail "ZooKeeper did not come back"; }
resolve_outage zk_kill zk_restart zk_view ZooKeeper
sy_rel resolve_zk_outage "ZooKeeper stopped ~3 s" "resolver picking" "$(sy_verdict)" \
	"$DURING_PICKS picks from the cache, $DURING_FAILS failures; back in sync without a restart"
# the watches work again (a new agent is seen), syctl resolve reads ZooKeeper
# (also with a dead server and the prefix written out)
resolve_registry_back zk_view ZooKeeper "$ZK" "$DEAD_TOO$ROOT"
"$BUILD/control/syctl" resolve web --registry "zk://127.0.0.1" >"$W/res.bad" 2>&1
rc=$?
[ $rc -eq 2 ] && grep -q "server '127.0.0.1' is not HOST:PORT" "$W/res.bad" &&
	sy_pass "syctl resolve --registry zk://127.0.0.1: exit 2 ($(cat "$W/res.bad"))" ||
	sy_fail "syctl resolve, zk:// without a port: exit $rc $(cat "$W/res.bad")"

# ---- a value changed (data watch): the weight follows ----------------------------------------------
"$BUILD/control/syctl" resolve web --registry "$ZK" --watch --json --count 2 --timeout 15 \
	>"$W/watch.json" 2>"$W/watch.err" &
WATCH=$!
SY_PIDS+=("$WATCH")
sy_wait 5 grep -q '"service"' "$W/watch.json" || sy_fail "syctl resolve --watch printed nothing: $(cat "$W/watch.err")"
read -r rev0 _ <<<"$(zk_view)"
zk_cli "$ZKPORT" "set $ROOT/web/198.18.0.16:80 {\"weight\":5,\"zone\":\"b\"}" >/dev/null
sy_wait 10 bash -c "! kill -0 $WATCH"
wait $WATCH
rc=$?
read -r rrev rids <<<"$(zk_view)"
got=$($PY -c "
import json
v = [json.loads(l) for l in open('$W/watch.json')]
w = {i['id']: (i['weight'], i['zone']) for i in v[-1]['instances']}
print(len(v), v[-1]['revision'], w.get('198.18.0.16:80'), w.get('198.18.0.15:80'), sep='|')" 2>&1)
IFS='|' read -r n vrev v16 v15 <<<"$got"
# the view's revision is the registry's now, or, if the registry moved on
# since (an agent renewing its session), one between the set and now
[ $rc -eq 0 ] && [ "$n" = 2 ] && [ "$v16" = "(5, 'b')" ] && [ "$v15" = "(1, '')" ] &&
	{ [ "$vrev" = "$rrev" ] || { [ "$vrev" -gt "$rev0" ] && [ "$vrev" -lt "$rrev" ]; }; } 2>/dev/null &&
	sy_pass "a value set to weight 5, zone b: the watching resolver's next view has them (revision $vrev; the registry's $rrev)" ||
	sy_fail "value change: exit $rc, '$got' (ZooKeeper $rrev) $(cat "$W/watch.err")"

# ---- a znode that is not a backend: skipped, said, the set stays ---------------------------------
t0=$(now_ms)
zk_cli "$ZKPORT" "create $ROOT/web/garbage" >/dev/null
read -r rrev rids <<<"$(zk_view)"
line=$(wait_change "$t0" "f[\"rev\"] == \"$rrev\"" 5)
[ -n "$line" ] && [ "$(field ids "$line")" = "$SIX" ] && [ "$(field state "$line")" = fresh ] &&
	grep -q "err=1 znodes skipped (not a backend), the last: garbage: " <<<"$line" &&
	sy_pass "a znode 'garbage' under web: skipped, the set stays ($(sed 's/.* err=//' <<<"$line"))" ||
	sy_fail "znode garbage: ${line:-no change to revision $rrev}"

# ---- the resolver ends cleanly, 0 failed picks since it saw the 4 ----------------------------
resolver_end $RESOLVER "$FAILS_AT_FOUR" "$W/resolver.err"
echo "--- what the resolver saw:"
cut -c1-240 "$OUT"
[ $SY_FAILED -eq 0 ] && echo "RESULT: PASS" || { echo "RESULT: FAIL"; tail -n 5 "$W"/agent.*.log; }
exit $SY_FAILED
