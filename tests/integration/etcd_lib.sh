# A throw-away etcd cluster for tests: 1 or 3 members on 127.0.0.1, own
# ports and data directories under /tmp, every process recorded in SY_PIDS
# (netns_lib.sh's sy_cleanup kills them). Never touches a system etcd (2379).
#
#   etcd_up N            start N members (1 or 3), wait until healthy
#   etcd_start I         (re)start member I (0-based) on its data directory
#   etcd_kill I [SIG]    stop member I (default SIGKILL), wait until it is gone
#   etcd_healthy [S]     wait up to S seconds (10) until every running member
#                        answers and the cluster has a leader
#   etcd_endpoints       "127.0.0.1:C0,127.0.0.1:C1,..." (for etcd:// URLs)
#   etcd_urls            the same as YAML list items of http:// URLs
#   etcd_leader          index of the current leader
#   ectl ARGS...         etcdctl against every running member
#   ectl_retry ARGS...   the same, retried for up to 15 s
#
# Variables: ETCD_NS (run in this network namespace), ETCD_EXTRA (more
# flags for every member), ETCD_BASE (first port; default: a free range).
# Requires netns_lib.sh.

ETCD_N=0
ETCD_DIR=
declare -a ETCD_PID

etcd_in() { if [ -n "${ETCD_NS:-}" ]; then ip netns exec "$ETCD_NS" "$@"; else "$@"; fi; }

etcd_client_port() { echo $((ETCD_BASE + 2 * $1)); }
etcd_peer_port() { echo $((ETCD_BASE + 2 * $1 + 1)); }

etcd_endpoints() {
	local i out=
	for ((i = 0; i < ETCD_N; i++)); do out+="${out:+,}127.0.0.1:$(etcd_client_port $i)"; done
	echo "$out"
}

etcd_urls() {
	local i
	for ((i = 0; i < ETCD_N; i++)); do echo "      - http://127.0.0.1:$(etcd_client_port $i)"; done
}

# the running members only: etcdctl 3.4 does not skip a dead first endpoint
etcd_live_endpoints() {
	local i out=
	for ((i = 0; i < ETCD_N; i++)); do
		[ -n "${ETCD_PID[$i]:-}" ] && out+="${out:+,}127.0.0.1:$(etcd_client_port $i)"
	done
	echo "$out"
}

ectl() { etcd_in etcdctl --endpoints="$(etcd_live_endpoints)" --command-timeout="${ECTL_TIMEOUT:-3s}" --dial-timeout=1s "$@"; }

# ectl, retried for up to 15 s (a write right after a member died may meet
# an election: "request timed out, possibly due to previous leader failure").
# ECTL_TIMEOUT=1s ectl_retry ...: each try given 1 s, not 3 s, for an
# idempotent put or del right after a kill (the election takes about 1 s;
# a try that met it waited out the whole 3 s); the last try has the default.
ectl_retry() {
	local end=$((SECONDS + 15))
	while ! ectl "$@" 2>/dev/null; do
		[ $SECONDS -lt $end ] || { ECTL_TIMEOUT= ectl "$@"; return; }
		sleep 0.2
	done
}

# a free range of 8 ports (3 members, 2 spare), away from 2379/2380 and the
# ephemeral range
etcd_pick_base() {
	local b try
	for try in $(seq 50); do
		b=$((24000 + (($$ * 7 + try * 13) % 600) * 10))
		if ! etcd_in ss -Htan | awk '{print $4}' | grep -qE ":($b|$((b + 1))|$((b + 2))|$((b + 3))|$((b + 4))|$((b + 5))|$((b + 6))|$((b + 7)))\$"; then
			ETCD_BASE=$b
			return 0
		fi
	done
	return 1
}

etcd_start() {
	local i=$1 cluster= j
	for ((j = 0; j < ETCD_N; j++)); do
		cluster+="${cluster:+,}m$j=http://127.0.0.1:$(etcd_peer_port $j)"
	done
	local pre=()
	[ -n "${ETCD_NS:-}" ] && pre=(ip netns exec "$ETCD_NS") # execs: $! is etcd's PID
	# shellcheck disable=SC2086
	"${pre[@]}" etcd --name m$i --data-dir "$ETCD_DIR/m$i" \
		--listen-client-urls http://127.0.0.1:$(etcd_client_port $i) \
		--advertise-client-urls http://127.0.0.1:$(etcd_client_port $i) \
		--listen-peer-urls http://127.0.0.1:$(etcd_peer_port $i) \
		--initial-advertise-peer-urls http://127.0.0.1:$(etcd_peer_port $i) \
		--initial-cluster "$cluster" --initial-cluster-state new \
		--initial-cluster-token "sy-test-$$" --logger zap --log-outputs stderr \
		--log-level warn ${ETCD_EXTRA:-} >>"$ETCD_DIR/m$i.log" 2>&1 &
	ETCD_PID[$i]=$!
	SY_PIDS+=(${ETCD_PID[$i]})
	disown ${ETCD_PID[$i]} # killed on purpose: no "Killed" job notices
}

etcd_kill() {
	local i=$1 sig=${2:-KILL} pid=${ETCD_PID[$1]:-}
	[ -n "$pid" ] || return 0
	kill -"$sig" "$pid" 2>/dev/null
	for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
	kill -9 "$pid" 2>/dev/null
	for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
	ETCD_PID[$i]=
}

etcd_healthy() {
	local t=${1:-10}
	sy_wait "$t" etcd_in etcdctl --endpoints="$(etcd_live_endpoints)" --command-timeout=1s --dial-timeout=1s \
		endpoint health
}

etcd_up() {
	local i
	ETCD_N=$1
	ETCD_DIR=$(mktemp -d /tmp/sy-etcd-XXXXXX)
	SY_FILES+=("$ETCD_DIR")
	[ -n "${ETCD_BASE:-}" ] || etcd_pick_base || { echo "etcd_lib: no free ports"; return 1; }
	for ((i = 0; i < ETCD_N; i++)); do etcd_start $i; done
	etcd_healthy 20 || { tail -n 20 "$ETCD_DIR"/m*.log; return 1; }
}

etcd_leader() {
	ectl endpoint status -w json 2>/dev/null | python3 -c '
import json, sys
st = json.load(sys.stdin)
for s in st:
    if s["Status"]["leader"] == s["Status"]["header"]["member_id"]:
        port = int(s["Endpoint"].rsplit(":", 1)[1])
        print((port - '"$ETCD_BASE"') // 2)
        break'
}

# stop every member at once (SIGKILL: the cluster and its data directories
# are thrown away; members stopped with SIGTERM all together waited for each
# other, 4-5 s at the end of every test); use before sy_cleanup:
#   trap 'etcd_down; sy_cleanup' EXIT
etcd_down() {
	local i pid
	for ((i = 0; i < ETCD_N; i++)); do
		pid=${ETCD_PID[$i]:-}
		[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
	done
	for ((i = 0; i < ETCD_N; i++)); do etcd_kill $i; done
}
