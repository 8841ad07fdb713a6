"""`lakehouse-stack`: run the embedded local stack (make up / down / status / clean)."""

from __future__ import annotations

import json
import sys
from enum import Enum

import typer
from lakehouse.settings import ConfigError, get_settings

from stackctl.processes import StackError
from stackctl.stack import Stack, make_context

app = typer.Typer(
    help="Run the local lakehouse stack as plain processes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class Output(str, Enum):
    text = "text"
    json = "json"


def _say(msg: str) -> None:
    typer.echo(f"    {msg}")


def _stack() -> Stack:
    try:
        return Stack(make_context(get_settings().stack))
    except (StackError, ConfigError) as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from exc


def _run(action: str, fn) -> None:  # type: ignore[no-untyped-def]
    try:
        fn()
    except StackError as exc:
        typer.secho(f"error: {action} failed: {exc}", fg="red", err=True)
        raise typer.Exit(1) from exc


@app.command()
def up(only: list[str] = typer.Option(None, "--only", help="start just these components")) -> None:
    """Start PostgreSQL, Kafka (KRaft), Kafka Connect + Debezium and MinIO; write stack.env."""
    stack = _stack()
    typer.secho("==> Starting the local stack", bold=True)
    if only:
        _run("up", lambda: [stack.start(stack.component(n), _say) for n in only])
    else:
        _run("up", lambda: stack.up(_say))


@app.command()
def down(only: list[str] = typer.Option(None, "--only", help="stop just these components")) -> None:
    """Stop every component; data is kept."""
    stack = _stack()
    if only:
        _run("down", lambda: [stack.stop(stack.component(n), _say) for n in only])
    else:
        _run("down", lambda: stack.down(_say))


@app.command()
def status(output: Output = typer.Option(Output.text, "--output", "-o")) -> None:
    """Show each component's pid and health; exit 1 if any is down."""
    rows = _stack().status()
    if output is Output.json:
        typer.echo(json.dumps([r.__dict__ for r in rows], indent=2))
    else:
        for r in rows:
            state = "healthy" if r.healthy else ("UNHEALTHY" if r.pid else "stopped")
            typer.echo(f"{r.name:<10} {state:<10} pid={r.pid or '-':<8} {r.where}")
    if not all(r.healthy for r in rows):
        raise typer.Exit(1)


@app.command()
def clean() -> None:
    """Stop everything and delete the stack's data, logs and credentials."""
    _run("clean", lambda: _stack().clean(_say))


if __name__ == "__main__":
    sys.exit(app())
