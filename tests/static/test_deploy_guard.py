"""The guard rails of `make deploy`/`make destroy` (scripts/terraform/deploy.sh), with stand-ins
for kubectl (which nodes the context has) and terraform (which commands it was given)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.static

REPO = Path(__file__).resolve().parents[2]
KIND_NODES = "kind://docker/lakehouse/lakehouse-control-plane"
CLOUD_NODES = "aws:///eu-west-1a/i-0abc\naws:///eu-west-1b/i-0def"


def guard(tmp_path: Path, action: str, overlay: str, nodes: str, auto_approve: str = "0") -> tuple[int, str, list[str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "kubectl").write_text('#!/bin/sh\nprintf "%s\\n" "$FAKE_NODES"\n')
    calls = tmp_path / "terraform.calls"
    (bin_dir / "terraform").write_text(f'#!/bin/sh\necho "$*" >> {calls}\n')
    for tool in ("kubectl", "terraform"):
        (bin_dir / tool).chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "TERRAFORM": str(bin_dir / "terraform"),
        "TF_DIR": "infra/terraform",
        "KUBE_CONTEXT": "some-context",
        "OVERLAY": overlay,
        "AUTO_APPROVE": auto_approve,
        "FAKE_NODES": nodes,
    }
    proc = subprocess.run(
        [str(REPO / "scripts/terraform/deploy.sh"), action, "-var", "overlay=" + overlay],
        env=env,
        stdin=subprocess.DEVNULL,  # no terminal: nobody can answer the prompt
        capture_output=True,
        text=True,
        timeout=60,
    )
    made = calls.read_text().splitlines() if calls.exists() else []
    return proc.returncode, proc.stdout + proc.stderr, made


def test_the_kind_overlay_is_refused_on_a_cluster_that_is_not_kind(tmp_path: Path) -> None:
    rc, out, calls = guard(tmp_path, "apply", "kind", CLOUD_NODES)
    assert rc == 1 and "refusing OVERLAY=kind on context some-context" in out and "OVERLAY=prod" in out
    assert calls == []  # not even a plan


def test_a_real_cluster_is_not_changed_without_approval(tmp_path: Path) -> None:
    rc, out, calls = guard(tmp_path, "apply", "prod", CLOUD_NODES)
    assert rc == 1 and "not applied" in out and "AUTO_APPROVE=1" in out
    assert len(calls) == 1 and calls[0].startswith("-chdir=infra/terraform plan ")  # the plan was shown


def test_auto_approve_applies_exactly_the_plan_shown(tmp_path: Path) -> None:
    rc, out, calls = guard(tmp_path, "apply", "prod", CLOUD_NODES, auto_approve="1")
    assert rc == 0, out
    plan_file = calls[0].split("-out=")[1].split()[0]
    assert calls[1] == f"-chdir=infra/terraform apply -input=false {plan_file}"


def test_a_kind_cluster_is_applied_without_asking_and_destroy_plans_a_destroy(tmp_path: Path) -> None:
    rc, out, calls = guard(tmp_path, "apply", "kind", KIND_NODES)
    assert rc == 0 and "kind cluster: applying without asking" in out, out
    assert [c.split()[1] for c in calls] == ["plan", "apply"]
    (tmp_path / "destroy").mkdir()
    rc, out, calls = guard(tmp_path / "destroy", "destroy", "prod", CLOUD_NODES)
    assert rc == 1 and calls == [calls[0]] and " -destroy " in calls[0]
