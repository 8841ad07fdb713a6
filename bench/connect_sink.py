"""The side-by-side phase of `make bench`: the Apache Iceberg Kafka Connect sink on the same workload.

The sink (`org.apache.iceberg:iceberg-kafka-connect`, the plugin folder assembled by
`scripts/setup/jvm.sh --bundle iceberg-kafka-connect`) runs in the same Connect worker as
Debezium, with Iceberg's `DebeziumTransform`, writing tables of its own (`sink.<table>`)
in the same JDBC catalog and warehouse, with a commit interval of `COMMIT_INTERVAL_MS`.

What its tables hold: **every change event, appended** (the row image plus a `_cdc`
struct: op, offset, source, target). It does not apply updates or deletes: a reader
gets the current state only by deduplicating per key itself (apache/iceberg #17542).
cdc-merge's silver holds the current state; both write Parquet to the same MinIO.

Measured: the throughput of N rows committed while the sink runs (first commit to the
Iceberg snapshot holding the last row; the snapshot's own commit time), the Connect
worker's CPU per event (Debezium and the sink share that JVM: the sink's share is the
difference to the raw phase's), and commit-to-visible latency of a trickle of rows (each
row's commit to the first snapshot whose record count covers it: one table, one
partition, so rows arrive in commit order).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

REPO = Path(__file__).resolve().parents[1]
CONNECTOR = "bench-iceberg-sink"
NAMESPACE = "sink"
COMMIT_INTERVAL_MS = 2000
ITEMS = "bench.sink_items"
FRESH = "bench.sink_fresh"
DDL = """
CREATE TABLE IF NOT EXISTS bench.sink_items (LIKE bench.raw_items INCLUDING ALL);
CREATE TABLE IF NOT EXISTS bench.sink_fresh (id bigint PRIMARY KEY, committed_at timestamptz NOT NULL);
"""
Log = Callable[[str], None]


def bundle_dir() -> Path:
    """The sink's plugin folder, resolved and checksum-verified (cached after the first run)."""
    proc = subprocess.run(
        [str(REPO / "scripts/setup/jvm.sh"), "--bundle", "iceberg-kafka-connect"],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"could not resolve the Iceberg Kafka Connect sink bundle:\n{proc.stdout}\n{proc.stderr}")
    return Path(proc.stdout.strip().splitlines()[-1])


def connector_config(settings: Any, topics: list[str]) -> dict[str, str]:
    """The sink's configuration: the same catalog, warehouse and object store as the merge."""
    cat, s3 = settings.catalog, settings.s3
    return {
        "connector.class": "org.apache.iceberg.connect.IcebergSinkConnector",
        "tasks.max": "1",
        "topics": ",".join(topics),
        "transforms": "debezium",
        "transforms.debezium.type": "org.apache.iceberg.connect.transforms.DebeziumTransform",
        "transforms.debezium.cdc.target.pattern": f"{NAMESPACE}.{{table}}",
        "iceberg.tables.dynamic-enabled": "true",
        "iceberg.tables.route-field": "_cdc.target",
        "iceberg.tables.auto-create-enabled": "true",
        "iceberg.tables.evolve-schema-enabled": "true",
        "iceberg.control.topic": "bench-iceberg-sink-control",
        "iceberg.control.commit.interval-ms": str(COMMIT_INTERVAL_MS),
        "iceberg.catalog": settings.registry().lake.catalog,
        "iceberg.catalog.catalog-impl": "org.apache.iceberg.jdbc.JdbcCatalog",
        "iceberg.catalog.uri": cat.jdbc_url,
        "iceberg.catalog.jdbc.user": cat.user,
        "iceberg.catalog.jdbc.password": cat.password.get_secret_value(),
        "iceberg.catalog.jdbc.schema-version": "V1",
        "iceberg.catalog.warehouse": cat.warehouse,
        "iceberg.catalog.io-impl": "org.apache.iceberg.aws.s3.S3FileIO",
        "iceberg.catalog.s3.endpoint": s3.endpoint,
        "iceberg.catalog.s3.path-style-access": "true",
        "iceberg.catalog.s3.access-key-id": s3.access_key_id,
        "iceberg.catalog.s3.secret-access-key": s3.secret_access_key.get_secret_value(),
        "iceberg.catalog.client.region": s3.region,
    }


