#!/bin/sh
# Run by the Job postgres-init (k8s/base/postgres). Idempotent: creates what is missing and
# sets every role's password from lakehouse-secrets. The users are the ones lakehouse-settings
# names (LAKEHOUSE_SOURCE_USER, LAKEHOUSE_SOURCE_CDC_USER), and source_reader, the read-only
# role flow-run pods check quality as. The catalog and serving store live in their own server
# (k8s/base/lakehouse-db).
set -eu
until pg_isready -q -h "$PGHOST" -p "$PGPORT"; do
  echo "waiting for PostgreSQL at $PGHOST:$PGPORT"
  sleep 2
done

PGPASSWORD="$POSTGRES_SUPERUSER_PASSWORD" psql -X -q -v ON_ERROR_STOP=1 -U postgres -d postgres \
  -v owner_pw="$LAKEHOUSE_SOURCE_PASSWORD" \
  -v cdc_pw="$LAKEHOUSE_SOURCE_CDC_PASSWORD" \
  -v source_reader_pw="$SOURCE_READER_PASSWORD" <<'SQL'
SELECT format('CREATE ROLE %I', r) FROM unnest(ARRAY['lakehouse', 'debezium', 'source_reader']) AS r
  WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) \gexec
ALTER ROLE lakehouse WITH LOGIN PASSWORD :'owner_pw';
ALTER ROLE debezium WITH LOGIN REPLICATION PASSWORD :'cdc_pw';
ALTER ROLE source_reader WITH LOGIN PASSWORD :'source_reader_pw';
SELECT format('CREATE DATABASE %I OWNER %I', d, o)
  FROM (VALUES ('shop', 'lakehouse')) AS t(d, o)
  WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = d) \gexec
SQL

PGPASSWORD="$LAKEHOUSE_SOURCE_PASSWORD" psql -X -q -v ON_ERROR_STOP=1 -U lakehouse -d shop \
  -v cdc_user=debezium -v reader_user=source_reader \
  -f /init/10-shop-schema.sql -f /init/20-cdc-grants.sql -f /init/30-source-reader-grants.sql
echo "postgres-init: the source's roles, database and schema are in place"
