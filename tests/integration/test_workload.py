"""A random multi-table workload through the whole path: every silver table equals PostgreSQL."""

from typing import Any

import psycopg
from loadgen.workload import Workload

SHOP = ("shop.customers", "shop.products", "shop.orders", "shop.order_items")


def test_random_workload_of_ten_thousand_changes(stack: Any, merge: Any, assert_equal: Any, catalog: Any) -> None:
    with psycopg.connect(stack.settings.source.conninfo(), autocommit=True) as conn:
        wl = Workload(conn, seed=20261123)
        wl.seed(customers=100, products=50)
        stats = wl.run(ops=5200)
    assert stats.ops["delete_cancelled_order"] > 0 and stats.ops["ship_order"] > 0
    results = merge(list(SHOP))
    records = sum(r.records for r in results)
    assert records >= 10_000, f"workload produced only {records} change events"
    assert sum(r.deletes for r in results) > 0
    assert_equal(*SHOP)
    # bronze is an exact change log: one row per Kafka record, no duplicates
    for source in SHOP:
        bronze = (
            catalog.load_table(f"bronze.{source.split('.')[1]}")
            .scan(selected_fields=("kafka_partition", "kafka_offset"))
            .to_arrow()
        )
        offsets = list(zip(bronze["kafka_partition"].to_pylist(), bronze["kafka_offset"].to_pylist(), strict=True))
        assert len(offsets) == len(set(offsets)), f"duplicate offsets in bronze of {source}"
    # a second run finds nothing new and changes nothing
    assert merge(list(SHOP)) == []


def test_workloads_with_the_same_seed_share_one_database(stack: Any) -> None:
    # The seed repeats the operations, not the unique values: a second run of the same seed on the
    # same database must not collide on customers.email or products.sku (it once failed CI).
    with psycopg.connect(stack.settings.source.conninfo(), autocommit=True) as conn:
        for _ in range(2):
            Workload(conn, seed=1).seed(customers=5, products=5)
        emails, skus = conn.execute(
            "SELECT (SELECT count(DISTINCT email) FROM shop.customers WHERE email LIKE 'user%%'),"
            " (SELECT count(DISTINCT sku) FROM shop.products)"
        ).fetchone()  # type: ignore[misc]
    assert emails >= 10 and skus >= 10
