-- The demo OLTP schema `shop` (source of the CDC pipeline). Idempotent.
-- Runs as the owner role; 20-cdc-grants.sql gives the replication role what Debezium needs.
CREATE SCHEMA IF NOT EXISTS shop;

CREATE TABLE IF NOT EXISTS shop.customers (
    id          bigserial PRIMARY KEY,
    email       text        NOT NULL UNIQUE,
    name        text        NOT NULL,
    country     char(2)     NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS shop.products (
    id          bigserial PRIMARY KEY,
    sku         varchar(32)    NOT NULL UNIQUE,
    name        text           NOT NULL,
    price       numeric(12, 2) NOT NULL CHECK (price >= 0),
    active      boolean        NOT NULL DEFAULT true,
    attributes  jsonb          NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz    NOT NULL DEFAULT now(),
    updated_at  timestamptz    NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS shop.orders (
    id           bigserial PRIMARY KEY,
    customer_id  bigint      NOT NULL REFERENCES shop.customers (id),
    status       text        NOT NULL DEFAULT 'new'
                 CHECK (status IN ('new', 'paid', 'shipped', 'cancelled')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS shop.order_items (
    order_id    bigint         NOT NULL REFERENCES shop.orders (id) ON DELETE CASCADE,
    line_no     integer        NOT NULL,
    product_id  bigint         NOT NULL REFERENCES shop.products (id),
    quantity    integer        NOT NULL CHECK (quantity > 0),
    unit_price  numeric(12, 2) NOT NULL,
    PRIMARY KEY (order_id, line_no)
);

CREATE INDEX IF NOT EXISTS orders_customer_idx ON shop.orders (customer_id);
