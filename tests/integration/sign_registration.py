#!/usr/bin/env python3
"""Builds a signed embedded-registry registration the way `syctl register`
does (docs/control.md), for tests that replay or tamper with requests.
Prints the body on line 1 and the hex signature on line 2.

usage: sign_registration.py KEY_FILE SERVICE ADDRESS PORT [TTL]"""
import hashlib
import hmac
import json
import os
import sys
import time


def main():
    key_text = open(sys.argv[1]).read().strip()
    key = bytes.fromhex(key_text)
    body = json.dumps({
        "service": sys.argv[2], "address": sys.argv[3], "port": int(sys.argv[4]),
        "weight": 1, "ttl_s": int(sys.argv[5]) if len(sys.argv) > 5 else 5,
        "timestamp_ms": int(time.time() * 1000), "nonce": os.urandom(16).hex(),
    }, separators=(",", ":"))
    print(body)
    print(hmac.new(key, body.encode(), hashlib.sha256).hexdigest())


if __name__ == "__main__":
    main()
