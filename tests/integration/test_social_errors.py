#!/usr/bin/env python3
"""Every refused send gets its explicit error, never silence (DESIGN 7, docs/protocol.md 5):
blocked (EVT failed error=blocked, nothing delivered, friend request 403 blocked), banned by the
admin API (live connections kicked with reason banned, login 403 banned, sends BANNED), muted
user-wide by the admin API and as a group member (error=muted, the reason says until when),
group send by a non-member (not_member) and to a dissolved group (not_found), and a server with
[user] friends_only refusing sends between non-friends (forbidden) until they are friends."""
import datetime
import time
import uuid

import implus_harness as h
import group_harness as g

ADMIN = "admin-" + uuid.uuid4().hex


def msg_cmd(t, cmd, timeout=30):
    """/msg or /gmsg -> client_msg_id (the command must be accepted into the outbox)."""
    res = t.ok(cmd, timeout)
    return res.get("client_msg_id")


def wait_outcome(t, cmid, timeout=30):
    """-> ('sent', fields) or ('failed', fields) for that client_msg_id."""
    def pred(ls):
        for l in ls:
            if (l.startswith("EVT sent ") or l.startswith("EVT failed ")) and ("client_msg_id=%s" % cmid) in l:
                return (l.split()[1], h.parse_kv(l))
        return None
    return t.wait_for(pred, timeout, "EVT sent/failed for %s" % cmid)


def expect_failed(ck, t, cmd, error, code, what):
    cmid = msg_cmd(t, cmd)
    kind, f = wait_outcome(t, cmid)
    ck.check(kind == "failed" and f.get("error") == error and f.get("code") == str(code),
             "docs/tty.md EVT failed / docs/protocol.md SendReceipt",
             "%s: EVT failed code=%d error=%s" % (what, code, error), (kind, f))
    return f


def expect_sent(ck, t, cmd, what):
    cmid = msg_cmd(t, cmd)
    kind, f = wait_outcome(t, cmid)
    ck.check(kind == "sent", "docs/tty.md EVT sent", "%s: accepted (EVT sent)" % what, (kind, f))
    return f


