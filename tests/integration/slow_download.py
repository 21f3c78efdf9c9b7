#!/usr/bin/env python3
"""A slow HTTP download that lasts exactly as long as the test needs it:
GET PATH over one TCP connection from client port SPORT, the body read at
RATE bytes a second until the file STOPFILE exists (the test creates it
once what the connection had to live through is over), then the rest at
full speed. A small receive buffer keeps the kernel from reading far ahead
of the pace, so the connection is in flight until STOPFILE appears (unless
the body is all read before: at RATE it takes size / RATE seconds). HTTP
is Python's own client (http.client); only the socket is made here, to
bind the client port and size the buffer before the connection.

Prints "BYTES SPANNED": the body's length as read (as curl's
%{size_download}; 0 if the answer was not 200) and 1 if STOPFILE appeared
before the body's end (the download was in flight all along), else 0.
MAXTIME bounds the whole download.

usage: slow_download.py HOST PORT SPORT PATH RATE STOPFILE MAXTIME"""
import http.client
import os
import socket
import sys
import time


class PacedConnection(http.client.HTTPConnection):
    """An HTTP connection from a fixed client port with a small receive
    buffer, both set before the connection is made."""

    def __init__(self, host, port, sport, timeout):
        super().__init__(host, port, timeout=timeout)
        self.sport = sport

    def connect(self):
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        s = socket.socket(family, socket.SOCK_STREAM)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.settimeout(self.timeout)
            s.bind(("", self.sport))
            s.connect((self.host, self.port))
        except OSError:
            s.close()
            raise
        self.sock = s


def main():
    if len(sys.argv) != 8:
        sys.stderr.write(__doc__.split("\n\n")[-1] + "\n")
        return 2
    host, port, sport, path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    rate, stopfile, maxtime = float(sys.argv[5]), sys.argv[6], float(sys.argv[7])
    deadline = time.monotonic() + maxtime
    got = 0
    spanned = 0
    status = None
    conn = PacedConnection(host, port, sport, timeout=10)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        status = resp.status
        t0 = time.monotonic()
        paced = True
        while time.monotonic() < deadline:
            if paced and os.path.exists(stopfile):
                paced = False
                spanned = 1
            if paced:
                wait = t0 + got / rate - time.monotonic()
                if wait > 0:
                    time.sleep(min(wait, 0.05))
                    continue
                chunk = resp.read1(1024)
            else:
                chunk = resp.read1(65536)
            if not chunk:
                break
            got += len(chunk)
    except (OSError, http.client.HTTPException):
        pass
    finally:
        conn.close()
    ok = status == 200
    print("%d %d" % (got if ok else 0, spanned if ok else 0), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
