"""lake-maintenance against the real stack: compaction, checkpoint-preserving expiry, orphans, concurrent merges."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import boto3
import psycopg
import pytest
from cdc_merge.job import run_once
from lake_maintenance.job import run
from lakehouse.settings import Settings
from loadgen.workload import Workload
from spark_iceberg.conflicts import describe, is_conflict
from spark_iceberg.snapshot_offsets import committed_offsets
from spark_iceberg.tables import load_table

SHOP = ("shop.customers", "shop.products", "shop.orders", "shop.order_items")


@pytest.fixture
def maintenance_settings(stack: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A fresh Settings with LAKEHOUSE_FLOWS_* overrides (the session's cached settings stay untouched)."""

    def make(**flows: object) -> Settings:
        for name, value in flows.items():
            monkeypatch.setenv(f"LAKEHOUSE_FLOWS_{name.upper()}", str(value))
        return Settings()

    return make


def _specs(stack: Any) -> list[Any]:
    registry = stack.settings.registry()
    return [registry.by_source(t) for t in SHOP]


def _files(spark: Any, table: str) -> tuple[int, int]:
    """(data files, delete files) of the current snapshot, from the `files` metadata table."""
    rows = spark.sql(f"SELECT content, count(*) AS n FROM {table}.files GROUP BY content").collect()
    counts = {r["content"]: r["n"] for r in rows}
    return counts.get(0, 0), counts.get(1, 0) + counts.get(2, 0)


def _count(spark: Any, table: str) -> int:
    return int(spark.sql(f"SELECT count(*) AS n FROM {table}").collect()[0]["n"])


def _checkpoints(spark: Any, stack: Any) -> dict[tuple[str, str], Any]:
    """Every offset property the merge reads: silver and bronze per table, dead letters per topic."""
    registry = stack.settings.registry()
    out = {}
    for spec in _specs(stack):
        topic = registry.topic(spec)
        for table in (registry.silver(spec), registry.bronze(spec), registry.dead_letter):
            out[(table, topic)] = committed_offsets(spark, table, topic)
    return out


def _snapshot_ids(spark: Any, table: str) -> set[int]:
    return {int(r["snapshot_id"]) for r in spark.sql(f"SELECT snapshot_id FROM {table}.snapshots").collect()}


def _kafka_changes(spark: Any, stack: Any, topic: str, start: dict[int, int], end: dict[int, int]) -> int:
    """Non-tombstone records of `topic` in [start, end): what bronze must gain for that range."""
    fmt = lambda offs: json.dumps({topic: {str(p): o for p, o in offs.items()}})  # noqa: E731
    df = (
        spark.read.format("kafka")
        .option("kafka.bootstrap.servers", stack.settings.kafka.bootstrap_servers)
        .option("subscribe", topic)
        .option("startingOffsets", fmt(start))
        .option("endingOffsets", fmt(end))
        .load()
    )
    return int(df.where("value IS NOT NULL").count())


def _assert_no_duplicate_offsets(spark: Any, table: str) -> None:
    dup = spark.sql(
        f"SELECT topic, kafka_partition, kafka_offset, count(*) AS n FROM {table} GROUP BY 1, 2, 3 HAVING n > 1"
    ).collect()
    assert not dup, f"{table} holds Kafka records twice: {dup[:5]}"


def test_compaction_reduces_files_and_changes_no_rows(
    stack: Any, spark: Any, merge: Any, assert_equal: Any, maintenance_settings: Any
) -> None:
    # Several small merge batches with updates and deletes in between: many small data
    # files and position delete files (the silver tables are merge-on-read).
    for i in range(3):
        stack.workload(ops=150, seed=300 + i)
        merge(list(SHOP))
    registry = stack.settings.registry()
    silver = [registry.silver(s) for s in _specs(stack)]
    bronze = [registry.bronze(s) for s in _specs(stack)]
    before = {t: _files(spark, t) for t in silver}
    rows_before = {t: _count(spark, t) for t in silver + bronze}
    assert sum(d for d, _ in before.values()) > 2 * len(silver), before
    assert sum(x for _, x in before.values()) > 0, f"the workload made no delete files: {before}"

    results = run(spark, maintenance_settings(), print)  # every table, the dead letters too

    by_table = {r.table: r for r in results}
    assert registry.dead_letter in by_table
    after = {t: _files(spark, t) for t in silver}
    for t in silver:
        r = by_table[t]
        assert (r.data_files_before, r.delete_files_before) == before[t], (t, r)
        assert (r.data_files_after, r.delete_files_after) == after[t], (t, r)
        assert after[t][0] <= before[t][0], (t, before[t], after[t])
        assert after[t][1] <= before[t][1], (t, before[t], after[t])
    assert sum(d for d, _ in after.values()) < sum(d for d, _ in before.values()), (before, after)
    # Every position delete got applied: nothing merged concurrently.
    assert sum(x for _, x in after.values()) == 0, after
    assert {t: _count(spark, t) for t in silver + bronze} == rows_before
    assert_equal(*SHOP)


