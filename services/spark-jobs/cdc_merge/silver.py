"""The silver sink: the newest change per primary key MERGEd into the current-state table.

The last of a batch's three commits: its offsets are where the table's next batch starts.
A batch with nothing to merge still commits them (an empty snapshot), so its records are
not read again.

When no key of the batch can be in silver, the MERGE would only insert: the batch is appended
instead (no join against the whole table). That is decided by Iceberg's own scan planning on
silver as the plan loaded it, for a single integer primary key: no live data file may hold a
key between the batch's least and greatest key (each file's key bounds, from its manifest
entry; a file without them always may). Bounds are conservative (a deleted row's file keeps
them until compaction), so a key that might be there always takes the MERGE. Initial snapshots
and tables whose keys grow take the append, and so do new keys in a gap between files.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lakehouse.registry import TableSpec
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from spark_iceberg.commits import append_with_properties, commit_marker, run_with_commit_properties

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


INTEGER_KEYS = frozenset({"tinyint", "smallint", "int", "bigint"})


def files_in_key_range(spark: SparkSession, table: Any, key: str, low: Any, high: Any) -> bool:
    """Whether Iceberg's scan planning keeps any live data file of `table` for keys in [low, high].

    Planning reads only manifests (no Spark job) and keeps every file whose key bounds overlap
    the range or that has no bounds of the key: a file it drops cannot hold such a key.
    """
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    expressions = jvm.org.apache.iceberg.expressions.Expressions
    in_range = getattr(expressions, "and")(
        expressions.greaterThanOrEqual(key, low), expressions.lessThanOrEqual(key, high)
    )
    tasks = table.newScan().filter(in_range).planFiles()
    try:
        return bool(tasks.iterator().hasNext())
    finally:
        tasks.close()


def appendable(
    spark: SparkSession,
    plan: TablePlan,
    columns: dict[str, str],
    key_range: tuple[Any, Any] | None,
) -> bool:
    """True when no key of the batch can be in silver, so that the MERGE would only insert.

    `key_range`: the least and greatest key of a superset of the batch's newest changes' keys, counted by
    classify with the batch (None: not counted, and the MERGE is taken).
    """
    if len(plan.spec.primary_key) != 1:
        return False
    key = plan.spec.primary_key[0]
    if columns.get(key) not in INTEGER_KEYS:
        return False
    if plan.silver_table is None or plan.silver_table.currentSnapshot() is None:
        return True  # no table before this batch, or one without rows: nothing to match
    if key_range is None:
        return False  # classify counted no key range: nothing to test against, so the MERGE
    return not files_in_key_range(spark, plan.silver_table, key, int(key_range[0]), int(key_range[1]))


def write_silver(
    spark: SparkSession,
    plan: TablePlan,
    columns: dict[str, str],
    resolved: LatestChanges | None,
    changes: int,
    has_table: bool,
    check: Callable[[], None],
    key_range: tuple[Any, Any] | None = None,
) -> str:
    """Write `resolved` into silver carrying the batch's offsets; returns how: merge, append or marker.

    `append` when no key of the batch can be in silver (see the module's docstring): the rows
    whose newest change is not a delete are appended (a delete of a key silver does not hold
    changes nothing, as in the MERGE). Otherwise the MERGE; with nothing to write, only the offsets.
    """
    meta = list(lake_tables.META_COLUMNS)
    if resolved is not None and changes:
        if appendable(spark, plan, columns, key_range):
            rows = resolved.latest.where(F.col("_cdc_op") != "d").select(*[F.col(f"`{c}`") for c in columns], *meta)
            check()
            append_with_properties(rows, plan.silver, plan.props)
            return "append"
        view = f"cdc_changes_{plan.spec.source.replace('.', '_')}"
        resolved.latest.createOrReplaceTempView(view)
        check()
        run_with_commit_properties(spark, plan.props, merge_sql(plan.silver, view, plan.spec, columns, meta))
        return "merge"
    if has_table:
        check()
        commit_marker(spark, plan.silver, plan.props)
        return "marker"
    return "none"
