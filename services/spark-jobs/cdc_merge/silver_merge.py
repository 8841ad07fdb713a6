"""The silver MERGE: the last change per primary key, TOAST placeholders resolved."""

from __future__ import annotations

from lakehouse.registry import TableSpec
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F


def last_change_per_key(changes: DataFrame, spec: TableSpec, columns: dict[str, str],
                        toastable: set[str]) -> DataFrame:
    """One row per key: its newest change by source LSN (Kafka offset breaks ties).

    A value Debezium sent as the unchanged-TOAST placeholder takes the newest real value
    of the same key earlier in the batch; if there is none, the MERGE keeps the stored one.
    """
    pk = list(spec.primary_key)
    order = [F.col("lsn").asc_nulls_first(), F.col("kafka_partition"), F.col("kafka_offset")]
    running = Window.partitionBy(*pk).orderBy(*order).rowsBetween(Window.unboundedPreceding, Window.currentRow)
    df = changes
    for c in toastable:
        carry = F.last(F.when(~F.col(f"_unavail_{c}"), F.struct(F.col(c).alias("v"))), ignorenulls=True).over(running)
        df = df.withColumn(f"_carry_{c}", carry)
    newest = Window.partitionBy(*pk).orderBy(F.col("lsn").desc_nulls_last(), F.col("kafka_partition").desc(),
                                             F.col("kafka_offset").desc())
    df = df.withColumn("_rn", F.row_number().over(newest)).where("_rn = 1")
    for c in toastable:
        filled = F.col(f"_unavail_{c}") & F.col(f"_carry_{c}").isNotNull()
        df = (df.withColumn(c, F.when(filled, F.col(f"_carry_{c}.v")).otherwise(F.col(c)))
                .withColumn(f"_unavail_{c}", F.col(f"_unavail_{c}") & F.col(f"_carry_{c}").isNull()))
    keep = [*columns, *[f"_unavail_{c}" for c in toastable]]
    return df.select(
        *keep,
        F.col("op").alias("_cdc_op"), F.col("lsn").alias("_cdc_lsn"), F.col("source_ts").alias("_cdc_source_ts"),
        F.col("kafka_partition").alias("_cdc_kafka_partition"), F.col("kafka_offset").alias("_cdc_kafka_offset"),
    )


def merge_sql(target: str, source_view: str, spec: TableSpec, columns: dict[str, str],
              toastable: set[str], meta: list[str]) -> str:
    """MERGE INTO statement applying deletes, updates and inserts from `source_view`.

    A change older than the stored row (a connector re-emitting after a restart) never
    overwrites newer data.
    """
    on = " AND ".join(f"t.`{k}` = s.`{k}`" for k in spec.primary_key)
    not_older = "(s._cdc_lsn IS NULL OR t._cdc_lsn IS NULL OR s._cdc_lsn >= t._cdc_lsn)"
    sets = []
    for c in columns:
        if c in toastable:
            sets.append(f"t.`{c}` = CASE WHEN s.`_unavail_{c}` THEN t.`{c}` ELSE s.`{c}` END")
        else:
            sets.append(f"t.`{c}` = s.`{c}`")
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
