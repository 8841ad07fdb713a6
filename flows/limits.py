"""Prefect global concurrency limits that keep one run per table at a time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from prefect.client.orchestration import get_client
from prefect.concurrency.sync import concurrency


def merge_limit_name(source_table: str) -> str:
    """The limit guarding merges of one registry table (e.g. `cdc-merge-shop.orders`)."""
    return f"cdc-merge-{source_table}"


@contextmanager
def one_at_a_time(names: list[str], *, timeout_s: float = 3600) -> Iterator[None]:
    """Hold a slot of each limit (created with limit 1 if missing) for the duration of the block.

    `strict=True`: without the limit Prefect would silently run unguarded.
    """
    with get_client(sync_client=True) as client:
        for name in names:
            client.upsert_global_concurrency_limit_by_name(name, 1)
    with concurrency(names, occupy=1, timeout_seconds=timeout_s, strict=True):
        yield
