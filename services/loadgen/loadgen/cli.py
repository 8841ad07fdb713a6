"""`lakehouse-load`: run the shop workload against the source database."""

from __future__ import annotations

import psycopg
import typer
from lakehouse.settings import ConfigError, get_settings

from loadgen.workload import Workload, WorkloadStats

app = typer.Typer(
    help="Generate a realistic OLTP workload on the shop schema.", add_completion=False, pretty_exceptions_enable=False
)


@app.command()
def run(
    rate: float = typer.Option(50.0, help="operations per second (0 = unthrottled)"),
    duration: float = typer.Option(30.0, help="seconds to run (0 = until --ops)"),
    ops: int = typer.Option(0, help="stop after this many operations (0 = until --duration)"),
    seed: int = typer.Option(None, help="random seed for a repeatable workload"),
) -> None:
    """Insert, update and delete across customers, products, orders and order items."""
    try:
        source = get_settings().source
    except ConfigError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from exc

    def report(stats: WorkloadStats) -> None:
        typer.echo(f"    {stats.total} operations so far")

    try:
        with psycopg.connect(source.conninfo(), autocommit=True) as conn:
            wl = Workload(conn, seed=seed)
            wl.seed_if_empty()
            stats = wl.run(ops=ops or None, duration_s=duration or None, rate=rate, progress=report)
    except psycopg.OperationalError as exc:
        typer.secho(f"error: cannot reach the source database: {exc}", fg="red", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"done: {stats.total} operations: " + ", ".join(f"{k}={v}" for k, v in sorted(stats.ops.items())))


if __name__ == "__main__":
    app()
