#!/bin/bash
# Fleet consistency: three sy-control instances (each with its own
# configuration, region and API socket) fed by the same etcd must publish the
# same Maglev tables and send the same flows to the same backends.
#   1. 12 backends (a lease shared by etcdctl puts, weights 1..3, one IPv6
#      service) + 2 `syctl register` agents: identical per-service table
#      digests on all three (`syctl --json services`)
#   2. the lookup of 50 five-tuples per service (/v1/lookup, what `syctl
#      lookup` asks; 5 more through the CLI): the same backend on all three
#   3. churn (3 deleted, 2 added, one reweighted, one agent stopped): they
#      converge again to identical digests and lookups
#   4. `syctl fleet a=SOCK b=SOCK c=SOCK` says they agree; after `syctl add`
#      on c alone it names c (exit 1); with a 4th host down it names that one
#      (exit 3) and still compares the others
#
# usage: test_fleet.sh BUILD_DIR
set -u
BUILD=$(realpath "$1")
HERE=$(dirname "$(realpath "$0")")
. "$HERE/netns_lib.sh"
. "$HERE/etcd_lib.sh"
trap 'etcd_down; sy_cleanup' EXIT
command -v etcd >/dev/null && command -v etcdctl >/dev/null ||
	{ echo "SKIP: etcd/etcdctl not installed (scripts/install-deps.sh)"; exit 77; }
W=$(mktemp -d /tmp/sy-fleet-XXXXXX)
SY_FILES+=("$W")
PFX=/switchyard/services
NODES=(a b c)
ctl() { local n=$1; shift; "$BUILD/control/syctl" --socket "$W/$n.sock" "$@"; }

sy_log "etcd"
etcd_up 1 || { echo "FAIL: etcd did not start"; exit 1; }

for n in "${NODES[@]}"; do
	cat >"$W/$n.yaml" <<EOF
instance: fleet-$n
region: $W/region-$n
state_file: $W/region-$n.state
limits: { lcores: 4, services: 16, backends: 1024, heap_mb: 32 }
api:
  socket: $W/$n.sock
defaults:
  encap_source4: 198.18.0.1
  encap_source6: 2001:2:ff::1
  table_size: 65537
  hash_seed: 0x5eed
registry:
  etcd:
    endpoints:
$(etcd_urls)
    timeout_ms: 1000
services:
  - name: web
    vip: 198.18.1.1
    port: 80
    protocol: tcp
    mode: ipip
    source: etcd
    next_hop_mac: 02:00:00:00:00:fe
    health: { hold_down_s: 0, panic_threshold: 0 }
  - name: web6
    vip: 2001:2:1::1
    port: 443
    protocol: tcp
    mode: ipip
    table_size: 4099
    source: etcd
    next_hop_mac: 02:00:00:00:00:fe
    health: { hold_down_s: 0, panic_threshold: 0 }
EOF
	"$BUILD/control/sy-control" --config "$W/$n.yaml" >"$W/$n.log" 2>&1 &
	SY_PIDS+=($!)
done
for n in "${NODES[@]}"; do
	sy_wait 10 test -S "$W/$n.sock" || { echo "FAIL: sy-control $n did not start"; cat "$W/$n.log"; exit 1; }
done

# ---- registrations ----------------------------------------------------------
LEASE=$(ectl lease grant 120 | awk '{print $2}')
for i in $(seq 1 10); do
	ectl put --lease="$LEASE" $PFX/web/198.18.0.$((100 + i)):80 "{\"weight\":$((i % 3 + 1))}" >/dev/null
done
ectl put --lease="$LEASE" "$PFX/web6/[2001:2::11]:443" '{"weight":1}' >/dev/null
ectl put --lease="$LEASE" "$PFX/web6/[2001:2::12]:443" '{"weight":2,"zone":"b"}' >/dev/null
for i in 1 2; do
	"$BUILD/control/syctl" register --service web --addr 198.18.0.$((200 + i)) --port 80 --ttl 3 \
		--registry "etcd://$(etcd_endpoints)" >>"$W/agent$i.log" 2>&1 &
	AGENT[$i]=$!
	SY_PIDS+=(${AGENT[$i]})
