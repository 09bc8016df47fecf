#!/usr/bin/env bash
# Controls the throwaway MariaDB, Redis and Kafka that the integration tests use, all on 127.0.0.1:
#   ctl.sh start   [mariadb|redis|kafka|all]...   start in the background, wait until each answers
#   ctl.sh stop    [mariadb|redis|kafka|all]...   SIGTERM by PID, wait until the ports close
#   ctl.sh status  [mariadb|redis|kafka|all]...   exit 0 if all named are running and answering
#   ctl.sh restart mariadb|redis|kafka [--wipe] [--kill]
#          --wipe: start again with the service's data gone; --kill: stop with SIGKILL (a crash)
# start.sh, stop.sh, status.sh and restart.sh are shortcuts for these. No argument means all.
# Ports: MariaDB 33306, Redis 36379, Kafka 39092 (controller 39093). Data: $IMPLUS_SERVICES_DIR
# (default ./.services). Run scripts/services/install.sh once before.
set -euo pipefail
# shellcheck source=scripts/services/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() { sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  start)
    svc_expand "$@"
    names=("${SVC_NAMES[@]}")
    # Each service starts (first-time init included) and is awaited in its own subshell, concurrently.
    pids=()
    for n in "${names[@]}"; do
      (svc_launch "$n" && svc_await "$n") &
      pids+=($!)
    done
    rc=0
    for p in "${pids[@]}"; do wait "$p" || rc=1; done
    exit $rc
    ;;
  stop)
    svc_expand "$@"
    names=("${SVC_NAMES[@]}")
    rc=0
    # Reverse order of start: Kafka first, it is the slowest to stop.
    for ((i = ${#names[@]} - 1; i >= 0; i--)); do svc_kill "${names[$i]}" TERM || rc=1; done
    exit $rc
    ;;
  status)
    svc_expand "$@"
    names=("${SVC_NAMES[@]}")
    rc=0
    for n in "${names[@]}"; do svc_status "$n" || { s=$?; [ $rc -ne 0 ] || rc=$s; }; done
    exit $rc
    ;;
  restart)
    [ $# -ge 1 ] || usage
    name=$1
    shift
    svc_check_name "$name"
    wipe=0 sig=TERM
    for a in "$@"; do
      case "$a" in
        --wipe) wipe=1 ;;
        --kill) sig=KILL ;;
        *) usage ;;
      esac
    done
    svc_kill "$name" "$sig"
    if [ $wipe -eq 1 ]; then svc_wipe "$name"; echo "$name data wiped"; fi
    svc_launch "$name"
    svc_await "$name"
    ;;
  *) usage ;;
esac
