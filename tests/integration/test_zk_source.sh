#!/bin/bash
# The ZooKeeper source, with sy-control only (no dataplane; next_hop_mac set
# so no neighbour resolution is needed) and a real ZooKeeper 3.8 server on a
# loopback port (zk_lib.sh). Agents are `syctl register --registry zk://...`.
#
#  - registration: the agent's ephemeral znode (JSON value) appears in
#    `syctl backends` with its weight and zone; IPv6 names are [addr]:port
#  - session expiry (kill -9 an agent): the backend goes after about one
#    session timeout (the time is printed)
#  - clean stop (SIGTERM): the znode is deleted (gone when the agent says
#    deregistered, not left to the session timeout), the backend goes
#  - malformed znode names and values (an impossible backend address, a
#    QUIC server_id out of range too):
#    ignored, logged (level=warn) with the reason, counted in status and /metrics;
#    a value fixed later is taken (data watches are re-armed)
#  - an agent cut off longer than its session (SIGSTOP): backend removed, and
#    on SIGCONT the agent starts a new session and re-creates its znode
#  - sy-control's own session expires (SIGSTOP): new session, everything
#    listed again, nothing lost
#  - the list names a dead server beside the live one: after the live
#    one's restart (or its own pause), sy-control gets a new session through
#    it (the 3.8 C client alone can keep retrying the dead one for minutes)
#  - server crash and restart on the same data dir: sy-control keeps the set
#    (fail-static, degraded while down), reconciles after (an agent that died
#    during the outage is removed), and a live backend never leaves (no flap)
#  - a service at its cap (max_backends: 2, four agents): the two over it
#    are ignored, counted (status, /metrics), one log line; when one of the
#    two leaves, one of the others takes its place (issue 12, point 2)
#  - a reload that moves a service to static and adds a zookeeper service:
#    the first is no longer followed, the second is
#  - digest credentials (a reload gives sy-control registry.zookeeper
#    username/password_file): the service znode it creates is that user's,
#    readable by anyone; an agent with the credentials registers there, one
#    without or with another password is refused (exit 1, NoAuth, a hint)
#  - syctl register and syctl resolve refuse what ZooKeeper does not take
#    (TLS files, an empty password file) and a scheme no registry kind has
#    (exit 2, why)
#  - sy-control stops promptly
#
# usage: test_zk_source.sh BUILD_DIR        (exit 77 = skipped: no ZooKeeper)
set -u
BUILD=$(realpath "$1")
HERE=$(dirname "$(realpath "$0")")
. "$HERE/netns_lib.sh"
. "$HERE/zk_lib.sh"
trap sy_cleanup EXIT
if ! zk_available; then
	echo "SKIP: ZooKeeper not installed (packages zookeeper, zookeeper-bin and a JRE)"
	exit 77
fi
W=$(mktemp -d /tmp/sy-zk-XXXXXX)
SY_FILES+=("$W")
SOCK=$W/api.sock
ZKPORT=$(zk_free_port)
# a member of the list that never answers (a dead server of the ensemble):
# sy-control must come back through the live one after its restart
DEADPORT=$(zk_free_port)
ZK=zk://127.0.0.1:$DEADPORT,127.0.0.1:$ZKPORT # the agents too
ROOT=/switchyard/services
ctl() { "$BUILD/control/syctl" --socket "$SOCK" "$@"; }
now_ns() { date +%s%N; }
ms_since() { echo $(( ($(now_ns) - $1) / 1000000 )); }
has_backend() { ctl --json backends "$1" | grep -q "\"address\": \"$2\""; }
lacks_backend() { ! has_backend "$@"; }
in_table() { ctl table "$1" | grep -q "^$2 "; }
malformed_count() { ctl status | sed -n 's/.* \([0-9]*\) malformed znodes ignored.*/\1/p'; }
zk_up() { ctl status | grep -q "zookeeper *up"; }
zk_down() { ctl status | grep -q "zookeeper *down"; }
malformed_is() { [ "$(malformed_count)" = "$1" ]; }
weight_is() { ctl backends web | grep -q "^$1:80 *$2 "; }
not_degraded() { ! ctl status | grep -q DEGRADED; }
registered3() { has_backend web 198.18.0.11 && has_backend web 198.18.0.12 && has_backend web6 2001:2::11; }
# zk_service NAME VIP: a service of the source, as configured below
zk_service() {
	printf '  - name: %s\n    vip: %s\n    port: 80\n    protocol: tcp\n    mode: ipip\n' "$1" "$2"
	printf '    source: zookeeper\n    next_hop_mac: 02:00:00:00:00:fe\n'
	printf '    health: { hold_down_s: 0, panic_threshold: 0 }\n'
}
# agent NAME SERVICE ADDR [options...]: a registration agent in the background
agent() {
	local name=$1 svc=$2 addr=$3
	shift 3
	"$BUILD/control/syctl" register --service "$svc" --addr "$addr" --port 80 --ttl 2 \
		--registry "$ZK" "$@" >"$W/agent-$name.log" 2>&1 &
	SY_PIDS+=($!)
	eval "PID_$name=$!"
}

