"""Data quality checks of silver tables against a consistent point of the source.

The flow opens a `SourceSnapshot` (lakehouse.consistency), waits until Debezium captured
everything it sees, runs the merge, then calls `check_tables()`. Per table:

- K = keys of every bronze change whose transaction the snapshot does not see (committed
  after it or in progress at it). Every change silver holds is in bronze (bronze is appended
  before silver in the same batch, and bronze is read after silver's snapshot is pinned).
- Outside K, silver must equal the snapshot's rows exactly: same row count and the same
  content checksum (order independent: sha256 over the sorted per-row digests of normalised
  rows). On a mismatch the first differing keys are reported (reconcile.diff_rows).
- Silver's primary key is unique, and not null; the source's NOT NULL columns (its catalog,
  read in the snapshot) are not null in silver outside K.

Everything is held in Python (O(rows) memory and time): fine for the demo tables, not for
large ones (docs/quality.md).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.types import (
    BinaryType,
    BooleanType,
    DateType,
    DecimalType,
    DoubleType,
    FloatType,
    IcebergType,
    IntegerType,
    LongType,
    StringType,
    TimestampType,
    TimestamptzType,
)

from lakehouse.consistency import SnapshotXids, SourceSnapshot
from lakehouse.reconcile import (
    Row,
    diff_rows,
    iter_lake_rows,
    normalize,
    read_source_rows,
    source_not_null_columns,
)
from lakehouse.registry import Registry, TableSpec
from lakehouse.settings import Settings

Key = tuple[Any, ...]
SAMPLE = 5  # keys named per problem

_EPOCH = datetime(1970, 1, 1)


# --- pure logic -------------------------------------------------------------------------


def canonical(value: Any) -> str:
    """A text form of a normalised value such that values equal under `==` get the same text.

    Numbers compare across int/Decimal/float (1 == Decimal('1.00') == 1.0), so they share one
    form; types that never compare equal (str vs int, naive vs aware datetime) stay apart.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"bool:{int(value)}"
    if isinstance(value, (int, float, Decimal)):
        try:
            d = Decimal(value) if isinstance(value, int) else Decimal(str(value))
        except InvalidOperation:
            return f"num:{value!r}"
        if d.is_nan():
            return "num:NaN"
        return "num:0" if d == 0 else f"num:{d.normalize()}"
    if isinstance(value, str):
        return "str:" + value
    if isinstance(value, bytes):
        return "bytes:" + value.hex()
    if isinstance(value, datetime):
        return "ts:" + value.isoformat()
    if isinstance(value, date):
        return "date:" + value.isoformat()
    return f"{type(value).__name__}:{value!r}"


def row_digest(row: Row, columns: Sequence[str]) -> bytes:
    """sha256 of one row's `columns` (a column the row lacks counts as null)."""
    text = json.dumps([[c, canonical(row.get(c))] for c in columns], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).digest()


def table_checksum(rows: Iterable[Row], columns: Sequence[str]) -> str:
    """Order-independent content digest: sha256 over the sorted row digests (duplicates count)."""
    h = hashlib.sha256()
    for d in sorted(row_digest(r, columns) for r in rows):
        h.update(d)
    return h.hexdigest()


def json_key_value(value: Any, iceberg_type: IcebergType | None) -> Any:
    """A key value from a Debezium row image (JSON converter) in the form the lake reads it, normalised."""
    if value is None:
        return None
    try:
        if isinstance(iceberg_type, (IntegerType, LongType)):
            value = int(value)
        elif isinstance(iceberg_type, DecimalType):
            value = Decimal(str(value))
        elif isinstance(iceberg_type, (FloatType, DoubleType)):
            value = float(value)
        elif isinstance(iceberg_type, BooleanType):
            value = bool(value)
        elif isinstance(iceberg_type, DateType):
            value = date(1970, 1, 1) + timedelta(days=int(value))
        elif isinstance(iceberg_type, TimestampType):
            value = _EPOCH + timedelta(microseconds=int(value))  # io.debezium.time.MicroTimestamp
        elif isinstance(iceberg_type, TimestamptzType):
            value = datetime.fromisoformat(str(value)).astimezone(UTC)  # ZonedTimestamp text
        elif isinstance(iceberg_type, BinaryType):
            value = base64.b64decode(value)
        elif isinstance(iceberg_type, StringType) and not isinstance(value, str):
            value = json.dumps(value, sort_keys=True)
    except (TypeError, ValueError, ArithmeticError):
        pass  # kept as sent: it matches nothing, which can only fail the check, never hide a difference
    return normalize(value)


