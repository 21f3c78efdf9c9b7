#!/bin/bash
# memif_lib.sh's launchers against stand-ins: once memif_pktgen has
# returned, its log must hold nothing of an earlier run's. The live tests
# wait for "link up" in a log they reuse (pktgen.log); a launcher that left
# the emptying to the background job's own ">" let memif_peer_leaves read
# the previous generator's "link up" and look for regions before the new one
# had any (CI, session 38).
#
# The race is made certain rather than likely: the launch and the read run
# on one CPU under SCHED_FIFO, so the forked job cannot run before the
# launching shell blocks, and the log is read with the `read` builtin (no
# fork, no block). Needs root (chrt -f). About 2 s.
set -u
ROOT=$1

[ "$(id -u)" -eq 0 ] || { echo "FAIL: needs root (chrt -f)"; exit 1; }
W=$(mktemp -d /tmp/sy-memiflogs-XXXXXX)
trap 'rm -rf "$W"' EXIT

# Stand-ins: `ip netns exec NS CMD...` runs CMD; sy-pktgen says "link up"
# after a moment and lingers.
mkdir -p "$W/bin" "$W/build/perf"
cat >"$W/bin/ip" <<'EOF'
#!/bin/sh
[ "$1 $2" = "netns exec" ] || exit 2
shift 3
exec "$@"
EOF
cat >"$W/build/perf/sy-pktgen" <<'EOF'
#!/bin/sh
sleep 0.2
echo "new run: link up"
sleep 1
EOF
chmod +x "$W/bin/ip" "$W/build/perf/sy-pktgen"

failed=0
for round in 1 2 3; do
	echo "old run: link up" >"$W/pktgen.log"
	got=$(PATH="$W/bin:$PATH" W="$W" ROOT="$ROOT" chrt -f 10 taskset -c 0 bash -c '
		. "$ROOT/tests/integration/netns_lib.sh"
		. "$ROOT/tests/integration/memif_lib.sh"
		trap sy_cleanup EXIT # what netns_lib.sh made (its python3 directory)
		BUILD=$W/build WORK=$W NS=none SOCK=$W/sock P=x SY_PIDS=()
		memif_pktgen 10
		line=
		read -r line <"$WORK/pktgen.log"
		echo "${line:-empty}"
		wait "$GEN_PID"
		read -r line <"$WORK/pktgen.log"
		echo "then: ${line:-empty}"')
	case $got in
	"empty"$'\n'"then: new run: link up")
		echo "PASS: round $round: the log was empty when memif_pktgen returned, then held the new run's line" ;;
	*)
		echo "FAIL: round $round: memif_pktgen returned with its log reading: $(echo "$got" | tr '\n' '|')"
		failed=$((failed + 1)) ;;
	esac
done
echo "test_memif_logs: $failed failed"
[ $failed -eq 0 ]
