"""Apply the connector idempotently: publication, validation, config, snapshot of new tables."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from lakehouse.settings import Settings

from connector_config.client import ConnectClient, ConnectError
from connector_config.preflight import check_capture
from connector_config.publication import ensure_publication, request_incremental_snapshot
from connector_config.render import CONNECTOR_CLASS, publication_tables, render_config
from connector_config.snapshots import NotificationReader, SnapshotProgress, notification_topic

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
    """Bring the connector in line with the registry; a second run with no change does nothing.

    First every registry table is checked readable by the replication role with a usable key
    (PreflightError names each fix, nothing is applied); last, every incremental snapshot
    requested is followed until Debezium reports it complete (SnapshotFailed if it did not
    read every table).
    """
    registry = settings.registry()
    name = registry.cdc.connector
    desired = render_config(registry, settings.source, settings.connect)
    check_capture(settings.source.conninfo(), registry, settings.source.cdc_user)
    say(f"preflight: {settings.source.cdc_user} can read all {len(registry.tables)} registry tables, keys usable")

    added, removed = ensure_publication(
        settings.source.conninfo(), registry.cdc.publication, publication_tables(registry)
    )
    if added or removed:
        say(f"publication {registry.cdc.publication}: +{sorted(added)} -{sorted(removed)}")

    errors = client.validate(CONNECTOR_CLASS, desired)
    if errors:
        raise InvalidConfigError(errors)

    current = client.get_config(name)
    result = ApplyResult(
        connector=name, changed=current != desired, created=current is None, publication_added=sorted(added)
    )
    if result.changed:
        say(f"{'creating' if current is None else 'updating'} connector {name}")
        client.put_config(name, desired)
    else:
        say(f"connector {name} already up to date")
    before = set(filter(None, (current or {}).get("table.include.list", "").split(",")))
    new_tables = [t.source for t in registry.tables if t.source not in before] if current is not None else []
    # Captured before but back in the publication (dropped and re-created): read it again.
    recreated = sorted(t for t in added if t in before and t not in new_tables) if current is not None else []
    if new_tables:
        # The snapshot signal travels through the WAL: a task still running the old config
        # would read it and skip the table it does not know. So: wait until the tasks' configs
        # carry the new table list, restart them, and signal only once they run again.
        client.wait_tasks_configured(
            name, "table.include.list", desired["table.include.list"], timeout_s=settings.connect.timeout_s
        )
        client.restart(name)
    client.wait_running(name, timeout_s=settings.connect.timeout_s, on_wait=say)

    say(f"connector {name} RUNNING")
    if current is not None and (new_tables or recreated):
        # The initial snapshot covered only the tables known at creation; newly added (or
        # re-created) ones get an incremental snapshot while streaming continues.
        snapshot(settings, new_tables + recreated, say)
        result.snapshot_requested = new_tables + recreated
    return result


def snapshot(settings: Settings, tables: list[str], say: Say, timeout_s: float | None = None) -> SnapshotProgress:
    """Request an incremental snapshot of `tables` and follow it until Debezium reports it complete."""
    registry = settings.registry()
    reader = NotificationReader(settings.kafka.librdkafka_config(), notification_topic(registry.cdc.topic_prefix))
    try:
        signal_id = request_incremental_snapshot(settings.source.conninfo(), tables)
        say(f"requested incremental snapshot {signal_id} of {', '.join(tables)}; following it")
        progress = reader.follow(
            SnapshotProgress(signal_id, tables),
            timeout_s if timeout_s is not None else settings.connect.snapshot_timeout_s,
            say,
        )
    finally:
        reader.close()
    rows = sum(r for _, r in progress.scans.values())
    say(
        f"snapshot complete: {', '.join(f'{t} {s} ({r} rows)' for t, (s, r) in progress.scans.items())}, "
        f"{rows} rows in all"
    )
    return progress
