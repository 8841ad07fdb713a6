"""`make bench`: throughput and freshness of the CDC path, measured in one run on one machine.

0. warm-up: rounds of 50,000 rows until Debezium's rate is steady (Kafka Connect's JIT takes
   100,000-300,000 events), then one merge.
1. raw rate: N rows committed in PostgreSQL (one transaction per 10,000) -> all N change
   events in Kafka, Debezium alone.
2. end-to-end rate: the same kind of load with the merge running continuously beside it,
   from the first commit to the Iceberg commit that makes the last row visible.
3. floor: the same load twice more, each time with a minimal Spark job streaming beside it
   instead of the merge: read with the merge's Kafka source, payload parsed, then one Iceberg
   append per batch (silver rows), or two (bronze change log, then silver rows). The second does
   the two writes the merge must do, in their cheapest form; its ratio bounds the merge's here.
4. freshness: rows committed one by one at a steady rate while the merge streams; each row's
   latency is the time from its commit to the silver commit that made it visible.
5. connect-sink (`bench/connect_sink.py`): the Apache Iceberg Kafka Connect sink in the same
   Connect worker, appending the same kind of events: throughput, Connect CPU per event,
   commit-to-visible latency;
6. multi-table (`bench/multi_table.py`): cycle time against 10, 50 and 100 active tables and
   against the batch size, and freshness across 100 tables taking a trickle of changes; drawn
   as docs/benchmarks-cost-curves.png (`bench/figures.py`);
7. large-table (`bench/large_table.py`, a process and a stack of its own with the kind overlay's
   heaps): an initial snapshot of 5,000,000 wide rows (bytea and 1 KiB text) through Debezium and
   the merge: rows/s, time to the first silver row, each JVM's peak memory against its kind
   limit, and the quality gate's time and peak memory on the whole table.
CPU is metered throughout: on 2 cores the merge's CPU per event competes with Debezium's, and
`cpu_bound_ratio_ceiling` is the ratio that the two per-event costs allow at best.
Reports ratios, never asserts on time. Results: bench/results/<timestamp>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import yaml
from confluent_kafka import Consumer, TopicPartition
from lakehouse.settings import get_settings
from stackctl.ephemeral import ephemeral_stack, run_tool

from bench import connect_sink, multi_table
from bench.figures import cost_table, draw_cost_curves

REPO = Path(__file__).resolve().parents[1]
TABLES = {
    "warmup": "bench.warmup",
    "raw": "bench.raw_items",
    "e2e": "bench.items",
    "floor_silver": "bench.floor_silver",
    "floor_both": "bench.floor_both",
    "fresh": "bench.fresh",
}
DDL = """
CREATE SCHEMA IF NOT EXISTS bench;
GRANT USAGE ON SCHEMA bench TO debezium;
ALTER DEFAULT PRIVILEGES IN SCHEMA bench GRANT SELECT ON TABLES TO debezium;
CREATE TABLE IF NOT EXISTS bench.raw_items (id bigint PRIMARY KEY, sku text, qty integer, price numeric(12,2),
                                            updated_at timestamptz);
