"""The kustomize overlays render, validate against the Kubernetes 1.34 schemas, and agree
with the settings module, the versions file and the table registry (docs/kubernetes.md)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from lakehouse.settings import CDC_PASSWORD_FILE, env_var_names
from lakehouse.versions import versions

pytestmark = pytest.mark.static

REPO = Path(__file__).resolve().parents[2]
OVERLAYS = ("kind", "kind-tls", "prod")
K8S_VERSION = "1.34.0"
V = versions()
OUR_IMAGES = {"spark-jobs", "kafka-connect", "connector-config", "flows", "serving-api", "loadgen"}
# Local builds of third-party images (infra/images/<name>, scripts/images/third-party.sh) that the
# kind overlay runs instead of the upstream images, with the tags derived from config/versions.env.
LOCAL_THIRD_PARTY_TAGS = {
    "postgres": f"{V['POSTGRES_MAJOR']}-{V['DEBIAN_RELEASE']}",
    "kafka": V["KAFKA_VERSION"],
    "minio": V["MINIO_VERSION"],
}
# The upstream image each stands in for; the Prefect server runs from lakehouse/flows in kind.
UPSTREAM_OF = {"postgres": "postgres", "apache/kafka": "kafka", "minio/minio": "minio", "prefecthq/prefect": "flows"}
# What Terraform puts into Secret lakehouse-secrets (docs/kubernetes.md, "The secrets contract").
SECRET_KEYS = {
    "LAKEHOUSE_SOURCE_PASSWORD",
    "LAKEHOUSE_SOURCE_CDC_PASSWORD",
    "LAKEHOUSE_CATALOG_PASSWORD",
    "LAKEHOUSE_S3_ACCESS_KEY_ID",
    "LAKEHOUSE_S3_SECRET_ACCESS_KEY",
    "LAKEHOUSE_BACKUP_ACCESS_KEY_ID",
    "LAKEHOUSE_BACKUP_SECRET_ACCESS_KEY",
    "PLATFORM_DB_SUPERUSER_PASSWORD",
    "PREFECT_DB_PASSWORD",
    "PREFECT_API_DATABASE_CONNECTION_URL",
    "LAKEHOUSE_SERVING_PASSWORD",
    "LAKEHOUSE_SERVING_READER_PASSWORD",
    "POSTGRES_SUPERUSER_PASSWORD",
    "MINIO_ROOT_USER",
    "MINIO_ROOT_PASSWORD",
    "PREFECT_API_AUTH_STRING",
    "SOURCE_READER_PASSWORD",
}
KIND_MEMORY_BUDGET = 8 * 1024**3
SETTING_NAME = re.compile(r"\bLAKEHOUSE_[A-Z0-9_]*[A-Z0-9]\b")


def render(overlay: str) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.fail("kubectl is not installed: run `make setup` (it installs kubectl; `make test` runs it first)")
    proc = subprocess.run(
        [kubectl, "kustomize", "--load-restrictor", "LoadRestrictionsNone", str(REPO / "k8s" / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, f"k8s/overlays/{overlay} does not render:\n{proc.stderr}"
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]]]:
    return request.param, render(request.param)


def name_of(obj: dict[str, Any]) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


def pod_specs(objs: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any], int]]:
    """(workload, pod spec, replicas) of every object that runs pods, and of the PodTemplates
    pods are made from at run time (0 replicas: they run only while a job does)."""
    for obj in objs:
        if obj["kind"] in {"Deployment", "StatefulSet", "Job"}:
            replicas = obj["spec"].get("replicas", 1) if obj["kind"] != "Job" else 1
            yield obj, obj["spec"]["template"]["spec"], replicas
        elif obj["kind"] == "CronJob":
            yield obj, obj["spec"]["jobTemplate"]["spec"]["template"]["spec"], 1
        elif obj["kind"] == "PodTemplate":
            yield obj, obj["template"]["spec"], 0


def driver_pod_template(objs: list[dict[str, Any]]) -> dict[str, Any]:
    """The `template` of PodTemplate spark-driver, as flows/kubernetes_jobs.py reads it."""
    return find(objs, "PodTemplate", "spark-driver")["template"]  # type: ignore[no-any-return]


def executor_pod(objs: list[dict[str, Any]]) -> dict[str, Any]:
    """The executors' pod template file, as the driver pod mounts it."""
    cm = find(objs, "ConfigMap", "lakehouse-spark-executor-template")
    return yaml.safe_load(cm["data"]["executor-pod.yaml"])  # type: ignore[no-any-return]


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*spec.get("initContainers", []), *spec["containers"]]