done

# "service digest backends" lines of one node
digests() {
	ctl "$1" --json services | python3 -c '
import json, sys
for s in sorted(json.load(sys.stdin)["services"], key=lambda s: s["name"]):
    print(s["name"], s["digest"], s["backends"])'
}
# all nodes publish WEB backends for web and WEB6 for web6, and agree
converged() {
	local want="web6 $2" ref n
	ref=$(digests a)
	echo "$ref" | grep -q "^web .* $1\$" && echo "$ref" | grep -q "^${want% *} .* ${want#* }\$" || return 1
	for n in b c; do [ "$(digests $n)" = "$ref" ] || return 1; done
}
# the backends a node names for 50 flows of a service (one python process
# asking the API's /v1/lookup over the unix socket)
lookups() {
	python3 - "$W/$1.sock" "$2" <<'PY'
import http.client, json, socket, sys
class Unix(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=5)
        self.path = path
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)
sock, svc = sys.argv[1], sys.argv[2]
for i in range(1, 51):
    if svc == "web":
        q = "src=198.18.%d.%d&sport=%d&dst=198.18.1.1&dport=80" % (i % 7, i * 5 % 250 + 1, 20000 + i * 97)
    else:
        q = "src=2001:2:9::%x&sport=%d&dst=2001:2:1::1&dport=443" % (i, 30000 + i * 31)
    c = Unix(sock)
    c.request("GET", "/v1/lookup?service=%s&%s&proto=tcp" % (svc, q))
    print(json.loads(c.getresponse().read())["backend"])
    c.close()
PY
}
compare() { # PHASE
	local svc n ref ok=1
	echo "  digests (node a):"
	digests a | sed 's/^/    /'
	for n in b c; do
		[ "$(digests $n)" = "$(digests a)" ] || { ok=0; echo "  node $n:"; digests $n | sed 's/^/    /'; }
	done
	[ $ok = 1 ] && sy_pass "$1: identical table digests on the 3 instances" || sy_fail "$1: digests differ"
	for svc in web web6; do
		lookups a $svc >"$W/look.a"
		ref=$(sort -u "$W/look.a" | wc -l)
		ok=1
		for n in b c; do
			lookups $n $svc >"$W/look.$n"
			cmp -s "$W/look.a" "$W/look.$n" || { ok=0; diff "$W/look.a" "$W/look.$n" | head -5; }
		done
		[ $ok = 1 ] && [ "$(wc -l <"$W/look.a")" -eq 50 ] &&
			sy_pass "$1: /v1/lookup (what syctl lookup asks) gives the same backend for 50 $svc flows on all 3 ($ref distinct backends)" ||
			sy_fail "$1: lookups of $svc differ between instances"
	done
	# and through the CLI itself, for a few flows
	ok=1
	for i in 1 2 3 4 5; do
		ref=$(ctl a lookup web 198.18.3.$i:$((41000 + i)) 198.18.1.1:80 tcp | grep '^backend')
		for n in b c; do
			[ "$(ctl $n lookup web 198.18.3.$i:$((41000 + i)) 198.18.1.1:80 tcp | grep '^backend')" = "$ref" ] || ok=0
		done
	done
	[ $ok = 1 ] && sy_pass "$1: \`syctl lookup\` agrees on all 3 for 5 more flows" || sy_fail "$1: syctl lookup differs"
}

sy_log "1. initial registrations"
t0=$(date +%s%N)
if sy_wait 15 converged 12 2; then
	sy_pass "all 3 instances publish 12 + 2 backends ($((($(date +%s%N) - t0) / 1000000)) ms)"
else
	sy_fail "instances did not converge"
	for n in "${NODES[@]}"; do digests $n; done
fi
compare "initial"