def image_keys(
    image: str | dict[str, Any] | None, primary_key: Sequence[str], key_types: dict[str, IcebergType] | None = None
) -> Key | None:
    """The primary key of one row image (JSON text or dict); None without an image or a key."""
    if image is None:
        return None
    row = json.loads(image) if isinstance(image, str) else image
    if not isinstance(row, dict) or any(row.get(k) is None for k in primary_key):
        return None
    return tuple(json_key_value(row[k], (key_types or {}).get(k)) for k in primary_key)


def excluded_keys(
    changes: Iterable[dict[str, Any]],
    xids: SnapshotXids,
    primary_key: Sequence[str],
    key_types: dict[str, IcebergType] | None = None,
) -> set[Key]:
    """K: keys of the bronze changes whose transaction (`tx_id`) the snapshot does not see.

    Both row images count: a primary-key update changes the old key (before) and the new (after).
    """
    out: set[Key] = set()
    for ch in changes:
        if xids.visible(ch.get("tx_id")):
            continue
        for image in (ch.get("before"), ch.get("after")):
            key = image_keys(image, primary_key, key_types)
            if key is not None:
                out.add(key)
    return out


# --- results ----------------------------------------------------------------------------


@dataclass
class TableQuality:
    """The checks of one table against one source snapshot."""

    table: str  # registry source, schema.table
    silver_table: str  # Spark name, <catalog>.<namespace>.<table>
    iceberg_snapshot_id: int | None  # the silver snapshot that was checked (None: no silver data)
    source_rows: int = 0  # snapshot rows outside K
    lake_rows: int = 0  # silver rows outside K (duplicates count)
    excluded_keys: int = 0  # |K|
    checksum_source: str = ""
    checksum_lake: str = ""
    duplicates: int = 0  # primary keys that occur more than once in silver
    null_violations: int = 0  # (row, column) pairs null in silver that must not be
    bronze_snapshot_id: int | None = None  # the bronze snapshot K was read from
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


class QualityError(RuntimeError):
    """At least one table failed its checks; the message names each table and what failed."""

    def __init__(self, results: Sequence[TableQuality]) -> None:
        self.results = list(results)
        failed = [r for r in self.results if not r.passed]
        lines = [f"quality checks failed for {len(failed)} of {len(self.results)} table(s):"]
        for r in failed:
            lines.append(f"  {r.table} ({r.silver_table} @ snapshot {r.iceberg_snapshot_id}):")
            lines += [f"    - {p}" for p in r.problems]
        super().__init__("\n".join(lines))


def raise_on_failure(results: Sequence[TableQuality]) -> None:
    """Raise QualityError if any table failed."""
    if any(not r.passed for r in results):
        raise QualityError(results)


# --- the checks -------------------------------------------------------------------------


def _fmt(keys: Iterable[Key], limit: int = SAMPLE) -> str:
    keys = list(keys)
    shown = ", ".join(str(k[0] if len(k) == 1 else k) for k in keys[:limit])
    return shown + (f" (+{len(keys) - limit} more)" if len(keys) > limit else "")


def _load(catalog: Any, name: str) -> Any | None:
    try:
        return catalog.load_table(name)
    except NoSuchTableError:
        return None


def _bronze_changes(bronze: Any, snapshot_id: int, xids: SnapshotXids) -> list[dict[str, Any]]:
    """Bronze changes that may be invisible: tx_id >= xmin (a superset; visibility is decided after)."""
    row_filter = f"tx_id >= {int(xids.xmin)} OR tx_id IS NULL"  # pyiceberg's filter syntax
    scan = bronze.scan(row_filter=row_filter, selected_fields=("tx_id", "before", "after"), snapshot_id=snapshot_id)
    return list(scan.to_arrow().to_pylist())


