#!/bin/bash
# libswitchyard-resolve against a running sy-control: for 1,000 random flows
# (500 IPv4 to a 5-tuple service, 500 IPv6 to a source-ip-port one) the
# resolver's consistent-hash pick is the backend
# `syctl lookup` names for a new flow (its API, /v1/lookup, asked by one
# process; syctl lookup itself for 10 of them). sy-control runs with a static
# configuration (no dataplane) in a network namespace of its own; the
# resolver (tests/integration/resolve_pick.c, the public API only) is given
# the set sy-control published (`syctl --json table`) with the service's
# table size and seed, in another order.
#
# usage: test_resolve_lookup.sh BUILD_DIR
set -u
BUILD=$(realpath "$1")
HERE=$(dirname "$(realpath "$0")")
. "$HERE/netns_lib.sh"
[ "$(id -u)" -eq 0 ] || { echo "FAIL: needs root (a network namespace)"; exit 1; }
trap sy_cleanup EXIT
W=$(mktemp -d /tmp/sy-resolve-XXXXXX)
SY_FILES+=("$W")
SOCK=$W/api.sock
NS=syres$$
sy_ns $NS || exit 1
ctl() { "$BUILD/control/syctl" --socket "$SOCK" "$@"; }

# 30 backends per service, weights 0..4 (0: draining), odd table sizes
python3 - "$W/sw.yaml" "$W" "$SOCK" <<'PY'
import sys, random
out, w, sock = sys.argv[1:4]
rnd = random.Random(16)
def service(name, vip, port, proto, m, seed, addr, hash):
    lines = [f"  - name: {name}", f"    vip: {vip}", f"    port: {port}", f"    protocol: {proto}",
             "    mode: ipip", "    source: static", f"    table_size: {m}", f"    hash_seed: {seed}",
             f"    hash: {hash}",
             "    next_hop_mac: 02:00:00:00:00:fe", "    backends:"]
    for i in range(30):
        lines.append("      - { address: %s, port: %d, weight: %d }" % (addr(i), 8000 + i % 3, rnd.randrange(5)))
    return "\n".join(lines)
open(out, "w").write(f"""instance: resolvetest
region: {w}/region
state_file: {w}/region.state
limits: {{ lcores: 4, services: 4, backends: 256, heap_mb: 16 }}
api:
  socket: {sock}
defaults:
  encap_source4: 198.18.0.1
  encap_source6: 2001:2::1
services:
{service("web4", "198.18.1.1", 80, "tcp", 65537, "0x5eed", lambda i: "198.18.2.%d" % (10 + i), "5-tuple")}
{service("web6", "2001:2::100", 443, "udp", 4099, 7, lambda i: '"2001:2::%x:%x"' % (2 + i // 7, 10 + i), "source-ip-port")}
""")
PY
ip netns exec $NS "$BUILD/control/sy-control" --config "$W/sw.yaml" >"$W/log" 2>&1 &
SY_PIDS+=($!)
sy_wait 10 test -S "$SOCK" || { cat "$W/log"; echo "FAIL: sy-control did not start"; exit 1; }
for svc in web4 web6; do
	sy_wait 5 bash -c "'$BUILD/control/syctl' --socket '$SOCK' --json table $svc | grep -q '\"table_size\"'" ||
		{ sy_fail "$svc not published"; cat "$W/log"; }
done

check() { # SERVICE FAMILY VIP VPORT PROTO SEED HASH (SY_RESOLVE_HASH_*)
	local svc=$1 fam=$2 vip=$3 vport=$4 proto=$5 seed=$6 hash=$7 m
	ctl --json table "$svc" >"$W/$svc.table" || { sy_fail "syctl table $svc"; return; }
	m=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["table_size"])' "$W/$svc.table")
	# the resolver's input: the published set, reversed, then 500 flows
	python3 - "$W/$svc.table" "$fam" "$vip" "$vport" "$proto" >"$W/$svc.in" <<'PY'
import json, sys, random, ipaddress
t = json.load(open(sys.argv[1]))
fam, vip, vport, proto = sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
for b in reversed(t["backends"]):
    print("B %s %d %d" % (b["address"], b["port"], b["weight"]))
rnd = random.Random(1600 + int(fam))
for _ in range(500):
    if fam == "4":
        src = str(ipaddress.IPv4Address((198 << 24 | 18 << 16) + rnd.randrange(1 << 17)))
    else:
        src = str(ipaddress.IPv6Address((0x20010002 << 96) + rnd.randrange(1 << 80)))
    print("F %s %d %s %d %s" % (src, rnd.randrange(1024, 65536), vip, vport, proto))
PY
	"$BUILD/tests/integration/resolve_pick" "$m" "$seed" "$hash" <"$W/$svc.in" >"$W/$svc.resolver" ||
		{ sy_fail "resolve_pick $svc"; return; }
	# the balancer's new-flow backend of each flow: the API syctl lookup
	# asks (/v1/lookup), from one process (a syctl per flow took 30 s of
	# the suite); syctl lookup itself for the first 10, which must agree
	python3 - "$SOCK" "$svc" "$W/$svc.in" >"$W/$svc.balancer" <<'PY'
import http.client, json, socket, sys, urllib.parse
class Unix(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(sys.argv[1])
c = Unix("localhost")
for line in open(sys.argv[3]):
    f = line.split()
    if f[0] != "F":
        continue
    q = urllib.parse.urlencode({"service": sys.argv[2], "src": f[1], "sport": f[2], "dst": f[3],
                                "dport": f[4], "proto": f[5]})
    c.request("GET", "/v1/lookup?" + q)
    print(json.loads(c.getresponse().read()).get("new_flow_backend", "-"))
PY
	local same=0 diff=0 n=0 cli=0 src sport dst dport pr want got
	exec 3<"$W/$svc.resolver" 4<"$W/$svc.balancer"
	while read -r kind src sport dst dport pr; do
		[ "$kind" = F ] || continue
		read -r got <&3
		read -r want <&4
		n=$((n + 1))
		if [ $n -le 10 ]; then
			local a=$src:$sport b=$dst:$dport
			[ "$fam" = 6 ] && a="[$src]:$sport" b="[$dst]:$dport"
			[ "$(ctl --json lookup "$svc" "$a" "$b" "$pr" | sed -n 's/.*"new_flow_backend": "\([^"]*\)".*/\1/p')" = "$want" ] &&
				cli=$((cli + 1))
		fi
		if [ -n "$want" ] && [ "$want" = "$got" ]; then
			same=$((same + 1))
		else
			diff=$((diff + 1))
			[ $diff -le 3 ] && echo "  flow $src:$sport -> $dst:$dport $pr: syctl lookup '$want', resolver '$got'"
		fi
	done <"$W/$svc.in"
	exec 3<&- 4<&-
	[ $cli -eq 10 ] && sy_pass "$svc: syctl lookup = the API's answer for the first 10 flows" ||
		sy_fail "$svc: syctl lookup = the API's answer for $cli of the first 10 flows"
	[ $n -eq 500 ] && [ $same -eq 500 ] &&
		sy_pass "$svc (IPv$fam, M=$m, seed $seed): resolver = syctl lookup for $same of $n flows" ||
		sy_fail "$svc (IPv$fam): resolver = syctl lookup for $same of $n flows, $diff differ"
}
check web4 4 198.18.1.1 80 tcp 0x5eed 0
check web6 6 2001:2::100 443 udp 7 3 # hash: source-ip-port

[ $SY_FAILED -eq 0 ] && echo "RESULT: PASS" || echo "RESULT: FAIL"
exit $SY_FAILED
