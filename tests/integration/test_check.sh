#!/bin/bash
# `sy-control --check` runs every check start-up runs, and a start that
# fails leaves nothing behind (issue 12, point 6); a reload runs the same
# checks against the running region (point 2). No network, no dataplane:
# configurations in a temporary directory.
#
# Each broken configuration must be refused by --check (exit 2, a message
# naming what is wrong), and a real start of it must fail too and leave no
# region file. Before the fix (8e34f0d) --check said "valid" for a missing
# key file, a key file of mode 644, a key file that is a directory, a
# missing token_file and more services than limits.services, and the start
# left its region behind.
#
# usage: test_check.sh BUILD_DIR
set -u
BUILD=$(realpath "$1")
HERE=$(dirname "$(realpath "$0")")
. "$HERE/netns_lib.sh"
trap sy_cleanup EXIT
W=$(mktemp -d /tmp/sy-check-XXXXXX)
SY_FILES+=("$W")
sy_keyfile "$W/good.key"
echo abcdefghijklmnop0123456789 >"$W/token" && chmod 600 "$W/token"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

config() { # NAME [services limit] [key file] [extra api lines] [second service]
	cat >"$W/$1.yaml" <<EOF
instance: check-$1
region: $W/$1.region
state_file: $W/$1.state
limits: { lcores: 2, services: ${2:-4}, backends: 64, heap_mb: 8 }
api:
  socket: $W/$1.sock
${4:-}
defaults: { encap_source4: 198.18.0.1, table_size: 251 }
registry:
  embedded: { listen: 127.0.0.1:$PORT, allowed_prefixes: [198.18.0.0/15] }
services:
  - { name: web, vip: 198.18.1.1, port: 80, protocol: tcp, mode: ipip, source: embedded,
      key_file: ${3:-$W/good.key} }
  - { name: dns, vip: 198.18.1.2, port: 53, protocol: udp, mode: ipip, source: static }
${5:-}
EOF
}
# refused NAME WHAT PATTERN: --check exits 2 naming it; a start fails and leaves no region
refused() {
	local out rc
	out=$("$BUILD/control/sy-control" --check --config "$W/$1.yaml" 2>&1)
	rc=$?
	[ $rc = 2 ] && echo "$out" | grep -q -- "$3" &&
		sy_pass "--check refuses $2 (exit 2: $out)" ||
		sy_fail "--check of $2: exit $rc, $out"
	timeout 20 "$BUILD/control/sy-control" --config "$W/$1.yaml" >"$W/$1.log" 2>&1
	rc=$?
	[ $rc != 0 ] && grep -q -- "$3" "$W/$1.log" && [ ! -e "$W/$1.region" ] && [ ! -e "$W/$1.sock" ] &&
		sy_pass "a start with $2 fails (exit $rc) and leaves no region or socket" ||
		sy_fail "a start with $2: exit $rc, region $(ls "$W/$1.region" 2>&1), $(cat "$W/$1.log")"
}

config ok
out=$("$BUILD/control/sy-control" --check --config "$W/ok.yaml" 2>&1) &&
	sy_pass "a good configuration: $out" || sy_fail "good configuration refused: $out"

config nokey 4 "$W/missing.key"
refused nokey "a missing key file" "missing.key"

cp "$W/good.key" "$W/open.key" && chmod 644 "$W/open.key"
config openkey 4 "$W/open.key"
refused openkey "a key file of mode 644" "open.key"

mkdir "$W/dir.key"
config dirkey 4 "$W/dir.key"
refused dirkey "a key file that is a directory" "dir.key"

config notoken 4 "" "  tcp: 127.0.0.1:$PORT
  token_file: $W/missing-token"
refused notoken "a missing token_file" "missing-token"

config manysvc 1
refused manysvc "more services than limits.services" "limits.services"

config caps 4 "" "" "  - { name: big, vip: 198.18.1.3, port: 80, protocol: tcp, mode: ipip, source: static,
      max_backends: 100 }"
refused caps "max_backends over the region's backends" "limits.backends"

config nogroup 4 "" "  group: no-such-group-sy"
refused nogroup "an API group that does not exist" "no-such-group-sy"

# a failure after the region was created (the API socket cannot be made):
# the region goes with it
config badsock
mkdir -p "$W/badsock.sock/x" # a directory where the socket goes
timeout 20 "$BUILD/control/sy-control" --config "$W/badsock.yaml" >"$W/badsock.log" 2>&1
rc=$?
[ $rc = 1 ] && [ ! -e "$W/badsock.region" ] && grep -q "region it created is removed" "$W/badsock.log" &&
	sy_pass "a start that fails after creating its region removes it (exit 1)" ||
	sy_fail "failed start after the region: exit $rc, region $(ls "$W/badsock.region" 2>&1), $(cat "$W/badsock.log")"

