"""Iceberg commit conflicts: recognising them, and retrying a step that lost the race.

Iceberg commits are compare-and-swap on the catalog row: a step that conflicts with a
concurrent MERGE fails with CommitFailedException (the swap lost) or ValidationException
(a rewritten file gained deletes, or vanished, meanwhile) and commits nothing. Running the
step again plans against the new snapshot, so a retry is always safe.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

CONFLICT_CLASSES = frozenset(
    {
        "org.apache.iceberg.exceptions.CommitFailedException",
        "org.apache.iceberg.exceptions.ValidationException",
    }
)


def java_class_chain(exc: BaseException) -> list[str]:
    """Class names of a py4j Java exception and its causes (empty for a Python exception)."""
    names: list[str] = []
    throwable = getattr(exc, "java_exception", None)
    # Bounded: a cause cycle must not loop forever.
    while throwable is not None and len(names) < 20:
        try:
            names.append(str(throwable.getClass().getName()))
            throwable = throwable.getCause()
        except Exception:  # noqa: BLE001 - a dead gateway leaves what we have
            break
    return names


def is_conflict(exc: BaseException) -> bool:
    """True when `exc` is (or was caused by) an Iceberg commit conflict."""
    return any(name in CONFLICT_CLASSES for name in java_class_chain(exc))


def with_retries(
    step: Callable[[], T],
    *,
    what: str,
    attempts: int = 4,
    base_delay_s: float = 2.0,
    retryable: Callable[[BaseException], bool] = is_conflict,
    say: Callable[[str], None] = print,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[T, int]:
    """Run `step`; on a retryable failure wait (doubling from `base_delay_s`) and run it again.

    Returns the step's result and the number of retries it took. The last failure, or any
    non-retryable one, propagates.
    """
    for attempt in range(attempts):
        try:
            return step(), attempt
        except Exception as exc:
            if attempt + 1 >= attempts or not retryable(exc):
                raise
            delay = base_delay_s * 2**attempt
            say(
                f"{what}: commit conflict with a concurrent writer, retrying in {delay:.0f}s "
                f"({attempt + 1}/{attempts - 1})"
            )
            sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def describe(exc: BaseException) -> str:
    """A one-line description: the Java exception's own text rather than py4j's whole stack trace."""
    throwable = getattr(exc, "java_exception", None)
    if throwable is not None:
        try:
            return str(throwable.toString()).splitlines()[0][:500]
        except Exception:  # noqa: BLE001 - fall back to the Python text
            pass
    return (str(exc).splitlines() or [type(exc).__name__])[0][:500]
