"""The soak's independent checker: source through psycopg, the lake through pyiceberg, Kafka
through its own consumer, and comparison code of its own.

It shares nothing with the merge or `lakehouse.reconcile` on purpose: a bug in their
normalisation must not hide the same bug in the data. Each PostgreSQL type is brought to one
canonical Python form here, from the type table in docs/merge-semantics.md.
"""

from __future__ import annotations

import json
import re
import struct
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import psycopg
from confluent_kafka import Consumer, TopicPartition

Key = tuple[Any, ...]
_ISO = re.compile(
    r"^P(?:(-?\d+)Y)?(?:(-?\d+)M)?(?:(-?\d+)W)?(?:(-?\d+)D)?"
    r"(?:T(?:(-?\d+)H)?(?:(-?\d+)M)?(?:(-?\d+(?:\.\d+)?)S)?)?$"
)
# Values the type table says the lake cannot keep (soak.edges.note names them).
UNKEEPABLE_NOTE = "unkeepable"


@dataclass
class TableCheck:
    """One table's comparison."""

    table: str
    source_rows: int = 0
    lake_rows: int = 0
    compared: int = 0
    mismatches: list[str] = field(default_factory=list)


@dataclass
class RoundCheck:
    """Everything the checker found after one round."""

    tables: list[TableCheck] = field(default_factory=list)
    bronze_offsets: int = 0
    dead_letters: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def mismatches(self) -> int:
        return sum(len(t.mismatches) for t in self.tables) + len(self.problems)

    @property
    def rows_compared(self) -> int:
        return sum(t.compared for t in self.tables)


def iso_duration(text: str) -> tuple[int, int, Decimal]:
    """(months, days, seconds) of an ISO 8601 duration, as PostgreSQL and Debezium write them."""
    m = _ISO.match(text.strip())
    if m is None:
        raise ValueError(f"not an ISO 8601 duration: {text!r}")
    y, mo, w, d, h, mi, s = (g or "0" for g in m.groups())
    return (int(y) * 12 + int(mo), int(w) * 7 + int(d), int(h) * 3600 + int(mi) * 60 + Decimal(s))


def _float32(x: float) -> float:
    return float(struct.unpack("f", struct.pack("f", x))[0])


def canonical(pg_type: str, value: Any) -> Any:
    """One comparable form of a value, by its PostgreSQL type, from whichever side it came."""
    if value is None:
        return None
    if pg_type == "jsonb" or pg_type == "json":
        return json.dumps(json.loads(value) if isinstance(value, str) else value, sort_keys=True)
    if pg_type == "uuid":
        return str(value)
    if pg_type == "bytea":
        return bytes(value)
    if pg_type == "real":
        return _float32(float(value))
    if pg_type == "double precision":
        return float(value)
    if pg_type == "interval":
        return iso_duration(str(value))
    if pg_type.startswith("numeric") or pg_type == "money":
        return Decimal(str(value))
    if pg_type == "timestamp with time zone":
        return value.astimezone(UTC) if isinstance(value, datetime) else value
    if pg_type.endswith("[]"):
        element = pg_type[:-2]
        return [canonical(element, v) for v in value]
    return value


def _scan(catalog: Any, name: str, **kwargs: Any) -> list[dict[str, Any]]:
    """Rows of an Iceberg table; none when the table does not exist (yet)."""
    from pyiceberg.exceptions import NoSuchTableError

    try:
        table = catalog.load_table(name)
    except NoSuchTableError:
        return []
    return list(table.scan(**kwargs).to_arrow().to_pylist())


def _columns(conn: psycopg.Connection[Any], schema: str, table: str) -> dict[str, str]:
    return {
        str(r[0]): str(r[1])
        for r in conn.execute(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = %s::regclass "
            "AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            (f"{schema}.{table}",),
        )
    }


