#!/usr/bin/env python3
"""WebSocket transport: an implus-tty on --transport ws exchanges messages with a TCP one; a raw
WebSocket client checks the wire contract (one binary frame per Envelope at /websocket)."""
import os
import time
import uuid

import implus_harness as h

N = int(os.environ.get("IMPLUS_E2E_N", "300"))


def body(ck, workdir, cleanup):
    srv = h.deployment(workdir).start()
    cleanup.add(srv.kill9)
    alice_id = srv.register("alice")
    bob_id = srv.register("bob")
    carol_id = srv.register("carol")

    # Raw WebSocket: Auth -> AuthOk, ChatUp -> SendReceipt, each a binary frame.
    tok = srv.login("carol")["token"]
    ws = h.RawWsClient(srv.gateway(2).ports["ws"])
    cleanup.add(ws.close)
    r = ws.auth(tok, "carol-ws")
    ck.check("auth_ok" in r and r["auth_ok"].get("user_id") == carol_id, "proto Auth/AuthOk over WebSocket",
             "AuthOk user_id=%d in a binary frame" % carol_id, r)
    cid = str(uuid.uuid4())
    ws.send("chat_up", {"client_msg_id": cid, "to_user_id": alice_id, "content": "hi over ws",
                        "content_type": 1})
    rc = ws.wait_body("receipt")["receipt"]
    ck.check(rc.get("client_msg_id") == cid and rc.get("error_code") == 0 and rc.get("msg_id", 0) > 0
             and rc.get("seq") == 1, "proto SendReceipt over WebSocket",
             "receipt for %s with msg_id>0, seq=1, no error" % cid, rc)
    ck.check(not ws.non_binary, "docs: one binary frame per Envelope", "no text frames", ws.non_binary[:2])
    ws.close()

    alice, _ = h.new_tty_user(srv.gateway(1), workdir, "alice", cleanup, transport="ws")
    bob, _ = h.new_tty_user(srv.gateway(2), workdir, "bob", cleanup, transport="tcp")
    a_texts = h.texts_for("ws", N)
    b_texts = h.texts_for("tcp", N)
    t0 = time.monotonic()
    h.send_batch(alice, "bob", a_texts)
    h.send_batch(bob, "alice", b_texts)
    h.wait_delivered(alice, N, bob_id, N, 120)
    h.wait_delivered(bob, N, alice_id, N, 120)
    h.log("FIGURE: %d messages each way ws<->tcp in %.2f s" % (N, time.monotonic() - t0))
    alice.wait_until(lambda: alice.recv_from.get(str(carol_id), 0) >= 1, 30, "carol's ws message")

    ad, aok = alice.dump()
    bd, bok = bob.dump()
    h.check_stream(ck, "alice(ws)", ad, aok)
    h.check_stream(ck, "bob(tcp)", bd, bok)
    h.check_texts_in_order(ck, "alice(ws)", ad, alice_id, a_texts)
    h.check_texts_in_order(ck, "alice(ws)", ad, bob_id, b_texts)
    h.check_texts_in_order(ck, "bob(tcp)", bd, alice_id, a_texts)
    h.check_texts_in_order(ck, "bob(tcp)", bd, bob_id, b_texts)
    h.check_same_messages(ck, "alice(ws)", [m for m in ad if m["from"] != carol_id], "bob(tcp)", bd)
    h.check_vs_server(ck, "alice", ad, srv.sync_all(srv.login("alice")["token"], checker=ck))
    alice.quit()
    bob.quit()
    ck.check(srv.stop() == 0, "docs/server.md SIGTERM", "exit 0")


if __name__ == "__main__":
    h.run_main("websocket", body)
