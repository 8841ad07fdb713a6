"""The silver sink: the newest change per primary key MERGEd into the current-state table.

The last of a batch's three commits: its offsets are where the table's next batch starts.
A batch with nothing to merge still commits them (an empty snapshot), so its records are
not read again.
"""

from __future__ import annotations

from collections.abc import Callable

from lakehouse.registry import TableSpec
from pyspark.sql import SparkSession
from spark_iceberg.commits import commit_marker, run_with_commit_properties

from cdc_merge import lake_tables
from cdc_merge.plan import TablePlan
from cdc_merge.toast import LatestChanges


def merge_sql(target: str, source_view: str, spec: TableSpec, columns: dict[str, str], meta: list[str]) -> str:
    """MERGE INTO statement applying deletes, updates and inserts from `source_view`.

    A change older than the stored row (a connector re-emitting after a restart) never
    overwrites newer data. Every value in `source_view` is real: TOAST placeholders were
    resolved (or their changes dead-lettered) before.
    """
    on = " AND ".join(f"t.`{k}` = s.`{k}`" for k in spec.primary_key)
    not_older = "(s._cdc_lsn IS NULL OR t._cdc_lsn IS NULL OR s._cdc_lsn >= t._cdc_lsn)"
    sets = [f"t.`{c}` = s.`{c}`" for c in columns]
    sets += [f"t.{m} = s.{m}" for m in meta]
    insert_cols = [f"`{c}`" for c in columns] + meta
    insert_vals = [f"s.`{c}`" for c in columns] + [f"s.{m}" for m in meta]
    return (
        f"MERGE INTO {target} t USING {source_view} s ON {on} "
        f"WHEN MATCHED AND s._cdc_op = 'd' AND {not_older} THEN DELETE "
        f"WHEN MATCHED AND s._cdc_op <> 'd' AND {not_older} THEN UPDATE SET {', '.join(sets)} "
        f"WHEN NOT MATCHED AND s._cdc_op <> 'd' THEN INSERT ({', '.join(insert_cols)}) "
        f"VALUES ({', '.join(insert_vals)})"
    )


def write_silver(
    spark: SparkSession,
    plan: TablePlan,
    columns: dict[str, str],
    resolved: LatestChanges | None,
    changes: int,
    has_table: bool,
    check: Callable[[], None],
) -> None:
    """MERGE `resolved` into silver (or commit only the offsets), carrying the batch's offsets."""
    if resolved is not None and changes:
        view = f"cdc_changes_{plan.spec.source.replace('.', '_')}"
        resolved.latest.createOrReplaceTempView(view)
        check()
        run_with_commit_properties(
            spark, plan.props, merge_sql(plan.silver, view, plan.spec, columns, list(lake_tables.META_COLUMNS))
        )
    elif has_table:
        check()
        commit_marker(spark, plan.silver, plan.props)
