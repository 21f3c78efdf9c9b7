#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Fragments for test_fragments_live.sh: frames in, frames expected out.

  fragments_pcap.py gen SERVICES PORT_MAC IN_PCAP EXPECTED
  fragments_pcap.py check EXPECTED OUT_PCAP

gen: for every (VIP address, protocol) of the fixture services and a few
clients, an unfragmented TCP or UDP packet of a flow, then a datagram of
3,000-8,000 bytes of the same flow (same addresses and ports) cut into
fragments of at most 1,208 bytes (IPv4 and IPv6), written in order to
IN_PCAP. EXPECTED gets one line per frame: its name, its kind
(whole/first/middle/last), the backend it must reach, the offset of the
inner IP packet in the output and the exact frame it must leave as (hex),
and one `datagram NAME PAYLOAD_HEX` line per datagram. The backend and the
output frame come from tests/packets/gen_corpus.py's model (a Python flow
hash and Maglev, independent of the C code): the first fragment as a packet
of its flow, the later ones following it (docs/dataplane.md, "Fragments"),
the port MAC PORT_MAC and an egress MTU of 1500.

check: OUT_PCAP (what the dataplane sent, in order) must be EXPECTED's
frames, byte for byte; every datagram's fragments must reach the backend of
its flow's unfragmented packet, and the fragments taken out of what left
(the inner IP packets) must reassemble into the datagram sent. Exits 1 on
any difference.
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
CHUNK = 1160  # upper-layer bytes a fragment carries (a multiple of 8)


