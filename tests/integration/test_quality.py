"""Quality checks against a consistent point of the source, on the registry's shop tables.

Flow order as the `quality` flow runs it: snapshot -> wait until captured -> merge -> check.
The tampering test rolls the silver table back to its snapshot before the tampering.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from lakehouse.consistency import open_source_snapshot, wait_for_snapshot, xid32
from lakehouse.quality import QualityError, TableQuality, check_tables, raise_on_failure
from lakehouse.reconcile import diff_rows, lake_rows, read_source_rows
from lakehouse.registry import TableSpec
from loadgen.workload import Workload

SHOP = ("shop.customers", "shop.products", "shop.orders", "shop.order_items")


@pytest.fixture
def shop_specs(stack: Any) -> list[TableSpec]:
    registry = stack.settings.registry()
    return [registry.by_source(t) for t in SHOP]


@pytest.fixture
def seeded(stack: Any, request: pytest.FixtureRequest) -> Iterator[None]:
    """The shop tables hold data (other tests of the session may have filled them already)."""
    with psycopg.connect(stack.settings.source.conninfo(), autocommit=True) as conn:
        wl = Workload(conn, seed=zlib.crc32(request.node.name.encode()))
        wl.seed_if_empty(customers=60, products=30)
        wl.run(ops=300)
    yield


def _by_table(results: list[TableQuality]) -> dict[str, TableQuality]:
    return {r.table: r for r in results}


def test_every_check_passes_after_a_workload(
    stack: Any, merge: Any, catalog: Any, seeded: None, shop_specs: list[TableSpec]
) -> None:
    settings = stack.settings
    with open_source_snapshot(settings) as snap:
        wait_for_snapshot(settings, snap, timeout_s=120)
        merge(list(SHOP), wait=False)
        results = check_tables(settings, snap, shop_specs, catalog=catalog)
    raise_on_failure(results)
    for r in results:
        assert r.passed, r.problems
        assert r.source_rows == r.lake_rows > 0
        assert r.checksum_source == r.checksum_lake
        assert r.excluded_keys == 0, "nothing was written after the snapshot"
        assert r.duplicates == 0 and r.null_violations == 0
        current = catalog.load_table(r.silver_table.split(".", 1)[1]).current_snapshot()
        assert r.iceberg_snapshot_id == current.snapshot_id


def test_consistent_point_holds_while_writes_continue(
    stack: Any, merge: Any, catalog: Any, seeded: None, shop_specs: list[TableSpec]
) -> None:
    settings = stack.settings
    conninfo = settings.source.conninfo()
    merge(list(SHOP))  # start from a caught-up lake so the changes below are the only news
    cust = [r[0] for r in stack.sql("SELECT id FROM shop.customers ORDER BY id LIMIT 3")]
    item = stack.sql("SELECT order_id, line_no FROM shop.order_items ORDER BY order_id DESC, line_no DESC LIMIT 1")[0]
    stop = threading.Event()
    errors: list[BaseException] = []

    def load() -> None:
        try:
            with psycopg.connect(conninfo, autocommit=True) as conn:
                wl = Workload(conn, seed=7707)
                while not stop.is_set():
                    wl.run(ops=10, rate=50)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    # A transaction that is open across the snapshot: it wrote (has an xid) before, commits after.
    with psycopg.connect(conninfo) as open_tx:
        open_tx.execute("UPDATE shop.customers SET name = 'open across the snapshot' WHERE id = %s", (cust[0],))
        open_xid = int(open_tx.execute("SELECT txid_current()").fetchone()[0])  # type: ignore[index]
        worker = threading.Thread(target=load)
        try:
            with open_source_snapshot(settings) as snap:
                # in progress at the snapshot: in xip, or >= xmax (PostgreSQL sets xmax to the newest
                # completed xid + 1, so an older in-progress xid can lie beyond it)
                assert not snap.visible(open_xid)
                assert xid32(open_xid) in snap.xids.xip or xid32(open_xid) >= snap.xids.xmax
                worker.start()
                open_tx.commit()
                stack.sql("UPDATE shop.customers SET name = 'after the snapshot' WHERE id = %s", (cust[1],))
                stack.sql(
                    "UPDATE shop.order_items SET line_no = line_no + 1000 WHERE order_id = %s AND line_no = %s",
                    tuple(item),
                )  # a primary-key update: both keys change
                stack.sql(
                    "DELETE FROM shop.customers WHERE id = %s "
                    "AND NOT EXISTS (SELECT 1 FROM shop.orders WHERE customer_id = %s)",
                    (cust[2], cust[2]),
                )
                wait_for_snapshot(settings, snap, timeout_s=120)
                # one batch per table up to the high watermark: changes after the snapshot included,
                # while the workload keeps writing (so the lake cannot be "caught up")
                merge(list(SHOP), once=True)
                stop.set()
                worker.join()
                assert not errors, errors
                results = _by_table(check_tables(settings, snap, shop_specs, catalog=catalog))
                # the lake really is ahead of the snapshot for some keys: a plain comparison would fail
                spec = shop_specs[0]
                _, src = read_source_rows(snap.conn, spec)
                plain = diff_rows(
                    spec.source, {(r["id"],): r for r in src}, lake_rows(catalog.load_table(spec.iceberg), spec)
                )
                assert not plain.equal
        finally:
            stop.set()
            if worker.is_alive():
                worker.join()
    raise_on_failure(list(results.values()))
    assert results["shop.customers"].excluded_keys >= 2
    assert results["shop.order_items"].excluded_keys >= 2
    assert sum(r.excluded_keys for r in results.values()) > 0
    merge(list(SHOP))  # leave the lake caught up for the tests after this one


def test_tampered_silver_fails_naming_table_and_keys(
    stack: Any, merge: Any, catalog: Any, spark: Any, seeded: None, shop_specs: list[TableSpec]
) -> None:
    settings = stack.settings
    merge(list(SHOP))
    spec = shop_specs[0]  # shop.customers
    silver = stack.settings.registry().silver(spec)
    before = catalog.load_table(spec.iceberg).current_snapshot().snapshot_id
    ids = [r[0] for r in stack.sql("SELECT id FROM shop.customers ORDER BY id DESC LIMIT 3")]
    changed, duplicated, deleted = ids
    quoted = ".".join(f"`{p}`" for p in silver.split("."))
    catalog_name = silver.split(".")[0]
    try:
        spark.sql(f"UPDATE {quoted} SET name = 'tampered' WHERE id = {changed}")
        spark.sql(f"INSERT INTO {quoted} SELECT * FROM {quoted} WHERE id = {duplicated}")
        spark.sql(f"DELETE FROM {quoted} WHERE id = {deleted}")
        tampered = catalog.load_table(spec.iceberg).current_snapshot().snapshot_id
        with open_source_snapshot(settings) as snap:
            wait_for_snapshot(settings, snap, timeout_s=120)
            results = _by_table(check_tables(settings, snap, shop_specs, catalog=catalog))
        bad = results["shop.customers"]
        assert not bad.passed
        assert bad.iceberg_snapshot_id == tampered
        assert bad.duplicates == 1
        assert bad.source_rows == bad.lake_rows  # one row more, one row less
        assert bad.checksum_source != bad.checksum_lake
        # three keys changed: at most three of the key buckets differ, each looked at key by key
        assert 1 <= bad.buckets_differing == bad.buckets_examined <= 3
        text = "\n".join(bad.problems)
        assert f"missing in silver: {deleted}" in text
        assert f"changed: {changed}.name" in text and "'tampered'" in text
        assert f"1 duplicate primary key(s) in silver: {duplicated}" in text
        assert all(results[t].passed for t in SHOP if t != "shop.customers"), results
        with pytest.raises(QualityError) as info:
            raise_on_failure(list(results.values()))
        msg = str(info.value)
        assert "shop.customers" in msg and str(changed) in msg and str(duplicated) in msg and str(deleted) in msg
        assert "shop.orders" not in msg
    finally:
        spark.sql(f"CALL `{catalog_name}`.system.rollback_to_snapshot('{spec.iceberg}', {before})")
    with open_source_snapshot(settings) as snap:
        wait_for_snapshot(settings, snap, timeout_s=120)
        restored = check_tables(settings, snap, [spec], catalog=catalog)
    raise_on_failure(restored)
    assert restored[0].iceberg_snapshot_id == before


def test_null_in_a_not_null_column_is_reported(
    stack: Any, merge: Any, catalog: Any, spark: Any, seeded: None, shop_specs: list[TableSpec]
) -> None:
    settings = stack.settings
    merge(list(SHOP))
    spec = shop_specs[1]  # shop.products: name is NOT NULL at the source
    silver = settings.registry().silver(spec)
    quoted = ".".join(f"`{p}`" for p in silver.split("."))
    before = catalog.load_table(spec.iceberg).current_snapshot().snapshot_id
    pid = stack.sql("SELECT min(id) FROM shop.products")[0][0]
    try:
        spark.sql(f"UPDATE {quoted} SET name = NULL WHERE id = {pid}")
        with open_source_snapshot(settings) as snap:
            wait_for_snapshot(settings, snap, timeout_s=120)
            result = check_tables(settings, snap, [spec], catalog=catalog)[0]
    finally:
        spark.sql(f"CALL `{silver.split('.')[0]}`.system.rollback_to_snapshot('{spec.iceberg}', {before})")
    assert not result.passed and result.null_violations == 1
    text = "\n".join(result.problems)
    assert f"null value(s) in NOT NULL columns of silver: {pid}.name" in text, text
