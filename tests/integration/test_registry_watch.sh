#!/bin/bash
# The embedded registry's read and watch API (issue 16; docs/registry-api.md):
# the real sy-control (no dataplane, loopback only, a free port), real
# `syctl register` agents, curl as the reader.
#
#   - 4 agents register; GET /v1/services/web/instances lists them with
#     revision R (body and X-Switchyard-Revision agree);
#   - a watch (?index=R&wait=30s) parks; one agent is killed -9 → the watch
#     answers with a revision > R, without that instance, woken by the
#     change (within 15 s, well before its 30 s wait ends; time printed);
#   - a parked watch is woken by a new registration (as before: within 15 s
#     of a 30 s wait; time printed), and by a change of an instance's
#     metadata;
#   - wait=2s with no change (heartbeats go on) answers after the wait with
#     the same revision; so does wait=12s, past the listener's 10 s request
#     guard;
#   - both backends of web-fs killed at once (a panic): the watch answers
#     with state fail-static and both instances kept, live false; a reload
#     without web-fs answers its next watch 404; a reload that changes
#     nothing keeps the revision;
#   - access: a reader outside read.allowed_prefixes 403, no token 401, a wrong token 401, the registration key as a
#     token 401, a service outside the reader's prefixes 403, and
#     /v1/services lists only the allowed ones; the read token cannot
#     register (401);
#   - malformed queries (index=abc, wait=-1, wait=99999, wait without
#     index) are 400 with a message;
#   - a watching client killed frees its slot within a second or so;
#   - over max_watchers (3): 503 with the reason and Retry-After;
#   - /metrics counts the reads, watches, wake-ups and refusals exactly;
#   - SIGTERM with 3 watches parked: each is answered 503 "stopping" at
#     once, and sy-control exits;
#   - restarted, its revision is above every revision of the first run;
#   - sy-control --check refuses a read section with token_file and
#     unauthenticated, and a read token that is a registration key.
#
# usage: test_registry_watch.sh BUILD_DIR
set -u
BUILD=$(realpath "$1")
HERE=$(dirname "$(realpath "$0")")
. "$HERE/netns_lib.sh"
trap sy_cleanup EXIT
W=$(mktemp -d /tmp/sy-regwatch-XXXXXX)
SY_FILES+=("$W")
SOCK=$W/api.sock
PY=/usr/bin/python3
TTL=2
RPORT=$($PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
REG=http://127.0.0.1:$RPORT
sy_keyfile "$W/key"
sy_keyfile "$W/read.token" # 64 hex digits: also a well-formed key, for the "cannot register" check
TOKEN=$(cat "$W/read.token")
now_ms() { echo $(($(date +%s%N) / 1000000)); }

write_config() { # extra lines for registry.embedded.read
	cat >"$W/sw.yaml" <<EOF
instance: regwatch$$
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
$1
services:
  - name: web
    vip: 198.18.1.1
    port: 80
    protocol: tcp
    mode: ipip
    source: embedded
    key_file: $W/key
    next_hop_mac: 02:00:00:00:00:fe
    health: { default_ttl_s: $TTL, hold_down_s: 0 }
  - name: other
    vip: 198.18.1.2
    port: 80
    protocol: tcp
    mode: ipip
    source: embedded
    key_file: $W/key
    next_hop_mac: 02:00:00:00:00:fe
EOF
	[ "${2:-}" = without-fs ] && return
	# losing one of its two backends is a panic (50% > 30%): fail-static keeps them
	cat >>"$W/sw.yaml" <<EOF
  - name: web-fs
    vip: 198.18.1.3
    port: 80
    protocol: tcp
    mode: ipip
    source: embedded
    key_file: $W/key
    next_hop_mac: 02:00:00:00:00:fe
    health: { default_ttl_s: $TTL, hold_down_s: 0, panic_threshold: 0.3, panic_window_s: 60 }
EOF
}
READ_OK="      token_file: $W/read.token
      services: [web]
      allowed_prefixes: [127.0.0.1/32]
      max_watchers: 3"

start() {
	rm -f "$SOCK"
	"$BUILD/control/sy-control" --config "$W/sw.yaml" >>"$W/control.log" 2>&1 &
	CONTROL=$!
	SY_PIDS+=("$CONTROL")
	sy_wait 10 test -S "$SOCK" || { tail "$W/control.log"; sy_fail "sy-control did not start"; exit 1; }
	sy_wait 10 curl -sf -o /dev/null "${auth[@]}" "$REG/v1/services" || { sy_fail "registry not listening"; exit 1; }
}
declare -A AGENT
agent() { # N [SERVICE]: backend 198.18.0.1N of SERVICE (web)
	"$BUILD/control/syctl" register --service "${2:-web}" --addr 198.18.0.1$1 --port 80 --ttl $TTL \
		--zone z$1 --metadata "{\"n\": $1}" --key-file "$W/key" --registry "$REG" \
		>>"$W/agent.$1.log" 2>&1 &
	AGENT[$1]=$!
	SY_PIDS+=("${AGENT[$1]}")
}
# get URL [curl args]: body in $W/body, headers in $W/hdr; prints "STATUS SECONDS"
get() {
	local url=$1
	shift
	curl -s --max-time 40 -o "$W/body" -D "$W/hdr" -w '%{http_code} %{time_total}' "$@" "$REG$url"
}
auth=(-H "Authorization: Bearer $TOKEN")
# jfield FILE EXPR: a Python expression over the JSON j of FILE
jfield() { $PY -c "import json, sys; j = json.load(open('$1')); print($2)"; }
ids() { jfield "$1" "' '.join(i['id'] for i in j['instances'])"; }
rev_of() { jfield "$1" "j['revision']"; }
hdr_rev() { tr -d '\r' <"$1" | sed -n 's/^X-Switchyard-Revision: //Ip'; }
# watch_bg NAME INDEX WAIT [SERVICE]: a watch in the background; its result in $W/w.NAME.*
watch_bg() {
	local name=$1
	curl -s --max-time 40 -o "$W/w.$name.body" -D "$W/w.$name.hdr" \
		-w '%{http_code} %{time_total}' "${auth[@]}" \
		"$REG/v1/services/${4:-web}/instances?index=$2&wait=$3" >"$W/w.$name.out" &
	WPID[$name]=$!
}
declare -A WPID
metric() { # NAME{LABELS} -> value
	curl -s --unix-socket "$SOCK" http://sy/metrics | awk -v m="$1" '$1 == m { print $2 }'
}
# N watches parked: a watch is waited for to park (its request may take a
# while to come on a loaded machine) before the event that should wake it
watchers_are() { [ "$(metric switchyard_registry_watchers)" = "$1" ]; }

# ---- the configuration check --------------------------------------------------
write_config "      token_file: $W/read.token
      unauthenticated: true"
out=$("$BUILD/control/sy-control" --check --config "$W/sw.yaml" 2>&1)
[ $? -eq 2 ] && grep -q "registry.embedded.read.unauthenticated: true, but token_file is set" <<<"$out" &&
	sy_pass "--check: token_file with unauthenticated refused ($out)" ||
	sy_fail "--check: token_file with unauthenticated: $out"
write_config "      token_file: $W/key"
out=$("$BUILD/control/sy-control" --check --config "$W/sw.yaml" 2>&1)
[ $? -eq 2 ] && grep -q "the read token must be its own" <<<"$out" &&
	sy_pass "--check: a registration key as the read token refused ($out)" ||
	sy_fail "--check: key as read token: $out"
write_config "      token_file: $W/no-such.token"
out=$("$BUILD/control/sy-control" --check --config "$W/sw.yaml" 2>&1)
[ $? -eq 2 ] && grep -q "registry.embedded.read.token_file $W/no-such.token: No such file" <<<"$out" &&
	sy_pass "--check: a missing read token file refused ($out)" ||
	sy_fail "--check: missing token file: $out"
write_config "$READ_OK"
"$BUILD/control/sy-control" --check --config "$W/sw.yaml" >"$W/check.out" 2>&1 &&
	sy_pass "--check: the read section loads" || sy_fail "--check: $(cat "$W/check.out")"

# ---- list --------------------------------------------------------------------------
start
for i in 1 2 3 4; do agent $i; done
sy_wait 10 bash -c "[ \$(curl -s -H 'Authorization: Bearer $TOKEN' $REG/v1/services/web/instances | grep -o '\"live\":true' | wc -l) -eq 4 ]" ||
	sy_fail "the 4 backends not listed: $(curl -s "${auth[@]}" "$REG/v1/services/web/instances")"
read -r st _ <<<"$(get /v1/services/web/instances "${auth[@]}")"
R=$(rev_of "$W/body")
cp "$W/body" "$W/list1.json"
if [ "$st" = 200 ] && [ "$(ids "$W/body")" = "198.18.0.11:80 198.18.0.12:80 198.18.0.13:80 198.18.0.14:80" ] &&
	[ "$(hdr_rev "$W/hdr")" = "$R" ] &&
	[ "$(jfield "$W/body" "j['state'], j['vip'], j['maglev'], j['instances'][0]['zone'], j['instances'][0]['metadata'], j['instances'][0]['weight'], j['instances'][0]['source']")" = \
	  "ok {'address': '198.18.1.1', 'port': 80, 'protocol': 'tcp'} {'hash': '5-tuple', 'hash_seed': 0, 'table_size': 251} z1 {'n': 1} 1 embedded" ] &&
	[ "$(jfield "$W/body" "all(0 <= i['expires_in_ms'] <= $TTL * 1000 for i in j['instances'])")" = True ]; then
	sy_pass "list: 4 instances at revision $R (header agrees), fields as documented"
else
	sy_fail "list: status $st, header $(hdr_rev "$W/hdr"), body $(cat "$W/body")"
fi
read -r st _ <<<"$(get /v1/services "${auth[@]}")"
[ "$st" = 200 ] && [ "$(jfield "$W/body" "[(s['name'], s['instances'], s['revision'] == $R or s['name'] != 'web') for s in j['services']]")" = "[('web', 4, True), ('web-fs', 0, True)]" ] &&
	sy_pass "/v1/services: web and web-fs (prefix web), not other; web: 4 instances, revision $R" ||
	sy_fail "/v1/services: $st $(cat "$W/body")"

# ---- a watch sees an instance die ------------------------------------------------------
watch_bg die "$R" 30s
sy_wait 10 watchers_are 1
kill -0 ${WPID[die]} 2>/dev/null && [ "$(metric switchyard_registry_watchers)" = 1 ] &&
	"$BUILD/control/syctl" --socket "$SOCK" status | grep -q "reads with token, watches parked: 1 of 3" &&
	sy_pass "watch at index $R parked (switchyard_registry_watchers 1; syctl status: $("$BUILD/control/syctl" --socket "$SOCK" status | grep -o 'reads with token.*'))" ||
	sy_fail "watch at index $R did not park: $(cat "$W/w.die.out" "$W/w.die.body" 2>/dev/null)"
{ kill -9 ${AGENT[4]}; wait ${AGENT[4]}; } 2>/dev/null
t0=$(now_ms)
wait ${WPID[die]}
ms=$(($(now_ms) - t0))
R2=$(rev_of "$W/w.die.body")
# woken by the change, not ended by its 30 s wait (which would carry the
# new revision too): 15 s tells them apart with room for a loaded machine
if [ "$(cut -d' ' -f1 "$W/w.die.out")" = 200 ] && [ "$R2" -gt "$R" ] && [ $ms -lt 15000 ] &&
	[ "$(ids "$W/w.die.body")" = "198.18.0.11:80 198.18.0.12:80 198.18.0.13:80" ] &&
	[ "$(hdr_rev "$W/w.die.hdr")" = "$R2" ]; then
	sy_pass "agent of .14 killed -9: the watch answered after $ms ms (TTL $TTL s) at revision $R2 > $R, without .14"
else
	sy_fail "killed agent: after $ms ms: $(cat "$W/w.die.out") rev $R2 $(cat "$W/w.die.body")"
fi
sy_rel registry_watch_death "a backend's agent killed -9" "1 parked watch" "$(sy_verdict)" \
	"watch answered ${ms} ms after the kill (TTL ${TTL} s; its wait 30 s)"

# ---- a watch sees an instance join -------------------------------------------------------
watch_bg join "$R2" 30s
sy_wait 10 watchers_are 1 || sy_fail "the watch join did not park"
t0=$(now_ms)
agent 5
wait ${WPID[join]}
ms=$(($(now_ms) - t0))
R3=$(rev_of "$W/w.join.body")
[ "$(cut -d' ' -f1 "$W/w.join.out")" = 200 ] && [ "$R3" -gt "$R2" ] && [ $ms -lt 15000 ] &&
	[ "$(ids "$W/w.join.body")" = "198.18.0.11:80 198.18.0.12:80 198.18.0.13:80 198.18.0.15:80" ] &&
	sy_pass "a new registration woke the watch after $ms ms (revision $R3)" ||
	sy_fail "new registration: after $ms ms: $(cat "$W/w.join.out") $(cat "$W/w.join.body")"

# ---- metadata is content: a change wakes watchers (the balancer ignores it) ----------------
# on .16, registered once with a long TTL and no agent: nothing else changes
# it while the watch waits (an agent's heartbeat could race the check)
once16() {
	"$BUILD/control/syctl" register --once --service web --addr 198.18.0.16 --port 80 --ttl 60 \
		--metadata "{\"n\": $1}" --key-file "$W/key" --registry "$REG" >/dev/null 2>&1 ||
		sy_fail "register --once .16 with metadata n=$1 failed"
}
meta16() { jfield "$1" "[i['metadata'] for i in j['instances'] if i['id'] == '198.18.0.16:80']"; }
once16 16
sy_wait 5 bash -c "curl -s -H 'Authorization: Bearer $TOKEN' $REG/v1/services/web/instances | grep -q 198.18.0.16" ||
	sy_fail ".16 not listed"
get /v1/services/web/instances "${auth[@]}" >/dev/null
M=$(rev_of "$W/body")
watch_bg meta "$M" 30s
sy_wait 10 watchers_are 1 || sy_fail "the watch meta did not park"
once16 99
wait ${WPID[meta]}
R3=$(rev_of "$W/w.meta.body")
[ "$(cut -d' ' -f1 "$W/w.meta.out")" = 200 ] && [ "$R3" -gt "$M" ] &&
	[ "$(meta16 "$W/w.meta.body")" = "[{'n': 99}]" ] &&
	sy_pass "new metadata of .16 woke the watch (revision $R3, metadata {n: 99})" ||
	sy_fail "metadata change: $(cat "$W/w.meta.out") $(cat "$W/w.meta.body")"

# ---- no change: the wait ends with the same revision --------------------------------------
# a long one beside the next steps (which leave web as it is): parked past
# the listener's 10 s request guard, it is not cut
watch_bg long "$R3" 12s
long_t0=$(now_ms)
read -r st secs <<<"$(get "/v1/services/web/instances?index=$R3&wait=2s" "${auth[@]}")"
ms=$($PY -c "print(int($secs * 1000))")
[ "$st" = 200 ] && [ "$(rev_of "$W/body")" = "$R3" ] && [ $ms -ge 1900 ] && [ $ms -lt 10000 ] &&
	sy_pass "wait=2s, no change (heartbeats went on): answered after $ms ms, same revision $R3" ||
	sy_fail "wait=2s: $st after $ms ms, revision $(rev_of "$W/body") (want $R3)"
# index 0 (or any passed revision) answers at once
read -r st _ <<<"$(get "/v1/services/web/instances?index=0&wait=30s" "${auth[@]}")"
[ "$st" = 200 ] && [ "$(rev_of "$W/body")" = "$R3" ] && sy_pass "index=0: answered at once" ||
	sy_fail "index=0: $st"
# an index ahead of the revision (from before a restart whose clock stepped
# back, or another host) answers at once: the client sees it lower, resets
read -r st secs <<<"$(get "/v1/services/web/instances?index=$((R3 + 1000000))&wait=30s" "${auth[@]}")"
[ "$st" = 200 ] && [ "$(rev_of "$W/body")" = "$R3" ] && [ "$($PY -c "print($secs < 5)")" = True ] &&
	sy_pass "index ahead of the revision: answered at once (${secs} s) with revision $R3" ||
	sy_fail "index ahead: $st after $secs s, revision $(rev_of "$W/body")"

# ---- fail-static: the balancer's policy keeps the set, the list says so ----------------------
agent 7 web-fs
agent 8 web-fs
sy_wait 10 bash -c "[ \$(curl -s -H 'Authorization: Bearer $TOKEN' $REG/v1/services/web-fs/instances | grep -o '\"live\":true' | wc -l) -eq 2 ]" ||
	sy_fail "web-fs: the 2 backends not listed"
get /v1/services/web-fs/instances "${auth[@]}" >/dev/null
F=$(rev_of "$W/body")
watch_bg fs "$F" 30s web-fs
sy_wait 10 watchers_are 1 || sy_fail "the watch fs did not park"
{ kill -9 ${AGENT[7]} ${AGENT[8]}; wait ${AGENT[7]} ${AGENT[8]}; } 2>/dev/null
t0=$(now_ms)
wait ${WPID[fs]}
ms=$(($(now_ms) - t0))
# the first expiry (the two agents heartbeat at their own times) is the panic
if [ "$(cut -d' ' -f1 "$W/w.fs.out")" = 200 ] && [ "$(rev_of "$W/w.fs.body")" -gt "$F" ] &&
	[ "$(jfield "$W/w.fs.body" "j['state'], j['state_reason'] != '', [i['id'] for i in j['instances']], not all(i['live'] for i in j['instances'])")" = \
	  "fail-static True ['198.18.0.17:80', '198.18.0.18:80'] True" ]; then
	sy_pass "web-fs: both agents killed: the watch answered after $ms ms: state fail-static ($(jfield "$W/w.fs.body" "j['state_reason']")), both kept, $(jfield "$W/w.fs.body" "[i['live'] for i in j['instances']].count(False)") not live"
else
	sy_fail "web-fs fail-static: after $ms ms: $(cat "$W/w.fs.out") $(cat "$W/w.fs.body")"
fi
sy_wait $((TTL + 2)) bash -c "curl -s -H 'Authorization: Bearer $TOKEN' $REG/v1/services/web-fs/instances | grep -q '\"live\":false.*\"live\":false'"
get /v1/services/web-fs/instances "${auth[@]}" >/dev/null
[ "$(jfield "$W/body" "j['state'], [(i['id'], i['live']) for i in j['instances']]")" = \
	"fail-static [('198.18.0.17:80', False), ('198.18.0.18:80', False)]" ] &&
	sy_pass "web-fs: then both expired, both kept (fail-static), live false" ||
	sy_fail "web-fs after both expired: $(cat "$W/body")"
# a reload that removes a watched service answers its watch 404
watch_bg gone "$(rev_of "$W/body")" 30s web-fs
sy_wait 10 watchers_are 1 || sy_fail "the watch gone did not park"
write_config "$READ_OK" without-fs
"$BUILD/control/syctl" --socket "$SOCK" reload >/dev/null || sy_fail "syctl reload (without web-fs) failed"
wait ${WPID[gone]}
[ "$(cut -d' ' -f1 "$W/w.gone.out")" = 404 ] && grep -q "service 'web-fs' is no longer configured" "$W/w.gone.body" &&
	sy_pass "reload without web-fs: its parked watch answered 404 ($(cat "$W/w.gone.body"))" ||
	sy_fail "reload without web-fs: $(cat "$W/w.gone.out") $(cat "$W/w.gone.body")"

# a reload that changes nothing a reader sees keeps the revision
"$BUILD/control/syctl" --socket "$SOCK" reload >/dev/null || sy_fail "syctl reload failed"
sleep 0.3
read -r st _ <<<"$(get /v1/services/web/instances "${auth[@]}")"
[ "$st" = 200 ] && [ "$(rev_of "$W/body")" = "$R3" ] && sy_pass "syctl reload: the revision stays $R3" ||
	sy_fail "after a reload: $st revision $(rev_of "$W/body"), want $R3"

# ---- access ----------------------------------------------------------------------------------
refused() { # WHAT WANT_STATUS WANT_TEXT URL [curl args]
	local what=$1 want=$2 text=$3 url=$4
	shift 4
	read -r st _ <<<"$(get "$url" "$@")"
	[ "$st" = "$want" ] && grep -q "$text" "$W/body" &&
		sy_pass "$what: $st $(cat "$W/body")" || sy_fail "$what: $st $(cat "$W/body") (want $want, '$text')"
}
refused "no token" 401 "needs the read token" /v1/services/web/instances
refused "a reader outside read.allowed_prefixes (127.0.0.2, with the token)" 403 \
	"reader address 127.0.0.2 is not in registry.embedded.read.allowed_prefixes" \
	/v1/services/web/instances --interface 127.0.0.2 "${auth[@]}"
refused "no token, /v1/services" 401 "needs the read token" /v1/services
refused "wrong token" 401 "wrong read token" /v1/services/web/instances -H "Authorization: Bearer wrong-token-0123456789"
refused "registration key as token" 401 "wrong read token" /v1/services/web/instances -H "Authorization: Bearer $(cat "$W/key")"
refused "service outside the prefixes" 403 "outside the services this reader may read" /v1/services/other/instances "${auth[@]}"
refused "index=abc" 400 "index: 'abc' is not a revision" "/v1/services/web/instances?index=abc" "${auth[@]}"
refused "wait=-1" 400 "wait: '-1' is not a duration" "/v1/services/web/instances?index=1&wait=-1" "${auth[@]}"
refused "wait=99999" 400 "wait: '99999' is out of range" "/v1/services/web/instances?index=1&wait=99999" "${auth[@]}"
refused "wait without index" 400 "wait without index" "/v1/services/web/instances?wait=5s" "${auth[@]}"
refused "unknown service (inside the prefixes)" 404 "no service 'web-nope'" /v1/services/web-nope/instances "${auth[@]}"
refused "POST on a read path" 405 "use GET" /v1/services/web/instances -X POST "${auth[@]}"
refused "unknown service (outside: nothing is told)" 403 "outside the services" /v1/services/nope/instances "${auth[@]}"
"$BUILD/control/syctl" register --once --service web --addr 198.18.0.19 --port 80 \
	--key-file "$W/read.token" --registry "$REG" >"$W/reg-with-token.out" 2>&1
st=$?
[ $st -eq 1 ] && grep -q "401" "$W/reg-with-token.out" &&
	sy_pass "the read token cannot register: exit 1 ($(head -1 "$W/reg-with-token.out"))" ||
	sy_fail "register with the read token: exit $st $(cat "$W/reg-with-token.out")"

wait ${WPID[long]}
ms=$(($(now_ms) - long_t0))
[ "$(cut -d' ' -f1 "$W/w.long.out")" = 200 ] && [ "$(rev_of "$W/w.long.body")" = "$R3" ] && [ $ms -ge 11900 ] &&
	sy_pass "wait=12s (over the 10 s request guard): answered 200 after $ms ms, same revision" ||
	sy_fail "wait=12s: $(cat "$W/w.long.out") after $ms ms: $(cat "$W/w.long.body")"

# a client that hangs up frees its slot (MHD does not watch suspended sockets)
watch_bg hup "$R3" 60s
sy_wait 10 watchers_are 1 || sy_fail "the watch to hang up did not park"
{ kill -9 ${WPID[hup]}; wait ${WPID[hup]}; } 2>/dev/null
t0=$(now_ms)
sy_wait 5 watchers_are 0
ms=$(($(now_ms) - t0))
[ "$(metric switchyard_registry_watchers)" = 0 ] && [ "$(metric 'switchyard_registry_watch_wakeups_total{reason="closed"}')" = 1 ] &&
	sy_pass "a watching client killed: its slot freed after $ms ms (wake-up 'closed')" ||
	sy_fail "a watching client killed: watchers $(metric switchyard_registry_watchers) after $ms ms"

# ---- the watcher bound, then stop -----------------------------------------------------------
for n in a b c; do watch_bg $n "$R3" 60s; done
sy_wait 5 bash -c "[ \"\$(curl -s --unix-socket $SOCK http://sy/metrics | awk '\$1 == \"switchyard_registry_watchers\" { print \$2 }')\" = 3 ]" ||
	sy_fail "3 watches not parked"
refused "a 4th watch over max_watchers 3" 503 "too many watches parked (registry.embedded.read.max_watchers 3)" \
	"/v1/services/web/instances?index=$R3&wait=60s" "${auth[@]}"
tr -d '\r' <"$W/hdr" | grep -q "^Retry-After: 1$" && sy_pass "503 carries Retry-After: 1" ||
	sy_fail "no Retry-After: $(cat "$W/hdr")"

# the counters, exactly: 4 wake-ups by change (death, join, metadata,
# fail-static), 2
# by timeout (wait=2s, 12s), 1 gone, 1 closed, 3 parked, 11 watches parked ever;
# refusals by reason as made above
m_ok=1
for want in 'switchyard_registry_watch_wakeups_total{reason="change"} 4' \
	'switchyard_registry_watch_wakeups_total{reason="gone"} 1' \
	'switchyard_registry_watch_wakeups_total{reason="closed"} 1' \
	'switchyard_registry_watch_wakeups_total{reason="timeout"} 2' \
	'switchyard_registry_watch_wakeups_total{reason="shutdown"} 0' \
	'switchyard_registry_watchers 3' 'switchyard_registry_watches_total 11' \
	'switchyard_registry_read_refusals_total{reason="address"} 1' \
	'switchyard_registry_read_refusals_total{reason="unauthenticated"} 2' \
	'switchyard_registry_read_refusals_total{reason="bad_token"} 2' \
	'switchyard_registry_read_refusals_total{reason="forbidden"} 2' \
	'switchyard_registry_read_refusals_total{reason="bad_request"} 6' \
	'switchyard_registry_read_refusals_total{reason="too_many_watchers"} 1'; do
	got=$(metric "${want% *}")
	[ "$got" = "${want##* }" ] || { m_ok=0; sy_fail "metric ${want% *} = '$got', want ${want##* }"; }
done
[ $m_ok = 1 ] && sy_pass "/metrics: wake-ups, watchers, watches and refusals counted exactly"

t0=$(now_ms)
kill -TERM $CONTROL
for n in a b c; do wait ${WPID[$n]}; done
ms=$(($(now_ms) - t0))
ok=1
for n in a b c; do
	[ "$(cut -d' ' -f1 "$W/w.$n.out")" = 503 ] && grep -q "sy-control is stopping" "$W/w.$n.body" || ok=0
done
[ $ok = 1 ] && sy_pass "SIGTERM: the 3 parked watches answered 503 'stopping' within $ms ms" ||
	sy_fail "SIGTERM: watches got $(cat "$W"/w.[abc].out) $(cat "$W"/w.[abc].body)"
sy_wait 10 bash -c "! kill -0 $CONTROL" && sy_pass "sy-control exited" || sy_fail "sy-control did not exit"
wait $CONTROL 2>/dev/null

# ---- revisions across a restart -------------------------------------------------------------
start
read -r st _ <<<"$(get /v1/services/web/instances "${auth[@]}")"
R4=$(rev_of "$W/body")
[ "$st" = 200 ] && [ "$R4" -gt "$R3" ] &&
	sy_pass "after a restart the revision ($R4) is above the first run's ($R3)" ||
	sy_fail "after a restart: $st revision $R4, first run's $R3"

grep -q "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:" "$W/control.log" && sy_fail "sanitizer: $(grep -m3 'ERROR\|runtime error' "$W/control.log")"
[ $SY_FAILED -eq 0 ] && echo "RESULT: PASS" || { echo "RESULT: FAIL"; tail -20 "$W/control.log"; }
exit $SY_FAILED
