#!/usr/bin/env bash
# Installs the Debian packages IM Plus needs to build, run and test (Debian 12).
# Safe to run again: it only installs what is missing. Needs root (or sudo).
set -euo pipefail

packages=(
  build-essential meson ninja-build pkg-config python3
  libglib2.0-dev libsoup-3.0-dev libjson-glib-dev libprotobuf-c-dev protobuf-c-compiler
  libsqlite3-dev libsodium-dev sqlite3
)
# Optional groups: IMPLUS_DEPS="gtk distributed" adds the desktop client's and the distributed backends' packages.
for group in ${IMPLUS_DEPS:-}; do
  case "$group" in
    gtk) packages+=(libgtk-4-dev libadwaita-1-dev libgtk-4-bin libsecret-1-dev gettext appstream
                    desktop-file-utils xvfb xauth imagemagick fonts-wqy-microhei) ;;
    distributed) packages+=(libhiredis-dev libmariadb-dev librdkafka-dev mariadb-server redis-server kcat
                            default-jre-headless maven gdb) ;;
    *) echo "install-deps: unknown group '$group'" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