CREATE TABLE IF NOT EXISTS bench.items (LIKE bench.raw_items INCLUDING ALL);
CREATE TABLE IF NOT EXISTS bench.warmup (LIKE bench.raw_items INCLUDING ALL);
CREATE TABLE IF NOT EXISTS bench.floor_silver (LIKE bench.raw_items INCLUDING ALL);
CREATE TABLE IF NOT EXISTS bench.floor_both (LIKE bench.raw_items INCLUDING ALL);
CREATE TABLE IF NOT EXISTS bench.fresh (id bigint PRIMARY KEY, committed_at timestamptz NOT NULL);
"""
PHASES = ("throughput", "connect-sink", "multi-table", "large-table")
SHARED_STACK_PHASES = ("throughput", "connect-sink", "multi-table")  # large-table runs a stack of its own
COST_CURVES_PNG = REPO / "docs" / "benchmarks-cost-curves.png"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def insert_rows(conninfo: str, table: str, rows: int, chunk: int = 10_000, first_id: int = 1) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for start in range(first_id - 1, first_id - 1 + rows, chunk):
            n = min(chunk, first_id - 1 + rows - start)
            conn.execute(
                f"INSERT INTO {table} SELECT g, 'sku-' || g, (g %% 17) + 1, (g %% 1000) / 10.0, now() "
                "FROM generate_series(%s::bigint, %s::bigint) g",
                (start + 1, start + n),
            )


def kafka_count(bootstrap: str, topic: str) -> int:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-probe", "log_level": 0})
    try:
        md = c.list_topics(topic, timeout=10).topics.get(topic)
        if md is None or md.error is not None:
            return 0
        return sum(c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in md.partitions)
    finally:
        c.close()


class CpuMeter:
    """CPU seconds spent machine-wide and by one process since `start` (Linux /proc)."""

    def __init__(self, pid: int | None = None) -> None:
        self.pid = pid
        self.start_total, self.start_proc = self._total(), self._proc()

    @staticmethod
    def _total() -> float:
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")  # all but idle, iowait

    def _proc(self) -> float:
        if self.pid is None:
            return 0.0
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime

    def read(self) -> tuple[float, float]:
        """(machine-wide, process) CPU seconds since the meter started."""
        return self._total() - self.start_total, self._proc() - self.start_proc


def spark_jvm_pid(spark: Any) -> int | None:
    """The pid of the JVM that pyspark launched (local mode: driver and executors in one)."""
    proc = getattr(spark.sparkContext._gateway, "proc", None)  # noqa: SLF001 - no public accessor
    return getattr(proc, "pid", None)


def debezium_round(settings: Any, table: str, first_id: int, rows: int) -> tuple[float, float]:
    """Commit `rows` new rows of `table`; seconds from the first commit until the commits were
    done, and until all their events were in Kafka."""
    topic = settings.registry().topic(settings.registry().by_source(table))
    before = kafka_count(settings.kafka.bootstrap_servers, topic)
    t0 = time.monotonic()
    insert_rows(settings.source.conninfo(), table, rows, first_id=first_id)
    committed = time.monotonic() - t0
    while kafka_count(settings.kafka.bootstrap_servers, topic) < before + rows:
        time.sleep(0.1)
    return committed, time.monotonic() - t0


def warm_up(spark: Any, settings: Any, round_rows: int = 50_000, max_rounds: int = 8) -> dict[str, Any]:
    """Steady state, as in continuous mode: JIT-compiled JVMs, a Spark session that has run a batch.

    Kafka Connect needs 100,000-300,000 events before Debezium reaches its steady rate
    (about three times its first rate on a 2-core machine); a raw rate measured before that
    would flatter the ratio. Rounds run until two in a row agree within 10 %.
    """
    from cdc_merge.job import run_until_caught_up

    rates: list[float] = []
    for i in range(max_rounds):
        _, seconds = debezium_round(settings, TABLES["warmup"], i * round_rows + 1, round_rows)
        rates.append(round(round_rows / seconds, 1))
        log(f"warm-up: Debezium round {i + 1}: {rates[-1]:.0f} events/s")
        if len(rates) >= 3 and abs(rates[-1] - rates[-2]) <= 0.1 * rates[-2]:
            break
    log("warm-up: one merge of the warm-up rows")
    run_until_caught_up(spark, settings, lambda _m: None)
    return {"round_rows": round_rows, "debezium_rates_per_s": rates}


def connect_pid(settings: Any) -> int | None:
    """The pid of the stack's Kafka Connect worker (its pid file)."""
    pidfile = Path(settings.stack.dir) / "run" / "connect.pid"
    return int(pidfile.read_text().strip()) if pidfile.exists() else None


def measure_raw(settings: Any, rows: int) -> dict[str, float]:
    log(f"raw: inserting {rows} rows")
    meter = CpuMeter(connect_pid(settings))
    committed, elapsed = debezium_round(settings, TABLES["raw"], 1, rows)
    cpu, connect_cpu = meter.read()
    log(
        f"raw: {rows} events in Kafka {elapsed:.1f}s after the first commit (commits took {committed:.1f}s), "
        f"{cpu / elapsed:.2f} cores busy"
    )
    return {
        "rows": rows,
        "seconds": round(elapsed, 2),
        "rate_per_s": round(rows / elapsed, 1),
        "commit_seconds": round(committed, 2),
        "cores_busy": round(cpu / elapsed, 2),
        "core_us_per_event": round(cpu / rows * 1e6, 1),
        "connect_core_us_per_event": round(connect_cpu / rows * 1e6, 1),
    }


