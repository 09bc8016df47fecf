#!/usr/bin/env python3
"""Cross-gateway delivery (distributed deployment): alice on gateway 1, bob on gateway 2 and, with a
second device, on gateway 1. Alice sends N to bob, bob's phone sends N/2 to alice: every message
reaches every device exactly once (EVT message never repeated), in order, and every mirror equals
the server's stream."""
import os
import time

import implus_harness as h

N = int(os.environ.get("IMPLUS_E2E_N", "500"))


def body(ck, workdir, cleanup):
    srv = h.deployment(workdir).start()
    cleanup.add(srv.kill9)
    alice_id = srv.register("alice")
    bob_id = srv.register("bob")
    a, _ = h.new_tty_user(srv.gateway(1), workdir, "alice", cleanup, device_id="alice-phone", tty_name="alice-gw1")
    b2, _ = h.new_tty_user(srv.gateway(2), workdir, "bob", cleanup, device_id="bob-phone", tty_name="bob-gw2")
    b1, _ = h.new_tty_user(srv.gateway(1), workdir, "bob", cleanup, device_id="bob-laptop", tty_name="bob-gw1")

    a_texts = h.texts_for("a2b", N)
    b_texts = h.texts_for("b2a", N // 2)
    nb = len(b_texts)
    t0 = time.monotonic()
    h.send_batch(a, "bob", a_texts)
    h.send_batch(b2, "alice", b_texts)
    h.wait_delivered(a, N, bob_id, nb, 180)
    h.wait_delivered(b2, nb, alice_id, N, 180)
    b1.wait_until(lambda: b1.recv_from.get(str(alice_id), 0) >= N and b1.recv_from.get(str(bob_id), 0) >= nb,
                  180, "bob-gw1: %d from alice (gw1) and %d own copies from bob-gw2" % (N, nb))
    h.log("FIGURE: cross-gateway: %d + %d messages to 3 devices on 2 gateways in %.2f s" %
          (N, nb, time.monotonic() - t0))

    for t in (a, b1, b2):
        dup = [k for k, v in t.evt_ids.items() if v > 1]
        ck.check(not dup, "docs/tty.md EVT message (one per newly stored message)",
                 "%s: no message reached this device twice" % t.name, "%d repeated" % len(dup))

    dumps = {}
    for t in (a, b1, b2):
        d, ok = t.dump()
        h.check_stream(ck, t.name, d, ok)
        h.check_texts_in_order(ck, t.name, d, alice_id, a_texts)
        h.check_texts_in_order(ck, t.name, d, bob_id, b_texts)
        dumps[t.name] = d
    key = lambda d: [(m["seq"], m["msg_id"], m["from"], m["to"], m["text"]) for m in d]
    ck.check(key(dumps["bob-gw1"]) == key(dumps["bob-gw2"]), "multi-device across gateways",
             "bob's devices on gw1 and gw2 hold the identical stream",
             h._diff_lists(key(dumps["bob-gw1"]), key(dumps["bob-gw2"])))
    h.check_same_messages(ck, "alice-gw1", dumps["alice-gw1"], "bob-gw2", dumps["bob-gw2"])
    h.check_vs_server(ck, "alice", dumps["alice-gw1"], srv.sync_all(srv.login("alice")["token"], checker=ck))
    sv = srv.sync_all(srv.login("bob")["token"], checker=ck)
    h.check_vs_server(ck, "bob-gw1", dumps["bob-gw1"], sv)
    h.check_vs_server(ck, "bob-gw2", dumps["bob-gw2"], sv)

    for t in (a, b1, b2):
        ck.check(t.quit() == 0, "docs/tty.md /quit", "%s exits 0" % t.name)
    rc = srv.stop()
    ck.check(rc == 0, "docs/server.md SIGTERM", "every process exits 0", rc)


if __name__ == "__main__":
    h.run_main("cross_gateway", body)
