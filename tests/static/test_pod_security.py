"""Every pod the platform runs passes Pod Security `restricted` (Kubernetes 1.34's rules):
the overlays' workloads, the Spark driver's PodTemplate, the executors' pod template file,
the flow-run pods Prefect's Kubernetes worker makes from the base job template, and the
driver Job of each CLI. The namespace enforces the profile (Terraform, infra/terraform/main.tf,
and k8s/base/namespace.yaml), so a pod that fails here would be refused by the API server.

The rules are those of https://kubernetes.io/docs/concepts/security/pod-security-standards/
(baseline + restricted), checked on the pod spec as the admission plugin reads it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from lakehouse.settings import JOB_AREAS

from tests.static.test_k8s_manifests import (
    OVERLAYS,
    driver_pod_template,
    executor_pod,
    generated,
    name_of,
    pod_specs,
    render,
)
from tests.static.test_secret_access import flow_run_pod_spec

pytestmark = pytest.mark.static

REPO = Path(__file__).resolve().parents[2]
ALLOWED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}


def violations(spec: dict[str, Any]) -> list[str]:
    """What keeps `spec` from passing `restricted` (empty: it passes)."""
    out: list[str] = []
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            out.append(f"{field}: true")
    pod_sc = spec.get("securityContext", {})
    for sysctl in pod_sc.get("sysctls", []):
        if sysctl["name"] not in SAFE_SYSCTLS:
            out.append(f"unsafe sysctl {sysctl['name']}")
    for vol in spec.get("volumes", []):
        kinds = set(vol) - {"name"}
        if not kinds <= ALLOWED_VOLUMES:
            out.append(f"volume {vol['name']} of type {sorted(kinds - ALLOWED_VOLUMES)}")
    if pod_sc.get("runAsUser") == 0:
        out.append("pod runAsUser 0")
    every = [*spec.get("initContainers", []), *spec.get("containers", []), *spec.get("ephemeralContainers", [])]
    for c in every:
        sc = c.get("securityContext", {})
        where = f"container {c['name']}"
        if sc.get("privileged"):
            out.append(f"{where}: privileged")
        if any(p.get("hostPort") for p in c.get("ports", [])):
            out.append(f"{where}: hostPort")
        if sc.get("procMount", "Default") != "Default":
            out.append(f"{where}: procMount {sc['procMount']}")
        if sc.get("allowPrivilegeEscalation") is not False:
            out.append(f"{where}: allowPrivilegeEscalation must be false")
        caps = sc.get("capabilities", {})
        if "ALL" not in caps.get("drop", []):
            out.append(f"{where}: capabilities must drop ALL")
        if set(caps.get("add", [])) - {"NET_BIND_SERVICE"}:
            out.append(f"{where}: adds capabilities {caps['add']}")
        non_root = sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot"))
        if non_root is not True:
            out.append(f"{where}: runAsNonRoot must be true (pod or container)")
        if sc.get("runAsUser") == 0:
            out.append(f"{where}: runAsUser 0")
        seccomp = sc.get("seccompProfile", pod_sc.get("seccompProfile", {})).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            out.append(f"{where}: seccompProfile must be RuntimeDefault or Localhost (is {seccomp})")
    return out


def every_pod(objs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every pod spec of a rendered overlay, the ones made at run time included."""
    from flows.kubernetes_jobs import job_manifest

    pods = {name_of(w): spec for w, spec, _ in pod_specs(objs)}
    template = json.loads(generated(objs, "prefect-base-job-template")[0]["data"]["base-job-template.json"])
    pods["flow-run pod"] = flow_run_pod_spec(template)
    pods["executor pod"] = executor_pod(objs)["spec"]
    for cli in JOB_AREAS:
        job = job_manifest(driver_pod_template(objs), "lakehouse/spark-jobs:0.1.0", [cli, "run"], "psa")
        pods[f"driver Job of {cli}"] = job["spec"]["template"]["spec"]
    return pods


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pod_passes_pod_security_restricted(overlay: str) -> None:
    pods = every_pod(render(overlay))
    assert {"flow-run pod", "executor pod", "PodTemplate/spark-driver", "StatefulSet/postgres"} <= set(pods)
    failing = {name: v for name, spec in pods.items() if (v := violations(spec))}
    assert not failing, f"overlay {overlay}: pods that Pod Security `restricted` refuses:\n" + "\n".join(
        f"  {name}: {'; '.join(v)}" for name, v in failing.items()
    )


def test_the_checker_refuses_what_restricted_refuses() -> None:
    ok = {
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [
            {"name": "c", "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}
        ],
    }
    assert violations(ok) == []
    assert violations({**ok, "securityContext": {"runAsNonRoot": True}})  # no seccomp
    assert violations({**ok, "volumes": [{"name": "h", "hostPath": {"path": "/"}}]})
    assert violations({**ok, "containers": [{"name": "c"}]})  # Spark's executor without a template
    assert violations({**ok, "hostNetwork": True})


def test_the_namespace_enforces_restricted_on_both_deploy_paths() -> None:
    main_tf = (REPO / "infra/terraform/main.tf").read_text()
    for mode in ("enforce", "warn", "audit"):
        assert re.search(rf'"pod-security.kubernetes.io/{mode}"\s*=\s*"restricted"', main_tf), (
            f"infra/terraform/main.tf: namespace label pod-security.kubernetes.io/{mode} is not restricted"
        )
    for overlay in OVERLAYS:
        ns = next(o for o in render(overlay) if o["kind"] == "Namespace")  # the skaffold / kubectl path
        labels = ns["metadata"]["labels"]
        assert {labels.get(f"pod-security.kubernetes.io/{m}") for m in ("enforce", "warn", "audit")} == {"restricted"}
