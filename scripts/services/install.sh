#!/usr/bin/env bash
# Installs what scripts/services/start.sh needs, only what is missing (a second run does nothing):
#  - Debian packages mariadb-server, redis-server, kcat (and a Java 17+ runtime and Maven if absent);
#  - Apache Kafka's broker jars (not packaged in Debian) from Maven Central, into
#    ${IMPLUS_SERVICES_CACHE:-~/.cache/implus-services}/kafka-<version>/libs, checked against
#    tests/services/kafka-<version>.sha256; a marker file there makes later runs skip the fetch.
# Options: --update-checksums writes tests/services/kafka-<version>.sha256 from a fresh fetch (run it
# only when changing KAFKA_VERSION in lib.sh and the pom, and review the result).
# Needs root (or sudo) for apt-get.
set -euo pipefail
# shellcheck source=scripts/services/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

update_sums=0
case "${1:-}" in
  "") ;;
  --update-checksums) update_sums=1 ;;
  *) sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac

# --- Debian packages -----------------------------------------------------------------------------
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
java_major() {
  java -version 2>&1 | awk -F'"' '/version/ { split($2, v, "."); print (v[1] == 1 ? v[2] : v[1]); exit }'
}

missing=()
for p in mariadb-server mariadb-client redis-server redis-tools kcat; do
  installed "$p" || missing+=("$p")
done
if ! command -v java >/dev/null || [ "$(java_major)" -lt 17 ]; then missing+=(default-jre-headless); fi
command -v mvn >/dev/null || missing+=(maven)

if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  svc_log "apt-get installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ "$(java_major)" -ge 17 ] || svc_die "Kafka $KAFKA_VERSION needs Java 17 or newer; java -version says $(java_major)"
fi

# --- Kafka jars ----------------------------------------------------------------------------------
pom=$SVC_ROOT/tests/services/kafka-pom.xml
sums=$SVC_ROOT/tests/services/kafka-$KAFKA_VERSION.sha256
marker=$KAFKA_HOME/.installed

# The marker holds the checksum list's own hash: a changed list (new version or jar set) refetches.
if [ $update_sums -eq 0 ]; then
  [ -f "$sums" ] || svc_die "no checksum list $sums for Kafka $KAFKA_VERSION (see --update-checksums)"
  want=$(sha256sum <"$sums" | cut -d' ' -f1)
  if [ -f "$marker" ] && [ "$(cat "$marker")" = "$want" ] && [ -d "$KAFKA_LIBS" ]; then
    exit 0
  fi
fi

start=$(svc_now)
mkdir -p "$KAFKA_HOME"
tmp=$KAFKA_HOME/libs.tmp
rm -rf "$tmp" "$marker"
svc_log "fetching Kafka $KAFKA_VERSION broker jars from Maven Central into $KAFKA_LIBS"
# -C: fail on a Maven Central checksum mismatch instead of only warning.
mvn -q -B -C -f "$pom" -Dkafka.version="$KAFKA_VERSION" dependency:copy-dependencies \
  -DincludeScope=runtime -DoutputDirectory="$tmp" >"$KAFKA_HOME/mvn.log" 2>&1 \
  || { tail -30 "$KAFKA_HOME/mvn.log" >&2; svc_die "mvn could not fetch Kafka $KAFKA_VERSION (log: $KAFKA_HOME/mvn.log)"; }

if [ $update_sums -eq 1 ]; then
  (cd "$tmp" && LC_ALL=C sha256sum -- *.jar | LC_ALL=C sort -k2) >"$sums"
  svc_log "wrote $sums ($(wc -l <"$sums") jars): review it, then run install.sh again"
  exit 0
fi

# Exactly the expected jar set, each with the expected content.
if ! diff <(cd "$tmp" && LC_ALL=C ls -1 -- *.jar | LC_ALL=C sort) <(awk '{ print $2 }' "$sums" | LC_ALL=C sort) >&2; then
  svc_die "the fetched Kafka jar set differs from $sums (lines: < fetched only, > expected only)"
fi
(cd "$tmp" && sha256sum --quiet -c "$sums") >&2 || svc_die "Kafka jar checksums do not match $sums"

rm -rf "$KAFKA_LIBS"
mv "$tmp" "$KAFKA_LIBS"
echo "$want" >"$marker"
svc_log "Kafka $KAFKA_VERSION installed ($(ls "$KAFKA_LIBS" | wc -l) jars, $(du -sh "$KAFKA_LIBS" | cut -f1)) in $(svc_since "$start") s"
