#!/bin/bash
# sy-control under churn: no leak, flat memory.
# For SY_CHURN_SECONDS (default 45; the issue's full run is 600) sy-control
# takes, all at once:
#   - signed registrations of 200 backend addresses through the embedded
#     registry, each registered once with TTL 2 s and left to expire, so that
#     backends keep arriving and leaving (registration + expiry churn);
#   - operator changes through the API (add, weight, drain, remove);
#   - a configuration reload every 2 s.
# Private resident memory is sampled every second (flat: growth after warm-up
# bounded and printed); with an ASan+UBSan binary (the same test in the
# build-asan tree) sy-control must also exit cleanly on SIGTERM with
# LeakSanitizer finding nothing. scripts/test.sh also runs it for 10 minutes
# on the ASan binary, beside the other tests.
#
# usage: test_control_churn.sh BUILD_DIR
set -u
BUILD=$(realpath "$1")
HERE=$(dirname "$(realpath "$0")")
. "$HERE/netns_lib.sh"
trap sy_cleanup EXIT
SECS=${SY_CHURN_SECONDS:-45}
NADDR=200

W=$(mktemp -d /tmp/sy-churn-XXXXXX)
SY_FILES+=("$W")
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
REG=$(free_port)
sy_keyfile "$W/web.key"

config() {
	cat >"$W/sw.yaml" <<EOF
instance: churn$$
region: $W/region
state_file: $W/region.state
limits: { lcores: 4, services: 16, backends: 4096, heap_mb: 64 }
api:
  socket: $W/api.sock
defaults:
  encap_source4: 198.18.0.1
  table_size: 65537
registry:
  embedded:
    listen: 127.0.0.1:$REG
    allowed_prefixes: [127.0.0.0/8, 198.18.0.0/15]
    max_clock_skew_s: 30
services:
  - name: web
    vip: 198.18.1.1
    port: 80
    protocol: tcp
    mode: ipip
    source: embedded
    key_file: $W/web.key
    next_hop_mac: 02:00:00:00:00:fe
    health:
      default_ttl_s: 2
      hold_down_s: 0
      panic_threshold: 0
$(sy_static_service ops 198.18.1.2 80 198.18.2.1)
EOF
}
config

# private memory only (RssAnon): the region is a shared file mapping whose
# pages the writer touches as snapshots cycle through its heap, by design
rss_kb() { awk '$1 == "RssAnon:" {print $2}' /proc/$1/status 2>/dev/null; }

# run_churn BIN LABEL: start sy-control from BIN, churn for SECS, stop it;
# sets CHURN_PID's samples in $W/rss.LABEL, counters in globals
run_churn() {
	local bin=$1 label=$2 end t i a n_reg=0 n_api=0 n_reload=0
	rm -f "$W/api.sock" "$W/region"
	# a small quarantine: freed memory held by ASan would read as growth
	ASAN_OPTIONS=abort_on_error=0:detect_leaks=1:exitcode=23:quarantine_size_mb=8 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		"$bin/control/sy-control" --config "$W/sw.yaml" >"$W/log.$label" 2>&1 &
	CHURN_PID=$!
	SY_PIDS+=($CHURN_PID)
	sy_wait 20 test -S "$W/api.sock" || { cat "$W/log.$label"; sy_fail "$label: sy-control did not start"; return 1; }
	ctl() { "$bin/control/syctl" --socket "$W/api.sock" "$@" >/dev/null 2>&1; }
	: >"$W/rss.$label"
	end=$((SECONDS + SECS))
	t=$SECONDS
	i=0
	while [ $SECONDS -lt $end ]; do
		# 20 registrations (once, TTL 2 s: they expire unless renewed)
		for _ in $(seq 20); do
			a=198.18.3.$((RANDOM % NADDR + 1))
			"$bin/control/syctl" register --service web --addr $a --port 80 --ttl 2 \
				--key-file "$W/web.key" --registry http://127.0.0.1:$REG --once >/dev/null 2>&1 &&
				n_reg=$((n_reg + 1))
		done
		# operator changes
		a=198.18.2.$((i % 50 + 2)):80
		ctl add ops $a 1 02:00:00:00:00:fe && ctl weight ops $a 3 && ctl drain ops $a &&
			ctl remove ops $a && n_api=$((n_api + 4))
		# a reload every 2 s, one RSS sample a second
		if [ $((SECONDS - t)) -ge 1 ]; then
			t=$SECONDS
			echo "$(rss_kb $CHURN_PID)" >>"$W/rss.$label"
			if [ $((SECONDS % 2)) = 0 ]; then
				kill -HUP $CHURN_PID && n_reload=$((n_reload + 1))
			fi
		fi
		i=$((i + 1))
		kill -0 $CHURN_PID 2>/dev/null || break
	done
	PUBLISHES=$("$bin/control/syctl" --socket "$W/api.sock" --json status 2>/dev/null |
		sed -n 's/.*"publishes": \([0-9]*\).*/\1/p')
	kill -TERM $CHURN_PID
	wait $CHURN_PID
	CHURN_RC=$?
	N_REG=$n_reg N_API=$n_api N_RELOAD=$n_reload
}

