#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Frames for test_icmp_workers_live.sh: flows on one worker, the ICMP errors
about them on another, after the backend set changed in between.

  icmp_workers_pcap.py gen BEFORE AFTER PORT_MAC FLOWS_PCAP ERRORS_PCAP EXPECTED
  icmp_workers_pcap.py check EXPECTED OUT0_PCAP OUT1_PCAP
  icmp_workers_pcap.py lookup FILE_PREFIX EXPECTED

gen: BEFORE and AFTER are services files (tests/common/services_file.h) with
the same services, AFTER with more backends. For every service, clients
whose flow Maglev gives another backend in AFTER than in BEFORE, until
FLOWS_PER_SERVICE of them: their first packet goes to FLOWS_PCAP (worker 0
tracks them, on BEFORE's backends), and a router's ICMP error about each
(IPv4 frag-needed, IPv6 packet-too-big, quoting the flow's VIP -> client
packet) to ERRORS_PCAP (worker 1, after the change). ERRORS_PCAP starts with
one runt frame: the packet worker 1 processes with the snapshot it took
before the change (test_icmp_workers_live.sh says why), counted as
drop_runt. EXPECTED gets one line per frame that must leave: the queue
(0: a flow's first packet, 1: an ICMP error), a name, the backend it must
reach (the flow's tracked one) and Maglev's choice in AFTER (each as
address=MAC), the flow (client,port,vip,port,tcp|udp) and the exact frame
(hex).

The backends and the output frames come from tests/packets/gen_corpus.py's
model (a Python flow hash and Maglev, independent of the C code), for the
port MAC PORT_MAC.

check: OUT0_PCAP and OUT1_PCAP (what worker 0 and worker 1 sent) must be
EXPECTED's frames of queue 0 and 1, in order, byte for byte. Prints a line
per queue and the first differences (an ICMP error that went to Maglev's new
choice is named as such); exits 1 on any difference.

lookup: asks the running sy-dataplane's telemetry (/switchyard/lookup, what
`syctl lookup` asks) about every flow: each must be named on its tracked
backend, found in worker 0's table, although Maglev now says otherwise.

Pcap files are read and written here (classic format, microsecond stamps,
Ethernet): ERRORS_PCAP's first 24 bytes are its file header, which the test
writes to a FIFO before the rest.
"""

import json
import os
import random
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "packets"))
import gen_corpus as gc  # noqa: E402
from scapy.layers.inet import ICMP, IP, TCP, UDP  # noqa: E402
from scapy.layers.inet6 import ICMPv6PacketTooBig, IPv6  # noqa: E402
from scapy.packet import Raw  # noqa: E402

FLOWS_PER_SERVICE = 32
ROUTER4 = "198.19.254.1"
ROUTER6 = "2001:2:0:ffff::1"
RUNT = bytes(10)  # shorter than an Ethernet header

PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)


def write_pcap(path, frames):
    with open(path, "wb") as f:
        f.write(PCAP_HEADER)
        for i, fr in enumerate(frames):
            f.write(struct.pack("<IIII", 1, i, len(fr), len(fr)) + fr)


def read_pcap(path):
    data = open(path, "rb").read() if os.path.getsize(path) else b""
    if not data:
        return []
    magic = struct.unpack("<I", data[:4])[0]
    end = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    frames, off = [], 24
    while off + 16 <= len(data):
        caplen = struct.unpack(end + "I", data[off + 8:off + 12])[0]
        frames.append(data[off + 16:off + 16 + caplen])
        off += 16 + caplen
    return frames


def flow_key(svc, client, cport):
    """Flow hash of client:cport -> VIP, and the ports."""
    return gc.flow_hash(svc.family, client, svc.vip, cport, svc.port, svc.proto, svc.seed)


def first_packet(c, svc, client, cport):
    up = (TCP(sport=cport, dport=svc.port, flags="S", seq=c.rng.randrange(1 << 32))
          if svc.proto == 6 else UDP(sport=cport, dport=svc.port) / Raw(c.payload(20, 60)))
    if svc.family == 4:
        return IP(src=client, dst=svc.vip, flags="DF", ttl=64, id=c.rng.randrange(65536)) / up
    return IPv6(src=client, dst=svc.vip, hlim=64) / up


def icmp_error(c, svc, client, cport):
    """A router's "too big" about the flow's VIP -> client packets (the
    quote is that packet's start: the flow reversed)."""
    l4 = (TCP(sport=svc.port, dport=cport, flags="A", seq=c.rng.randrange(1 << 32))
          if svc.proto == 6 else UDP(sport=svc.port, dport=cport)) / Raw(c.payload(100, 200))
    if svc.family == 4:
        quote = bytes(IP(src=svc.vip, dst=client, flags="DF", ttl=63) / l4)[:28]
        return IP(src=ROUTER4, dst=svc.vip, ttl=60) / ICMP(type=3, code=4, nexthopmtu=1400) / \
            Raw(quote)
    quote = bytes(IPv6(src=svc.vip, dst=client, hlim=63) / l4)[:48 + 8]
    return IPv6(src=ROUTER6, dst=svc.vip, hlim=60) / ICMPv6PacketTooBig(mtu=1280) / Raw(quote)


def gen(before, after, port_mac, flows_pcap, errors_pcap, expected):
    gc.PORT_MAC = port_mac
    old = gc.Model(gc.parse_services(before))
    new = gc.Model(gc.parse_services(after))
    c = gc.Corpus(old, random.Random(0x49434D50))  # "ICMP"
    flows, errors, lines = [], [RUNT], []
    for svc in old.services:
        svc_new = new.by_name[svc.name]
        assert len(svc_new.backends) > len(svc.backends), svc.name
        n = 0
        while n < FLOWS_PER_SERVICE:
            client = c.client4() if svc.family == 4 else c.client6()
            cport = c.sport()
            h = flow_key(svc, client, cport)
            be, be_new = svc.pick(h), svc_new.pick(h)
            if be.addr == be_new.addr:
                continue  # Maglev keeps it: an error about it proves nothing
            name = "%s_%d" % (svc.name, n)
            n += 1
            l3 = first_packet(c, svc, client, cport)
            cmac = c.client_mac()
            flows.append(gc.frame(port_mac, cmac, [], gc.ethertype_of(svc.family), bytes(l3)))
            flow = "%s,%d,%s,%d,%s" % (client, cport, svc.vip, svc.port,
                                       "tcp" if svc.proto == 6 else "udp")
            lines.append((0, name, be, be_new, flow, gc.forward_output(svc, be, h, [], l3)))
            err = icmp_error(c, svc, client, cport)
            errors.append(gc.frame(port_mac, "02:00:00:ee:00:01", [],
                                   gc.ethertype_of(svc.family), bytes(err)))
            # encapsulated as the flow's own packets are, to the flow's backend
            lines.append((1, name, be, be_new, flow,
                          gc.forward_output(svc_new, be, h, [], err)))
    write_pcap(flows_pcap, flows)
    write_pcap(errors_pcap, errors)
    with open(expected, "w") as f:
        for q, name, be, be_new, flow, out in lines:
            f.write("%d %s %s=%s %s=%s %s %s\n" % (q, name, be.addr, be.mac, be_new.addr,
                                                    be_new.mac, flow, out.hex()))
    print(len(flows), len(errors) - 1)


def check(expected, out0, out1):
    want = [line.split() for line in open(expected)]
    got = {0: read_pcap(out0), 1: read_pcap(out1)}
    what = {0: "first packets of the flows (worker 0)",
            1: "ICMP errors about them (worker 1)"}
    names = {}
    for x in want:
        for be in x[2:4]:
            addr, mac = be.split("=")
            names[mac] = addr
    bad = 0
    for q in (0, 1):
        w = [x for x in want if int(x[0]) == q]
        ok = shown = 0
        for i, (_, name, be, be_new, _, out) in enumerate(w):
            if i < len(got[q]) and got[q][i] == bytes.fromhex(out):
                ok += 1
                continue
            bad += 1
            shown += 1
            if shown > 5:
                continue
            if i >= len(got[q]):
                print("  %s: not sent (queue %d)" % (name, q))
                continue
            # the Ethernet destination names the backend, whatever the mode
            dest = names.get(got[q][i][:6].hex(":"), got[q][i][:6].hex(":"))
            be, be_new = be.split("=")[0], be_new.split("=")[0]
            if q == 1 and dest == be_new:
                print("  %s: ICMP error sent to %s (Maglev's new choice), the flow is on %s"
                      % (name, dest, be))
            else:
                print("  %s: sent to %s as %s, want %s" % (name, dest, got[q][i].hex(), be))
        print("%s: %d of %d left for the flow's backend, byte for byte" % (what[q], ok, len(w)))
        if len(got[q]) != len(w):
            print("queue %d sent %d frames, expected %d" % (q, len(got[q]), len(w)))
            bad += 1
    return 1 if bad else 0


def lookup(prefix, expected):
    from check_telemetry import Telemetry
    tel = Telemetry(prefix)
    flows = [line.split() for line in open(expected) if line.startswith("0 ")]
    bad = 0
    for _, name, be, be_new, flow, _ in flows:
        addr, port = be.split("=")[0], flow.split(",")[3]
        want = ("[%s]:%s" if ":" in addr else "%s:%s") % (addr, port)
        ans = tel.ask("/switchyard/lookup," + flow)
        if ans.get("backend") == want and \
                ans.get("reason") == "conntrack: an established flow of worker 0":
            continue
        bad += 1
        if bad <= 5:
            print("  %s (%s): %s, want %s from worker 0's table (Maglev: %s)"
                  % (name, flow, json.dumps(ans), want, be_new.split("=")[0]))
    print("/switchyard/lookup: %d of %d flows on their tracked backend, from worker 0's table"
          % (len(flows) - bad, len(flows)))
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) == 8 and sys.argv[1] == "gen":
        gen(*sys.argv[2:])
    elif len(sys.argv) == 5 and sys.argv[1] == "check":
        sys.exit(check(*sys.argv[2:]))
    elif len(sys.argv) == 4 and sys.argv[1] == "lookup":
        sys.exit(lookup(*sys.argv[2:]))
    else:
        sys.exit(__doc__)
