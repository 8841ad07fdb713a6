"""The cdc-merge job: cycles, each one bounded batch for every registry table with news.

A cycle is a pipeline of stages over all tables at once:
  1. watermarks of every topic, in one metadata request (`kafka_offsets`); tables whose
     topic holds nothing past what this process last committed are skipped untouched;
  2. plan (`plan`), per table under its lease: committed offsets, range, schema heads;
  3. read (`read`): the ranges of every planned table in one Spark read, cached;
  4. per table (`table_batch`): classify and type, then the dead-letter, bronze and silver
     commits, each carrying the table's end offsets.
Stages 2 and 4 run the tables concurrently in `LAKEHOUSE_MERGE_TABLE_THREADS` threads,
whose Spark jobs share the executors through the FAIR scheduler (one pool per thread).

One writer per table: a batch holds its table's lease (`lease`, an advisory lock in the
catalog database) from its plan to its last commit; a table another merge holds is skipped
after `LAKEHOUSE_MERGE_LEASE_WAIT_S` (its result says `busy`). Exactly once per table: the
offsets of each commit are the table's own, so a crash anywhere re-reads that table's
batch from its silver offsets and the re-run changes nothing already committed
(docs/merge-semantics.md).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar

from lakehouse.registry import Registry, TableSpec
from lakehouse.settings import Settings
from pyspark.sql import SparkSession
from spark_iceberg.conflicts import describe
from spark_iceberg.snapshot_offsets import Offsets, offsets_by_topic
from spark_iceberg.tables import find_table

from cdc_merge.kafka_offsets import OffsetGap, TopicOffsets, Watermarks
from cdc_merge.lease import LeaseBusy, TableLease
from cdc_merge.plan import TablePlan, plan_table
from cdc_merge.read import CycleRecords
from cdc_merge.result import Say, TableResult
from cdc_merge.table_batch import merge_planned, progress_line

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class CycleState:
    """What one merge process keeps from cycle to cycle (`lakehouse-merge stream`, catch-up).

    `settled` holds, per topic, the high watermarks at which this process last found or
    left the table with nothing to merge. Offsets only grow, so while a topic's watermarks
    are those, nothing is new whoever committed meanwhile: the table is skipped without a
    lease, a catalog load or a probe.
    """

    settled: dict[str, dict[int, int]] = field(default_factory=dict)
    _pool: ThreadPoolExecutor | None = None
    _pool_size: int = 0

    def pool(self, size: int) -> ThreadPoolExecutor:
        """The table threads (kept across cycles: each carries a pinned JVM thread)."""
        if self._pool is None or self._pool_size != size:
            self.close()
            self._pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="merge-table")
            self._pool_size = size
        return self._pool

    def is_settled(self, topic: str, marks: Watermarks) -> bool:
        """True when `topic` has nothing past what this process last saw merged."""
        return self.settled.get(topic) == {p: high for p, (_, high) in marks.items()}

    def settle(self, topic: str, end: Offsets, marks: Watermarks) -> None:
        """Remember `topic` as merged up to `end` when that is all the topic held."""
        highs = {p: high for p, (_, high) in marks.items()}
        if all(end.get(p, 0) >= high for p, high in highs.items()):
            self.settled[topic] = highs
        else:
            self.settled.pop(topic, None)

    def close(self) -> None:
        """Stop the table threads."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


def _in_threads(
    spark: SparkSession, pool: ThreadPoolExecutor, size: int, work: Callable[[T], R], items: Iterable[T]
) -> list[R | BaseException]:
    """`work` over `items` in the pool, each thread's Spark jobs in a FAIR pool of its own.

    Every item runs to its end: a failure is returned in its place, not raised, so one
    table's failure does not stop the others' commits.
    """
    local = threading.local()

    def run(item: T) -> R | BaseException:
        if not getattr(local, "pool_set", False):
            slot = int(threading.current_thread().name.rsplit("_", 1)[-1] or 0) % max(1, size)
            spark.sparkContext.setLocalProperty("spark.scheduler.pool", f"table-{slot}")
            local.pool_set = True
        try:
            return work(item)
        except BaseException as exc:  # noqa: BLE001 - handed back to the cycle
            return exc

    return list(pool.map(run, items))


