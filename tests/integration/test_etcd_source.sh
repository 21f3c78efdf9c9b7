#!/bin/bash
# sy-control's etcd source against a real 3-member etcd cluster on 127.0.0.1
# (tests/integration/etcd_lib.sh; own ports and data directories), without a
# dataplane (a static next_hop_mac: no neighbour resolution):
#   1. `syctl register --registry etcd://...` -> the backend in `syctl backends`
#      and in the published table
#   2. the agent killed with -9: the lease expires and the backend leaves
#      (the time measured and printed, not bounded)
#   3. the etcd leader killed: the agents' keepalives fail over, no backend
#      leaves
#   4. the member sy-control watches killed: it fails over to another member,
#      changes made meanwhile arrive (resume from the last revision + 1), it
#      never goes fail-static
#   5. every member killed: fail-static (the set stays published, `syctl
#      status` DEGRADED); etcd back: reconciled, not degraded, and no backend
#      present before and after ever left the published table in between
#   6. sy-control stopped, registrations changed (one added, one deleted with
#      etcdctl), sy-control started again: both changes applied
#   7. compaction: sy-control paused (SIGSTOP), its watch cut, changes made and
#      compacted away, SIGCONT: it lists again and reconciles
#   8. malformed keys and values (a QUIC server_id out of range too):
#      ignored with a warn line each, counted in
#      `syctl status` and /metrics, never fatal; valid IPv6 keys with zone and
#      metadata work
#   8b. a service at its cap (max_backends: 2, added by a reload): keys
#      over it ignored, counted in `syctl status` and /metrics, one log
#      line; a key of it deleted: one of the ignored ones takes its place
#      (the watch says nothing more of them: sy-control lists again)
#   9. SIGTERM to an agent revokes its lease (its key is gone from etcd when
#      it says "deregistered"; the backend leaves); SIGTERM to sy-control
#      stops it with exit 0 (the time printed)
#  10. etcd with authentication on: sy-control authenticates (username,
#      password_file) and sees the keys; a wrong password: down, reason shown
#  10b. a user whose role reads web's folder only: the other etcd service
#      (capped) alone is fail-static (degraded), web is not; capped made
#      static by a reload is no longer degraded
#  11. etcd over https with client-certificate auth (a CA and certificates
#      made with openssl): ca_file, cert_file, key_file work, for sy-control
#      and for `syctl register --etcd-ca-file --etcd-cert-file
#      --etcd-key-file`; an agent without the CA cannot reach it (exit 3)
#
# usage: test_etcd_source.sh BUILD_DIR
set -u
BUILD=$(realpath "$1")
HERE=$(dirname "$(realpath "$0")")
. "$HERE/netns_lib.sh"
. "$HERE/etcd_lib.sh"
trap 'etcd_down; sy_cleanup' EXIT
command -v etcd >/dev/null && command -v etcdctl >/dev/null ||
	{ echo "SKIP: etcd/etcdctl not installed (scripts/install-deps.sh)"; exit 77; }
TTL=2
W=$(mktemp -d /tmp/sy-etcdsrc-XXXXXX)
SY_FILES+=("$W")
SOCK=$W/api.sock
PFX=/switchyard/services
ctl() { "$BUILD/control/syctl" --socket "$SOCK" "$@"; }
declare -A AGENT

in_backends() { ctl --json backends web | grep -q "\"address\": \"$1\""; }
in_table() { ctl --json table web | grep -q "\"address\": \"$1\""; }
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }
etcd_state() { ctl --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["sources"]["etcd"]["state"])'; }
watched_member() { # index of the member sy-control watches
	local port
	port=$(etcd_state | sed -n 's/.*watching http:\/\/127.0.0.1:\([0-9]*\).*/\1/p')
	[ -n "$port" ] && echo $(((port - ETCD_BASE) / 2))
}

start_control() {
	rm -f "$SOCK"
	"$BUILD/control/sy-control" --config "$W/sw.yaml" >>"$W/control.log" 2>&1 &
	CONTROL=$!
	SY_PIDS+=($CONTROL)
	sy_wait 10 test -S "$SOCK" || { tail "$W/control.log"; return 1; }
	sy_wait 10 bash -c "'$BUILD/control/syctl' --socket '$SOCK' status | grep -q 'etcd *up: watching'"
}

# agent I for 198.18.0.1I; endpoints in the order given (default: all)
agent() {
	"$BUILD/control/syctl" register --service web --addr 198.18.0.1$1 --port 80 --ttl $TTL \
		--weight $1 --registry "etcd://${2:-$(etcd_endpoints)}" >>"$W/agent$1.log" 2>&1 &
	AGENT[$1]=$!
	SY_PIDS+=(${AGENT[$1]})
	disown ${AGENT[$1]}
}

