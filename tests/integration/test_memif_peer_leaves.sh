#!/bin/bash
# A memif peer that leaves while sy-dataplane polls (dataplane/unmap_guard.c):
# sy-dataplane (one worker, the memif server) keeps the departed peer's
# rings mapped until its worker has come round its loop, stays up, and
# forwards for the next peer.
#
# 1. The unmap waits for the worker. sy-pktgen sends; gdb (gdb_hold.py)
#    holds the worker in sy_ct_sweep (between two rounds' bursts) for 4 s
#    (below the guard's 5 s) while the other threads run; meanwhile
#    sy-pktgen is killed (-9: its socket closes, as a crashed peer's).
#    Asserted: while the worker is held the peer's regions are still mapped
#    (/proc/PID/maps, memif_region), after it is let go they are unmapped,
#    and sy-dataplane runs on. Before the guard (63e0c03) DPDK 22.11's
#    net_memif unmapped them at once, in its interrupt thread: a worker
#    inside a burst at that moment (preempted past the driver's "connected"
#    check) read unmapped memory, and sy-dataplane died of SIGSEGV inside
#    librte_net_memif.so (ct_pressure_live, session 36). Fails there:
#      FAIL: the departed peer's regions were unmapped while the worker was held
# 2. Peers come and go: sy-pktgen connects, sends 1,000 UDP flows until
#    frames came back (its port's counters, over its DPDK telemetry), is
#    stopped (SIGINT) and leaves at once (no linger), $SY_PEER_LEAVES times
#    (default 12). Each got frames back; sy-dataplane is running after each.
# 3. sy-dataplane stops cleanly (exit 0) and never said a worker failed to
#    come round before an unmap.
# 4. A memif client reconnects (dataplane/port_reconnect.c): sy-dataplane as
#    the client of a sy-pktgen server that sends until frames came back to
#    it (its port's counters, over its DPDK telemetry) and is then stopped
#    (SIGINT: it reports and leaves), then of a second and a third server
#    on the same socket. Each server gets frames back (sy-dataplane
#    connected again) and sy-dataplane logged its restarts and stops
#    cleanly. syctl stats shows the port's link up with each server and
#    down after each left, and the dataplane logs each change. DPDK 22.11's memif client connects only when its port starts;
#    before port_reconnect.c the second server waited in vain:
#      FAIL: server 2: the dataplane did not connect again (no frame back in 30 s; ...)
# 5. sy-pktgen has the same guard (its own regions are unmapped when its
#    peer leaves): held by gdb inside a burst while sy-dataplane is killed,
#    its regions stay mapped until it leaves the burst; it runs on and ends
#    by itself with its result.
# Prints PASS:/FAIL: lines and RESULT: PASS|FAIL.
#
# usage: test_memif_peer_leaves.sh BUILD_DIR
set -u
BUILD=$(realpath "$1")
HERE=$(dirname "$(realpath "$0")")
. "$HERE/netns_lib.sh"
trap sy_cleanup EXIT
. "$HERE/memif_lib.sh"
ROUNDS=${SY_PEER_LEAVES:-12}

memif_require
command -v gdb >/dev/null || { echo "FAIL: gdb missing (scripts/install-deps.sh test)"; echo "RESULT: FAIL"; exit 1; }
memif_setup sypeer 2 || { echo "FAIL: setup"; echo "RESULT: FAIL"; exit 1; }
memif_dataplane "--no-huge -m 256" --ct-size 65536 ||
	{ sy_fail "sy-dataplane did not start"; echo "RESULT: FAIL"; exit 1; }

# got_back PREFIX: the running sy-pktgen of file prefix PREFIX has received
# frames back (its port's ipackets, asked over its DPDK telemetry socket):
# it is then stopped (SIGINT: it reports and leaves), so that no check
# depends on the dataplane answering within a run of fixed length (the
# peers once sent for one second each: a worker starved of the CPU for
# that second failed the client's first server in CI, session 40)
got_back() {
	python3 "$HERE/check_telemetry.py" --ask "$1" /ethdev/stats,0 2>/dev/null |
		grep -q '"ipackets": [1-9]'
}
# result_ok LOG: sy-pktgen's result in LOG names no error
result_ok() { grep -aq '^RESULT' "$1" && ! grep -aq '^RESULT.*error=' "$1"; }

