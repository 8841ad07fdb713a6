"""Spark jobs as Kubernetes Jobs (LAKEHOUSE_FLOWS_JOB_RUNNER=kubernetes).

The flow run creates a Job whose pod is the Spark driver (the Spark image running the same
CLI as locally, e.g. `lakehouse-merge catch-up --output json`); with the cluster's
LAKEHOUSE_MERGE_SPARK_MASTER (k8s://...) the driver starts executor pods itself. The pod
takes its settings from the same ConfigMap as every platform pod and, from the Secret, only
the keys of the settings areas its CLI loads (`lakehouse.settings.JOB_AREAS`), referred to
by name: nothing secret is copied into the Job object. A deleted driver pod is replaced by the Job
controller (backoffLimit) and the merge resumes from its Iceberg checkpoint.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from kubernetes_asyncio import client, config
from lakehouse.settings import JOB_AREAS, Settings, secret_env_vars
from prefect.logging import get_run_logger

from flows.jobs import JobFailed, last_json_result

# Names the manifests under k8s/ give these objects.
SETTINGS_CONFIGMAP = "lakehouse-settings"
SECRETS = "lakehouse-secrets"
SERVICE_ACCOUNT = "spark"
REGISTRY_CONFIGMAP = "lakehouse-registry"
REGISTRY_DIR = "/etc/lakehouse/registry"


def secret_env(argv: list[str]) -> list[dict[str, Any]]:
    """`env` entries giving the job the Secret keys its CLI needs, and no others."""
    if argv[0] not in JOB_AREAS:
        raise JobFailed(f"{argv[0]} is not a batch job of the platform (known: {', '.join(sorted(JOB_AREAS))})")
    return [
        {"name": key, "valueFrom": {"secretKeyRef": {"name": SECRETS, "key": key}}}
        for key in secret_env_vars(*JOB_AREAS[argv[0]])
    ]


def job_manifest(settings: Settings, argv: list[str], name: str) -> dict[str, Any]:
    """The Job running `argv` in the Spark image (pure: unit-testable)."""
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "labels": {"app.kubernetes.io/part-of": "lakehouse", "app.kubernetes.io/component": "spark-job"},
        },
        "spec": {
            "backoffLimit": 3,
            "ttlSecondsAfterFinished": 3600,
            "template": {
                "metadata": {
                    "labels": {
                        "app.kubernetes.io/part-of": "lakehouse",
                        "app.kubernetes.io/component": "spark-driver",
                        "job-name": name,
                    }
                },
                "spec": {
                    "restartPolicy": "Never",
                    "serviceAccountName": SERVICE_ACCOUNT,
                    "enableServiceLinks": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 10001,
                        "runAsGroup": 10001,
                        "fsGroup": 10001,
                    },
                    "containers": [
                        {
                            "name": "driver",
                            "image": settings.flows.spark_image,
                            "args": argv,
                            "envFrom": [{"configMapRef": {"name": SETTINGS_CONFIGMAP}}],
                            "env": [
                                *secret_env(argv),
                                {
                                    "name": "LAKEHOUSE_MERGE_DRIVER_HOST",
                                    "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}},
                                },
                                {
                                    "name": "LAKEHOUSE_MERGE_DRIVER_POD_NAME",
                                    "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
                                },
                            ],
                            "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                            "resources": {"requests": {"cpu": "250m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}},
                            # The one table registry, from the same ConfigMap every pod mounts.
                            "volumeMounts": [{"name": "registry", "mountPath": REGISTRY_DIR, "readOnly": True}],
                        }
                    ],
                    "volumes": [{"name": "registry", "configMap": {"name": REGISTRY_CONFIGMAP}}],
                },
            },
        },
    }


async def _run(settings: Settings, argv: list[str], timeout_s: float) -> Any:
    logger = get_run_logger()
    if not settings.flows.spark_image:
        raise JobFailed("LAKEHOUSE_FLOWS_SPARK_IMAGE is not set: the Spark image to run jobs in")
    config.load_incluster_config()
    ns = settings.flows.namespace
    name = f"{argv[0].removeprefix('lakehouse-')}-{uuid.uuid4().hex[:8]}"
    async with client.ApiClient() as api:
        batch, core = client.BatchV1Api(api), client.CoreV1Api(api)
        await batch.create_namespaced_job(ns, job_manifest(settings, argv, name))
        logger.info("created Job %s/%s running %s", ns, name, " ".join(argv))
        deadline = time.monotonic() + timeout_s
        while True:
            job = await batch.read_namespaced_job_status(name, ns)
            if job.status.succeeded:
                break
            if any(c.type == "Failed" and c.status == "True" for c in job.status.conditions or []):
                raise JobFailed(f"Job {ns}/{name} failed: {await _logs(core, ns, name, tail=40)}")
            if time.monotonic() > deadline:
                # Deleted with its pods (and so their executors) before anyone retries: a
                # retry must not run beside a driver that is still writing.
                await _delete_job(batch, core, ns, name)
                raise JobFailed(f"Job {ns}/{name} did not finish in {timeout_s:.0f}s; deleted with its pods")
            await asyncio.sleep(5)
        return last_json_result(await _logs(core, ns, name), f"Job {ns}/{name}")


async def _delete_job(
    batch: client.BatchV1Api, core: client.CoreV1Api, ns: str, name: str, wait_s: float = 120
) -> None:
    """Delete Job `name` in the foreground and wait until none of its pods is left."""
    await batch.delete_namespaced_job(name, ns, propagation_policy="Foreground", grace_period_seconds=30)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        pods = await core.list_namespaced_pod(ns, label_selector=f"job-name={name}")
        if not pods.items:
            return
        await asyncio.sleep(2)
    raise JobFailed(f"Job {ns}/{name} timed out and its pods were still there {wait_s:.0f}s after deleting it")


async def _logs(core: client.CoreV1Api, ns: str, job: str, tail: int | None = None) -> str:
    pods = await core.list_namespaced_pod(ns, label_selector=f"job-name={job}")
    done = [p for p in pods.items if p.status.phase in ("Succeeded", "Failed")]
    if not done:
        return "(no finished pod)"
    pod = max(done, key=lambda p: p.metadata.creation_timestamp)
    return str(await core.read_namespaced_pod_log(pod.metadata.name, ns, container="driver", tail_lines=tail))


def run_kubernetes_job(settings: Settings, argv: list[str], *, timeout_s: float) -> Any:
    """Run `argv` as a Kubernetes Job in the Spark image and return its JSON output."""
    return asyncio.run(_run(settings, argv, timeout_s))
