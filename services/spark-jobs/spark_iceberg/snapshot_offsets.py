"""Kafka offsets stored in the Iceberg snapshot summary of the commit they fed (contract 4).

Each commit of a sink table (silver, bronze, dead letter) carries the property
`lakehouse.offsets.<topic>` = `{"<partition>": <next offset>}`. Reading it back walks the
table's current ancestry, so maintenance snapshots (compaction) in between are skipped.
"""

from __future__ import annotations

import json
from typing import Any

from pyspark.sql import SparkSession

from spark_iceberg.tables import load_table

PROPERTY_PREFIX = "lakehouse.offsets."
Offsets = dict[int, int]


def property_name(topic: str) -> str:
    """The snapshot-summary key holding `topic`'s offsets."""
    return PROPERTY_PREFIX + topic


def encode(offsets: Offsets) -> str:
    """Offsets as the compact JSON stored in a snapshot summary."""
    return json.dumps({str(p): o for p, o in sorted(offsets.items())}, separators=(",", ":"))


def decode(text: str) -> Offsets:
    """The inverse of `encode`."""
    return {int(p): int(o) for p, o in json.loads(text).items()}


def committed_offsets(spark: SparkSession, table: str, topic: str) -> Offsets | None:
    """The offsets of `topic` recorded by the newest ancestor snapshot of `table` that has them."""
    return offsets_in(load_table(spark, table), topic)


def offsets_in(t: Any, topic: str) -> Offsets | None:
    """`committed_offsets` of an already loaded org.apache.iceberg.Table."""
    key = property_name(topic)
    snap = t.currentSnapshot()
    while snap is not None:
        value = snap.summary().get(key)
        if value is not None:
            return decode(value)
        parent = snap.parentId()
        snap = t.snapshot(parent) if parent is not None else None
    return None


def offsets_by_topic(spark: SparkSession, t: Any) -> dict[str, Offsets]:
    """Every topic's offsets on a loaded table's current ancestry: `offsets_in` for all topics
    at once (the shared dead-letter table holds every topic's), from one read of the table
    metadata the load returned, so the walk sees one consistent version."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    meta = json.loads(jvm.org.apache.iceberg.TableMetadataParser.toJson(t.operations().current()))
    snapshots = {s["snapshot-id"]: s for s in meta.get("snapshots") or []}
    found: dict[str, Offsets] = {}
    snapshot_id = meta.get("current-snapshot-id")
    while snapshot_id is not None and snapshot_id in snapshots:
        snap = snapshots[snapshot_id]
        for key, value in (snap.get("summary") or {}).items():
            if key.startswith(PROPERTY_PREFIX):
                found.setdefault(key[len(PROPERTY_PREFIX) :], decode(value))
        snapshot_id = snap.get("parent-snapshot-id")
    return found
