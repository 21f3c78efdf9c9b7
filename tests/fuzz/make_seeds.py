#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into tests/fuzz/corpus/<target>/.

Usage: make_seeds.py PACKET_CORPUS_TXT

PACKET_CORPUS_TXT is the packet corpus gen_corpus.py generates
(build/tests/packets/corpus.txt): one frame per distinct kind of case is
taken, behind the control byte of fuzz_packet (0: MTU 1500, ICMP, one pass,
256 bytes of head- and tailroom), and a few with other control bytes. The
other seeds are written from the samples below and tests/control/configs.
The seeds are committed; run this again only to change them.
"""
import hashlib
import hmac
import json
import os
import re
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(HERE, "corpus")


def write(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def packets(corpus_txt):
    seen = {}
    with open(corpus_txt) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            name, _verdict, _counter, in_hex = line.split()[:4]
            kind = re.sub(r"_\d+$", "", name)
            if kind in seen:
                continue
            seen[kind] = bytes.fromhex(in_hex)
    for kind, frame in sorted(seen.items()):
        write("fuzz_packet", kind, b"\x00" + frame)
    # a few with other control bytes: MTU 576 and 68 (ICMP too-big), drop on
    # overflow, two passes (conntrack hit), no headroom, no tailroom
    extra = {0x02: "mtu576", 0x07: "mtu68_drop", 0x08: "twice", 0x10: "no_headroom",
             0x40: "no_tailroom"}
    for kind in sorted(seen)[:8]:
        for ctl, tag in extra.items():
            write("fuzz_packet", f"{kind}.{tag}", bytes([ctl]) + seen[kind])


def configs():
    for sub in ("good", "bad"):
        d = os.path.join(ROOT, "tests", "control", "configs", sub)
        for n in sorted(os.listdir(d)):
            if n.endswith(".yaml"):
                shutil.copy(os.path.join(d, n), os.path.join(OUT, "fuzz_config", f"{sub}-{n}"))


def body(**kw):
    r = {"service": "web", "address": "10.1.2.3", "port": 80, "weight": 1,
         "timestamp_ms": 1700000000000, "nonce": "0123456789abcdef0123"}
    r.update(kw)
    return json.dumps({k: v for k, v in r.items() if v is not None}, separators=(",", ":"))


def registry_values():
    t = "fuzz_registry_value"
    samples = {
        "etcd_key_v4": "/switchyard/services/web/198.18.0.11:80",
        "etcd_key_v6": "/switchyard/services/web6/[2001:db8::1]:443",
        "etcd_key_noncanon": "/switchyard/services/web/198.018.0.11:80",
        "value_empty_obj": "{}",
        "value_full": '{"weight": 3, "zone": "a", "metadata": {"rack": "r1", "n": [1, 2]}}',
        "value_weight0": '{"weight": 0}',
        "value_bad_weight": '{"weight": 70000}',
        "value_dup": '{"weight": 1, "weight": 2}',
        "value_zone_bad": '{"zone": "a b"}',
        "value_unicode": '{"zone": "z", "metadata": {"k": "\\u00e9\\u0000x"}}',
        "reg_min": body(),
        "reg_full": body(zone="b", metadata={"a": 1, "b": {"c": [True, None]}}, ttl_s=10,
                         weight=7),
        "reg_v6": body(address="2001:db8::5", port=443),
        "reg_mapped": body(address="::ffff:10.1.2.3"),
        "reg_extra_field": body(extra=1),
        "reg_bad_nonce": body(nonce="short"),
        "b64": "L3N3aXRjaHlhcmQvc2VydmljZXMvd2ViLzE5OC4xOC4wLjExOjgw",
        "b64_nopad": "eyJ3ZWlnaHQiOjF9",
        "endpoint_v6": "[2001:db8::1]:8080",
        "endpoint_v4": "198.18.0.11:80",
        "prefix_v4": "198.18.0.0/24",
        "prefix_mapped": "::ffff:198.18.0.0/120",
        "prefix_v6": "2001:2::/48",
    }
    for n, v in samples.items():
        write(t, n, v)


HTTP_KEY = b"fuzz-http-api-key-0123456789abcd"


def http_requests():
    t = "fuzz_http_api"

    def req(url, body="", headers=()):
        return url + "\n" + "".join(h + "\n" for h in headers) + "\n" + body

    for n, b in {"ok": body(), "v6": body(address="2001:db8::9", port=443),
                 "stale": body(timestamp_ms=1), "outside": body(address="192.0.2.1"),
                 "other_service": body(service="api"), "meta": body(metadata={"x": "y"})}.items():
        sig = hmac.new(HTTP_KEY, b.encode(), hashlib.sha256).hexdigest()
        write(t, f"register_{n}", req("/v1/register", b,
                                      [f"X-Switchyard-Signature: {sig}", "X-Peer: 10.9.8.7"]))
    write(t, "register_unsigned", req("/v1/register", body(), ["X-Peer: 2001:db8::1"]))
    write(t, "deregister", req("/v1/deregister", body(), ["X-Peer: 10.0.0.1"]))
    write(t, "lookup", req("/v1/lookup?service=web&src=10.0.0.1&sport=1234&dst=198.18.1.1&dport=80&proto=tcp"))
    write(t, "lookup_v6", req("/v1/lookup?service=w&src=2001:db8::1&sport=1&dst=2001:db8::2&dport=65535&proto=udp"))
    write(t, "add_backend", req("/v1/services/web/backends",
                                '{"address": "198.18.0.12", "port": 80, "weight": 2, "mac": "02:00:00:00:00:12"}'))
    write(t, "weight", req("/v1/services/web/backends/198.18.0.12:80/weight", '{"weight": 0}'))
    write(t, "drain_v6", req("/v1/services/web/backends/[2001:db8::1]:80/drain"))
    write(t, "status", req("/v1/status"))


def syctl():
    t = "fuzz_syctl_args"

    def args(status, *argv, reply=""):
        return bytes([status]) + b"".join(a.encode() + b"\0" for a in argv) + b"\0" + reply.encode()

    status_reply = json.dumps({"instance": "demo", "version": "0.1.0", "region": "/dev/shm/x",
                               "adopted": True, "generation": 3, "services": 1,
                               "sources": {"static": {"up": True, "state": "ok"}},
                               "degraded": [{"service": "web", "reason": "panic"}]})
    services_reply = json.dumps({"services": [{"name": "web", "vip": "198.18.1.1", "port": 80,
                                               "protocol": "tcp", "mode": "ipip",
                                               "table_size": 251, "backends": 2, "live": 1,
                                               "digest": "00ff", "state": "ok"},
                                              {"name": "w6", "vip": "2001:db8::1", "port": 0}]})
    backends_reply = json.dumps({"backends": [{"address": "198.18.0.11", "port": 80, "weight": 1,
                                               "effective_weight": 1, "state": "up",
                                               "source": "static", "zone": "a",
                                               "last_seen_ms_ago": 1500},
                                              {"address": "2001:db8::1", "port": 80}]})
    table_reply = json.dumps({"service": "web", "table_size": 251, "digest": "ab",
                              "backends": [{"address": "198.18.0.11", "port": 80, "weight": 1,
                                            "entries": 251, "share": 1.0}]})
    lookup_reply = json.dumps({"service": "web", "backend": "198.18.0.11:80", "reason": "maglev",
                               "slot": 3, "table_size": 251, "hash": "0x1"})
    stats_reply = json.dumps({"counters": {"rx_pkts": 10, "drop_runt": 0},
                              "services": {"web": {"packets": 1, "bytes": 60}}})
    write(t, "status", args(0, "status", reply=status_reply))
    write(t, "status_json", args(0, "--json", "status", reply=status_reply))
    write(t, "services", args(0, "--socket", "/tmp/x.sock", "services", reply=services_reply))
    write(t, "backends", args(0, "--instance", "demo", "backends", "web", reply=backends_reply))
    write(t, "table", args(0, "--url", "http://127.0.0.1:9180", "--token-file", "token", "table",
                           "web", reply=table_reply))
    write(t, "lookup", args(0, "lookup", "web", "10.0.0.1:1234", "198.18.1.1:80", "tcp",
                            reply=lookup_reply))
    write(t, "stats", args(0, "stats", reply=stats_reply))
    write(t, "reload_error", args(2, "reload", reply='{"error": "bad config"}'))
    write(t, "unreachable", args(1, "status"))
    write(t, "denied_socket", args(7, "status"))
    write(t, "denied_token", args(5, "--url", "http://127.0.0.1:9180", "--token-file", "token",
                                  "services", reply='{"error": "missing or wrong bearer token"}'))
    write(t, "url_and_socket", args(0, "--url", "http://127.0.0.1:9180", "--socket", "/tmp/x",
                                    "status"))
    write(t, "url_bad", args(0, "--url", "not a url", "status"))
    write(t, "help_backends", args(0, "backends", "--help"))
    write(t, "add_bad_mac", args(0, "add", "web", "198.18.0.11:80", "1", "zz"))
    write(t, "add", args(0, "add", "web", "[2001:db8::1]:80", "3", "02:00:00:00:00:01",
                         reply='{"ok": true}'))
    write(t, "remove", args(0, "remove", "web", "198.18.0.11:80", reply='{"ok": true}'))
    write(t, "drain", args(3, "drain", "web", "198.18.0.11:80", reply="not json"))
    write(t, "weight", args(0, "weight", "web", "198.18.0.11:80", "0", reply='{"ok": true}'))
    write(t, "weight_bad", args(0, "weight", "web", "198.18.0.11:80", "x"))
    write(t, "version", args(0, "version"))
    write(t, "help", args(0, "--help"))
    write(t, "unknown", args(0, "frobnicate"))
    write(t, "register_http", args(0, "register", "--service", "web", "--addr", "10.1.2.3",
                                   "--port", "80", "--key-file", "key", "--registry",
                                   "http://127.0.0.1:9181", "--once", reply='{"ok": true}'))
    write(t, "register_http_loop", args(0, "register", "--service", "web", "--addr",
                                        "2001:db8::1", "--port", "80", "--weight", "2",
                                        "--ttl", "9", "--zone", "a", "--metadata", '{"k": 1}',
                                        "--key-file", "key", "--registry",
                                        "http://127.0.0.1:9181", reply='{"ok": true}'))
    write(t, "register_refused", args(2, "register", "--service", "web", "--addr", "10.1.2.3",
                                      "--port", "80", "--key-file", "key", "--registry",
                                      "http://h:1", reply='{"error": "prefix"}'))
    write(t, "register_etcd", args(0, "register", "--service", "web", "--addr", "10.1.2.3",
                                   "--port", "80", "--registry", "etcd://127.0.0.1:2379"))
    write(t, "register_zk", args(0, "register", "--service", "web", "--addr", "10.1.2.3",
                                 "--port", "80", "--registry", "zk://127.0.0.1:2181"))
    write(t, "register_etcd_auth", args(0, "register", "--service", "web", "--addr", "10.1.2.3",
                                        "--port", "80", "--registry", "etcd://127.0.0.1:2379",
                                        "--etcd-user", "agent", "--etcd-password-file", "pw"))
    write(t, "register_etcd_tls", args(0, "register", "--service", "web", "--addr", "10.1.2.3",
                                       "--port", "80", "--registry", "etcd://127.0.0.1:2379",
                                       "--etcd-ca-file", "ca.crt", "--etcd-cert-file", "c.crt",
                                       "--etcd-key-file", "c.key"))
    write(t, "register_etcd_cert_alone", args(2, "register", "--service", "web", "--addr",
                                              "10.1.2.3", "--port", "80", "--registry",
                                              "etcd://127.0.0.1:2379", "--etcd-cert-file", "c.crt"))
    write(t, "register_etcd_user_alone", args(2, "register", "--service", "web", "--addr",
                                              "10.1.2.3", "--port", "80", "--registry",
                                              "etcd://127.0.0.1:2379", "--etcd-user", "agent"))


def api_router():
    """fuzz_api_router: requests separated by "\\n--\\n", each a selector
    byte (method, token needed, Authorization, body over the cap, raw URL),
    a route index, then the URL suffix, query, Authorization and body."""
    t = "fuzz_api_router"
    GET, POST, DELETE, PUT, HEAD, get, PATCH, EMPTY = range(8)
    TOK, RIGHT, LINE, WRONG, BIG, RAW = 8, 1 << 4, 2 << 4, 3 << 4, 0x40, 0x80

    def req(sel, ri, suffix=b"", query=b"", auth=b"", body=b""):
        return bytes([sel, ri]) + suffix + b"\n" + query + b"\n" + auth + b"\n" + body

    def w(name, *reqs):
        write(t, name, b"\n--\n".join(reqs))

    w("get_views", *[req(GET, i) for i in (0, 1, 2, 3, 6, 7, 8, 9, 10)])
    w("lookup_v4", req(GET, 4, query=b"service=web&src=10.0.0.1&sport=1234&dst=198.18.1.1&dport=80&proto=tcp"))
    w("lookup_v6", req(GET, 4, query=b"service=api&src=2001:db8::9&sport=53&dst=2001:db8::1&dport=443&proto=udp"))
    w("lookup_bad", req(GET, 4, query=b"service=web&src=10.0.0.1&sport=99999&dst=::1&dport=80&proto=sctp"),
      req(GET, 4, query=b"service=nosuch"), req(POST, 4))
    w("add_backend",
      req(POST, 6, body=b'{"address": "198.18.0.20", "port": 80, "weight": 5, "mac": "02:00:00:00:00:20"}'),
      req(GET, 6), req(GET, 9),
      req(POST, 8, body=b'{"address": "198.18.0.40", "port": 53}'),
      req(GET, 4, query=b"service=dsr&src=10.0.0.1&sport=1&dst=198.18.1.2&dport=53&proto=udp"))
    w("add_backend_bad", req(POST, 6, body=b'{"address": "nope", "port": 70000}'),
      req(POST, 7, body=b"[1,2"), req(POST, 6, body=b'{"address": "198.18.0.20", "port": 80, "weight": -1}'),
      req(POST, 6, body=b'{"address": "198.18.0.20", "port": 80, "mac": "zz"}'), req(PUT, 6))
    w("backend_ops", req(POST, 12), req(POST, 13, body=b'{"weight": 7}'),
      req(POST, 15, body=b'{"weight": 70000}'), req(DELETE, 14), req(DELETE, 11), req(GET, 11),
      req(POST, 11, b"/bogus"), req(GET, 9))
    w("backend_ops_bad", req(DELETE, 6, b"/not-an-endpoint"), req(DELETE, 6, b"/198.18.0.99:80"),
      req(DELETE, 6, b"/[::1]:80/drain/x"), req(GET, 16), req(GET, 17), req(GET, 18), req(GET, 19))
    w("reload", req(POST, 5), req(GET, 2), req(POST, 5), req(GET, 5), req(GET, 0))
    w("token", req(GET | TOK, 1), req(GET | TOK | RIGHT, 1), req(GET | TOK | WRONG, 0),
      req(GET | TOK | LINE, 2, auth=b"Bearer"),
      req(GET | TOK | LINE, 2, auth=b"bearer fuzz-router-token-0123456789"),
      req(POST | TOK | RIGHT, 12), req(GET | RIGHT, 3))
    w("too_large", req(POST | BIG, 6, body=b'{"address": "198.18.0.20", "port": 80}'),
      req(POST | BIG | TOK, 5), req(POST | BIG | TOK | RIGHT, 5))
    w("raw_urls", req(GET | RAW, 0, b"/v1/services/web/backends/198.18.0.11:80/weight"),
      req(POST | RAW, 0, b"/v1/services/web//backends"),
      req(GET | RAW, 0, b"/v1/services/" + b"a" * 600 + b"/table"),
      req(DELETE | RAW, 0, b"/v1/services/web/backends/198.18.0.12:80/"),
      req(EMPTY | RAW, 0, b"/metrics"), req(HEAD | RAW, 0, b"/v1/status"),
      req(get | RAW, 0, b"/v1/reload"), req(PATCH | RAW, 0, b"%s%n"))


def import_ipvs():
    """fuzz_import_ipvs: the option byte (bits 0-1 --nat-as none/ipip/gue/
    l2dsr, 4 --skip-unsupported, 8 --encap-source4, 16 --encap-source6, 32
    --instance edge-1) and the rules: the golden samples of
    tests/control/ipvs with their options, some of its bad/ ones with both
    encapsulation sources (as the test runs them), and a few more."""
    t = "fuzz_import_ipvs"
    d = os.path.join(ROOT, "tests", "control", "ipvs")
    nat = {"ipip": 1, "gue": 2, "l2dsr": 3}

    def ctl(args):
        c, a = 0, args.split()
        for i, w in enumerate(a):
            if w == "--nat-as":
                c |= nat[a[i + 1]]
            elif w == "--skip-unsupported":
                c |= 4
            elif w == "--encap-source4":
                c |= 8
            elif w == "--encap-source6":
                c |= 16
            elif w == "--instance":
                c |= 32
        return c

    for n in sorted(os.listdir(d)):
        if n.endswith(".rules"):
            with open(os.path.join(d, n[:-6] + ".args")) as f:
                c = ctl(f.read())
            with open(os.path.join(d, n), "rb") as f:
                write(t, n[:-6], bytes([c]) + f.read())
    for n in ("bad-ipv6", "bad-netmask", "control-byte", "duplicate-server", "fwmark",
              "gue-port-mismatch", "masquerading", "missing-value", "mixed-forwarding",
              "option-on-wrong-line", "service-name-port", "weight-too-big"):
        with open(os.path.join(d, "bad", n + ".rules"), "rb") as f:
            write(t, "bad-" + n if not n.startswith("bad-") else n, bytes([8 | 16]) + f.read())
    write(t, "long-options", bytes([8 | 16]) + b"""ipvsadm --add-service --udp-service=198.18.100.9:53 --scheduler=rr --persistent=60 --netmask=255.255.0.0 --sched-flags=sh-port,sh-fallback --pe sip --ops
