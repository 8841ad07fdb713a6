"""The fault drill on kind: while changes are written and a merge runs, one component fails:
the Kafka broker pod killed, the source PostgreSQL's pod restarted, the platform PostgreSQL's
pod (catalog, serving store, Prefect) restarted, MinIO's pod restarted, a Spark executor pod
killed, a merge Job held past its timeout. After each, the pipeline is run until it completes,
and then every silver table equals PostgreSQL, no bronze table or the dead letters hold a Kafka
record twice, and no Spark pod is left running.

The data stores keep their data across restarts because the kind overlay's claims are bound by
local-path-provisioner (infra/kind/addons/local-path/)."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

import httpx
import pytest

from tests.e2e.cluster import Platform, settings_from
from tests.e2e.drive import assert_bronze_holds_each_record_once, converge, run_deployment, wait_for, workload

POD_FAULTS = {
    # fault: (pod selector, statefulset to wait for, delete flags)
    "kafka-broker-killed": ("app.kubernetes.io/name=kafka", "statefulset/kafka", ("--grace-period=0", "--force")),
    "postgres-restarted": ("app.kubernetes.io/name=postgres", "statefulset/postgres", ()),
    # the platform's PostgreSQL: the catalog (and the merge's lease) mid-merge
    "catalog-db-restarted": ("app.kubernetes.io/name=lakehouse-db", "statefulset/lakehouse-db", ()),
    "minio-restarted": ("app.kubernetes.io/name=minio", "statefulset/minio", ()),
    "executor-killed": ("spark-role=executor", "", ("--grace-period=0", "--force")),
}
JOB_TIMEOUT_S = 15


def _spark_jobs(platform: Platform) -> set[str]:
    items = platform.json("get", "jobs", "-l", "app.kubernetes.io/component=spark-job")["items"]
    return {j["metadata"]["name"] for j in items}


def _running(platform: Platform, selector: str, not_of_jobs: frozenset[str] | set[str] = frozenset()) -> list[str]:
    """Running pods matching `selector`, leaving out those of the Jobs `not_of_jobs`."""
    pods = platform.json("get", "pods", "-l", selector)["items"]
    return [
        p["metadata"]["name"]
        for p in pods
        if p["status"].get("phase") == "Running" and p["metadata"]["labels"].get("job-name") not in not_of_jobs
    ]


def _no_spark_pod_left(platform: Platform) -> None:
    """Executors go with their driver; drivers end (a finished driver pod stays Succeeded/Failed)."""
    wait_for(
        "no Spark executor or running driver pod",
        lambda: not _running(platform, "spark-role=executor")
        and not platform.json("get", "pods", "-l", "spark-role=executor")["items"]
        and not _running(platform, "app.kubernetes.io/component=spark-driver"),
        timeout=300,
    )


def _connector_running(platform: Platform) -> bool:
    connect = f"http://127.0.0.1:{platform.forward('kafka-connect', 8083)}"
    try:
        status = httpx.get(f"{connect}/connectors?expand=status", timeout=10).json()
    except (httpx.HTTPError, ValueError):
        return False
    states = [s["status"]["connector"]["state"] for s in status.values()] + [
        t["state"] for s in status.values() for t in s["status"]["tasks"]
    ]
    return bool(states) and all(s == "RUNNING" for s in states)


class Load:
    """Changes written to the source in the background until stopped; errors are kept."""

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self.errors: list[BaseException] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        seed = int(time.time()) * 1000
        try:
            while not self.stop.is_set():
                workload(self.settings, ops=50, seed=seed)
                seed += 1
        except BaseException as exc:  # reported by the test
            self.errors.append(exc)

    def __enter__(self) -> Load:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=120)


@pytest.mark.parametrize("fault", [*POD_FAULTS, "merge-job-past-timeout"])
def test_after_the_fault_the_lake_converges_to_the_source(platform: Platform, fault: str) -> None:
    with settings_from(platform.settings_env()) as settings:
        workload(settings, ops=300, seed=int(time.time()))  # work for the merge the fault interrupts
        before = _spark_jobs(platform)
        if fault == "merge-job-past-timeout":
            seen: set[str] = set()
            done = threading.Event()

            def watch() -> None:
                while not done.is_set():
                    seen.update(_spark_jobs(platform) - before)
                    time.sleep(2)

            watcher = threading.Thread(target=watch, daemon=True)
            watcher.start()
            proc = run_deployment(platform, "cdc-merge/kubernetes", params={"job_timeout_s": str(JOB_TIMEOUT_S)})
            done.set()
            watcher.join(timeout=30)
            assert proc.returncode != 0, (
                f"a merge with a {JOB_TIMEOUT_S}s job timeout completed:\n{proc.stdout[-2000:]}"
            )
            assert seen, "the timed-out merge run created no Spark Job"
            # Each attempt's Job was deleted with its pods before the next one started.
            left = seen & _spark_jobs(platform)
            assert not left, f"Jobs past their timeout still exist: {sorted(left)}"
            for job in seen:
                assert not platform.json("get", "pods", "-l", f"job-name={job}")["items"], f"pods of {job} remain"
        else:
            selector, workload_name, flags = POD_FAULTS[fault]
            merge = threading.Thread(target=lambda: run_deployment(platform, "cdc-merge/kubernetes"), daemon=True)
            with Load(settings) as load:
                merge.start()
                driver = wait_for(
                    "a running Spark driver of the new merge",
                    lambda: _running(platform, "app.kubernetes.io/component=spark-driver", before),
                )
                if fault == "executor-killed":
                    victims = wait_for("a running executor", lambda: _running(platform, selector))
                    time.sleep(5)  # its tasks are under way
                else:
                    time.sleep(15)  # the driver's JVM is up, reading Kafka and the catalog
                    victims = _running(platform, selector)
                assert victims, f"no running pod matches {selector}"
                platform.kubectl("delete", "pod", *victims, "--wait=false", *flags)
                print(f"{fault}: deleted {victims} while driver {driver} ran", file=sys.stderr)
                if workload_name:
                    time.sleep(5)
                    platform.kubectl("rollout", "status", workload_name, "--timeout=600s", timeout=660)
                time.sleep(20)  # more writes after the component came back
            if fault != "postgres-restarted":  # there the load's connection goes with the pod, as expected
                assert not load.errors, load.errors
            merge.join(timeout=2400)
            platform.drop_forwards()  # forwards to the replaced pods lead nowhere

    with settings_from(platform.settings_env()) as settings:
        wait_for("the connector and its tasks RUNNING", lambda: _connector_running(platform), timeout=600, every=5)
        converge(platform, settings)
        assert_bronze_holds_each_record_once(settings)
    _no_spark_pod_left(platform)
