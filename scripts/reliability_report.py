#!/usr/bin/env python3
"""Writes the reliability report of a test run from its own output (issue 7, "Report").

Tests print lines of the form

    RELIABILITY|<test name>|<fault or input>|<load held>|<outcome PASS/FAIL>|<figures>

This script reads them from meson's testlog.json of every build directory
given (each test's stdout and stderr are in there), labels each row with its
build (build -> release, build-asan -> asan, else the directory's name), adds
the fuzzing summary lines of scripts/fuzz.sh if given, and lists every test
that printed no RELIABILITY line with its meson result, so that nothing is
hidden. Called by scripts/test.sh after the tests and the fuzzing.

The report goes into the first build directory (build/reliability.md), never
into the source tree: a test run leaves the checkout as it was. The tracked
docs/reliability.md is a copy committed with a release (docs/reliability.md's
header says how); --out FILE writes elsewhere.

usage: reliability_report.py [--out FILE] [--fuzz FUZZ_LOG] [--log NAME:BUILD:FILE]... BUILD_DIR...

--log adds the RELIABILITY lines of a plain log of a test run outside meson
(scripts/test.sh's 10-minute churn), as meson test NAME in build BUILD.
"""
import argparse
import datetime
import json
import os
import re
import subprocess
import sys

PREFIX = "RELIABILITY|"
FUZZ_RE = re.compile(r"^fuzz (\S+)\s+(ok|FAILED)(?::\s*(.*)|\s+\((.*)\))?$")


def build_label(d):
    name = os.path.basename(os.path.normpath(d))
    return {"build": "release", "build-asan": "asan"}.get(name, name)


def cell(s):
    return s.replace("|", "\\|").replace("\n", " ").strip() or "-"


def meson_ok(result):
    return result in ("OK", "EXPECTEDFAIL")


def read_testlog(path):
    """meson's testlog.json: one JSON object per line."""
    tests = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.strip()
            if line:
                try:
                    tests.append(json.loads(line))
                except ValueError:
                    pass
    return tests


def rel_lines(text):
    for line in (text or "").splitlines():
        line = line.strip()
        if not line.startswith(PREFIX):
            continue
        parts = line[len(PREFIX):].split("|")
        if len(parts) < 5:
            continue
        # figures may contain '|' no more, but be lenient: join the rest
        name, fault, load, outcome = parts[:4]
        yield name.strip(), fault.strip(), load.strip(), outcome.strip().upper(), "|".join(parts[4:]).strip()


