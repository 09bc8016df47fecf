#!/usr/bin/env python3
"""Bad input against a running server: every case gets a clear error (protocol Error frame,
error SendReceipt, or HTTP 4xx with a JSON error body), stored data is unchanged, and a healthy
client can still chat at the end."""
import base64
import hashlib
import hmac
import os
import random
import struct
import http.client
import time
import uuid

import implus_harness as h
from implus_harness import ERR

MAX_FRAME = 65536
MAX_CONTENT = 8192
MAX_BODY = 65536
LIMITS = {"IMPLUS_GATEWAY_MAX_FRAME": str(MAX_FRAME), "IMPLUS_MESSAGE_MAX_CONTENT": str(MAX_CONTENT),
          "IMPLUS_MESSAGE_MAX_HTTP_BODY": str(MAX_BODY)}


def expect_error(ck, cl, code, what, close=None, ref=None, timeout=10):
    """Waits for Error(code) on cl; close=True also requires the server to close the socket."""
    try:
        e = cl.wait(lambda e: "error" in e or "kick" in e or "auth_ok" in e or "receipt" in e, timeout)
    except TimeoutError:
        ck.check(False, "proto Error", "%s -> Error %s" % (what, h.ERR_NAME[code]), "nothing within %ds" % timeout)
        return None
    except h.Closed:
        ck.check(False, "proto Error", "%s -> Error %s before the close" % (what, h.ERR_NAME[code]),
                 "connection closed without an Error frame")
        return None
    got = e.get("error", {}).get("code")
    ck.check(got == code, "proto Error", "%s -> Error %s (%d)" % (what, h.ERR_NAME[code], code),
             "%s" % (e if got is None else "%s (%s) %r" % (h.ERR_NAME.get(got, got), got, e["error"].get("reason"))))
    if got is not None:
        ck.check(bool(e["error"].get("reason")), "proto Error.reason", "%s: a reason text" % what, e)
        if ref is not None:
            ck.check(e["error"].get("ref_frame_id") == ref, "proto Error.ref_frame_id",
                     "%s: ref_frame_id=%d" % (what, ref), e["error"].get("ref_frame_id"))
    if close:
        ck.check(cl.wait_closed(10), "proto Error + close", "%s: the server closes the connection" % what)
    return e


def expect_receipt_error(ck, cl, chat, code, what):
    cl.send("chat_up", chat)
    cid = chat["client_msg_id"]
    try:
        e = cl.wait(lambda e: ("receipt" in e and e["receipt"].get("client_msg_id") == cid) or "error" in e, 10)
    except (TimeoutError, h.Closed) as x:
        ck.check(False, "proto SendReceipt (a refused send gets a receipt with error set)",
                 "%s -> SendReceipt error %s" % (what, h.ERR_NAME[code]), repr(x))
        return
    if "error" in e:
        ck.check(False, "proto SendReceipt (a refused send gets a receipt with error set)",
                 "%s -> SendReceipt error %s" % (what, h.ERR_NAME[code]),
                 "an Error frame instead: %s %r" % (h.ERR_NAME.get(e["error"].get("code")), e["error"].get("reason")))
        return
    r = e["receipt"]
    ck.check(r.get("error_code") == code and not r.get("msg_id") and not r.get("seq"), "proto SendReceipt",
             "%s -> receipt error_code=%s, no msg_id/seq" % (what, h.ERR_NAME[code]), r)


def is_json_error(js, code=None):
    ok = isinstance(js, dict) and isinstance(js.get("code"), int) and isinstance(js.get("error"), str) \
        and isinstance(js.get("message"), str)
    return ok and (code is None or js["code"] in (code if isinstance(code, tuple) else (code,)))


def http_case(ck, what, method, url, want_status, want_code, **kw):
    st, js = h.http(method, url, **kw)
    ck.check(st == want_status and is_json_error(js, want_code), "docs/http-api.md errors",
             "%s -> %d with a JSON error body {code: %s, error, message}" % (what, want_status, want_code),
             "%s %s" % (st, h._short(js, 200)))


def craft_token(secret, user_id, issued, expires):
    claims = "%d:%s:%d:%d" % (user_id, os.urandom(16).hex(), issued, expires)
    b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
    part = b64(claims.encode())
    sig = hmac.new(secret, ("v1." + part).encode(), hashlib.sha256).digest()
    return "v1.%s.%s" % (part, b64(sig))


def tamper(tok):
    return tok[:-2] + ("A" if tok[-2] != "A" else "B") + tok[-1]


