"""The dead-letter sink: every record of a batch that cannot be merged, with its reason.

Envelope problems, rejected schemas, values that do not fit their column and TOAST
placeholders that cannot be resolved. The first of a batch's three commits; records the
table already holds (a re-run after a crash) are filtered out by offset.
"""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import functions as F
from spark_iceberg.commits import append_with_properties
from spark_iceberg.conflicts import with_retries

from cdc_merge.changes import offset_at_least
from cdc_merge.classify import ClassifiedBatch
from cdc_merge.plan import TablePlan
from cdc_merge.toast import LatestChanges

_COLUMNS = ("topic", "kafka_partition", "kafka_offset", "kafka_ts", "key")


def write_dead_letters(
    table: str,
    plan: TablePlan,
    batch: ClassifiedBatch,
    resolved: LatestChanges | None,
    check: Callable[[], None],
    say: Callable[[str], None],
) -> None:
    """Append the batch's dead letters to `table` in one commit carrying the batch's offsets."""
    change_json = F.to_json(F.struct("op", "before", "after", "lsn"))
    classified, typed = batch.classified, batch.typed
    bad_rows = classified.where(~F.col("tombstone") & F.col("reason").isNotNull()).select(*_COLUMNS, "value", "reason")
    if batch.typing.rejected:
        bad_rows = bad_rows.unionByName(
            batch.usable.where(batch.schema_reason.isNotNull()).select(
                *_COLUMNS, change_json.alias("value"), batch.schema_reason.alias("reason")
            )
        )
    if typed is not None:
        bad_rows = bad_rows.unionByName(
            typed.where(F.col("fit_reason").isNotNull()).select(
                *_COLUMNS, change_json.alias("value"), F.col("fit_reason").alias("reason")
            )
        )
    if resolved is not None and resolved.unresolved is not None and typed is not None:
        bad_rows = bad_rows.unionByName(
            typed.join(F.broadcast(resolved.unresolved), ["kafka_partition", "kafka_offset"]).select(
                *_COLUMNS, change_json.alias("value"), F.col("toast_reason").alias("reason")
            )
        )
    rows = bad_rows.where(offset_at_least(plan.dead_from, plan.rng.start)).select(
        "topic",
        "kafka_partition",
        "kafka_offset",
        "kafka_ts",
        F.lit(plan.spec.source).alias("registry_table"),
        "reason",
        "key",
        F.col("value").alias("payload"),
        F.current_timestamp().alias("failed_at"),
    )

    def append() -> None:
        check()
        append_with_properties(rows, table, plan.props)

    # Every table's batch appends to this one table, concurrently within a cycle. Iceberg
    # retries a lost append itself; past its retries the append is run again (it committed
    # nothing, so running it again is safe).
    with_retries(append, what=f"{plan.spec.source}: dead letters", base_delay_s=0.5, say=say)
