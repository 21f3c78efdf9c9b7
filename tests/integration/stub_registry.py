#!/usr/bin/python3
"""A stand-in for the embedded registry that records when each
registration arrives and answers the Nth one late (or never in time), to
test the agent's renewal timing (test_agent_renewal.sh), and that answers
a service's listing late, to test a reader's patience
(test_resolve_embedded.sh).

usage: stub_registry.py PORTFILE SECONDS STALL_INDEX STALL_S [LIST_DELAY_S]
Listens on 127.0.0.1 (port written to PORTFILE), answers POST
/v1/register and /v1/deregister with 200 {"ok": true}; request number
STALL_INDEX (1-based, registrations only) is answered after STALL_S
seconds; STALL_INDEX -1 stalls every one (a registry host that accepts
connections but never answers in time). GET /v1/services/NAME/instances
is answered after LIST_DELAY_S seconds (default 0) with one instance,
198.18.0.11:80 weight 1, at revision 7 (docs/registry-api.md). After
SECONDS it prints one line per registration:
"T_MS STALLED" (milliseconds since the first one; STALLED 1 for the late
one) and exits.
"""
import http.server
import json
import sys
import threading
import time

portfile, seconds, stall_index, stall_s = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
list_delay_s = float(sys.argv[5]) if len(sys.argv) > 5 else 0.0
arrivals = []
lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(n)
        stalled = False
        if self.path == "/v1/register":
            with lock:
                arrivals.append([time.monotonic(), 0])
                idx = len(arrivals)
                if idx == stall_index or stall_index == -1:
                    arrivals[-1][1] = 1
                    stalled = True
        if stalled:
            time.sleep(stall_s)
        self.reply({"ok": True, "ttl_s": 5})

    def do_GET(self):
        parts = self.path.split("?")[0].split("/")
        if len(parts) != 5 or parts[1:3] != ["v1", "services"] or parts[4] != "instances":
            self.send_error(404)
            return
        time.sleep(list_delay_s)
        self.reply({
            "service": parts[3], "revision": 7, "state": "ok", "state_reason": "",
            "vip": {"address": "198.18.1.1", "port": 80, "protocol": "tcp"},
            "maglev": {"table_size": 251, "hash_seed": 7, "hash": "5-tuple"},
            "instances": [{"id": "198.18.0.11:80", "address": "198.18.0.11", "port": 80,
                           "weight": 1, "zone": "", "metadata": {}, "source": "static",
                           "live": True, "expires_in_ms": None}],
        }, [("X-Switchyard-Revision", "7")])

    def reply(self, obj, headers=()):
        """200 with obj as compact JSON; a client that gave up is no error."""
        body = json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass

    def log_message(self, *args):
        pass


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
srv.daemon_threads = True
with open(portfile, "w") as f:
    f.write(str(srv.server_address[1]))
threading.Thread(target=srv.serve_forever, daemon=True).start()
time.sleep(seconds)
with lock:
    t0 = arrivals[0][0] if arrivals else 0
    for t, s in arrivals:
        print(f"{(t - t0) * 1000:.0f} {s}")