def check_table(settings: Settings, snap: SourceSnapshot, spec: TableSpec, catalog: Any) -> TableQuality:
    """Run every check of one table; the result records the silver snapshot it checked."""
    registry: Registry = settings.registry()
    silver = _load(catalog, spec.iceberg)
    current = silver.current_snapshot() if silver is not None else None
    result = TableQuality(
        table=spec.source,
        silver_table=registry.silver(spec),
        iceberg_snapshot_id=current.snapshot_id if current is not None else None,
    )
    pk = list(spec.primary_key)

    # K, from bronze read after silver's snapshot was pinned: it holds every change silver does.
    excluded: set[Key] = set()
    bronze_name = f"{registry.lake.bronze_namespace}.{spec.iceberg.split('.')[1]}"
    bronze = _load(catalog, bronze_name) if current is not None else None
    if bronze is not None and silver is not None and bronze.current_snapshot() is not None:
        result.bronze_snapshot_id = bronze.current_snapshot().snapshot_id
        key_types = {
            k: silver.schema().find_field(k).field_type for k in pk if k in {f.name for f in silver.schema().fields}
        }
        excluded = excluded_keys(
            _bronze_changes(bronze, result.bronze_snapshot_id, snap.xids), snap.xids, pk, key_types
        )
    result.excluded_keys = len(excluded)

    # The snapshot's side, in the snapshot's transaction.
    columns, src_all = read_source_rows(snap.conn, spec)
    not_null = source_not_null_columns(snap.conn, spec)
    source: dict[Key, Row] = {}
    for row in src_all:
        key = tuple(row[k] for k in pk)
        if key not in excluded:
            source[key] = row

    # Silver at the pinned snapshot.
    lake: dict[Key, Row] = {}
    lake_kept: list[Row] = []
    seen: dict[Key, int] = {}
    nulls: list[tuple[Key, str]] = []
    if current is not None:
        for row in iter_lake_rows(silver, current.snapshot_id):
            key = tuple(row.get(k) for k in pk)
            seen[key] = seen.get(key, 0) + 1
            nulls += [(key, c) for c in pk if row.get(c) is None]
            if key in excluded:
                continue
            nulls += [(key, c) for c in not_null if c not in pk and row.get(c) is None]
            lake_kept.append(row)
            lake.setdefault(key, row)

    result.source_rows, result.lake_rows = len(source), len(lake_kept)
    result.checksum_source = table_checksum(source.values(), columns)
    result.checksum_lake = table_checksum(lake_kept, columns)
    dups = sorted((k for k, n in seen.items() if n > 1), key=repr)
    result.duplicates = len(dups)
    result.null_violations = len(nulls)

    name = spec.source
    outside = f"outside {len(excluded)} keys changed after the snapshot"
    if result.source_rows != result.lake_rows:
        result.problems.append(
            f"{name}: row count differs ({outside}): source {result.source_rows}, silver {result.lake_rows}"
        )
    if result.checksum_source != result.checksum_lake:
        d = diff_rows(name, source, lake, columns)
        detail = []
        if d.missing:
            detail.append(f"missing in silver: {_fmt(d.missing)}")
        if d.extra:
            detail.append(f"not in source: {_fmt(d.extra)}")
        if d.changed:
            detail.append(
                "changed: "
                + ", ".join(
                    f"{k[0] if len(k) == 1 else k}.{col} source={src!r} silver={lk!r}"
                    for k, col, src, lk in d.changed[:SAMPLE]
                )
                + (f" (+{len(d.changed) - SAMPLE} more)" if len(d.changed) > SAMPLE else "")
            )
        if dups and not detail:
            detail.append("duplicate rows")
        result.problems.append(f"{name}: content checksum differs ({outside}): " + "; ".join(detail or ["?"]))
    if dups:
        result.problems.append(f"{name}: {len(dups)} duplicate primary key(s) in silver: {_fmt(dups)}")
    if nulls:
        shown = ", ".join(f"{k[0] if len(k) == 1 else k}.{c}" for k, c in nulls[:SAMPLE])
        result.problems.append(
            f"{name}: {len(nulls)} null value(s) in NOT NULL columns of silver: {shown}"
            + (f" (+{len(nulls) - SAMPLE} more)" if len(nulls) > SAMPLE else "")
        )
    return result


def check_tables(
    settings: Settings, snap: SourceSnapshot, specs: Sequence[TableSpec] | None = None, *, catalog: Any = None
) -> list[TableQuality]:
    """Check each table (default: every registry table) against `snap`; does not raise on failures.

    Call after Debezium captured `snap.wal_lsn` and the merge caught up; then `raise_on_failure()`.
    """
    if catalog is None:
        from lakehouse.lake import open_catalog

        catalog = open_catalog(settings)
    return [
        check_table(settings, snap, spec, catalog)
        for spec in (specs if specs is not None else settings.registry().tables)
    ]
