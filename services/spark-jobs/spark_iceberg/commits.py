"""Iceberg commits whose snapshot summary carries properties (offsets, watermarks, inputs)."""

from __future__ import annotations

from py4j.java_collections import MapConverter
from py4j.protocol import Py4JError
from pyspark.sql import DataFrame, SparkSession

from spark_iceberg.tables import load_table


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


def append_with_properties(df: DataFrame, table: str, properties: dict[str, str]) -> None:
    """Append `df` to `table` in one commit whose snapshot summary carries `properties`."""
    writer = df.writeTo(table)
    for k, v in properties.items():
        writer = writer.option(f"snapshot-property.{k}", v)
    writer.append()
