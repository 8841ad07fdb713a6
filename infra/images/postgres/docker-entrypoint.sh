#!/usr/bin/env bash
# Entrypoint of lakehouse/postgres: the part of the official postgres image's
# docker-entrypoint.sh that k8s/base/postgres uses, nothing more.
#   - arguments starting with `-` go to `postgres` (`args: [-c, wal_level=logical, ...]`);
#   - on first start (no $PGDATA/PG_VERSION): initdb as superuser POSTGRES_USER (default
#     postgres) with password POSTGRES_PASSWORD and the options of POSTGRES_INITDB_ARGS
#     (split on spaces; no shell quoting), then `host all all all <method>` in pg_hba.conf,
#     method POSTGRES_HOST_AUTH_METHOD (default scram-sha-256; `trust` needs no password);
#     POSTGRES_DB (default POSTGRES_USER) is created when it is not `postgres`;
#   - any other command (`pg_isready`, `psql`, `sh`) runs as given.
# Not implemented, refused with an error instead of being ignored: running as root (there is
# no gosu: run as uid 999, as the manifests do), *_FILE secrets, POSTGRES_INITDB_WALDIR and
# /docker-entrypoint-initdb.d scripts (our roles and schemas come from the postgres-init Job).
set -Eeuo pipefail

die() {
  echo "docker-entrypoint: $1" >&2
  [ -z "${2:-}" ] || echo "docker-entrypoint: fix: $2" >&2
  exit 1
}

if [ "${1:0:1}" = - ]; then
  set -- postgres "$@"
fi
if [ "$1" != postgres ]; then
  exec "$@"
fi

[ "$(id -u)" != 0 ] || die "refusing to run PostgreSQL as root (this image has no user switch)" \
  "run as uid 999: docker run -u 999:999, or runAsUser: 999 in the pod"
getent passwd "$(id -u)" >/dev/null || die "uid $(id -u) has no passwd entry; initdb and postgres need one" \
  "run as uid 999 (user postgres of this image)"
for var in POSTGRES_PASSWORD_FILE POSTGRES_USER_FILE POSTGRES_DB_FILE POSTGRES_INITDB_WALDIR; do
  [ -z "${!var:-}" ] || die "$var is not supported by lakehouse/postgres" \
    "pass the value itself (POSTGRES_PASSWORD from a Secret), or use the official postgres image"
done
if [ -d /docker-entrypoint-initdb.d ] && [ -n "$(ls -A /docker-entrypoint-initdb.d)" ]; then
  die "/docker-entrypoint-initdb.d scripts are not run by lakehouse/postgres" \
    "run them from a Job after start (as k8s/base/postgres/postgres-init.yaml does)"
fi

: "${PGDATA:?PGDATA must name the data directory}"
POSTGRES_USER=${POSTGRES_USER:-postgres}
POSTGRES_DB=${POSTGRES_DB:-$POSTGRES_USER}
auth=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}

mkdir -p "$PGDATA" || die "cannot create PGDATA=$PGDATA as uid $(id -u)" \
  "make its parent writable for uid 999 (fsGroup: 999 in the pod, or chown the volume)"
chmod 700 "$PGDATA" 2>/dev/null || die "PGDATA=$PGDATA is not owned by uid $(id -u)" \
  "point PGDATA at a subdirectory of the volume (the official image's advice too), or chown it"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$auth" != trust ]; then
    die "the database is uninitialized and POSTGRES_PASSWORD is not set" \
      "set POSTGRES_PASSWORD (the manifests take it from lakehouse-secrets/POSTGRES_SUPERUSER_PASSWORD)"
  fi
  read -r -a initdb_args <<<"${POSTGRES_INITDB_ARGS:-}"
  echo "docker-entrypoint: initdb in $PGDATA (superuser $POSTGRES_USER)"
  initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "${POSTGRES_PASSWORD:-}") \
    "${initdb_args[@]}" -D "$PGDATA"
  printf '\nhost all all all %s\n' "$auth" >>"$PGDATA/pg_hba.conf"
  if [ "$POSTGRES_DB" != postgres ]; then
    # Single-user mode: no listener and no password round trip before the real start.
    printf 'CREATE DATABASE "%s";\n' "${POSTGRES_DB//\"/\"\"}" \
      | postgres --single -j -D "$PGDATA" postgres >/dev/null
    echo "docker-entrypoint: created database $POSTGRES_DB"
  fi
  echo "docker-entrypoint: initdb done; starting PostgreSQL"
fi

exec "$@"
