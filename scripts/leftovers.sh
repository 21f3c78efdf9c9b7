#!/bin/bash
# scripts/leftovers.sh: what the tests may leave on the host, one line each,
# sorted: scripts/test.sh lists it before the tests and after them, and
# counts anything new as a failure (a test that leaks a namespace, a daemon
# or a temp directory on every run fills a CI host over weeks; before
# session 47 test_memif_logs left three /tmp/sy-python-* directories a run).
#   tmp  PATH   the tests' temp files and directories (/tmp/sy*)
#   shm  PATH   POSIX shared memory (regions: /dev/shm/sy*, /dev/shm/switchyard*)
#   huge PATH   hugepage files (/dev/hugepages/*: DPDK's, by file prefix)
#   netns NAME  named network namespaces (ip netns)
#   proc PID COMM  a process of ours, or of a server the tests start (etcd,
#                  bird, java for ZooKeeper: only one whose command line
#                  names a /tmp/sy* path, where the tests keep its data and
#                  configuration; the host's own servers are not ours)
# The ASan tree's tests run in namespaces of their own (scripts/isolated.sh):
# their /dev/shm, hugepage files and named namespaces go with them; their
# processes and /tmp are the host's and are listed here.
set -u
shopt -s nullglob
export LC_ALL=C
{
for p in /tmp/sy* /tmp/test_import_ipvs.*; do echo "tmp $p"; done
for p in /dev/shm/sy* /dev/shm/switchyard*; do echo "shm $p"; done
for p in /dev/hugepages/*; do echo "huge $p"; done
ip netns list 2>/dev/null | awk '{ print "netns " $1 }'
ps -eo pid=,comm=,args= |
	awk '$2 ~ /^(sy-|syctl|dpdk-testpmd)/ ||
	     ($2 ~ /^(etcd|bird|java)$/ && index($0, "/tmp/sy")) { print "proc " $1 " " $2 }'
} | sort
