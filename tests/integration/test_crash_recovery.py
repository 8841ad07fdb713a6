"""Exactly-once effect (contract 4): kill the job at several points, re-run, nothing lost or doubled."""

import os
import signal
import subprocess
import time
import zlib
from typing import Any

import boto3
import psycopg
import pytest
from stackctl.ephemeral import BIN

from tests.lake_records import kafka_positions

TABLES = ("shop.orders", "shop.order_items")


def _merge_cmd(*extra: str) -> list[str]:
    cmd = ["lakehouse-merge", "once"]
    for t in TABLES:
        cmd += ["--table", t]
    return cmd + list(extra)


def _assert_no_duplicate_offsets(catalog: Any, table: str) -> None:
    keys = kafka_positions(catalog, table)
    assert len(keys) == len(set(keys)), f"{table} holds the same Kafka record twice"


@pytest.mark.parametrize("point", ["before-write", "after-bronze", "after-commit"])
def test_crash_at_a_fault_point_then_rerun(point: str, stack: Any, merge: Any, assert_equal: Any, catalog: Any) -> None:
    stack.workload(ops=400, seed=zlib.crc32(point.encode()))  # stable across runs, unlike hash()
    stack.wait_captured()
    crashed = stack.run(*_merge_cmd(), check=False, extra_env={"LAKEHOUSE_MERGE_FAULT_POINT": point})
    assert crashed.returncode == 86, f"the job did not stop at {point}: {crashed.stderr[-2000:]}"
    rerun = stack.run(*_merge_cmd("--output", "json"))
    assert rerun.returncode == 0
    merge(list(TABLES))
    assert_equal(*TABLES)
    for t in ("bronze.orders", "bronze.order_items", "ops.dead_letter"):
        _assert_no_duplicate_offsets(catalog, t)


def test_crash_after_data_files_are_written_before_the_catalog_commit(
    stack: Any, merge: Any, assert_equal: Any, catalog: Any
) -> None:
    stack.workload(ops=100, seed=6)
    merge(list(TABLES))
    stack.workload(ops=400, seed=7)
    stack.wait_captured()
    s3 = boto3.client(
        "s3",
        endpoint_url=stack.settings.s3.endpoint,
        region_name="us-east-1",
        aws_access_key_id=stack.settings.s3.access_key_id,
        aws_secret_access_key=stack.settings.s3.secret_access_key.get_secret_value(),
    )

    def data_files() -> int:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket="lake", Prefix="warehouse/silver/orders/data/")
        return sum(len(p.get("Contents", [])) for p in pages)

    snapshot_before = catalog.load_table("silver.orders").current_snapshot().snapshot_id
    files_before = data_files()
    cat = stack.settings.catalog
    with psycopg.connect(
        f"host={cat.host} port={cat.port} dbname={cat.database} user={cat.user} "
        f"password={cat.password.get_secret_value()}"
    ) as lock_conn:
        # Hold the catalog row of silver.orders: the job writes its data and delete files,
        # then blocks in the JDBC catalog's compare-and-swap UPDATE. Then it is killed.
        lock_conn.execute(
            "SELECT 1 FROM iceberg_tables WHERE table_namespace = 'silver' AND table_name = 'orders' FOR UPDATE"
        )
        proc = subprocess.Popen(
            [str(BIN / "lakehouse-merge"), "once", "--table", "shop.orders"],
            env=stack.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 180
            while True:
                with psycopg.connect(
                    stack.settings.source.conninfo().replace(
                        f"dbname={stack.settings.source.database}", f"dbname={cat.database}"
                    )
                ) as probe:
                    blocked = probe.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                        "AND query LIKE 'UPDATE iceberg_tables%'"
                    ).fetchone()[0]  # type: ignore[index]
                if blocked:
                    break
                assert proc.poll() is None, "the merge job ended before reaching its commit"
                assert time.monotonic() < deadline, "the merge job never reached its catalog commit"
                time.sleep(0.2)
            assert data_files() > files_before, "the job had not written data files before its commit"
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        # The dead job's catalog session still waits on the lock: PostgreSQL only notices a
        # vanished client when it next writes to it. End that session, as a crashed host
        # would, so the commit never happens. (Had it gone through, it would carry its
        # offsets with it and the re-run would skip the batch: also exactly once.)
        lock_conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE wait_event_type = 'Lock' AND query LIKE 'UPDATE iceberg_tables%'"
        )
        lock_conn.rollback()
    assert catalog.load_table("silver.orders").current_snapshot().snapshot_id == snapshot_before
    merge(list(TABLES))
    assert_equal(*TABLES)
    _assert_no_duplicate_offsets(catalog, "bronze.orders")
