"""Spark jobs as Kubernetes Jobs (LAKEHOUSE_FLOWS_JOB_RUNNER=kubernetes).

The flow run creates a Job whose pod is the Spark driver (the Spark image running the same
CLI as locally, e.g. `lakehouse-merge catch-up --output json`); with the cluster's
LAKEHOUSE_MERGE_SPARK_MASTER (k8s://...) the driver starts executor pods itself. The pod is
made from the PodTemplate spark-driver (k8s/base/spark/pod-templates.yaml, patched by the
overlays), takes its settings from the same ConfigMap as every platform pod and, from the Secret, only
the keys of the settings areas its CLI loads (`lakehouse.settings.JOB_AREAS`), referred to
by name: nothing secret is copied into the Job object. A deleted driver pod is replaced by the Job
controller (backoffLimit) and the merge resumes from its Iceberg checkpoint.
"""

from __future__ import annotations

import asyncio
import copy
import time
import uuid
from typing import Any

from kubernetes_asyncio import client, config
from lakehouse.settings import JOB_AREAS, Settings, secret_env_vars
from prefect.logging import get_run_logger

from flows.job_results import JobFailed, last_json_result

# Names the manifests under k8s/ give these objects.
SECRETS = "lakehouse-secrets"
DRIVER_CONTAINER = "driver"
# Volumes of the driver's PodTemplate that carry one settings area's secret material (the Kafka
# client certificate of k8s/components/tls): a job keeps them only if its CLI loads that area.
AREA_VOLUMES = {"kafka-client-tls": "kafka"}


def secret_env(argv: list[str]) -> list[dict[str, Any]]:
    """`env` entries giving the job the Secret keys its CLI needs, and no others."""
    if argv[0] not in JOB_AREAS:
        raise JobFailed(f"{argv[0]} is not a batch job of the platform (known: {', '.join(sorted(JOB_AREAS))})")
    return [
        {"name": key, "valueFrom": {"secretKeyRef": {"name": SECRETS, "key": key}}}
        for key in secret_env_vars(*JOB_AREAS[argv[0]])
    ]


def job_manifest(pod_template: dict[str, Any], image: str, argv: list[str], name: str) -> dict[str, Any]:
    """The Job running `argv` in `image`, its pod made from `pod_template` (pure: unit-testable).

    `pod_template` is the `template` of PodTemplate spark-driver (k8s/base/spark), as overlays
    patched it; this adds only what differs per run: name, image, arguments and the Secret
    keys the CLI needs, and drops the secret volumes of settings areas it does not load."""
    pod = copy.deepcopy(pod_template)
    pod.setdefault("metadata", {}).setdefault("labels", {})["job-name"] = name
    containers = pod["spec"]["containers"]
    driver = next((c for c in containers if c["name"] == DRIVER_CONTAINER), None)
    if driver is None:
        raise JobFailed(f"the driver's PodTemplate has no container named {DRIVER_CONTAINER!r}")
    driver["image"] = image
    driver["args"] = argv
    driver["env"] = [*driver.get("env", []), *secret_env(argv)]
    unused = {vol for vol, area in AREA_VOLUMES.items() if area not in JOB_AREAS[argv[0]]}
    pod["spec"]["volumes"] = [v for v in pod["spec"].get("volumes", []) if v["name"] not in unused]
    for c in containers:
        if "volumeMounts" in c:
            c["volumeMounts"] = [m for m in c["volumeMounts"] if m["name"] not in unused]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "labels": {"app.kubernetes.io/part-of": "lakehouse", "app.kubernetes.io/component": "spark-job"},
        },
        # A deleted driver pod is replaced; the merge resumes from its Iceberg checkpoint.
        "spec": {"backoffLimit": 3, "ttlSecondsAfterFinished": 3600, "template": pod},
    }


