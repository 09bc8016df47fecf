# shellcheck shell=bash
# Shared by the scripts in scripts/services/: where things live, and how a service is started,
# probed and stopped. Sourced, never run. Everything listens on 127.0.0.1 only.
#
# Layout (IMPLUS_SERVICES_DIR, default $PWD/.services):
#   mariadb/ data/ mariadb.sock mariadb.pid mariadb.err
#   redis/   data/ redis.pid redis.log
#   kafka/   data/ server.properties log4j2.properties cluster.id kafka.pid kafka.log kafka.out
# Kafka's jars: IMPLUS_SERVICES_CACHE (default ~/.cache/implus-services)/kafka-<version>/libs.

SVC_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export SVC_ROOT # used by install.sh
SVC_ROOT=$(cd "$SVC_LIB_DIR/../.." && pwd)

KAFKA_VERSION=4.1.1
MARIADB_PORT=33306
REDIS_PORT=36379
KAFKA_PORT=39092
KAFKA_CONTROLLER_PORT=39093
SVC_HOST=127.0.0.1
SVC_ALL=(redis mariadb kafka)

SVC_DIR=${IMPLUS_SERVICES_DIR:-$PWD/.services}
case "$SVC_DIR" in /*) ;; *) SVC_DIR=$PWD/$SVC_DIR ;; esac
SVC_CACHE=${IMPLUS_SERVICES_CACHE:-${HOME:-/root}/.cache/implus-services}
KAFKA_HOME=$SVC_CACHE/kafka-$KAFKA_VERSION
KAFKA_LIBS=$KAFKA_HOME/libs

# C1 only (TieredStopAtLevel=1) starts the broker about 2 s sooner on 2 cores; a benchmark that wants
# C2's peak throughput sets IMPLUS_KAFKA_JVM_OPTS without it.
KAFKA_JVM_OPTS=${IMPLUS_KAFKA_JVM_OPTS:--Xms256m -Xmx512m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:TieredStopAtLevel=1}

# Seconds allowed for a start (to readiness) and for a stop (to the port closing and the process gone).
SVC_START_TIMEOUT=${IMPLUS_SERVICES_START_TIMEOUT:-90}
SVC_STOP_TIMEOUT=${IMPLUS_SERVICES_STOP_TIMEOUT:-60}

svc_log() { echo "services: $*" >&2; }
svc_die() { echo "services: error: $*" >&2; exit 1; }
svc_now() { date +%s.%N; }
svc_since() { awk -v a="$1" -v b="$(svc_now)" 'BEGIN { printf "%.2f", b - a }'; }

svc_check_name() {
  case "$1" in
    mariadb|redis|kafka) ;;
    *) svc_die "unknown service '$1' (mariadb, redis, kafka or all)" ;;
  esac
}

# Sets SVC_NAMES from the command-line service list ("all" or nothing = every service).
svc_expand() {
  SVC_NAMES=()
  if [ $# -eq 0 ]; then set -- all; fi
  local s
  for s in "$@"; do
    if [ "$s" = all ]; then SVC_NAMES+=("${SVC_ALL[@]}"); else svc_check_name "$s"; SVC_NAMES+=("$s"); fi
  done
}

svc_port() {
  case "$1" in mariadb) echo $MARIADB_PORT ;; redis) echo $REDIS_PORT ;; kafka) echo $KAFKA_PORT ;; esac
}
svc_pidfile() { echo "$SVC_DIR/$1/$1.pid"; }
# What the process's command line must contain, so a recycled PID is never taken for ours.
svc_cmd_match() {
  case "$1" in mariadb) echo mariadbd ;; redis) echo redis-server ;; kafka) echo kafka.Kafka ;; esac
}

# True while a TCP listener is bound to 127.0.0.1:PORT (or the wildcard). Reads /proc/net/tcp instead of
# connecting, so probing never counts as an aborted client connection (MariaDB blocks hosts that do that).
svc_port_listening() {
  local hex
  hex=$(printf '%04X' "$1")
  awk -v hex="$hex" 'FNR > 1 && $4 == "0A" { n = split($2, a, ":"); if (a[n] == hex) { found = 1; exit } }
                     END { exit !found }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# True while PID exists and is neither a zombie nor dead. Killed daemons stay zombies for a few seconds
# (kill -0 still succeeds on them), so this reads the state from /proc/PID/stat.
svc_proc_live() {
  local stat state
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  state=${stat##*) }
  state=${state%% *}
  [ "$state" != Z ] && [ "$state" != X ]
}

# Prints the PID of the running service NAME, or fails.
svc_pid() {
  local f pid cmd
  f=$(svc_pidfile "$1")
  [ -s "$f" ] || return 1
  pid=$(cat "$f")
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  svc_proc_live "$pid" || return 1
  cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ "$cmd" == *"$(svc_cmd_match "$1")"* ]] || return 1
  echo "$pid"
}

# svc_wait DEADLINE_SECONDS WHAT COMMAND...: runs COMMAND until it succeeds or the deadline passes.
# The short sleep only paces the probe; the condition decides, never the sleep.
svc_wait() {
  local limit=$1 what=$2 start
  shift 2
  start=$(svc_now)
  while ! "$@"; do
    if awk -v a="$start" -v b="$(svc_now)" -v l="$limit" 'BEGIN { exit !(b - a > l) }'; then
      svc_log "$what: not done after ${limit}s"
      return 1
    fi
    sleep 0.05
  done
}

svc_stopped() { # pid name
  ! svc_proc_live "$1" || return 1
  ! svc_port_listening "$(svc_port "$2")" || return 1
  [ "$2" != kafka ] || ! svc_port_listening $KAFKA_CONTROLLER_PORT
}

# --- readiness probes -------------------------------------------------------------------------------

svc_ready_mariadb() {
  mariadb-admin --no-defaults --connect-timeout=2 --socket="$SVC_DIR/mariadb/mariadb.sock" -uroot ping \
    >/dev/null 2>&1
}
svc_ready_redis() {
  [ "$(redis-cli -h $SVC_HOST -p $REDIS_PORT ping 2>/dev/null)" = PONG ]
}
svc_ready_kafka() {
  svc_port_listening $KAFKA_PORT || return 1
  kcat -b $SVC_HOST:$KAFKA_PORT -L -m 2 2>/dev/null | grep -q "broker 1 at $SVC_HOST:$KAFKA_PORT"
}

# --- launching (background, returns at once; readiness is waited for separately) --------------------

svc_launch_mariadb() {
  local d=$SVC_DIR/mariadb user
  user=$(id -un)
  mkdir -p "$d"
  if [ ! -f "$d/data/.implus-initialized" ]; then
    rm -rf "$d/data"
    mariadb-install-db --no-defaults --datadir="$d/data" --user="$user" \
      --auth-root-authentication-method=normal --skip-test-db >"$d/install.log" 2>&1 \
      || { tail -20 "$d/install.log" >&2; svc_die "mariadb-install-db failed (log: $d/install.log)"; }
    touch "$d/data/.implus-initialized"
  fi
  # --no-defaults keeps /etc/mysql out; --user is required when running as root.
  setsid /usr/sbin/mariadbd --no-defaults --datadir="$d/data" --socket="$d/mariadb.sock" \
    --pid-file="$d/mariadbd.pid" --port=$MARIADB_PORT --bind-address=$SVC_HOST --user="$user" \
    --log-error="$d/mariadb.err" --skip-log-bin --skip-name-resolve --innodb-buffer-pool-size=64M \
    --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci --max-connections=500 \
    </dev/null >>"$d/mariadb.out" 2>&1 &
  echo $! >"$(svc_pidfile mariadb)"
}

# Runs after every start; every statement is idempotent.
svc_setup_mariadb() {
  mariadb --no-defaults --socket="$SVC_DIR/mariadb/mariadb.sock" -uroot <<'SQL'
CREATE DATABASE IF NOT EXISTS implus CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER IF NOT EXISTS 'implus'@'127.0.0.1' IDENTIFIED BY 'implus';
CREATE USER IF NOT EXISTS 'implus'@'localhost' IDENTIFIED BY 'implus';
GRANT ALL PRIVILEGES ON `implus`.* TO 'implus'@'127.0.0.1', 'implus'@'localhost';
-- Tests may make throwaway databases named implus_<something>.
GRANT ALL PRIVILEGES ON `implus\_%`.* TO 'implus'@'127.0.0.1', 'implus'@'localhost';
SQL
}

svc_launch_redis() {
  local d=$SVC_DIR/redis
  mkdir -p "$d/data"
  # Append-only file so that a plain restart keeps the data (even after SIGKILL, up to a second of it);
  # restart.sh redis --wipe removes it.
  setsid redis-server --bind $SVC_HOST --port $REDIS_PORT --protected-mode no --daemonize no \
    --dir "$d/data" --save '' --appendonly yes --appendfsync everysec \
    --logfile "$d/redis.log" --maxclients 10000 \
    </dev/null >>"$d/redis.out" 2>&1 &
  echo $! >"$(svc_pidfile redis)"
}

svc_kafka_config() {
  local d=$SVC_DIR/kafka
  cat >"$d/server.properties" <<EOF
# Written by scripts/services/start.sh: one KRaft node, broker and controller in one process.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$SVC_HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$SVC_HOST:$KAFKA_PORT,CONTROLLER://$SVC_HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$SVC_HOST:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$d/data
auto.create.topics.enable=true
num.partitions=8
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=8
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# After a crash (restart.sh kafka --kill) the new process cannot register until the old registration's
# session expires: 3 s instead of 9 s.
broker.heartbeat.interval.ms=500
broker.session.timeout.ms=3000
EOF
  cat >"$d/log4j2.properties" <<EOF
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = $d/kafka.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.kafka-request.name = kafka.request.logger
logger.kafka-request.level = WARN
EOF
}

svc_launch_kafka() {
  local d=$SVC_DIR/kafka cp id
  [ -f "$KAFKA_HOME/.installed" ] || svc_die "Kafka $KAFKA_VERSION is not installed: run scripts/services/install.sh"
  mkdir -p "$d"
  svc_kafka_config
  cp="$KAFKA_LIBS/*"
  if [ ! -f "$d/data/meta.properties" ]; then
    rm -rf "$d/data"
    # The storage is formatted once per data dir, with a cluster id kept beside it.
    id=$(java -cp "$cp" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)
    [ -n "$id" ] || svc_die "kafka: could not make a cluster id"
    echo "$id" >"$d/cluster.id"
    java -Dlog4j2.configurationFile="$d/log4j2.properties" -cp "$cp" kafka.tools.StorageTool format \
      -t "$id" -c "$d/server.properties" >"$d/format.log" 2>&1 \
      || { cat "$d/format.log" >&2; svc_die "kafka: storage format failed"; }
  fi
  # shellcheck disable=SC2086 # word splitting of the JVM options is wanted
  setsid java $KAFKA_JVM_OPTS -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$d/log4j2.properties" -Dkafka.logs.dir="$d" \
    -cp "$cp" kafka.Kafka "$d/server.properties" \
    </dev/null >>"$d/kafka.out" 2>&1 &
  echo $! >"$(svc_pidfile kafka)"
}

svc_log_file() {
  case "$1" in
    mariadb) echo "$SVC_DIR/mariadb/mariadb.err" ;;
    redis) echo "$SVC_DIR/redis/redis.log" ;;
    kafka) echo "$SVC_DIR/kafka/kafka.log" ;;
  esac
}

# --- start / stop -----------------------------------------------------------------------------------

# svc_launch NAME: starts NAME in the background unless it already runs. Prints nothing; sets
# SVC_LAUNCHED_AT_<name> for the readiness timing. Fails if someone else holds the port.
svc_launch() {
  local name=$1 port
  port=$(svc_port "$name")
  mkdir -p "$SVC_DIR/$name"
  if svc_pid "$name" >/dev/null; then
    return 0
  fi
  if svc_port_listening "$port"; then
    svc_die "$name: port $port is already taken by a process that is not ours (see: ss -ltnp)"
  fi
  printf -v "SVC_LAUNCHED_AT_$name" '%s' "$(svc_now)"
  "svc_launch_$name"
}

# Done waiting when NAME answers, or when its process died (svc_await then reports the failure).
svc_ready_or_dead() { svc_proc_live "$1" || return 0; "svc_ready_$2"; }

# svc_await NAME: waits until NAME answers, then prints how long it took since the launch.
svc_await() {
  local name=$1 pid start var="SVC_LAUNCHED_AT_$1"
  start=${!var:-}
  pid=$(cat "$(svc_pidfile "$name")")
  if ! svc_wait "$SVC_START_TIMEOUT" "$name start" svc_ready_or_dead "$pid" "$name" \
     || ! svc_proc_live "$pid"; then
    svc_log "$name did not start; last lines of $(svc_log_file "$name"):"
    tail -n 25 "$(svc_log_file "$name")" >&2 2>/dev/null || true
    svc_kill "$name" KILL || true
    return 1
  fi
  if [ "$name" = mariadb ]; then svc_setup_mariadb; fi
  if [ -n "$start" ]; then
    echo "$name ready in $(svc_since "$start") s (pid $pid, $SVC_HOST:$(svc_port "$name"))"
  else
    echo "$name already running (pid $pid, $SVC_HOST:$(svc_port "$name"))"
  fi
}

# svc_kill NAME [SIGNAL]: stops NAME by its PID (TERM by default, KILL for crash tests) and waits for the
# port to close and the process to be gone. TERM that has not worked by the deadline becomes KILL.
svc_kill() {
  local name=$1 sig=${2:-TERM} pid start
  if ! pid=$(svc_pid "$name"); then
    rm -f "$(svc_pidfile "$name")"
    return 0
  fi
  start=$(svc_now)
  kill "-$sig" "$pid" 2>/dev/null || true
  if ! svc_wait "$SVC_STOP_TIMEOUT" "$name stop" svc_stopped "$pid" "$name"; then
    svc_log "$name: sending SIGKILL to $pid"
    kill -KILL "$pid" 2>/dev/null || true
    svc_wait 10 "$name kill" svc_stopped "$pid" "$name" || return 1
  fi
  rm -f "$(svc_pidfile "$name")"
  echo "$name stopped in $(svc_since "$start") s (SIG$sig)"
}

svc_status() {
  local name=$1 pid port
  port=$(svc_port "$name")
  if pid=$(svc_pid "$name"); then
    if "svc_ready_$name"; then
      echo "$name: running, ready (pid $pid, $SVC_HOST:$port, dir $SVC_DIR/$name)"
    else
      echo "$name: running, not answering (pid $pid, $SVC_HOST:$port)"
      return 1
    fi
  elif svc_port_listening "$port"; then
    echo "$name: stopped, but port $port is taken by another process"
    return 1
  else
    echo "$name: stopped"
    return 3
  fi
}

svc_wipe() {
  local name=$1
  case "$name" in
    mariadb|redis|kafka) rm -rf "${SVC_DIR:?}/$name/data" ;;
  esac
  if [ "$name" = kafka ]; then rm -f "$SVC_DIR/kafka/cluster.id"; fi
}
