"""Apply the connector idempotently: publication, validation, config, snapshot of new tables."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from lakehouse.settings import Settings

from connector_config.client import ConnectClient, ConnectError
from connector_config.publication import ensure_publication, request_incremental_snapshot
from connector_config.render import CONNECTOR_CLASS, publication_tables, render_config

Say = Callable[[str], None]


@dataclass
class ApplyResult:
    connector: str
    changed: bool
    created: bool
    snapshot_requested: list[str] = field(default_factory=list)
    publication_added: list[str] = field(default_factory=list)


class InvalidConfigError(ConnectError):
    """Connect's validation rejected keys of the rendered config."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        lines = [f"  {key}: {'; '.join(msgs)}" for key, msgs in sorted(errors.items())]
        super().__init__("connector config rejected by Kafka Connect validation:\n" + "\n".join(lines))


def apply(settings: Settings, client: ConnectClient, say: Say) -> ApplyResult:
    """Bring the connector in line with the registry; a second run with no change does nothing."""
    registry = settings.registry()
    name = registry.cdc.connector
    desired = render_config(registry, settings.source, settings.connect)

    added, removed = ensure_publication(settings.source.conninfo(), registry.cdc.publication,
                                        publication_tables(registry))
    if added or removed:
        say(f"publication {registry.cdc.publication}: +{sorted(added)} -{sorted(removed)}")

    errors = client.validate(CONNECTOR_CLASS, desired)
    if errors:
        raise InvalidConfigError(errors)

    current = client.get_config(name)
    result = ApplyResult(connector=name, changed=current != desired, created=current is None,
                         publication_added=sorted(added))
    if result.changed:
        say(f"{'creating' if current is None else 'updating'} connector {name}")
        client.put_config(name, desired)
    else:
        say(f"connector {name} already up to date")
    before = set(filter(None, (current or {}).get("table.include.list", "").split(",")))
    new_tables = [t.source for t in registry.tables if t.source not in before] if current is not None else []
    if new_tables:
        # The snapshot signal travels through the WAL: a task still running the old config
        # would read it and skip the table it does not know. So: wait until the tasks' configs
        # carry the new table list, restart them, and signal only once they run again.
        client.wait_tasks_configured(name, "table.include.list", desired["table.include.list"],
                                     timeout_s=settings.connect.timeout_s)
        client.restart(name)
    client.wait_running(name, timeout_s=settings.connect.timeout_s, on_wait=say)

    if current is not None:
        if new_tables:
            # The initial snapshot covered only the tables known at creation; newly added
            # ones get an incremental snapshot while streaming continues.
            request_incremental_snapshot(settings.source.conninfo(), new_tables)
            result.snapshot_requested = new_tables
            say(f"requested incremental snapshot of {', '.join(new_tables)}")
    say(f"connector {name} RUNNING")
    return result
