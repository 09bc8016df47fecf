"""group_harness: helpers of the group / social / unread end-to-end tests (standard library only).

Built on implus_harness (imported, never edited):
- the group, read-mark, delivered and typing fields of proto/implus.proto added to the harness's
  protobuf codec (ChatUp.group_id, Message.group_id, GroupNotice, GroupAck, ReadMark, ReadUpdate,
  Delivered, Typing);
- Api: keep-alive HTTP (one http.client connection per thread) for fast mass registration and
  the social / group / conversation endpoints of docs/http-api.md;
- MassClients: thousands of authenticated raw TCP connections in one selector loop on a thread,
  each answering group pushes with GroupAck and recording what it got;
- store_query: read-only SQL on the deployment's store (SQLite file of the embedded server).

Every wait has a deadline; nothing sleeps a fixed time.
"""

import http.client
import json
import os
import queue
import selectors
import socket
import sqlite3
import struct
import threading
import time
import urllib.parse
import uuid

import implus_harness as h

# --------------------------------------------------------------------------------------------
# Protocol: the fields the base codec lacks (proto/implus.proto field numbers)

h.SCHEMA["ChatUp"].setdefault(6, ("group_id", "int"))
h.SCHEMA["Message"].setdefault(10, ("group_id", "int"))
h.SCHEMA.setdefault("GroupNotice", {1: ("conversation_id", "str"), 2: ("seq", "int")})
h.SCHEMA.setdefault("GroupAck", {1: ("conversation_id", "str"), 2: ("up_to_seq", "int")})
h.SCHEMA.setdefault("ReadMark", {1: ("conversation_id", "str"), 2: ("seq", "int")})
h.SCHEMA.setdefault("ReadUpdate", {1: ("conversation_id", "str"), 2: ("user_id", "int"),
                                   3: ("read_seq", "int"), 4: ("unread", "int")})
h.SCHEMA.setdefault("Delivered", {1: ("conversation_id", "str"), 2: ("up_to_seq", "int"),
                                  3: ("by_user_id", "int")})
h.SCHEMA.setdefault("Typing", {1: ("to_user_id", "int"), 2: ("from_user_id", "int")})
for _num, _name, _typ in ((19, "group_notice", "GroupNotice"), (20, "group_ack", "GroupAck"),
                          (21, "read_mark", "ReadMark"), (22, "read_update", "ReadUpdate"),
                          (23, "delivered", "Delivered"), (24, "typing", "Typing")):
    h.SCHEMA["Envelope"].setdefault(_num, (_name, _typ))
if "group_ack" not in h.BODIES:
    h.BODIES = tuple(h.BODIES) + ("group_notice", "group_ack", "read_mark", "read_update",
                                  "delivered", "typing")

ERR = dict(h.ERR)
ERR.update({"BLOCKED": 20, "BANNED": 21, "MUTED": 22, "NOT_MEMBER": 23})
KICK_BANNED = 3
CONTENT_SYSTEM = 99

# --------------------------------------------------------------------------------------------
# HTTP with keep-alive


