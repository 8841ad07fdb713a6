#!/bin/sh
# Run by the Job lakehouse-db-init (k8s/base/lakehouse-db). Idempotent: creates what is
# missing and sets every role's password from lakehouse-secrets. The roles are the ones
# lakehouse-settings names (LAKEHOUSE_CATALOG_USER, LAKEHOUSE_SERVING_USER,
# LAKEHOUSE_SERVING_READER_USER) and `prefect`, the Prefect server's.
set -eu
until pg_isready -q -h "$PGHOST" -p "$PGPORT"; do
  echo "waiting for PostgreSQL at $PGHOST:$PGPORT"
  sleep 2
done

PGPASSWORD="$PLATFORM_DB_SUPERUSER_PASSWORD" psql -X -q -v ON_ERROR_STOP=1 -U postgres -d postgres \
  -v catalog_pw="$LAKEHOUSE_CATALOG_PASSWORD" \
  -v serving_pw="$LAKEHOUSE_SERVING_PASSWORD" \
  -v reader_pw="$LAKEHOUSE_SERVING_READER_PASSWORD" \
  -v prefect_pw="$PREFECT_DB_PASSWORD" <<'SQL'
SELECT format('CREATE ROLE %I', r) FROM unnest(ARRAY['lakehouse_catalog', 'lakehouse_serving',
    'serving_reader', 'prefect']) AS r
  WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) \gexec
ALTER ROLE lakehouse_catalog WITH LOGIN PASSWORD :'catalog_pw';
ALTER ROLE lakehouse_serving WITH LOGIN PASSWORD :'serving_pw';
ALTER ROLE serving_reader WITH LOGIN PASSWORD :'reader_pw';
ALTER ROLE prefect WITH LOGIN PASSWORD :'prefect_pw';
SELECT format('CREATE DATABASE %I OWNER %I', d, o)
  FROM (VALUES ('lakehouse_catalog', 'lakehouse_catalog'), ('lakehouse_serving', 'lakehouse_serving'),
               ('prefect', 'prefect')) AS t(d, o)
  WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = d) \gexec
SQL

PGPASSWORD="$LAKEHOUSE_SERVING_PASSWORD" psql -X -q -v ON_ERROR_STOP=1 -U lakehouse_serving -d lakehouse_serving \
  -v reader_user=serving_reader -f /init/serving-10-serving-store.sql
echo "lakehouse-db-init: roles, databases and the serving schema are in place"
