#!/usr/bin/env python3
"""Unread counts and read positions on every device, step by step (DESIGN 3.8, docs/protocol.md
6a): alice and bob on two devices each, carol on one, a one-to-one chat both ways and a group.
After every step each tty's /conversations (CONV unread, read_seq, last_seq) and the server's
GET /conversations of each user agree with the expected figures; /read on one device moves the
other device's read position at once (EVT read by=me); the sender sees its messages read
(EVT read by=peer, /dump state=read) and delivered once a recipient device ACKed (EVT delivered,
state=delivered); own messages never count as unread; typing reaches both devices of the peer."""
import implus_harness as h
import group_harness as g


class World:
    def __init__(self, ck, srv, api):
        self.ck = ck
        self.srv = srv
        self.api = api
        self.devices = {}   # user -> [Tty]
        self.tokens = {}
        self.ids = {}

    def state(self, step, expect):
        """expect: {user: {conv: {"unread": n, "read_seq": n?, "last_seq": n?}}}. Every device's
        CONV lines must equal the server's list for that user, and both the expected figures."""
        for user, convs in expect.items():
            server = self.api.conversations(self.tokens[user])
            for conv, want in convs.items():
                sv = server.get(conv)
                if not self.ck.check(sv is not None, "docs/http-api.md GET /conversations",
                                     "[%s] %s lists %s" % (step, user, conv), sorted(server)):
                    continue
                for k, v in want.items():
                    self.ck.check(sv.get(k) == v, "DESIGN 3.8 (GET /conversations)",
                                  "[%s] server: %s %s %s=%d" % (step, user, conv, k, v),
                                  {x: sv.get(x) for x in ("unread", "read_seq", "last_seq")})
            for t in self.devices[user]:
                cl = g.tty_conversations(t)
                for conv, want in convs.items():
                    c = cl.get(conv)
                    if not self.ck.check(c is not None, "docs/tty.md /conversations",
                                         "[%s] %s: CONV line for %s" % (step, t.name, conv), sorted(cl)):
                        continue
                    sv = server.get(conv) or {}
                    for k in ("unread", "read_seq", "last_seq"):
                        want_v = want.get(k, sv.get(k))
                        self.ck.check(c.get(k) == str(want_v), "DESIGN 3.8 (every device)",
                                      "[%s] %s: CONV %s %s=%s" % (step, t.name, conv, k, want_v), c)


def wait_evt(t, prefix, pred, timeout, what, start=0):
    def f(ls):
        for l in ls:
            if l.startswith(prefix):
                kv = h.parse_kv(l)
                if pred(kv):
                    return kv
        return None
    return t.wait_for(f, timeout, what, start)


def n_group_msgs(t, conv, start=0):
    return t.count("EVT group_message ", start) if conv is None else \
        sum(1 for l in t.lines[start:] if l.startswith("EVT group_message ") and (" conv=%s " % conv) in l)


def own_states(t, conv, sender):
    msgs, _ok = t.dump()
    return {m["seq"]: m["state"] for m in msgs if m["conv"] == conv and m["from"] == sender}


