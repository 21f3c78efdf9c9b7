#!/usr/bin/env python3
"""The measuring half of perf/etcd_bench.sh (which starts etcd and sy-control).

usage: etcd_bench.py ETCD_URL API_SOCKET TRIALS BACKENDS

1. Lease expiry -> backend out of the published table, TRIALS times: each
   trial grants a lease with TTL 2 s, puts exp/198.19.X.Y:80 with it, waits
   until the backend is in the published table, then lets the lease expire
   (no keepalive). Trials start every 100 ms, so about 25 overlap. Figures,
   per trial, from the lease's due expiry (grant answer + TTL):
     watch   etcd's DELETE event seen by our own watch on the prefix
     table   the backend gone from the published table: GET
             /v1/services/exp/table (sy-control answers it from the region
             snapshot the dataplane reads), polled every ~2 ms
2. BACKENDS backends registering at once, two ways, under service bulk:
     txn     one kv/txn of BACKENDS puts sharing one lease
     puts    BACKENDS kv/put requests from 16 connections, one lease
   Time from the first request until all are in the published table
   (GET /v1/services "backends" of bulk), with the etcd answer time and when
   our watch saw the last event; then the lease is revoked and the time until
   the table is empty again is measured.
Prints the figures; asserts nothing.
"""
import base64
import http.client
import json
import socket
import sys
import threading
import time
import urllib.parse

ETCD, SOCK, TRIALS, NB = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
TTL = 2
PFX = "/switchyard/services/"
U = urllib.parse.urlparse(ETCD)


def b64(s):
    return base64.b64encode(s.encode()).decode()


def now():
    return time.monotonic()


class Etcd:
    def __init__(self):
        self.c = http.client.HTTPConnection(U.hostname, U.port, timeout=30)

    def call(self, path, body):
        self.c.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        r = self.c.getresponse()
        data = r.read()
        if r.status != 200:
            raise RuntimeError("%s: %d %s" % (path, r.status, data[:200]))
        return json.loads(data)


class Api(http.client.HTTPConnection):
    def __init__(self):
        super().__init__("localhost", timeout=30)

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(SOCK)

    def get(self, path):
        self.request("GET", path)
        r = self.getresponse()
        return json.loads(r.read())


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def stats(name, v):
    print("  %-34s n=%d  min %.0f  p50 %.0f  p90 %.0f  p99 %.0f  max %.0f ms" % (
        name, len(v), min(v), pct(v, 50), pct(v, 90), pct(v, 99), max(v)))


# ---- our own watch on the whole prefix: when each event arrives ---------------
events = {}        # key -> [(type, t)]
event_count = {"bulk": 0}
ev_lock = threading.Lock()


def watcher():
    c = http.client.HTTPConnection(U.hostname, U.port)
    end = PFX[:-1] + chr(ord(PFX[-1]) + 1)
    c.request("POST", "/v3/watch", json.dumps({"create_request": {"key": b64(PFX), "range_end": b64(end)}}))
    r = c.getresponse()
    buf = b""
    while True:
        chunk = r.read1(1 << 20)
        if not chunk:
            return
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            t = now()
            res = json.loads(line).get("result", {})
            with ev_lock:
                for ev in res.get("events", []):
                    k = base64.b64decode(ev["kv"]["key"]).decode()
                    if k.startswith(PFX + "bulk/"):
                        event_count["bulk"] += 1
                        event_count["last"] = t
                    else:
                        events.setdefault(k, []).append((ev.get("type", "PUT"), t))


threading.Thread(target=watcher, daemon=True).start()
time.sleep(0.5)

# ---- 1. lease expiry ------------------------------------------------------------
print("lease expiry -> out of the published table: %d trials, TTL %d s" % (TRIALS, TTL))
trials = []  # dicts: addr, key, due, seen_in, gone
tlock = threading.Lock()


