"""Creating and evolving the Iceberg tables the merge writes: silver, bronze, dead letter."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from lakehouse.registry import Registry, TableSpec
from pyspark.sql import SparkSession

from cdc_merge.typemap import INCOMPATIBLE, PROMOTE, SAME, WIDER_TABLE, compare

# Change metadata kept on every silver row (not part of the source table).
META_COLUMNS = {
    "_cdc_op": "string",
    "_cdc_lsn": "bigint",
    "_cdc_source_ts": "timestamp",
    "_cdc_kafka_partition": "int",
    "_cdc_kafka_offset": "bigint",
}

# Merge-on-read: small frequent upserts write delete files instead of rewriting data
# files; lake maintenance compacts them.
_SILVER_PROPS = {
    "format-version": "2",
    "write.merge.mode": "merge-on-read",
    "write.update.mode": "merge-on-read",
    "write.delete.mode": "merge-on-read",
    "write.parquet.compression-codec": "zstd",
    "write.metadata.delete-after-commit.enabled": "true",
    "write.metadata.previous-versions-max": "50",
}

BRONZE_COLUMNS = (
    ("topic", "string"),
    ("kafka_partition", "int"),
    ("kafka_offset", "bigint"),
    ("kafka_ts", "timestamp"),
    ("op", "string"),
    ("lsn", "bigint"),
    ("tx_id", "bigint"),
    ("source_ts", "timestamp"),
    ("key", "string"),
    ("before", "string"),
    ("after", "string"),
    ("ingested_at", "timestamp"),
)

DEAD_LETTER_COLUMNS = (
    ("topic", "string"),
    ("kafka_partition", "int"),
    ("kafka_offset", "bigint"),
    ("kafka_ts", "timestamp"),
    ("registry_table", "string"),
    ("reason", "string"),
    ("key", "string"),
    ("payload", "string"),
    ("failed_at", "timestamp"),
)


# The tables of a cycle are merged in threads, and several may create the same namespace or
# the shared dead-letter table at once: "IF NOT EXISTS" is a check, then a create, in Spark,
# so those are serialised within the process (each table's own tables are its thread's).
_DDL = threading.Lock()


class SchemaMismatchError(ValueError):
    """The registry and the captured data disagree (e.g. a partition column that does not exist)."""


def _props_sql(props: dict[str, str]) -> str:
    return ", ".join(f"'{k}'='{v}'" for k, v in props.items())


def _namespace(spark: SparkSession, table: str) -> None:
    catalog, ns, _ = table.split(".")
    with _DDL:
        spark.sql(f"CREATE NAMESPACE IF NOT EXISTS {catalog}.{ns}")


def table_exists(spark: SparkSession, table: str) -> bool:
    return bool(spark.catalog.tableExists(table))


def ensure_bronze(spark: SparkSession, registry: Registry, spec: TableSpec, exists: bool | None = None) -> str:
    """Create the bronze table of `spec` unless it exists (`exists`: already known, skips a look-up)."""
    name = registry.bronze(spec)
    if exists or (exists is None and table_exists(spark, name)):
        return name
    _namespace(spark, name)
    cols = ", ".join(f"{c} {t}" for c, t in BRONZE_COLUMNS)
    spark.sql(
        f"CREATE TABLE IF NOT EXISTS {name} ({cols}) USING iceberg PARTITIONED BY (days(kafka_ts)) "
        f"TBLPROPERTIES ({_props_sql({'format-version': '2', 'lakehouse.source': spec.source})})"
    )
    return name


def ensure_dead_letter(spark: SparkSession, registry: Registry, exists: bool | None = None) -> str:
    """Create the shared dead-letter table unless it exists (`exists` as in `ensure_bronze`)."""
    name = registry.dead_letter
    if exists:
        return name
    _namespace(spark, name)
    with _DDL:  # every table's thread may be the first to need it
        cols = ", ".join(f"{c} {t}" for c, t in DEAD_LETTER_COLUMNS)
        spark.sql(
            f"CREATE TABLE IF NOT EXISTS {name} ({cols}) USING iceberg PARTITIONED BY (days(failed_at)) "
            "TBLPROPERTIES ('format-version'='2')"
        )
    return name


@dataclass
class SchemaPlan:
    """What a batch's column schemas mean for the silver table."""

    columns: dict[str, str]  # resulting table columns (source columns only), in order
    add: dict[str, str] = field(default_factory=dict)
    promote: dict[str, str] = field(default_factory=dict)
    rejected: dict[str, str] = field(default_factory=dict)  # schema id -> reason


def plan_schema(current: dict[str, str] | None, schemas: list[tuple[str, dict[str, str]]]) -> SchemaPlan:
    """Fold the batch's schemas (in arrival order) into the table schema.

    New columns are added, compatible widenings promoted; a schema with an incompatible
    type change is rejected (its events are dead-lettered) and changes nothing.
    """
    columns = dict(current or {})
    plan = SchemaPlan(columns=columns)
    for schema_id, cols in schemas:
        verdicts = {c: (compare(columns[c], t) if c in columns else "new") for c, t in cols.items()}
        bad = {c: t for c, t in cols.items() if verdicts[c] == INCOMPATIBLE}
        if bad:
            plan.rejected[schema_id] = "incompatible type change: " + ", ".join(
                f"{c} {columns[c]} -> {t}" for c, t in bad.items()
            )
            continue
        for c, t in cols.items():
            v = verdicts[c]
            if v == "new":
                columns[c] = t
                if current is not None:
                    plan.add[c] = t
            elif v == PROMOTE:
                columns[c] = t
                if current is not None and c not in plan.add:
                    plan.promote[c] = t
                elif c in plan.add:
                    plan.add[c] = t
            else:
                assert v in (SAME, WIDER_TABLE)
    return plan


def create_silver(spark: SparkSession, name: str, spec: TableSpec, columns: dict[str, str]) -> None:
    missing = [c for c in (*spec.primary_key, *spec.partition_columns) if c not in columns]
    if missing:
        raise SchemaMismatchError(
            f"registry entry {spec.source}: column(s) {', '.join(missing)} named in primary_key/partition_by "
            f"do not exist in the captured table (columns: {', '.join(columns)}); fix config/tables.yaml"
        )
    _namespace(spark, name)
    cols = [f"`{c}` {t}{' NOT NULL' if c in spec.primary_key else ''}" for c, t in columns.items()]
    cols += [f"{c} {t}" for c, t in META_COLUMNS.items()]
    partition = f" PARTITIONED BY ({', '.join(spec.partition_by)})" if spec.partition_by else ""
    props = {**_SILVER_PROPS, "lakehouse.source": spec.source}
    spark.sql(
        f"CREATE TABLE IF NOT EXISTS {name} ({', '.join(cols)}) USING iceberg{partition} "
        f"TBLPROPERTIES ({_props_sql(props)})"
    )
    spark.sql(f"ALTER TABLE {name} SET IDENTIFIER FIELDS {', '.join(spec.primary_key)}")


def evolve_silver(spark: SparkSession, name: str, plan: SchemaPlan) -> None:
    for c, t in plan.add.items():
        spark.sql(f"ALTER TABLE {name} ADD COLUMN `{c}` {t}")
    for c, t in plan.promote.items():
        spark.sql(f"ALTER TABLE {name} ALTER COLUMN `{c}` TYPE {t}")
