#!/bin/bash
# Live test of the XDP fallback dataplane (sy-control --dataplane xdp), in
# namespaces this test creates (tests/integration/lb_topology.sh with
# DATAPLANE=xdp): client -- bridge -- LB (sy-control, XDP on its eth0) --
# 3 backends with real HTTP servers that register with `syctl register`
# (and decapsulate with sy-decap in ipip/gue). Checks:
#   1. the balancer is attached in native mode through the pinned link, and
#      /v1/status says dataplane xdp
#   2. N_REQ connections from distinct client ports all succeed, each
#      answered by the backend `syctl lookup` (Maglev) predicted before the
#      flow existed; every backend serves some; an established flow is then
#      answered from the XDP conntrack map ("conntrack (xdp)")
#   3. `syctl stats` / /metrics: forwarded and the VIP's packet counter grew
#      by at least the TCP segments the client sent; each backend's counter
#      grew
#   4. a backend whose agent dies leaves (time printed) and only its flows
#      move: the same client ports keep their backend on the others, its
#      ports go elsewhere (where `syctl lookup` says) and succeed
#   5. kill -9 sy-control: the program stays attached (pinned link) and
#      requests succeed during the gap, on the same backends; the restarted
#      sy-control adopts maps and link; then SIGTERM (no --xdp-stay)
#      detaches: no XDP on the interface, no pins, the VIP stops answering
#
# usage: test_xdp_live.sh BUILD_DIR ipip|gue|l2dsr
set -u
BUILD=$(realpath "$1")
MODE=$2
HERE=$(dirname "$(realpath "$0")")
. "$HERE/netns_lib.sh"
P=syk$$
NB=3
TTL=2
ALLOWED=198.18.0.8/29 # the backends (.11-.13)
DATAPLANE=xdp
N_REQ=${N_REQ:-60}
. "$HERE/lb_topology.sh"
trap 'topo_xdp_cleanup; sy_cleanup' EXIT

[ "$(id -u)" -eq 0 ] || { echo "FAIL: needs root (namespaces, XDP, bpffs)"; exit 1; }
PATH=$PATH:/usr/sbin:/sbin
for tool in ethtool curl python3 bpftool mountpoint; do
	command -v $tool >/dev/null || { echo "FAIL: $tool missing (scripts/install-deps.sh)"; exit 1; }
done
case $MODE in ipip | gue | l2dsr) ;; *) echo "FAIL: mode $MODE"; exit 1 ;; esac

