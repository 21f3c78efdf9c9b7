# A throw-away systemd to run the package's units and maintainer scripts
# under, for tests on a machine whose PID 1 is not systemd (this one's is a
# VM's init: `systemctl` says "System has not been booted with systemd").
#
# systemd-nspawn boots this machine's own root file system, seen through an
# overlay whose upper layer is a tmpfs, in a mount namespace of its own
# (unshare), with a private network (loopback only) and --unit=basic.target
# (no enabled service of the host starts). Whatever the container writes
# (dpkg's database, /etc, /usr, /run, /dev/shm) lives in that tmpfs and
# vanishes with it; the host is never touched. The host's policy-rc.d (a
# Docker-style `exit 101`, if any) is removed in the container, so that
# deb-systemd-invoke acts as on a real host.
#
#   ct_boot WORKDIR [BIND_RO_DIR]  boot; BIND_RO_DIR is visible as /mnt/host
#                                  in the container. Sets CT_PID, CT_NSPAWN,
#                                  and CT_EARLY (the answers it waited
#                                  through, e.g. "offline x12"); call ct_halt
#                                  also when it fails (trap).
#                                  CT_HOLD_INIT=SECONDS (tests): the
#                                  container's PID 1 sleeps that long before
#                                  it execs systemd (a shell script put in
#                                  place of /usr/lib/systemd/systemd in the
#                                  overlay), so that systemd is not yet
#                                  running when ct_boot first asks.
#   ct CMD...                      run CMD in the container (all namespaces)
#   ct_init_of NSPAWN_PID          print the host PID of the init below that
#                                  systemd-nspawn, or fail (none yet, or gone)
#   ct_halt                        clean halt (SIGTERM to nspawn), bounded
#
# Needs root and systemd-nspawn (package systemd-container;
# scripts/install-deps.sh test installs it).

CT_PID=
CT_NSPAWN=
CT_EARLY=

# The container's init: the child of systemd-nspawn whose PID in its own
# namespace is 1.
ct_init_of() {
	local p
	for p in $(ps -o pid= --ppid "$1" 2>/dev/null); do
		if [ "$(awk '/^NSpid:/ { print $NF }' /proc/"$p"/status 2>/dev/null)" = 1 ]; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

ct_boot() {
	local work=$1 bind=${2:-} i
	command -v systemd-nspawn >/dev/null ||
		{ echo "systemd-nspawn missing (apt install systemd-container; scripts/install-deps.sh test)"; return 1; }
	mkdir -p "$work/ct"
	# shellcheck disable=SC2016 # expanded by the inner shell
	unshare --mount --propagation private bash -c '
		set -e
		w=$1 bind=$2 hold=$3
		mount -t tmpfs -o size=4g,mode=0755 sy-ct "$w/ct"
		mkdir "$w/ct/upper" "$w/ct/work" "$w/ct/root"
		mount -t overlay sy-ct -o lowerdir=/,upperdir="$w/ct/upper",workdir="$w/ct/work" "$w/ct/root"
		rm -f "$w/ct/root/usr/sbin/policy-rc.d"
		if [ -n "$hold" ]; then
			# nspawn -b runs /usr/lib/systemd/systemd first: make it a
			# script that waits, then execs the real one as the same PID 1
			s=$w/ct/root/usr/lib/systemd
			mv "$s/systemd" "$s/systemd.held"
			printf "#!/bin/sh\nsleep %s\nexec /usr/lib/systemd/systemd.held \"\$@\"\n" "$hold" >"$s/systemd"
			chmod 755 "$s/systemd"
		fi
		exec systemd-nspawn -D "$w/ct/root" --register=no --keep-unit --private-network \
			-M "sy-pkgtest-$$" --console=passive --bind-ro=/sys/module ${bind:+--bind-ro="$bind:/mnt/host"} \
			-b -- --unit=basic.target' _ "$work" "$bind" "${CT_HOLD_INIT:-}" >"$work/ct.log" 2>&1 &
	CT_NSPAWN=$!
	for i in $(seq 100); do
		CT_PID=$(ct_init_of "$CT_NSPAWN") && break
		kill -0 "$CT_NSPAWN" 2>/dev/null || break
		sleep 0.1
	done
	if [ -z "$CT_PID" ]; then
		echo "the container did not start:"
		cat "$work/ct.log"
		return 1
	fi
	# booted: its manager answers, basic.target reached, no job left.
	# Before that, systemctl's answers are not the boot's result: while
	# nspawn's child has not yet exec'd systemd (and a moment after) it says
	# "offline" (the child's /proc/1/root is not yet the root we entered),
	# then "Failed to connect to bus" until the manager's socket exists.
	local state offline=0 noconn=0
	for i in $(seq 300); do
		state=$(nsenter -t "$CT_PID" -a systemctl is-system-running 2>&1)
		case $state in
		offline) offline=$((offline + 1)) ;;
		*"Failed to connect"*) noconn=$((noconn + 1)) ;;
		*) break ;;
		esac
		sleep 0.1
	done
	CT_EARLY="offline x$offline, no bus x$noconn"
	state=$(timeout 60 nsenter -t "$CT_PID" -a systemctl is-system-running --wait 2>&1)
	case $state in
	running | degraded) return 0 ;;
	*)
		echo "the container's systemd did not finish booting: '$state'" \
			"(its init runs $(readlink /proc/"$CT_PID"/exe 2>/dev/null || echo '(gone)'))"
		cat "$work/ct.log"
		return 1
		;;
	esac
}

ct() { nsenter -t "$CT_PID" -a "$@"; }

ct_halt() {
	[ -n "$CT_NSPAWN" ] || return 0
	kill -TERM "$CT_NSPAWN" 2>/dev/null # nspawn halts the container's systemd
	for _ in $(seq 300); do
		kill -0 "$CT_NSPAWN" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$CT_NSPAWN" 2>/dev/null; then
		# not halted in 30 s: end its init (nspawn still waits for it, so the
		# PID is still the init's; every process of its PID namespace goes
		# with it), then nspawn
		echo "the container did not halt in 30 s: killing it"
		[ -n "$CT_PID" ] && kill -9 "$CT_PID" 2>/dev/null
		sleep 1
		kill -9 "$CT_NSPAWN" 2>/dev/null
	fi
	wait "$CT_NSPAWN" 2>/dev/null
	CT_NSPAWN=
	CT_PID=
}
