"""Settings of encryption in transit (k8s/components/tls): what each client is told, and the
errors that name a missing piece. The TLS path itself runs in tests/e2e (kind-tls)."""

from __future__ import annotations

from pathlib import Path

import pytest
from lakehouse.settings import ConfigError, get_settings

from flows.kubernetes_jobs import job_manifest


def _ca(tmp_path: Path) -> Path:
    for name, text in {"ca.crt": "CA PEM\n", "tls.crt": "CERT PEM\n", "tls.key": "KEY PEM\n"}.items():
        (tmp_path / name).write_text(text)
    return tmp_path


def test_postgres_connections_carry_sslmode_and_root_cert(monkeypatch: pytest.MonkeyPatch) -> None:
    for area in ("SOURCE", "CATALOG", "SERVING"):
        monkeypatch.setenv(f"LAKEHOUSE_{area}_SSLMODE", "verify-full")
        monkeypatch.setenv(f"LAKEHOUSE_{area}_SSLROOTCERT", "/etc/lakehouse/tls/ca.crt")
    monkeypatch.setenv("LAKEHOUSE_SOURCE_PASSWORD", "p")
    monkeypatch.setenv("LAKEHOUSE_CATALOG_PASSWORD", "p")
    monkeypatch.setenv("LAKEHOUSE_SERVING_READER_PASSWORD", "p")
    s = get_settings()
    for conninfo in (s.source.conninfo(), s.catalog.conninfo(), s.serving.conninfo()):
        assert conninfo.endswith(" sslmode=verify-full sslrootcert=/etc/lakehouse/tls/ca.crt")
    assert s.catalog.jdbc_url.endswith("?sslmode=verify-full&sslrootcert=/etc/lakehouse/tls/ca.crt")
    assert s.catalog.sqlalchemy_url().endswith("?sslmode=verify-full&sslrootcert=/etc/lakehouse/tls/ca.crt")


def test_plaintext_default_is_libpq_prefer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKEHOUSE_CATALOG_PASSWORD", "p")
    cat = get_settings().catalog
    assert cat.conninfo().endswith(" sslmode=prefer")
    assert cat.jdbc_url.endswith("?sslmode=prefer")


def test_verify_without_root_cert_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKEHOUSE_SOURCE_PASSWORD", "p")
    monkeypatch.setenv("LAKEHOUSE_SOURCE_SSLMODE", "verify-full")
    with pytest.raises(ConfigError, match="LAKEHOUSE_SOURCE_SSLROOTCERT"):
        _ = get_settings().source


def test_kafka_mutual_tls_needs_all_three_files(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKEHOUSE_KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")
    monkeypatch.setenv("LAKEHOUSE_KAFKA_SECURITY_PROTOCOL", "SSL")
    monkeypatch.setenv("LAKEHOUSE_KAFKA_SSL_CA_FILE", "/x/ca.crt")
    with pytest.raises(ConfigError) as exc:
        _ = get_settings().kafka
    assert "LAKEHOUSE_KAFKA_SSL_CERTIFICATE_FILE" in str(exc.value)
    assert "LAKEHOUSE_KAFKA_SSL_KEY_FILE" in str(exc.value)


def test_kafka_clients_get_files_or_inline_pem(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    d = _ca(tmp_path)
    monkeypatch.setenv("LAKEHOUSE_KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")
    monkeypatch.setenv("LAKEHOUSE_KAFKA_SECURITY_PROTOCOL", "SSL")
    monkeypatch.setenv("LAKEHOUSE_KAFKA_SSL_CA_FILE", str(d / "ca.crt"))
    monkeypatch.setenv("LAKEHOUSE_KAFKA_SSL_CERTIFICATE_FILE", str(d / "tls.crt"))
    monkeypatch.setenv("LAKEHOUSE_KAFKA_SSL_KEY_FILE", str(d / "tls.key"))
    kafka = get_settings().kafka
    rd = kafka.librdkafka_config()
    assert rd["security.protocol"] == "ssl" and rd["ssl.key.location"] == str(d / "tls.key")
    assert rd["ssl.endpoint.identification.algorithm"] == "https"
    java = kafka.java_client_config()
    assert java["security.protocol"] == "SSL"
    assert java["ssl.truststore.certificates"] == "CA PEM\n"
    assert java["ssl.keystore.certificate.chain"] == "CERT PEM\n"
    assert java["ssl.keystore.key"] == "KEY PEM\n"
    (d / "tls.key").unlink()
    with pytest.raises(ConfigError, match="LAKEHOUSE_KAFKA_SSL_KEY_FILE=.*cannot be read"):
        kafka.java_client_config()


def test_kafka_plaintext_is_bootstrap_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKEHOUSE_KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")
    kafka = get_settings().kafka
    assert kafka.librdkafka_config() == {"bootstrap.servers": "kafka:9092"}
    assert kafka.java_client_config() == {"bootstrap.servers": "kafka:9092"}


def test_only_the_merge_driver_keeps_the_kafka_client_certificate() -> None:
    template = {
        "spec": {
            "containers": [
                {
                    "name": "driver",
                    "volumeMounts": [
                        {"name": "registry", "mountPath": "/etc/lakehouse/registry"},
                        {"name": "kafka-client-tls", "mountPath": "/etc/lakehouse/kafka-client"},
                    ],
                }
            ],
            "volumes": [{"name": "registry"}, {"name": "kafka-client-tls", "secret": {"secretName": "x"}}],
        }
    }
    for cli, keeps in (("lakehouse-merge", True), ("lakehouse-gold", False), ("lakehouse-maintain", False)):
        pod = job_manifest(template, "img", [cli, "run"], "j")["spec"]["template"]["spec"]
        assert ("kafka-client-tls" in {v["name"] for v in pod["volumes"]}) is keeps, cli
        assert ("kafka-client-tls" in {m["name"] for m in pod["containers"][0]["volumeMounts"]}) is keeps, cli
        assert "registry" in {v["name"] for v in pod["volumes"]}


def test_pyiceberg_s3_filesystems_trust_the_configured_ca(tmp_path: Path) -> None:
    from lakehouse.lake import S3_CA_FILE_PROPERTY, CaTrustingFileIO

    ca = _ca(tmp_path) / "ca.crt"
    props = {"s3.endpoint": "https://minio:9000", "s3.region": "us-east-1", "s3.access-key-id": "k"}
    props["s3.secret-access-key"] = "s"
    fs = CaTrustingFileIO({**props, S3_CA_FILE_PROPERTY: str(ca)})._initialize_s3_fs("lake")
    _, (options,) = fs.__reduce__()
    assert options["tls_ca_file_path"] == str(ca)
    assert options["endpoint_override"] == "https://minio:9000" and options["access_key"] == "k"
    plain = CaTrustingFileIO(props)._initialize_s3_fs("lake")
    assert plain.__reduce__()[1][0]["tls_ca_file_path"] == ""
