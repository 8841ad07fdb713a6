-- The read-only role of the quality checks (psql variable :reader_user), where a deploy has
-- one (the cluster: postgres-init passes reader_user=source_reader; the local stack's flows
-- read as the owner and pass none). Runs as the owner role, which owns the schemas.
\if :{?reader_user}
GRANT USAGE ON SCHEMA shop TO :"reader_user";
GRANT SELECT ON ALL TABLES IN SCHEMA shop TO :"reader_user";
ALTER DEFAULT PRIVILEGES IN SCHEMA shop GRANT SELECT ON TABLES TO :"reader_user";
\endif