def find(objs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    matches = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind}/{name}, found {len(matches)}"
    return matches[0]


def generated(objs: list[dict[str, Any]], prefix: str) -> list[dict[str, Any]]:
    """ConfigMaps of a configMapGenerator whose names carry the content hash after `prefix`-."""
    return [o for o in objs if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith(prefix + "-")]


def memory_bytes(quantity: str) -> int:
    units = {"Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGT]i?|k)?", str(quantity))
    assert m, f"unparsable memory quantity {quantity!r}"
    return int(float(m.group(1)) * units.get(m.group(2) or "", 1))


def test_every_object_validates_against_the_kubernetes_schemas(overlay: tuple[str, list[dict[str, Any]]]) -> None:
    name, objs = overlay
    errors = []
    for obj in objs:
        try:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{name_of(obj)}: {'.'.join(str(p) for p in exc.path)}: {exc.message}")
    assert not errors, f"overlay {name}: objects invalid for Kubernetes {K8S_VERSION}:\n" + "\n".join(errors)


def test_every_lakehouse_variable_is_a_setting(overlay: tuple[str, list[dict[str, Any]]]) -> None:
    name, objs = overlay
    used: dict[str, str] = {}
    for obj in objs:
        if obj["kind"] == "ConfigMap":
            for key, value in (obj.get("data") or {}).items():
                if key.startswith("LAKEHOUSE_"):
                    used.setdefault(key, name_of(obj))
                for var in SETTING_NAME.findall(value):  # e.g. the Prefect base job template
                    used.setdefault(var, name_of(obj))
    for workload, spec, _ in pod_specs(objs):
        for c in containers(spec):
            for env in c.get("env", []):
                if env["name"].startswith("LAKEHOUSE_"):
                    used.setdefault(env["name"], name_of(workload))
                ref = env.get("valueFrom", {}).get("secretKeyRef") or env.get("valueFrom", {}).get("configMapKeyRef")
                if ref and ref["key"].startswith("LAKEHOUSE_"):
                    used.setdefault(ref["key"], name_of(workload))
            for arg in [*c.get("command", []), *c.get("args", [])]:
                for var in SETTING_NAME.findall(arg):
                    used.setdefault(var, name_of(workload))
    # The CDC password is a Secret key but no setting: the Connect worker reads it as a file.
    unknown = {var: where for var, where in used.items() if var not in {*env_var_names(), CDC_PASSWORD_FILE}}
    assert not unknown, f"overlay {name}: variables lib/lakehouse/settings.py does not read: {unknown}"


def test_settings_configmap_holds_no_secret_and_names_the_registry_mount(
    overlay: tuple[str, list[dict[str, Any]]],
) -> None:
    _, objs = overlay
    data = find(objs, "ConfigMap", "lakehouse-settings")["data"]
    assert not set(data) & SECRET_KEYS, "secrets belong in lakehouse-secrets, not in the settings ConfigMap"
    assert data["LAKEHOUSE_REGISTRY_PATH"] == "/etc/lakehouse/registry/tables.yaml"
    assert data["LAKEHOUSE_FLOWS_JOB_RUNNER"] == "kubernetes"
    assert data["LAKEHOUSE_MERGE_SPARK_MASTER"] == "k8s://https://kubernetes.default.svc"
    assert data["LAKEHOUSE_MERGE_SPARK_JARS_DIR"] == "/opt/lakehouse/jars"


def image_refs(objs: list[dict[str, Any]]) -> Iterator[tuple[str, str]]:
    """(where, image) for every container image and every value that names an image."""
    for workload, spec, _ in pod_specs(objs):
        for c in containers(spec):
            yield f"{name_of(workload)} container {c['name']}", c["image"]
            for env in c.get("env", []):
                if env.get("value", "").startswith("lakehouse/"):
                    yield f"{name_of(workload)} env {env['name']}", env["value"]
    for obj in objs:
        if obj["kind"] == "ConfigMap":
            for key, value in (obj.get("data") or {}).items():
                if value.startswith("lakehouse/"):
                    yield f"{name_of(obj)} {key}", value