class StreamRunner(threading.Thread):
    """The merge in continuous mode on chosen tables, recording when each batch committed."""

    def __init__(self, spark: Any, settings: Any, tables: list[str]) -> None:
        super().__init__(daemon=True)
        self.spark, self.settings = spark, settings
        self.specs = [settings.registry().by_source(t) for t in tables]
        self.stop = threading.Event()
        self.commits: list[tuple[float, str, dict[int, int]]] = []  # (wall time, table, end offsets)
        self.batches: list[dict[str, Any]] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        from cdc_merge.job import run_once

        try:
            while not self.stop.is_set():
                results = run_once(self.spark, self.settings, lambda _m: None, self.specs)
                now = time.time()
                self.commits += [(now, r.table, r.end) for r in results]
                self.batches += [
                    {"records": r.records, "seconds": r.seconds, "phases": r.phases, "silver_write": r.silver_write}
                    for r in results
                ]
                if not results:
                    time.sleep(0.2)
        except BaseException as exc:  # noqa: BLE001 - reported by the caller
            self.error = exc

    def visible_at(self, table: str, offsets: int) -> float | None:
        """Wall time of the first commit of `table` that covered `offsets` records, if any yet."""
        return next((t for t, tbl, end in self.commits if tbl == table and sum(end.values()) >= offsets), None)


def load_beside(
    spark: Any, settings: Any, runner: Any, table: str, rows: int, first_id: int = 1
) -> tuple[float, float, float]:
    """Start `runner` (a job streaming into Iceberg), commit `rows` rows of `table` from `first_id`
    (the topic then holds `first_id - 1 + rows` records), and wait until a batch covers them all.

    Returns the seconds from the first commit to that batch's commit, and the CPU seconds spent
    meanwhile machine-wide and by the Spark JVM.
    """
    runner.start()
    meter = CpuMeter(spark_jvm_pid(spark))
    wall0 = time.time()
    insert_rows(settings.source.conninfo(), table, rows, first_id=first_id)
    while (done := runner.visible_at(table, first_id - 1 + rows)) is None and runner.error is None:
        time.sleep(0.2)
    cpu, spark_cpu = meter.read()
    runner.stop.set()
    runner.join()
    if runner.error:
        raise runner.error
    return done - wall0, cpu, spark_cpu


def measure_e2e(spark: Any, settings: Any, rows: int) -> dict[str, float]:
    runner = StreamRunner(spark, settings, [TABLES["e2e"]])
    log(f"end-to-end: inserting {rows} rows with the merge streaming")
    elapsed, cpu, spark_cpu = load_beside(spark, settings, runner, TABLES["e2e"], rows)
    log(
        f"end-to-end: all {rows} rows committed to Iceberg {elapsed:.1f}s after the first commit "
        f"({len(runner.commits)} batches), {cpu / elapsed:.2f} cores busy, Spark "
        f"{spark_cpu / rows * 1e6:.0f} core-us per event"
    )
    return {
        "rows": rows,
        "seconds": round(elapsed, 2),
        "rate_per_s": round(rows / elapsed, 1),
        "cores_busy": round(cpu / elapsed, 2),
        "spark_core_us_per_event": round(spark_cpu / rows * 1e6, 1),
        "other_core_us_per_event": round((cpu - spark_cpu) / rows * 1e6, 1),
        "batches": runner.batches,
    }


# What a reader of the change stream needs at the least: op, LSN, the row images as the merge
# reads them (JSON text) and, for silver, the row typed.
FLOOR_PAYLOAD = "struct<op:string, source:struct<lsn:bigint>, before:string, after:string>"
FLOOR_ROW = "struct<id:bigint, sku:string, qty:int, price:string, updated_at:string>"


