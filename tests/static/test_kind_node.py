"""The pieces of the offline kind node image that can be checked without building it
(docs/kind.md): the runc wrapper, the bridge CNI against the cluster config, the pinned versions."""

from __future__ import annotations

import ipaddress
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from lakehouse.versions import versions

REPO = Path(__file__).resolve().parents[2]
KIND = REPO / "infra" / "kind"
WRAPPER = KIND / "node" / "runc-wrapper.sh"
CAPS = {
    "bounding": ["CAP_CHOWN", "CAP_SYS_RESOURCE", "CAP_NET_ADMIN"],
    "effective": ["CAP_SYS_RESOURCE"],
    "ambient": [],
}


@pytest.fixture
def runc(tmp_path: Path) -> tuple[Path, Path]:
    """A stand-in for the real runc that records the arguments it was given."""
    if shutil.which("jq") is None:
        pytest.fail("jq is not installed (the node image has it; here: apt-get install -y jq)")
    log = tmp_path / "argv"
    fake = tmp_path / "runc"
    fake.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {log}\n')
    fake.chmod(0o755)
    return fake, log


def wrap(fake: Path, *argv: str, cwd: Path | None = None) -> None:
    subprocess.run(
        ["sh", str(WRAPPER), *argv], env={"REAL_RUNC": str(fake), "PATH": "/usr/bin:/bin"}, cwd=cwd, check=True
    )


def test_wrapper_strips_cap_sys_resource_from_the_bundle(runc: tuple[Path, Path], tmp_path: Path) -> None:
    fake, log = runc
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "config.json").write_text(json.dumps({"process": {"capabilities": CAPS, "args": ["x"]}}))
    wrap(fake, "--root", "/run/runc", "create", "--bundle", str(bundle), "pod1")
    process = json.loads((bundle / "config.json").read_text())["process"]
    assert process["capabilities"]["bounding"] == ["CAP_CHOWN", "CAP_NET_ADMIN"]
    assert process["capabilities"]["effective"] == [] and process["args"] == ["x"]
    assert log.read_text().split() == ["--root", "/run/runc", "create", "--bundle", str(bundle), "pod1"]


def test_wrapper_strips_it_from_an_exec_process_file(runc: tuple[Path, Path], tmp_path: Path) -> None:
    fake, log = runc
    proc = tmp_path / "process.json"
    proc.write_text(json.dumps({"capabilities": CAPS, "args": ["sh"]}))
    wrap(fake, "exec", f"--process={proc}", "pod1")
    assert "CAP_SYS_RESOURCE" not in proc.read_text()
    assert log.read_text().split() == ["exec", f"--process={proc}", "pod1"]


def test_wrapper_passes_other_commands_through_untouched(runc: tuple[Path, Path], tmp_path: Path) -> None:
    fake, log = runc
    (tmp_path / "config.json").write_text(json.dumps({"process": {"capabilities": CAPS}}))
    wrap(fake, "state", "pod1", cwd=tmp_path)
    assert "CAP_SYS_RESOURCE" in (tmp_path / "config.json").read_text()
    assert log.read_text().split() == ["state", "pod1"]


def test_bridge_cni_serves_the_pod_subnet_of_the_cluster_config() -> None:
    cluster = yaml.safe_load((KIND / "cluster.yaml").read_text())
    assert cluster["networking"]["disableDefaultCNI"] is True
    pod_net = ipaddress.ip_network(cluster["networking"]["podSubnet"])
    conf = json.loads((KIND / "node" / "10-lakehouse-bridge.conflist").read_text())
    ranges = [r["subnet"] for p in conf["plugins"] if p["type"] == "bridge" for rs in p["ipam"]["ranges"] for r in rs]
    assert ranges and all(ipaddress.ip_network(r).subnet_of(pod_net) for r in ranges)  # type: ignore[arg-type]


def test_kubernetes_stays_on_a_release_that_runs_on_cgroup_v1() -> None:
    v = versions()
    assert v["KUBERNETES_VERSION"].startswith("v1.34."), "1.35+ refuses cgroup v1 hosts: docs/kind.md"
    assert v["KUBERNETES_STAGING_VERSION"] == "v0." + v["KUBERNETES_VERSION"].removeprefix("v1.")
    assert v["KIND_VERSION"].startswith("v0.30."), "kind v0.32+ bases on trixie: docs/kind.md"
