"""Classifying and typing the records of one table's batch: the column expressions.

Every record ends up in exactly one place: skipped (tombstone), dead letter (with its
reason), or the good set that feeds bronze and the silver MERGE.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lakehouse.debezium import (
    PAYLOAD_MARK,
    ROW_OPS,
    EnvelopeError,
    placeholder_forms,
    row_fields,
)
from lakehouse.registry import Registry, TableSpec
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from cdc_merge.lake_tables import SchemaPlan, plan_schema
from cdc_merge.typemap import ColumnType, column_type

# The value schema is not in the parsed struct: materialising it (several KB) for every
# record dominated the parse. Records are grouped by their schema's raw text instead, and
# each distinct schema is read once, from Kafka, by `batch_schemas`.
PAYLOAD = (
    "struct<before:string, after:string, op:string, ts_ms:bigint,"
    " source:struct<schema:string, table:string, lsn:bigint, txId:bigint, ts_ms:bigint>>"
)
ENVELOPE = f"struct<payload:{PAYLOAD}>"
_HAS_SCHEMA = '{"schema":{'
_PLACEHOLDERS = placeholder_forms()
CLASSIFIED_COLUMNS = (
    "topic",
    "kafka_partition",
    "kafka_offset",
    "kafka_ts",
    "key",
    "tombstone",
    "reason",
    "value",
    "schema_id",
    "op",
    "before",
    "after",
    "lsn",
    "tx_id",
    "source_ts",
)


def schema_hash(value_sql: str) -> Column:
    """A hash of the envelope's schema text, or null when the value carries no schema.

    `value_sql` is the SQL of the value as a string. Kafka Connect's JSON converter writes
    `{"schema":...,"payload":...}` compactly, so the schema is everything before the payload
    marker; other layouts hash the whole value (each such record is then its own schema,
    parsed on its own).
    """
    value = F.expr(value_sql)
    mark = F.instr(value, PAYLOAD_MARK)
    head = F.when(mark > 0, F.expr(f"substring({value_sql}, 1, instr({value_sql}, '{PAYLOAD_MARK}'))")).otherwise(value)
    has_schema = value.startswith(_HAS_SCHEMA) | F.get_json_object(value, "$.schema.type").isNotNull()
    return F.when(has_schema, F.hex(F.xxhash64(head)))


def classify(
    raw: DataFrame,
    registry: Registry,
    spec: TableSpec,
    heads: Sequence[bytes] = (),
    extend: Callable[[DataFrame], DataFrame] | None = None,
) -> DataFrame:
    """Parse envelopes and give each record a `reason` (null when it is a usable change).

    `heads` are schema heads (`lakehouse.debezium.schema_head`) expected in the batch, such as
    those of its first and last records. A record that starts with one of them byte for byte
    has that schema: only its payload is parsed, and its schema id is the head's number. Any
    other record takes the general path: the whole envelope parsed, its schema text hashed.
    `extend` adds columns (typed values) in the same pass, before the result is cached; the
    columns of `CLASSIFIED_COLUMNS` are the classification itself.
    """
    df = raw.select(
        F.col("topic"),
        F.col("partition").alias("kafka_partition"),
        F.col("offset").alias("kafka_offset"),
        F.col("timestamp").alias("kafka_ts"),
        F.col("key").cast("string").alias("key"),
        F.col("value").alias("raw_value"),
    )
    head_no = F.lit(None).cast("int")
    for i, head in reversed(list(enumerate(heads))):
        head_no = F.when(F.substring("raw_value", 1, len(head)) == F.lit(head), F.lit(i)).otherwise(head_no)
    df = df.select("*", head_no.alias("head_no"))
    text_sql = "CAST(raw_value AS STRING)"
    text = F.expr(text_sql)
    payload = F.from_json(text, ENVELOPE)["payload"]
    schema_id = schema_hash(text_sql)
    for i, head in enumerate(heads):
        # The payload is what lies between the head and the envelope's closing brace.
        body = F.expr(f"substring(raw_value, {len(head) + 1}, length(raw_value) - {len(head) + 1})")
        payload = F.when(F.col("head_no") == i, F.from_json(body.cast("string"), PAYLOAD)).otherwise(payload)
        schema_id = F.when(F.col("head_no") == i, F.lit(f"head{i}")).otherwise(schema_id)
    registered = F.array(*[F.lit(t.source) for t in registry.tables])
    df = df.select("*", payload.alias("payload"), schema_id.alias("schema_id"))
    p = F.col("payload")
    src_table = F.concat_ws(".", p["source"]["schema"], p["source"]["table"])
    reason = (
        F.when(F.col("raw_value").isNull(), F.lit(None))
        .when(p.isNull() | p["op"].isNull(), F.lit("malformed: not a JSON Debezium change event"))
        .when(~p["op"].isin(*ROW_OPS), F.concat(F.lit("unsupported op code '"), p["op"], F.lit("'")))
        .when(
            ~F.array_contains(registered, src_table),
            F.concat(F.lit("event for table '"), src_table, F.lit("' which is not in the registry")),
        )
        .when(
            src_table != F.lit(spec.source),
            F.concat(F.lit("event for table '"), src_table, F.lit(f"' on the topic of '{spec.source}'")),
        )
        .when(
            F.col("schema_id").isNull(), F.lit("no value schema (the JSON converter must run with schemas.enable=true)")
        )
    )
    df = df.select(
        "topic",
        "kafka_partition",
        "kafka_offset",
        "kafka_ts",
        "key",
        F.col("raw_value").isNull().alias("tombstone"),
        reason.alias("reason"),
        # The raw value is kept only where it must be dead-lettered; the rest is parsed.
        F.when(reason.isNotNull(), text).alias("value"),
        "schema_id",
        p["op"].alias("op"),
        p["before"].alias("before"),
        p["after"].alias("after"),
        p["source"]["lsn"].alias("lsn"),
        p["source"]["txId"].alias("tx_id"),
        F.timestamp_millis(p["source"]["ts_ms"]).alias("source_ts"),
    )
    assert df.columns == list(CLASSIFIED_COLUMNS)
    return (extend(df) if extend else df).persist(StorageLevel.MEMORY_AND_DISK)


@dataclass
class BatchSchemas:
    """The distinct row schemas of a batch, in arrival order, mapped to column types."""

    order: list[str]  # schema ids
    columns: dict[str, dict[str, ColumnType]]  # schema id -> column -> type
    invalid: dict[str, str]  # schema id -> reason


@dataclass
class Typing:
    """How a batch's rows are typed: the silver schema plan, rejected schemas, conversions."""

    plan: SchemaPlan
    rejected: dict[str, str]  # schema id -> reason (unusable or incompatible)
    converters: dict[str, ColumnType]  # column -> newest accepted conversion


