"""What one batch did to one table: the result every stage of the batch fills in."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

Say = Callable[[str], None]


@dataclass
class TableResult:
    """What one batch did to one table."""

    table: str
    topic: str
    start: dict[int, int] = field(default_factory=dict)
    end: dict[int, int] = field(default_factory=dict)
    records: int = 0
    tombstones: int = 0
    changes: int = 0
    inserts_updates: int = 0
    deletes: int = 0
    bronze_appended: int = 0
    dead_lettered: dict[str, int] = field(default_factory=dict)
    schema_changes: list[str] = field(default_factory=list)
    key_changes: int = 0  # primary-key updates seen while resolving TOAST placeholders
    silver_write: str = ""  # merge, append (no key of the batch could be in silver), marker (offsets only)
    one_pass: bool = False  # typed while classifying: the batch's schemas were its heads'
    lag: int = 0
    busy: str | None = None  # another merge held the table: who (nothing was read or written)
    gap: str | None = None  # records it needs were deleted from Kafka: the table stopped (nothing written)
    error: str | None = None  # the batch failed (nothing after the failing step was committed)
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)

    def mark(self, phase: str, since: float) -> float:
        """Record the seconds spent in `phase` since `since`; return now."""
        now = time.monotonic()
        self.phases[phase] = round(self.phases.get(phase, 0.0) + now - since, 2)
        return now

    def as_dict(self) -> dict[str, object]:
        """The result as JSON-ready data."""
        return asdict(self)
