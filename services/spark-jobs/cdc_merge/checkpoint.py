"""Kafka offsets stored in the Iceberg snapshot summary of the commit they fed (contract 4).

Each commit of a sink table (silver, bronze, dead letter) carries the property
`lakehouse.offsets.<topic>` = `{"<partition>": <next offset>}`. Reading it back walks the
table's current ancestry, so maintenance snapshots (compaction) in between are skipped.
"""

from __future__ import annotations

import json
from typing import Any

from py4j.java_collections import MapConverter
from py4j.protocol import Py4JError
from pyspark.errors import AnalysisException
from pyspark.sql import SparkSession

PROPERTY_PREFIX = "lakehouse.offsets."
Offsets = dict[int, int]


def property_name(topic: str) -> str:
    return PROPERTY_PREFIX + topic


def encode(offsets: Offsets) -> str:
    return json.dumps({str(p): o for p, o in sorted(offsets.items())}, separators=(",", ":"))


def decode(text: str) -> Offsets:
    return {int(p): int(o) for p, o in json.loads(text).items()}


def load_table(spark: SparkSession, name: str) -> Any:
    """The org.apache.iceberg.Table behind a Spark table name (py4j object)."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    return jvm.org.apache.iceberg.spark.Spark3Util.loadIcebergTable(spark._jsparkSession, name)


def find_table(spark: SparkSession, name: str) -> Any | None:
    """`load_table`, or None when there is no such table (one catalog round trip either way)."""
    try:
        return load_table(spark, name)
    except AnalysisException as exc:  # PySpark's rendering of Spark's NoSuchTableException
        if exc.getErrorClass() in ("TABLE_OR_VIEW_NOT_FOUND", "SCHEMA_NOT_FOUND"):
            return None
        raise


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


def run_with_commit_properties(spark: SparkSession, properties: dict[str, str], sql: str) -> None:
    """Run one SQL write whose Iceberg commit carries `properties` in its snapshot summary.

    Iceberg's CommitMetadata keeps the properties in a thread-local of the JVM thread that
    runs the statement; py4j's pinned-thread mode runs the callback on that same thread.
    """
    jvm = spark.sparkContext._jvm
    gateway = spark.sparkContext._gateway
    assert jvm is not None and gateway is not None

    class _Statement:
        error: BaseException | None = None

        def call(self) -> None:
            try:
                spark.sql(sql)
            except BaseException as exc:
                self.error = exc
                raise

        class Java:
            implements = ["java.util.concurrent.Callable"]

    statement = _Statement()
    props = MapConverter().convert(properties, gateway._gateway_client)
    try:
        jvm.org.apache.iceberg.spark.CommitMetadata.withCommitProperties(
            props, statement, jvm.java.lang.RuntimeException().getClass()
        )
    except Py4JError:
        # py4j reports a failure inside the callback as a bare "Python Proxy" error; raise the
        # statement's own exception so callers can tell, e.g., a commit conflict (retryable).
        if statement.error is not None:
            raise statement.error from None
        raise


def commit_marker(spark: SparkSession, table: str, properties: dict[str, str]) -> None:
    """An empty snapshot that only records `properties` (a batch with nothing to write)."""
    op = load_table(spark, table).newAppend()
    for k, v in properties.items():
        op = op.set(k, v)
    op.commit()
