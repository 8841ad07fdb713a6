"""Schema evolution (ADD/DROP COLUMN, widening, incompatible changes) and the dead-letter table."""

import json
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition


def _schema(catalog: Any, table: str) -> dict[str, str]:
    return {f.name: str(f.field_type) for f in catalog.load_table(table).schema().fields}


def _dead_letters(catalog: Any, registry_table: str) -> list[dict[str, Any]]:
    rows = catalog.load_table("ops.dead_letter").scan().to_arrow().to_pylist()
    return [r for r in rows if r["registry_table"] == registry_table]


def test_add_and_drop_column(stack: Any, merge: Any, assert_equal: Any, catalog: Any) -> None:
    stack.sql("INSERT INTO lab.evolving VALUES (1, 'a', 1, 1.00), (2, 'b', 2, 2.00)")
    merge(["lab.evolving"])
    stack.sql("ALTER TABLE lab.evolving ADD COLUMN tier text")
    stack.sql("UPDATE lab.evolving SET tier = 'gold' WHERE id = 1")
    stack.sql("INSERT INTO lab.evolving VALUES (3, 'c', 3, 3.00, 'silver')")
    merge(["lab.evolving"])
    assert _schema(catalog, "silver.evolving")["tier"] == "string"
    assert_equal("lab.evolving")

    stack.sql("ALTER TABLE lab.evolving DROP COLUMN tier")
    stack.sql("UPDATE lab.evolving SET name = 'c2' WHERE id = 3")
    stack.sql("INSERT INTO lab.evolving VALUES (4, 'd', 4, 4.00)")
    merge(["lab.evolving"])
    assert_equal("lab.evolving")
    rows = {r["id"]: r for r in catalog.load_table("silver.evolving").scan().to_arrow().to_pylist()}
    assert rows[1]["tier"] == "gold", "a dropped column keeps the data written before the drop"
    assert rows[3]["tier"] is None and rows[4]["tier"] is None, "and is null for changes after it"


def test_a_schema_seen_only_mid_batch(stack: Any, merge: Any, assert_equal: Any, catalog: Any) -> None:
    """Schema heads come from a batch's first and last records, so a schema in between is
    parsed on the general path; when its columns change the plan, typing takes a second pass."""
    stack.sql("INSERT INTO lab.shifting VALUES (1, 'a')")
    stack.sql("ALTER TABLE lab.shifting ADD COLUMN extra integer")
    stack.sql("INSERT INTO lab.shifting VALUES (2, 'b', 22)")
    stack.sql("ALTER TABLE lab.shifting DROP COLUMN extra")
    stack.sql("INSERT INTO lab.shifting VALUES (3, 'c')")
    [first] = merge(["lab.shifting"])
    assert first.records == 3 and not first.one_pass, "only the middle record has `extra`: a second pass"
    rows = {r["id"]: r for r in catalog.load_table("silver.shifting").scan().to_arrow().to_pylist()}
    assert (rows[1]["extra"], rows[2]["extra"], rows[3]["extra"]) == (None, 22, None)
    assert_equal("lab.shifting")

    # Middle schema (id, v, x) inside (id, v) ... (id, v, x, y): the heads' plan is the batch's.
    stack.sql("INSERT INTO lab.shifting VALUES (4, 'd')")
    stack.sql("ALTER TABLE lab.shifting ADD COLUMN x integer")
    stack.sql("INSERT INTO lab.shifting VALUES (5, 'e', 55)")
    stack.sql("UPDATE lab.shifting SET x = 11 WHERE id = 1")
    stack.sql("ALTER TABLE lab.shifting ADD COLUMN y text")
    stack.sql("INSERT INTO lab.shifting VALUES (6, 'f', 66, 'why')")
    [second] = merge(["lab.shifting"])
    assert second.records == 4 and second.one_pass, "the middle schema's columns are the last one's"
    assert_equal("lab.shifting")
    rows = {r["id"]: r for r in catalog.load_table("silver.shifting").scan().to_arrow().to_pylist()}
    assert (rows[5]["x"], rows[5]["y"], rows[1]["x"], rows[6]["y"]) == (55, None, 11, "why")


def test_type_widening_promotes_the_iceberg_type(stack: Any, merge: Any, assert_equal: Any, catalog: Any) -> None:
    stack.sql("INSERT INTO lab.evolving (id, name, qty, amount) VALUES (10, 'w', 7, 99999999.99)")
    merge(["lab.evolving"])
    stack.sql("ALTER TABLE lab.evolving ALTER COLUMN qty TYPE bigint, ALTER COLUMN amount TYPE numeric(14, 2)")
    stack.sql("INSERT INTO lab.evolving (id, name, qty, amount) VALUES (11, 'big', 5000000000, 123456789012.34)")
    stack.sql("UPDATE lab.evolving SET qty = qty + 1 WHERE id = 10")
    merge(["lab.evolving"])
    schema = _schema(catalog, "silver.evolving")
    assert schema["qty"] == "long" and schema["amount"] == "decimal(14, 2)"
    assert_equal("lab.evolving")