class _Cycle:
    """The shared parts of one cycle: session, settings, probe, leases, the say function."""

    def __init__(
        self, spark: SparkSession, settings: Settings, say: Say, probe: TopicOffsets, lease: TableLease
    ) -> None:
        self.spark, self.settings, self.say, self.probe, self.lease = spark, settings, say, probe, lease
        self.registry: Registry = settings.registry()

    def plan(
        self, spec: TableSpec, marks: Watermarks, dead_offsets: dict[str, Offsets] | None
    ) -> tuple[TableResult, TablePlan | None]:
        started = time.monotonic()
        result = TableResult(table=spec.source, topic=self.registry.topic(spec))
        try:
            self.lease.acquire(spec.source, self.settings.merge.lease_wait_s)
        except LeaseBusy as exc:
            self.say(str(exc))
            result.busy = exc.holder
            return result, None
        try:
            plan = plan_table(self.spark, self.settings, self.registry, spec, self.probe, marks, dead_offsets, result)
        except OffsetGap as exc:
            self.say(f"{spec.source}: {exc}")
            result.gap = str(exc)
            plan = None
        except BaseException:
            self.lease.release(spec.source)
            raise
        if plan is None:
            self.lease.release(spec.source)
            return result, None
        result.start, result.end, result.lag = plan.rng.start, plan.rng.end, plan.lag
        result.mark("plan", started)
        return result, plan

    def merge(self, item: tuple[TableResult, TablePlan, CycleRecords]) -> TableResult:
        result, plan, records = item
        started = time.monotonic() - sum(result.phases.values())
        try:
            merge_planned(
                self.spark,
                self.settings,
                self.registry,
                plan,
                records.of(plan.topic),
                self.probe,
                partial(self.lease.check, plan.spec.source),
                self.say,
                result,
            )
        finally:
            self.lease.release(plan.spec.source)
        result.seconds = round(time.monotonic() - started, 2)
        self.say(progress_line(result))
        return result


def run_once(
    spark: SparkSession,
    settings: Settings,
    say: Say,
    tables: list[TableSpec] | None = None,
    state: CycleState | None = None,
) -> list[TableResult]:
    """One cycle: a batch for every registry table (or the given ones) with something new.

    Returns a result per table that was merged, found busy or stopped at a gap. When a
    table's batch fails the others still finish theirs; then the first failure is raised.
    """
    own_state = state is None
    state = state or CycleState()
    registry = settings.registry()
    specs = tables or list(registry.tables)
    threads = max(1, settings.merge.table_threads)
    probe = TopicOffsets(settings.kafka.librdkafka_config())
    lease = TableLease(settings.catalog.conninfo())
    cycle = _Cycle(spark, settings, say, probe, lease)
    records: CycleRecords | None = None
    try:
        marks = probe.all_watermarks(registry.topic(s) for s in specs)
        candidates = [s for s in specs if (t := registry.topic(s)) in marks and not state.is_settled(t, marks[t])]
        if not candidates:
            return []
        dead = find_table(spark, registry.dead_letter)
        dead_offsets = offsets_by_topic(spark, dead) if dead is not None else None
        pool = state.pool(threads)
        planned: list[tuple[TableResult, TablePlan]] = []
        results: list[TableResult] = []
        failures: list[BaseException] = []
        for outcome in _in_threads(
            spark, pool, threads, lambda s: cycle.plan(s, marks[registry.topic(s)], dead_offsets), candidates
        ):
            if isinstance(outcome, BaseException):
                failures.append(outcome)
                continue
            result, plan = outcome
            if plan is not None:
                planned.append((result, plan))
            elif result.busy or result.gap:
                results.append(result)
            else:
                # Nothing new: the table holds everything up to the high watermarks.
                state.settled[result.topic] = {p: high for p, (_, high) in marks[result.topic].items()}
        if planned:
            started = time.monotonic()
            records = CycleRecords(spark, settings.kafka.java_client_config(), [p.rng for _, p in planned])
            records.materialize()
            read_s = round(time.monotonic() - started, 2)
            if len(planned) > 1:
                say(f"cycle: read {sum(p.rng.count for _, p in planned)} records of {len(planned)} tables in {read_s}s")
            for result, _ in planned:
                result.phases["read"] = read_s
            merged = _in_threads(spark, pool, threads, cycle.merge, [(r, p, records) for r, p in planned])
            for (result, _), done_or_failed in zip(planned, merged, strict=True):
                if isinstance(done_or_failed, BaseException):
                    result.error = describe(done_or_failed)
                    say(f"{result.table}: the batch failed, nothing more of it is committed: {result.error}")
                    failures.append(done_or_failed)
                    state.settled.pop(result.topic, None)
                else:
                    results.append(done_or_failed)
            done = {r.topic for r in results if r.error is None and not r.busy and not r.gap}
            after = probe.all_watermarks(done) if done else {}
            for result in results:
                if result.topic in after:
                    high = after[result.topic]
                    result.lag = sum(max(0, h - result.end.get(p, 0)) for p, (_, h) in high.items())
                    state.settle(result.topic, result.end, high)
        if failures:
            raise failures[0]
        return results
    finally:
        if records is not None:
            records.release()
        if own_state:
            state.close()
        lease.close()
        probe.close()


def run_until_caught_up(
    spark: SparkSession, settings: Settings, say: Say, tables: list[TableSpec] | None = None
) -> list[TableResult]:
    """Cycles until no table has anything new (a bounded batch size may need several)."""
    everything: list[TableResult] = []
    state = CycleState()
    try:
        while True:
            results = run_once(spark, settings, say, tables, state)
            everything += results
            # A table another merge holds is that merge's to catch up.
            if not results or all(r.lag == 0 or r.busy or r.gap for r in results):
                return everything
    finally:
        state.close()
