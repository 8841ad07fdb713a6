"""The multi-table phases of `make bench`: how a merge cycle's cost grows with tables and batch size.

Tables `bench.m001` ... `bench.m<N>` (a small row each: id, text, integer, timestamp) are
captured by the same connector as the other bench tables. Measured, in one run:
- cycle time against the number of active tables (10, 50, 100): a few rows committed in
  each table, captured, then one `cdc_merge.job.run_once` over those tables, three times;
- cycle time against the batch size: 10 tables, 5 to 10,000 rows each;
- commit-to-visible latency against the number of tables: one row committed every
  1/rate seconds, round robin over the tables, while the merge streams over all of them
  (one `CycleState`, as `lakehouse-merge stream` keeps); each row's latency is the time
  from its commit to the silver commit that contained it.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg

TABLE_COUNTS = (10, 50, 100)
BATCH_ROWS = (5, 100, 1_000, 10_000)
CYCLES = 3
Log = Callable[[str], None]


def table_names(n: int) -> list[str]:
    """The multi-table phase's source tables."""
    return [f"bench.m{i:03d}" for i in range(1, n + 1)]


def ddl(n: int) -> str:
    """SQL creating the phase's `n` source tables."""
    return "\n".join(
        f"CREATE TABLE IF NOT EXISTS {t} (id bigint PRIMARY KEY, label text, qty integer, updated_at timestamptz);"
        for t in table_names(n)
    )


class MultiTableBench:
    """The phase's state: its tables, the ids written so far per table, and an offset probe."""

    def __init__(self, spark: Any, settings: Any, n: int, log: Log) -> None:
        from cdc_merge.kafka_offsets import TopicOffsets

        self.spark, self.settings, self.log = spark, settings, log
        self.registry = settings.registry()
        self.tables = table_names(n)
        self.specs = {t: self.registry.by_source(t) for t in self.tables}
        self.topics = {t: self.registry.topic(s) for t, s in self.specs.items()}
        self.next_id = dict.fromkeys(self.tables, 1)
        self.probe = TopicOffsets(settings.kafka.librdkafka_config())

    def close(self) -> None:
        self.probe.close()

    def highs(self, tables: list[str]) -> dict[str, int]:
        """Records in each table's topic."""
        marks = self.probe.all_watermarks(self.topics[t] for t in tables)
        return {t: sum(h for _, h in marks.get(self.topics[t], {}).values()) for t in tables}

    def write(self, tables: list[str], rows: int) -> None:
        """Commit `rows` new rows in each of `tables` (one transaction per table), then wait
        until Debezium has them all in Kafka."""
        want = {t: h + rows for t, h in self.highs(tables).items()}
        with psycopg.connect(self.settings.source.conninfo(), autocommit=True) as conn:
            for t in tables:
                first = self.next_id[t]
                conn.execute(
                    f"INSERT INTO {t} SELECT g, 'label-' || g, g %% 97, now() "
                    "FROM generate_series(%s::bigint, %s::bigint) g",
                    (first, first + rows - 1),
                )
                self.next_id[t] = first + rows
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            have = self.highs(tables)
            if all(have[t] >= want[t] for t in tables):
                return
            time.sleep(0.2)
        raise TimeoutError(f"Debezium did not capture {rows} rows in each of {len(tables)} tables within 600 s")

    def cycle(self, tables: list[str]) -> dict[str, Any]:
        """One merge cycle over `tables`; its seconds and what it merged."""
        from cdc_merge.job import run_once

        t0 = time.monotonic()
        results = run_once(self.spark, self.settings, lambda _m: None, [self.specs[t] for t in tables])
        seconds = time.monotonic() - t0
        phases: dict[str, float] = {}
        for r in results:
            for k, v in r.phases.items():
                phases[k] = round(phases.get(k, 0.0) + v, 2)
        return {
            "seconds": round(seconds, 2),
            "tables_merged": len(results),
            "records": sum(r.records for r in results),
            "table_seconds_summed": phases,
        }


def measure_cycles(bench: MultiTableBench, rows_per_table: int = 5) -> list[dict[str, Any]]:
    """Cycle time against the number of active tables."""
    out = []
    for n in TABLE_COUNTS:
        tables = bench.tables[:n]
        runs = []
        for i in range(CYCLES):
            bench.write(tables, rows_per_table)
            runs.append(bench.cycle(tables))
            bench.log(f"multi-table: {n} active tables, cycle {i + 1}: {runs[-1]['seconds']:.1f}s")
        median = statistics.median(r["seconds"] for r in runs)
        out.append(
            {
                "tables": n,
                "rows_per_table": rows_per_table,
                "cycle_seconds": [r["seconds"] for r in runs],
                "cycle_seconds_median": round(median, 2),
                "seconds_per_active_table": round(median / n, 3),
                "runs": runs,
            }
        )
    return out


def measure_batch_sizes(bench: MultiTableBench, tables: int = 10) -> list[dict[str, Any]]:
    """Cycle time against the rows per table, on `tables` tables."""
    out = []
    names = bench.tables[:tables]
    for rows in BATCH_ROWS:
        bench.write(names, rows)
        run = bench.cycle(names)
        bench.log(f"multi-table: {tables} tables x {rows} rows: cycle {run['seconds']:.1f}s")
        out.append(
            {
                "tables": tables,
                "rows_per_table": rows,
                "cycle_seconds": run["seconds"],
                "us_per_record": round(run["seconds"] / (tables * rows) * 1e6, 1),
                "run": run,
            }
        )
    return out


