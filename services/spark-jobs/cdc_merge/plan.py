"""The plan stage of a table's batch: where it starts and ends, and what it expects to read.

Per table, from one catalog load of silver and one of bronze (the shared dead-letter
table is loaded once per cycle): the committed offsets, the next range of its topic (from
the watermarks the cycle read for every topic at once), the thresholds beyond which dead
letters and bronze still need this range (a re-run after a crash between the three
commits), the schema heads of the range's first and last records, and the silver columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

from lakehouse.debezium import head_schema, schema_head
from lakehouse.registry import Registry, TableSpec
from lakehouse.settings import Settings
from pyspark.sql import DataFrame, SparkSession
from spark_iceberg import snapshot_offsets
from spark_iceberg.snapshot_offsets import Offsets
from spark_iceberg.tables import find_table, spark_columns

from cdc_merge import lake_tables
from cdc_merge.changes import Typing, known_schemas, schema_typing, typed_changes
from cdc_merge.kafka_offsets import OffsetRange, TopicOffsets, Watermarks
from cdc_merge.result import TableResult


@dataclass
class TablePlan:
    """Everything a table's batch decided before reading its records."""

    spec: TableSpec
    topic: str
    silver: str
    bronze: str
    rng: OffsetRange
    props: dict[str, str]  # the snapshot properties of every commit of the batch
    silver_exists: bool
    silver_table: Any  # org.apache.iceberg.Table as loaded for this plan (py4j; None: no table yet)
    bronze_exists: bool
    dead_exists: bool  # the shared dead-letter table (created by the first table that needs it)
    current: dict[str, str] | None  # silver's source columns (None: no table yet)
    dead_from: Offsets
    bronze_from: Offsets
    heads: list[bytes]
    known: dict[str, str]  # schema id -> schema text of each head
    pre: Typing | None  # the heads' typing, when the classifying pass can type too
    marks: Watermarks

    def extend(self) -> partial[DataFrame] | None:
        """The typing the classifying pass adds (None: typed in a pass of its own)."""
        if self.pre is None:
            return None
        return partial(
            typed_changes, spec=self.spec, table_columns=self.pre.plan.columns, converters=self.pre.converters
        )

    @property
    def lag(self) -> int:
        """Records of the topic beyond this batch when it was planned."""
        return sum(max(0, high - self.rng.end.get(p, 0)) for p, (_, high) in self.marks.items())


def thresholds(start: Offsets, committed: Offsets | None) -> Offsets:
    """Per partition, the first offset of the range a sink does not hold yet."""
    return {p: max(o, (committed or {}).get(p, 0)) for p, o in start.items()}


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


def plan_table(
    spark: SparkSession,
    settings: Settings,
    registry: Registry,
    spec: TableSpec,
    probe: TopicOffsets,
    marks: Watermarks,
    dead_offsets: dict[str, Offsets] | None,
    result: TableResult,
) -> TablePlan | None:
    """The plan of `spec`'s next batch; None when its topic has nothing new.

    `dead_offsets`: every topic's offsets in the dead-letter table (None: no such table yet).

    Raises OffsetGap when records the table needs were deleted from Kafka.
    """
    topic = result.topic
    silver, bronze = registry.silver(spec), registry.bronze(spec)
    silver_table = find_table(spark, silver)
    committed = snapshot_offsets.offsets_in(silver_table, topic) if silver_table is not None else None
    rng = probe.next_range(
        topic,
        committed,
        settings.merge.max_records_per_batch,
        accept_gap=spec.source in settings.merge.accept_gap_tables,
        max_bytes=settings.merge.max_bytes_per_batch,
        marks=marks,
    )
    if rng is None:
        return None
    bronze_table = find_table(spark, bronze)
    bronze_committed = snapshot_offsets.offsets_in(bronze_table, topic) if bronze_table is not None else None
    current = None
    if silver_table is not None:
        current = {c: t for c, t in spark_columns(spark, silver_table).items() if c not in lake_tables.META_COLUMNS}
    heads = expected_heads(probe, rng)
    # The heads' schemas are usually the batch's: typing with them in the classifying pass
    # saves a second pass over the batch. It is checked against the batch's real schemas later.
    known = {f"head{i}": head_schema(h) for i, h in enumerate(heads)}
    pre = schema_typing(current, known_schemas(known)) if known else None
    if pre is not None and (pre.rejected or not pre.converters):
        pre = None
    return TablePlan(
        spec=spec,
        topic=topic,
        silver=silver,
        bronze=bronze,
        rng=rng,
        props={snapshot_offsets.property_name(topic): snapshot_offsets.encode(rng.end)},
        silver_exists=silver_table is not None,
        silver_table=silver_table,
        bronze_exists=bronze_table is not None,
        dead_exists=dead_offsets is not None,
        current=current,
        dead_from=thresholds(rng.start, (dead_offsets or {}).get(topic)),
        bronze_from=thresholds(rng.start, bronze_committed),
        heads=heads,
        known=known,
        pre=pre,
        marks=marks,
    )
