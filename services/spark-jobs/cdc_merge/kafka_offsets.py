"""The Kafka side of a batch: which offset range of a topic to read next."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from confluent_kafka import Consumer, Message, TopicPartition
from lakehouse.debezium import NEW_KEY_HEADER, OLD_KEY_HEADER
from spark_iceberg.snapshot_offsets import Offsets

Watermarks = dict[int, tuple[int, int]]  # partition -> (low, high)
# Records the probe keeps after reading them: a batch's plan reads its first and last
# records twice (schema heads, key-update boundary, size estimate).
_MEMO_RECORDS = 32


class OffsetGap(RuntimeError):
    """The next offset a table needs is gone from Kafka (retention deleted it before it was merged)."""

    def __init__(self, topic: str, partition: int, needed: int, low: int) -> None:
        self.topic, self.partition, self.needed, self.low = topic, partition, needed, low
        super().__init__(
            f"Kafka no longer holds offsets {needed}..{low - 1} of {topic} partition {partition} (deleted by "
            f"retention before they were merged: the merge was down longer than the topic's retention). Nothing "
            f"was skipped; this table stops here while the others flow. Fix: re-read the table "
            f"(make resnapshot TABLE=<schema.table>), then merge it once with --accept-gap"
        )


@dataclass(frozen=True)
class OffsetRange:
    """Per partition: read [start, end)."""

    topic: str
    start: Offsets
    end: Offsets

    @property
    def count(self) -> int:
        return sum(self.end[p] - self.start.get(p, 0) for p in self.end)

    def spark_json(self, which: Offsets) -> str:
        """Spark's startingOffsets/endingOffsets JSON for these offsets."""
        return json.dumps({self.topic: {str(p): o for p, o in which.items()}})


