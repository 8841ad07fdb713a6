"""Before capture: can Debezium read every registry table, and does each have a usable key?

A table the replication role cannot read fails Debezium's snapshot with `permission denied`
in the Connect log only, and its existing rows never arrive; a table whose key differs from
the registry's makes every delete unmergeable. Both are found here, before anything is
applied, and reported with the statement that fixes each.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import psycopg
from lakehouse.registry import Registry, TableSpec
from psycopg import sql


@dataclass(frozen=True)
class Problem:
    """One thing that stops complete capture of one table, and its fix."""

    table: str
    what: str
    fix: str

    def line(self) -> str:
        return f"  {self.table}: {self.what}\n      fix: {self.fix}"


class PreflightError(LookupError):
    """Registry tables Debezium cannot capture completely; the message lists each fix."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("capture would be incomplete; nothing was applied:\n" + "\n".join(p.line() for p in problems))


_PLAIN = re.compile(r"^[a-z_][a-z0-9_]*$")


def _quote(conn: psycopg.Connection[tuple[object, ...]], *parts: str) -> str:
    """An identifier as a person would type it: bare when it can be, quoted when it must."""
    return ".".join(p if _PLAIN.match(p) else sql.Identifier(p).as_string(conn) for p in parts)


def table_problems(conn: psycopg.Connection[tuple[object, ...]], spec: TableSpec, cdc_user: str) -> list[Problem]:
    """What keeps `cdc_user` from capturing `spec` completely (empty: nothing)."""
    schema, table = spec.source_schema, spec.source_table
    name = _quote(conn, schema, table)
    role = _quote(conn, cdc_user)
    row = conn.execute(
        "SELECT c.oid, c.relreplident FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p')",
        (schema, table),
    ).fetchone()
    if row is None:
        return [
            Problem(
                spec.source,
                "the table does not exist in the source database",
                f"create it (the registry names tables, it does not create them), or remove {spec.source} "
                "from config/tables.yaml",
            )
        ]
    oid, identity = row
    problems: list[Problem] = []
    if not conn.execute("SELECT has_schema_privilege(%s, %s, 'USAGE')", (cdc_user, schema)).fetchone()[0]:  # type: ignore[index]
        problems.append(
            Problem(
                spec.source,
                f"role {cdc_user} has no USAGE on schema {schema}",
                f"GRANT USAGE ON SCHEMA {_quote(conn, schema)} TO {role};",
            )
        )
    if not conn.execute("SELECT has_table_privilege(%s, %s, 'SELECT')", (cdc_user, oid)).fetchone()[0]:  # type: ignore[index]
        problems.append(
            Problem(
                spec.source,
                f"role {cdc_user} cannot SELECT from the table (its snapshot would fail)",
                f"GRANT SELECT ON {name} TO {role};",
            )
        )
    columns = {
        r[0]
        for r in conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped", (oid,)
        )
    }
    missing = [c for c in spec.primary_key if c not in columns]
    if missing:
        problems.append(
            Problem(
                spec.source,
                f"primary_key column(s) {', '.join(missing)} do not exist",
                f"fix primary_key of {spec.source} in config/tables.yaml",
            )
        )
        return problems
    pk = [
        str(r[0])
        for r in conn.execute(
            "SELECT a.attname FROM pg_index i JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n) ON true "
            "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
            "WHERE i.indrelid = %s AND i.indisprimary ORDER BY k.n",
            (oid,),
        )
    ]
    key_list = ", ".join(_quote(conn, c) for c in spec.primary_key)
    if identity == "n":
        problems.append(
            Problem(
                spec.source,
                "REPLICA IDENTITY NOTHING: updates and deletes carry no key",
                f"ALTER TABLE {name} REPLICA IDENTITY DEFAULT;",
            )
        )
    elif not pk:
        problems.append(
            Problem(
                spec.source,
                "the table has no primary key: Debezium's events would carry no key "
                "and PostgreSQL refuses its updates and deletes once it is published",
                f"ALTER TABLE {name} ADD PRIMARY KEY ({key_list});",
            )
        )
    elif set(pk) != set(spec.primary_key):
        problems.append(
            Problem(
                spec.source,
                f"registry primary_key [{', '.join(spec.primary_key)}] differs from the table's primary key "
                f"[{', '.join(pk)}]: deletes would carry only the table's key",
                f"set primary_key: [{', '.join(pk)}] for {spec.source} in config/tables.yaml",
            )
        )
    return problems


def check_capture(conninfo: str, registry: Registry, cdc_user: str) -> None:
    """Raise PreflightError naming every registry table Debezium could not capture completely."""
    problems: list[Problem] = []
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for spec in registry.tables:
            problems += table_problems(conn, spec, cdc_user)
    if problems:
        raise PreflightError(problems)
