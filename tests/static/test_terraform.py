"""infra/terraform: conventions, pins that match config/versions.env, and a real offline validate.

The validate tests run scripts/terraform/providers.sh (what `make setup-deploy` runs): with
the provider mirror cached it only checks (about a second); on a machine without it, it
builds the pinned providers from their Go modules first (a few minutes, once per machine).
"""

import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from lakehouse.versions import versions

try:  # python-hcl2 parses the .tf files; the terraform runs below do not need it.
    import hcl2
except ImportError:  # pragma: no cover - until requirements.lock carries it
    hcl2 = None

pytestmark = pytest.mark.static

REPO = Path(__file__).resolve().parents[2]
TF_ROOT = REPO / "infra" / "terraform"
PROVIDERS_SH = REPO / "scripts" / "terraform" / "providers.sh"
OVERLAY_SH = REPO / "scripts" / "terraform" / "overlay.sh"
V = versions()

# Variables whose every value is acceptable, so they need no validation block. Empty: every
# variable of the root module constrains its values.
FREE_FORM_VARIABLES: set[str] = set()


def _unquote(value: Any) -> Any:
    """python-hcl2 keeps the quotes of strings and block labels; strip them, recursively."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    if isinstance(value, dict):
        return {_unquote(k): _unquote(v) for k, v in value.items() if not str(k).startswith("__")}
    if isinstance(value, list):
        return [_unquote(v) for v in value]
    return value


def _parse(tf: Path) -> dict[str, Any]:
    if hcl2 is None:
        pytest.skip("python-hcl2 is not installed: it is in requirements.in; run make lock && make setup")
    with tf.open() as handle:
        return _unquote(hcl2.load(handle))


def _modules() -> list[Path]:
    """The root module and every submodule (a directory with .tf files)."""
    return sorted({p.parent for p in TF_ROOT.rglob("*.tf") if ".terraform" not in p.parts})


def _blocks(module: Path, kind: str) -> dict[str, dict[str, Any]]:
    """Labelled blocks of one kind (variable, output) across a module's files: name -> body."""
    found: dict[str, dict[str, Any]] = {}
    for tf in sorted(module.glob("*.tf")):
        for block in _parse(tf).get(kind, []):
            for name, body in block.items():
                assert name not in found, f"{kind} {name} is declared twice in {module}"
                found[name] = body
    return found


def _locals(module: Path) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for tf in sorted(module.glob("*.tf")):
        for block in _parse(tf).get("locals", []):
            merged.update(block)
    return merged


def _terraform_block(module: Path) -> dict[str, Any]:
    blocks = _parse(module / "versions.tf").get("terraform", [])
    assert len(blocks) == 1, f"{module}/versions.tf must hold exactly one terraform block"
    return blocks[0]


@pytest.mark.parametrize("module", _modules(), ids=lambda p: str(p.relative_to(REPO)))
def test_module_has_the_conventional_files(module: Path) -> None:
    missing = [f for f in ("versions.tf", "variables.tf", "outputs.tf", "README.md") if not (module / f).is_file()]
    assert not missing, f"{module.relative_to(REPO)} lacks {missing} (module conventions: docs/terraform.md)"


