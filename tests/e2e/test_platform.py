"""The platform on a real kind cluster, run the way an operator runs it: rows written to the
in-cluster PostgreSQL, the `pipeline/kubernetes` Prefect deployment run by the in-cluster worker
(its flow pod starts Spark driver Jobs on Kubernetes), then every silver table read back through
the in-cluster catalog and MinIO must equal PostgreSQL, and the serving API must answer from the
new data. The fault case deletes the Kafka Connect pod mid-load and a Spark driver pod mid-merge."""

from __future__ import annotations

import base64
import json
import sys
import threading
import time
from datetime import datetime
from decimal import Decimal

import boto3
import botocore.exceptions
import httpx
import psycopg

from tests.e2e.cluster import Platform, settings_from
from tests.e2e.drive import assert_silver_equals_source, converge, prefect_auth, run_deployment, wait_for, workload
from tests.gold_sql import PG_CUSTOMERS


def test_rows_written_in_the_cluster_reach_silver_and_the_serving_api(platform: Platform) -> None:
    with settings_from(platform.settings_env()) as settings:
        started = time.time()
        # A fresh seed per run: a kept cluster (KEEP=1) already holds earlier runs' customers.
        workload(settings, ops=1500, seed=int(started))

        proc = run_deployment(platform, "pipeline/kubernetes")
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
        assert_silver_equals_source(settings)

        # The flow pod ran Spark on Kubernetes: driver Jobs of the Spark image, finished.
        jobs = platform.json("get", "jobs", "-l", "app.kubernetes.io/component=spark-job")["items"]
        assert jobs and all(j["status"].get("succeeded") for j in jobs[-3:]), [j["metadata"]["name"] for j in jobs]

        api = f"http://127.0.0.1:{platform.forward('serving-api', 8000)}"
        with psycopg.connect(settings.source.conninfo()) as conn:
            customers = conn.execute(PG_CUSTOMERS).fetchall()
        assert customers
        for cid, email, n, value, _first, last in customers[:200]:
            body = httpx.get(f"{api}/v1/customers/{cid}", timeout=10).json()
            assert (body["email"], body["orders"], Decimal(body["lifetime_value"])) == (email, n, value), body
            assert (body["last_order_at"] and datetime.fromisoformat(body["last_order_at"])) == last, body
        fresh = httpx.get(f"{api}/v1/freshness", timeout=10).json()
        for t in fresh["tables"]:
            assert datetime.fromisoformat(t["watermark"]).timestamp() >= started, t


def test_security_properties_hold_in_the_running_cluster(platform: Platform) -> None:
    """What the static tests check on the manifests, checked on the cluster after a pipeline run."""
    # Pod Security `restricted` is enforced, and pods made at run time were admitted under it.
    ns = json.loads(platform.kubectl("get", "namespace", "lakehouse", "-o", "json"))
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    drivers = platform.json("get", "pods", "-l", "app.kubernetes.io/component=spark-driver")["items"]
    assert drivers, "no Spark driver pod left to look at (ttlSecondsAfterFinished is an hour)"
    # (Executors are gone with their drivers; had one broken `restricted`, the API server would
    # have refused it and the pipeline run above would have failed.)
    # The connector config holds a reference; the CDC password is nowhere in Connect's answers.
    connect = f"http://127.0.0.1:{platform.forward('kafka-connect', 8083)}"
    answer = httpx.get(f"{connect}/connectors?expand=info", timeout=10).text
    assert "${dir:/etc/kafka-connect/secrets:LAKEHOUSE_SOURCE_CDC_PASSWORD}" in answer, answer[:2000]
    secret = platform.json("get", "secret", "lakehouse-secrets")["data"]["LAKEHOUSE_SOURCE_CDC_PASSWORD"]
    assert base64.b64decode(secret).decode() not in answer
    # The Prefect API refuses a caller without its credentials (the probes' /api/health stays open).
    prefect = f"http://127.0.0.1:{platform.forward('prefect-server', 4200)}/api"
    assert httpx.post(f"{prefect}/deployments/filter", json={}, timeout=10).status_code == 401
    assert httpx.get(f"{prefect}/health", timeout=10).status_code == 200
    user, password = prefect_auth(platform).split(":", 1)
    assert httpx.post(f"{prefect}/deployments/filter", json={}, auth=(user, password), timeout=10).status_code == 200
    # The platform's MinIO key reaches the lake bucket and no other.
    env = platform.settings_env()
    s3 = boto3.client(
        "s3",
        endpoint_url=env["LAKEHOUSE_S3_ENDPOINT"],
        aws_access_key_id=env["LAKEHOUSE_S3_ACCESS_KEY_ID"],
        aws_secret_access_key=env["LAKEHOUSE_S3_SECRET_ACCESS_KEY"],
        region_name="us-east-1",
        verify=env.get("LAKEHOUSE_S3_CA_FILE") or True,
    )
    assert s3.list_objects_v2(Bucket=env["LAKEHOUSE_S3_BUCKET"], MaxKeys=1)["ResponseMetadata"]["HTTPStatusCode"] == 200
    try:
        s3.create_bucket(Bucket=f"not-the-lake-{int(time.time())}")
        raise AssertionError("the platform key could create a bucket beside the lake")
    except botocore.exceptions.ClientError as exc:
        assert exc.response["Error"]["Code"] == "AccessDenied", exc.response
    # The service accounts cannot read Secrets or create bare pods.
    for account in ("prefect-flows", "spark"):
        who = f"system:serviceaccount:lakehouse:{account}"
        for verb, resource in (("get", "secrets"), ("list", "secrets")):
            out = platform.kubectl("auth", "can-i", verb, resource, "--as", who, check=False).strip()
            assert out == "no", f"{account} can {verb} {resource}"
    out = platform.kubectl(
        "auth", "can-i", "create", "pods", "--as", "system:serviceaccount:lakehouse:prefect-flows", check=False
    )
    assert out.strip() == "no", "prefect-flows can create pods"
    # RBAC must let `spark` patch and delete every pod and ConfigMap (Spark names what it makes at
    # run time); the admission policy k8s/base/spark/guard.yaml narrows it to what Spark makes.
    spark = "system:serviceaccount:lakehouse:spark"
    assert platform.kubectl("auth", "can-i", "patch", "configmaps", "--as", spark, check=False).strip() == "yes"
    for argv in (
        ("patch", "configmap", "lakehouse-settings", "-p", '{"data":{"LAKEHOUSE_LOG_LEVEL":"DEBUG"}}'),
        ("delete", "configmap", "lakehouse-settings"),
        ("create", "configmap", "not-sparks", "--from-literal=a=b"),
    ):
        refused = _as_spark(platform, *argv)
        assert "spark-role" in refused, f"spark could {' '.join(argv[:2])}: {refused}"
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "not-an-executor", "labels": {"spark-role": "executor"}},
        "spec": {
            "automountServiceAccountToken": False,
            # passes Pod Security `restricted`, so the refusal below is the policy's
            "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": "c",
                    "image": "lakehouse/spark-jobs",
                    "command": ["true"],
                    "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                }
            ],
            "volumes": [{"name": "s", "secret": {"secretName": "lakehouse-secrets"}}],
        },
    }
    refused = _as_spark(platform, "apply", "-f", "-", stdin=json.dumps(pod))
    assert "may not mount a Secret" in refused, refused
    # API-server egress names the API server's own addresses, read from this cluster at deploy time.
    api = platform.json("get", "service", "kubernetes", "-n", "default")["spec"]["clusterIP"]
    slices = platform.json("get", "endpointslices", "-n", "default", "-l", "kubernetes.io/service-name=kubernetes")
    expected = [api] + [a for s in slices["items"] for e in s.get("endpoints") or [] for a in e["addresses"]]
    every_policy = platform.json("get", "networkpolicy")["items"]
    policies = [p for p in every_policy if p["metadata"]["name"].endswith("-kubernetes-api-egress")]
    assert len(policies) >= 3, [p["metadata"]["name"] for p in policies]
    for policy in policies:
        peers = [p for rule in policy["spec"]["egress"] for p in rule["to"]]
        assert peers == [{"ipBlock": {"cidr": f"{ip}/32"}} for ip in expected], f"{policy['metadata']['name']}: {peers}"


