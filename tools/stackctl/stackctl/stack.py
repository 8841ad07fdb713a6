"""The local stack as a whole: up, down, status, and the stack.env it publishes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lakehouse.settings import StackSettings, get_settings
from lakehouse.versions import versions

from stackctl.app_components import PlatformComponent, PrefectServer, PrefectWorker, ServingApi
from stackctl.components import (
    COMPONENTS,
    REPO_ROOT,
    SERVING_DB,
    SERVING_READER,
    Component,
    Connect,
    Context,
    Kafka,
    Minio,
    Postgres,
)
from stackctl.layout import Layout, load_or_create_secrets, write_env_file
from stackctl.processes import StackError, port_free, read_pid, start_detached, stop_pid, wait_until

BUCKET = "lake"
Say = Callable[[str], None]


def _jvm_paths(stack: StackSettings) -> dict[str, Path]:
    env = {**os.environ, "LAKEHOUSE_STACK_CACHE_DIR": str(stack.cache_dir)}
    proc = subprocess.run([str(REPO_ROOT / "scripts/setup/jvm.sh"), "--paths"], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise StackError(proc.stderr.strip() or "JVM bundles are not resolved; run: make setup")
    paths = {k: Path(v) for k, _, v in (line.partition("=") for line in proc.stdout.split())}
    minio = stack.cache_dir / "minio" / versions()["MINIO_VERSION"] / "minio"
    if not minio.exists():
        raise StackError(f"MinIO is not built ({minio} is missing); run: make setup")
    paths["MINIO_BIN"] = minio
    return paths


def make_context(stack: StackSettings) -> Context:
    """Everything the components need; fails with the fix when setup has not run."""
    layout = Layout.from_settings(stack)
    pg_bin = Path(f"/usr/lib/postgresql/{versions()['POSTGRES_MAJOR']}/bin")
    if not (pg_bin / "postgres").exists():
        raise StackError(f"PostgreSQL server binaries are missing under {pg_bin}; run: make setup")
    return Context(
        layout=layout, stack=stack, secrets=load_or_create_secrets(layout), jvm=_jvm_paths(stack), pg_bin=pg_bin
    )


@dataclass
class ComponentStatus:
    name: str
    pid: int | None
    healthy: bool
    where: str


class Stack:
    """Start, stop and probe the components in dependency order."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        # The data stack first, then what runs on it (the worker registers deployments last).
        self.components: list[Component] = [cls(ctx) for cls in (*COMPONENTS, PrefectServer, ServingApi, PrefectWorker)]

    def component(self, name: str) -> Component:
        for c in self.components:
            if c.name == name:
                return c
        raise KeyError(name)

    def _check_ports(self, component: Component) -> None:
        for setting, port in component.ports.items():
            if not port_free(self.ctx.stack.host, port):
                raise StackError(
                    f"port {port} for {component.name} is already in use by another process; "
                    f"stop that process or choose a free port with LAKEHOUSE_STACK_{setting.upper()}=<port>"
                )

    def start(self, component: Component, say: Say) -> None:
        """Start one component (no-op if it runs) and wait until it is healthy."""
        layout = self.ctx.layout
        pidfile, log = layout.pidfile(component.name), layout.log(component.name)
        if isinstance(component, PlatformComponent):
            component.platform_env = stack_env_values(self)
        if read_pid(pidfile) is not None:
            say(f"{component.name}: already running ({component.describe()})")
        else:
            self._check_ports(component)
            component.prepare()
            argv, env = component.command()
            # A process running as another user starts in / (it may not reach the checkout).
            cwd = REPO_ROOT if component.user is None else Path("/")
            pid = start_detached(argv, log=log, pidfile=pidfile, env=env, cwd=cwd, user=component.user)
            say(f"{component.name}: started pid {pid}, waiting for health check (log: {log})")
            wait_until(
                component.ready, what=component.name, timeout_s=self.ctx.stack.ready_timeout_s, log=log, pidfile=pidfile
            )
        component.after_ready()
        say(f"{component.name}: healthy ({component.describe()})")

    def up(self, say: Say) -> None:
        for component in self.components:
            self.start(component, say)
        write_stack_env(self, say)

    def stop(self, component: Component, say: Say) -> None:
        # PostgreSQL: SIGINT is its "fast" shutdown; the JVMs and MinIO shut down on SIGTERM.
        sig = signal.SIGINT if isinstance(component, Postgres) else signal.SIGTERM
        if stop_pid(self.ctx.layout.pidfile(component.name), sig=sig):
            say(f"{component.name}: stopped")
        else:
            say(f"{component.name}: not running")

    def down(self, say: Say) -> None:
        for component in reversed(self.components):
            self.stop(component, say)

    def status(self) -> list[ComponentStatus]:
        out = []
        for c in self.components:
            pid = read_pid(self.ctx.layout.pidfile(c.name))
            healthy = False
            if pid is not None:
                try:
                    healthy = c.ready()
                except Exception:  # noqa: BLE001 - any probe failure means unhealthy
                    healthy = False
            out.append(ComponentStatus(c.name, pid, healthy, c.describe()))
        return out

    def clean(self, say: Say) -> None:
        """Stop everything and delete all data, logs and generated credentials."""
        self.down(say)
        pg_home = self.ctx.layout.postgres_home()
        if pg_home.exists() and pg_home != self.ctx.layout.data("postgres"):
            shutil.rmtree(pg_home)
        if self.ctx.layout.root.exists():
            shutil.rmtree(self.ctx.layout.root)
        say(f"removed {self.ctx.layout.root}")


