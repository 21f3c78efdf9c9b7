#!/bin/bash
# examples/resolve_client.c against real HTTP backends registered by real
# `syctl register` agents in sy-control's embedded registry, all inside a
# network namespace of its own (addresses 198.18.0.0/24 on its lo): the
# example calls the service by round-robin (every backend answers) and with
# a hash key (always the same backend); then one backend's HTTP server dies
# while its agent keeps heartbeating (the registry still lists it): the
# example still gets every request answered, by marking it failed.
#
# usage: test_resolve_client.sh BUILD_DIR
set -u
BUILD=$(realpath "$1")
HERE=$(dirname "$(realpath "$0")")
. "$HERE/netns_lib.sh"
trap sy_cleanup EXIT
sy_require "a network namespace" control/sy-control control/syctl examples/resolve_client
NS=syresclient
W=$(mktemp -d /tmp/sy-resclient-XXXXXX)
SY_FILES+=("$W")
SOCK=$W/api.sock
REG=http://198.18.0.1:9181
sy_keyfile "$W/key"
sy_keyfile "$W/read.token"
ip netns del $NS 2>/dev/null
sy_ns $NS || { sy_fail "cannot create namespace $NS"; exit 1; }
for a in 1 11 12 13; do ip -n $NS addr add 198.18.0.$a/32 dev lo; done
in_ns() { ip netns exec $NS "$@"; }

cat >"$W/sw.yaml" <<EOY
instance: resclient$$
region: $W/region
state_file: $W/sy.state
limits: { lcores: 2, services: 4, backends: 16, heap_mb: 8 }
api: { socket: $SOCK }
defaults: { encap_source4: 198.18.0.1, table_size: 251 }
registry:
  embedded:
    listen: 198.18.0.1:9181
    allowed_prefixes: [198.18.0.0/24]
    read: { token_file: $W/read.token }
services:
  - name: web
    vip: 198.18.1.1
    port: 8080
    protocol: tcp
    mode: ipip
    source: embedded
    key_file: $W/key
    next_hop_mac: 02:00:00:00:00:fe
    health: { default_ttl_s: 3, hold_down_s: 0 }
EOY
# (background jobs run ip netns exec itself, which execs: $! is the program)
ip netns exec $NS "$BUILD/control/sy-control" --config "$W/sw.yaml" >>"$W/control.log" 2>&1 &
SY_PIDS+=($!)
sy_wait 10 test -S "$SOCK" || { tail "$W/control.log"; sy_fail "sy-control did not start"; exit 1; }
declare -A WWW
for i in 11 12 13; do
	mkdir -p "$W/www$i"
	echo "backend-$i" >"$W/www$i/index.html"
	ip netns exec $NS python3 -m http.server 8080 --bind 198.18.0.$i --directory "$W/www$i" >/dev/null 2>&1 &
	WWW[$i]=$!
	SY_PIDS+=($!)
	ip netns exec $NS "$BUILD/control/syctl" register --service web --addr 198.18.0.$i --port 8080 --ttl 3 \
		--key-file "$W/key" --registry "$REG" >>"$W/agent.$i.log" 2>&1 &
	SY_PIDS+=($!)
done
sy_wait 10 bash -c "ip netns exec $NS curl -s -H 'Authorization: Bearer $(cat "$W/read.token")' $REG/v1/services/web/instances | grep -o '\"live\":true' | wc -l | grep -qx 3" ||
	sy_fail "the 3 backends not registered"
for i in 11 12 13; do
	sy_wait 10 in_ns curl -sf -o /dev/null "http://198.18.0.$i:8080/" || sy_fail "backend $i not serving"
done

client() { in_ns "$BUILD/examples/resolve_client" "$REG" "$W/read.token" web 12 user-42; }
client >"$W/run1.out" 2>&1
rc=$?
rr=$(grep '^rr ' "$W/run1.out" | awk '{print $4}' | sort | uniq -c | awk '{print $2 "x" $1}' | tr '\n' ' ')
keys=$(grep '^key ' "$W/run1.out" | awk '{print $3}' | sort -u)
if [ $rc -eq 0 ] && grep -qx "ok=24 failed=0" "$W/run1.out" && [ "$rr" = "backend-11x4 backend-12x4 backend-13x4 " ] &&
	[ "$(wc -l <<<"$keys")" = 1 ] && [ "$(grep -c "^key .* $keys backend-" "$W/run1.out")" = 12 ]; then
	sy_pass "resolve_client: 12 round-robin requests spread $rr; 12 with key user-42 all to $keys"
else
	sy_fail "resolve_client, all up: exit $rc, rr '$rr', key to '$keys': $(cat "$W/run1.out")"
fi

# the backend the key goes to dies; its agent keeps heartbeating
victim=${keys%:*}
victim=${victim##*.}
{ kill -9 ${WWW[$victim]}; wait ${WWW[$victim]}; } 2>/dev/null
client >"$W/run2.out" 2>&1
rc=$?
rr=$(grep '^rr [0-9]* [^ ]* backend' "$W/run2.out" | awk '{print $4}' | sort -u | tr '\n' ' ')
keys2=$(grep '^key [0-9]* [^ ]* backend' "$W/run2.out" | awk '{print $3}' | sort -u)
marked=$(grep -c "failed: marked failed" "$W/run2.out")
if [ $rc -eq 0 ] && grep -qx "ok=24 failed=0" "$W/run2.out" && ! grep -q "backend-$victim" "$W/run2.out" &&
	[ "$marked" -ge 1 ] && [ "$(wc -l <<<"$keys2")" = 1 ] && [ "$keys2" != "$keys" ]; then
	sy_pass "backend .$victim's server killed (still registered): 24 of 24 requests answered, $marked attempt(s) failed and marked, rr by $rr, key user-42 moved to $keys2"
else
	sy_fail "resolve_client, .$victim dead: exit $rc, marked $marked, rr '$rr', key '$keys2': $(cat "$W/run2.out")"
fi
grep -q "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:" "$W/run1.out" "$W/run2.out" &&
	sy_fail "sanitizer: $(grep -h -m3 'ERROR\|runtime error' "$W/run1.out" "$W/run2.out")"
[ $SY_FAILED -eq 0 ] && echo "RESULT: PASS" || echo "RESULT: FAIL"
exit $SY_FAILED
