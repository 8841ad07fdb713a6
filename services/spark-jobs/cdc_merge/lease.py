"""One writer per table, by mechanism: a PostgreSQL advisory lock in the catalog database.

A merge holds its table's lease from reading the checkpoint to the last commit of the batch.
The lock belongs to a database session: a merge that crashes, is killed or loses its
connection releases it (TCP keepalives bound how long a vanished host holds it), so a lease
never has to be broken by hand. Before each commit the holder checks that its session is
still alive (`TableLease.check`), so a merge that lost its lease commits nothing more.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from datetime import datetime

import psycopg

# The first key of every lease (two-int advisory locks: this namespace, hashtext(table)).
LEASE_NAMESPACE = 0x1CEB  # "iceb(erg)"
# Exit code of `lakehouse-merge` when a table was skipped because another merge held it.
EXIT_BUSY = 75  # EX_TEMPFAIL: try again later


class LeaseBusy(RuntimeError):
    """Another merge holds the table's lease."""

    def __init__(self, table: str, holder: str) -> None:
        super().__init__(f"{table}: another merge holds this table ({holder}); skipped, nothing written")
        self.table = table
        self.holder = holder


class LeaseLost(RuntimeError):
    """The session holding the lease ended before the batch's commits."""


@dataclass(frozen=True)
class Holder:
    """Who holds a lease, from pg_stat_activity."""

    pid: int
    application: str
    client: str | None
    since: datetime | None

    def describe(self) -> str:
        where = f" from {self.client}" if self.client else ""
        since = f", since {self.since:%Y-%m-%d %H:%M:%S %Z}" if self.since else ""
        return f"held by '{self.application or '?'}'{where}, catalog backend pid {self.pid}{since}"


def application_name() -> str:
    """How a merge names itself to PostgreSQL: the holder line of a busy lease shows it."""
    return f"lakehouse-merge {socket.gethostname()} pid {os.getpid()}"[:63]


class TableLease:
    """The leases of one merge process: one catalog session, one advisory lock per table in work."""

    def __init__(self, conninfo: str) -> None:
        self._conn = psycopg.connect(
            conninfo,
            autocommit=True,
            application_name=application_name(),
            keepalives=1,
            keepalives_idle=10,
            keepalives_interval=5,
            keepalives_count=3,
            connect_timeout=15,
        )

    def close(self) -> None:
        """End the session (releasing every lease it holds)."""
        self._conn.close()

    def _try(self, table: str) -> bool:
        row = self._conn.execute(
            "SELECT pg_try_advisory_lock(%s, hashtext(%s::text))", (LEASE_NAMESPACE, table)
        ).fetchone()
        return bool(row and row[0])

    def holder(self, table: str) -> Holder | None:
        """The session holding `table`'s lease, if any."""
        row = self._conn.execute(
            "SELECT a.pid, a.application_name, host(a.client_addr), a.backend_start FROM pg_locks l "
            "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
            "AND l.classid = %s::oid AND l.objid = hashtext(%s::text)::oid AND l.objsubid = 2",
            (LEASE_NAMESPACE, table),
        ).fetchone()
        return Holder(row[0], row[1], row[2], row[3]) if row else None

    def acquire(self, table: str, wait_s: float) -> None:
        """Take `table`'s lease, waiting up to `wait_s` seconds; LeaseBusy names the holder."""
        deadline = time.monotonic() + wait_s
        while not self._try(table):
            if time.monotonic() >= deadline:
                holder = self.holder(table)
                raise LeaseBusy(table, holder.describe() if holder else "its holder just finished")
            time.sleep(0.5)

    def release(self, table: str) -> None:
        """Give `table`'s lease back."""
        self._conn.execute("SELECT pg_advisory_unlock(%s, hashtext(%s::text))", (LEASE_NAMESPACE, table))

    def check(self, table: str) -> None:
        """Raise LeaseLost unless this session is alive and still holds `table`'s lease."""
        try:
            row = self._conn.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = pg_backend_pid() "
                "AND classid = %s::oid AND objid = hashtext(%s::text)::oid AND objsubid = 2",
                (LEASE_NAMESPACE, table),
            ).fetchone()
        except psycopg.Error as exc:
            raise LeaseLost(
                f"{table}: the catalog session holding this table's lease ended ({exc}); "
                "nothing more is committed, the next run re-reads the batch"
            ) from exc
        if not row or row[0] != 1:
            raise LeaseLost(f"{table}: this merge no longer holds the table's lease; nothing more is committed")