# an adopted region is never removed by a failed start
config adopt
"$BUILD/control/sy-control" --config "$W/adopt.yaml" >"$W/adopt1.log" 2>&1 &
pid=$!
SY_PIDS+=($pid)
sy_wait 10 test -S "$W/adopt.sock" || sy_fail "adopt: first start"
kill -TERM $pid && wait $pid
cp "$W/good.key" "$W/adopt2.key" && chmod 644 "$W/adopt2.key"
sed -i "s|key_file: $W/good.key|key_file: $W/adopt2.key|" "$W/adopt.yaml"
timeout 20 "$BUILD/control/sy-control" --config "$W/adopt.yaml" >"$W/adopt2.log" 2>&1
rc=$?
[ $rc = 2 ] && [ -e "$W/adopt.region" ] && sy_pass "a failed start keeps a region it would adopt" ||
	sy_fail "adopted region: exit $rc, $(ls "$W/adopt.region" 2>&1)"
# --check against an existing region checks the region's own limits
sed -i "s|key_file: $W/adopt2.key|key_file: $W/good.key|; s|services: 4, backends: 64|services: 1, backends: 64|" "$W/adopt.yaml"
out=$("$BUILD/control/sy-control" --check --config "$W/adopt.yaml" 2>&1) &&
	sy_pass "--check with an existing region uses the region's limits (4 services): $out" ||
	sy_fail "--check with an existing region: $out"

# ---- reload: a configuration the running region cannot hold is refused ----------
# (issue 12, point 2) `syctl reload` answers 400 with the reason, the log
# says the running state is unchanged, and it is: the same services, the
# same caps. The file's own limits do not count: the region exists.
config reload
"$BUILD/control/sy-control" --config "$W/reload.yaml" >"$W/reload.log" 2>&1 &
pid=$!
SY_PIDS+=($pid)
sy_wait 10 test -S "$W/reload.sock" || sy_fail "reload: start"
cp "$W/reload.yaml" "$W/reload.good"
running() { # the services and their caps, as `syctl services` shows them
	"$BUILD/control/syctl" --socket "$W/reload.sock" --json services |
		python3 -c 'import json, sys; print(" ".join("%s:%s" % (s["name"], s["max_backends"]) for s in json.load(sys.stdin)["services"]))'
}
before=$(running)
# reload_refused WHAT PATTERN: the file as it is now is refused, nothing changes
reload_refused() {
	local out rc
	out=$("$BUILD/control/syctl" --socket "$W/reload.sock" reload 2>&1)
	rc=$?
	[ $rc = 1 ] && echo "$out" | grep -q -- "400 .*$2" && [ "$(running)" = "$before" ] &&
		grep -q "reload refused; running state unchanged.*$2" "$W/reload.log" &&
		sy_pass "a reload with $1 is refused: $out; still $before" ||
		sy_fail "reload with $1: exit $rc, $out; running: $(running) (before: $before)"
	cp "$W/reload.good" "$W/reload.yaml"
}
sed -i 's|services: 4, backends: 64|services: 8, backends: 64|' "$W/reload.yaml"
for i in 3 4 5; do
	echo "  - { name: s$i, vip: 198.18.1.$i, port: 53, protocol: udp, mode: ipip, source: static }" >>"$W/reload.yaml"
done
reload_refused "5 services for the region's 4 (the file's limits say 8)" "limits.services"
sed -i 's|source: static }|source: static, max_backends: 100 }|' "$W/reload.yaml"
reload_refused "a max_backends over the region's 64 backends" "limits.backends"
sed -i 's|source: static }|source: static,\n      backends: [ { address: 198.18.0.21, port: 53 }, { address: 198.18.0.22, port: 53 } ] }|;
	s|key_file: \(.*\) }|key_file: \1, max_backends: 63 }|' "$W/reload.yaml"
reload_refused "a static list over the service's cap (its share: 1)" "over the service's cap of 1"
out=$("$BUILD/control/syctl" --socket "$W/reload.sock" reload 2>&1) &&
	sy_pass "the same file reloads: $out" || sy_fail "a good reload: $out"

[ "$SY_FAILED" -eq 0 ] && echo "RESULT: PASS" || echo "RESULT: FAIL"
exit "$SY_FAILED"
