#!/usr/bin/env python3
"""Long-lived TCP connections that check every byte, for the fleet test
(test_fleet_ecmp.sh) and demo (scripts/demo-fleet.sh).

  fleet_stream.py serve NAME PORT LOG
      On each backend: accept connections on PORT, append "SPORT ADDR" to LOG
      for each (the connections this backend serves), send a 16-byte header
      naming the backend, then echo every byte back.

  fleet_stream.py client HOST PORT FIRST_SPORT COUNT STATUS MAX_S
      COUNT connections from client ports FIRST_SPORT.. to HOST:PORT, each
      streaming a pattern of its own (1000 bytes every 100 ms, at most 64 KiB
      unanswered) and checking that what comes back is that pattern, byte for
      byte, in order. Every 0.5 s (and at the end) STATUS is rewritten with one
      line per connection: "SPORT BACKEND STATE SENT VERIFIED", STATE "ok" or
      "broken:WHY". Runs until SIGTERM or MAX_S seconds.

  fleet_stream.py compare MARK STATUS MIN_BYTES
      MARK is an earlier copy of STATUS. Prints "progressed P broken B
      pending N" and then "broken SPORT BACKEND WHY" per connection that was
      ok at MARK and is broken now. A connection progressed when it is ok and
      has verified MIN_BYTES more than at MARK; pending when it is ok but has
      not. Exit 0 when nothing is pending.
"""
import os
import random
import selectors
import signal
import socket
import socketserver
import sys
import time

HEADER = 16          # "BE <name>" padded with spaces, then "\n"
CHUNK = 1000         # bytes sent per connection per tick
TICK = 0.1           # seconds between sends
WINDOW = 65536       # sent but not yet verified, at most
PATTERN_LEN = 65521  # a prime: the pattern never lines up with chunks or segments


def pattern(sport):
    return random.Random(sport).randbytes(PATTERN_LEN)


def expected(pat, offset, n):
    """n bytes of the endless repetition of pat from offset"""
    out = bytearray()
    o = offset % PATTERN_LEN
    while len(out) < n:
        take = min(n - len(out), PATTERN_LEN - o)
        out += pat[o:o + take]
        o = 0
    return bytes(out)


# ---- server -------------------------------------------------------------------------

def serve(name, port, log):
    logf = open(log, "a", buffering=1)
    head = ("BE %s" % name).ljust(HEADER - 1).encode()[:HEADER - 1] + b"\n"

    class Echo(socketserver.BaseRequestHandler):
        def handle(self):
            logf.write("%d %s\n" % (self.client_address[1], self.client_address[0]))
            try:
                self.request.sendall(head)
                while True:
                    data = self.request.recv(65536)
                    if not data:
                        return
                    self.request.sendall(data)
            except OSError:
                return

    class Server(socketserver.ThreadingTCPServer):
        allow_reuse_address = True
        daemon_threads = True
        request_queue_size = 128

    with Server(("0.0.0.0", port), Echo) as srv:
        signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
        srv.serve_forever()


# ---- client -------------------------------------------------------------------------

class Conn:
    def __init__(self, sport):
        self.sport = sport
        self.pat = pattern(sport)
        self.backend = "-"
        self.state = "ok"
        self.sent = 0
        self.verified = 0
        self.head = b""
        self.sock = None

    def fail(self, why, sel):
        if self.state == "ok":
            self.state = "broken:" + why.replace(" ", "_")
        if self.sock is not None:
            try:
                sel.unregister(self.sock)
            except (KeyError, ValueError):
                pass
            self.sock.close()
            self.sock = None


def connect(c, host, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.settimeout(5)
    try:
        s.bind(("", c.sport))
        s.connect((host, port))
    except OSError as e:
        c.state = "broken:connect_" + (e.strerror or str(e)).replace(" ", "_")
        s.close()
        return
    s.setblocking(False)
    c.sock = s


def on_readable(c, sel):
    try:
        data = c.sock.recv(65536)
    except BlockingIOError:
        return
    except OSError as e:
        c.fail(e.strerror or str(e), sel)
        return
    if not data:
        c.fail("closed_by_peer", sel)
        return
    if len(c.head) < HEADER:
        need = HEADER - len(c.head)
        c.head += data[:need]
        data = data[need:]
        if len(c.head) == HEADER:
            if not c.head.startswith(b"BE ") or not c.head.endswith(b"\n"):
                c.fail("bad_header", sel)
                return
            c.backend = c.head[3:].decode(errors="replace").strip()
    if data:
        if c.verified + len(data) > c.sent:
            c.fail("more_bytes_than_sent", sel)
            return
        if data != expected(c.pat, c.verified, len(data)):
            at = next(i for i in range(len(data))
                      if data[i:i + 1] != expected(c.pat, c.verified + i, 1))
            c.fail("wrong_byte_at_%d" % (c.verified + at), sel)
            return
        c.verified += len(data)


def send_tick(c, sel):
    if c.sock is None or len(c.head) < HEADER or c.sent - c.verified + CHUNK > WINDOW:
        return
    data = expected(c.pat, c.sent, CHUNK)
    try:
        n = c.sock.send(data)
    except BlockingIOError:
        return
    except OSError as e:
        c.fail(e.strerror or str(e), sel)
        return
    c.sent += n


def write_status(conns, path):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        for c in conns:
            f.write("%d %s %s %d %d\n" % (c.sport, c.backend, c.state, c.sent, c.verified))
    os.replace(tmp, path)


def client(host, port, first, count, status, max_s):
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    sel = selectors.DefaultSelector()
    conns = [Conn(first + i) for i in range(count)]
    for c in conns:
        connect(c, host, port)
        if c.sock is not None:
            sel.register(c.sock, selectors.EVENT_READ, c)
    end = time.monotonic() + max_s
    next_tick = next_status = time.monotonic()
    while not stop and time.monotonic() < end:
        now = time.monotonic()
        if now >= next_tick:
            for c in conns:
                send_tick(c, sel)
            next_tick = now + TICK
        if now >= next_status:
            write_status(conns, status)
            next_status = now + 0.5
        for key, _ in sel.select(max(0.0, min(next_tick, next_status) - time.monotonic())):
            on_readable(key.data, sel)
    write_status(conns, status)


# ---- compare ------------------------------------------------------------------------

def read_status(path):
    rows = {}
    with open(path) as f:
        for line in f:
            sport, backend, state, sent, verified = line.split()
            rows[sport] = (backend, state, int(sent), int(verified))
    return rows


def compare(mark, status, min_bytes):
    before, now = read_status(mark), read_status(status)
    progressed, broken, pending = 0, [], 0
    for sport, (backend, state, _, verified) in before.items():
        if state != "ok":
            continue
        nb, nstate, _, nverified = now[sport]
        if nstate != "ok":
            broken.append("broken %s %s %s" % (sport, backend, nstate[len("broken:"):]))
        elif nverified >= verified + min_bytes:
            progressed += 1
        else:
            pending += 1
    print("progressed %d broken %d pending %d" % (progressed, len(broken), pending))
    for line in broken:
        print(line)
    return 1 if pending else 0


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "serve" and len(sys.argv) == 5:
        serve(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    elif cmd == "client" and len(sys.argv) == 8:
        client(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6],
               float(sys.argv[7]))
    elif cmd == "compare" and len(sys.argv) == 5:
        sys.exit(compare(sys.argv[2], sys.argv[3], int(sys.argv[4])))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
