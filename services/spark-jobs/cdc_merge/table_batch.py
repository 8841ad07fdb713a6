"""One table's batch after its plan and the cycle's read: the stages in order.

  classify and type (`classify`) -> tables created or evolved (`lake_tables`) ->
  newest change per key, TOAST placeholders resolved (`toast`) -> the three commits, each
  carrying the batch's end offsets:
    1. dead letters appended  (`dead_letters`; records already there are skipped on a re-run)
    2. bronze appended        (`bronze`; likewise)
    3. silver MERGE           (`silver`; its offsets are where the next batch starts; an append
                              when Iceberg's key bounds show no key of the batch can be there)
A crash anywhere re-reads from the silver offsets; the filters above and the idempotent
MERGE make the re-run change nothing that was already committed. The caller holds the
table's lease throughout; `check` verifies it before each commit.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from lakehouse.registry import Registry
from lakehouse.settings import Settings
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from spark_iceberg.snapshot_offsets import encode

from cdc_merge import lake_tables
from cdc_merge.bronze import write_bronze
from cdc_merge.changes import offset_at_least
from cdc_merge.classify import classify_batch
from cdc_merge.dead_letters import write_dead_letters
from cdc_merge.kafka_offsets import TopicOffsets
from cdc_merge.plan import TablePlan
from cdc_merge.result import Say, TableResult
from cdc_merge.silver import write_silver
from cdc_merge.toast import LatestChanges, latest_changes


def fault(settings: Settings, point: str) -> None:
    """Crash hard at `point` when LAKEHOUSE_MERGE_FAULT_POINT names it (test hook)."""
    if settings.merge.fault_point == point:
        os._exit(86)


def merge_planned(
    spark: SparkSession,
    settings: Settings,
    registry: Registry,
    plan: TablePlan,
    records: DataFrame,
    probe: TopicOffsets,
    check: Callable[[], None],
    say: Say,
    result: TableResult,
) -> TableResult:
    """Classify, type and write one table's planned batch; `records` are its range's records."""
    spec, rng = plan.spec, plan.rng
    t = time.monotonic()
    batch = classify_batch(plan, records, registry, probe, result)
    resolved: LatestChanges | None = None
    try:
        t = result.mark("classify", t)
        typing = batch.typing
        table_columns = typing.plan.columns
        if typing.converters:
            if not plan.silver_exists:
                lake_tables.create_silver(spark, plan.silver, spec, table_columns)
                result.schema_changes.append(f"created {plan.silver}")
            elif typing.plan.add or typing.plan.promote:
                lake_tables.evolve_silver(spark, plan.silver, typing.plan)
                result.schema_changes += [f"added {c} {ct}" for c, ct in typing.plan.add.items()]
                result.schema_changes += [f"promoted {c} to {ct}" for c, ct in typing.plan.promote.items()]
        lake_tables.ensure_bronze(spark, registry, spec, exists=plan.bronze_exists)
        lake_tables.ensure_dead_letter(spark, registry, exists=plan.dead_exists)
        t = result.mark("ddl", t)

        # The newest change per key, TOAST placeholders resolved; those that cannot be are
        # dead letters, so this comes before any write.
        if batch.ops:
            assert batch.typed is not None
            toastable = {c for c, ct in typing.converters.items() if ct.toastable and c in table_columns}
            resolved = latest_changes(
                spark,
                batch.typed.where(F.col("fit_reason").isNull()),
                spec,
                table_columns,
                toastable,
                plan.silver if plan.silver_exists else None,
                batch.placeholders,
            )
            result.key_changes = resolved.key_changes
            if resolved.unresolved is not None:
                for g in (
                    resolved.unresolved.where(offset_at_least(plan.dead_from, rng.start))
                    .groupBy("toast_reason")
                    .count()
                    .collect()
                ):
                    batch.dead_counts[g["toast_reason"]] = batch.dead_counts.get(g["toast_reason"], 0) + g["count"]
            t = result.mark("latest", t)

        fault(settings, "before-write")
        if batch.dead_counts:
            write_dead_letters(registry.dead_letter, plan, batch, resolved, check, say)
        result.dead_lettered = batch.dead_counts
        t = result.mark("dead-letter", t)

        if result.bronze_appended:
            write_bronze(plan, batch, check)
        fault(settings, "after-bronze")
        t = result.mark("bronze", t)

        result.deletes = int(batch.ops.get("d", 0))
        unresolved_count = resolved.unresolved_count if resolved is not None else 0
        result.inserts_updates = sum(int(v) for k, v in batch.ops.items() if k != "d") - unresolved_count
        result.changes = result.deletes + result.inserts_updates
        result.silver_write = write_silver(
            spark,
            plan,
            table_columns,
            resolved,
            result.changes,
            plan.silver_exists or bool(typing.converters),
            check,
            batch.key_range,
        )
        result.mark("silver", t)
        fault(settings, "after-commit")
    finally:
        if resolved is not None:
            resolved.unpersist()
        batch.unpersist()
    return result


def progress_line(result: TableResult) -> str:
    """The one line a batch says about a table when it is done."""
    return (
        f"{result.table}: {result.records} records [{encode(result.start)} -> {encode(result.end)}], "
        f"{result.changes} changes merged, {result.bronze_appended} to bronze, "
        f"{sum(result.dead_lettered.values())} dead-lettered (silver: {result.silver_write or '-'}), "
        f"lag {result.lag}, {result.seconds}s {result.phases}"
    )
