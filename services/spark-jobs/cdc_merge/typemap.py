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
_STRING_LOGICAL = {
    "io.debezium.data.Uuid",
    "io.debezium.data.Json",
    "io.debezium.data.Xml",
    "io.debezium.data.Enum",
    "io.debezium.data.EnumSet",
    _TIME + "ZonedTime",
    "io.debezium.data.Ltree",
    _TIME + "Interval",
}

# What standard readers hold (Spark, Arrow to Python's datetime): years 1 to 9999. PostgreSQL's
# 'infinity' and dates beyond arrive as numbers outside this range and are dead-lettered.
_DAYS = (-719162, 2932896)  # 0001-01-01, 9999-12-31 as days since 1970-01-01
_MICROS = (-62135596800000000, 253402300799999999)
_RANGE = "outside years 1-9999 (PostgreSQL 'infinity' or a date standard readers cannot hold)"
# money passes through a double in Debezium's decoder: exact up to 15 significant digits.
MONEY_DIGITS = 15
_MONEY = (
    f"CASE WHEN {{raw}} RLIKE '^-?[0-9]+([.][0-9]+)?$' AND "
    f"length(regexp_replace(regexp_replace({{raw}}, '[-.]', ''), '^0+', '')) <= {MONEY_DIGITS} "
    "THEN CAST({raw} AS DECIMAL(19,2)) END"
)


# Debezium writes an interval's seconds through a double ("48.601895999S" for 48.601896 s);
# PostgreSQL keeps microseconds, so rounding the seconds to 6 places restores the exact value.
_SECONDS = "regexp_extract({raw}, '(-?[0-9]+([.][0-9]+)?)S$', 1)"
_INTERVAL = (
    "CASE WHEN {raw} RLIKE '[0-9]S$' THEN concat(regexp_extract({raw}, '^(.*[^-0-9.])-?[0-9.]+S$', 1), "
    f"regexp_replace(CAST(CAST(ROUND(CAST({_SECONDS} AS DECIMAL(30,12)), 6) AS DECIMAL(30,6)) AS STRING), "
    "'[.]?0+$', ''), 'S') ELSE {raw} END"
)


def _within(expr: str, bounds: tuple[int, int], raw_cast: str) -> str:
    low, high = bounds
    return f"CASE WHEN {raw_cast} BETWEEN {low} AND {high} THEN {expr} END"


# Array elements Iceberg holds as list elements: Kafka Connect type -> Spark element type.
_ELEMENTS = {
    "int8": "int",
    "int16": "int",
    "int32": "int",
    "int64": "bigint",
    "float": "float",
    "float32": "float",
    "double": "double",
    "float64": "double",
    "boolean": "boolean",
    "string": "string",
}


@dataclass(frozen=True)
class ColumnType:
    """Where a source column lands: its Spark SQL type and how raw JSON text converts."""

    sql_type: str
    convert: str  # SQL template with {raw} for the raw JSON text of the value
    limits: str = ""  # why a value may not fit, for the dead-letter reason

    def expression(self, raw: str) -> str:
        return self.convert.format(raw=raw)

    @property
    def toastable(self) -> bool:
        """Types whose unchanged large values Debezium may replace with a placeholder."""
        return self.sql_type in ("string", "binary") or self.sql_type.startswith("array<")


