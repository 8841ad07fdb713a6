"""Encryption in transit is what the deployed overlay says it is (k8s/components/tls).

Under kind-tls (`make e2e OVERLAY=kind-tls`, the prod overlay's component on kind): each server
refuses a client that does not speak TLS: PostgreSQL (both servers) a connection without TLS,
MinIO plain HTTP, Kafka a client without a certificate signed by the platform's CA; the same
client with TLS and the CA is let in; every connection the platform itself holds to PostgreSQL
(Debezium's replication connection, the catalog and serving clients, Prefect) is encrypted; and
the connector verifies the source's certificate. The pipeline tests of the same run prove the
data path end to end over these connections.

Under the plaintext kind overlay the same probes show plaintext accepted, as docs/security.md
says for kind: the test fails if an overlay silently changes its transport either way.
Each probe runs inside the server's own pod over localhost (server certificates name localhost),
so NetworkPolicies are not what decides it.
"""

from __future__ import annotations

from typing import Any

import httpx
from lakehouse.registry import load_registry

from tests.e2e.cluster import POD_CA_FILE, REPO, Platform

TLS = "lakehouse-ca"


def _exec(platform: Platform, pod: str, script: str, container: str | None = None) -> tuple[bool, str]:
    """Run `script` with sh in `pod`; (exit status 0, combined output)."""
    args = ["exec", pod, *(["-c", container] if container else []), "--", "sh", "-c", script]
    out = platform.kubectl(*args, check=False, timeout=180)
    ok = out.rstrip().endswith("PROBE-OK")
    return ok, out


def _tls_deployed(platform: Platform) -> bool:
    """Whether the deployed settings are the TLS component's (the CA ConfigMap alone says nothing:
    certs.sh leaves it behind when a cluster goes back to the plaintext overlay)."""
    settings = platform.json("get", "configmap", "lakehouse-settings")["data"]
    tls = settings.get("LAKEHOUSE_SOURCE_SSLMODE") == "verify-full"
    assert not tls or platform.ca_file() is not None, "TLS settings deployed without ConfigMap lakehouse-ca"
    return tls


def _psql(platform: Platform, pod: str, sslmode: str, ca_pem: str | None = None) -> tuple[bool, str]:
    """`select 1` as the superuser over TCP to localhost in `pod` (its password from the pod's own
    environment); with `ca_pem`, that CA is written into the pod and the server checked against it."""
    setup = f'cat > /tmp/ca.crt <<"EOF"\n{ca_pem}EOF\n' if ca_pem else ""
    root = " sslrootcert=/tmp/ca.crt" if ca_pem else ""
    return _exec(
        platform,
        pod,
        f'{setup}PGPASSWORD="$POSTGRES_PASSWORD" psql "host=localhost port=5432 user=postgres dbname=postgres '
        f'sslmode={sslmode}{root} connect_timeout=10" -Atc "select 1" 2>&1 && echo PROBE-OK',
    )


def test_postgres_servers_take_only_what_the_overlay_promises(platform: Platform) -> None:
    tls = _tls_deployed(platform)
    for pod in ("postgres-0", "lakehouse-db-0"):
        plain_ok, plain = _psql(platform, pod, "disable")
        if not tls:
            assert plain_ok, f"{pod}: plaintext refused on the plaintext kind overlay:\n{plain}"
            continue
        assert not plain_ok, f"{pod} accepted a connection without TLS:\n{plain}"
        assert "no encryption" in plain or "pg_hba.conf" in plain, plain
        # The server's certificate, checked against the platform's CA and the name "localhost"
        # (the server's pod mounts no CA file: the client brings its own copy).
        ok, out = _psql(platform, pod, "verify-full", platform.ca_file().read_text())  # type: ignore[union-attr]
        assert ok, f"{pod}: verify-full against the platform's CA failed:\n{out}"


