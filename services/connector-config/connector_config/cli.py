"""`lakehouse-connectors`: render, validate, apply and operate the Debezium connector."""

from __future__ import annotations

import json
from collections.abc import Callable
from enum import Enum
from typing import Any

import typer
from lakehouse.registry import RegistryError
from lakehouse.settings import ConfigError, Settings, get_settings

from connector_config.apply import apply as apply_connector
from connector_config.apply import snapshot as snapshot_tables
from connector_config.client import ConnectClient, ConnectError
from connector_config.preflight import PreflightError, table_problems
from connector_config.render import redact, render_config
from connector_config.slot import wait_until_captured
from connector_config.snapshots import SnapshotFailed

app = typer.Typer(
    help="Manage the Debezium connector described by the table registry.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class Output(str, Enum):
    text = "text"
    json = "json"


def _say(msg: str) -> None:
    typer.echo(f"    {msg}")


def _run(fn: Callable[[Settings, ConnectClient], Any]) -> Any:
    """One error handler: configuration errors exit 2, Connect/database failures exit 1."""
    try:
        settings = get_settings().require("source", "connect", "kafka")
        settings.registry()
        return fn(settings, ConnectClient(settings.connect.url))
    except (ConfigError, RegistryError, KeyError) as exc:
        typer.secho(f"error: {str(exc).strip(chr(39))}", fg="red", err=True)
        raise typer.Exit(2) from exc
    except (ConnectError, LookupError, OSError, TimeoutError, SnapshotFailed) as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(1) from exc


@app.command()
def render(output: Output = typer.Option(Output.json, "--output", "-o")) -> None:
    """Print the connector config rendered from the registry (passwords masked)."""

    def go(s: Settings, _: ConnectClient) -> None:
        cfg = redact(render_config(s.registry(), s.source, s.connect))
        typer.echo(
            json.dumps(cfg, indent=2) if output is Output.json else "\n".join(f"{k}={v}" for k, v in cfg.items())
        )

    _run(go)


@app.command()
def apply(output: Output = typer.Option(Output.text, "--output", "-o")) -> None:
    """Ensure the publication, validate, apply idempotently and wait for RUNNING."""
    result = _run(lambda s, c: apply_connector(s, c, _say))
    if output is Output.json:
        typer.echo(json.dumps(result.__dict__))


@app.command()
def status(output: Output = typer.Option(Output.text, "--output", "-o")) -> None:
    """Show connector and task states; exit 1 unless all are RUNNING."""

    def go(s: Settings, c: ConnectClient) -> dict[str, Any] | None:
        return c.status(s.registry().cdc.connector)

    st = _run(go)
    if st is None:
        typer.echo("connector not found; run: make connectors")
        raise typer.Exit(1)
    if output is Output.json:
        typer.echo(json.dumps(st, indent=2))
    else:
        typer.echo(f"{st['name']}: {st['connector']['state']}")
        for t in st.get("tasks", []):
            trace = f"\n{t.get('trace', '')}" if t["state"] == "FAILED" else ""
            typer.echo(f"  task {t['id']}: {t['state']}{trace}")
    states = [st["connector"]["state"]] + [t["state"] for t in st.get("tasks", [])]
    if not st.get("tasks") or any(x != "RUNNING" for x in states):
        raise typer.Exit(1)


@app.command("wait-captured")
def wait_captured(timeout: float = typer.Option(120.0, help="seconds")) -> None:
    """Wait until Debezium has captured every change committed before this call."""

    def go(s: Settings, _: ConnectClient) -> None:
        waited = wait_until_captured(s.source.conninfo(), s.registry().cdc.slot, timeout_s=timeout)
        _say(f"captured everything committed so far (waited {waited:.1f}s)")

    _run(go)


@app.command()
def resnapshot(
    table: list[str] = typer.Option(..., "--table", "-t", help="registry table schema.table (repeatable)"),
    timeout: float = typer.Option(None, help="seconds to follow the snapshot (default: settings)"),
) -> None:
    """Re-read tables from PostgreSQL (incremental snapshot), following it until Debezium reports it complete.

    The merge converges afterwards with nothing duplicated: snapshot reads are ordered by LSN
    with the streamed changes of the same keys.
    """

    def go(s: Settings, c: ConnectClient) -> None:
        registry = s.registry()
        specs = [registry.by_source(t) for t in table]
        import psycopg

        with psycopg.connect(s.source.conninfo(), autocommit=True) as conn:
            problems = [p for spec in specs for p in table_problems(conn, spec, s.source.cdc_user)]
        if problems:
            raise PreflightError(problems)
        name = registry.cdc.connector
        c.wait_running(name, timeout_s=s.connect.timeout_s, on_wait=_say)
        snapshot_tables(s, [spec.source for spec in specs], _say, timeout)

    _run(go)


@app.command()
def restart() -> None:
    """Restart the connector and its tasks, then wait for RUNNING."""

    def go(s: Settings, c: ConnectClient) -> None:
        name = s.registry().cdc.connector
        c.restart(name)
        c.wait_running(name, timeout_s=s.connect.timeout_s, on_wait=_say)
        _say(f"{name} RUNNING")

    _run(go)


@app.command()
def delete() -> None:
    """Delete the connector (the replication slot and publication stay in PostgreSQL)."""

    def go(s: Settings, c: ConnectClient) -> None:
        name = s.registry().cdc.connector
        _say(f"deleted {name}" if c.delete(name) else f"{name} did not exist")

    _run(go)
