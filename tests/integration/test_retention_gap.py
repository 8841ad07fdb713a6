"""Records deleted from Kafka before they were merged: the table stops with the gap named, the others flow,
nothing is skipped silently; a re-read and --accept-gap bring it back."""

from __future__ import annotations

from typing import Any

from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient

TOPIC = "lakehouse.lab.gappy"


def _drop_records_before(bootstrap: str, offset: int) -> None:
    """What retention does: advance the partition's log start offset (without waiting for the broker's
    five-minute retention check, which `log.retention.*` shrunk to seconds would still need)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for fut in admin.delete_records([TopicPartition(TOPIC, 0, offset)]).values():
        fut.result(timeout=30)


def test_a_retention_gap_stops_only_that_table_until_it_is_re_read(
    stack: Any, merge: Any, assert_equal: Any, catalog: Any
) -> None:
    from confluent_kafka import Consumer

    stack.sql("INSERT INTO lab.gappy SELECT g, 'v' || g FROM generate_series(1, 100) g")
    merge(["lab.gappy"])
    stack.sql("INSERT INTO lab.gappy SELECT g, 'w' || g FROM generate_series(101, 200) g")
    stack.sql("DELETE FROM lab.gappy WHERE id <= 10")
    stack.sql("INSERT INTO lab.bystander VALUES (7001, 'flows on') ON CONFLICT (id) DO NOTHING")
    stack.wait_captured()
    probe = Consumer({"bootstrap.servers": stack.settings.kafka.bootstrap_servers, "group.id": "gap-test"})
    _, high = probe.get_watermark_offsets(TopicPartition(TOPIC, 0), timeout=15)
    probe.close()
    _drop_records_before(stack.settings.kafka.bootstrap_servers, high - 20)

    stopped = stack.run("lakehouse-merge", "once", "--table", "lab.gappy", "--table", "lab.bystander", check=False)
    assert stopped.returncode == 3, stopped.stderr[-3000:]
    gap_lines = [ln for ln in stopped.stderr.splitlines() if ln.startswith("gap: lab.gappy")]
    assert len(gap_lines) == 1 and "resnapshot" in gap_lines[0] and TOPIC in gap_lines[0], stopped.stderr[-3000:]
    assert "Traceback" not in stopped.stderr
    assert catalog.load_table("silver.gappy").scan().to_arrow().num_rows == 100  # nothing skipped, nothing written
    keys = catalog.load_table("silver.bystander").scan(row_filter="id = 7001").to_arrow().num_rows
    assert keys == 1, "the other table did not flow on"

    assert stack.run("lakehouse-merge", "once", "--accept-gap", check=False).returncode == 2  # needs --table
    stack.run("lakehouse-connectors", "resnapshot", "--table", "lab.gappy")
    resumed = stack.run("lakehouse-merge", "once", "--table", "lab.gappy", "--accept-gap", check=False)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    merge(["lab.gappy"])
    assert_equal("lab.gappy")