def test_image_rewrites_touch_only_image_values(overlay: tuple[str, list[dict[str, Any]]]) -> None:
    # The images: entries rewrite configured value fields too (base/image-fields.yaml). An env
    # value that merely equals an image's name (PGHOST=postgres) must stay what it was.
    _, objs = overlay
    images = {ref.rsplit(":", 1)[0] for _, ref in image_refs(objs)}
    for obj, spec, _ in pod_specs(objs):
        for c in containers(spec):
            for env in c.get("env", []):
                value = env.get("value")
                if isinstance(value, str) and ":" in value and value.rsplit(":", 1)[0] in images:
                    assert env["name"].endswith("IMAGE"), f"{name_of(obj)}: env {env['name']}={value} was rewritten"
    init = find(objs, "Job", "postgres-init")
    assert {e["name"]: e.get("value") for e in containers(init["spec"]["template"]["spec"])[0]["env"]}[
        "PGHOST"
    ] == "postgres"


def test_images_carry_the_pinned_versions(overlay: tuple[str, list[dict[str, Any]]]) -> None:
    name, objs = overlay
    refs = list(image_refs(objs))
    ours = {ref.split(":")[0].removeprefix("lakehouse/") for _, ref in refs if ref.startswith("lakehouse/")}
    ours -= set(LOCAL_THIRD_PARTY_TAGS)
    assert ours >= OUR_IMAGES - {"loadgen"}, f"overlay {name}: images never used: {OUR_IMAGES - ours}"
    for where, ref in refs:
        repo, _, tag = ref.rpartition(":")
        if repo.startswith("lakehouse/") and repo.removeprefix("lakehouse/") in LOCAL_THIRD_PARTY_TAGS:
            expected = LOCAL_THIRD_PARTY_TAGS[repo.removeprefix("lakehouse/")]
            assert tag == expected, f"{where}: {ref} is not tagged {expected} (from config/versions.env)"
        elif repo.startswith("lakehouse/"):
            assert repo.removeprefix("lakehouse/") in OUR_IMAGES, f"{where}: unknown image {ref}"
            assert tag == V["IMAGE_TAG"], f"{where}: {ref} is not tagged IMAGE_TAG={V['IMAGE_TAG']}"
        elif repo == "apache/kafka":
            assert tag == V["KAFKA_VERSION"], f"{where}: {ref} is not KAFKA_VERSION={V['KAFKA_VERSION']}"
        elif repo == "postgres":
            assert tag.startswith(f"{V['POSTGRES_MAJOR']}."), f"{where}: {ref} is not PostgreSQL {V['POSTGRES_MAJOR']}"
        else:
            assert repo, f"{where}: image {ref} has no tag"
            assert tag not in {"", "latest"}, f"{where}: image {ref} is not pinned to a version"
    for where, ref in refs:
        if ref.startswith("prefecthq/prefect:"):
            prefect_pin = re.search(r"^prefect==(\S+)", (REPO / "requirements.in").read_text(), re.M)
            assert prefect_pin and ref.split(":")[1].startswith(prefect_pin.group(1) + "-"), (
                f"{where}: {ref} differs from the prefect version of requirements.in"
            )


def test_no_secret_is_rendered(overlay: tuple[str, list[dict[str, Any]]]) -> None:
    name, objs = overlay
    secrets = [name_of(o) for o in objs if o["kind"] == "Secret"]
    assert not secrets, f"overlay {name} renders {secrets}: secrets are created by Terraform, manifests refer to them"


def test_secret_references_follow_the_contract(overlay: tuple[str, list[dict[str, Any]]]) -> None:
    _, objs = overlay
    for workload, spec, _ in pod_specs(objs):
        for c in containers(spec):
            for src in c.get("envFrom", []):
                if "secretRef" in src:
                    assert src["secretRef"]["name"] == "lakehouse-secrets", name_of(workload)
            for env in c.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["name"] == "lakehouse-secrets", f"{name_of(workload)}: secret {ref['name']}"
                    assert ref["key"] in SECRET_KEYS, f"{name_of(workload)}: key {ref['key']} is not in the contract"
    api = find(objs, "Deployment", "serving-api")["spec"]["template"]["spec"]["containers"][0]
    assert not any("secretRef" in src for src in api.get("envFrom", [])), "serving-api must not get every secret"
    keys = {e["valueFrom"]["secretKeyRef"]["key"] for e in api["env"] if "secretKeyRef" in e.get("valueFrom", {})}
    assert keys == {"LAKEHOUSE_SERVING_READER_PASSWORD"}, f"serving-api gets secrets {keys}"