class FloorRunner(threading.Thread):
    """The cheapest Spark job over the bench's events, streaming: per batch, the records read with
    the merge's own Kafka source and their payloads parsed past the schema head, then appended.

    With `writes=("silver",)` one append of the rows; with `("bronze", "silver")` also the raw
    change log first, each from its own read (cheaper than caching): the two outputs the merge
    must write, each in its cheapest form (an append, where silver needs a MERGE). None of the
    merge's other work (classification, typing, dead letters, last change per key): what this job
    keeps of Debezium's rate bounds what the merge can keep on this machine.
    """

    def __init__(self, spark: Any, settings: Any, table: str, writes: tuple[str, ...]) -> None:
        super().__init__(daemon=True)
        self.spark, self.settings, self.writes = spark, settings, writes
        registry = settings.registry()
        spec = registry.by_source(table)
        self.topic = registry.topic(spec)
        self.targets = {"silver": registry.silver(spec), "bronze": registry.bronze(spec)}
        self.end: dict[int, int] | None = None
        self.stop = threading.Event()
        self.commits: list[tuple[float, dict[int, int]]] = []
        self.error: BaseException | None = None

    def batch(self, probe: Any) -> bool:
        """One batch; False when there was nothing new."""
        from cdc_merge.plan import expected_heads
        from cdc_merge.read import read_range
        from pyspark.sql import functions as F

        rng = probe.next_range(self.topic, self.end, self.settings.merge.max_records_per_batch)
        if rng is None:
            return False
        # Every event of the bench's tables has one schema: its head is the first record's.
        head = len(expected_heads(probe, rng)[0])
        body = F.expr(f"substring(value, {head + 1}, length(value) - {head + 1})").cast("string")
        for write in self.writes:
            p = read_range(self.spark, self.settings.kafka.java_client_config(), rng).select(
                "partition", "offset", F.from_json(body, FLOOR_PAYLOAD).alias("p")
            )
            if write == "bronze":
                rows = p.select(
                    "partition", "offset", "p.op", F.col("p.source.lsn").alias("lsn"), "p.before", "p.after"
                )
            else:
                rows = p.select(
                    F.from_json("p.after", FLOOR_ROW).alias("r"), "p.op", F.col("p.source.lsn").alias("lsn")
                ).select("r.*", "op", "lsn")
            if self.end is None:
                rows.writeTo(self.targets[write]).using("iceberg").createOrReplace()
            else:
                rows.writeTo(self.targets[write]).append()
        self.end = rng.end
        self.commits.append((time.time(), rng.end))
        return True

    def probe(self) -> Any:
        """An offset probe for `batch`, closed when its `with` block ends."""
        from cdc_merge.kafka_offsets import TopicOffsets

        return closing(TopicOffsets(self.settings.kafka.librdkafka_config()))

    def catch_up(self) -> None:
        """Batches in the caller's thread until nothing is new (warms the job up)."""
        with self.probe() as probe:
            while self.batch(probe):
                pass

    def run(self) -> None:
        try:
            with self.probe() as probe:
                while not self.stop.is_set():
                    if not self.batch(probe):
                        time.sleep(0.2)
        except BaseException as exc:  # noqa: BLE001 - reported by the caller
            self.error = exc

    def visible_at(self, _table: str, offsets: int) -> float | None:
        """Wall time of the first append that covered `offsets` records, if any yet."""
        return next((t for t, end in self.commits if sum(end.values()) >= offsets), None)


def measure_floor(
    spark: Any, settings: Any, table: str, writes: tuple[str, ...], rows: int, warm_rows: int = 50_000
) -> dict[str, Any]:
    """The end-to-end phase again on `table`, with a `FloorRunner` in place of the merge."""
    runner = FloorRunner(spark, settings, table, writes)
    name = "+".join(writes)
    log(f"floor ({name}): warming the minimal Spark job on {warm_rows} rows")
    debezium_round(settings, table, 1, warm_rows)
    runner.catch_up()
    log(f"floor ({name}): inserting {rows} rows with the minimal Spark job streaming")
    elapsed, cpu, spark_cpu = load_beside(spark, settings, runner, table, rows, first_id=warm_rows + 1)
    log(
        f"floor ({name}): all {rows} rows appended {elapsed:.1f}s after the first commit, "
        f"{cpu / elapsed:.2f} cores busy, Spark {spark_cpu / rows * 1e6:.0f} core-us per event"
    )
    return {
        "writes": list(writes),
        "rows": rows,
        "seconds": round(elapsed, 2),
        "rate_per_s": round(rows / elapsed, 1),
        "cores_busy": round(cpu / elapsed, 2),
        "spark_core_us_per_event": round(spark_cpu / rows * 1e6, 1),
        "batches": len(runner.commits),
    }


