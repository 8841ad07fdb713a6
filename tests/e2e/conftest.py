"""The kind cluster and the deployed platform for the end-to-end suite (`make e2e`).

Session fixture `platform`: creates the kind cluster with pytest-kind (or reuses one `make kind-up`
made), loads the platform images into it, deploys with the project's Terraform root module and the
`kind` overlay, or LAKEHOUSE_E2E_OVERLAY (`make e2e OVERLAY=kind-tls`: encryption in transit),
through `make deploy`, exactly what an operator runs, waits for every rollout, and tears it all
down afterwards unless LAKEHOUSE_E2E_KEEP_CLUSTER=1 (`make e2e KEEP=1`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from pytest_kind import KindCluster

from tests.e2e.cluster import OVERLAY, REPO, Platform, Tools

KEEP = os.environ.get("LAKEHOUSE_E2E_KEEP_CLUSTER") == "1"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


def _make(*targets: str, timeout: float, **env: str) -> None:
    """Run `make <targets>` with its output streamed (Terraform's progress shows in the test log)."""
    started = time.monotonic()
    print(f"\n$ make {' '.join(targets)}", file=sys.stderr, flush=True)
    done = subprocess.run(["make", *targets], cwd=REPO, env={**os.environ, **env}, timeout=timeout)
    assert done.returncode == 0, f"make {' '.join(targets)} failed ({done.returncode}); see its output above"
    print(f"make {' '.join(targets)}: {time.monotonic() - started:.0f}s", file=sys.stderr, flush=True)


@pytest.fixture(scope="session")
def platform() -> Iterator[Platform]:
    if shutil.which("docker") is None and not os.path.exists("/usr/bin/docker"):
        pytest.skip("no container engine (docker) on this machine: kind needs one")
    tools = Tools.from_env()
    problems = tools.missing()
    if problems:
        pytest.fail("; ".join(problems))
    cluster = KindCluster(
        tools.cluster_name,
        kubeconfig=tools.kubeconfig,
        image=tools.node_image,
        kind_path=tools.kind,
        kubectl_path=tools.kubectl,
    )
    existed = (
        tools.cluster_name
        in subprocess.run(
            [str(tools.kind), "get", "clusters"], capture_output=True, text=True, check=True
        ).stdout.split()
    )
    handle = Platform(cluster, tools)
    try:
        if not existed:
            # The same path as `make kind-up`: node image, cluster config, image loading.
            _make("kind-up", timeout=3600)
        cluster.create(REPO / "infra" / "kind" / "cluster.yaml")  # reuses the cluster; opens its API
        _make(
            "deploy",
            timeout=2400,
            KUBE_CONTEXT=f"kind-{tools.cluster_name}",
            OVERLAY=OVERLAY,
            KUBECONFIG_PATH=str(tools.kubeconfig),
        )
        for kind_name in (
            "statefulset/postgres",
            "statefulset/lakehouse-db",
            "statefulset/kafka",
            "statefulset/minio",
            "deployment/kafka-connect",
            "deployment/prefect-server",
            "deployment/prefect-worker",
        ):
            # (the serving API turns ready only after a publication: the tests check it then)
            handle.kubectl("rollout", "status", kind_name, "--timeout=600s", timeout=660)
        yield handle
    finally:
        handle.close()
        if KEEP:
            print(f"\nkeeping kind cluster {tools.cluster_name} (LAKEHOUSE_E2E_KEEP_CLUSTER=1)", file=sys.stderr)
        else:
            subprocess.run(
                ["make", "destroy"],
                cwd=REPO,
                timeout=1200,
                check=False,
                env={
                    **os.environ,
                    "KUBE_CONTEXT": f"kind-{tools.cluster_name}",
                    "OVERLAY": OVERLAY,
                    "KUBECONFIG_PATH": str(tools.kubeconfig),
                },
            )
            cluster.delete()
