"""Validation of the `from`/`to` query of /v1/revenue/daily (pure logic, no I/O)."""

from __future__ import annotations

import re
from datetime import date

# Only the calendar form: date.fromisoformat alone would also take "20240101" and "2024-W01-1".
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class RangeProblem(ValueError):
    """A bad date range; `param` is the query parameter to blame (`from`, `to`)."""

    def __init__(self, param: str, message: str, value: str | None = None) -> None:
        super().__init__(message)
        self.param, self.message, self.value = param, message, value


def parse_day(param: str, value: str) -> date:
    """Parse a YYYY-MM-DD calendar date or raise `RangeProblem` naming `param`."""
    if not _DAY.match(value):
        raise RangeProblem(param, f"`{param}` must be a date in the form YYYY-MM-DD, got {value!r}", value)
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise RangeProblem(param, f"`{param}` is not a valid date: {value!r} ({exc})", value) from exc


def day_count(start: date, end: date) -> int:
    """Number of days in the inclusive range start..end."""
    return (end - start).days + 1


def parse_range(raw_from: str, raw_to: str, max_days: int) -> tuple[date, date]:
    """Validate an inclusive date range of at most `max_days` days; return (from, to)."""
    start, end = parse_day("from", raw_from), parse_day("to", raw_to)
    if start > end:
        raise RangeProblem("from", f"`from` ({start}) is after `to` ({end})", raw_from)
    days = day_count(start, end)
    if days > max_days:
        raise RangeProblem(
            "to", f"the range {start}..{end} covers {days} days; at most {max_days} days are allowed", raw_to
        )
    return start, end
