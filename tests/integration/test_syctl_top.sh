#!/bin/bash
# syctl top against a sy-control whose sy-dataplane moves packets
# (send_udp.py -> veth -> sy-dataplane, obs_lib.sh): 100-byte frames to web,
# two per flow, so bits/s = 800 x packets/s and new flows/s = packets/s / 2
# whatever the speed. Nothing here asserts on speed itself.
#
#   1. bad arguments exit 2, an unknown service 1, no sy-control 3
#   2. `syctl top -n 3 -d 1` (stdout a file: plain text, no escape codes):
#      3 frames; web and each of its backends non-zero, idle zero; bits/s,
#      new flows/s, backend sums and shares consistent with packets/s; each
#      rate x interval equals the growth of the PACKETS column, and the
#      frames' packets lie within two `syctl stats` reads taken around them
#   3. --json: one JSON object per frame, the same figures
#   4. SIGINT ends a plain run with exit 0 after whole frames
#   5. on a terminal (script(1) gives it a pty): the screen is redrawn
#      (escape codes) and the key q quits
#
# usage: test_syctl_top.sh BUILD_DIR
set -u
BUILD=$(realpath "$1")
HERE=$(dirname "$(realpath "$0")")
. "$HERE/netns_lib.sh"
. "$HERE/obs_lib.sh"
[ "$(id -u)" -eq 0 ] || { echo "FAIL: needs root (namespaces, DPDK)"; exit 1; }
command -v script >/dev/null || { echo "FAIL: no script(1) (util-linux)"; exit 1; }
SENDER=''
trap '[ -n "$SENDER" ] && kill $SENDER 2>/dev/null; obs_stop; sy_cleanup' EXIT

obs_setup dataplane || { echo "FAIL: sy-control + sy-dataplane did not start"; exit 1; }

# ---- 1. arguments ------------------------------------------------------------------
for args in "-d 0" "-d abc" "-d -1" "-d 1e9" "-d" "-n 0" "-n -3" "-n 2x" "-n" "--bogus" "web idle"; do
	# shellcheck disable=SC2086 # words
	timeout 10 "$BUILD/control/syctl" --socket "$SOCK" top $args >"$W/bad.out" 2>"$W/bad.err"
	rc=$?
	[ $rc = 2 ] && [ -s "$W/bad.err" ] && [ ! -s "$W/bad.out" ] &&
		sy_pass "top $args: exit 2 ($(head -1 "$W/bad.err"))" || sy_fail "top $args: exit $rc"
done
timeout 10 "$BUILD/control/syctl" --socket "$SOCK" top -n 1 nosuch >/dev/null 2>"$W/bad.err"
rc=$?
[ $rc = 1 ] && sy_pass "top nosuch: exit 1 ($(head -1 "$W/bad.err"))" || sy_fail "top nosuch: exit $rc"
timeout 10 "$BUILD/control/syctl" --socket "$W/none.sock" top -n 1 >/dev/null 2>"$W/bad.err"
rc=$?
[ $rc = 3 ] && sy_pass "no sy-control: exit 3" || sy_fail "no sy-control: exit $rc"

# ---- 2. plain frames under traffic ------------------------------------------------------
obs_send 20000 2000 15 --flows 20000 --per-flow 2 --frame 100 >"$W/sent" &
SENDER=$!
web_moves() { [ "$(obs_stat web packets)" -gt 0 ]; }
sy_wait 5 web_moves || sy_fail "no traffic reaches web"
BEFORE=$(obs_stat web packets)
timeout 20 "$BUILD/control/syctl" --socket "$SOCK" top -n 3 -d 1 >"$W/top.out" 2>"$W/top.err"
rc=$?
AFTER=$(obs_stat web packets)
cat "$W/top.out"
[ $rc = 0 ] && sy_pass "top -n 3 -d 1: exit 0" || sy_fail "top -n 3 -d 1: exit $rc $(cat "$W/top.err")"
python3 - "$W/top.out" "$BEFORE" "$AFTER" <<'EOF'
import re, sys
text = open(sys.argv[1], "rb").read().decode()
before, after = int(sys.argv[2]), int(sys.argv[3])
bad = []
def check(ok, msg):
    print(("PASS: " if ok else "FAIL: ") + msg)
    if not ok:
        bad.append(msg)