def measure_freshness(spark: Any, settings: Any, seconds: float, rate: float) -> dict[str, float]:
    from lakehouse.lake import open_catalog

    runner = StreamRunner(spark, settings, [TABLES["fresh"]])
    runner.start()
    log(f"freshness: one commit every {1 / rate:.2f}s for {seconds:.0f}s with the merge streaming")
    commit_times: dict[int, float] = {}
    with psycopg.connect(settings.source.conninfo(), autocommit=True) as conn:
        i = 0
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            i += 1
            conn.execute("INSERT INTO bench.fresh VALUES (%s, now())", (i,))
            commit_times[i] = time.time()
            time.sleep(1 / rate)
    deadline = time.monotonic() + 120
    topic_total = i
    while time.monotonic() < deadline:
        if any(c[1] == TABLES["fresh"] and sum(c[2].values()) >= topic_total for c in runner.commits):
            break
        time.sleep(0.2)
    runner.stop.set()
    runner.join()
    silver = (
        open_catalog(settings)
        .load_table("silver.fresh")
        .scan(selected_fields=("id", "_cdc_kafka_offset"))
        .to_arrow()
        .to_pylist()
    )
    batches = sorted((sum(e.values()), t) for t, tbl, e in runner.commits if tbl == TABLES["fresh"])
    latencies = []
    for row in silver:
        visible = next((t for end_off, t in batches if row["_cdc_kafka_offset"] < end_off), None)
        if visible is not None and row["id"] in commit_times:
            latencies.append(visible - commit_times[row["id"]])
    latencies.sort()
    p50 = statistics.median(latencies)
    p95 = latencies[int(0.95 * (len(latencies) - 1))]
    log(f"freshness: {len(latencies)} rows, p50 {p50:.1f}s, p95 {p95:.1f}s, max {latencies[-1]:.1f}s")
    return {"rows": len(latencies), "p50_s": round(p50, 2), "p95_s": round(p95, 2), "max_s": round(latencies[-1], 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--fresh-seconds", type=float, default=60)
    parser.add_argument("--fresh-rate", type=float, default=20, help="commits per second")
    parser.add_argument(
        "--compression",
        default=None,
        help="the connector's producer compression (LAKEHOUSE_CONNECT_PRODUCER_COMPRESSION); "
        "default: the settings' default",
    )
    parser.add_argument("--large-rows", type=int, default=5_000_000, help="rows of the large-table phase")
    parser.add_argument(
        "--phases",
        default=",".join(PHASES),
        help=f"comma-separated, of {', '.join(PHASES)} (throughput: warm-up, raw, end-to-end, floor, freshness)",
    )
    args = parser.parse_args()
    # SIGTERM (a CI timeout, kill): stop the private stack on the way out, as on an error.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    unknown = sorted(set(phases) - set(PHASES))
    if unknown:
        parser.error(f"unknown phase(s) {', '.join(unknown)}; choose from {', '.join(PHASES)}")
    report: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "phases": phases,
    }
    failed: BaseException | None = None
    if any(p in SHARED_STACK_PHASES for p in phases):
        failed = run_shared_stack_phases(report, phases, args)
    if "large-table" in phases and failed is None:
        failed = run_large_table(report, args.large_rows)
    report["side_by_side"] = side_by_side(report)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = REPO / "bench" / "results" / f"{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    log(f"wrote {out}")
    if failed is not None:
        log(f"a phase failed; the phases before it are in {out}")
        raise failed
    if "multi_table" in report:
        draw_cost_curves(report["multi_table"], COST_CURVES_PNG, f"cdc-merge cycles, make bench of {stamp}")
        table = out.with_suffix(".md")
        table.write_text(cost_table(report["multi_table"]))
        log(f"drew {COST_CURVES_PNG.relative_to(REPO)} from the figures in {table.relative_to(REPO)}")
    return 0


def run_shared_stack_phases(
    report: dict[str, Any], phases: list[str], args: argparse.Namespace
) -> BaseException | None:
    """The phases that share one private stack and Spark session; fills `report`, returns a failure."""
    root = Path(tempfile.mkdtemp(prefix="lakehouse-bench-"))
    registry = yaml.safe_load((REPO / "config" / "tables.yaml").read_text())
    sources = [
        *TABLES.values(),
        connect_sink.ITEMS,
        connect_sink.FRESH,
        *multi_table.table_names(max(multi_table.TABLE_COUNTS)),
    ]
    registry["tables"] = [{"source": s, "primary_key": ["id"], "iceberg": f"silver.{s.split('.')[1]}"} for s in sources]
    (root / "tables.yaml").write_text(yaml.safe_dump(registry))
    log(f"starting a private stack under {root}")
    extra = {"LAKEHOUSE_CONNECT_HEARTBEAT_INTERVAL_MS": "1000"}
    if "connect-sink" in phases:
        log("connect sink: resolving the Iceberg Kafka Connect sink's plugin folder")
        extra["LAKEHOUSE_STACK_CONNECT_EXTRA_PLUGINS"] = json.dumps([str(connect_sink.bundle_dir())])
    if args.compression:
        extra["LAKEHOUSE_CONNECT_PRODUCER_COMPRESSION"] = args.compression
    with ephemeral_stack(root, root / "tables.yaml", extra) as env:
        os.environ.clear()
        os.environ.update(env)
        get_settings.cache_clear()
        settings = get_settings()
        compression = settings.connect.producer_compression
        run_tool(env, "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", DDL)
        run_tool(env, "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", connect_sink.DDL)
        run_tool(env, "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", multi_table.ddl(max(multi_table.TABLE_COUNTS)))
        run_tool(env, "lakehouse-connectors", "apply")
        from spark_iceberg.session import build_session

        spark = build_session(settings, app_name="cdc-merge-bench")
        report["producer_compression"] = compression
        failed: BaseException | None = None
        try:
            if "throughput" in phases:
                report.update(measure_throughput(spark, settings, args.rows, args.fresh_seconds, args.fresh_rate))
            if "connect-sink" in phases:
                if "warm_up" not in report:
                    report["warm_up"] = warm_up(spark, settings)
                report["iceberg_kafka_connect_sink"] = connect_sink.measure(
                    settings,
                    f"http://{settings.stack.host}:{settings.stack.connect_port}",
                    connect_pid(settings),
                    args.rows,
                    args.fresh_seconds,
                    args.fresh_rate,
                    insert_rows,
                    CpuMeter,
                    log,
                )
            if "multi-table" in phases:
                report["multi_table"] = multi_table.run_phase(spark, settings, log, 45, args.fresh_rate)
        except Exception as exc:  # noqa: BLE001 - the phases measured so far are still written
            failed = exc
            report["failed"] = f"{type(exc).__name__}: {exc}"
        finally:
            spark.stop()
    return failed


def run_large_table(report: dict[str, Any], rows: int) -> BaseException | None:
    """The large-table phase in a process of its own (its own stack, JVM heaps and Spark driver)."""
    out = Path(tempfile.mkdtemp(prefix="lakehouse-bench-large-out-")) / "large_table.json"
    log(f"large-table: {rows:,} rows, in a process of its own (bench/large_table.py)")
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.large_table", "--rows", str(rows), "--out", str(out)], cwd=REPO
    )
    try:
        proc.wait()
    except BaseException:
        proc.terminate()  # it stops its own stack on SIGTERM
        proc.wait(timeout=300)
        raise
    if proc.returncode != 0 or not out.exists():
        report["failed"] = f"large-table: bench.large_table exited {proc.returncode}"
        return RuntimeError(report["failed"])
    report["large_table"] = json.loads(out.read_text())
    return None


