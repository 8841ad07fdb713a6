"""The Debezium change-event model shared by every consumer of the CDC topics.

Debezium's JSON converter (schemas enabled) wraps each change as
`{"schema": {...}, "payload": {"before", "after", "source", "op", "ts_ms"}}`. The
connector is configured (services/connector-config) to propagate source column types,
so each field schema carries the PostgreSQL type, length (precision) and scale.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

# What Debezium puts in place of an unchanged TOASTed value it did not receive.
UNAVAILABLE_VALUE = "__debezium_unavailable_value"
# The same placeholder in a bytea column, as the JSON converter encodes bytes (base64).
UNAVAILABLE_VALUE_BASE64 = "X19kZWJleml1bV91bmF2YWlsYWJsZV92YWx1ZQ=="


def placeholder_forms(placeholder: str = UNAVAILABLE_VALUE) -> tuple[str, ...]:
    """Every JSON text Debezium's PostgreSQL connector (3.x) writes for an unchanged TOAST value.

    The placeholder takes the shape of the column's type (`UnchangedToastedPlaceholder`):
    the string itself, its bytes as base64, a one-element text/bytea/uuid array, its bytes as
    an int/bigint array, an hstore map of it to itself, and a name-based UUID of its bytes.
    A value equal to one of these in a toastable column is never data.
    """
    raw = placeholder.encode("utf-8")
    b64 = base64.b64encode(raw).decode("ascii")
    # java.util.UUID.nameUUIDFromBytes: MD5 of the bytes with version 3 and the IETF variant.
    name_uuid = str(uuid.UUID(bytes=hashlib.md5(raw).digest(), version=3))
    return (
        placeholder,
        b64,
        json.dumps([placeholder], separators=(",", ":")),
        json.dumps([b64], separators=(",", ":")),
        json.dumps(list(raw), separators=(",", ":")),
        json.dumps({placeholder: placeholder}, separators=(",", ":")),
        name_uuid,
        json.dumps([name_uuid], separators=(",", ":")),
    )


# Debezium's headers on the two events of a primary-key update (delete old key, create new).
OLD_KEY_HEADER = "__debezium.oldkey"
NEW_KEY_HEADER = "__debezium.newkey"

SOURCE_TYPE = "__debezium.source.column.type"
SOURCE_LENGTH = "__debezium.source.column.length"
SOURCE_SCALE = "__debezium.source.column.scale"


class Op(str, Enum):
    """Debezium operation codes."""

    CREATE = "c"
    UPDATE = "u"
    DELETE = "d"
    READ = "r"  # snapshot read
    TRUNCATE = "t"
    MESSAGE = "m"


# Row-level operations the merge applies; the others are dead-lettered with a reason.
ROW_OPS = frozenset({Op.CREATE.value, Op.UPDATE.value, Op.DELETE.value, Op.READ.value})


class EnvelopeError(ValueError):
    """A value schema that is not a Debezium change-event envelope."""


@dataclass(frozen=True)
class FieldSchema:
    """One column of a change event's row struct, as Debezium describes it."""

    name: str
    type: str  # Kafka Connect type: int16, int32, int64, float32, float64, boolean, string, bytes, ...
    optional: bool
    logical: str | None = None  # e.g. io.debezium.time.MicroTimestamp
    parameters: dict[str, str] = field(default_factory=dict)
    items: FieldSchema | None = None  # the element schema of an array

    @property
    def source_type(self) -> str:
        return self.parameters.get(SOURCE_TYPE, "").upper()

    @property
    def source_length(self) -> int | None:
        v = self.parameters.get(SOURCE_LENGTH)
        return int(v) if v is not None and v.lstrip("-").isdigit() else None

    @property
    def source_scale(self) -> int | None:
        v = self.parameters.get(SOURCE_SCALE)
        return int(v) if v is not None and v.lstrip("-").isdigit() else None


def row_fields(envelope_schema: str | dict[str, Any]) -> list[FieldSchema]:
    """The row columns of an envelope schema (from its `after`, else `before`, struct)."""
    schema = json.loads(envelope_schema) if isinstance(envelope_schema, str) else envelope_schema
    if not isinstance(schema, dict) or schema.get("type") != "struct":
        raise EnvelopeError("value schema is not a struct")
    by_name = {f.get("field"): f for f in schema.get("fields", [])}
    row = by_name.get("after") or by_name.get("before")
    if row is None or row.get("type") != "struct" or "op" not in by_name:
        raise EnvelopeError("value schema has no before/after row struct and op: not a Debezium envelope")
    return [_field(f) for f in row.get("fields", [])]


def _field(f: dict[str, Any]) -> FieldSchema:
    items = f.get("items")
    return FieldSchema(
        name=str(f.get("field", "")),
        type=f["type"],
        optional=bool(f.get("optional", True)),
        logical=f.get("name"),
        parameters={str(k): str(v) for k, v in (f.get("parameters") or {}).items()},
        items=_field(items) if isinstance(items, dict) else None,
    )


_SCHEMA_START = '{"schema":'
PAYLOAD_MARK = ',"payload":'


def schema_head(value: bytes) -> bytes | None:
    """The bytes of a JSON-converter value up to and including `,"payload":`, or None.

    Kafka Connect's JSON converter writes compact `{"schema":{...},"payload":{...}}`, so every
    record with the same schema starts with the same head, byte for byte; a consumer that
    compares heads can skip parsing and hashing the schema (most of each record). The end of
    the schema object is found by a JSON parser, not by searching for the marker, which a
    schema parameter could contain.
    """
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not text.startswith(_SCHEMA_START):
        return None
    try:
        schema, end = json.JSONDecoder().raw_decode(text, len(_SCHEMA_START))
    except ValueError:
        return None
    if not isinstance(schema, dict) or not text.startswith(PAYLOAD_MARK, end):
        return None
    return text[: end + len(PAYLOAD_MARK)].encode("utf-8")


def head_schema(head: bytes) -> str:
    """The schema text inside a head from `schema_head` (without re-reading the record)."""
    return head[len(_SCHEMA_START) : -len(PAYLOAD_MARK)].decode("utf-8")