# regions PID: memif's shared regions as process PID maps them (memfds the
# client made: "/memfd:memif_region_N (deleted)")
regions() { grep -c memif_region "/proc/$1/maps" 2>/dev/null; }
# unmapped PID: true once process PID maps none of them
unmapped() { ! grep -q memif_region "/proc/$1/maps"; }

# hold PID FUNCTION WHO: gdb (gdb_hold.py) holds the first thread of PID
# that enters FUNCTION for 4 s (below the guard's 5 s) while the others run
# on; its log $GDB_LOG, GDB_PID. True once the thread is held.
hold() {
	GDB_LOG=$WORK/gdb.$1.log
	SY_PID=$1 SY_READY=$WORK/gdb.$1.ready SY_HOLD=4 SY_BREAK=$2 timeout -k 5 60 gdb -q -batch -nx \
		-x "$HERE/gdb_hold.py" >"$GDB_LOG" 2>&1 &
	GDB_PID=$!
	SY_PIDS+=($GDB_PID)
	sy_wait 30 test -e "$WORK/gdb.$1.ready" || sy_fail "gdb did not attach to $3: $(tail -3 "$GDB_LOG")"
	sy_wait 30 grep -q "^held at" "$GDB_LOG" && return 0
	sy_fail "$3 never stopped in $2: $(grep -v '^\[New' "$GDB_LOG" | tail -4 | tr '\n' ' ')"
	return 1
}

# ---- 1. the unmap waits for the worker --------------------------------------
memif_pktgen 60 --flows 1000 --duration 30 --warmup 0 --linger 0
sy_wait 30 grep -q "link up" "$WORK/pktgen.log" || sy_fail "sy-pktgen's link never came up: $(tail -3 "$WORK/pktgen.log")"
mapped=$(regions "$DP_PID")
[ "$mapped" -gt 0 ] && sy_pass "sy-pktgen connected: $mapped memif region mappings in sy-dataplane" ||
	sy_fail "no memif region mapped in sy-dataplane while a peer is connected"
if hold "$DP_PID" sy_ct_sweep "the worker"; then
	# sy-pktgen (timeout's child) killed: its socket closes at once, as
	# a crashed peer's would
	gen=$(pgrep -P "$GEN_PID" | head -1)
	[ -n "$gen" ] && kill -KILL "$gen"
	for _ in $(seq 20); do
		kill -0 "$GEN_PID" 2>/dev/null || break
		sleep 0.1
	done
	gone=$(kill -0 "$GEN_PID" 2>/dev/null && echo no || echo yes)
	sleep 0.5 # the interrupt thread has had the disconnect
	held=$(regions "$DP_PID")
	letgo=$(grep -c "^let go" "$GDB_LOG")
	if [ "$gone" = yes ] && [ "$letgo" = 0 ] && [ "$held" -gt 0 ]; then
		sy_pass "the peer left while the worker was held: its $held region mappings stay until the worker comes round"
	elif [ "$gone" = yes ] && [ "$letgo" = 0 ]; then
		sy_fail "the departed peer's regions were unmapped while the worker was held"
	else
		sy_fail "no check while held (sy-pktgen gone: $gone; gdb let go: $letgo)"
	fi
fi
wait "$GDB_PID"
wait "$GEN_PID" 2>/dev/null
sy_wait 10 unmapped "$DP_PID" &&
	sy_pass "the worker let go ($(grep '^let go' "$GDB_LOG" | cut -d' ' -f1-4)): the regions unmapped" ||
	sy_fail "the regions are still mapped after the worker was let go: $(regions "$DP_PID")"
kill -0 "$DP_PID" 2>/dev/null && sy_pass "sy-dataplane runs on" ||
	sy_fail "sy-dataplane died: $(tail -3 "$WORK/dataplane.log" | tr '\n' ' ')"