class _Streamer(threading.Thread):
    """The merge streaming over the phase's tables, recording each table's commits."""

    def __init__(self, bench: MultiTableBench, tables: list[str]) -> None:
        super().__init__(daemon=True)
        self.bench, self.tables = bench, tables
        self.stop = threading.Event()
        self.commits: dict[str, list[tuple[float, int]]] = {t: [] for t in tables}  # (wall time, end offset)
        self.cycles: list[float] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        from cdc_merge.job import CycleState, run_once

        state = CycleState()
        specs = [self.bench.specs[t] for t in self.tables]
        try:
            while not self.stop.is_set():
                t0 = time.monotonic()
                results = run_once(self.bench.spark, self.bench.settings, lambda _m: None, specs, state)
                now = time.time()
                for r in results:
                    self.commits[r.table].append((now, sum(r.end.values())))
                if results:
                    self.cycles.append(time.monotonic() - t0)
                else:
                    time.sleep(0.2)
        except BaseException as exc:  # noqa: BLE001 - reported by the caller
            self.error = exc
        finally:
            state.close()


def measure_freshness(bench: MultiTableBench, seconds: float, rate: float) -> list[dict[str, Any]]:
    """Commit-to-visible latency against the number of tables, each taking a trickle of rows."""
    from lakehouse.lake import open_catalog

    out = []
    catalog = open_catalog(bench.settings)
    for n in TABLE_COUNTS:
        tables = bench.tables[:n]
        streamer = _Streamer(bench, tables)
        streamer.start()
        bench.log(f"multi-table freshness: {n} tables, one commit every {1 / rate:.2f}s for {seconds:.0f}s")
        committed: dict[tuple[str, int], float] = {}
        with psycopg.connect(bench.settings.source.conninfo(), autocommit=True) as conn:
            i = 0
            end = time.monotonic() + seconds
            while time.monotonic() < end and streamer.error is None:
                table = tables[i % n]
                row_id = bench.next_id[table]
                conn.execute(f"INSERT INTO {table} VALUES (%s, 'fresh', 0, now())", (row_id,))
                committed[(table, row_id)] = time.time()
                bench.next_id[table] = row_id + 1
                i += 1
                time.sleep(1 / rate)
        want = bench.highs(tables)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and streamer.error is None:
            if all(streamer.commits[t] and streamer.commits[t][-1][1] >= want[t] for t in tables):
                break
            time.sleep(0.5)
        streamer.stop.set()
        streamer.join()
        if streamer.error is not None:
            raise streamer.error
        latencies = []
        for table in tables:
            written = {(table, k[1]) for k in committed if k[0] == table}
            if not written:
                continue
            ids = [k[1] for k in written]
            silver = (
                catalog.load_table(bench.specs[table].iceberg)
                .scan(row_filter=f"id >= {min(ids)}", selected_fields=("id", "_cdc_kafka_offset"))
                .to_arrow()
                .to_pylist()
            )
            commits = streamer.commits[table]
            for row in silver:
                key = (table, row["id"])
                if key not in committed:
                    continue
                visible = next((t for t, end_off in commits if row["_cdc_kafka_offset"] < end_off), None)
                if visible is not None:
                    latencies.append(visible - committed[key])
        latencies.sort()
        p50 = statistics.median(latencies)
        p95 = latencies[int(0.95 * (len(latencies) - 1))]
        bench.log(
            f"multi-table freshness: {n} tables, {len(latencies)} of {len(committed)} rows seen, "
            f"p50 {p50:.1f}s, p95 {p95:.1f}s, median cycle {statistics.median(streamer.cycles):.1f}s"
        )
        out.append(
            {
                "tables": n,
                "rows_committed": len(committed),
                "rows_measured": len(latencies),
                "p50_s": round(p50, 2),
                "p95_s": round(p95, 2),
                "max_s": round(latencies[-1], 2),
                "cycles": len(streamer.cycles),
                "cycle_seconds_median": round(statistics.median(streamer.cycles), 2),
            }
        )
    return out


def run_phase(spark: Any, settings: Any, log: Log, fresh_seconds: float, fresh_rate: float) -> dict[str, Any]:
    """Every multi-table measurement; the `multi_table` part of the bench's result."""
    n = max(TABLE_COUNTS)
    bench = MultiTableBench(spark, settings, n, log)
    try:
        log(f"multi-table: one row in each of {n} tables, then the first cycle (creates their Iceberg tables)")
        bench.write(bench.tables, 1)
        first = bench.cycle(bench.tables)
        log(f"multi-table: first cycle {first['seconds']:.1f}s")
        idle_t0 = time.monotonic()
        idle = bench.cycle(bench.tables)
        idle["seconds"] = round(time.monotonic() - idle_t0, 2)
        log(f"multi-table: idle cycle over {n} tables {idle['seconds']:.2f}s")
        cycles = measure_cycles(bench)
        batch_sizes = measure_batch_sizes(bench)
        freshness = measure_freshness(bench, fresh_seconds, fresh_rate)
    finally:
        bench.close()
    at_most = next(c for c in cycles if c["tables"] == n)
    fresh_at_most = next(f for f in freshness if f["tables"] == n)
    return {
        "first_cycle": first,
        "idle_cycle": idle,
        "cycle_against_tables": cycles,
        "cycle_against_batch_size": batch_sizes,
        "freshness_against_tables": freshness,
        "threads": settings.merge.table_threads,
        "targets": {
            "cycle_of_100_active_tables_at_most_s": 30,
            "seconds_per_active_small_table_at_most": 0.25,
            "p95_commit_to_visible_across_100_tables_at_most_s": 30,
        },
        "targets_met": {
            "cycle_of_100_active_tables": at_most["cycle_seconds_median"] <= 30,
            "seconds_per_active_small_table": at_most["seconds_per_active_table"] <= 0.25,
            "p95_commit_to_visible_across_100_tables": fresh_at_most["p95_s"] <= 30,
        },
    }
