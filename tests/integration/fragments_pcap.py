#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Fragments for test_fragments_live.sh: frames in, frames expected out.

  fragments_pcap.py gen SERVICES PORT_MAC IN_PCAP EXPECTED
  fragments_pcap.py check EXPECTED OUT_PCAP

gen: for every (VIP address, protocol) of the fixture services and a few
clients, one TCP or UDP datagram (IPv4 and IPv6) cut into a first, a middle
and a last fragment, written in order to IN_PCAP. EXPECTED gets one line per
fragment: its name, its kind (first/middle/last), the backend it must reach
and the exact frame it must leave as (hex). The backend and the output frame
come from tests/packets/gen_corpus.py's model (a Python flow hash and Maglev,
independent of the C code), for the 3-tuple hash the dataplane documents
for fragments (docs/dataplane.md, "Fragments"), the port MAC PORT_MAC and an
egress MTU of 1500.

check: OUT_PCAP (what the dataplane sent, in order) must be EXPECTED's
frames, byte for byte. Prints one line per fragment kind and exits 1 on any
difference.
"""

import os
import random
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "packets"))
import gen_corpus as gc  # noqa: E402
from scapy.layers.inet import IP  # noqa: E402
from scapy.layers.inet6 import IPv6, IPv6ExtHdrFragment  # noqa: E402
from scapy.layers.l2 import Ether  # noqa: E402
from scapy.packet import Raw  # noqa: E402
from scapy.utils import rdpcap, wrpcap  # noqa: E402

CLIENTS = 4  # per (address, protocol)


def cuts(n):
    """Offsets splitting an n-byte upper-layer datagram in three fragments
    (multiples of 8, the middle one neither first nor last)."""
    a = (n // 3) & ~7
    b = (2 * n // 3) & ~7
    return [(0, a), (a, b), (b, n)]


def gen(services, port_mac, in_pcap, expected):
    gc.PORT_MAC = port_mac
    model = gc.Model(gc.parse_services(services))
    c = gc.Corpus(model, random.Random(0x46524147))  # "FRAG"
    targets = []
    for s in model.services:
        t = (s.family, s.vip, s.proto)
        if t not in targets and model.addr_service(s.vip, s.proto).backends:
            targets.append(t)
    lines = []
    for fam, vip, proto in targets:
        svc = model.addr_service(vip, proto)
        # services that forward nothing (no live backend, no encapsulation
        # source of a backend's family) are the corpus's business, not this
        if not any(b.weight for b in svc.backends) or (svc.mode != "l2dsr" and not all(
                svc.src4 if b.family == 4 else svc.src6 for b in svc.backends)):
            continue
        for i in range(CLIENTS):
            client = c.client4() if fam == 4 else c.client6()
            up = bytes(c.l4(proto, c.sport(), svc.port or 80, c.payload(900, 1200)))
            ident = c.rng.randrange(1 << (16 if fam == 4 else 32))
            parts = cuts(len(up))
            seen = set()
            for k, (lo, hi) in enumerate(parts):
                kind = ("first", "middle", "last")[k]
                more = k < len(parts) - 1
                if fam == 4:
                    p = IP(src=client, dst=vip, id=ident, flags="MF" if more else 0,
                           frag=lo // 8, proto=proto, ttl=64) / Raw(up[lo:hi])
                else:
                    p = IPv6(src=client, dst=vip, hlim=64) / IPv6ExtHdrFragment(
                        nh=proto, offset=lo // 8, m=int(more), id=ident) / Raw(up[lo:hi])
                name = "frag%d_%s_%s_%d_%s" % (fam, vip.replace(":", "."),
                                               "tcp" if proto == 6 else "udp", i, kind)
                be = c.expect_fragment("fragments", name, p, proto)
                _, verdict, counter, inp, out = c.cases[-1]
                assert verdict == "tx" and counter == "fragments", (name, verdict, counter)
                seen.add(be.addr)
                lines.append((name, kind, be.addr, inp, out))
            assert len(seen) == 1  # one datagram, one backend
    wrpcap(in_pcap, [Ether(inp) for _, _, _, inp, _ in lines])
    with open(expected, "w") as f:
        for name, kind, be, _, out in lines:
            f.write("%s %s %s %s\n" % (name, kind, be, out.hex()))
    print(len(lines))


def check(expected, out_pcap):
    want = [line.split() for line in open(expected)]
    got = [bytes(p) for p in rdpcap(out_pcap)] if os.path.getsize(out_pcap) else []
    ok = {"first": 0, "middle": 0, "last": 0}
    bad = 0
    for i, (name, kind, be, out) in enumerate(want):
        if i < len(got) and got[i] == bytes.fromhex(out):
            ok[kind] += 1
            continue
        bad += 1
        if bad <= 5:
            print("  %s (%s fragment, backend %s): %s" % (
                name, kind, be, "sent as %s" % got[i].hex() if i < len(got) else "not sent"))
    per_kind = {k: sum(1 for w in want if w[1] == k) for k in ok}
    for k in ok:
        print("%s fragments: %d of %d left for their 3-tuple backend, byte for byte"
              % (k, ok[k], per_kind[k]))
    backends = sorted({w[2] for w in want})
    print("backends reached: %d (%s)" % (len(backends), " ".join(backends)))
    if len(got) != len(want):
        print("sent %d frames, expected %d" % (len(got), len(want)))
        bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "gen":
        gen(*sys.argv[2:])
    elif len(sys.argv) == 4 and sys.argv[1] == "check":
        sys.exit(check(*sys.argv[2:]))
    else:
        sys.exit(__doc__)
