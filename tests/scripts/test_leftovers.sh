#!/bin/bash
# scripts/leftovers.sh, which scripts/test.sh lists before and after a run
# (anything new fails the run): it must list what the tests leave (a
# /tmp/sy* path, a server started with its data under /tmp/sy*) and not the
# host's own servers (an etcd or a java whose command line names no /tmp/sy
# path), which a CI host may start during a run. Stand-ins: copies of bash
# named etcd and java, so that ps shows those names. About 1 s.
set -u
root=$1
failed=0
# not under /tmp/sy*: the host's "own" servers must not name such a path
D=$(mktemp -d /tmp/leftovers-test.XXXXXX)
T=$(mktemp -d /tmp/sy-leftovers-XXXXXX)
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null; wait; rm -rf "$D" "$T"' EXIT
cp /bin/bash "$D/etcd"
cp /bin/bash "$D/java"
# a loop, not a lone `sleep 30` (bash would exec it in its place, and a
# killed stand-in would leave it holding the test's output): bounded 30 s
S='for i in $(seq 150); do sleep 0.2; done'
"$D/java" -c "$S" zk -cp /usr/share/java/zookeeper.jar "$T/zoo.cfg" &
ours_java=$!
"$D/etcd" -c "$S" etcd --data-dir "$T/m0" &
ours_etcd=$!
"$D/etcd" -c "$S" etcd --data-dir /var/lib/etcd/default &
host_etcd=$!
"$D/java" -c "$S" app -jar /opt/app/service.jar &
host_java=$!
PIDS=($ours_java $ours_etcd $host_etcd $host_java)
sleep 0.3 # each is bash under its name by now
list=$(bash "$root/scripts/leftovers.sh")

want() { # WHAT LINE: LINE listed
	if grep -qxF "$2" <<<"$list"; then
		echo "ok: $1 listed ($2)"
	else
		echo "FAIL: $1 not listed (want '$2'); the list:"; echo "$list" | sed 's/^/   /'
		failed=1
	fi
}
unwanted() { # WHAT PATTERN: no line matches
	if grep -qE "$2" <<<"$list"; then
		echo "FAIL: $1 listed: $(grep -E "$2" <<<"$list")"
		failed=1
	else
		echo "ok: $1 not listed"
	fi
}
want "a test's temp directory" "tmp $T"
want "a test's ZooKeeper" "proc $ours_java java"
want "a test's etcd" "proc $ours_etcd etcd"
unwanted "the host's etcd" "^proc $host_etcd "
unwanted "the host's java service" "^proc $host_java "
unwanted "the stand-ins' directory" "leftovers-test"
[ $failed -eq 0 ] && echo "RESULT: PASS" || echo "RESULT: FAIL"
exit $failed
