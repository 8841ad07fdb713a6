"""The platform's own processes on top of the data stack: Prefect server and worker, serving API.

They run from the project's virtualenv with the same settings every other tool gets from
stack.env, so a flow run started by the worker reaches exactly this stack.
"""

from __future__ import annotations

import subprocess
import urllib.request

from stackctl.components import REPO_ROOT, Component
from stackctl.ephemeral import BIN
from stackctl.processes import StackError

LOCAL_POOL = "local-process"


def _get_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=3) as resp:
        return bool(resp.status == 200)


class PlatformComponent(Component):
    """A component that needs the stack's settings (the values stack.env exports)."""

    platform_env: dict[str, str] = {}

    def prefect_env(self) -> dict[str, str]:
        s = self.ctx.stack
        return {
            "PREFECT_HOME": str(self.ctx.layout.data("prefect")),
            "PREFECT_API_URL": f"http://{s.host}:{s.prefect_port}/api",
            # No phoning home: these machines (and many CI runners) have no internet.
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_LOGGING_LEVEL": "INFO",
        }


class PrefectServer(PlatformComponent):
    """Prefect server (API, UI, scheduler) on SQLite under the stack's data directory."""

    name = "prefect"

    @property
    def ports(self) -> dict[str, int]:
        return {"prefect_port": self.ctx.stack.prefect_port}

    def command(self) -> tuple[list[str], dict[str, str]]:
        s = self.ctx.stack
        return [str(BIN / "prefect"), "server", "start", "--host", s.host, "--port", str(s.prefect_port)], {
            **self.prefect_env(),
            "PREFECT_UI_API_URL": f"http://{s.host}:{s.prefect_port}/api",
            "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "true" if s.prefect_scheduler else "false",
        }

    def ready(self) -> bool:
        return _get_ok(f"http://{self.ctx.stack.host}:{self.ctx.stack.prefect_port}/api/health")

    def describe(self) -> str:
        return f"UI http://{self.ctx.stack.host}:{self.ctx.stack.prefect_port}"


class ServingApi(PlatformComponent):
    """The serving API (services/serving-api) reading the published gold tables."""

    name = "serving-api"

    @property
    def ports(self) -> dict[str, int]:
        return {"serving_api_port": self.ctx.stack.serving_api_port}

    def command(self) -> tuple[list[str], dict[str, str]]:
        s = self.ctx.stack
        return [str(BIN / "lakehouse-serving-api"), "serve", "--host", s.host, "--port", str(s.serving_api_port)], dict(
            self.platform_env
        )

    def ready(self) -> bool:
        return _get_ok(f"http://{self.ctx.stack.host}:{self.ctx.stack.serving_api_port}/healthz")

    def describe(self) -> str:
        return f"http://{self.ctx.stack.host}:{self.ctx.stack.serving_api_port}/docs"


class PrefectWorker(PlatformComponent):
    """A process worker on the local pool; registers the local deployments of prefect.yaml."""

    name = "prefect-worker"

    @property
    def ports(self) -> dict[str, int]:
        return {"prefect_worker_port": self.ctx.stack.prefect_worker_port}

    def command(self) -> tuple[list[str], dict[str, str]]:
        s = self.ctx.stack
        return [
            str(BIN / "prefect"),
            "worker",
            "start",
            "--pool",
            LOCAL_POOL,
            "--type",
            "process",
            "--name",
            "local-worker",
            "--with-healthcheck",
        ], {
            **self.platform_env,
            **self.prefect_env(),
            "PREFECT_WORKER_WEBSERVER_HOST": s.host,
            "PREFECT_WORKER_WEBSERVER_PORT": str(s.prefect_worker_port),
            # Flow runs import the flows package from the checkout.
            "PATH": f"{BIN}:/usr/local/bin:/usr/bin:/bin",
        }

    def ready(self) -> bool:
        # The worker creates its pool while it starts and may answer /health before the pool
        # exists; deploying then fails with "work pool 'local-process' does not exist".
        s = self.ctx.stack
        return _get_ok(f"http://{s.host}:{s.prefect_worker_port}/health") and _get_ok(
            f"http://{s.host}:{s.prefect_port}/api/work_pools/{LOCAL_POOL}"
        )

    def after_ready(self) -> None:
        """Register (idempotently) every `*/local` deployment of prefect.yaml on this server."""
        proc = subprocess.run(
            [str(BIN / "prefect"), "--no-prompt", "deploy", "--name", "*/local"],
            # PWD: prefect.yaml's local pull step runs flows from this checkout.
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            env={
                **self.platform_env,
                **self.prefect_env(),
                "PWD": str(REPO_ROOT),
                "PATH": f"{BIN}:/usr/local/bin:/usr/bin:/bin",
            },
            timeout=300,
        )
        if proc.returncode != 0:
            raise StackError(f"registering the Prefect deployments failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")

    def describe(self) -> str:
        return f"pool {LOCAL_POOL}"
