"""Who can read which secret key: every workload of each overlay, the flow-run pods Prefect's
Kubernetes worker creates from the base job template, and the Spark driver Jobs the flows create.

The matrix below is the contract (docs/kubernetes.md, "The secrets contract"); a workload that
gains a key, or any that takes a whole Secret, fails here.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
from lakehouse.settings import JOB_AREAS

from tests.static.test_k8s_manifests import (
    OVERLAYS,
    containers,
    driver_pod_template,
    executor_pod,
    generated,
    name_of,
    pod_specs,
    render,
)

pytestmark = pytest.mark.static

WHOLE = "<every key>"
ADMIN_KEYS = {"POSTGRES_SUPERUSER_PASSWORD", "PLATFORM_DB_SUPERUSER_PASSWORD", "MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"}
S3 = {"LAKEHOUSE_S3_ACCESS_KEY_ID", "LAKEHOUSE_S3_SECRET_ACCESS_KEY"}
BACKUP_S3 = {"LAKEHOUSE_BACKUP_ACCESS_KEY_ID", "LAKEHOUSE_BACKUP_SECRET_ACCESS_KEY"}
# workload -> the keys of Secret lakehouse-secrets it can read (env, envFrom or volume).
EXPECTED: dict[str, set[str]] = {
    # the source: its superuser sets up its own roles and nothing of the platform's
    "StatefulSet/postgres": {"POSTGRES_SUPERUSER_PASSWORD"},
    "Job/postgres-init": {
        "POSTGRES_SUPERUSER_PASSWORD",
        "LAKEHOUSE_SOURCE_PASSWORD",
        "LAKEHOUSE_SOURCE_CDC_PASSWORD",
        "SOURCE_READER_PASSWORD",
    },
    # the platform's PostgreSQL: catalog, serving store, Prefect's database
    "StatefulSet/lakehouse-db": {"PLATFORM_DB_SUPERUSER_PASSWORD"},
    "Job/lakehouse-db-init": {
        "PLATFORM_DB_SUPERUSER_PASSWORD",
        "LAKEHOUSE_CATALOG_PASSWORD",
        "LAKEHOUSE_SERVING_PASSWORD",
        "LAKEHOUSE_SERVING_READER_PASSWORD",
        "PREFECT_DB_PASSWORD",
    },
    "StatefulSet/minio": {"MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"},
    "Job/minio-setup": {"MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD", *S3, *BACKUP_S3},
    # dumps the catalog and serving store as their owners, uploads with the backup bucket's key
    "CronJob/database-backup": {"LAKEHOUSE_CATALOG_PASSWORD", "LAKEHOUSE_SERVING_PASSWORD", *BACKUP_S3},
    "Deployment/kafka-connect": {"LAKEHOUSE_SOURCE_CDC_PASSWORD"},
    "Job/connector-config": {"LAKEHOUSE_SOURCE_PASSWORD"},
    "Deployment/serving-api": {"LAKEHOUSE_SERVING_READER_PASSWORD"},
    "StatefulSet/kafka": set(),
    # the Prefect API's basic auth: the server checks it, its clients send it
    "Deployment/prefect-server": {
        "PREFECT_API_AUTH_STRING",
        "PREFECT_API_DATABASE_CONNECTION_URL",
        "PREFECT_DB_PASSWORD",
    },
    "Deployment/prefect-worker": {"PREFECT_API_AUTH_STRING"},
    "Job/prefect-deploy": {"PREFECT_API_AUTH_STRING"},
    "PodTemplate/spark-driver": set(),
    "executor pod": set(),
    # flow runs check quality in-process: the source read-only (role source_reader), and
    # silver through the catalog and S3
    "flow-run pod": {"SOURCE_READER_PASSWORD", "LAKEHOUSE_CATALOG_PASSWORD", *S3, "PREFECT_API_AUTH_STRING"},
    "driver lakehouse-merge": {"LAKEHOUSE_CATALOG_PASSWORD", *S3},
    "driver lakehouse-maintain": {"LAKEHOUSE_CATALOG_PASSWORD", *S3},
    "driver lakehouse-gold": {
        "LAKEHOUSE_CATALOG_PASSWORD",
        "LAKEHOUSE_SERVING_PASSWORD",
        "LAKEHOUSE_SERVING_READER_PASSWORD",
        *S3,
    },
}


# Keys of the TLS overlays' certificate Secrets (scripts/terraform/certs.sh), as "<secret>/<key>".
def _tls(name: str, *keys: str) -> set[str]:
    return {f"lakehouse-tls-{name}/{key}" for key in keys}


KAFKA_CLIENT = _tls("kafka-client", "tls.crt", "tls.key")
# workload -> the certificate keys it reads, on top of EXPECTED, where k8s/components/tls is in.
EXPECTED_TLS: dict[str, set[str]] = {
    "StatefulSet/postgres": _tls("postgres", "tls.crt", "tls.key"),
    "StatefulSet/lakehouse-db": _tls("lakehouse-db", "tls.crt", "tls.key"),
    "StatefulSet/minio": _tls("minio", "tls.crt", "tls.key", "ca.crt"),
    "StatefulSet/kafka": _tls("kafka", "tls-combined.pem", "ca.crt"),
    "Deployment/kafka-connect": _tls("kafka-connect", "tls-combined.pem"),
    # the Kafka clients: the connector tool, and the merge's driver (its executors get it inline)
    "Job/connector-config": KAFKA_CLIENT,
    "PodTemplate/spark-driver": KAFKA_CLIENT,
    "driver lakehouse-merge": KAFKA_CLIENT,
}
TLS_OVERLAYS = {"kind-tls", "prod"}


def readable(spec: dict[str, Any]) -> set[str]:
    """The secret keys a pod spec can read: lakehouse-secrets' by name, other Secrets' as
    "<secret>/<key>"; WHOLE when it takes a whole Secret."""
    keys: set[str] = set()

    def key(secret: str, name: str) -> str:
        return name if secret == "lakehouse-secrets" else f"{secret}/{name}"

    for c in containers(spec):
        for src in c.get("envFrom", []):
            if "secretRef" in src:
                keys.add(WHOLE)
        for env in c.get("env", []):
            ref = env.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                keys.add(key(ref["name"], ref["key"]))
    for vol in spec.get("volumes", []):
        sources = [vol["secret"] | {"name": vol["secret"]["secretName"]}] if "secret" in vol else []
        sources += [s["secret"] for s in vol.get("projected", {}).get("sources", []) if "secret" in s]
        for src in sources:
            keys |= {key(src["name"], item["key"]) for item in src["items"]} if src.get("items") else {WHOLE}
    return keys


def flow_run_pod_spec(template: dict[str, Any]) -> dict[str, Any]:
    """The pod spec Prefect's Kubernetes worker submits for a flow run of a `*/kubernetes` deployment."""
    from prefect.client.schemas.objects import FlowRun
    from prefect_kubernetes.worker import KubernetesWorkerJobConfiguration

    values = {"image": "lakehouse/flows:0.1.0", "env": {"LAKEHOUSE_FLOWS_JOB_RUNNER": "kubernetes"}}
    # No block or variable references to resolve: the client is never used.
    config = asyncio.run(KubernetesWorkerJobConfiguration.from_template_and_values(template, values, client=object()))
    config.prepare_for_flow_run(FlowRun(flow_id=uuid.uuid4(), name="secret-access"))
    return config.job_manifest["spec"]["template"]["spec"]  # type: ignore[no-any-return]


