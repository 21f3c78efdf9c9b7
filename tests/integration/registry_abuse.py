#!/usr/bin/env python3
"""Abusive clients of the embedded registry, for test_security.sh. Every mode
prints one line of key=value figures.

  registry_abuse.py oversize HOST PORT BYTES [CLAIMED]
      POST /v1/register with Content-Length CLAIMED (default BYTES) and send
      BYTES of body while reading: the status (or "closed"), the time to the
      answer or close, and the bytes the server took before it.
  registry_abuse.py idle HOST PORT N MAXWAIT
      N connections that send nothing: how many the server closed at once
      (within 0.5 s: connection limits) and when it closed the others.
  registry_abuse.py trickle HOST PORT N INTERVAL MAXWAIT
      N connections sending a registration's headers one byte every INTERVAL
      seconds: when the server closed them (or not, within MAXWAIT).
  registry_abuse.py flood HOST PORT SECONDS MAXREQ THREADS KEYFILE
      bogus registrations as fast as THREADS connections allow, for at most
      SECONDS and MAXREQ requests, paced to MAXREQ/SECONDS per second: half
      unsigned (wrong signature), half signed with the real key for a
      disallowed address; counts the answers.
  registry_abuse.py answers HOST PORT KEYFILE
      one POST /v1/register per case of ANSWER_CASES (malformed bodies,
      unknown services, impossible backends signed with the service's key):
      one line "case|status|error message" each.
  registry_abuse.py poll SOCKET SERVICE ADDRESS INTERVAL
      until killed: every INTERVAL s the state of backend ADDRESS of SERVICE
      from sy-control's API socket, one line "epoch_ms state" per sample
      ("absent" when not listed, "error" when the API did not answer).

The environment variable SRC=ADDRESS makes every connection come from ADDRESS.
"""
import hashlib
import hmac
import json
import os
import select
import socket
import sys
import threading
import time

# SRC=ADDRESS in the environment: connect from that local address
SRC = os.environ.get("SRC")


def connect(host, port, timeout):
    return socket.create_connection((host, port), timeout=timeout,
                                    source_address=(SRC, 0) if SRC else None)


