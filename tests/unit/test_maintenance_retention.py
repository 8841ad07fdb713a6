"""The retention arithmetic of lake maintenance: which snapshots the merge checkpoint needs."""

from __future__ import annotations

from lake_maintenance.retention import (
    HOUR_MS,
    SnapshotInfo,
    checkpoint_chain,
    expire_cutoff_ms,
    iso,
    offset_keys,
    orphan_cutoff_ms,
    sql_timestamp,
)

ORDERS = "lakehouse.offsets.lakehouse.shop.orders"
ITEMS = "lakehouse.offsets.lakehouse.shop.order_items"
NOW = 1_700_000_000_000


def _lineage(*snaps: tuple[int, int, frozenset[str]]) -> list[SnapshotInfo]:
    """Snapshots 1..n, each the parent of the next: (id, timestamp, keys)."""
    out, parent = [], None
    for sid, ts, keys in snaps:
        out.append(SnapshotInfo(sid, parent, ts, keys))
        parent = sid
    return out


def test_offset_keys_picks_only_checkpoint_properties() -> None:
    summary = {ORDERS: '{"0":5}', "added-data-files": "1", "total-records": "9"}
    assert offset_keys(summary) == frozenset({ORDERS})


def test_chain_runs_from_current_to_the_newest_carrier_skipping_compactions() -> None:
    snaps = _lineage(
        (1, 100, frozenset({ORDERS})), (2, 200, frozenset({ORDERS})), (3, 300, frozenset()), (4, 400, frozenset())
    )  # 3, 4: compaction replaces
    chain = checkpoint_chain(snaps, 4, {ORDERS})
    assert [s.snapshot_id for s in chain] == [4, 3, 2]


def test_chain_reaches_the_oldest_of_the_newest_carriers_of_each_key() -> None:
    # The shared dead-letter table: orders dead-lettered recently, items long ago.
    snaps = _lineage((1, 100, frozenset({ITEMS})), (2, 200, frozenset({ORDERS})), (3, 300, frozenset({ORDERS})))
    assert [s.snapshot_id for s in checkpoint_chain(snaps, 3, {ORDERS, ITEMS})] == [3, 2, 1]
    assert [s.snapshot_id for s in checkpoint_chain(snaps, 3, {ORDERS})] == [3]


def test_keys_nobody_carries_do_not_pin_history() -> None:
    snaps = _lineage((1, 100, frozenset()), (2, 200, frozenset({ORDERS})), (3, 300, frozenset()))
    assert [s.snapshot_id for s in checkpoint_chain(snaps, 3, {ORDERS, ITEMS})] == [3, 2]
    assert checkpoint_chain(snaps, 3, {ITEMS}) == []
    assert checkpoint_chain(snaps, None, {ORDERS}) == []


def test_chain_follows_parents_not_timestamps_and_stops_where_ancestry_ends() -> None:
    # 9 is not an ancestor of the current snapshot (e.g. left over on another lineage).
    snaps = [
        SnapshotInfo(5, 404, 500, frozenset()),
        SnapshotInfo(9, None, 900, frozenset({ORDERS})),
        SnapshotInfo(7, 5, 700, frozenset()),
    ]
    assert checkpoint_chain(snaps, 7, {ORDERS}) == []


def test_cutoff_is_retention_when_the_chain_is_younger() -> None:
    chain = [SnapshotInfo(2, 1, NOW - HOUR_MS, frozenset({ORDERS}))]
    assert expire_cutoff_ms(NOW, 24, chain) == NOW - 24 * HOUR_MS


def test_cutoff_drops_to_the_checkpoint_snapshot_when_it_is_older_than_retention() -> None:
    carrier = SnapshotInfo(2, 1, NOW - 30 * HOUR_MS, frozenset({ORDERS}))
    head = SnapshotInfo(3, 2, NOW - 10, frozenset())
    assert expire_cutoff_ms(NOW, 24, [head, carrier]) == carrier.timestamp_ms
    # Zero retention still keeps the checkpoint snapshot (expiry removes only strictly older ones).
    assert expire_cutoff_ms(NOW, 0, [head, carrier]) == carrier.timestamp_ms


def test_cutoff_covers_a_clock_step_back_inside_the_chain() -> None:
    # Iceberg accepts a child up to a minute older than its parent; the expiry walk stops
    # at the first ancestor older than the cutoff, so the cutoff must be the chain minimum.
    head = SnapshotInfo(4, 3, NOW - 50_000, frozenset())
    dip = SnapshotInfo(3, 2, NOW - 90_000, frozenset())
    carrier = SnapshotInfo(2, 1, NOW - 60_000, frozenset({ORDERS}))
    assert expire_cutoff_ms(NOW, 0, [head, dip, carrier]) == NOW - 90_000


def test_cutoff_without_a_chain_is_plain_retention() -> None:
    assert expire_cutoff_ms(NOW, 1.5, []) == NOW - 90 * 60_000


def test_orphan_cutoff() -> None:
    assert orphan_cutoff_ms(NOW, 24) == NOW - 24 * HOUR_MS
    assert orphan_cutoff_ms(NOW, 0) == NOW


def test_sql_timestamp_is_exact_to_the_millisecond_and_zoned() -> None:
    assert sql_timestamp(1_700_000_000_123) == "TIMESTAMP '2023-11-14 22:13:20.123Z'"
    assert sql_timestamp(1_700_000_000_007) == "TIMESTAMP '2023-11-14 22:13:20.007Z'"
    assert iso(0) == "1970-01-01T00:00:00.000+00:00"
