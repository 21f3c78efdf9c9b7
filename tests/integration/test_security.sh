#!/bin/bash
# Security of sy-control's two listeners (issue 7, "Security"):
#   1. the API: the unix socket is 0660 and belongs to api.group (a group this
#      test creates and deletes); who is not in the group cannot use it
#      (syctl says "permission denied", exit 4, not "cannot reach"); the
#      TCP listener is refused at load without token_file, and on a
#      non-loopback address unless tcp_any: true; every endpoint over TCP
#      refuses a missing, wrong or malformed bearer token (401, or 4xx for a
#      header too big to read) and changes nothing; with the token all work
#   2. the embedded registry, in namespaces this test creates (a real agent
#      in an allowed prefix, an attacker outside it):
#      a. oversized bodies (1 MiB sent, 100 MiB claimed) are refused quickly
#         and memory does not grow
#      b. slow clients (idle connections, headers trickled byte by byte) are
#         closed by the server's timeouts
#      c. a flood of bogus registrations from a disallowed prefix is refused
#         and counted, and disturbs nobody
#      d. malformed bodies, unknown services, impossible backends: each
#         answered with its status and a message naming the flaw, and counted
#      during a-c the agent's backend never leaves "up", and a new backend's
#      agent gets its registration through during each attack (within 15 s:
#      not a latency bound, see new_registration; the time is printed).
# Prints RELIABILITY| lines for docs/reliability.md (scripts/reliability_report.py).
#
# usage: test_security.sh BUILD_DIR
set -u
BUILD=$(realpath "$1")
HERE=$(dirname "$(realpath "$0")")
. "$HERE/netns_lib.sh"
[ "$(id -u)" -eq 0 ] || { echo "FAIL: needs root (namespaces, groupadd)"; exit 1; }
P=sysec$$
GRP=sysec$$
W=$(mktemp -d /tmp/sy-sec-XXXXXX)
chmod 711 "$W" # the socket's directory must be reachable for the group test
SY_FILES+=("$W")
trap 'sy_cleanup; getent group $GRP >/dev/null && groupdel $GRP' EXIT
SOCK=$W/run/api.sock
TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
echo "$TOKEN" >"$W/token"
chmod 600 "$W/token"
sy_keyfile "$W/web.key"
ctl() { "$BUILD/control/syctl" --socket "$SOCK" "$@"; }
L() { ip netns exec ${P}l "$@"; }
rel() { sy_rel "$@"; } # test, fault or input, load held, outcome, figures
ok() { [ "$1" = 0 ] && echo PASS || echo FAIL; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
LBIP=198.18.0.1
REG=$LBIP:9181
# the registry's slow-client timeouts (registry.embedded idle_timeout_s and
# request_deadline_s, 5 s and 10 s by default): shorter here, so that 2b
# sees both closings in 4 s instead of 10 (the bounds below keep the same
# slack over each)
IDLE_S=2
DEADLINE_S=4

groupadd "$GRP" || { echo "FAIL: groupadd $GRP"; exit 1; }

config() { # API_TCP_LINES (the api: block after socket/group)
	cat <<EOF
instance: $P
region: $W/region
state_file: $W/region.state
limits: { lcores: 4, services: 16, backends: 256, heap_mb: 16 }
api:
  socket: $SOCK
  group: $GRP
$1
defaults:
  encap_source4: $LBIP
  table_size: 251
registry:
  embedded:
    listen: $REG
    allowed_prefixes: [198.18.0.8/29]
    max_clock_skew_s: 30
    idle_timeout_s: $IDLE_S
    request_deadline_s: $DEADLINE_S
services:
  - name: web
    vip: 198.18.1.1
    port: 80
    protocol: tcp
    mode: ipip
    source: embedded
    key_file: $W/web.key
    next_hop_mac: 02:00:00:00:00:fe
    health: { default_ttl_s: 2, hold_down_s: 0 }
$(sy_static_service st 198.18.1.2 80 198.18.0.21 198.18.0.22)
EOF
}

# ---- 1a. configuration rules for the TCP listener ------------------------------
sy_log "1a. TCP listener rules at load"
check() { # WANT_RC GREP DESCRIPTION API_LINES
	config "$4" >"$W/c.yaml"
	"$BUILD/control/sy-control" --check --config "$W/c.yaml" >"$W/out" 2>&1
	local rc=$?
	if [ $rc -eq "$1" ] && grep -q -- "$2" "$W/out"; then
		sy_pass "$3 (exit $rc)"
		return 0
	fi
	sy_fail "$3: exit $rc, want $1 with '$2': $(cat "$W/out")"
	return 1
}
cfg_fail=0
check 2 "needs token_file" "tcp without token_file refused" "  tcp: 127.0.0.1:9180" || cfg_fail=1
check 2 "not a loopback address" "tcp on $LBIP without tcp_any refused" "  tcp: $LBIP:9180
  token_file: $W/token" || cfg_fail=1
check 2 "not a loopback address" "tcp on 0.0.0.0 without tcp_any refused" "  tcp: 0.0.0.0:9180
  token_file: $W/token" || cfg_fail=1
check 0 "" "tcp on $LBIP with tcp_any: true accepted" "  tcp: $LBIP:9180
  tcp_any: true
  token_file: $W/token" || cfg_fail=1
check 0 "" "tcp on [::1] with a token accepted" "  tcp: '[::1]:9180'
  token_file: $W/token" || cfg_fail=1
# a token file that is too short is refused at start (exit 1), nothing listens
echo short >"$W/short"
config "  tcp: 127.0.0.1:9180
  token_file: $W/short" | sed "s#$W/region#$W/region-short#" >"$W/c.yaml"
timeout 10 "$BUILD/control/sy-control" --config "$W/c.yaml" >"$W/out" 2>&1
rc=$?
if [ $rc -eq 2 ] && grep -q "shorter than 16" "$W/out"; then
	sy_pass "a token shorter than 16 characters stops sy-control (exit 2, as --check would)"
else
	sy_fail "short token: exit $rc: $(cat "$W/out")"
	cfg_fail=1
fi
rel security_api_config "api.tcp without token / off loopback / short token" "none" "$(ok $cfg_fail)" \
	"6 configurations checked; refused: no token_file, $LBIP and 0.0.0.0 without tcp_any, short token"

# ---- the network: LB, an agent in the allowed prefix, an attacker outside ------
sy_log "topology"
sy_ns ${P}n && ip -n ${P}n link add br0 type bridge && ip -n ${P}n link set br0 up || exit 1
sy_ns ${P}l && sy_attach ${P}l ${P}n pl || exit 1
sy_ns ${P}b && sy_attach ${P}b ${P}n pb || exit 1
sy_ns ${P}x && sy_attach ${P}x ${P}n px || exit 1
ip -n ${P}l addr add $LBIP/24 dev eth0
ip -n ${P}b addr add 198.18.0.11/24 dev eth0
ip -n ${P}x addr add 198.18.0.66/24 dev eth0
for a in 67 68 69; do ip -n ${P}x addr add 198.18.0.$a/24 dev eth0; done

config "  tcp: 127.0.0.1:9180
  token_file: $W/token" >"$W/sw.yaml"
# In the ASan tree freed memory waits in ASan's quarantine (256 MB by
# default) and would read as growth: keep it small so RSS means memory held.
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=8" \
	ip netns exec ${P}l "$BUILD/control/sy-control" --config "$W/sw.yaml" >"$W/control.log" 2>&1 &
CONTROL=$! # ip netns exec execs: this is sy-control's pid

SY_PIDS+=($CONTROL)
sy_wait 10 test -S "$SOCK" || { cat "$W/control.log"; echo "FAIL: sy-control did not start"; exit 1; }
sy_wait 5 bash -c "'$BUILD/control/syctl' --socket '$SOCK' --json services | grep -q '\"backends\": 2'"

# ---- 1b. the unix socket -------------------------------------------------------
sy_log "1b. unix socket"
sock_fail=0
mode=$(stat -c %a "$SOCK")
grp=$(stat -c %G "$SOCK")
[ "$mode" = 660 ] && sy_pass "API socket mode 0660" || { sy_fail "socket mode $mode"; sock_fail=1; }
[ "$grp" = "$GRP" ] && sy_pass "API socket group is api.group ($GRP)" || { sy_fail "socket group $grp, want $GRP"; sock_fail=1; }
GID=$(getent group "$GRP" | cut -d: -f3)
setpriv --reuid=65534 --regid=65534 --clear-groups "$BUILD/control/syctl" --socket "$SOCK" status >/dev/null 2>"$W/denied"
rc=$?
# syctl tells it apart from a stopped sy-control (exit 3): exit 4, and why
[ $rc -eq 4 ] && sy_pass "a user outside the group cannot use the socket (syctl exit 4)" ||
	{ sy_fail "a user outside the group: syctl exit $rc"; sock_fail=1; }
grep -qF "syctl: permission denied on $SOCK (mode 0660, group $GRP: are you in group $GRP?)" "$W/denied" &&
	sy_pass "it says: $(cat "$W/denied")" || { sy_fail "message: $(cat "$W/denied")"; sock_fail=1; }
setpriv --reuid=65534 --regid=65534 --groups=$GID "$BUILD/control/syctl" --socket "$SOCK" services >/dev/null 2>&1
rc=$?
[ $rc -eq 0 ] && sy_pass "a member of $GRP can (syctl exit 0)" || { sy_fail "a member of the group: syctl exit $rc"; sock_fail=1; }
rel security_api_socket "unix socket: other user / group member" "none" "$(ok $sock_fail)" \
	"mode $mode group $grp; non-member refused, member served"

# ---- 1c. every endpoint over TCP -------------------------------------------------
sy_log "1c. bearer token on every endpoint"
T=http://127.0.0.1:9180
# METHOD PATH [BODY]; st has backends .21 and .22 (static), web is embedded
EPS=(
	"GET /metrics"
	"GET /v1/status"
	"GET /v1/services"
	"GET /v1/stats"
	"GET /v1/lookup?service=st&src=198.18.0.2&sport=1234&dst=198.18.1.2&dport=80&proto=tcp"
	"GET /v1/services/st/backends"
	"GET /v1/services/st/table"
	"POST /v1/reload"
	'POST /v1/services/st/backends {"address":"198.18.0.23","port":80}'
	"POST /v1/services/st/backends/198.18.0.21:80/drain"
	'POST /v1/services/st/backends/198.18.0.21:80/weight {"weight":7}'
	"DELETE /v1/services/st/backends/198.18.0.22:80"
	"GET /v1/nope"
	"PUT /v1/status"
)
WANT_OK=(200 200 200 200 200 200 200 200 200 200 200 200 404 405) # reload first: it resets static backends
req() { # AUTH_HEADER_ARGS... -- METHOD PATH [BODY] -> http code
	local hdr=()
	while [ "$1" != -- ]; do hdr+=("$1"); shift; done
	shift
	local m=$1 path=$2 body=${3:-}
	local d=()
	[ -n "$body" ] && d=(-H 'Content-Type: application/json' --data-binary "$body")
	L curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X "$m" "${hdr[@]}" "${d[@]}" "$T$path"
}
snapshot() {
	{ ctl --json services; ctl --json backends st; ctl --json status | grep -o '"generation": [0-9]*'; } |
		sed 's/"last_seen_ms_ago": [0-9]*//g'
}
HUGE=$(head -c 100000 /dev/zero | tr '\0' a)
# label|curl header argument (empty: no header at all)
VARIANTS=(
	"no header|"
	"wrong token|Authorization: Bearer $(echo "$TOKEN" | tr 0-9a-f a-f0-9)"
	"token minus its last character|Authorization: Bearer ${TOKEN%?}"
	"token plus one character|Authorization: Bearer ${TOKEN}x"
	"no Bearer scheme|Authorization: $TOKEN"
	"Basic scheme|Authorization: Basic $(printf 'u:%s' "$TOKEN" | base64 -w0)"
	"Bearer without token|Authorization: Bearer"
	"Bearer and spaces|Authorization: Bearer    "
	"empty header|Authorization;"
	"non-ASCII|Authorization: Bearer $(printf '\xc3\xa9\xff\xfe')$TOKEN"
	"NUL-free control characters|Authorization: Bearer $(printf '\x01\x02\x7f')$TOKEN"
	"huge (100 kB)|Authorization: Bearer $HUGE"
)
# variant_codes I: variant I's requests to every endpoint in turn, their
# codes (" 401 401 ...") into $W/codes.I. The variants go 4 at a time
# (sy_batch): each request is a process that mostly waits, 168 of them took
# 9-13 s one at a time; every one is still made and judged below.
variant_codes() {
	local h=${VARIANTS[$1]#*|} args=() codes="" ep m path body
	[ -n "$h" ] && args=(-H "$h")
	for ep in "${EPS[@]}"; do
		read -r m path body <<<"$ep"
		codes+=" $(req "${args[@]}" -- "$m" "$path" "$body")"
	done
	echo "$codes" >"$W/codes.$1"
}
before=$(snapshot)
bad=0
n_refused=0
declare -A seen_codes
for i in "${!VARIANTS[@]}"; do
	sy_batch 4 variant_codes "$i"
done
sy_batch_wait
for i in "${!VARIANTS[@]}"; do
	v=${VARIANTS[$i]}
	label=${v%%|*}
	read -r -a vcodes <"$W/codes.$i"
	codes=""
	vbad=0
	[ ${#vcodes[@]} -eq ${#EPS[@]} ] || { vbad=1; codes=" (${#vcodes[@]} codes for ${#EPS[@]} endpoints)"; }
	for c in "${vcodes[@]}"; do
		codes+=" $c"
		seen_codes[$c]=1
		n_refused=$((n_refused + 1))
		case "$label:$c" in
		huge*:400 | huge*:401 | huge*:413 | huge*:431) ;;
		*:401) ;;
		*) vbad=1 ;;
		esac
	done
	if [ $vbad = 0 ]; then
		sy_pass "$label: all ${#EPS[@]} endpoints refused ($(echo $codes | tr ' ' '\n' | sort -u | tr '\n' ' '))"
	else
		sy_fail "$label: codes$codes"
		bad=1
	fi
done
after=$(snapshot)
if [ "$before" = "$after" ]; then
	sy_pass "$n_refused refused requests changed nothing (services, backends, generation)"
else
	sy_fail "refused requests changed state"
	diff <(echo "$before") <(echo "$after") | head
	bad=1
fi
# the right token: every endpoint works
good_codes=""
i=0
for ep in "${EPS[@]}"; do
	read -r m path body <<<"$ep"
	c=$(req -H "Authorization: Bearer $TOKEN" -- "$m" "$path" "$body")
	good_codes+=" $c"
	[ "$c" = "${WANT_OK[$i]}" ] || { sy_fail "with the token: $m $path -> $c, want ${WANT_OK[$i]}"; bad=1; }
	i=$((i + 1))
done
[ $bad = 0 ] && sy_pass "with the token all ${#EPS[@]} requests answered as they should:$good_codes"
sleep 0.3
bst=$(ctl --json backends st)
if echo "$bst" | grep -q 198.18.0.23 && ! echo "$bst" | grep -q 198.18.0.22 &&
	echo "$bst" | python3 -c 'import json,sys; b={x["address"]:x for x in json.load(sys.stdin)["backends"]}; sys.exit(b["198.18.0.21"]["effective_weight"]!=7)'; then
	sy_pass "the token's mutations took effect (.23 added, .21 weight 7, .22 removed)"
else
	sy_fail "the token's mutations did not take effect: $bst"
	bad=1
fi
rel security_api_token "TCP API: ${#VARIANTS[@]} bad Authorization variants x ${#EPS[@]} endpoints" "none" "$(ok $bad)" \
	"$n_refused refused (codes $(echo "${!seen_codes[@]}" | tr ' ' '\n' | sort | tr '\n' ' ' | sed 's/ $//')), state unchanged; right token: all ${#EPS[@]} served"

# ---- 2. the registry under abuse -------------------------------------------------
ABUSE="python3 $HERE/registry_abuse.py"
rss() { awk '/^VmRSS:/ {print $2}' /proc/$CONTROL/status; }
reg_counts() { # accepted rejected
	L curl -s --unix-socket "$SOCK" http://x/metrics |
		sed -n 's/^switchyard_registrations_total{result="\(accepted\|rejected\)"} \([0-9]*\)$/\2/p' | tr '\n' ' '
}
# the real agent
ip netns exec ${P}b "$BUILD/control/syctl" register --service web --addr 198.18.0.11 --port 80 \
	--key-file "$W/web.key" --registry http://$REG --ttl 2 >"$W/agent.log" 2>&1 &
SY_PIDS+=($!)
sy_wait 10 bash -c "'$BUILD/control/syctl' --socket '$SOCK' --json backends web | grep -q '\"state\": \"up\"'" ||
	{ sy_fail "the agent's backend did not come up"; cat "$W/agent.log"; }
# poll the agent's backend every 50 ms: one line "epoch_ms state" per sample
$ABUSE poll "$SOCK" web 198.18.0.11 0.05 >"$W/poll.txt" &
POLLER=$!
SY_PIDS+=($POLLER)
# A new backend registering while the registry is under attack, the way its
# agent does it: a real `syctl register` (it retries a request that failed
# or timed out), timed from its start until `syctl backends` lists the
# backend; then it is stopped (it deregisters). NEWREG_MS, or -1 if not
# listed within REG_WITHIN_S. ADDR in 198.18.0.12..15.
# What this guards: an attack must not starve legitimate registrations. The
# check is that the registration gets through DURING the attack, within
# REG_WITHIN_S = 15 s: half the 30 s TTL it registers with, and short of the
# flood's remaining 17 s, so a starved registry fails it. It is not a
# latency bound: it takes 0.1-0.4 s on a quiet machine, 1.8 s with the
# release build and 5.4 s with the ASan build under the oversized bodies on
# a loaded 2-core machine (3.2 s once failed the old bound of 3 x baseline
# + 1.5 s). The time is printed (docs/reliability.md), never compared with
# the baseline. The sharper guard is the agent's backend (TTL
# 2 s, heartbeat every 0.67 s) never leaving "up" during each attack.
NEWREG=12
REG_WITHIN_S=15
new_registration() {
	local a=198.18.0.$NEWREG t0 agent
	NEWREG=$((NEWREG + 1))
	NEWREG_MS=-1
	ip -n ${P}b addr add $a/24 dev eth0 2>/dev/null
	t0=$(now_ms)
	ip netns exec ${P}b "$BUILD/control/syctl" register --service web --addr $a --port 80 \
		--key-file "$W/web.key" --registry http://$REG --ttl 30 >"$W/newreg.$a.log" 2>&1 &
	agent=$!
	SY_PIDS+=($agent)
	sy_wait $REG_WITHIN_S bash -c "'$BUILD/control/syctl' --socket '$SOCK' --json backends web | grep -q '\"$a\"'" &&
		NEWREG_MS=$(($(now_ms) - t0))
	kill -TERM $agent 2>/dev/null # it deregisters (bounded wait; sy_cleanup ends it otherwise)
	for _ in $(seq 50); do kill -0 $agent 2>/dev/null || break; sleep 0.1; done
}
new_registration
base_ms=$NEWREG_MS
sy_log "a registration without attack: $base_ms ms"
[ "$base_ms" -ge 0 ] || sy_fail "the baseline registration failed"
flaps() { # FROM_MS TO_MS: samples in that window whose state is not "up", and samples
	awk -v a="$1" -v b="$2" '$1 >= a && $1 <= b { n++; if ($2 != "up") bad++ } END { printf "%d %d\n", bad + 0, n + 0 }' "$W/poll.txt"
}

# ---- 2a. oversized bodies ----------------------------------------------------
sy_log "2a. oversized bodies"
ta=$(now_ms)
rss0=$(rss)
read -r acc0 rej0 <<<"$(reg_counts)"
o1=$(ip netns exec ${P}x $ABUSE oversize $LBIP 9181 $((1 << 20)))
o2=$(ip netns exec ${P}x $ABUSE oversize $LBIP 9181 $((4 << 20)) $((100 << 20)))
o3=$(ip netns exec ${P}b $ABUSE oversize $LBIP 9181 $((1 << 20)))
# 20 more 1 MiB bodies, in parallel, from the allowed prefix
BG=()
for i in $(seq 20); do
	ip netns exec ${P}b $ABUSE oversize $LBIP 9181 $((1 << 20)) >"$W/o.$i" &
	BG+=($!)
done
new_registration
nreg=$NEWREG_MS
wait "${BG[@]}"
rss1=$(rss)
read -r acc1 rej1 <<<"$(reg_counts)"
tb=$(now_ms)
echo "  1 MiB from the attacker:      $o1"
echo "  100 MiB claimed (4 MiB sent): $o2"
echo "  1 MiB from the allowed prefix: $o3"
echo "  20 parallel 1 MiB: $(cat "$W"/o.* | awk '{print $1}' | sort | uniq -c | tr '\n' ' ')"
f=0
for o in "$o1" "$o2" "$o3" $(cat "$W"/o.* | tr ' ' '_'); do
	o=${o//_/ }
	st=$(sed -n 's/.*status=\([^ ]*\).*/\1/p' <<<"$o")
	secs=$(sed -n 's/.*secs=\([0-9.]*\).*/\1/p' <<<"$o")
	if [ "$st" != 413 ] && [ "$st" != closed ]; then f=1; fi
	awk -v s="$secs" 'BEGIN { exit !(s < 2.0) }' || f=1
done
max_secs=$(for o in "$o1" "$o2" "$o3" "$(cat "$W"/o.*)"; do sed -n 's/.*secs=\([0-9.]*\).*/\1/p' <<<"$o"; done | sort -g | tail -1)
[ $f = 0 ] && sy_pass "23 oversized bodies refused (413 or closed), each within ${max_secs} s" ||
	sy_fail "oversized bodies not all refused quickly"
grow=$((rss1 - rss0))
[ $grow -lt 16384 ] && sy_pass "sy-control's RSS ${rss0} -> ${rss1} kB (+${grow} kB, bound 16 MiB)" ||
	{ sy_fail "RSS grew by ${grow} kB"; f=1; }
read -r fl ns <<<"$(flaps $ta $tb)"
[ "$fl" -eq 0 ] && sy_pass "the agent's backend stayed up ($ns samples)" || { sy_fail "$fl of $ns samples not up"; f=1; }
[ "$nreg" -ge 0 ] && sy_pass "a new registration got through meanwhile: $nreg ms (baseline $base_ms)" ||
	{ sy_fail "a new registration was not listed within $REG_WITHIN_S s (baseline $base_ms ms)"; f=1; }
rel security_reg_oversize "bodies of 1 MiB (22) and 100 MiB claimed" "1 agent heartbeating, TTL 2 s" "$(ok $f)" \
	"413/closed within ${max_secs} s; RSS +${grow} kB; rejected +$((rej1 - rej0)); backend not-up samples $fl/$ns; new registration $nreg ms (baseline $base_ms)"

# ---- 2b. slow clients ---------------------------------------------------------
sy_log "2b. slow clients: 40 idle connections and 32 trickling headers"
ta=$(now_ms)
ip netns exec ${P}x $ABUSE idle $LBIP 9181 40 20 >"$W/idle.txt" &
BG=($!)
# 1 byte every 0.5 s per connection: never idle for the IDLE_S (2 s) timeout
for a in 67 68; do
	ip netns exec ${P}x env SRC=198.18.0.$a $ABUSE trickle $LBIP 9181 16 0.5 40 >"$W/trickle.$a" &
	BG+=($!)
done
sleep 1 # the attack under way: idle connections open until IDLE_S, trickling ones until DEADLINE_S
new_registration
nreg=$NEWREG_MS
wait "${BG[@]}"
tb=$(now_ms)
idle=$(cat "$W/idle.txt")
trk=$(cat "$W"/trickle.* | awk '{for(i=1;i<=NF;i++){split($i,kv,"="); s[kv[1]]+=kv[2]; if(kv[1] ~ /last_close/ && kv[2]>m) m=kv[2]}} END {printf "opened=%d closed=%d open_at_end=%d last_close_s=%.2f bytes_each<=%d", s["opened"], s["closed"], s["open_at_end"], m, s["bytes_each"]/2}')
echo "  idle:    $idle"
echo "  trickle: $trk"
f=0
il=$(sed -n 's/.*last_close_s=\([0-9.-]*\).*/\1/p' <<<"$idle")
iopen=$(sed -n 's/.*open_at_end=\([0-9]*\).*/\1/p' <<<"$idle")
[ "$iopen" = 0 ] && awk -v s="$il" -v t=$IDLE_S 'BEGIN { exit !(s <= t + 2) }' &&
	sy_pass "idle connections closed by the server (last after ${il} s; timeout $IDLE_S s)" ||
	{ sy_fail "idle connections: $idle"; f=1; }
tl=$(sed -n 's/.*last_close_s=\([0-9.-]*\).*/\1/p' <<<"$trk")
topen=$(sed -n 's/.*open_at_end=\([0-9]*\).*/\1/p' <<<"$trk")
[ "$topen" = 0 ] && awk -v s="$tl" -v t=$DEADLINE_S 'BEGIN { exit !(s <= t + 3) }' &&
	sy_pass "trickling clients closed by the server (last after ${tl} s; request deadline $DEADLINE_S s)" ||
	{ sy_fail "trickling clients not closed in time: $trk"; f=1; }
read -r fl ns <<<"$(flaps $ta $tb)"
[ "$fl" -eq 0 ] && sy_pass "the agent's backend stayed up ($ns samples)" || { sy_fail "$fl of $ns samples not up"; f=1; }
[ "$nreg" -ge 0 ] && sy_pass "a new registration got through meanwhile: $nreg ms (baseline $base_ms)" ||
	{ sy_fail "a new registration was not listed within $REG_WITHIN_S s (baseline $base_ms ms)"; f=1; }
rel security_reg_slow_clients "40 idle + 32 trickling (1 byte/0.5 s) connections" "1 agent heartbeating, TTL 2 s" "$(ok $f)" \
	"idle closed after <= ${il} s; trickling closed after <= ${tl} s; backend not-up samples $fl/$ns; new registration $nreg ms (baseline $base_ms)"

# ---- 2c. flood from a disallowed prefix ---------------------------------------
sy_log "2c. flood of bogus registrations from a disallowed prefix"
# flush_refusal_log: one refusal in a fresh second; it brings out the
# summary line of the refusals held back before it (rate limit 10/s)
flush_refusal_log() {
	sleep 1.1
	ip netns exec ${P}x $ABUSE flood $LBIP 9181 1 1 1 "$W/web.key" >/dev/null
	sleep 0.2
}
# first, so that the log from here on accounts for this step's refusals only
flush_refusal_log
ta=$(now_ms)
rss0=$(rss)
log0=$(wc -l <"$W/control.log")
read -r acc0 rej0 <<<"$(reg_counts)"
# 10 s at 2000/s: the new registration (3 s in) must get through while it
# lasts (it takes milliseconds; 20 s until the suite reached 30 minutes)
ip netns exec ${P}x $ABUSE flood $LBIP 9181 10 20000 8 "$W/web.key" >"$W/flood.txt" &
BG=($!)
sleep 3
new_registration
nreg=$NEWREG_MS
wait "${BG[@]}"
tb=$(now_ms)
rss1=$(rss)
read -r acc1 rej1 <<<"$(reg_counts)"
fl_out=$(cat "$W/flood.txt")
echo "  flood: $fl_out"
f=0
nreq=$(sed -n 's/.*requests=\([0-9]*\).*/\1/p' <<<"$fl_out")
rate=$(sed -n 's/.*rate=\([0-9]*\).*/\1/p' <<<"$fl_out")
n401=$(sed -n 's/.*s401=\([0-9]*\).*/\1/p' <<<"$fl_out")
n403=$(sed -n 's/.*s403=\([0-9]*\).*/\1/p' <<<"$fl_out")
other=$(echo "$fl_out" | tr ' ' '\n' | grep -E '^s([0-9]+|closed|error)=' | grep -v -e '^s401=' -e '^s403=' | tr '\n' ' ')
rej=$((rej1 - rej0))
acc=$((acc1 - acc0))
[ "${nreq:-0}" -ge 5000 ] && sy_pass "$nreq bogus registrations sent (${rate}/s)" || { sy_fail "flood too small: $fl_out"; f=1; }
[ -z "$other" ] && [ $((${n401:-0} + ${n403:-0})) -eq "${nreq:-0}" ] &&
	sy_pass "every one refused: ${n401:-0} x 401 (bad signature), ${n403:-0} x 403 (prefix)" ||
	{ sy_fail "not all refused with 401/403: $fl_out"; f=1; }
[ "$rej" -ge "${nreq:-0}" ] && sy_pass "counted: switchyard_registrations_total{result=\"rejected\"} +$rej" ||
	{ sy_fail "rejected counter +$rej for $nreq refused"; f=1; }
ctl --json backends web | grep -q '"198.18.0.6[6-9]"' && { sy_fail "a bogus registration got in"; f=1; } ||
	sy_pass "no bogus backend was added"
read -r fl ns <<<"$(flaps $ta $tb)"
[ "$fl" -eq 0 ] && sy_pass "the agent's backend stayed up during the flood ($ns samples)" || { sy_fail "$fl of $ns samples not up"; f=1; }
[ "$nreg" -ge 0 ] && sy_pass "a new registration got through during the flood: $nreg ms (baseline $base_ms)" ||
	{ sy_fail "a new registration was not listed within $REG_WITHIN_S s during the flood (baseline $base_ms ms)"; f=1; }
grow=$((rss1 - rss0))
[ $grow -lt 16384 ] && sy_pass "RSS ${rss0} -> ${rss1} kB" || { sy_fail "RSS grew by ${grow} kB in the flood"; f=1; }
# The refusals are logged at most 10 a second and the rest summed up, so a
# flood cannot fill the disk through sy-control's log. One more refusal, in
# a later second, brings the last summary out.
flush_refusal_log
read -r _ rej2 <<<"$(reg_counts)"
logged=$(tail -n +$((log0 + 1)) "$W/control.log" | grep -c '"registration refused" peer=')
held=$(tail -n +$((log0 + 1)) "$W/control.log" | sy_log_held 'registration refused')
log_bound=$(( ( (tb - ta) / 1000 + 3) * 10 ))
[ "$logged" -le $log_bound ] && [ "$held" -gt 0 ] && [ $((logged + held)) -eq $((rej2 - rej0)) ] &&
	sy_pass "refusals logged: $logged (at most 10 a second: bound $log_bound), $held summed up as not logged, together the $((rej2 - rej0)) counted" ||
	{ sy_fail "refusals logged: $logged (bound $log_bound), $held not logged, $((rej2 - rej0)) counted"; f=1; }
rel security_reg_flood "${nreq:-0} bogus registrations from 198.18.0.66 (not allowed)" "1 agent heartbeating, TTL 2 s" "$(ok $f)" \
	"${rate:-0}/s; 401 ${n401:-0}, 403 ${n403:-0}; rejected +$rej; backend not-up samples $fl/$ns; new registration $nreg ms (baseline $base_ms); RSS +${grow} kB"

# ---- 2d. the registry's answers -------------------------------------------------
# Every refused body gets the status of its flaw and a message naming it: a
# malformed body 400 (whatever it names), a well-formed one for an unknown or
# non-embedded service 404, an address no backend can have 400 although
# correctly signed, an unsigned one 401. Sent from the allowed prefix, so
# that nothing but the body is wrong.
sy_log "2d. the registry's answers to malformed and impossible registrations"
read -r _ rej0 <<<"$(reg_counts)"
ip netns exec ${P}b $ABUSE answers $LBIP 9181 "$W/web.key" >"$W/answers.txt"
read -r _ rej1 <<<"$(reg_counts)"
f=0
n=0
# case|status|a part of the message
while IFS='|' read -r name want_st want_msg; do
	n=$((n + 1))
	line=$(grep "^$name|" "$W/answers.txt")
	st=$(cut -d'|' -f2 <<<"$line")
	msg=$(cut -d'|' -f3- <<<"$line")
	if [ "$st" = "$want_st" ] && grep -qF -- "$want_msg" <<<"$msg"; then
		sy_pass "$name: $st $msg"
	else
		sy_fail "$name: $st $msg (want $want_st and '$want_msg')"
		f=1
	fi
done <<'CASES'
invalid_json|400|malformed: body: not valid JSON
invalid_utf8|400|malformed: body: not valid UTF-8
nul_byte|400|malformed: body: contains a NUL byte
int_2_64|400|too big integer
empty|400|malformed: body: empty
not_an_object|400|malformed: body: must be a JSON object
no_service|400|malformed: service: missing
unknown_service|404|service: no such service 'nosuch'
static_service|404|service: does not take registrations
loopback|400|malformed: address: 127.0.0.1 cannot be a backend: a loopback address
multicast|400|malformed: address: 224.0.0.5 cannot be a backend: a multicast address
broadcast|400|malformed: address: 255.255.255.255 cannot be a backend: the broadcast address
unspecified|400|malformed: address: 0.0.0.0 cannot be a backend: the unspecified address
v6_loopback|400|malformed: address: ::1 cannot be a backend: the loopback address
port_0|400|malformed: port: 0 is out of range
unsigned|401|bad signature: signature: missing
CASES
[ $((rej1 - rej0)) -eq $n ] && sy_pass "all $n counted: switchyard_registrations_total{result=\"rejected\"} +$n" ||
	{ sy_fail "rejected counter +$((rej1 - rej0)) for $n refusals"; f=1; }
ctl --json backends web | grep -qE '"(127.0.0.1|224.0.0.5|255.255.255.255|0.0.0.0|::1)"' &&
	{ sy_fail "an impossible backend got in"; f=1; } || sy_pass "no impossible backend got in"
rel security_reg_answers "$n malformed, unknown-service, impossible-backend and unsigned registrations" "none" \
	"$(ok $f)" "each answered with its status (400, 404, 401) and a message naming the flaw; rejected +$((rej1 - rej0))"

kill $POLLER 2>/dev/null
kill -0 $CONTROL 2>/dev/null && sy_pass "sy-control still running" || sy_fail "sy-control died"
echo "--- sy-control log: $(grep -c 'registration refused' "$W/control.log") refusals logged, tail:"
tail -3 "$W/control.log"
[ $SY_FAILED -eq 0 ] && echo "RESULT: PASS" || echo "RESULT: FAIL"
exit $SY_FAILED