# ---- 2. peers come and go ------------------------------------------------------
served=0
for r in $(seq "$ROUNDS"); do
	kill -0 "$DP_PID" 2>/dev/null || break
	memif_pktgen 60 --flows 1000 --duration 30 --warmup 0 --linger 0
	# 30 s: a hang guard, not a bound on how soon
	sy_wait 30 got_back "${P}g" && back=yes || back=no
	kill -INT "$GEN_PID"
	wait "$GEN_PID"
	if ! kill -0 "$DP_PID" 2>/dev/null; then
		sy_fail "round $r: sy-dataplane died when its memif peer left ($(tail -3 "$WORK/dataplane.log" | tr '\n' ' '))"
		break
	fi
	if [ $back = yes ] && result_ok "$WORK/pktgen.log"; then
		served=$((served + 1))
	else
		sy_fail "round $r: sy-pktgen got nothing back in 30 s: $(grep -a '^RESULT' "$WORK/pktgen.log")"
	fi
done
[ $served -eq "$ROUNDS" ] &&
	sy_pass "$ROUNDS more memif peers came, were forwarded for and left while sy-dataplane polled"

# ---- 3. the end ------------------------------------------------------------------
grep -q "did not come round" "$WORK/dataplane.log" &&
	sy_fail "a worker did not come round before an unmap: $(grep -m1 'did not come round' "$WORK/dataplane.log")"
kill -0 "$DP_PID" 2>/dev/null && memif_stop_dataplane

# ---- 4. a memif client reconnects ------------------------------------------------
SOCK2=/tmp/${P}c.memif.sock
SY_FILES+=("$SOCK2" "/var/run/dpdk/${P}c" "/var/run/dpdk/${P}s")
# pktgen_server N: sy-pktgen as the memif server (1,000 flows once a client
# connects, until stopped; at most 30 s); SRV_PID; false if its port never
# started
pktgen_server() {
	memif_pktgen_as server "$SOCK2" "${P}s" "$WORK/server$1.log" 60 --flows 1000 \
		--duration 30 --warmup 0 --linger 0 --link-timeout 30
	SRV_PID=$GEN_PID
	# a client that connects before the server's port started is refused
	sy_wait 30 grep -q "^sy-pktgen: port 0 started" "$WORK/server$1.log"
}
pktgen_server 1 || sy_fail "server 1 did not start: $(tail -3 "$WORK/server1.log")"
memif_dataplane_as client "$SOCK2" "${P}c" "$WORK/client.log" "--no-huge -m 256" --ct-size 65536 ||
	sy_fail "sy-dataplane (memif client) did not start: $(tail -3 "$WORK/client.log")"
CL_PID=$DP_PID
reconnected=0
# the port's link as syctl stats shows it (the dataplane copies it into the
# region every second)
link_is() { memif_ctl stats | grep -q "^port 0 [^ ]* link $1 "; }
ups=0 downs=0
for n in 1 2 3; do
	[ $n = 1 ] || pktgen_server $n || sy_fail "server $n did not start: $(tail -3 "$WORK/server$n.log")"
	# the server leaves once frames came back to it (got_back)
	if sy_wait 30 got_back "${P}s"; then
		[ $n = 1 ] || reconnected=$((reconnected + 1))
		sy_wait 5 link_is up && ups=$((ups + 1))
	else
		sy_fail "server $n: the dataplane did not connect again (no frame back in 30 s; its log: $(grep -av '^EAL' "$WORK/client.log" | tail -2 | tr '\n' ' '))"
	fi
	kill -INT "$SRV_PID"
	wait "$SRV_PID"
	sy_wait 10 link_is down && downs=$((downs + 1))
	result_ok "$WORK/server$n.log" ||
		sy_fail "server $n: $(grep -a '^RESULT' "$WORK/server$n.log" || tail -2 "$WORK/server$n.log")"
	kill -0 "$CL_PID" 2>/dev/null || { sy_fail "sy-dataplane (memif client) died: $(tail -3 "$WORK/client.log" | tr '\n' ' ')"; break; }
done
restarts=$(grep -c "memif client port restarted to reconnect" "$WORK/client.log")
[ $reconnected = 2 ] && [ "$restarts" -ge 2 ] &&
	sy_pass "sy-dataplane as a memif client connected again to servers 2 and 3 after each server left ($restarts port restarts logged) and forwarded for each"
