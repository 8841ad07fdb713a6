#!/bin/sh
# Run by the Job postgres-init (k8s/base/postgres). Idempotent: creates what is missing and
# sets every role's password from lakehouse-secrets. The users are the ones lakehouse-settings
# names (LAKEHOUSE_SOURCE_USER, LAKEHOUSE_SOURCE_CDC_USER, LAKEHOUSE_CATALOG_USER,
# LAKEHOUSE_SERVING_USER, LAKEHOUSE_SERVING_READER_USER), and source_reader, the read-only
# role flow-run pods check quality as.
set -eu
until pg_isready -q -h "$PGHOST" -p "$PGPORT"; do
  echo "waiting for PostgreSQL at $PGHOST:$PGPORT"
  sleep 2
done

PGPASSWORD="$POSTGRES_SUPERUSER_PASSWORD" psql -X -q -v ON_ERROR_STOP=1 -U postgres -d postgres \
  -v owner_pw="$LAKEHOUSE_SOURCE_PASSWORD" \
  -v cdc_pw="$LAKEHOUSE_SOURCE_CDC_PASSWORD" \
  -v catalog_pw="$LAKEHOUSE_CATALOG_PASSWORD" \
  -v serving_pw="$LAKEHOUSE_SERVING_PASSWORD" \
  -v reader_pw="$LAKEHOUSE_SERVING_READER_PASSWORD" \
  -v source_reader_pw="$SOURCE_READER_PASSWORD" <<'SQL'
SELECT format('CREATE ROLE %I', r) FROM unnest(ARRAY['lakehouse', 'debezium', 'lakehouse_catalog',
    'lakehouse_serving', 'serving_reader', 'source_reader']) AS r
  WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) \gexec
ALTER ROLE lakehouse WITH LOGIN PASSWORD :'owner_pw';
ALTER ROLE debezium WITH LOGIN REPLICATION PASSWORD :'cdc_pw';
ALTER ROLE lakehouse_catalog WITH LOGIN PASSWORD :'catalog_pw';
ALTER ROLE lakehouse_serving WITH LOGIN PASSWORD :'serving_pw';
ALTER ROLE serving_reader WITH LOGIN PASSWORD :'reader_pw';
ALTER ROLE source_reader WITH LOGIN PASSWORD :'source_reader_pw';
SELECT format('CREATE DATABASE %I OWNER %I', d, o)
  FROM (VALUES ('shop', 'lakehouse'), ('lakehouse_catalog', 'lakehouse_catalog'),
               ('lakehouse_serving', 'lakehouse_serving')) AS t(d, o)
  WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = d) \gexec
SQL

PGPASSWORD="$LAKEHOUSE_SOURCE_PASSWORD" psql -X -q -v ON_ERROR_STOP=1 -U lakehouse -d shop \
  -v cdc_user=debezium -v reader_user=source_reader \
  -f /init/10-shop-schema.sql -f /init/20-cdc-grants.sql -f /init/30-source-reader-grants.sql
PGPASSWORD="$LAKEHOUSE_SERVING_PASSWORD" psql -X -q -v ON_ERROR_STOP=1 -U lakehouse_serving -d lakehouse_serving \
  -v reader_user=serving_reader -f /init/serving-10-serving-store.sql
echo "postgres-init: roles, databases and schemas are in place"