class Api:
    """JSON calls over one keep-alive http.client connection per (thread, port)."""

    def __init__(self, srv):
        self.srv = srv
        self.local = threading.local()

    def _conn(self, port):
        conns = getattr(self.local, "conns", None)
        if conns is None:
            conns = self.local.conns = {}
        c = conns.get(port)
        if c is None:
            c = conns[port] = http.client.HTTPConnection(h.HOST, port, timeout=60)
        return c

    def call(self, method, service, path, body=None, token=None, raw_auth=None):
        """-> (status, parsed JSON or text). Retries once on a dropped keep-alive connection."""
        port = self.srv.ports["user_http" if service == "user" else "message_http"]
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Connection": "keep-alive"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if token is not None:
            headers["Authorization"] = "Bearer " + token
        if raw_auth is not None:
            headers["Authorization"] = raw_auth
        for attempt in (0, 1):
            c = self._conn(port)
            try:
                c.request(method, path, body=data, headers=headers)
                resp = c.getresponse()
                payload = resp.read()
                status = resp.status
                if resp.getheader("Connection", "").lower() == "close":
                    c.close()
                    self.local.conns.pop(port, None)
                break
            except (http.client.HTTPException, ConnectionError, OSError):
                c.close()
                self.local.conns.pop(port, None)
                if attempt:
                    raise
        try:
            return status, json.loads(payload.decode("utf-8")) if payload else None
        except (ValueError, UnicodeDecodeError):
            return status, payload.decode("utf-8", "replace")

    def ok(self, method, service, path, body=None, token=None, expect=(200, 201), what=None):
        st, js = self.call(method, service, path, body, token)
        if st not in expect:
            raise h.ContractFailure("CONTRACT docs/http-api.md %s %s: expected %s; got %s %s" %
                                    (method, what or path, expect, st, h._short(js)))
        return js

    # Accounts ------------------------------------------------------------------------------

    def register_login(self, username, password="password-123"):
        """-> (user_id, token)."""
        st, js = self.call("POST", "user", "/users/register", {"username": username, "password": password})
        if st not in (201, 409):
            raise h.ContractFailure("POST /users/register %s: %s %s" % (username, st, h._short(js)))
        js = self.ok("POST", "user", "/users/login", {"username": username, "password": password})
        return js["user_id"], js["token"]

    def register_many(self, names, threads=8):
        """Registers and logs in every name, `threads` keep-alive connections at a time.
        -> list of (user_id, token) in the order of names."""
        out = [None] * len(names)
        errors = []
        q = queue.Queue()
        for i in range(len(names)):
            q.put(i)

        def run():
            while not errors:
                try:
                    i = q.get_nowait()
                except queue.Empty:
                    return
                try:
                    out[i] = self.register_login(names[i])
                except Exception as e:  # reported after the join
                    errors.append(e)

        ts = [threading.Thread(target=run, daemon=True) for _ in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        if errors:
            raise errors[0]
        return out

    # Groups ----------------------------------------------------------------------------------

    def create_group(self, token, name, members, chunk=4000):
        """POST /groups with the first chunk of members, /groups/members/add for the rest (the
        body limit is 64 KiB). -> (group_id, last_seq)."""
        g = self.ok("POST", "user", "/groups", {"name": name, "members": list(members[:chunk])}, token,
                    expect=(201,))
        gid, last = g["group_id"], g.get("last_seq", 0)
        for i in range(chunk, len(members), chunk):
            r = self.ok("POST", "user", "/groups/members/add",
                        {"group_id": gid, "user_ids": list(members[i:i + chunk])}, token)
            last = r.get("last_seq", last)
        return gid, last

    def group_sync_all(self, token, conv, after=0, limit=500):
        """Pages GET /groups/sync to the end. -> (messages, last page's max_seq)."""
        out = []
        max_seq = None
        for _ in range(100000):
            st, js = self.call("GET", "message", "/groups/sync?conversation_id=%s&after=%d&limit=%d" %
                               (conv, after, limit), token=token)
            if st != 200 or not isinstance(js, dict) or "messages" not in js:
                raise h.ContractFailure("CONTRACT docs/http-api.md GET /groups/sync: expected 200 "
                                        "{messages,has_more,max_seq}; got %s %s" % (st, h._short(js)))
            out.extend(js["messages"])
            max_seq = js.get("max_seq")
            if not js.get("has_more"):
                break
            if not js["messages"]:
                raise h.ContractFailure("GET /groups/sync: has_more with an empty page")
            after = js["messages"][-1]["seq"]
        return out, max_seq

    def conversations(self, token):
        """GET /conversations -> {conversation_id: entry}."""
        js = self.ok("GET", "message", "/conversations", token=token)
        return {c["conversation_id"]: c for c in js.get("conversations", [])}


def store_query(srv, sql, params=()):
    """Read-only SQL on the deployment's store: the embedded server's SQLite file (opened
    read-only), or the distributed deployment's MariaDB database. -> list of row tuples."""
    if hasattr(srv, "database") and hasattr(srv, "svc"):
        import implus_deploy
        for p in params:  # ints and plain strings only: inline them
            if not isinstance(p, int) and not all(ch.isalnum() or ch in "_-" for ch in str(p)):
                raise ValueError("unsafe parameter %r" % (p,))
        q = sql.replace("?", "%s") % tuple(p if isinstance(p, int) else "'%s'" % p for p in params)
        text = implus_deploy.mysql_exec(srv.svc, q, srv.database)
        return [tuple(int(x) if x.lstrip("-").isdigit() else x for x in line.split("\t"))
                for line in text.splitlines() if line]
    path = os.path.join(srv.data_dir, "implus.db")
    db = sqlite3.connect("file:%s?mode=ro" % urllib.parse.quote(path), uri=True, timeout=30)
    try:
        return db.execute(sql, params).fetchall()
    finally:
        db.close()


# --------------------------------------------------------------------------------------------
# Many raw TCP clients in one selector loop


class Conn:
    __slots__ = ("idx", "user_id", "token", "device", "sock", "rbuf", "wbuf", "authed", "auth_error",
                 "closed", "kick", "group_msgs", "group_seen", "acked", "receipts", "errors",
                 "others", "notices")

    def __init__(self, idx, user_id, token, device):
        self.idx = idx
        self.user_id = user_id
        self.token = token
        self.device = device
        self.sock = None
        self.rbuf = bytearray()
        self.wbuf = bytearray()
        self.authed = False
        self.auth_error = None
        self.closed = False
        self.kick = None
        self.group_msgs = {}   # conversation_id -> [Message dict] in arrival order (first copies)
        self.group_seen = {}   # conversation_id -> set of seqs seen
        self.acked = {}        # conversation_id -> GroupAck sent up to
        self.receipts = {}     # client_msg_id -> SendReceipt
        self.errors = []
        self.others = []       # other frames (read_update, delivered, user pushes ...)
        self.notices = []


def _frame(body_name, body, frame_id=0):
    p = h.envelope(body_name, body, frame_id)
    return struct.pack(">I", len(p)) + p


class MassClients:
    """Up to thousands of authenticated raw TCP clients served by one selector thread.

    Each client acknowledges group pushes with GroupAck (cumulative per conversation, once per
    read batch) and one-to-one pushes with Ack, and records every frame. Methods that read the
    clients' state take self.cond; wait_until() waits for a predicate with a deadline."""

    def __init__(self, port, host=h.HOST, source_addrs=None):
        self.port = port
        self.host = host
        self.source_addrs = source_addrs or [None]
        self.sel = selectors.DefaultSelector()
        self.conns = []
        self.cond = threading.Condition()
        self.stop = False
        self.wake_r, self.wake_w = socket.socketpair()
        self.wake_r.setblocking(False)
        self.sel.register(self.wake_r, selectors.EVENT_READ, None)
        self.pending = queue.Queue()   # (conn, bytes) to write, from other threads
        self.n_push = 0
        self.last_push_t = 0.0
        self.hb_ms = 30000
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    # Control (any thread) ----------------------------------------------------------------------

    def connect(self, users, device_prefix="mass", timeout=120):
        """users: [(user_id, token)]. Connects and authenticates them all. -> list of Conn."""
        new = []
        for i, (uid, tok) in enumerate(users):
            c = Conn(len(self.conns) + i, uid, tok, "%s-%d" % (device_prefix, uid))
            new.append(c)
        for c in new:
            src = self.source_addrs[c.idx % len(self.source_addrs)]
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            if src:
                s.bind((src, 0))
            s.setblocking(False)
            try:
                s.connect((self.host, self.port))
            except BlockingIOError:
                pass
            c.sock = s
            self.pending.put((c, _frame("auth", {"token": c.token, "device_id": c.device}, 1), True))
        with self.cond:
            self.conns.extend(new)
        self._wake()
        self.wait_until(lambda: all(c.authed or c.auth_error or c.closed for c in new), timeout,
                        "%d connections authenticated" % len(new))
        bad = [c for c in new if not c.authed]
        if bad:
            raise h.ContractFailure("%d of %d raw connections not authenticated, e.g. user %d: %s" %
                                    (len(bad), len(new), bad[0].user_id, bad[0].auth_error or "closed"))
        return new

    def send(self, c, body_name, body, frame_id=0):
        self.pending.put((c, _frame(body_name, body, frame_id), False))
        self._wake()

    def close(self, c):
        self.pending.put((c, None, False))
        self._wake()

    def shutdown(self):
        self.stop = True
        self._wake()
        self.thread.join(30)
        for c in self.conns:
            try:
                c.sock.close()
            except OSError:
                pass
        self.sel.close()

    def wait_until(self, fn, timeout, what):
        dl = h.Deadline(timeout)
        with self.cond:
            while True:
                v = fn()
                if v:
                    return v
                if dl.expired():
                    raise h.ContractFailure("raw clients: timeout after %ds waiting for %s" % (timeout, what))
                self.cond.wait(min(dl.left(), 1.0))

    def _wake(self):
        try:
            self.wake_w.send(b"x")
        except (BlockingIOError, OSError):
            pass

    # The loop (its own thread) -----------------------------------------------------------------

    def _loop(self):
        next_hb = time.monotonic() + 10
        while not self.stop:
            self._drain_pending()
            timeout = max(0.0, min(1.0, next_hb - time.monotonic()))
            events = self.sel.select(timeout)
            changed = False
            for key, mask in events:
                c = key.data
                if c is None:
                    try:
                        while self.wake_r.recv(4096):
                            pass
                    except (BlockingIOError, OSError):
                        pass
                    continue
                if mask & selectors.EVENT_WRITE:
                    self._flush(c)
                if mask & selectors.EVENT_READ:
                    changed |= self._read(c)
            if changed:
                with self.cond:
                    self.cond.notify_all()
            now = time.monotonic()
            if now >= next_hb:
                # Keep every connection inside the idle timeout.
                next_hb = now + max(1.0, self.hb_ms / 3000.0)
                for c in self.conns:
                    if c.authed and not c.closed:
                        self._queue(c, _frame("heartbeat", {"client_time_ms": int(time.time() * 1000)}))

    def _drain_pending(self):
        while True:
            try:
                c, data, first = self.pending.get_nowait()
            except queue.Empty:
                return
            if first:
                self.sel.register(c.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, c)
                c.wbuf += data
                continue
            if c.closed:
                continue
            if data is None:
                self._close(c)
                continue
            self._queue(c, data)

    def _queue(self, c, data):
        empty = not c.wbuf
        c.wbuf += data
        if empty:
            self._flush(c)

    def _flush(self, c):
        if c.closed:
            return
        try:
            while c.wbuf:
                n = c.sock.send(c.wbuf)
                del c.wbuf[:n]
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            self._close(c)
            return
        want = selectors.EVENT_READ | (selectors.EVENT_WRITE if c.wbuf else 0)
        try:
            self.sel.modify(c.sock, want, c)
        except (KeyError, ValueError):
            pass

    def _close(self, c):
        if c.closed:
            return
        c.closed = True
        try:
            self.sel.unregister(c.sock)
        except (KeyError, ValueError):
            pass
        try:
            c.sock.close()
        except OSError:
            pass

    def _read(self, c):
        try:
            data = c.sock.recv(262144)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            data = b""
        if not data:
            self._close(c)
            return True
        c.rbuf += data
        acks = {}
        user_ack = 0
        with self.cond:
            while len(c.rbuf) >= 4:
                ln = struct.unpack_from(">I", c.rbuf)[0]
                if len(c.rbuf) < 4 + ln:
                    break
                env = h.decode("Envelope", bytes(c.rbuf[4:4 + ln]))
                del c.rbuf[:4 + ln]
                if "push" in env:
                    m = env["push"].get("message", {})
                    if m.get("group_id"):
                        conv = m.get("conversation_id") or "group_%d" % m["group_id"]
                        seen = c.group_seen.setdefault(conv, set())
                        if m.get("seq") not in seen:
                            seen.add(m.get("seq"))
                            c.group_msgs.setdefault(conv, []).append(m)
                            self.n_push += 1
                            self.last_push_t = time.monotonic()
                        acks[conv] = max(acks.get(conv, 0), m.get("seq", 0))
                    else:
                        c.others.append(env)
                        user_ack = max(user_ack, m.get("seq", 0))
                elif "group_notice" in env:
                    c.notices.append(env["group_notice"])
                elif "receipt" in env:
                    r = env["receipt"]
                    c.receipts[r.get("client_msg_id")] = r
                elif "auth_ok" in env:
                    c.authed = True
                    self.hb_ms = env["auth_ok"].get("heartbeat_interval_ms") or self.hb_ms
                elif "error" in env:
                    if not c.authed:
                        c.auth_error = env["error"]
                    c.errors.append(env["error"])
                elif "kick" in env:
                    c.kick = env["kick"]
                elif "heartbeat" in env:
                    pass
                else:
                    c.others.append(env)
        for conv, seq in acks.items():
            # Cumulative: only if the stream is contiguous up to seq from what we acked already
            # does not matter for the server; ack what we hold.
            if seq > c.acked.get(conv, 0):
                c.acked[conv] = seq
                self._queue(c, _frame("group_ack", {"conversation_id": conv, "up_to_seq": seq}))
        if user_ack:
            self._queue(c, _frame("ack", {"up_to_seq": user_ack}))
        return True


# --------------------------------------------------------------------------------------------
# Raw one-connection helpers


def group_chat(rc, group_id, text, cmid=None):
    """Sends a group ChatUp on a harness RawClient; returns the client_msg_id."""
    cmid = cmid or str(uuid.uuid4())
    rc.send("chat_up", {"client_msg_id": cmid, "group_id": group_id, "content": text, "content_type": 1})
    return cmid


def wait_receipt(rc, cmid, timeout=30):
    return rc.wait(lambda e: "receipt" in e and e["receipt"].get("client_msg_id") == cmid, timeout)["receipt"]


def tty_conversations(tty, timeout=30):
    """/conversations -> {conversation_id: parsed CONV line}."""
    start = tty.mark()
    i, l = tty.command("/conversations", timeout)
    if not l.startswith("OK conversations"):
        raise h.ContractFailure("CONTRACT docs/tty.md /conversations: got %r" % l)
    with tty.cond:
        seg = tty.lines[start:i]
    out = {}
    for line in seg:
        if line.startswith("CONV "):
            f = h.parse_kv(line)
            out[f.get("conversation_id")] = f
    return out


def tty_dump_groups(tty, timeout=60):
    """/dump -> (MSG list, {conv: [GMSG dicts]}, {conv: GSTREAM fields}, OK fields)."""
    start = tty.mark()
    i, l = tty.command("/dump", timeout)
    if not l.startswith("OK dump"):
        raise h.ContractFailure("CONTRACT docs/tty.md /dump: got %r" % l)
    with tty.cond:
        seg = tty.lines[start:i]
    msgs = [h.msg_fields(x) for x in seg if x.startswith("MSG ")]
    groups, streams = {}, {}
    for x in seg:
        if x.startswith("GMSG "):
            f = h.msg_fields(x)
            kv = h.parse_kv(x)
            f["group"] = kv.get("group")
            f["system"] = "system" in kv["_words"] or kv.get("type") == "system"
            groups.setdefault(f["conv"], []).append(f)
        elif x.startswith("GSTREAM "):
            kv = h.parse_kv(x)
            streams[kv.get("conv")] = kv
    return msgs, groups, streams, h.parse_kv(l)
