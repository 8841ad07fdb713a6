"""`quality`: reconcile silver with PostgreSQL at one consistent point; fail loudly on any mismatch.

The point is a snapshot of the source database: once Debezium has captured everything it
shows and the merge has caught up, every silver row that no later transaction touched must
equal the snapshot's row (docs/quality.md). Gold is built only from snapshots that passed.
"""

from __future__ import annotations

from typing import Any

from lakehouse.consistency import open_source_snapshot, wait_for_snapshot
from lakehouse.quality import check_tables, raise_on_failure
from lakehouse.settings import get_settings
from prefect import flow, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

from flows.cdc_merge_flow import cdc_merge, registry_tables


# The snapshot holds an open database transaction: not something to hash into a cache key.
@task(cache_policy=NO_CACHE)
def run_checks(snap: Any, tables: list[str]) -> tuple[list[dict[str, Any]], list[Any]]:
    """Every check on every table, against the open source snapshot: (rows for the artifact, results)."""
    settings = get_settings()
    registry = settings.registry()
    results = check_tables(settings, snap, [registry.by_source(t) for t in tables])
    return [r.as_dict() for r in results], results


@flow(name="quality", log_prints=True)
def quality(tables: list[str] | None = None) -> dict[str, Any]:
    """Check silver against PostgreSQL; returns the source watermark and the checked silver snapshots.

    Fails (and so blocks gold-and-serve in the pipeline) when any table fails a check.
    """
    logger = get_run_logger()
    settings = get_settings()
    chosen = registry_tables(tables)
    with open_source_snapshot(settings) as snap:
        logger.info(
            "source snapshot taken at %s (WAL %s); waiting until Debezium has captured it",
            snap.taken_at.isoformat(),
            snap.wal_lsn,
        )
        waited = wait_for_snapshot(settings, snap)
        logger.info("captured after %.1fs; catching the lake up to it", waited)
        cdc_merge(chosen)
        rows, results = run_checks(snap, chosen)
    create_table_artifact(
        [{k: v for k, v in r.items() if k != "problems"} | {"problems": "; ".join(r["problems"])} for r in rows],
        key="quality-results",
        description=f"Silver vs PostgreSQL at the snapshot of {snap.taken_at.isoformat()}",
    )
    raise_on_failure(results)
    snapshots = {r["silver_table"]: r["iceberg_snapshot_id"] for r in rows if r["iceberg_snapshot_id"] is not None}
    logger.info("all %d table(s) passed; watermark %s", len(rows), snap.taken_at.isoformat())
    return {"watermark": snap.taken_at.isoformat(), "snapshots": snapshots}
