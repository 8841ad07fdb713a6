"""Pure logic of the flows: result summaries and the Spark driver Job manifest."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from flows.cdc_merge_flow import summarize
from flows.kubernetes_jobs import job_manifest
from flows.limits import merge_limit_name

pytestmark = pytest.mark.unit
REPO = Path(__file__).resolve().parents[2]


def _batch(table: str, start: int, end: int, changes: int, lag: int, dead: int = 0) -> dict:
    return {
        "table": table,
        "start": {0: start},
        "end": {0: end},
        "records": end - start,
        "changes": changes,
        "deletes": 1,
        "bronze_appended": changes,
        "dead_lettered": {"bad": dead} if dead else {},
        "lag": lag,
        "schema_changes": [],
        "seconds": 1.5,
    }


def test_summary_adds_batches_per_table_and_keeps_the_last_offsets() -> None:
    rows = summarize(
        [
            _batch("shop.orders", 0, 10, 9, 5),
            _batch("shop.customers", 0, 3, 3, 0),
            _batch("shop.orders", 10, 15, 4, 0, dead=1),
        ]
    )
    orders = next(r for r in rows if r["table"] == "shop.orders")
    assert (orders["batches"], orders["records"], orders["changes_merged"], orders["dead_lettered"]) == (2, 15, 13, 1)
    assert orders["start_offsets"] == {0: 0} and orders["end_offsets"] == {0: 15} and orders["lag"] == 0
    assert orders["seconds"] == 3.0
    assert [r["table"] for r in rows] == ["shop.orders", "shop.customers"]


def test_each_table_has_its_own_limit() -> None:
    assert merge_limit_name("shop.orders") != merge_limit_name("shop.order_items")


def driver_template() -> dict[str, Any]:
    """PodTemplate spark-driver's `template`, as committed (overlays may patch it)."""
    docs = yaml.safe_load_all((REPO / "k8s/base/spark/pod-templates.yaml").read_text())
    return next(d for d in docs if d and d["kind"] == "PodTemplate")["template"]  # type: ignore[no-any-return]


def test_driver_job_takes_settings_from_the_shared_configmap_and_only_its_secret_keys() -> None:
    template = driver_template()
    job = job_manifest(
        template, "lakehouse/spark-jobs:0.1.0", ["lakehouse-merge", "catch-up", "--output", "json"], "merge-1"
    )
    assert template == driver_template()  # the template itself is not changed
    pod = job["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"] == "lakehouse/spark-jobs:0.1.0"
    assert container["args"] == ["lakehouse-merge", "catch-up", "--output", "json"]
    assert {"configMapRef": {"name": "lakehouse-settings"}} in container["envFrom"]
    assert not [e for e in container["envFrom"] if "secretRef" in e]  # never the whole Secret
    secrets = {
        e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "secretKeyRef" in e.get("valueFrom", {})
    }
    assert secrets == {
        key: {"name": "lakehouse-secrets", "key": key}
        for key in ("LAKEHOUSE_CATALOG_PASSWORD", "LAKEHOUSE_S3_ACCESS_KEY_ID", "LAKEHOUSE_S3_SECRET_ACCESS_KEY")
    }
    assert not [e for e in container["env"] if "value" in e and "PASSWORD" in e["name"]]  # no value inline
    assert pod["serviceAccountName"] == "spark" and pod["restartPolicy"] == "Never"
    assert (
        job["metadata"]["name"] == "merge-1" and job["spec"]["template"]["metadata"]["labels"]["job-name"] == "merge-1"
    )
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert job["spec"]["backoffLimit"] >= 1  # a deleted driver pod is replaced
    # Executors are owned by the driver pod (spark.kubernetes.driver.pod.name): none outlives it.
    pod_name = next(e for e in container["env"] if e["name"] == "LAKEHOUSE_MERGE_DRIVER_POD_NAME")
    assert pod_name["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}


def test_each_job_gets_the_secret_keys_of_the_settings_areas_it_loads() -> None:
    from flows.jobs import JobFailed

    def keys(argv: list[str]) -> set[str]:
        env = job_manifest(driver_template(), "img", argv, "j")["spec"]["template"]["spec"]["containers"][0]["env"]
        return {e["name"] for e in env if "secretKeyRef" in e.get("valueFrom", {})}

    gold = keys(["lakehouse-gold", "run"])
    assert {"LAKEHOUSE_SERVING_PASSWORD", "LAKEHOUSE_CATALOG_PASSWORD"} <= gold
    assert keys(["lakehouse-maintain", "run"]) == keys(["lakehouse-merge", "catch-up"])
    for argv in (["lakehouse-gold", "run"], ["lakehouse-merge", "catch-up"], ["lakehouse-maintain", "run"]):
        # nobody gets the source owner's, the CDC role's or an admin's credentials
        assert not keys(argv) & {
            "LAKEHOUSE_SOURCE_PASSWORD",
            "LAKEHOUSE_SOURCE_CDC_PASSWORD",
            "POSTGRES_SUPERUSER_PASSWORD",
            "MINIO_ROOT_PASSWORD",
        }
    with pytest.raises(JobFailed, match="lakehouse-unknown is not a batch job"):
        job_manifest(driver_template(), "img", ["lakehouse-unknown"], "j")


def test_the_result_is_the_last_json_line_not_a_spark_progress_line() -> None:
    from flows.jobs import JobFailed, last_json_result

    log = "\n".join(
        [
            "starting",
            '[{"table": "shop.orders", "lag": 0}]',
            "[Stage 138:>                          (0 + 1) / 2][Stage 138:=====>      (1 + 1) / 2]",
            "26/11/23 18:44:15 WARN AdminClientConfig: ...",
            "",
        ]
    )
    assert last_json_result(log, "merge") == [{"table": "shop.orders", "lag": 0}]
    assert last_json_result('{"a": 1}\n{"b": 2}\n', "x") == {"b": 2}
    with pytest.raises(JobFailed, match="merge printed no JSON result"):
        last_json_result("[Stage 1:> (0 + 1) / 2]\n42\n", "merge")
