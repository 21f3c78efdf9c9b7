#!/usr/bin/env python3
"""A backend for health-check tests: answers every HTTP request with STATUS
after DELAY seconds, over TLS when given a certificate. One thread (asyncio),
so that it holds thousands of checks at once.

It writes the most requests it had in flight at once to STATS (the checks'
parallelism) and, with --times, appends the monotonic time of each request
to a file (the checks' cadence).

usage: health_server.py ADDR STATUS DELAY STATS --port P [--port P ...]
                        [--tls CERT KEY] [--times FILE]
"""
import argparse
import asyncio
import resource
import ssl
import time

ap = argparse.ArgumentParser()
ap.add_argument("addr")
ap.add_argument("status", type=int)
ap.add_argument("delay", type=float)
ap.add_argument("stats")
ap.add_argument("--port", type=int, action="append", required=True)
ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
ap.add_argument("--times")
args = ap.parse_args()

inflight = 0
most = 0


def note_most():
    with open(args.stats, "w") as f:
        f.write(f"{most}\n")


async def serve(reader, writer):
    global inflight, most
    try:
        await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ssl.SSLError):
        writer.close()
        return
    if args.times:
        with open(args.times, "a") as f:
            f.write(f"{time.monotonic():.3f}\n")
    inflight += 1
    if inflight > most:
        most = inflight
        note_most()
    try:
        await asyncio.sleep(args.delay)
        writer.write(f"HTTP/1.1 {args.status} X\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n".encode())
        await writer.drain()
    except (ConnectionError, ssl.SSLError):
        pass  # the check gave up (its timeout) and closed
    finally:
        inflight -= 1
        writer.close()


def quiet_disconnects(loop, context):
    # a check that gave up, or a plain client of the TLS port: not the test's news
    if not isinstance(context.get("exception"), (ConnectionError, ssl.SSLError)):
        loop.default_exception_handler(context)


async def main():
    asyncio.get_running_loop().set_exception_handler(quiet_disconnects)
    ctx = None
    if args.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*args.tls)
    servers = [await asyncio.start_server(serve, args.addr, p, ssl=ctx, backlog=4096)
               for p in args.port]
    note_most()
    await asyncio.gather(*(s.serve_forever() for s in servers))


# one descriptor a check held: more than the default 1024
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
asyncio.run(main())
