"""Pure logic of the quality checks: snapshot visibility, the excluded keys K, checksums, results."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from lakehouse.checksums import BucketSums, key_bucket
from lakehouse.consistency import SnapshotXids, xid32, xid_visible
from lakehouse.quality import (
    QualityError,
    TableQuality,
    _examined,
    canonical,
    excluded_keys,
    image_keys,
    json_key_value,
    raise_on_failure,
    row_digest,
    table_checksum,
)
from lakehouse.reconcile import normalize
from pyiceberg.types import (
    BinaryType,
    DateType,
    DecimalType,
    IntegerType,
    LongType,
    StringType,
    TimestampType,
    TimestamptzType,
)

# --- visibility -------------------------------------------------------------------------

SNAP = SnapshotXids.parse("100:110:103,107")


@pytest.mark.parametrize(
    ("xid", "visible"),
    [
        (5, True),  # long committed
        (99, True),  # just below xmin
        (100, True),  # xmin itself, not in progress: committed before the snapshot
        (103, False),  # in progress at the snapshot
        (105, True),  # committed between xmin and xmax
        (107, False),  # in progress
        (109, True),
        (110, False),  # xmax: started after the snapshot
        (5000, False),
        (None, False),  # unknown: treated as invisible (only excludes more)
    ],
)
def test_visibility_rule(xid: int | None, visible: bool) -> None:
    assert SNAP.visible(xid) is visible
    assert xid_visible(xid, 100, 110, [103, 107]) is visible


def test_empty_xip_and_parse_forms() -> None:
    snap = SnapshotXids.parse("42:42:")
    assert snap == SnapshotXids(42, 42, frozenset())
    assert snap.visible(41) and not snap.visible(42)
    with pytest.raises(ValueError, match="not a PostgreSQL snapshot"):
        SnapshotXids.parse("garbage")


def test_xids_are_compared_on_32_bits() -> None:
    epoch = 3 << 32  # pg_current_snapshot() returns epoch-qualified xid8 values
    snap = SnapshotXids.of(epoch + 100, epoch + 110, [epoch + 103])
    assert (snap.xmin, snap.xmax, snap.xip) == (100, 110, frozenset({103}))
    assert snap.visible(105) and not snap.visible(103) and not snap.visible(111)
    # Debezium's initial snapshot reports txid_current() (64-bit); it is reduced as well
    assert snap.visible(epoch + 50)
    assert xid32(2**32 + 7) == 7


# --- K ----------------------------------------------------------------------------------


def _change(tx: int | None, before: dict | None = None, after: dict | None = None) -> dict:  # type: ignore[type-arg]
    return {
        "tx_id": tx,
        "before": json.dumps(before) if before is not None else None,
        "after": json.dumps(after) if after is not None else None,
    }


def test_excluded_keys_take_both_images_of_invisible_changes_only() -> None:
    changes = [
        _change(50, after={"id": 1, "v": "a"}),  # visible insert
        _change(105, None, {"id": 2, "v": "b"}),  # visible
        _change(103, None, {"id": 3, "v": "c"}),  # in progress at the snapshot
        _change(120, {"id": 4}, None),  # delete after the snapshot (key-only before image)
        _change(121, {"id": 5}, None),
        _change(121, None, {"id": 50, "v": "moved"}),  # pk update 5 -> 50
        _change(122, {"id": 6, "v": "x"}, {"id": 60, "v": "x"}),  # pk update, both images in one event
        _change(None, None, {"id": 7}),  # unknown transaction
        _change(130, None, None),  # no image: nothing to exclude
    ]
    assert excluded_keys(changes, SNAP, ["id"]) == {(3,), (4,), (5,), (50,), (6,), (60,), (7,)}


def test_composite_keys_and_images_without_a_key() -> None:
    assert image_keys('{"order_id": 9, "line_no": 2, "q": 1}', ["order_id", "line_no"]) == (9, 2)
    assert image_keys('{"order_id": 9, "line_no": null}', ["order_id", "line_no"]) is None
    assert image_keys(None, ["id"]) is None


def test_key_values_from_debezium_json_match_what_the_lake_reads() -> None:
    u = uuid.uuid4()
    assert json_key_value(7, LongType()) == normalize(7)
    assert json_key_value("12.50", DecimalType(12, 2)) == normalize(Decimal("12.50"))
    assert json_key_value(19000, DateType()) == date(1970, 1, 1) + timedelta(days=19000)
    assert json_key_value(1_700_000_000_123_456, TimestampType()) == datetime(2023, 11, 14, 22, 13, 20, 123456)
    aware = datetime(2024, 5, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    assert json_key_value("2024-05-01T10:00:00Z", TimestamptzType()) == normalize(aware)
    assert json_key_value(str(u), StringType()) == normalize(u)
    assert json_key_value("AQID", BinaryType()) == b"\x01\x02\x03"
    assert json_key_value("not a number", IntegerType()) == "not a number"  # kept: matches nothing
    assert image_keys('{"id": "5"}', ["id"], {"id": IntegerType()}) == (5,)


# --- checksums --------------------------------------------------------------------------

COLS = ["id", "name", "price", "at", "doc"]


def _row(i: int, **over: object) -> dict:  # type: ignore[type-arg]
    base = {
        "id": i,
        "name": f"n{i}",
        "price": Decimal("1.50"),
        "at": datetime(2024, 1, i, tzinfo=UTC),
        "doc": normalize({"b": 1, "a": [i]}),
    }
    return {**base, **over}


def test_checksum_is_order_independent_and_content_sensitive() -> None:
    rows = [_row(i) for i in range(1, 6)]
    assert table_checksum(rows, COLS) == table_checksum(list(reversed(rows)), COLS)
    assert table_checksum(rows, COLS) != table_checksum(rows[:-1], COLS)
    assert table_checksum(rows, COLS) != table_checksum([*rows[:-1], _row(5, name="x")], COLS)
    assert table_checksum(rows, COLS) != table_checksum([*rows, rows[0]], COLS), "a duplicate row counts"
    assert table_checksum([], COLS) == table_checksum([], COLS)


def test_checksum_agrees_with_equality_of_normalised_values() -> None:
    src = _row(1, doc=normalize({"a": [1], "b": 1}))
    lake = _row(1, price=Decimal("1.5"), doc=normalize('{"b": 1, "a": [1]}'), extra_lake_column="ignored")
    assert all(src[c] == lake[c] for c in COLS)
    assert row_digest(src, COLS) == row_digest(lake, COLS)
    # equal numbers of different types digest alike, unequal types do not
    assert canonical(1) == canonical(Decimal("1.00")) == canonical(1.0)
    assert canonical(0) == canonical(Decimal("-0.00"))
    assert canonical("1") != canonical(1)
    assert canonical(True) != canonical(1)
    assert canonical(None) != canonical("null") and canonical(None) != canonical("")
    assert canonical(datetime(2024, 1, 1)) != canonical(datetime(2024, 1, 1, tzinfo=UTC))
    assert canonical(b"\x00") != canonical("\x00")
    # a missing column is null
    assert row_digest({"id": 1}, ["id", "gone"]) == row_digest({"id": 1, "gone": None}, ["id", "gone"])


def test_row_digest_separates_columns_unambiguously() -> None:
    assert row_digest({"a": "x,y", "b": ""}, ["a", "b"]) != row_digest({"a": "x", "b": "y,"}, ["a", "b"])


# --- results ----------------------------------------------------------------------------


def test_results_and_quality_error() -> None:
    ok = TableQuality("shop.a", "default.silver.a", 11, source_rows=3, lake_rows=3)
    bad = TableQuality("shop.b", "default.silver.b", 22, problems=["shop.b: 1 duplicate primary key(s) in silver: 7"])
    assert ok.passed and not bad.passed
    d = bad.as_dict()
    assert d["passed"] is False and d["iceberg_snapshot_id"] == 22 and d["table"] == "shop.b"
    json.dumps(d)
    raise_on_failure([ok])
    with pytest.raises(QualityError) as info:
        raise_on_failure([ok, bad])
    msg = str(info.value)
    assert "1 of 2 table(s)" in msg and "shop.b" in msg and "duplicate primary key" in msg and "shop.a" not in msg
    assert info.value.results == [ok, bad]


# --- key buckets ------------------------------------------------------------------------


def _sums(rows: list[dict], buckets: int = 64) -> BucketSums:  # type: ignore[type-arg]
    s = BucketSums(buckets)
    for r in rows:
        s.add(key_bucket((r["id"],), buckets), row_digest(r, COLS))
    return s


def test_bucket_of_a_key_agrees_with_equality_of_normalised_values() -> None:
    assert key_bucket((1,), 1024) == key_bucket((Decimal("1.0"),), 1024) == key_bucket((1.0,), 1024)
    assert key_bucket(("a", 2), 1024) == key_bucket(("a", Decimal(2)), 1024)
    assert all(0 <= key_bucket((i,), 7) < 7 for i in range(100))
    assert len({key_bucket((i,), 64) for i in range(1000)}) == 64, "keys spread over every bucket"


def test_bucket_sums_name_exactly_the_buckets_that_differ() -> None:
    rows = [_row(i % 28 + 1, id=i) for i in range(1, 501)]
    same = _sums(list(reversed(rows)))
    assert _sums(rows).differing(same) == []
    assert _sums(rows).hexdigest() == same.hexdigest() and same.rows == 500

    changed = [*rows[:-1], {**rows[-1], "name": "x"}]
    dup = [*rows, rows[10]]
    missing = rows[1:]
    for other, row in ((changed, rows[-1]), (dup, rows[10]), (missing, rows[0])):
        diff = _sums(rows).differing(_sums(other))
        assert diff == [key_bucket((row["id"],), 64)], diff
        assert _sums(rows).hexdigest() != _sums(other).hexdigest()
    with pytest.raises(ValueError, match="cannot compare 64 buckets with 32"):
        _sums(rows).differing(_sums(rows, 32))


def test_examined_buckets_stay_within_the_row_limit() -> None:
    src, lake = BucketSums(8), BucketSums(8)
    for b, n in enumerate([5, 50, 5, 5, 0, 0, 0, 0]):
        src.counts[b] = n
    lake.counts[2] = 9
    assert _examined([0, 1, 2, 3], src, lake, 60) == {0, 1}
    assert _examined([0, 1, 2, 3], src, lake, 68) == {0, 1, 2}, "bucket 2 counts its larger side"
    assert _examined([1], src, lake, 10) == {1}, "the first differing bucket is always examined"
    assert _examined([], src, lake, 10) == set()
