#!/usr/bin/env bash
# Quick start: installs what is missing, builds, starts the embedded server (SQLite, in-process bus,
# in-memory cache; data in ./.implus-demo) and opens the terminal client connected to it.
# When the client exits (/quit or Ctrl-D), the server is stopped.
#   scripts/run.sh                 interactive implus-tty
#   scripts/run.sh --script FILE   runs a command file instead (see docs/tty.md)
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
BUILD_DIR=${BUILD_DIR:-build}
[ -f "$BUILD_DIR/build.ninja" ] || meson setup "$BUILD_DIR" >/dev/null
ninja -C "$BUILD_DIR" >/dev/null

DATA=${IMPLUS_DEMO_DIR:-$PWD/.implus-demo}
mkdir -p "$DATA/server" "$DATA/tty"
ready="$DATA/server.ready"
rm -f "$ready"

# Ports 0: the server picks free ones and prints them, so a busy port never blocks the demo.
IMPLUS_GATEWAY_TCP_PORT=${IMPLUS_GATEWAY_TCP_PORT:-0} IMPLUS_GATEWAY_WS_PORT=${IMPLUS_GATEWAY_WS_PORT:-0} \
IMPLUS_USER_HTTP_PORT=${IMPLUS_USER_HTTP_PORT:-0} \
IMPLUS_MESSAGE_HTTP_PORT=${IMPLUS_MESSAGE_HTTP_PORT:-0} \
  "$BUILD_DIR/server/implus-server" --data-dir "$DATA/server" >"$ready" 2>"$DATA/server.log" &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT

for _ in $(seq 1 200); do
  grep -q '^IMPLUS-READY' "$ready" 2>/dev/null && break
  kill -0 $server 2>/dev/null || { echo "server failed to start:"; cat "$DATA/server.log"; exit 1; }
  sleep 0.05
done
line=$(grep '^IMPLUS-READY' "$ready") || { echo "server did not get ready"; exit 1; }
port() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$line"; }
echo "implus-server running (embedded): tcp=$(port tcp) ws=$(port ws) user_http=$(port user_http) message_http=$(port message_http); log: $DATA/server.log"
echo "Type /help. Try: /register alice secret-pass   /login alice secret-pass   /msg alice hello"

"$BUILD_DIR/client-tty/implus-tty" --server 127.0.0.1 --tcp-port "$(port tcp)" --ws-port "$(port ws)" \
  --user-port "$(port user_http)" --message-port "$(port message_http)" --data-dir "$DATA/tty" "$@"