def snapshot(srv, toks):
    out = {}
    for name, tok in toks.items():
        out[name] = srv.sync_all(tok)
        st, js = h.http("GET", srv.url("message", "/conversations"), token=tok)
        out[name + ".conversations"] = (st, [(c.get("conversation_id"), c.get("read_seq"), c.get("last_seq"),
                                              c.get("unread")) for c in (js or {}).get("conversations", [])]
                                        if isinstance(js, dict) else js)
    return out


def protocol_cases(ck, srv, ids, toks):
    port = srv.ports["tcp"]
    alice_id, bob_id = ids["alice"], ids["bob"]

    cl = h.RawClient(port)
    cl.send_raw(struct.pack(">I", MAX_FRAME + 1))
    expect_error(ck, cl, ERR["FRAME_TOO_LARGE"], "length prefix max_frame+1 before auth", close=True)
    cl.close()

    cl = h.RawClient(port)
    ck.require("auth_ok" in cl.auth(toks["alice"], "alice-big"), "proto Auth", "AuthOk")
    cl.send_raw(struct.pack(">I", MAX_FRAME + 1) + b"\x00" * 1024)
    expect_error(ck, cl, ERR["FRAME_TOO_LARGE"], "length prefix max_frame+1 after auth", close=True)
    cl.close()

    rnd = random.Random(1234)
    garbage = b"\x07" + bytes(rnd.randrange(256) for _ in range(200))  # field 0, wire type 7: never valid
    cl = h.RawClient(port)
    cl.send_payload(garbage)
    expect_error(ck, cl, ERR["BAD_FRAME"], "a frame of random bytes")
    cl.close()

    cl = h.RawClient(port)
    cl.send_payload(h.encode("Envelope", {"frame_id": 5}))
    expect_error(ck, cl, ERR["BAD_FRAME"], "an Envelope without a body")
    cl.close()

    cl = h.RawClient(port)
    cl.send_raw(struct.pack(">I", 0))
    expect_error(ck, cl, ERR["BAD_FRAME"], "a zero-length frame (common/imp-frame.h)")
    cl.close()

    cl = h.RawClient(port)
    fid = cl.send("chat_up", {"client_msg_id": str(uuid.uuid4()), "to_user_id": bob_id, "content": "sneaky",
                              "content_type": 1}, frame_id=77)
    expect_error(ck, cl, ERR["NOT_AUTHENTICATED"], "ChatUp before Auth", ref=77)
    cl.close()

    for what, tok in (("a tampered token", tamper(toks["alice"])), ("a malformed token", "nonsense"),
                      ("an empty token", "")):
        cl = h.RawClient(port)
        cl.send("auth", {"token": tok, "device_id": "x"})
        expect_error(ck, cl, ERR["AUTH_FAILED"], "Auth with " + what)
        cl.close()

    # Revoked: logout, then that token must be refused everywhere; a live connection is kicked.
    t_rev = srv.login("alice")["token"]
    live = h.RawClient(srv.gateway(2).ports["tcp"])  # the kick crosses gateways (distributed)
    ck.require("auth_ok" in live.auth(t_rev, "alice-live"), "proto Auth", "AuthOk")
    st, js = h.http("POST", srv.url("user", "/users/logout"), token=t_rev)
    ck.check(st == 200, "docs/http-api.md POST /users/logout", "200 {}", (st, js))
    try:
        k = live.wait(lambda e: "kick" in e, 10)["kick"]
        ck.check(k.get("reason") == 2, "docs/http-api.md logout / proto Kick",
                 "a live connection of the revoked token gets Kick(TOKEN_REVOKED)", k)
    except (TimeoutError, h.Closed) as x:
        ck.check(False, "docs/http-api.md logout", "Kick(TOKEN_REVOKED) on the live connection", repr(x))
    live.close()
    cl = h.RawClient(port)
    cl.send("auth", {"token": t_rev, "device_id": "x"})
    expect_error(ck, cl, ERR["TOKEN_REVOKED"], "Auth with a revoked token")
    cl.close()
    http_case(ck, "GET /users/me with a revoked token", "GET", srv.url("user", "/users/me"), 401, 6, token=t_rev)

    # Content checks on an authenticated connection.
    cl = h.RawClient(port)
    ck.require("auth_ok" in cl.auth(toks["alice"], "alice-bad"), "proto Auth", "AuthOk")
    base = lambda **kw: dict({"client_msg_id": str(uuid.uuid4()), "to_user_id": bob_id, "content": "x",
                              "content_type": 1}, **kw)
    expect_receipt_error(ck, cl, base(sender_id=bob_id), ERR["WRONG_SENDER"], "ChatUp with sender_id of another user")
    expect_receipt_error(ck, cl, base(content=""), ERR["CONTENT_EMPTY"], "ChatUp with an empty body")
    expect_receipt_error(ck, cl, base(content="y" * (MAX_CONTENT + 1)), ERR["CONTENT_TOO_LARGE"],
                         "ChatUp with max_content+1 bytes")
    expect_receipt_error(ck, cl, base(content=b"bad \xff\xfe utf8 \xc3\x28"), ERR["INVALID_UTF8"],
                         "ChatUp with invalid UTF-8")
    expect_receipt_error(ck, cl, base(to_user_id=987654), ERR["UNKNOWN_USER"], "ChatUp to an unknown user")
    cl.close()


