"""Order-independent digests of rows, whole and per key bucket, in memory that does not grow with rows.

A row's digest is sha256 over its canonical column values (`canonical`): values equal under `==`
after `reconcile.normalize` digest alike on either side. A set of rows is summarised per key
bucket as (row count, sum of row digests mod 2^128): a sum, not a sort or an XOR, so the order
does not matter, duplicates count, and the summary of a table is a fixed array however many rows
it has. Two sides whose bucket summaries agree hold the same rows (up to a 2^-128 collision);
buckets that differ are the only places that need a key-by-key look.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

Row = Mapping[str, Any]
Key = tuple[Any, ...]

DEFAULT_BUCKETS = 65536  # ~76 rows per bucket at 5 million rows; two int arrays of this length
_MASK = (1 << 128) - 1


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


def key_bucket(key: Key, buckets: int) -> int:
    """The bucket of a primary key: the same on both sides for keys equal under `==`."""
    text = json.dumps([canonical(v) for v in key], ensure_ascii=False, separators=(",", ":"))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") % buckets


class BucketSums:
    """Per key bucket: how many rows and the sum of their digests (mod 2^128)."""

    def __init__(self, buckets: int = DEFAULT_BUCKETS) -> None:
        if buckets < 1:
            raise ValueError(f"buckets must be at least 1, got {buckets}")
        self.buckets = buckets
        self.counts = [0] * buckets
        self.sums = [0] * buckets

    def add(self, bucket: int, digest: bytes) -> None:
        """Count one row of `bucket` with its digest."""
        self.counts[bucket] += 1
        self.sums[bucket] = (self.sums[bucket] + int.from_bytes(digest[:16], "big")) & _MASK

    @property
    def rows(self) -> int:
        """Rows added over all buckets."""
        return sum(self.counts)

    def differing(self, other: BucketSums) -> list[int]:
        """Buckets whose count or digest sum differ from `other`'s, in bucket order."""
        if other.buckets != self.buckets:
            raise ValueError(f"cannot compare {self.buckets} buckets with {other.buckets}")
        return [b for b in range(self.buckets) if self.counts[b] != other.counts[b] or self.sums[b] != other.sums[b]]

    def hexdigest(self) -> str:
        """One digest of every bucket's count and sum: equal for equal sets of rows."""
        h = hashlib.sha256(self.buckets.to_bytes(4, "big"))
        for count, total in zip(self.counts, self.sums, strict=True):
            h.update(count.to_bytes(8, "big"))
            h.update(total.to_bytes(16, "big"))
        return h.hexdigest()


def table_checksum(rows: Iterable[Row], columns: Sequence[str]) -> str:
    """Order-independent content digest of `rows` (duplicates count), in constant memory."""
    sums = BucketSums(1)
    for row in rows:
        sums.add(0, row_digest(row, columns))
    return sums.hexdigest()
