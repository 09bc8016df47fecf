#!/usr/bin/env python3
"""idle-conns.py: memory per idle authenticated TCP connection of a running implus-server.

Registers and logs in N users over the user HTTP API, reads the server's RSS, opens one TCP
connection per user and authenticates it (Auth -> AuthOk), reads the RSS again once all are
authenticated, and prints the difference per connection. The connections then stay idle
(heartbeats only) for --hold seconds and the RSS is read a third time.

  idle-conns.py --pid $(pidof implus-server) --user-port 18090 --tcp-port 18900 -n 10000

One process may open at most 20,000 files here; N up to about 19,000.
"""
import argparse
import json
import os
import selectors
import socket
import struct
import sys
import time
import urllib.request
import uuid


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field_bytes(num, data):
    return varint((num << 3) | 2) + varint(len(data)) + data


def auth_frame(token, device):
    auth = field_bytes(1, token.encode()) + field_bytes(2, device.encode())
    env = varint((1 << 3) | 0) + varint(1) + field_bytes(10, auth)  # frame_id 1, Envelope.auth
    return struct.pack(">I", len(env)) + env


def heartbeat_frame():
    env = field_bytes(12, b"")  # Envelope.heartbeat, empty
    return struct.pack(">I", len(env)) + env


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def post(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, {}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--server", default="127.0.0.1")
    ap.add_argument("--user-port", type=int, default=8090)
    ap.add_argument("--tcp-port", type=int, default=8900)
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("--hold", type=float, default=10.0)
    a = ap.parse_args()

    run = uuid.uuid4().hex[:8]
    tokens = []
    t0 = time.monotonic()
    for i in range(a.n):
        user = {"username": f"idle{run}u{i}", "password": "idle-bench-password"}
        post(f"http://{a.server}:{a.user_port}/users/register", user)
        status, ans = post(f"http://{a.server}:{a.user_port}/users/login", user)
        if status != 200 or "token" not in ans:
            sys.exit(f"login {user['username']}: HTTP {status}")
        tokens.append(ans["token"])
    print(f"{a.n} users ready in {time.monotonic() - t0:.1f} s", file=sys.stderr)

    time.sleep(1.0)
    before = rss_kb(a.pid)
    sel = selectors.DefaultSelector()
    socks = []
    for i, tok in enumerate(tokens):
        s = socket.create_connection((a.server, a.tcp_port))
        s.sendall(auth_frame(tok, f"idle-{i}"))
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, bytearray())
        socks.append(s)
    # Wait for every AuthOk (any first frame counts; an Error would close the socket).
    pending = set(socks)
    deadline = time.monotonic() + 120
    while pending and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=1.0):
            s = key.fileobj
            data = s.recv(65536)
            if not data:
                sys.exit("server closed a connection during auth")
            key.data.extend(data)
            if len(key.data) >= 4 and s in pending:
                pending.discard(s)
    if pending:
        sys.exit(f"{len(pending)} connections not authenticated")
    time.sleep(1.0)
    after = rss_kb(a.pid)
    print(f"rss before {before} KiB, after {a.n} authenticated connections {after} KiB: "
          f"{(after - before) * 1024 / a.n:.0f} bytes per connection")

    end = time.monotonic() + a.hold
    hb = heartbeat_frame()
    while time.monotonic() < end:
        for s in socks:
            try:
                s.send(hb)
            except BlockingIOError:
                pass
        for key, _ in sel.select(timeout=min(5.0, max(0.0, end - time.monotonic()))):
            key.fileobj.recv(65536)
    held = rss_kb(a.pid)
    print(f"rss after {a.hold:.0f} s idle (heartbeats): {held} KiB: "
          f"{(held - before) * 1024 / a.n:.0f} bytes per connection")
    for s in socks:
        s.close()


if __name__ == "__main__":
    main()
