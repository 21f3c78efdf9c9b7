#!/bin/bash
# The Debian package, built and installed for real: copies the source tree
# (the working tree's files that git knows or would add: tracked ones plus
# untracked, non-ignored ones, so uncommitted work is what gets packaged,
# and never build outputs) to a temporary directory, runs
# `dpkg-buildpackage -us -uc -b` there, installs the .deb on this machine
# with dpkg -i and checks what it installed:
#   - every path of `dpkg -L switchyard` exists, owned by root, with sane
#     modes (programs 0755, other files 0644, directories 0755);
#   - the programs answer --version (the package's version, which is the
#     meson project's) and --help; syctl --version;
#   - the man pages render without warnings; the syctl completion sources
#     cleanly in bash and completes commands, options and, from a running
#     sy-control, service names;
#   - the example configuration passes the installed sy-control's --check;
#   - systemd-analyze verify accepts the installed units and drop-ins;
#   - the installed sy-control runs (a throw-away instance) and syctl
#     talks to it;
# then purges the package (trap), leaving the machine as it was found
# (the switchyard group the package creates is removed if it was not there);
# then, in a throw-away systemd container (systemd_container.sh), what the
# maintainer scripts do to the units: install, start, upgrade to repacked
# packages of higher versions (units running, then stopped), removal (the
# section "the units under systemd" below says what is asserted).
# Needs root, dpkg-buildpackage, debhelper and the build dependencies of
# debian/control (scripts/install-deps.sh installs them).
#
# usage: test_deb.sh SOURCE_DIR PROJECT_VERSION
set -u
SRC=$(realpath "$1")
VERSION=$2
HERE=$(dirname "$(realpath "$0")")
. "$HERE/systemd_container.sh"
PKG=switchyard
failed=0
pass() { echo "PASS: $*"; }
fail() {
	echo "FAIL: $*"
	failed=$((failed + 1))
}
die() {
	echo "FAIL: $*"
	exit 1
}

[ "$(id -u)" -eq 0 ] || die "needs root (dpkg -i)"
for t in dpkg-buildpackage dh dpkg-checkbuilddeps git; do
	command -v $t >/dev/null || die "$t missing (scripts/install-deps.sh installs it)"
done
# never touch an installation this test did not make
if dpkg-query -W -f='${Status}' $PKG 2>/dev/null | grep -q 'installed'; then
	die "package $PKG is already installed here; not replacing it (dpkg --purge $PKG first)"
fi
for f in /usr/sbin/sy-control /usr/sbin/sy-dataplane /usr/bin/syctl /etc/switchyard \
	/lib/systemd/system/sy-control.service; do
	[ -e "$f" ] && die "$f exists outside of any package: not overwriting it"
done

W=$(mktemp -d /tmp/sy-deb-XXXXXX)
group_existed=0
getent group switchyard >/dev/null && group_existed=1
installed=0
ctl_pid=
cleanup() {
	ct_halt
	[ -n "$ctl_pid" ] && kill "$ctl_pid" 2>/dev/null && wait "$ctl_pid" 2>/dev/null
	if [ $installed -eq 1 ]; then
		dpkg --purge $PKG >"$W/purge.log" 2>&1 || { echo "FAIL: dpkg --purge $PKG"; cat "$W/purge.log"; }
		[ $group_existed -eq 0 ] && getent group switchyard >/dev/null && groupdel switchyard
	fi
	rm -f /dev/shm/switchyard-pkgtest-$$
	rm -rf "$W"
}
trap cleanup EXIT

# ---- build ------------------------------------------------------------------
mkdir "$W/$PKG"
(cd "$SRC" && git ls-files -z --cached --others --exclude-standard |
	while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done) >"$W/copied"
