#!/bin/bash
# Installs the Debian 12 packages Switchyard needs, by group, so that a
# gateway host gets what runs the load balancer and nothing that only tests
# it. Idempotent: installs only what is missing.
#
#   install-deps.sh GROUP...      as root; GROUP: runtime build demo bgp test
#   install-deps.sh --list GROUP  prints the group's packages, one a line
#
#   runtime  what sy-control, sy-dataplane, syctl and sy-decap need on a
#            gateway host: the libraries they link and the DPDK plugins and
#            drivers they load, i.e. the .deb's Depends and Recommends (the
#            packaging_deb test checks that they match)
#   build    compilers, headers, meson; debhelper for the .deb
#   demo     the tools scripts/demo.sh drives its namespaces with
#   bgp      BIRD 2, for scripts/demo-fleet.sh, which runs its own BIRD
#            daemons in its namespaces: the system service is left disabled
#            and stopped, as the test group's servers
#   test     everything the test suite, fuzzing and benchmarks use, including
#            the servers the tests start themselves on loopback (etcd,
#            ZooKeeper, Prometheus) or in their namespaces (BIRD). Their
#            packages' system services are never left
#            enabled or running: starts are refused during the install
#            (policy-rc.d) and the units are disabled and stopped afterwards,
#            on every run. Do not install this group on a host that runs
#            etcd or Prometheus as a service on purpose.
#
# README: a gateway host building from source needs "runtime build";
# scripts/demo.sh installs "runtime build demo", scripts/demo-fleet.sh adds
# "bgp", scripts/test.sh installs "runtime build demo test".
set -euo pipefail

RUNTIME=(
	# ${shlibs:Depends} of the package (dpkg-shlibdeps of the four programs)
	libbpf1 libc6 libcap2 libcurl4 libjansson4 libjemalloc2 libmicrohttpd12 libssl3
	libyaml-0-2 libzookeeper-mt2 libmnl0
	librte-bus-vdev23 librte-eal23 librte-ethdev23 librte-kvargs23 librte-mbuf23
	librte-mempool23 librte-pdump23 librte-telemetry23
	# plugins the dataplane loads at run time (debian/control Depends)
	librte-mempool-ring23 librte-net-tap23
	dpdk # NIC drivers, dpdk-devbind.py (Recommends)
	# Not here: bird2, the BGP daemon that announces the VIPs (bgp.daemon:
	# bird). It is optional on a gateway host (the package Suggests it; FRR
	# or no BGP at all are fine): apt-get install bird2 where you want it.
)
BUILD=(
	build-essential pkg-config meson ninja-build python3
	dpdk-dev libdpdk-dev
	libbpf-dev bpftool clang llvm libxdp-dev xdp-tools
	libjemalloc-dev libcmocka-dev
	libcurl4-openssl-dev libssl-dev libjansson-dev libyaml-dev libmicrohttpd-dev
	libcap-dev libzookeeper-mt-dev
	libmnl-dev # sy-dataplane sets its exception TAP's addresses over rtnetlink
	debhelper dpkg-dev fakeroot # the .deb (debian/)
)
DEMO=(iproute2 curl ethtool python3 procps)
BGP=(bird2)
TEST=(
	"${DEMO[@]}"
	libclang-rt-14-dev # libFuzzer and the sanitizer runtimes for clang (scripts/fuzz.sh)
	python3-scapy iputils-ping linux-perf openssl
	# the benchmarks: perf/bench_dataplane.sh --pktgen builds Pktgen-DPDK 23.03
	# from a checkout (Debian has no package) with Lua scripting, pcap, NUMA
	liblua5.3-dev libpcap-dev libnuma-dev
	valgrind # perf/dataplane_callgrind.sh and perf/README.md's instruction counts
	gdb # test_capture.sh: holds a worker inside pdump's copy while a capture ends
	strace # test_health_checks.sh: holds sy-control's connect() calls past a check's timeout
	# tests/bpf/test_bpf_on_kernel.sh: the BPF tests in a QEMU guest booted
	# from Debian 12's own kernel (its package fetched, never installed)
	qemu-system-x86 busybox-static
	man-db systemd # tests/packaging: man -l, systemd-analyze verify
	systemd-container # tests/packaging: systemd-nspawn boots a throw-away systemd for the units
	# servers the tests run themselves on loopback ports of their own
	etcd-server etcd-client
	zookeeper zookeeper-bin # server jars and cli_mt (tests run the server; never zookeeperd)
	prometheus              # promtool, and the server test_prometheus.sh starts
	bird2                   # BGP: test_bgp_live.sh runs its own bird daemons (router and LB)
)
# The packages of TEST whose system services must stay disabled and stopped.
TEST_SERVERS=(etcd-server zookeeper prometheus bird2)

