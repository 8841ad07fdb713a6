"""What maintenance did to one table."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class TableMaintenance:
    """One table's maintenance run: files before/after, snapshots expired, orphans removed, time taken."""

    table: str  # catalog-qualified Spark name
    kind: str  # silver, bronze or dead_letter
    data_files_before: int = 0
    data_files_after: int = 0
    delete_files_before: int = 0
    delete_files_after: int = 0
    rewritten_data_files: int = 0
    added_data_files: int = 0
    # Files whose rewrite lost to a concurrent MERGE on every attempt; left as they were.
    failed_data_files: int = 0
    rewritten_delete_files: int = 0
    snapshots_expired: int = 0
    expire_older_than: str | None = None  # ISO-8601 UTC cutoff actually used
    # The oldest snapshot the merge checkpoint walk still needs (kept by the cutoff).
    checkpoint_snapshot: int | None = None
    orphan_files_removed: int = 0
    orphan_older_than: str | None = None
    retries: int = 0
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)
    skipped: str | None = None  # why nothing was done (table absent, no snapshot)
    error: str | None = None  # a step that failed for good; the table is as the last commit left it

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def line(self) -> str:
        """One human-readable line."""
        if self.skipped:
            return f"{self.table}: skipped ({self.skipped})"
        text = (
            f"{self.table}: data files {self.data_files_before} -> {self.data_files_after}, "
            f"delete files {self.delete_files_before} -> {self.delete_files_after}, "
            f"{self.snapshots_expired} snapshots expired (older than {self.expire_older_than}), "
            f"{self.orphan_files_removed} orphan files removed, {self.seconds}s"
        )
        if self.failed_data_files:
            text += f", {self.failed_data_files} data files left by conflicts"
        if self.retries:
            text += f", {self.retries} retries"
        if self.error:
            text += f"; FAILED: {self.error}"
        return text
