"""A consistent point on the source: a REPEATABLE READ snapshot, its WAL position and its xids.

`open_source_snapshot()` opens a read-only REPEATABLE READ transaction on the source database
and records what the quality checks need to compare the lake with exactly that snapshot:

- `xmin`, `xmax`, `xip` of `pg_current_snapshot()`: which transactions the snapshot sees;
- `wal_lsn`: the WAL insert position read inside the snapshot after it was taken, so the
  commit record of every transaction the snapshot sees lies before it. Once the replication
  slot has confirmed `wal_lsn` (`wait_until_captured`), all those changes are in Kafka.

Visibility is decided on 32-bit xids (what Debezium reports as `source.txId`): xid
wraparound inside one check window is not handled (see docs/quality.md).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg

from lakehouse.settings import Settings

XID_MODULUS = 2**32


def xid32(xid: int) -> int:
    """A (possibly epoch-qualified 64-bit) transaction id as the 32-bit xid Debezium reports."""
    return int(xid) % XID_MODULUS


@dataclass(frozen=True)
class SnapshotXids:
    """The transaction ids of one snapshot, reduced to 32 bits."""

    xmin: int
    xmax: int
    xip: frozenset[int] = frozenset()

    @classmethod
    def of(cls, xmin: int, xmax: int, xip: Iterable[int] = ()) -> SnapshotXids:
        return cls(xid32(xmin), xid32(xmax), frozenset(xid32(x) for x in xip))

    @classmethod
    def parse(cls, text: str) -> SnapshotXids:
        """From PostgreSQL's text form `xmin:xmax:xip1,xip2,...` (pg_snapshot / txid_snapshot)."""
        try:
            xmin, xmax, xip = text.strip().split(":")
            return cls.of(int(xmin), int(xmax), (int(x) for x in xip.split(",") if x))
        except ValueError as exc:
            raise ValueError(f"not a PostgreSQL snapshot (xmin:xmax:xip,...): {text!r}") from exc

    def visible(self, xid: int | None) -> bool:
        """Whether the snapshot sees (the committed effects of) transaction `xid`.

        Not visible: xid >= xmin and (xid >= xmax or xid in xip), i.e. committed after the
        snapshot or in progress when it was taken. An unknown xid (None) counts as not visible,
        which only ever excludes more keys from the comparison.
        """
        if xid is None:
            return False
        x = xid32(xid)
        return x < self.xmin or (x < self.xmax and x not in self.xip)


def xid_visible(xid: int | None, xmin: int, xmax: int, xip: Iterable[int] = ()) -> bool:
    """`SnapshotXids.of(xmin, xmax, xip).visible(xid)`."""
    return SnapshotXids.of(xmin, xmax, xip).visible(xid)


@dataclass
class SourceSnapshot:
    """An open REPEATABLE READ (read-only) transaction on the source and where it stands.

    `conn` belongs to the snapshot: every query on it sees exactly the snapshot's data.
    `xmin`/`xmax`/`xip` are as PostgreSQL returns them (64-bit xid8); `xids` is the 32-bit form.
    """

    conn: psycopg.Connection[Any]
    taken_at: datetime
    wal_lsn: str
    xmin: int
    xmax: int
    xip: tuple[int, ...] = ()
    xids: SnapshotXids = field(init=False)

    def __post_init__(self) -> None:
        self.xids = SnapshotXids.of(self.xmin, self.xmax, self.xip)

    def visible(self, xid: int | None) -> bool:
        return self.xids.visible(xid)

    def as_dict(self) -> dict[str, Any]:
        return {
            "taken_at": self.taken_at.isoformat(),
            "wal_lsn": self.wal_lsn,
            "xmin": self.xmin,
            "xmax": self.xmax,
            "xip": list(self.xip),
        }


@contextmanager
def open_source_snapshot(settings: Settings, *, conninfo: str | None = None) -> Iterator[SourceSnapshot]:
    """Open the consistent point: a read-only REPEATABLE READ transaction held until the block ends.

    The first statement fixes the transaction snapshot and reads its xids and the server clock;
    the WAL position is read by a second statement, after the snapshot exists. The transaction
    has no xid of its own and is rolled back at the end.
    """
    conn = psycopg.connect(conninfo or settings.source.conninfo(), autocommit=False)
    try:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        row = conn.execute(
            "SELECT pg_snapshot_xmin(s)::text, pg_snapshot_xmax(s)::text, "
            "ARRAY(SELECT x::text FROM pg_snapshot_xip(s) AS x), clock_timestamp() "
            "FROM pg_current_snapshot() AS s"
        ).fetchone()
        assert row is not None
        lsn = conn.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()
        assert lsn is not None
        snap = SourceSnapshot(
            conn=conn,
            taken_at=row[3],
            wal_lsn=str(lsn[0]),
            xmin=int(row[0]),
            xmax=int(row[1]),
            xip=tuple(sorted(int(x) for x in row[2])),
        )
        yield snap
    finally:
        try:
            conn.rollback()
        finally:
            conn.close()


def wait_until_captured(conninfo: str, slot: str, *, lsn: str | None = None, timeout_s: float = 120.0) -> float:
    """Wait until the replication slot confirmed every change up to `lsn` (default: now).

    Debezium confirms a position once the events before it are in Kafka and its offsets are
    flushed; heartbeats (with their action query) move it past the last captured change even
    when the captured tables are idle. Returns the seconds waited; TimeoutError names where the
    slot is.
    """
    started = time.monotonic()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        target = lsn or str(conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0])  # type: ignore[index]
        while True:
            row = conn.execute(
                "SELECT confirmed_flush_lsn >= %s::pg_lsn, confirmed_flush_lsn FROM pg_replication_slots "
                "WHERE slot_name = %s",
                (target, slot),
            ).fetchone()
            if row is not None and row[0]:
                return time.monotonic() - started
            if time.monotonic() - started > timeout_s:
                where = "slot missing" if row is None else f"slot at {row[1]}"
                raise TimeoutError(
                    f"replication slot {slot} did not reach {target} in {timeout_s:.0f}s ({where}); "
                    "is the connector RUNNING? (lakehouse-connectors status)"
                )
            time.sleep(0.5)


def wait_for_snapshot(settings: Settings, snap: SourceSnapshot, *, timeout_s: float | None = None) -> float:
    """Wait until Debezium captured every transaction `snap` sees (default timeout: flows.quality_wait_s)."""
    return wait_until_captured(
        settings.source.conninfo(),
        settings.registry().cdc.slot,
        lsn=snap.wal_lsn,
        timeout_s=settings.flows.quality_wait_s if timeout_s is None else timeout_s,
    )
