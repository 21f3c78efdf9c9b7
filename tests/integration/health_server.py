#!/usr/bin/env python3
"""A backend for health-check tests: answers every GET with STATUS after
DELAY seconds, over TLS when given a certificate, and writes the most
requests it had in flight at once to STATS (the checks' parallelism).

usage: health_server.py ADDR PORT STATUS DELAY STATS [CERT KEY]
"""
import http.server
import ssl
import sys
import threading
import time

addr, port, status, delay, stats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
lock = threading.Lock()
inflight = 0
most = 0


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        global inflight, most
        with lock:
            inflight += 1
            if inflight > most:
                most = inflight
                with open(stats, "w") as f:
                    f.write(f"{most}\n")
        try:
            time.sleep(delay)
            self.send_response(status)
            self.send_header("Content-Length", "3")
            self.end_headers()
            self.wfile.write(b"ok\n")
        finally:
            with lock:
                inflight -= 1

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 1024  # the checks of a batch connect together (400 in a test)


server = Server((addr, port), Handler)
if len(sys.argv) > 7:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[6], sys.argv[7])
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
with open(stats, "w") as f:
    f.write("0\n")
server.serve_forever()
