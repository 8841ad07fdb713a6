"""How the end-to-end suite drives the deployed platform the way an operator does: Prefect
deployments run through the in-cluster API, load written to the in-cluster PostgreSQL, silver
compared with the source, bronze checked for a Kafka record stored twice."""

from __future__ import annotations

import base64
import subprocess
import sys
import time
from typing import Any

import psycopg
from lakehouse.lake import open_catalog
from lakehouse.reconcile import diff_table
from loadgen.workload import Workload

from tests.e2e.cluster import REPO, Platform
from tests.lake_records import kafka_positions

PREFECT = REPO / ".venv" / "bin" / "prefect"


def prefect_auth(platform: Platform) -> str:
    """The Prefect API's "user:password", as Terraform put it into the Secret (an operator's way in)."""
    data = platform.json("get", "secret", "lakehouse-secrets")["data"]
    return base64.b64decode(data["PREFECT_API_AUTH_STRING"]).decode()


def run_deployment(
    platform: Platform, name: str, timeout: int = 2400, params: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`prefect deployment run NAME --watch` against the in-cluster Prefect API (exit 0 = completed);
    `params` become `--param key=value`."""
    api = f"http://127.0.0.1:{platform.forward('prefect-server', 4200)}/api"
    started = time.monotonic()
    proc = subprocess.run(
        [
            str(PREFECT),
            "deployment",
            "run",
            name,
            "--watch",
            "--watch-timeout",
            str(timeout),
            *[a for k, v in (params or {}).items() for a in ("--param", f"{k}={v}")],
        ],
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(REPO / ".local"),
            "PREFECT_API_URL": api,
            "PREFECT_API_AUTH_STRING": prefect_auth(platform),
        },
        capture_output=True,
        text=True,
        timeout=timeout + 120,
    )
    print(f"{name}: exit {proc.returncode} after {time.monotonic() - started:.0f}s", file=sys.stderr)
    return proc


def workload(settings: Any, ops: int, seed: int) -> None:
    """`ops` shop changes (inserts, updates, deletes) written to the source, reproducible by `seed`."""
    with psycopg.connect(settings.source.conninfo(), autocommit=True) as conn:
        wl = Workload(conn, seed=seed)
        wl.seed_if_empty()
        wl.run(ops=ops)


def assert_silver_equals_source(settings: Any) -> None:
    """Every registry table read back through the catalog equals PostgreSQL, row for row."""
    catalog = open_catalog(settings)
    problems, summary = [], []
    for spec in settings.registry().tables:
        d = diff_table(settings.source.conninfo(), catalog.load_table(spec.iceberg), spec)
        summary.append(d.summary())
        if not d.equal:
            problems.append(d.summary())
    print("\n".join(summary), file=sys.stderr)
    assert not problems, "\n".join(problems)


def converge(platform: Platform, settings: Any, attempts: int = 3) -> None:
    """Run the pipeline until silver equals PostgreSQL; the first run that passes ends it."""
    last = ""
    for _ in range(attempts):
        proc = run_deployment(platform, "pipeline/kubernetes")
        if proc.returncode == 0:
            assert_silver_equals_source(settings)
            return
        last = proc.stdout[-4000:] + proc.stderr[-2000:]
    raise AssertionError(f"pipeline/kubernetes did not complete in {attempts} runs:\n{last}")


def assert_bronze_holds_each_record_once(settings: Any) -> None:
    """No Kafka record (topic, partition, offset) stored twice in any bronze table or the dead letters."""
    catalog = open_catalog(settings)
    registry = settings.registry()
    doubled = []
    # The registry names Spark tables (catalog.namespace.table); pyiceberg wants namespace.table.
    for spark_name in [registry.bronze(t) for t in registry.tables] + [registry.dead_letter]:
        name = spark_name.split(".", 1)[1]
        keys = kafka_positions(catalog, name)
        if len(keys) != len(set(keys)):
            doubled.append(f"{name}: {len(keys) - len(set(keys))} record(s) stored twice of {len(keys)}")
    assert not doubled, "; ".join(doubled)


def wait_for(what: str, check: Any, timeout: float = 900, every: float = 2) -> Any:
    """Poll `check` every `every` seconds until it returns something truthy, and return that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
