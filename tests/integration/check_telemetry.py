#!/usr/bin/env python3
"""Compares sy-dataplane's DPDK telemetry with what sy-control published.

usage: check_telemetry.py FILE_PREFIX SERVICES.json STATS.json
       check_telemetry.py --ask FILE_PREFIX COMMAND...   (prints each answer)

SERVICES.json and STATS.json are `syctl --json services` and
`syctl --json stats`, read while no traffic flows. The dataplane is asked
over its telemetry socket (/var/run/dpdk/FILE_PREFIX/dpdk_telemetry.v2,
the protocol dpdk-telemetry.py speaks: a SOCK_SEQPACKET socket that greets
with a JSON object, then answers each command with {"<command>": data}).

Checks, following every page ("next") of the paged commands:
  - /switchyard/services lists every published service, by name, once, with
    its number of backends and its packets, bytes, drops and new flows;
    "total" is the number of services;
  - /switchyard/backends,<svc> of every service lists every backend of it,
    address and weight as sy-control published them, with its packets and
    bytes;
  - no answer carries "error"; every answer is valid JSON that fits in the
    greeting's max_output_len.
Prints PASS:/FAIL: lines, then how many pages each list took; exit 1 if a
check failed.
"""
import json
import socket
import sys

failed = []


def fail(msg):
    failed.append(msg)
    print("FAIL: " + msg)


class Telemetry:
    def __init__(self, prefix):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock.settimeout(5)
        self.sock.connect("/var/run/dpdk/%s/dpdk_telemetry.v2" % prefix)
        self.max_len = json.loads(self.sock.recv(65536))["max_output_len"]

    def ask(self, cmd):
        self.sock.send(cmd.encode())
        raw = self.sock.recv(2 * self.max_len)
        if len(raw) > self.max_len:
            fail("%s: %d bytes, over max_output_len %d" % (cmd, len(raw), self.max_len))
        return json.loads(raw)[cmd.split(",")[0]]

    def pages(self, cmd, key):
        """every entry of a paged list, in order: (entries, pages, total,
        what was wrong with the answers or None)"""
        for _ in range(3):  # a publish between pages: start again
            entries, pages, first, gen, total = [], 0, 0, None, None
            while True:
                ans = self.ask(cmd if first == 0 else "%s,%d" % (cmd, first))
                pages += 1
                if not isinstance(ans, dict) or "error" in ans or \
                        not isinstance(ans.get(key), dict):
                    return entries, pages, total, "%s from %d: %.300r" % (cmd, first, ans)
                if gen is not None and ans["generation"] != gen:
                    break
                gen, total = ans["generation"], ans["total"]
                got = ans[key]
                if ans["first"] != first or \
                        sorted(int(k) for k in got) != list(range(first, first + len(got))):
                    return entries, pages, total, "%s,%d: first %s, positions %s" % (
                        cmd, first, ans["first"], sorted(got, key=int))
                entries += [got[k] for k in sorted(got, key=int)]
                if "next" not in ans:
                    return entries, pages, total, None
                if ans["next"] != first + len(got) or not got:
                    return entries, pages, total, "%s,%d: next %s after %d entries" % (
                        cmd, first, ans["next"], len(got))
                first = ans["next"]
        return entries, pages, total, "%s: the tables changed on every try" % cmd


def main():
    if sys.argv[1] == "--ask":
        tel = Telemetry(sys.argv[2])
        for cmd in sys.argv[3:]:
            print(json.dumps(tel.ask(cmd)))
        return 0
    prefix, services_path, stats_path = sys.argv[1:4]
    published = {s["name"]: s for s in json.load(open(services_path))["services"]}
    stats = json.load(open(stats_path))["services"]
    tel = Telemetry(prefix)

    entries, pages, total, problem = tel.pages("/switchyard/services", "services")
    if problem:
        fail(problem)
    names = [e.get("name") for e in entries]
    if sorted(names) == sorted(published) and total == len(published):
        print("PASS: /switchyard/services: all %d services by name (%d pages)" % (total, pages))
    else:
        fail("/switchyard/services: total %s; missing %s; not published %s" % (
            total, sorted(set(published) - set(names))[:5], sorted(set(names) - set(published))[:5]))
    if len(set(names)) != len(names):
        fail("/switchyard/services: a service listed twice")
    wrong = []
    for e in entries:
        want, st = published.get(e.get("name")), stats.get(e.get("name"))
        if not want or not st:
            continue
        got = (e["backends"], e["packets"], e["bytes"], e["drops"], e["new_flows"])
        exp = (want["backends"], st["packets"], st["bytes"], st["drops"], st["new_flows"])
        if got != exp:
            wrong.append("%s: %s, sy-control %s" % (e["name"], got, exp))
    if wrong or not entries:
        fail("/switchyard/services figures differ: %s" % "; ".join(wrong[:5]))
    else:
        print("PASS: /switchyard/services: backends, packets, bytes, drops, new flows "
              "of every service as sy-control has them")

    most, bad = 0, []
    for name in sorted(published):
        entries, pages, total, problem = tel.pages("/switchyard/backends," + name, "backends")
        got = {e.get("address"): (e.get("weight"), e.get("packets"), e.get("bytes"))
               for e in entries}
        exp = {ep: (b["weight"], b["packets"], b["bytes"])
               for ep, b in stats.get(name, {}).get("backends", {}).items()}
        if problem or got != exp or total != len(exp) or len(entries) != len(exp):
            failed.append(name)
            bad.append("%s: total %s, %d entries; differ: %s; %s" % (
                name, total, len(entries), sorted(set(got.items()) ^ set(exp.items()))[:3],
                problem or "answers well formed"))
        most = max(most, pages)
    for b in bad[:3]:
        print("FAIL: /switchyard/backends," + b)
    if bad:
        print("FAIL: /switchyard/backends,<svc>: %d of %d services wrong" % (len(bad), len(published)))
    else:
        print("PASS: /switchyard/backends,<svc> of all %d services: every backend's address, "
              "weight, packets and bytes (up to %d pages)" % (len(published), most))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
