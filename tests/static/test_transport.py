"""Encryption in transit, as rendered: the prod and kind-tls overlays (k8s/components/tls) put
every PostgreSQL, MinIO and Kafka connection on TLS with verification; the kind overlay stays
plaintext, as docs/security.md says. tests/e2e/test_transport.py checks the same on a cluster."""

from __future__ import annotations

from typing import Any

import pytest

from tests.static.test_k8s_manifests import render

pytestmark = pytest.mark.static

CA = "/etc/lakehouse/tls/ca.crt"
TLS_OVERLAYS = ("kind-tls", "prod")


def _settings(objs: list[dict[str, Any]]) -> dict[str, str]:
    return next(o for o in objs if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "lakehouse-settings")["data"]


def _container(objs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    obj = next(o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name)
    return obj["spec"]["template"]["spec"]["containers"][0]  # type: ignore[no-any-return]


def _secret_volumes(objs: list[dict[str, Any]], kind: str, name: str) -> set[str]:
    obj = next(o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name)
    return {v["secret"]["secretName"] for v in obj["spec"]["template"]["spec"].get("volumes", []) if "secret" in v}


@pytest.mark.parametrize("overlay", TLS_OVERLAYS)
def test_every_client_verifies_every_store(overlay: str) -> None:
    cm = _settings(render(overlay))
    for area in ("SOURCE", "CATALOG", "SERVING"):
        assert cm[f"LAKEHOUSE_{area}_SSLMODE"] == "verify-full", area
        assert cm[f"LAKEHOUSE_{area}_SSLROOTCERT"] == CA, area
    assert cm["LAKEHOUSE_S3_ENDPOINT"].startswith("https://") and cm["LAKEHOUSE_S3_CA_FILE"] == CA
    assert cm["LAKEHOUSE_KAFKA_SECURITY_PROTOCOL"] == "SSL" and cm["LAKEHOUSE_KAFKA_SSL_CA_FILE"] == CA


@pytest.mark.parametrize("overlay", TLS_OVERLAYS)
def test_every_server_takes_tls_only(overlay: str) -> None:
    objs = render(overlay)
    for server in ("postgres", "lakehouse-db"):
        args = _container(objs, "StatefulSet", server)["args"]
        settings = {args[i + 1] for i, a in enumerate(args) if a == "-c"}
        assert "ssl=on" in settings and "hba_file=/etc/lakehouse/postgres/pg_hba.conf" in settings, server
        assert f"lakehouse-tls-{server}" in _secret_volumes(objs, "StatefulSet", server)
    hba = next(o for o in objs if o["metadata"]["name"] == "lakehouse-pg-hba")["data"]["pg_hba.conf"]
    rules = [line.split() for line in hba.splitlines() if line.strip() and not line.startswith("#")]
    assert ["hostnossl", "all", "all", "all", "reject"] in rules
    assert not [r for r in rules if r[0] == "host"], "a `host` line would admit TCP without TLS"
    minio = _container(objs, "StatefulSet", "minio")
    assert minio["args"][minio["args"].index("--certs-dir") + 1] == "/etc/minio/certs"
    assert minio["readinessProbe"]["httpGet"]["scheme"] == "HTTPS"
    env = {e["name"]: e.get("value") for e in _container(objs, "StatefulSet", "kafka")["env"]}
    listeners = env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(",")
    assert all(entry.endswith(":SSL") for entry in listeners), listeners
    assert env["KAFKA_SSL_CLIENT_AUTH"] == "required" and env["BROKER_PROTOCOL"] == "SSL"


@pytest.mark.parametrize("overlay", TLS_OVERLAYS)
def test_kafka_clients_present_certificates(overlay: str) -> None:
    objs = render(overlay)
    env = {e["name"]: e.get("value") for e in _container(objs, "Deployment", "kafka-connect")["env"]}
    for prefix in ("", "PRODUCER_", "CONSUMER_", "ADMIN_"):  # the worker's clients and the connectors'
        assert env[f"CONNECT_{prefix}SECURITY_PROTOCOL"] == "SSL", prefix
        assert env[f"CONNECT_{prefix}SSL_KEYSTORE_LOCATION"].endswith("tls-combined.pem"), prefix
    assert "lakehouse-tls-kafka-connect" in _secret_volumes(objs, "Deployment", "kafka-connect")
    assert "lakehouse-tls-kafka-client" in _secret_volumes(objs, "Job", "connector-config")
    driver = next(o for o in objs if o["kind"] == "PodTemplate" and o["metadata"]["name"] == "spark-driver")
    volumes = {v["secret"]["secretName"] for v in driver["template"]["spec"]["volumes"] if "secret" in v}
    assert "lakehouse-tls-kafka-client" in volumes


def test_the_kind_overlay_stays_plaintext() -> None:
    objs = render("kind")
    cm = _settings(objs)
    assert not any(k.endswith("_SSLMODE") for k in cm) and cm["LAKEHOUSE_S3_ENDPOINT"].startswith("http://")
    assert not any(s.startswith("lakehouse-tls-") for s in _secret_volumes(objs, "StatefulSet", "kafka"))
