#!/bin/bash
# The BPF programs on Debian 12's own kernel (6.1), not only on this
# machine's: the verifier of each kernel decides whether a program loads,
# and a gateway host running Debian 12 runs its 6.1 kernel. The BPF tests
# (BPF_PROG_TEST_RUN: the packet corpus through the XDP balancer, the
# cross-path test, conntrack, ICMP, decap, ...) run inside a QEMU guest
# (software emulation: no KVM here) booted from the kernel of Debian's
# linux-image-amd64 package, fetched from Debian's mirror into a cache
# outside the tree, with an initramfs of busybox and the test binaries.
# Then xdp_live (kernel_guest_xdp.sh): sy-control attaches the balancer
# to a veth in the guest and answers a lookup from its maps; segments sent
# into the veth come back encapsulated to that backend, and sy-decap gives
# them back intact; both detach.
#
# usage: test_bpf_on_kernel.sh BUILD_DIR [TEST-NAME ...]
#   TEST-NAME: meson test names, or xdp_live; by default every test of
#   BUILD_DIR whose program is a binary of tests/bpf (the BPF_PROG_TEST_RUN
#   tests: bpf_*, not the live ones, which need namespaces and a network),
#   and xdp_live. Commands and arguments come from `meson introspect
#   --tests`; the guest gets every file they name at its own path, with the
#   libraries the binaries load.
# env: SY_KERNEL_PKG (default: what linux-image-amd64 depends on, 6.1 on
#      Debian 12), SY_KERNEL_CACHE (default /var/cache/switchyard/kernels)
# Needs (scripts/install-deps.sh test): qemu-system-x86, busybox-static.
set -u
BUILD=$(realpath "$1")
shift
CACHE=${SY_KERNEL_CACHE:-/var/cache/switchyard/kernels}
WORK=$(mktemp -d /tmp/sykernel.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

for p in qemu-system-x86_64 busybox apt-get dpkg-deb; do
	command -v $p >/dev/null || fail "$p not installed (scripts/install-deps.sh test)"
done
[ "$(id -u)" = 0 ] || fail "needs root (apt-get download into $CACHE)"

# ---- the kernel: Debian 12's, from its package ------------------------------
kernel_pkg() {
	apt-cache depends linux-image-amd64 2>/dev/null |
		awk '/Depends: linux-image-[0-9]/ { print $2; exit }'
}
PKG=${SY_KERNEL_PKG:-$(kernel_pkg)}
if [ -z "$PKG" ]; then # no package lists yet
	apt-get update -q >"$WORK/update.log" 2>&1 || fail "apt-get update: $(tail -2 "$WORK/update.log")"
	PKG=$(kernel_pkg)
fi
[ -n "$PKG" ] || fail "apt-cache knows no linux-image-amd64"
# the kernel and its veth module (xdp_live below)
VMLINUZ=$CACHE/$PKG/vmlinuz
VETH=$CACHE/$PKG/veth.ko
if [ ! -s "$VMLINUZ" ] || [ ! -s "$VETH" ]; then
	mkdir -p "$CACHE/$PKG" || fail "cannot create $CACHE/$PKG"
	(cd "$WORK" && apt-get download -q "$PKG" >"$WORK/download.log" 2>&1) ||
		fail "apt-get download $PKG: $(tail -2 "$WORK/download.log")"
	dpkg-deb --fsys-tarfile "$WORK"/"$PKG"_*.deb | tar -x -C "$WORK" --wildcards \
		'./boot/vmlinuz-*' './lib/modules/*/kernel/drivers/net/veth.ko' || fail "no vmlinuz or veth.ko in $PKG"
	mv "$WORK"/lib/modules/*/kernel/drivers/net/veth.ko "$VETH.tmp" && mv "$VETH.tmp" "$VETH" &&
		mv "$WORK"/boot/vmlinuz-* "$VMLINUZ.tmp" && mv "$VMLINUZ.tmp" "$VMLINUZ" || fail "$CACHE/$PKG"
	rm -rf "$WORK"/"$PKG"_*.deb "$WORK/lib" "$WORK/boot"
fi
echo "kernel: $PKG ($VMLINUZ)"

# ---- the initramfs: busybox, the tests and what they read -------------------
ROOT=$WORK/root
mkdir -p "$ROOT"/{bin,proc,sys,tmp,dev,etc} && chmod 1777 "$ROOT/tmp"
cp "$(command -v busybox)" "$ROOT/bin/busybox"
# copy FILE: at its own path in the guest, with the libraries it loads
copy() {
	local f
	mkdir -p "$ROOT$(dirname "$1")" && cp -L "$1" "$ROOT$1" || return 1
	[ -x "$1" ] || return 0
	for f in $(ldd "$1" 2>/dev/null | grep -o '/[^ ]*'); do
		[ -e "$ROOT$f" ] || { mkdir -p "$ROOT$(dirname "$f")" && cp -L "$f" "$ROOT$f"; } || return 1
	done
}
INTRO=$(meson introspect "$BUILD" --tests) || fail "meson introspect $BUILD"
# xdp_live (kernel_guest_xdp.sh): asked for by name, or by default
XDP_LIVE=0
ARGS=()
for a in "$@"; do
	[ "$a" = xdp_live ] && XDP_LIVE=1 || ARGS+=("$a")
done
[ $# -gt 0 ] || XDP_LIVE=1
# name command...: the tests asked for, or tests/bpf's binaries
python3 -c '
import json, shlex, sys
build, want = sys.argv[1], sys.argv[2:]
tests = {t["name"]: t["cmd"] for t in json.load(sys.stdin)}
for w in want:
    if w not in tests:
        sys.exit("no test %s in %s" % (w, build))
for name, cmd in tests.items():
    if name in want or (not want and cmd[0].startswith(build + "/tests/bpf/")):
        print(name, shlex.join(cmd))' "$BUILD" "${ARGS[@]}" <<<"$INTRO" >"$ROOT/tests" ||
	fail "the tests to run"
[ $# -gt 0 ] && [ ${#ARGS[@]} -eq 0 ] && : >"$ROOT/tests" # xdp_live alone
while read -r t cmd; do
	[ -x "${cmd%% *}" ] || fail "$t: ${cmd%% *} is not built"
	for f in $cmd; do
		[ -e "$f" ] && { copy "$f" || fail "copying $f"; }
	done
done <"$ROOT/tests"
if [ $XDP_LIVE = 1 ]; then
	IP=$(command -v ip) || fail "no ip (iproute2)"
	for f in "$BUILD/control/sy-control" "$BUILD/control/syctl" "$BUILD/bpf/sy-decap" \
		"$BUILD/tests/bpf/frame_exchange" "$IP"; do
		[ -x "$f" ] || fail "no $f (xdp_live)"
		copy "$f" || fail "copying $f"
	done
	cp "$(dirname "$(realpath "$0")")/kernel_guest_xdp.sh" "$ROOT/xdp_live.sh" &&
		cp "$VETH" "$ROOT/veth.ko" || fail "xdp_live's files"
	echo "xdp_live /bin/sh /xdp_live.sh $BUILD $IP" >>"$ROOT/tests"
fi
mapfile -t TESTS < <(cut -d' ' -f1 "$ROOT/tests")
[ ${#TESTS[@]} -gt 0 ] || fail "no BPF test in $BUILD"
cat >"$ROOT/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t bpf bpf /sys/fs/bpf
mount -t devtmpfs dev /dev
# /tmp: the initramfs is writable already, and BUILD may be under /tmp
mkdir -p /dev/shm && mount -t tmpfs shm /dev/shm
echo; echo "SYKT kernel $(uname -r) cpus $(nproc)"
while read -r name cmd; do
	t0=$(cut -d. -f1 /proc/uptime)
	echo "SYKT start $name"
	$cmd
	echo "SYKT end $name rc=$? s=$(($(cut -d. -f1 /proc/uptime) - t0))"
done </tests
echo "SYKT done"
poweroff -f
INIT
chmod +x "$ROOT/init"
(cd "$ROOT" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1 >"$WORK/initrd.gz") ||
	fail "initramfs"

# ---- boot it ------------------------------------------------------------------
# Two CPUs (the per-CPU tests need two), software emulation; not niced:
# in scripts/test.sh the release tree's tests are the longer of the two
# trees (at nice 10 beside the ASan tree's this took 244 s, alone 106 s).
# rcu_expedited: every map-in-map update and map free waits for an RCU
# grace period, which an emulated guest's idle CPUs stretch to seconds (the
# tests took 20 min without it, 2 with it). The guest powers off after the
# last test; 20 min is a hang guard.
T0=$SECONDS
timeout 1200 qemu-system-x86_64 -machine q35 -cpu max -smp 2 -m 2048 -nographic -no-reboot \
	-kernel "$VMLINUZ" -initrd "$WORK/initrd.gz" \
	-append "console=ttyS0 rdinit=/init panic=-1 quiet loglevel=3 rcupdate.rcu_expedited=1" >"$WORK/console.log" 2>&1
rc=$?
tr -d '\r' <"$WORK/console.log" >"$WORK/guest.log"
echo "guest ran $((SECONDS - T0)) s (qemu exit $rc)"
grep -q '^SYKT kernel' "$WORK/guest.log" || { tail -30 "$WORK/guest.log"; fail "the guest did not start the tests"; }
KVER=$(sed -n 's/^SYKT kernel \([^ ]*\).*/\1/p' "$WORK/guest.log")
grep '^SYKT kernel' "$WORK/guest.log"
failed=0
for t in "${TESTS[@]}"; do
	r=$(sed -n "s/^SYKT end $t rc=\([0-9]*\).*/\1/p" "$WORK/guest.log")
	# a scenario's own lines (xdp_live), indented
	sed -n "/^SYKT start $t\$/,/^SYKT end $t /s/^\(PASS\|FAIL\): /  &/p" "$WORK/guest.log"
	if [ "$r" = 0 ]; then
		echo "PASS: $t on $KVER ($(sed -n "s/^SYKT end $t rc=0 s=//p" "$WORK/guest.log") s)"
	else
		failed=1
		echo "FAIL: $t on $KVER (${r:-no end: the guest stopped in it})"
		sed -n "/^SYKT start $t\$/,/^SYKT end $t /p" "$WORK/guest.log" | tail -40
	fi
done
grep -q '^SYKT done' "$WORK/guest.log" || { failed=1; echo "FAIL: the guest did not finish"; }
exit $failed
