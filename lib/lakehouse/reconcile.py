"""Row-for-row comparison of a silver table with its PostgreSQL source.

Used by the tests and the quality checks: both sides are read into plain Python values
and normalised so that equal data compares equal (UUIDs as text, JSON parsed, bytes).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import sql

from lakehouse.registry import TableSpec

Row = dict[str, Any]


def normalize(value: Any) -> Any:
    """A comparable form of a value read from either side."""
    if isinstance(value, memoryview):
        return bytes(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.dumps(json.loads(value), sort_keys=True)
        except ValueError:
            return value
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC)
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, Decimal):
        return value
    return value


def read_source_rows(conn: psycopg.Connection[Any], spec: TableSpec) -> tuple[list[str], list[Row]]:
    """The source table's column names and every row, normalised, read through `conn`.

    Reads in whatever transaction `conn` is in (the quality checks pass their snapshot's).
    """
    cur = conn.execute(
        sql.SQL("SELECT * FROM {}.{}").format(sql.Identifier(spec.source_schema), sql.Identifier(spec.source_table))
    )
    names = [d.name for d in cur.description or []]
    return names, [{n: normalize(v) for n, v in zip(names, rec, strict=True)} for rec in cur]


def source_columns(conn: psycopg.Connection[Any], spec: TableSpec) -> list[str]:
    """The source table's column names, in column order (no rows read)."""
    cur = conn.execute(
        sql.SQL("SELECT * FROM {}.{} LIMIT 0").format(
            sql.Identifier(spec.source_schema), sql.Identifier(spec.source_table)
        )
    )
    return [d.name for d in cur.description or []]


def iter_source_rows(conn: psycopg.Connection[Any], spec: TableSpec, *, fetch: int = 2000) -> Iterator[Row]:
    """Every row of the source table, normalised, streamed through a server-side cursor on `conn`.

    Memory holds `fetch` rows at a time, not the table. `conn` must be in a transaction (the
    quality checks pass their snapshot's, so the rows are the snapshot's).
    """
    query = sql.SQL("SELECT * FROM {}.{}").format(sql.Identifier(spec.source_schema), sql.Identifier(spec.source_table))
    with conn.cursor(name=f"reconcile_{uuid.uuid4().hex[:12]}") as cur:
        cur.itersize = fetch
        cur.execute(query)
        names: list[str] | None = None
        for rec in cur:
            if names is None:
                names = [d.name for d in cur.description or []]
            yield {n: normalize(v) for n, v in zip(names, rec, strict=True)}


def source_rows(conninfo: str, spec: TableSpec) -> dict[tuple[Any, ...], Row]:
    """Every row of the source table keyed by primary key, normalised."""
    with psycopg.connect(conninfo) as conn:
        _, rows = read_source_rows(conn, spec)
    return {tuple(row[k] for k in spec.primary_key): row for row in rows}


def source_not_null_columns(conn: psycopg.Connection[Any], spec: TableSpec) -> list[str]:
    """Columns declared NOT NULL in the source table's catalog (read through `conn`), in column order."""
    cur = conn.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = %s AND is_nullable = 'NO' ORDER BY ordinal_position",
        (spec.source_schema, spec.source_table),
    )
    return [str(r[0]) for r in cur]


def iter_lake_rows(table: Any, snapshot_id: int | None = None, *, fetch: int = 2000) -> Iterator[Row]:
    """Every row of a pyiceberg table (at `snapshot_id`, default current), normalised, `_cdc_*` dropped.

    Data file by data file: pyiceberg's own batch reader submits every file of the scan to its
    thread pool at once and keeps each file's batches until they are consumed, so a reader
    slower than the pool holds the whole table (7.5 GiB at 5 million wide rows, `make bench`).
    Here one file is read at a time, and its batches become Python objects `fetch` rows at a
    time: memory is bounded by the largest data file, not by the table.
    """
    from pyiceberg.io.pyarrow import ArrowScan

    scan = table.scan(snapshot_id=snapshot_id) if snapshot_id is not None else table.scan()
    projection = scan.projection()
    for task in scan.plan_files():
        reader = ArrowScan(scan.table_metadata, scan.io, projection, scan.row_filter, scan.case_sensitive)
        for batch in reader.to_record_batches([task]):
            for start in range(0, batch.num_rows, fetch):
                for rec in batch.slice(start, fetch).to_pylist():
                    yield {k: normalize(v) for k, v in rec.items() if not k.startswith("_cdc_")}


def lake_rows(table: Any, spec: TableSpec) -> dict[tuple[Any, ...], Row]:
    """Every row of a pyiceberg table keyed by primary key, normalised, `_cdc_*` columns dropped."""
    out: dict[tuple[Any, ...], Row] = {}
    for row in iter_lake_rows(table):
        key = tuple(row[k] for k in spec.primary_key)
        if key in out:
            raise AssertionError(f"{spec.iceberg}: duplicate primary key {key}")
        out[key] = row
    return out


@dataclass
class TableDiff:
    """Differences between source and lake for one table."""

    table: str
    source_count: int
    lake_count: int
    missing: list[tuple[Any, ...]] = field(default_factory=list)  # in source, not in lake
    extra: list[tuple[Any, ...]] = field(default_factory=list)  # in lake, not in source
    changed: list[tuple[tuple[Any, ...], str, Any, Any]] = field(default_factory=list)

    @property
    def equal(self) -> bool:
        return not (self.missing or self.extra or self.changed)

    def summary(self, limit: int = 5) -> str:
        if self.equal:
            return f"{self.table}: {self.source_count} rows equal"
        return (
            f"{self.table}: source {self.source_count} rows, lake {self.lake_count}; "
            f"missing {self.missing[:limit]} ({len(self.missing)}), extra {self.extra[:limit]} "
            f"({len(self.extra)}), changed {self.changed[:limit]} ({len(self.changed)})"
        )


def diff_table(conninfo: str, table: Any, spec: TableSpec) -> TableDiff:
    """Compare a silver table (pyiceberg) with its PostgreSQL source, row for row."""
    return diff_rows(spec.source, source_rows(conninfo, spec), lake_rows(table, spec))


def diff_rows(
    name: str, source: dict[tuple[Any, ...], Row], lake: dict[tuple[Any, ...], Row], columns: list[str] | None = None
) -> TableDiff:
    """Compare keyed rows on the source's columns (or `columns`); lake-only columns are ignored."""
    d = TableDiff(name, len(source), len(lake))
    d.missing = sorted(k for k in source if k not in lake)
    d.extra = sorted(k for k in lake if k not in source)
    for key, row in source.items():
        other = lake.get(key)
        if other is None:
            continue
        for col in columns or list(row):
            if other.get(col) != row[col]:
                d.changed.append((key, col, row[col], other.get(col)))
    return d
