#!/bin/bash
# scripts/isolated.sh COMMAND [ARG...]: runs COMMAND (as root) in a network
# namespace and a mount namespace of its own, so that the integration tests
# it starts can run beside another tree's: scripts/test.sh runs the ASan
# tree's tests this way while the release tree's run on the host.
#
# What the tests share on a host, and what each gets here instead:
# - loopback and its fixed ports (ZooKeeper, etcd, the API on 127.0.0.1):
#   a loopback of its own (the network namespace, lo up);
# - the named namespaces of `ip netns` (/run/netns: the tests name theirs
#   after the test, the same in both trees): an empty /run/netns;
# - DPDK's runtime directories (/run/dpdk/<file prefix>, the tests' prefixes
#   are fixed too), POSIX shared memory (/dev/shm), BPF pins (/sys/fs/bpf)
#   and hugepage files (/dev/hugepages, when hugetlbfs is mounted there):
#   fresh, empty mounts of each.
# The rest is the host's: /tmp (the tests use mktemp), the hugepage pool and
# the CPUs. Everything mounted here goes when COMMAND's last process exits.
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 COMMAND [ARG...]" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "$0: needs root (network and mount namespaces)" >&2; exit 1; }
command -v unshare >/dev/null || { echo "$0: unshare (util-linux) not found" >&2; exit 1; }

mkdir -p /run/netns /run/dpdk /dev/shm
huge=0
[ "$(stat -f -c %T /dev/hugepages 2>/dev/null)" = hugetlbfs ] && huge=1
bpf=0
[ -d /sys/fs/bpf ] && bpf=1

exec unshare --net --mount --propagation private -- bash -c '
	set -e
	huge=$1 bpf=$2
	shift 2
	ip link set lo up
	mount -t tmpfs -o mode=0755 sy-isolated-netns /run/netns
	mount -t tmpfs -o mode=0755 sy-isolated-dpdk /run/dpdk
	mount -t tmpfs -o mode=1777 sy-isolated-shm /dev/shm
	[ "$bpf" = 0 ] || mount -t bpf sy-isolated-bpf /sys/fs/bpf
	[ "$huge" = 0 ] || mount -t hugetlbfs sy-isolated-huge /dev/hugepages
	exec "$@"' isolated "$huge" "$bpf" "$@"
