#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""UDP datagrams for test_xdp_fragments_live.sh: a sender and a receiver.

  udp_datagrams.py send DST PORT SRC FIRST_SPORT FLOWS SEED OUT
      For each of FLOWS flows (source SRC:FIRST_SPORT+k): a datagram of
      100-300 bytes, then one of 3,000-8,000 bytes (which the kernel
      fragments at the interface's MTU), from the same socket. Writes one
      line per datagram to OUT: SPORT SIZE SHA256.
  udp_datagrams.py recv ADDR PORT SECONDS OUT
      Receives datagrams on ADDR:PORT for at most SECONDS and appends one
      line per datagram to OUT as it arrives: SPORT SIZE SHA256.
"""
import hashlib
import random
import socket
import sys
import time


def send(dst, port, src, first_sport, flows, seed, out):
    r = random.Random(int(seed))
    with open(out, "w") as f:
        for k in range(int(flows)):
            sport = int(first_sport) + k
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((src, sport))
            for size in (r.randrange(100, 301), r.randrange(3000, 8001)):
                data = bytes(r.randrange(256) for _ in range(size))
                if s.sendto(data, (dst, int(port))) != size:
                    sys.exit("short send")
                f.write("%d %d %s\n" % (sport, size, hashlib.sha256(data).hexdigest()))
                time.sleep(0.002)
            s.close()


def recv(addr, port, seconds, out):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    s.bind((addr, int(port)))
    end = time.monotonic() + float(seconds)
    with open(out, "a", buffering=1) as f:
        while time.monotonic() < end:
            s.settimeout(max(0.01, end - time.monotonic()))
            try:
                data, (_, sport) = s.recvfrom(65536)
            except socket.timeout:
                break
            f.write("%d %d %s\n" % (sport, len(data), hashlib.sha256(data).hexdigest()))


if __name__ == "__main__":
    if len(sys.argv) == 9 and sys.argv[1] == "send":
        send(*sys.argv[2:])
    elif len(sys.argv) == 6 and sys.argv[1] == "recv":
        recv(*sys.argv[2:])
    else:
        sys.exit(__doc__)