def status_of(data):
    try:
        return int(data.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return None


def oversize(host, port, size, claimed):
    s = connect(host, port, 10)
    head = (f"POST /v1/register HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {claimed}\r\n\r\n").encode()
    s.sendall(head)
    s.setblocking(False)
    chunk = b"a" * 65536
    t0 = time.monotonic()
    sent = 0
    got = b""
    result = "timeout"
    while time.monotonic() - t0 < 30:
        r, w, _ = select.select([s], [s] if sent < size else [], [], 0.5)
        if r:
            try:
                d = s.recv(65536)
            except OSError:
                d = b""
            if not d:
                result = status_of(got) if got else "closed"
                break
            got += d
            if b"\r\n\r\n" in got:
                result = status_of(got)
                break
        if w:
            try:
                sent += s.send(chunk[:min(len(chunk), size - sent)])
            except BlockingIOError:
                pass
            except OSError:
                result = status_of(got) if got else "closed"
                break
    dt = time.monotonic() - t0
    s.close()
    print(f"status={result} secs={dt:.3f} body_sent={sent}")


def idle(host, port, n, maxwait):
    socks = []
    t0 = time.monotonic()
    for _ in range(n):
        try:
            s = connect(host, port, 3)
            s.setblocking(False)
            socks.append(s)
        except OSError:
            pass
    closed = {}
    while len(closed) < len(socks) and time.monotonic() - t0 < maxwait:
        live = [s for s in socks if s not in closed]
        r, _, _ = select.select(live, [], [], 0.2)
        for s in r:
            try:
                d = s.recv(4096)
            except OSError:
                d = b""
            if not d:
                closed[s] = time.monotonic() - t0
    at_once = sum(1 for t in closed.values() if t < 0.5)
    later = sorted(t for t in closed.values() if t >= 0.5)
    print(f"opened={len(socks)} closed_at_once={at_once} closed_later={len(later)} "
          f"open_at_end={len(socks) - len(closed)} "
          f"first_close_s={later[0] if later else -1:.2f} last_close_s={later[-1] if later else -1:.2f}")


def trickle(host, port, n, interval, maxwait):
    req = (f"POST /v1/register HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
           + "X-Padding: " + "p" * 4000 + "\r\n" + "Content-Length: 10\r\n\r\n").encode()
    socks = []
    for _ in range(n):
        try:
            s = connect(host, port, 3)
            s.setblocking(False)
            socks.append(s)
        except OSError:
            pass
    t0 = time.monotonic()
    pos = {s: 0 for s in socks}
    closed = {}
    nxt = t0
    while len(closed) < len(socks) and time.monotonic() - t0 < maxwait:
        now = time.monotonic()
        if now >= nxt:
            for s in socks:
                if s in closed:
                    continue
                try:
                    s.send(req[pos[s]:pos[s] + 1])
                    pos[s] += 1
                except OSError:
                    closed[s] = now - t0
            nxt = now + interval
        live = [s for s in socks if s not in closed]
        if not live:
            break
        r, _, _ = select.select(live, [], [], max(0.0, min(0.2, nxt - time.monotonic())))
        for s in r:
            try:
                s.recv(4096)  # an answer (an error) or the close: done either way
            except OSError:
                pass
            closed[s] = time.monotonic() - t0
    ts = sorted(closed.values())
    print(f"opened={len(socks)} closed={len(closed)} open_at_end={len(socks) - len(closed)} "
          f"first_close_s={ts[0] if ts else -1:.2f} last_close_s={ts[-1] if ts else -1:.2f} "
          f"bytes_each={max(pos.values()) if pos else 0}")


def flood(host, port, seconds, maxreq, threads, keyfile):
    key = bytes.fromhex(open(keyfile).read().strip())
    reqs = []
    for i in range(64):
        body = json.dumps({"service": "web", "address": f"198.18.0.{66 + i % 4}", "port": 80,
                           "weight": 1, "ttl_s": 2, "timestamp_ms": int(time.time() * 1000),
                           "nonce": os.urandom(16).hex()}, separators=(",", ":")).encode()
        sig = hmac.new(key, body, hashlib.sha256).hexdigest() if i % 2 else os.urandom(32).hex()
        reqs.append((f"POST /v1/register HTTP/1.0\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                     f"X-Switchyard-Signature: {sig}\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body)
    lock = threading.Lock()
    counts = {}
    issued = [0]
    deadline = time.monotonic() + seconds

    start = time.monotonic()

    def worker():
        while time.monotonic() < deadline:
            with lock:
                if issued[0] >= maxreq:
                    return
                i = issued[0]
                issued[0] += 1
            due = start + i * seconds / maxreq
            if due > time.monotonic():
                time.sleep(due - time.monotonic())
            k = "error"
            try:
                s = connect(host, port, 5)
                s.sendall(reqs[i % len(reqs)])
                got = b""
                while b"\r\n" not in got:
                    d = s.recv(4096)
                    if not d:
                        break
                    got += d
                s.close()
                st = status_of(got)
                k = str(st) if st else "closed"
            except OSError:
                k = "error"
            with lock:
                counts[k] = counts.get(k, 0) + 1

    t0 = time.monotonic()
    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    dt = time.monotonic() - t0
    total = sum(counts.values())
    print(f"requests={total} secs={dt:.1f} rate={total / dt:.0f}/s "
          + " ".join(f"s{k}={v}" for k, v in sorted(counts.items())))


def exchange(s, req):
    """Sends an HTTP/1.0 request on a connected socket: the whole answer."""
    s.sendall(req)
    got = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        got += d
    s.close()
    return got


def post(host, port, body, sig=None):
    """One POST /v1/register: (status, the answer's "error" or its body)."""
    head = (f"POST /v1/register HTTP/1.0\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            + (f"X-Switchyard-Signature: {sig}\r\n" if sig else "")
            + f"Content-Length: {len(body)}\r\n\r\n").encode()
    got = exchange(connect(host, port, 5), head + body)
    text = got.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in got else b""
    try:
        msg = json.loads(text).get("error", text.decode())
    except ValueError:
        msg = text.decode(errors="replace")
    return status_of(got), msg


def answers(host, port, keyfile):
    key = bytes.fromhex(open(keyfile).read().strip())

    def reg(**fields):
        d = {"service": "web", "address": "198.18.0.11", "port": 80, "ttl_s": 30,
             "timestamp_ms": int(time.time() * 1000), "nonce": os.urandom(16).hex()}
        d.update(fields)
        return json.dumps({k: v for k, v in d.items() if v is not None},
                          separators=(",", ":")).encode()

    good = reg()
    cases = [
        # name, body, signed with the service's key
        ("invalid_json", good[:-1], False),
        ("invalid_utf8", good.replace(b'"service"', b'"zone":"\xff\xfe","service"'), False),
        ("nul_byte", good[:-1] + b',"zone":"a\x00"}', False),
        ("int_2_64", good.replace(b'"port":80', b'"port":18446744073709551616'), False),
        ("empty", b"", False),
        ("not_an_object", b"[1,2]", False),
        ("no_service", reg(service=None), False),
        ("unknown_service", reg(service="nosuch"), False),
        ("static_service", reg(service="st"), False),
        ("loopback", reg(address="127.0.0.1"), True),
        ("multicast", reg(address="224.0.0.5"), True),
        ("broadcast", reg(address="255.255.255.255"), True),
        ("unspecified", reg(address="0.0.0.0"), True),
        ("v6_loopback", reg(address="::1"), True),
        ("port_0", reg(port=0), True),
        ("unsigned", reg(), False),
    ]
    for name, body, signed in cases:
        sig = hmac.new(key, body, hashlib.sha256).hexdigest() if signed else None
        try:
            st, msg = post(host, port, body, sig)
        except OSError as e:
            st, msg = "error", str(e)
        print(f"{name}|{st}|{msg}", flush=True)


def poll(sock, service, address, interval):
    req = f"GET /v1/services/{service}/backends HTTP/1.0\r\nHost: x\r\n\r\n".encode()
    while True:
        state = "error"
        try:
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(2)
            s.connect(sock)
            got = exchange(s, req)
            b = [x for x in json.loads(got.split(b"\r\n\r\n", 1)[1])["backends"]
                 if x["address"] == address]
            state = b[0]["state"] if b else "absent"
        except (OSError, ValueError, KeyError, IndexError):
            pass
        print(f"{int(time.time() * 1000)} {state}", flush=True)
        time.sleep(interval)


def main():
    a = sys.argv[1:]
    if a[0] == "oversize":
        oversize(a[1], int(a[2]), int(a[3]), int(a[4]) if len(a) > 4 else int(a[3]))
    elif a[0] == "idle":
        idle(a[1], int(a[2]), int(a[3]), float(a[4]))
    elif a[0] == "trickle":
        trickle(a[1], int(a[2]), int(a[3]), float(a[4]), float(a[5]))
    elif a[0] == "flood":
        flood(a[1], int(a[2]), float(a[3]), int(a[4]), int(a[5]), a[6])
    elif a[0] == "answers":
        answers(a[1], int(a[2]), a[3])
    elif a[0] == "poll":
        poll(a[1], a[2], a[3], float(a[4]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