# endpoints with member I first
endpoints_from() {
	local i out="127.0.0.1:$(etcd_client_port $1)"
	for ((i = 0; i < ETCD_N; i++)); do [ $i -ne $1 ] && out+=",127.0.0.1:$(etcd_client_port $i)"; done
	echo "$out"
}

sy_log "etcd cluster"
etcd_up 3 || { echo "FAIL: etcd did not start"; exit 1; }
sy_log "etcd members on 127.0.0.1:$ETCD_BASE..$((ETCD_BASE + 5)), leader m$(etcd_leader)"

cat >"$W/sw.yaml" <<EOF
instance: etcdtest
region: $W/region
state_file: $W/region.state
limits: { lcores: 4, services: 16, backends: 1024, heap_mb: 32 }
api:
  socket: $SOCK
defaults:
  encap_source4: 198.18.0.1
  table_size: 65537
registry:
  etcd:
    endpoints:
$(etcd_urls)
    prefix: $PFX/
    timeout_ms: 500
services:
  - name: web
    vip: 198.18.1.1
    port: 80
    protocol: tcp
    mode: ipip
    source: etcd
    next_hop_mac: 02:00:00:00:00:fe
    health:
      hold_down_s: 0
      panic_threshold: 0
$(sy_static_service other 198.18.1.2 80 198.18.0.99)
EOF
start_control || { echo "FAIL: sy-control did not start"; exit 1; }

# ---- 1. registration ---------------------------------------------------------
sy_log "1. registration through etcd"
agent 1
agent 2
agent 3
if sy_wait 10 bash -c "[ \$('$BUILD/control/syctl' --socket '$SOCK' --json table web | grep -c '\"address\"') -eq 3 ]"; then
	sy_pass "3 agents registered: in syctl backends and the published table"
else
	sy_fail "registrations not seen"
	ctl backends web
fi
ctl backends web | grep -q "198.18.0.13:80 .* 3 .* up .* etcd" && sy_pass "weight and source as registered (etcd)" ||
	{ sy_fail "syctl backends line"; ctl backends web; }
ectl get $PFX/web/198.18.0.11:80 --print-value-only | grep -q '"weight":1' &&
	sy_pass "the agent's key and JSON value are in etcd" || sy_fail "key not in etcd"

# ---- 2. lease expiry -----------------------------------------------------------
sy_log "2. an agent dies (kill -9): its lease expires"
kill -9 ${AGENT[2]}
t0=$(date +%s%N)
# (the wait a hang guard, not a latency bound: a loaded machine may be slow)
sy_wait $((TTL + 15)) bash -c "! '$BUILD/control/syctl' --socket '$SOCK' --json backends web | grep -q '198.18.0.12\"'"
ms=$(ms_since $t0)
if ! in_backends 198.18.0.12; then
	sy_pass "be2 removed ${ms} ms after its agent died (lease TTL ${TTL} s)"
else
	sy_fail "be2 not removed ${ms} ms after its agent died (lease TTL ${TTL} s)"
fi
in_table 198.18.0.12 && sy_fail "be2 still published" || sy_pass "be2 out of the published table"

# ---- 3. the leader dies --------------------------------------------------------
sy_log "3. the etcd leader is killed; keepalives fail over"
L=$(etcd_leader)
agent 4 "$(endpoints_from $L)" # this one talks to the leader
sy_wait 10 in_backends 198.18.0.14 || sy_fail "be4 not registered"
marks=$(grep -c "backend removed" "$W/control.log")
etcd_kill $L
sy_log "   killed leader m$L"
lost=0
samples=0
# for 6 s (3 TTLs: a lease whose keepalives did not fail over expires within
# TTL + etcd's 0.5 s expiry check + the election), not a count of samples:
# 40 samples took 10-15 s with the time each takes
end_ms=$(($(date +%s%N) / 1000000 + 6000))
while [ $(($(date +%s%N) / 1000000)) -lt $end_ms ]; do
	for b in 11 13 14; do in_table 198.18.0.$b || { lost=1; echo "  198.18.0.$b missing"; }; done
	samples=$((samples + 1))
	sleep 0.15
done
[ $lost -eq 0 ] && [ "$(grep -c "backend removed" "$W/control.log")" = "$marks" ] &&
	sy_pass "no backend left in the 6 s after the leader died ($samples samples; new leader m$(etcd_leader))" ||
	sy_fail "a backend left after the leader was killed"