check("\x1b" not in text, "no escape codes when stdout is not a terminal")
frames = re.split(r"(?m)^(?=syctl top )", text.strip())
frames = [f for f in frames if f.strip()]
check(len(frames) == 3, "-n 3 printed %d frames" % len(frames))
num = lambda s: float(s)
prev_pk = None
spans = 0.0
first_start = None
for i, f in enumerate(frames, 1):
    dt = float(re.search(r"interval ([0-9.]+) s", f).group(1))
    rx = float(re.search(r"dataplane  rx ([0-9.]+) pkt/s", f).group(1))
    rows = {}
    for line in f.splitlines():
        c = line.split()
        if len(c) == 8 and c[0] in ("web", "idle"):
            rows[(c[0], c[1])] = c
    w = rows.get(("web", "-"))
    if not w:
        check(False, "frame %d: no row for web" % i)
        continue
    pps, bps, nfs, dps, pk = num(w[2]), num(w[3]), num(w[4]), num(w[5]), int(w[7])
    bes = [c for k, c in rows.items() if k[0] == "web" and k[1] != "-"]
    idle = [c for k, c in rows.items() if k[0] == "idle"]
    tol = 0.01 * pps + 40 / dt   # counters read while the worker counts
    print("frame %d: interval %.2f s, web %.1f pkt/s %.1f bit/s %.1f new flows/s, backends %s, PACKETS %d"
          % (i, dt, pps, bps, nfs, [c[2] for c in bes], pk))
    check(pps > 0 and len(bes) == 3 and all(num(c[2]) > 0 for c in bes),
          "frame %d: web and its 3 backends have non-zero packets/s" % i)
    check(all(num(c[2]) == 0 and num(c[3]) == 0 for c in idle) and len(idle) == 2,
          "frame %d: the idle service and its backend show 0" % i)
    check(abs(bps - 800 * pps) <= 0.001 * bps + 800, "frame %d: bits/s = 800 x packets/s (100-byte frames)" % i)
    check(abs(nfs - pps / 2) <= 0.02 * pps + 2 / dt, "frame %d: new flows/s = packets/s / 2 (2 packets a flow)" % i)
    check(dps == 0, "frame %d: no drops" % i)
    check(abs(sum(num(c[2]) for c in bes) - pps) <= tol, "frame %d: backends' packets/s sum to the VIP's" % i)
    check(abs(sum(float(c[6].rstrip("%")) for c in bes) - 100) <= 100 * tol / pps + 0.3,
          "frame %d: backend shares sum to 100%%" % i)
    check(abs(rx - pps) <= tol, "frame %d: dataplane rx/s = web packets/s (the only traffic)" % i)
    if prev_pk is not None:
        check(abs((pk - prev_pk) - pps * dt) <= 0.01 * (pk - prev_pk) + 2,
              "frame %d: rate x interval = PACKETS growth (%d)" % (i, pk - prev_pk))
    else:
        first_start = pk - pps * dt
    spans += pps * dt
    prev_pk = pk
if first_start is not None and prev_pk is not None:
    check(first_start >= before - 0.01 * spans - 2 and prev_pk <= after,
          "the frames' counters lie within syctl stats before (%d) and after (%d): %d..%d"
          % (before, after, first_start, prev_pk))
    check(abs(spans - (prev_pk - first_start)) <= 0.01 * spans + 2,
          "sum of rate x interval (%.0f) = counter growth over the frames (%d)" % (spans, prev_pk - first_start))
sys.exit(1 if bad else 0)
EOF
[ $? = 0 ] || SY_FAILED=1

# ---- 3. --json --------------------------------------------------------------------------
timeout 10 "$BUILD/control/syctl" --socket "$SOCK" --json top -n 2 -d 0.5 >"$W/top.json" 2>&1
rc=$?
python3 - "$W/top.json" <<'EOF' && [ $rc = 0 ] && sy_pass "--json: one object per frame, consistent" || sy_fail "--json (exit $rc): $(head -c 300 "$W/top.json")"
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert len(lines) == 2, lines
for l in lines:
    j = json.loads(l)
    w = j["services"]["web"]
    assert w["packets_per_s"] > 0 and j["interval_s"] > 0
    assert abs(w["bits_per_s"] - 800 * w["packets_per_s"]) <= 0.001 * w["bits_per_s"] + 1
    assert abs(sum(b["share"] for b in w["backends"].values()) - 1) < 0.05
    assert j["services"]["idle"]["packets_per_s"] == 0
EOF
# the traffic has served 2 and 3 (4 and 5 need none): stopped, not waited
# out (its 10 s are there for a slow machine)
kill $SENDER 2>/dev/null
wait $SENDER 2>/dev/null
SENDER=''

# ---- 4. SIGINT ------------------------------------------------------------------------
"$BUILD/control/syctl" --socket "$SOCK" top -d 0.3 >"$W/int.out" 2>&1 &
TOP=$!
SY_PIDS+=($TOP)
frames_at_least() { [ "$(grep -c '^syctl top ' "$W/int.out")" -ge "$1" ]; }
sy_wait 15 frames_at_least 2 # two frames drawn, however slowly it started
kill -INT $TOP
for _ in $(seq 50); do kill -0 $TOP 2>/dev/null || break; sleep 0.1; done
wait $TOP
rc=$?
n=$(grep -c '^syctl top ' "$W/int.out")
[ $rc = 0 ] && [ "$n" -ge 2 ] && [ "$(tail -1 "$W/int.out" | awk '{print $1}')" = web ] &&
	sy_pass "SIGINT: exit 0 after $n whole frames" || sy_fail "SIGINT: exit $rc, $n frames"

# ---- 5. a terminal --------------------------------------------------------------------
# script(1) runs syctl on a pty and passes our input (the key q, later) to it
start=$SECONDS
(sleep 1.5; printf q) | timeout 15 script -qfec "$BUILD/control/syctl --socket $SOCK top -d 0.5" /dev/null >"$W/tty.out" 2>&1
rc=$?
took=$((SECONDS - start))
grep -q $'\033\[H\033\[2J' "$W/tty.out" && grep -q 'q or Ctrl-C quits' "$W/tty.out" &&
	sy_pass "on a terminal: the screen is redrawn ($(grep -o $'\033\[H' "$W/tty.out" | wc -l) frames)" ||
	sy_fail "on a terminal: no redraw ($(head -c 200 "$W/tty.out" | od -c | head -3))"
[ $rc = 0 ] && [ $took -lt 10 ] && sy_pass "on a terminal: q quits (exit 0, after ${took} s)" ||
	sy_fail "on a terminal: q did not quit (exit $rc after $took s)"

obs_finish # sy-dataplane and sy-control must stop cleanly (exit 0)
[ "$SY_FAILED" = 0 ] || { echo "FAIL: test_syctl_top"; exit 1; }
echo "PASS: test_syctl_top"