tar -C "$SRC" --null -T "$W/copied" -cf - | tar -xf - -C "$W/$PKG" || die "copying the source tree"
[ -f "$W/$PKG/debian/rules" ] || die "no debian/rules in the copied tree"
deb_version=$(cd "$W/$PKG" && dpkg-parsechangelog -S Version)
[ "$deb_version" = "$VERSION" ] && pass "debian/changelog version $deb_version = meson project version" ||
	fail "debian/changelog says $deb_version, meson.build's project() $VERSION"

start=$(date +%s)
if (cd "$W/$PKG" && DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)" \
	dpkg-buildpackage -us -uc -b) >"$W/build.log" 2>&1; then
	pass "dpkg-buildpackage -us -uc -b ($(($(date +%s) - start)) s)"
else
	tail -n 60 "$W/build.log"
	die "dpkg-buildpackage failed after $(($(date +%s) - start)) s (log above)"
fi
if grep -E 'warning:' "$W/build.log" | grep -v '^dpkg-\|^dh_' >"$W/warnings"; [ -s "$W/warnings" ]; then
	fail "compiler warnings in the package build:"
	head -n 20 "$W/warnings"
else
	pass "no compiler warnings in the package build"
fi
deb=$(ls "$W"/${PKG}_"$VERSION"_*.deb 2>/dev/null | head -n1)
[ -n "$deb" ] || die "no ${PKG}_${VERSION}_*.deb built"
# what the build left in the tree (debian/.debhelper, obj-*, ...) must be
# ignored by git, so that a build in a checkout never shows up in git status
(cd "$W/$PKG" && find . -mindepth 1 \( -type d -printf '%P/\n' -o -printf '%P\n' \) | LC_ALL=C sort) >"$W/after"
tr '\0' '\n' <"$W/copied" | LC_ALL=C sort >"$W/before"
# (the paths not in the source, in one awk pass: a grep and an awk per path
# of the tree took 10 s): a path under a build output directory already
# found is that output's; a path the source has, or a directory of the
# source (some file of it below), is not an output
awk '
	NR == FNR {
		before[$0] = 1
		n = split($0, part, "/")
		pre = ""
		for (i = 1; i < n; i++) { pre = pre part[i] "/"; srcdir[pre] = 1 }
		next
	}
	top != "" && index($0, top) == 1 { next }
	$0 in before { next }
	/\/$/ && ($0 in srcdir) { next }
	/\/$/ { top = $0 }
	{ print }' "$W/before" "$W/after" >"$W/outputs"
unignored=()
n_out=0
while IFS= read -r p; do
	n_out=$((n_out + 1))
	git -C "$SRC" check-ignore -q "$p" || unignored+=("$p")
