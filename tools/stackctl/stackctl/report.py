"""`make report`: what arrived where, read straight from PostgreSQL and the Iceberg catalog."""

from __future__ import annotations

import sys

import psycopg
from lakehouse.lake import open_catalog
from lakehouse.reconcile import diff_table
from lakehouse.settings import ConfigError, get_settings
from psycopg import sql
from pyiceberg.exceptions import NoSuchTableError


def main() -> int:
    """Print one line per registry table and the dead-letter count; exit 1 if anything differs."""
    try:
        settings = get_settings().require("source", "catalog", "s3")
        registry = settings.registry()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    catalog = open_catalog(settings)
    all_equal = True
    print(f"{'source table':<20} {'postgres':>9} {'silver':>9} {'bronze':>9}  state")
    for spec in registry.tables:
        schema, table = spec.source.split(".")
        with psycopg.connect(settings.source.conninfo()) as conn:
            pg_count = conn.execute(
                sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(table))
            ).fetchone()[0]  # type: ignore[index]
        try:
            silver = catalog.load_table(spec.iceberg)
        except NoSuchTableError:
            print(f"{spec.source:<20} {pg_count:>9} {'-':>9} {'-':>9}  not merged yet")
            all_equal = False
            continue
        bronze_name = f"{registry.lake.bronze_namespace}.{spec.iceberg.split('.')[1]}"
        bronze_count = catalog.load_table(bronze_name).scan().count()
        d = diff_table(settings.source.conninfo(), silver, spec)
        all_equal &= d.equal
        state = "equal row for row" if d.equal else d.summary(3)
        print(f"{spec.source:<20} {pg_count:>9} {d.lake_count:>9} {bronze_count:>9}  {state}")
    try:
        dead = catalog.load_table(registry.lake.dead_letter_table).scan().count()
    except NoSuchTableError:
        dead = 0
    print(f"dead letters: {dead} ({registry.lake.dead_letter_table})")
    print(
        f'read it yourself: . .local/stack.env && .venv/bin/python -c "from pyiceberg.catalog import '
        f"load_catalog; print(load_catalog('{registry.lake.catalog}').load_table('silver.orders').scan()"
        f'.to_arrow().num_rows)"'
    )
    return 0 if all_equal else 1


if __name__ == "__main__":
    sys.exit(main())
