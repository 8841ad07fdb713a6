"""The work pool's template fixes image and command: no job variable can change them."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from prefect.client.schemas.objects import Flow, FlowRun
from prefect_kubernetes.worker import KubernetesWorkerJobConfiguration

from flows.work_pool import FLOW_RUN_COMMAND, fixed_template, main

pytestmark = pytest.mark.unit
TEMPLATE = Path(__file__).resolve().parents[2] / "k8s/base/prefect/base-job-template.json"


def rendered_pod(template: dict[str, Any], values: dict[str, Any], flow: Flow | None = None) -> dict[str, Any]:
    """The flow-run pod template Prefect's Kubernetes worker would submit for these job variables."""
    config = asyncio.run(KubernetesWorkerJobConfiguration.from_template_and_values(template, values, client=object()))
    config.prepare_for_flow_run(FlowRun(flow_id=uuid.uuid4(), name="pool"), flow=flow)
    return config.job_manifest["spec"]["template"]  # type: ignore[no-any-return]


def rendered_container(template: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """The flow-run container Prefect's Kubernetes worker would submit for these job variables."""
    return rendered_pod(template, values)["spec"]["containers"][0]  # type: ignore[no-any-return]


def test_a_caller_cannot_choose_the_image_or_the_command() -> None:
    template = fixed_template(json.loads(TEMPLATE.read_text()), "lakehouse/flows:0.1.0")
    assert not {"image", "command"} & set(template["variables"]["properties"])
    hostile = {"image": "attacker/miner:latest", "command": "sh -c 'cat /var/run/secrets/*'"}
    container = rendered_container(template, hostile)
    assert container["image"] == "lakehouse/flows:0.1.0"
    assert container["args"] == FLOW_RUN_COMMAND
    # what the template left variable still works
    env = rendered_container(template, {"env": {"LAKEHOUSE_FLOWS_JOB_RUNNER": "kubernetes"}})["env"]
    assert {"name": "LAKEHOUSE_FLOWS_JOB_RUNNER", "value": "kubernetes"} in env


def test_the_unfixed_template_would_have_let_them() -> None:
    # The check above can fail: Prefect's default variables do pass image and command through.
    container = rendered_container(json.loads(TEMPLATE.read_text()), {"image": "attacker/miner:latest"})
    assert container["image"] == "attacker/miner:latest"


def test_the_cli_writes_the_fixed_template_and_refuses_an_empty_image(tmp_path: Path) -> None:
    out = tmp_path / "t.json"
    assert main(["lakehouse/flows:0.1.0", str(TEMPLATE), str(out)]) == 0
    written = json.loads(out.read_text())
    assert written["job_configuration"]["job_manifest"]["spec"]["template"]["spec"]["containers"][0]["image"] == (
        "lakehouse/flows:0.1.0"
    )
    assert main(["", str(TEMPLATE), str(out)]) == 2


def test_flow_run_pods_keep_the_label_their_network_policies_select() -> None:
    # Prefect's worker overwrites app.kubernetes.io/name with the flow's (or deployment's) name on
    # the pods it makes; the policies must select a label it leaves alone (seen on kind under an
    # enforcing CNI: flow runs could reach nothing).
    template = fixed_template(json.loads(TEMPLATE.read_text()), "lakehouse/flows:0.1.0")
    labels = rendered_pod(template, {}, flow=Flow(name="pipeline"))["metadata"]["labels"]
    assert labels["app.kubernetes.io/name"] == "pipeline", "Prefect no longer overwrites the name label?"
    policies = TEMPLATE.parents[1] / "network-policies" / "flow-runs.yaml"
    selector = yaml.safe_load(policies.read_text())["spec"]["podSelector"]["matchLabels"]
    assert selector.items() <= labels.items(), f"{selector} does not select a flow-run pod labelled {labels}"
