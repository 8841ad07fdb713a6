"""NetworkPolicies enforced in the running cluster (kube-router's firewall controller on kind,
`infra/kind/addons/kube-router/`): a pod no allow rule names is refused by PostgreSQL, Kafka, MinIO
and the Prefect API, from inside the platform's namespace and from another one, while the same
pod reaches what is meant to be open (DNS, the serving API), and the platform's own pods still
reach their stores (the serving API its database in lakehouse-db, but not the source).
Refusals are told apart from a broken network by the open paths in the same pod."""

from __future__ import annotations

import json
import time
from typing import Any

from tests.e2e.cluster import NAMESPACE, Platform

STORES = [("postgres", 5432), ("kafka", 9092), ("minio", 9000), ("prefect-server", 4200)]

# Tries each address once with a short timeout and prints one JSON line: {"host:port": "open"|why}.
PROBE = """
import json, socket, sys
out = {}
for target in sys.argv[1:]:
    host, port = target.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=4):
            out[target] = "open"
    except OSError as exc:
        out[target] = type(exc).__name__ + ": " + str(exc)
print(json.dumps(out))
"""


def _probe_result(output: str) -> dict[str, str]:
    """The probe's answer: the JSON object on the last line it printed."""
    return dict(json.loads(output.strip().splitlines()[-1]))


def _probe_pod(name: str, namespace: str, image: str, targets: list[str]) -> dict[str, Any]:
    """A one-shot pod that passes Pod Security `restricted` and carries no label any policy names."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"lakehouse.test/role": "netpol-probe"}},
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": "probe",
                    "image": image,
                    "imagePullPolicy": "IfNotPresent",
                    "command": ["python", "-c", PROBE, *targets],
                    "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                }
            ],
        },
    }


def _run_probe(platform: Platform, namespace: str, image: str, targets: list[str]) -> dict[str, str]:
    name = f"netpol-probe-{int(time.time())}"
    platform.kubectl("apply", "-n", namespace, "-f", "-", stdin=json.dumps(_probe_pod(name, namespace, image, targets)))
    try:
        deadline = time.monotonic() + 180
        phase = ""
        while time.monotonic() < deadline:
            phase = platform.json("get", "pod", name, "-n", namespace)["status"].get("phase", "")
            if phase in ("Succeeded", "Failed"):
                break
            time.sleep(2)
        logs = platform.kubectl("logs", name, "-n", namespace)
        assert phase == "Succeeded", f"probe pod {namespace}/{name} ended {phase!r}: {logs}"
        return _probe_result(logs)
    finally:
        platform.kubectl("delete", "pod", name, "-n", namespace, "--wait=false", check=False)


def test_a_pod_without_an_allow_rule_is_refused_by_every_store(platform: Platform) -> None:
    deployment = platform.json("get", "deployment", "serving-api")
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    stores = [f"{host}.{NAMESPACE}.svc.cluster.local:{port}" for host, port in STORES]
    # The serving API's pod itself, not its Service: the Service has no endpoints until the
    # pipeline's first publication makes the pod ready, and a Service without endpoints refuses
    # every connection, which would read as "network broken".
    pods = platform.json("get", "pods", "-l", "app.kubernetes.io/name=serving-api")["items"]
    running = [p["status"]["podIP"] for p in pods if p["status"].get("phase") == "Running" and p["status"].get("podIP")]
    assert running, f"no running serving-api pod to probe: {[p['status'] for p in pods]}"
    open_paths = [f"{running[0]}:8000"]

    # Outside the platform's namespace: no policy of ours limits the pod's egress, so only the
    # stores' ingress rules stand between it and them.
    outsider = "lakehouse-netpol-probe"
    platform.kubectl("create", "namespace", outsider, check=False)
    platform.kubectl("label", "namespace", outsider, "pod-security.kubernetes.io/enforce=restricted", "--overwrite")
    try:
        seen = _run_probe(platform, outsider, image, stores + open_paths)
    finally:
        platform.kubectl("delete", "namespace", outsider, "--wait=false", check=False)
    assert all(seen[t] == "open" for t in open_paths), f"the probe reached nothing (network broken?): {seen}"
    reached = {t: why for t, why in seen.items() if t in stores and why == "open"}
    assert not reached, f"a pod from another namespace reached {sorted(reached)}: {seen}"

    # Inside it, under default-deny, with no label any allow rule selects.
    seen = _run_probe(platform, NAMESPACE, image, stores)
    reached = {t for t, why in seen.items() if why == "open"}
    assert not reached, f"an unlabelled pod in {NAMESPACE} reached {sorted(reached)}: {seen}"

    # The platform's own traffic still flows: the serving API reaches its store in lakehouse-db,
    # and not the source, which admits only what reads it.
    store, source = (f"{host}.{NAMESPACE}.svc.cluster.local:5432" for host in ("lakehouse-db", "postgres"))
    out = platform.kubectl("exec", "deployment/serving-api", "--", "python", "-c", PROBE, store, source)
    seen = _probe_result(out)
    assert seen[store] == "open", f"the serving API cannot reach its store: {seen}"
    assert seen[source] != "open", f"the serving API reaches the source PostgreSQL: {seen}"
