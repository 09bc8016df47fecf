#!/usr/bin/env python3
"""A large group (IMPLUS_E2E_GROUP_N members, default 5,000) created through the API: 100
messages from one member reach every online member in order (thousands of raw TCP clients that
answer with GroupAck, plus two implus-tty), offline members pull all of them, the store holds one
conversation_msg_list row per message and no user_msg_list rows (read diffusion, DESIGN 3.1); a
member added later sees only what follows their join; a removed member gets nothing after the
removal and NOT_MEMBER on send; a non-member gets NOT_MEMBER too."""
import os
import time

import implus_harness as h
import group_harness as g

N = int(os.environ.get("IMPLUS_E2E_GROUP_N", "5000"))  # members, the owner included
M = int(os.environ.get("IMPLUS_E2E_N", "100"))          # messages of phase 1
K = 10                                                   # messages after the membership changes
N_OFFLINE_RAW = 50


def chat_only(msgs):
    return [m for m in msgs if m.get("content_type") != g.CONTENT_SYSTEM]


def body(ck, workdir, cleanup):
    srv = h.deployment(workdir).start()
    cleanup.add(srv.kill9)
    gw = srv.gateway(1)
    api = g.Api(srv)

    # Users: the owner, N-1 members, a late joiner, an outsider.
    names = ["gowner"] + ["gm%05d" % i for i in range(N - 1)] + ["glate", "goutsider"]
    t0 = time.monotonic()
    users = api.register_many(names, threads=8)
    h.log("FIGURE: %d users registered and logged in in %.1f s (keep-alive, 8 threads)" %
          (len(users), time.monotonic() - t0))
    owner = users[0]
    members = users[1:N]
    late, outsider = users[N], users[N + 1]
    tty_on_names = [names[1], names[2]]
    tty_off_name = names[3]
    offline_raw = members[3:3 + N_OFFLINE_RAW]
    removed = members[3 + N_OFFLINE_RAW]
    online_raw = members[3 + N_OFFLINE_RAW:]          # the removed member is one of them

    t0 = time.monotonic()
    gid, base = api.create_group(owner[1], "big-group", [u for u, _t in members], chunk=4000)
    conv = "group_%d" % gid
    h.log("FIGURE: group of %d created (POST /groups + /groups/members/add) in %.2f s, last_seq %d" %
          (N, time.monotonic() - t0, base))
    info = api.ok("GET", "user", "/groups/info?group_id=%d" % gid, token=owner[1])
    ck.check(info.get("member_count") == N, "docs/http-api.md GET /groups/info",
             "member_count %d (owner + %d added in chunks)" % (N, N - 1), info.get("member_count"))
    n_listed, after = 0, 0
    while True:
        js = api.ok("GET", "user", "/groups/members?group_id=%d&after=%d&limit=500" % (gid, after),
                    token=owner[1])
        n_listed += len(js["members"])
        if not js.get("has_more") or not js["members"]:
            break
        after = js["members"][-1]["user_id"]
    ck.check(n_listed == N, "docs/http-api.md GET /groups/members", "%d members listed (paged by 500)" % N,
             n_listed)

    # Online: two implus-tty and thousands of raw clients; the owner sends from a raw client.
    ttys = []
    for nm in tty_on_names:
        t, _uid = h.new_tty_user(gw, workdir, nm, cleanup)
        ttys.append(t)
    mc = g.MassClients(gw.ports["tcp"])
    cleanup.add(mc.shutdown)
    t0 = time.monotonic()
    conns = mc.connect(online_raw, device_prefix="big")
    h.log("FIGURE: %d raw TCP members authenticated in %.2f s" % (len(conns), time.monotonic() - t0))
    by_uid = {c.user_id: c for c in conns}
    rm_conn = by_uid[removed[0]]
    sender = h.RawClient(gw.ports["tcp"])
    cleanup.add(sender.close)
    ck.require("auth_ok" in sender.auth(owner[1], "owner-dev"), "docs/protocol.md Auth", "AuthOk for the owner")

    # Phase 1: M messages.
    texts = ["big-%03d héllo 世界" % i for i in range(M)]
    t0 = time.monotonic()
    cmids = [g.group_chat(sender, gid, t) for t in texts]
    receipts = [g.wait_receipt(sender, c, 60) for c in cmids]
    t_rcpt = time.monotonic() - t0
    ck.check(all(not r.get("error_code") for r in receipts), "docs/protocol.md SendReceipt",
             "%d group receipts without error" % M, [r for r in receipts if r.get("error_code")][:2])
    ck.check([r.get("seq") for r in receipts] == list(range(base + 1, base + M + 1)),
             "invariant 3.2/3.5 (conversation seq in the receipt)",
             "receipt seqs %d..%d dense, in send order" % (base + 1, base + M),
             [r.get("seq") for r in receipts][:5])
    ck.check(all(r.get("conversation_id") == conv for r in receipts), "docs/protocol.md SendReceipt",
             "conversation_id %s in every receipt" % conv, receipts[0])
    want_ids = [r.get("msg_id") for r in receipts]

    def got_all(c):
        return len(chat_only(c.group_msgs.get(conv, []))) >= M

    mc.wait_until(lambda: all(got_all(c) for c in conns), 240,
                  "every one of %d raw members to get %d pushes" % (len(conns), M))
    t_push = time.monotonic() - t0
    h.log("FIGURE: %d group messages to %d raw online members: receipts after %.2f s, last member "
          "had all %d after %.2f s (%d pushes)" % (M, len(conns), t_rcpt, M, t_push, mc.n_push))
    bad = []
    for c in conns:
        got = chat_only(c.group_msgs.get(conv, []))
        k = [(m.get("seq"), m.get("msg_id"), m.get("content"), m.get("sender_id"), m.get("group_id"))
             for m in got]
        want = [(base + 1 + i, want_ids[i], texts[i], owner[0], gid) for i in range(M)]
        if k != want:
            bad.append((c.user_id, h._diff_lists(want, k)))
    ck.check(not bad, "docs/protocol.md 6a group pushes (invariant 3.9 order)",
             "every online raw member got the %d messages once each, in conversation-seq order, "
             "seq/msg_id/content/sender as receipted" % M, "%d members wrong, e.g. %s" % (len(bad), bad[:3]))

    for t in ttys:
        t.wait_for(lambda ls: sum(1 for l in ls if l.startswith("EVT group_message ") and
                                  (" conv=%s " % conv) in l and " type=system" not in l) >= M,
                   120, "%d EVT group_message of %s" % (M, conv))
    for t in ttys:
        check_tty(ck, t, conv, gid, base, texts, want_ids, owner[0])

    # Offline members: not connected during the sends; they pull everything.
    for uid, tok in offline_raw:
        msgs, max_seq = api.group_sync_all(tok, conv)
        chat = chat_only(msgs)
        seqs = [m["seq"] for m in msgs]
        ok = ([m["content"] for m in chat] == texts and [m["msg_id"] for m in chat] == want_ids and
              seqs == list(range(seqs[0], seqs[0] + len(seqs))) and seqs[-1] == base + M and
              max_seq == base + M)
        if not ck.check(ok, "docs/http-api.md GET /groups/sync (offline member)",
                        "user %d pulls the %d messages in order, stream dense up to %d" % (uid, M, base + M),
                        "max_seq %s, seqs %s..%s, %d chat" % (max_seq, seqs[:1], seqs[-1:], len(chat))):
            break
    toff, _ = h.new_tty_user(gw, workdir, tty_off_name, cleanup)
    toff.wait_for(lambda ls: sum(1 for l in ls if l.startswith("EVT group_message ") and
                                 (" conv=%s " % conv) in l and " type=system" not in l) >= M,
                  120, "offline tty: %d EVT group_message after connecting" % M)
    check_tty(ck, toff, conv, gid, base, texts, want_ids, owner[0])

    # The store: read diffusion, one row per message, nothing per member.
    check_store(ck, srv, conv, M)

    # Phase 2: remove one member, add a late one, K more messages.
    r = api.ok("POST", "user", "/groups/members/remove", {"group_id": gid, "user_id": removed[0]}, owner[1])
    rm_seq = r.get("last_seq")
    ck.check(rm_seq == base + M + 1, "docs/http-api.md groups (system message per change)",
             "removal writes seq %d" % (base + M + 1), r)
    r = api.ok("POST", "user", "/groups/members/add", {"group_id": gid, "user_ids": [late[0]]}, owner[1])
    added_seq = r.get("last_seq")  # the seq of its member_added (the store's join_seq is one less)
    ck.check(added_seq == base + M + 2 and r.get("joined") == [late[0]], "docs/http-api.md /groups/members/add",
             "the late member joins at seq %d" % (base + M + 2), r)
    late_conn = mc.connect([late], device_prefix="late")[0]
    texts2 = ["after-%02d" % i for i in range(K)]
    cmids2 = [g.group_chat(sender, gid, t) for t in texts2]
    receipts2 = [g.wait_receipt(sender, c, 60) for c in cmids2]
    ck.check([x.get("seq") for x in receipts2] == list(range(added_seq + 1, added_seq + K + 1)),
             "invariant 3.2", "phase-2 receipts at seqs %d..%d" % (added_seq + 1, added_seq + K),
             receipts2[:2])
    stay = [c for c in conns if c is not rm_conn] + [late_conn]
    mc.wait_until(lambda: all(len([m for m in chat_only(c.group_msgs.get(conv, [])) if m["seq"] > added_seq]) >= K
                              for c in stay), 120, "phase-2 pushes on every current member")
    # The removed member's connection saw everything up to its removal and nothing after it:
    # the others' copies of the K later messages went out in the same gateway batches.
    with mc.cond:
        rm_seqs = sorted(m["seq"] for m in rm_conn.group_msgs.get(conv, []))
        late_msgs = list(late_conn.group_msgs.get(conv, []))
    ck.check(rm_seqs and max(rm_seqs) <= rm_seq, "docs/protocol.md 6a (after leaving, no more pushes)",
             "removed member: no push after seq %d" % rm_seq, rm_seqs[-3:])
    ms, mx = api.group_sync_all(removed[1], conv)
    ck.check(mx == rm_seq and ms and ms[-1]["seq"] == rm_seq and
             '"member_removed"' in ms[-1]["content"].replace(" ", ""),
             "docs/http-api.md GET /groups/sync (membership window)",
             "removed member's stream stops at the removal (seq %d, member_removed)" % rm_seq,
             (mx, ms[-1] if ms else None))
    cm = str(__import__("uuid").uuid4())
    mc.send(rm_conn, "chat_up", {"client_msg_id": cm, "group_id": gid, "content": "still here?", "content_type": 1})
    mc.wait_until(lambda: cm in rm_conn.receipts, 30, "receipt for the removed member's send")
    ck.check(rm_conn.receipts[cm].get("error_code") == g.ERR["NOT_MEMBER"], "docs/protocol.md SendReceipt NOT_MEMBER",
             "removed member's send refused with NOT_MEMBER", rm_conn.receipts[cm])

    # Its window starts with its own member_added (added_seq, as the sync check below says): on a
    # bus that delivers late that push may reach the new connection; nothing before it may.
    ck.check([m["content"] for m in chat_only(late_msgs)] == texts2 and all(m["seq"] >= added_seq for m in late_msgs),
             "docs/http-api.md groups (a member sees the stream from their join)",
             "late member's pushes: only the %d messages after joining" % K,
             [(m["seq"], m["content"][:20]) for m in late_msgs][:5])
    ms, mx = api.group_sync_all(late[1], conv)
    ck.check(ms and ms[0]["seq"] == added_seq and [m["content"] for m in chat_only(ms)] == texts2 and
             mx == added_seq + K, "docs/http-api.md GET /groups/sync (membership window)",
             "late member's stream: from its member_added (seq %d) to %d, only the later messages" %
             (added_seq, added_seq + K), (mx, [(m["seq"], m["content"][:30]) for m in ms[:3]]))

    # A user who was never a member.
    oc = h.RawClient(gw.ports["tcp"])
    cleanup.add(oc.close)
    oc.auth(outsider[1], "out-dev")
    rr = g.wait_receipt(oc, g.group_chat(oc, gid, "let me in"))
    ck.check(rr.get("error_code") == g.ERR["NOT_MEMBER"], "docs/protocol.md SendReceipt NOT_MEMBER",
             "a non-member's group send refused with NOT_MEMBER", rr)
    st, js = api.call("GET", "message", "/groups/sync?conversation_id=%s&after=0" % conv, token=outsider[1])
    ck.check(st == 403 and isinstance(js, dict) and js.get("error") == "not_member",
             "docs/http-api.md GET /groups/sync", "403 not_member for a never-member", (st, js))
    check_store(ck, srv, conv, M + K)


