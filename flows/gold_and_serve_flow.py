"""`gold-and-serve`: build the gold tables from checked silver snapshots and publish them atomically."""

from __future__ import annotations

from typing import Any

from lakehouse.settings import get_settings
from prefect import flow, task
from prefect.artifacts import create_table_artifact
from prefect.logging import get_run_logger

from flows.jobs import run_job


@task(retries=1, retry_delay_seconds=30)
def build_and_publish(snapshots: dict[str, int], watermark: str) -> dict[str, Any]:
    """`lakehouse-gold run`: Iceberg gold tables replaced in one commit each, then one serving transaction."""
    argv = ["lakehouse-gold", "run", "--output", "json", "--watermark", watermark]
    for table, snapshot_id in sorted(snapshots.items()):
        argv += ["--pin", f"{table}={snapshot_id}"]
    return run_job(get_settings(), argv)  # type: ignore[no-any-return]


@flow(name="gold-and-serve", log_prints=True)
def gold_and_serve(snapshots: dict[str, int] | None = None, watermark: str | None = None) -> dict[str, Any]:
    """Publish gold built from `snapshots` (silver table -> snapshot id) with their source `watermark`.

    Without them it runs the quality flow first: nothing unchecked is ever published.
    """
    logger = get_run_logger()
    if snapshots is None or watermark is None:
        from flows.quality_flow import quality

        logger.info("no checked snapshots given: running the quality flow first")
        checked = quality()
        snapshots, watermark = checked["snapshots"], checked["watermark"]
    result = build_and_publish(snapshots, watermark)
    create_table_artifact(
        [
            {
                "gold_table": t["table"],
                "rows": t["rows"],
                "iceberg_snapshot": t["snapshot_id"],
                "watermark": t["watermark"],
                "published_at": result["published_at"],
            }
            for t in result["tables"]
        ],
        key="gold-and-serve-results",
        description="Gold tables built and published to the serving store",
    )
    return result
