#!/usr/bin/env python3
"""Idempotent send over raw TCP: the same ChatUp (same client_msg_id) three times gives one
stored message and three identical SendReceipts (invariant 3.4); a retry on a new connection
and after a server restart gets the original receipt too (the dedup record is durable)."""
import time
import uuid

import implus_harness as h


def receipts_for(cl, cid, n, timeout=10):
    out = []
    for _ in range(n):
        out.append(cl.wait(lambda e: "receipt" in e and e["receipt"].get("client_msg_id") == cid,
                           timeout)["receipt"])
    return out


def body(ck, workdir, cleanup):
    srv = h.deployment(workdir).start()
    cleanup.add(srv.kill9)
    alice_id = srv.register("alice")
    bob_id = srv.register("bob")
    a_tok = srv.login("alice")["token"]
    b_tok = srv.login("bob")["token"]

    bob = h.RawClient(srv.gateway(2).ports["tcp"])
    cleanup.add(bob.close)
    r = bob.auth(b_tok, "bob-raw")
    ck.require("auth_ok" in r, "proto Auth -> AuthOk", "AuthOk for a fresh login token", r)

    cl = h.RawClient(srv.ports["tcp"])
    cleanup.add(cl.close)
    r = cl.auth(a_tok, "alice-raw")
    ck.require("auth_ok" in r, "proto Auth -> AuthOk", "AuthOk for a fresh login token", r)
    ok = r["auth_ok"]
    ck.check(ok.get("user_id") == alice_id and ok.get("device_id") == "alice-raw",
             "proto AuthOk", "user_id=%d device_id=alice-raw" % alice_id, ok)
    ck.check(ok.get("heartbeat_interval_ms", 0) > 0 and ok.get("idle_timeout_ms", 0) > 0, "proto AuthOk",
             "heartbeat_interval_ms and idle_timeout_ms set", ok)

    hb = cl.send("heartbeat", {"client_time_ms": 123456})
    e = cl.wait_body("heartbeat")["heartbeat"]
    ck.check(e.get("client_time_ms") == 123456 and e.get("server_time_ms", 0) > 0, "proto Heartbeat",
             "the server answers with the same client_time_ms and its server_time_ms", e)

    cid = str(uuid.uuid4())
    chat = {"client_msg_id": cid, "to_user_id": bob_id, "content": "only once, please", "content_type": 1}
    for _ in range(3):
        cl.send("chat_up", chat)
    rs = receipts_for(cl, cid, 3)
    keyf = lambda r: (r.get("msg_id"), r.get("seq"), r.get("server_time_ms"), r.get("conversation_id"),
                      r.get("error_code"))
    ck.check(rs[0].get("error_code") == 0 and rs[0].get("msg_id", 0) > 0 and rs[0].get("seq") == 1,
             "proto SendReceipt", "a successful receipt: error NONE, msg_id > 0, seq 1", rs[0])
    ck.check(rs[0].get("conversation_id") == "private_%d_%d" % (min(alice_id, bob_id), max(alice_id, bob_id)),
             "DESIGN 4 conversation ids", "conversation_id private_<min>_<max>", rs[0])
    now_ms = int(time.time() * 1000)
    ck.check(abs(rs[0].get("server_time_ms", 0) - now_ms) < 60000, "proto SendReceipt.server_time_ms",
             "server time in unix ms, near the local clock %d" % now_ms, rs[0].get("server_time_ms"))
    ck.check(keyf(rs[0]) == keyf(rs[1]) == keyf(rs[2]), "invariant 3.4 (idempotent send)",
             "three identical receipts (msg_id, seq, server_time_ms)", [keyf(r) for r in rs])

    # A retry from a new connection (as after a reconnect) gets the original receipt too.
    cl2 = h.RawClient(srv.gateway(2).ports["tcp"])
    cleanup.add(cl2.close)
    ck.require("auth_ok" in cl2.auth(a_tok, "alice-raw-2"), "proto Auth", "AuthOk")
    cl2.send("chat_up", chat)
    r4 = receipts_for(cl2, cid, 1)[0]
    ck.check(keyf(r4) == keyf(rs[0]), "invariant 3.4 (dedup is durable, not per connection)",
             "a retry on another connection gets the original receipt", (keyf(r4), keyf(rs[0])))

    # A distinct message as a fence: pushes keep conversation order, so once bob has the fence
    # any duplicate push of the first message would already be in his inbox.
    fid = str(uuid.uuid4())
    cl.send("chat_up", {"client_msg_id": fid, "to_user_id": bob_id, "content": "fence", "content_type": 1})
    rf = receipts_for(cl, fid, 1)[0]
    ck.check(rf.get("seq") == 2 and rf.get("msg_id") != rs[0].get("msg_id"), "invariant 3.2 (dense seqs)",
             "the next distinct message gets seq 2 and a new msg_id", rf)
    p = bob.wait(lambda e: "push" in e, 10)["push"]["message"]
    ck.check(p.get("msg_id") == rs[0]["msg_id"] and p.get("content") == "only once, please" and
             p.get("sender_id") == alice_id and p.get("seq") == 1, "proto Push",
             "bob's first push carries the stored message with bob's seq 1", p)
    bob.wait(lambda e: "push" in e and e["push"]["message"].get("content") == "fence", 10)
    extra = [e for e in bob.inbox if "push" in e and e["push"]["message"].get("msg_id") == rs[0]["msg_id"]]
    ck.check(not extra, "invariant 3.4", "bob gets one push for the deduplicated message", extra)

    for name, tok in (("alice", a_tok), ("bob", b_tok)):
        sv = srv.sync_all(tok, checker=ck)
        ck.check([m.get("msg_id") for m in sv] == [rs[0]["msg_id"], rf.get("msg_id")],
                 "invariant 3.4 (one stored message)",
                 "%s's stream (GET /messages/sync) holds the message once, then the fence" % name, sv)
    st, js = h.http("GET", srv.url("message", "/messages/sync?after=0"), token=a_tok)
    if st == 200:
        ck.check(js.get("messages") and js["messages"][0].get("client_msg_id") == cid, "docs/http-api.md",
                 "the sender's own copy carries client_msg_id", js)
        ck.check(js.get("max_seq") == 2 and js.get("has_more") is False, "docs/http-api.md GET /messages/sync",
                 "max_seq=2, has_more=false", js)

    # Durable: after a restart the same client_msg_id still maps to the original message.
    cl.close(); cl2.close(); bob.close()
    ck.check(srv.stop() == 0, "docs/server.md SIGTERM", "exit 0")
    srv.start(same_ports=True)
    cl3 = h.RawClient(srv.ports["tcp"])
    cleanup.add(cl3.close)
    ck.require("auth_ok" in cl3.auth(a_tok, "alice-raw"), "proto Auth (token survives restart)", "AuthOk")
    cl3.send("chat_up", chat)
    r5 = receipts_for(cl3, cid, 1)[0]
    ck.check(keyf(r5) == keyf(rs[0]), "invariant 3.4 (durable dedup record)",
             "after a restart the retry gets the original receipt", (keyf(r5), keyf(rs[0])))
    sv = srv.sync_all(a_tok, checker=ck)
    ck.check(len(sv) == 2, "invariant 3.4", "still two stored messages after restart", len(sv))
    cl3.close()
    ck.check(srv.stop() == 0, "docs/server.md SIGTERM", "exit 0")


if __name__ == "__main__":
    h.run_main("dedup", body)
