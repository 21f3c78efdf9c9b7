#!/bin/bash
# systemd_container.sh's ct_boot returns only once the container's systemd has
# booted, even when asked while its init is still nspawn's child, before the
# exec of systemd. In that window `systemctl is-system-running` answers
# "offline"; ct_boot once took that for the boot's result and failed (CI of
# stop 25: packaging_deb, "did not finish booting: 'offline'").
#
# The window is a few milliseconds here, so this test holds it open: a
# watcher stops the container's init (SIGSTOP) while it still runs
# systemd-nspawn's code and lets it go on 2 s later. ct_boot must then wait,
# report the container running, and a command must run in it; ct_halt must
# halt it within its bound.
#
# Needs root and systemd-nspawn (scripts/install-deps.sh test). About 5 s.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/systemd_container.sh"

failed=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }

[ "$(id -u)" = 0 ] || { echo "FAIL: needs root"; echo "test_container_boot: 1 failed"; exit 1; }

W=$(mktemp -d /tmp/sy-ctboot-XXXXXX)
WATCH=
cleanup() {
	[ -n "$WATCH" ] && kill "$WATCH" 2>/dev/null
	ct_halt
	rm -rf "$W"
}
trap cleanup EXIT

# The watcher: find the init (ct_init_of) of a systemd-nspawn started by this
# shell's ct_boot (its cmdline names our work directory) whose executable is
# still systemd-nspawn; stop it, wait, continue it. It writes what it did to
# $W/watch.
watch_init() {
	local deadline=$((SECONDS + 20)) p pp exe
	while [ $SECONDS -lt $deadline ]; do
		for p in $(pgrep -f -- "-D $W/ct/root"); do
			pp=$(ct_init_of "$p") || continue
			exe=$(readlink /proc/"$pp"/exe 2>/dev/null)
			if [ "${exe##*/}" = systemd-nspawn ] && kill -STOP "$pp" 2>/dev/null; then
				echo "stopped $pp before its exec" >"$W/watch"
				sleep 2
				kill -CONT "$pp"
			else
				echo "missed: $pp already runs ${exe:-?}" >"$W/watch"
			fi
			return
		done
	done
	echo "no init seen in 20 s" >"$W/watch"
}

# The watcher can miss the window (the init may exec before it looks): try
# up to 5 boots until one is caught.
caught=
for attempt in 1 2 3 4 5; do
	rm -f "$W/watch"
	watch_init &
	WATCH=$!
	t0=$SECONDS
	if ct_boot "$W"; then booted=yes; else booted=no; fi
	wait "$WATCH"
	WATCH=
	what=$(cat "$W/watch" 2>/dev/null)
	case $what in
	stopped*)
		caught=yes
		if [ $booted = yes ]; then
			pass "ct_boot waited through the pre-exec window ($what; booted after $((SECONDS - t0)) s)"
		else
			fail "ct_boot gave up while the init was held before its exec ($what)"
		fi
		break
		;;
	*)
		echo "attempt $attempt: the watcher did not catch the init ($what); again"
		ct_halt
		;;
	esac
done
[ -n "$caught" ] || fail "the watcher never caught the container's init before its exec (5 attempts)"

if [ "$booted" = yes ]; then
	state=$(ct systemctl is-system-running 2>&1)
	case $state in
	running | degraded) pass "the container's systemd answers: $state" ;;
	*) fail "the container's systemd answers '$state'" ;;
	esac
	out=$(ct cat /etc/os-release 2>&1 | grep -c '^ID=')
	[ "$out" = 1 ] && pass "a command runs in the container" || fail "a command in the container: $out"
	ct_halt >"$W/halt" 2>&1
	grep -q killing "$W/halt" && fail "ct_halt had to kill the container: $(cat "$W/halt")" ||
		pass "ct_halt halted it cleanly"
fi

echo "test_container_boot: $failed failed"
[ $failed -eq 0 ]