sy_log "2. churn"
ectl del $PFX/web/198.18.0.101:80 >/dev/null
ectl del $PFX/web/198.18.0.102:80 >/dev/null
ectl del "$PFX/web6/[2001:2::11]:443" >/dev/null
ectl put --lease="$LEASE" $PFX/web/198.18.0.150:80 '{"weight":2}' >/dev/null
ectl put --lease="$LEASE" "$PFX/web6/[2001:2::13]:443" '{"weight":1}' >/dev/null
ectl put --lease="$LEASE" $PFX/web/198.18.0.103:80 '{"weight":9}' >/dev/null
kill -TERM ${AGENT[2]}
if sy_wait 15 converged 10 2; then
	sy_pass "after churn all 3 converge to 10 + 2 backends"
else
	sy_fail "no convergence after churn"
	for n in "${NODES[@]}"; do digests $n; done
fi
compare "after churn"
ctl a table web | grep -q "198.18.0.103:80 *9 " && sy_pass "the reweighted backend has weight 9" ||
	{ sy_fail "reweight not applied"; ctl a table web; }

sy_log "3. syctl fleet: digests compared across the hosts"
FLEET=(a="$W/a.sock" b="$W/b.sock" c="$W/c.sock")
out=$("$BUILD/control/syctl" fleet "${FLEET[@]}" 2>&1)
rc=$?
[ $rc -eq 0 ] && grep -q "^web .*same on 3 hosts" <<<"$out" && grep -q "^web6 .*same on 3 hosts" <<<"$out" &&
	sy_pass "syctl fleet: the 3 hosts agree (exit 0)" || sy_fail "syctl fleet on agreeing hosts: exit $rc: $out"
# one host's operator adds a backend there only: its web table differs
ctl c add web 198.18.0.99:80 >/dev/null || sy_fail "syctl add on c"
sy_wait 10 bash -c "[ \"\$('$BUILD/control/syctl' --socket '$W/c.sock' --json services | grep -c '\"backends\": 11')\" -ge 1 ]"
out=$("$BUILD/control/syctl" fleet "${FLEET[@]}" 2>&1)
rc=$?
[ $rc -eq 1 ] && grep -q "^hosts whose tables differ: c\$" <<<"$out" && grep -q "^web .*DIFFERS" <<<"$out" &&
	grep -q "^web6 .*same on 3 hosts" <<<"$out" &&
	sy_pass "syctl fleet: c's web table differs, c named (exit 1)" || sy_fail "syctl fleet with c differing: exit $rc: $out"
json=$("$BUILD/control/syctl" --json fleet "${FLEET[@]}")
[ "$(python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["differing_hosts"], j["agree"])' <<<"$json")" = "['c'] False" ] &&
	sy_pass "syctl --json fleet: differing_hosts [c]" || sy_fail "syctl --json fleet: $json"
# a host that cannot be asked is named, and the others still compared
ctl c remove web 198.18.0.99:80 >/dev/null
sy_wait 10 bash -c "'$BUILD/control/syctl' fleet a='$W/a.sock' b='$W/b.sock' c='$W/c.sock' >/dev/null"
out=$("$BUILD/control/syctl" fleet "${FLEET[@]}" d="$W/nobody.sock" 2>&1)
rc=$?
[ $rc -eq 3 ] && grep -q "^host d .*unreachable" <<<"$out" && grep -q "^web .*same on 3 hosts" <<<"$out" &&
	sy_pass "syctl fleet: an unreachable host named, the 3 others agree (exit 3)" ||
	sy_fail "syctl fleet with a host down: exit $rc: $out"
"$BUILD/control/syctl" fleet a="$W/a.sock" a="$W/b.sock" >/dev/null 2>&1
[ $? -eq 2 ] && sy_pass "syctl fleet: a host named twice is refused (exit 2)" || sy_fail "syctl fleet: duplicate host accepted"

[ $SY_FAILED -eq 0 ] && echo "RESULT: PASS" || echo "RESULT: FAIL"
exit $SY_FAILED
