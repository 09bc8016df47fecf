#!/usr/bin/env bash
# Runs every test suite: installs what is missing, builds (normal and sanitizer builds), runs
# `meson test`, and prints one summary line "N passed, N failed, N skipped". Exit status non-zero
# on any failure. BUILD_DIR / ASAN_DIR override the build folders; IMPLUS_SKIP_ASAN=1 skips the
# sanitizer pass (the CI does not skip it).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

BUILD_DIR=${BUILD_DIR:-build}
ASAN_DIR=${ASAN_DIR:-build-asan}

setup() { # dir, extra meson args...
  local dir=$1; shift
  if [ -f "$dir/build.ninja" ]; then
    meson configure "$dir" "$@" >/dev/null
  else
    meson setup "$dir" "$@" >/dev/null
  fi
  ninja -C "$dir" >/dev/null
}

status=0
logs=()

setup "$BUILD_DIR"
meson test -C "$BUILD_DIR" --print-errorlogs --num-processes 2 || status=1
logs+=("$BUILD_DIR/meson-logs/testlog.json")

if [ "${IMPLUS_SKIP_ASAN:-0}" != 1 ]; then
  setup "$ASAN_DIR" -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
    meson test -C "$ASAN_DIR" --print-errorlogs --num-processes 2 --timeout-multiplier 3 || status=1
  logs+=("$ASAN_DIR/meson-logs/testlog.json")
fi

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
