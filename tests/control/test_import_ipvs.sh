#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# `syctl import-ipvs` against the samples in tests/control/ipvs/:
#   NAME.rules   ipvsadm -Sn output (or a hand-kept rules file)
#   NAME.args    the import-ipvs options for it (one line, may be empty)
#   NAME.yaml    the expected configuration (golden), byte for byte
#   NAME.stderr  the expected warnings (golden; empty when there are none)
#   bad/NAME.rules + bad/NAME.expect   malformed input: exit 1 and a message
#                "NAME.rules" + the .expect text (which starts with :LINE:)
# Every generated configuration is loaded by sy-control --check, the real
# loader. Usage errors exit 2; -o writes atomically and leaves nothing behind
# on failure.
#
# usage: test_import_ipvs.sh SYCTL SY_CONTROL SAMPLES_DIR
# UPDATE_GOLDEN=1 rewrites NAME.yaml and NAME.stderr from the current output.
set -u

SYCTL=${1:-}
SYCONTROL=${2:-}
SAMPLES=${3:-}
fails=0
passes=0

pass() { echo "PASS: $*"; passes=$((passes + 1)); }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

if [ ! -x "$SYCTL" ] || [ ! -x "$SYCONTROL" ] || [ ! -d "$SAMPLES" ]; then
	echo "FAIL: need SYCTL SY_CONTROL SAMPLES_DIR (got '$SYCTL' '$SYCONTROL' '$SAMPLES')"
	exit 1