def test_registry_configmaps_equal_the_one_registry(overlay: tuple[str, list[dict[str, Any]]]) -> None:
    _, objs = overlay
    registry = (REPO / "config" / "tables.yaml").read_text()
    stable = find(objs, "ConfigMap", "lakehouse-registry")
    assert stable["data"] == {"tables.yaml": registry}
    hashed = generated(objs, "connector-config-registry")
    assert len(hashed) == 1 and hashed[0]["data"] == {"tables.yaml": registry}
    job = find(objs, "Job", "connector-config")["spec"]["template"]["spec"]
    assert {"name": "registry", "configMap": {"name": hashed[0]["metadata"]["name"]}} in job["volumes"], (
        "the connector-config Job must mount the hash-named registry copy, so it re-runs when the registry changes"
    )


def test_postgres_init_applies_the_committed_sql(overlay: tuple[str, list[dict[str, Any]]]) -> None:
    _, objs = overlay
    init = generated(objs, "postgres-init")
    assert len(init) == 1
    data = init[0]["data"]
    sql = REPO / "config" / "sql"
    assert data["10-shop-schema.sql"] == (sql / "10-shop-schema.sql").read_text()
    assert data["20-cdc-grants.sql"] == (sql / "20-cdc-grants.sql").read_text()
    assert data["30-source-reader-grants.sql"] == (sql / "30-source-reader-grants.sql").read_text()
    platform = generated(objs, "lakehouse-db-init")
    assert len(platform) == 1
    serving = platform[0]["data"]["serving-10-serving-store.sql"]
    assert serving == (sql / "serving" / "10-serving-store.sql").read_text()


def test_pods_run_as_non_root(overlay: tuple[str, list[dict[str, Any]]]) -> None:
    name, objs = overlay
    for workload, spec, _ in pod_specs(objs):
        pod_sc = spec.get("securityContext", {})
        for c in containers(spec):
            sc = {**pod_sc, **c.get("securityContext", {})}
            where = f"overlay {name}: {name_of(workload)} container {c['name']}"
            assert sc.get("runAsNonRoot") is True and sc.get("runAsUser", 0) != 0, f"{where} may run as root"
            assert sc.get("allowPrivilegeEscalation") is False, f"{where} allows privilege escalation"
            assert sc.get("capabilities", {}).get("drop") == ["ALL"], f"{where} keeps capabilities"
            if c["image"].split(":")[0].removeprefix("lakehouse/") in OUR_IMAGES:
                assert sc["runAsUser"] == 10001, f"{where}: our images run as uid 10001"


# Requests and limits of every container in both overlays: test_deploy_consistency.py.


def test_kind_runs_only_local_builds_and_prod_the_upstream_images() -> None:
    """Nothing can be pulled where kind runs (docs/images.md): every image of the kind overlay
    is a lakehouse/* build, each third-party one in place of its upstream image; prod keeps those."""

    def images_by_workload(overlay: str) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for workload, spec, _ in pod_specs(render(overlay)):
            for c in containers(spec):
                found.setdefault(name_of(workload), set()).add(c["image"])
        return found

    kind, prod = images_by_workload("kind"), images_by_workload("prod")
    kind_refs = {ref for refs in kind.values() for ref in refs}
    assert all(ref.startswith("lakehouse/") for ref in kind_refs), (
        f"kind runs images no registry here serves: {sorted(r for r in kind_refs if not r.startswith('lakehouse/'))}"
    )
    for upstream, local in UPSTREAM_OF.items():
        users = [w for w, refs in prod.items() if any(r.split(":")[0] == upstream for r in refs)]
        assert users, f"prod no longer runs {upstream}: update UPSTREAM_OF"
        for workload in users:
            assert any(r.split(":")[0] == f"lakehouse/{local}" for r in kind[workload]), (
                f"kind: {workload} does not run lakehouse/{local} in place of {upstream}"
            )
    server = find(render("kind"), "Deployment", "prefect-server")["spec"]["template"]["spec"]["containers"][0]
    assert server["args"][:3] == ["prefect", "server", "start"], (
        "lakehouse/flows' entrypoint runs `prefect ...` as given only when the args start with the program"
    )