def check_tty(ck, t, conv, gid, base, texts, want_ids, owner_id):
    _msgs, groups, streams, ok = g.tty_dump_groups(t)
    gm = groups.get(conv, [])
    chat = [m for m in gm if not m["system"]]
    ck.check([(m["seq"], m["msg_id"], m["text"], m["from"]) for m in chat] ==
             [(base + 1 + i, want_ids[i], texts[i], owner_id) for i in range(len(texts))],
             "docs/tty.md /dump GMSG", "%s: GMSG lines hold the %d messages in order" % (t.name, len(texts)),
             h._diff_lists(texts, [m["text"] for m in chat]))
    seqs = [m["seq"] for m in gm]
    ck.check(seqs == list(range(seqs[0], seqs[0] + len(seqs))) if seqs else False, "invariant 3.2 / 3.6",
             "%s: the group stream in the mirror is dense" % t.name, seqs[:3])
    st = streams.get(conv, {})
    ck.check(st.get("watermark") == str(base + len(texts)) and st.get("count") == str(len(gm)),
             "docs/tty.md GSTREAM", "%s: GSTREAM watermark=%d count=%d" % (t.name, base + len(texts), len(gm)), st)


def check_store(ck, srv, conv, n):
    try:
        rows = g.store_query(srv, "SELECT COUNT(*) FROM conversation_msg_list c JOIN message m ON m.msg_id = c.msg_id "
                                  "WHERE c.conversation_id = ? AND m.content_type <> 99", (conv,))
        umsg = g.store_query(srv, "SELECT COUNT(*) FROM user_msg_list WHERE conversation_id = ?", (conv,))
        msgs = g.store_query(srv, "SELECT COUNT(*) FROM message WHERE conversation_id = ? AND content_type <> 99",
                             (conv,))
    except Exception as e:
        ck.check(False, "store", "read the store", repr(e))
        return
    ck.check(rows[0][0] == n, "DESIGN 3.1 (read diffusion)",
             "exactly %d non-system conversation_msg_list rows for %s" % (n, conv), rows)
    ck.check(msgs[0][0] == n, "DESIGN 3.1", "exactly %d non-system message rows for %s" % (n, conv), msgs)
    ck.check(umsg[0][0] == 0, "DESIGN 3.1 / 10 (no O(members) writes)",
             "no user_msg_list rows for %s" % conv, umsg)


if __name__ == "__main__":
    h.run_main("group-large", body)
