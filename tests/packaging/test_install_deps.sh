#!/bin/bash
# scripts/install-deps.sh keeps a gateway host free of test servers (issue
# 12, point 15):
#   - its groups are split: runtime has no compiler, header package or test
#     server; the test group has the servers the tests run themselves
#     (etcd, ZooKeeper, Prometheus); an unknown or missing group is a usage
#     error (exit 2), never "install everything";
#   - after `install-deps.sh test` no unit of etcd-server, zookeeper,
#     prometheus or bird2 is enabled (systemctl is-enabled reads the unit files, so it
#     answers without a running systemd), none has SysV start links, none is
#     active where systemd runs, and nothing listens on their default ports
#     (2379, 2380, 2181, 9090). The tests' own servers use free ports of
#     their own (etcd_lib.sh, zk_lib.sh, test_prometheus.sh).
#   - the bgp group (bird2 alone, for scripts/demo-fleet.sh) keeps BIRD's
#     service off as well: a bird.service enabled by hand is disabled again
#     by `install-deps.sh bgp`.
# (That runtime equals the .deb's Depends and Recommends is checked by
# test_deb.sh, which builds the package.)
#
# Before the split, on this machine (old script, every argument ignored):
#   FAIL: install-deps.sh --list test: exit 0, no etcd-server in it
#   FAIL: etcd.service is enabled after install-deps.sh test
#   FAIL: prometheus.service is enabled after install-deps.sh test
#
# Needs root (install-deps.sh disables units). usage: test_install_deps.sh SOURCE_DIR
set -u
SRC=$(realpath "$1")
DEPS=$SRC/scripts/install-deps.sh
failed=0
pass() { echo "PASS: $*"; }
fail() {
	echo "FAIL: $*"
	failed=$((failed + 1))
}
[ "$(id -u)" -eq 0 ] || { echo "FAIL: needs root (install-deps.sh disables units)"; exit 1; }

# ---- the groups ---------------------------------------------------------------
declare -A G
for g in runtime build demo bgp test; do
	G[$g]=$("$DEPS" --list $g 2>&1)
	rc=$?
	[ $rc -eq 0 ] && [ -n "${G[$g]}" ] || fail "install-deps.sh --list $g: exit $rc, '${G[$g]}'"
done
servers=(etcd-server etcd-client zookeeper zookeeper-bin prometheus bird2)
for p in "${servers[@]}" python3-scapy; do
	grep -qxF "$p" <<<"${G[test]}" || fail "install-deps.sh --list test: exit 0, no $p in it"
	for g in runtime build demo; do
		grep -qxF "$p" <<<"${G[$g]}" && fail "test-only package $p is in group $g"
	done
done
[ "${G[bgp]}" = bird2 ] && pass "bgp group: bird2" || fail "bgp group: '${G[bgp]}'"
bad=$(grep -E -- '-dev$|^(build-essential|clang|llvm|gcc|meson|ninja-build|debhelper)$' <<<"${G[runtime]}" | tr '\n' ' ')
[ -z "$bad" ] && [ -n "${G[runtime]}" ] && pass "runtime group: no compiler, header package or test server ($(wc -l <<<"${G[runtime]}") packages)" ||
	fail "runtime group has build packages: $bad"
for args in "" "nosuchgroup" "runtime nosuchgroup"; do
	# shellcheck disable=SC2086 # word splitting wanted
	out=$("$DEPS" $args 2>&1)
	rc=$?
	[ $rc -eq 2 ] && grep -q usage <<<"$out" && pass "install-deps.sh ${args:-(no group)}: usage, exit 2" ||
		fail "install-deps.sh ${args:-(no group)}: exit $rc (want 2, usage): $out"
done

# ---- the test group's servers are not system services ----------------------------
out=$("$DEPS" test 2>&1)
rc=$?
[ $rc -eq 0 ] && pass "install-deps.sh test: exit 0" || fail "install-deps.sh test: exit $rc: $out"
units=()
sysv=()
for p in etcd-server zookeeper prometheus bird2; do
	dpkg-query -W -f='${Status}' $p 2>/dev/null | grep -q 'install ok installed' ||
		{ fail "$p not installed after install-deps.sh test"; continue; }
	mapfile -t -O ${#units[@]} units < <(dpkg-query -L $p |
		sed -nE 's@^(/usr)?/lib/systemd/system/([^/]+\.(service|socket|timer))$@\2@p')
	mapfile -t -O ${#sysv[@]} sysv < <(dpkg-query -L $p | sed -nE 's@^/etc/init\.d/([^/]+)$@\1@p')
done
[ ${#units[@]} -gt 0 ] || fail "no systemd unit found in etcd-server/prometheus (dpkg-query -L)"
for u in "${units[@]}"; do
	state=$(systemctl is-enabled "$u" 2>&1)
	case $state in
	disabled | static | masked | indirect) pass "$u: $state" ;;
	*) fail "$u is $state after install-deps.sh test" ;;
	esac
	if [ -d /run/systemd/system ]; then
		systemctl --quiet is-active "$u" && fail "$u is active after install-deps.sh test"
	fi
done
for s in "${sysv[@]}"; do
	links=$(ls /etc/rc[2-5].d/S[0-9][0-9]"$s" 2>/dev/null | tr '\n' ' ')
	[ -z "$links" ] && pass "/etc/init.d/$s: no start links" || fail "/etc/init.d/$s starts at boot: $links"
done
listening=$(ss -Hltn '( sport = :2379 or sport = :2380 or sport = :2181 or sport = :9090 )' 2>&1)
[ -z "$listening" ] && pass "nothing listens on 2379, 2380, 2181, 9090" ||
	fail "listening on a test server's default port: $listening"

# ---- the bgp group keeps BIRD's service off too -----------------------------------
bird_units=$(dpkg-query -L bird2 | sed -nE 's@^(/usr)?/lib/systemd/system/([^/]+\.service)$@\2@p' | head -1)
if [ -n "$bird_units" ]; then
	trap 'systemctl disable --quiet "$bird_units" 2>/dev/null' EXIT
	systemctl enable --quiet "$bird_units" 2>/dev/null
	out=$("$DEPS" bgp 2>&1)
	rc=$?
	state=$(systemctl is-enabled "$bird_units" 2>&1)
	[ $rc -eq 0 ] && [ "$state" = disabled ] && pass "install-deps.sh bgp: exit 0, $bird_units $state again" ||
		fail "install-deps.sh bgp: exit $rc, $bird_units $state: $out"
else
	fail "no systemd unit in bird2 (dpkg-query -L)"
fi

echo "test_install_deps: $failed failed"
[ $failed -eq 0 ]