def column_type(f: FieldSchema) -> ColumnType:
    """Map one Debezium field to its Iceberg column type."""
    logical = f.logical or ""
    if logical == _TIME + "Date":
        return ColumnType(
            "date", _within("date_add(DATE'1970-01-01', CAST({raw} AS INT))", _DAYS, "CAST({raw} AS BIGINT)"), _RANGE
        )
    if logical == _TIME + "MicroTimestamp":
        return ColumnType(
            "timestamp_ntz",
            _within("CAST(timestamp_micros(CAST({raw} AS BIGINT)) AS TIMESTAMP_NTZ)", _MICROS, "CAST({raw} AS BIGINT)"),
            _RANGE,
        )
    if logical == _TIME + "Timestamp":
        return ColumnType(
            "timestamp_ntz",
            _within(
                "CAST(timestamp_millis(CAST({raw} AS BIGINT)) AS TIMESTAMP_NTZ)",
                (_MICROS[0] // 1000, _MICROS[1] // 1000),
                "CAST({raw} AS BIGINT)",
            ),
            _RANGE,
        )
    if logical == _TIME + "NanoTimestamp":
        # Every int64 of nanoseconds lies within years 1677-2262.
        return ColumnType(
            "timestamp_ntz", "CAST(timestamp_micros(CAST(CAST({raw} AS BIGINT) / 1000 AS BIGINT)) AS TIMESTAMP_NTZ)"
        )
    if logical == _TIME + "ZonedTimestamp":
        # 'infinity' does not parse; a year beyond 9999 is written with a sign or five digits.
        return ColumnType("timestamp", "CASE WHEN {raw} RLIKE '^[0-9]{{4}}-' THEN CAST({raw} AS TIMESTAMP) END", _RANGE)
    if logical == _TIME + "Interval":
        return ColumnType("string", _INTERVAL)
    if logical in (_TIME + "MicroTime", _TIME + "Time", _TIME + "NanoTime"):
        # Spark has no TIME type: time of day as a number in the unit Debezium sends.
        return ColumnType("bigint", "CAST({raw} AS BIGINT)")
    if logical in _STRING_LOGICAL:
        return ColumnType("string", "{raw}")
    if f.source_type == "MONEY" and f.type == "string":
        return ColumnType(
            "decimal(19,2)",
            _MONEY,
            f"money beyond {MONEY_DIGITS} significant digits: Debezium's decoder reads it through a "
            "double, so it did not arrive exactly",
        )
    if f.type == "array" and f.items is not None and not f.items.logical and f.items.type in _ELEMENTS:
        element = _ELEMENTS[f.items.type]
        return ColumnType(f"array<{element}>", f"from_json({{raw}}, 'array<{element}>')")
    if f.type == "array" and f.items is not None and not f.items.logical and f.items.type == "bytes":
        return ColumnType("array<binary>", "transform(from_json({raw}, 'array<string>'), x -> unbase64(x))")
    if f.type == "array" and f.items is not None and f.items.logical in _STRING_LOGICAL:
        return ColumnType("array<string>", "from_json({raw}, 'array<string>')")
    if f.type == "array" and f.items is not None and f.items.logical == _TIME + "Date":
        days = f"x BETWEEN {_DAYS[0]} AND {_DAYS[1]}"
        return ColumnType(
            "array<date>",
            "CASE WHEN forall(from_json({raw}, 'array<bigint>'), x -> x IS NULL OR "
            + days
            + ") THEN transform(from_json({raw}, 'array<int>'), "
            "x -> date_add(DATE'1970-01-01', x)) END",
            _RANGE,
        )
    if f.source_type in ("NUMERIC", "DECIMAL") and f.type == "string":
        p, s = f.source_length, f.source_scale
        if p is not None and 0 < p <= MAX_DECIMAL_PRECISION and s is not None and 0 <= s <= p:
            return ColumnType(f"decimal({p},{s})", f"CAST({{raw}} AS DECIMAL({p},{s}))")
        # Unconstrained numeric (or beyond 38 digits): kept exact as text, special values as
        # PostgreSQL writes them (Debezium spells them NAN, POSITIVE_INFINITY, NEGATIVE_INFINITY).
        return ColumnType(
            "string",
            "CASE {raw} WHEN 'NAN' THEN 'NaN' WHEN 'POSITIVE_INFINITY' THEN 'Infinity' "
            "WHEN 'NEGATIVE_INFINITY' THEN '-Infinity' ELSE {raw} END",
        )
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
    # Maps, structs and arrays of other elements (hstore, composite types, date[]) as JSON text.
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
    if current == "string" and incoming.startswith("array<"):
        return WIDER_TABLE  # a table made before arrays became lists keeps their JSON text
    for order in (_INT_ORDER, _FLOAT_ORDER):
        if current in order and incoming in order:
            return PROMOTE if order[incoming] > order[current] else WIDER_TABLE
    cur, inc = _DECIMAL.match(current), _DECIMAL.match(incoming)
    if cur and inc and cur.group(2) == inc.group(2):
        return PROMOTE if int(inc.group(1)) > int(cur.group(1)) else WIDER_TABLE
    return INCOMPATIBLE
