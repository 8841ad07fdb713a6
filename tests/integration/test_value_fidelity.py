"""Every value faithful or dead-lettered with a reason (docs/merge-semantics.md, "Type mapping").

Edge values of the types without an obvious Iceberg form: time, money, arrays, enums,
intervals, unconstrained numeric, NaN into a decimal, dates and timestamps at infinity.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

GOOD = (
    "INSERT INTO lab.edge_values VALUES (1, '13:45:30.123456', 1234567.89, '{1,2,NULL}', '{a,\"b,c\"}', "
    "'{\"\\\\x00ff\"}', 'happy', '1 year 2 mons 3 days 04:36:48.601896', "
    "3.14159265358979323846264338327950288419716939937510, 12.34, '2024-02-29', '2024-02-29 12:00:00', "
    "'2024-02-29 12:00:00+00', '{2024-01-01,NULL}', '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}')"
)
# id -> (column, value): each has no faithful Iceberg form.
UNKEEPABLE = {
    2: ("d", "infinity"),
    3: ("ts", "-infinity"),
    4: ("tz", "infinity"),
    5: ("m", "92233720368547758.07"),
    6: ("dn", "NaN"),
    7: ("dates", "{infinity}"),
}


def test_edge_values_are_kept_exactly_or_dead_lettered_with_a_reason(
    stack: Any, merge: Any, catalog: Any, spark: Any
) -> None:
    stack.sql(GOOD)
    for key, (column, value) in UNKEEPABLE.items():
        stack.sql(f"INSERT INTO lab.edge_values (id, {column}) VALUES (%s, %s)", (key, value))
    # unconstrained numeric: exact text, special values as PostgreSQL writes them
    stack.sql("INSERT INTO lab.edge_values (id, n) VALUES (8, 'NaN'), (9, 'Infinity'), (10, '-Infinity')")
    merge(["lab.edge_values"])

    table = catalog.load_table("silver.edge_values")
    types = {f.name: str(f.field_type) for f in table.schema().fields}
    assert types["ints"] == "list<int>" and types["texts"] == "list<string>" and types["blobs"] == "list<binary>"
    assert types["dates"] == "list<date>" and types["uuids"] == "list<string>"
    assert types["m"] == "decimal(19, 2)" and types["iv"] == "string" and types["n"] == "string"
    assert types["t"] == "long"  # Spark 3.5 has no TIME type: microseconds of the day (docs)

    # The whole table reads through pyiceberg -> Arrow -> Python and through Spark.
    rows = {r["id"]: r for r in table.scan().to_arrow().to_pylist()}
    assert len(spark.table("default.silver.edge_values").collect()) == len(rows)
    assert sorted(rows) == [1, 8, 9, 10], sorted(rows)
    good = rows[1]
    assert good["t"] == ((13 * 60 + 45) * 60 + 30) * 1_000_000 + 123456
    assert good["m"] == Decimal("1234567.89")
    assert good["ints"] == [1, 2, None] and good["texts"] == ["a", "b,c"] and good["blobs"] == [b"\x00\xff"]
    assert good["mood"] == "happy" and good["iv"] == "P1Y2M3DT4H36M48.601896S"
    assert good["n"] == "3.14159265358979323846264338327950288419716939937510"
    assert good["dn"] == Decimal("12.34") and good["d"] == dt.date(2024, 2, 29)
    assert good["dates"] == [dt.date(2024, 1, 1), None]
    assert good["uuids"] == ["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"]
    assert [rows[k]["n"] for k in (8, 9, 10)] == ["NaN", "Infinity", "-Infinity"]

    dead = (
        catalog.load_table("ops.dead_letter")
        .scan(row_filter="registry_table = 'lab.edge_values'")
        .to_arrow()
        .to_pylist()
    )
    reasons: dict[int, str] = {}
    for d in dead:
        reasons[int(d["key"].split('"id":')[1].split("}")[0])] = d["reason"]
    assert sorted(reasons) == sorted(UNKEEPABLE), reasons
    for key, (column, _) in UNKEEPABLE.items():
        assert reasons[key].startswith("value does not fit the column type") and f"{column}=" in reasons[key], reasons[
            key
        ]
    assert "years 1-9999" in reasons[2] and "years 1-9999" in reasons[4]
    assert "double" in reasons[5]