def _rest(url: str, method: str = "GET", body: dict[str, str] | None = None) -> Any:
    """Kafka Connect's REST API; None for 404 (a connector just created has no status yet)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            text = resp.read().decode()
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise RuntimeError(f"Kafka Connect {method} {url}: HTTP {exc.code}: {exc.read().decode()[:2000]}") from exc
    return json.loads(text) if text else None


class Sink:
    """The sink connector on the bench's stack, and what its tables hold."""

    def __init__(self, settings: Any, connect_url: str) -> None:
        from lakehouse.lake import open_catalog

        self.settings, self.url = settings, connect_url
        self.registry = settings.registry()
        self.catalog = open_catalog(settings)

    def start(self, sources: list[str]) -> None:
        topics = [self.registry.topic(self.registry.by_source(s)) for s in sources]
        _rest(f"{self.url}/connectors/{CONNECTOR}/config", "PUT", connector_config(self.settings, topics))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            status = _rest(f"{self.url}/connectors/{CONNECTOR}/status") or {"connector": {"state": "NEW"}}
            tasks = status.get("tasks") or []
            if status["connector"]["state"] == "RUNNING" and tasks and all(t["state"] == "RUNNING" for t in tasks):
                return
            if any(t["state"] == "FAILED" for t in tasks):
                raise RuntimeError(f"the Iceberg sink task failed: {tasks[0].get('trace', '')[:3000]}")
            time.sleep(1)
        raise TimeoutError(f"the Iceberg sink did not reach RUNNING in 120 s: {status}")

    def stop(self) -> None:
        _rest(f"{self.url}/connectors/{CONNECTOR}", "DELETE")

    def failed(self) -> str | None:
        """The task's trace when it failed, else None."""
        for task in (_rest(f"{self.url}/connectors/{CONNECTOR}/status") or {}).get("tasks") or []:
            if task["state"] == "FAILED":
                return str(task.get("trace", ""))[:3000]
        return None

    def snapshots(self, source: str) -> list[tuple[float, int]]:
        """(commit time, records in the table) of each snapshot of `source`'s sink table, oldest first."""
        name = f"{NAMESPACE}.{source.split('.')[1]}"
        if not self.catalog.table_exists(name):
            return []
        table = self.catalog.load_table(name)
        return sorted(
            (s.timestamp_ms / 1000, int((s.summary or {}).get("total-records", 0))) for s in table.snapshots()
        )

    def wait_records(self, source: str, records: int, timeout: float = 900) -> float:
        """Commit time of the first snapshot holding `records` records."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = next((t for t, n in self.snapshots(source) if n >= records), None)
            if done is not None:
                return done
            trace = self.failed()
            if trace:
                raise RuntimeError(f"the Iceberg sink task failed: {trace}")
            time.sleep(0.5)
        raise TimeoutError(f"the Iceberg sink did not commit {records} records of {source} in {timeout:.0f} s")


def measure(
    settings: Any,
    connect_url: str,
    connect_pid: int | None,
    rows: int,
    fresh_seconds: float,
    fresh_rate: float,
    insert_rows: Callable[..., None],
    cpu_meter: Callable[[int | None], Any],
    log: Log,
    warm_rows: int = 50_000,
) -> dict[str, Any]:
    """The sink's throughput, Connect CPU per event and commit-to-visible latency."""
    sink = Sink(settings, connect_url)
    sink.start([ITEMS, FRESH])
    try:
        log(f"connect sink: warming on {warm_rows} rows (commit interval {COMMIT_INTERVAL_MS} ms)")
        insert_rows(settings.source.conninfo(), ITEMS, warm_rows)
        sink.wait_records(ITEMS, warm_rows)
        log(f"connect sink: inserting {rows} rows with the sink running")
        meter = cpu_meter(connect_pid)
        wall0 = time.time()
        insert_rows(settings.source.conninfo(), ITEMS, rows, first_id=warm_rows + 1)
        done = sink.wait_records(ITEMS, warm_rows + rows)
        cpu, connect_cpu = meter.read()
        elapsed = done - wall0
        log(
            f"connect sink: all {rows} rows in its Iceberg table {elapsed:.1f}s after the first commit, "
            f"Connect {connect_cpu / rows * 1e6:.0f} core-us per event (Debezium and the sink)"
        )
        throughput = {
            "rows": rows,
            "seconds": round(elapsed, 2),
            "rate_per_s": round(rows / elapsed, 1),
            "cores_busy": round(cpu / max(elapsed, 1e-9), 2),
            "connect_core_us_per_event": round(connect_cpu / rows * 1e6, 1),
        }
        log(f"connect sink freshness: one commit every {1 / fresh_rate:.2f}s for {fresh_seconds:.0f}s")
        committed: list[float] = []
        with psycopg.connect(settings.source.conninfo(), autocommit=True) as conn:
            end = time.monotonic() + fresh_seconds
            while time.monotonic() < end:
                conn.execute("INSERT INTO bench.sink_fresh VALUES (%s, now())", (len(committed) + 1,))
                committed.append(time.time())
                time.sleep(1 / fresh_rate)
        sink.wait_records(FRESH, len(committed), timeout=180)
        snaps = sink.snapshots(FRESH)
        latencies = sorted(
            next(t for t, n in snaps if n >= i + 1) - at for i, at in enumerate(committed) if snaps[-1][1] >= i + 1
        )
        p50, p95 = statistics.median(latencies), latencies[int(0.95 * (len(latencies) - 1))]
        log(f"connect sink freshness: {len(latencies)} rows, p50 {p50:.1f}s, p95 {p95:.1f}s")
    finally:
        sink.stop()
    return {
        "plugin": "org.apache.iceberg:iceberg-kafka-connect (Apache Iceberg Kafka Connect sink)",
        "commit_interval_ms": COMMIT_INTERVAL_MS,
        "tables_hold": "every change event appended (row image + _cdc struct); no upserts, no deletes",
        "throughput": throughput,
        "commit_to_visible_latency": {
            "rows": len(latencies),
            "p50_s": round(p50, 2),
            "p95_s": round(p95, 2),
            "max_s": round(latencies[-1], 2),
        },
    }