zk_start "$W/zk" "$ZKPORT" || { echo "RESULT: FAIL"; exit 1; }
sy_log "ZooKeeper serving on 127.0.0.1:$ZKPORT (pid $ZK_PID)"

cat >"$W/sw.yaml" <<EOF
instance: zktest
region: $W/region
state_file: $W/region.state
limits: { lcores: 4, services: 16, backends: 256, heap_mb: 16 }
api:
  socket: $SOCK
defaults:
  encap_source4: 198.18.0.1
  encap_source6: 2001:2::1
  table_size: 251
registry:
  zookeeper:
    servers: 127.0.0.1:$DEADPORT,127.0.0.1:$ZKPORT
    session_timeout_ms: 3000
services:
  - name: web
    vip: 198.18.1.1
    port: 80
    protocol: tcp
    mode: ipip
    source: zookeeper
    next_hop_mac: 02:00:00:00:00:fe
    health: { hold_down_s: 0, panic_threshold: 0 }
  - name: web6
    vip: 2001:2:1::1
    port: 80
    protocol: tcp
    mode: ipip
    source: zookeeper
    next_hop_mac: 02:00:00:00:00:fe
    health: { hold_down_s: 0, panic_threshold: 0 }
  - name: capped
    vip: 198.18.1.3
    port: 80
    protocol: tcp
    mode: ipip
    source: zookeeper
    max_backends: 2
    next_hop_mac: 02:00:00:00:00:fe
    health: { hold_down_s: 0, panic_threshold: 0 }
EOF
"$BUILD/control/sy-control" --config "$W/sw.yaml" >"$W/log" 2>&1 &
CTL=$!
SY_PIDS+=($CTL)
sy_wait 10 test -S "$SOCK" || { cat "$W/log"; echo "FAIL: sy-control did not start"; echo "RESULT: FAIL"; exit 1; }
sy_wait 10 zk_up && sy_pass "sy-control connected to ZooKeeper: $(ctl status | grep 'zookeeper')" ||
	{ sy_fail "zookeeper source not up"; ctl status; }
curl -s --unix-socket "$SOCK" http://x/metrics | grep -q 'switchyard_source_up{source="zookeeper"} 1' &&
	sy_pass "/metrics: switchyard_source_up{source=\"zookeeper\"} 1" || sy_fail "/metrics source_up"

# ---- usage --------------------------------------------------------------------
"$BUILD/control/syctl" register --service web --addr 198.18.0.11 --port 80 --registry zk:// >/dev/null 2>&1
[ $? -eq 2 ] && sy_pass "register with zk:// and no host: usage error (exit 2)" || sy_fail "zk:// without hosts accepted"
"$BUILD/control/syctl" register --service web --addr 198.18.0.11 --port 80 --registry "$ZK" --once >/dev/null 2>&1
[ $? -eq 2 ] && sy_pass "register --once with zk://: usage error (exit 2)" || sy_fail "--once with zk:// accepted"

# ---- registration ---------------------------------------------------------------
t0=$(now_ns)
agent A web 198.18.0.11 --weight 2 --zone a --metadata '{"version":"1.2"}' --server-id 0x123
agent B web 198.18.0.12
agent V6 web6 2001:2::11
if sy_wait 10 registered3; then
	sy_pass "three agents registered: in syctl backends after $(ms_since "$t0") ms (agent start included)"
else
	sy_fail "registrations not seen"; ctl backends web; cat "$W"/agent-*.log