logged_up=$(grep -c 'msg="port link up" port=0' "$WORK/client.log")
logged_down=$(grep -c 'msg="port link down" port=0' "$WORK/client.log")
[ $ups = 3 ] && [ $downs = 3 ] && [ "$logged_up" -ge 3 ] && [ "$logged_down" -ge 3 ] &&
	sy_pass "syctl stats: the port's link up with each server, down after each left (3 and 3); logged $logged_up up, $logged_down down" ||
	sy_fail "port link in syctl stats: up $ups of 3, down $downs of 3; logged $logged_up up, $logged_down down"
kill -0 "$CL_PID" 2>/dev/null && sy_stop_checked "$CL_PID" "sy-dataplane (memif client)" "$WORK/client.log"

# ---- 5. sy-pktgen's own guard: its peer leaves while it polls -----------------
# gdb holds sy-pktgen's lcore inside a queue's send and receive
# (rte_pktmbuf_free_bulk: the received frames freed) while sy-dataplane, the
# server, is killed (-9). Both sides of a memif connection unmap on a
# disconnect (the client its own regions): sy-pktgen's must stay mapped
# until its lcore leaves that burst, and sy-pktgen must run on and end by
# itself. Before sy-pktgen had the guard:
#   FAIL: sy-pktgen: its regions were unmapped while its lcore was held in a burst
memif_dataplane "--no-huge -m 256" --ct-size 65536 ||
	sy_fail "sy-dataplane (server, part 5) did not start: $(tail -3 "$WORK/dataplane.log")"
memif_pktgen 60 --flows 1000 --duration 20 --warmup 0 --linger 0
sy_wait 30 grep -q "link up" "$WORK/pktgen.log" || sy_fail "part 5: sy-pktgen's link never came up: $(tail -3 "$WORK/pktgen.log")"
PG_PID=$(pgrep -P "$GEN_PID" | head -1)
[ -n "$PG_PID" ] && [ "$(regions "$PG_PID")" -gt 0 ] ||
	sy_fail "part 5: no memif region mapped in sy-pktgen (pid ${PG_PID:-none}) while connected"
if hold "$PG_PID" rte_pktmbuf_free_bulk "part 5: sy-pktgen's lcore"; then
	kill -KILL "$DP_PID"
	wait "$DP_PID" 2>/dev/null
	sleep 0.5 # sy-pktgen's interrupt thread has had the disconnect
	held=$(regions "$PG_PID")
	letgo=$(grep -c "^let go" "$GDB_LOG")
	if [ "$letgo" = 0 ] && [ "${held:-0}" -gt 0 ]; then
		sy_pass "sy-pktgen's peer left while its lcore was held in a burst: its $held region mappings stay until the lcore leaves it"
	elif [ "$letgo" = 0 ]; then
		sy_fail "sy-pktgen: its regions were unmapped while its lcore was held in a burst"
	else
		sy_fail "part 5: no check while held (gdb let go first)"
	fi
fi
wait "$GDB_PID"
sy_wait 10 unmapped "$PG_PID" &&
	sy_pass "sy-pktgen's lcore let go: its regions unmapped" ||
	sy_fail "sy-pktgen's regions are still mapped after its lcore was let go: $(regions "$PG_PID")"
kill -0 "$PG_PID" 2>/dev/null && sy_pass "sy-pktgen runs on without its peer" ||
	sy_fail "sy-pktgen died: $(tail -3 "$WORK/pktgen.log" | tr '\n' ' ')"
kill -INT "$PG_PID" 2>/dev/null
wait "$GEN_PID"
rc=$?
# stopped by SIGINT it reports and exits by itself (0, or 1 for a run cut short)
if [ $rc -le 1 ] && grep -q -a '^RESULT' "$WORK/pktgen.log"; then
	sy_pass "sy-pktgen ended by itself (exit $rc) with its result"
else
	sy_fail "sy-pktgen ended with status $rc: $(tail -3 "$WORK/pktgen.log" | tr '\n' ' ')"
fi
echo "RESULT: $(sy_verdict)"
[ "$SY_FAILED" -eq 0 ]