def test_expiry_keeps_the_merge_checkpoint_and_the_next_merge_reads_nothing_twice(
    stack: Any, spark: Any, merge: Any, assert_equal: Any, maintenance_settings: Any
) -> None:
    registry = stack.settings.registry()
    for i in range(2):
        stack.workload(ops=100, seed=400 + i)
        merge(list(SHOP))
    checkpoints = _checkpoints(spark, stack)
    assert all(checkpoints[(registry.silver(s), registry.topic(s))] for s in _specs(stack))

    # The harshest policy: expire everything older than now, keep one snapshot. Only the
    # checkpoint guard keeps the merge's offsets reachable.
    results = run(
        spark, maintenance_settings(snapshot_retention_hours=0, retain_last_snapshots=1), print, _specs(stack)
    )

    assert _checkpoints(spark, stack) == checkpoints
    orders = next(r for r in results if r.table == "default.silver.orders")
    assert orders.snapshots_expired > 0, orders
    remaining = _snapshot_ids(spark, "default.silver.orders")
    current = int(load_table(spark, "default.silver.orders").currentSnapshot().snapshotId())
    assert orders.checkpoint_snapshot in remaining
    # Compaction committed on top of the checkpoint snapshot, so retain_last=1 alone would
    # have expired it: the cutoff is what kept it.
    assert orders.checkpoint_snapshot != current and len(remaining) >= 2, (orders, remaining)

    bronze_before = {s.source: _count(spark, registry.bronze(s)) for s in _specs(stack)}
    stack.workload(ops=150, seed=450)
    merged = merge(list(SHOP))
    for spec in _specs(stack):
        topic = registry.topic(spec)
        start = checkpoints[(registry.silver(spec), topic)]
        first = next((r for r in merged if r.table == spec.source), None)
        if first is not None:
            assert first.start == start, f"{spec.source} did not resume from its checkpoint"
        end = committed_offsets(spark, registry.silver(spec), topic)
        assert end is not None
        new = _kafka_changes(spark, stack, topic, start, end)
        assert _count(spark, registry.bronze(spec)) == bronze_before[spec.source] + new, spec.source
        _assert_no_duplicate_offsets(spark, registry.bronze(spec))
    assert_equal(*SHOP)


def test_orphan_files_are_removed_only_when_old_enough(
    stack: Any, spark: Any, catalog: Any, assert_equal: Any, maintenance_settings: Any
) -> None:
    registry = stack.settings.registry()
    products = registry.by_source("shop.products")
    s3 = boto3.client(
        "s3",
        endpoint_url=stack.settings.s3.endpoint,
        region_name=stack.settings.s3.region,
        aws_access_key_id=stack.settings.s3.access_key_id,
        aws_secret_access_key=stack.settings.s3.secret_access_key.get_secret_value(),
    )
    location = catalog.load_table(products.iceberg).location()
    bucket, prefix = location.removeprefix("s3://").split("/", 1)
    key = f"{prefix}/data/00000-orphan-left-by-a-crashed-writer.parquet"
    s3.put_object(Bucket=bucket, Key=key, Body=b"not referenced by any snapshot")
    time.sleep(1.5)  # S3 modification times have second precision

    young = run(spark, maintenance_settings(), print, [products])  # default: 24 hours
    assert all(r.orphan_files_removed == 0 for r in young), young
    s3.head_object(Bucket=bucket, Key=key)

    old_enough = run(spark, maintenance_settings(orphan_min_age_hours=0), print, [products])
    silver = next(r for r in old_enough if r.kind == "silver")
    assert silver.orphan_files_removed >= 1, silver
    assert s3.list_objects_v2(Bucket=bucket, Prefix=key).get("KeyCount", 0) == 0
    assert_equal("shop.products")


def test_maintenance_while_merges_and_a_workload_run(
    stack: Any, spark: Any, merge: Any, assert_equal: Any, maintenance_settings: Any
) -> None:
    specs = _specs(stack)
    registry = stack.settings.registry()
    stop = threading.Event()
    errors: list[str] = []
    conflicts: list[str] = []
    batches: list[int] = []

    def load() -> None:
        try:
            with psycopg.connect(stack.settings.source.conninfo(), autocommit=True) as conn:
                wl = Workload(conn, seed=500)
                while not stop.is_set():
                    wl.run(ops=10, rate=40)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(f"workload: {exc!r}")

    def merging() -> None:
        # The merge job's own loop (stream mode), in-process so it shares nothing but the lake.
        while not stop.is_set():
            try:
                batches.append(len(run_once(spark, stack.settings, print, specs)))
            except Exception as exc:  # noqa: BLE001 - sorted below
                # A merge losing to a compaction commit must fail cleanly with a conflict.
                (conflicts if is_conflict(exc) else errors).append(f"merge: {describe(exc)}")
            time.sleep(0.5)

    workers = [threading.Thread(target=load), threading.Thread(target=merging)]
    for w in workers:
        w.start()
    try:
        time.sleep(10)
        results = []
        for _ in range(2):
            results += run(
                spark, maintenance_settings(snapshot_retention_hours=0, retain_last_snapshots=1), print, specs
            )
            time.sleep(3)
    finally:
        stop.set()
        for w in workers:
            w.join(timeout=600)
    print(f"{len(batches)} merge rounds, {len(conflicts)} clean conflicts: {conflicts[:3]}")
    assert not errors, errors
    assert batches, "the concurrent merge never completed a round"
    assert all(r.error is None for r in results)
    merge(list(SHOP))
    assert_equal(*SHOP)
    for spec in specs:
        _assert_no_duplicate_offsets(spark, registry.bronze(spec))
    _assert_no_duplicate_offsets(spark, registry.dead_letter)