def size_bounded_end(start: int, end: int, size_at: Callable[[int], int], max_bytes: int) -> int:
    """`end`, lowered so that [start, end) holds about `max_bytes` of values at most.

    The size per record is estimated from the largest of the range's first, middle and last
    records (`size_at(offset)`; the plan reads the first and last anyway): large values
    shrink the batch before Spark holds it, never after. At least one record is kept.
    """
    if end - start <= 1:
        return end
    per_record = max(1, *(size_at(o) for o in sorted({start, (start + end) // 2, end - 1})))
    return min(end, start + max(1, max_bytes // per_record))


@dataclass(frozen=True)
class _Record:
    value: bytes | None
    headers: frozenset[str]


class TopicOffsets:
    """Watermarks and single records through one consumer (no group, nothing committed).

    Safe to share between the threads of a cycle: calls are serialised (each is a few
    milliseconds), and the last records read are remembered.
    """

    def __init__(self, client: Mapping[str, str]) -> None:
        """`client`: the connection part of the config (KafkaSettings.librdkafka_config)."""
        # It reads single records at known offsets: no long-polling fetches (a seek waits for
        # the one in flight) and no large prefetch.
        self.consumer = Consumer(
            {
                **client,
                "group.id": "lakehouse-offset-probe",
                "enable.auto.commit": False,
                "log_level": 0,
                "fetch.wait.max.ms": 10,
                "queued.max.messages.kbytes": 1024,
            }
        )
        self._lock = threading.Lock()
        self._memo: OrderedDict[tuple[str, int, int], _Record | None] = OrderedDict()

    def close(self) -> None:
        self.consumer.close()

    def watermarks(self, topic: str) -> Watermarks | None:
        """partition -> (low, high) watermark; None if the topic does not exist yet."""
        return self.all_watermarks([topic]).get(topic)

    def all_watermarks(self, topics: Iterable[str]) -> dict[str, Watermarks]:
        """The watermarks of every existing topic among `topics`: one metadata request for all."""
        wanted = list(dict.fromkeys(topics))
        with self._lock:
            md = self.consumer.list_topics(wanted[0] if len(wanted) == 1 else None, timeout=15)
            out: dict[str, Watermarks] = {}
            for topic in wanted:
                t = md.topics.get(topic)
                if t is None or t.error is not None or not t.partitions:
                    continue
                out[topic] = {
                    p: self.consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=15) for p in t.partitions
                }
            return out

    def _poll(self, topic: str, partition: int, offset: int) -> Message | None:
        self.consumer.assign([TopicPartition(topic, partition, offset)])
        try:
            for _ in range(30):
                msg = self.consumer.poll(1.0)
                if msg is None:
                    continue
                if msg.error() is None and msg.offset() == offset:
                    return msg
                if msg.error() is None and msg.offset() > offset:
                    return None
            return None
        finally:
            self.consumer.unassign()

    def _record(self, topic: str, partition: int, offset: int) -> _Record | None:
        key = (topic, partition, offset)
        with self._lock:
            if key in self._memo:
                self._memo.move_to_end(key)
                return self._memo[key]
            msg = self._poll(topic, partition, offset)
            value = msg.value() if msg is not None else None
            record = (
                _Record(bytes(value) if value is not None else None, frozenset(k for k, _ in (msg.headers() or [])))
                if msg is not None
                else None
            )
            if record is not None:  # a record not read now may be read on the next try
                self._memo[key] = record
                while len(self._memo) > _MEMO_RECORDS:
                    self._memo.popitem(last=False)
            return record

    def fetch(self, topic: str, partition: int, offset: int) -> bytes | None:
        """The raw value of one record (a few per batch: one per distinct schema)."""
        record = self._record(topic, partition, offset)
        return record.value if record is not None else None

    def headers(self, topic: str, partition: int, offset: int) -> tuple[bool, set[str]] | None:
        """(is a tombstone, header names) of one record; None if it cannot be read."""
        record = self._record(topic, partition, offset)
        if record is None:
            return None
        return record.value is None, set(record.headers)

    def size_bounded_end(self, topic: str, partition: int, start: int, end: int, max_bytes: int) -> int:
        """`size_bounded_end` with the sizes of this partition's records."""
        return size_bounded_end(start, end, lambda o: len(self.fetch(topic, partition, o) or b""), max_bytes)

    def key_change_end(self, topic: str, partition: int, start: int, end: int, high: int) -> int:
        """`end`, moved so that [start, end) does not split a primary-key update.

        Debezium sends a key update as delete(old key) [, tombstone], create(new key). The
        create's unchanged TOAST values are resolved from the old key's row, which the delete
        removes from silver: both must be in one batch. A range whose last event is such a
        delete is extended to the create when it is in the topic, else ends before the delete.
        """
        last = end - 1
        info = self.headers(topic, partition, last) if last >= start else None
        if info is not None and info[0] and last - 1 >= start:  # a tombstone: look at what it follows
            last -= 1
            info = self.headers(topic, partition, last)
        if info is None or info[0] or NEW_KEY_HEADER not in info[1]:
            return end
        for offset in range(last + 1, min(high, last + 3)):
            after = self.headers(topic, partition, offset)
            if after is not None and not after[0] and OLD_KEY_HEADER in after[1]:
                return offset + 1
        return last

    def next_range(
        self,
        topic: str,
        committed: Offsets | None,
        max_records: int,
        accept_gap: bool = False,
        *,
        max_bytes: int | None = None,
        marks: Watermarks | None = None,
    ) -> OffsetRange | None:
        """The range after `committed`; None if nothing new.

        Per partition at most `max_records` records and about `max_bytes` bytes of values
        (`size_bounded_end`). `marks`: the topic's watermarks when already read (a cycle reads
        every topic's at once). Raises OffsetGap when records the table still needs were
        deleted (unless `accept_gap`: an operator re-read the table and accepts starting at
        the oldest record left).
        """
        if marks is None:
            marks = self.watermarks(topic)
        if marks is None:
            return None
        start: Offsets = {}
        end: Offsets = {}
        for p, (low, high) in marks.items():
            needed = (committed or {}).get(p, 0)
            if needed < low and not accept_gap:
                raise OffsetGap(topic, p, needed, low)
            begin = max(needed, low)
            start[p] = begin
            end[p] = min(high, begin + max_records)
            if max_bytes is not None and end[p] > begin:
                end[p] = self.size_bounded_end(topic, p, begin, end[p], max_bytes)
            if end[p] > begin:
                end[p] = self.key_change_end(topic, p, begin, end[p], high)
        rng = OffsetRange(topic, start, end)
        return rng if rng.count > 0 else None