def test_every_platform_connection_to_postgres_is_encrypted(platform: Platform) -> None:
    if not _tls_deployed(platform):
        return _assert_plaintext_overlay(platform)
    query = (
        "select coalesce(a.usename, '?') || '|' || a.backend_type || '|' || coalesce(a.application_name, '') "
        "|| '|' || s.ssl from pg_stat_activity a join pg_stat_ssl s using (pid) "
        "where a.client_addr is not null and a.client_addr <> '127.0.0.1'::inet and a.client_addr <> '::1'::inet"
    )
    for pod in ("postgres-0", "lakehouse-db-0"):
        psql = 'PGPASSWORD="$POSTGRES_PASSWORD" psql -h localhost -U postgres -d postgres'
        ok, out = _exec(platform, pod, f'{psql} -Atc "{query}" && echo PROBE-OK')
        assert ok, out
        rows = [line.split("|") for line in out.splitlines() if line.count("|") == 3]
        assert rows, f"{pod}: no client connections to look at:\n{out}"
        plain = [r for r in rows if r[3] not in ("t", "true")]
        assert not plain, f"{pod}: connections without TLS: {plain}"
        if pod == "postgres-0":
            assert any(r[1] == "walsender" for r in rows), f"Debezium's replication connection not seen: {rows}"


def test_minio_serves_https_only(platform: Platform) -> None:
    tls = _tls_deployed(platform)
    script = (
        "export MC_CONFIG_DIR=/tmp/mc-probe HOME=/tmp; "
        'mc alias set probe {url} "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null 2>&1 '
        "&& mc ls probe >/dev/null 2>&1 && echo PROBE-OK"
    )
    plain_ok, plain = _exec(platform, "minio-0", script.format(url="http://localhost:9000"))
    if not tls:
        assert plain_ok, f"MinIO refused plain HTTP on the plaintext kind overlay:\n{plain}"
        return
    assert not plain_ok, f"MinIO answered plain HTTP:\n{plain}"
    # mc (Go) checks the server against SSL_CERT_FILE: the CA MinIO's pod mounts beside its key.
    ok, out = _exec(
        platform,
        "minio-0",
        "export SSL_CERT_FILE=/etc/minio/certs/CAs/ca.crt; " + script.format(url="https://localhost:9000"),
    )
    assert ok, f"MinIO over https with the platform's CA failed:\n{out}"


def test_kafka_requires_a_client_certificate(platform: Platform) -> None:
    tls = _tls_deployed(platform)
    base = "request.timeout.ms=8000\\ndefault.api.timeout.ms=15000\\n"
    props_file = "/tmp/probe.properties"
    topics = f"/opt/kafka/bin/kafka-topics.sh --bootstrap-server localhost:9092 --list --command-config {props_file}"

    def probe(props: str) -> tuple[bool, str]:
        return _exec(platform, "kafka-0", f"printf '{base}{props}' > {props_file} && {topics} 2>&1 && echo PROBE-OK")

    plain_ok, plain = probe("")
    if not tls:
        assert plain_ok, f"Kafka refused a plaintext client on the plaintext kind overlay:\n{plain}"
        return
    assert not plain_ok, f"Kafka answered a plaintext client:\n{plain}"
    trust = "security.protocol=SSL\\nssl.truststore.type=PEM\\nssl.truststore.location=/etc/kafka/tls/ca.crt\\n"
    no_cert_ok, no_cert = probe(trust)
    assert not no_cert_ok, f"Kafka let in a TLS client without a certificate:\n{no_cert}"
    # The broker's own certificate is one the CA signed for client use too (inter-broker mTLS).
    cert = "ssl.keystore.type=PEM\\nssl.keystore.location=/etc/kafka/tls/tls-combined.pem\\n"
    ok, out = probe(trust + cert)
    assert ok, f"Kafka refused a client certificate signed by the platform's CA:\n{out}"


def test_the_connector_verifies_the_source_certificate(platform: Platform) -> None:
    connect = f"http://127.0.0.1:{platform.forward('kafka-connect', 8083)}"
    name = load_registry(REPO / "config" / "tables.yaml").cdc.connector
    config: dict[str, Any] = httpx.get(f"{connect}/connectors/{name}/config", timeout=30).json()
    if not _tls_deployed(platform):
        assert "database.sslmode" not in config, config
        return
    assert config.get("database.sslmode") == "verify-full", config
    assert config.get("database.sslrootcert") == POD_CA_FILE, config


def _assert_plaintext_overlay(platform: Platform) -> None:
    cm = platform.json("get", "configmap", "lakehouse-settings")["data"]
    assert "LAKEHOUSE_SOURCE_SSLMODE" not in cm and cm["LAKEHOUSE_S3_ENDPOINT"].startswith("http://"), cm
