#!/bin/bash
# libswitchyard-resolve with the embedded-registry source against the real
# sy-control (no dataplane, loopback only, a free port) and real
# `syctl register` agents as the backends' heartbeaters (issue 16). The
# resolver is another process (resolve_watch.c: the public API only),
# picking all the time and printing each change it sees with the time.
#
#   - it opens `web` while no backend is registered; 4 agents start: it
#     sees the 4 (time printed; typically within one heartbeat, TTL/3);
#   - an agent is killed -9: its instance leaves the resolver's cache
#     (time printed; typically about TTL);
#   - a new agent starts: seen (time printed);
#   - sy-control is stopped: the state turns stale, the last 4 instances
#     keep serving, picks go on with 0 failures, the source error says why;
#   - sy-control back: the resolver is in sync (the registry's revision and
#     list, state fresh) without restarting it;
#   - syctl resolve: --json and text show the registry's revision, list
#     and state and a pick among them; --key picks the same twice; --flow
#     picks what `syctl lookup` names (20 flows); a registry that answers
#     the first listing after 3.5 s (stub_registry.py) is waited for (the
#     library's default for an open is 2 s); --watch --count 2 prints
#     a new agent's arrival and ends; --watch --timeout ends; a wrong token
#     exits 3, bad arguments exit 2 with a message;
#   - the balancer's Maglev parameters change (table_size, hash_seed, hash;
#     `syctl reload`): the running resolver's picks of 20 flows become
#     what `syctl lookup` names again (they differ from before the change);
#   - from the moment it saw the 4 to its end: 0 failed picks; it ends
#     cleanly on SIGTERM (the watch thread joined; under ASan no leak).
#
# usage: test_resolve_embedded.sh BUILD_DIR
set -u
BUILD=$(realpath "$1")
HERE=$(dirname "$(realpath "$0")")
. "$HERE/netns_lib.sh"
. "$HERE/resolve_lib.sh"
trap sy_cleanup EXIT
W=$(mktemp -d /tmp/sy-resolve-emb-XXXXXX)
SY_FILES+=("$W")
SOCK=$W/api.sock
PY=/usr/bin/python3
TTL=3
RPORT=$($PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
REG=http://127.0.0.1:$RPORT
sy_keyfile "$W/key"
sy_keyfile "$W/read.token"
TOKEN=$(cat "$W/read.token")

cat >"$W/sw.yaml" <<EOF
instance: resemb$$
region: $W/region
state_file: $W/sy.state
limits: { lcores: 2, services: 8, backends: 64, heap_mb: 8 }
api: { socket: $SOCK }
defaults: { encap_source4: 198.18.0.1, table_size: 251 }
registry:
  embedded:
    listen: 127.0.0.1:$RPORT
    allowed_prefixes: [127.0.0.0/8, 198.18.0.0/15]
    read:
      token_file: $W/read.token
services:
  - name: web
    vip: 198.18.1.1
    port: 80
    protocol: tcp
    mode: ipip
    source: embedded
    key_file: $W/key
    hash_seed: 7
    next_hop_mac: 02:00:00:00:00:fe
    health: { default_ttl_s: $TTL, hold_down_s: 0 }
EOF

start_control() {
	rm -f "$SOCK"
	"$BUILD/control/sy-control" --config "$W/sw.yaml" >>"$W/control.log" 2>&1 &
	CONTROL=$!
	SY_PIDS+=("$CONTROL")
	sy_wait 10 test -S "$SOCK" || { tail "$W/control.log"; sy_fail "sy-control did not start"; exit 1; }
	sy_wait 10 curl -sf -o /dev/null -H "Authorization: Bearer $TOKEN" "$REG/v1/services" ||
		{ sy_fail "registry not listening"; exit 1; }
}
declare -A AGENT
agent() { # N: backend 198.18.0.1N:80 of web
	"$BUILD/control/syctl" register --service web --addr 198.18.0.1$1 --port 80 --ttl $TTL \
		--key-file "$W/key" --registry "$REG" >>"$W/agent.$1.log" 2>&1 &
	AGENT[$1]=$!
	SY_PIDS+=("${AGENT[$1]}")
}
# the registry's own view: "REVISION IDS"
registry_view() {
	curl -s -H "Authorization: Bearer $TOKEN" "$REG/v1/services/web/instances" |
		$PY -c 'import json, sys; j = json.load(sys.stdin); print(j["revision"], ",".join(i["id"] for i in j["instances"]))'
}
# the resolver's lines
OUT=$W/resolver.out

start_control
# ---- the resolver opens web before any backend registered ------------------------
RESOLVE_WATCH_VIP=198.18.1.1:80 \
	"$BUILD/tests/integration/resolve_watch" "$REG" "$W/read.token" web 120 >"$OUT" 2>"$W/resolver.err" &
RESOLVER=$!
SY_PIDS+=("$RESOLVER")
sy_wait 10 grep -q "^CHANGE .* n=0 " "$OUT" ||
	{ sy_fail "the resolver did not open web: $(cat "$W/resolver.err" "$OUT")"; exit 1; }
sy_pass "resolver opened web (empty): $(head -1 "$OUT")"

# ---- 4 agents register, one dies, a new one joins (resolve_lib.sh) ---------------
resolve_join_leave registry_view resolve_embedded_death "resolver watching"

# ---- sy-control stopped: stale, the cache keeps serving, 0 failures ------------------------
stop_control() { kill -TERM $CONTROL; wait $CONTROL 2>/dev/null; }
resolve_outage stop_control start_control registry_view sy-control

# ---- syctl resolve: the library's view from the command line ---------------------------------
SYCTL=$BUILD/control/syctl
res() { "$SYCTL" resolve web --registry "$REG" --token-file "$W/read.token" "$@"; }
read -r rrev rids <<<"$(registry_view)"
res --json >"$W/res.json" 2>"$W/res.err"
rc=$?
got=$($PY -c "import json; j = json.load(open('$W/res.json')); print(j['revision'], j['state'], ','.join(i['id'] for i in j['instances']), j['pick']['by'], j['pick']['id'] in [i['id'] for i in j['instances']], j['source_error'] == '')" 2>&1)
[ $rc -eq 0 ] && [ "$got" = "$rrev fresh $NEWSET round-robin True True" ] &&
	sy_pass "syctl resolve --json: revision $rrev, fresh, $NEWSET, a round-robin pick among them" ||
	sy_fail "syctl resolve --json: exit $rc, '$got' (registry $rrev $rids) $(cat "$W/res.err")"
res >"$W/res.txt" 2>&1
rc=$?
[ $rc -eq 0 ] && grep -q "^service web  revision $rrev  state fresh  instances 4$" "$W/res.txt" &&
	grep -q "^  198.18.0.15:80 .* weight 1 " "$W/res.txt" && grep -q "^pick (round-robin): 198.18.0.1[1235]:80$" "$W/res.txt" &&
	sy_pass "syctl resolve (text): $(head -1 "$W/res.txt"); $(tail -1 "$W/res.txt")" ||
	sy_fail "syctl resolve (text): exit $rc: $(cat "$W/res.txt")"
# a key: the same pick every time, and another key may go elsewhere
k1=$(res --key user-42 | sed -n "s/^pick (key 'user-42'): //p")
k2=$(res --key user-42 | sed -n "s/^pick (key 'user-42'): //p")
[ -n "$k1" ] && [ "$k1" = "$k2" ] && sy_pass "syctl resolve --key user-42: $k1, twice" ||
	sy_fail "syctl resolve --key: '$k1' then '$k2'"
# a flow: the backend syctl lookup names (the balancer's table, seed 7, M 251)
same=0
for i in $(seq 1 20); do
	flow="198.18.2.$i:$((40000 + i)) 198.18.1.1:80 tcp"
	got=$(res --flow "$flow" | sed -n 's/^pick (flow .*): //p')
	want=$("$SYCTL" --socket "$SOCK" --json lookup web "198.18.2.$i:$((40000 + i))" 198.18.1.1:80 tcp |
		sed -n 's/.*"new_flow_backend": "\([^"]*\)".*/\1/p')
	[ -n "$got" ] && [ "$got" = "$want" ] && same=$((same + 1)) ||
		echo "  flow $flow: syctl resolve '$got', syctl lookup '$want'"
done
[ $same -eq 20 ] && sy_pass "syctl resolve --flow = syctl lookup for 20 of 20 flows" ||
	sy_fail "syctl resolve --flow = syctl lookup for $same of 20 flows"
# a registry that answers the first listing in 3.5 s (a large service, a
# loaded host): syctl resolve waits for it (up to 10 s), where the
# library's default for an application's open is 2 s
$PY "$HERE/stub_registry.py" "$W/stub.port" 20 0 0 3.5 >/dev/null &
SY_PIDS+=($!)
sy_wait 10 test -s "$W/stub.port" || sy_fail "the stub registry did not start"
"$SYCTL" resolve web --registry "http://127.0.0.1:$(cat "$W/stub.port")" >"$W/late.txt" 2>&1
rc=$?
[ $rc -eq 0 ] && grep -q "^service web  revision 7  state fresh  instances 1$" "$W/late.txt" &&
	grep -q "^pick (round-robin): 198.18.0.11:80$" "$W/late.txt" &&
	sy_pass "syctl resolve, first listing answered after 3.5 s: $(head -1 "$W/late.txt")" ||
	sy_fail "syctl resolve, first listing answered after 3.5 s: exit $rc: $(cat "$W/late.txt")"
# --watch: the first view, then a new agent's arrival; --count 2 ends it
res --watch --count 2 --timeout 20 >"$W/watch.txt" 2>&1 &
WATCH=$!
SY_PIDS+=("$WATCH")
sy_wait 5 grep -q "^pick" "$W/watch.txt" || sy_fail "syctl resolve --watch printed nothing"
t0=$(now_ms)
agent 6
sy_wait 10 bash -c "! kill -0 $WATCH"
wait $WATCH
rc=$?
ms=$(($(now_ms) - t0))
[ $rc -eq 0 ] && [ "$(grep -c '^service web' "$W/watch.txt")" = 2 ] &&
	[ "$(grep '^service web' "$W/watch.txt" | tail -1 | awk '{print $8}')" = 5 ] &&
	grep -q "^  198.18.0.16:80 " "$W/watch.txt" &&
	sy_pass "syctl resolve --watch --count 2: printed the view and, $ms ms after agent .16 started, the new one; exit 0" ||
	sy_fail "syctl resolve --watch: exit $rc after $ms ms: $(cat "$W/watch.txt")"
# --watch --json --timeout: one line per view, ends at the timeout
t0=$(now_ms)
res --watch --json --timeout 2 >"$W/watch.json" 2>&1
rc=$?
ms=$(($(now_ms) - t0))
[ $rc -eq 0 ] && [ "$(wc -l <"$W/watch.json")" = 1 ] && [ $ms -ge 1900 ] &&
	[ "$($PY -c "import json; print(len(json.loads(open('$W/watch.json').readline())['instances']))")" = 5 ] &&
	sy_pass "syctl resolve --watch --json --timeout 2: one view (5 instances), ended after $ms ms" ||
	sy_fail "syctl resolve --watch --timeout: exit $rc after $ms ms: $(cat "$W/watch.json")"
# refusals and bad arguments
"$SYCTL" resolve web --registry "$REG" --token-file "$W/key" >"$W/res.bad" 2>&1
rc=$?
[ $rc -eq 3 ] && grep -q "HTTP 401 .*wrong read token" "$W/res.bad" &&
	sy_pass "syctl resolve with the registration key as the token: exit 3 ($(cat "$W/res.bad"))" ||
	sy_fail "syctl resolve, wrong token: exit $rc $(cat "$W/res.bad")"
res --key a --flow "198.18.2.1:1 198.18.1.1:80 tcp" >"$W/res.bad" 2>&1
rc=$?
[ $rc -eq 2 ] && grep -q "exclude each other" "$W/res.bad" &&
	sy_pass "syctl resolve --key with --flow: exit 2 ($(cat "$W/res.bad"))" ||
	sy_fail "syctl resolve --key --flow: exit $rc $(cat "$W/res.bad")"
res --flow "198.18.2.1:1 [2001:2::1]:80 tcp" >"$W/res.bad" 2>&1
rc=$?
[ $rc -eq 2 ] && grep -q "one family" "$W/res.bad" &&
	sy_pass "syctl resolve --flow mixing families: exit 2 ($(cat "$W/res.bad"))" ||
	sy_fail "syctl resolve --flow mixed: exit $rc $(cat "$W/res.bad")"
"$SYCTL" resolve web >"$W/res.bad" 2>&1
rc=$?
[ $rc -eq 2 ] && grep -q "registry URL is required" "$W/res.bad" &&
	sy_pass "syctl resolve without --registry: exit 2 ($(cat "$W/res.bad"))" ||
	sy_fail "syctl resolve without --registry: exit $rc $(cat "$W/res.bad")"

# ---- the balancer's Maglev parameters change: the running resolver follows ------------------
# syctl lookup's new-flow backend of the resolver's 20 flows (resolve_watch.c)
lookup20() {
	for i in $(seq 1 20); do
		"$SYCTL" --socket "$SOCK" --json lookup web "198.18.2.$i:$((40000 + i))" 198.18.1.1:80 tcp |
			sed -n 's/.*"new_flow_backend": "\([^"]*\)".*/\1/p'
	done | paste -sd,
}
before=$(lookup20)
line=$(wait_change 0 "f[\"flows\"] == \"$before\"" 5)
[ -n "$line" ] && sy_pass "before the change: the resolver's 20 flows = syctl lookup (M 251, seed 7, 5-tuple)" ||
	sy_fail "before the change: syctl lookup $before, resolver: $(tail -1 "$OUT")"
sed -i 's/table_size: 251 }/table_size: 257 }/; s/    hash_seed: 7/    hash_seed: 11\n    hash: source-ip-port/' "$W/sw.yaml"
t0=$(now_ms)
"$SYCTL" --socket "$SOCK" reload >"$W/reload.out" 2>&1 || sy_fail "syctl reload: $(cat "$W/reload.out")"
sy_wait 10 bash -c "'$SYCTL' --socket '$SOCK' --json table web | grep -q '\"table_size\": 257'" ||
	sy_fail "the balancer did not take table_size 257"
after=$(lookup20)
echo "  syctl lookup of the 20 flows before: $before"
echo "                               after:  $after"
[ "$after" != "$before" ] || sy_fail "the change moved none of the 20 flows: the check below would prove nothing"
expect_change "$t0" "f[\"flows\"] == \"$after\"" 10 \
	"table_size 251 -> 257, hash_seed 7 -> 11, hash 5-tuple -> source-ip-port (reload): the running resolver's 20 flows = syctl lookup again ($(
	$PY -c "import sys; a, b = sys.argv[1].split(','), sys.argv[2].split(','); print(sum(x != y for x, y in zip(a, b)))" "$before" "$after") of 20 moved)"

# ---- the resolver ends cleanly, 0 failed picks since it saw the 4 ----------------------------
resolver_end $RESOLVER "$FAILS_AT_FOUR" "$W/resolver.err"
grep -q "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:" "$W/control.log" &&
	sy_fail "sanitizer: $(grep -h -m3 'ERROR\|runtime error' "$W/control.log")"
echo "--- what the resolver saw:"
cut -c1-220 "$OUT"
[ $SY_FAILED -eq 0 ] && echo "RESULT: PASS" || { echo "RESULT: FAIL"; tail -20 "$W/control.log"; }
exit $SY_FAILED
