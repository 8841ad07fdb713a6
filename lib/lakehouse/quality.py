"""Data quality checks of silver tables against a consistent point of the source.

The flow opens a `SourceSnapshot` (lakehouse.consistency), waits until Debezium captured
everything it sees, runs the merge, then calls `check_tables()`. Per table:

- K = keys of every bronze change whose transaction the snapshot does not see (committed
  after it or in progress at it). Every change silver holds is in bronze (bronze is appended
  before silver in the same batch, and bronze is read after silver's snapshot is pinned).
- Outside K, silver must equal the snapshot's rows exactly: same row count and the same
  content checksum, compared per key bucket (lakehouse.checksums: per bucket the row count and
  the sum of normalised row digests). Only buckets that differ are read again, key by key, to
  name the first missing, extra and changed keys and the duplicates (reconcile.diff_rows).
- Silver's primary key is unique, and not null; the source's NOT NULL columns (its catalog,
  read in the snapshot) are not null in silver outside K.

Both sides are streamed (a server-side cursor, Iceberg record batches): memory is bounded by
the bucket arrays, K and `EXAMINE_ROWS`, not by the table; time is one pass over each side, two
where buckets differ (docs/quality.md).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
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

from lakehouse.checksums import DEFAULT_BUCKETS, BucketSums, canonical, key_bucket, row_digest, table_checksum
from lakehouse.consistency import SnapshotXids, SourceSnapshot
from lakehouse.reconcile import (
    Row,
    diff_rows,
    iter_lake_rows,
    iter_source_rows,
    normalize,
    source_columns,
    source_not_null_columns,
)
from lakehouse.registry import Registry, TableSpec
from lakehouse.settings import Settings

Key = tuple[Any, ...]
SAMPLE = 5  # keys named per problem
EXAMINE_ROWS = 50_000  # rows per side held at most for the key-by-key look at differing buckets

_EPOCH = datetime(1970, 1, 1)

__all__ = [  # the digest helpers are the checksums module's; re-exported for the checks' callers
    "QualityError",
    "TableQuality",
    "canonical",
    "check_table",
    "check_tables",
    "excluded_keys",
    "image_keys",
    "json_key_value",
    "raise_on_failure",
    "row_digest",
    "table_checksum",
]


# --- pure logic -------------------------------------------------------------------------


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
    buckets: int = DEFAULT_BUCKETS  # key buckets the two sides were summed in
    buckets_differing: int = 0  # buckets whose row count or digest sum differ
    buckets_examined: int = 0  # of those, looked at key by key (bounded by EXAMINE_ROWS)
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


def _examined(diff: list[int], src: BucketSums, lake: BucketSums, limit: int) -> set[int]:
    """The differing buckets looked at key by key: in bucket order while both sides fit in `limit` rows."""
    chosen: set[int] = set()
    held = 0
    for b in diff:
        size = max(src.counts[b], lake.counts[b])
        if chosen and held + size > limit:
            break
        chosen.add(b)
        held += size
    return chosen


@dataclass
class _LakePass:
    """What one streamed pass over silver found beside its bucket sums (all bounded)."""

    sums: BucketSums
    excluded_counts: dict[Key, int] = field(default_factory=dict)  # rows per key of K (|K| entries)
    nulls: int = 0
    null_sample: list[tuple[Key, str]] = field(default_factory=list)


def _lake_pass(
    rows: Iterator[Row], pk: list[str], not_null: list[str], excluded: set[Key], columns: list[str], buckets: int
) -> _LakePass:
    out = _LakePass(BucketSums(buckets))
    for row in rows:
        key = tuple(row.get(k) for k in pk)
        bad = [c for c in pk if row.get(c) is None]
        if key in excluded:
            out.excluded_counts[key] = out.excluded_counts.get(key, 0) + 1
        else:
            bad += [c for c in not_null if c not in pk and row.get(c) is None]
            out.sums.add(key_bucket(key, buckets), row_digest(row, columns))
        out.nulls += len(bad)
        out.null_sample += [(key, c) for c in bad][: max(0, SAMPLE - len(out.null_sample))]
    return out


def check_table(
    settings: Settings, snap: SourceSnapshot, spec: TableSpec, catalog: Any, *, buckets: int = DEFAULT_BUCKETS
) -> TableQuality:
    """Run every check of one table in memory bounded by `buckets` and `EXAMINE_ROWS`, not by rows.

    Both sides are streamed once into per-key-bucket sums (lakehouse.checksums): the source through
    a server-side cursor in the snapshot's transaction, silver record batch by record batch at the
    pinned snapshot. Only when buckets differ are both streamed again, keeping just the rows of
    (the first `EXAMINE_ROWS` worth of) those buckets, to name the differing keys and duplicates.
    The result records the silver snapshot it checked.
    """
    registry: Registry = settings.registry()
    silver = _load(catalog, spec.iceberg)
    current = silver.current_snapshot() if silver is not None else None
    result = TableQuality(
        table=spec.source,
        silver_table=registry.silver(spec),
        iceberg_snapshot_id=current.snapshot_id if current is not None else None,
        buckets=buckets,
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
    columns = source_columns(snap.conn, spec)
    not_null = source_not_null_columns(snap.conn, spec)

    def source_stream() -> Iterator[tuple[Key, Row]]:
        for row in iter_source_rows(snap.conn, spec):
            key = tuple(row[k] for k in pk)
            if key not in excluded:
                yield key, row

    def lake_stream() -> Iterator[Row]:
        return iter_lake_rows(silver, current.snapshot_id) if current is not None else iter(())

    src = BucketSums(buckets)
    for key, row in source_stream():
        src.add(key_bucket(key, buckets), row_digest(row, columns))
    lake = _lake_pass(lake_stream(), pk, not_null, excluded, columns, buckets)

    result.source_rows, result.lake_rows = src.rows, lake.sums.rows
    result.checksum_source, result.checksum_lake = src.hexdigest(), lake.sums.hexdigest()
    differing = src.differing(lake.sums)
    result.buckets_differing = len(differing)
    dups = sorted((k for k, n in lake.excluded_counts.items() if n > 1), key=repr)

    name = spec.source
    outside = f"outside {len(excluded)} keys changed after the snapshot"
    if result.source_rows != result.lake_rows:
        result.problems.append(
            f"{name}: row count differs ({outside}): source {result.source_rows}, silver {result.lake_rows}"
        )
    if differing:
        examine = _examined(differing, src, lake.sums, EXAMINE_ROWS)
        result.buckets_examined = len(examine)
        src_rows = {k: r for k, r in source_stream() if key_bucket(k, buckets) in examine}
        lake_rows: dict[Key, Row] = {}
        seen: dict[Key, int] = {}
        for row in lake_stream():
            key = tuple(row.get(k) for k in pk)
            if key in excluded or key_bucket(key, buckets) not in examine:
                continue
            seen[key] = seen.get(key, 0) + 1
            lake_rows.setdefault(key, row)
        dups = sorted([*dups, *(k for k, n in seen.items() if n > 1)], key=repr)
        d = diff_rows(name, src_rows, lake_rows, columns)
        detail = []
        if d.missing:
            detail.append(f"missing in silver: {_fmt(d.missing)}")
        if d.extra:
            detail.append(f"not in source: {_fmt(d.extra)}")
        if d.changed:
            detail.append(
                "changed: "
                + ", ".join(
                    f"{k[0] if len(k) == 1 else k}.{col} source={src_v!r} silver={lk!r}"
                    for k, col, src_v, lk in d.changed[:SAMPLE]
                )
                + (f" (+{len(d.changed) - SAMPLE} more)" if len(d.changed) > SAMPLE else "")
            )
        if dups and not detail:
            detail.append("duplicate rows")
        unexamined = len(differing) - len(examine)
        scope = f"{len(differing)} of {buckets} key buckets differ"
        if unexamined:
            scope += f"; keys named from the first {len(examine)}, {unexamined} more not examined"
        result.problems.append(f"{name}: content checksum differs ({outside}; {scope}): " + "; ".join(detail or ["?"]))
    result.duplicates = len(dups)
    result.null_violations = lake.nulls
    if dups:
        unexamined = result.buckets_differing > result.buckets_examined
        more = " (at least: not every differing key bucket was examined)" if unexamined else ""
        result.problems.append(f"{name}: {len(dups)} duplicate primary key(s) in silver{more}: {_fmt(dups)}")
    if lake.nulls:
        shown = ", ".join(f"{k[0] if len(k) == 1 else k}.{c}" for k, c in lake.null_sample)
        result.problems.append(
            f"{name}: {lake.nulls} null value(s) in NOT NULL columns of silver: {shown}"
            + (f" (+{lake.nulls - len(lake.null_sample)} more)" if lake.nulls > len(lake.null_sample) else "")
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
