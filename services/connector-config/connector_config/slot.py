"""How far the replication slot has got: has Debezium captured everything committed so far?"""

from __future__ import annotations

import time

import psycopg


def current_lsn(conninfo: str) -> str:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        return str(conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0])  # type: ignore[index]


def wait_until_captured(conninfo: str, slot: str, *, lsn: str | None = None, timeout_s: float = 120.0) -> float:
    """Wait until the connector confirmed every change up to `lsn` (default: now).

    Debezium confirms a position once the events before it are in Kafka and its offsets
    are flushed; heartbeats move it past the last captured change. Returns the seconds waited.
    """
    started = time.monotonic()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        target = lsn or str(conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0])  # type: ignore[index]
        while True:
            row = conn.execute(
                "SELECT confirmed_flush_lsn >= %s::pg_lsn, confirmed_flush_lsn FROM pg_replication_slots "
                "WHERE slot_name = %s", (target, slot)).fetchone()
            if row is not None and row[0]:
                return time.monotonic() - started
            if time.monotonic() - started > timeout_s:
                where = "slot missing" if row is None else f"slot at {row[1]}"
                raise TimeoutError(f"replication slot {slot} did not reach {target} in {timeout_s:.0f}s ({where}); "
                                   "is the connector RUNNING? (lakehouse-connectors status)")
            time.sleep(0.5)