def expired_token_case(ck, workdir, cleanup):
    """A server whose tokens live 1 s; falls back to crafting a token with the data dir's secret."""
    srv2 = h.deployment(workdir, name="ttl-server", extra_env={"IMPLUS_USER_TOKEN_TTL_S": "1"})
    cleanup.add(srv2.kill9)
    how = "IMPLUS_USER_TOKEN_TTL_S=1"
    try:
        srv2.start()
        uid = srv2.register("dave")
        js = srv2.login("dave")
        tok, exp = js["token"], js.get("expires_at", int(time.time()) + 1)
    except h.ContractFailure as e:
        h.log("TTL=1 server did not start (%s); crafting an expired token instead" % e)
        how = "crafted with the data dir's token.key"
        srv2 = h.deployment(workdir, name="ttl-server2").start()
        cleanup.add(srv2.kill9)
        uid = srv2.register("dave")
        secret_path = srv2.token_secret_path
        with open(secret_path, "rb") as f:
            secret = f.read()
        now = int(time.time())
        good = craft_token(secret, uid, now, now + 3600)
        cl = h.RawClient(srv2.ports["tcp"])
        ck.require("auth_ok" in cl.auth(good, "d"), "imp-token.h format",
                   "a crafted valid token is accepted (so the expired one tests expiry only)")
        cl.close()
        tok, exp = craft_token(secret, uid, now - 7200, now - 3600), now - 3600
    h.log("expired token: %s" % how)
    # Wait for the wall clock to pass the expiry (a condition with a deadline, not a guess).
    dl = h.Deadline(10)
    while time.time() < exp + 1.05 and not dl.expired():
        time.sleep(min(exp + 1.05 - time.time(), dl.left()) + 0.01)
    cl = h.RawClient(srv2.ports["tcp"])
    cl.send("auth", {"token": tok, "device_id": "d"})
    expect_error(ck, cl, ERR["TOKEN_EXPIRED"], "Auth with an expired token (%s)" % how)
    cl.close()
    http_case(ck, "GET /users/me with an expired token", "GET", srv2.url("user", "/users/me"), 401, 5, token=tok)
    ck.check(srv2.stop() == 0, "docs/server.md SIGTERM", "exit 0")
    return how


