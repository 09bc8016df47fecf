#!/usr/bin/env bash
# Checks the unit files with `systemd-analyze verify`, which only warns (exit 0) on unknown keys and bad
# values: any output at all counts as a failure here. @bindir@ becomes BINDIR (a dir holding an
# executable implus-server, e.g. the build's server/), since verify checks that ExecStart exists.
#   data/systemd/verify-units.sh BINDIR
# Exit 77 (skip) without systemd-analyze.
set -euo pipefail
src=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bindir=$(cd "${1:?usage: verify-units.sh BINDIR}" && pwd)
command -v systemd-analyze >/dev/null || { echo "systemd-analyze not found: skipped"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for f in "$src"/*.service.in; do
  sed "s|@bindir@|$bindir|g" "$f" >"$tmp/$(basename "$f" .in)"
done
cp "$src/implus.target" "$tmp/"
# Templates are verified through an instance; verify does not need the user to exist.
out=$(cd "$tmp" && SYSTEMD_LOG_COLOR=0 systemd-analyze verify --man=no implus-gateway@gw1.service \
        implus-user.service implus-message@1.service implus.target 2>&1) || { echo "$out"; exit 1; }
if [ -n "$out" ]; then echo "$out"; exit 1; fi
echo "units OK: $(cd "$tmp" && ls | tr '\n' ' ')"
