"""What `make deploy` and skaffold ship agrees with itself (issue 7, points 4 and 5): every
container is sized and probed, no image floats, image names and tags are the same in
skaffold.yaml, the rendered overlays, Terraform, the image scripts and config/versions.env,
and every port and address in the manifests points at a Service that serves it.
No cluster, no Docker: the overlays are rendered with test_k8s_manifests.render."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.static.test_k8s_manifests import (
    OUR_IMAGES,
    OVERLAYS,
    REPO,
    V,
    containers,
    find,
    image_refs,
    name_of,
    pod_specs,
    render,
)

pytestmark = pytest.mark.static

LONG_RUNNING = {"Deployment", "StatefulSet"}
Objs = list[dict[str, Any]]


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest) -> tuple[str, Objs]:
    return request.param, render(request.param)


def skaffold() -> dict[str, Any]:
    return yaml.safe_load((REPO / "skaffold.yaml").read_text())


def all_containers(objs: Objs) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    for workload, spec, _ in pod_specs(objs):
        for c in containers(spec):
            yield f"{name_of(workload)} container {c['name']}", workload, c


# ---- sizing, probes -------------------------------------------------------------------------


def test_every_container_has_cpu_and_memory_requests_and_limits(rendered: tuple[str, Objs]) -> None:
    overlay, objs = rendered
    missing = []
    for where, _, c in all_containers(objs):  # init containers and Jobs included
        res = c.get("resources", {})
        for kind in ("requests", "limits"):
            lacking = {"cpu", "memory"} - set(res.get(kind, {}))
            if lacking:
                missing.append(f"{where}: no {kind} for {sorted(lacking)}")
    assert not missing, f"overlay {overlay}:\n" + "\n".join(missing)


def test_long_running_containers_have_readiness_and_liveness_probes(rendered: tuple[str, Objs]) -> None:
    overlay, objs = rendered
    missing = []
    for workload, spec, _ in pod_specs(objs):
        if workload["kind"] not in LONG_RUNNING:
            continue
        for c in spec["containers"]:  # init containers run to completion: no probes
            for probe in ("readinessProbe", "livenessProbe"):
                if not c.get(probe):
                    missing.append(f"{name_of(workload)} container {c['name']}: no {probe}")
    assert not missing, f"overlay {overlay}:\n" + "\n".join(missing)


def test_probes_use_declared_ports(rendered: tuple[str, Objs]) -> None:
    overlay, objs = rendered
    for where, _, c in all_containers(objs):
        names = {p["name"] for p in c.get("ports", []) if "name" in p}
        numbers = {p["containerPort"] for p in c.get("ports", [])}
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            action = c.get(probe, {}).get("httpGet") or c.get(probe, {}).get("tcpSocket")
            if action:
                port = action["port"]
                assert port in (names if isinstance(port, str) else numbers), (
                    f"overlay {overlay}: {where}: {probe} probes port {port!r}, not one of {names | numbers}"
                )


# ---- images ---------------------------------------------------------------------------------


def split_ref(ref: str) -> tuple[str, str]:
    """(repository, tag); tag "" when the reference has none (a registry port is no tag)."""
    name, _, tag = ref.rpartition(":")
    if not name or "/" in tag:
        return ref, ""
    return name, tag


def test_no_image_is_untagged_or_latest(rendered: tuple[str, Objs]) -> None:
    overlay, objs = rendered
    bad = [
        f"{where}: {ref}"
        for where, ref in image_refs(objs)
        if "@sha256:" not in ref and split_ref(ref)[1] in {"", "latest"}
    ]
    assert not bad, f"overlay {overlay}: images without a pinned tag:\n" + "\n".join(bad)


# Non-root, no privilege escalation, capabilities dropped: test_k8s_manifests.test_pods_run_as_non_root
# (every container, ours with uid 10001).


def script_images() -> list[str]:
    common = (REPO / "scripts" / "images" / "common.sh").read_text()
    m = re.search(r"^IMAGES=\(([^)]*)\)", common, re.M)
    assert m, "scripts/images/common.sh no longer lists IMAGES=(...)"
    prefix = re.search(r'^IMAGE_PREFIX="\$\{IMAGE_PREFIX:-([^}]*)\}"', common, re.M)
    assert prefix and prefix.group(1) == "lakehouse", "scripts/images tags images other than lakehouse/<name>"
    assert re.search(r'^image_ref\(\) \{ echo "\$IMAGE_PREFIX/\$1:\$IMAGE_TAG"; \}', common, re.M), (
        "scripts/images/common.sh image_ref no longer tags lakehouse/<name>:$IMAGE_TAG"
    )
    return m.group(1).split()


def test_image_names_agree_across_skaffold_manifests_scripts_and_dockerfiles() -> None:
    names = set(script_images())
    dockerfiles = {p.parent.name for p in (REPO / "services").glob("*/Dockerfile")}
    artifacts = {a["image"].removeprefix("lakehouse/") for a in skaffold()["build"]["artifacts"]}
    kustomization = yaml.safe_load((REPO / "k8s" / "base" / "kustomization.yaml").read_text())
    pinned = {
        i["name"].removeprefix("lakehouse/"): i["newTag"]
        for i in kustomization["images"]
        if i["name"].startswith("lakehouse/")
    }
    assert names == dockerfiles == artifacts == set(pinned) == OUR_IMAGES, (
        f"scripts/images {sorted(names)}, services/*/Dockerfile {sorted(dockerfiles)}, "
        f"skaffold {sorted(artifacts)}, k8s/base/kustomization.yaml {sorted(pinned)}, tests {sorted(OUR_IMAGES)}"
    )
    assert set(pinned.values()) == {V["IMAGE_TAG"]}, (
        f"k8s/base/kustomization.yaml tags {pinned}, config/versions.env says IMAGE_TAG={V['IMAGE_TAG']}"
    )


def test_skaffold_rewrites_the_image_names_in_configmaps_as_it_rewrites_image_fields() -> None:
    """`skaffold run --default-repo=...` must give flow-run pods, drivers and executors the image it
    pushed, like every `image:` field. Skaffold rewrites a ConfigMap value only where
    `resourceSelector.allow` names its navpath ('.data.<key>', pkg/skaffold/kubernetes/manifest/
    images.go); those must be exactly the fields kustomize rewrites (k8s/base/image-fields.yaml),
    in every profile, and each such value in every overlay must name a skaffold artifact, so the
    replacer matches it. (Skaffold itself is not served by the Go module proxy here.)"""
    fields = yaml.safe_load((REPO / "k8s" / "base" / "image-fields.yaml").read_text())["images"]
    keys = {f["path"].removeprefix("data/") for f in fields if f["kind"] == "ConfigMap"}
    assert keys, "k8s/base/image-fields.yaml names no ConfigMap field"
    config = skaffold()
    allowed = [a for a in config.get("resourceSelector", {}).get("allow", []) if a["groupKind"] == "ConfigMap"]
    assert len(allowed) == 1, "skaffold.yaml: one resourceSelector.allow entry for groupKind ConfigMap"
    assert set(allowed[0]["image"]) == {f".data.{k}" for k in keys}, (
        f"skaffold.yaml rewrites {sorted(allowed[0]['image'])}; image-fields.yaml has {sorted(keys)}"
    )
    assert not allowed[0].get("labels"), "skaffold must not add labels to ConfigMaps"
    for profile in config["profiles"]:
        assert "resourceSelector" not in profile, f"profile {profile['name']} replaces the resourceSelector"
        for op in profile.get("patches", []):
            assert not op["path"].startswith("/resourceSelector"), f"profile {profile['name']} patches it"
    artifacts = {a["image"] for a in config["build"]["artifacts"]}
    for overlay in OVERLAYS:
        for cm in (o for o in render(overlay) if o["kind"] == "ConfigMap"):
            for key in keys & set(cm.get("data", {})):
                name = cm["data"][key].rsplit(":", 1)[0]
                assert name in artifacts, f"overlay {overlay}: {name_of(cm)} {key}={cm['data'][key]} is no artifact"


def test_image_tag_agrees_across_skaffold_terraform_and_the_makefile() -> None:
    config = skaffold()
    assert config["build"]["tagPolicy"] == {"envTemplate": {"template": "{{.IMAGE_TAG}}"}}, (
        "skaffold must tag with IMAGE_TAG of config/versions.env"
    )
    for artifact in config["build"]["artifacts"]:
        assert ":" not in artifact["image"], f"skaffold artifact {artifact['image']} carries its own tag"
    tf = REPO / "infra" / "terraform"
    variables = (tf / "variables.tf").read_text()
    tag_var = re.search(r'variable "image_tag" \{(.*?)\n\}', variables, re.S)
    registry_var = re.search(r'variable "image_registry" \{(.*?)\n\}', variables, re.S)
    assert tag_var and re.search(r"^\s*default\s*=\s*null\s*$", tag_var.group(1), re.M), (
        "infra/terraform: image_tag must default to null (= IMAGE_TAG of config/versions.env), not a literal"
    )
    assert registry_var and re.search(r'^\s*default\s*=\s*""\s*$', registry_var.group(1), re.M), (
        'infra/terraform: image_registry must default to "" (the local lakehouse/* names)'
    )
    main = (tf / "main.tf").read_text()
    assert 'file("${local.repo_root}/config/versions.env")' in main
    assert 'coalesce(var.image_tag, regex("(?m)^IMAGE_TAG=(\\\\S+)$", local.versions_env)[0])' in main, (
        "infra/terraform/main.tf no longer takes the default image tag from IMAGE_TAG of config/versions.env"
    )
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^include config/versions\.env$", makefile, re.M)
    assert re.search(r"^images:.*\n\t@?scripts/images/build\.sh\b", makefile, re.M), (
        "make images no longer builds with scripts/images/build.sh"
    )
    assert not re.search(r"^IMAGE_TAG\s*[:?]?=", makefile, re.M), "the Makefile must not set its own IMAGE_TAG"


def dockerfile_args(dockerfile: Path) -> dict[str, str | None]:
    """ARG name -> default (None: no default) of a Dockerfile."""
    args: dict[str, str | None] = {}
    for name, eq, default in re.findall(r"^ARG ([A-Za-z0-9_]+)(=?)(\S*)", dockerfile.read_text(), re.M):
        if eq or name not in args:  # a later bare `ARG X` (inside a stage) keeps the global default
            args[name] = default if eq else args.get(name)
    return args


def test_skaffold_passes_every_build_arg_without_a_default() -> None:
    for artifact in skaffold()["build"]["artifacts"]:
        dockerfile = REPO / artifact["docker"]["dockerfile"]
        given = artifact["docker"].get("buildArgs", {})
        needed = {name for name, default in dockerfile_args(dockerfile).items() if default is None}
        assert needed <= set(given), f"skaffold {artifact['image']} lacks build args {sorted(needed - set(given))}"
        for name, value in given.items():
            if name in V:
                assert value == f"{{{{.{name}}}}}", (
                    f"skaffold {artifact['image']}: {name} must come from config/versions.env ({{{{.{name}}}}})"
                )
        assert given.get("BASE_IMAGE", "").endswith(f'"{dockerfile_args(dockerfile)["BASE_IMAGE"]}" .BASE_IMAGE}}}}'), (
            f"skaffold {artifact['image']}: BASE_IMAGE must default to the Dockerfile's default"
        )


def test_skaffold_structure() -> None:
    config = skaffold()
    assert config["apiVersion"] == "skaffold/v4beta11" and config["kind"] == "Config"
    for artifact in config["build"]["artifacts"]:
        # The Dockerfiles need the repository root (docs/deploy.md); .dockerignore trims it.
        assert artifact["context"] == ".", artifact["image"]
        assert (REPO / artifact["docker"]["dockerfile"]).is_file(), artifact["image"]
    assert config["build"]["local"]["push"] is False
    assert config["manifests"]["kustomize"]["paths"] == ["k8s/overlays/kind"], "the default deploy is the kind overlay"
    prod = {p["name"]: p for p in config["profiles"]}["prod"]
    assert {"op": "replace", "path": "/build/local/push", "value": True} in prod["patches"]
    assert {"op": "replace", "path": "/manifests/kustomize/paths/0", "value": "k8s/overlays/prod"} in prod["patches"]
    for patch in prod["patches"]:  # every patched path exists in the base config
        node: Any = config
        for part in patch["path"].strip("/").split("/"):
            if part == "-" and isinstance(node, list):  # JSON Patch's "append to this list"
                break
            node = node[int(part)] if isinstance(node, list) else node[part]


def test_skaffold_port_forwards_reach_the_prefect_ui_and_the_api(rendered: tuple[str, Objs]) -> None:
    overlay, objs = rendered
    forwards = {(f["resourceType"], f["resourceName"]): f for f in skaffold()["portForward"]}
    assert set(forwards) == {("service", "prefect-server"), ("service", "serving-api")}
    for (_, service), forward in forwards.items():
        ports = {p["port"] for p in find(objs, "Service", service)["spec"]["ports"]}
        assert forward["namespace"] == "lakehouse"
        assert forward["port"] in ports, f"overlay {overlay}: Service {service} has no port {forward['port']}"
    assert forwards[("service", "prefect-server")]["localPort"] == 4200
    assert forwards[("service", "serving-api")]["localPort"] == 8000


def test_skaffold_deploy_hook_deletes_exactly_the_one_shot_jobs(rendered: tuple[str, Objs]) -> None:
    overlay, objs = rendered
    hook = " ".join(skaffold()["deploy"]["kubectl"]["hooks"]["before"][0]["host"]["command"])
    label = re.search(r"-l ([\w./-]+)=(\S+)", hook)
    assert label, "the skaffold deploy hook no longer deletes Jobs by label"
    jobs = {o["metadata"]["name"] for o in objs if o["kind"] == "Job"}
    labelled = {
        o["metadata"]["name"]
        for o in objs
        if o["kind"] == "Job" and o["metadata"].get("labels", {}).get(label.group(1)) == label.group(2)
    }
    assert labelled == jobs, f"overlay {overlay}: Jobs skaffold would not re-run: {jobs - labelled}"


# ---- ports and addresses --------------------------------------------------------------------


def pods_of(objs: Objs, selector: dict[str, str]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [
        (w, spec)
        for w, spec, _ in pod_specs(objs)
        if w["kind"] in LONG_RUNNING and selector.items() <= w["spec"]["template"]["metadata"].get("labels", {}).items()
    ]


def test_service_target_ports_are_container_ports(rendered: tuple[str, Objs]) -> None:
    overlay, objs = rendered
    for svc in (o for o in objs if o["kind"] == "Service"):
        pods = pods_of(objs, svc["spec"]["selector"])
        assert pods, f"overlay {overlay}: Service {svc['metadata']['name']} selects no workload"
        for workload, spec in pods:
            declared = [p for c in spec["containers"] for p in c.get("ports", [])]
            for port in svc["spec"]["ports"]:
                target = port.get("targetPort", port["port"])
                match = [p for p in declared if target in (p.get("name"), p["containerPort"])]
                assert match, (
                    f"overlay {overlay}: Service {svc['metadata']['name']} port {port['port']} targets "
                    f"{target!r}, which {name_of(workload)} does not declare"
                )


def service_ports(objs: Objs) -> dict[str, set[int]]:
    return {o["metadata"]["name"]: {p["port"] for p in o["spec"]["ports"]} for o in objs if o["kind"] == "Service"}


def service_host(host: str) -> str:
    """The Service of an in-cluster host name: svc, svc.lakehouse, svc.lakehouse.svc[.cluster.local]."""
    parts = host.split(".")
    assert len(parts) == 1 or parts[1] == "lakehouse", f"{host} is outside namespace lakehouse"
    return parts[0]


def addresses(objs: Objs) -> Iterator[tuple[str, str, int]]:
    """(where, host, port) of every in-cluster address the settings and env vars name."""
    settings = find(objs, "ConfigMap", "lakehouse-settings")["data"]
    for server in settings["LAKEHOUSE_KAFKA_BOOTSTRAP_SERVERS"].split(","):
        host, _, port = server.strip().rpartition(":")
        yield "LAKEHOUSE_KAFKA_BOOTSTRAP_SERVERS", host, int(port)
    for key in ("LAKEHOUSE_CONNECT_URL", "LAKEHOUSE_S3_ENDPOINT"):
        url = urlsplit(settings[key])
        assert url.hostname and url.port, f"{key}={settings[key]} names no host and port"
        yield key, url.hostname, url.port
    for prefix in ("CATALOG", "SOURCE", "SERVING"):
        host, port = settings[f"LAKEHOUSE_{prefix}_HOST"], settings[f"LAKEHOUSE_{prefix}_PORT"]
        yield f"LAKEHOUSE_{prefix}_HOST/PORT", host, int(port)
    for where, _, c in all_containers(objs):
        for env in c.get("env", []):
            value = env.get("value", "")
            url = urlsplit(value) if re.match(r"^https?://", value) else None
            if url and url.hostname and not url.hostname.startswith("kubernetes"):
                yield f"{where} env {env['name']}", url.hostname, url.port or (443 if url.scheme == "https" else 80)


def test_addresses_in_settings_and_env_point_at_services(rendered: tuple[str, Objs]) -> None:
    overlay, objs = rendered
    services = service_ports(objs)
    seen = set()
    for where, host, port in addresses(objs):
        svc = service_host(host)
        seen.add(where)
        assert svc in services, f"overlay {overlay}: {where} names host {host}, which is no Service"
        assert port in services[svc], f"overlay {overlay}: {where}: Service {svc} serves {services[svc]}, not {port}"
    assert any(" env PREFECT_API_URL" in w for w in seen), "no container names the Prefect API any more?"


def test_serving_api_listens_where_its_service_points(rendered: tuple[str, Objs]) -> None:
    overlay, objs = rendered
    settings = find(objs, "ConfigMap", "lakehouse-settings")["data"]
    api = find(objs, "Deployment", "serving-api")["spec"]["template"]["spec"]["containers"][0]
    port = int(settings["LAKEHOUSE_SERVING_API_PORT"])
    assert port in {p["containerPort"] for p in api["ports"]}, (
        f"overlay {overlay}: LAKEHOUSE_SERVING_API_PORT={port} is not a container port of serving-api"
    )


# ---- env var references ---------------------------------------------------------------------


def test_config_map_references_resolve(rendered: tuple[str, Objs]) -> None:
    """envFrom and configMapKeyRef name ConfigMaps (and keys) the overlay renders, so every
    LAKEHOUSE_* variable test_every_lakehouse_variable_is_a_setting sees actually reaches a pod."""
    overlay, objs = rendered
    maps = {o["metadata"]["name"]: o.get("data") or {} for o in objs if o["kind"] == "ConfigMap"}
    for where, _, c in all_containers(objs):
        for src in c.get("envFrom", []):
            if "configMapRef" in src:
                assert src["configMapRef"]["name"] in maps, f"overlay {overlay}: {where}: no {src['configMapRef']}"
        for env in c.get("env", []):
            ref = env.get("valueFrom", {}).get("configMapKeyRef")
            if ref and not ref.get("optional"):
                assert ref["key"] in maps.get(ref["name"], {}), (
                    f"overlay {overlay}: {where}: {env['name']} refers to missing {ref['name']}/{ref['key']}"
                )