SYCTL=("$BUILD/control/syctl") # the API is a unix socket: no namespace needed
ctl() { "${SYCTL[@]}" --socket "$WORK/api.sock" "$@"; }
up_count() { ctl --json backends web | grep -c '"state": "up"'; }
has_backend() { ctl --json backends web | grep -q "\"address\": \"$1\""; }
# "ADDRESS|REASON" of syctl lookup for client port $1 (its text: "backend
# ADDR:PORT", "why REASON" lines)
lookup() {
	local k v be='?' why='?'
	while read -r k v; do
		case $k in backend) be=${v%:*} ;; why) why=$v ;; esac
	done < <(ctl lookup web $CLIENT:$1 $VIP:80 tcp 2>/dev/null)
	echo "$be|$why"
}
# predictions for client ports FIRST..FIRST+COUNT-1 into PRED[port] (names)
# and WHY[port] (syctl's reason); LeakSanitizer checks the first lookup; the
# others 4 at a time (one after the other, 60 took ~2.5 s, more under the
# sanitizers)
declare -A PRED WHY
predict() {
	local p r
	mkdir -p "$WORK/predict"
	lookup $1 >"$WORK/predict/$1"
	for ((p = $1 + 1; p < $1 + $2; p++)); do
		sy_batch 4 sy_no_leak_check lookup $p >"$WORK/predict/$p"
	done
	sy_batch_wait
	for ((p = $1; p < $1 + $2; p++)); do
		{ IFS= read -r r <"$WORK/predict/$p" && [ -n "$r" ]; } || r='?|?'
		PRED[$p]=${NAME_OF[${r%%|*}]:-${r%%|*}}
		WHY[$p]=${r#*|}
	done
}
# probe into ANS[port]
declare -A ANS
probe() {
	local sport name
	ANS=()
	while read -r sport name; do ANS[$sport]=$name; done < <(topo_probe "$1" "$2" "${3:-2}")
}
json_field() { # EXPR: print the python expression EXPR of the JSON j on stdin
	python3 -c "import json,sys; j=json.load(sys.stdin); print($1)" 2>/dev/null
}
stats() { ctl --json stats | json_field "j['counters']['forwarded'], j['services']['web']['packets']"; }
metric() { # NAME{LABELS} -> value from /metrics
	ip netns exec ${P}l curl -s --max-time 3 --unix-socket "$WORK/api.sock" http://sy/metrics |
		awk -v k="$1" '$1 == k { print $2 }'
}
# packets the backends' sy-decap stripped of the mode's encapsulation
# (outer IPv4 ipip or GUE), summed; 0 in l2dsr (no sy-decap there)
decapped() {
	local i n=0 c
	[ "$MODE" = l2dsr ] && { echo 0; return; }
	for i in $(seq $NB); do
		c=$(ip netns exec ${P}b$i "$BUILD/bpf/sy-decap" status eth0 --json |
			json_field "j['counters']['decap_${MODE}4']")
		n=$((n + ${c:-0}))
	done
	echo $n
}
# TCP segments the client namespace has sent (all of them go to the VIP)
client_segs() {
	ip netns exec ${P}c awk '/^Tcp:/ { if (!h) { for (i = 1; i <= NF; i++) c[$i] = i; h = 1 }
		else print $c["OutSegs"] + $c["RetransSegs"] }' /proc/net/snmp
}
# XDP attachment of the LB's eth0: "MODE PROG_ID" from bpftool (mode driver
# = native, generic = skb), empty when none
xdp_of_eth0() {
	ip netns exec ${P}l bpftool -j net show dev eth0 | json_field \
		"' '.join('%s %s' % (x['mode'], x['id']) for e in j for x in e.get('xdp', []))"
}
pinned_link() { # "LINK_ID PROG_ID" of the pinned link
	bpftool -j link show pinned "$XDP_PINS/link" 2>/dev/null |
		json_field "'%s %s' % (j['id'], j['prog_id'])"
}
# a bounded wait for a process we started (it is our child)
wait_exit() { # PID SECONDS
	local end=$((SECONDS + $2))
	while kill -0 "$1" 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 0.1; done
	! kill -0 "$1" 2>/dev/null
}

sy_log "topology ($MODE, XDP dataplane)"
topo_up || { tail -20 "$WORK/control.log" 2>/dev/null; echo "FAIL: setup"; exit 1; }

# ---- 1. attached natively, status says xdp ----------------------------------
sy_log "1. attachment"
read -r xmode xprog <<<"$(xdp_of_eth0)"
read -r link_id link_prog <<<"$(pinned_link)"
[ "${xmode:-}" = driver ] && ip -n ${P}l -o link show dev eth0 | grep -Eq 'mtu [0-9]+ xdp ' &&
	sy_pass "XDP program $xprog attached to the LB's eth0 in native (driver) mode" ||
	sy_fail "no native XDP program on eth0 (bpftool: '${xmode:-none}'; ip: $(ip -n ${P}l -o link show dev eth0 | grep -o 'xdp[a-z]*' | head -1))"
[ -n "${link_id:-}" ] && [ "${link_prog:-}" = "${xprog:-x}" ] &&
	sy_pass "it is the program of the link pinned at $XDP_PINS/link (link $link_id)" ||
	sy_fail "pinned link ${link_id:-missing} (prog ${link_prog:-?}) is not eth0's program ${xprog:-?}"
dp=$(ctl --json status | json_field "j.get('dataplane')")
[ "$dp" = xdp ] && sy_pass "syctl status: dataplane xdp" || sy_fail "syctl status says dataplane '$dp'"

# ---- 2. real TCP through the VIP, on the predicted backends -------------------
sy_log "2. $N_REQ connections, answers vs syctl lookup"
for i in $(seq $NB); do topo_register $i; done
sy_wait 15 bash -c "[ \$('${SYCTL[0]}' --socket '$WORK/api.sock' --json backends web | grep -c '\"state\": \"up\"') -eq $NB ]" ||
	sy_fail "only $(up_count) of $NB backends came up"
# the backends list shows a registration or a departure at once, the
# published table (what the XDP maps are written from, in the same step)
# once the publisher has run: the predictions wait for it
topo_wait_published web $NB || sy_fail "the published table lacks backends: $(ctl table web)"
sleep 0.3
A=31001
predict $A $N_REQ # untracked flows: Maglev's answer
untracked=0
for ((p = A; p < A + N_REQ; p++)); do
	case ${WHY[$p]} in *conntrack*) ;; *) untracked=$((untracked + 1)) ;; esac