def access_matrix(objs: list[dict[str, Any]]) -> dict[str, set[str]]:
    from flows.kubernetes_jobs import job_manifest

    matrix = {name_of(workload): readable(spec) for workload, spec, _ in pod_specs(objs)}
    template = json.loads(generated(objs, "prefect-base-job-template")[0]["data"]["base-job-template.json"])
    matrix["flow-run pod"] = readable(flow_run_pod_spec(template))
    matrix["executor pod"] = readable(executor_pod(objs)["spec"])
    for cli in JOB_AREAS:
        job = job_manifest(driver_pod_template(objs), "lakehouse/spark-jobs:0.1.0", [cli, "run"], "secret-access")
        matrix[f"driver {cli}"] = readable(job["spec"]["template"]["spec"])
    return matrix


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_workload_reads_only_the_secret_keys_it_uses(overlay: str) -> None:
    matrix = access_matrix(render(overlay))
    table = "\n".join(f"  {w:32} {', '.join(sorted(k)) or '-'}" for w, k in sorted(matrix.items()))
    whole = [w for w, keys in matrix.items() if WHOLE in keys]
    assert not whole, f"overlay {overlay}: {whole} take a whole Secret; name the keys:\n{table}"
    tls = EXPECTED_TLS if overlay in TLS_OVERLAYS else {}
    expected = {w: keys | tls.get(w, set()) for w, keys in EXPECTED.items()}
    assert matrix == expected, f"overlay {overlay}: who reads what differs from the contract:\n{table}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_ca_key_is_mounted_by_nothing(overlay: str) -> None:
    """certs.sh keeps the CA's private key in Secret lakehouse-ca-key to renew certificates; no pod reads it."""
    matrix = access_matrix(render(overlay))
    readers = {w for w, keys in matrix.items() if any(k.startswith("lakehouse-ca-key/") for k in keys)}
    assert not readers


def test_admin_credentials_reach_only_the_servers_and_their_setup_jobs() -> None:
    holders = {w for w, keys in EXPECTED.items() if keys & ADMIN_KEYS}
    assert holders == {
        "StatefulSet/postgres",
        "Job/postgres-init",
        "StatefulSet/lakehouse-db",
        "Job/lakehouse-db-init",
        "StatefulSet/minio",
        "Job/minio-setup",
    }
