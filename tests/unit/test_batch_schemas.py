"""Distinct schemas of a batch (cdc_merge.changes.batch_schemas): which are fetched, which are known."""

import json

import pytest
from cdc_merge.changes import batch_schemas

pytestmark = pytest.mark.unit

SCHEMA = {
    "type": "struct",
    "name": "x.Envelope",
    "fields": [
        {"type": "struct", "optional": True, "field": "before", "fields": [{"type": "int64", "field": "id"}]},
        {
            "type": "struct",
            "optional": True,
            "field": "after",
            "fields": [{"type": "int64", "field": "id"}, {"type": "string", "optional": True, "field": "name"}],
        },
        {"type": "string", "field": "op"},
    ],
}


def test_known_schemas_are_not_fetched_and_others_are_in_arrival_order() -> None:
    fetched: list[tuple[int, int]] = []

    def fetch(part: int, off: int) -> bytes:
        fetched.append((part, off))
        return json.dumps({"schema": SCHEMA, "payload": None}).encode()

    out = batch_schemas([("b", 0, 9), ("head0", 0, 3)], fetch, known={"head0": json.dumps(SCHEMA)})
    assert fetched == [(0, 9)]
    assert out.order == ["head0", "b"]
    assert {sid: sorted(cols) for sid, cols in out.columns.items()} == {"head0": ["id", "name"], "b": ["id", "name"]}
    assert out.invalid == {}


def test_a_record_gone_or_a_schema_without_row_makes_that_schema_invalid() -> None:
    out = batch_schemas(
        [("gone", 0, 1), ("odd", 0, 2)], lambda _p, _o: None, known={"odd": json.dumps({"type": "string"})}
    )
    assert set(out.invalid) == {"gone", "odd"}
    assert "record 0/1 is gone" in out.invalid["gone"]
    assert out.columns == {}


def test_known_schemas_keep_their_order_and_fetch_nothing() -> None:
    from cdc_merge.changes import known_schemas

    out = known_schemas({"head1": json.dumps(SCHEMA), "head0": json.dumps({"type": "string"})})
    assert out.order == ["head1", "head0"]
    assert list(out.columns) == ["head1"] and list(out.invalid) == ["head0"]
