-- The serving store: gold tables as published for the serving API (flows: gold-and-serve).
-- Run by the publishing role (the owner) in the serving database; idempotent.
-- psql variable: reader_user, the read-only role the serving API connects as.
--
-- A refresh replaces a table's rows and its `publications` row in one transaction, so a
-- reader sees either the previous refresh or the new one, never a mix.

CREATE SCHEMA IF NOT EXISTS serving;

CREATE TABLE IF NOT EXISTS serving.daily_revenue (
    day         date PRIMARY KEY,              -- UTC date of orders.created_at
    orders      bigint NOT NULL,               -- counted (not cancelled) orders
    revenue     numeric(20, 2) NOT NULL        -- sum of quantity * unit_price of their items
);

CREATE TABLE IF NOT EXISTS serving.customer_lifetime (
    customer_id     bigint PRIMARY KEY,
    email           text,
    name            text,
    country         text,
    created_at      timestamptz,
    updated_at      timestamptz,
    orders          bigint NOT NULL,           -- counted orders
    lifetime_value  numeric(20, 2) NOT NULL,
    first_order_at  timestamptz,               -- first and last counted order (null: none)
    last_order_at   timestamptz
);

-- One row per gold table: what was published when, and how fresh its source was.
CREATE TABLE IF NOT EXISTS serving.publications (
    gold_table      text PRIMARY KEY,          -- e.g. gold.daily_revenue
    published_at    timestamptz NOT NULL,
    watermark       timestamptz,               -- every source change committed before this is included
    row_count       bigint NOT NULL,
    snapshot_id     bigint                     -- Iceberg snapshot of the gold table that was published
);

GRANT USAGE ON SCHEMA serving TO :"reader_user";
GRANT SELECT ON ALL TABLES IN SCHEMA serving TO :"reader_user";
ALTER DEFAULT PRIVILEGES IN SCHEMA serving GRANT SELECT ON TABLES TO :"reader_user";