fi
ctl backends web | grep -q "^198.18.0.11:80 *2 *2 *up *zookeeper *a .*quic server id 0x123" &&
	sy_pass "weight 2, zone a, source zookeeper, up, QUIC server id 0x123" || { sy_fail "backend details"; ctl backends web; }
val=$(zk_cli "$ZKPORT" "get $ROOT/web/198.18.0.11:80")
[[ $val == *'{"metadata":{"version":"1.2"},"server_id":291,"weight":2,"zone":"a"}'* && $val =~ ephemeralOwner\ =\ (0x)?[0-9a-f]*[1-9a-f] ]] &&
	sy_pass "znode $ROOT/web/198.18.0.11:80 is ephemeral and holds {weight, zone, metadata, server_id}" ||
	{ sy_fail "znode value"; echo "$val"; }
zk_cli "$ZKPORT" "ls $ROOT/web6" | grep -q '\[2001:2::11\]:80' &&
	sy_pass "IPv6 znode named [2001:2::11]:80" || sy_fail "IPv6 znode name"
two_thirds() { ctl table web | grep -q "^198.18.0.11:80 .* 66\.[0-9]*%"; }
sy_wait 10 two_thirds # published after the znode's read
two_thirds &&
	sy_pass "published: the weight-2 backend owns 2/3 of the table" || { sy_fail "table shares"; ctl table web; }

# ---- session expiry: kill -9 ------------------------------------------------------
t0=$(now_ns)
kill -9 "$PID_B"
wait "$PID_B" 2>/dev/null
if sy_wait 10 lacks_backend web 198.18.0.12; then
	ms=$(ms_since "$t0")
	# not at once (the session's timeout ends it: a lower bound, which a
	# slow machine only passes more easily); the upper end is sy_wait's
	[ "$ms" -ge 500 ] &&
		sy_pass "agent killed (-9): backend gone after $ms ms (session timeout 2000 ms)" ||
		sy_fail "agent killed (-9): backend gone after $ms ms, before its 2000 ms session could time out"
else
	sy_fail "agent killed (-9): backend still listed after 10 s"
fi

# ---- clean stop: SIGTERM ---------------------------------------------------------
agent D web 198.18.0.14
sy_wait 10 has_backend web 198.18.0.14 || sy_fail "agent D not registered"
t0=$(now_ns)
kill -TERM "$PID_D"
# the agent says deregistered once its delete succeeded: the znode is gone
# then (left to the session timeout, it would stay ~2 s more)
if sy_wait 10 grep -q "msg=deregistered" "$W/agent-D.log"; then
	kids=$(zk_cli "$ZKPORT" "ls $ROOT/web")
	grep -q '198.18.0.11:80' <<<"$kids" && ! grep -q '198.18.0.14:80' <<<"$kids" &&
		sy_pass "agent stopped (SIGTERM): said deregistered with its znode already gone" ||
		sy_fail "agent stopped (SIGTERM): said deregistered; web's znodes: $kids"
else
	sy_fail "agent stopped (SIGTERM): no deregistered line"
fi
if sy_wait 10 lacks_backend web 198.18.0.14; then
	ms=$(ms_since "$t0")
	sy_pass "agent stopped (SIGTERM): backend gone after $ms ms"
else
	sy_fail "agent stopped (SIGTERM): backend still listed"
fi
wait "$PID_D" 2>/dev/null
grep -q "msg=deregistered" "$W/agent-D.log" && sy_pass "the agent logged its deregistration" || sy_fail "no deregistration in the agent log"

# ---- malformed znodes --------------------------------------------------------------
m0=$(malformed_count)
zk_cli "$ZKPORT" "create $ROOT/web/garbage" >/dev/null
sy_wait 5 malformed_is $((m0 + 1)) &&
	sy_pass "a znode named 'garbage' is counted as malformed" || sy_fail "bad name not counted ($(malformed_count))"
zk_cli "$ZKPORT" "create $ROOT/web/198.18.0.77:80" >/dev/null # the CLI writes the value "new"
sy_wait 5 malformed_is $((m0 + 2)) &&
	sy_pass "a value that is not JSON is counted as malformed" || sy_fail "bad value not counted ($(malformed_count))"