def http_cases(ck, srv, ids, toks):
    U = lambda p: srv.url("user", p)
    M = lambda p: srv.url("message", p)
    conv_ab = "private_%d_%d" % (min(ids["alice"], ids["bob"]), max(ids["alice"], ids["bob"]))
    endpoints = [  # (name, method, url, needs auth, good JSON body or None)
        ("register", "POST", U("/users/register"), False, {"username": "zed", "password": "password-123"}),
        ("login", "POST", U("/users/login"), False, {"username": "alice", "password": "password-123"}),
        ("logout", "POST", U("/users/logout"), True, None),
        ("lookup", "GET", U("/users/lookup?username=bob"), True, None),
        ("me", "GET", U("/users/me"), True, None),
        ("sync", "GET", M("/messages/sync?after=0"), True, None),
        ("history", "GET", M("/messages/history?conversation_id=" + conv_ab), True, None),
        ("conversations", "GET", M("/conversations"), True, None),
        ("read", "POST", M("/conversations/read"), True, {"conversation_id": conv_ab, "seq": 1}),
    ]
    big = b"{" + b" " * MAX_BODY + b"}"
    for name, method, url, auth, good in endpoints:
        throwaway = srv.login("carol")["token"]  # so an accidental success changes nothing of alice/bob
        tok = throwaway if auth else None
        http_case(ck, "%s: body of max_http_body+2 bytes" % name, method, url, 413, 17, raw=big, token=tok)
        if good is not None:
            http_case(ck, "%s: malformed JSON" % name, method, url, 400, 7, raw=b'{"username": "x", ', token=tok)
            http_case(ck, "%s: a JSON array, not an object" % name, method, url, 400, 7, raw=b"[1,2]", token=tok)
        if auth:
            http_case(ck, "%s: no Authorization" % name, method, url, 401, (3, 4), body=good)
            http_case(ck, "%s: a tampered token" % name, method, url, 401, 4, body=good, token=tamper(throwaway))
            http_case(ck, "%s: Authorization not Bearer" % name, method, url, 401, (3, 4), body=good,
                      headers={"Authorization": "Basic YWxpY2U6cGFzc3dvcmQ="})
    # Wrong types and bad queries.
    http_case(ck, "register: username of the wrong type", "POST", U("/users/register"), 400, 7,
              body={"username": 12345, "password": "password-123"})
    http_case(ck, "register: username with a space", "POST", U("/users/register"), 400, 7,
              body={"username": "bad name", "password": "password-123"})
    http_case(ck, "register: password too short", "POST", U("/users/register"), 400, 7,
              body={"username": "shorty", "password": "short"})
    http_case(ck, "register: username taken", "POST", U("/users/register"), 409, 15,
              body={"username": "alice", "password": "password-123"})
    http_case(ck, "login: wrong password", "POST", U("/users/login"), 401, 4,
              body={"username": "alice", "password": "wrong-password"})
    http_case(ck, "login: unknown user", "POST", U("/users/login"), 401, 4,
              body={"username": "nobody", "password": "password-123"})
    ct = toks["carol"]
    http_case(ck, "lookup: unknown user", "GET", U("/users/lookup?username=nobody"), 404, 12, token=ct)
    http_case(ck, "sync: after=abc", "GET", M("/messages/sync?after=abc"), 400, 7, token=ct)
    http_case(ck, "sync: limit=-5", "GET", M("/messages/sync?limit=-5"), 400, 7, token=ct)
    http_case(ck, "history: no conversation_id", "GET", M("/messages/history"), 400, 7, token=ct)
    http_case(ck, "read: seq of the wrong type (own conversation)", "POST", M("/conversations/read"), 400, 7,
              token=toks["bob"], body={"conversation_id": conv_ab, "seq": "abc"})
    http_case(ck, "read: no conversation_id", "POST", M("/conversations/read"), 400, 7,
              token=toks["bob"], body={"seq": 2})
    # Other people's streams.
    http_case(ck, "sync: user_id of another user", "GET", M("/messages/sync?user_id=%d" % ids["alice"]), 403, 13,
              token=ct)
    http_case(ck, "history: another pair's conversation", "GET",
              M("/messages/history?conversation_id=" + conv_ab), 403, 13, token=ct)
    http_case(ck, "read: another pair's conversation", "POST", M("/conversations/read"), 403, 13, token=ct,
              body={"conversation_id": conv_ab, "seq": 3})
    http_case(ck, "unknown path", "GET", M("/no/such/path"), 404, 14, token=ct)
    st, js = h.http("GET", U("/users/register"))
    ck.check(st == 405 and is_json_error(js), "docs/http-api.md (wrong method)", "GET /users/register -> 405 JSON",
             (st, js))


def http_connections_released(ck, srv):
    """Short-lived HTTP connections closed by the client must not pile up in the server (libsoup
    3.2 kept idle keep-alive connections in CLOSE-WAIT forever: one file descriptor each)."""
    proc = getattr(srv, "proc", None)
    if proc is None or not os.path.isdir("/proc/%d/fd" % proc.pid):
        h.log("fd check skipped: no single server process to look at in this deployment")
        return
    fd_dir = "/proc/%d/fd" % proc.pid
    before = len(os.listdir(fd_dir))
    host, port = "127.0.0.1", int(srv.url("user", "/").split(":")[2].split("/")[0])
    for i in range(200):
        c = http.client.HTTPConnection(host, port, timeout=10)
        c.request("GET", "/users/me" if i % 2 else "/no-such-path")
        c.getresponse().read()
        c.close()
    dl = h.Deadline(10)
    now = len(os.listdir(fd_dir))
    while now > before + 5 and not dl.expired():
        time.sleep(0.05)  # polling a kernel count with a deadline: there is no event to wait on
        now = len(os.listdir(fd_dir))
    ck.check(now <= before + 5, "DESIGN 7 (bounded resources)",
             "200 HTTP connections closed by the client leave no descriptors behind (%d before)" % before,
             "%d open after" % now)