def side_by_side(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per way of moving the same events, from this run: rate, CPU per event, freshness."""
    rows: list[dict[str, Any]] = []
    raw = report.get("raw_debezium_to_kafka")
    if raw:
        rows.append(
            {
                "what": "raw Debezium -> Kafka",
                "holds": "change events in Kafka",
                "rate_per_s": raw["rate_per_s"],
                "core_us_per_event": raw["connect_core_us_per_event"],
                "cpu_of": "Connect JVM",
            }
        )
    for floor in report.get("minimal_spark_jobs", []):
        rows.append(
            {
                "what": f"floor: minimal Spark job ({'+'.join(floor['writes'])} appends)",
                "holds": "appended rows",
                "rate_per_s": floor["rate_per_s"],
                "core_us_per_event": floor["spark_core_us_per_event"],
                "cpu_of": "Spark JVM",
            }
        )
    sink = report.get("iceberg_kafka_connect_sink")
    if sink:
        rows.append(
            {
                "what": f"Iceberg Kafka Connect sink (commit every {sink['commit_interval_ms']} ms)",
                "holds": "every change appended (no upserts, no deletes)",
                "rate_per_s": sink["throughput"]["rate_per_s"],
                "core_us_per_event": sink["throughput"]["connect_core_us_per_event"],
                "cpu_of": "Connect JVM (Debezium + sink)",
                "sink_core_us_per_event": round(
                    sink["throughput"]["connect_core_us_per_event"] - raw["connect_core_us_per_event"], 1
                )
                if raw
                else None,
                "p50_s": sink["commit_to_visible_latency"]["p50_s"],
                "p95_s": sink["commit_to_visible_latency"]["p95_s"],
            }
        )
    e2e = report.get("end_to_end_postgres_to_iceberg")
    if e2e:
        fresh = report.get("commit_to_visible_latency", {})
        rows.append(
            {
                "what": "cdc-merge (bronze append + silver MERGE + dead letters)",
                "holds": "change log and current state (upserts, deletes)",
                "rate_per_s": e2e["rate_per_s"],
                "core_us_per_event": e2e["spark_core_us_per_event"],
                "cpu_of": "Spark JVM",
                "p50_s": fresh.get("p50_s"),
                "p95_s": fresh.get("p95_s"),
            }
        )
    large = report.get("large_table")
    if large:
        rows.append(
            {
                "what": f"cdc-merge, initial snapshot of {large['rows']:,} wide rows (kind's heaps)",
                "holds": "change log and current state",
                "rate_per_s": large["end_to_end_rows_per_s"],
                "debezium_rate_per_s": large["debezium_rows_per_s"],
                "first_row_in_silver_s": large["first_row_in_silver_seconds"],
                "peak_rss_mib": {n: j["peak_rss_mib"] for n, j in large["jvms"].items()},
            }
        )
    multi = report.get("multi_table")
    if multi:
        at_100 = multi["cycle_against_tables"][-1]
        fresh_100 = multi["freshness_against_tables"][-1]
        rows.append(
            {
                "what": f"cdc-merge, {at_100['tables']} tables per cycle",
                "holds": "change log and current state of every table",
                "cycle_seconds": at_100["cycle_seconds_median"],
                "p50_s": fresh_100["p50_s"],
                "p95_s": fresh_100["p95_s"],
            }
        )
    return rows


def measure_throughput(spark: Any, settings: Any, rows: int, fresh_seconds: float, fresh_rate: float) -> dict[str, Any]:
    """Phases 0-4: warm-up, raw Debezium, end-to-end, the two floors, single-table freshness."""
    warm = warm_up(spark, settings)
    raw = measure_raw(settings, rows)
    e2e = measure_e2e(spark, settings, rows)
    floors = [
        measure_floor(spark, settings, TABLES["floor_silver"], ("silver",), rows),
        measure_floor(spark, settings, TABLES["floor_both"], ("bronze", "silver"), rows),
    ]
    fresh = measure_freshness(spark, settings, fresh_seconds, fresh_rate)
    ratio = round(e2e["rate_per_s"] / raw["rate_per_s"], 3)
    for floor in floors:
        floor["ratio"] = round(floor["rate_per_s"] / raw["rate_per_s"], 3)
    # When the machine's cores are the limit, the merge's CPU per event adds to Debezium's:
    # end-to-end takes at least (debezium + spark) * rows / cores, raw takes debezium * rows / busy.
    cores = os.cpu_count() or 1
    ceiling = round(
        cores
        / raw["cores_busy"]
        * raw["core_us_per_event"]
        / (raw["core_us_per_event"] + e2e["spark_core_us_per_event"]),
        3,
    )
    return {
        "warm_up": warm,
        "raw_debezium_to_kafka": raw,
        "end_to_end_postgres_to_iceberg": e2e,
        "ratio_end_to_end_over_raw": ratio,
        "cpu_bound_ratio_ceiling": ceiling,
        "minimal_spark_jobs": floors,
        "commit_to_visible_latency": fresh,
        "targets": {"ratio_at_least": 0.7, "p95_latency_below_s": 30},
        "targets_met": {
            "ratio": ratio >= 0.7,
            "p95_latency": fresh["p95_s"] < 30,
            "ratio_by_the_minimal_spark_jobs": [f["ratio"] >= 0.7 for f in floors],
        },
    }


if __name__ == "__main__":
    raise SystemExit(main())
