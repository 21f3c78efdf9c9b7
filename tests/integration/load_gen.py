#!/usr/bin/env python3
"""Paced HTTP GETs for the fault tests: RATE requests a second for at most
DURATION seconds (or until SIGTERM), each a new TCP connection from its own
client port (FIRST, FIRST+1, ...; at most COUNT of them), ended with an RST
like http_probe.py. Prints one line per request as it completes:
"START_EPOCH END_EPOCH SPORT ANSWER" (ANSWER "-" when it failed).

usage: load_gen.py HOST PORT FIRST_SPORT COUNT RATE DURATION [PATH] [TIMEOUT]"""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from http_probe import get  # noqa: E402


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    first, count = int(sys.argv[3]), int(sys.argv[4])
    rate, duration = float(sys.argv[5]), float(sys.argv[6])
    path = sys.argv[7] if len(sys.argv) > 7 else "/"
    timeout = float(sys.argv[8]) if len(sys.argv) > 8 else 1.0
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    t0 = time.monotonic()
    for i in range(count):
        due = t0 + i / rate
        now = time.monotonic()
        if stop or now - t0 >= duration:
            break
        if due > now:
            time.sleep(due - now)
        start = time.time()
        ans = get(host, port, first + i, path, timeout)
        print("%.3f %.3f %d %s" % (start, time.time(), first + i, ans), flush=True)


if __name__ == "__main__":
    main()