sy_rel etcd_source_leader_loss "etcd leader killed (3-member cluster)" "3 agents keeping leases alive" \
	"$([ $lost -eq 0 ] && [ "$(grep -c "backend removed" "$W/control.log")" = "$marks" ] && echo PASS || echo FAIL)" \
	"backends missing from the published table during 6 s: $lost; removals: $(($(grep -c "backend removed" "$W/control.log") - marks))"
etcd_start $L
etcd_healthy 15 || sy_fail "m$L did not rejoin"

# ---- 4. the watched member dies ---------------------------------------------------
sy_log "4. the member sy-control watches is killed"
ectl_retry put $PFX/web/198.18.0.19:80 '{"weight":1}' >/dev/null
sy_wait 5 in_backends 198.18.0.19 || sy_fail "be19 (a plain etcdctl put) not seen"
sy_wait 5 watched_member >/dev/null
M=$(watched_member)
if [ -z "$M" ]; then
	sy_fail "cannot tell which member sy-control watches: $(etcd_state)"
	M=0
fi
etcd_kill $M
ECTL_TIMEOUT=1s ectl_retry put $PFX/web/198.18.0.20:80 '{"weight":2}' >/dev/null
ECTL_TIMEOUT=1s ectl_retry del $PFX/web/198.18.0.19:80 >/dev/null
if sy_wait 8 bash -c "'$BUILD/control/syctl' --socket '$SOCK' --json backends web | grep -q '198.18.0.20\"' && ! '$BUILD/control/syctl' --socket '$SOCK' --json backends web | grep -q '198.18.0.19\"'"; then
	sy_pass "after m$M died, changes made meanwhile arrived (now watching m$(watched_member))"
else
	sy_fail "changes lost after failover: $(etcd_state)"
fi
grep -q "etcd unreachable" "$W/control.log" && sy_fail "went fail-static although two members were up" ||
	sy_pass "no fail-static while a quorum was reachable"
etcd_start $M
etcd_healthy 15 || sy_fail "m$M did not rejoin"

# ---- 5. all members down: fail-static ---------------------------------------------
sy_log "5. every etcd member is killed"
before=$(ctl --json table web | grep -o '"address": "[^"]*"' | sort | tr '\n' ' ')
# sample the published table all along (about every 50 ms; the same query
# as $before, which ran with LeakSanitizer's check: the samples without it,
# which cost ~55 ms each in the ASan tree: 18 samples, not the > 20 asked,
# once in that tree beside a busy loop at nice 10)
touch "$W/sampling"
(while [ -e "$W/sampling" ]; do
	sy_no_leak_check ctl --json table web | grep -o '"address": "[^"]*"' | sort | tr '\n' ' '
	echo
	sleep 0.03
done) >"$W/samples" 2>/dev/null &
SAMPLER=$!
SY_PIDS+=($SAMPLER)
sleep 0.3
marks=$(grep -c "backend removed" "$W/control.log")
for i in 0 1 2; do etcd_kill $i; done
t0=$(date +%s%N)
if sy_wait 5 bash -c "'$BUILD/control/syctl' --socket '$SOCK' status | grep -q 'web: registry unreachable'"; then
	sy_pass "fail-static $(ms_since $t0) ms after the last member died (timeout_ms 500)"
else
	sy_fail "not degraded with every member down"
fi
ctl status | grep -q "etcd *down" && ctl status | grep -q DEGRADED && sy_pass "syctl status: etcd down, DEGRADED" ||
	{ sy_fail "syctl status"; ctl status; }