def test_incompatible_type_change_dead_letters_that_table_only(
    stack: Any, merge: Any, assert_equal: Any, catalog: Any
) -> None:
    stack.sql("INSERT INTO lab.breaking VALUES (1, 'text'), (2, 'more')")
    stack.sql("INSERT INTO lab.bystander VALUES (1, 'a')")
    merge(["lab.breaking", "lab.bystander"])
    stack.sql("ALTER TABLE lab.breaking ALTER COLUMN note TYPE integer USING length(note)")
    stack.sql("INSERT INTO lab.breaking VALUES (3, 42)")
    stack.sql("UPDATE lab.breaking SET note = 7 WHERE id = 1")
    stack.sql("INSERT INTO lab.bystander VALUES (2, 'b')")
    results = {r.table: r for r in merge(["lab.breaking", "lab.bystander"])}
    assert_equal("lab.bystander")
    dead = _dead_letters(catalog, "lab.breaking")
    assert len(dead) == 2
    assert all("incompatible type change: note string -> int" in d["reason"] for d in dead)
    assert sum(results["lab.breaking"].dead_lettered.values()) == 2
    silver = {r["id"]: r["note"] for r in catalog.load_table("silver.breaking").scan().to_arrow().to_pylist()}
    assert silver == {1: "text", 2: "more"}, "the silver table keeps its last good state"
    assert merge(["lab.breaking"]) == [], "dead-lettered events are not read again"


def _latest_event(bootstrap: str, topic: str) -> bytes:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "test-peek", "log_level": 0, "enable.auto.commit": False})
    try:
        low, high = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        c.assign([TopicPartition(topic, 0, high - 1)])
        while True:
            m = c.poll(10)
            assert m is not None, f"no message at the end of {topic}"
            if m.value() is not None:
                return bytes(m.value())
    finally:
        c.close()


def test_bad_events_go_to_the_dead_letter_table_and_the_batch_goes_on(
    stack: Any, merge: Any, assert_equal: Any, catalog: Any
) -> None:
    stack.sql("INSERT INTO lab.all_types (id, c_integer, c_numeric) VALUES (100, 1, 1.00)")
    merge(["lab.all_types"])
    settings = stack.settings
    topic = settings.registry().topic(settings.registry().by_source("lab.all_types"))
    good = json.loads(_latest_event(settings.kafka.bootstrap_servers, topic))

    def variant(**changes: Any) -> bytes:
        event = json.loads(json.dumps(good))
        for path, value in changes.items():
            node = event["payload"]
            *parents, leaf = path.split("__")
            for p in parents:
                node = node[p]
            node[leaf] = value
        return json.dumps(event).encode()

    key = json.dumps({"schema": None, "payload": {"id": 101}}).encode()
    producer = Producer({"bootstrap.servers": settings.kafka.bootstrap_servers, "log_level": 0})
    for value in (
        b"{this is not json",
        variant(op="x"),
        variant(source__table="ghost"),
        variant(after__id=101, after__c_numeric="12345678901234.56"),  # beyond numeric(12,2)
        variant(after__id=102, after__c_integer="twelve"),
    ):
        producer.produce(topic, key=key, value=value)
    producer.flush(10)
    stack.sql("INSERT INTO lab.all_types (id, c_integer) VALUES (103, 3)")  # real traffic after the bad events
    result = next(r for r in merge(["lab.all_types"]) if r.table == "lab.all_types")
    assert_equal("lab.all_types")
    reasons = sorted(d["reason"] for d in _dead_letters(catalog, "lab.all_types"))
    assert len(reasons) == 5, reasons
    assert any(r.startswith("malformed") for r in reasons)
    assert "unsupported op code 'x'" in reasons
    assert any("'lab.ghost' which is not in the registry" in r for r in reasons)
    assert any("c_numeric='12345678901234.56' as decimal(12,2)" in r for r in reasons)
    assert any("c_integer='twelve' as int" in r for r in reasons)
    assert sum(result.dead_lettered.values()) == 5
    for d in _dead_letters(catalog, "lab.all_types"):
        assert d["topic"] == topic and d["kafka_offset"] >= 0 and d["payload"]