zk_cli "$ZKPORT" "set $ROOT/web/198.18.0.77:80 {\"weight\":70000}" >/dev/null
sy_wait 5 malformed_is $((m0 + 3)) &&
	sy_pass "a changed value with weight 70000 is counted as malformed (data watch re-armed)" ||
	sy_fail "out-of-range weight not counted ($(malformed_count))"
zk_cli "$ZKPORT" "create $ROOT/web/198.18.0.078:80" >/dev/null
sy_wait 5 malformed_is $((m0 + 4)) &&
	sy_pass "a non-canonical address name is counted as malformed" || sy_fail "non-canonical name not counted ($(malformed_count))"
zk_cli "$ZKPORT" "create $ROOT/web/127.0.0.1:80" >/dev/null
zk_cli "$ZKPORT" "set $ROOT/web/127.0.0.1:80 {\"weight\":1}" >/dev/null # a valid value
sy_wait 5 malformed_is $((m0 + 5)) &&
	sy_pass "a loopback address (no backend can be one) is counted as malformed" ||
	sy_fail "loopback name not counted ($(malformed_count))"
zk_cli "$ZKPORT" "create $ROOT/web/198.18.0.79:80" >/dev/null # "new": not JSON
sy_wait 5 malformed_is $((m0 + 6)) || sy_fail "198.18.0.79:80 ('new') not counted ($(malformed_count))"
zk_cli "$ZKPORT" "set $ROOT/web/198.18.0.79:80 {\"server_id\":0}" >/dev/null
sy_wait 5 malformed_is $((m0 + 7)) &&
	grep -q 'znode="198.18.0.79:80" error="server_id: an integer 1..16777215 expected (a QUIC server ID)"' "$W/log" &&
	sy_pass "a QUIC server_id 0 is counted as malformed, and said" ||
	sy_fail "server_id 0 not counted ($(malformed_count)) or not said"
grep -q 'znode="127.0.0.1:80" error="127.0.0.1 cannot be a backend: a loopback address' "$W/log" &&
	sy_pass "the log line says why 127.0.0.1:80 was ignored" || sy_fail "no reason logged for 127.0.0.1:80"
