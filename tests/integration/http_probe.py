#!/usr/bin/env python3
"""HTTP GETs from fixed client ports, one TCP connection each, printing
"SPORT ANSWER" per request ("-" when it failed). Each connection ends with
an RST (SO_LINGER 0) so the client keeps no TIME_WAIT and the very same
5-tuple can be used again: the demo and the tests replay flows with it.

usage: http_probe.py HOST PORT FIRST_SPORT COUNT [PATH] [TIMEOUT]"""
import socket
import struct
import sys


def get(host, port, sport, path, timeout):
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.settimeout(timeout)
    try:
        s.bind(("", sport))
        s.connect((host, port))
        s.sendall(("GET %s HTTP/1.0\r\nHost: %s\r\n\r\n" % (path, host)).encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.") or b" 200 " not in head.split(b"\r\n")[0]:
            return "-"
        return body.decode(errors="replace").strip() or "-"
    except OSError:
        return "-"
    finally:
        s.close()


def main():
    host, port, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    path = sys.argv[5] if len(sys.argv) > 5 else "/"
    timeout = float(sys.argv[6]) if len(sys.argv) > 6 else 3.0
    for sport in range(first, first + count):
        print(sport, get(host, port, sport, path, timeout), flush=True)


if __name__ == "__main__":
    main()
