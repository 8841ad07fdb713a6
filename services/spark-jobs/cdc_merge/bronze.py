"""The bronze sink: every well-formed change event of a table's batch, raw (the change log).

The second of a batch's three commits; events the table already holds (a re-run after a
crash between the commits) are filtered out by offset.
"""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import functions as F
from spark_iceberg.commits import append_with_properties

from cdc_merge.changes import offset_at_least
from cdc_merge.classify import ClassifiedBatch
from cdc_merge.plan import TablePlan


def write_bronze(plan: TablePlan, batch: ClassifiedBatch, check: Callable[[], None]) -> None:
    """Append the batch's change events to the table's bronze table, carrying the batch's offsets."""
    rows = batch.classified.where(
        ~F.col("tombstone") & F.col("reason").isNull() & offset_at_least(plan.bronze_from, plan.rng.start)
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
    )
    check()
    append_with_properties(rows, plan.bronze, plan.props)