done
[ $untracked -eq $N_REQ ] || sy_fail "$((N_REQ - untracked)) new flows were already tracked before their first packet"
segs0=$(client_segs)
dec0=$(decapped)
read -r fwd0 vip0 <<<"$(stats)"
declare -A BE0
for i in $(seq $NB); do BE0[be$i]=$(metric "switchyard_backend_packets_total{service=\"web\",backend=\"198.18.0.1$i:80\"}"); done
probe $A $N_REQ
segs1=$(client_segs)
dec1=$(decapped)
read -r fwd1 vip1 <<<"$(stats)"
declare -A GOT BEFORE
ok=0
mismatch=0
for ((p = A; p < A + N_REQ; p++)); do
	a=${ANS[$p]:--}
	BEFORE[$p]=$a
	[ "$a" = - ] && { echo "  port $p: no answer"; continue; }
	ok=$((ok + 1))
	GOT[$a]=$((${GOT[$a]:-0} + 1))
	[ "$a" = "${PRED[$p]}" ] || {
		mismatch=$((mismatch + 1))
		echo "  port $p: answered by $a, syctl lookup predicted ${PRED[$p]}"
	}
done
dist="be1=${GOT[be1]:-0} be2=${GOT[be2]:-0} be3=${GOT[be3]:-0}"
echo "distribution: $dist (answered $ok of $N_REQ)"
[ $ok -eq $N_REQ ] && sy_pass "all $N_REQ requests through the VIP answered" || sy_fail "$((N_REQ - ok)) of $N_REQ requests failed"
[ $mismatch -eq 0 ] && sy_pass "every answer came from the backend syctl lookup (Maglev) predicted" ||
	sy_fail "$mismatch answers from another backend than predicted"
for i in $(seq $NB); do
	[ "${GOT[be$i]:-0}" -gt 0 ] || sy_fail "be$i served nothing ($dist)"
done
if [ "$MODE" != l2dsr ]; then # the packets came encapsulated as the service says
	ddec=$((dec1 - dec0))
	[ $ddec -ge $((segs1 - segs0)) ] &&
		sy_pass "the backends' sy-decap stripped $MODE from $ddec packets (the client sent $((segs1 - segs0)))" ||
		sy_fail "the backends decapsulated $ddec $MODE packets, the client sent $((segs1 - segs0))"
fi

# an established flow: syctl lookup answers from the XDP connection table
dlp=31901
predict $dlp 1
ip netns exec ${P}c curl -s --max-time 10 --limit-rate 128k --local-port $dlp -o /dev/null \
	-w '%{size_download}' http://$VIP/big >"$WORK/dl" 2>/dev/null &
DL=$!
sleep 0.7
r=$(lookup $dlp)
wait $DL
if [[ "${r#*|}" == *"conntrack (xdp)"* ]] && [ "${NAME_OF[${r%%|*}]:-?}" = "${PRED[$dlp]}" ] &&
	[ "$(cat "$WORK/dl")" = 262144 ]; then
	sy_pass "during a download syctl lookup answers from the XDP conntrack (${r#*|}: ${PRED[$dlp]})"
else
	sy_fail "established flow: syctl lookup '${r}', predicted ${PRED[$dlp]}, downloaded $(cat "$WORK/dl") bytes"
fi
by=$(ctl --json lookup web $CLIENT:$dlp $VIP:80 tcp |
	python3 -c 'import json, sys; print(json.load(sys.stdin).get("answered_by"))')
[ "$by" = xdp ] && sy_pass "syctl lookup --json: answered_by xdp (the program's connection tables)" ||
	sy_fail "syctl lookup --json: answered_by '$by', not xdp"

# ---- 3. counters ------------------------------------------------------------------
sy_log "3. counters"
segs=$((segs1 - segs0))
dfwd=$((${fwd1:-0} - ${fwd0:-0}))
dvip=$((${vip1:-0} - ${vip0:-0}))
echo "client sent $segs TCP segments; forwarded +$dfwd, VIP web packets +$dvip"
[ "$segs" -ge $((3 * N_REQ)) ] || sy_fail "the client sent only $segs segments for $N_REQ connections"
[ $dfwd -gt 0 ] && [ $dfwd -ge $segs ] && sy_pass "syctl stats: forwarded grew by $dfwd (>= $segs sent)" ||
	sy_fail "syctl stats: forwarded grew by $dfwd, the client sent $segs"
