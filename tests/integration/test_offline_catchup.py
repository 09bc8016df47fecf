#!/usr/bin/env python3
"""The recipient's tty is not running while 500 messages arrive; when it starts again it gets
all 500, in order, exactly once (EVT message lines and /dump)."""
import os
import time

import implus_harness as h

N = int(os.environ.get("IMPLUS_E2E_N", "500"))


def body(ck, workdir, cleanup):
    srv = h.deployment(workdir).start()
    cleanup.add(srv.kill9)
    alice_id = srv.register("alice")
    bob_id = srv.register("bob")

    # Bob logs in once (so his device has a mirror and a watermark), exchanges one message, quits.
    bob, _ = h.new_tty_user(srv.gateway(2), workdir, "bob", cleanup)
    alice, _ = h.new_tty_user(srv.gateway(1), workdir, "alice", cleanup)
    h.send_batch(alice, "bob", ["before-offline hello"])
    h.wait_delivered(alice, 1, bob_id, 0, 30)
    bob.wait_until(lambda: bob.recv_from.get(str(alice_id), 0) >= 1, 30, "the first message")
    ck.check(bob.quit() == 0, "docs/tty.md /quit", "implus-tty exits 0")

    texts = h.texts_for("offline", N)
    t0 = time.monotonic()
    h.send_batch(alice, "bob", texts)
    h.wait_delivered(alice, N + 1, bob_id, 0, 120)
    h.log("FIGURE: %d messages to an offline user stored (all receipts) in %.2f s" % (N, time.monotonic() - t0))

    # Server side first: bob's stream holds them all while he is offline (invariant 3.3).
    tok = srv.login("bob")["token"]
    sv = srv.sync_all(tok, checker=ck)
    ck.check(len(sv) == N + 1, "invariant 3.3 (recipient seq at write time, online or not)",
             "bob's server stream has %d rows while he is offline" % (N + 1), len(sv))

    t1 = time.monotonic()
    bob.start()
    bob.login("bob")
    bob.wait_until(lambda: bob.recv_from.get(str(alice_id), 0) >= N, 120,
                   "%d EVT message after reconnect" % N)
    h.log("FIGURE: %d offline messages caught up in %.2f s after restart" % (N, time.monotonic() - t1))
    got = [f for f in bob.evt_msgs if f.get("from") == str(alice_id)]
    got_texts = [h.unescape(f.get("text", "")) for f in got]
    ck.check(got_texts == texts, "docs/tty.md EVT message (offline catch-up)",
             "the %d offline messages as EVT message lines exactly once, in order (the one seen before "
             "going offline not repeated)" % N, h._diff_lists(texts, got_texts))
    seqs = [int(f["seq"]) for f in got]
    ck.check(seqs == list(range(2, N + 2)), "invariant 3.7 (pull from the watermark)",
             "EVT message seqs 2..%d" % (N + 1), h._first_gap([1] + seqs))

    d, ok = bob.dump()
    h.check_stream(ck, "bob", d, ok)
    h.check_texts_in_order(ck, "bob", d, alice_id, ["before-offline hello"] + texts)
    h.check_vs_server(ck, "bob", d, sv)

    # And a third look: a brand-new device of bob's (empty mirror) pulls everything too.
    fresh, _ = h.new_tty_user(srv.gateway(1), workdir, "bob", cleanup, device_id="bob-fresh", tty_name="bob-fresh")
    fresh.wait_until(lambda: fresh.recv_from.get(str(alice_id), 0) >= N + 1, 120, "fresh device catch-up")
    d2, ok2 = fresh.dump()
    h.check_stream(ck, "bob-fresh", d2, ok2)
    h.check_vs_server(ck, "bob-fresh", d2, sv)

    for t in (alice, bob, fresh):
        ck.check(t.quit() == 0, "docs/tty.md /quit", "%s exits 0" % t.name)
    ck.check(srv.stop() == 0, "docs/server.md SIGTERM", "exit 0")


if __name__ == "__main__":
    h.run_main("offline_catchup", body)
