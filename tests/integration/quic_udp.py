#!/usr/bin/env python3
"""A QUIC-like UDP server and client for the live QUIC connection-ID test.

Not QUIC: only the first bytes that the load balancer reads
(docs/dataplane.md, "QUIC connection IDs"): a long header (first byte
0xc0: an Initial) opens a "connection", short headers (0x40 | bits) carry
a destination connection ID in which the server's ID is encoded (Katran's
layout, CID versions 1 and 2).

  quic_udp.py server ADDR PORT NAME SERVER_ID
      answers every datagram with "NAME SERVER_ID long|short" (from ADDR:PORT)

  quic_udp.py client VIP PORT FIRST_SPORT N UNKNOWN_ID
      1. an Initial from FIRST_SPORT: the answer names the backend and its
         server ID ("CONN NAME SID");
      2. short headers carrying that ID, each from a new source port
         FIRST_SPORT+1 .. +N (the client migrating / rebound by a NAT),
         CID versions 1 and 2 in turn: "MOVED SPORT NAME" ("-": no answer);
      3. short headers carrying UNKNOWN_ID from ports FIRST_SPORT+N+1 ..
         +2N: "UNKNOWN SPORT NAME" (where the hash sends them);
      then "SENT_SHORT n" (short headers sent, retries included).

  quic_udp.py shorts VIP PORT FIRST_SPORT N SERVER_ID
      N short headers carrying SERVER_ID from ports FIRST_SPORT..+N-1:
      "SHORT SPORT NAME", then "SENT_SHORT n"
Every wait is bounded (1 s a try, 3 tries).
"""
import os
import socket
import sys


def cid(version, server_id):
    """The first 4 bytes of a CID of this version carrying server_id."""
    if version == 1:
        return bytes([0x40 | server_id >> 10, (server_id >> 2) & 0xFF, (server_id & 3) << 6, 0])
    return bytes([0x80]) + server_id.to_bytes(3, "big")


def server(addr, port, name, sid):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, int(port)))
    while True:
        data, peer = s.recvfrom(2048)
        kind = "long" if data and data[0] & 0x80 else "short"
        s.sendto(("%s %s %s" % (name, sid, kind)).encode(), peer)


class Client:
    def __init__(self, vip, port):
        self.vip, self.port = vip, int(port)
        self.sent_short = 0

    def ask(self, sport, payload):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", sport))
        s.settimeout(1.0)
        try:
            for _ in range(3):
                s.sendto(payload, (self.vip, self.port))
                if not payload[0] & 0x80:
                    self.sent_short += 1
                try:
                    return s.recvfrom(2048)[0].decode().split()
                except socket.timeout:
                    continue
            return None
        finally:
            s.close()

    def short(self, sport, version, server_id):
        # flags (fixed bit, key phase, pn length), an 8-byte CID, a packet
        # number and an encrypted-looking payload
        payload = bytes([0x40 | 0x01]) + cid(version, server_id) + os.urandom(4) + os.urandom(40)
        return self.ask(sport, payload)


def client(vip, port, first, n, unknown):
    c = Client(vip, port)
    first, n, unknown = int(first), int(n), int(unknown, 0)
    initial = bytes([0xC0]) + b"\x00\x00\x00\x01\x08" + os.urandom(8) + b"\x00" + os.urandom(1180)
    ans = c.ask(first, initial)
    if not ans:
        print("CONN - -")
        return 1
    name, sid = ans[0], int(ans[1], 0)
    print("CONN %s %s" % (name, ans[1]))
    for k in range(1, n + 1):
        a = c.short(first + k, 1 if k % 2 else 2, sid)
        print("MOVED %d %s" % (first + k, a[0] if a else "-"))
    for k in range(n + 1, 2 * n + 1):
        a = c.short(first + k, 2, unknown)
        print("UNKNOWN %d %s" % (first + k, a[0] if a else "-"))
    print("SENT_SHORT %d" % c.sent_short)
    return 0


def shorts(vip, port, first, n, server_id):
    c = Client(vip, port)
    for k in range(int(n)):
        a = c.short(int(first) + k, 2, int(server_id, 0))
        print("SHORT %d %s" % (int(first) + k, a[0] if a else "-"))
    print("SENT_SHORT %d" % c.sent_short)
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "server":
        server(*sys.argv[2:])
    elif len(sys.argv) == 7 and sys.argv[1] == "client":
        sys.exit(client(*sys.argv[2:]))
    elif len(sys.argv) == 7 and sys.argv[1] == "shorts":
        sys.exit(shorts(*sys.argv[2:]))
    else:
        sys.exit(__doc__)
