-- What the replication role (psql variable :cdc_user) may do, and no more:
-- stream changes (REPLICATION, granted at role creation), read the captured
-- schemas for snapshots, and write the two Debezium bookkeeping tables.
-- Runs as the owner role, which owns the schemas and the publication.
CREATE SCHEMA IF NOT EXISTS lakehouse_cdc;

-- Debezium source signalling channel: incremental snapshots of newly added tables.
CREATE TABLE IF NOT EXISTS lakehouse_cdc.debezium_signal (
    id    varchar(64) PRIMARY KEY,
    type  varchar(32) NOT NULL,
    data  text
);
-- Written by heartbeat.action.query, so the slot advances while captured tables are idle.
CREATE TABLE IF NOT EXISTS lakehouse_cdc.heartbeat (
    id  integer PRIMARY KEY,
    ts  timestamptz NOT NULL
);

GRANT USAGE ON SCHEMA shop, lakehouse_cdc TO :"cdc_user";
GRANT SELECT ON ALL TABLES IN SCHEMA shop TO :"cdc_user";
ALTER DEFAULT PRIVILEGES IN SCHEMA shop GRANT SELECT ON TABLES TO :"cdc_user";
GRANT SELECT, INSERT, UPDATE, DELETE ON lakehouse_cdc.debezium_signal, lakehouse_cdc.heartbeat TO :"cdc_user";