def cuts(n):
    """Offsets splitting an n-byte upper-layer datagram in fragments of
    CHUNK bytes (the last one shorter)."""
    return [(lo, min(lo + CHUNK, n)) for lo in range(0, n, CHUNK)]


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
    datagrams = []
    for fam, vip, proto in targets:
        svc = model.addr_service(vip, proto)
        # services that forward nothing (no live backend, no encapsulation
        # source of a backend's family) are the corpus's business, not this
        if not any(b.weight for b in svc.backends) or (svc.mode != "l2dsr" and not all(
                svc.src4 if b.family == 4 else svc.src6 for b in svc.backends)):
            continue
        for i in range(CLIENTS):
            client = c.client4() if fam == 4 else c.client6()
            sport, dport = c.sport(), svc.port or 80
            up = bytes(c.l4(proto, sport, dport, c.payload(3000, 8000)))
            small = bytes(c.l4(proto, sport, dport, c.payload(100, 300)))
            ident = c.rng.randrange(1 << (16 if fam == 4 else 32))
            base = "frag%d_%s_%s_%d" % (fam, vip.replace(":", "."), "tcp" if proto == 6 else "udp", i)
            if fam == 4:
                whole = IP(bytes(IP(src=client, dst=vip, flags="DF", proto=proto, ttl=64) / Raw(small)))
            else:
                whole = IPv6(bytes(IPv6(src=client, dst=vip, hlim=64, nh=proto) / Raw(small)))
            res = c.expect_l4("fragments", base + "_whole", whole)
            _, verdict, counter, inp, out, _ = c.cases[-1]
            # (a quic service's random payload may look like a short header
            # with no known server ID: by conntrack and the hash all the same)
            assert verdict == "tx" and counter in ("forwarded", "quic_cid_unknown"), \
                (base, verdict, counter)
            lines.append((base + "_whole", "whole", res[1].addr, len(out) - len(bytes(whole)), inp, out))
            parts = cuts(len(up))
            for k, (lo, hi) in enumerate(parts):
                kind = "first" if k == 0 else "last" if k == len(parts) - 1 else "middle"
                more = k < len(parts) - 1
                if fam == 4:
                    p = IP(src=client, dst=vip, id=ident, flags="MF" if more else 0,
                           frag=lo // 8, proto=proto, ttl=64) / Raw(up[lo:hi])
                else:
                    p = IPv6(src=client, dst=vip, hlim=64) / IPv6ExtHdrFragment(
                        nh=proto, offset=lo // 8, m=int(more), id=ident) / Raw(up[lo:hi])
                name = "%s_%d_%s" % (base, k, kind)
                be = c.expect_fragment("fragments", name, p, proto, after=k > 0)
                _, verdict, counter, inp, out, _ = c.cases[-1]
                assert verdict == "tx" and counter == ("fragments" if k == 0 else "frag_followed"), \
                    (name, verdict, counter)
                # the flow's backend, the unfragmented packet's
                assert be is res[1], name
                lines.append((name, kind, be.addr, len(out) - len(bytes(p)), inp, out))
            datagrams.append((base, up))
    wrpcap(in_pcap, [Ether(inp) for _, _, _, _, inp, _ in lines])
    with open(expected, "w") as f:
        for name, kind, be, inner, _, out in lines:
            f.write("%s %s %s %d %s\n" % (name, kind, be, inner, out.hex()))
        for name, up in datagrams:
            f.write("datagram %s %s\n" % (name, up.hex()))
    print(len(lines))


def reassemble(inner_packets):
    """The upper-layer bytes of a datagram from its fragments (IPv4 or
    IPv6 packets with a fragment header right after the fixed one), or
    None if they do not make one."""
    try:
        return _reassemble(inner_packets)
    except (AssertionError, IndexError):
        return None


def _reassemble(inner_packets):
    pieces = {}
    for ip in inner_packets:
        if ip[0] >> 4 == 4:
            hl = (ip[0] & 0xF) * 4
            off = (int.from_bytes(ip[6:8], "big") & 0x1FFF) * 8
            pieces[off] = ip[hl:int.from_bytes(ip[2:4], "big")]
        else:
            assert ip[6] == 44, "no fragment header"
            off = int.from_bytes(ip[42:44], "big") & 0xFFF8
            pieces[off] = ip[48:40 + int.from_bytes(ip[4:6], "big")]
    data = b""
    for off in sorted(pieces):
        if off != len(data):
            return None  # a hole or an overlap
        data += pieces[off]
    return data


def check(expected, out_pcap):
    want, datagrams = [], {}
    for line in open(expected):
        w = line.split()
        if w[0] == "datagram":
            datagrams[w[1]] = bytes.fromhex(w[2])
        else:
            want.append(w)
    got = [bytes(p) for p in rdpcap(out_pcap)] if os.path.getsize(out_pcap) else []
    ok = {"whole": 0, "first": 0, "middle": 0, "last": 0}
    bad = 0
    for i, (name, kind, be, inner, out) in enumerate(want):
        if i < len(got) and got[i] == bytes.fromhex(out):
            ok[kind] += 1
            continue
        bad += 1
        if bad <= 5:
            print("  %s (%s, backend %s): %s" % (
                name, kind, be, "sent as %s..." % got[i][:40].hex() if i < len(got) else "not sent"))
    per_kind = {k: sum(1 for w in want if w[1] == k) for k in ok}
    for k in ok:
        print("%s: %d of %d left for their flow's backend, byte for byte" % (k, ok[k], per_kind[k]))
    # per datagram, from what left: one backend (told by the frame's
    # destination MAC: each backend's is its own), its flow's unfragmented
    # packet's; and the fragments reassemble into the datagram sent
    mac_be = {bytes.fromhex(w[4])[:6]: w[2] for w in want}
    whole_be, frags, frag_be = {}, {}, {}
    for i, (name, kind, be, inner, out) in enumerate(want):
        base = name.rsplit("_", 1)[0] if kind == "whole" else name.rsplit("_", 2)[0]
        sent_to = mac_be.get(got[i][:6], "?") if i < len(got) else "nothing"
        if kind == "whole":
            whole_be[base] = sent_to
            continue
        frag_be.setdefault(base, set()).add(sent_to)
        if i < len(got):
            frags.setdefault(base, []).append(got[i][int(inner):])
    intact = 0
    for base, up in datagrams.items():
        if frag_be.get(base) != {whole_be.get(base)}:
            if bad <= 10:
                print("  %s: fragments to %s, its flow to %s" % (
                    base, " ".join(sorted(frag_be.get(base, ()))), whole_be.get(base)))
            bad += 1
        elif reassemble(frags.get(base, [])) != up:
            if bad <= 10:
                print("  %s: what left does not reassemble into the datagram sent" % base)
            bad += 1
        else:
            intact += 1
    sizes = sorted(len(up) for up in datagrams.values())
    print("datagrams of %d..%d bytes: %d of %d reached their flow's backend and reassemble intact"
          % (sizes[0], sizes[-1], intact, len(datagrams)))
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