# memory_flat LABEL: after warm-up (a third of the run) private memory grows
# by no more than the replay cache's ring, which is allocated whole at start
# (512k entries of 96 bytes) and touched one entry per registration until it
# wraps (control/auth.h), plus 4 MB (12 MB under ASan: its allocator caches
# and an 8 MB quarantine); leaks themselves are LeakSanitizer's to find.
# Sets MEM_OK and MEM_FIG.
memory_flat() {
	local label=$1 slack=$2 n warm last max ring_kb bound
	read -r n warm last max < <(awk '{v[NR] = $1} END {w = int(NR / 3) + 1; m = 0;
		for (i = w; i <= NR; i++) if (v[i] > m) m = v[i]; print NR, v[w], v[NR], m}' "$W/rss.$label")
	GROWTH=$((max - warm))
	ring_kb=$((N_REG * 96 / 1024))
	bound=$((ring_kb + slack))
	echo "$label: $N_REG registrations, $N_API API changes, $N_RELOAD reloads, ${PUBLISHES:-?} publishes;" \
		"RssAnon after warm-up ${warm} kB, max ${max} kB, last ${last} kB ($n samples)"
	MEM_FIG="RssAnon growth after warm-up ${GROWTH} kB (bound ${bound} kB, of which replay ring ${ring_kb} kB; warm ${warm} kB, max ${max} kB)"
	MEM_OK=0
	[ "$n" -ge 10 ] && [ "$GROWTH" -lt "$bound" ] && [ "$N_REG" -gt 100 ] && [ "$N_RELOAD" -gt 3 ] && MEM_OK=1
}

LOAD="\$N_REG registrations, \$N_API API changes, \$N_RELOAD reloads"
if ldd "$BUILD/control/sy-control" | grep -q libasan; then
	# ---- ASan+UBSan binary: no leak at exit, memory flat --------------------------
	run_churn "$BUILD" asan
	memory_flat asan 12288
	OUT=PASS
	if [ "$CHURN_RC" = 0 ] && ! grep -q "LeakSanitizer\|runtime error\|AddressSanitizer" "$W/log.asan"; then
		sy_pass "asan: $N_REG registrations, $N_API API changes, $N_RELOAD reloads: no leak, no sanitizer report"
	else
		sy_fail "asan: exit $CHURN_RC"
		grep -A20 "Sanitizer\|runtime error" "$W/log.asan" | head -40
		OUT=FAIL
	fi
	[ $MEM_OK = 1 ] && sy_pass "asan: memory flat: $MEM_FIG" || { sy_fail "asan: $MEM_FIG"; OUT=FAIL; }
	echo "RELIABILITY|control_churn (asan)|${SECS} s of registrations/expiries, API changes, reloads under ASan+UBSan+LeakSanitizer|$(eval echo "$LOAD")|$OUT|exit $CHURN_RC, no leak report; $MEM_FIG"
else
	# ---- release binary: memory stays flat ---------------------------------------
	run_churn "$BUILD" release
	[ "$CHURN_RC" = 0 ] && sy_pass "release: clean exit after $SECS s of churn" || sy_fail "release: exit $CHURN_RC"
	memory_flat release 4096
	if [ $MEM_OK = 1 ]; then
		sy_pass "release: memory flat: $MEM_FIG"
		OUT=PASS
	else
		sy_fail "release: $MEM_FIG"
		OUT=FAIL
	fi
	echo "RELIABILITY|control_churn|${SECS} s of registrations/expiries, API changes, reloads|$(eval echo "$LOAD"), ${PUBLISHES:-?} publishes|$OUT|$MEM_FIG"
fi

[ "$SY_FAILED" = 0 ] || { echo "FAIL: test_control_churn"; exit 1; }
echo "PASS: test_control_churn"