[ $dvip -ge $segs ] && sy_pass "syctl stats: service web packets grew by $dvip (>= $segs sent)" ||
	sy_fail "syctl stats: service web packets grew by $dvip, the client sent $segs"
mfwd=$(metric switchyard_forwarded_total)
[ "${mfwd:-0}" -ge "${fwd1:-1}" ] && sy_pass "/metrics: switchyard_forwarded_total $mfwd" ||
	sy_fail "/metrics: switchyard_forwarded_total '${mfwd:-}' (syctl stats said $fwd1)"
for i in $(seq $NB); do
	b1=$(metric "switchyard_backend_packets_total{service=\"web\",backend=\"198.18.0.1$i:80\"}")
	[ $((${b1:-0} - ${BE0[be$i]:-0})) -ge "${GOT[be$i]:-1}" ] ||
		sy_fail "/metrics: backend be$i packets ${BE0[be$i]:-?} -> ${b1:-?} for ${GOT[be$i]:-0} connections"
done

# ---- 4. a backend leaves: only its flows move --------------------------------------
sy_log "4. be2's agent dies"
{ kill -9 "${AGENT_PID[2]}" && wait "${AGENT_PID[2]}"; } 2>/dev/null
killed=$(date +%s%N)
# (a hang guard, not a latency bound: the time is printed)
sy_wait $((TTL + 15)) eval '! has_backend 198.18.0.12'
ms=$((($(date +%s%N) - killed) / 1000000))
if ! has_backend 198.18.0.12; then
	sy_pass "be2 removed ${ms} ms after its agent died (TTL ${TTL} s)"
else
	sy_fail "be2 not removed ${ms} ms after its agent died (TTL ${TTL} s)"
fi
topo_wait_published web $((NB - 1)) || sy_fail "be2 is still in the published table: $(ctl table web)"
sleep 0.2
predict $A $N_REQ
tracked=0
for ((p = A; p < A + N_REQ; p++)); do
	[ "${WHY[$p]}" = "conntrack (xdp)" ] && tracked=$((tracked + 1))
done
echo "syctl lookup: $tracked of the $N_REQ flows still tracked by the XDP conntrack, the others by Maglev"
probe $A $N_REQ
kept=0
moved=0
bad=0
for ((p = A; p < A + N_REQ; p++)); do
	a=${ANS[$p]:--}
	b=${BEFORE[$p]}
	if [ "$a" = - ]; then
		bad=$((bad + 1))
		echo "  port $p (was $b): no answer"
	elif [ "$b" = be2 ]; then
		if [ "$a" = be2 ] || [ "$a" != "${PRED[$p]}" ]; then
			bad=$((bad + 1))
			echo "  port $p (was be2): answered by $a, syctl lookup says ${PRED[$p]} (${WHY[$p]})"
		else
			moved=$((moved + 1))
		fi
	elif [ "$a" = "$b" ]; then
		kept=$((kept + 1))
	else
		bad=$((bad + 1))
		echo "  port $p: moved from $b to $a (syctl lookup: ${PRED[$p]}, ${WHY[$p]})"
	fi
done
echo "after be2 left: $kept flows kept their backend, $moved of be2's ${GOT[be2]:-0} moved, $bad wrong"
[ $bad -eq 0 ] && [ $moved -eq "${GOT[be2]:-0}" ] && [ $((kept + moved)) -eq $N_REQ ] &&
	sy_pass "only be2's flows moved ($moved, all answered elsewhere as predicted); $kept stayed" ||
	sy_fail "flows disturbed by be2 leaving: $bad wrong"
declare -A NOW
for ((p = A; p < A + N_REQ; p++)); do NOW[$p]=${ANS[$p]:--}; done

# ---- 5. kill -9 sy-control, restart, adopt; then a clean stop -----------------------
sy_log "5. kill -9 sy-control"
# requests all the time from before the kill to after the restart: batches
# of 20 from new ports until told to stop (bounded: 100 batches)
(for k in $(seq 0 99); do
	[ -e "$WORK/stop-load" ] && break
	topo_probe $((36001 + 20 * k)) 20 2
done) >"$WORK/during.txt" &
LOAD=$!
sleep 0.3
{ kill -9 $CONTROL_PID && wait $CONTROL_PID; } 2>/dev/null
read -r gmode gprog <<<"$(xdp_of_eth0)"
[ "${gmode:-}" = driver ] && [ -e "$XDP_PINS/link" ] &&
	sy_pass "sy-control killed: program $gprog still attached, link still pinned" ||
	sy_fail "after kill -9: XDP '${gmode:-none}', pins: $(ls "$XDP_PINS" 2>&1 | tr '\n' ' ')"