def schema_typing(current: dict[str, str] | None, schemas: BatchSchemas) -> Typing:
    """Fold `schemas` into the silver table's `current` columns (None: no table yet)."""
    plan = plan_schema(
        current,
        [
            (sid, {c: ct.sql_type for c, ct in schemas.columns[sid].items()})
            for sid in schemas.order
            if sid in schemas.columns
        ],
    )
    rejected = {**schemas.invalid, **plan.rejected}
    converters: dict[str, ColumnType] = {}
    for sid in schemas.order:
        if sid in schemas.columns and sid not in rejected:
            converters.update(schemas.columns[sid])
    return Typing(plan, rejected, converters)


def batch_schemas(
    first_seen: list[tuple[str, int, int]],
    fetch: Callable[[int, int], bytes | None],
    known: dict[str, str] | None = None,
) -> BatchSchemas:
    """Distinct schemas in arrival order.

    `first_seen` holds (schema id, partition, offset) of each schema's first record;
    `fetch(partition, offset)` returns that record's raw value. `known` maps schema ids to
    their schema text when it is at hand already (a head's), saving the fetch.
    """
    out = BatchSchemas(order=[], columns={}, invalid={})
    for sid, part, off in sorted(first_seen, key=lambda x: (x[1], x[2])):
        out.order.append(sid)
        try:
            if known and sid in known:
                schema = known[sid]
            else:
                raw = fetch(part, off)
                if raw is None:
                    raise ValueError(f"record {part}/{off} is gone")
                schema = json.loads(raw)["schema"]
            out.columns[sid] = {f.name: column_type(f) for f in row_fields(schema)}
        except (EnvelopeError, ValueError, KeyError, TypeError) as exc:
            out.invalid[sid] = f"unusable value schema: {exc}"
    return out


