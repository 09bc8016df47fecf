#!/usr/bin/env python3
"""Multi-device: bob is logged in on two devices and gets every message on both; alice's
second device gets alice's own copies (sent from her first device), and vice versa. In the
distributed deployment each user's devices sit on different gateways, and the replacing login
(same device id) comes in through the other gateway."""
import os
import time

import implus_harness as h

N = int(os.environ.get("IMPLUS_E2E_N", "300"))


def body(ck, workdir, cleanup):
    srv = h.deployment(workdir).start()
    cleanup.add(srv.kill9)
    alice_id = srv.register("alice")
    bob_id = srv.register("bob")
    a1, _ = h.new_tty_user(srv.gateway(1), workdir, "alice", cleanup, device_id="alice-phone", tty_name="alice1")
    a2, _ = h.new_tty_user(srv.gateway(2), workdir, "alice", cleanup, device_id="alice-laptop", tty_name="alice2")
    b1, _ = h.new_tty_user(srv.gateway(2), workdir, "bob", cleanup, device_id="bob-phone", tty_name="bob1")
    b2, _ = h.new_tty_user(srv.gateway(1), workdir, "bob", cleanup, device_id="bob-laptop", tty_name="bob2")
    for t in (a1, a2, b1, b2):
        ck.check(not any(l.startswith("EVT kicked") for l in t.lines), "proto Auth.device_id",
                 "%s: distinct device ids do not kick each other" % t.name,
                 [l for l in t.lines if l.startswith("EVT kicked")])

    a_texts = h.texts_for("a1", N)
    b_texts = h.texts_for("b2", N // 2)
    t0 = time.monotonic()
    h.send_batch(a1, "bob", a_texts)
    h.send_batch(b2, "alice", b_texts)
    nb = len(b_texts)
    h.wait_delivered(a1, N, bob_id, nb, 120)
    h.wait_delivered(b2, nb, alice_id, N, 120)
    # The other devices see both directions as EVT message: own copies from the other device too.
    a2.wait_until(lambda: a2.recv_from.get(str(alice_id), 0) >= N and a2.recv_from.get(str(bob_id), 0) >= nb,
                  120, "alice2: %d own copies and %d from bob" % (N, nb))
    b1.wait_until(lambda: b1.recv_from.get(str(alice_id), 0) >= N and b1.recv_from.get(str(bob_id), 0) >= nb,
                  120, "bob1: %d from alice and %d own copies" % (N, nb))
    h.log("FIGURE: %d + %d messages on 4 devices in %.2f s" % (N, nb, time.monotonic() - t0))

    dumps = {}
    for t in (a1, a2, b1, b2):
        d, ok = t.dump()
        h.check_stream(ck, t.name, d, ok)
        h.check_texts_in_order(ck, t.name, d, alice_id, a_texts)
        h.check_texts_in_order(ck, t.name, d, bob_id, b_texts)
        dumps[t.name] = d
    key = lambda d: [(m["seq"], m["msg_id"], m["from"], m["to"], m["text"]) for m in d]
    ck.check(key(dumps["alice1"]) == key(dumps["alice2"]), "multi-device (DESIGN 1: on every device)",
             "alice's two devices hold the identical stream (seq, msg_id, content)",
             h._diff_lists(key(dumps["alice1"]), key(dumps["alice2"])))
    ck.check(key(dumps["bob1"]) == key(dumps["bob2"]), "multi-device (DESIGN 1: on every device)",
             "bob's two devices hold the identical stream", h._diff_lists(key(dumps["bob1"]), key(dumps["bob2"])))
    h.check_same_messages(ck, "alice1", dumps["alice1"], "bob1", dumps["bob1"])
    for name in ("alice", "bob"):
        sv = srv.sync_all(srv.login(name)["token"], checker=ck)
        h.check_vs_server(ck, name + "1", dumps[name + "1"], sv)

    # A third login with an existing device id replaces the first (Auth.device_id contract).
    a1_mark = a1.mark()
    a3, _ = h.new_tty_user(srv.gateway(2), workdir, "alice", cleanup, device_id="alice-phone", tty_name="alice3")
    try:
        a1.wait_for(lambda ls: any(l.startswith("EVT kicked") for l in ls), 15,
                    "EVT kicked reason=replaced", a1_mark)
        kicked = [h.parse_kv(l) for l in a1.lines[a1_mark:] if l.startswith("EVT kicked")]
        ck.check(kicked and kicked[0].get("reason") == "replaced", "proto Auth.device_id / docs/tty.md EVT kicked",
                 "the older session with the same device id gets 'EVT kicked reason=replaced'", kicked)
    except h.ContractFailure as e:
        ck.check(False, "proto Auth.device_id (a second login with it kicks the first)",
                 "alice1 kicked when alice3 logs in with device id alice-phone", str(e))
    a3.quit()
    for t in (a1, a2, b1, b2):
        t.quit()
    ck.check(srv.stop() == 0, "docs/server.md SIGTERM", "exit 0")


if __name__ == "__main__":
    h.run_main("multi_device", body)