def iso_utc(ms):
    return datetime.datetime.fromtimestamp(ms // 1000, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def body(ck, workdir, cleanup):
    srv = h.deployment(workdir, extra_env={"IMPLUS_USER_ADMIN_TOKEN": ADMIN}).start()
    cleanup.add(srv.kill9)
    api = g.Api(srv)
    ids = {}
    for n in ("alice", "bob", "carol", "dave", "eve", "mallory"):
        ids[n] = srv.register(n)
    ttys = {}
    for n in ("alice", "bob", "carol", "dave", "mallory"):
        ttys[n], _ = h.new_tty_user(srv, workdir, n, cleanup)
    a, b, c, d, m = (ttys[n] for n in ("alice", "bob", "carol", "dave", "mallory"))

    # ---- Blocked ----------------------------------------------------------------------------
    r = b.ok("/block alice")
    ck.check(r.get("user_id") == str(ids["alice"]), "docs/tty.md /block", "OK block user_id=<alice>", r)
    expect_failed(ck, a, "/msg bob are you there", "blocked", 20, "alice -> bob after bob blocked alice")
    _i, l = a.command("/friend request bob")
    ck.check(l.startswith("ERR friend code=20 error=blocked"), "docs/http-api.md friends (403 blocked)",
             "a friend request to someone who blocked you: ERR friend code=20 error=blocked", l)
    bl = api.ok("GET", "user", "/blacklist", token=srv.login("bob")["token"])
    ck.check([x.get("user_id") for x in bl.get("blocked", [])] == [ids["alice"]], "docs/http-api.md GET /blacklist",
             "bob's blacklist holds alice", bl)
    # bob can still write to alice (blocking is one way), and the refused message never reached bob.
    expect_sent(ck, b, "/msg alice one way only", "bob -> alice while bob blocks alice")
    a.wait_until(lambda: a.recv_from.get(str(ids["bob"]), 0) >= 1, 30, "alice gets bob's message")
    sv = srv.sync_all(srv.login("bob")["token"])
    ck.check(not [x for x in sv if x.get("sender_id") == ids["alice"]], "DESIGN 7 (blocked: nothing stored)",
             "bob's stream holds nothing from alice", [x.get("content") for x in sv])
    ck.check(b.recv_from.get(str(ids["alice"]), 0) == 0, "DESIGN 7", "bob's tty got nothing from alice",
             b.recv_from)
    b.ok("/unblock alice")
    expect_sent(ck, a, "/msg bob after unblock", "alice -> bob after the unblock")
    b.wait_until(lambda: b.recv_from.get(str(ids["alice"]), 0) >= 1, 30, "bob gets alice's message after unblock")

    # ---- Banned (admin API) -----------------------------------------------------------------
    st, js = api.call("POST", "user", "/admin/ban", {"user_id": ids["eve"]})
    ck.check(st == 401 and isinstance(js, dict) and js.get("error") == "not_authenticated",
             "docs/http-api.md Admin", "no Authorization: 401 not_authenticated", (st, js))
    st, js = api.call("POST", "user", "/admin/ban", {"user_id": ids["eve"]}, token="wrong-" + ADMIN)
    ck.check(st == 401 and isinstance(js, dict) and js.get("error") == "auth_failed",
             "docs/http-api.md Admin", "another token: 401 auth_failed", (st, js))
    eve_tok = srv.login("eve")["token"]
    st, js = api.call("POST", "user", "/admin/ban", {"user_id": ids["eve"]}, token=eve_tok)
    ck.check(st == 401, "docs/http-api.md Admin", "a user token is not the admin token: 401", (st, js))
    e_tty, _ = h.new_tty_user(srv, workdir, "eve", cleanup)
    e_raw = h.RawClient(srv.ports["tcp"])
    cleanup.add(e_raw.close)
    ck.require("auth_ok" in e_raw.auth(eve_tok, "eve-raw"), "docs/protocol.md Auth", "eve's raw client authenticated")
    mark = e_tty.mark()
    api.ok("POST", "user", "/admin/ban", {"user_id": ids["eve"], "reason": "spam"}, token=ADMIN)
    try:
        k = e_raw.wait(lambda e: "kick" in e, 15)["kick"]
    except (TimeoutError, h.Closed) as ex:
        k = {"exception": repr(ex)}
    ck.check(k.get("reason") == g.KICK_BANNED, "docs/http-api.md /admin/ban (GatewayKick BANNED)",
             "eve's live raw connection gets Kick(BANNED)", k)
    ck.check(e_raw.wait_closed(15), "docs/protocol.md 7 Kicks", "the connection is closed after the Kick")
    e_tty.wait_for(lambda ls: any(l.startswith("EVT kicked") for l in ls), 15, "EVT kicked on eve's tty", mark)
    kl = [l for l in e_tty.lines[mark:] if l.startswith("EVT kicked")]
    ck.check(kl and "reason=banned" in kl[0], "docs/tty.md EVT kicked", "eve's tty: EVT kicked reason=banned", kl)
    st, js = api.call("POST", "user", "/users/login", {"username": "eve", "password": "password-123"})
    ck.check(st == 403 and isinstance(js, dict) and js.get("error") == "banned" and js.get("code") == 21,
             "docs/http-api.md /admin/ban", "a banned user's login: 403 banned code 21", (st, js))
    # The token is not revoked, but nothing it sends is accepted.
    e2 = h.RawClient(srv.ports["tcp"])
    cleanup.add(e2.close)
    try:
        first = e2.auth(eve_tok, "eve-raw-2")
    except (TimeoutError, h.Closed) as ex:
        first = {"exception": repr(ex)}
    if "auth_ok" in first:
        cm = str(uuid.uuid4())
        e2.send("chat_up", {"client_msg_id": cm, "to_user_id": ids["alice"], "content": "spam", "content_type": 1})
        try:
            rr = e2.wait(lambda e: ("receipt" in e and e["receipt"].get("client_msg_id") == cm) or "kick" in e, 15)
        except (TimeoutError, h.Closed) as ex:
            rr = {"exception": repr(ex)}
        got = rr.get("receipt", {}).get("error_code") or (rr.get("kick") or {}).get("reason")
        ck.check(("receipt" in rr and got == g.ERR["BANNED"]) or ("kick" in rr and got == g.KICK_BANNED),
                 "docs/protocol.md SendReceipt BANNED", "a banned user's send refused with BANNED", rr)
    else:
        ck.check(first.get("error", {}).get("code") == g.ERR["BANNED"] or
                 (first.get("kick") or {}).get("reason") == g.KICK_BANNED,
                 "docs/protocol.md (banned)", "a banned user's Auth refused with BANNED", first)
    ck.check(a.recv_from.get(str(ids["eve"]), 0) == 0, "DESIGN 7", "nothing from banned eve reached alice", a.recv_from)
    api.ok("POST", "user", "/admin/unban", {"user_id": ids["eve"]}, token=ADMIN)
    st, js = api.call("POST", "user", "/users/login", {"username": "eve", "password": "password-123"})
    ck.check(st == 200, "docs/http-api.md /admin/unban", "login works again after unban", (st, h._short(js)))
    e_tty.kill()

    # ---- Muted user-wide (admin API) --------------------------------------------------------
    until = (int(time.time()) + 3600) * 1000
    api.ok("POST", "user", "/admin/mute", {"user_id": ids["mallory"], "until_ms": until}, token=ADMIN)
    f = expect_failed(ck, m, "/msg alice can you hear me", "muted", 22, "mallory muted user-wide -> alice")
    reason = h.unescape(f.get("reason", ""))
    ck.check(iso_utc(until) in reason, "docs/protocol.md SendReceipt MUTED (error_reason says until when)",
             "reason names %s" % iso_utc(until), reason)
    api.ok("POST", "user", "/admin/mute", {"user_id": ids["mallory"], "until_ms": 0}, token=ADMIN)
    expect_sent(ck, m, "/msg alice unmuted now", "mallory after the admin unmute")

    # ---- Groups: member mute, non-member, dissolved -----------------------------------------
    r = a.ok("/group create team bob carol mallory")
    gid = int(r["group_id"])
    expect_sent(ck, c, "/gmsg %d hello team" % gid, "carol in the group")
    a.ok("/group mute %d carol +1h" % gid)
    info = api.ok("GET", "user", "/groups/info?group_id=%d" % gid, token=srv.login("carol")["token"])
    gm_until = info.get("muted_until_ms") or 0
    ck.check(gm_until > time.time() * 1000 + 3500 * 1000, "docs/http-api.md /groups/mute",
             "carol's muted_until_ms about an hour ahead", info)
    f = expect_failed(ck, c, "/gmsg %d am I muted" % gid, "muted", 22, "carol muted in the group")
    reason = h.unescape(f.get("reason", ""))
    ck.check(gm_until and iso_utc(gm_until) in reason, "docs/protocol.md SendReceipt MUTED",
             "group mute reason names %s" % (iso_utc(gm_until) if gm_until else "?"), reason)
    # A user-wide mute refuses group sends too.
    until2 = (int(time.time()) + 7200) * 1000
    api.ok("POST", "user", "/admin/mute", {"user_id": ids["mallory"], "until_ms": until2}, token=ADMIN)
    f = expect_failed(ck, m, "/gmsg %d me too" % gid, "muted", 22, "mallory muted user-wide, group send")
    ck.check(iso_utc(until2) in h.unescape(f.get("reason", "")), "docs/protocol.md SendReceipt MUTED",
             "reason names %s" % iso_utc(until2), f)
    a.ok("/group mute %d carol 0" % gid)
    expect_sent(ck, c, "/gmsg %d unmuted" % gid, "carol after the group unmute")
    expect_failed(ck, d, "/gmsg %d let me in" % gid, "not_member", 23, "dave, not a member")
    b.ok("/group leave %d" % gid)
    expect_failed(ck, b, "/gmsg %d back?" % gid, "not_member", 23, "bob after leaving")
    r = a.ok("/group create short-lived carol")
    gid2 = int(r["group_id"])
    a.ok("/group dissolve %d" % gid2)
    expect_failed(ck, c, "/gmsg %d anyone?" % gid2, "not_found", 14, "carol to a dissolved group")
    # None of the refused group sends is in the stream.
    ms, _mx = g.Api(srv).group_sync_all(srv.login("alice")["token"], "group_%d" % gid)
    texts = [x["content"] for x in ms if x.get("content_type") != g.CONTENT_SYSTEM]
    ck.check(texts == ["hello team", "unmuted"], "DESIGN 7 (refused sends are not stored)",
             "the group stream holds only the accepted messages", texts)

    # ---- friends_only server ----------------------------------------------------------------
    srv2 = h.deployment(workdir, name="friends-only", extra_env={"IMPLUS_USER_FRIENDS_ONLY": "true"}).start()
    cleanup.add(srv2.kill9)
    x_id = srv2.register("xavier")
    y_id = srv2.register("yvonne")
    x, _ = h.new_tty_user(srv2, workdir, "xavier", cleanup, tty_name="xavier-fo")
    y, _ = h.new_tty_user(srv2, workdir, "yvonne", cleanup, tty_name="yvonne-fo")
    expect_failed(ck, x, "/msg yvonne hi stranger", "forbidden", 13, "friends_only: non-friends")
    r = x.ok("/friend request yvonne")
    ck.check(r.get("state") == "outgoing", "docs/http-api.md /friends/request", "state=outgoing", r)
    expect_failed(ck, x, "/msg yvonne still pending", "forbidden", 13, "friends_only: request not yet accepted")
    r = y.ok("/friend accept xavier")
    ck.check(r.get("state") == "friend", "docs/http-api.md /friends/respond", "state=friend", r)
    expect_sent(ck, x, "/msg yvonne hi friend", "friends_only: friends")
    expect_sent(ck, y, "/msg xavier hello back", "friends_only: friends, other way")
    y.wait_until(lambda: y.recv_from.get(str(x_id), 0) >= 1, 30, "yvonne gets xavier's message")
    ck.check([e.get("text") for e in y.evt_msgs if e.get("from") == str(x_id)] == ["hi friend"],
             "DESIGN 7", "only the message sent as friends reached yvonne",
             [e.get("text") for e in y.evt_msgs])
    _ = y_id


if __name__ == "__main__":
    h.run_main("social-errors", body)