group() { # NAME: the group's packages, one a line
	case "$1" in
	runtime) printf '%s\n' "${RUNTIME[@]}" ;;
	build) printf '%s\n' "${BUILD[@]}" ;;
	demo) printf '%s\n' "${DEMO[@]}" ;;
	bgp) printf '%s\n' "${BGP[@]}" ;;
	test) printf '%s\n' "${TEST[@]}" ;;
	*) return 1 ;;
	esac
}
usage() {
	echo "usage: $0 GROUP...   (as root; GROUP: runtime build demo bgp test)" >&2
	echo "       $0 --list GROUP" >&2
	echo "  a gateway host: runtime (add build to build from source); the demo: runtime build demo;" >&2
	echo "  the fleet demo: runtime build demo bgp; the tests (scripts/test.sh): runtime build demo test" >&2
	exit 2
}

if [ "${1:-}" = --list ]; then
	[ $# -eq 2 ] && group "$2" || usage
	exit 0
fi
[ $# -ge 1 ] || usage
want=()
server_group=0
for g in "$@"; do
	mapfile -t pk < <(group "$g") || true
	[ ${#pk[@]} -gt 0 ] || usage
	want+=("${pk[@]}")
	# the test servers' services (bird2's with the bgp group): kept off
	[ "$g" = test ] || [ "$g" = bgp ] && server_group=1
done

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
missing=()
for p in $(printf '%s\n' "${want[@]}" | sort -u); do
	installed "$p" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ] || [ $server_group -eq 1 ]; then
	[ "$(id -u)" -eq 0 ] || {
		echo "install-deps: need root${missing[*]:+ to install: ${missing[*]}}" >&2
		exit 1
	}
fi

if [ ${#missing[@]} -gt 0 ]; then
	echo "install-deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	# Packages such as etcd-server and prometheus start their service from
	# postinst: refuse every start while installing (policy-rc.d exit 101,
	# invoke-rc.d(8)), unless the host has a policy of its own.
	policy=/usr/sbin/policy-rc.d
	ours=0
	if [ $server_group -eq 1 ] && [ ! -e $policy ]; then
		printf '#!/bin/sh\n# scripts/install-deps.sh: no service starts while it installs\nexit 101\n' >$policy
		chmod 755 $policy
		ours=1
		trap 'rm -f "$policy"' EXIT
	fi
	apt-get update -q
	# the runtime group as `apt install switchyard.deb` would: with
	# Recommends (dpdk's are the NIC drivers); the others without
	rt=()
	other=()
	for p in "${missing[@]}"; do
		grep -qxF "$p" < <(group runtime) && rt+=("$p") || other+=("$p")
	done
	[ ${#rt[@]} -eq 0 ] || apt-get install -y -q "${rt[@]}"
	[ ${#other[@]} -eq 0 ] || apt-get install -y -q --no-install-recommends "${other[@]}"
	if [ $ours -eq 1 ]; then
		rm -f $policy
		trap - EXIT
	fi
fi

# The test servers' own services: disabled (systemctl works on unit files
# without a running systemd, and keeps the SysV links in step) and, where
# systemd runs, stopped. Checked by tests/packaging/test_install_deps.sh.
if [ $server_group -eq 1 ]; then
	units=()
	for p in "${TEST_SERVERS[@]}"; do
		mapfile -t -O ${#units[@]} units < <(dpkg-query -L "$p" 2>/dev/null |
			sed -nE 's@^(/usr)?/lib/systemd/system/([^/]+\.(service|socket|timer))$@\2@p')
	done
	for u in "${units[@]}"; do
		if [ "$(systemctl is-enabled "$u" 2>/dev/null)" = enabled ]; then
			echo "install-deps: disabling $u (test-only server: the tests start their own)"
			systemctl disable --quiet "$u"
		fi
		if [ -d /run/systemd/system ] && systemctl --quiet is-active "$u"; then
			echo "install-deps: stopping $u"
			systemctl stop "$u"
		fi
	done
fi