def source_rows(conninfo: str, source: str, key: list[str]) -> tuple[dict[str, str], dict[Key, dict[str, Any]]]:
    """The source table's column types and its rows by key, canonical."""
    schema, table = source.split(".")
    with psycopg.connect(conninfo) as conn:
        conn.execute("SET intervalstyle = 'iso_8601'")
        types = _columns(conn, schema, table)
        # money as numeric, time as microseconds since midnight, interval as ISO text (the table's rules)
        exprs = []
        for c, t in types.items():
            if t == "money":
                exprs.append(f'"{c}"::numeric AS "{c}"')
            elif t.startswith("time") and not t.startswith("timestamp") and "with time zone" not in t:
                exprs.append(f'(extract(epoch FROM "{c}") * 1000000)::bigint AS "{c}"')
            elif t in ("date", "timestamp without time zone", "timestamp with time zone"):
                # infinity has no Python form; such rows are the unkeepable ones (skipped, dead-lettered)
                exprs.append(f'CASE WHEN isfinite("{c}") THEN "{c}" END AS "{c}"')
            elif t == "interval":
                exprs.append(f'"{c}"::text AS "{c}"')
            else:
                exprs.append(f'"{c}"')
        cur = conn.execute(f"SELECT {', '.join(exprs)} FROM {schema}.{table}")  # type: ignore[call-overload]
        names = [d.name for d in cur.description or []]
        rows: dict[Key, dict[str, Any]] = {}
        for rec in cur:
            row = {n: canonical(types[n], v) for n, v in zip(names, rec, strict=True)}
            rows[tuple(row[k] for k in key)] = row
    return types, rows


def lake_rows(
    catalog: Any, iceberg: str, key: list[str], types: dict[str, str]
) -> tuple[dict[Key, dict[str, Any]], int]:
    """The silver table's rows by key (source columns only), canonical; and how many keys repeat."""
    rows: dict[Key, dict[str, Any]] = {}
    repeats = 0
    for rec in _scan(catalog, iceberg):
        row = {c: canonical(t, rec.get(c)) for c, t in types.items()}
        k = tuple(row[c] for c in key)
        repeats += k in rows
        rows[k] = row
    return rows, repeats


def compare_table(conninfo: str, catalog: Any, spec: dict[str, Any], skip: set[Key] | None = None) -> TableCheck:
    """Source and silver equal, row for row and value for value (keys in `skip` are not compared)."""
    key = list(spec["primary_key"])
    types, source = source_rows(conninfo, spec["source"], key)
    lake, repeats = lake_rows(catalog, spec["iceberg"], key, types)
    check = TableCheck(spec["source"], len(source), len(lake))
    if repeats:
        check.mismatches.append(f"{repeats} primary keys appear more than once in silver")
    skip = skip or set()
    for k, row in source.items():
        if k in skip:
            continue
        other = lake.get(k)
        if other is None:
            check.mismatches.append(f"key {k}: in the source, missing in silver")
            continue
        check.compared += 1
        for c, v in row.items():
            if other[c] != v:
                check.mismatches.append(f"key {k} column {c}: source {str(v)[:80]!r}, silver {str(other[c])[:80]!r}")
    for k in lake:
        if k not in source and k not in skip:
            check.mismatches.append(f"key {k}: in silver, not in the source")
    return check


