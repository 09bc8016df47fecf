#!/bin/sh
# implus-tty without a server: /help is generated from the command table, bad commands get one
# ERR line each, commands needing a session say so, and end of input exits 0.
set -eu
TTY="$1"
D=$(mktemp -d)
trap 'rm -rf "$D"' EXIT
printf '/help\n# a comment\n\n/nosuch\n/msg\n/dump\n/status\n/wait bogus\nhello\n' \
  | "$TTY" --data-dir "$D" --user-port 1 --message-port 1 >"$D/out"
cat "$D/out"
fail() { echo "FAIL: $*"; exit 1; }
grep -q '^HELP /msg <user> <text> — ' "$D/out" || fail "no HELP line for /msg"
grep -q '^HELP /wait ' "$D/out" || fail "no HELP line for /wait"
grep -qx 'OK help' "$D/out" || fail "no OK help"
grep -q '^ERR nosuch code=7 error=bad_request message=' "$D/out" || fail "unknown command"
grep -q '^ERR msg code=7 error=bad_request message=usage:' "$D/out" || fail "usage error"
grep -q '^ERR dump code=3 error=not_authenticated ' "$D/out" || fail "dump without login"
grep -qx 'OK status state=offline watermark=0 outbox=0' "$D/out" || fail "status"
grep -q '^ERR wait code=7 error=bad_request ' "$D/out" || fail "bad wait"
grep -q '^ERR input code=7 ' "$D/out" || fail "plain text line"
[ "$(grep -c '^\(OK\|ERR\) ' "$D/out")" -eq 7 ] || fail "one result line per command"
# A server that is not there: login fails with unavailable, the process still exits 0.
echo '/login alice secret-pass' | "$TTY" --data-dir "$D" --user-port 1 >"$D/out2"
grep -q '^ERR login code=19 error=unavailable ' "$D/out2" || fail "login without server: $(cat "$D/out2")"
echo "1 passed, 0 failed"
