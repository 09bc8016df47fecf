#!/usr/bin/env python3
"""kill -9 of the server in the middle of a 2,000-message exchange (1,000 each way, sent by the
tty clients from their outboxes); restart on the same data dir and ports; the clients reconnect
with backoff and resend from the outbox. (Distributed: every process is killed and restarted.) At the end nothing is lost, nothing duplicated, and the
order is kept (both /dump streams and the server's sync)."""
import os
import threading
import time

import implus_harness as h

N = int(os.environ.get("IMPLUS_E2E_N", "1000"))


def body(ck, workdir, cleanup):
    srv = h.deployment(workdir).start()
    cleanup.add(srv.kill9)
    alice_id = srv.register("alice")
    bob_id = srv.register("bob")
    alice, _ = h.new_tty_user(srv.gateway(1), workdir, "alice", cleanup)
    bob, _ = h.new_tty_user(srv.gateway(2), workdir, "bob", cleanup)

    # Kill as soon as a quarter of the 2N receipts are in, from the reader thread (no polling).
    killed = threading.Event()
    at_kill = {}
    threshold = max(1, (2 * N) // 4)

    kill_lock = threading.Lock()

    def hook(_line):
        with kill_lock:  # both readers run this hook; kill exactly once
            if killed.is_set():
                return
            done = len(alice.sent) + len(bob.sent)
            if done < threshold:
                return
            srv.kill9()  # every process of the deployment
            at_kill.update(receipts=done, a_recv=alice.recv_from.get(str(bob_id), 0),
                           b_recv=bob.recv_from.get(str(alice_id), 0))
            killed.set()

    alice.add_hook(hook)
    bob.add_hook(hook)
    a_texts = h.texts_for("a2b", N)
    b_texts = h.texts_for("b2a", N)
    t0 = time.monotonic()
    alice.send(*["/msg bob %s" % t for t in a_texts])
    bob.send(*["/msg alice %s" % t for t in b_texts])
    if not killed.wait(120):
        raise h.ContractFailure("no progress: %d receipts before the planned kill (want %d)" %
                                (len(alice.sent) + len(bob.sent), threshold))
    h.log("killed -9 after %.2f s at %s" % (time.monotonic() - t0, at_kill))
    ck.check(at_kill["receipts"] < 2 * N, "test premise", "the kill lands mid-exchange", at_kill)

    # Every /msg was accepted into the outbox, server up or down.
    alice.wait_until(lambda: alice.ok_msg >= N, 60, "alice: %d OK msg" % N)
    bob.wait_until(lambda: bob.ok_msg >= N, 60, "bob: %d OK msg" % N)
    for t in (alice, bob):
        t.wait_until(lambda t=t: t.disconnected >= 1, 30, "EVT disconnected after the server died")

    t1 = time.monotonic()
    srv.start(same_ports=True)
    h.wait_delivered(alice, N, bob_id, N, 150)
    h.wait_delivered(bob, N, alice_id, N, 150)
    h.log("FIGURE: after restart, the remaining exchange finished in %.2f s (total %.2f s)" %
          (time.monotonic() - t1, time.monotonic() - t0))
    for t in (alice, bob):
        ck.check(t.connected >= 2, "docs/tty.md EVT connected", "%s reconnected by itself" % t.name, t.connected)
        dup = [k for k, v in t.evt_ids.items() if v > 1]
        ck.check(not dup, "docs/tty.md EVT message (one per newly stored message)",
                 "%s: no EVT message repeated across the crash" % t.name, "%d repeated" % len(dup))

    a_dump, a_ok = alice.dump()
    b_dump, b_ok = bob.dump()
    for label, d, ok in (("alice", a_dump, a_ok), ("bob", b_dump, b_ok)):
        h.check_stream(ck, label, d, ok)
        h.check_texts_in_order(ck, label, d, alice_id, a_texts)
        h.check_texts_in_order(ck, label, d, bob_id, b_texts)
    h.check_same_messages(ck, "alice", a_dump, "bob", b_dump)
    for name, d in (("alice", a_dump), ("bob", b_dump)):
        h.check_vs_server(ck, name, d, srv.sync_all(srv.login(name)["token"], checker=ck))
    st = alice.ok("/status")
    ck.check(st.get("outbox") == "0" and st.get("state") == "online", "docs/tty.md /status",
             "state=online outbox=0 at the end", st)

    alice.quit()
    bob.quit()
    ck.check(srv.stop() == 0, "docs/server.md SIGTERM", "exit 0")


if __name__ == "__main__":
    h.run_main("crash_restart", body)
