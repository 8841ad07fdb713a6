import pytest
from lakehouse.settings import ConfigError, env_var_names, get_settings


def test_missing_variables_are_all_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKEHOUSE_S3_ENDPOINT", "http://x:1")
    with pytest.raises(ConfigError) as exc:
        get_settings().require("source", "s3")
    text = str(exc.value)
    for var in (
        "LAKEHOUSE_SOURCE_PASSWORD",
        "LAKEHOUSE_S3_ACCESS_KEY_ID",
        "LAKEHOUSE_S3_SECRET_ACCESS_KEY",
    ):
        assert var in text
    assert "LAKEHOUSE_S3_ENDPOINT" not in text


def test_bad_value_names_variable_and_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKEHOUSE_STACK_KAFKA_PORT", "99999")
    with pytest.raises(ConfigError, match=r"LAKEHOUSE_STACK_KAFKA_PORT='99999' is invalid"):
        get_settings().require("stack")


def test_secrets_are_not_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKEHOUSE_SOURCE_PASSWORD", "hunter2")
    source = get_settings().source
    assert "hunter2" not in repr(source)
    assert "password=hunter2" in source.conninfo()


def test_areas_load_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKEHOUSE_KAFKA_BOOTSTRAP_SERVERS", "k:9092")
    s = get_settings().require("kafka")
    assert s.kafka.bootstrap_servers == "k:9092"
    with pytest.raises(ConfigError):
        _ = s.s3


def test_env_var_names_cover_every_field() -> None:
    names = env_var_names()
    assert {
        "LAKEHOUSE_REGISTRY_PATH",
        "LAKEHOUSE_SOURCE_HOST",
        "LAKEHOUSE_MERGE_SPARK_MASTER",
        "LAKEHOUSE_STACK_CONNECT_PORT",
        "LAKEHOUSE_CATALOG_WAREHOUSE",
    } <= names
    assert all(n.startswith("LAKEHOUSE_") and n.isupper() for n in names)


def test_no_setting_holds_the_cdc_password() -> None:
    # Only the Connect worker reads it, from its mounted file: no other process needs it.
    assert not [n for n in env_var_names() if "CDC_PASSWORD" in n]
