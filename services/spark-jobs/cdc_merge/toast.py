"""Unchanged-TOAST placeholders resolved to the values they stand for, or dead-lettered.

With REPLICA IDENTITY DEFAULT the WAL holds no old value for a TOASTed column an UPDATE
left alone, so Debezium sends a placeholder for it (`lakehouse.debezium.placeholder_forms`).
The placeholder stands for the value the same *physical row* held just before the change.
A row keeps its identity across primary-key updates, which Debezium sends as a delete of the
old key and a create of the new key at the same LSN: a chain A -> B -> C is one row.

Each placeholder takes, in order:
1. the newest real value of the same physical row earlier in the batch (across key changes);
2. the value silver stores at the key the physical row had when the batch began;
otherwise the change is dead-lettered with a reason naming the columns and the key. A
placeholder is never written, and never becomes NULL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lakehouse.registry import TableSpec
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, Row, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import DataType, IntegerType, LongType, StringType, StructField, StructType

# Above this many keys the silver lookup is a semi-join instead of a pushed-down key filter.
_FILTER_KEYS_MAX = 1000
# Change metadata carried to the MERGE, in the silver table's `_cdc_*` names.
_META = (
    ("op", "_cdc_op"),
    ("lsn", "_cdc_lsn"),
    ("source_ts", "_cdc_source_ts"),
    ("kafka_partition", "_cdc_kafka_partition"),
    ("kafka_offset", "_cdc_kafka_offset"),
)


def _order() -> list[Column]:
    """Change order within a row: source LSN, then Kafka position (built when a session exists)."""
    return [F.col("lsn").asc_nulls_first(), F.col("kafka_partition"), F.col("kafka_offset")]


UNRESOLVED_REASON = "unchanged TOAST value unavailable"


@dataclass
class LatestChanges:
    """The newest change per key, ready for the MERGE, and the changes that cannot be written."""

    latest: DataFrame  # source columns + `_cdc_*`: every value real
    unresolved: DataFrame | None  # (kafka_partition, kafka_offset, toast_reason) of dead-lettered changes
    unresolved_count: int
    key_changes: int
    cached: list[DataFrame]

    def unpersist(self) -> None:
        """Release the cached frames."""
        for frame in self.cached:
            frame.unpersist()


def _key(pk: Sequence[str]) -> Column:
    return F.struct(*[F.col(k).alias(k) for k in pk])


def _any(flags: list[Column]) -> Column:
    out = F.lit(False)
    for f in flags:
        out = out | f
    return out


def find_key_changes(changes: DataFrame, pk: Sequence[str]) -> list[Row]:
    """(lsn, old key, new key) of every primary-key update in `changes`.

    Debezium sends a key update as a delete of the old key and a create of the new one with
    the same source LSN; no other pair of row events shares an LSN (a snapshot's reads do, but
    they are reads). Events re-emitted after a connector restart repeat the pair, hence the
    distinct keys.
    """
    key = _key(pk)
    is_c, is_d = F.col("op") == "c", F.col("op") == "d"
    return (
        changes.where(F.col("op").isin("c", "d") & F.col("lsn").isNotNull())
        .groupBy("lsn")
        .agg(
            F.count_distinct(F.when(is_d, key)).alias("n_old"),
            F.count_distinct(F.when(is_c, key)).alias("n_new"),
            F.first(F.when(is_d, key), ignorenulls=True).alias("old"),
            F.first(F.when(is_c, key), ignorenulls=True).alias("new"),
        )
        .where("n_old = 1 AND n_new = 1 AND old <> new")
        .select("lsn", "old", "new")
        .collect()
    )


def row_roots(born: dict[int, Any], before: dict[int, Row | None]) -> dict[int, tuple[str, Any, Any, Any, Any]]:
    """The physical row each key-change segment continues (pure logic, driver side).

    `born` maps the LSN of each key change to its old key; `before` maps it to the old key's
    own segment start just before that change (`_birth` of its delete: None when the old key
    was there before the batch, else (lsn, old, kafka_partition, kafka_offset) of the event
    that created it, `old` set when that event was itself a key change). The root is
    ("s", key, None, None, None) for a row silver holds at `key`, or ("f", key, lsn, partition,
    offset) for a row inserted in this batch.
    """
    roots: dict[int, tuple[str, Any, Any, Any, Any]] = {}
    for lsn in born:
        cur, hops = lsn, 0
        while True:
            old, b = born[cur], before.get(cur)
            if b is None:
                roots[lsn] = ("s", old, None, None, None)
                break
            if b["old"] is None or b["lsn"] not in born or b["lsn"] >= cur or hops > len(born):
                roots[lsn] = ("f", old, b["lsn"], b["kafka_partition"], b["kafka_offset"])
                break
            cur, hops = b["lsn"], hops + 1
    return roots


def _root_type(key_type: DataType) -> StructType:
    return StructType(
        [
            StructField("kind", StringType()),
            StructField("key", key_type),
            StructField("lsn", LongType()),
            StructField("p", IntegerType()),
            StructField("o", LongType()),
        ]
    )


def _stored_filter(pk: Sequence[str], keys: list[Row]) -> Column:
    """A predicate Iceberg can push down (file pruning by column bounds) for a few keys."""
    if len(pk) == 1:
        return F.col(pk[0]).isin([k[pk[0]] for k in keys])
    cond = F.lit(False)
    for k in keys:
        one = F.lit(True)
        for c in pk:
            one = one & (F.col(c) == F.lit(k[c]))
        cond = cond | one
    return cond


def latest_changes(
    spark: SparkSession,
    changes: DataFrame,
    spec: TableSpec,
    columns: dict[str, str],
    toastable: set[str],
    silver: str | None,
    placeholders: bool,
) -> LatestChanges:
    """One row per key, its newest change by source LSN (Kafka offset breaks ties), placeholders resolved.

    `changes` are typed, well-fitting changes with `_unavail_<column>` flags; `silver` names
    the silver table when it exists; `placeholders` says whether any change of the batch
    carries one (when not, no resolution work is done at all).
    """
    pk = list(spec.primary_key)
    toast = sorted(c for c in toastable if c in columns) if placeholders else []
    df = changes.withColumn("_key", _key(pk))
    key_type = df.schema["_key"].dataType
    root_type = _root_type(key_type)
    n_pairs = 0
    cached: list[DataFrame] = []
    if toast:
        pairs = find_key_changes(changes, pk)
        n_pairs = len(pairs)
        pair_schema = StructType([StructField("_pair_lsn", LongType()), StructField("_old", key_type)])
        pair_df = F.broadcast(spark.createDataFrame([(p["lsn"], p["old"]) for p in pairs], pair_schema))
        df = df.join(pair_df, (F.col("lsn") == F.col("_pair_lsn")) & (F.col("op") == "c"), "left").drop("_pair_lsn")
        # Where each key's current segment began: the newest create or snapshot read at or
        # before the change (null: the key was there before the batch).
        by_key = Window.partitionBy("_key").orderBy(*_order()).rowsBetween(Window.unboundedPreceding, Window.currentRow)
        birth = F.struct(
            F.col("lsn").alias("lsn"),
            F.col("_old").alias("old"),
            F.col("kafka_partition").alias("kafka_partition"),
            F.col("kafka_offset").alias("kafka_offset"),
        )
        df = df.withColumn("_birth", F.last(F.when(F.col("op").isin("c", "r"), birth), ignorenulls=True).over(by_key))
        df = df.persist(StorageLevel.MEMORY_AND_DISK)
        cached.append(df)
        own_silver = F.struct(
            F.lit("s"), F.col("_key"), F.lit(None).cast("bigint"), F.lit(None).cast("int"), F.lit(None).cast("bigint")
        ).cast(root_type)
        own_fresh = F.struct(
            F.lit("f"),
            F.col("_key"),
            F.col("_birth.lsn"),
            F.col("_birth.kafka_partition"),
            F.col("_birth.kafka_offset"),
        ).cast(root_type)
        row_id = F.when(F.col("_birth").isNull(), own_silver).when(F.col("_birth.old").isNull(), own_fresh)
        if pairs:
            born = {p["lsn"]: p["old"] for p in pairs}
            deletes = df.where((F.col("op") == "d") & F.col("lsn").isin(list(born))).select("lsn", "_birth").collect()
            before: dict[int, Row | None] = {}
            for d in deletes:
                before.setdefault(d["lsn"], d["_birth"])
            roots = row_roots(born, before)
            map_schema = StructType([StructField("_seg_lsn", LongType()), StructField("_root", root_type)])
            mapping = F.broadcast(spark.createDataFrame([(lsn, r) for lsn, r in roots.items()], map_schema))
            df = df.join(
                mapping, (F.col("_birth.lsn") == F.col("_seg_lsn")) & F.col("_birth.old").isNotNull(), "left"
            ).drop("_seg_lsn")
            row_id = row_id.otherwise(F.col("_root"))
        df = df.withColumn("_row", row_id)
        by_row = Window.partitionBy("_row").orderBy(*_order()).rowsBetween(Window.unboundedPreceding, Window.currentRow)
        for c in toast:
            real = ~F.col(f"_unavail_{c}") & (F.col("op") != "d")
            df = df.withColumn(
                f"_carry_{c}", F.last(F.when(real, F.struct(F.col(c).alias("v"))), ignorenulls=True).over(by_row)
            )
    newest = Window.partitionBy(*pk).orderBy(
        F.col("lsn").desc_nulls_last(), F.col("kafka_partition").desc(), F.col("kafka_offset").desc()
    )
    df = df.withColumn("_rn", F.row_number().over(newest)).where("_rn = 1")
    meta = [F.col(a).alias(b) for a, b in _META]
    if not toast:
        return LatestChanges(df.select(*columns, *meta), None, 0, 0, cached)

    for c in toast:
        missing = F.col(f"_unavail_{c}") & (F.col("op") != "d")
        df = df.withColumn(
            c, F.when(missing & F.col(f"_carry_{c}").isNotNull(), F.col(f"_carry_{c}.v")).otherwise(F.col(c))
        ).withColumn(f"_unavail_{c}", missing & F.col(f"_carry_{c}").isNull())
    stuck_flag = _any([F.col(f"_unavail_{c}") for c in toast])
    keep = [*columns, *[f"_unavail_{c}" for c in toast], "_row", "_key", *[a for a, _ in _META]]
    df = df.select(*keep, stuck_flag.alias("_stuck")).persist(StorageLevel.MEMORY_AND_DISK)
    cached.append(df)
    stuck = df.where("_stuck")
    n_stuck = stuck.count()
    if n_stuck == 0:
        return LatestChanges(df.select(*columns, *meta), None, 0, n_pairs, cached)

    # Still a placeholder: the value silver stores at the key the row had when the batch began.
    found = F.lit(False)
    if silver is not None:
        stored_cols = [c for c in toast if c in spark.table(silver).columns]
        stored = spark.table(silver).select(*pk, *stored_cols)
        from_silver = stuck.where(F.col("_row.kind") == "s").select(F.col("_row.key").alias("_skey")).distinct()
        keys = from_silver.select("_skey.*").collect() if n_stuck <= _FILTER_KEYS_MAX else None
        if keys is not None:
            stored = stored.where(_stored_filter(pk, keys)) if keys else stored.where(F.lit(False))
        stored = stored.select(
            _key(pk).alias("_skey"), F.lit(True).alias("_found"), *[F.col(c).alias(f"_stored_{c}") for c in stored_cols]
        )
        if keys is None:
            stored = stored.join(from_silver, "_skey", "left_semi")
        stuck = stuck.join(stored, (F.col("_row.kind") == "s") & (F.col("_row.key") == F.col("_skey")), "left")
        found = F.coalesce(F.col("_found"), F.lit(False))
        for c in toast:
            value = F.col(f"_stored_{c}") if c in stored_cols else F.lit(None).cast(columns[c])
            stuck = stuck.withColumn(c, F.when(F.col(f"_unavail_{c}"), value).otherwise(F.col(c)))
    stuck = stuck.withColumn("_found", found).persist(StorageLevel.MEMORY_AND_DISK)
    cached.append(stuck)
    which = F.concat_ws(", ", *[F.when(F.col(f"_unavail_{c}"), F.lit(c)) for c in toast])
    reason = F.concat(
        F.lit(f"{UNRESOLVED_REASON}: Debezium sent its placeholder for "),
        which,
        F.lit(" and the row has no earlier value in this batch and no stored row in silver at key "),
        F.to_json(F.col("_row.key")),
        F.lit(
            " (it changed before it was captured; REPLICA IDENTITY FULL on the source table avoids "
            "placeholders, see docs/merge-semantics.md)"
        ),
    )
    unresolved = stuck.where(~F.col("_found")).select("kafka_partition", "kafka_offset", reason.alias("toast_reason"))
    n_unresolved = unresolved.count()
    latest = (
        df.where(~F.col("_stuck")).select(*columns, *meta).unionByName(stuck.where("_found").select(*columns, *meta))
    )
    return LatestChanges(latest, unresolved if n_unresolved else None, n_unresolved, n_pairs, cached)
