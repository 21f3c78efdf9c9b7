#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Generate the packet corpus shared by the dataplane packet tests.

Usage: gen_corpus.py SERVICES_FILE OUTFILE

Reads the fixture services (same format as tests/common/services_file.h) and
writes one case per line:

    name verdict counter in_hex out_hex [after]

verdict is tx, kernel or drop; counter is the exported counter name
(include/switchyard/counters.h) the case must increment, or '-'; out_hex is
the exact expected output frame for tx cases, '-' otherwise; `after` marks a
case that runs after the one before it, in the state it left (connection
tracking, remembered first fragments: a datagram's fragments in order).
Lines starting with '#' are comments.

Every expected output is built here, independently of the C code: frames are
assembled with scapy (which computes lengths and checksums), and the backend
is predicted by a Python implementation of the flow hash (lookup3 jhash2 over
the words documented in include/switchyard/flow_hash.h) and of the table fill
(Maglev permutations, weights, bounded loads) documented in
include/switchyard/maglev.h. The C packet test replays these cases through
sy_lb_process(); agreement of the two implementations is the point. The
dataplane under test has a port MAC of 02:00:00:00:00:01 and an egress MTU of
1500; every case but an `after` one starts with empty connection tracking
and no remembered fragments. Generation is deterministic (fixed seeds).
"""

import heapq
import ipaddress
import logging
import random
import struct
import sys

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)

from scapy.layers.inet import ICMP, IP, TCP, UDP, IPOption_NOP, IPOption_RR  # noqa: E402
from scapy.layers.inet import IPOption_Router_Alert  # noqa: E402
from scapy.layers.inet6 import (  # noqa: E402
    ICMPv6DestUnreach,
    ICMPv6EchoRequest,
    ICMPv6ND_NS,
    ICMPv6PacketTooBig,
    ICMPv6ParamProblem,
    ICMPv6TimeExceeded,
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
)
from scapy.layers.ipsec import AH  # noqa: E402
from scapy.layers.l2 import ARP, Dot1Q, Ether  # noqa: E402
from scapy.packet import Raw  # noqa: E402

PORT_MAC = "02:00:00:00:00:01"
MTU = 1500
FLOWS_PER_SERVICE = 24

ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD
TPID_8021Q = 0x8100
TPID_8021AD = 0x88A8

U32 = 0xFFFFFFFF

# ---------------------------------------------------------------------------
# lookup3 jhash over 32-bit words (jhash2)


def _rol(x, s):
    return ((x << s) | (x >> (32 - s))) & U32


def jhash_words(words, seed):
    n = len(words)
    a = b = c = (0xDEADBEEF + (n << 2) + seed) & U32
    k = list(words)
    i = 0
    while n > 3:
        a = (a + k[i]) & U32
        b = (b + k[i + 1]) & U32
        c = (c + k[i + 2]) & U32
        # mix
        a = (a - c) & U32; a ^= _rol(c, 4); c = (c + b) & U32
        b = (b - a) & U32; b ^= _rol(a, 6); a = (a + c) & U32
        c = (c - b) & U32; c ^= _rol(b, 8); b = (b + a) & U32
        a = (a - c) & U32; a ^= _rol(c, 16); c = (c + b) & U32
        b = (b - a) & U32; b ^= _rol(a, 19); a = (a + c) & U32
        c = (c - b) & U32; c ^= _rol(b, 4); b = (b + a) & U32
        n -= 3
        i += 3
    if n == 0:
        return c
    if n == 3:
        c = (c + k[i + 2]) & U32
    if n >= 2:
        b = (b + k[i + 1]) & U32
    a = (a + k[i]) & U32
    # final
    c ^= b; c = (c - _rol(b, 14)) & U32
    a ^= c; a = (a - _rol(c, 11)) & U32
    b ^= a; b = (b - _rol(a, 25)) & U32
    c ^= b; c = (c - _rol(b, 16)) & U32
    a ^= c; a = (a - _rol(c, 4)) & U32
    b ^= a; b = (b - _rol(a, 14)) & U32
    c ^= b; c = (c - _rol(b, 24)) & U32
    return c


def addr_words(packed):
    """Address as words: 4 wire-order bytes read as a little-endian u32."""
    return list(struct.unpack("<%dI" % (len(packed) // 4), packed))


def port_word(port):
    """A port as the dataplane loads it: wire-order u16 read little-endian."""
    return struct.unpack("<H", struct.pack("!H", port))[0]


def flow_hash(family, src, dst, sport, dport, proto, seed):
    s = ipaddress.ip_address(src).packed
    d = ipaddress.ip_address(dst).packed
    assert len(s) == len(d) == (4 if family == 4 else 16)
    ports = port_word(sport) | port_word(dport) << 16
    return jhash_words(addr_words(s) + addr_words(d) + [ports, proto], seed)


# services[].hash (flow_hash.h, enum sy_hash_fields), in that order
HASH_FIELDS = ["5-tuple", "3-tuple", "source-ip", "source-ip-port"]


def service_hash(svc, family, src, dst, sport, dport, proto):
    """The hash a service chooses by (and encapsulates with): the flow hash
    of the fields it hashes, the others zero (sy_service_flow_hash). A
    packet without ports (a later fragment) hashes the same with ports 0."""
    if svc.hash_fields != 0:  # not the 5-tuple
        dport = 0
        if svc.hash_fields != 3:  # source-ip-port keeps the client's port
            sport = 0
        if svc.hash_fields != 1:  # 3-tuple keeps the VIP
            dst = "0.0.0.0" if family == 4 else "::"
    return flow_hash(family, src, dst, sport, dport, proto, svc.seed)


# ---------------------------------------------------------------------------
# Services and the Maglev model

MAGLEV_SEED_OFFSET = 0x4D61676C
MAGLEV_SEED_SKIP = 0x65763136


class Backend:
    def __init__(self, addr, port, mac, weight):
        self.ip = ipaddress.ip_address(addr)
        self.family = self.ip.version
        self.addr = str(self.ip)
        self.addr16 = self.ip.packed.ljust(16, b"\0")  # unused IPv4 words zero
        self.port = port
        self.mac = mac
        self.weight = weight
        self.server_id = 0  # QUIC server ID (sid=), 0 = none

    def ident(self):
        return (self.family, self.addr16, self.port)


class Service:
    def __init__(self, name, proto, vip, port, mode):
        self.name = name
        self.proto = proto
        self.ip = ipaddress.ip_address(vip)
        self.family = self.ip.version
        self.vip = str(self.ip)
        self.port = port
        self.mode = mode
        self.m = 251  # the services-file loader's default
        self.seed = 0
        self.gue_port = 6080  # gue_port 0 (unset) = SY_GUE_DEFAULT_PORT
        self.src4 = None
        self.src6 = None
        self.quic = False  # QUIC connection-ID routing (quic=1)
        self.hash_fields = 0  # hash=: an index of HASH_FIELDS
        self.backends = []
        self._table = None

    def table(self):
        if self._table is None:
            self._table = maglev_table(self.backends, self.m)
        return self._table

    def pick(self, h):
        return self.table()[h % self.m]


def maglev_table(backends, m):
    """The rank-synchronous quota fill of include/switchyard/maglev.h.

    Backends in canonical identity order, each with the permutation
    offset + j*skip (mod m). A turn is one probe: the backend looks at the
    next slot of its permutation, takes it if it is free and its quota allows
    (up to lo = floor(m*w/W), then up to hi = ceil(m*w/W) while the shared
    pool of m - sum(lo) entries lasts), and moves on either way. A backend's
    k-th turn (k >= 1) is in round ceil(k*maxw/w)-1; turns go in (round,
    canonical position) order; a backend that may take no more entries
    leaves the rotation."""
    canon = sorted(backends, key=Backend.ident)
    table = [None] * m
    live = [i for i, b in enumerate(canon) if b.weight > 0]
    if not live:
        return table
    maxw = max(canon[i].weight for i in live)
    wsum = sum(canon[i].weight for i in live)
    pos, skip, probes, load, lo, hi = {}, {}, {}, {}, {}, {}
    for i in live:
        b = canon[i]
        w = [b.family] + addr_words(b.addr16) + [b.port]
        pos[i] = jhash_words(w, MAGLEV_SEED_OFFSET) % m
        skip[i] = jhash_words(w, MAGLEV_SEED_SKIP) % (m - 1) + 1
        probes[i] = 0
        load[i] = 0
        lo[i] = m * b.weight // wsum
        hi[i] = -(-m * b.weight // wsum)
    tokens = m - sum(lo.values())

    def may_take(i):
        return load[i] < lo[i] or (load[i] < hi[i] and tokens > 0)

    def turn_round(k, w):
        return -(-k * maxw // w) - 1

    heap = [(turn_round(1, canon[i].weight), i) for i in live]
    heapq.heapify(heap)
    filled = 0
    while filled < m:
        _, i = heap[0]
        if table[pos[i]] is None and may_take(i):
            if load[i] >= lo[i]:
                tokens -= 1
            table[pos[i]] = canon[i]
            load[i] += 1
            filled += 1
        pos[i] = (pos[i] + skip[i]) % m
        probes[i] += 1
        if may_take(i):
            heapq.heapreplace(heap, (turn_round(probes[i] + 1, canon[i].weight), i))
        else:
            heapq.heappop(heap)
    return table


def parse_services(path):
    services = {}
    order = []
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            line = line.split("#", 1)[0]
            tok = line.split()
            if not tok:
                continue
            where = "%s:%d" % (path, lineno)
            if tok[0] == "service":
                if len(tok) < 6:
                    sys.exit("%s: service needs NAME PROTO VIP PORT MODE" % where)
                proto = {"tcp": 6, "udp": 17}[tok[2]]
                s = Service(tok[1], proto, tok[3], int(tok[4], 10), tok[5])
                assert s.mode in ("ipip", "gue", "l2dsr"), where
                for opt in tok[6:]:
                    k, v = opt.split("=", 1)
                    if k == "m":
                        s.m = int(v, 10)
                    elif k == "seed":
                        s.seed = int(v, 0)
                    elif k == "gue_port":
                        s.gue_port = int(v, 10) or 6080
                    elif k == "src4":
                        s.src4 = str(ipaddress.IPv4Address(v))
                    elif k == "src6":
                        s.src6 = str(ipaddress.IPv6Address(v))
                    elif k == "quic":
                        s.quic = int(v, 10) != 0
                    elif k == "hash" and v in HASH_FIELDS:
                        s.hash_fields = HASH_FIELDS.index(v)
                    else:
                        sys.exit("%s: bad option %s" % (where, opt))
                services[s.name] = s
                order.append(s)
            elif tok[0] == "backend":
                if len(tok) < 5:
                    sys.exit("%s: backend needs SERVICE ADDR PORT MAC [WEIGHT]" % where)
                w, sid = 1, 0
                for t in tok[5:]:  # [WEIGHT] [sid=QUIC_SERVER_ID]
                    if t.startswith("sid="):
                        sid = int(t[4:], 0)
                    else:
                        w = int(t, 10)
                b = Backend(tok[2], int(tok[3], 10), tok[4].lower(), w)
                b.server_id = sid
                services[tok[1]].backends.append(b)
            else:
                sys.exit("%s: unknown directive %s" % (where, tok[0]))
    return order


# ---------------------------------------------------------------------------
# QUIC connection IDs (docs/dataplane.md, "QUIC connection IDs"), from the
# documented encoding: long header (0x80) -> the hash; short header (fixed
# bit 0x40) with at least 1 + 8 payload bytes -> the server ID of its CID
# (version = top two bits of cid[0]; 1: 16 bits after them, 2: cid[1..3]).

QUIC_MIN_CID_LEN = 8


def quic_cid_encode(version, server_id):
    """The first 4 bytes of a CID carrying server_id."""
    if version == 1:
        assert 0 < server_id <= 0xFFFF
        return bytes([0x40 | server_id >> 10, (server_id >> 2) & 0xFF, (server_id & 3) << 6, 0])
    assert version == 2 and 0 < server_id <= 0xFFFFFF
    return bytes([0x80]) + server_id.to_bytes(3, "big")


def quic_server_id(cid):
    v = cid[0] >> 6
    if v == 1:
        return (cid[0] & 0x3F) << 10 | cid[1] << 2 | cid[2] >> 6
    if v == 2:
        return cid[1] << 16 | cid[2] << 8 | cid[3]
    return 0


def quic_route(svc, payload):
    """(counter, backend or None) of a whole UDP packet of a quic service:
    ('hash', None) long header; ('quic_cid_routed', be); ('quic_cid_unknown',
    None): by the hash, counted."""
    if not payload:
        return "quic_cid_unknown", None
    if payload[0] & 0x80:
        return "hash", None
    if not payload[0] & 0x40 or len(payload) < 1 + QUIC_MIN_CID_LEN:
        return "quic_cid_unknown", None
    sid = quic_server_id(payload[1:5])
    for b in svc.backends:
        if sid and b.server_id == sid:
            return "quic_cid_routed", b
    return "quic_cid_unknown", None


class Model:
    def __init__(self, services):
        self.services = services
        self.by_name = {s.name: s for s in services}

    def match(self, family, dst, proto, dport):
        """Exact (address, port, protocol) service, else the all-ports one."""
        ip = ipaddress.ip_address(dst)
        for want in (dport, 0):
            for s in self.services:
                if s.ip == ip and s.proto == proto and s.port == want:
                    return s
        return None

    def addr_service(self, dst, proto):
        """The service receiving an (address, protocol)'s fragments: its
        all-ports service, else its lowest port's."""
        ip = ipaddress.ip_address(dst)
        cands = [s for s in self.services if s.ip == ip and s.proto == proto]
        if not cands:
            return None
        return min(cands, key=lambda s: s.port)  # port 0 sorts first

    def is_vip_addr(self, dst, proto=None):
        """A VIP address: of any TCP or UDP service (traffic to it is never
        the kernel's, whatever its protocol or port)."""
        ip = ipaddress.ip_address(dst)
        return any(s.ip == ip for s in self.services)


# ---------------------------------------------------------------------------
# Frames


def ethertype_of(family):
    return ETH_IPV4 if family == 4 else ETH_IPV6


def fragment_identity(l3pkt, proto):
    """A fragment's datagram identity (its IPv4 ID / IPv6 fragment
    identification) and, for a first fragment whose TCP header (all of it)
    or UDP header (with a length of at least 8) it holds, the ports; else
    None for them: what pkt_parse.h reads, from the bytes."""
    raw = bytes(l3pkt)
    if isinstance(l3pkt, IP):
        ident = l3pkt.id
        offset = l3pkt.frag
        l4 = raw[(raw[0] & 0xF) * 4:struct.unpack("!H", raw[2:4])[0]]
    else:
        fh = l3pkt[IPv6ExtHdrFragment]
        ident = fh.id
        offset = fh.offset
        l4 = bytes(fh.payload)
    if offset != 0 or proto not in (6, 17):
        return ident, None
    if proto == 6:
        if len(l4) < 20 or (l4[12] >> 4) * 4 < 20 or (l4[12] >> 4) * 4 > len(l4):
            return ident, None
    elif len(l4) < 8 or struct.unpack("!H", l4[4:6])[0] < 8:
        return ident, None
    return ident, struct.unpack("!HH", l4[:4])


def frame(dst, src, tags, ethertype, l3, pad=b""):
    """Ethernet (+ VLAN tags [(tpid, vid, prio)]) around raw L3 bytes."""
    if not tags:
        p = Ether(dst=dst, src=src, type=ethertype)
    else:
        p = Ether(dst=dst, src=src, type=tags[0][0])
        for i, (_tpid, vid, prio) in enumerate(tags):
            nxt = tags[i + 1][0] if i + 1 < len(tags) else ethertype
            p = p / Dot1Q(vlan=vid, prio=prio, type=nxt)
    return bytes(p / Raw(l3)) + pad


def inner_tc(l3pkt):
    if isinstance(l3pkt, IP):
        return l3pkt.tos
    return l3pkt.tc


def inner_df(l3pkt):
    if isinstance(l3pkt, IP):
        return bool(int(l3pkt.flags) & 0x2)
    return True


def forward_output(svc, be, h, tags, l3pkt):
    """Expected frame of a packet forwarded to `be` (flow hash h)."""
    inner = bytes(l3pkt)
    fam_in = 4 if isinstance(l3pkt, IP) else 6
    if svc.mode == "l2dsr":
        return frame(be.mac, PORT_MAC, tags, ethertype_of(fam_in), inner)
    nh = 4 if fam_in == 4 else 41
    tc = inner_tc(l3pkt)
    if svc.mode == "gue":
        udp = UDP(sport=0xC000 | (h & 0x3FFF), dport=svc.gue_port)
        if be.family == 4:
            udp.chksum = 0  # optional over IPv4, not computed
        payload = udp / Raw(inner)
        proto = 17
    else:
        payload = Raw(inner)
        proto = nh
    if be.family == 4:
        # the outer header always forbids fragmentation (an atomic datagram,
        # ID 0 per RFC 6864): too-big inner packets are answered or dropped
        outer = IP(ihl=5, tos=tc, id=0, flags="DF",
                   frag=0, ttl=64, proto=proto, src=svc.src4, dst=be.addr) / payload
    else:
        outer = IPv6(tc=tc, fl=h & 0xFFFFF, hlim=64, nh=proto, src=svc.src6,
                     dst=be.addr) / payload
    return frame(be.mac, PORT_MAC, tags, ethertype_of(be.family), bytes(outer))


def overhead(svc, be):
    if svc.mode == "l2dsr":
        return 0
    ip = 20 if be.family == 4 else 40
    return ip + 8 if svc.mode == "gue" else ip


def icmp_error_allowed(client, dmac):
    """May the balancer send an ICMP error to client, answering a frame to
    dmac? (RFC 1122 3.2.2; RFC 4443 2.4 e.) Not to an address that names no
    single host; for IPv4 not about a link-layer broadcast/multicast frame
    either (IPv6 makes packet-too-big the exception to that rule)."""
    ip = ipaddress.ip_address(client)
    if ip.version == 4:
        group_frame = int(dmac.split(":")[0], 16) & 1
        return not group_frame and ip.packed[0] not in (0, 127) and ip.packed[0] < 224
    return not (ip.is_multicast or ip.is_unspecified or ip.is_loopback)


def too_big_output(client_mac, tags, l3pkt, vip, client, mtu):
    inner = bytes(l3pkt)
    if isinstance(l3pkt, IP):
        icmp = ICMP(type=3, code=4, nexthopmtu=mtu) / Raw(inner[:576 - 28])
        pkt = IP(ihl=5, tos=0, id=0, flags=0, ttl=64, proto=1, src=vip, dst=client) / icmp
        return frame(client_mac, PORT_MAC, tags, ETH_IPV4, bytes(pkt))
    pkt = (IPv6(tc=0, fl=0, hlim=64, nh=58, src=vip, dst=client) /
           ICMPv6PacketTooBig(mtu=mtu) / Raw(inner[:1280 - 48]))
    return frame(client_mac, PORT_MAC, tags, ETH_IPV6, bytes(pkt))


# ---------------------------------------------------------------------------
# The corpus


class Corpus:
    def __init__(self, model, rng):
        self.model = model
        self.rng = rng
        self.cases = []
        self.names = set()
        self.categories = {}
        # the state an `after` case runs in: what its sequence left
        self.after = False
        self.frag_mem = {}  # datagram identity -> its first fragment's (sport, dport)
        self.tracked = set()  # 5-tuples in the connection table

    def add(self, category, name, verdict, counter, inp, out=None):
        assert name not in self.names, name
        assert verdict in ("tx", "kernel", "drop")
        assert (out is not None) == (verdict == "tx"), name
        assert " " not in name
        self.names.add(name)
        self.cases.append((name, verdict, counter, inp, out, self.after))
        self.categories[category] = self.categories.get(category, 0) + 1

    # ---- random flow material ----
    def client4(self):
        r = self.rng
        return "198.19.%d.%d" % (r.randrange(256), r.randrange(1, 255))

    def client6(self):
        r = self.rng
        return "2001:2:0:%x::%x" % (r.randrange(1, 0xFFFF), r.randrange(1, 0xFFFF))

    def client_mac(self):
        r = self.rng
        return "02:00:00:aa:%02x:%02x" % (r.randrange(256), r.randrange(256))

    def sport(self):
        return self.rng.randrange(1024, 65536)

    def payload(self, lo=0, hi=160):
        n = self.rng.randrange(lo, hi + 1)
        return bytes(self.rng.randrange(256) for _ in range(n))

    def l4(self, proto, sport, dport, data):
        r = self.rng
        if proto == 6:
            return TCP(sport=sport, dport=dport, seq=r.randrange(1 << 32),
                       ack=r.randrange(1 << 32),
                       flags=r.choice(["S", "SA", "A", "PA", "FA", "R"]),
                       window=r.randrange(65536)) / Raw(data)
        return UDP(sport=sport, dport=dport) / Raw(data)

    def ip4(self, src, dst, proto_layer, df=True, tos=None, options=None, **kw):
        r = self.rng
        if tos is None:
            tos = r.choice([0, 0x10, 0xB8, 0x03, 0x29, 0x48])
        p = IP(src=src, dst=dst, tos=tos, id=r.randrange(65536),
               flags="DF" if df else 0, ttl=r.choice([63, 64, 127, 255]), **kw)
        if options:
            p.options = options
        return p / proto_layer

    def ip6(self, src, dst, upper, tc=None, **kw):
        r = self.rng
        if tc is None:
            tc = r.choice([0, 0x10, 0xB8, 0x03, 0x29])
        return IPv6(src=src, dst=dst, tc=tc, fl=r.randrange(1 << 20),
                    hlim=r.choice([63, 64, 255]), **kw) / upper

    # ---- expectations ----
    def no_service(self, category, name, inp, vip_addr, reason="drop_no_service"):
        """A packet no service takes: dropped (reason) if its destination is
        a VIP address, else the kernel's."""
        if vip_addr:
            self.add(category, name, "drop", reason, inp)
        else:
            self.add(category, name, "kernel", "-", inp)

    def backend(self, category, name, inp, svc, h):
        """The backend svc's table gives flow hash h, or None after adding
        the drop_no_backend case."""
        be = svc.pick(h)
        if be is None:
            self.add(category, name, "drop", "drop_no_backend", inp)
        return be

    def expect_l4(self, category, name, l3pkt, tags=(), pad=b"", cmac=None, dmac=PORT_MAC):
        """A TCP/UDP packet: predicts the verdict and the output."""
        tags = list(tags)
        cmac = cmac or self.client_mac()
        fam = 4 if isinstance(l3pkt, IP) else 6
        src, dst = l3pkt.src, l3pkt.dst
        l4 = l3pkt[TCP] if TCP in l3pkt else l3pkt[UDP]
        proto = 6 if isinstance(l4, TCP) else 17
        inp = frame(dmac, cmac, tags, ethertype_of(fam), bytes(l3pkt), pad)
        svc = self.model.match(fam, dst, proto, l4.dport)
        if svc is None:
            self.no_service(category, name, inp, self.model.is_vip_addr(dst, proto))
            return None
        h = service_hash(svc, fam, src, dst, l4.sport, l4.dport, proto)
        how = "forwarded"
        if svc.quic and proto == 17:
            how, be = quic_route(svc, bytes(l4.payload))
            if be is not None:  # by its connection ID, ahead of conntrack
                self.selected(category, name, inp, svc, be, h, tags, l3pkt, how, cmac, dmac)
                return svc, be
            how = "forwarded" if how == "hash" else how
        be = self.backend(category, name, inp, svc, h)
        if be is None:
            return svc, None
        self.selected(category, name, inp, svc, be, h, tags, l3pkt, how, cmac, dmac)
        return svc, be

    def selected(self, category, name, inp, svc, be, h, tags, l3pkt, how, cmac=None,
                 dmac=PORT_MAC):
        """Outcome once a backend is chosen; how = forwarded (a TCP/UDP
        flow), fragments or icmp_to_backend. The MTU check comes first, then
        the encapsulation source of the backend's family. Every case starts
        with a full ICMP error bucket: the rate limit has tests of its own."""
        if svc.mode != "l2dsr" and len(bytes(l3pkt)) + overhead(svc, be) > MTU:
            # never an ICMP error about a fragment or an ICMP error, nor
            # about IPv4 without DF (which the dataplane does not fragment)
            if how not in ("forwarded", "quic_cid_routed", "quic_cid_unknown") or \
                    not inner_df(l3pkt):
                self.add(category, name, "drop", "drop_mtu", inp)
            elif not icmp_error_allowed(l3pkt.src, dmac):
                self.add(category, name, "drop", "icmp_suppressed_dest", inp)
            else:
                out = too_big_output(cmac, tags, l3pkt, l3pkt.dst, l3pkt.src,
                                     MTU - overhead(svc, be))
                self.add(category, name, "tx", "icmp_too_big_sent", inp, out)
            return
        if svc.mode != "l2dsr" and (svc.src4 if be.family == 4 else svc.src6) is None:
            self.add(category, name, "drop", "drop_family", inp)
            return
        self.add(category, name, "tx", how, inp, forward_output(svc, be, h, tags, l3pkt))

    def expect_fragment(self, category, name, l3pkt, proto, tags=(), after=False):
        """A fragment (docs/dataplane.md, "Fragments"): the first of its
        datagram, with its ports, is balanced as a packet of its flow (5-tuple
        service and hash, tracked: counter `fragments`) and its ports are
        remembered; a later one follows them when its first came before in
        the sequence (after=True: `frag_followed`, the flow's entry), else
        goes by the 3-tuple to the address's fragment service
        (`frag_untracked`)."""
        if not after:
            self.frag_mem = {}
            self.tracked = set()
        self.after = after
        tags = list(tags)
        fam = 4 if isinstance(l3pkt, IP) else 6
        src, dst = l3pkt.src, l3pkt.dst
        inp = frame(PORT_MAC, self.client_mac(), tags, ethertype_of(fam), bytes(l3pkt))
        ident, ports = fragment_identity(l3pkt, proto)
        key = (fam, src, dst, proto, ident)
        first = ports is not None
        if not first and key in self.frag_mem:
            ports = self.frag_mem[key]
        try:
            if ports is None:
                return self._fragment_3tuple(category, name, inp, fam, src, dst, proto, tags,
                                             l3pkt)
            sport, dport = ports
            svc = self.model.match(fam, dst, proto, dport)
            if svc is None:
                self.no_service(category, name, inp, self.model.is_vip_addr(dst, proto))
                return None
            if first:
                self.frag_mem[key] = ports
            flow = (fam, src, dst, sport, dport, proto)
            h = service_hash(svc, fam, src, dst, sport, dport, proto)
            be = self.backend(category, name, inp, svc, h)
            if be is None:
                return None
            # a first fragment opens its flow's entry, a later one finds it
            assert (flow in self.tracked) == (not first), name
            self.tracked.add(flow)
            self.selected(category, name, inp, svc, be, h, tags, l3pkt,
                          "fragments" if first else "frag_followed")
            return be
        finally:
            self.after = False

    def _fragment_3tuple(self, category, name, inp, fam, src, dst, proto, tags, l3pkt):
        svc = self.model.addr_service(dst, proto) if proto in (6, 17) else None
        if svc is None:
            self.no_service(category, name, inp, proto in (6, 17) and self.model.is_vip_addr(dst))
            return None
        h = service_hash(svc, fam, src, dst, 0, 0, proto)
        be = self.backend(category, name, inp, svc, h)
        if be is None:
            return None
        self.selected(category, name, inp, svc, be, h, tags, l3pkt, "frag_untracked")
        return be

    def expect_icmp_error(self, category, name, l3pkt, quote_src, quote_dst, qproto,
                          qsport, qdport, tags=()):
        """An ICMP error whose quote is quote_src:qsport -> quote_dst:qdport."""
        tags = list(tags)
        fam = 4 if isinstance(l3pkt, IP) else 6
        inp = frame(PORT_MAC, self.client_mac(), tags, ethertype_of(fam), bytes(l3pkt))
        # the flow in client -> VIP direction is the quote reversed
        svc = self.model.match(fam, quote_src, qproto, qsport)
        if svc is None:
            self.no_service(category, name, inp, self.model.is_vip_addr(quote_src, qproto),
                            "drop_icmp")
            return None
        h = service_hash(svc, fam, quote_dst, quote_src, qdport, qsport, qproto)
        be = self.backend(category, name, inp, svc, h)
        if be is None:
            return None
        self.selected(category, name, inp, svc, be, h, tags, l3pkt, "icmp_to_backend")
        return be

    def write(self, path):
        with open(path, "w") as f:
            f.write("# Switchyard packet corpus, generated by tests/packets/gen_corpus.py\n")
            f.write("# name verdict counter in_hex out_hex [after]\n")
            for name, verdict, counter, inp, out, after in self.cases:
                f.write("%s %s %s %s %s%s\n" % (name, verdict, counter, inp.hex(),
                                                out.hex() if out is not None else "-",
                                                " after" if after else ""))


# ---------------------------------------------------------------------------
# Case families


def gen_flows(c, model):
    """FLOWS_PER_SERVICE distinct flows per service with at least one
    backend: every forwarding mode, every family combination."""
    r = c.rng
    for svc in model.services:
        if not any(b.weight for b in svc.backends):
            continue  # see gen_kernel_and_policy
        if svc.mode != "l2dsr" and any(
                (svc.src4 if b.family == 4 else svc.src6) is None for b in svc.backends):
            continue  # drop_family: see gen_kernel_and_policy
        hit = set()
        n = FLOWS_PER_SERVICE * (2 if len(svc.backends) > 3 else 1)
        for i in range(n):
            fam = svc.family
            client = c.client4() if fam == 4 else c.client6()
            dport = svc.port
            if dport == 0:  # all-ports: many ports, none owned by a port service
                while True:
                    dport = r.choice([80, 443, 8080, 53, 25, r.randrange(1, 65536)])
                    if model.match(fam, svc.vip, svc.proto, dport) is svc:
                        break
            up = c.l4(svc.proto, c.sport(), dport, c.payload())
            if fam == 4:
                l3 = c.ip4(client, svc.vip, up, df=r.random() < 0.8)
            else:
                l3 = c.ip6(client, svc.vip, up)
            got = c.expect_l4("flows", "flow_%s_%02d" % (svc.name, i), l3)
            assert got and got[0] is svc, svc.name
            hit.add(got[1].ident())
        live = {b.ident() for b in svc.backends if b.weight}
        assert hit == live, "service %s: flows hit %d of %d backends" % (
            svc.name, len(hit), len(live))


def gen_affinity(c, model):
    """Services that hash less than the 5-tuple (services[].hash): one
    client's flows from many source ports meet on one backend (3-tuple,
    source-ip), and its later fragments without their first go there too;
    a source-ip-port service's flows from one client spread."""
    for svc in model.services:
        if not svc.hash_fields:
            continue
        client = c.client4() if svc.family == 4 else c.client6()
        got = set()
        for i in range(8):
            up = c.l4(svc.proto, c.sport(), svc.port, c.payload())
            l3 = c.ip4(client, svc.vip, up) if svc.family == 4 else c.ip6(client, svc.vip, up)
            r = c.expect_l4("affinity", "affinity_%s_%02d" % (svc.name, i), l3)
            assert r and r[0] is svc, svc.name
            got.add(r[1].ident())
        if HASH_FIELDS[svc.hash_fields] in ("3-tuple", "source-ip"):
            assert len(got) == 1, "%s: one client on %d backends" % (svc.name, len(got))
        else:
            assert len(got) > 1, "%s: one client's ports on one backend" % svc.name


def first_service(model, mode=None, vfam=None, bfam=None, proto=None, allports=None):
    for s in model.services:
        if not any(b.weight for b in s.backends):
            continue
        if mode and s.mode != mode:
            continue
        if vfam and s.family != vfam:
            continue
        if bfam and s.backends[0].family != bfam:
            continue
        if proto and s.proto != proto:
            continue
        if allports is not None and (s.port == 0) != allports:
            continue
        if s.mode != "l2dsr" and (s.src4 if s.backends[0].family == 4 else s.src6) is None:
            continue
        return s
    raise SystemExit("services file has no service for mode=%s vfam=%s bfam=%s proto=%s"
                     % (mode, vfam, bfam, proto))


def svc_port(svc):
    return svc.port or 8443


def gen_l2_and_options(c, model):
    web4 = first_service(model, mode="ipip", vfam=4, bfam=4, proto=6)
    dns4 = first_service(model, mode="gue", vfam=4, bfam=4, proto=17)
    dsr4 = first_service(model, mode="l2dsr", vfam=4)
    web6 = first_service(model, mode="ipip", vfam=6, bfam=6, proto=6)
    gue6 = first_service(model, mode="gue", vfam=6, bfam=6, proto=17)
    cat = "l2_vlan_padding_options"
    vlan = [(TPID_8021Q, 100, 0)]
    qinq = [(TPID_8021AD, 300, 5), (TPID_8021Q, 42, 3)]
    dbl = [(TPID_8021Q, 7, 0), (TPID_8021Q, 4094, 7)]
    for svc in (web4, dns4, dsr4, web6, gue6):
        for tname, tags in (("vlan", vlan), ("qinq", qinq), ("dot1q2", dbl)):
            for i in range(2):
                up = c.l4(svc.proto, c.sport(), svc_port(svc), c.payload())
                if svc.family == 4:
                    l3 = c.ip4(c.client4(), svc.vip, up)
                else:
                    l3 = c.ip6(c.client6(), svc.vip, up)
                c.expect_l4(cat, "%s_%s_%d" % (tname, svc.name, i), l3, tags)
    # Ethernet padding: minimum-size frames, and trailing bytes (an FCS left
    # in the frame) after IPv4 and IPv6 packets
    for svc in (web4, dns4, dsr4):
        for i, tags in enumerate(([], vlan)):
            up = c.l4(svc.proto, c.sport(), svc_port(svc), b"")
            l3 = c.ip4(c.client4(), svc.vip, up)
            need = max(0, 60 - 14 - 4 * len(tags) - len(bytes(l3)))
            c.expect_l4(cat, "pad_min_%s_%d" % (svc.name, i), l3, tags, pad=b"\0" * need)
            up = c.l4(svc.proto, c.sport(), svc_port(svc), c.payload(1, 40))
            l3 = c.ip4(c.client4(), svc.vip, up)
            c.expect_l4(cat, "pad_fcs_%s_%d" % (svc.name, i), l3, tags,
                        pad=bytes([0xDE, 0xAD, 0xBE, 0xEF]))
    for svc in (web6, gue6):
        up = c.l4(svc.proto, c.sport(), svc_port(svc), c.payload(0, 20))
        l3 = c.ip6(c.client6(), svc.vip, up)
        c.expect_l4(cat, "pad_fcs_%s" % svc.name, l3, [], pad=bytes([0x12, 0x34, 0x56, 0x78]))
    # IPv4 options (IHL 6..15)
    opts = [
        [IPOption_Router_Alert()],
        [IPOption_NOP(), IPOption_NOP(), IPOption_NOP(), IPOption_NOP()],
        [IPOption_RR(routers=["198.19.0.1", "198.19.0.2"])],
        [IPOption_RR(routers=["198.19.1.%d" % i for i in range(9)])],  # IHL 15
    ]
    for svc in (web4, dns4, dsr4):
        for i, o in enumerate(opts):
            up = c.l4(svc.proto, c.sport(), svc_port(svc), c.payload())
            l3 = c.ip4(c.client4(), svc.vip, up, options=o)
            assert bytes(l3)[0] != 0x45
            c.expect_l4("ipv4_options", "ipv4opt_%s_%d" % (svc.name, i), l3,
                        vlan if i == 1 else [])
    # DSCP/ECN and DF variations into ipip and gue
    for svc in (web4, dns4):
        for tos in (0x00, 0x01, 0x02, 0x03, 0xB8, 0xFF):
            for df in (True, False):
                up = c.l4(svc.proto, c.sport(), svc.port, c.payload())
                l3 = c.ip4(c.client4(), svc.vip, up, df=df, tos=tos)
                c.expect_l4("tos_df", "tos_%s_%02x_%s" % (svc.name, tos, "df" if df else "nodf"), l3)
    for svc in (web6, gue6):
        for tc in (0x00, 0x03, 0xB8, 0xFF):
            up = c.l4(svc.proto, c.sport(), svc.port, c.payload())
            l3 = c.ip6(c.client6(), svc.vip, up, tc=tc)
            c.expect_l4("tos_df", "tc_%s_%02x" % (svc.name, tc), l3)


def gen_ipv6_ext(c, model):
    r = c.rng
    web6 = first_service(model, mode="ipip", vfam=6, bfam=6, proto=6)
    gue6 = first_service(model, mode="gue", vfam=6, bfam=6, proto=17)
    cat = "ipv6_ext"
    chains = {
        "hbh": lambda: IPv6ExtHdrHopByHop(),
        "hbh_dst_rt": lambda: IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() /
        IPv6ExtHdrRouting(addresses=["2001:2::9"], segleft=0),
        "hbh_dst_rt_dst": lambda: IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() /
        IPv6ExtHdrRouting(addresses=["2001:2::9", "2001:2::a"], segleft=0) /
        IPv6ExtHdrDestOpt(),
        "atomic_frag": lambda: IPv6ExtHdrFragment(offset=0, m=0, id=r.randrange(1 << 32)),
        "ah": None,
    }
    for svc in (web6, gue6):
        for cname, mk in chains.items():
            for i in range(2):
                nxt = svc.proto
                up = c.l4(svc.proto, c.sport(), svc.port, c.payload())
                if mk is None:
                    ext = AH(nh=nxt, payloadlen=4, spi=r.randrange(1, 1 << 32),
                             seq=r.randrange(1 << 32), icv=bytes(12))
                else:
                    ext = mk()
                l3 = c.ip6(c.client6(), svc.vip, ext / up)
                c.expect_l4(cat, "ext_%s_%s_%d" % (svc.name, cname, i), l3)
        # exactly 8 extension headers is accepted, 9 are not (below)
        chain = IPv6ExtHdrHopByHop()
        for _ in range(7):
            chain = chain / IPv6ExtHdrDestOpt()
        up = c.l4(svc.proto, c.sport(), svc.port, c.payload())
        c.expect_l4(cat, "ext_%s_8_headers" % svc.name, c.ip6(c.client6(), svc.vip, chain / up))


def encap_picks(model, mixed=True):
    """(label, service) of every encapsulation: ipip and gue, both families,
    and with mixed the 4in6 / 6in4 ones."""
    picks = [
        ("web4", first_service(model, mode="ipip", vfam=4, bfam=4, proto=6)),
        ("dns4", first_service(model, mode="gue", vfam=4, bfam=4, proto=17)),
        ("web6", first_service(model, mode="ipip", vfam=6, bfam=6, proto=6)),
        ("gue6", first_service(model, mode="gue", vfam=6, bfam=6, proto=17)),
    ]
    if mixed:
        picks += [
            ("4in6", first_service(model, mode="ipip", vfam=4, bfam=6, proto=6)),
            ("6in4", first_service(model, mode="ipip", vfam=6, bfam=4, proto=6)),
            ("6in4gue", first_service(model, mode="gue", vfam=6, bfam=4, proto=17)),
        ]
    return picks


def sized_l3(c, svc, src, delta, df=True):
    """A TCP/UDP packet from src (None: a random client) to svc whose
    encapsulation exceeds the MTU by delta bytes (0: fits exactly)."""
    l3len = MTU - overhead(svc, svc.backends[0]) + delta
    hdr = (20 if svc.family == 4 else 40) + (20 if svc.proto == 6 else 8)
    up = c.l4(svc.proto, c.sport(), svc.port, c.payload(l3len - hdr, l3len - hdr))
    if src is None:
        src = c.client4() if svc.family == 4 else c.client6()
    l3 = c.ip4(src, svc.vip, up, df=df) if svc.family == 4 else c.ip6(src, svc.vip, up)
    assert len(bytes(l3)) == l3len
    return l3


def gen_mtu(c, model):
    cat = "mtu"
    for label, svc in encap_picks(model):
        for delta, tags in ((0, []), (1, []), (1, [(TPID_8021Q, 9, 0)]), (400, [])):
            for df in ((True, False) if svc.family == 4 and delta else (True,)):
                l3 = sized_l3(c, svc, None, delta, df)
                c.expect_l4(cat, "mtu_%s_%+d_%s%s" % (label, delta, "df" if df else "nodf",
                                                     "_vlan" if tags else ""), l3, tags)
    # l2dsr adds nothing: a full-size packet goes out as it is
    dsr4 = first_service(model, mode="l2dsr", vfam=4)
    up = c.l4(6, c.sport(), 80, c.payload(1460, 1460))
    c.expect_l4(cat, "mtu_dsr4_full", c.ip4(c.client4(), dsr4.vip, up))


def gen_icmp_sources(c, model):
    """Too big after encapsulation, from clients that must get no ICMP error
    (RFC 1122 3.2.2, RFC 4443 2.4 e): unspecified, loopback, multicast
    (link-local and wider), broadcast and class E sources; for IPv4 also a
    link-layer broadcast or multicast frame from an ordinary client, which
    for IPv6 does get packet-too-big. Each beside an answered control."""
    cat = "icmp_sources"
    sources4 = [("mcast_ospf", "224.0.0.5"), ("mcast_all_hosts", "224.0.0.1"),
                ("mcast_site", "239.1.2.3"), ("broadcast", "255.255.255.255"),
                ("unspecified", "0.0.0.0"), ("this_net", "0.1.2.3"),
                ("loopback", "127.0.0.1"), ("class_e", "240.0.0.1")]
    sources6 = [("mcast_all_nodes", "ff02::1"), ("mcast_ospf", "ff02::5"),
                ("mcast_global", "ff0e::1"), ("unspecified", "::"), ("loopback", "::1")]
    group_macs4 = [("l2_broadcast", "ff:ff:ff:ff:ff:ff"), ("l2_multicast", "01:00:5e:00:00:05")]
    group_macs6 = [("l2_multicast", "33:33:00:00:00:01")]
    for label, svc in encap_picks(model, mixed=False):
        sources = sources4 if svc.family == 4 else sources6
        for what, src in sources:
            c.expect_l4(cat, "icmp_src_%s_%s" % (label, what), sized_l3(c, svc, src, 1))
            assert c.cases[-1][2] == "icmp_suppressed_dest", c.cases[-1][0]
        for what, mac in (group_macs4 if svc.family == 4 else group_macs6):
            c.expect_l4(cat, "icmp_src_%s_%s" % (label, what), sized_l3(c, svc, None, 1),
                        dmac=mac)
            assert c.cases[-1][2] == ("icmp_suppressed_dest" if svc.family == 4
                                      else "icmp_too_big_sent"), c.cases[-1][0]
        c.expect_l4(cat, "icmp_src_%s_unicast" % label, sized_l3(c, svc, None, 1))
        assert c.cases[-1][2] == "icmp_too_big_sent", c.cases[-1][0]


def gen_fragments(c, model):
    """Per VIP address and protocol, datagrams cut in a first, a middle and a
    last fragment: the first reaches the backend of an unfragmented packet
    of the same 5-tuple, the middle and the last follow it (each run after
    the one before: `after`); one datagram's last fragment arrives before
    its first and goes by the 3-tuple (frag_untracked), the first and the
    middle then go as their flow."""
    r = c.rng
    cat = "fragments"
    targets = []
    for s in model.services:
        t = (s.family, s.vip, s.proto)
        if t not in targets:
            targets.append(t)
    for fam, vip, proto in targets:
        svc = model.addr_service(vip, proto)
        pname = "tcp" if proto == 6 else "udp"
        for i in range(3):
            client = c.client4() if fam == 4 else c.client6()
            sp = c.sport()
            dport = svc.port or 80
            data = c.payload(300, 600)
            up = bytes(c.l4(proto, sp, dport, data))
            if fam == 4:
                ident = r.randrange(65536)
                tos = r.choice([0, 0xB8])
                whole = IP(bytes(IP(src=client, dst=vip, id=r.randrange(65536), flags="DF",
                                    proto=proto, tos=tos, ttl=64) / Raw(up)))
            else:
                ident = r.randrange(1 << 32)
                whole = IPv6(bytes(IPv6(src=client, dst=vip, hlim=64, nh=proto) / Raw(up)))
            cuts = sorted({(len(up) // 3) & ~7, (2 * len(up) // 3) & ~7})
            parts = [(0, up[:cuts[0]], True), (cuts[0], up[cuts[0]:cuts[1]], True),
                     (cuts[1], up[cuts[1]:], False)]

            def frag(off, chunk, more):
                if fam == 4:
                    return IP(src=client, dst=vip, id=ident, flags="MF" if more else 0,
                              frag=off // 8, proto=proto, tos=tos, ttl=64) / Raw(chunk)
                return IPv6(src=client, dst=vip, hlim=64) / IPv6ExtHdrFragment(
                    nh=proto, offset=off // 8, m=1 if more else 0, id=ident) / Raw(chunk)

            n = "frag%d_%s_%s_%d" % (fam, vip.replace(":", "."), pname, i)
            # the same flow unfragmented: where its fragments must go
            res = c.expect_l4(cat, n + "_whole", whole)
            be_whole = res[1] if res else None
            order = [0, 1, 2] if i < 2 else [2, 0, 1]  # the last one first
            got = []
            for k, j in enumerate(order):
                off, chunk, more = parts[j]
                tags = [(TPID_8021Q, 5, 0)] if (i == 1 and j == 2) else []
                got.append(c.expect_fragment(cat, "%s_%s" % (n, ("first", "middle", "last")[j]),
                                             frag(off, chunk, more), proto, tags, after=k > 0))
            if i < 2:
                assert got[0] is be_whole and got[1] is be_whole and got[2] is be_whole, n
                assert c.cases[-1][2] == "frag_followed" or c.cases[-1][1] == "drop", n
            else:
                # overtaken: the last by the 3-tuple, the first and middle as the flow
                assert c.cases[-3][2] == "frag_untracked" or c.cases[-3][1] == "drop", n
                assert got[1] is be_whole and got[2] is be_whole, n
    # IPv6: what follows a fragment header is payload in later fragments, so
    # every fragment is classified by the fragment header's next header; with
    # an extension header there, neither fragment is TCP/UDP: both kernel
    web6 = first_service(model, mode="ipip", vfam=6, bfam=6, proto=6)
    up = bytes(IPv6ExtHdrDestOpt(nh=6) / c.l4(6, c.sport(), web6.port, c.payload(200, 300)))
    cut = (len(up) // 2) & ~7
    ident = r.randrange(1 << 32)
    client = c.client6()
    p1 = IPv6(src=client, dst=web6.vip, hlim=64) / IPv6ExtHdrFragment(
        nh=60, offset=0, m=1, id=ident) / Raw(up[:cut])
    p2 = IPv6(src=client, dst=web6.vip, hlim=64) / IPv6ExtHdrFragment(
        nh=60, offset=cut // 8, m=0, id=ident) / Raw(up[cut:])
    c.expect_fragment(cat, "frag6_dstopt_after_frag_first", p1, 60)
    c.expect_fragment(cat, "frag6_dstopt_after_frag_later", p2, 60)
    # fragments of non-VIP traffic and of a protocol the address does not serve
    tcp4 = first_service(model, vfam=4, proto=6)
    p = IP(src=c.client4(), dst="198.19.250.250", flags="MF", proto=6) / Raw(bytes(64))
    c.expect_fragment(cat, "frag4_not_vip", p, 6)
    p = IPv6(src=c.client6(), dst="2001:2:ffff::1") / IPv6ExtHdrFragment(nh=17, offset=8) / Raw(bytes(64))
    c.expect_fragment(cat, "frag6_not_vip", p, 17)
    udp_less = [s.vip for s in model.services if s.family == 4 and
                model.addr_service(s.vip, 17) is None]
    p = IP(src=c.client4(), dst=udp_less[0], frag=100, proto=17) / Raw(bytes(64))
    c.expect_fragment(cat, "frag4_vip_other_proto", p, 17)
    # too big after encapsulation: dropped, never answered
    p = IP(src=c.client4(), dst=tcp4.vip, flags="MF", proto=6) / Raw(bytes(1480))
    assert c.expect_fragment(cat, "frag4_too_big", p, 6) is not None
    assert c.cases[-1][2] == "drop_mtu"
    # fragments of a service without backends
    drained = [s for s in model.services if s.backends and not any(b.weight for b in s.backends)]
    if drained:
        d = drained[0]
        p = IP(src=c.client4(), dst=d.vip, flags="MF", proto=d.proto) / Raw(bytes(64))
        c.expect_fragment(cat, "frag4_no_backend", p, d.proto)


def gen_icmp(c, model):
    r = c.rng
    cat = "icmp_errors"
    web4 = first_service(model, mode="ipip", vfam=4, bfam=4, proto=6)
    dns4 = first_service(model, mode="gue", vfam=4, bfam=4, proto=17)
    dsr4 = first_service(model, mode="l2dsr", vfam=4)
    web6 = first_service(model, mode="ipip", vfam=6, bfam=6, proto=6)
    gue6 = first_service(model, mode="gue", vfam=6, bfam=6, proto=17)
    mixed = first_service(model, mode="ipip", vfam=4, bfam=6, proto=6)

    def quote4(vip, client, proto, vport, cport, full=False):
        q = IP(src=vip, dst=client, id=r.randrange(65536), flags="DF", ttl=64) / c.l4(
            proto, vport, cport, c.payload(0, 40))
        b = bytes(q)
        return b if full else b[:28]

    def quote6(vip, client, proto, vport, cport):
        q = IPv6(src=vip, dst=client, hlim=64) / c.l4(proto, vport, cport, c.payload(0, 40))
        return bytes(q)[:48 + r.choice([8, 20])]

    for svc in (web4, dns4, dsr4, mixed):
        for i, (t, code) in enumerate(((3, 1), (3, 3), (3, 4), (11, 0), (12, 0), (3, 13))):
            client = c.client4()
            cport = c.sport()
            vport = svc_port(svc)
            router = "198.19.254.%d" % r.randrange(1, 255)
            icmp = ICMP(type=t, code=code)
            if t == 3 and code == 4:
                icmp.nexthopmtu = 1400
            q = quote4(svc.vip, client, svc.proto, vport, cport, full=(i == 1))
            l3 = IP(src=router, dst=svc.vip, tos=0xC0, flags="DF" if i % 2 else 0,
                    ttl=60) / icmp / Raw(q)
            c.expect_icmp_error(cat, "icmp4_%s_t%d_c%d" % (svc.name, t, code), l3,
                                svc.vip, client, svc.proto, vport, cport,
                                [(TPID_8021Q, 11, 0)] if i == 5 else [])
    for svc in (web6, gue6):
        for i, mk in enumerate((lambda: ICMPv6DestUnreach(code=4),
                                lambda: ICMPv6PacketTooBig(mtu=1400),
                                lambda: ICMPv6TimeExceeded(),
                                lambda: ICMPv6ParamProblem(code=0, ptr=40))):
            client = c.client6()
            cport = c.sport()
            l3 = IPv6(src="2001:2:0:ffff::%x" % r.randrange(1, 0xFFFF), dst=svc.vip,
                      tc=0xC0, hlim=60) / mk() / Raw(quote6(svc.vip, client, svc.proto,
                                                             svc.port, cport))
            c.expect_icmp_error(cat, "icmp6_%s_type%d" % (svc.name, i + 1), l3, svc.vip,
                                client, svc.proto, svc.port, cport)
    # quote about a non-VIP flow: the host's business
    client = c.client4()
    l3 = IP(src="198.19.254.1", dst=client) / ICMP(type=3, code=1) / Raw(
        quote4(client, "198.19.77.7", 6, 80, 1234))
    c.expect_icmp_error(cat, "icmp4_not_vip", l3, client, "198.19.77.7", 6, 80, 1234)
    client6 = c.client6()
    l3 = IPv6(src="2001:2:0:ffff::1", dst=client6) / ICMPv6DestUnreach() / Raw(
        quote6(client6, "2001:2:0:ffff::2", 6, 443, 1234))
    c.expect_icmp_error(cat, "icmp6_not_vip", l3, client6, "2001:2:0:ffff::2", 6, 443, 1234)
    # quote about a VIP address but a port with no service
    client = c.client4()
    l3 = IP(src="198.19.254.1", dst=web4.vip) / ICMP(type=3, code=1) / Raw(
        quote4(web4.vip, client, 6, 81, 1234))
    assert model.match(4, web4.vip, 6, 81) is None
    c.expect_icmp_error(cat, "icmp4_vip_no_service", l3, web4.vip, client, 6, 81, 1234)
    # about a flow of a service without backends
    drained = [s for s in model.services if s.backends and not any(b.weight for b in s.backends)]
    if drained:
        d = drained[0]
        l3 = IP(src="198.19.254.1", dst=d.vip) / ICMP(type=11) / Raw(
            quote4(d.vip, client, d.proto, d.port, 4321))
        c.expect_icmp_error(cat, "icmp4_no_backend", l3, d.vip, client, d.proto, d.port, 4321)
    # too big once encapsulated: never an ICMP error about an ICMP error
    l3 = IP(src="198.19.254.1", dst=web4.vip, flags="DF") / ICMP(type=3, code=1) / Raw(
        quote4(web4.vip, client, 6, 80, 999) + bytes(1460))
    c.expect_icmp_error(cat, "icmp4_too_big", l3, web4.vip, client, 6, 80, 999)
    assert c.cases[-1][2] == "drop_mtu"
    # unreadable quotes about a VIP: drop_icmp; about another address: kernel
    bad = [
        ("short", lambda q: q[:22]),            # no ports
        ("ports_cut", lambda q: q[:23]),        # 3 of the 4 port bytes
        ("version", lambda q: bytes([0x65]) + q[1:]),
        ("ihl", lambda q: bytes([0x44]) + q[1:]),
        ("proto_icmp", lambda q: q[:9] + bytes([1]) + q[10:]),
    ]
    for label, mangle in bad:
        q = mangle(quote4(web4.vip, client, 6, 80, 1234))
        l3 = IP(src="198.19.254.1", dst=web4.vip) / ICMP(type=3, code=3) / Raw(q)
        c.add("malformed", "icmp4_quote_%s" % label, "drop", "drop_icmp",
              frame(PORT_MAC, c.client_mac(), [], ETH_IPV4, bytes(l3)))
    q = quote4("198.19.50.5", client, 6, 80, 1234)[:22]
    l3 = IP(src="198.19.254.1", dst="198.19.50.5") / ICMP(type=3, code=3) / Raw(q)
    c.add(cat, "icmp4_quote_short_not_vip", "kernel", "-",
          frame(PORT_MAC, c.client_mac(), [], ETH_IPV4, bytes(l3)))
    for label, mangle in (("short", lambda q: q[:30]), ("ports_cut", lambda q: q[:40 + 3]),
                          ("version", lambda q: bytes([0x45]) + q[1:]),
                          ("ext_cut", None)):
        if mangle is None:
            q = bytes(IPv6(src=web6.vip, dst=client6) / IPv6ExtHdrDestOpt(
                options=[]) / c.l4(6, 443, 1234, b""))
            q = q[:40 + 6]
        else:
            q = mangle(bytes(IPv6(src=web6.vip, dst=client6) / c.l4(6, 443, 1234, b"")))
        l3 = IPv6(src="2001:2:0:ffff::1", dst=web6.vip) / ICMPv6DestUnreach() / Raw(q)
        c.add("malformed", "icmp6_quote_%s" % label, "drop", "drop_icmp",
              frame(PORT_MAC, c.client_mac(), [], ETH_IPV6, bytes(l3)))


def gen_quic(c, model):
    """QUIC connection IDs on the quic services: long headers by the hash;
    short headers, CID versions 1 and 2, to the backend with that server
    ID; unknown IDs, versions 0 and 3, too short, fixed bit clear, no
    payload by the hash (quic_cid_unknown); a short header to a service
    without quic is any UDP packet; a short header goes by its ID even
    when conntrack holds its 5-tuple elsewhere (an `after` case)."""
    q4, q6 = model.by_name["quic4"], model.by_name["quic6"]
    r = c.rng

    def udp(svc, sport, data, client=None):
        client = client or (c.client4() if svc.family == 4 else c.client6())
        up = UDP(sport=sport, dport=svc.port) / Raw(data)
        return c.ip4(client, svc.vip, up) if svc.family == 4 else c.ip6(client, svc.vip, up)

    def short(version, sid, n=24):
        cid = quic_cid_encode(version, sid) + bytes(r.randrange(256) for _ in range(4))
        return bytes([0x40 | r.randrange(0x20)]) + cid + bytes(r.randrange(256) for _ in range(n))

    def long_hdr(ptype, n=40):
        # type in bits 4-5, version 1, DCID length 8 (the client's random one)
        return (bytes([0xC0 | ptype << 4]) + b"\x00\x00\x00\x01\x08" +
                bytes(r.randrange(256) for _ in range(8 + n)))

    def case(name, svc, data, want, client=None, sport=None, after=False):
        c.after = after
        got = c.expect_l4("quic", name, udp(svc, sport or c.sport(), data, client))
        c.after = False
        assert c.cases[-1][2] == want, (name, c.cases[-1][2], want)
        return got

    for i, t in enumerate((0, 1, 2, 3)):  # Initial, 0-RTT, Handshake, Retry
        case("quic_long_%d_v4" % i, q4, long_hdr(t), "forwarded")
        case("quic_long_%d_v6" % i, q6, long_hdr(t), "forwarded")
    for i in range(4):
        be = case("quic_short_v1_%d" % i, q4, short(1, 0x123), "quic_cid_routed")[1]
        assert be.server_id == 0x123
        be = case("quic_short_v2_%d" % i, q4, short(2, 0x10001), "quic_cid_routed")[1]
        assert be.server_id == 0x10001
        be = case("quic_short6_v1_%d" % i, q6, short(1, 77), "quic_cid_routed")[1]
        assert be.server_id == 77
        be = case("quic_short6_v2_%d" % i, q6, short(2, 0x4000), "quic_cid_routed")[1]
        assert be.server_id == 0x4000
    # exactly 1 + 8 bytes: enough
    case("quic_short_min_len", q4, short(2, 0x10001, 0)[:9], "quic_cid_routed")
    unknown = {
        "quic_unknown_id": short(2, 0x424242),
        "quic_unknown_id_v1": short(1, 0x122),
        "quic_cid_v0": bytes([0x41, 0x3F]) + bytes(20),
        "quic_cid_v3": bytes([0x41, 0xC0, 0x01, 0x23]) + bytes(20),
        "quic_id_zero": bytes([0x41, 0x80, 0, 0, 0]) + bytes(20),
        "quic_too_short": short(1, 0x123, 0)[:8],
        "quic_fixed_bit_clear": bytes([0x01]) + short(1, 0x123)[1:],
        "quic_no_payload": b"",
    }
    for name, data in unknown.items():
        case(name, q4, data, "quic_cid_unknown")
    case("quic6_unknown_id", q6, short(2, 0x123), "quic_cid_unknown")
    # a short datagram padded by Ethernet: the IP length says what is payload
    c.expect_l4("quic", "quic_too_short_padded", udp(q4, c.sport(), short(1, 0x123, 0)[:5]),
                pad=bytes(20))
    assert c.cases[-1][2] == "quic_cid_unknown"
    # a service without quic: the same bytes are any UDP packet
    dns4 = model.by_name["dns4"]
    case("quic_short_not_quic_service", dns4, short(1, 0x123), "forwarded")
    # precedence: a long header opens a conntrack entry on the hash's
    # backend; a short header of the same 5-tuple naming another backend
    # goes to that one
    for i in range(50):
        client, sport = c.client4(), c.sport()
        hb = q4.pick(service_hash(q4, 4, client, q4.vip, sport, q4.port, 17))
        if hb.server_id != 0x123:
            break
    else:
        raise SystemExit("gen_quic: no flow of quic4 off the 0x123 backend")
    c.tracked = set()
    got = case("quic_over_ct_long", q4, long_hdr(0), "forwarded", client, sport)
    assert got[1] is hb
    got = case("quic_over_ct_short", q4, short(1, 0x123), "quic_cid_routed", client, sport,
               after=True)
    assert got[1] is not hb and got[1].server_id == 0x123


def gen_kernel_and_policy(c, model):
    r = c.rng
    cat = "kernel_and_policy"
    web4 = first_service(model, mode="ipip", vfam=4, bfam=4, proto=6)
    web6 = first_service(model, mode="ipip", vfam=6, bfam=6, proto=6)
    cm = c.client_mac()
    # non-IP
    arp = ARP(op=1, hwsrc=cm, psrc="198.19.0.9", pdst=web4.vip)
    c.add(cat, "arp_request", "kernel", "-",
          bytes(Ether(dst="ff:ff:ff:ff:ff:ff", src=cm) / arp))
    c.add(cat, "arp_vlan", "kernel", "-",
          bytes(Ether(dst="ff:ff:ff:ff:ff:ff", src=cm) / Dot1Q(vlan=10) / arp))
    c.add(cat, "lldp", "kernel", "-",
          bytes(Ether(dst="01:80:c2:00:00:0e", src=cm, type=0x88CC) / Raw(bytes(46))))
    # ICMP echo and NDP to the VIPs, and to the host
    for dst in (web4.vip, "198.19.9.9"):
        l3 = IP(src=c.client4(), dst=dst) / ICMP(type=8, id=7, seq=1) / Raw(b"ping")
        c.add(cat, "echo4_%s" % dst, "kernel", "-", frame(PORT_MAC, cm, [], ETH_IPV4, bytes(l3)))
    l3 = IPv6(src=c.client6(), dst=web6.vip) / ICMPv6EchoRequest(id=7, seq=1)
    c.add(cat, "echo6_vip", "kernel", "-", frame(PORT_MAC, cm, [], ETH_IPV6, bytes(l3)))
    l3 = IPv6(src=c.client6(), dst="ff02::1:ff00:100", hlim=255) / ICMPv6ND_NS(tgt=web6.vip)
    c.add(cat, "ndp_ns_vip", "kernel", "-",
          frame("33:33:ff:00:01:00", cm, [], ETH_IPV6, bytes(l3)))
    # TCP/UDP to addresses that are not VIPs
    for i in range(3):
        l3 = c.ip4(c.client4(), "198.19.%d.%d" % (r.randrange(256), r.randrange(1, 255)),
                   c.l4(r.choice([6, 17]), c.sport(), 80, c.payload()))
        c.expect_l4(cat, "not_vip4_%d" % i, l3)
        l3 = c.ip6(c.client6(), "2001:2:0:%x::1" % r.randrange(1, 0xFFFF),
                   c.l4(r.choice([6, 17]), c.sport(), 443, c.payload()))
        c.expect_l4(cat, "not_vip6_%d" % i, l3)
    # the VIP port's other protocol... and the VIP address's other ports
    for svc in model.services:
        other = 17 if svc.proto == 6 else 6
        if svc.port:
            up = c.l4(svc.proto, c.sport(), svc.port + 1, c.payload())
            l3 = (c.ip4(c.client4(), svc.vip, up) if svc.family == 4
                  else c.ip6(c.client6(), svc.vip, up))
            c.expect_l4(cat, "other_port_%s" % svc.name, l3)
        up = c.l4(other, c.sport(), svc.port or 80, c.payload())
        l3 = (c.ip4(c.client4(), svc.vip, up) if svc.family == 4
              else c.ip6(c.client6(), svc.vip, up))
        c.expect_l4(cat, "other_proto_%s" % svc.name, l3)
    # tunnels to a VIP are spoofed input; to other addresses the host's
    inner4 = bytes(IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=1, dport=2))
    inner6 = bytes(IPv6(src="fd00::1", dst="fd00::2") / TCP(sport=1, dport=2))
    for label, dst, proto, inner in (("ipip", web4.vip, 4, inner4), ("6in4", web4.vip, 41, inner6)):
        l3 = IP(src=c.client4(), dst=dst, proto=proto) / Raw(inner)
        c.add(cat, "tunnel_%s_to_vip" % label, "drop", "drop_encapsulated",
              frame(PORT_MAC, cm, [], ETH_IPV4, bytes(l3)))
    for label, dst, nh, inner in (("4in6", web6.vip, 4, inner4), ("6in6", web6.vip, 41, inner6)):
        l3 = IPv6(src=c.client6(), dst=dst, nh=nh) / Raw(inner)
        c.add(cat, "tunnel_%s_to_vip" % label, "drop", "drop_encapsulated",
              frame(PORT_MAC, cm, [], ETH_IPV6, bytes(l3)))
    l3 = IP(src=c.client4(), dst="198.19.3.3", proto=4) / Raw(inner4)
    c.add(cat, "tunnel_ipip_not_vip", "kernel", "-", frame(PORT_MAC, cm, [], ETH_IPV4, bytes(l3)))
    l3 = IP(src=c.client4(), dst=web4.vip, proto=47) / Raw(bytes(24))
    c.add(cat, "gre_to_vip", "kernel", "-", frame(PORT_MAC, cm, [], ETH_IPV4, bytes(l3)))
    # a backend family without an encapsulation source address
    for s in model.services:
        if s.mode != "l2dsr" and any(b.weight and (s.src4 if b.family == 4 else s.src6) is None
                                     for b in s.backends):
            for i in range(2):
                up = c.l4(s.proto, c.sport(), s.port or 80, c.payload())
                l3 = (c.ip4(c.client4(), s.vip, up) if s.family == 4
                      else c.ip6(c.client6(), s.vip, up))
                c.expect_l4(cat, "no_encap_source_%s_%d" % (s.name, i), l3)
    # a service whose only backend drains
    for s in model.services:
        if s.backends and not any(b.weight for b in s.backends):
            for i in range(2):
                up = c.l4(s.proto, c.sport(), s.port or 80, c.payload())
                l3 = (c.ip4(c.client4(), s.vip, up) if s.family == 4
                      else c.ip6(c.client6(), s.vip, up))
                c.expect_l4(cat, "no_backend_%s_%d" % (s.name, i), l3)
                assert c.cases[-1][2] == "drop_no_backend"


def gen_malformed(c, model):
    cat = "malformed"
    web4 = first_service(model, mode="ipip", vfam=4, bfam=4, proto=6)
    dns4 = first_service(model, mode="gue", vfam=4, bfam=4, proto=17)
    web6 = first_service(model, mode="ipip", vfam=6, bfam=6, proto=6)
    gue6 = first_service(model, mode="gue", vfam=6, bfam=6, proto=17)
    cm = c.client_mac()

    def eth(et, payload, tags=()):
        return frame(PORT_MAC, cm, list(tags), et, payload)

    def good4(proto=6, payload=b"hello", dst=None, **kw):
        up = (TCP(sport=40000, dport=80) if proto == 6 else UDP(sport=40000, dport=53)) / Raw(payload)
        return bytes(IP(src="198.19.1.1", dst=dst or (web4.vip if proto == 6 else dns4.vip), **kw) / up)

    def good6(proto=6, payload=b"hello"):
        up = (TCP(sport=40000, dport=443) if proto == 6 else UDP(sport=40000, dport=53)) / Raw(payload)
        return bytes(IPv6(src="2001:2:0:1::1", dst=web6.vip if proto == 6 else gue6.vip) / up)

    def drop(name, counter, inp):
        c.add(cat, name, "drop", counter, inp)

    full = eth(ETH_IPV4, good4())
    drop("runt_1", "drop_runt", full[:1])
    drop("runt_13", "drop_runt", full[:13])
    drop("vlan_truncated", "drop_vlan", full[:12] + bytes([0x81, 0x00, 0x00]))
    drop("vlan_truncated_2nd", "drop_vlan",
         full[:12] + bytes([0x88, 0xA8, 0x00, 0x05, 0x81, 0x00, 0x00, 0x07]))
    drop("vlan_3_tags", "drop_vlan",
         eth(ETH_IPV4, good4(), [(TPID_8021AD, 1, 0), (TPID_8021Q, 2, 0), (TPID_8021Q, 3, 0)]))
    drop("ipv4_truncated", "drop_ipv4_header", eth(ETH_IPV4, good4()[:19]))
    drop("ipv4_empty", "drop_ipv4_header", eth(ETH_IPV4, b""))
    drop("ipv4_vlan_truncated", "drop_ipv4_header",
         eth(ETH_IPV4, good4()[:12], [(TPID_8021Q, 4, 0)]))
    g = good4()
    drop("ipv4_version_6", "drop_ipv4_header", eth(ETH_IPV4, bytes([0x65]) + g[1:]))
    drop("ipv4_version_5", "drop_ipv4_header", eth(ETH_IPV4, bytes([0x55]) + g[1:]))
    drop("ipv4_ihl_4", "drop_ipv4_header", eth(ETH_IPV4, bytes([0x44]) + g[1:]))
    drop("ipv4_ihl_0", "drop_ipv4_header", eth(ETH_IPV4, bytes([0x40]) + g[1:]))
    drop("ipv4_ihl_beyond_frame", "drop_ipv4_header",
         eth(ETH_IPV4, bytes([0x4F]) + g[1:40]))
    drop("ipv4_totlen_beyond_frame", "drop_ipv4_length",
         eth(ETH_IPV4, g[:2] + struct.pack("!H", len(g) + 1) + g[4:]))
    drop("ipv4_totlen_below_ihl", "drop_ipv4_length",
         eth(ETH_IPV4, g[:2] + struct.pack("!H", 19) + g[4:]))
    drop("ipv4_totlen_below_options", "drop_ipv4_length",
         eth(ETH_IPV4, good4(options=[IPOption_Router_Alert()])[:2] + struct.pack("!H", 20) +
             good4(options=[IPOption_Router_Alert()])[4:]))
    drop("ipv6_truncated", "drop_ipv6_header", eth(ETH_IPV6, good6()[:39]))
    drop("ipv6_version_4", "drop_ipv6_header", eth(ETH_IPV6, bytes([0x40]) + good6()[1:]))
    g6 = good6()
    drop("ipv6_paylen_beyond_frame", "drop_ipv6_header",
         eth(ETH_IPV6, g6[:4] + struct.pack("!H", len(g6) - 40 + 1) + g6[6:]))
    # extension chains
    base6 = IPv6(src="2001:2:0:1::1", dst=web6.vip)
    tcp6 = TCP(sport=40000, dport=443)
    b = bytes(base6 / IPv6ExtHdrHopByHop() / tcp6)
    b = b[:4] + struct.pack("!H", 4) + b[6:44]  # only 4 bytes of the header
    drop("ipv6_ext_truncated_hdr", "drop_ipv6_ext", eth(ETH_IPV6, b))
    b = bytes(base6 / IPv6ExtHdrHopByHop() / tcp6)
    b = b[:41] + bytes([10]) + b[42:]  # claims 88 bytes
    drop("ipv6_ext_len_beyond", "drop_ipv6_ext", eth(ETH_IPV6, b))
    b = bytes(base6 / IPv6ExtHdrHopByHop() / IPv6ExtHdrRouting(addresses=["2001:2::9"]) / tcp6)
    b = b[:49] + bytes([7]) + b[50:]  # routing header claims 64 bytes
    drop("ipv6_ext_2nd_len_beyond", "drop_ipv6_ext", eth(ETH_IPV6, b))
    chain = IPv6ExtHdrHopByHop()
    for _ in range(8):
        chain = chain / IPv6ExtHdrDestOpt()
    drop("ipv6_ext_9_headers", "drop_ipv6_ext", eth(ETH_IPV6, bytes(base6 / chain / tcp6)))
    # TCP
    t = good4(6, b"")
    drop("tcp_truncated", "drop_l4_header", eth(ETH_IPV4, t[:2] + struct.pack("!H", 39) + t[4:39]))
    drop("tcp_truncated_padded", "drop_l4_header",
         eth(ETH_IPV4, t[:2] + struct.pack("!H", 30) + t[4:]))  # header runs into padding
    drop("tcp_doff_4", "drop_l4_header", eth(ETH_IPV4, t[:32] + bytes([0x40]) + t[33:]))
    drop("tcp_doff_0", "drop_l4_header", eth(ETH_IPV4, t[:32] + bytes([0x00]) + t[33:]))
    drop("tcp_doff_beyond", "drop_l4_header", eth(ETH_IPV4, t[:32] + bytes([0x60]) + t[33:]))
    t6 = good6(6, b"")
    drop("tcp6_truncated", "drop_l4_header",
         eth(ETH_IPV6, t6[:4] + struct.pack("!H", 19) + t6[6:59]))
    drop("tcp6_doff_beyond", "drop_l4_header", eth(ETH_IPV6, t6[:52] + bytes([0xF0]) + t6[53:]))
    # UDP
    u = good4(17, b"abcd")
    drop("udp_truncated", "drop_l4_header", eth(ETH_IPV4, u[:2] + struct.pack("!H", 27) + u[4:27]))
    drop("udp_len_beyond", "drop_l4_header", eth(ETH_IPV4, u[:24] + struct.pack("!H", 13) + u[26:]))
    drop("udp_len_below_8", "drop_l4_header", eth(ETH_IPV4, u[:24] + struct.pack("!H", 7) + u[26:]))
    u6 = good6(17, b"abcd")
    drop("udp6_len_beyond", "drop_l4_header", eth(ETH_IPV6, u6[:44] + struct.pack("!H", 13) + u6[46:]))
    # malformed L4 is dropped before any lookup, even to non-VIP addresses
    drop("tcp_doff_4_not_vip", "drop_l4_header",
         eth(ETH_IPV4, (lambda x: x[:32] + bytes([0x40]) + x[33:])(good4(6, b"", dst="198.19.9.9"))))
    # a UDP length shorter than the IP payload is accepted (trailing bytes
    # inside the IP packet are forwarded as they are)
    l3 = IP(src="198.19.1.2", dst=dns4.vip, flags="DF") / UDP(sport=40001, dport=53, len=12) / Raw(b"abcdefgh")
    c.expect_l4("l2_vlan_padding_options", "udp_len_short_accepted", l3)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: gen_corpus.py SERVICES_FILE OUTFILE")
    model = Model(parse_services(sys.argv[1]))
    c = Corpus(model, random.Random(0x5357594C))  # fixed seed: "SWYL"
    gen_flows(c, model)
    gen_affinity(c, model)
    gen_l2_and_options(c, model)
    gen_ipv6_ext(c, model)
    gen_mtu(c, model)
    gen_fragments(c, model)
    gen_icmp(c, model)
    gen_kernel_and_policy(c, model)
    gen_malformed(c, model)
    gen_icmp_sources(c, model)  # late: the cases before keep their random material
    gen_quic(c, model)
    c.write(sys.argv[2])
    summary = ", ".join("%s %d" % kv for kv in sorted(c.categories.items()))
    print("gen_corpus: %d cases (%s)" % (len(c.cases), summary))


if __name__ == "__main__":
    main()
