"""The gold tables: business aggregates over the demo `shop` silver tables, as Spark SQL.

An order counts unless its status is `cancelled`; its value is the sum of
quantity * unit_price over its items (0 without items); dates are UTC dates of
orders.created_at (the Spark session runs in UTC).
"""

from __future__ import annotations

from dataclasses import dataclass

# Inputs by source table; the gold SQL names them {customers}, {orders}, {order_items}.
INPUTS = {"customers": "shop.customers", "orders": "shop.orders", "order_items": "shop.order_items"}

_COUNTED_ORDERS = """
    SELECT o.id, o.customer_id, o.created_at, CAST(COALESCE(v.value, 0) AS DECIMAL(20, 2)) AS value
    FROM {orders} o
    LEFT JOIN (SELECT order_id, SUM(quantity * unit_price) AS value FROM {order_items} GROUP BY order_id) v
      ON v.order_id = o.id
    WHERE o.status IS DISTINCT FROM 'cancelled'
"""


@dataclass(frozen=True)
class GoldTable:
    """One gold table: its name in the gold namespace, its SQL and the serving table it feeds."""

    name: str
    sql: str
    serving_table: str
    key: tuple[str, ...]


GOLD_TABLES = (
    GoldTable(
        name="daily_revenue",
        sql=f"""
            WITH counted AS ({_COUNTED_ORDERS})
            SELECT to_date(created_at) AS day, COUNT(*) AS orders,
                   CAST(SUM(value) AS DECIMAL(20, 2)) AS revenue
            FROM counted GROUP BY to_date(created_at)
        """,
        serving_table="serving.daily_revenue",
        key=("day",),
    ),
    GoldTable(
        name="customer_lifetime",
        sql=f"""
            WITH counted AS ({_COUNTED_ORDERS})
            SELECT c.id AS customer_id, c.email, c.name, c.country, c.created_at, c.updated_at,
                   COUNT(k.id) AS orders,
                   CAST(COALESCE(SUM(k.value), 0) AS DECIMAL(20, 2)) AS lifetime_value,
                   MIN(k.created_at) AS first_order_at, MAX(k.created_at) AS last_order_at
            FROM {{customers}} c LEFT JOIN counted k ON k.customer_id = c.id
            GROUP BY c.id, c.email, c.name, c.country, c.created_at, c.updated_at
        """,
        serving_table="serving.customer_lifetime",
        key=("customer_id",),
    ),
)