def git_describe(root):
    try:
        return subprocess.run(["git", "describe", "--always", "--dirty", "--tags"], cwd=root,
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown revision"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", help="default: FIRST_BUILD_DIR/reliability.md")
    ap.add_argument("--fuzz", help="output of scripts/fuzz.sh")
    ap.add_argument("--log", action="append", default=[],
                    help="NAME:BUILD:FILE, a test's own output outside meson")
    ap.add_argument("builds", nargs="*", default=["build", "build-asan"])
    a = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))

    rows = {}      # (build, meson test, name, fault) -> row; a repeated line keeps the last
    silent = []    # (meson test, build, result, duration)
    missing = []
    counts = {"PASS": 0, "FAIL": 0}
    meson_results = {}
    for d in a.builds:
        label = build_label(d)
        log = os.path.join(d, "meson-logs", "testlog.json")
        try:
            tests = read_testlog(log)
        except OSError as e:
            missing.append(f"{label}: no test log ({e.strerror}: {log})")
            continue
        for t in tests:
            mname = t.get("name", "?")
            result = t.get("result", "?")
            meson_results[(label, mname)] = result
            found = False
            for name, fault, load, outcome, figures in rel_lines(
                    (t.get("stdout") or "") + "\n" + (t.get("stderr") or "")):
                found = True
                if outcome not in ("PASS", "FAIL"):
                    outcome = f"{outcome or '?'} (not PASS/FAIL)"
                shown = outcome
                if outcome == "PASS" and not meson_ok(result):
                    shown = f"PASS (test {result})"
                rows[(label, mname, name, fault)] = (name, mname, label, fault, load, shown, figures)
            if not found:
                silent.append((mname, label, result, t.get("duration") or 0))

    for spec in a.log:
        try:
            mname, label, path = spec.split(":", 2)
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read()
        except (OSError, ValueError) as e:
            missing.append(f"log {spec}: {getattr(e, 'strerror', None) or e}")
            continue
        found = False
        for name, fault, load, outcome, figures in rel_lines(text):
            found = True
            rows[(label, mname, name, fault)] = (name, mname, label, fault, load, outcome, figures)
        if not found:
            missing.append(f"log {path}: no RELIABILITY line ({mname} did not finish?)")

    fuzz_rows = []
    if a.fuzz:
        try:
            with open(a.fuzz, encoding="utf-8", errors="replace") as f:
                for line in f:
                    m = FUZZ_RE.match(line.strip())
                    if m:
                        target, verdict, figs = m.group(1), m.group(2), m.group(3) or m.group(4) or ""
                        fuzz_rows.append((target, "fuzz_" + target if not target.startswith("fuzz") else target,
                                          "fuzz (ASan+UBSan)",
                                          "generated inputs, seed corpus and regression inputs",
                                          "-", "PASS" if verdict == "ok" else "FAIL", figs))
        except OSError as e:
            missing.append(f"fuzz: no summary ({e.strerror}: {a.fuzz})")

    table = sorted(rows.values(), key=lambda r: (r[0], r[1], r[2] != "release", r[2], r[3])) + fuzz_rows
    for r in table:
        counts["PASS" if r[5] == "PASS" else "FAIL"] += 1

    now = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    out = []
    out.append("# Reliability and security: measured")
    out.append("")
    out.append(f"Generated by `scripts/test.sh` on {now} from `{git_describe(root)}` "
               "(`scripts/reliability_report.py`) into `build/reliability.md`: do not edit by "
               "hand. `docs/reliability.md` in the repository is a copy of one such report, "
               "committed when its content changes meaningfully (with a release), not after "
               "every run: `scripts/test.sh`, then `cp build/reliability.md docs/reliability.md`. "
               "Every row is a line "
               "`RELIABILITY|test|fault or input|load held|outcome|figures` that a test printed "
               "in this run (its stdout in meson's `testlog.json`), labelled with the build it ran "
               "in (release: `build/`, asan: `build-asan/`, ASan+UBSan); fuzzing rows come from "
               "`scripts/fuzz.sh`'s summary. A row's outcome is the test's own verdict on that "
               "fact; when the meson test as a whole failed, it says so.")
    out.append("")
    out.append(f"Rows: {counts['PASS']} PASS, {counts['FAIL']} FAIL; "
               f"{sum(1 for r in meson_results.values() if meson_ok(r))} of {len(meson_results)} "
               "meson tests passed.")
    for m in missing:
        out.append("")
        out.append(f"**Missing input**: {m}.")
    out.append("")
    out.append("| test | meson test | build | fault or input | load held | outcome | figures |")
    out.append("|---|---|---|---|---|---|---|")
    for name, mname, label, fault, load, outcome, figures in table:
        out.append(f"| {cell(name)} | {cell(mname)} | {label} | {cell(fault)} | {cell(load)} | "
                   f"{'**' + cell(outcome) + '**' if outcome != 'PASS' else outcome} | {cell(figures)} |")
    out.append("")
    out.append("## Tests without a RELIABILITY line")
    out.append("")
    out.append("They assert what they test but print no row for this table; their meson result:")
    out.append("")
    if silent:
        out.append("| meson test | build | result | seconds |")
        out.append("|---|---|---|---|")
        for mname, label, result, dur in sorted(silent, key=lambda s: (s[0], s[1] != "release", s[1])):
            res = result if meson_ok(result) else f"**{result}**"
            out.append(f"| {cell(mname)} | {label} | {res} | {dur:.1f} |")
    else:
        out.append("(none)")
    out.append("")

    path = a.out or os.path.join(a.builds[0] if a.builds else "build", "reliability.md")
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path + ".tmp", "w") as f:
        f.write("\n".join(out))
    os.replace(path + ".tmp", path)
    print(f"reliability report: {path}: {len(table)} rows ({counts['FAIL']} FAIL), "
          f"{len(silent)} tests without a RELIABILITY line", file=sys.stderr)


if __name__ == "__main__":
    main()
