"""`lake-maintenance`: compaction, snapshot expiry and orphan-file removal (contents unchanged)."""

from __future__ import annotations

from typing import Any

from lakehouse.settings import get_settings
from prefect import flow, task
from prefect.artifacts import create_table_artifact

from flows.jobs import run_job


@task(retries=2, retry_delay_seconds=[30, 120])
def maintain(tables: list[str] | None) -> list[dict[str, Any]]:
    """Run `lakehouse-maintain run`; a commit conflict with a concurrent merge is retried."""
    argv = ["lakehouse-maintain", "run", "--output", "json"]
    for t in tables or []:
        argv += ["--table", t]
    return run_job(get_settings(), argv)  # type: ignore[no-any-return]


@flow(name="lake-maintenance", log_prints=True)
def lake_maintenance(tables: list[str] | None = None) -> list[dict[str, Any]]:
    """Maintain every lake table of the registry (or of `tables`); safe while merges run.

    Only a run over all tables (no `tables`) maintains the shared dead-letter table.
    """
    results = maintain(tables)
    if results:
        create_table_artifact(
            [{k: v for k, v in r.items() if k != "phases"} for r in results],
            key="lake-maintenance-results",
            description="Files, delete files and snapshots before/after, per table",
        )
    return results
