#!/usr/bin/env python3
"""Counts meson test results from testlog.json: prints "passed failed".
OK and EXPECTEDFAIL pass; everything else (FAIL, SKIP, TIMEOUT, ERROR,
UNEXPECTEDPASS) fails, and each failing test is named on stderr."""
import json
import sys

passed = failed = 0
try:
    with open(sys.argv[1]) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            t = json.loads(line)
            if t.get("result") in ("OK", "EXPECTEDFAIL"):
                passed += 1
            else:
                failed += 1
                print(f"FAILED: {t.get('name')} ({t.get('result')})", file=sys.stderr)
except OSError as e:
    print(f"no test log: {e}", file=sys.stderr)
    failed += 1
print(passed, failed)