def body(ck, workdir, cleanup):
    srv = h.deployment(workdir).start()
    cleanup.add(srv.kill9)
    api = g.Api(srv)
    w = World(ck, srv, api)
    for n in ("alice", "bob", "carol"):
        w.ids[n] = srv.register(n)
        w.tokens[n] = srv.login(n)["token"]
    A, B, C = w.ids["alice"], w.ids["bob"], w.ids["carol"]
    a1, _ = h.new_tty_user(srv.gateway(1), workdir, "alice", cleanup, device_id="alice-phone", tty_name="a1")
    a2, _ = h.new_tty_user(srv.gateway(2), workdir, "alice", cleanup, device_id="alice-laptop", tty_name="a2")
    b1, _ = h.new_tty_user(srv.gateway(2), workdir, "bob", cleanup, device_id="bob-phone", tty_name="b1")
    b2, _ = h.new_tty_user(srv.gateway(1), workdir, "bob", cleanup, device_id="bob-laptop", tty_name="b2")
    c1, _ = h.new_tty_user(srv.gateway(1), workdir, "carol", cleanup, device_id="carol-phone", tty_name="c1")
    w.devices = {"alice": [a1, a2], "bob": [b1, b2], "carol": [c1]}
    pab = "private_%d_%d" % (min(A, B), max(A, B))

    # Step 1: alice (phone) -> bob, 3 messages. Bob: 3 unread on both devices; alice: none (own).
    h.send_batch(a1, "bob", ["a-1", "a-2", "a-3"])
    h.wait_delivered(a1, 3, B, 0, 30)
    for t in (b1, b2):
        t.wait_until(lambda t=t: t.recv_from.get(str(A), 0) >= 3, 30, "%s: 3 from alice" % t.name)
    a2.wait_until(lambda: a2.recv_from.get(str(A), 0) >= 3, 30, "a2: alice's 3 own copies")
    w.state("1 alice->bob x3", {"bob": {pab: {"unread": 3, "read_seq": 0, "last_seq": 3}},
                                "alice": {pab: {"unread": 0, "last_seq": 3}}})
    # Delivered once a device of bob's ACKed: alice's seq 3 (her own numbering).
    for t in (a1, a2):
        wait_evt(t, "EVT delivered ", lambda kv: kv.get("conv") == pab and int(kv.get("seq", 0)) >= 3, 30,
                 "%s: EVT delivered conv=%s seq=3" % (t.name, pab))
    st = own_states(a1, pab, A)
    ck.check(st == {1: "delivered", 2: "delivered", 3: "delivered"}, "docs/tty.md /dump state (delivered)",
             "a1: alice's 3 messages state=delivered", st)

    # Step 2: bob reads on his phone: the laptop follows at once, alice sees them read.
    mk = {t.name: t.mark() for t in (a1, a2, b2)}
    r = b1.ok("/read alice")
    ck.check(r.get("conversation_id") == pab and r.get("read_seq") == "3" and r.get("unread") == "0",
             "docs/tty.md /read", "OK read conversation_id=%s read_seq=3 unread=0" % pab, r)
    wait_evt(b2, "EVT read ", lambda kv: kv.get("conv") == pab and kv.get("seq") == "3" and kv.get("by") == "me", 15, "b2: EVT read conv=%s seq=3 by=me" % pab, mk["b2"])
    for t in (a1, a2):
        wait_evt(t, "EVT read ", lambda kv: kv.get("conv") == pab and kv.get("seq") == "3" and kv.get("by") == "peer",
                 15, "%s: EVT read conv=%s seq=3 by=peer" % (t.name, pab), mk[t.name])
    st = own_states(a2, pab, A)
    ck.check(st == {1: "read", 2: "read", 3: "read"}, "docs/tty.md /dump state (read)",
             "a2: alice's 3 messages state=read", st)
    r = b2.ok("/read alice 1")
    ck.check(r.get("read_seq") == "3" and r.get("unread") == "0", "docs/http-api.md /conversations/read (never back)",
             "reading an older seq leaves read_seq=3", r)
    w.state("2 bob read", {"bob": {pab: {"unread": 0, "read_seq": 3, "last_seq": 3}},
                           "alice": {pab: {"unread": 0, "last_seq": 3}}})

    # Step 3: bob (laptop) -> alice, 2 messages; alice reads one on the laptop, then all on the phone.
    h.send_batch(b2, "alice", ["b-1", "b-2"])
    h.wait_delivered(b2, 2, A, 0, 30)
    for t in (a1, a2):
        t.wait_until(lambda t=t: t.recv_from.get(str(B), 0) >= 2, 30, "%s: 2 from bob" % t.name)
    b1.wait_until(lambda: b1.recv_from.get(str(B), 0) >= 2, 30, "b1: bob's own 2 copies")
    w.state("3a bob->alice x2", {"alice": {pab: {"unread": 2, "last_seq": 5}},
                                 "bob": {pab: {"unread": 0, "last_seq": 5}}})
    wait_evt(b2, "EVT delivered ", lambda kv: kv.get("conv") == pab and int(kv.get("seq", 0)) >= 5, 30,
             "b2: EVT delivered seq=5")
    mk = {t.name: t.mark() for t in (a1, b1, b2)}
    r = a2.ok("/read bob 4")
    ck.check(r.get("read_seq") == "4" and r.get("unread") == "1", "docs/tty.md /read",
             "a2: /read bob 4 -> read_seq=4 unread=1", r)
    wait_evt(a1, "EVT read ", lambda kv: kv.get("conv") == pab and kv.get("seq") == "4" and kv.get("by") == "me",
             15, "a1: EVT read seq=4 by=me", mk["a1"])
    for t in (b1, b2):
        wait_evt(t, "EVT read ", lambda kv: kv.get("conv") == pab and kv.get("seq") == "4" and kv.get("by") == "peer",
                 15, "%s: EVT read seq=4 by=peer (bob's numbering)" % t.name, mk[t.name])
    st = own_states(b2, pab, B)
    ck.check(st == {4: "read", 5: "delivered"}, "docs/protocol.md 6a (peer read / delivered)",
             "b2: bob's seq 4 read, seq 5 delivered", st)
    w.state("3b alice read 4", {"alice": {pab: {"unread": 1, "read_seq": 4, "last_seq": 5}},
                                "bob": {pab: {"unread": 0, "last_seq": 5}}})
    mk = {t.name: t.mark() for t in (a2, b1)}
    r = a1.ok("/read bob")
    ck.check(r.get("read_seq") == "5" and r.get("unread") == "0", "docs/tty.md /read",
             "a1: /read bob -> read_seq=5 unread=0", r)
    wait_evt(a2, "EVT read ", lambda kv: kv.get("conv") == pab and kv.get("seq") == "5" and kv.get("by") == "me",
             15, "a2: EVT read seq=5 by=me", mk["a2"])
    wait_evt(b1, "EVT read ", lambda kv: kv.get("conv") == pab and kv.get("seq") == "5" and kv.get("by") == "peer",
             15, "b1: EVT read seq=5 by=peer", mk["b1"])
    w.state("3c alice read all", {"alice": {pab: {"unread": 0, "read_seq": 5, "last_seq": 5}},
                                  "bob": {pab: {"unread": 0, "last_seq": 5}}})

    # Step 4: a group; carol sends 4, alice 1.
    r = a1.ok("/group create crew bob carol")
    gid = int(r["group_id"])
    gconv = "group_%d" % gid
    base = int(r.get("last_seq", "0"))
    mk = {t.name: t.mark() for t in (a1, a2, b1, b2, c1)}
    for i in range(4):
        c1.ok("/gmsg %d c-%d" % (gid, i))
    c1.wait_until(lambda: len(c1.sent) >= 4, 30, "c1: 4 group receipts")
    a1.ok("/gmsg %d a-group" % gid)
    a1.wait_until(lambda: len(a1.sent) >= 4, 30, "a1: the group receipt")
    want = {"a1": 4, "a2": 5, "b1": 5, "b2": 5, "c1": 1}
    for t in (a1, a2, b1, b2, c1):
        t.wait_for(lambda ls, t=t: sum(1 for l in ls if l.startswith("EVT group_message ") and
                                       (" conv=%s " % gconv) in l and " type=system" not in l) >= want[t.name],
                   30, "%s: %d EVT group_message" % (t.name, want[t.name]), mk[t.name])
    stream, _mx = api.group_sync_all(w.tokens["alice"], gconv)
    last = stream[-1]["seq"]
    ck.check(last == base + 5, "invariant 3.2", "group stream ends at %d" % (base + 5), last)

    def g_unread(uid, read_seq):
        # The contract: messages after read_seq in the caller's window not sent by the caller.
        return sum(1 for m in stream if m["seq"] > read_seq and m["sender_id"] != uid)

    ck.check(g_unread(B, 0) >= 5 and g_unread(A, 0) >= 4, "sanity", "the group stream holds the sent messages",
             [(m["seq"], m["sender_id"]) for m in stream])
    w.state("4a group", {"alice": {gconv: {"unread": g_unread(A, 0), "read_seq": 0, "last_seq": last},
                                   pab: {"unread": 0, "read_seq": 5}},
                         "bob": {gconv: {"unread": g_unread(B, 0), "read_seq": 0, "last_seq": last}},
                         "carol": {gconv: {"unread": g_unread(C, 0), "read_seq": 0, "last_seq": last}}})
    mk = {t.name: t.mark() for t in (a1, a2, b1, c1)}
    r = b2.ok("/read %s" % gconv)
    ck.check(r.get("read_seq") == str(last) and r.get("unread") == "0", "docs/tty.md /read group_N",
             "b2: /read %s -> read_seq=%d unread=0" % (gconv, last), r)
    wait_evt(b1, "EVT read ", lambda kv: kv.get("conv") == gconv and kv.get("seq") == str(last) and kv.get("by") == "me",
             15, "b1: EVT read %s seq=%d by=me" % (gconv, last), mk["b1"])
    r = a1.ok("/read %s %d" % (gconv, base + 2))
    ck.check(r.get("read_seq") == str(base + 2) and r.get("unread") == str(g_unread(A, base + 2)),
             "docs/tty.md /read group_N", "a1: read_seq=%d unread=%d" % (base + 2, g_unread(A, base + 2)), r)
    wait_evt(a2, "EVT read ", lambda kv: kv.get("conv") == gconv and kv.get("seq") == str(base + 2) and kv.get("by") == "me",
             15, "a2: EVT read %s seq=%d by=me" % (gconv, base + 2), mk["a2"])
    w.state("4b group reads", {"alice": {gconv: {"unread": 2, "read_seq": base + 2, "last_seq": last}},
                               "bob": {gconv: {"unread": 0, "read_seq": last, "last_seq": last}},
                               "carol": {gconv: {"unread": g_unread(C, 0), "read_seq": 0, "last_seq": last}}})
    # Reading a group sends nothing to the other members' devices.
    ck.check(not [l for l in c1.lines[mk["c1"]:] if l.startswith("EVT read ")], "docs/protocol.md 6a",
             "carol's device gets no EVT read for the others' group reads", c1.lines[mk["c1"]:][-5:])

    # Step 5: alice (laptop) -> bob twice: her phone gets the copies, her unread stays 0.
    n_own = a1.recv_from.get(str(A), 0)
    h.send_batch(a2, "bob", ["a-4", "a-5"])
    a1.wait_until(lambda: a1.recv_from.get(str(A), 0) >= n_own + 2, 30, "a1: 2 own copies from the laptop")
    for t in (b1, b2):
        t.wait_until(lambda t=t: t.recv_from.get(str(A), 0) >= 5, 30, "%s: 5 from alice" % t.name)
    w.state("5 own copies", {"alice": {pab: {"unread": 0, "last_seq": 7}, gconv: {"unread": 2}},
                             "bob": {pab: {"unread": 2, "read_seq": 3, "last_seq": 7}, gconv: {"unread": 0}}})

    # Step 6: typing reaches both of bob's devices.
    mk = {t.name: t.mark() for t in (b1, b2)}
    r = a1.ok("/typing bob")
    ck.check(r.get("sent") == "1", "docs/tty.md /typing", "OK typing sent=1", r)
    for t in (b1, b2):
        wait_evt(t, "EVT typing ", lambda kv: kv.get("from") == str(A), 15, "%s: EVT typing from=alice" % t.name,
                 mk[t.name])


if __name__ == "__main__":
    h.run_main("unread-multidevice", body)
