#!/usr/bin/env bash
# One implus-bench run against the distributed deployment of scripts/run-distributed.sh (2
# gateways, the user service, 2 message workers over MariaDB + Kafka + Redis on loopback), from
# a fresh start: the demo database (implus_demo) is dropped first, the five servers are started
# from BUILD, measured, and stopped; the services stay up (start them with
# scripts/services/start.sh all). For A/B runs give two builds and alternate them.
# Usage: tests/bench/bench-distributed.sh BUILD RATE|closed [SECONDS]
#   RATE    msgs/s offered by 100 pairs (implus-bench --rate); closed: window 16 per pair
# Prints the load average at the start, then implus-bench's report.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -ge 2 ] || { sed -n 2,9p "$0" >&2; exit 2; }
BUILD=$(cd "$1" && pwd); RATE=$2; SECONDS_RUN=${3:-20}
OFF=7000
DIST=$(mktemp -d /tmp/implus-bench-dist.XXXXXX)
trap 'BUILD_DIR=$BUILD IMPLUS_DIST_DIR=$DIST IMPLUS_DIST_PORT_OFFSET=$OFF IMPLUS_DIST_KEEP_SERVICES=1 \
        scripts/run-distributed.sh stop >/dev/null 2>&1 || true; rm -rf "$DIST"' EXIT

mariadb --no-defaults -h127.0.0.1 -P33306 -uimplus -pimplus -e "DROP DATABASE IF EXISTS implus_demo"
IMPLUS_USER_PASSWORD_COST=min BUILD_DIR=$BUILD IMPLUS_DIST_DIR=$DIST IMPLUS_DIST_SKIP_INSTALL=1 \
  IMPLUS_DIST_KEEP_SERVICES=1 IMPLUS_DIST_PORT_OFFSET=$OFF scripts/run-distributed.sh start >"$DIST/start.log" 2>&1 \
  || { tail -20 "$DIST/start.log" >&2; exit 1; }
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "$RATE" = closed ]; then mode=(-w 16); else mode=(--rate "$RATE"); fi
"$BUILD/tests/bench/implus-bench" --user-port $((8090 + OFF)) -n 100 -d "$SECONDS_RUN" --warmup 3 "${mode[@]}"
