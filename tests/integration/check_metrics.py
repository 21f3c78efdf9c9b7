#!/usr/bin/env python3
"""Checks the shape of a Prometheus text exposition (sy-control's /metrics).

usage: check_metrics.py METRICS.txt [--populated]

What `promtool check metrics` does not check, because its parser merges
what belongs together:
  - each family is one contiguous block: its # HELP, its # TYPE, then all
    of its samples, with no other family in between (a family that appears
    twice is seen as two families by parsers that read a family per run,
    and is invalid OpenMetrics);
  - every family has HELP and TYPE, before its first sample; every sample
    belongs to a declared family (histograms: _bucket, _sum, _count);
  - no series (name and label set) appears twice;
  - with --populated: every family has at least one sample.
Prints the families with their sample counts and PASS:/FAIL: lines; exit 1
if anything failed.
"""
import re
import sys

SAMPLE = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\S+)?$")
SUFFIXES = {"histogram": ("_bucket", "_sum", "_count"), "summary": ("_sum", "_count")}


def main():
    path = sys.argv[1]
    populated = "--populated" in sys.argv[2:]
    failed = []

    def fail(msg):
        failed.append(msg)
        print("FAIL: " + msg)

    types, helps, samples, order = {}, {}, {}, []
    current, series, runs = None, set(), 0

    def enter(fam, lineno):
        nonlocal current, runs
        if fam == current:
            return
        runs += 1
        if fam in order:
            fail("line %d: family %s again, after %s: its samples are not contiguous"
                 % (lineno, fam, current))
        else:
            order.append(fam)
        current = fam

    for lineno, line in enumerate(open(path), 1):
        line = line.rstrip("\n")
        if not line.strip():
            continue
        m = re.match(r"^# (HELP|TYPE) (\S+)(?: (.*))?$", line)
        if m:
            kind, fam, rest = m.groups()
            enter(fam, lineno)
            table = helps if kind == "HELP" else types
            if fam in table:
                fail("line %d: a second %s for %s" % (lineno, kind, fam))
            if fam in samples:
                fail("line %d: %s of %s after its samples" % (lineno, kind, fam))
            table[fam] = rest or ""
            continue
        if line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        if not m:
            fail("line %d: not a sample: %r" % (lineno, line))
            continue
        name, labels = m.group(1), m.group(3) or ""
        fam = name
        for base in (name[: -len(s)] for s in ("_bucket", "_sum", "_count") if name.endswith(s)):
            if name[len(base):] in SUFFIXES.get(types.get(base), ()):
                fam = base
        if fam not in types or fam not in helps:
            fail("line %d: %s has no HELP and TYPE before it" % (lineno, name))
        enter(fam, lineno)
        key = (name, tuple(sorted(re.findall(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"',
                                             labels))))
        if key in series:
            fail("line %d: series %s{%s} twice" % (lineno, name, labels))
        series.add(key)
        samples[fam] = samples.get(fam, 0) + 1

    for fam in order:
        print("  %-48s %-9s %d samples" % (fam, types.get(fam, "?"), samples.get(fam, 0)))
        if fam not in helps:
            fail("%s has no HELP" % fam)
        if fam not in types:
            fail("%s has no TYPE" % fam)
        if populated and not samples.get(fam):
            fail("%s has no sample" % fam)
    names = {n for n, _ in series}
    print("%d families (a parser reading a family per run of names sees %d), %d metric names, "
          "%d series" % (len(order), runs, len(names), len(series)))
    if not failed:
        print("PASS: every family is contiguous, with HELP and TYPE%s" %
              (" and samples" if populated else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