probe $A $N_REQ
same=0
for ((p = A; p < A + N_REQ; p++)); do
	[ "${ANS[$p]:--}" != - ] && [ "${ANS[$p]}" = "${NOW[$p]}" ] && same=$((same + 1))
done
[ $same -eq $N_REQ ] && sy_pass "without sy-control: $N_REQ of $N_REQ requests answered, by the same backends" ||
	sy_fail "without sy-control: only $same of $N_REQ answered by the same backend"
topo_start_control || sy_fail "sy-control did not restart"
grep -q "adopted=yes" "$WORK/control.log" && grep -q "region adopted" "$WORK/control.log" &&
	sy_pass "the restarted sy-control logged adopting the region and the XDP maps/link" ||
	sy_fail "no adoption in the log: $(grep -i -e adopt -e xdp "$WORK/control.log" | tail -3)"
st=$(ctl --json status | json_field "'%s %s' % (j.get('dataplane'), j.get('adopted'))")
[ "$st" = "xdp True" ] && sy_pass "syctl status after the restart: dataplane xdp, adopted" ||
	sy_fail "syctl status after the restart: '$st'"
read -r link_id2 _ <<<"$(pinned_link)"
read -r rmode rprog <<<"$(xdp_of_eth0)"
[ "${link_id2:-}" = "${link_id:-x}" ] && [ "${rmode:-}" = driver ] &&
	sy_pass "the same pinned link $link_id2 carries the new program $rprog (was $xprog)" ||
	sy_fail "after the restart: link ${link_id2:-none} (was $link_id), XDP ${rmode:-none}"
probe $A $N_REQ
same=0
for ((p = A; p < A + N_REQ; p++)); do
	[ "${ANS[$p]:--}" != - ] && [ "${ANS[$p]}" = "${NOW[$p]}" ] && same=$((same + 1))
done
[ $same -eq $N_REQ ] && sy_pass "after the restart: $N_REQ of $N_REQ requests answered, by the same backends" ||
	sy_fail "after the restart: only $same of $N_REQ answered by the same backend"
touch "$WORK/stop-load"
wait $LOAD
failed=$(grep -c ' -$' "$WORK/during.txt")
total=$(wc -l <"$WORK/during.txt")
[ "$total" -ge 100 ] && [ "$failed" -eq 0 ] && sy_pass "$total requests running across the kill and the restart, none failed" ||
	sy_fail "$failed of $total requests failed across the kill and the restart"
sy_rel xdp_live_control_restart "kill -9 sy-control (XDP, $MODE), restart adopts the pinned link" "HTTP requests through the VIP all along" \
	"$([ "$total" -ge 100 ] && [ "$failed" -eq 0 ] && [ "${link_id2:-}" = "${link_id:-x}" ] && echo PASS || echo FAIL)" \
	"$total requests, $failed failed; same backends after the restart: $same of $N_REQ; link ${link_id2:-none} (was ${link_id:-none})"

sy_log "6. clean stop"
kill -TERM $CONTROL_PID
if wait_exit $CONTROL_PID 10; then
	wait $CONTROL_PID
	rc=$?
	[ $rc -eq 0 ] || sy_fail "sy-control exited $rc on SIGTERM"
else
	sy_fail "sy-control did not stop within 10 s of SIGTERM"
fi
left=$(xdp_of_eth0)
if [ -z "$left" ] && ! ip -n ${P}l -o link show dev eth0 | grep -q xdp && [ ! -e "$XDP_PINS" ]; then
	sy_pass "SIGTERM without --xdp-stay: no XDP program on eth0, $XDP_PINS gone"
else
	sy_fail "after SIGTERM: XDP '$left', pins: $(ls "$XDP_PINS" 2>&1 | tr '\n' ' ')"
fi
a=$(topo_probe 37001 1 1)
[ "${a#* }" = - ] && sy_pass "the VIP no longer answers: the program was the balancer" ||
	sy_fail "the VIP still answers after the detach: $a"
grep -q "XDP program detached" "$WORK/control.log" || sy_fail "no detach in the log"

echo "--- sy-control log (tail)"
tail -6 "$WORK/control.log"
[ $SY_FAILED -eq 0 ] && echo "RESULT: PASS ($MODE)" || echo "RESULT: FAIL ($MODE)"
exit $SY_FAILED