sleep 2
[ "$(ctl --json table web | grep -o '"address": "[^"]*"' | sort | tr '\n' ' ')" = "$before" ] &&
	sy_pass "the last known set stays published (${before})" || sy_fail "the published set changed during the outage"
for i in 0 1 2; do etcd_start $i; done
etcd_healthy 20 || sy_fail "etcd did not come back"
t0=$(date +%s%N)
if sy_wait 10 bash -c "'$BUILD/control/syctl' --socket '$SOCK' status | grep -q 'state *ok'"; then
	sy_pass "etcd back: reconciled and not degraded after $(ms_since $t0) ms"
else
	sy_fail "still degraded after etcd returned"
	ctl status
fi
sleep 1
rm -f "$W/sampling"
wait $SAMPLER 2>/dev/null
after=$(ctl --json table web | grep -o '"address": "[^"]*"' | sort | tr '\n' ' ')
n=$(wc -l <"$W/samples")
bad=0
for a in $before; do
	[ "$a" = '"address":' ] && continue
	echo "$after" | grep -qF "$a" || continue # left for good: not a flap
	bad=$((bad + $(grep -vcF "$a" "$W/samples")))
done
if [ "$after" = "$before" ] && [ $bad -eq 0 ] && [ "$n" -gt 20 ] &&
	[ "$(grep -c "backend removed" "$W/control.log")" = "$marks" ]; then
	sy_pass "no flap: every backend present before and after was in all $n samples of the published table"
else
	sy_fail "flap: $bad samples of $n lack a backend; before [$before] after [$after]"
fi
sy_rel etcd_source_total_loss "all 3 etcd members killed, then restarted" "agents keeping leases alive" \
	"$([ "$after" = "$before" ] && [ $bad -eq 0 ] && [ "$n" -gt 20 ] && [ "$(grep -c "backend removed" "$W/control.log")" = "$marks" ] && echo PASS || echo FAIL)" \
	"fail-static, then reconciled; $n samples of the published table, $bad lacking a backend; removals $(($(grep -c "backend removed" "$W/control.log") - marks))"

# ---- 6. sy-control restarts, registrations change meanwhile -----------------------
sy_log "6. changes while sy-control is stopped"
kill $CONTROL
wait $CONTROL 2>/dev/null
ectl_retry put $PFX/web/198.18.0.21:80 '{"weight":1}' >/dev/null
ectl_retry del $PFX/web/198.18.0.20:80 >/dev/null
start_control || sy_fail "sy-control did not restart"
if sy_wait 5 bash -c "'$BUILD/control/syctl' --socket '$SOCK' --json table web | grep -q '198.18.0.21\"' && ! '$BUILD/control/syctl' --socket '$SOCK' --json table web | grep -q '198.18.0.20\"'"; then
	sy_pass "restarted sy-control: the added backend is in, the deleted one out"
else
	sy_fail "changes made while stopped not applied"
	ctl backends web
fi

# ---- 7. compaction ---------------------------------------------------------------------
sy_log "7. watch revision compacted while sy-control is paused"
M=$(watched_member)
[ -n "$M" ] || M=0
# (no wait: a watch that ends within its first second, as the one step 6's
# listing started may, is resumed from its revision too, after a back-off;
# until stop 26 it was read again, which hid the compaction)
kill -STOP $CONTROL
etcd_kill $M # cuts its watch stream
ECTL_TIMEOUT=1s ectl_retry put $PFX/web/198.18.0.22:80 '{"weight":1}' >/dev/null
ECTL_TIMEOUT=1s ectl_retry del $PFX/web/198.18.0.21:80 >/dev/null
rev=$(ectl_retry get $PFX/ -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)["header"]["revision"])')
ectl_retry compact "$rev" >/dev/null && sy_log "   compacted at revision $rev"
etcd_start $M
etcd_healthy 15 || sy_fail "m$M did not rejoin"
# each member applies a compaction on its own, after the command returns:
# wait until none serves the revision before it any more, else the watch
# sy-control resumes on one of them may still get its events from history
for ((i = 0; i < ETCD_N; i++)); do
	sy_wait 10 bash -c "! etcdctl --endpoints=127.0.0.1:$(etcd_client_port $i) --command-timeout=2s get --rev=$((rev - 1)) $PFX/web/ >/dev/null 2>&1" ||
		sy_log "   m$i still serves revision $((rev - 1))"
done
kill -CONT $CONTROL
if sy_wait 8 bash -c "'$BUILD/control/syctl' --socket '$SOCK' --json backends web | grep -q '198.18.0.22\"' && ! '$BUILD/control/syctl' --socket '$SOCK' --json backends web | grep -q '198.18.0.21\"'"; then
	sy_pass "after SIGCONT: compacted watch -> listed again and reconciled"
else
	sy_fail "not reconciled after compaction"
	ctl backends web
fi
grep -q "watch revision compacted; listing again" "$W/control.log" && sy_pass "the log says the watch was compacted" ||
	{ sy_fail "no compaction line in the log (member m$M was killed)"; grep etcd "$W/control.log" | grep -v 'key or value' | tail -15 | sed 's/^/  /'; }

# ---- 8. malformed keys and values ------------------------------------------------------
sy_log "8. malformed keys and values"
inv0=$(curl -s --unix-socket "$SOCK" http://x/metrics | sed -n 's/^switchyard_registry_invalid_total{source="etcd"} //p')
warn0=$(grep -c 'level=warn msg="etcd: key or value ignored"' "$W/control.log")
ectl_retry put $PFX/web/not-an-endpoint '{}' >/dev/null
ectl_retry put $PFX/web/198.18.0.30:80 'not json' >/dev/null
ectl_retry put $PFX/web/198.18.0.31:80 '{"weight":"heavy"}' >/dev/null
ectl_retry put $PFX/web/198.18.0.32:99999 '{}' >/dev/null
# a key outside every service's folder: not read at all (sy-control reads
# the folders of its own services only), so neither counted nor logged
ectl_retry put $PFX/noslash '{}' >/dev/null
ectl_retry put $PFX/web/198.18.0.33:80 '{"weight":1,"zone":"bad zone!"}' >/dev/null
# addresses and ports no backend can have (control/netaddr.c)
ectl_retry put $PFX/web/127.0.0.1:80 '{}' >/dev/null
ectl_retry put $PFX/web/224.0.0.5:80 '{}' >/dev/null
ectl_retry put "$PFX/web/[::1]:80" '{}' >/dev/null
ectl_retry put $PFX/web/198.18.0.34:0 '{}' >/dev/null
# a QUIC server ID out of range (1..16777215)
ectl_retry put $PFX/web/198.18.0.35:80 '{"weight":1,"server_id":16777216}' >/dev/null
ectl_retry put "$PFX/web/[2001:2::5]:80" '{"weight":3,"zone":"b","metadata":{"v":"1"},"server_id":291}' >/dev/null
sy_wait 5 bash -c "'$BUILD/control/syctl' --socket '$SOCK' --json backends web | grep -q '2001:2::5'" ||
	sy_fail "a valid IPv6 key after bad ones was not applied"
inv1=$(curl -s --unix-socket "$SOCK" http://x/metrics | sed -n 's/^switchyard_registry_invalid_total{source="etcd"} //p')
warn1=$(grep -c 'level=warn msg="etcd: key or value ignored"' "$W/control.log")
[ $((inv1 - inv0)) -eq 10 ] && [ $((warn1 - warn0)) -eq 10 ] &&
	sy_pass "10 malformed keys/values of web: 10 warn lines, switchyard_registry_invalid_total +10 ($inv1)" ||
	sy_fail "invalid counted $((inv1 - inv0)), logged $((warn1 - warn0)) (want 10, 10)"
grep -q 'key="/switchyard/services/web/198.18.0.35:80" error="server_id: an integer 1..16777215 expected (a QUIC server ID)"' "$W/control.log" &&
	sy_pass "the warn line says why server_id 16777216 is refused" ||
	sy_fail "no reason logged for server_id 16777216"
grep -q 'key="/switchyard/services/web/127.0.0.1:80" error="127.0.0.1 cannot be a backend: a loopback address' "$W/control.log" &&
	grep -q 'key="/switchyard/services/web/198.18.0.34:0" error="port 0 cannot be' "$W/control.log" &&
	sy_pass "the warn lines say why 127.0.0.1:80 and 198.18.0.34:0 cannot be backends" ||
	sy_fail "no reason logged for the impossible backends"
etcd_state | grep -q "$inv1 invalid" && sy_pass "syctl status shows the count: $(etcd_state)" ||
	sy_fail "status: $(etcd_state)"
kill -0 $CONTROL && ! in_backends 198.18.0.30 && ! in_backends 198.18.0.31 && ! in_backends 198.18.0.33 &&
	! in_backends 127.0.0.1 && ! in_backends 224.0.0.5 && ! in_backends ::1 && ! in_backends 198.18.0.34 &&
	! in_backends 198.18.0.35 &&
	sy_pass "sy-control alive; no malformed entry became a backend" || sy_fail "malformed entries"
ctl backends web | grep -q '\[2001:2::5\]:80 .* 3 .* up .* etcd *b .*quic server id 0x123' &&
	sy_pass "IPv6 key with weight 3, zone b and QUIC server id 0x123" || { sy_fail "IPv6 backend line"; ctl backends web; }
grep 'key or value ignored' "$W/control.log" | tail -10 | sed 's/^/  /'

# ---- 8b. a service at its cap --------------------------------------------------------------
sy_log "8b. a service at its cap (max_backends: 2)"
cat >>"$W/sw.yaml" <<EOF
  - { name: capped, vip: 198.18.1.3, port: 80, protocol: tcp, mode: ipip, source: etcd,
      max_backends: 2, next_hop_mac: "02:00:00:00:00:fe", health: { hold_down_s: 0, panic_threshold: 0 } }
EOF
ctl reload >/dev/null || sy_fail "reload with the capped service"
over_capacity() { curl -s --unix-socket "$SOCK" http://x/metrics | sed -n 's/^switchyard_backends_over_capacity_total{source="etcd"} //p'; }
capped() { ctl --json backends capped | grep -o '"address": "198.18.0.5[0-9]"' | grep -o '5[0-9]' | sort | tr '\n' ' '; }
capped_is() { [ "$(capped)" = "$1" ]; }
oc0=$(over_capacity)
for i in 1 2 3 4; do ectl_retry put $PFX/capped/198.18.0.5$i:80 '{"weight":1}' >/dev/null; done
if sy_wait 5 capped_is "51 52 " && sy_wait 3 bash -c "[ \$(curl -s --unix-socket '$SOCK' http://x/metrics | sed -n 's/^switchyard_backends_over_capacity_total{source=\"etcd\"} //p') -ge $((oc0 + 2)) ]"; then
	sy_pass "capped: 198.18.0.51 and .52 in, .53 and .54 ignored and counted (over capacity $oc0 -> $(over_capacity))"
else
	sy_fail "capped: backends '$(capped)', over capacity $oc0 -> $(over_capacity)"
fi
etcd_state | grep -q "$(over_capacity) over capacity" && sy_pass "syctl status: $(etcd_state)" ||
	sy_fail "status: $(etcd_state)"
n=$(grep -c 'msg="backends\? refused.* service=capped ' "$W/control.log")
[ "$n" = 1 ] && sy_pass "one log line for the refusals" || sy_fail "$n log lines for capped's refusals (want 1)"
ectl_retry del $PFX/capped/198.18.0.51:80 >/dev/null
if sy_wait 8 capped_is "52 53 "; then
	sy_pass "198.18.0.51 deleted: 198.18.0.53 took its place (listed again)"
else
	sy_fail "after deleting 198.18.0.51: backends '$(capped)'"
fi
for i in 2 3 4; do ectl_retry del $PFX/capped/198.18.0.5$i:80 >/dev/null; done

# ---- 9. revocation and shutdown -------------------------------------------------------
sy_log "9. SIGTERM to an agent revokes its lease; SIGTERM to sy-control"
kill -TERM ${AGENT[1]}
t0=$(date +%s%N)
# The agent says "deregistered" once etcd answered its revocation, which
# deletes the lease's key at once: the key is gone when the line is there.
# Left to expire, it would stay up to a TTL after the last renewal (told
# apart by etcd's state, not by how fast the machine is).
# revoked LOG KEY WHAT ETCDCTL...: the agent of LOG said deregistered, and
# KEY (read with ETCDCTL) was gone by then
revoked() {
	local log=$1 key=$2 what=$3 val
	shift 3
	if ! sy_wait 10 grep -q deregistered "$log"; then
		sy_fail "$what did not say deregistered"
		return
	fi
	val=$("$@" get "$key" --print-value-only 2>&1)
	[ -z "$val" ] && sy_pass "$what said deregistered with its key already gone from etcd (lease revoked)" ||
		sy_fail "$what said deregistered, its key still in etcd: $val"
}
revoked "$W/agent1.log" $PFX/web/198.18.0.11:80 "agent 1" ectl_retry
sy_wait 10 bash -c "! '$BUILD/control/syctl' --socket '$SOCK' --json backends web | grep -q '198.18.0.11\"'"
ms=$(ms_since $t0)
! in_backends 198.18.0.11 && sy_pass "be1 left ${ms} ms after its agent's SIGTERM" ||
	sy_fail "be1 still there ${ms} ms after SIGTERM"
t0=$(date +%s%N)
kill -TERM $CONTROL
wait $CONTROL # a hang is the test's timeout
rc=$?
ms=$(ms_since $t0)
[ $rc -eq 0 ] && sy_pass "sy-control stopped in ${ms} ms (exit $rc)" ||
	sy_fail "sy-control stop: exit $rc after ${ms} ms"

# ---- 10. etcd authentication ------------------------------------------------------------
sy_log "10. etcd with authentication on"
ectl user add root --new-user-password=s3cret-pw >/dev/null 2>&1
ectl user grant-role root root >/dev/null 2>&1
ectl auth enable >/dev/null 2>&1
ectl_retry --user root:s3cret-pw put $PFX/web/198.18.0.40:80 '{"weight":7}' >/dev/null
echo s3cret-pw >"$W/etcd.pw"
chmod 600 "$W/etcd.pw"
sed "s|^    timeout_ms: 500|    timeout_ms: 500\n    username: root\n    password_file: $W/etcd.pw|" "$W/sw.yaml" >"$W/sw-auth.yaml"
cp "$W/sw-auth.yaml" "$W/sw.yaml"
start_control || sy_fail "sy-control with auth did not come up: $(etcd_state)"
sy_wait 5 in_backends 198.18.0.40 && ctl backends web | grep -q "198.18.0.40:80 .* 7 .* up .* etcd" &&
	sy_pass "authenticated (username + password_file): the key written by root is a backend" ||
	{ sy_fail "no backend with auth on: $(etcd_state)"; }
echo wrong >"$W/etcd.pw"
kill -HUP $CONTROL # a new configuration: authenticates again, and fails
sy_wait 5 bash -c "'$BUILD/control/syctl' --socket '$SOCK' status | grep -q 'etcd *down.*authentication failed'" &&
	sy_pass "a wrong password: etcd down, the reason shown, the set kept ($(ctl --json table web | grep -c '"address"') backends)" ||
	sy_fail "wrong password: $(etcd_state)"
kill $CONTROL
wait $CONTROL

# ---- 10b. a service whose folder etcd refuses ----------------------------------------------
sy_log "10b. a reader allowed web's folder only: capped (etcd too) alone is degraded"
ectl_retry --user root:s3cret-pw role add webonly >/dev/null
ectl_retry --user root:s3cret-pw role grant-permission webonly read $PFX/web/ --prefix=true >/dev/null
ectl_retry --user root:s3cret-pw user add webonly --new-user-password=web-pw >/dev/null
ectl_retry --user root:s3cret-pw user grant-role webonly webonly >/dev/null
echo web-pw >"$W/webonly.pw"
chmod 600 "$W/webonly.pw"
sed -e "s|username: root|username: webonly|" -e "s|password_file: $W/etcd.pw|password_file: $W/webonly.pw|" \
	"$W/sw-auth.yaml" >"$W/sw.yaml"
rm -f "$SOCK"
mark=$(wc -l <"$W/control.log")
"$BUILD/control/sy-control" --config "$W/sw.yaml" >>"$W/control.log" 2>&1 &
CONTROL=$!
SY_PIDS+=($CONTROL)
sy_wait 10 test -S "$SOCK" || tail "$W/control.log"
if sy_wait 8 bash -c "'$BUILD/control/syctl' --socket '$SOCK' status | grep -q 'capped: registry unreachable'"; then
	ctl status | grep -q 'web: registry unreachable' && sy_fail "web degraded too: $(etcd_state)" ||
		sy_pass "capped's folder refused: capped alone fail-static, web not"
	in_backends 198.18.0.40 && sy_pass "web's keys read with the restricted user (198.18.0.40)" ||
		sy_fail "web has no backend with the restricted user: $(etcd_state)"
	etcd_state | grep -q "1 of 2 services unreachable" && sy_pass "syctl status: $(etcd_state)" ||
		sy_fail "status: $(etcd_state)"
	tail -n +$((mark + 1)) "$W/control.log" >"$W/control-10b.log"
	grep -q 'msg="etcd unreachable: the service is fail-static (last known set kept)" service=capped' "$W/control-10b.log" &&
		! grep -q 'msg="etcd unreachable.*service=web' "$W/control-10b.log" &&
		sy_pass "one warn line, for capped" || sy_fail "no warn line for capped, or one for web"
	# capped moved to another source by a reload: etcd's fail-static ends with it
	sed -i "s|mode: ipip, source: etcd,\$|mode: ipip, source: static, backends: [{ address: 198.18.0.61, port: 80 }],|" "$W/sw.yaml"
	ctl reload >/dev/null || sy_fail "reload with capped static"
	sy_wait 5 bash -c "! '$BUILD/control/syctl' --socket '$SOCK' status | grep -q 'capped: registry unreachable'" &&
		ctl --json backends capped | grep -q '"address": "198.18.0.61"' &&
		sy_pass "capped made static by a reload: no longer degraded, its static backend in" ||
		{ sy_fail "capped still degraded after becoming static"; ctl status; }
else
	sy_fail "capped not degraded with a user that may not read it: $(etcd_state)"
	ctl status
fi
kill $CONTROL
wait $CONTROL

# ---- 11. TLS with client certificates -----------------------------------------------------
sy_log "11. etcd over TLS with a client certificate"
T=$W/tls
mkdir -p "$T"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/ca.key" -out "$T/ca.crt" -days 1 -subj /CN=sy-test-ca 2>/dev/null
printf "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n" >"$T/ext"
for n in server client; do
	openssl req -newkey rsa:2048 -nodes -keyout "$T/$n.key" -out "$T/$n.csr" -subj /CN=$n 2>/dev/null
	openssl x509 -req -in "$T/$n.csr" -CA "$T/ca.crt" -CAkey "$T/ca.key" -CAcreateserial \
		-out "$T/$n.crt" -days 1 -extfile "$T/ext" 2>/dev/null
done
TP=$((ETCD_BASE + 6)) # two more ports of our range
etcd --name tls --data-dir "$T/data" --listen-client-urls https://127.0.0.1:$TP \
	--advertise-client-urls https://127.0.0.1:$TP --listen-peer-urls http://127.0.0.1:$((TP + 1)) \
	--initial-advertise-peer-urls http://127.0.0.1:$((TP + 1)) --initial-cluster tls=http://127.0.0.1:$((TP + 1)) \
	--cert-file "$T/server.crt" --key-file "$T/server.key" --trusted-ca-file "$T/ca.crt" \
	--client-cert-auth --logger zap --log-level warn >"$T/etcd.log" 2>&1 &
TLS_ETCD=$!
SY_PIDS+=($TLS_ETCD)
disown $TLS_ETCD
tctl() { etcdctl --endpoints https://127.0.0.1:$TP --cacert "$T/ca.crt" --cert "$T/client.crt" --key "$T/client.key" "$@"; }
if sy_wait 10 tctl endpoint health; then
	tctl put $PFX/web/198.18.0.50:80 '{"weight":5}' >/dev/null
	cat >"$W/sw.yaml" <<EOF
instance: etcdtest
region: $W/region
state_file: $W/region.state
api:
  socket: $SOCK
defaults:
  encap_source4: 198.18.0.1
registry:
  etcd:
    endpoints: [https://127.0.0.1:$TP]
    ca_file: $T/ca.crt
    cert_file: $T/client.crt
    key_file: $T/client.key
    timeout_ms: 500
services:
  - name: web
    vip: 198.18.1.1
    port: 80
    protocol: tcp
    mode: ipip
    source: etcd
    next_hop_mac: 02:00:00:00:00:fe
    health: { hold_down_s: 0, panic_threshold: 0 }
EOF
	start_control || sy_fail "sy-control over TLS did not come up: $(etcd_state)"
	tctl put $PFX/web/198.18.0.51:80 '{}' >/dev/null
	sy_wait 5 bash -c "'$BUILD/control/syctl' --socket '$SOCK' --json table web | grep -q '198.18.0.51\"'" &&
		ctl backends web | grep -q "198.18.0.50:80 .* 5 .* up .* etcd" &&
		sy_pass "https with ca_file, cert_file, key_file: listed and watched" ||
		sy_fail "TLS: $(etcd_state)"
	# the agent over TLS too: the same CA and client certificate
	"$BUILD/control/syctl" register --service web --addr 198.18.0.52 --port 80 --ttl $TTL \
		--registry "etcd://127.0.0.1:$TP" --etcd-ca-file "$T/ca.crt" \
		--etcd-cert-file "$T/client.crt" --etcd-key-file "$T/client.key" >>"$W/agent-tls.log" 2>&1 &
	TLS_AGENT=$!
	SY_PIDS+=($TLS_AGENT)
	sy_wait 5 bash -c "'$BUILD/control/syctl' --socket '$SOCK' --json table web | grep -q '198.18.0.52\"'" &&
		tctl get $PFX/web/198.18.0.52:80 --print-value-only | grep -q '"weight":1' &&
		sy_pass "syctl register over https (--etcd-ca-file, --etcd-cert-file, --etcd-key-file): registered and published" ||
		{ sy_fail "TLS agent: $(etcd_state)"; cat "$W/agent-tls.log"; }
	kill $TLS_AGENT
	wait $TLS_AGENT 2>/dev/null
	# as in 9: revoked, its key is gone once the agent said deregistered
	revoked "$W/agent-tls.log" $PFX/web/198.18.0.52:80 "the TLS agent (SIGTERM)" tctl
	sy_wait 15 bash -c "! '$BUILD/control/syctl' --socket '$SOCK' --json table web | grep -q '198.18.0.52\"'" &&
		sy_pass "the TLS agent's backend is out of the table" ||
		sy_fail "198.18.0.52 still published after its agent stopped"
	# without the CA the server's certificate cannot be checked: unreachable (exit 3)
	rc=0
	timeout 20 "$BUILD/control/syctl" register --service web --addr 198.18.0.53 --port 80 --once \
		--registry "etcd://127.0.0.1:$TP" --etcd-cert-file "$T/client.crt" \
		--etcd-key-file "$T/client.key" >"$W/agent-noca.log" 2>&1 || rc=$?
	[ $rc -eq 3 ] && grep -qi 'certificate\|SSL' "$W/agent-noca.log" &&
		sy_pass "an agent without the CA: exit 3, the certificate named in its log" ||
		{ sy_fail "agent without the CA: exit $rc"; tail -3 "$W/agent-noca.log"; }
	kill $CONTROL
	wait $CONTROL
else
	sy_fail "the TLS etcd did not start"
	tail -5 "$T/etcd.log"
fi
kill $TLS_ETCD

echo "--- sy-control log (etcd lines, tail)"
grep 'etcd' "$W/control.log" | grep -v 'key or value ignored' | tail -8
[ $SY_FAILED -eq 0 ] && echo "RESULT: PASS" || echo "RESULT: FAIL"
exit $SY_FAILED
