"""The classify-and-type stage of a table's batch: every record gets its place and its types.

One pass over the batch (`changes.classify`, typed in the same pass when the plan's schema
heads cover the batch) gives every count and each schema's first record; the batch's real
schemas are then folded into silver's (`changes.schema_typing`), and values that do not fit
their column are counted as dead letters here, before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lakehouse.registry import Registry
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, Row
from pyspark.sql import functions as F

from cdc_merge.changes import (
    CLASSIFIED_COLUMNS,
    Typing,
    batch_schemas,
    classify,
    offset_at_least,
    schema_typing,
    typed_changes,
)
from cdc_merge.kafka_offsets import TopicOffsets
from cdc_merge.plan import TablePlan
from cdc_merge.result import TableResult


@dataclass
class ClassifiedBatch:
    """A table's batch, classified and typed, and what it holds."""

    classified: DataFrame  # CLASSIFIED_COLUMNS of every record (cached)
    usable: DataFrame  # well-formed change events of the table
    typed: DataFrame | None  # usable events of accepted schemas with typed columns (None: nothing to type)
    typing: Typing
    schema_reason: Column  # why a usable event's schema was rejected (null: accepted)
    dead_counts: dict[str, int]  # reason -> records the dead-letter table still needs
    ops: dict[str, int]  # op -> typed changes that fit
    placeholders: bool  # some fitting change carries a TOAST placeholder
    cached: list[DataFrame] = field(default_factory=list)
    # Least and greatest key of the fitting changes (a single-column key; None: not counted).
    # A superset of the keys the silver write gets, so a test against it is conservative.
    key_range: tuple[Any, Any] | None = None

    def unpersist(self) -> None:
        """Release the cached frames."""
        for frame in self.cached:
            frame.unpersist()


def _add(counts: dict[str, int], reason: str, n: int) -> None:
    counts[reason] = counts.get(reason, 0) + n


def classify_batch(
    plan: TablePlan, records: DataFrame, registry: Registry, probe: TopicOffsets, result: TableResult
) -> ClassifiedBatch:
    """Classify and type `records` (the plan's range of its topic); fills in `result`'s counts."""
    classified = classify(records, registry, plan.spec, plan.heads, plan.extend())
    cached = [classified]
    try:
        return _count_and_type(plan, classified, cached, probe, result)
    except BaseException:
        for frame in cached:
            frame.unpersist()
        raise


def _count_and_type(
    plan: TablePlan, classified: DataFrame, cached: list[DataFrame], probe: TopicOffsets, result: TableResult
) -> ClassifiedBatch:
    rng, start = plan.rng, plan.rng.start
    keys: list[Column | str] = [
        "schema_id",
        "reason",
        "tombstone",
        offset_at_least(plan.bronze_from, start).alias("to_bronze"),
        offset_at_least(plan.dead_from, start).alias("to_dead"),
    ]
    # The key's range rides along with the counts (no job of its own) where the key is typed here.
    key = plan.spec.primary_key[0] if len(plan.spec.primary_key) == 1 else None
    ranges = [F.min(f"`{key}`").alias("kmin"), F.max(f"`{key}`").alias("kmax")] if key else []
    groups: list[Row] = (
        classified.groupBy(*keys, *(["op", "fit_reason", "_any_unavail"] if plan.pre is not None else []))
        .agg(
            F.count(F.lit(1)).alias("n"),
            F.min(F.struct("kafka_partition", "kafka_offset")).alias("first"),
            *(ranges if plan.pre is not None else []),
        )
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
        [(sid, p, o) for sid, (p, o) in first_seen.items()],
        lambda part, off: probe.fetch(rng.topic, part, off),
        plan.known,
    )
    typing = schema_typing(plan.current, schemas)
    one_pass = result.one_pass = plan.pre is not None and typing == plan.pre
    batch = ClassifiedBatch(
        classified=classified,
        usable=classified.where(~F.col("tombstone") & F.col("reason").isNull()),
        typed=None,
        typing=typing,
        schema_reason=F.lit(None).cast("string"),
        dead_counts={},
        ops={},
        placeholders=False,
        cached=cached,
    )

    for g in groups:
        why = g["reason"] if g["reason"] is not None else typing.rejected.get(g["schema_id"] or "")
        if not g["tombstone"] and why is not None and g["to_dead"]:
            _add(batch.dead_counts, why, g["n"])
    for sid, why in typing.rejected.items():
        batch.schema_reason = F.when(F.col("schema_id") == sid, F.lit(why)).otherwise(batch.schema_reason)

    # op, why it does not fit, to dead letters, carries a TOAST placeholder, count
    fits: list[tuple[str, str | None, bool, bool, int]] = []
    bounded: list[Row] = []  # the groups of fitting changes with the key's least and greatest value
    if one_pass:
        # Typed in the classifying pass (no schema rejected): the counts are in `groups`.
        batch.typed = batch.usable
        fits = [(g["op"], g["fit_reason"], g["to_dead"], g["_any_unavail"], g["n"]) for g in usable_groups]
        bounded = [g for g in usable_groups if g["fit_reason"] is None]
    elif typing.converters:
        # Cached, and built by the counting job below: the steps after it (dead letters,
        # MERGE) then plan against a scan of the cache instead of re-deriving the parse.
        typed = typed_changes(
            batch.usable.select(*CLASSIFIED_COLUMNS).where(batch.schema_reason.isNull()),
            plan.spec,
            typing.plan.columns,
            typing.converters,
        ).persist(StorageLevel.MEMORY_AND_DISK)
        batch.typed = typed
        cached.append(typed)
        typed_groups = (
            typed.groupBy("op", "fit_reason", offset_at_least(plan.dead_from, start).alias("to_dead"), "_any_unavail")
            .agg(F.count(F.lit(1)).alias("n"), *ranges)
            .collect()
        )
        fits = [(g["op"], g["fit_reason"], g["to_dead"], g["_any_unavail"], g["n"]) for g in typed_groups]
        bounded = [g for g in typed_groups if g["fit_reason"] is None]
    if key is not None and bounded:
        lows = [g["kmin"] for g in bounded if g["kmin"] is not None]
        highs = [g["kmax"] for g in bounded if g["kmax"] is not None]
        batch.key_range = (min(lows), max(highs)) if lows and highs else None
    batch.placeholders = any(unavail for _, fit_reason, _, unavail, _ in fits if fit_reason is None)
    for op, fit_reason, to_dead, _, n in fits:
        if fit_reason is None:
            batch.ops[op] = batch.ops.get(op, 0) + n
        elif to_dead:
            _add(batch.dead_counts, fit_reason, n)
    return batch
