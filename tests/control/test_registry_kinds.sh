#!/bin/bash
# Issue 16: adding a registry kind touches at most four files (its line in
# control/registry/registry_kinds.h, its follower, its agent and
# control/registry/meson.build; docs/control.md, "Adding a registry
# kind"). That holds while no other code names a kind: this test reads
# the kinds from the list and fails on any line of control/, resolve/ or
# include/ outside a kind's own files that names one by its enum
# (SY_SOURCE_<ID>, SY_SRC_<ID>, SY_REGISTRY_<ID>, SY_REGISTRY_FOLDER_<ID>),
# its follower's ops (sy_<name>_follow_ops) or its agent
# (syctl_register_<name>), comments
# aside. The resolver's fields of the two first kinds (etcd_endpoints,
# zk_servers: kept for older callers) are the one allowed exception.
#
# usage: test_registry_kinds.sh SOURCE_ROOT
set -u
ROOT=$1
cd "$ROOT" || exit 1
LIST=control/registry/registry_kinds.h
fail=0
pass=0
# "X(ETCD, etcd, ..." lines of the list
mapfile -t kinds < <(sed -n 's/^[[:space:]]*X(\([A-Z0-9_]*\), \([a-z0-9_]*\),.*/\1 \2/p' "$LIST")
if [ "${#kinds[@]}" -lt 2 ]; then
	echo "FAIL: found ${#kinds[@]} kinds in $LIST (the X(ID, name, ...) lines moved?)"
	echo "RESULT: FAIL"
	exit 1
fi
for k in "${kinds[@]}"; do
	id=${k% *}
	name=${k#* }
	pattern="SY_(SOURCE|SRC|REGISTRY|REGISTRY_FOLDER)_${id}\\b|sy_${name}_follow_ops\\b|syctl_register_${name}\\b"
	# a kind's own files: its follower and protocol (control/registry/<kind>_*),
	# its agent (control/cli/syctl_register_<kind>.c); <kind> is the name or
	# its short form (zk for zookeeper)
	short=$name
	[ "$name" = zookeeper ] && short=zk
	hits=$(grep -rnE "$pattern" control resolve include --include='*.c' --include='*.h' |
		grep -vE "^control/registry/(${name}|${short})_[a-z_]*\.[ch]:|^control/cli/syctl_register_(${name}|${short})\.c:|^${LIST}:" |
		grep -vE '^[^:]*:[0-9]+:[[:space:]]*(/\*|\*)' | # comment lines
		grep -vE '/\*[^*]*(SY_|sy_|syctl_)[^*]*\*/' |    # names inside a comment
		grep -vE '^resolve/source_follow\.c:[0-9]+:.*g->ops = &sy_(etcd|zookeeper)_follow_ops;')
	if [ -n "$hits" ]; then
		echo "FAIL: kind $name is named outside its own files:"
		echo "$hits" | sed 's/^/  /'
		fail=$((fail + 1))
	else
		echo "PASS: kind $name ($id) named only in its own files and the list"
		pass=$((pass + 1))
	fi
done
# the list is what the build takes: every kind has its follower and agent
for k in "${kinds[@]}"; do
	name=${k#* }
	if grep -rqE "const struct sy_follow_ops sy_${name}_follow_ops\\b" control/registry &&
		grep -rqE "^int syctl_register_${name}\\(" control/cli; then
		echo "PASS: kind $name has its follower's ops and its agent"
		pass=$((pass + 1))
	else
		echo "FAIL: kind $name lacks sy_${name}_follow_ops or syctl_register_${name}()"
		fail=$((fail + 1))
	fi
done
echo "$pass passed, $fail failed"
[ "$fail" = 0 ] && echo "RESULT: PASS" || { echo "RESULT: FAIL"; exit 1; }
