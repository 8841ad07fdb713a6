"""The lake-maintenance job: compaction, snapshot expiry and orphan removal for every lake table.

Per table, in this order (each step retried on a commit conflict with a concurrent merge):
  1. rewrite_data_files (bin-pack, position deletes applied) and rewrite_position_delete_files
  2. expire_snapshots, never past the snapshots the merge checkpoint walk needs (retention.py)
  3. remove orphan files older than `orphan_min_age_hours`
Expiry runs after compaction so the snapshots compaction superseded can go in the same run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from lakehouse.registry import Registry, TableSpec
from lakehouse.settings import Settings
from pyspark.sql import SparkSession
from spark_iceberg.conflicts import describe, is_conflict, with_retries
from spark_iceberg.snapshot_offsets import property_name

from lake_maintenance import procedures, retention
from lake_maintenance.report import TableMaintenance

Say = Callable[[str], None]
ATTEMPTS = 4  # per step: the first try and three retries (2, 4, 8 s apart)


@dataclass(frozen=True)
class Target:
    """One lake table to maintain."""

    table: str
    kind: str


class IncompleteRewrite(RuntimeError):
    """Some file groups of a rewrite lost to a concurrent commit (the rest is committed)."""


class MaintenanceFailed(RuntimeError):
    """At least one table's maintenance failed; `results` holds every table's report."""

    def __init__(self, results: list[TableMaintenance]) -> None:
        self.results = results
        failed = [r.table for r in results if r.error]
        super().__init__(f"maintenance failed for {', '.join(failed)}")


def targets(registry: Registry, tables: list[TableSpec] | None = None) -> list[Target]:
    """Silver and bronze of every registry table (or of `tables`), plus the dead letters on a full run.

    The dead-letter table is shared by all topics, so only a full run maintains it.
    """
    out: list[Target] = []
    for spec in tables or list(registry.tables):
        out += [Target(registry.silver(spec), "silver"), Target(registry.bronze(spec), "bronze")]
    if tables is None:
        out.append(Target(registry.dead_letter, "dead_letter"))
    return out


def _now_ms() -> int:
    return int(time.time() * 1000)


def _compact(spark: SparkSession, settings: Settings, result: TableMaintenance, say: Say) -> None:
    def rewrite() -> procedures.RewriteOutcome:
        out = procedures.rewrite_data_files(spark, result.table, settings.flows.target_file_size_mb)
        # Committed groups count even when others failed; the retry plans what is left.
        result.rewritten_data_files += out.rewritten_data_files
        result.added_data_files += out.added_data_files
        result.failed_data_files = out.failed_data_files
        if out.failed_data_files:
            raise IncompleteRewrite(f"{out.failed_data_files} data files not rewritten (concurrent commits)")
        return out

    try:
        _, retries = with_retries(
            rewrite,
            what=f"{result.table} rewrite_data_files",
            say=say,
            attempts=ATTEMPTS,
            retryable=lambda e: isinstance(e, IncompleteRewrite) or is_conflict(e),
        )
        result.retries += retries
    except IncompleteRewrite:
        # Not an error: the table is consistent, those files wait for the next run.
        result.retries += ATTEMPTS - 1
    (rewritten, _), retries = with_retries(
        lambda: procedures.rewrite_position_delete_files(spark, result.table),
        what=f"{result.table} rewrite_position_delete_files",
        say=say,
        attempts=ATTEMPTS,
    )
    result.rewritten_delete_files = rewritten
    result.retries += retries


def _expire(spark: SparkSession, settings: Settings, result: TableMaintenance, keys: set[str], say: Say) -> None:
    flows = settings.flows

    def expire() -> None:
        current, snaps = procedures.snapshots(spark, result.table)
        chain = retention.checkpoint_chain(snaps, current, keys)
        cutoff = retention.expire_cutoff_ms(_now_ms(), flows.snapshot_retention_hours, chain)
        procedures.expire_snapshots(spark, result.table, cutoff, flows.retain_last_snapshots)
        _, after = procedures.snapshots(spark, result.table)
        result.snapshots_expired += len({s.snapshot_id for s in snaps} - {s.snapshot_id for s in after})
        result.expire_older_than = retention.iso(cutoff)
        result.checkpoint_snapshot = chain[-1].snapshot_id if chain else None

    _, retries = with_retries(expire, what=f"{result.table} expire_snapshots", say=say, attempts=ATTEMPTS)
    result.retries += retries


def _remove_orphans(spark: SparkSession, settings: Settings, result: TableMaintenance, say: Say) -> None:
    hours = settings.flows.orphan_min_age_hours

    def remove() -> int:
        cutoff = retention.orphan_cutoff_ms(_now_ms(), hours)
        result.orphan_older_than = retention.iso(cutoff)
        return procedures.remove_orphan_files(spark, result.table, cutoff, hours)

    removed, retries = with_retries(remove, what=f"{result.table} remove_orphan_files", say=say, attempts=ATTEMPTS)
    result.orphan_files_removed = removed
    result.retries += retries


def maintain_table(
    spark: SparkSession, settings: Settings, target: Target, keys: set[str], say: Say
) -> TableMaintenance:
    """Compact, expire and clean one table; a failing step is recorded in `error`, not raised."""
    started = time.monotonic()
    result = TableMaintenance(table=target.table, kind=target.kind)
    step = "look-up"
    try:
        if not procedures.table_exists(spark, target.table):
            result.skipped = "table does not exist yet"
            return result
        before = procedures.file_counts(spark, target.table)
        if not procedures.snapshots(spark, target.table)[1]:
            result.skipped = "no snapshot yet"
            return result
        result.data_files_before, result.delete_files_before = before.data_files, before.delete_files
        t = time.monotonic()
        actions: tuple[tuple[str, Callable[[], None]], ...] = (
            ("compaction", lambda: _compact(spark, settings, result, say)),
            ("expiry", lambda: _expire(spark, settings, result, keys, say)),
            ("orphans", lambda: _remove_orphans(spark, settings, result, say)),
        )
        for step, action in actions:
            action()
            now = time.monotonic()
            result.phases[step] = round(now - t, 2)
            t = now
    except Exception as exc:  # noqa: BLE001 - one table's failure must not stop the others
        result.error = f"{step}: {describe(exc)}"
    finally:
        if result.skipped is None:
            try:
                after = procedures.file_counts(spark, target.table)
                result.data_files_after, result.delete_files_after = after.data_files, after.delete_files
            except Exception as exc:  # noqa: BLE001 - keep the first error
                result.error = result.error or f"counting files: {describe(exc)}"
        result.seconds = round(time.monotonic() - started, 2)
    return result


def run(
    spark: SparkSession, settings: Settings, say: Say, tables: list[TableSpec] | None = None
) -> list[TableMaintenance]:
    """Maintain every lake table (or the silver and bronze tables of `tables`); one report per table.

    Raises MaintenanceFailed (carrying every report) when a table's maintenance failed for
    good; the other tables were still maintained.
    """
    registry = settings.registry()
    # Every topic's checkpoint property is protected on every table: silver and bronze carry
    # their own topic's, the shared dead-letter table every topic's.
    keys = {property_name(registry.topic(spec)) for spec in registry.tables}
    results = []
    for target in targets(registry, tables):
        result = maintain_table(spark, settings, target, keys, say)
        say(result.line())
        results.append(result)
    if any(r.error for r in results):
        raise MaintenanceFailed(results)
    return results
