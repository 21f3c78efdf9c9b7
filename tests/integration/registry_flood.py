#!/usr/bin/env python3
"""Registry flood for test_registry_flood.sh: signed registrations into
sy-control's embedded registry (docs/control.md, "Embedded registry
protocol") over keep-alive HTTP connections.

  registry_flood.py flap HOST:PORT KEY_FILE SERVICE N RATE DURATION SEED
      RATE changes a second for DURATION seconds from 16 connections (each
      owns the backends i = t mod 16 and makes RATE/16 changes a second on its
      own schedule, as independent agents would), each on a random backend:
      a registered one is deregistered (or, one change in four, given a new
      weight), a deregistered one registered again. Prints one summary line
      "changes C ok K failed F seconds S rate R rtt_p50_ms A rtt_p99_ms B up U
      unsure X" where U is how many of the N are registered at the end, as
      far as the answers tell: X of them (or of the others) got no answer to
      their last change (a timeout under load), so the server may have
      applied it or not.

  registry_flood.py bulk HOST:PORT KEY_FILE SERVICE N
      Registers the backends 0..N-1 from 16 connections, then deregisters
      them all. Prints "registered R deregistered D failed F" (F: requests
      answered other than 200, or not at all).

The backends start registered (the test lists them in the configuration).
Every wait is bounded (HTTP timeout 5 s per request, the duration overall).
Addresses are in 198.18.64.0/18 (N <= 16384)."""
import hashlib
import hmac
import http.client
import json
import os
import random
import sys
import threading
import time

TTL_S = 600


def addr(i):
    return "198.18.%d.%d" % (64 + i // 256, i % 256)


class Registry:
    def __init__(self, hostport, key_file, service):
        host, port = hostport.rsplit(":", 1)
        self.host, self.port = host, int(port)
        self.key = bytes.fromhex(open(key_file).read().strip())
        self.service = service
        self.conn = None

    def post(self, path, i, weight=1):
        body = json.dumps({
            "service": self.service, "address": addr(i), "port": 80, "weight": weight,
            "ttl_s": TTL_S, "timestamp_ms": int(time.time() * 1000),
            "nonce": os.urandom(16).hex(),
        }, separators=(",", ":")).encode()
        sig = hmac.new(self.key, body, hashlib.sha256).hexdigest()
        for attempt in range(2):  # one reconnect if the server closed the connection
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(self.host, self.port, timeout=5)
                self.conn.request("POST", path, body, {
                    "Content-Type": "application/json", "X-Switchyard-Signature": sig})
                r = self.conn.getresponse()
                r.read()
                if r.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                # a refusal of the retry may be the replay of a first
                # attempt the server did apply: no answer either way
                return r.status if r.status == 200 or not attempt else 0
            except (OSError, http.client.HTTPException):
                if self.conn:
                    self.conn.close()
                self.conn = None
                if attempt:
                    return 0
        return 0


def pct(v, p):
    if not v:
        return 0.0
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p / 100.0))]


def flap(reg, n, rate, duration, t0, tid, nthreads, seed, out):
    """Thread tid: the backends i with i % nthreads == tid, rate/nthreads
    changes a second (its own schedule, so one slow answer does not stop
    the others: agents of different backends are independent)."""
    rnd = random.Random(seed * 1000 + tid)
    mine = list(range(tid, n, nthreads))
    up = {i: True for i in mine}
    unsure = set()  # no answer to the last register/deregister: either state
    rtt, ok, failed, k = [], 0, 0, 0
    r = rate / nthreads
    while True:
        due = t0 + k / r
        now = time.monotonic()
        if now - t0 >= duration:
            break
        if due > now:
            time.sleep(due - now)
        i = rnd.choice(mine)
        s = time.monotonic()
        if up[i] and rnd.random() < 0.25:
            st = reg.post("/v1/register", i, rnd.randint(1, 4))
        elif up[i]:
            st = reg.post("/v1/deregister", i)
            if st == 200:
                up[i] = False
            elif st == 0:
                unsure.add(i)
        else:
            st = reg.post("/v1/register", i)
            if st == 200:
                up[i] = True
            elif st == 0:
                unsure.add(i)
        if st == 200:
            unsure.discard(i)  # an answered register/deregister settles it
        rtt.append((time.monotonic() - s) * 1000)
        ok += st == 200
        failed += st != 200
        k += 1
    out[tid] = (k, ok, failed, rtt, sum(up.values()), len(unsure))


def bulk(hostport, key_file, service, n, nthreads=16):
    """Every backend registered, then every one deregistered."""
    counts = {"/v1/register": 0, "/v1/deregister": 0, "failed": 0}
    lock = threading.Lock()

    def run(tid, path):
        reg = Registry(hostport, key_file, service)
        for i in range(tid, n, nthreads):
            st = reg.post(path, i)
            with lock:
                counts[path if st == 200 else "failed"] += 1

    for path in ("/v1/register", "/v1/deregister"):
        th = [threading.Thread(target=run, args=(t, path)) for t in range(nthreads)]
        for t in th:
            t.start()
        for t in th:
            t.join()
    print("registered %d deregistered %d failed %d"
          % (counts["/v1/register"], counts["/v1/deregister"], counts["failed"]), flush=True)
    return 0 if counts["failed"] == 0 else 1


def main():
    mode, hostport, key_file, service, n = sys.argv[1:6]
    n = int(n)
    assert 0 < n <= 16384
    nthreads = 16
    if mode == "bulk":
        return bulk(hostport, key_file, service, n)
    assert mode == "flap"
    regs = [Registry(hostport, key_file, service) for _ in range(nthreads)]
    rate, duration, seed = float(sys.argv[6]), float(sys.argv[7]), int(sys.argv[8])
    out = [None] * nthreads
    t0 = time.monotonic()
    th = [threading.Thread(target=flap, args=(regs[t], n, rate, duration, t0, t, nthreads,
                                              seed, out)) for t in range(nthreads)]
    for t in th:
        t.start()
    for t in th:
        t.join()
    el = time.monotonic() - t0
    k = sum(o[0] for o in out)
    ok = sum(o[1] for o in out)
    failed = sum(o[2] for o in out)
    rtt = [x for o in out for x in o[3]]
    up = sum(o[4] for o in out)
    unsure = sum(o[5] for o in out)
    print("changes %d ok %d failed %d seconds %.1f rate %.1f rtt_p50_ms %.2f rtt_p99_ms %.2f up %d unsure %d"
          % (k, ok, failed, el, k / el, pct(rtt, 50), pct(rtt, 99), up, unsure), flush=True)
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
