"""Fixtures that start the real local stack once per session, in a temporary directory on free
ports (so a developer's own `make up` stack is untouched), and stop and delete it afterwards."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from lakehouse.settings import Settings, get_settings
from soak.workload import DDL as SOAK_DDL
from soak.workload import TABLES as SOAK_TABLES
from stackctl.ephemeral import ephemeral_stack, run_tool

REPO = Path(__file__).resolve().parents[2]
LAB_TABLES = [
    {"source": "lab.all_types", "primary_key": ["id"], "iceberg": "silver.all_types"},
    {"source": "lab.documents", "primary_key": ["id"], "iceberg": "silver.documents"},
    {"source": "lab.evolving", "primary_key": ["id"], "iceberg": "silver.evolving"},
    {"source": "lab.breaking", "primary_key": ["id"], "iceberg": "silver.breaking"},
    {"source": "lab.bystander", "primary_key": ["id"], "iceberg": "silver.bystander"},
    {"source": "lab.events", "primary_key": ["id"], "iceberg": "silver.events", "partition_by": ["days(created_at)"]},
    {"source": "lab.keys", "primary_key": ["id"], "iceberg": "silver.keys"},
    {"source": "lab.growing", "primary_key": ["id"], "iceberg": "silver.growing"},
    {"source": "lab.shifting", "primary_key": ["id"], "iceberg": "silver.shifting"},
    {"source": "lab.toasty", "primary_key": ["id"], "iceberg": "silver.toasty"},
    {"source": "lab.toasty_pairs", "primary_key": ["region", "id"], "iceberg": "silver.toasty_pairs"},
    {"source": "lab.edge_values", "primary_key": ["id"], "iceberg": "silver.edge_values"},
    {"source": "lab.phoenix", "primary_key": ["id"], "iceberg": "silver.phoenix"},
    {"source": "lab.gappy", "primary_key": ["id"], "iceberg": "silver.gappy"},
    *SOAK_TABLES,  # the short soak round (test_soak.py) runs on this stack too
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)
    # The soak kills and restarts components of the shared stack: it runs after everything else.
    items.sort(key=lambda item: item.fspath.basename == "test_soak.py")


@dataclass
class LocalStack:
    """Handle on the running test stack."""

    root: Path
    env: dict[str, str]
    registry_path: Path

    def run(
        self,
        *argv: str,
        check: bool = True,
        timeout: float = 600,
        extra_env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run one of the platform's commands (from .venv/bin) with the stack's environment."""
        try:
            return run_tool({**self.env, **(extra_env or {})}, *argv, check=check, timeout=timeout)
        except RuntimeError as exc:
            raise AssertionError(str(exc)) from exc

    @property
    def settings(self) -> Settings:
        return get_settings()

    def sql(self, statement: str, params: tuple[Any, ...] | None = None) -> list[tuple[Any, ...]]:
        """Run SQL on the source database as the owner role (autocommit)."""
        with psycopg.connect(self.settings.source.conninfo(), autocommit=True) as conn:
            cur = conn.execute(statement, params)  # type: ignore[arg-type]
            return list(cur.fetchall()) if cur.description else []

    def workload(self, ops: int, seed: int) -> None:
        """Run `ops` shop workload operations (seeding customers and products first if empty)."""
        from loadgen.workload import Workload

        with psycopg.connect(self.settings.source.conninfo(), autocommit=True) as conn:
            wl = Workload(conn, seed=seed)
            wl.seed_if_empty()
            wl.run(ops=ops)

    def set_registry_tables(self, tables: list[dict[str, Any]]) -> None:
        data = yaml.safe_load((REPO / "config" / "tables.yaml").read_text())
        data["tables"] = data["tables"] + tables
        self.registry_path.write_text(yaml.safe_dump(data, sort_keys=False))
        from lakehouse import settings as settings_module

        settings_module._registry.cache_clear()

    def wait_captured(self, timeout_s: float = 120) -> None:
        from connector_config.slot import wait_until_captured

        wait_until_captured(self.settings.source.conninfo(), self.settings.registry().cdc.slot, timeout_s=timeout_s)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    missing = [tool for tool in ("java", "psql") if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} not installed: run `make setup` (make test does this first)")
    root = tmp_path_factory.mktemp("stack")
    handle = LocalStack(root, {}, root / "tables.yaml")
    handle.set_registry_tables(LAB_TABLES)
    saved = dict(os.environ)
    started = time.monotonic()
    fast = {
        "LAKEHOUSE_CONNECT_HEARTBEAT_INTERVAL_MS": "1000",
        "LAKEHOUSE_MERGE_SPARK_MASTER": "local[2]",
        "LAKEHOUSE_MERGE_SHUFFLE_PARTITIONS": "2",
        # Flow runs start only when a test starts them.
        "LAKEHOUSE_STACK_PREFECT_SCHEDULER": "false",
    }
    try:
        with ephemeral_stack(
            root, handle.registry_path, fast, keep=os.environ.get("LAKEHOUSE_TEST_KEEP_STACK") == "1"
        ) as env:
            handle.env = env
            os.environ.clear()
            os.environ.update(env)
            get_settings.cache_clear()
            lab_sql = Path(__file__).parent / "sql" / "lab.sql"
            handle.run("psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", str(lab_sql))
            with psycopg.connect(handle.settings.source.conninfo(), autocommit=True) as conn:
                conn.execute(SOAK_DDL)  # type: ignore[call-overload]
            handle.run("lakehouse-connectors", "apply")
            print(f"\nlocal stack up in {time.monotonic() - started:.0f}s under {root}", file=sys.stderr)
            yield handle
    finally:
        os.environ.clear()
        os.environ.update(saved)
        get_settings.cache_clear()


@pytest.fixture(scope="session")
def spark(stack: LocalStack) -> Iterator[Any]:
    """One in-process Spark session (local[2]) for the merge runs of the tests."""
    from spark_iceberg.session import build_session

    session = build_session(stack.settings, app_name="cdc-merge-tests")
    yield session
    session.stop()


@pytest.fixture
def merge(stack: LocalStack, spark: Any) -> Callable[..., list[Any]]:
    """Wait until Debezium captured everything committed, then merge until caught up."""
    from cdc_merge.job import run_once, run_until_caught_up

    def run(tables: list[str] | None = None, wait: bool = True, once: bool = False) -> list[Any]:
        if wait:
            t0 = time.monotonic()
            stack.wait_captured()
            print(f"captured after {time.monotonic() - t0:.1f}s")
        settings = stack.settings
        if tables:
            registry = settings.registry()
            specs = [registry.by_source(t) for t in tables]
            out: list[Any] = []
            while True:
                results = run_once(spark, settings, print, specs)
                out += results
                if once or not results or all(r.lag == 0 for r in results):
                    return out
        return run_until_caught_up(spark, settings, print)

    return run


@pytest.fixture
def catalog(stack: LocalStack) -> Any:
    from lakehouse.lake import open_catalog

    return open_catalog(stack.settings)


@pytest.fixture
def assert_equal(stack: LocalStack, catalog: Any) -> Callable[..., None]:
    """Assert that each named silver table equals its PostgreSQL source row for row."""
    from lakehouse.reconcile import diff_table

    def check(*tables: str) -> None:
        registry = stack.settings.registry()
        problems = []
        for source in tables:
            spec = registry.by_source(source)
            d = diff_table(stack.settings.source.conninfo(), catalog.load_table(spec.iceberg), spec)
            if not d.equal:
                problems.append(d.summary())
        assert not problems, "\n".join(problems)

    return check
