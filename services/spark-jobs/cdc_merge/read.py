"""The read stage of a cycle: the new records of every active topic in one Spark read.

One read per cycle, not per table: Spark's Kafka source takes several topics with explicit
per-partition offsets. The records are cached once; each table's classify stage then reads
its own topic's records from the cache. The cache has few partitions (Spark's Kafka source
makes one per topic partition: with a hundred small topics, each table's jobs would run a
hundred tasks), sorted by topic, so a table's scan skips the others' cached batches by their
column statistics.
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
        # Spark's reader asks for the partition's offset range after every poll, on the
        # connection where the consumer's next fetch is already waiting at the broker for
        # data past the range; the broker answers one request per connection at a time, so
        # each ask waited out the fetch's fetch.max.wait.ms (500 ms by default): about 0.27 s
        # per topic partition read, 5.5 s of a cycle reading 20 small topics (0.55 s with 10 ms).
        .option("kafka.fetch.max.wait.ms", "10")
        .options(**{f"kafka.{k}": v for k, v in kafka.items()})
        # Exactly these partitions (a partition added since the plan waits for the next cycle).
        .option("assign", json.dumps({r.topic: sorted(r.end) for r in ranges}))
        .option("minPartitions", str(splits))
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
        self._raw: DataFrame | None = None
        if len(ranges) == 1:
            # One table: its classify stage caches what it parses; caching the raw
            # records as well would hold the batch twice.
            self._single: DataFrame | None = _kafka_read(spark, kafka, ranges)
        else:
            self._single = None
            raw = _kafka_read(spark, kafka, ranges)
            target = 2 * max(1, spark.sparkContext.defaultParallelism)
            if sum(len(r.end) for r in ranges) > target:
                raw = raw.coalesce(target)
            self._raw = raw.sortWithinPartitions("topic").persist(StorageLevel.MEMORY_AND_DISK)

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
