#!/bin/sh
# bench-smoke: run implus-bench against a server it starts itself ($IMPLUS_SERVER, set by
# tests/meson.build), 2 pairs for 2 seconds; --check fails unless messages were receipted and pushed.
set -eu
: "${IMPLUS_SERVER:?IMPLUS_SERVER must point at implus-server}"
exec "$1" --spawn "$IMPLUS_SERVER" --pairs 2 --threads 2 --duration 2 --warmup 0 --window 4 --check
