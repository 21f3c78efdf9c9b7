#!/usr/bin/env python3
"""Exactly counted UDP frames into an interface, for the observability tests.

Writes Ethernet/IPv4/UDP frames with a raw packet socket on IFACE (one end
of a veth whose other end a sy-dataplane reads): source 198.18.0.2, source
port FIRST_SPORT + (i // PER_FLOW) % FLOWS, destination DST:DPORT, to DST_MAC.
Every frame is FRAME bytes (no padding: a veth forwards what it is given).
Paced: bursts of at most 16 frames, RATE frames a second, so that the
dataplane's receive ring never overflows. Stops after COUNT frames or
DURATION seconds, whichever comes first (both bounds always apply).
Prints "SENT frames=N bytes=B flows=F seconds=S" at the end; a frame the
kernel did not take (send error) is an error (exit 1), so N is exact.

usage: send_udp.py IFACE DST_MAC DST DPORT COUNT RATE DURATION
                   [--flows F] [--per-flow K] [--first-sport P] [--frame BYTES]
"""
import argparse
import socket
import struct
import sys
import time


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def frame(src_mac, dst_mac, src, dst, sport, dport, size):
    payload = b"\x5a" * (size - 14 - 20 - 8)
    udp_len = 8 + len(payload)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, 0, 0x4000, 64, 17, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    pseudo = src + dst + struct.pack("!BBH", 0, 17, udp_len)
    udp = struct.pack("!HHHH", sport, dport, udp_len, 0) + payload
    c = csum(pseudo + udp) or 0xFFFF
    udp = udp[:6] + struct.pack("!H", c) + udp[8:]
    return dst_mac + src_mac + b"\x08\x00" + ip + udp


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("iface")
    ap.add_argument("dst_mac")
    ap.add_argument("dst")
    ap.add_argument("dport", type=int)
    ap.add_argument("count", type=int)
    ap.add_argument("rate", type=float)
    ap.add_argument("duration", type=float)
    ap.add_argument("--flows", type=int, default=64)
    ap.add_argument("--per-flow", type=int, default=1)
    ap.add_argument("--first-sport", type=int, default=20000)
    ap.add_argument("--frame", type=int, default=64)
    a = ap.parse_args()
    if not (0 < a.count <= 10_000_000 and 0 < a.rate <= 1_000_000 and 0 < a.duration <= 600
            and 0 < a.flows <= 40000 and a.per_flow > 0 and 42 <= a.frame <= 1500
            and 1024 <= a.first_sport and a.first_sport + a.flows <= 65536):
        print("send_udp.py: argument out of range", file=sys.stderr)
        return 2
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((a.iface, 0))
    src_mac = s.getsockname()[4]
    dst_mac = bytes(int(x, 16) for x in a.dst_mac.split(":"))
    src, dst = socket.inet_aton("198.18.0.2"), socket.inet_aton(a.dst)
    frames = [frame(src_mac, dst_mac, src, dst, a.first_sport + f, a.dport, a.frame)
              for f in range(a.flows)]
    sent = nbytes = 0
    t0 = time.monotonic()
    end = t0 + a.duration
    while sent < a.count:
        now = time.monotonic()
        if now >= end:
            break
        due = t0 + sent / a.rate
        if due > now:
            time.sleep(min(due - now, end - now))
            continue
        for _ in range(min(16, a.count - sent)):
            f = frames[(sent // a.per_flow) % a.flows]
            if s.send(f) != len(f):
                print("send_udp.py: short send", file=sys.stderr)
                return 1
            sent += 1
            nbytes += len(f)
    print("SENT frames=%d bytes=%d flows=%d seconds=%.3f" %
          (sent, nbytes, min(a.flows, -(-sent // a.per_flow)), time.monotonic() - t0), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
