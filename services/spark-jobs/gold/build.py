"""Build the gold Iceberg tables from pinned silver snapshots.

Each gold table is replaced in one Iceberg commit (CREATE OR REPLACE TABLE ... AS SELECT),
so a reader of the lake sees the previous build or the new one. The commit's snapshot
summary records the silver snapshots it read and the source watermark.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from lakehouse.registry import Registry, RegistryError
from lakehouse.settings import Settings
from pyspark.sql import SparkSession
from spark_iceberg.commits import run_with_commit_properties
from spark_iceberg.tables import load_table

from gold.definitions import GOLD_TABLES, INPUTS, GoldTable

WATERMARK_PROPERTY = "lakehouse.watermark"
INPUTS_PROPERTY = "lakehouse.inputs"
Say = Callable[[str], None]


@dataclass
class GoldResult:
    """What one build did to one gold table."""

    table: str
    rows: int
    snapshot_id: int
    inputs: dict[str, int] = field(default_factory=dict)  # silver table -> snapshot id read
    watermark: str | None = None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def check_served(registry: Registry) -> None:
    """Gold reads exactly the registry's `serve: true` tables, or it does not build (contract 1)."""
    served = {t.source for t in registry.served()}
    inputs = set(INPUTS.values())
    if served != inputs:
        raise RegistryError(
            f"table registry (LAKEHOUSE_REGISTRY_PATH): gold reads {sorted(inputs)} "
            f"but `serve: true` marks {sorted(served)}; "
            f"set serve: true on exactly the tables gold reads ({sorted(inputs - served)} missing, "
            f"{sorted(served - inputs)} not read by gold), or change services/spark-jobs/gold/definitions.py"
        )


def input_snapshots(spark: SparkSession, registry: Registry, pins: dict[str, int] | None) -> dict[str, int]:
    """Silver table -> snapshot id to read: the pinned one, else the table's current snapshot."""
    check_served(registry)
    out: dict[str, int] = {}
    for source in INPUTS.values():
        silver = registry.silver(registry.by_source(source))
        short = silver.split(".", 1)[1]
        pinned = (pins or {}).get(silver, (pins or {}).get(short))
        if pinned is None:
            snap = load_table(spark, silver).currentSnapshot()
            if snap is None:
                raise RuntimeError(f"{silver} has no snapshot yet; run the merge first (make merge)")
            pinned = int(snap.snapshotId())
        out[silver] = int(pinned)
    return out


def gold_sql(table: GoldTable, registry: Registry, snapshots: dict[str, int]) -> str:
    """The table's SELECT with every input read at its snapshot (time travel)."""
    refs = {}
    for alias, source in INPUTS.items():
        silver = registry.silver(registry.by_source(source))
        refs[alias] = f"{silver} VERSION AS OF {snapshots[silver]}"
    return table.sql.format(**refs)


def build(
    spark: SparkSession, settings: Settings, say: Say, pins: dict[str, int] | None = None, watermark: str | None = None
) -> list[GoldResult]:
    """Replace every gold table from the given (or current) silver snapshots."""
    registry = settings.registry()
    snapshots = input_snapshots(spark, registry, pins)
    spark.sql(f"CREATE NAMESPACE IF NOT EXISTS {registry.lake.catalog}.{registry.lake.gold_namespace}")
    props = {INPUTS_PROPERTY: json.dumps(snapshots, sort_keys=True)}
    if watermark:
        props[WATERMARK_PROPERTY] = watermark
    results = []
    for table in GOLD_TABLES:
        name = registry.gold(table.name)
        run_with_commit_properties(
            spark,
            props,
            (
                f"CREATE OR REPLACE TABLE {name} USING iceberg "
                "TBLPROPERTIES ('format-version'='2', 'write.distribution-mode'='none') "
                f"AS {gold_sql(table, registry, snapshots)}"
            ),
        )
        snap = load_table(spark, name).currentSnapshot()
        rows = int(snap.summary().get("total-records") or 0)
        results.append(
            GoldResult(table=name, rows=rows, snapshot_id=int(snap.snapshotId()), inputs=snapshots, watermark=watermark)
        )
        say(f"{name}: {rows} rows (snapshot {snap.snapshotId()})")
    return results