inv=$(curl -s --unix-socket "$SOCK" http://x/metrics | sed -n 's/^switchyard_registry_invalid_total{source="zookeeper"} //p')
[ "$inv" = "$(malformed_count)" ] &&
	sy_pass "/metrics: switchyard_registry_invalid_total{source=\"zookeeper\"} $inv, as status says" ||
	sy_fail "/metrics registry_invalid_total for zookeeper: '$inv', status: $(malformed_count)"
n=$(grep -c 'level=warn msg="malformed znode ignored"' "$W/log")
[ "$n" -eq 7 ] && sy_pass "seven malformed znode names or values, seven level=warn log lines" || { sy_fail "$n malformed log lines"; grep malformed "$W/log"; }
grep 'malformed znode ignored' "$W/log" | sed 's/^/    /'
kill -0 $CTL 2>/dev/null && zk_up && ! ctl backends web | grep -Eq "198.18.0.077|198.18.0.78|198.18.0.79|garbage|127.0.0.1" && lacks_backend web 198.18.0.77 &&
	sy_pass "malformed znodes ignored: sy-control up, none of them a backend" || sy_fail "malformed znodes not ignored"
zk_cli "$ZKPORT" "set $ROOT/web/198.18.0.77:80 {\"weight\":3}" >/dev/null
sy_wait 5 weight_is 198.18.0.77 3 &&
	sy_pass "the value fixed: 198.18.0.77:80 appears with weight 3" || { sy_fail "fixed value not taken"; ctl backends web; }
zk_cli "$ZKPORT" "set $ROOT/web/198.18.0.77:80 {\"weight\":5}" >/dev/null
sy_wait 5 weight_is 198.18.0.77 5 &&
	sy_pass "a weight change in the value is applied (weight 5)" || { sy_fail "weight change not applied"; ctl backends web; }
for z in garbage 198.18.0.77:80 198.18.0.078:80; do zk_cli "$ZKPORT" "delete $ROOT/web/$z" >/dev/null; done
sy_wait 5 lacks_backend web 198.18.0.77 && sy_pass "deleting the znode removes the backend" || sy_fail "deleted znode still a backend"

# ---- a service at its cap ------------------------------------------------------------
over_capacity() { curl -s --unix-socket "$SOCK" http://x/metrics | sed -n 's/^switchyard_backends_over_capacity_total{source="zookeeper"} //p'; }
capped_count() { ctl --json backends capped | grep -c '"address"'; }
capped_is() { [ "$(capped_count)" = "$1" ]; }
over_capacity_at_least() { [ "$(over_capacity)" -ge "$1" ]; }
agent C1 capped 198.18.0.61
agent C2 capped 198.18.0.62
sy_wait 10 capped_is 2 || sy_fail "capped: the first two agents not registered ($(capped_count))"
agent C3 capped 198.18.0.63
agent C4 capped 198.18.0.64
if sy_wait 10 over_capacity_at_least 2 && capped_is 2 && has_backend capped 198.18.0.61 &&
	has_backend capped 198.18.0.62; then
	sy_pass "capped (max_backends 2): 198.18.0.63 and .64 ignored, counted: over capacity $(over_capacity)"
else
	sy_fail "capped: $(capped_count) backends, over capacity '$(over_capacity)'"
fi
ctl status | grep -q "zookeeper .* $(over_capacity) over capacity" &&
	sy_pass "syctl status: $(ctl status | grep -o '[0-9]* over capacity')" || sy_fail "status: $(ctl status | grep zookeeper)"
n=$(grep -c 'msg="backends\? refused.* service=capped ' "$W/log")
[ "$n" = 1 ] && sy_pass "one log line for the refusals: $(grep 'msg="backends\? refused.* service=capped ' "$W/log")" ||
	sy_fail "$n log lines for capped's refusals (want 1)"
kill -TERM "$PID_C1"
wait "$PID_C1" 2>/dev/null
if sy_wait 10 lacks_backend capped 198.18.0.61 && sy_wait 5 capped_is 2 &&
	{ has_backend capped 198.18.0.63 || has_backend capped 198.18.0.64; }; then
	sy_pass "198.18.0.61 left: one of the ignored ones took its place ($(ctl --json backends capped | grep -o '198.18.0.6[0-9]' | tr '\n' ' '))"
else
	sy_fail "after 198.18.0.61 left: $(ctl --json backends capped | grep -o '198.18.0.6[0-9]' | tr '\n' ' ')"
fi
for a in C2 C3 C4; do eval "kill -TERM \$PID_$a"; done

# ---- an agent cut off longer than its session: expiry, then re-creation -------------
t0=$(now_ns)
kill -STOP "$PID_A"
sy_wait 10 lacks_backend web 198.18.0.11 && sy_pass "agent A paused (SIGSTOP): its session expired, backend gone after $(ms_since "$t0") ms" ||
	sy_fail "paused agent's backend still listed"
t0=$(now_ns)
kill -CONT "$PID_A"
sy_wait 10 has_backend web 198.18.0.11 &&
	sy_pass "agent A resumed: new session, znode re-created, backend back after $(ms_since "$t0") ms" ||
	{ sy_fail "agent A did not re-register"; cat "$W/agent-A.log"; }
# (its session expired, or, not connected for a session timeout, it started
# a new one first)
grep -q "msg=re-registered" "$W/agent-A.log" &&
	grep -q -e "session expired" -e "starting a new session" "$W/agent-A.log" &&
	sy_pass "the agent logged the expiry and the re-registration" || { sy_fail "agent log"; cat "$W/agent-A.log"; }

# ---- sy-control's own session expires: a new session, everything listed again ---------------
kill -STOP $CTL
sleep 4 # > its 3 s session timeout
kill -CONT $CTL
# (the session expired, or sy-control, not connected for a session timeout,
# started a new one first: either way a new session)
sy_wait 10 bash -c "grep -q -e 'zookeeper session expired' -e 'starting a new session' '$W/log' && [ \$(grep -c 'zookeeper connected.*new_session=yes' '$W/log') -ge 2 ]" &&
	sy_wait 10 zk_up && sy_wait 5 not_degraded &&
	sy_pass "sy-control paused past its session timeout: session expired, new session, source up, not degraded" ||
	{ sy_fail "no new session after sy-control's session expired"; ctl status; }
has_backend web 198.18.0.11 && has_backend web6 2001:2::11 && [ "$(ctl --json backends web | grep -c '"address"')" = 1 ] &&
	sy_pass "after the new session: the same backends (re-listed, nothing lost or doubled)" ||
	{ sy_fail "backends after the new session"; ctl backends web; }

# ---- ZooKeeper crash and restart: fail-static, reconcile, no flap -------------------------
agent E web 198.18.0.13
sy_wait 10 has_backend web 198.18.0.13 || sy_fail "agent E not registered"
sleep 0.3
web_digest() { ctl --json services | python3 -c 'import json,sys; print([s["digest"] for s in json.load(sys.stdin)["services"] if s["name"]=="web"][0])'; }
digest=$(web_digest)
# watch A (and the IPv6 backend) at every 100 ms: in the backends and in the published table
(
	polls=0
	while [ ! -e "$W/stop-watch" ]; do
		polls=$((polls + 1))
		has_backend web 198.18.0.11 || echo "$(date +%T.%N) A missing from backends" >>"$W/flap"
		in_table web 198.18.0.11:80 || echo "$(date +%T.%N) A missing from the table" >>"$W/flap"
		has_backend web6 2001:2::11 || echo "$(date +%T.%N) V6 missing from backends" >>"$W/flap"
		echo $polls >"$W/polls"
		sleep 0.1
	done
) &
WATCH=$!
SY_PIDS+=($WATCH)
t_down=$(now_ns)
zk_kill
sy_wait 5 zk_down && sy_pass "ZooKeeper killed: source down after $(ms_since "$t_down") ms" || sy_fail "source not down"
ctl status | grep -q "web: registry unreachable: last known set kept" &&
	sy_pass "service degraded while ZooKeeper is down: $(ctl status | grep 'web:' | sed 's/^ *//')" ||
	{ sy_fail "not degraded"; ctl status; }
curl -s --unix-socket "$SOCK" http://x/metrics | grep -q 'switchyard_source_up{source="zookeeper"} 0' &&
	sy_pass "/metrics: switchyard_source_up{source=\"zookeeper\"} 0" || sy_fail "/metrics source_up while down"
kill -9 "$PID_E" # dies during the outage: its session expires after the restart
wait "$PID_E" 2>/dev/null
sleep 3          # the outage outlasts the agents' 2 s session timeout
has_backend web 198.18.0.11 && has_backend web 198.18.0.13 && in_table web 198.18.0.13:80 && [ "$(web_digest)" = "$digest" ] &&
	sy_pass "fail-static: the last known set (digest $digest) stays while ZooKeeper is down ($(ms_since "$t_down") ms)" ||
	{ sy_fail "set changed while ZooKeeper was down"; ctl backends web; }
t_up=$(now_ns)
zk_start "$W/zk" "$ZKPORT" || sy_fail "ZooKeeper did not restart"
sy_log "ZooKeeper restarted on the same data dir after $(( (t_up - t_down) / 1000000 )) ms down"
sy_wait 15 zk_up && sy_pass "source up again $(ms_since "$t_up") ms after the restart" || { sy_fail "source not up"; ctl status; }
sy_wait 10 not_degraded &&
	sy_pass "service no longer degraded" || { sy_fail "still degraded"; ctl status; }
sy_wait 20 lacks_backend web 198.18.0.13 &&
	sy_pass "reconciled: the agent that died during the outage removed $(ms_since "$t_up") ms after the restart (its session expiry + settling)" ||
	{ sy_fail "dead agent's backend still listed"; ctl backends web; }
sleep 0.5
touch "$W/stop-watch"
wait "$WATCH" 2>/dev/null
if [ -s "$W/flap" ]; then
	sy_fail "flap: live backends missing during or after the outage"
	head "$W/flap"
	# in order, what sy-control and agent A did (a flap seen once, not here)
	echo "  sy-control:"
	grep -E 'zookeeper|198\.18\.0\.11|settl' "$W/log" | tail -15 | sed 's/^/    /'
	echo "  agent A:"
	tail -8 "$W/agent-A.log" | sed 's/^/    /'
else
	sy_pass "no flap: A and the IPv6 backend present at each of $(cat "$W/polls") polls (backends and table), before, during and after the outage"
fi
sy_rel zk_source_server_loss "ZooKeeper server killed, restarted on its data dir" "live agents (sessions), one agent dying meanwhile" \
	"$([ ! -s "$W/flap" ] && echo PASS || echo FAIL)" \
	"down $(( (t_up - t_down) / 1000000 )) ms; fail-static; $(cat "$W/polls") polls, $(wc -l <"$W/flap" 2>/dev/null || echo 0) with a live backend missing"
has_backend web 198.18.0.11 && has_backend web6 2001:2::11 && sy_pass "live agents registered after the restart" || sy_fail "live agents lost"
if grep -q "msg=re-registered" <(sed -n '/registry unreachable/,$p' "$W/agent-A.log"); then
	sy_log "agent A: its session expired in the outage; it re-created its znode"
else
	sy_log "agent A: its session survived the restart (ZooKeeper restores sessions; it reconnected in time)"
fi
grep -E 'zookeeper (connected|connection lost|session|: settled)' "$W/log" | sed 's/^/    /'

# ---- a reload: a service leaves the source, another joins -------------------------------
# (the follower's unfollow and follow on a running session)
sed -e '/^  - name: capped/,$d' "$W/sw.yaml" >"$W/sw2.yaml"
cat >>"$W/sw2.yaml" <<EOF
  - name: capped
    vip: 198.18.1.3
    port: 80
    protocol: tcp
    mode: ipip
    source: static
    next_hop_mac: 02:00:00:00:00:fe
    backends:
      - { address: 198.18.0.99, port: 80, weight: 1 }
EOF
zk_service late 198.18.1.4 >>"$W/sw2.yaml"
cp "$W/sw2.yaml" "$W/sw.yaml"
ctl reload >/dev/null || sy_fail "syctl reload"
capped_static() { [ "$(capped_count)" = 1 ] && has_backend capped 198.18.0.99; }
sy_wait 10 capped_static &&
	sy_pass "reload: capped now static, its zookeeper backends left (198.18.0.99 only)" ||
	{ sy_fail "reload: capped is not its static set"; ctl backends capped; }
agent L late 198.18.0.41
agent C5 capped 198.18.0.65
sy_wait 10 has_backend late 198.18.0.41 &&
	sy_pass "reload: the new zookeeper service 'late' is followed: its agent's backend appears" ||
	{ sy_fail "reload: late's backend not seen"; ctl backends late; }
sleep 1 # C5's znode has been there as long as L's
capped_static && sy_pass "reload: capped is no longer followed: a new znode under it is not taken" ||
	{ sy_fail "reload: capped took a zookeeper backend"; ctl backends capped; }
has_backend web 198.18.0.11 && has_backend web6 2001:2::11 &&
	sy_pass "reload: web and web6 kept their backends" || sy_fail "reload: web or web6 lost backends"

# ---- digest credentials: owned service znodes ----------------------------------------------
# sy-control with registry.zookeeper username/password_file (a reload: a new
# session with them) creates the missing znode of a new service 'owned' as
# that user's, readable by anyone: an agent with the same credentials
# registers there, one without them or with another password is refused
# (exit 1, NoAuth and what to do), and anyone may still read the znodes.
printf 'fleet-secret\n' >"$W/zk.pw"
printf 'not-the-secret\n' >"$W/zk.bad"
sed -e "s|^    session_timeout_ms: 3000$|&\n    username: switchyard\n    password_file: $W/zk.pw|" \
	"$W/sw.yaml" >"$W/sw3.yaml"
zk_service owned 198.18.1.5 >>"$W/sw3.yaml"
cp "$W/sw3.yaml" "$W/sw.yaml"
ctl reload >/dev/null || sy_fail "syctl reload (credentials, service owned)"
owned_node() { zk_cli "$ZKPORT" "ls $ROOT" | grep -qx $'\towned'; }
sy_wait 15 owned_node && sy_wait 10 zk_up ||
	sy_fail "sy-control did not create $ROOT/owned: $(zk_cli "$ZKPORT" "ls $ROOT" | tail -4 | tr '\n' ' ')"
agent O1 owned 198.18.0.71 --registry-user switchyard --registry-password-file "$W/zk.pw"
sy_wait 10 has_backend owned 198.18.0.71 &&
	sy_pass "an agent with the fleet's credentials registered under the owned service znode" ||
	{ sy_fail "the authenticated agent's backend not seen: $(tail -3 "$W/agent-O1.log")"; ctl backends owned; }
refused() { # NAME ADDR [credentials...]: the agent exits 1, refused by the ACL
	local name=$1 addr=$2 rc
	shift 2
	timeout 30 "$BUILD/control/syctl" register --service owned --addr "$addr" --port 80 --ttl 2 \
		--registry "$ZK" "$@" >"$W/agent-$name.log" 2>&1
	rc=$?
	[ $rc = 1 ] && grep -q 'msg="registration refused".*not authenticated.*hint=' "$W/agent-$name.log" ||
		{ echo "  exit $rc: $(tail -2 "$W/agent-$name.log")"; return 1; }
}
refused O2 198.18.0.72 &&
	sy_pass "an agent without credentials: refused (exit 1): $(grep -o 'error=.*' "$W/agent-O2.log")" ||
	sy_fail "an agent without credentials was not refused"
refused O3 198.18.0.73 --registry-user switchyard --registry-password-file "$W/zk.bad" &&
	sy_pass "an agent with another password: refused (exit 1)" ||
	sy_fail "an agent with a wrong password was not refused"
! has_backend owned 198.18.0.72 && ! has_backend owned 198.18.0.73 &&
	sy_pass "neither refused agent's backend is listed" || sy_fail "a refused agent's backend got in"
zk_cli "$ZKPORT" "get $ROOT/owned/198.18.0.71:80" | grep -q '"weight":1' &&
	sy_pass "a client without credentials still reads the owned znodes" ||
	sy_fail "the owned znode is not readable: $(zk_cli "$ZKPORT" "get $ROOT/owned/198.18.0.71:80" | tail -2)"
has_backend web 198.18.0.11 && has_backend late 198.18.0.41 &&
	sy_pass "the other services kept their backends across the new session" ||
	sy_fail "a service lost its backends when the credentials came"

# ---- what a registry kind does not take, and a kind syctl does not know ------------------
# (the agents and the resolver find the kind by the URL's scheme: registry_kinds.h)
usage_error() { # WANT CMD...: exit 2 and WANT in what it says
	local want=$1 out rc
	shift
	out=$("$@" 2>&1)
	rc=$?
	[ "$rc" = 2 ] && grep -qF "$want" <<<"$out" ||
		{ echo "  exit $rc: $out"; return 1; }
}
usage_error "ZooKeeper takes no TLS files" "$BUILD/control/syctl" register --service web \
	--addr 198.18.0.50 --port 80 --registry "$ZK" --registry-ca-file /dev/null &&
	sy_pass "syctl register zk:// with a CA: exit 2, ZooKeeper takes none" || sy_fail "zk agent took TLS files"
usage_error "empty: no password in it" "$BUILD/control/syctl" register --service web \
	--addr 198.18.0.50 --port 80 --registry "$ZK" --registry-user u --registry-password-file /dev/null &&
	sy_pass "syctl register zk:// with an empty password file: exit 2, said so" ||
	sy_fail "zk agent took an empty password"
usage_error "no registry kind of this syctl has that scheme" "$BUILD/control/syctl" register --service web \
	--addr 198.18.0.50 --port 80 --registry consul://127.0.0.1:8500 &&
	sy_pass "syctl register consul://: exit 2, no such registry kind" || sy_fail "an unknown scheme was taken"
usage_error "zookeeper takes no TLS files" "$BUILD/control/syctl" resolve web --registry "$ZK" \
	--registry-ca-file /dev/null &&
	sy_pass "syctl resolve zk:// with a CA: exit 2, the resolver's reason" || sy_fail "resolver took TLS files for zk"
usage_error "no registry URL this library knows" "$BUILD/control/syctl" resolve web --registry consul://127.0.0.1:8500 &&
	sy_pass "syctl resolve consul://: exit 2, no such registry kind" || sy_fail "resolver took an unknown scheme"

# ---- shutdown ---------------------------------------------------------------------------
t0=$(now_ns)
kill -TERM $CTL
wait $CTL
rc=$?
ms=$(ms_since "$t0")
[ $rc -eq 0 ] && sy_pass "sy-control stopped in $ms ms (exit 0)" || sy_fail "sy-control stop: exit $rc after $ms ms"

[ $SY_FAILED -eq 0 ] && echo "RESULT: PASS" || { echo "RESULT: FAIL"; echo "--- sy-control log"; cat "$W/log"; }
exit $SY_FAILED