def _as_spark(platform: Platform, *argv: str, stdin: str | None = None) -> str:
    """Run a server-side dry run of `kubectl argv` as the spark service account; return what the
    API server said when it refused (an AssertionError when it accepted)."""
    cmd = [*argv, "--dry-run=server", "--as", "system:serviceaccount:lakehouse:spark"]
    try:
        out = platform.kubectl(*cmd, stdin=stdin)
    except AssertionError as exc:
        return str(exc)
    raise AssertionError(f"the API server accepted `kubectl {' '.join(argv)}` from the spark account: {out}")


def test_connect_and_spark_driver_pods_deleted_mid_flight_lose_nothing(platform: Platform) -> None:
    with settings_from(platform.settings_env()) as settings:
        errors: list[BaseException] = []
        stop = threading.Event()

        def load() -> None:
            seed = int(time.time()) * 1000
            try:
                while not stop.is_set():
                    workload(settings, ops=100, seed=seed)
                    seed += 1
            except BaseException as exc:  # surfaced by the assertion below
                errors.append(exc)

        loader = threading.Thread(target=load, daemon=True)
        loader.start()
        try:
            time.sleep(10)
            old = platform.json("get", "pods", "-l", "app.kubernetes.io/name=kafka-connect")["items"]
            assert old, "no Kafka Connect pod to delete"
            platform.kubectl("delete", "pod", *[p["metadata"]["name"] for p in old], "--wait=false")
            platform.kubectl("rollout", "status", "deployment/kafka-connect", "--timeout=600s", timeout=660)
            time.sleep(20)  # more writes while the new worker resumes the connector from Kafka's offsets

            # A merge run whose Spark driver pod is deleted while it runs.
            before = {
                j["metadata"]["name"]
                for j in platform.json("get", "jobs", "-l", "app.kubernetes.io/component=spark-job")["items"]
            }
            merge = threading.Thread(target=lambda: run_deployment(platform, "cdc-merge/kubernetes"), daemon=True)
            merge.start()

            def running_driver() -> str | None:
                pods = platform.json("get", "pods", "-l", "app.kubernetes.io/component=spark-driver")["items"]
                for p in pods:
                    if p["metadata"]["labels"].get("job-name") not in before and p["status"].get("phase") == "Running":
                        return str(p["metadata"]["name"])
                return None

            driver = wait_for("a running Spark driver pod of the new merge", running_driver)
            time.sleep(15)  # mid-merge: the JVM is up and reading Kafka
            platform.kubectl("delete", "pod", driver, "--wait=false")
            print(f"deleted Spark driver pod {driver}", file=sys.stderr)
            # The load stops soon after: a catch-up merge chasing an endless load never ends.
            time.sleep(30)
        finally:
            stop.set()
            loader.join(timeout=120)
        assert not errors, errors
        merge.join(timeout=2400)

        converge(platform, settings)
        with psycopg.connect(settings.source.conninfo()) as conn:
            counts = {
                t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # type: ignore[index]
                for t in ("shop.orders", "shop.order_items")
            }
        print(f"source after the fault run: {json.dumps(counts)}", file=sys.stderr)
