"""The gold definitions (services/spark-jobs/gold/definitions.py), written independently in
PostgreSQL's SQL: what the serving API must answer, computed from the source database."""

PG_COUNTED = """
    WITH v AS (SELECT order_id, sum(quantity * unit_price) AS value FROM shop.order_items GROUP BY order_id)
    SELECT o.id, o.customer_id, o.created_at, coalesce(v.value, 0) AS value
    FROM shop.orders o LEFT JOIN v ON v.order_id = o.id WHERE o.status <> 'cancelled'
"""
PG_DAILY = f"""
    SELECT (created_at AT TIME ZONE 'UTC')::date AS day, count(*), sum(value)
    FROM ({PG_COUNTED}) c GROUP BY 1 ORDER BY 1
"""
PG_CUSTOMERS = f"""
    SELECT cu.id, cu.email, count(c.id), coalesce(sum(c.value), 0), min(c.created_at), max(c.created_at)
    FROM shop.customers cu LEFT JOIN ({PG_COUNTED}) c ON c.customer_id = cu.id GROUP BY cu.id, cu.email
"""
