"""Where each row of a bronze or dead-letter table came from in Kafka, for the exactly-once checks
of the integration and end-to-end suites (the soak's checker keeps its own, independent one)."""

from __future__ import annotations

from typing import Any

POSITION = ("topic", "kafka_partition", "kafka_offset")


def kafka_positions(catalog: Any, table: str) -> list[tuple[str, int, int]]:
    """(topic, partition, offset) of every row of the pyiceberg table `table` (namespace.table)."""
    arrow = catalog.load_table(table).scan(selected_fields=POSITION).to_arrow()
    return list(zip(*(arrow[c].to_pylist() for c in POSITION), strict=True))
