"""Reads from the serving store: a small async psycopg pool logged in as the read-only role.

Every request is one short autocommit read. The pool opens without waiting, so the API starts
(and /healthz answers) while the store is down; reads then raise `StoreUnavailable`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import psycopg
from lakehouse.logs import get_logger
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

log = get_logger("serving-api.store")

# The gold tables this API serves; /readyz wants a publication of each.
GOLD_TABLES: tuple[str, ...] = ("gold.customer_lifetime", "gold.daily_revenue")

# How long a request waits for a pooled connection before answering 503: short, so a dead
# store fails probes and clients fast instead of queueing them.
CONNECTION_WAIT_S = 2.0
# How long the pool keeps retrying a failed connection on its own; afterwards the next request
# starts a fresh attempt, so recovery does not wait for a long backoff.
RECONNECT_TIMEOUT_S = 30.0
# Session settings: UTC timestamps, reads only, and no read may hold a connection for long.
SESSION_OPTIONS = "-c timezone=UTC -c default_transaction_read_only=on -c statement_timeout=5000"

_CUSTOMER = """
    SELECT customer_id, email, name, country, created_at, updated_at,
           orders, lifetime_value, first_order_at, last_order_at
    FROM serving.customer_lifetime WHERE customer_id = %s"""
_DAILY = "SELECT day, orders, revenue FROM serving.daily_revenue WHERE day BETWEEN %s AND %s ORDER BY day"
# One round trip that always returns a row (for `now`), even before anything was published.
_PUBLICATIONS = """
    SELECT n.now, p.gold_table, p.watermark, p.published_at,
           extract(epoch FROM n.now - p.watermark)::float8 AS age_seconds, p.row_count, p.snapshot_id
    FROM (SELECT now() AS now) n LEFT JOIN serving.publications p ON true
    ORDER BY p.gold_table"""


class StoreUnavailable(RuntimeError):
    """The serving store cannot answer; `reachable` is False when no connection could be made."""

    def __init__(self, message: str, *, reachable: bool) -> None:
        super().__init__(message)
        self.reachable = reachable


@dataclass(frozen=True)
class Publication:
    """One `serving.publications` row plus its age at the store's `now`."""

    gold_table: str
    watermark: datetime | None
    published_at: datetime
    age_seconds: float | None
    row_count: int
    snapshot_id: int | None


@dataclass(frozen=True)
class Publications:
    """All publications, read at the store's clock `now`."""

    now: datetime
    rows: list[Publication]

    @property
    def unpublished(self) -> list[str]:
        """Served gold tables without a publication row."""
        published = {p.gold_table for p in self.rows}
        return [t for t in GOLD_TABLES if t not in published]


class Store:
    """The serving store as the API reads it."""

    def __init__(self, conninfo: str, *, max_size: int = 8) -> None:
        self.pool = AsyncConnectionPool(
            conninfo,
            open=False,
            min_size=1,
            max_size=max_size,
            name="serving-store",
            timeout=CONNECTION_WAIT_S,
            reconnect_timeout=RECONNECT_TIMEOUT_S,
            kwargs={"autocommit": True, "options": SESSION_OPTIONS, "application_name": "lakehouse-serving-api"},
            # A connection the store dropped (restart, failover) is replaced, not handed out.
            check=AsyncConnectionPool.check_connection,
        )

    async def open(self) -> None:
        """Start the pool without waiting for the store (it may be down at start-up)."""
        await self.pool.open(wait=False)

    async def close(self) -> None:
        """Close every pooled connection."""
        await self.pool.close()

    async def _fetch(self, query: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        try:
            async with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
                await cur.execute(query, params)
                return await cur.fetchall()
        except PoolTimeout as exc:
            raise StoreUnavailable(
                f"serving store unreachable (no connection within {CONNECTION_WAIT_S:g}s)", reachable=False
            ) from exc
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(f"serving store unreachable: {_first_line(exc)}", reachable=False) from exc
        except psycopg.Error as exc:
            # Reachable but unusable (missing grant or table): an operator problem, not a client one.
            log.error("serving store query failed: %s", exc)
            raise StoreUnavailable(f"serving store error: {_first_line(exc)}", reachable=True) from exc

    async def customer(self, customer_id: int) -> dict[str, Any] | None:
        """The customer_lifetime row of `customer_id`, or None."""
        rows = await self._fetch(_CUSTOMER, (customer_id,))
        return rows[0] if rows else None

    async def daily_revenue(self, start: date, end: date) -> list[dict[str, Any]]:
        """daily_revenue rows with start <= day <= end, ascending."""
        return await self._fetch(_DAILY, (start, end))

    async def publications(self) -> Publications:
        """Every publication row with its age, read in one query."""
        rows = await self._fetch(_PUBLICATIONS)
        now: datetime = rows[0]["now"]
        return Publications(
            now,
            [
                Publication(
                    r["gold_table"],
                    r["watermark"],
                    r["published_at"],
                    r["age_seconds"],
                    r["row_count"],
                    r["snapshot_id"],
                )
                for r in rows
                if r["gold_table"] is not None
            ],
        )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
