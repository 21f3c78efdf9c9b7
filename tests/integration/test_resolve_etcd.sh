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
#     sees the 4 (time printed);
#   - an agent is killed -9: its lease expires, etcd deletes the key and the
#     instance leaves the resolver's cache (time printed);
#   - a new agent starts: seen (time printed);
#   - etcd is stopped (SIGKILL): the state turns stale, the last 4 instances
#     keep serving, picks go on with 0 failures, the source error says why;
#   - etcd back: the resolver is in sync (etcd's revision and keys, state
#     fresh) without restarting it, and a new agent is seen again;
#   - syctl resolve --registry etcd://...: --json shows etcd's revision, the
#     list, fresh and a pick; a prefix without '/' at its end exits 2;
#   - a service of 12,000 keys whose kv/range answer (18 MB) is larger than
#     one answer may be: syctl resolve lists all of them, in pages, at
#     etcd's revision;
#   - from the moment it saw the 4 to its end: 0 failed picks; it ends
#     cleanly on SIGTERM (the watch thread joined; under ASan no leak);
#   - etcd with authentication on (user root, tokens expiring after 1 s
#     unused): a resolver with etcd_username / etcd_password_file reads and
#     watches (a put seen; time printed); etcd restarted after its token
#     expired (etcd answers "invalid auth token"): it authenticates again
#     and is in sync, without a restart, and sees a new put; a wrong password
#     and no credentials: the open fails with etcd's reason;
#   - with authentication on, `syctl register --etcd-user U
#     --etcd-password-file F` puts its key and keeps its lease past its
#     1 s token; on SIGTERM it revokes it, logging in again (the token
#     refused);
#     `syctl resolve` with them lists the instance; without credentials or
#     with a wrong password: refused with etcd's reason (register exit 1,
#     resolve exit 3).
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

AGENT_REGISTRY=$ETCD # resolve_lib.sh's agent N
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
resolve_open_empty "$DEAD_FIRST" empty

# ---- 4 agents register, one dies, a new one joins (resolve_lib.sh) ---------------
resolve_join_leave etcd_view resolve_etcd_death "resolver watching etcd"
resolve_same_revision etcd_view etcd "with a dead first endpoint"

# ---- etcd stopped: stale, the cache keeps serving, 0 failures; back: in sync -------------
etcd_restart() { etcd_start 0; etcd_healthy 20 || sy_fail "etcd did not come back"; }
resolve_outage "etcd_kill 0" etcd_restart etcd_view etcd
sy_rel resolve_etcd_outage "etcd stopped ~3 s" "resolver picking" "$(sy_verdict)" \
	"$DURING_PICKS picks from the cache, $DURING_FAILS failures; back in sync without a restart"
# the watch works again (a new agent is seen), syctl resolve reads etcd
resolve_registry_back etcd_view etcd "$ETCD" "$DEAD_FIRST"
"$BUILD/control/syctl" resolve web --registry "$ETCD/other" >"$W/res.bad" 2>&1
rc=$?
[ $rc -eq 2 ] && grep -q "prefix must end with '/'" "$W/res.bad" &&
	sy_pass "syctl resolve --registry etcd://.../other: exit 2 ($(cat "$W/res.bad"))" ||
	sy_fail "syctl resolve, bad etcd prefix: exit $rc $(cat "$W/res.bad")"

