"""Debezium column schemas -> Iceberg/Spark column types, value conversions and promotions.

Pure logic (no Spark session): each mapping yields a Spark SQL type and a SQL expression
that turns the column's raw JSON text into that type. A non-null raw value whose
conversion is null does not fit the type and is dead-lettered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lakehouse.debezium import FieldSchema

_DECIMAL = re.compile(r"^decimal\((\d+),\s*(\d+)\)$")
MAX_DECIMAL_PRECISION = 38

_TIME = "io.debezium.time."
_STRING_LOGICAL = {"io.debezium.data.Uuid", "io.debezium.data.Json", "io.debezium.data.Xml",
                   "io.debezium.data.Enum", "io.debezium.data.EnumSet", _TIME + "ZonedTime",
                   "io.debezium.data.Ltree"}


@dataclass(frozen=True)
class ColumnType:
    """Where a source column lands: its Spark SQL type and how raw JSON text converts."""

    sql_type: str
    convert: str  # SQL template with {raw} for the raw JSON text of the value

    def expression(self, raw: str) -> str:
        return self.convert.format(raw=raw)

    @property
    def toastable(self) -> bool:
        """Types whose unchanged large values Debezium may replace with a placeholder."""
        return self.sql_type in ("string", "binary")


def column_type(f: FieldSchema) -> ColumnType:
    """Map one Debezium field to its Iceberg column type."""
    logical = f.logical or ""
    if logical == _TIME + "Date":
        return ColumnType("date", "date_add(DATE'1970-01-01', CAST({raw} AS INT))")
    if logical == _TIME + "MicroTimestamp":
        return ColumnType("timestamp_ntz", "CAST(timestamp_micros(CAST({raw} AS BIGINT)) AS TIMESTAMP_NTZ)")
    if logical == _TIME + "Timestamp":
        return ColumnType("timestamp_ntz", "CAST(timestamp_millis(CAST({raw} AS BIGINT)) AS TIMESTAMP_NTZ)")
    if logical == _TIME + "NanoTimestamp":
        return ColumnType("timestamp_ntz",
                          "CAST(timestamp_micros(CAST(CAST({raw} AS BIGINT) / 1000 AS BIGINT)) AS TIMESTAMP_NTZ)")
    if logical == _TIME + "ZonedTimestamp":
        return ColumnType("timestamp", "CAST({raw} AS TIMESTAMP)")
    if logical in (_TIME + "MicroTime", _TIME + "Time", _TIME + "NanoTime"):
        # Spark has no TIME type: time of day as a number in the unit Debezium sends.
        return ColumnType("bigint", "CAST({raw} AS BIGINT)")
    if logical in _STRING_LOGICAL:
        return ColumnType("string", "{raw}")
    if f.source_type in ("NUMERIC", "DECIMAL") and f.type == "string":
        p, s = f.source_length, f.source_scale
        if p is not None and 0 < p <= MAX_DECIMAL_PRECISION and s is not None and 0 <= s <= p:
            return ColumnType(f"decimal({p},{s})", f"CAST({{raw}} AS DECIMAL({p},{s}))")
        # Unconstrained numeric (or beyond 38 digits): kept exact as text.
        return ColumnType("string", "{raw}")
    simple = {
        "int8": ColumnType("int", "CAST({raw} AS INT)"),
        "int16": ColumnType("int", "CAST({raw} AS INT)"),
        "int32": ColumnType("int", "CAST({raw} AS INT)"),
        "int64": ColumnType("bigint", "CAST({raw} AS BIGINT)"),
        # Kafka Connect's JSON converter names FLOAT32/FLOAT64 "float"/"double".
        "float": ColumnType("float", "CAST({raw} AS FLOAT)"),
        "double": ColumnType("double", "CAST({raw} AS DOUBLE)"),
        "float32": ColumnType("float", "CAST({raw} AS FLOAT)"),
        "float64": ColumnType("double", "CAST({raw} AS DOUBLE)"),
        "boolean": ColumnType("boolean", "CAST({raw} AS BOOLEAN)"),
        "string": ColumnType("string", "{raw}"),
        "bytes": ColumnType("binary", "unbase64({raw})"),
    }
    if f.type in simple:
        return simple[f.type]
    # Arrays, maps and structs (PostgreSQL arrays, composite types) as their JSON text.
    return ColumnType("string", "{raw}")


# How an incoming column type relates to the table's current type.
SAME, PROMOTE, WIDER_TABLE, INCOMPATIBLE = "same", "promote", "wider-table", "incompatible"

_INT_ORDER = {"int": 1, "bigint": 2}
_FLOAT_ORDER = {"float": 1, "double": 2}


def compare(current: str, incoming: str) -> str:
    """SAME, PROMOTE (Iceberg can widen the table), WIDER_TABLE (value casts up) or INCOMPATIBLE."""
    current, incoming = current.lower().replace(" ", ""), incoming.lower().replace(" ", "")
    if current == incoming:
        return SAME
    for order in (_INT_ORDER, _FLOAT_ORDER):
        if current in order and incoming in order:
            return PROMOTE if order[incoming] > order[current] else WIDER_TABLE
    cur, inc = _DECIMAL.match(current), _DECIMAL.match(incoming)
    if cur and inc and cur.group(2) == inc.group(2):
        return PROMOTE if int(inc.group(1)) > int(cur.group(1)) else WIDER_TABLE
    return INCOMPATIBLE