fi
SAMPLES=$(cd "$SAMPLES" && pwd)
SYCTL=$(realpath "$SYCTL")
SYCONTROL=$(realpath "$SYCONTROL")
work=$(mktemp -d /tmp/test_import_ipvs.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$SAMPLES" || exit 1

# ---- golden samples ---------------------------------------------------------
n_good=0
for rules in *.rules; do
	name=${rules%.rules}
	n_good=$((n_good + 1))
	read -r -a args < "$name.args" || true
	"$SYCTL" import-ipvs "${args[@]}" "$rules" > "$work/$name.yaml" 2> "$work/$name.stderr"
	rc=$?
	if [ -n "${UPDATE_GOLDEN:-}" ] && [ $rc -eq 0 ]; then
		cp "$work/$name.yaml" "$name.yaml"
		cp "$work/$name.stderr" "$name.stderr"
	fi
	if [ $rc -ne 0 ]; then
		fail "$name: exit $rc: $(cat "$work/$name.stderr")"
		continue
	fi
	if diff -u "$name.yaml" "$work/$name.yaml" > "$work/$name.diff"; then
		pass "$name: output equals $name.yaml"
	else
		fail "$name: output differs from $name.yaml:"
		cat "$work/$name.diff"
	fi
	if diff -u "$name.stderr" "$work/$name.stderr" > "$work/$name.diff"; then
		pass "$name: warnings equal $name.stderr ($(wc -l < "$name.stderr") lines)"
	else
		fail "$name: warnings differ from $name.stderr:"
		cat "$work/$name.diff"
	fi
	# the same from standard input, with "-" and with no argument
	if "$SYCTL" import-ipvs "${args[@]}" - < "$rules" 2>/dev/null | cmp -s - "$work/$name.yaml" &&
	   "$SYCTL" import-ipvs "${args[@]}" < "$rules" 2>/dev/null | cmp -s - "$work/$name.yaml"; then
		pass "$name: standard input gives the same output"
	else
		fail "$name: standard input gives another output"
	fi
	# the real loader takes it, with as many services as the YAML lists
	want=$(grep -c '^  - name: ' "$work/$name.yaml")
	if out=$("$SYCONTROL" --check --config "$work/$name.yaml" 2>&1) &&
	   [[ "$out" == *"valid ($want services)"* ]]; then
		pass "$name: sy-control --check: $out"
	else
		fail "$name: sy-control --check (want $want services): $out"
	fi
done
[ "$n_good" -ge 5 ] && pass "$n_good golden samples" || fail "only $n_good golden samples"

# ---- malformed samples ------------------------------------------------------
n_bad=0
for rules in bad/*.rules; do
	name=${rules%.rules}
	n_bad=$((n_bad + 1))
	expect=$(head -n1 "$name.expect")
	"$SYCTL" import-ipvs --encap-source4 198.18.0.1 --encap-source6 2001:2::1 "$rules" \
		> "$work/bad.out" 2> "$work/bad.err"
	rc=$?
	err=$(cat "$work/bad.err")
	if [ $rc -eq 1 ] && [ ! -s "$work/bad.out" ] && [ "$(wc -l < "$work/bad.err")" -eq 1 ] &&
	   [[ "$err" == "syctl import-ipvs: $rules$expect"* ]]; then
		pass "$name: exit 1, $err"
	else
		fail "$name: exit $rc (want 1), stdout $(wc -c < "$work/bad.out") bytes, stderr: $err (want '$rules$expect')"
	fi
done
[ "$n_bad" -ge 10 ] && pass "$n_bad malformed samples" || fail "only $n_bad malformed samples"

# A service left out only because of a flag: without it, an error on its line.
for case in "fwmark-nat.rules:--nat-as l2dsr:5:" "fwmark-nat.rules::2:" \
	    "gue-persistence.rules::2:"; do
	IFS=: read -r rules opt line _ <<< "$case"
	# shellcheck disable=SC2086 # opt is two words or none
	"$SYCTL" import-ipvs --encap-source6 2001:2::1 $opt "$rules" > /dev/null 2> "$work/err"
	rc=$?
	want=1
	[ "$rules" = gue-persistence.rules ] && want=2 # no --encap-source4: usage
	if [ $rc -eq $want ] && grep -q "^syctl import-ipvs: $rules:$line: " "$work/err"; then
		pass "$rules ${opt:-(no options)}: exit $rc at line $line: $(cat "$work/err")"
	else
		fail "$rules ${opt:-(no options)}: exit $rc (want $want at line $line): $(cat "$work/err")"
	fi
done

# --skip-unsupported without --nat-as: the NAT service is left out too.
"$SYCTL" import-ipvs --skip-unsupported fwmark-nat.rules > "$work/skip.yaml" 2> "$work/err"
rc=$?
if [ $rc -eq 0 ] && ! grep -q 'name: tcp-198-18-100-30-80' "$work/skip.yaml" &&
   grep -q 'name: udp-198-18-100-33-123' "$work/skip.yaml" &&
   grep -q '^syctl import-ipvs: fwmark-nat.rules:2: warning: service of line 1 .* left out: masquerading' "$work/err" &&
   "$SYCONTROL" --check --config "$work/skip.yaml" 2>&1 | grep -q 'valid (1 services)'; then
	pass "--skip-unsupported alone leaves the NAT service out with a warning (1 service loads)"
else
	fail "--skip-unsupported alone: exit $rc: $(cat "$work/err")"
fi

# ---- usage errors: exit 2 ---------------------------------------------------
usage_case() { # WANT_TEXT ARGS...
	local want=$1
	shift
	"$SYCTL" import-ipvs "$@" < /dev/null > "$work/u.out" 2> "$work/u.err"
	local rc=$?
	if [ $rc -eq 2 ] && [ ! -s "$work/u.out" ] && grep -qF -- "$want" "$work/u.err"; then
		pass "usage: import-ipvs $* -> exit 2 ($want)"
	else
		fail "usage: import-ipvs $* -> exit $rc (want 2 and '$want'): $(cat "$work/u.err")"
	fi
}
usage_case "unrecognized option" --frobnicate tcp-udp.rules
usage_case "--nat-as 'nat' is not ipip, gue or l2dsr" --nat-as nat tcp-udp.rules
usage_case "--instance 'Edge_1' is not" --instance Edge_1 tcp-udp.rules
usage_case "--encap-source4 '2001:2::1' is not an IPv4 address" --encap-source4 2001:2::1 tcp-udp.rules
usage_case "--encap-source6 '198.18.0.1' is not an IPv6 address" --encap-source6 198.18.0.1 tcp-udp.rules
usage_case "one input file at most" tcp-udp.rules ipv6.rules
usage_case "cannot read $work/missing.rules" "$work/missing.rules"
usage_case "tcp-udp.rules:2: real server 198.18.1.1:80 is tunnelled (ipip): give --encap-source4" tcp-udp.rules
usage_case "ipv6.rules:5: real server [2001:2::11]:443 is tunnelled (ipip): give --encap-source6" --encap-source4 198.18.0.1 ipv6.rules
# an input that cannot be a save (a device, a wrong file) is refused at
# 64 MiB, before it takes the host's memory
head -c $((65 << 20)) /dev/zero | "$SYCTL" import-ipvs --encap-source4 198.18.0.1 >"$work/big.out" 2>&1
rc=$?
if [ $rc -eq 1 ] && grep -q "<stdin>: over 64 MiB, not an ipvsadm -S save" "$work/big.out"; then
	pass "65 MiB of input refused at 64 MiB (exit 1)"
else
	fail "65 MiB of input: exit $rc, $(head -c 200 "$work/big.out")"
fi
if "$SYCTL" import-ipvs --help | grep -q "usage: syctl import-ipvs" &&
   "$SYCTL" --help | grep -q "import-ipvs"; then
	pass "syctl --help and import-ipvs --help describe the command"
else
	fail "help texts do not describe import-ipvs"
fi

# ---- -o: atomic, nothing left on failure ------------------------------------
out="$work/out/switchyard.yaml"
mkdir -p "$work/out"
( umask 027 && "$SYCTL" import-ipvs -o "$out" --encap-source4 198.18.0.1 tcp-udp.rules ) > "$work/o.out" 2>&1
rc=$?
if [ $rc -eq 0 ] && [ ! -s "$work/o.out" ] && cmp -s "$out" tcp-udp.yaml &&
   [ "$(stat -c %a "$out")" = 640 ] && [ "$(ls "$work/out")" = switchyard.yaml ]; then
	pass "-o writes the file (mode 640 under umask 027), nothing on stdout, no temporary left"
else
	fail "-o: exit $rc, mode $(stat -c %a "$out" 2>/dev/null), dir: $(ls "$work/out"), out: $(cat "$work/o.out")"
fi
cp "$out" "$work/before"
"$SYCTL" import-ipvs -o "$out" --encap-source4 198.18.0.1 bad/weight-too-big.rules 2> /dev/null
rc=$?
if [ $rc -eq 1 ] && cmp -s "$out" "$work/before" && [ "$(ls "$work/out")" = switchyard.yaml ]; then
	pass "-o with a bad input: exit 1, the existing file untouched, no temporary left"
else
	fail "-o with a bad input: exit $rc, dir: $(ls "$work/out")"
fi
"$SYCTL" import-ipvs -o "$work/no/such/dir/x.yaml" --encap-source4 198.18.0.1 tcp-udp.rules 2> "$work/err"
rc=$?
if [ $rc -eq 1 ] && grep -q "cannot create a temporary file" "$work/err"; then
	pass "-o into a missing directory: exit 1, $(cat "$work/err")"
else
	fail "-o into a missing directory: exit $rc: $(cat "$work/err")"
fi

echo "import_ipvs: $passes passed, $fails failed"
[ "$fails" -eq 0 ]
