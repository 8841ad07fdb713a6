"""The read stage of a cycle: the new records of every active topic in one Spark read.

One read per cycle, not per table: Spark's Kafka source takes several topics with explicit
per-partition offsets. The records are cached once; each table's classify stage then reads
its own topic's records from the cache (every cached batch holds one topic, so the topic
filter skips the others' batches by their column statistics).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from cdc_merge.kafka_offsets import OffsetRange


def _kafka_read(spark: SparkSession, kafka: Mapping[str, str], ranges: Sequence[OffsetRange]) -> DataFrame:
    # Debezium topics usually have one partition; without splitting it, one core would
    # parse every (schema-carrying, several-KB) JSON envelope of the batch.
    splits = max(1, spark.sparkContext.defaultParallelism)
    start = {r.topic: {str(p): o for p, o in r.start.items()} for r in ranges}
    end = {r.topic: {str(p): o for p, o in r.end.items()} for r in ranges}
    return (
        spark.read.format("kafka")
        .options(**{f"kafka.{k}": v for k, v in kafka.items()})
        .option("subscribe", ",".join(r.topic for r in ranges))
        .option("minPartitions", str(max(splits, len(ranges))))
        .option("startingOffsets", json.dumps(start))
        .option("endingOffsets", json.dumps(end))
        .option("failOnDataLoss", "true")
        .load()
    )


def read_range(spark: SparkSession, kafka: Mapping[str, str], rng: OffsetRange) -> DataFrame:
    """The records of one topic's `rng` via Spark's own Kafka source (no consumer group).

    `kafka` is the Java client config (KafkaSettings.java_client_config: bootstrap servers and,
    with mutual TLS, the PEM trust and key material).
    """
    return _kafka_read(spark, kafka, [rng])


class CycleRecords:
    """The records of one cycle's ranges, read once and cached until `release`."""

    def __init__(self, spark: SparkSession, kafka: Mapping[str, str], ranges: Sequence[OffsetRange]) -> None:
        self.topics = [r.topic for r in ranges]
        self._raw: DataFrame | None = None
        if len(ranges) == 1:
            # One table: its classify stage caches what it parses; caching the raw
            # records as well would hold the batch twice.
            self._single: DataFrame | None = _kafka_read(spark, kafka, ranges)
        else:
            self._single = None
            self._raw = _kafka_read(spark, kafka, ranges).persist(StorageLevel.MEMORY_AND_DISK)

    def materialize(self) -> int:
        """Read Kafka into the cache now (one Spark job for every topic); the number of records."""
        return self._raw.count() if self._raw is not None else 0

    def of(self, topic: str) -> DataFrame:
        """The records of `topic` (Spark's Kafka schema: key, value, topic, partition, offset, ...)."""
        if self._single is not None:
            return self._single
        assert self._raw is not None
        return self._raw.where(F.col("topic") == topic)

    def release(self) -> None:
        """Drop the cache."""
        if self._raw is not None:
            self._raw.unpersist()
