#!/usr/bin/env bash
# Smoke test of scripts/services/: installs what is missing, starts MariaDB, Redis and Kafka one after
# the other (timing each), checks that each answers (SQL as the implus user; PING/SET/GET; kcat produce
# and consume, idempotent producer, consumer group; and tests/services/rdkafka-probe.c when a C compiler
# and librdkafka-dev are present), stops them and checks that their ports are closed.
# Uses a fresh IMPLUS_SERVICES_DIR under /tmp (removed on success, kept for its logs on failure) unless
# one is given. Fails at once if one of the service ports is already taken. Exit status 0 = all passed.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
S=$ROOT/scripts/services
own_dir=0
if [ -z "${IMPLUS_SERVICES_DIR:-}" ]; then
  IMPLUS_SERVICES_DIR=$(mktemp -d /tmp/implus-smoke.XXXXXX)
  own_dir=1
fi
export IMPLUS_SERVICES_DIR
# shellcheck source=scripts/services/lib.sh
. "$S/lib.sh"

passed=0 failed=0
pass() { passed=$((passed + 1)); echo "smoke: ok   $*"; }
fail() { failed=$((failed + 1)); echo "smoke: FAIL $*" >&2; }
finish() {
  local rc=$?
  "$S/stop.sh" >/dev/null 2>&1 || true
  if [ $failed -eq 0 ] && [ $rc -eq 0 ]; then
    [ $own_dir -eq 0 ] || rm -rf "$IMPLUS_SERVICES_DIR"
  else
    echo "smoke: logs kept in $IMPLUS_SERVICES_DIR" >&2
  fi
}
trap finish EXIT

for p in $MARIADB_PORT $REDIS_PORT $KAFKA_PORT $KAFKA_CONTROLLER_PORT; do
  if svc_port_listening "$p"; then
    echo "smoke: port $p is already in use (services already running? scripts/services/stop.sh)" >&2
    exit 1
  fi
done

"$S/install.sh"

declare -A started
for s in mariadb redis kafka; do
  if line=$("$S/start.sh" "$s"); then
    echo "smoke: $line"
    started[$s]=$(sed -n 's/.* ready in \([0-9.]*\) s.*/\1/p' <<<"$line")
    pass "$s started"
  else
    fail "$s did not start (log: $(svc_log_file "$s"))"
    exit 1
  fi
done

# MariaDB: SQL over TCP as the implus user, utf8mb4 round trip.
out=$(mariadb --no-defaults -h$SVC_HOST -P$MARIADB_PORT -uimplus -pimplus implus -N -e 'select 1' 2>&1) || true
[ "$out" = 1 ] && pass "mariadb select 1" || fail "mariadb: select 1 gave: $out"
# The client asks for utf8mb4 itself, as the server's store must (MYSQL_SET_CHARSET_NAME).
out=$(mariadb --no-defaults --default-character-set=utf8mb4 -h$SVC_HOST -P$MARIADB_PORT -uimplus -pimplus implus -N -e \
  "create table smoke (s varchar(16)) default charset=utf8mb4; insert into smoke values ('héllo 🙂');
   select s from smoke; drop table smoke" 2>&1) || true
[ "$out" = "héllo 🙂" ] && pass "mariadb utf8mb4 round trip" || fail "mariadb utf8mb4: got: $out"

# Redis.
out=$(redis-cli -h $SVC_HOST -p $REDIS_PORT ping 2>&1) || true
[ "$out" = PONG ] && pass "redis ping" || fail "redis ping gave: $out"
out=$(redis-cli -h $SVC_HOST -p $REDIS_PORT set smoke:key v1 2>&1; redis-cli -h $SVC_HOST -p $REDIS_PORT get smoke:key 2>&1) || true
[ "$out" = $'OK\nv1' ] && pass "redis set/get" || fail "redis set/get gave: $out"

# Kafka through kcat (librdkafka): a topic auto-created with 8 partitions, plain and idempotent producers,
# a consumer that reads to the end, and a consumer group.
B=$SVC_HOST:$KAFKA_PORT
topic=smoke-$$-$RANDOM
msg="smoke message $RANDOM"
kc() { timeout 60 kcat -b "$B" "$@"; }
if printf 'k1:%s\n' "$msg" | kc -P -t "$topic" -K: 2>&1; then pass "kafka produce"; else fail "kafka produce"; fi
if printf 'k2:idem %s\n' "$msg" | kc -X enable.idempotence=true -P -t "$topic" -K: 2>&1; then
  pass "kafka idempotent produce"
else
  fail "kafka idempotent produce"
fi
out=$(kc -C -t "$topic" -o beginning -e -q -f '%k=%s\n' 2>&1 | sort) || true
[ "$out" = "$(printf 'k1=%s\nk2=idem %s' "$msg" "$msg")" ] && pass "kafka consume" || fail "kafka consume gave: $out"
parts=$(kc -L -t "$topic" 2>/dev/null | sed -n 's/.*topic "'"$topic"'" with \([0-9]*\) partitions.*/\1/p')
[ "$parts" = 8 ] && pass "kafka auto-created topic has 8 partitions" || fail "kafka topic partitions: '$parts'"
out=$(kc -G "smoke-group-$$" -X auto.offset.reset=earliest -e -q -f '%k\n' "$topic" 2>&1 | sort | tr '\n' ' ') || true
[ "$out" = "k1 k2 " ] && pass "kafka consumer group" || fail "kafka consumer group gave: $out"

if command -v cc >/dev/null && pkg-config --exists rdkafka 2>/dev/null; then
  probe=$IMPLUS_SERVICES_DIR/rdkafka-probe
  # shellcheck disable=SC2046 # pkg-config output is meant to split into flags
  if cc -O1 -o "$probe" "$ROOT/tests/services/rdkafka-probe.c" $(pkg-config --cflags --libs rdkafka) \
     && timeout 120 "$probe" "$B" "probe-$topic" >"$probe.log" 2>&1; then
    pass "librdkafka $(pkg-config --modversion rdkafka) probe (admin, transactions, group commits)"
  else
    cat "$probe.log" >&2 2>/dev/null || true
    fail "librdkafka probe"
  fi
else
  echo "smoke: skip librdkafka probe (needs cc and librdkafka-dev)"
fi

start=$(svc_now)
if "$S/stop.sh"; then pass "stop"; else fail "stop"; fi
stop_time=$(svc_since "$start")
for p in $MARIADB_PORT $REDIS_PORT $KAFKA_PORT $KAFKA_CONTROLLER_PORT; do
  if svc_port_listening "$p"; then fail "port $p still open after stop"; else pass "port $p closed"; fi
done
rc=0
"$S/status.sh" >/dev/null || rc=$?
[ $rc -eq 3 ] && pass "status says stopped" || fail "status after stop exited $rc"

echo "smoke: start-up mariadb ${started[mariadb]} s, redis ${started[redis]} s, kafka ${started[kafka]} s; stop all ${stop_time} s"
echo "smoke: $passed passed, $failed failed"
[ $failed -eq 0 ]
