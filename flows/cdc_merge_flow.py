"""`cdc-merge`: bring silver (and bronze) up to date with Kafka, one run per table at a time."""

from __future__ import annotations

from typing import Any

from lakehouse.settings import get_settings
from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.logging import get_run_logger

from flows.jobs import run_job
from flows.limits import merge_limit_name, one_at_a_time


def registry_tables(tables: list[str] | None) -> list[str]:
    """The registry's tables (all of them when `tables` is empty); an unknown name raises KeyError."""
    registry = get_settings().registry()
    if not tables:
        return [t.source for t in registry.tables]
    for t in tables:
        registry.by_source(t)  # KeyError names the unknown table
    return list(tables)


@task(retries=2, retry_delay_seconds=[10, 30], task_run_name="merge {tables}")
def merge_tables(tables: list[str], job_timeout_s: float | None = None) -> list[dict[str, Any]]:
    """Run `lakehouse-merge catch-up` for `tables` while holding each table's merge slot.

    Retrying is safe: the merge is exactly-once by its checkpoint (docs/merge-semantics.md).
    """
    settings = get_settings()
    with one_at_a_time([merge_limit_name(t) for t in tables]):
        argv = ["lakehouse-merge", "catch-up", "--output", "json"]
        for t in tables:
            argv += ["--table", t]
        return run_job(settings, argv, timeout_s=job_timeout_s)  # type: ignore[no-any-return]


def summarize(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per table: what its batches did in total, and where it stands."""
    rows: dict[str, dict[str, Any]] = {}
    for r in results:
        row = rows.setdefault(
            r["table"],
            {
                "table": r["table"],
                "batches": 0,
                "records": 0,
                "changes_merged": 0,
                "deletes": 0,
                "bronze_appended": 0,
                "dead_lettered": 0,
                "start_offsets": r["start"],
                "end_offsets": r["end"],
                "lag": 0,
                "schema_changes": "",
                "seconds": 0.0,
            },
        )
        row["batches"] += 1
        row["records"] += r["records"]
        row["changes_merged"] += r["changes"]
        row["deletes"] += r["deletes"]
        row["bronze_appended"] += r["bronze_appended"]
        row["dead_lettered"] += sum(r["dead_lettered"].values())
        row["end_offsets"], row["lag"] = r["end"], r["lag"]
        row["schema_changes"] = "; ".join(filter(None, [row["schema_changes"], *r["schema_changes"]]))
        row["seconds"] = round(row["seconds"] + r["seconds"], 2)
    return list(rows.values())


@flow(name="cdc-merge", log_prints=True)
def cdc_merge(tables: list[str] | None = None, job_timeout_s: float | None = None) -> list[dict[str, Any]]:
    """Merge every registry table (or `tables`) until it has no lag; record the results as artifacts.

    `job_timeout_s` overrides `LAKEHOUSE_FLOWS_JOB_TIMEOUT_S` for this run's merge jobs."""
    logger = get_run_logger()
    chosen = registry_tables(tables)
    results = merge_tables(chosen, job_timeout_s)
    summary = summarize(results)
    if summary:
        create_table_artifact(
            summary, key="cdc-merge-results", description="Changes merged, offsets and lag per table (this run)"
        )
    else:
        create_markdown_artifact(
            "Nothing new on any topic: every table was already up to date.", key="cdc-merge-results"
        )
    for row in summary:
        logger.info(
            "%s: %s changes merged in %s batch(es), %s dead-lettered, lag %s",
            row["table"],
            row["changes_merged"],
            row["batches"],
            row["dead_lettered"],
            row["lag"],
        )
    dead = sum(r["dead_lettered"] for r in summary)
    if dead:
        logger.warning(
            "%s record(s) went to the dead-letter table %s; see docs/operations.md",
            dead,
            get_settings().registry().dead_letter,
        )
    return summary