def stack_env_values(stack: Stack) -> dict[str, str]:
    """Every variable stack.env exports: libpq, pyiceberg, AWS-style and the platform's own."""
    ctx, s = stack.ctx, stack.ctx.stack
    sec = ctx.secrets
    pg = stack.component("postgres")
    kafka = stack.component("kafka")
    connect = stack.component("connect")
    minio = stack.component("minio")
    assert isinstance(kafka, Kafka) and isinstance(connect, Connect) and isinstance(minio, Minio)
    assert isinstance(pg, Postgres)
    catalog_uri = f"postgresql+psycopg2://lakehouse:{sec['owner']}@{s.host}:{s.postgres_port}/lakehouse_catalog"
    warehouse = f"s3://{BUCKET}/warehouse"
    return {
        # libpq: psql with no arguments opens the source database.
        "PGHOST": s.host,
        "PGPORT": str(s.postgres_port),
        "PGUSER": "lakehouse",
        "PGPASSWORD": sec["owner"],
        "PGDATABASE": "shop",
        # pyiceberg: load_catalog("default") opens the lake.
        "PYICEBERG_CATALOG__DEFAULT__TYPE": "sql",
        "PYICEBERG_CATALOG__DEFAULT__URI": catalog_uri,
        "PYICEBERG_CATALOG__DEFAULT__WAREHOUSE": warehouse,
        "PYICEBERG_CATALOG__DEFAULT__S3__ENDPOINT": minio.endpoint,
        "PYICEBERG_CATALOG__DEFAULT__S3__ACCESS_KEY_ID": sec["minio_user"],
        "PYICEBERG_CATALOG__DEFAULT__S3__SECRET_ACCESS_KEY": sec["minio_password"],
        "PYICEBERG_CATALOG__DEFAULT__S3__REGION": "us-east-1",
        "PYICEBERG_CATALOG__DEFAULT__S3__PATH_STYLE_ACCESS": "true",
        # AWS SDK / boto3 / aws CLI conventions.
        "AWS_ACCESS_KEY_ID": sec["minio_user"],
        "AWS_SECRET_ACCESS_KEY": sec["minio_password"],
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_S3": minio.endpoint,
        # The platform's settings (lib/lakehouse/settings.py).
        "LAKEHOUSE_REGISTRY_PATH": str(get_settings().registry_path.resolve()),
        "LAKEHOUSE_SOURCE_HOST": s.host,
        "LAKEHOUSE_SOURCE_PORT": str(s.postgres_port),
        "LAKEHOUSE_SOURCE_DATABASE": "shop",
        "LAKEHOUSE_SOURCE_USER": "lakehouse",
        "LAKEHOUSE_SOURCE_PASSWORD": sec["owner"],
        "LAKEHOUSE_SOURCE_CDC_USER": "debezium",
        "LAKEHOUSE_CATALOG_HOST": s.host,
        "LAKEHOUSE_CATALOG_PORT": str(s.postgres_port),
        "LAKEHOUSE_CATALOG_DATABASE": "lakehouse_catalog",
        "LAKEHOUSE_CATALOG_USER": "lakehouse",
        "LAKEHOUSE_CATALOG_PASSWORD": sec["owner"],
        "LAKEHOUSE_CATALOG_WAREHOUSE": warehouse,
        "LAKEHOUSE_S3_ENDPOINT": minio.endpoint,
        "LAKEHOUSE_S3_ACCESS_KEY_ID": sec["minio_user"],
        "LAKEHOUSE_S3_SECRET_ACCESS_KEY": sec["minio_password"],
        "LAKEHOUSE_S3_REGION": "us-east-1",
        "LAKEHOUSE_S3_BUCKET": BUCKET,
        "LAKEHOUSE_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
        "LAKEHOUSE_CONNECT_URL": connect.url,
        "LAKEHOUSE_CONNECT_SECRETS_DIR": str(ctx.layout.connect_secrets()),
        "LAKEHOUSE_MERGE_SPARK_JARS_DIR": str(ctx.jvm["SPARK_DIR"]),
        "LAKEHOUSE_STACK_DIR": str(ctx.layout.root),
        "LAKEHOUSE_SERVING_HOST": s.host,
        "LAKEHOUSE_SERVING_PORT": str(s.postgres_port),
        "LAKEHOUSE_SERVING_DATABASE": SERVING_DB,
        "LAKEHOUSE_SERVING_USER": "lakehouse",
        "LAKEHOUSE_SERVING_PASSWORD": sec["owner"],
        "LAKEHOUSE_SERVING_READER_USER": SERVING_READER,
        "LAKEHOUSE_SERVING_READER_PASSWORD": sec["serving_reader"],
        "LAKEHOUSE_SERVING_API_HOST": s.host,
        "LAKEHOUSE_SERVING_API_PORT": str(s.serving_api_port),
        # Prefect's client setting: `prefect` commands and flows talk to the local server.
        "PREFECT_API_URL": f"http://{s.host}:{s.prefect_port}/api",
        "SERVING_API_URL": f"http://{s.host}:{s.serving_api_port}",
    }


def write_stack_env(stack: Stack, say: Say) -> Path:
    path = stack.ctx.layout.stack_env
    write_env_file(
        path,
        stack_env_values(stack),
        "Written by `make up`: source it to reach the local stack (psql, pyiceberg, make targets).",
    )
    say(f"wrote {path} (source it: `. {os.path.relpath(path)}`)")
    return path
