#!/usr/bin/env bash
# The distributed deployment on one machine: MariaDB, Redis and Kafka on loopback, then five
# implus-server processes, each with its own role, data dir and log:
#   gw1   gateway   TCP 8900, WebSocket 8902
#   gw2   gateway   TCP 8910, WebSocket 8912
#   user  user      HTTP 8090 (login hands out the least loaded live gateway)
#   msg1  message   HTTP 8100 (message worker 1)
#   msg2  message   HTTP 8101 (message worker 2)
# Usage: scripts/run-distributed.sh [run|start|stop|status]
#   run     (default) install what is missing, build, start everything, wait; Ctrl-C stops it all
#   start   the same, but returns once everything is ready (pid files); `stop` ends it
#   stop    SIGTERM to the servers (wait, SIGKILL after a deadline), then the services it started
#   status  one line per server process and per service; exit 0 when all run
# Environment: BUILD_DIR (build), IMPLUS_DIST_DIR (.implus-distributed), IMPLUS_DIST_PORT_OFFSET
# (added to every server port, default 0), IMPLUS_DIST_BACKENDS=distributed|embedded (embedded:
# SQLite/local/memory in every process, no services: only checks the process handling, the
# processes do not talk to each other), IMPLUS_DIST_SKIP_INSTALL=1, IMPLUS_DIST_KEEP_SERVICES=1
# (stop leaves MariaDB/Redis/Kafka running), IMPLUS_DIST_READY_TIMEOUT (s, default 60).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/services/lib.sh
. scripts/services/lib.sh

