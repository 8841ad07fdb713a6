"""The cdc-merge job: for every registry table, one bounded batch from Kafka into Iceberg.

A batch holds its table's lease (`cdc_merge.lease`, an advisory lock in the catalog
database) from reading the checkpoint to its last commit: one writer per table. A table
another merge holds is skipped after `LAKEHOUSE_MERGE_LEASE_WAIT_S` (its result says `busy`).
Per table and batch, in this order, each commit carrying the batch's end offsets:
  1. dead-letter rows appended  (records already there are skipped on a re-run)
  2. bronze change log appended (likewise)
  3. silver MERGE               (its offsets are where the next batch starts)
A crash anywhere re-reads from the silver offsets; the filters above and the
idempotent MERGE make the re-run change nothing that was already committed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial

from lakehouse.debezium import head_schema, schema_head
from lakehouse.registry import Registry, TableSpec
from lakehouse.settings import Settings
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from cdc_merge import checkpoint, lake_tables
from cdc_merge.changes import (
    CLASSIFIED_COLUMNS,
    batch_schemas,
    classify,
    known_schemas,
    offset_at_least,
    read_range,
    schema_typing,
    typed_changes,
)
from cdc_merge.kafka_offsets import OffsetGap, OffsetRange, TopicOffsets
from cdc_merge.lease import LeaseBusy, TableLease
from cdc_merge.silver_merge import merge_sql
from cdc_merge.toast import LatestChanges, latest_changes

Say = Callable[[str], None]


def fault(settings: Settings, point: str) -> None:
    """Crash hard at `point` when LAKEHOUSE_MERGE_FAULT_POINT names it (test hook)."""
    if settings.merge.fault_point == point:
        os._exit(86)


@dataclass
class TableResult:
    """What one batch did to one table."""

    table: str
    topic: str
    start: dict[int, int] = field(default_factory=dict)
    end: dict[int, int] = field(default_factory=dict)
    records: int = 0
    tombstones: int = 0
    changes: int = 0
    inserts_updates: int = 0
    deletes: int = 0
    bronze_appended: int = 0
    dead_lettered: dict[str, int] = field(default_factory=dict)
    schema_changes: list[str] = field(default_factory=list)
    key_changes: int = 0  # primary-key updates seen while resolving TOAST placeholders
    one_pass: bool = False  # typed while classifying: the batch's schemas were its heads'
    lag: int = 0
    busy: str | None = None  # another merge held the table: who (nothing was read or written)
    gap: str | None = None  # records it needs were deleted from Kafka: the table stopped (nothing written)
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)

    def mark(self, phase: str, since: float) -> float:
        """Record the seconds spent in `phase` since `since`; return now."""
        now = time.monotonic()
        self.phases[phase] = round(now - since, 2)
        return now

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _thresholds(rng_start: dict[int, int], committed: dict[int, int] | None) -> dict[int, int]:
    return {p: max(o, (committed or {}).get(p, 0)) for p, o in rng_start.items()}


def _append(df: DataFrame, table: str, props: dict[str, str], check: Callable[[], None]) -> None:
    check()
    writer = df.writeTo(table)
    for k, v in props.items():
        writer = writer.option(f"snapshot-property.{k}", v)
    writer.append()


def expected_heads(probe: TopicOffsets, rng: OffsetRange) -> list[bytes]:
    """Schema heads of each partition's first and last record in `rng`: usually every schema
    of the batch, so `classify` parses no schema text at all (it copes with any others)."""
    heads: list[bytes] = []
    for part, end in rng.end.items():
        for offset in sorted({rng.start.get(part, 0), end - 1}):
            value = probe.fetch(rng.topic, part, offset) if offset < end else None
            head = schema_head(value) if value is not None else None
            if head is not None and head not in heads:
                heads.append(head)
    return heads


def merge_table(
    spark: SparkSession,
    settings: Settings,
    registry: Registry,
    spec: TableSpec,
    probe: TopicOffsets,
    say: Say,
    lease: TableLease,
) -> TableResult | None:
    """One batch for one table under its lease; None when the topic has nothing new."""
    try:
        lease.acquire(spec.source, settings.merge.lease_wait_s)
    except LeaseBusy as exc:
        say(str(exc))
        return TableResult(table=spec.source, topic=registry.topic(spec), busy=exc.holder)
    try:
        return _merge_table(spark, settings, registry, spec, probe, say, partial(lease.check, spec.source))
    finally:
        lease.release(spec.source)


def _merge_table(
    spark: SparkSession,
    settings: Settings,
    registry: Registry,
    spec: TableSpec,
    probe: TopicOffsets,
    say: Say,
    check: Callable[[], None],
) -> TableResult | None:
    started = time.monotonic()
    topic = registry.topic(spec)
    silver, bronze, dead = registry.silver(spec), registry.bronze(spec), registry.dead_letter
    # One catalog load per table and batch: existence and stored offsets come from it.
    silver_table = checkpoint.find_table(spark, silver)
    silver_exists = silver_table is not None
    committed = checkpoint.offsets_in(silver_table, topic) if silver_exists else None
    try:
        rng = probe.next_range(
            topic,
            committed,
            settings.merge.max_records_per_batch,
            accept_gap=spec.source in settings.merge.accept_gap_tables,
        )
    except OffsetGap as exc:
        say(f"{spec.source}: {exc}")
        return TableResult(table=spec.source, topic=topic, gap=str(exc))
    if rng is None:
        return None
    result = TableResult(table=spec.source, topic=topic, start=rng.start, end=rng.end)
    props = {checkpoint.property_name(topic): checkpoint.encode(rng.end)}

    # Where dead letters and bronze stand for this topic: beyond these offsets they still
    # need this batch's records (a re-run after a crash between the three commits).
    dead_table, bronze_table = checkpoint.find_table(spark, dead), checkpoint.find_table(spark, bronze)
    dead_from = _thresholds(rng.start, checkpoint.offsets_in(dead_table, topic) if dead_table else None)
    bronze_from = _thresholds(rng.start, checkpoint.offsets_in(bronze_table, topic) if bronze_table else None)
    heads = expected_heads(probe, rng)
    current = None
    if silver_exists:
        current = {
            c: t for c, t in lake_tables.current_columns(spark, silver).items() if c not in lake_tables.META_COLUMNS
        }
    # The heads' schemas are usually the batch's: typing with them in the classifying pass
    # saves a second pass over the batch. It is checked against the batch's real schemas below.
    known = {f"head{i}": head_schema(h) for i, h in enumerate(heads)}
    pre = schema_typing(current, known_schemas(known)) if known else None
    if pre is not None and (pre.rejected or not pre.converters):
        pre = None
    extend = None
    if pre is not None:
        extend = partial(typed_changes, spec=spec, table_columns=pre.plan.columns, converters=pre.converters)
    t = result.mark("plan", started)
    classified = classify(read_range(spark, settings.kafka.java_client_config(), rng), registry, spec, heads, extend)
    typed: DataFrame | None = None
    typed_cached = False
    resolved: LatestChanges | None = None
    try:
        # One pass over the batch for every count and each schema's first record.
        keys: list[Column | str] = [
            "schema_id",
            "reason",
            "tombstone",
            offset_at_least(bronze_from, rng.start).alias("to_bronze"),
            offset_at_least(dead_from, rng.start).alias("to_dead"),
        ]
        groups = (
            classified.groupBy(*keys, *(["op", "fit_reason", "_any_unavail"] if pre is not None else []))
            .agg(F.count(F.lit(1)).alias("n"), F.min(F.struct("kafka_partition", "kafka_offset")).alias("first"))
            .collect()
        )
        result.records = sum(g["n"] for g in groups)
        result.tombstones = sum(g["n"] for g in groups if g["tombstone"])
        usable_groups = [g for g in groups if not g["tombstone"] and g["reason"] is None]
        result.bronze_appended = sum(g["n"] for g in usable_groups if g["to_bronze"])
        first_seen: dict[str, tuple[int, int]] = {}
        for g in usable_groups:
            if g["schema_id"] is not None:
                pos = (g["first"]["kafka_partition"], g["first"]["kafka_offset"])
                first_seen[g["schema_id"]] = min(first_seen.get(g["schema_id"], pos), pos)
        schemas = batch_schemas(
            [(sid, p, o) for sid, (p, o) in first_seen.items()], lambda part, off: probe.fetch(topic, part, off), known
        )
        typing = schema_typing(current, schemas)
        one_pass = result.one_pass = pre is not None and typing == pre
        t = result.mark("read+schemas", t)
        plan, rejected, converters = typing.plan, typing.rejected, typing.converters
        if converters:
            if not silver_exists:
                lake_tables.create_silver(spark, silver, spec, plan.columns)
                result.schema_changes.append(f"created {silver}")
            elif plan.add or plan.promote:
                lake_tables.evolve_silver(spark, silver, plan)
                result.schema_changes += [f"added {c} {t}" for c, t in plan.add.items()]
                result.schema_changes += [f"promoted {c} to {t}" for c, t in plan.promote.items()]
        lake_tables.ensure_bronze(spark, registry, spec, exists=bronze_table is not None)
        lake_tables.ensure_dead_letter(spark, registry, exists=dead_table is not None)
        t = result.mark("ddl", t)

        dead_counts: dict[str, int] = {}
        for g in groups:
            why = g["reason"] if g["reason"] is not None else rejected.get(g["schema_id"] or "")
            if not g["tombstone"] and why is not None and g["to_dead"]:
                dead_counts[why] = dead_counts.get(why, 0) + g["n"]

        table_columns = plan.columns
        schema_reason = F.lit(None).cast("string")
        for sid, why in rejected.items():
            schema_reason = F.when(F.col("schema_id") == sid, F.lit(why)).otherwise(schema_reason)
        usable = classified.where(~F.col("tombstone") & F.col("reason").isNull())
        ops: dict[str, int] = {}
        # op, why it does not fit, to dead letters, carries a TOAST placeholder, count
        fits: list[tuple[str, str | None, bool, bool, int]] = []
        if one_pass:
            # Typed in the classifying pass (no schema rejected): the counts are in `groups`.
            typed = usable
            fits = [(g["op"], g["fit_reason"], g["to_dead"], g["_any_unavail"], g["n"]) for g in usable_groups]
        elif converters:
            # Cached, and built by the counting job below: the steps after it (dead letters,
            # MERGE) then plan against a scan of the cache instead of re-deriving the parse.
            typed = typed_changes(
                usable.select(*CLASSIFIED_COLUMNS).where(schema_reason.isNull()), spec, table_columns, converters
            ).persist(StorageLevel.MEMORY_AND_DISK)
            typed_cached = True
            fits = [
                (g["op"], g["fit_reason"], g["to_dead"], g["_any_unavail"], g["count"])
                for g in typed.groupBy(
                    "op",
                    "fit_reason",
                    offset_at_least(dead_from, rng.start).alias("to_dead"),
                    "_any_unavail",
                )
                .count()
                .collect()
            ]
        placeholders = any(unavail for _, fit_reason, _, unavail, _ in fits if fit_reason is None)
        for op, fit_reason, to_dead, _, n in fits:
            if fit_reason is None:
                ops[op] = ops.get(op, 0) + n
            elif to_dead:
                dead_counts[fit_reason] = dead_counts.get(fit_reason, 0) + n
        t = result.mark("typed", t)

        # The newest change per key, TOAST placeholders resolved; those that cannot be are
        # dead letters, so this comes before any write.
        if ops:
            assert typed is not None
            toastable = {c for c, ct in converters.items() if ct.toastable and c in table_columns}
            resolved = latest_changes(
                spark,
                typed.where(F.col("fit_reason").isNull()),
                spec,
                table_columns,
                toastable,
                silver if silver_exists else None,
                placeholders,
            )
            result.key_changes = resolved.key_changes
            if resolved.unresolved is not None:
                unresolved_reasons = (
                    resolved.unresolved.where(offset_at_least(dead_from, rng.start))
                    .groupBy("toast_reason")
                    .count()
                    .collect()
                )
                for g in unresolved_reasons:
                    dead_counts[g["toast_reason"]] = dead_counts.get(g["toast_reason"], 0) + g["count"]
            t = result.mark("latest", t)

        fault(settings, "before-write")
        # 1. dead letters: envelope problems, rejected schemas, values that do not fit.
        if dead_counts:
            dead_cols = ("topic", "kafka_partition", "kafka_offset", "kafka_ts", "key")
            change_json = F.to_json(F.struct("op", "before", "after", "lsn"))
            bad_rows = classified.where(~F.col("tombstone") & F.col("reason").isNotNull()).select(
                *dead_cols, "value", "reason"
            )
            if rejected:
                bad_rows = bad_rows.unionByName(
                    usable.where(schema_reason.isNotNull()).select(
                        *dead_cols, change_json.alias("value"), schema_reason.alias("reason")
                    )
                )
            if typed is not None:
                bad_rows = bad_rows.unionByName(
                    typed.where(F.col("fit_reason").isNotNull()).select(
                        *dead_cols, change_json.alias("value"), F.col("fit_reason").alias("reason")
                    )
                )
            if resolved is not None and resolved.unresolved is not None and typed is not None:
                bad_rows = bad_rows.unionByName(
                    typed.join(F.broadcast(resolved.unresolved), ["kafka_partition", "kafka_offset"]).select(
                        *dead_cols, change_json.alias("value"), F.col("toast_reason").alias("reason")
                    )
                )
            _append(
                bad_rows.where(offset_at_least(dead_from, rng.start)).select(
                    "topic",
                    "kafka_partition",
                    "kafka_offset",
                    "kafka_ts",
                    F.lit(spec.source).alias("registry_table"),
                    "reason",
                    "key",
                    F.col("value").alias("payload"),
                    F.current_timestamp().alias("failed_at"),
                ),
                dead,
                props,
                check,
            )
        result.dead_lettered = dead_counts
        t = result.mark("dead-letter", t)

        # 2. bronze: every well-formed change event of this table, raw.
        if result.bronze_appended:
            _append(
                classified.where(
                    ~F.col("tombstone") & F.col("reason").isNull() & offset_at_least(bronze_from, rng.start)
                ).select(
                    "topic",
                    "kafka_partition",
                    "kafka_offset",
                    "kafka_ts",
                    "op",
                    "lsn",
                    "tx_id",
                    "source_ts",
                    "key",
                    "before",
                    "after",
                    F.current_timestamp().alias("ingested_at"),
                ),
                bronze,
                props,
                check,
            )
        fault(settings, "after-bronze")
        t = result.mark("bronze", t)

        # 3. silver.
        result.deletes = int(ops.get("d", 0))
        unresolved_count = resolved.unresolved_count if resolved is not None else 0
        result.inserts_updates = sum(int(v) for k, v in ops.items() if k != "d") - unresolved_count
        result.changes = result.deletes + result.inserts_updates
        if resolved is not None and result.changes:
            view = f"cdc_changes_{spec.source.replace('.', '_')}"
            resolved.latest.createOrReplaceTempView(view)
            check()
            checkpoint.run_with_commit_properties(
                spark, props, merge_sql(silver, view, spec, table_columns, list(lake_tables.META_COLUMNS))
            )
        elif silver_exists or converters:
            check()
            checkpoint.commit_marker(spark, silver, props)
        t = result.mark("silver", t)
        fault(settings, "after-commit")
    finally:
        if resolved is not None:
            resolved.unpersist()
        if typed is not None and typed_cached:
            typed.unpersist()
        classified.unpersist()

    marks = probe.watermarks(topic) or {}
    result.lag = sum(max(0, high - rng.end.get(p, 0)) for p, (_, high) in marks.items())
    result.seconds = round(time.monotonic() - started, 2)
    say(
        f"{spec.source}: {result.records} records [{checkpoint.encode(rng.start)} -> "
        f"{checkpoint.encode(rng.end)}], {result.changes} changes merged, {result.bronze_appended} to bronze, "
        f"{sum(result.dead_lettered.values())} dead-lettered, lag {result.lag}, {result.seconds}s {result.phases}"
    )
    return result


def run_once(
    spark: SparkSession, settings: Settings, say: Say, tables: list[TableSpec] | None = None
) -> list[TableResult]:
    """One batch for every registry table (or the given ones)."""
    registry = settings.registry()
    probe = TopicOffsets(settings.kafka.librdkafka_config())
    lease = TableLease(settings.catalog.conninfo())
    try:
        results = []
        for spec in tables or list(registry.tables):
            r = merge_table(spark, settings, registry, spec, probe, say, lease)
            if r is not None:
                results.append(r)
        return results
    finally:
        lease.close()
        probe.close()


def run_until_caught_up(
    spark: SparkSession, settings: Settings, say: Say, tables: list[TableSpec] | None = None
) -> list[TableResult]:
    """Batches until no table has anything new (a bounded `max_records_per_batch` may need several)."""
    everything: list[TableResult] = []
    while True:
        results = run_once(spark, settings, say, tables)
        everything += results
        # A table another merge holds is that merge's to catch up.
        if not results or all(r.lag == 0 or r.busy or r.gap for r in results):
            return everything