@pytest.mark.parametrize("module", _modules(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_variable_is_typed_described_and_validated(module: Path) -> None:
    variables = _blocks(module, "variable")
    assert variables, f"no variables in {module}"
    for name, body in variables.items():
        assert "type" in body, f"variable {name} in {module.relative_to(REPO)} has no type"
        assert str(body.get("description", "")).strip(), f"variable {name} has no description"
        if name not in FREE_FORM_VARIABLES:
            assert body.get("validation"), f"variable {name} has no validation block (or list it as free-form)"
            for validation in body["validation"]:
                assert str(validation.get("error_message", "")).strip(), f"variable {name}: validation without message"


def test_the_overlay_variable_accepts_exactly_the_overlays() -> None:
    overlay = _blocks(TF_ROOT, "variable")["overlay"]
    condition = overlay["validation"][0]["condition"]
    allowed = set(re.findall(r'"([a-z0-9-]+)"', condition))
    assert allowed == {"kind", "kind-tls", "prod"}, condition
    overlays_dir = REPO / "k8s" / "overlays"
    if overlays_dir.is_dir():
        present = {p.name for p in overlays_dir.iterdir() if p.is_dir()}
        assert allowed <= present, f"overlay validation allows {allowed - present}, absent from k8s/overlays/"


@pytest.mark.parametrize("module", _modules(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_output_is_described(module: Path) -> None:
    outputs = _blocks(module, "output")
    assert outputs, f"no outputs in {module}"
    for name, body in outputs.items():
        assert str(body.get("description", "")).strip(), f"output {name} in {module.relative_to(REPO)}: no description"


def test_pins_match_the_versions_file() -> None:
    block = _terraform_block(TF_ROOT)
    assert block["required_version"] == f"~> {V['TERRAFORM_VERSION']}", (
        "required_version must be '~> TERRAFORM_VERSION' of config/versions.env"
    )
    required = {name: spec for entry in block["required_providers"] for name, spec in entry.items()}
    pinned = {
        key.removeprefix("TF_PROVIDER_").removesuffix("_VERSION").lower(): value
        for key, value in V.items()
        if key.startswith("TF_PROVIDER_") and key.endswith("_VERSION")
    }
    assert set(required) == set(pinned), (
        f"versions.tf requires {sorted(required)}, config/versions.env pins {sorted(pinned)}: make them the same"
    )
    for name, spec in required.items():
        assert spec["source"] == f"hashicorp/{name}", f"{name}: the mirror holds hashicorp/* only"
        assert spec["version"] == f"= {pinned[name]}", (
            f"provider {name} must be pinned exactly to TF_PROVIDER_{name.upper()}_VERSION={pinned[name]}"
        )


def test_submodules_pin_the_same_provider_versions() -> None:
    root = {n: s for e in _terraform_block(TF_ROOT)["required_providers"] for n, s in e.items()}
    for module in _modules()[1:]:
        for entry in _terraform_block(module).get("required_providers", []):
            for name, spec in entry.items():
                assert spec == root.get(name), f"{module.relative_to(REPO)} pins {name} differently from the root"


def _secret_keys() -> set[str]:
    local = _locals(TF_ROOT)
    return (
        set(local["generated_secrets"])
        | set(local["fixed_secrets"])
        | set(local["composed_secrets"])
        | set(local["secret_aliases"])
    )


def test_the_secret_has_the_contracted_keys() -> None:
    contracted = {
        "LAKEHOUSE_SOURCE_PASSWORD",
        "LAKEHOUSE_SOURCE_CDC_PASSWORD",
        "LAKEHOUSE_CATALOG_PASSWORD",
        "LAKEHOUSE_S3_ACCESS_KEY_ID",
        "LAKEHOUSE_S3_SECRET_ACCESS_KEY",
        "LAKEHOUSE_SERVING_PASSWORD",
        "LAKEHOUSE_SERVING_READER_PASSWORD",
        "POSTGRES_SUPERUSER_PASSWORD",
        "MINIO_ROOT_USER",
        "MINIO_ROOT_PASSWORD",
        "PREFECT_API_AUTH_STRING",
        "SOURCE_READER_PASSWORD",
    }
    assert _locals(TF_ROOT)["secret_name"] == "lakehouse-secrets"
    assert contracted <= _secret_keys(), f"missing from lakehouse-secrets: {contracted - _secret_keys()}"
    for alias, key in _locals(TF_ROOT)["secret_aliases"].items():
        assert key in _locals(TF_ROOT)["generated_secrets"], f"alias {alias} points at {key}, which is not generated"


# ---- the overlays, rendered the way a deploy renders them ----


def _overlays() -> list[str]:
    overlays_dir = REPO / "k8s" / "overlays"
    if not overlays_dir.is_dir():
        return []
    return sorted(p.name for p in overlays_dir.iterdir() if (p / "kustomization.yaml").is_file())


def _render(env: dict[str, str]) -> list[dict[str, Any]]:
    """The documents overlay.sh renders for a deploy with these settings."""
    if shutil.which("kubectl") is None:
        pytest.fail("kubectl is not installed: run `make setup` (it installs kubectl; `make test` runs it first)")
    done = subprocess.run([str(OVERLAY_SH), "render"], env={**os.environ, **env}, capture_output=True, text=True)
    assert done.returncode == 0, f"overlay.sh render failed:\n{done.stderr}"
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def _secret_refs(node: Any) -> set[str]:
    """Keys of lakehouse-secrets read through secretKeyRef anywhere below node."""
    found: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("secretKeyRef")
        if isinstance(ref, dict) and ref.get("name") == "lakehouse-secrets":
            found.add(ref["key"])
        for value in node.values():
            found |= _secret_refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= _secret_refs(value)
    return found


@pytest.mark.parametrize("overlay", _overlays())
def test_every_secret_key_the_overlay_reads_exists(overlay: str) -> None:
    docs = _render({"OVERLAY": overlay})
    keys = _secret_refs(docs)
    assert keys, f"overlay {overlay} reads no key of lakehouse-secrets?"
    assert keys <= _secret_keys(), f"overlay {overlay} reads keys Terraform does not create: {keys - _secret_keys()}"
    owned = [d for d in docs if d["kind"] == "Secret" and d["metadata"]["name"] == "lakehouse-secrets"]
    assert not owned, "the Secret lakehouse-secrets belongs to Terraform, not to the overlay"


@pytest.mark.parametrize("overlay", _overlays())
def test_output_services_exist_in_the_overlay(overlay: str) -> None:
    services = {
        d["metadata"]["name"]: {int(p["port"]) for p in d["spec"].get("ports", [])}
        for d in _render({"OVERLAY": overlay})
        if d["kind"] == "Service"
    }
    for key, svc in _locals(TF_ROOT)["services"].items():
        assert svc["service"] in services, f"output endpoint {key}: no Service {svc['service']} in overlay {overlay}"
        assert int(svc["port"]) in services[svc["service"]], (
            f"output endpoint {key}: Service {svc['service']} has ports {services[svc['service']]}, not {svc['port']}"
        )


FIXTURE = {
    "base/kustomization.yaml": "resources: [all.yaml]\n",
    "base/all.yaml": """\
apiVersion: v1
kind: Namespace
metadata: {name: lakehouse}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: serving-api, namespace: lakehouse}
spec:
  replicas: 1
  selector: {matchLabels: {app: serving-api}}
  template:
    metadata: {labels: {app: serving-api}}
    spec:
      containers: [{name: api, image: "lakehouse/serving-api:0.0.1"}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: postgres, namespace: lakehouse}
spec:
  serviceName: postgres
  selector: {matchLabels: {app: postgres}}
  template:
    metadata: {labels: {app: postgres}}
    spec:
      containers: [{name: postgres, image: postgres}]
  volumeClaimTemplates:
    - metadata: {name: data}
      spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
""",
    "overlays/kind/kustomization.yaml": "resources: [../../base]\n",
}


def test_overlay_render_applies_the_deploy_settings(tmp_path: Path) -> None:
    for name, text in FIXTURE.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    docs = _render(
        {
            "K8S_OVERLAYS_DIR": str(tmp_path / "overlays"),
            "OVERLAY": "kind",
            "NAMESPACE": "lh-test",
            "IMAGE_REGISTRY": "registry.example.com:5000/data",
            "IMAGE_TAG": "1.2.3",
            "SERVING_API_REPLICAS": "3",
            "POSTGRES_STORAGE_GI": "7",
        }
    )
    by_name = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    api = by_name[("Deployment", "serving-api")]
    assert api["spec"]["replicas"] == 3
    assert (
        api["spec"]["template"]["spec"]["containers"][0]["image"]
        == "registry.example.com:5000/data/lakehouse/serving-api:1.2.3"
    )
    postgres = by_name[("StatefulSet", "postgres")]
    assert postgres["spec"]["template"]["spec"]["containers"][0]["image"] == "postgres", "third-party images stay"
    assert postgres["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "7Gi"
    assert {d["metadata"].get("namespace") for d in docs} == {"lh-test"}
    assert "Namespace" not in {d["kind"] for d in docs}, "the Namespace belongs to Terraform"


def test_serving_api_replicas_become_the_autoscalers_floor_where_there_is_one(tmp_path: Path) -> None:
    docs = _render({"OVERLAY": "prod", "NAMESPACE": "lakehouse", "SERVING_API_REPLICAS": "12"})
    by_name = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    hpa = by_name[("HorizontalPodAutoscaler", "serving-api")]
    assert hpa["spec"]["minReplicas"] == 12 and hpa["spec"]["maxReplicas"] == 12
    assert "replicas" not in by_name[("Deployment", "serving-api")]["spec"]


@pytest.mark.parametrize("overlay", _overlays())
def test_api_server_egress_is_limited_to_the_api_servers_addresses(overlay: str) -> None:
    """On apply overlay.sh reads these from the cluster; every API-egress rule then names only them."""
    cidrs = ["10.96.0.1/32", "172.18.0.2/32"]
    docs = _render({"OVERLAY": overlay, "SERVING_API_REPLICAS": "2", "KUBERNETES_API_CIDRS": ",".join(cidrs)})
    api_policies = [
        d for d in docs if d["kind"] == "NetworkPolicy" and d["metadata"]["name"].endswith("-kubernetes-api-egress")
    ]
    assert len(api_policies) >= 2, f"overlay {overlay}: the API-egress NetworkPolicies are missing"
    for policy in api_policies:
        peers = [peer for rule in policy["spec"]["egress"] for peer in rule.get("to", [])]
        assert peers == [{"ipBlock": {"cidr": c}} for c in cidrs], f"{policy['metadata']['name']}: {peers}"
    everywhere = [
        (d["metadata"]["name"], peer["ipBlock"]["cidr"])
        for d in docs
        if d["kind"] == "NetworkPolicy"
        for rule in d["spec"].get("egress", [])
        for peer in rule.get("to", [])
        if peer.get("ipBlock", {}).get("cidr") in {"0.0.0.0/0", "::/0"}
    ]
    assert not everywhere, f"overlay {overlay}: egress to any address remains in {everywhere}"


def test_overlay_render_defaults_to_local_images_and_the_pinned_tag(tmp_path: Path) -> None:
    for name, text in FIXTURE.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    docs = _render({"K8S_OVERLAYS_DIR": str(tmp_path / "overlays"), "OVERLAY": "kind", "IMAGE_TAG": ""})
    api = next(d for d in docs if d["kind"] == "Deployment")
    assert api["spec"]["template"]["spec"]["containers"][0]["image"] == f"lakehouse/serving-api:{V['IMAGE_TAG']}"


# ---- terraform itself, offline ----


@pytest.fixture(scope="session")
def terraform(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, str]]:
    """The pinned terraform and an environment that uses the offline provider mirror."""
    if shutil.which("go") is None and not _mirror_ready():
        pytest.skip("the Terraform provider mirror is missing and Go is not installed: run make setup-deploy")
    done = subprocess.run([str(PROVIDERS_SH)], capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, f"scripts/terraform/providers.sh (make setup-deploy):\n{done.stdout}{done.stderr}"
    printed = subprocess.run([str(PROVIDERS_SH), "--print-env"], capture_output=True, text=True, check=True).stdout
    env_vars = dict(line.split("=", 1) for line in printed.split())
    env = {
        **os.environ,
        "TF_CLI_CONFIG_FILE": env_vars["TF_CLI_CONFIG_FILE"],
        "TF_DATA_DIR": str(tmp_path_factory.mktemp("tf-data")),
        "TF_IN_AUTOMATION": "1",
        "CHECKPOINT_DISABLE": "1",
    }
    return env_vars["TERRAFORM"], env


def _mirror_ready() -> bool:
    from lakehouse.settings import StackSettings

    cache = StackSettings().cache_dir / "terraform"
    return (cache / "terraformrc").is_file()


def _tf(terraform: tuple[str, dict[str, str]], *args: str) -> subprocess.CompletedProcess[str]:
    binary, env = terraform
    return subprocess.run([binary, f"-chdir={TF_ROOT}", *args], env=env, capture_output=True, text=True, timeout=600)


def test_terraform_init_and_validate_offline(terraform: tuple[str, dict[str, str]]) -> None:
    # providers.sh wrote the lock file from the mirror: init must agree with it as it is.
    init = _tf(terraform, "init", "-backend=false", "-input=false", "-no-color", "-lockfile=readonly")
    assert init.returncode == 0, f"terraform init from the mirror failed:\n{init.stdout}{init.stderr}"
    validate = _tf(terraform, "validate", "-no-color")
    assert validate.returncode == 0, f"terraform validate:\n{validate.stdout}{validate.stderr}"


def test_terraform_is_formatted(terraform: tuple[str, dict[str, str]]) -> None:
    fmt = _tf(terraform, "fmt", "-check", "-recursive", "-diff", "-no-color")
    assert fmt.returncode == 0, f"run: terraform fmt -recursive infra/terraform\n{fmt.stdout}{fmt.stderr}"


# ---- terraform plan: evaluates every expression and validation, without a cluster ----
# The provider is pointed at a kubeconfig whose server is a closed loopback port: planning
# resources that do not exist yet (no refresh) never contacts it.

FAKE_KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: [{name: none, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: none, user: {token: none}}]
contexts: [{name: kind-lakehouse, context: {cluster: none, user: none}}]
current-context: kind-lakehouse
"""


Planner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="session")
def planner(terraform: tuple[str, dict[str, str]], tmp_path_factory: pytest.TempPathFactory) -> Planner:
    binary, env = terraform
    tmp = tmp_path_factory.mktemp("tf-plan")
    (tmp / "kubeconfig").write_text(FAKE_KUBECONFIG)
    plan_env = {**env, "TF_DATA_DIR": str(tmp / "data")}
    init = subprocess.run(
        [
            binary,
            f"-chdir={TF_ROOT}",
            "init",
            "-input=false",
            "-no-color",
            "-lockfile=readonly",
            f"-backend-config=path={tmp / 'state.tfstate'}",
        ],
        env=plan_env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert init.returncode == 0, init.stdout + init.stderr

    def plan(*var_args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                binary,
                f"-chdir={TF_ROOT}",
                "plan",
                "-refresh=false",
                "-lock=false",
                "-input=false",
                "-no-color",
                "-var",
                "kube_context=kind-lakehouse",
                "-var",
                f"kubeconfig_path={tmp / 'kubeconfig'}",
                *var_args,
            ],
            env=plan_env,
            capture_output=True,
            text=True,
            timeout=600,
        )

    return plan


@pytest.mark.parametrize(
    "var_args",
    [
        (),
        (
            "-var",
            "overlay=prod",
            "-var",
            "namespace=lh-prod",
            "-var",
            "image_registry=registry.example.com:5000/data",
            "-var",
            "image_tag=1.2.3",
            "-var",
            "sizes={postgres_storage_gi=50, kafka_storage_gi=20}",
            "-var",
            "serving_api_replicas=3",
            "-var",
            "rollout_timeout=15m",
        ),
    ],
    ids=["defaults", "prod-settings"],
)
def test_terraform_plans_without_a_cluster(planner: Planner, var_args: tuple[str, ...]) -> None:
    done = planner(*var_args)
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"^Plan: \d+ to add, 0 to change, 0 to destroy\.", done.stdout, re.M), done.stdout
    assert "lakehouse-secrets" in done.stdout


@pytest.mark.parametrize(
    "var_args",
    [
        ("-var", "overlay=dev"),
        ("-var", "namespace=Not_A_Label"),
        ("-var", "image_registry=registry.example.com/"),
        ("-var", "image_tag=-bad"),
        ("-var", "sizes={kafka_storage_gi=0.5}"),
        ("-var", "serving_api_replicas=0"),
        ("-var", "rollout_timeout=10"),
    ],
    ids=lambda a: a[1].split("=")[0],
)
def test_terraform_rejects_bad_values(planner: Planner, var_args: tuple[str, ...]) -> None:
    done = planner(*var_args)
    assert done.returncode != 0 and "Invalid value for variable" in done.stderr, done.stdout + done.stderr