def known_schemas(known: dict[str, str]) -> BatchSchemas:
    """`known` (schema id -> schema text, in arrival order) as batch schemas; nothing is fetched."""
    return batch_schemas([(sid, 0, i) for i, sid in enumerate(known)], lambda _p, _o: None, known)


def offset_at_least(thresholds: dict[int, int], start: dict[int, int] | None = None) -> Column:
    """Rows whose offset is at or beyond the per-partition threshold.

    When the thresholds are the range's `start` (the usual case), every row of the range is:
    a constant keeps the plans free of per-batch offsets, so Spark's generated code repeats
    from batch to batch and is compiled once.
    """
    if start is not None and all(thresholds.get(p, 0) <= o for p, o in start.items()):
        return F.lit(True)
    cond = F.lit(False)
    for part, off in thresholds.items():
        cond = cond | ((F.col("kafka_partition") == part) & (F.col("kafka_offset") >= off))
    return cond


def typed_changes(
    good: DataFrame, spec: TableSpec, table_columns: dict[str, str], converters: dict[str, ColumnType]
) -> DataFrame:
    """Typed source columns plus per-column placeholder flags, `_any_unavail`, and a fit check.

    `converters` holds, per column present in the batch, the newest accepted conversion;
    table columns absent from the batch (dropped at the source) become null.
    """
    # Every field as its JSON text; the converters then type it. A struct, unlike a map, is
    # read by position, not by a key search per column.
    row_type = StructType([StructField(c, StringType()) for c in dict.fromkeys([*spec.primary_key, *converters])])
    row = F.when(F.col("op") == "d", F.from_json("before", row_type)).otherwise(F.from_json("after", row_type))
    df = good.withColumn("_row", row)
    cols: list[Column] = []
    misfits: list[Column] = []
    any_unavail: Column = F.lit(False)
    for name, sql_type in table_columns.items():
        conv = converters.get(name)
        if conv is None:
            cols += [F.lit(None).cast(sql_type).alias(name), F.lit(False).alias(f"_unavail_{name}")]
            continue
        raw = F.col("_row").getItem(name)
        unavailable = F.coalesce(raw.isin(*_PLACEHOLDERS), F.lit(False)) if conv.toastable else F.lit(False)
        if conv.toastable:
            any_unavail = any_unavail | unavailable
        if sql_type == "string" and conv.sql_type.startswith("array<"):
            typed = raw  # a table made before arrays became lists: their JSON text, as before
        else:
            typed = F.expr(conv.expression(f"_row['{name}']")).cast(sql_type)
        value = F.when(unavailable, F.lit(None).cast(sql_type)).otherwise(typed)
        cols += [value.alias(name), unavailable.alias(f"_unavail_{name}")]
        relevant = F.lit(True) if name in spec.primary_key else (F.col("op") != "d")
        misfits.append(
            F.when(
                relevant & raw.isNotNull() & ~unavailable & typed.isNull(),
                F.concat(
                    F.lit(f"{name}='"),
                    F.substring(raw, 1, 80),
                    F.lit(f"' as {sql_type}" + (f" ({conv.limits})" if conv.limits else "")),
                ),
            )
        )
    pk_missing = F.lit(False)
    for k in spec.primary_key:
        pk_missing = pk_missing | F.col("_row").getItem(k).isNull()
    misfit_list = F.concat_ws(", ", *misfits) if misfits else F.lit("")
    fit_reason = F.when(pk_missing, F.lit("missing primary key value")).when(
        misfit_list != "", F.concat(F.lit("value does not fit the column type: "), misfit_list)
    )
    return df.select("*", *cols, any_unavail.alias("_any_unavail"), fit_reason.alias("fit_reason")).drop("_row")