# ---- a service larger than one answer may be: listed in pages ------------------------------
# 12,000 keys with values padded to ~1 KB (a field the reader ignores) make
# an 18 MB kv/range answer, over the 16 MiB one answer may hold. The
# follower (etcd_follow.c) reads 2,000 keys a page, every page at the
# first page's revision. Before (63ab4bc..9d27988, the follower unpaged):
# "answer larger than 16 MiB", exit 3, where sy-control's own etcd source
# of before 63ab4bc paged.
$PY - "$(etcd_client_port 0)" <<'PYEOF'
import base64, json, sys, urllib.request
b = lambda s: base64.b64encode(s.encode()).decode()
val = b(json.dumps({"weight": 1, "pad": "x" * 1000}))
for t in range(0, 12000, 100):
    ops = [{"requestPut": {"key": b("/switchyard/services/big/198.19.%d.%d:80" % (i // 250, i % 250 + 1)),
                           "value": val}} for i in range(t, t + 100)]
    urllib.request.urlopen(urllib.request.Request(
        "http://127.0.0.1:%s/v3/kv/txn" % sys.argv[1], json.dumps({"success": ops}).encode(),
        {"Content-Type": "application/json"}), timeout=20).read()
PYEOF
big_rev=$(ectl get "${PFX}big/" --prefix --limit 1 -w json | $PY -c 'import json,sys; print(json.load(sys.stdin)["header"]["revision"])')
"$BUILD/control/syctl" resolve big --registry "$ETCD" --json >"$W/big.json" 2>"$W/big.err"
rc=$?
got=$($PY -c "
import json; j = json.load(open('$W/big.json')); ids = set(i['id'] for i in j['instances'])
want = set('198.19.%d.%d:80' % (i // 250, i % 250 + 1) for i in range(12000))
print(len(j['instances']), ids == want, int(j['revision']) >= $big_rev, j['state'], j['revision'])" 2>&1)
[ $rc -eq 0 ] && [ "${got% *}" = "12000 True True fresh" ] &&
	sy_pass "a service of 12,000 keys (an 18 MB answer) listed in pages: all 12,000 instances, revision ${got##* } (etcd had $big_rev after the puts)" ||
	sy_fail "a service of 12,000 keys: exit $rc, got '$got' (want 12000 True True fresh): $(head -c 300 "$W/big.err")"
ectl del "${PFX}big/" --prefix >/dev/null

# ---- the resolver ends cleanly, 0 failed picks since it saw the 4 ----------------------------
resolver_end $RESOLVER "$FAILS_AT_FOUR" "$W/resolver.err"
echo "--- what the resolver saw:"
cut -c1-240 "$OUT"

# ---- etcd with authentication ------------------------------------------------------------------
for i in "${!AGENT[@]}"; do kill -TERM "${AGENT[$i]}" 2>/dev/null; done # their keys go (revoked)
for i in "${!AGENT[@]}"; do wait "${AGENT[$i]}" 2>/dev/null; done
ectl user add root --new-user-password=s3cret-pw >/dev/null 2>&1
ectl user grant-role root root >/dev/null 2>&1
ectl auth enable >/dev/null 2>&1
# tokens that expire after 1 s unused (etcd's default is 5 min; they also
# survive etcd's restart): a token the resolver holds goes stale below
etcd_kill 0
ETCD_EXTRA="--auth-token-ttl 1" etcd_start 0
AS_ROOT=(--user root:s3cret-pw)
ectl_retry "${AS_ROOT[@]}" put "${PFX}web/198.18.0.40:80" '{"weight":1}' >/dev/null
ectl_retry "${AS_ROOT[@]}" put "${PFX}web/198.18.0.41:80" '{"weight":1}' >/dev/null
echo s3cret-pw >"$W/etcd.pw"
echo wrong >"$W/wrong.pw"
chmod 600 "$W/etcd.pw" "$W/wrong.pw"
OUT=$W/resolver-auth.out
RESOLVE_WATCH_ETCD_USER=root RESOLVE_WATCH_ETCD_PASSWORD_FILE=$W/etcd.pw \
	"$BUILD/tests/integration/resolve_watch" "$ETCD" - web 60 >"$OUT" 2>"$W/resolver-auth.err" &
RESOLVER=$!
SY_PIDS+=("$RESOLVER")
TWO="198.18.0.40:80,198.18.0.41:80"
line=$(wait_change 0 "f[\"ids\"] == \"$TWO\" && f[\"state\"] == \"fresh\"" 10)
[ -n "$line" ] && sy_pass "auth on: the resolver with etcd_username/etcd_password_file reads $TWO (revision $(field rev "$line"))" ||
	sy_fail "auth on: the resolver did not read: $(cat "$OUT" "$W/resolver-auth.err")"
FAILS_AT_FOUR=$(field failures "$line")
t0=$(now_ms)
ectl_retry "${AS_ROOT[@]}" put "${PFX}web/198.18.0.42:80" '{"weight":1}' >/dev/null
THREE_A="$TWO,198.18.0.42:80"
expect_change "$t0" "f[\"ids\"] == \"$THREE_A\" && f[\"state\"] == \"fresh\"" 10 \
	"auth on: a put seen through the watch (the token on the watch)"
# the token expires (1 s unused: the watch stream does not use it); etcd
# restarted: the next read is refused ("invalid auth token"), the resolver
# authenticates again
sleep 1.5
t0=$(now_ms)
etcd_kill 0
wait_change "$t0" 'f["state"] == "stale"' 10 >/dev/null || sy_fail "auth on, etcd killed: no stale state"
sleep 1.5 # the resolver's reads meanwhile are refused (connection): its token unused
ETCD_EXTRA="--auth-token-ttl 1" etcd_start 0
ectl_retry "${AS_ROOT[@]}" put "${PFX}web/198.18.0.43:80" '{"weight":1}' >/dev/null ||
	sy_fail "etcd did not come back"
FOUR_A="$THREE_A,198.18.0.43:80"
line=$(wait_change "$t0" "f[\"ids\"] == \"$FOUR_A\" && f[\"state\"] == \"fresh\"" 15)
[ -n "$line" ] && sy_pass "auth on, etcd restarted, the token expired: the resolver authenticated again, in sync with a new put after $(($(field ms "$line") - t0)) ms, not restarted" ||
	sy_fail "auth on, after etcd's restart: not in sync: $(tail -2 "$OUT")"
for pw in wrong none; do
	if [ $pw = wrong ]; then
		RESOLVE_WATCH_ETCD_USER=root RESOLVE_WATCH_ETCD_PASSWORD_FILE=$W/wrong.pw \
			"$BUILD/tests/integration/resolve_watch" "$ETCD" - web 5 >"$W/refused.out" 2>"$W/refused.err"
	else
		"$BUILD/tests/integration/resolve_watch" "$ETCD" - web 5 >"$W/refused.out" 2>"$W/refused.err"
	fi
	rc=$?
	want=$([ $pw = wrong ] && echo "authentication failed" || echo "user name is empty")
	[ $rc -eq 1 ] && grep -q "$want" "$W/refused.err" &&
		sy_pass "auth on, $([ $pw = wrong ] && echo "a wrong password" || echo "no credentials"): the open fails: $(cut -c1-200 "$W/refused.err")" ||
		sy_fail "auth on, $pw: exit $rc $(cat "$W/refused.out" "$W/refused.err")"
done
resolver_end $RESOLVER "$FAILS_AT_FOUR" "$W/resolver-auth.err"
echo "--- what the resolver with authentication saw:"
cut -c1-240 "$OUT"

# ---- syctl with authentication: the register agent and syctl resolve ---------------------------
# --ttl 6: a keepalive every 2 s, each after the 1 s token expired (etcd
# takes keepalives without checking the token); the revoke at SIGTERM below
# comes long after: etcd refuses the token and only a new log-in gets it
# through (without one the key stays until the lease runs out)
"$BUILD/control/syctl" register --service web --addr 198.18.0.44 --port 80 --ttl 6 --registry "$ETCD" \
	--etcd-user root --etcd-password-file "$W/etcd.pw" >"$W/agent-auth.log" 2>&1 &
AUTH_AGENT=$!
SY_PIDS+=("$AUTH_AGENT")
key44() { ectl "${AS_ROOT[@]}" get "${PFX}web/198.18.0.44:80" --print-value-only 2>/dev/null | grep -q weight; }
sy_wait 10 key44 && sy_pass "auth on: syctl register --etcd-user/--etcd-password-file put its key" ||
	sy_fail "auth on: the agent's key is not there: $(cat "$W/agent-auth.log")"
sleep 8 # past the lease's 6 s: only keepalives that got through keep it
if key44 && kill -0 "$AUTH_AGENT" 2>/dev/null && ! grep -q -e "lease expired" -e "trying the next" "$W/agent-auth.log"; then
	sy_pass "auth on: the agent kept its lease 8 s past its 1 s token"
else
	sy_fail "auth on: the agent lost its lease: $(cat "$W/agent-auth.log")"
fi
"$BUILD/control/syctl" resolve web --registry "$ETCD" --etcd-user root --etcd-password-file "$W/etcd.pw" \
	--json >"$W/resolve-auth.json" 2>&1
rc=$?
[ $rc -eq 0 ] && grep -q '"198.18.0.44:80"' "$W/resolve-auth.json" &&
	sy_pass "auth on: syctl resolve --etcd-user/--etcd-password-file lists the agent's instance" ||
	sy_fail "auth on: syctl resolve exit $rc: $(cat "$W/resolve-auth.json")"
"$BUILD/control/syctl" resolve web --registry "$ETCD" >"$W/resolve-noauth.out" 2>&1
rc=$?
[ $rc -eq 3 ] && grep -q "user name is empty" "$W/resolve-noauth.out" &&
	sy_pass "auth on: syctl resolve without credentials: exit 3, etcd's reason" ||
	sy_fail "auth on: syctl resolve without credentials: exit $rc $(cat "$W/resolve-noauth.out")"
for pw in wrong none; do
	creds=()
	[ $pw = wrong ] && creds=(--etcd-user root --etcd-password-file "$W/wrong.pw")
	"$BUILD/control/syctl" register --service web --addr 198.18.0.45 --port 80 --registry "$ETCD" --once \
		"${creds[@]}" >"$W/agent-refused.log" 2>&1
	rc=$?
	want=$([ $pw = wrong ] && echo "authentication failed" || echo "user name is empty")
	[ $rc -eq 1 ] && grep -q "registration refused.*$want" "$W/agent-refused.log" &&
		sy_pass "auth on, register with $([ $pw = wrong ] && echo "a wrong password" || echo "no credentials"): refused, exit 1: $(grep -o 'error=.*' "$W/agent-refused.log" | cut -c1-120)" ||
		sy_fail "auth on, register $pw: exit $rc $(cat "$W/agent-refused.log")"
done
"$BUILD/control/syctl" register --service web --addr 198.18.0.45 --port 80 --registry "$ETCD" \
	--etcd-user root >/dev/null 2>&1
rc=$?
[ $rc -eq 2 ] && sy_pass "register: --etcd-user without --etcd-password-file: usage error (exit 2)" ||
	sy_fail "register: --etcd-user alone: exit $rc"
kill -TERM "$AUTH_AGENT"
wait "$AUTH_AGENT" 2>/dev/null
rc=$?
! key44 && [ $rc -eq 0 ] && grep -q deregistered "$W/agent-auth.log" &&
	sy_pass "auth on: the agent stopped (SIGTERM) revoked its lease with a new log-in (its token had expired): key gone" ||
	sy_fail "auth on: after SIGTERM: exit $rc, key $(key44 && echo present || echo gone): $(tail -3 "$W/agent-auth.log")"
[ $SY_FAILED -eq 0 ] && echo "RESULT: PASS" || { echo "RESULT: FAIL"; tail -n 5 "$W"/agent.*.log; }
exit $SY_FAILED
