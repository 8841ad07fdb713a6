"""Running the platform's batch jobs from a flow: the same CLIs locally and in the cluster.

Locally a job is a child process of the flow run (Spark in `local[*]`); with
`LAKEHOUSE_FLOWS_JOB_RUNNER=kubernetes` it is a Kubernetes Job running the Spark image
(flows/kubernetes_jobs.py). Either way the job prints one JSON document on stdout, which
is what the flow records; its log lines go to the flow run's log as they come.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from lakehouse.settings import Settings
from prefect.logging import get_run_logger

from flows.job_results import JobFailed, last_json_result

__all__ = ["JobFailed", "last_json_result", "run_job", "run_local_job"]

BIN = Path(sys.executable).parent


def run_job(settings: Settings, argv: list[str], *, timeout_s: float | None = None) -> Any:
    """Run a platform CLI (`lakehouse-merge catch-up --output json`, ...) and return its JSON output.

    `timeout_s` defaults to `LAKEHOUSE_FLOWS_JOB_TIMEOUT_S`; a job past it is stopped (locally
    killed, in the cluster deleted with its pods) and JobFailed raised."""
    timeout_s = timeout_s or settings.flows.job_timeout_s
    if settings.flows.job_runner == "kubernetes":
        from flows.kubernetes_jobs import run_kubernetes_job

        return run_kubernetes_job(settings, argv, timeout_s=timeout_s)
    return run_local_job(argv, timeout_s=timeout_s)


def run_local_job(argv: list[str], *, timeout_s: float) -> Any:
    """The job as a child process of this flow run, with this process's environment."""
    logger = get_run_logger()
    tool = BIN / argv[0]
    cmd = [str(tool) if tool.exists() else argv[0], *argv[1:]]
    logger.info("running %s", " ".join(cmd))
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    tail: list[str] = []

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            line = line.rstrip()
            tail.append(line)
            del tail[:-40]
            if line and " WARN " not in line:  # Spark's own warnings would drown the job's progress
                logger.info("%s", line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        out, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise JobFailed(f"{argv[0]} did not finish in {timeout_s:.0f}s and was killed") from None
    reader.join(timeout=10)
    if proc.returncode != 0:
        raise JobFailed(f"{argv[0]} exited {proc.returncode}:\n" + "\n".join(tail[-20:]))
    return last_json_result(out, argv[0])
