"""Type fidelity, TOAST, key changes, deletes on partitioned tables, empty batches."""

import random
import string
import uuid
from typing import Any

from psycopg.types.json import Jsonb


def test_postgres_types_arrive_exactly(stack: Any, merge: Any, assert_equal: Any, catalog: Any) -> None:
    rows = [
        (
            1,
            1,
            2,
            3,
            "1234567890.12",
            1.5,
            2.25,
            "text",
            "varchar",
            True,
            "2024-02-29",
            "2024-02-29 23:59:59.123456",
            "2024-02-29 23:59:59.654321+02",
            str(uuid.uuid4()),
            Jsonb({"a": [1, 2]}),
            b"\x00\x01\xff",
        ),
        (
            2,
            -32768,
            -2147483648,
            -9223372036854775808,
            "-9999999999.99",
            -0.1,
            1e300,
            "",
            "ü€😀",
            False,
            "1970-01-01",
            "1900-01-01 00:00:00",
            "2262-04-11 23:47:16+00",
            str(uuid.uuid4()),
            Jsonb([]),
            b"",
        ),
        (3, None, None, None, None, None, None, None, None, None, None, None, None, None, None, None),
    ]
    stack.sql("DELETE FROM lab.all_types")
    for r in rows:
        stack.sql("INSERT INTO lab.all_types VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)", r)
    merge(["lab.all_types"])
    assert_equal("lab.all_types")
    schema = {f.name: str(f.field_type) for f in catalog.load_table("silver.all_types").schema().fields}
    assert schema["c_numeric"] == "decimal(12, 2)"
    assert schema["c_bigint"] == "long" and schema["c_smallint"] == "int"
    assert schema["c_timestamp"] == "timestamp" and schema["c_timestamptz"] == "timestamptz"
    assert schema["c_bytea"] == "binary" and schema["c_date"] == "date"


def _big(n: int, seed: int) -> str:
    rng = random.Random(seed)
    return "".join(rng.choices(string.ascii_letters, k=n))


def test_unchanged_toast_values_are_kept(stack: Any, merge: Any, assert_equal: Any, catalog: Any) -> None:
    body, blob = _big(20_000, 1), _big(30_000, 2).encode()
    stack.sql("INSERT INTO lab.documents VALUES (1, 't1', %s, %s, 1), (2, 't2', %s, %s, 1)", (body, blob, body, blob))
    merge(["lab.documents"])
    # updates that leave the TOASTed columns alone: Debezium sends the placeholder for them
    stack.sql("UPDATE lab.documents SET title = 't1b', version = 2 WHERE id = 1")
    merge(["lab.documents"])
    assert_equal("lab.documents")
    # within one batch: a real new value, then a placeholder update of the same key
    stack.sql("UPDATE lab.documents SET body = %s WHERE id = 2", (_big(20_000, 3),))
    stack.sql("UPDATE lab.documents SET title = 't2b' WHERE id = 2")
    stack.sql("UPDATE lab.documents SET version = 3 WHERE id = 2")
    merge(["lab.documents"])
    assert_equal("lab.documents")
    bronze = catalog.load_table("bronze.documents").scan().to_arrow().to_pylist()
    assert any("__debezium_unavailable_value" in (r["after"] or "") for r in bronze), (
        "the test did not exercise Debezium's TOAST placeholder"
    )


def test_delete_reinsert_and_key_update_in_one_batch(stack: Any, merge: Any, assert_equal: Any) -> None:
    stack.sql("INSERT INTO lab.keys VALUES (1, 'a'), (2, 'b'), (3, 'c')")
    merge(["lab.keys"])
    stack.sql("DELETE FROM lab.keys WHERE id = 1")
    stack.sql("INSERT INTO lab.keys VALUES (1, 'a-again')")
    stack.sql("UPDATE lab.keys SET id = 20 WHERE id = 2")
    stack.sql("INSERT INTO lab.keys VALUES (4, 'd')")
    stack.sql("DELETE FROM lab.keys WHERE id = 4")
    merge(["lab.keys"])
    assert_equal("lab.keys")
    assert sorted(r[0] for r in stack.sql("SELECT id FROM lab.keys")) == [1, 3, 20]


def test_key_only_deletes_land_in_a_table_partitioned_by_another_column(
    stack: Any, merge: Any, assert_equal: Any, catalog: Any
) -> None:
    stack.sql(
        "INSERT INTO lab.events SELECT g, 'k' || (g % 3), timestamptz '2026-01-01' + g * interval '7 hours' "
        "FROM generate_series(1, 200) g"
    )
    merge(["lab.events"])
    stack.sql("DELETE FROM lab.events WHERE id % 4 = 0")
    stack.sql("UPDATE lab.events SET kind = 'moved', created_at = created_at + interval '30 days' WHERE id % 5 = 0")
    merge(["lab.events"])
    assert_equal("lab.events")
    table = catalog.load_table("silver.events")
    assert len(table.spec().fields) == 1 and str(table.spec().fields[0].transform) == "day"


def test_empty_batches_change_nothing(stack: Any, merge: Any, catalog: Any) -> None:
    merge(["lab.keys"])
    before = catalog.load_table("silver.keys").current_snapshot().snapshot_id
    assert merge(["lab.keys"]) == []
    assert catalog.load_table("silver.keys").current_snapshot().snapshot_id == before