def start_trial(i):
    e = Etcd()
    addr = "198.19.%d.%d" % (i // 250, i % 250 + 1)
    key = PFX + "exp/%s:80" % addr
    lease = e.call("/v3/lease/grant", {"TTL": TTL})["ID"]
    due = now() + TTL
    e.call("/v3/kv/put", {"key": b64(key), "value": b64('{"weight":1}'), "lease": lease})
    with tlock:
        trials.append({"addr": addr, "key": key, "due": due, "seen": None, "gone": None})


def poll_table(until_done):
    api = Api()
    while True:
        t0 = now()
        tab = api.get("/v1/services/exp/table")
        t = now()
        present = {b["address"] for b in tab.get("backends", [])}
        with tlock:
            for tr in trials:
                if tr["seen"] is None and tr["addr"] in present:
                    tr["seen"] = t
                elif tr["seen"] is not None and tr["gone"] is None and tr["addr"] not in present:
                    tr["gone"] = (t0 + t) / 2  # the answer reflects a moment in between
            if until_done() and all(tr["gone"] is not None for tr in trials):
                return
        time.sleep(0.002)


starting = [True]
poller = threading.Thread(target=poll_table, args=(lambda: not starting[0] and len(trials) == TRIALS,))
poller.start()
for i in range(TRIALS):
    threading.Thread(target=start_trial, args=(i,)).start()
    time.sleep(0.1)
starting[0] = False
poller.join(timeout=60)
wl, tl, never = [], [], 0
for tr in trials:
    if tr["seen"] is None or tr["gone"] is None:
        never += 1
        continue
    tl.append((tr["gone"] - tr["due"]) * 1000)
    dels = [t for (ty, t) in events.get(tr["key"], []) if ty == "DELETE"]
    if dels:
        wl.append((dels[0] - tr["due"]) * 1000)
stats("etcd DELETE seen by a watcher", wl)
stats("backend out of the published table", tl)
if wl and tl:
    print("  (sy-control's own part, table - watch: p50 %.1f ms)" % (pct(tl, 50) - pct(wl, 50)))
if never:
    print("  %d trials not measured (backend never seen or never gone)" % never)
res_exp = (pct(tl, 50), pct(tl, 99))


# ---- 2. many backends at once -------------------------------------------------------
def bulk_count(api):
    for s in api.get("/v1/services")["services"]:
        if s["name"] == "bulk":
            return s["backends"]
    return -1


def wait_count(api, n, limit_s=120):
    end = now() + limit_s
    while now() < end:
        if bulk_count(api) == n:
            return now()
        time.sleep(0.005)
    return None


def addr_of(i, base):
    return "10.%d.%d.%d" % (base, i // 250, i % 250 + 1)


def bulk(mode, base):
    api, e = Api(), Etcd()
    lease = e.call("/v3/lease/grant", {"TTL": 600})["ID"]
    with ev_lock:
        event_count["bulk"] = 0
    ops = [{"key": b64(PFX + "bulk/%s:80" % addr_of(i, base)), "value": b64('{"weight":1}'),
            "lease": lease} for i in range(NB)]
    t0 = now()
    if mode == "txn":
        e.call("/v3/kv/txn", {"success": [{"request_put": op} for op in ops]})
    else:
        nthreads = 16
        def worker(k):
            ee = Etcd()
            for op in ops[k::nthreads]:
                ee.call("/v3/kv/put", op)
        th = [threading.Thread(target=worker, args=(k,)) for k in range(nthreads)]
        for t in th:
            t.start()
        for t in th:
            t.join()
    t_ack = now()
    t_all = wait_count(api, NB)
    with ev_lock:
        t_ev = event_count.get("last", t_ack) if event_count["bulk"] >= NB else None
    print("  %-5s etcd answered %.0f ms, our watch had all events %s, all %d in the published table %s" % (
        mode, (t_ack - t0) * 1000,
        "%.0f ms" % ((t_ev - t0) * 1000) if t_ev else "never",
        NB, "after %.0f ms" % ((t_all - t0) * 1000) if t_all else "NEVER (timeout)"))
    t1 = now()
    e.call("/v3/lease/revoke", {"ID": lease})
    t_empty = wait_count(api, 0)
    print("        lease revoked: all %d out of the table after %s" % (
        NB, "%.0f ms" % ((t_empty - t1) * 1000) if t_empty else "NEVER (timeout)"))
    return (t_all - t0) * 1000 if t_all else float("nan")


print("%d backends registering at once (service bulk):" % NB)
r_txn = bulk("txn", 1)
r_puts = bulk("puts", 2)
print("RESULT expiry_p50_ms=%.0f expiry_p99_ms=%.0f bulk_txn_ms=%.0f bulk_puts_ms=%.0f" % (
    res_exp[0], res_exp[1], r_txn, r_puts))
