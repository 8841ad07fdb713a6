"""Retention arithmetic: which `older_than` keeps the merge checkpoint, and how old an orphan must be.

Pure functions over plain snapshot descriptions; `procedures.py` feeds them from Iceberg.

Why the expiry cutoff is the *minimum* timestamp of a chain and not the checkpoint
snapshot's own: `spark_iceberg.snapshot_offsets.committed_offsets` walks parent pointers from the
current snapshot to the newest snapshot carrying `lakehouse.offsets.<topic>`, so every
snapshot on that path must survive, not only the one at its end. Iceberg's expiry keeps a
branch's ancestors while they are newer than `older_than` (or within `retain_last`) and
stops at the first older one; commit timestamps along a lineage may step back a little
(Iceberg tolerates one minute of clock skew), so only a cutoff at or below every
timestamp on the path keeps the whole path.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from spark_iceberg.snapshot_offsets import PROPERTY_PREFIX

HOUR_MS = 3_600_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class SnapshotInfo:
    """What retention needs to know about one snapshot."""

    snapshot_id: int
    parent_id: int | None
    timestamp_ms: int
    offset_keys: frozenset[str] = frozenset()  # the `lakehouse.offsets.*` keys of its summary


def offset_keys(summary: Mapping[str, str]) -> frozenset[str]:
    """The checkpoint properties in a snapshot summary."""
    return frozenset(k for k in summary if k.startswith(PROPERTY_PREFIX))


def checkpoint_chain(
    snapshots: Iterable[SnapshotInfo], current_id: int | None, keys: Iterable[str]
) -> list[SnapshotInfo]:
    """The snapshots `committed_offsets` walks for any of `keys`: current back to the oldest needed carrier.

    For each key the newest ancestor carrying it is what the merge reads; the chain runs
    from the current snapshot to the oldest of those. Keys no ancestor carries need
    nothing (the merge would find no offsets either way), so they do not pin history.
    Empty when there is no current snapshot or no key is carried.
    """
    by_id = {s.snapshot_id: s for s in snapshots}
    wanted = set(keys)
    path: list[SnapshotInfo] = []
    needed_len = 0
    seen: set[int] = set()
    snap_id = current_id
    # Same walk as committed_offsets: parent pointers until the ancestry ends (an expired
    # or missing parent ends it there too).
    while snap_id is not None and snap_id in by_id and snap_id not in seen and wanted:
        snap = by_id[snap_id]
        seen.add(snap_id)
        path.append(snap)
        found = wanted & snap.offset_keys
        if found:
            wanted -= found
            needed_len = len(path)
        snap_id = snap.parent_id
    return path[:needed_len]


def expire_cutoff_ms(now_ms: int, retention_hours: float, chain: Iterable[SnapshotInfo]) -> int:
    """`older_than` for expiry: the retention cutoff, lowered to the oldest timestamp on the checkpoint chain.

    Iceberg expires snapshots strictly older than the cutoff, so a snapshot stamped exactly
    at the cutoff stays.
    """
    cutoff = now_ms - int(retention_hours * HOUR_MS)
    return min([cutoff, *(s.timestamp_ms for s in chain)])


def orphan_cutoff_ms(now_ms: int, min_age_hours: float) -> int:
    """`older_than` for orphan removal: files younger than this may belong to a commit still in flight."""
    return now_ms - int(min_age_hours * HOUR_MS)


def sql_timestamp(ms: int) -> str:
    """A Spark SQL timestamp literal for epoch milliseconds, zone explicit (independent of the session zone)."""
    # Integer arithmetic: a float division could land a millisecond off the cutoff.
    text = (_EPOCH + timedelta(milliseconds=ms)).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    return f"TIMESTAMP '{text}Z'"


def iso(ms: int) -> str:
    """Epoch milliseconds as an ISO-8601 UTC string, for reports."""
    return (_EPOCH + timedelta(milliseconds=ms)).isoformat(timespec="milliseconds")