def body(ck, workdir, cleanup):
    srv = h.deployment(workdir, extra_env=LIMITS).start()
    cleanup.add(srv.kill9)
    ids = {n: srv.register(n) for n in ("alice", "bob", "carol")}
    toks = {n: srv.login(n)["token"] for n in ("alice", "bob", "carol")}

    # Healthy baseline: a few messages, the last exactly max_content bytes (the boundary is allowed).
    a = h.RawClient(srv.ports["tcp"])
    cleanup.add(a.close)
    ck.require("auth_ok" in a.auth(toks["alice"], "alice-ok"), "proto Auth", "AuthOk")
    for i, content in enumerate(["hello 1", "hello 2 世界", "z" * MAX_CONTENT]):
        cid = str(uuid.uuid4())
        a.send("chat_up", {"client_msg_id": cid, "to_user_id": ids["bob"], "content": content, "content_type": 1})
        r = a.wait(lambda e: "receipt" in e and e["receipt"].get("client_msg_id") == cid, 10)["receipt"]
        ck.check(r.get("error_code") == 0 and r.get("seq") == i + 1, "proto SendReceipt",
                 "baseline message %d stored (seq %d, %d bytes)" % (i + 1, i + 1, len(content.encode())), r)
    st, js = h.http("POST", srv.url("message", "/conversations/read"), token=toks["bob"],
                    body={"conversation_id": "private_%d_%d" % (min(ids["alice"], ids["bob"]),
                                                         max(ids["alice"], ids["bob"])), "seq": 1})
    ck.check(st == 200, "docs/http-api.md POST /conversations/read", "200", (st, js))
    a.close()
    before = snapshot(srv, {"alice": toks["alice"], "bob": toks["bob"]})
    ck.check(len(before["alice"]) == 3 and len(before["bob"]) == 3, "baseline", "3 messages per stream",
             (len(before["alice"]), len(before["bob"])))

    t0 = time.monotonic()
    protocol_cases(ck, srv, ids, toks)
    http_cases(ck, srv, ids, toks)
    http_connections_released(ck, srv)
    h.log("FIGURE: protocol + HTTP bad-input cases in %.2f s" % (time.monotonic() - t0))
    ck.require(srv.alive(), "DESIGN 7 (never crashes)", "the server is still running after the bad input")

    after = snapshot(srv, {"alice": toks["alice"], "bob": toks["bob"]})
    for k in before:
        ck.check(before[k] == after[k], "DESIGN 7 (bad input never corrupts anything)",
                 "%s unchanged by the bad input" % k, "before %s / after %s" % (h._short(before[k], 300),
                                                                               h._short(after[k], 300)))

    how = expired_token_case(ck, workdir, cleanup)

    # A healthy exchange at the end, on fresh connections.
    a = h.RawClient(srv.ports["tcp"])
    b = h.RawClient(srv.gateway(2).ports["tcp"])
    cleanup.add(a.close)
    cleanup.add(b.close)
    ck.require("auth_ok" in a.auth(srv.login("alice")["token"], "alice-end"), "proto Auth", "AuthOk at the end")
    ck.require("auth_ok" in b.auth(srv.login("bob")["token"], "bob-end"), "proto Auth", "AuthOk at the end")
    for frm, to, to_id, text in ((a, b, ids["bob"], "still alive?"), (b, a, ids["alice"], "yes, all good")):
        cid = str(uuid.uuid4())
        frm.send("chat_up", {"client_msg_id": cid, "to_user_id": to_id, "content": text, "content_type": 1})
        r = frm.wait(lambda e: "receipt" in e and e["receipt"].get("client_msg_id") == cid, 10)["receipt"]
        ck.check(r.get("error_code") == 0 and r.get("msg_id", 0) > 0, "healthy exchange after bad input",
                 "a normal send is stored", r)
        p = to.wait(lambda e: "push" in e and e["push"]["message"].get("content") == text, 10)["push"]["message"]
        ck.check(p.get("msg_id") == r.get("msg_id"), "healthy exchange after bad input",
                 "the recipient gets the push", p)
    final = srv.sync_all(toks["alice"])
    ck.check([m["msg_id"] for m in final[:3]] == [m["msg_id"] for m in before["alice"]] and len(final) == 5,
             "healthy exchange after bad input", "alice's stream = the 3 baseline + 2 new messages", len(final))
    a.close()
    b.close()
    ck.check(srv.stop() == 0, "docs/server.md SIGTERM", "exit 0")
    h.log("expired-token case used: %s" % how)


if __name__ == "__main__":
    h.run_main("bad_input", body)