def test_kind_fits_in_8_gib() -> None:
    total = 0
    for workload, spec, replicas in pod_specs(render("kind")):
        for c in containers(spec):
            limit = c.get("resources", {}).get("limits", {}).get("memory")
            assert limit, f"kind: {name_of(workload)} container {c['name']} has no memory limit"
            total += replicas * memory_bytes(limit)
    assert total <= KIND_MEMORY_BUDGET, f"kind: memory limits add up to {total / 1024**3:.2f} GiB (> 8 GiB)"


def cpu_millis(quantity: str) -> int:
    return int(quantity[:-1]) if quantity.endswith("m") else int(float(quantity) * 1000)


def test_spark_driver_memory_fits_its_limit(overlay: tuple[str, list[dict[str, Any]]]) -> None:
    # The driver pod holds the JVM (heap = LAKEHOUSE_MERGE_DRIVER_MEMORY, plus Spark's usual
    # overhead of max(384 MiB, 10%)) and the Python driver process (~512 MiB with pyarrow).
    name, objs = overlay
    heap_setting = find(objs, "ConfigMap", "lakehouse-settings")["data"]["LAKEHOUSE_MERGE_DRIVER_MEMORY"]
    heap = memory_bytes(heap_setting.replace("g", "Gi").replace("m", "Mi"))
    need = heap + max(384 * 1024**2, heap // 10) + 512 * 1024**2
    limit = memory_bytes(driver_pod_template(objs)["spec"]["containers"][0]["resources"]["limits"]["memory"])
    assert need <= limit, (
        f"overlay {name}: driver heap {heap_setting} + overhead + Python = {need / 1024**3:.2f} GiB "
        f"> its limit {limit / 1024**3:.2f} GiB (PodTemplate spark-driver)"
    )


def test_kind_cpu_requests_leave_room_for_a_pipeline_run() -> None:
    # A kind node here has 2 CPUs; kubeadm's control plane and CoreDNS request ~850m. A pipeline run
    # adds a flow-run pod, a Spark driver Job and an executor: all must schedule at once.
    objs = render("kind")
    platform = sum(
        replicas * cpu_millis(c["resources"]["requests"]["cpu"])
        for w, spec, replicas in pod_specs(objs)
        if w["kind"] in ("Deployment", "StatefulSet")
        for c in containers(spec)
    )
    template = json.loads(generated(objs, "prefect-base-job-template")[0]["data"]["base-job-template.json"])
    flow_run = cpu_millis(template["variables"]["properties"]["cpu_request"].get("default") or "0")
    settings_cm = find(objs, "ConfigMap", "lakehouse-settings")["data"]
    driver = cpu_millis(driver_pod_template(objs)["spec"]["containers"][0]["resources"]["requests"]["cpu"])
    executor = cpu_millis(settings_cm["LAKEHOUSE_MERGE_EXECUTOR_REQUEST_CORES"])
    total = 850 + platform + flow_run + driver + executor
    assert total <= 2000, (
        f"kind: CPU requests {total}m > 2000m (platform {platform}m, flow run {flow_run}m, "
        f"driver {driver}m, executor {executor}m)"
    )


def test_kind_runs_single_replicas_with_claims_of_the_default_class() -> None:
    """Data that outlives its pod (the fault drill restarts PostgreSQL, Kafka and MinIO), from
    claims with no class named, so the default binds them: local-path on stock and offline kind."""
    objs = render("kind")
    assert all(replicas == 1 for w, _, replicas in pod_specs(objs) if w["kind"] != "PodTemplate")
    stateful = {o["metadata"]["name"]: o for o in objs if o["kind"] == "StatefulSet"}
    assert set(stateful) == {"postgres", "lakehouse-db", "kafka", "minio"}
    claims = [o["spec"] for o in objs if o["kind"] == "PersistentVolumeClaim"]
    for name, sts in stateful.items():
        templates = sts["spec"].get("volumeClaimTemplates") or []
        assert [t["metadata"]["name"] for t in templates] == ["data"], name
        claims += [t["spec"] for t in templates]
        volumes = {v["name"]: v for v in sts["spec"]["template"]["spec"].get("volumes", [])}
        assert "data" not in volumes, f"{name}: a pod volume named data would shadow the claim"
    assert len(claims) == 4, claims  # one per StatefulSet (Prefect's state is in lakehouse-db)
    assert not [c for c in claims if c.get("storageClassName")], "kind claims name no class: the default binds them"


def test_prod_has_budgets_autoscaling_and_spread() -> None:
    objs = render("prod")
    pdbs = {
        o["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"]
        for o in objs
        if o["kind"] == "PodDisruptionBudget"
    }
    autoscaled = {o["spec"]["scaleTargetRef"]["name"]: o for o in objs if o["kind"] == "HorizontalPodAutoscaler"}
    replicated = {
        o["metadata"]["name"]
        for o in objs
        if o["kind"] in {"Deployment", "StatefulSet"}
        and (
            o["spec"].get("replicas", 1) > 1
            or autoscaled.get(o["metadata"]["name"], {}).get("spec", {}).get("minReplicas", 1) > 1
        )
    }
    assert replicated >= {"serving-api", "kafka-connect", "kafka", "prefect-worker"}
    # an autoscaled workload has no fixed count: every apply would reset what the autoscaler chose
    fixed = [n for n in autoscaled if "replicas" in find(objs, "Deployment", n)["spec"]]
    assert not fixed, f"prod: {fixed} set spec.replicas although an autoscaler owns it"
    assert replicated <= pdbs, f"replicated workloads without a PodDisruptionBudget: {replicated - pdbs}"
    for wl in replicated:
        kind = "StatefulSet" if wl == "kafka" else "Deployment"
        assert "podAntiAffinity" in find(objs, kind, wl)["spec"]["template"]["spec"].get("affinity", {}), wl
    hpa = find(objs, "HorizontalPodAutoscaler", "serving-api")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "serving-api"
    voters = {
        e["name"]: e["value"]
        for e in find(objs, "StatefulSet", "kafka")["spec"]["template"]["spec"]["containers"][0]["env"]
        if "value" in e
    }["KAFKA_CONTROLLER_QUORUM_VOTERS"]
    assert len(voters.split(",")) == 3


def test_network_policies_deny_by_default(overlay: tuple[str, list[dict[str, Any]]]) -> None:
    name, objs = overlay
    policies = [o for o in objs if o["kind"] == "NetworkPolicy"]
    deny = [
        p
        for p in policies
        if p["spec"]["podSelector"] == {}
        and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
        and not p["spec"].get("ingress")
        and not p["spec"].get("egress")
    ]
    assert deny, f"overlay {name}: no default-deny NetworkPolicy"
    assert all(p["metadata"].get("namespace") == "lakehouse" for p in policies)
    dns = [p for p in policies if p["spec"]["podSelector"] == {} and p["spec"].get("egress")]
    assert any({"protocol": "UDP", "port": 53} in rule.get("ports", []) for p in dns for rule in p["spec"]["egress"])


def test_everything_lives_in_namespace_lakehouse(overlay: tuple[str, list[dict[str, Any]]]) -> None:
    _, objs = overlay
    stray = [name_of(o) for o in objs if o["kind"] != "Namespace" and o["metadata"].get("namespace") != "lakehouse"]
    assert not stray


def test_prefect_flow_runs_get_settings_and_registry(overlay: tuple[str, list[dict[str, Any]]]) -> None:
    _, objs = overlay
    cm = generated(objs, "prefect-base-job-template")
    assert len(cm) == 1
    template = json.loads(cm[0]["data"]["base-job-template.json"])
    pod = template["job_configuration"]["job_manifest"]["spec"]["template"]
    c = pod["spec"]["containers"][0]
    assert {"configMapRef": {"name": "lakehouse-settings"}} in c["envFrom"]
    # its secret keys by name (tests/static/test_secret_access.py), never the whole Secret
    assert not [src for src in c["envFrom"] if "secretRef" in src]
    assert {"name": "registry", "configMap": {"name": "lakehouse-registry"}} in pod["spec"]["volumes"]
    # Prefect's worker overwrites app.kubernetes.io/name on the pods it makes; NetworkPolicies
    # select flow-run pods by component, which it leaves alone.
    assert pod["metadata"]["labels"]["app.kubernetes.io/component"] == "prefect-flow-run"
    variables = template["variables"]["properties"]
    assert variables["namespace"]["default"] == "lakehouse"
    assert variables["service_account_name"]["default"] == "prefect-flows"


def test_the_kubernetes_worker_accepts_the_base_job_template() -> None:
    # The worker validates the resolved template against its own required paths when it submits
    # a run (a missing one crashes every flow run at submission, as the first kind deploy showed).
    from prefect.utilities.templating import apply_values
    from prefect_kubernetes.worker import KubernetesWorkerJobConfiguration

    template = json.loads((REPO / "k8s" / "base" / "prefect" / "base-job-template.json").read_text())
    values = {k: v.get("default") for k, v in template["variables"]["properties"].items()}
    values.update(
        annotations={}, labels={}, name="run", command="prefect flow-run execute", env={}, image="lakehouse/flows:0.1.0"
    )
    KubernetesWorkerJobConfiguration(**apply_values(template["job_configuration"], values))


def test_skaffold_builds_our_images_and_deploys_the_overlays() -> None:
    config = yaml.safe_load((REPO / "skaffold.yaml").read_text())
    assert config["apiVersion"].startswith("skaffold/v4beta")
    artifacts = {a["image"]: a for a in config["build"]["artifacts"]}
    assert set(artifacts) == {f"lakehouse/{name}" for name in OUR_IMAGES}
    for image, artifact in artifacts.items():
        assert artifact["docker"]["dockerfile"] == f"services/{image.removeprefix('lakehouse/')}/Dockerfile"
    assert config["build"]["tagPolicy"] == {"envTemplate": {"template": "{{.IMAGE_TAG}}"}}
    kustomize = config["manifests"]["kustomize"]
    assert kustomize["paths"] == ["k8s/overlays/kind"]
    assert kustomize["buildArgs"] == ["--load-restrictor", "LoadRestrictionsNone"]
    profiles = {p["name"]: p for p in config["profiles"]}
    assert set(profiles) == set(OVERLAYS)
    assert {"op": "replace", "path": "/manifests/kustomize/paths/0", "value": "k8s/overlays/prod"} in profiles["prod"][
        "patches"
    ]
    assert "kubectl" in config["deploy"]


def test_the_spark_account_is_narrowed_by_admission_policies(overlay: tuple[str, list[dict[str, Any]]]) -> None:
    """RBAC lets `spark` patch and delete every pod and ConfigMap; k8s/base/spark/guard.yaml must
    bind, for that account in the platform's namespace, both policies that narrow it."""
    name, objs = overlay
    policies = {o["metadata"]["name"]: o for o in objs if o["kind"] == "ValidatingAdmissionPolicy"}
    bindings = {o["spec"]["policyName"]: o for o in objs if o["kind"] == "ValidatingAdmissionPolicyBinding"}
    wanted = {"lakehouse-spark-makes-only-spark-objects", "lakehouse-spark-pods-carry-no-secrets"}
    assert wanted <= set(policies), f"overlay {name}: policies {sorted(policies)}"
    subjects = find(objs, "RoleBinding", "spark-driver")["subjects"]
    assert [(s["kind"], s["name"]) for s in subjects] == [("ServiceAccount", "spark")], subjects
    tf_main = (REPO / "infra" / "terraform" / "main.tf").read_text()
    for policy in wanted:
        conditions = [c["expression"] for c in policies[policy]["spec"]["matchConditions"]]
        assert conditions == ["request.userInfo.username == 'system:serviceaccount:' + request.namespace + ':spark'"]
        binding = bindings[policy]
        assert binding["spec"]["validationActions"] == ["Deny"], policy
        labels = binding["spec"]["matchResources"]["namespaceSelector"]["matchLabels"]
        for key, value in labels.items():
            assert f'"{key}"' in tf_main and f'"{value}"' in tf_main, (
                f"{policy}: Terraform does not label the namespace {key}={value}, so the policy binds nowhere"
            )