BUILD_DIR=${BUILD_DIR:-build}
DIST=${IMPLUS_DIST_DIR:-$PWD/.implus-distributed}
case "$DIST" in /*) ;; *) DIST=$PWD/$DIST ;; esac
BACKENDS=${IMPLUS_DIST_BACKENDS:-distributed}
OFF=${IMPLUS_DIST_PORT_OFFSET:-0}
READY_TIMEOUT=${IMPLUS_DIST_READY_TIMEOUT:-60}
STOP_TIMEOUT=${IMPLUS_DIST_STOP_TIMEOUT:-30}
SERVER=$BUILD_DIR/server/implus-server
TTY=$BUILD_DIR/client-tty/implus-tty
DB=implus_demo # the tests empty `implus`; the demo keeps its own database (the grants cover implus_%)

case "$BACKENDS" in distributed|embedded) ;; *) echo "IMPLUS_DIST_BACKENDS: distributed or embedded" >&2; exit 2 ;; esac
[[ "$OFF" =~ ^[0-9]+$ ]] || { echo "IMPLUS_DIST_PORT_OFFSET must be a number" >&2; exit 2; }

# name role tcp ws user_http message_http worker_id: the first one starts alone (it runs the
# store migrations), the others then start together.
PROCS=(
  "user user 0 0 $((8090 + OFF)) 0 0"
  "msg1 message 0 0 0 $((8100 + OFF)) 1"
  "msg2 message 0 0 0 $((8101 + OFF)) 2"
  "gw1 gateway $((8900 + OFF)) $((8902 + OFF)) 0 0 0"
  "gw2 gateway $((8910 + OFF)) $((8912 + OFF)) 0 0 0"
)
# Stop order: gateways first (they kick their clients), then the user service, the workers last.
STOP_ORDER=(gw1 gw2 user msg1 msg2)

log() { echo "run-distributed: $*" >&2; }
die() { log "error: $*"; exit 1; }

proc_field() { # name index -> field
  local p
  for p in "${PROCS[@]}"; do
    read -r -a f <<<"$p"
    if [ "${f[0]}" = "$1" ]; then echo "${f[$2]}"; return 0; fi
  done
  return 1
}
pidfile() { echo "$DIST/$1/server.pid"; }

# PID of the running server NAME (alive, and really an implus-server), or fail.
server_pid() {
  local f pid cmd
  f=$(pidfile "$1")
  [ -s "$f" ] || return 1
  pid=$(cat "$f")
  [[ "$pid" =~ ^[0-9]+$ ]] && svc_proc_live "$pid" || return 1
  cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ "$cmd" == *implus-server* ]] || return 1
  echo "$pid"
}

ports_of() { # name -> the non-zero ports it listens on
  local i v
  for i in 2 3 4 5; do v=$(proc_field "$1" $i); [ "$v" = 0 ] || echo "$v"; done
}

# --- environment of each process ------------------------------------------------------------------

common_env() {
  ENV=(
    IMPLUS_SERVER_BIND=127.0.0.1
    # One token secret for the whole deployment: the user service signs, gateways and workers check.
    IMPLUS_USER_TOKEN_SECRET_FILE="$DIST/token.key"
    # What the user service hands out at login: gw1 (gw2 is reached with implus-tty --tcp-port).
    IMPLUS_GATEWAY_TCP_PORT=$((8900 + OFF)) IMPLUS_GATEWAY_WS_PORT=$((8902 + OFF))
    IMPLUS_USER_HTTP_PORT=$((8090 + OFF)) IMPLUS_MESSAGE_HTTP_PORT=$((8100 + OFF))
  )
  if [ "$BACKENDS" = distributed ]; then
    ENV+=(
      IMPLUS_STORE_BACKEND=mysql IMPLUS_STORE_MYSQL_HOST="$SVC_HOST" IMPLUS_STORE_MYSQL_PORT="$MARIADB_PORT"
      IMPLUS_STORE_MYSQL_USER=implus IMPLUS_STORE_MYSQL_PASSWORD=implus IMPLUS_STORE_MYSQL_DATABASE="$DB"
      IMPLUS_BUS_BACKEND=kafka IMPLUS_BUS_KAFKA_BROKERS="$SVC_HOST:$KAFKA_PORT" IMPLUS_BUS_KAFKA_TOPIC_PREFIX=implus-demo.
      IMPLUS_CACHE_BACKEND=redis IMPLUS_CACHE_REDIS_HOST="$SVC_HOST" IMPLUS_CACHE_REDIS_PORT="$REDIS_PORT"
      IMPLUS_CACHE_REDIS_PREFIX=implus-demo:
    )
  else
    ENV+=(IMPLUS_STORE_BACKEND=sqlite IMPLUS_BUS_BACKEND=local IMPLUS_CACHE_BACKEND=memory)
  fi
}

# --- install, build, services ---------------------------------------------------------------------

prepare() {
  if [ "${IMPLUS_DIST_SKIP_INSTALL:-0}" != 1 ]; then
    if [ "$BACKENDS" = distributed ]; then
      IMPLUS_DEPS="${IMPLUS_DEPS:-} distributed" scripts/install-deps.sh
      scripts/services/install.sh
    else
      scripts/install-deps.sh
    fi
  fi
  if [ ! -f "$BUILD_DIR/build.ninja" ]; then
    log "configuring $BUILD_DIR"
    meson setup "$BUILD_DIR" >/dev/null
  fi
  log "building in $BUILD_DIR"
  mkdir -p "$DIST"
  # Only what this script runs, so a test that does not compile yet does not stop the demo.
  if ! ninja -C "$BUILD_DIR" server/implus-server client-tty/implus-tty >"$DIST/build.log" 2>&1; then
    grep -A12 -m3 '^FAILED' "$DIST/build.log" >&2 || tail -n 30 "$DIST/build.log" >&2
    die "the build failed (whole log: $DIST/build.log)"
  fi
  [ -x "$SERVER" ] || die "$SERVER was not built"
}

# Starts the services that are not running yet and remembers which, so stop stops only those.
services_start() {
  [ "$BACKENDS" = distributed ] || return 0
  local n
  mkdir -p "$DIST"
  for n in "${SVC_ALL[@]}"; do
    if ! svc_pid "$n" >/dev/null; then echo "$n" >>"$DIST/services-started"; fi
  done
  scripts/services/start.sh all || die "the services did not start (see above)"
  # The demo's own database; the implus user may create implus_* databases.
  mariadb --no-defaults -h$SVC_HOST -P$MARIADB_PORT -uimplus -pimplus \
    -e "CREATE DATABASE IF NOT EXISTS $DB CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci" \
    || die "cannot create database $DB"
}

services_stop() {
  local f=$DIST/services-started
  [ -f "$f" ] || return 0
  if [ "${IMPLUS_DIST_KEEP_SERVICES:-0}" = 1 ]; then
    log "leaving $(sort -u "$f" | tr '\n' ' ')running (IMPLUS_DIST_KEEP_SERVICES=1): scripts/services/stop.sh stops them"
  else
    # shellcheck disable=SC2046 # one word per service name
    scripts/services/stop.sh $(sort -u "$f") || log "stopping the services failed"
  fi
  rm -f "$f"
}

# --- the server processes ------------------------------------------------------------------------

launch() { # name
  local name=$1 role tcp ws uhttp mhttp wid d
  role=$(proc_field "$name" 1) tcp=$(proc_field "$name" 2) ws=$(proc_field "$name" 3)
  uhttp=$(proc_field "$name" 4) mhttp=$(proc_field "$name" 5) wid=$(proc_field "$name" 6)
  d=$DIST/$name
  if server_pid "$name" >/dev/null; then die "$name already runs (pid $(server_pid "$name")): stop first"; fi
  local p
  for p in $(ports_of "$name"); do
    svc_port_listening "$p" && die "port $p (for $name) is taken by another process (see: ss -ltnp)"
  done
  mkdir -p "$d"
  rm -f "$d/ready"
  common_env
  case "$role" in
    gateway) ENV+=(IMPLUS_GATEWAY_ID="$name" IMPLUS_GATEWAY_TCP_PORT="$tcp" IMPLUS_GATEWAY_WS_PORT="$ws") ;;
    user) ENV+=(IMPLUS_USER_HTTP_PORT="$uhttp") ;;
    message) ENV+=(IMPLUS_MESSAGE_HTTP_PORT="$mhttp" IMPLUS_MESSAGE_WORKER_ID="$wid") ;;
  esac
  # setsid: Ctrl-C reaches this script only, which then stops the servers in order.
  env "${ENV[@]}" setsid "$SERVER" --role "$role" --data-dir "$d/data" \
    </dev/null >"$d/ready" 2>>"$d/server.log" &
  echo $! >"$(pidfile "$name")"
}

ready_or_dead() { # pid name
  svc_proc_live "$1" || return 0
  grep -q '^IMPLUS-READY' "$DIST/$2/ready" 2>/dev/null
}

await() { # name
  local name=$1 pid
  pid=$(cat "$(pidfile "$name")")
  if svc_wait "$READY_TIMEOUT" "$name start" ready_or_dead "$pid" "$name" && svc_proc_live "$pid"; then
    return 0
  fi
  log "$name did not get ready; last lines of $DIST/$name/server.log:"
  tail -n 15 "$DIST/$name/server.log" >&2 || true
  if grep -q 'not built in this version' "$DIST/$name/server.log" 2>/dev/null; then
    log "this build has no distributed backends yet (IMPLUS_DIST_BACKENDS=embedded runs the processes without them)"
  fi
  return 1
}

proc_gone() { ! svc_proc_live "$1"; }

stop_server() { # name
  local name=$1 pid
  pid=$(server_pid "$name") || { rm -f "$(pidfile "$name")"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  if ! svc_wait "$STOP_TIMEOUT" "$name stop" proc_gone "$pid"; then
    log "$name: SIGKILL to $pid"
    kill -KILL "$pid" 2>/dev/null || true
    svc_wait 10 "$name kill" proc_gone "$pid" || true
  fi
  # Reap it if it is our child, so no zombie stays behind.
  wait "$pid" 2>/dev/null || true
  rm -f "$(pidfile "$name")"
  log "$name stopped"
}

stop_all() {
  local n
  for n in "${STOP_ORDER[@]}"; do stop_server "$n"; done
  services_stop
}

start_all() {
  local p n first=1 rest=()
  mkdir -p "$DIST"
  chmod 0700 "$DIST"
  echo "$BACKENDS" >"$DIST/backends"
  # The shared token secret: 32 random bytes, 0600, made once.
  if [ ! -f "$DIST/token.key" ]; then
    (umask 077 && head -c 32 /dev/urandom >"$DIST/token.key.tmp" && mv "$DIST/token.key.tmp" "$DIST/token.key")
  fi
  local keys
  keys=$("$SERVER" --print-config)
  if [[ "$keys" != *IMPLUS_MESSAGE_WORKER_ID* ]]; then
    log "warning: this implus-server has no [message] worker_id key: msg1 and msg2 both use worker id 1"
  fi
  services_start
  for p in "${PROCS[@]}"; do
    n=${p%% *}
    if [ $first = 1 ]; then
      launch "$n"; await "$n" || return 1; first=0
    else
      launch "$n"; rest+=("$n")
    fi
  done
  for n in "${rest[@]}"; do await "$n" || return 1; done
}

print_info() {
  local n line
  echo
  echo "IM Plus distributed ($BACKENDS backends), data and logs in $DIST:"
  for n in "${STOP_ORDER[@]}"; do
    line=$(grep -m1 '^IMPLUS-READY' "$DIST/$n/ready" 2>/dev/null || true)
    printf '  %-5s pid %-7s %s  log %s\n' "$n" "$(cat "$(pidfile "$n")")" "${line#IMPLUS-READY }" \
      "$DIST/$n/server.log"
  done
  if [ "$BACKENDS" = distributed ]; then
    echo "  MariaDB $SVC_HOST:$MARIADB_PORT (database $DB), Redis $SVC_HOST:$REDIS_PORT (key prefix implus-demo:),"
    echo "  Kafka $SVC_HOST:$KAFKA_PORT (topic prefix implus-demo.)"
  fi
  echo
  echo "Connect a terminal client to gw1 (the gateway login hands out), and another to gw2:"
  echo "  $TTY --server 127.0.0.1 --user-port $((8090 + OFF)) --message-port $((8100 + OFF)) --data-dir $DIST/tty-alice"
  echo "  $TTY --server 127.0.0.1 --user-port $((8090 + OFF)) --message-port $((8101 + OFF)) --tcp-port $((8910 + OFF)) --ws-port $((8912 + OFF)) --data-dir $DIST/tty-bob"
  echo "Then: /register alice secret-pass   /login alice secret-pass   /msg bob hello   (see docs/tty.md)"
}

status_all() {
  local n pid rc=0 p down
  for n in "${STOP_ORDER[@]}"; do
    if pid=$(server_pid "$n"); then
      down=""
      for p in $(ports_of "$n"); do svc_port_listening "$p" || down+=" $p"; done
      if [ -z "$down" ]; then
        echo "$n: running (pid $pid, ports $(ports_of "$n" | tr '\n' ' '| sed 's/ $//'))"
      else
        echo "$n: running (pid $pid) but not listening on$down"; rc=1
      fi
    else
      echo "$n: stopped"; rc=3
    fi
  done
  if [ "$(cat "$DIST/backends" 2>/dev/null || echo "$BACKENDS")" = distributed ]; then
    scripts/services/status.sh all || { p=$?; [ $rc -ne 0 ] || rc=$p; }
  fi
  return $rc
}

cmd=${1:-run}
case "$cmd" in
  run)
    prepare
    trap 'trap - EXIT INT TERM; echo; stop_all; exit 0' INT TERM
    trap 'stop_all' EXIT
    start_all || exit 1
    print_info
    echo "Ctrl-C stops everything."
    # Returns when a server exits by itself (a crash): then everything is stopped.
    pids=()
    for n in "${STOP_ORDER[@]}"; do pids+=("$(cat "$(pidfile "$n")")"); done
    wait -n "${pids[@]}" || true
    for n in "${STOP_ORDER[@]}"; do
      server_pid "$n" >/dev/null || log "$n exited unexpectedly; last lines of $DIST/$n/server.log:"
      server_pid "$n" >/dev/null || tail -n 10 "$DIST/$n/server.log" >&2 || true
    done
    exit 1
    ;;
  start)
    prepare
    trap 'stop_all' EXIT
    start_all || exit 1
    trap - EXIT
    print_info
    echo "scripts/run-distributed.sh stop   stops it all."
    ;;
  stop) stop_all ;;
  status) status_all ;;
  -h|--help|help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' ;;
  *) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
