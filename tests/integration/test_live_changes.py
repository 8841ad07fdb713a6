"""Changes to the running platform: a table added to the registry, Connect and Kafka restarts."""

import threading
import time
from typing import Any

import psycopg
from loadgen.workload import Workload

from tests.integration.conftest import LAB_TABLES

SHOP = ("shop.customers", "shop.products", "shop.orders", "shop.order_items")


def _pids(stack: Any) -> dict[str, str]:
    run = stack.root / "state" / "run"
    return {p.stem: p.read_text().strip() for p in run.glob("*.pid")}


def _converge(stack: Any, merge: Any, assert_equal: Any, tables: tuple[str, ...], timeout_s: float = 180) -> None:
    """Merge until the tables equal PostgreSQL (an incremental snapshot finishes in the background)."""
    deadline = time.monotonic() + timeout_s
    while True:
        merge(list(tables))
        try:
            assert_equal(*tables)
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(3)


def test_table_added_to_the_registry_while_the_workload_runs(stack: Any, merge: Any, assert_equal: Any) -> None:
    stack.sql("INSERT INTO lab.late SELECT g, 'v' || g, g FROM generate_series(1, 3000) g")
    pids = _pids(stack)
    stop = threading.Event()

    def churn() -> None:
        with psycopg.connect(stack.settings.source.conninfo(), autocommit=True) as conn:
            i = 0
            while not stop.is_set():
                i += 1
                conn.execute("UPDATE lab.late SET n = n + 1, v = 'u' || %s WHERE id = %s", (i, i * 7 % 3000 + 1))
                conn.execute("INSERT INTO lab.late VALUES (%s, 'new', 0) ON CONFLICT (id) DO NOTHING", (3000 + i,))
                if i % 5 == 0:
                    conn.execute("DELETE FROM lab.late WHERE id = %s", (i * 13 % 3000 + 1,))
                time.sleep(0.01)

    worker = threading.Thread(target=churn)
    worker.start()
    try:
        time.sleep(2)
        stack.set_registry_tables(
            [*LAB_TABLES, {"source": "lab.late", "primary_key": ["id"], "iceberg": "silver.late"}]
        )
        applied = stack.run("lakehouse-connectors", "apply")
        assert "requested incremental snapshot" in applied.stdout and "lab.late" in applied.stdout
        # apply follows the snapshot until Debezium reports every table read
        assert "snapshot complete: lab.late SUCCEEDED" in applied.stdout, applied.stdout
        time.sleep(5)
    finally:
        stop.set()
        worker.join()
    _converge(stack, merge, assert_equal, ("lab.late",))
    assert _pids(stack) == pids, "adding a table restarted a component"


def test_connect_and_kafka_restarts_mid_stream_lose_nothing(stack: Any, merge: Any, assert_equal: Any) -> None:
    stop = threading.Event()
    errors: list[BaseException] = []

    def load() -> None:
        try:
            with psycopg.connect(stack.settings.source.conninfo(), autocommit=True) as conn:
                wl = Workload(conn, seed=99)
                wl.seed_if_empty()
                while not stop.is_set():
                    wl.run(ops=20, rate=100)
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)

    worker = threading.Thread(target=load)
    worker.start()
    try:
        time.sleep(3)
        stack.run("lakehouse-stack", "down", "--only", "connect")
        time.sleep(2)
        stack.run("lakehouse-stack", "up", "--only", "connect")
        time.sleep(3)
        merge(list(SHOP), wait=False, once=True)  # a batch while the stream still flows
        stack.run("lakehouse-stack", "down", "--only", "kafka")
        time.sleep(2)
        stack.run("lakehouse-stack", "up", "--only", "kafka")
        time.sleep(5)
    finally:
        stop.set()
        worker.join()
    assert not errors, errors
    stack.run("lakehouse-connectors", "status")
    merge(list(SHOP))
    assert_equal(*SHOP)
