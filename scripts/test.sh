#!/usr/bin/env bash
# Runs every test suite: installs what is missing, builds (normal and sanitizer builds), runs
# `meson test`, and prints one summary line "N passed, N failed, N skipped". Exit status non-zero
# on any failure. BUILD_DIR / ASAN_DIR override the build folders; IMPLUS_SKIP_ASAN=1 skips the
# sanitizer pass (the CI does not skip it).
#
# Distributed backends: by default the packages of the MySQL/MariaDB, Redis and Kafka backends are
# installed too (IMPLUS_DEPS=distributed) and the builds use -Ddistributed=enabled. When the build
# then has tests that need a real service, this script installs and starts it (scripts/services/,
# all on 127.0.0.1), exports IMPLUS_TEST_MYSQL / IMPLUS_TEST_REDIS / IMPLUS_TEST_KAFKA for the
# tests, and stops on exit the services it started itself (one already running is used and left
# running). A service is needed by: the test suites integration-mysql / integration-redis /
# integration-kafka (one each) and distributed (all three), and a backend compiled in (libmariadb,
# hiredis, rdkafka: their unit tests also use a real service when told where it is).
# IMPLUS_DISTRIBUTED=0 builds and tests the embedded backends only (-Ddistributed=disabled).
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=${BUILD_DIR:-build}
ASAN_DIR=${ASAN_DIR:-build-asan}

# The desktop client and its GUI scenarios (under Xvfb) are part of the suite; IMPLUS_GTK=0 leaves
# them out. The sanitizer build covers everything but the GTK client (GTK under ASan needs
# fontconfig suppressions and is slow: its GUI tests run in the normal build).
deps="${IMPLUS_DEPS:-}"
gtk_opt=-Dgtk=false
if [ "${IMPLUS_GTK:-1}" != 0 ]; then
  deps="$deps gtk"
  gtk_opt=-Dgtk=true
fi
if [ "${IMPLUS_DISTRIBUTED:-1}" = 0 ]; then
  dist_opt=-Ddistributed=disabled
else
  deps="$deps distributed"
  dist_opt=-Ddistributed=enabled
fi
IMPLUS_DEPS="$deps" scripts/install-deps.sh

setup() { # dir, extra meson args...
  local dir=$1; shift
  if [ -f "$dir/build.ninja" ]; then
    meson configure "$dir" "$@" >/dev/null
  else
    meson setup "$dir" "$@" >/dev/null
  fi
  if ! ninja -C "$dir" >"$dir/test-sh-build.log" 2>&1; then
    grep -A12 -m3 '^FAILED' "$dir/test-sh-build.log" >&2 || tail -n 30 "$dir/test-sh-build.log" >&2
    echo "test.sh: the build in $dir failed (whole log: $dir/test-sh-build.log)" >&2
    echo "0 passed, 1 failed, 0 skipped"
    exit 1
  fi
}

# Prints the services (mariadb redis kafka) the tests of build DIR need, one per line.
needed_services() {
  meson introspect "$1" --tests --dependencies | python3 -c '
import json, sys
info = json.load(sys.stdin)
by_suite = {"integration-mysql": ["mariadb"], "integration-redis": ["redis"],
            "integration-kafka": ["kafka"], "distributed": ["mariadb", "redis", "kafka"]}
by_dep = {"libmariadb": "mariadb", "hiredis": "redis", "rdkafka": "kafka"}
need = set()
for t in info["tests"]:
    for s in t["suite"]:
        need.update(by_suite.get(s.split(":", 1)[-1], []))
for d in info["dependencies"]:
    if d["name"] in by_dep and info["tests"]:
        need.add(by_dep[d["name"]])
for n in ("mariadb", "redis", "kafka"):
    if n in need: print(n)
'
}

services_started=()
stop_services() {
  if [ ${#services_started[@]} -gt 0 ]; then
    scripts/services/stop.sh "${services_started[@]}" >&2 || echo "test.sh: stopping the services failed" >&2
    services_started=()
  fi
}
trap stop_services EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Starts what the tests need and tells the tests where it is. A failure to start fails the run (the
# tests of that service then skip, and the summary shows them as skipped).
start_services() {
  local n list svc=()
  list=$(needed_services "$1") || { echo "test.sh: cannot list the tests of $1" >&2; status=1; return 0; }
  [ -n "$list" ] || return 0
  mapfile -t svc <<<"$list"
  scripts/services/install.sh
  for n in "${svc[@]}"; do
    # status.sh exits 0 for a service that runs and answers: that one is used and left running.
    scripts/services/status.sh "$n" >/dev/null 2>&1 || services_started+=("$n")
  done
  if ! scripts/services/start.sh "${svc[@]}" >&2; then
    echo "test.sh: the services ${svc[*]} did not start; their tests will skip" >&2
    status=1
    return 0
  fi
  for n in "${svc[@]}"; do
    case "$n" in
      mariadb) export IMPLUS_TEST_MYSQL=127.0.0.1:33306:implus:implus:implus ;;
      redis) export IMPLUS_TEST_REDIS=127.0.0.1:36379 ;;
      kafka) export IMPLUS_TEST_KAFKA=127.0.0.1:39092 ;;
    esac
  done
}

status=0
logs=()

setup "$BUILD_DIR" "$dist_opt" "$gtk_opt"
start_services "$BUILD_DIR"
meson test -C "$BUILD_DIR" --print-errorlogs --num-processes 2 || status=1
logs+=("$BUILD_DIR/meson-logs/testlog.json")

if [ "${IMPLUS_SKIP_ASAN:-0}" != 1 ]; then
  setup "$ASAN_DIR" "$dist_opt" -Dgtk=false -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
    meson test -C "$ASAN_DIR" --print-errorlogs --num-processes 2 --timeout-multiplier 3 || status=1
  logs+=("$ASAN_DIR/meson-logs/testlog.json")
fi

stop_services

python3 - "${logs[@]}" <<'PY'
import json, sys
passed = failed = skipped = 0
for path in sys.argv[1:]:
    for line in open(path):
        r = json.loads(line)["result"]
        if r in ("OK", "EXPECTEDFAIL"): passed += 1
        elif r == "SKIP": skipped += 1
        else: failed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
PY
exit $status
