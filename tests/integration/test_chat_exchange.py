#!/usr/bin/env python3
"""Two users, two implus-tty clients (on different gateways in the distributed deployment),
1,000 messages each way; both /dump streams and the
server's GET /messages/sync agree: every message exactly once, in order, seqs dense 1..N."""
import os
import time

import implus_harness as h

N = int(os.environ.get("IMPLUS_E2E_N", "1000"))


def body(ck, workdir, cleanup):
    srv = h.deployment(workdir).start()
    cleanup.add(srv.kill9)
    alice_id = srv.register("alice")
    bob_id = srv.register("bob")
    alice, a_id = h.new_tty_user(srv.gateway(1), workdir, "alice", cleanup)
    bob, b_id = h.new_tty_user(srv.gateway(2), workdir, "bob", cleanup)
    ck.check(a_id == alice_id and b_id == bob_id, "docs/tty.md /login",
             "'OK login user_id=N' with the registered ids %d, %d" % (alice_id, bob_id), (a_id, b_id))

    a_texts = h.texts_for("a2b", N)
    b_texts = h.texts_for("b2a", N)
    t0 = time.monotonic()
    h.send_batch(alice, "bob", a_texts)
    h.send_batch(bob, "alice", b_texts)
    t_queued = time.monotonic() - t0
    h.wait_delivered(alice, N, bob_id, N, 150)
    h.wait_delivered(bob, N, alice_id, N, 150)
    dt = time.monotonic() - t0
    h.log("FIGURE: %d messages each way (%d total) queued in %.2f s, all receipts+pushes in %.2f s "
          "(%.0f msg/s)" % (N, 2 * N, t_queued, dt, 2 * N / dt))

    # EVT message: one per newly stored message, in seq order.
    for t, peer in ((alice, bob_id), (bob, alice_id)):
        dup = [k for k, v in t.evt_ids.items() if v > 1]
        ck.check(not dup, "docs/tty.md EVT message", "%s: one EVT message per stored message" % t.name,
                 "%d msg_ids repeated" % len(dup))
        seqs = [int(f["seq"]) for f in t.evt_msgs]
        ck.check(seqs == sorted(seqs), "docs/tty.md EVT message", "%s: EVT message lines in seq order" % t.name,
                 h._first_gap(seqs))

    a_dump, a_ok = alice.dump()
    b_dump, b_ok = bob.dump()
    h.check_stream(ck, "alice", a_dump, a_ok)
    h.check_stream(ck, "bob", b_dump, b_ok)
    ck.check(len(a_dump) == 2 * N and len(b_dump) == 2 * N, "write diffusion (invariant 3.1)",
             "each stream holds both directions: %d rows" % (2 * N), (len(a_dump), len(b_dump)))
    for label, d in (("alice", a_dump), ("bob", b_dump)):
        h.check_texts_in_order(ck, label, d, alice_id, a_texts)
        h.check_texts_in_order(ck, label, d, bob_id, b_texts)
        conv = "private_%d_%d" % (min(alice_id, bob_id), max(alice_id, bob_id))
        bad = [m for m in d if m["conv"] != conv]
        ck.check(not bad, "DESIGN 4 conversation ids", "%s: every row in %s" % (label, conv), bad[:2])
    h.check_same_messages(ck, "alice", a_dump, "bob", b_dump)

    # Receipts: EVT sent's msg_id/seq match the sender's own mirror.
    by_id = {m["msg_id"]: m for m in a_dump}
    bad = [f for f in alice.sent.values()
           if int(f.get("msg_id", 0)) not in by_id or by_id[int(f["msg_id"])]["seq"] != int(f.get("seq", -1))]
    ck.check(not bad, "invariant 3.5 (receipt carries msg id + sender seq)",
             "every EVT sent msg_id/seq equals alice's /dump row", bad[:2])

    t1 = time.monotonic()
    for name, d in (("alice", a_dump), ("bob", b_dump)):
        tok = srv.login(name)["token"]
        sv = srv.sync_all(tok, page=500, checker=ck)
        h.check_vs_server(ck, name, d, sv)
        # Small pages too: the paging itself must not skip or repeat.
        sv7 = srv.sync_all(tok, page=97, checker=ck)
        ck.check([m["msg_id"] for m in sv7] == [m["msg_id"] for m in sv], "docs/http-api.md sync paging",
                 "%s: limit=97 pages give the same stream as limit=500" % name,
                 h._diff_lists([m["msg_id"] for m in sv], [m["msg_id"] for m in sv7]))
    h.log("FIGURE: server sync of 2 x %d rows (pages of 500 and 97) in %.2f s" % (2 * N, time.monotonic() - t1))

    ck.check(alice.quit() == 0, "docs/tty.md /quit", "implus-tty exits 0")
    ck.check(bob.quit() == 0, "docs/tty.md /quit", "implus-tty exits 0")
    rc = srv.stop()
    ck.check(rc == 0, "docs/server.md SIGTERM", "exit 0", rc)


if __name__ == "__main__":
    h.run_main("chat_exchange", body)
