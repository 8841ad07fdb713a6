from pathlib import Path

import pytest
from connector_config.render import CONNECTOR_CLASS, publication_tables, redact, render_config
from lakehouse.settings import get_settings

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("LAKEHOUSE_REGISTRY_PATH", str(REPO / "config" / "tables.yaml"))
    monkeypatch.setenv("LAKEHOUSE_SOURCE_PASSWORD", "owner-secret")
    monkeypatch.setenv("LAKEHOUSE_CONNECT_URL", "http://connect:8083")
    return get_settings().require("source", "connect")


def test_config_is_rendered_from_the_registry(settings) -> None:  # type: ignore[no-untyped-def]
    cfg = render_config(settings.registry(), settings.source, settings.connect)
    assert cfg["connector.class"] == CONNECTOR_CLASS
    assert cfg["plugin.name"] == "pgoutput"
    assert cfg["slot.name"] == "lakehouse_shop" and cfg["publication.name"] == "lakehouse_shop"
    assert cfg["table.include.list"] == "shop.customers,shop.products,shop.orders,shop.order_items"
    # the worker resolves the password from its mounted secret file: the config holds a reference
    assert cfg["database.user"] == "debezium"
    assert cfg["database.password"] == "${dir:/etc/kafka-connect/secrets:LAKEHOUSE_SOURCE_CDC_PASSWORD}"
    assert cfg["heartbeat.interval.ms"] == "10000" and "lakehouse_cdc.heartbeat" in cfg["heartbeat.action.query"]
    assert cfg["tombstones.on.delete"] == "true"
    assert all(isinstance(v, str) for v in cfg.values())


def test_producer_compresses_lz4_batches_by_default_and_none_turns_it_off(settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    cfg = render_config(settings.registry(), settings.source, settings.connect)
    assert cfg["producer.override.compression.type"] == "lz4" and cfg["producer.override.linger.ms"] == "20"
    monkeypatch.setenv("LAKEHOUSE_CONNECT_PRODUCER_COMPRESSION", "none")
    get_settings.cache_clear()
    cfg = render_config(settings.registry(), settings.source, get_settings().connect)
    assert not any(k.startswith("producer.override.") for k in cfg)


def test_publication_holds_registry_and_bookkeeping_tables(settings) -> None:  # type: ignore[no-untyped-def]
    tables = publication_tables(settings.registry())
    assert tables[:4] == ["shop.customers", "shop.products", "shop.orders", "shop.order_items"]
    assert "lakehouse_cdc.debezium_signal" in tables and "lakehouse_cdc.heartbeat" in tables


def test_redact_masks_passwords(settings) -> None:  # type: ignore[no-untyped-def]
    shown = redact(render_config(settings.registry(), settings.source, settings.connect))
    assert shown["database.password"] == "********"


def test_debezium_verifies_the_source_certificate_when_the_settings_say_so(settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    cfg = render_config(settings.registry(), settings.source, settings.connect)
    assert "database.sslmode" not in cfg  # plaintext (libpq's prefer): the config stays as before
    monkeypatch.setenv("LAKEHOUSE_SOURCE_SSLMODE", "verify-full")
    monkeypatch.setenv("LAKEHOUSE_SOURCE_SSLROOTCERT", "/etc/lakehouse/tls/ca.crt")
    get_settings.cache_clear()
    cfg = render_config(settings.registry(), get_settings().source, settings.connect)
    assert cfg["database.sslmode"] == "verify-full"
    assert cfg["database.sslrootcert"] == "/etc/lakehouse/tls/ca.crt"