async def _pod_template(api: client.ApiClient, settings: Settings) -> dict[str, Any]:
    """The driver's pod template as the cluster holds it (camelCase, as in the manifests)."""
    name, ns = settings.flows.driver_pod_template, settings.flows.namespace
    try:
        obj = await client.CoreV1Api(api).read_namespaced_pod_template(name, ns)
    except client.ApiException as exc:
        raise JobFailed(
            f"cannot read PodTemplate {ns}/{name} ({exc.status} {exc.reason}): deploy k8s/ (make deploy), "
            "or set LAKEHOUSE_FLOWS_DRIVER_POD_TEMPLATE"
        ) from None
    return api.sanitize_for_serialization(obj)["template"]  # type: ignore[no-any-return]


async def _run(settings: Settings, argv: list[str], timeout_s: float) -> Any:
    logger = get_run_logger()
    if not settings.flows.spark_image:
        raise JobFailed("LAKEHOUSE_FLOWS_SPARK_IMAGE is not set: the Spark image to run jobs in")
    config.load_incluster_config()
    ns = settings.flows.namespace
    name = f"{argv[0].removeprefix('lakehouse-')}-{uuid.uuid4().hex[:8]}"
    async with client.ApiClient() as api:
        batch, core = client.BatchV1Api(api), client.CoreV1Api(api)
        manifest = job_manifest(await _pod_template(api, settings), settings.flows.spark_image, argv, name)
        await batch.create_namespaced_job(ns, manifest)
        logger.info("created Job %s/%s running %s", ns, name, " ".join(argv))
        deadline = time.monotonic() + timeout_s
        # Progress reaches the flow-run log while the driver runs; the result is still read
        # from the finished pod's whole log below, so a broken stream loses no result.
        follower = asyncio.create_task(_follow_logs(core, ns, name, logger))
        try:
            await _wait(batch, core, ns, name, deadline, timeout_s)
        finally:
            follower.cancel()
        return last_json_result(await _logs(core, ns, name), f"Job {ns}/{name}")


async def _wait(
    batch: client.BatchV1Api, core: client.CoreV1Api, ns: str, name: str, deadline: float, timeout_s: float
) -> None:
    """Return when Job `name` succeeded; raise when it failed or passed `deadline` (then delete it)."""
    while True:
        job = await batch.read_namespaced_job_status(name, ns)
        if job.status.succeeded:
            return
        if any(c.type == "Failed" and c.status == "True" for c in job.status.conditions or []):
            raise JobFailed(f"Job {ns}/{name} failed: {await _logs(core, ns, name, tail=40)}")
        if time.monotonic() > deadline:
            # Deleted with its pods (and so their executors) before anyone retries: a
            # retry must not run beside a driver that is still writing.
            await _delete_job(batch, core, ns, name)
            raise JobFailed(f"Job {ns}/{name} did not finish in {timeout_s:.0f}s; deleted with its pods")
        await asyncio.sleep(5)


async def _follow_logs(core: client.CoreV1Api, ns: str, job: str, logger: Any) -> None:
    """Copy each driver pod's log lines into the flow-run log as they are written.

    A pod the Job controller replaces (backoffLimit) is followed in turn; Spark's own WARN
    lines are left out, as for local jobs."""
    followed: set[str] = set()
    while True:
        pods = await core.list_namespaced_pod(ns, label_selector=f"job-name={job}")
        started = sorted(
            (p for p in pods.items if p.metadata.name not in followed and p.status.phase != "Pending"),
            key=lambda p: p.metadata.creation_timestamp,
        )
        if not started:
            await asyncio.sleep(2)
            continue
        pod = started[0].metadata.name
        followed.add(pod)
        try:
            resp = await core.read_namespaced_pod_log(pod, ns, container="driver", follow=True, _preload_content=False)
            async for raw in resp.content:
                line = raw.decode(errors="replace").rstrip()
                if line and " WARN " not in line:
                    logger.info("%s | %s", pod, line)
        except client.ApiException as exc:
            logger.warning("cannot follow the log of pod %s/%s (%s %s)", ns, pod, exc.status, exc.reason)


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
