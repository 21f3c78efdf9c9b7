#!/usr/bin/env python3
"""A slow HTTP download that lasts exactly as long as the test needs it:
GET PATH over one TCP connection from client port SPORT, the body read at
RATE bytes a second until the file STOPFILE exists (the test creates it
once what the connection had to live through is over), then the rest at
full speed. A small receive buffer keeps the kernel from reading ahead of
the pace, so the connection is in flight until STOPFILE appears (unless
the body is all read before: at RATE it takes size / RATE seconds).

Prints "BYTES SPANNED": the body's length (as curl's %{size_download}) and
1 if STOPFILE appeared before the body's end (the download was in flight
all along), else 0. MAXTIME bounds the whole download.

usage: slow_download.py HOST PORT SPORT PATH RATE STOPFILE MAXTIME"""
import os
import socket
import sys
import time


def main():
    host, port, sport, path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    rate, stopfile, maxtime = float(sys.argv[5]), sys.argv[6], float(sys.argv[7])
    deadline = time.monotonic() + maxtime
    data = b""
    spanned = 0
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.settimeout(10)
        s.bind(("", sport))
        s.connect((host, port))
        s.sendall(("GET %s HTTP/1.0\r\nHost: %s\r\n\r\n" % (path, host)).encode())
        t0 = time.monotonic()
        paced = True
        while time.monotonic() < deadline:
            if paced and os.path.exists(stopfile):
                paced = False
                spanned = 1
            if paced:
                wait = t0 + len(data) / rate - time.monotonic()
                if wait > 0:
                    time.sleep(min(wait, 0.05))
                    continue
                chunk = s.recv(1024)
            else:
                chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    finally:
        s.close()
    head, sep, body = data.partition(b"\r\n\r\n")
    ok = sep and head.startswith(b"HTTP/1.") and b" 200 " in head.split(b"\r\n")[0]
    print("%d %d" % (len(body) if ok else 0, spanned if ok else 0), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
