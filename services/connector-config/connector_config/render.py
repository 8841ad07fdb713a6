"""Render the Debezium PostgresConnector configuration from the registry and settings."""

from __future__ import annotations

from lakehouse.registry import Registry
from lakehouse.settings import ConnectSettings, SourceDbSettings

from connector_config.snapshots import notification_topic

CONNECTOR_CLASS = "io.debezium.connector.postgresql.PostgresConnector"
# Bookkeeping tables created by config/sql/20-cdc-grants.sql.
SIGNAL_TABLE = "lakehouse_cdc.debezium_signal"
HEARTBEAT_TABLE = "lakehouse_cdc.heartbeat"


def publication_tables(registry: Registry) -> list[str]:
    """Tables the publication must hold: the registry's, plus the signal and heartbeat tables."""
    return [t.source for t in registry.tables] + [SIGNAL_TABLE, HEARTBEAT_TABLE]


def render_config(registry: Registry, source: SourceDbSettings, connect: ConnectSettings) -> dict[str, str]:
    """The connector config, every value a string as the Connect REST API returns it."""
    cdc = registry.cdc
    config = {
        "connector.class": CONNECTOR_CLASS,
        "tasks.max": "1",
        "plugin.name": "pgoutput",
        "database.hostname": source.host,
        "database.port": str(source.port),
        "database.user": source.cdc_user,
        # A reference the worker resolves from its mounted file (config.providers=dir): the
        # password itself never enters Connect's config topic or its REST answers.
        "database.password": connect.cdc_password_reference(),
        "database.dbname": source.database,
        "topic.prefix": cdc.topic_prefix,
        "slot.name": cdc.slot,
        "publication.name": cdc.publication,
        # The publication is managed by this tool (owner role), so the replication role
        # needs no table ownership.
        "publication.autocreate.mode": "disabled",
        "table.include.list": ",".join(t.source for t in registry.tables),
        "snapshot.mode": connect.snapshot_mode,
        "signal.enabled.channels": "source",
        "signal.data.collection": SIGNAL_TABLE,
        # Snapshot progress and outcome as records: `apply` and `resnapshot` follow them.
        "notification.enabled.channels": "sink",
        "notification.sink.topic.name": notification_topic(cdc.topic_prefix),
        "heartbeat.interval.ms": str(connect.heartbeat_interval_ms),
        # A write the slot sees even when captured tables are idle, so WAL is not pinned.
        "heartbeat.action.query": (
            f"INSERT INTO {HEARTBEAT_TABLE} (id, ts) VALUES (1, now()) ON CONFLICT (id) DO UPDATE SET ts = excluded.ts"
        ),
        "tombstones.on.delete": "true",
        # Exact decimals as strings; precision and scale travel as source-type parameters.
        "decimal.handling.mode": "string",
        # Source type, precision and scale only where the Iceberg type needs them: every
        # propagated column adds four schema parameters to every event.
        "datatype.propagate.source.type": ".+\\.NUMERIC,.+\\.DECIMAL,.+\\.MONEY",
        # Intervals exactly, as ISO 8601 text: the numeric mode counts a month as 30 days.
        "interval.handling.mode": "string",
        "time.precision.mode": "adaptive_time_microseconds",
        "binary.handling.mode": "bytes",
        "key.converter": "org.apache.kafka.connect.json.JsonConverter",
        "key.converter.schemas.enable": "true",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "true",
        "name": cdc.connector,
    }
    if source.sslmode != "prefer":
        # Debezium's pgjdbc takes the same mode names and a PEM root certificate, at the path
        # the Connect worker mounts it (the tool and the worker share /etc/lakehouse/tls).
        config["database.sslmode"] = source.sslmode
        if source.sslrootcert:
            config["database.sslrootcert"] = source.sslrootcert
    if connect.producer_compression != "none":
        # The JSON converter repeats each table's schema in every event, which compresses
        # well; batches of a few events (Kafka's 16 KB default) would compress little.
        config |= {
            "producer.override.compression.type": connect.producer_compression,
            "producer.override.linger.ms": "20",
            "producer.override.batch.size": str(512 * 1024),
        }
    return config


def redact(config: dict[str, str]) -> dict[str, str]:
    """The config with secrets masked, for printing."""
    return {k: ("********" if "password" in k else v) for k, v in config.items()}