def topic_offsets(bootstrap: str, topic: str) -> tuple[set[tuple[int, int]], int]:
    """(partition, offset) of every non-tombstone record of `topic`, and its record count."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"soak-check-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "log_level": 0,
        }
    )
    try:
        md = consumer.list_topics(topic, timeout=15).topics.get(topic)
        if md is None or md.error is not None:
            return set(), 0
        bounds = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=15) for p in md.partitions}
        consumer.assign([TopicPartition(topic, p, low) for p, (low, _) in bounds.items()])
        remaining = {p for p, (low, high) in bounds.items() if high > low}
        found: set[tuple[int, int]] = set()
        seen = 0
        while remaining:
            msg = consumer.poll(5.0)
            if msg is None:
                raise TimeoutError(f"{topic}: no record within 5 s while reading up to the high watermark")
            if msg.error() is not None:
                continue
            p, o = msg.partition(), msg.offset()
            seen += 1
            if msg.value() is not None:
                found.add((p, o))
            if o >= bounds[p][1] - 1:
                remaining.discard(p)
        return found, seen
    finally:
        consumer.close()


def bronze_offsets(catalog: Any, bronze: str, topic: str) -> list[tuple[int, int]]:
    rows = _scan(catalog, bronze, row_filter=f"topic = '{topic}'", selected_fields=("kafka_partition", "kafka_offset"))
    return [(r["kafka_partition"], r["kafka_offset"]) for r in rows]


def check_round(
    conninfo: str,
    bootstrap: str,
    catalog: Any,
    tables: list[dict[str, Any]],
    topic_prefix: str,
    bronze_namespace: str,
    dead_letter_table: str,
) -> RoundCheck:
    """Silver equals source; bronze holds every change offset once; dead letters are the unkeepable values."""
    out = RoundCheck()
    dead = _scan(
        catalog, dead_letter_table, row_filter=" OR ".join(f"registry_table = '{t['source']}'" for t in tables)
    )
    out.dead_letters = len(dead)
    dead_positions = [(d["topic"], d["kafka_partition"], d["kafka_offset"]) for d in dead]
    if len(dead_positions) != len(set(dead_positions)):
        out.problems.append("a Kafka record is in the dead letters twice")
    dead_keys: dict[str, set[Key]] = {}
    for d in dead:
        if not (d["reason"] or "").strip():
            out.problems.append(f"dead letter at {d['topic']}/{d['kafka_offset']} has no reason")
        payload = json.loads(d["key"] or "{}").get("payload", {})
        spec = next(t for t in tables if t["source"] == d["registry_table"])
        dead_keys.setdefault(spec["source"], set()).add(tuple(payload.get(k) for k in spec["primary_key"]))
        if d["registry_table"] != "soak.edges":
            out.problems.append(f"unexpected dead letter for {d['registry_table']}: {d['reason'][:200]}")
    for spec in tables:
        skip: set[Key] = set()
        if spec["source"] == "soak.edges":
            with psycopg.connect(conninfo) as conn:
                unkeepable = {
                    (r[0],)
                    for r in conn.execute("SELECT id FROM soak.edges WHERE note LIKE %s", (UNKEEPABLE_NOTE + "%",))
                }
            skip = unkeepable
            if dead_keys.get("soak.edges", set()) != unkeepable:
                missing = unkeepable - dead_keys.get("soak.edges", set())
                extra = dead_keys.get("soak.edges", set()) - unkeepable
                out.problems.append(
                    f"soak.edges: unkeepable rows not dead-lettered {sorted(missing)[:5]} "
                    f"({len(missing)}), dead letters for keepable rows {sorted(extra)[:5]} ({len(extra)})"
                )
            lake_keys = {tuple(r.values()) for r in _scan(catalog, spec["iceberg"], selected_fields=("id",))}
            if lake_keys & unkeepable:
                out.problems.append(
                    f"soak.edges: unkeepable rows stored in silver: {sorted(lake_keys & unkeepable)[:5]}"
                )
        out.tables.append(compare_table(conninfo, catalog, spec, skip))
        topic = f"{topic_prefix}.{spec['source']}"
        in_kafka, _ = topic_offsets(bootstrap, topic)
        bronze = bronze_offsets(catalog, f"{bronze_namespace}.{spec['iceberg'].split('.')[1]}", topic)
        out.bronze_offsets += len(bronze)
        if len(bronze) != len(set(bronze)):
            out.problems.append(f"{topic}: {len(bronze) - len(set(bronze))} offsets are in bronze more than once")
        if set(bronze) != in_kafka:
            gaps, extra = sorted(in_kafka - set(bronze)), sorted(set(bronze) - in_kafka)
            out.problems.append(
                f"{topic}: bronze lacks {len(gaps)} change offsets {gaps[:5]}, "
                f"holds {len(extra)} that are no change {extra[:5]}"
            )
    return out
