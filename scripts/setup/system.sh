#!/usr/bin/env bash
# System packages for the local stack: PostgreSQL server, OpenJDK, Maven, Go, Python venv, jq.
# Skips apt entirely when everything is already present, so a second run is instant.
source "$(dirname "$0")/common.sh"

pg_bin="/usr/lib/postgresql/$POSTGRES_MAJOR/bin"
missing=()
[ -x "$pg_bin/initdb" ] || missing+=("postgresql-$POSTGRES_MAJOR")
command -v psql >/dev/null 2>&1 || missing+=("postgresql-client-$POSTGRES_MAJOR")
java -version 2>&1 | grep -q "version \"$JAVA_MAJOR\." || missing+=("openjdk-$JAVA_MAJOR-jdk-headless")
command -v mvn >/dev/null 2>&1 || missing+=(maven)
command -v go >/dev/null 2>&1 || missing+=(golang-go)
command -v curl >/dev/null 2>&1 || missing+=(curl)
# jq: the kind node's runc wrapper uses it; its static test runs it here too
command -v jq >/dev/null 2>&1 || missing+=(jq)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)

if [ ${#missing[@]} -eq 0 ]; then
  info "system packages: all present (PostgreSQL $POSTGRES_MAJOR, OpenJDK $JAVA_MAJOR, Maven, Go, python3-venv, jq)"
  exit 0
fi
command -v apt-get >/dev/null 2>&1 || die "missing system packages: ${missing[*]}" \
  "this setup installs them with apt-get (Debian/Ubuntu); on other systems install them by hand"
step "Installing system packages: ${missing[*]}"
as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
# Debian's postgresql package starts a cluster on 5432 through its init scripts on
# some systems; the platform runs its own private cluster, so that one is not needed.
[ -x "$pg_bin/initdb" ] || die "PostgreSQL $POSTGRES_MAJOR binaries are still missing under $pg_bin" \
  "install postgresql-$POSTGRES_MAJOR, or set POSTGRES_MAJOR in config/versions.env to the installed major"
