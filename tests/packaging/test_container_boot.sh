#!/bin/bash
# systemd_container.sh's ct_boot returns only once the container's systemd has
# booted, even when asked before the container's PID 1 runs systemd. In that
# window `systemctl is-system-running` answers "offline"; ct_boot once took
# that for the boot's result and failed (CI of stop 25: packaging_deb, "did
# not finish booting: 'offline'").
#
# The real window (nspawn's child before its exec of systemd) lasts a few
# milliseconds here. This test once tried to catch it with a watcher that
# polled for the child and SIGSTOPped it, and on a fast CI host the watcher
# missed it in all of its 5 boots (CI of stop 31). Now the window is held
# open on purpose: CT_HOLD_INIT=3 makes the container's PID 1 a script that
# sleeps 3 s before it execs systemd. ct_boot must then wait through the
# "offline" answers (it reports how many in CT_EARLY; at least one proves it
# asked inside the window), report the container running, and a command must
# run in it; ct_halt must halt it within its bound.
#
# Needs root and systemd-nspawn (scripts/install-deps.sh test). About 4 s.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/systemd_container.sh"

failed=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }

[ "$(id -u)" = 0 ] || { echo "FAIL: needs root"; echo "test_container_boot: 1 failed"; exit 1; }

W=$(mktemp -d /tmp/sy-ctboot-XXXXXX)
cleanup() {
	ct_halt
	rm -rf "$W"
}
trap cleanup EXIT

t0=$SECONDS
if CT_HOLD_INIT=3 ct_boot "$W"; then
	pass "ct_boot returned once the container booted ($((SECONDS - t0)) s; it waited through: $CT_EARLY)"
	case $CT_EARLY in
	"offline x0"*) fail "ct_boot never asked while PID 1 was held ($CT_EARLY): the test did not test it" ;;
	*) pass "ct_boot asked while PID 1 was held, and waited ($CT_EARLY)" ;;
	esac
	state=$(ct systemctl is-system-running 2>&1)
	case $state in
	running | degraded) pass "the container's systemd answers: $state" ;;
	*) fail "the container's systemd answers '$state'" ;;
	esac
	exe=$(readlink /proc/"$CT_PID"/exe 2>/dev/null)
	[ "${exe##*/}" = systemd.held ] && pass "the container's PID 1 is systemd, exec'd by the holding script ($exe)" ||
		fail "the container's PID 1 runs '${exe:-?}', not the held systemd"
	out=$(ct cat /etc/os-release 2>&1 | grep -c '^ID=')
	[ "$out" = 1 ] && pass "a command runs in the container" || fail "a command in the container: $out"
	ct_halt >"$W/halt" 2>&1
	grep -q killing "$W/halt" && fail "ct_halt had to kill the container: $(cat "$W/halt")" ||
		pass "ct_halt halted it cleanly"
else
	fail "ct_boot failed while the container's PID 1 was held 3 s before systemd (it waited through: $CT_EARLY)"
fi

echo "test_container_boot: $failed failed"
[ $failed -eq 0 ]
