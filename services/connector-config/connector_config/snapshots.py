"""Following the incremental snapshots we request until Debezium reports them complete.

Debezium's `sink` notification channel writes a record to the notification topic for each
step of an incremental snapshot (STARTED, IN_PROGRESS, TABLE_SCAN_COMPLETED with a status,
COMPLETED or ABORTED), with the signal's id as the notification id. A table scan whose
status is not SUCCEEDED or EMPTY (SQL_EXCEPTION for `permission denied`, NO_PRIMARY_KEY,
SKIPPED, UNKNOWN_SCHEMA) means rows that existed before capture did not arrive.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, TopicPartition

Say = Callable[[str], None]
GOOD_SCAN = frozenset({"SUCCEEDED", "EMPTY"})


def notification_topic(topic_prefix: str) -> str:
    """The topic Debezium's sink notification channel writes to (one per connector)."""
    return f"{topic_prefix}.debezium-notifications"


class SnapshotFailed(RuntimeError):
    """Debezium reported an incremental snapshot that did not read every requested table."""


@dataclass
class SnapshotProgress:
    """What Debezium has reported about one requested snapshot."""

    signal_id: str
    tables: list[str]
    scans: dict[str, tuple[str, int]] = field(default_factory=dict)  # table -> (status, rows scanned)
    done: bool = False
    aborted: bool = False

    def apply(self, note: dict[str, Any], say: Say) -> None:
        """Fold one notification (the `payload` of a notification record) in."""
        kind, data = note.get("type"), note.get("additional_data") or {}
        if kind == "IN_PROGRESS":
            say(
                f"snapshot {self.signal_id[:18]}: reading {data.get('current_collection_in_progress', '?')} "
                f"(up to key {data.get('last_processed_key', '?')} of {data.get('maximum_key', '?')})"
            )
        elif kind == "TABLE_SCAN_COMPLETED":
            table = _table_name(str(data.get("scanned_collection") or data.get("data_collections") or "?"))
            status, rows = str(data.get("status", "?")), int(data.get("total_rows_scanned", 0) or 0)
            self.scans[table] = (status, rows)
            say(f"snapshot {self.signal_id[:18]}: {table} scanned, {rows} rows, {status}")
        elif kind == "COMPLETED":
            self.done = True
        elif kind == "ABORTED":
            self.done = self.aborted = True

    def problems(self) -> list[str]:
        """Why the snapshot did not read every requested table (empty: it did)."""
        out = []
        if self.aborted:
            out.append("Debezium aborted the snapshot")
        for table in self.tables:
            status, _ = self.scans.get(table, ("not scanned", 0))
            if status not in GOOD_SCAN:
                out.append(f"{table}: {status}")
        return out


def _table_name(collection: str) -> str:
    # Debezium names collections <database>.<schema>.<table> for PostgreSQL.
    parts = collection.split(",")[0].strip().split(".")
    return ".".join(parts[-2:])


class NotificationReader:
    """Reads Debezium's notification topic from where it ended when the reader was made."""

    def __init__(self, client: Mapping[str, str], topic: str) -> None:
        """`client`: the connection part of the config (KafkaSettings.librdkafka_config)."""
        self.topic = topic
        self.consumer = Consumer(
            {
                **client,
                "group.id": "lakehouse-connectors",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "log_level": 0,
                "allow.auto.create.topics": False,
            }
        )
        md = self.consumer.list_topics(timeout=15)
        meta = md.topics.get(topic)
        parts = list(meta.partitions) if meta is not None and meta.error is None else []
        if parts:
            # Only what comes after now: earlier snapshots' notifications are not ours.
            starts = []
            for p in parts:
                _, high = self.consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=15)
                starts.append(TopicPartition(topic, p, high))
            self.consumer.assign(starts)
        else:
            # The topic appears with Debezium's first notification: read it from its start.
            self.consumer.subscribe([topic])
        self._assigned = bool(parts)

    def close(self) -> None:
        self.consumer.close()

    def follow(self, progress: SnapshotProgress, timeout_s: float, say: Say) -> SnapshotProgress:
        """Read notifications until `progress` is done or `timeout_s` passes; raise SnapshotFailed if it failed."""
        deadline = time.monotonic() + timeout_s
        last_word = time.monotonic()
        while not progress.done:
            if time.monotonic() > deadline:
                raise SnapshotFailed(
                    f"incremental snapshot {progress.signal_id} of {', '.join(progress.tables)} did not complete in "
                    f"{timeout_s:.0f}s (scanned so far: {progress.scans or 'nothing'}); see the Connect log, then: "
                    "lakehouse-connectors resnapshot --table <schema.table>"
                )
            msg = self.consumer.poll(1.0)
            if msg is None or msg.error() is not None or msg.value() is None:
                if time.monotonic() - last_word > 15:
                    say(f"snapshot {progress.signal_id[:18]}: waiting for Debezium")
                    last_word = time.monotonic()
                continue
            try:
                doc = json.loads(msg.value())
            except ValueError:
                continue
            note = doc.get("payload", doc) if isinstance(doc, dict) else None
            if not isinstance(note, dict) or note.get("id") != progress.signal_id:
                continue
            if note.get("aggregate_type") not in (None, "Incremental Snapshot"):
                continue
            progress.apply(note, say)
            last_word = time.monotonic()
        problems = progress.problems()
        if problems:
            raise SnapshotFailed(
                f"incremental snapshot {progress.signal_id} did not read every table: {'; '.join(problems)}. "
                "The rows that existed before capture did not all arrive: fix the cause (the Connect log has "
                "Debezium's message; `lakehouse-connectors apply` checks grants and keys), then run "
                "`lakehouse-connectors resnapshot --table <schema.table>`"
            )
        return progress
