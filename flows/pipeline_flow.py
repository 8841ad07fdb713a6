"""`pipeline`: cdc-merge -> quality -> gold-and-serve, the scheduled path from PostgreSQL to the API."""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows.cdc_merge_flow import cdc_merge
from flows.gold_and_serve_flow import gold_and_serve
from flows.quality_flow import quality


@flow(name="pipeline", log_prints=True)
def pipeline(tables: list[str] | None = None) -> dict[str, Any]:
    """Merge (the bulk of the catch-up), check at a consistent point, then build and publish gold.

    A failed quality check fails this run before anything is published.
    """
    cdc_merge(tables)
    checked = quality(tables)
    return gold_and_serve(checked["snapshots"], checked["watermark"])
