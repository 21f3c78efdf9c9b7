#!/bin/bash
# Installs every Debian 12 package Switchyard needs to build, test and run.
# Idempotent: does nothing when all are present.
set -euo pipefail

PACKAGES=(
	build-essential pkg-config meson ninja-build python3
	dpdk dpdk-dev libdpdk-dev
	libbpf-dev bpftool clang llvm libxdp-dev xdp-tools
	libclang-rt-14-dev # libFuzzer and the sanitizer runtimes for clang (scripts/fuzz.sh)
	libjemalloc-dev libcmocka-dev
	libcurl4-openssl-dev libssl-dev libjansson-dev libyaml-dev libmicrohttpd-dev
	libcap-dev
	python3-scapy iproute2 iputils-ping ethtool curl linux-perf
	etcd-server etcd-client
	zookeeper zookeeper-bin libzookeeper-mt-dev # server jars (tests run it; not zookeeperd), cli_mt, C client
	prometheus # tests/integration/test_prometheus.sh runs its own server (never the system service)
	debhelper dpkg-dev fakeroot man-db systemd # the .deb (debian/, tests/packaging): build, man -l, systemd-analyze verify
)

missing=()
for p in "${PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: need root to install: ${missing[*]}" >&2
	exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
