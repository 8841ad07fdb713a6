"""Schema heads of JSON-converter values (lakehouse.debezium.schema_head)."""

import json

import pytest
from lakehouse.debezium import head_schema, schema_head

pytestmark = pytest.mark.unit


def _value(schema: object, payload: object) -> bytes:
    return json.dumps({"schema": schema, "payload": payload}, separators=(",", ":")).encode()


def test_head_is_the_schema_and_the_payload_marker() -> None:
    value = _value({"type": "struct", "fields": []}, {"op": "c"})
    head = schema_head(value)
    assert head == b'{"schema":{"type":"struct","fields":[]},"payload":'
    assert value.startswith(head) and value[len(head) : -1] == b'{"op":"c"}'


def test_a_marker_inside_the_schema_does_not_end_it() -> None:
    schema = {"type": "struct", "parameters": {"payload": ',"payload":{'}}
    head = schema_head(_value(schema, None))
    assert head is not None and json.loads(head_schema(head)) == schema


def test_same_schema_same_head_other_schema_other_head() -> None:
    a = schema_head(_value({"type": "struct", "version": 1}, {"op": "c"}))
    assert a == schema_head(_value({"type": "struct", "version": 1}, {"op": "u", "x": "é"}))
    assert a != schema_head(_value({"type": "struct", "version": 2}, {"op": "c"}))


@pytest.mark.parametrize(
    "value",
    [
        b'{"payload":{}}',
        b'{"schema":{"type":"struct"} ,"payload":{}}',
        b'{"schema":{"type"',
        b"\xff\xfe",
        b'{"schema":"text","payload":{}}',
        b"",
    ],
)
def test_no_head_for_other_layouts(value: bytes) -> None:
    assert schema_head(value) is None
