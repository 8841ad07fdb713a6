-- Tables of the integration tests (schema `lab`), registered in the tests' own registry.
CREATE SCHEMA IF NOT EXISTS lab;
GRANT USAGE ON SCHEMA lab TO debezium;
ALTER DEFAULT PRIVILEGES IN SCHEMA lab GRANT SELECT ON TABLES TO debezium;

CREATE TABLE IF NOT EXISTS lab.all_types (
    id integer PRIMARY KEY,
    c_smallint smallint, c_integer integer, c_bigint bigint, c_numeric numeric(12, 2),
    c_real real, c_double double precision, c_text text, c_varchar varchar(40), c_boolean boolean,
    c_date date, c_timestamp timestamp, c_timestamptz timestamptz, c_uuid uuid, c_jsonb jsonb, c_bytea bytea
);
-- EXTERNAL: large values are stored out of line uncompressed, so they really are TOASTed.
CREATE TABLE IF NOT EXISTS lab.documents (id integer PRIMARY KEY, title text, body text, blob bytea, version integer);
ALTER TABLE lab.documents ALTER COLUMN body SET STORAGE EXTERNAL;
ALTER TABLE lab.documents ALTER COLUMN blob SET STORAGE EXTERNAL;
CREATE TABLE IF NOT EXISTS lab.evolving (id integer PRIMARY KEY, name text, qty integer, amount numeric(10, 2));
CREATE TABLE IF NOT EXISTS lab.breaking (id integer PRIMARY KEY, note text);
CREATE TABLE IF NOT EXISTS lab.bystander (id integer PRIMARY KEY, v text);
CREATE TABLE IF NOT EXISTS lab.events (id bigint PRIMARY KEY, kind text NOT NULL, created_at timestamptz NOT NULL);
CREATE TABLE IF NOT EXISTS lab.keys (id integer PRIMARY KEY, v text);
CREATE TABLE IF NOT EXISTS lab.shifting (id integer PRIMARY KEY, v text);
-- Keys that mostly grow: batches whose keys silver cannot hold are appended (test_silver_append.py).
CREATE TABLE IF NOT EXISTS lab.growing (id bigint PRIMARY KEY, v text, n integer);
-- Not in the registry at start: a test adds it while a workload runs.
CREATE TABLE IF NOT EXISTS lab.late (id integer PRIMARY KEY, v text, n integer);
GRANT SELECT ON ALL TABLES IN SCHEMA lab TO debezium;
-- TOASTed values of every toastable type, stored out of line uncompressed (EXTERNAL), under
-- single and composite keys: primary-key updates must carry them (test_toast_and_keys.py).
CREATE TABLE IF NOT EXISTS lab.toasty (
    id integer PRIMARY KEY, title text, body text, note varchar(20000), blob bytea, doc jsonb,
    tags text[], nums integer[], version integer
);
CREATE TABLE IF NOT EXISTS lab.toasty_pairs (region text, id integer, body text, blob bytea, version integer,
                                             PRIMARY KEY (region, id));
DO $$
DECLARE c text;
BEGIN
    FOREACH c IN ARRAY ARRAY['body', 'note', 'blob', 'doc', 'tags', 'nums'] LOOP
        EXECUTE format('ALTER TABLE lab.toasty ALTER COLUMN %I SET STORAGE EXTERNAL', c);
    END LOOP;
    ALTER TABLE lab.toasty_pairs ALTER COLUMN body SET STORAGE EXTERNAL;
    ALTER TABLE lab.toasty_pairs ALTER COLUMN blob SET STORAGE EXTERNAL;
END $$;
GRANT SELECT ON ALL TABLES IN SCHEMA lab TO debezium;
-- Values with no obvious Iceberg form: each is kept exactly by one documented rule or
-- dead-lettered with its reason (test_value_fidelity.py, docs/merge-semantics.md).
DO $$ BEGIN
    CREATE TYPE lab.mood AS ENUM ('happy', 'sad');
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;
CREATE TABLE IF NOT EXISTS lab.edge_values (
    id integer PRIMARY KEY, t time, m money, ints integer[], texts text[], blobs bytea[], mood lab.mood,
    iv interval, n numeric, dn numeric(10, 2), d date, ts timestamp, tz timestamptz, dates date[], uuids uuid[]
);
GRANT SELECT ON ALL TABLES IN SCHEMA lab TO debezium;
-- Dropped and re-created by a test (test_capture.py).
CREATE TABLE IF NOT EXISTS lab.phoenix (id integer PRIMARY KEY, v text);
GRANT SELECT ON ALL TABLES IN SCHEMA lab TO debezium;
-- Its topic loses records to "retention" before they are merged (test_retention_gap.py).
CREATE TABLE IF NOT EXISTS lab.gappy (id integer PRIMARY KEY, v text);
GRANT SELECT ON ALL TABLES IN SCHEMA lab TO debezium;