done <"$W/outputs"
[ ${#unignored[@]} -eq 0 ] && pass "git ignores all $n_out build outputs left in the tree (obj-*, debian/.debhelper, ...)" ||
	fail "build outputs .gitignore does not cover: ${unignored[*]}"

# Depends: the libraries the programs link (${shlibs:Depends}) and the DPDK
# plugins the dataplane loads at run time
depends=$(dpkg-deb -f "$deb" Depends)
lack=()
for d in libbpf1 librte-eal librte-ethdev libcurl4 libjansson4 libyaml-0-2 libmicrohttpd12 \
	libzookeeper-mt2 libjemalloc2 libcap2 libssl3 librte-mempool-ring librte-net-tap; do
	[[ ", $depends" == *", $d"* ]] || lack+=("$d")
done
[ ${#lack[@]} -eq 0 ] && pass "Depends has the linked libraries and DPDK's ring mempool and TAP plugins" ||
	fail "Depends lacks ${lack[*]}: $depends"
# BIRD (announcing the VIPs, bgp.daemon: bird) is optional on a gateway host:
# suggested, never pulled in
suggests=$(dpkg-deb -f "$deb" Suggests)
[[ ", $suggests" == *", bird2"* ]] && [[ "$depends, $(dpkg-deb -f "$deb" Recommends)" != *bird2* ]] &&
	pass "bird2 is suggested, not a dependency: $suggests" ||
	fail "bird2 should be in Suggests only: Suggests '$suggests', Depends '$depends'"
# scripts/install-deps.sh runtime (a gateway host running a source build)
# installs exactly what the package pulls in: its Depends and Recommends
pkg_names() { tr ',|' '\n\n' | sed -E 's/\(.*\)//; s/:any$//; s/^ +//; s/ +$//' | grep -v '^$' | LC_ALL=C sort -u; }
{ echo "$depends"; dpkg-deb -f "$deb" Recommends; } | pkg_names >"$W/pkg-deps"
"$SRC/scripts/install-deps.sh" --list runtime | LC_ALL=C sort -u >"$W/runtime-group"
if diff -u "$W/pkg-deps" "$W/runtime-group" >"$W/runtime.diff"; then
	pass "install-deps.sh runtime = the package's Depends + Recommends ($(wc -l <"$W/pkg-deps") packages)"
else
	fail "install-deps.sh runtime differs from the package's Depends + Recommends (- package, + group):"
	tail -n +3 "$W/runtime.diff"
fi

# ---- install ----------------------------------------------------------------
if dpkg -i "$deb" >"$W/install.log" 2>&1; then
	installed=1
	pass "dpkg -i $(basename "$deb")"
else
	installed=1 # half-installed: purge it
	cat "$W/install.log"
	die "dpkg -i failed"
fi

# every installed path: present, root's, sane modes
dpkg -L $PKG >"$W/dpkg-L"
n=0
bad=0
while IFS= read -r p; do
	[ "$p" = "/." ] && continue
	n=$((n + 1))
	if [ ! -e "$p" ]; then
		fail "$p listed by dpkg -L but missing"
		bad=1
		continue
	fi
	mode=$(stat -L -c %a "$p") # -L: /lib is a symlink on merged-/usr systems
	owner=$(stat -L -c %U:%G "$p")
	want=644
	if [ -d "$p" ]; then
		want=755
	elif [[ $p == */sbin/* || $p == */bin/* ]]; then
		want=755
	fi
	if [ "$owner" != root:root ] || [ "$mode" != "$want" ]; then
		fail "$p: $owner mode $mode, want root:root $want"
		bad=1
	fi
done <"$W/dpkg-L"
[ $bad -eq 0 ] && pass "all $n paths of dpkg -L $PKG exist, root:root, 0755 programs/directories, 0644 files"

expect_files=(
	/usr/sbin/sy-control /usr/sbin/sy-dataplane /usr/sbin/sy-decap /usr/bin/syctl
	/lib/systemd/system/sy-control.service /lib/systemd/system/sy-dataplane.service
	/lib/systemd/system/sy-dataplane.service.d/cores.conf
	/lib/systemd/system/sy-dataplane.service.d/hugepages.conf
	/etc/default/sy-dataplane /etc/default/sy-control
	/etc/switchyard/switchyard.yaml.example /usr/lib/sysusers.d/switchyard.conf
	/usr/share/man/man8/sy-control.8.gz /usr/share/man/man8/sy-dataplane.8.gz
	/usr/share/man/man8/syctl.8.gz /usr/share/man/man8/sy-decap.8.gz
	/usr/share/bash-completion/completions/syctl
	/usr/share/doc/switchyard/install.md /usr/share/doc/switchyard/control.md
	/usr/share/doc/switchyard/dataplane.md /usr/share/doc/switchyard/copyright
	/usr/share/doc/switchyard/operator-guide.md /usr/share/doc/switchyard/troubleshooting.md
	/usr/share/doc/switchyard/config-reference.md /usr/share/doc/switchyard/architecture.md
	/usr/share/switchyard/grafana/switchyard.json
	/usr/share/switchyard/bird/bird.conf.example
	/usr/share/man/man3/switchyard-resolve.3.gz /usr/share/doc/switchyard/client-side.md
	/usr/include/switchyard/resolve.h
	"/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)/libswitchyard-resolve.so.1"
	"/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)/pkgconfig/switchyard-resolve.pc"
)
missing=()
for f in "${expect_files[@]}"; do
	grep -qxF "$f" "$W/dpkg-L" || missing+=("$f")
done
[ ${#missing[@]} -eq 0 ] && pass "the package has the programs, units, drop-ins, defaults, example, man pages, completion, docs, libswitchyard-resolve" ||
	fail "not in the package: ${missing[*]}"
extra=$(grep -E '/(s?bin)/' "$W/dpkg-L" | grep -vxE '/usr/sbin/sy-(control|dataplane|decap)|/usr/bin/syctl')
[ -z "$extra" ] && pass "no test or benchmark programs installed" || fail "unexpected programs: $extra"
conffiles=$(dpkg-query -W -f='${Conffiles}' $PKG)
for f in /etc/default/sy-dataplane /etc/default/sy-control /etc/switchyard/switchyard.yaml.example; do
	grep -q " $f " <<<"$conffiles " || fail "$f is not a conffile"
done
pass "files in /etc are conffiles"
getent group switchyard >/dev/null && pass "postinst created the switchyard group" ||
	fail "no switchyard group after install"

# ---- programs ---------------------------------------------------------------
for p in sy-control sy-dataplane sy-decap syctl; do
	out=$($p --version 2>&1)
	rc=$?
	[ $rc -eq 0 ] && [ "$out" = "$p $VERSION" ] && pass "$p --version: $out" ||
		fail "$p --version: exit $rc, '$out' (want '$p $VERSION')"
	$p --help >"$W/help" 2>"$W/help.err"
	rc=$?
	if [ $rc -eq 0 ] && grep -q "usage: $p" "$W/help"; then
		pass "$p --help (exit 0, usage on stdout)"
	else
		fail "$p --help: exit $rc"
		head -n 5 "$W/help" "$W/help.err"
	fi
done
out=$(syctl version)
[ "$out" = "syctl $VERSION" ] && pass "syctl version: $out" || fail "syctl version: '$out'"
ldd /usr/sbin/sy-dataplane /usr/sbin/sy-control /usr/sbin/sy-decap /usr/bin/syctl | grep -q 'not found' &&
	fail "unresolved shared libraries: $(ldd /usr/sbin/* /usr/bin/syctl 2>/dev/null | grep 'not found' | sort -u)" ||
	pass "every shared library of the programs resolves"

# ---- man pages --------------------------------------------------------------
for p in sy-control.8 sy-dataplane.8 syctl.8 sy-decap.8 switchyard-resolve.3; do
	page=/usr/share/man/man${p##*.}/$p.gz
	p=${p%.*}
	if MANWIDTH=80 LC_ALL=C.UTF-8 man --warnings -l "$page" >"$W/man" 2>"$W/man.err" &&
		[ ! -s "$W/man.err" ] && grep -q "^NAME" "$W/man" && grep -q "$p" "$W/man" &&
		! grep -q '@[a-zA-Z]*@' "$W/man"; then
		pass "man $p: $(wc -l <"$W/man") lines, no warnings"
	else
		fail "man -l $page"
		head -n 5 "$W/man.err"
	fi
	[ "$(man -w "$p" 2>/dev/null)" = "$page" ] || fail "man -w $p does not find $page"
done

# ---- bash completion ----------------------------------------------------------
comp=/usr/share/bash-completion/completions/syctl
# complete WORDS...: what _syctl offers for the last word
complete_words() {
	bash --norc --noprofile -c '
		set -u
		source "$1" || exit 9
		shift
		COMP_WORDS=("$@")
		COMP_CWORD=$(($# - 1))
		_syctl
		[ ${#COMPREPLY[@]} -eq 0 ] || printf "%s\n" "${COMPREPLY[@]}"' _ "$comp" "$@" 2>&1
}
out=$(bash --norc --noprofile -c 'source "$1" && complete -p syctl' _ "$comp" 2>&1)
[ "$out" = "complete -F _syctl syctl" ] && pass "completion sources cleanly: $out" ||
	fail "sourcing $comp: $out"
out=$(complete_words syctl st | tr '\n' ' ')
[ "$out" = "status stats " ] && pass "completion: 'syctl st' -> $out" || fail "completion of 'syctl st': '$out'"
out=$(complete_words syctl --js | tr '\n' ' ')
[ "$out" = "--json " ] && pass "completion: 'syctl --js' -> $out" || fail "completion of 'syctl --js': '$out'"
out=$(complete_words syctl register --ke | tr '\n' ' ')
[ "$out" = "--key-file " ] && pass "completion: 'syctl register --ke' -> $out" ||
	fail "completion of 'syctl register --ke': '$out'"
out=$(complete_words syctl import-ipvs --nat-as "" | tr '\n' ' ')
[ "$out" = "ipip gue l2dsr " ] && pass "completion: 'syctl import-ipvs --nat-as' -> $out" ||
	fail "completion of import-ipvs --nat-as: '$out'"
out=$(complete_words syctl lookup web 198.51.100.1:1 198.18.1.1:80 "" | tr '\n' ' ')
[ "$out" = "tcp udp " ] && pass "completion: lookup's protocol -> $out" || fail "completion of lookup's protocol: '$out'"
out=$(complete_words syctl --socket /nonexistent.sock backends "" | tr '\n' ' ')
[ -z "$out" ] && pass "completion: no socket, no service names, no error" ||
	fail "completion without a socket: '$out'"

# ---- configuration ------------------------------------------------------------
# --check runs start-up's checks: without its key the example cannot start,
# and --check says so; after docs/install.md's key step it passes
out=$(sy-control --check --config /etc/switchyard/switchyard.yaml.example 2>&1)
[ $? -eq 2 ] && echo "$out" | grep -q "/etc/switchyard/web.key" &&
	pass "--check refuses the example until web.key exists: $out" ||
	fail "sy-control --check on the example without its key: $out"
keyline=$(grep -m1 -E '^\(umask 077 && .*> web\.key\)' "$SRC/docs/install.md")
if [ -e /etc/switchyard/web.key ]; then
	fail "/etc/switchyard/web.key exists already: not touching it"
elif (cd /etc/switchyard && eval "$keyline"); then
	out=$(sy-control --check --config /etc/switchyard/switchyard.yaml.example 2>&1)
	[ $? -eq 0 ] && pass "with install.md's key step, the example passes --check: $out" ||
		fail "sy-control --check on the example with its key: $out"
	rm -f /etc/switchyard/web.key
else
	fail "install.md's key step in /etc/switchyard: $keyline"
fi

# ---- units ----------------------------------------------------------------------
if command -v systemd-analyze >/dev/null; then
	for u in sy-control.service sy-dataplane.service; do
		if systemd-analyze verify "/lib/systemd/system/$u" >"$W/verify" 2>&1 && [ ! -s "$W/verify" ]; then
			pass "systemd-analyze verify $u: clean"
		else
			fail "systemd-analyze verify $u:"
			cat "$W/verify"
		fi
	done
	# the drop-ins are the unit's: its ExecStart gets SY_LCORES, its ExecStartPre reserves hugepages
	grep -q 'Environment=SY_LCORES=' /lib/systemd/system/sy-dataplane.service.d/cores.conf &&
		grep -q 'nr_hugepages' /lib/systemd/system/sy-dataplane.service.d/hugepages.conf &&
		grep -q '^ExecStart=/usr/sbin/sy-dataplane -l ${SY_LCORES} ' /lib/systemd/system/sy-dataplane.service &&
		grep -q '^ExecStart=/usr/sbin/sy-control --config /etc/switchyard/switchyard.yaml' /lib/systemd/system/sy-control.service &&
		pass "units run /usr/sbin programs; cores.conf sets SY_LCORES, hugepages.conf reserves pages" ||
		fail "unit contents (ExecStart paths, drop-in settings)"
	# nothing enabled or started by installing
	for u in sy-control sy-dataplane; do
		ls /etc/systemd/system/*.wants/$u.service >/dev/null 2>&1 && fail "$u.service was enabled by dpkg -i"
	done
	pass "installing enabled no unit"
else
	fail "systemd-analyze not found: units not verified (apt-get install systemd)"
fi

# ---- the installed programs at work ------------------------------------------------
cat >"$W/sw.yaml" <<EOF
instance: pkgtest-$$
api: { socket: $W/api.sock }
defaults: { encap_source4: 198.18.0.1, table_size: 251 }
services:
  - { name: web, vip: 198.18.1.1, port: 80, protocol: tcp, mode: ipip, source: static,
      next_hop_mac: 02:00:00:00:00:fe, backends: [ { address: 198.18.0.11 } ] }
  - { name: dns, vip: 198.18.1.2, port: 53, protocol: udp, mode: gue, source: static,
      next_hop_mac: 02:00:00:00:00:fe, backends: [ { address: 198.18.0.12 } ] }
EOF
sy-control --config "$W/sw.yaml" >"$W/ctl.log" 2>&1 &
ctl_pid=$!
for _ in $(seq 50); do
	[ -S "$W/api.sock" ] && break
	sleep 0.1
done
out=$(syctl --socket "$W/api.sock" status 2>&1)
if grep -q "^version *$VERSION" <<<"$out" && grep -q "instance *pkgtest-$$" <<<"$out"; then
	pass "installed sy-control runs; syctl status reports version $VERSION"
else
	fail "installed sy-control + syctl status: $out"
	cat "$W/ctl.log"
fi
out=$(complete_words syctl --socket "$W/api.sock" backends "" | sort | tr '\n' ' ')
[ "$out" = "dns web " ] && pass "completion: service names from the running sy-control -> $out" ||
	fail "completion of service names: '$out'"
out=$(complete_words syctl --socket "$W/api.sock" top w | tr '\n' ' ')
[ "$out" = "web " ] && pass "completion: 'syctl top w' -> $out" || fail "completion of 'syctl top w': '$out'"
kill "$ctl_pid"
wait "$ctl_pid"
rc=$?
ctl_pid=
[ $rc -eq 0 ] && pass "sy-control stopped cleanly on SIGTERM" || fail "sy-control exit $rc on SIGTERM"

# ---- removal ----------------------------------------------------------------
if dpkg --purge $PKG >"$W/purge.log" 2>&1; then
	installed=0
	[ $group_existed -eq 0 ] && groupdel switchyard
	left=$(ls -d /usr/sbin/sy-control /usr/bin/syctl /etc/switchyard /etc/default/sy-dataplane \
		/lib/systemd/system/sy-dataplane.service.d 2>/dev/null)
	[ -z "$left" ] && pass "dpkg --purge removed everything" || fail "left after purge: $left"
else
	fail "dpkg --purge $PKG"
	cat "$W/purge.log"
fi

# ---- the units under systemd: install, start, upgrade, removal ----------------
# This machine's PID 1 is not systemd, so the maintainer scripts' systemd
# parts ([ -d /run/systemd/system ]) would do nothing here: they run in a
# throw-away container booting this machine's own root with a real systemd
# (systemd_container.sh: an overlay on a tmpfs, private network, nothing of
# it stays). Two packages of higher versions are the upgrades: the built
# one repacked with another Version (dpkg-deb -R / -b). What an upgrade
# does to the units is the maintainer scripts' work, and those are the
# built package's (two more dpkg-buildpackage runs, 10 s each, made the
# same scripts). Asserted:
#   - dpkg -i enables and starts nothing;
#   - sy-control from the shipped example after docs/install.md's steps
#     (copy, key line run verbatim), sy-dataplane on a null port without
#     hugepages (/etc/default/sy-dataplane), both run under their units;
#   - upgrade 1, sy-control running and disabled, sy-dataplane running and
#     enabled: both are running again afterwards, restarted by the new
#     package (new MainPID, no crash loop), enablement unchanged;
#   - upgrade 2, both stopped, sy-dataplane still enabled: both stay
#     stopped, enablement unchanged;
#   - dpkg -r with both running stops them (no process left); --purge
#     removes sy-dataplane's enablement.
# Before (dh_installsystemd --no-enable --no-start: preinst stops on
# upgrade, postinst never starts, no prerm):
#   FAIL: upgrade 1: sy-control.service was active, now inactive
#   FAIL: upgrade 1: sy-dataplane.service was active, now inactive
#   PASS: upgrade 2 (both stopped): sy-control.service inactive and disabled as before
#   PASS: upgrade 2 (both stopped): sy-dataplane.service inactive and enabled as before
#   FAIL: dpkg -r left sy-control.service active (pids 234)
#   FAIL: dpkg -r left sy-dataplane.service active (pids 241)
# repack SUFFIX: the package as version $VERSION+SUFFIX into $W/debs/SUFFIX.deb
repack() {
	local v="$VERSION+$1" d="$W/repack-$1"
	if dpkg-deb -R "$deb" "$d" && sed -i "s/^Version: .*/Version: $v/" "$d/DEBIAN/control" &&
		dpkg-deb -Zgzip -z1 -b "$d" "$W/debs/$1.deb" >/dev/null &&
		[ "$(dpkg-deb -f "$W/debs/$1.deb" Version)" = "$v" ]; then
		pass "repacked as $v"
	else
		fail "repacking as $v"
		return 1
	fi
}
UNITS=(sy-control.service sy-dataplane.service)
# unit_state UNIT: "ActiveState UnitFileState MainPID" in the container
unit_state() {
	echo "$(ct systemctl is-active "$1") $(ct systemctl is-enabled "$1" 2>/dev/null) $(ct systemctl show -p MainPID --value "$1")"
}
# settled: every unit is active with the same MainPID over 1 s, or inactive
# (the units watched over the same second, not one second after the other:
# each is watched for as long as before, and the wait is half as long)
settled() {
	local u i a=() b=()
	for u in "${UNITS[@]}"; do a+=("$(unit_state "$u")"); done
	sleep 1
	for u in "${UNITS[@]}"; do b+=("$(unit_state "$u")"); done
	for i in "${!UNITS[@]}"; do
		[ "${a[$i]}" = "${b[$i]}" ] || return 1
		[[ ${a[$i]} == active* ]] || [[ ${a[$i]} == inactive* ]] || return 1
	done
}
wait_settled() { # within 30 s, as when a try took 2 s
	for _ in $(seq 30); do settled && return 0; done
	return 1
}
# upgrade NAME DEB: dpkg -i DEB; every unit in the state it was in before,
# a running one restarted (another MainPID)
upgrade() {
	local name=$1 deb=$2 u
	declare -A before
	for u in "${UNITS[@]}"; do before[$u]=$(unit_state "$u"); done
	if ! ct dpkg -i "/mnt/host/$deb" >"$W/$name.log" 2>&1; then
		fail "$name: dpkg -i $deb"
		cat "$W/$name.log"
		return
	fi
	wait_settled
	for u in "${UNITS[@]}"; do
		read -r a0 e0 p0 <<<"${before[$u]}"
		read -r a1 e1 p1 <<<"$(unit_state "$u")"
		if [ "$a1" != "$a0" ]; then
			fail "$name: $u was $a0, now $a1"
			ct journalctl -u "$u" -n 8 --no-pager
		elif [ "$e1" != "$e0" ]; then
			fail "$name: $u was $e0, now $e1"
		elif [ "$a1" = active ] && [ "$p1" = "$p0" ]; then
			fail "$name: $u still runs the old process $p0 (not restarted with the new package)"
		elif [ "$a1" = active ]; then
			pass "$name: $u active and $e1 as before, restarted (MainPID $p0 -> $p1)"
		else
			pass "$name: $u $a1 and $e1 as before"
		fi
	done
}

if dpkg-query -W -f='${Status}' $PKG 2>/dev/null | grep -q installed; then
	fail "the package is still installed here: the container would see it; no systemd checks"
elif mkdir -p "$W/debs" && cp "$deb" "$W/debs/v1.deb" && repack upgradetest1 && repack upgradetest2; then
	keycmd=$(grep -m1 -E '^\(umask 077 && .*> web\.key\)' "$SRC/docs/install.md")
	[ -n "$keycmd" ] || fail "no '(umask 077 && ... > web.key)' line in docs/install.md"
	if ct_boot "$W" "$W/debs"; then
		pass "a throw-away systemd booted ($(ct systemctl --version | head -n1))"
		out=$(ct dpkg -i /mnt/host/v1.deb 2>&1) || { fail "dpkg -i in the container"; echo "$out"; }
		for u in "${UNITS[@]}"; do
			st=$(unit_state "$u")
			[[ $st == "inactive disabled 0" ]] && pass "installed: $u inactive, disabled" ||
				fail "installed: $u is '$st' (want inactive, disabled)"
		done
		# first start as docs/install.md says; the dataplane on a null port
		ct sh -c "cd /etc/switchyard && cp switchyard.yaml.example switchyard.yaml && $keycmd" ||
			fail "docs/install.md's first steps in the container"
		ct sh -c 'printf "%s\n" "SY_EAL=\"--no-huge -m 256 --no-pci --vdev=net_null0 --file-prefix switchyard\"" \
			"SY_OPTS=\"--exception-tap off --ct-size 4096\"" SY_HUGEPAGES=0 >>/etc/default/sy-dataplane'
		ct systemctl start sy-control.service && ct systemctl enable --now sy-dataplane.service 2>/dev/null
		if wait_settled && [[ $(unit_state sy-control.service) == "active disabled "* ]] &&
			[[ $(unit_state sy-dataplane.service) == "active enabled "* ]] &&
			ct syctl status >"$W/status" 2>&1; then
			pass "sy-control (the shipped example) and sy-dataplane run under systemd; syctl status answers"
		else
			fail "starting the units: $(unit_state sy-control.service) / $(unit_state sy-dataplane.service)"
			ct journalctl -u sy-control -u sy-dataplane -n 20 --no-pager
		fi
		upgrade "upgrade 1 (both running)" upgradetest1.deb
		ct systemctl stop sy-control.service sy-dataplane.service
		upgrade "upgrade 2 (both stopped)" upgradetest2.deb
		ct systemctl start sy-control.service sy-dataplane.service
		wait_settled
		declare -A pids
		for u in "${UNITS[@]}"; do pids[$u]=$(ct systemctl show -p MainPID --value "$u"); done
		out=$(ct dpkg -r $PKG 2>&1) || { fail "dpkg -r in the container"; echo "$out"; }
		for u in "${UNITS[@]}"; do
			left=$(ct pgrep -x "${u%.service}" | xargs)
			st=$(ct systemctl is-active "$u")
			if [ "${pids[$u]}" = 0 ]; then
				fail "$u was not running before dpkg -r"
			elif [ "$st" = active ] || [ -n "$left" ]; then
				fail "dpkg -r left $u $st (pids ${left:-none})"
			else
				pass "dpkg -r stopped $u (was MainPID ${pids[$u]}; now $st, no process)"
			fi
		done
		ct dpkg --purge $PKG >/dev/null 2>&1 || fail "dpkg --purge in the container"
		ct test -e /etc/systemd/system/multi-user.target.wants/sy-dataplane.service &&
			fail "dpkg --purge left sy-dataplane's enablement" ||
			pass "dpkg --purge removed sy-dataplane's enablement"
	else
		fail "no systemd container"
	fi
	ct_halt
fi

echo "test_deb: $failed failed; build and checks took $(($(date +%s) - start)) s"
[ $failed -eq 0 ]
