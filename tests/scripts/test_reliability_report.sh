#!/bin/bash
# scripts/reliability_report.py writes the report into the build directory,
# never into the checkout (issue 12, Tests): from a fake meson testlog.json
# in a temporary build directory, run with scripts/test.sh's arguments but
# its default output:
#   - the report is FIRST_BUILD_DIR/reliability.md, with the test's row, and
#     the script names that path;
#   - the tracked docs/reliability.md is byte for byte what it was (and
#     restored if not, so that a failing run leaves the checkout clean too);
#   - the report's header says that docs/reliability.md is a copy committed
#     with a release and how to regenerate it.
# Before the fix (default --out docs/reliability.md, relative to the source):
#   FAIL: docs/reliability.md was rewritten by the report (restored)
#   FAIL: no report in /tmp/sy-rel-XXXX/build/reliability.md
#
# usage: test_reliability_report.sh SOURCE_DIR
set -u
SRC=$(realpath "$1")
failed=0
pass() { echo "PASS: $*"; }
fail() {
	echo "FAIL: $*"
	failed=$((failed + 1))
}
W=$(mktemp -d /tmp/sy-rel-XXXXXX)
tracked=$SRC/docs/reliability.md
cp -p "$tracked" "$W/tracked.orig"
cleanup() {
	if ! cmp -s "$tracked" "$W/tracked.orig"; then
		cp -p "$W/tracked.orig" "$tracked"
		echo "(restored $tracked)"
	fi
	rm -rf "$W"
}
trap cleanup EXIT

for b in build build-asan; do
	mkdir -p "$W/$b/meson-logs"
	python3 - "$W/$b/meson-logs/testlog.json" <<'EOF'
import json, sys
rows = [{"name": "probe", "result": "OK", "duration": 1.5,
         "stdout": "RELIABILITY|probe_row|a fault|a load|PASS|figure 42\n", "stderr": ""},
        {"name": "quiet", "result": "OK", "duration": 0.2, "stdout": "", "stderr": ""}]
with open(sys.argv[1], "w") as f:
    for r in rows:
        f.write(json.dumps(r) + "\n")
EOF
done
echo "fuzz fuzz_probe ok: 1000 execs" >"$W/fuzz.log"
echo "RELIABILITY|churn_probe|churn|load|PASS|exit 0" >"$W/churn.log"

# from another directory than the source, as meson runs tests
(cd "$W" && python3 "$SRC/scripts/reliability_report.py" --fuzz "$W/fuzz.log" \
	--log "control_churn_long:asan:$W/churn.log" "$W/build" "$W/build-asan") >"$W/out" 2>&1
rc=$?
[ $rc -eq 0 ] || fail "reliability_report.py: exit $rc: $(cat "$W/out")"

if cmp -s "$tracked" "$W/tracked.orig"; then
	pass "docs/reliability.md untouched"
else
	fail "docs/reliability.md was rewritten by the report (restored)"
fi
report=$W/build/reliability.md
if [ -f "$report" ]; then
	grep -q '^| probe_row | probe | release | a fault | a load | PASS | figure 42 |$' "$report" &&
		grep -q '^| probe_row | probe | asan |' "$report" && grep -q '| churn_probe | control_churn_long | asan |' "$report" &&
		grep -q '^| fuzz_probe |' "$report" && grep -q '^| quiet | release | OK |' "$report" &&
		pass "report in $report: the rows of both builds, the churn log, the fuzzing, the silent test" ||
		{ fail "report rows"; cat "$report"; }
	grep -q 'copy of one such report, committed when its content changes meaningfully' "$report" &&
		grep -q 'cp build/reliability.md docs/reliability.md' "$report" &&
		pass "header: docs/reliability.md is a release's copy, and how to regenerate it" ||
		fail "report header does not say what docs/reliability.md is: $(sed -n 3p "$report")"
else
	fail "no report in $report"
fi
grep -qF "reliability report: $report:" "$W/out" && pass "the script names the report's path" ||
	fail "the script's output does not name $report: $(cat "$W/out")"
# the committed copy says the same of itself
grep -q 'cp build/reliability.md docs/reliability.md' "$tracked" &&
	pass "docs/reliability.md says it is a copy and how to regenerate it" ||
	fail "docs/reliability.md does not say it is a copy (and how to regenerate it)"

echo "test_reliability_report: $failed failed"
[ $failed -eq 0 ]
