"""Publish gold tables to the serving store (PostgreSQL) in one transaction.

Readers of the serving store (the serving API, read-only role) see either the previous
publication of every table or the new one: rows and the `serving.publications` record
are replaced together, and MVCC keeps the old rows visible until the commit.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from lakehouse.settings import Settings
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import TimestampType

from gold.build import GoldResult
from gold.definitions import GOLD_TABLES

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Say = Callable[[str], None]


def _rows(df: DataFrame) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Collect `df` with timestamps as aware UTC datetimes (PySpark would give naive local time)."""
    ts_cols = {f.name for f in df.schema.fields if isinstance(f.dataType, TimestampType)}
    cols = [F.unix_micros(F.col(c)).alias(c) if c in ts_cols else F.col(c) for c in df.columns]
    out = []
    for row in df.select(*cols).collect():
        out.append(
            tuple(
                EPOCH + timedelta(microseconds=row[c]) if c in ts_cols and row[c] is not None else row[c]
                for c in df.columns
            )
        )
    return df.columns, out


def publish(spark: SparkSession, settings: Settings, results: list[GoldResult], say: Say) -> datetime:
    """Copy each built gold snapshot into its serving table, all in one transaction; return the time."""
    by_name = {r.table: r for r in results}
    registry = settings.registry()
    payload = []
    for table in GOLD_TABLES:
        result = by_name[registry.gold(table.name)]
        df = spark.read.option("snapshot-id", result.snapshot_id).table(result.table)
        payload.append((table, result, *_rows(df)))
    with psycopg.connect(settings.serving.conninfo(reader=False)) as conn, conn.transaction():
        published_at = conn.execute("SELECT now()").fetchone()[0]  # type: ignore[index]
        for table, result, cols, rows in payload:
            conn.execute(f"DELETE FROM {table.serving_table}")
            with conn.cursor().copy(f"COPY {table.serving_table} ({', '.join(cols)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            conn.execute(
                "INSERT INTO serving.publications (gold_table, published_at, watermark, row_count, snapshot_id) "
                "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (gold_table) DO UPDATE SET "
                "published_at = EXCLUDED.published_at, watermark = EXCLUDED.watermark, "
                "row_count = EXCLUDED.row_count, snapshot_id = EXCLUDED.snapshot_id",
                (
                    f"{registry.lake.gold_namespace}.{table.name}",
                    published_at,
                    result.watermark,
                    len(rows),
                    result.snapshot_id,
                ),
            )
            say(f"{table.serving_table}: {len(rows)} rows published")
    return published_at  # type: ignore[no-any-return]
