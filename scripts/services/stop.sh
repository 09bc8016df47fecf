#!/usr/bin/env bash
# Shortcut for: scripts/services/ctl.sh stop ... (see ctl.sh for the arguments).
exec "$(dirname "${BASH_SOURCE[0]}")/ctl.sh" stop "$@"