ipvsadm --add-server --udp-service 198.18.100.9:53 --real-server=[2001:2::9]:5353 --ipip --tun-type=gue --tun-port=6081 --tun-csum --weight=7 --u-threshold=100 --l-threshold=10
-a -u 198.18.100.9:53 -r 198.18.1.9 -i --tun-type gue --tun-port 6081 -w 0
""")
    write(t, "clear", bytes([8]) + b"-A -t 198.18.100.1:80\n-C\n-A -t 198.18.100.1:80 -p\n"
          b"-a -t 198.18.100.1:80 -r 198.18.1.1 -i\r\n# comment\n\n\t-A -t [2001:2::1]:0 -p 60 -M 64")
    write(t, "nat-gue", bytes([2 | 8]) + b"-A -t 198.18.100.1:80 -s wlc\n"
          b"-a -t 198.18.100.1:80 -r 198.18.1.1:8080 -m -w 1\n"
          b"-a -t 198.18.100.1:80 -r 198.18.1.2:80 -i --tun-type gue --tun-port 6081 -w 2\n")
    write(t, "nat-skip", bytes([4 | 8 | 16]) + b" -A -f 7 -6 -s sh\n-a -f 7 -6 -r [2001:2::5]:0 -g\n"
          b"-A --sctp-service 198.18.100.2:3868\n-a --sctp-service 198.18.100.2:3868 -r 198.18.1.3 -m\n"
          b"-A -u 198.18.100.3:0 -p\n-a -u 198.18.100.3:0 -r 198.18.1.4:0 -m -x 5\n"
          b"-A -t 198.18.100.4:22\n-a -t 198.18.100.4:22 -r 198.18.1.5:22 -i --tun-type gre\n")


def resolve_answers():
    """fuzz_resolve_answer: a byte choosing the expected service (0 none,
    1 "web", 2 "api"), then an answer of GET /v1/services/NAME/instances:
    the documented example, fail-static, empty, IPv6, and some broken."""
    t = "fuzz_resolve_answer"
    inst = [
        {"id": "198.18.0.11:80", "address": "198.18.0.11", "port": 80, "weight": 1, "zone": "a",
         "metadata": {"version": "1.2"}, "source": "embedded", "live": True, "expires_in_ms": 4213},
        {"id": "[2001:2::12]:80", "address": "2001:2::12", "port": 80, "weight": 0, "zone": "",
         "metadata": {}, "source": "static", "live": True, "expires_in_ms": None},
    ]
    ans = {"service": "web", "revision": 1796364613126345, "state": "ok", "state_reason": "",
           "vip": {"address": "198.18.1.1", "port": 80, "protocol": "tcp"},
           "maglev": {"table_size": 65537, "hash_seed": 0}, "instances": inst}

    def js(o):
        return json.dumps(o, sort_keys=True, separators=(",", ":"))

    write(t, "doc-example", b"\x01" + js(ans).encode())
    write(t, "any-service", b"\x00" + js(ans).encode())
    write(t, "wrong-service", b"\x02" + js(ans).encode())
    fs = dict(ans, state="fail-static", state_reason="panic: 2 of 2 lost",
              instances=[dict(i, live=False) for i in inst])
    write(t, "fail-static", b"\x01" + js(fs).encode())
    write(t, "empty", b"\x01" + js(dict(ans, instances=[], maglev={"table_size": 251, "hash_seed": 7})).encode())
    write(t, "error-503", b"\x01" + b'{"error":"sy-control is stopping; watch again once it is back"}')
    write(t, "bad-port", b"\x01" + js(dict(ans, instances=[dict(inst[0], port=0)])).encode())
    write(t, "truncated", b"\x01" + js(ans).encode()[:120])


def resolve_etcd():
    """fuzz_resolve_etcd: a byte choosing the answer (even: kv/range, odd: a
    watch line; bit 2: a follow, a range then watch lines, one a line) and
    the service (bit 1: "api", else "web"), then etcd's JSON gateway answer
    with the keys sy-control's etcd source reads."""
    import base64
    t = "fuzz_resolve_etcd"
    pfx = "/switchyard/services/"

    def kv(key, value, rev=5):
        return {"key": base64.b64encode((pfx + key).encode()).decode(),
                "value": base64.b64encode(value.encode()).decode(),
                "create_revision": str(rev), "mod_revision": str(rev), "version": "1",
                "lease": "7587862064834461957"}

    def js(o):
        return json.dumps(o, separators=(",", ":"))

    hdr = {"cluster_id": "14841639068965178418", "member_id": "10276657743932975437",
           "revision": "9", "raft_term": "2"}
    kvs = [kv("web/198.18.0.11:80", '{"weight":5,"zone":"a","metadata":{"v":"1"}}'),
           kv("web/[2001:2::12]:8080", ""), kv("web/198.18.0.011:80", ""),
           kv("web/198.18.0.13:80", '{"weight":70000}')]
    write(t, "range", b"\x00" + js({"header": hdr, "kvs": kvs, "count": "4"}).encode())
    write(t, "range-empty", b"\x00" + js({"header": hdr}).encode())
    write(t, "range-error", b"\x00" + b'{"error":"etcdserver: user name is empty","code":3,"message":"etcdserver: user name is empty"}')
    write(t, "range-truncated", b"\x00" + js({"header": hdr, "kvs": kvs}).encode()[:150])
    write(t, "watch-created", b"\x01" + js({"result": {"header": hdr, "created": True}}).encode())
    ev = [{"kv": kvs[0]}, {"type": "DELETE", "kv": {"key": kvs[1]["key"], "mod_revision": "10"}},
          {"kv": kvs[3]}]
    write(t, "watch-events", b"\x01" + js({"result": {"header": hdr, "events": ev}}).encode())
    write(t, "watch-other-service", b"\x03" + js({"result": {"header": hdr, "events": ev}}).encode())
    write(t, "watch-compacted", b"\x01" + js({"result": {"header": hdr, "canceled": True,
                                                          "compact_revision": "8"}}).encode())
    write(t, "watch-error", b"\x01" + b'{"error":{"grpc_code":14,"http_code":503,"message":"etcdserver: no leader","http_status":"Service Unavailable"}}')
    # a follow: the range, then lines applied to its list as the follower does
    more = [{"type": "DELETE", "kv": {"key": kvs[0]["key"], "mod_revision": "11"}},
            {"kv": kv("web/198.18.0.13:80", '{"weight":2}', 12)},
            {"kv": kv("web/198.18.0.14:80", "", 12)}, {"kv": kv("web/198.18.0.15:80", "", 12)},
            {"type": "DELETE", "kv": {"key": kvs[2]["key"], "mod_revision": "13"}}]
    lines = [js({"header": hdr, "kvs": kvs, "count": "4"}),
             js({"result": {"header": hdr, "created": True}}),
             js({"result": {"header": hdr, "events": ev}}), "",
             js({"result": {"header": hdr, "events": more}})]
    write(t, "follow", b"\x04" + "\n".join(lines).encode())


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(os.path.join(OUT, "fuzz_config"))
    packets(sys.argv[1])
    configs()
    registry_values()
    http_requests()
    api_router()
    syctl()
    import_ipvs()
    resolve_answers()
    resolve_etcd()


if __name__ == "__main__":
    main()
