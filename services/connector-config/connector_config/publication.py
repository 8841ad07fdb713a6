"""The PostgreSQL side of capture: the publication and the incremental-snapshot signal."""

from __future__ import annotations

import json
import uuid

import psycopg
from psycopg import sql

from connector_config.render import SIGNAL_TABLE


def _qualified(name: str) -> sql.Composable:
    schema, table = name.split(".")
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table))


def ensure_publication(conninfo: str, publication: str, tables: list[str]) -> tuple[set[str], set[str]]:
    """Make `publication` hold exactly `tables`; return (added, removed) table names."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        missing = [t for t in tables if (conn.execute("SELECT to_regclass(%s)", (t,)).fetchone() or (None,))[0] is None]
        if missing:
            raise LookupError(
                f"registry tables missing in the source database: {', '.join(missing)}; "
                "create them first (the registry only names tables, it does not create them)"
            )
        current = {
            f"{r[0]}.{r[1]}"
            for r in conn.execute(
                "SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = %s", (publication,)
            )
        }
        exists = conn.execute("SELECT 1 FROM pg_publication WHERE pubname = %s", (publication,)).fetchone()
        table_list = sql.SQL(", ").join(_qualified(t) for t in tables)
        if not exists:
            conn.execute(sql.SQL("CREATE PUBLICATION {} FOR TABLE {}").format(sql.Identifier(publication), table_list))
        elif current != set(tables):
            conn.execute(sql.SQL("ALTER PUBLICATION {} SET TABLE {}").format(sql.Identifier(publication), table_list))
    return set(tables) - current, current - set(tables)


def request_incremental_snapshot(conninfo: str, tables: list[str]) -> str:
    """Ask Debezium (source signal channel) to snapshot `tables` while streaming goes on."""
    signal_id = f"lakehouse-{uuid.uuid4()}"
    data = json.dumps({"data-collections": tables, "type": "incremental"})
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(
            sql.SQL("INSERT INTO {} (id, type, data) VALUES (%s, 'execute-snapshot', %s)").format(
                _qualified(SIGNAL_TABLE)
            ),
            (signal_id, data),
        )
    return signal_id
