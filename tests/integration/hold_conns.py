#!/usr/bin/env python3
"""Hold COUNT TCP connections to HOST:PORT open, from client ports FIRST..,
sending nothing (the backend's server waits on each: long-lived connections
for least-connections), for at most SECONDS or until SIGTERM. Prints
"held N" once N connections are established (N < COUNT if some failed),
then each ends with an RST (SO_LINGER 0): no TIME_WAIT left.

usage: hold_conns.py HOST PORT FIRST_SPORT COUNT SECONDS"""
import signal
import socket
import struct
import sys
import time


def main():
    host, port, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    seconds = float(sys.argv[5])
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    held = []
    try:
        for sport in range(first, first + count):
            s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.settimeout(3)
            try:
                s.bind(("", sport))
                s.connect((host, port))
                held.append(s)
            except OSError:
                s.close()
        print("held", len(held), flush=True)
        time.sleep(seconds)
    finally:
        for s in held:
            s.close()


if __name__ == "__main__":
    main()
