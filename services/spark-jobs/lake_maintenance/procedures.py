"""The Iceberg maintenance calls, one function each: compaction, expiry, orphan removal, counts.

Every call goes through Iceberg's optimistic concurrency: it plans against one snapshot and
commits with a compare-and-swap, so racing a merge commit makes it fail or, for partial
progress, commit only the file groups that did not conflict. None of them changes rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyspark.sql import SparkSession
from spark_iceberg.tables import load_table

from lake_maintenance.retention import SnapshotInfo, sql_timestamp

# Below this the remove_orphan_files procedure refuses to run (it cannot know whether a
# commit is in flight); the identical Spark action takes any age.
PROCEDURE_MIN_ORPHAN_AGE_HOURS = 24.0


@dataclass
class FileCounts:
    """Live files of the current snapshot."""

    data_files: int = 0
    delete_files: int = 0


@dataclass
class RewriteOutcome:
    """What one rewrite_data_files call committed."""

    rewritten_data_files: int = 0
    added_data_files: int = 0
    failed_data_files: int = 0
    removed_delete_files: int = 0


def _lit(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _map(options: dict[str, str]) -> str:
    return "map(" + ", ".join(f"{_lit(k)}, {_lit(v)}" for k, v in options.items()) + ")"


def _call(spark: SparkSession, table: str, procedure: str, **args: str) -> list[Any]:
    """CALL <catalog>.system.<procedure>(table => '<ns.table>', ...) for a catalog-qualified `table`."""
    catalog, ident = table.split(".", 1)
    named = ", ".join([f"table => {_lit(ident)}", *(f"{k} => {v}" for k, v in args.items())])
    return spark.sql(f"CALL `{catalog}`.system.{procedure}({named})").collect()


def table_exists(spark: SparkSession, table: str) -> bool:
    return bool(spark.catalog.tableExists(table))


def file_counts(spark: SparkSession, table: str) -> FileCounts:
    """Data and delete files of the current snapshot (from its summary totals; a metadata query if absent)."""
    snap = load_table(spark, table).currentSnapshot()
    if snap is None:
        return FileCounts()
    summary = snap.summary()
    data, deletes = summary.get("total-data-files"), summary.get("total-delete-files")
    if data is not None and deletes is not None:
        return FileCounts(int(data), int(deletes))
    rows = spark.sql(f"SELECT content, count(*) AS n FROM {table}.files GROUP BY content").collect()
    counts = {r["content"]: r["n"] for r in rows}
    return FileCounts(counts.get(0, 0), counts.get(1, 0) + counts.get(2, 0))


def rewrite_data_files(spark: SparkSession, table: str, target_file_size_mb: int) -> RewriteOutcome:
    """Bin-pack small data files towards the target size, applying their position deletes."""
    options = {
        "target-file-size-bytes": str(target_file_size_mb * 1024 * 1024),
        # Two small files in a partition are worth merging (the default waits for five).
        "min-input-files": "2",
        # A data file with any delete file is rewritten, so the deletes get applied even
        # when it is alone in its partition.
        "delete-file-threshold": "1",
        # Position deletes whose data files were all rewritten are dropped in the same run.
        "remove-dangling-deletes": "true",
        # One commit per batch of file groups: a group that conflicts with a concurrent MERGE
        # (it added deletes to a file being rewritten) fails alone; the others stay committed.
        "partial-progress.enabled": "true",
        "partial-progress.max-commits": "10",
    }
    rows = _call(spark, table, "rewrite_data_files", strategy=_lit("binpack"), options=_map(options))
    out = RewriteOutcome()
    for r in rows:
        d = r.asDict()
        out.rewritten_data_files += int(d.get("rewritten_data_files_count") or 0)
        out.added_data_files += int(d.get("added_data_files_count") or 0)
        out.failed_data_files += int(d.get("failed_data_files_count") or 0)
        out.removed_delete_files += int(d.get("removed_delete_files_count") or 0)
    return out


def rewrite_position_delete_files(spark: SparkSession, table: str) -> tuple[int, int]:
    """Merge small position delete files and drop those pointing at no live data file: (rewritten, added)."""
    options = {
        # Every delete file, even one alone in its partition: rewriting drops the positions
        # whose data file is gone. remove-dangling-deletes above cannot catch deletes
        # committed in the very snapshot compaction started from (it compares sequence
        # numbers, and the compacted files keep that snapshot's), so this is what clears them.
        # After compaction few delete files are left, so rewriting all of them is cheap.
        "rewrite-all": "true",
        "partial-progress.enabled": "true",
    }
    rows = _call(spark, table, "rewrite_position_delete_files", options=_map(options))
    rewritten = sum(int(r["rewritten_delete_files_count"] or 0) for r in rows)
    added = sum(int(r["added_delete_files_count"] or 0) for r in rows)
    return rewritten, added


def snapshots(spark: SparkSession, table: str) -> tuple[int | None, list[SnapshotInfo]]:
    """The current snapshot id and every snapshot of `table`, with its checkpoint property keys.

    The current id is read first: the metadata query after it sees the same snapshots or
    more (a merge may commit in between), so the ancestry of that id is complete in it.
    """
    snap = load_table(spark, table).currentSnapshot()
    current = int(snap.snapshotId()) if snap is not None else None
    rows = spark.sql(
        "SELECT snapshot_id, parent_id, unix_millis(committed_at) AS ts, "
        "map_keys(map_filter(summary, (k, v) -> k LIKE 'lakehouse.offsets.%')) AS offset_keys "
        f"FROM {table}.snapshots"
    ).collect()
    infos = [
        SnapshotInfo(
            int(r["snapshot_id"]),
            None if r["parent_id"] is None else int(r["parent_id"]),
            int(r["ts"]),
            frozenset(r["offset_keys"] or ()),
        )
        for r in rows
    ]
    return current, infos


def expire_snapshots(spark: SparkSession, table: str, older_than_ms: int, retain_last: int) -> dict[str, int]:
    """Expire snapshots older than `older_than_ms` beyond the last `retain_last`; deleted file counts."""
    rows = _call(
        spark, table, "expire_snapshots", older_than=sql_timestamp(older_than_ms), retain_last=str(int(retain_last))
    )
    return {k: int(v or 0) for k, v in rows[0].asDict().items()} if rows else {}


def remove_orphan_files(spark: SparkSession, table: str, older_than_ms: int, min_age_hours: float) -> int:
    """Delete files under the table location that no snapshot references and that are older than the cutoff."""
    t = load_table(spark, table)
    # Trailing slash: a bare prefix `.../orders` would also list a sibling `.../orders_2`.
    location = str(t.location()).rstrip("/") + "/"
    if min_age_hours >= PROCEDURE_MIN_ORPHAN_AGE_HOURS:
        # Prefix listing through the table's S3FileIO: there is no Hadoop s3:// filesystem.
        rows = _call(
            spark,
            table,
            "remove_orphan_files",
            older_than=sql_timestamp(older_than_ms),
            location=_lit(location),
            prefix_listing="true",
        )
        return len(rows)
    # The operator chose a shorter age (FlowSettings allows it): the procedure's 24-hour
    # guard would refuse, its own message points to the action API, which is the same code.
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    result = (
        jvm.org.apache.iceberg.spark.actions.SparkActions.get(spark._jsparkSession)
        .deleteOrphanFiles(t)
        .location(location)
        .olderThan(older_than_ms)
        .usePrefixListing(True)
        .execute()
    )
    return int(jvm.org.apache.iceberg.relocated.com.google.common.collect.Iterables.size(result.orphanFileLocations()))
