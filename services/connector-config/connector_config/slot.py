"""How far the replication slot has got: has Debezium captured everything committed so far?"""

from __future__ import annotations

import psycopg

# The one implementation lives in the shared library (the quality flow uses it too).
from lakehouse.consistency import wait_until_captured

__all__ = ["current_lsn", "wait_until_captured"]


def current_lsn(conninfo: str) -> str:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        return str(conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0])  # type: ignore[index]
