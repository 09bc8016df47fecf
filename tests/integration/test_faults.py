#!/usr/bin/env python3
"""Faults under a running exchange (distributed deployment): alice (gateway 1) and bob (gateway 2)
send N messages each way (5,000 in all by default) from their outboxes; once a fifth of the
receipts are in, one fault strikes:

  worker   kill -9 of the message worker doing the work (the one that used more CPU since the
           exchange began); the other worker takes its partitions (Kafka session timeout ~6 s)
  kafka    scripts/services/restart.sh kafka (the broker stops and starts again)
  redis    scripts/services/restart.sh redis --wipe (Redis comes back empty: presence, routes,
           caches gone)
  mariadb  scripts/services/restart.sh mariadb
  gateway  kill -9 of bob's gateway, which stays dead: bob's client fails over to gateway 1 (it asks
           the user service for another live gateway after a few failed reconnects)

At the end, with deadlines only: every message exactly once, in order, on both devices; both
mirrors equal the server's stream (GET /messages/sync); outboxes empty.

Usage: test_faults.py worker|kafka|redis|mariadb|gateway (IMPLUS_E2E_DEPLOYMENT=distributed)."""
import os
import sys
import threading
import time

import implus_harness as h

N = int(os.environ.get("IMPLUS_E2E_N", "2500"))
FAULTS = ("worker", "kafka", "redis", "mariadb", "gateway")


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def strike(fault, srv, bob, cpu0):
    """Carries the fault out; returns a description for the log."""
    import implus_deploy as d
    if fault == "worker":
        deltas = {w: cpu_ticks(srv.process(w).proc.pid) - cpu0[w] for w in d.WORKERS}
        victim = max(deltas, key=deltas.get)
        srv.kill9(victim)
        return "killed -9 %s (CPU ticks since the start: %s)" % (victim, deltas)
    if fault == "kafka":
        return "kafka restarted in %.2f s" % d.services_restart("kafka")
    if fault == "redis":
        return "redis restarted empty in %.2f s" % d.services_restart("redis", "--wipe")
    if fault == "mariadb":
        return "mariadb restarted in %.2f s" % d.services_restart("mariadb")
    if fault == "gateway":
        mark, conn_mark = bob.disconnected, bob.connected
        t0 = time.monotonic()
        srv.kill9("gw2")
        bob.wait_until(lambda: bob.disconnected > mark, 30, "EVT disconnected after gw2 died")
        # gw2 stays dead: bob's engine asks the user service for another live gateway
        # (GET /users/gateway?exclude=...) after a few failed reconnects and moves to gw1.
        bob.wait_until(lambda: bob.connected > conn_mark, 60, "EVT connected again (failed over to gw1)")
        return "killed -9 gw2 for good; bob failed over to gw1 in %.2f s" % (time.monotonic() - t0)
    raise ValueError(fault)


def login_after_fault(ck, srv, name):
    """A failed first login is a failed check, not the end: a second try lets the mirrors still be
    compared with the server."""
    try:
        return srv.login(name)["token"]
    except h.ContractFailure as e:
        ck.check(False, "docs/http-api.md POST /users/login (after the fault is over)",
                 "%s: 200 at the first try" % name, str(e))
        return srv.login(name)["token"]


def body(ck, workdir, cleanup, fault):
    srv = h.deployment(workdir).start()
    cleanup.add(srv.kill9)
    alice_id = srv.register("alice")
    bob_id = srv.register("bob")
    alice, _ = h.new_tty_user(srv.gateway(1), workdir, "alice", cleanup)
    bob, _ = h.new_tty_user(srv.gateway(2), workdir, "bob", cleanup)

    go = threading.Event()
    threshold = max(1, (2 * N) // 5)

    def hook(_line):  # in a reader thread: only signal, the fault runs on the main thread
        if not go.is_set() and len(alice.sent) + len(bob.sent) >= threshold:
            go.set()

    alice.add_hook(hook)
    bob.add_hook(hook)
    a_texts = h.texts_for("a2b", N)
    b_texts = h.texts_for("b2a", N)
    import implus_deploy as d
    cpu0 = {w: cpu_ticks(srv.process(w).proc.pid) for w in d.WORKERS}
    t0 = time.monotonic()
    alice.send(*["/msg bob %s" % t for t in a_texts])
    bob.send(*["/msg alice %s" % t for t in b_texts])
    if not go.wait(180):
        raise h.ContractFailure("no progress: %d receipts before the planned fault (want %d)" %
                                (len(alice.sent) + len(bob.sent), threshold))
    t_fault = time.monotonic()
    at = {"receipts": len(alice.sent) + len(bob.sent), "a_recv": alice.recv_from.get(str(bob_id), 0),
          "b_recv": bob.recv_from.get(str(alice_id), 0)}
    what = strike(fault, srv, bob, cpu0)
    t_back = time.monotonic()
    h.log("FAULT %s after %.2f s at %s: %s" % (fault, t_fault - t0, at, what))
    ck.check(at["receipts"] < 2 * N, "test premise", "the fault lands mid-exchange", at)

    h.wait_delivered(alice, N, bob_id, N, 480)
    h.wait_delivered(bob, N, alice_id, N, 480)
    t_end = time.monotonic()
    h.log("FIGURE: fault %s: %d messages each way; fault at %.2f s, fault itself %.2f s, rest of the exchange "
          "%.2f s after it, total %.2f s" % (fault, N, t_fault - t0, t_back - t_fault, t_end - t_back, t_end - t0))

    for t in (alice, bob):
        dup = [k for k, v in t.evt_ids.items() if v > 1]
        ck.check(not dup, "docs/tty.md EVT message (one per newly stored message)",
                 "%s: no EVT message repeated across the fault" % t.name, "%d repeated" % len(dup))
        seqs = [int(f["seq"]) for f in t.evt_msgs]
        ck.check(seqs == sorted(seqs), "docs/tty.md EVT message", "%s: EVT message lines in seq order" % t.name,
                 h._first_gap(seqs))
    a_dump, a_ok = alice.dump()
    b_dump, b_ok = bob.dump()
    for label, dd, ok in (("alice", a_dump, a_ok), ("bob", b_dump, b_ok)):
        h.check_stream(ck, label, dd, ok)
        h.check_texts_in_order(ck, label, dd, alice_id, a_texts)
        h.check_texts_in_order(ck, label, dd, bob_id, b_texts)
    h.check_same_messages(ck, "alice", a_dump, "bob", b_dump)
    for name, dd in (("alice", a_dump), ("bob", b_dump)):
        h.check_vs_server(ck, name, dd, srv.sync_all(login_after_fault(ck, srv, name), checker=ck))
    for t in (alice, bob):
        st = t.ok("/status")
        ck.check(st.get("outbox") == "0" and st.get("state") == "online", "docs/tty.md /status",
                 "%s: state=online outbox=0 at the end" % t.name, st)
        ck.check(t.quit() == 0, "docs/tty.md /quit", "%s exits 0" % t.name)
    rc = srv.stop()
    ck.check(rc == 0, "docs/server.md SIGTERM", "every process still running exits 0", rc)


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in FAULTS:
        h.log("usage: test_faults.py %s" % "|".join(FAULTS))
        sys.exit(1)
    fault = sys.argv[1]
    h.run_main("fault_" + fault, lambda ck, workdir, cleanup: body(ck, workdir, cleanup, fault))
