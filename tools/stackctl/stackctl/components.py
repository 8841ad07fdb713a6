"""The local stack's components: how each is initialised, started and probed.

Each component is a plain process (no containers) bound to loopback. The same
versions run in the Kubernetes deployment (config/versions.env).
"""

from __future__ import annotations

import base64
import os
import pwd
import shutil
import subprocess
import urllib.request
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import psycopg
from confluent_kafka.admin import AdminClient
from lakehouse.settings import CDC_PASSWORD_FILE, CONNECT_CONFIG_PROVIDER, StackSettings

from stackctl.layout import Layout
from stackctl.processes import StackError

REPO_ROOT = Path(__file__).resolve().parents[3]
SQL_DIR = REPO_ROOT / "config" / "sql"
SERVING_DB = "lakehouse_serving"
SERVING_READER = "serving_reader"


@dataclass(frozen=True)
class Context:
    """What every component needs to know about the stack it belongs to."""

    layout: Layout
    stack: StackSettings
    secrets: dict[str, str]
    jvm: dict[str, Path]
    pg_bin: Path


class Component(ABC):
    """One supervised process of the stack."""

    name: str
    user: str | None = None  # OS user to run as (None: the current one)

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    @property
    @abstractmethod
    def ports(self) -> dict[str, int]:
        """Setting name -> port this component binds."""

    def prepare(self) -> None:  # noqa: B027 - optional hook
        """One-time initialisation before the first start (idempotent)."""

    @abstractmethod
    def command(self) -> tuple[list[str], dict[str, str]]:
        """argv and extra environment of the process."""

    @abstractmethod
    def ready(self) -> bool:
        """True once the component answers its health check."""

    def after_ready(self) -> None:  # noqa: B027 - optional hook
        """Work that needs the running component (idempotent)."""

    def describe(self) -> str:
        """One line saying where to reach the component."""
        return ", ".join(f"{k}={v}" for k, v in self.ports.items())


def _java(heap: str, classpath: str, main: str, *args: str, log4j: Path) -> list[str]:
    java = shutil.which("java") or "java"
    return [
        java,
        f"-Xmx{heap}",
        "-XX:+UseG1GC",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={log4j}",
        "-cp",
        classpath,
        main,
        *args,
    ]


def _write_log4j(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "status = warn\n"
        "appender.console.type = Console\nappender.console.name = STDOUT\n"
        "appender.console.layout.type = PatternLayout\n"
        "appender.console.layout.pattern = [%d] %p %m (%c{1})%n\n"
        "rootLogger.level = INFO\nrootLogger.appenderRef.stdout.ref = STDOUT\n"
        "logger.kafka.name = org.apache.kafka\nlogger.kafka.level = WARN\n"
        "logger.kafkaserver.name = kafka\nlogger.kafkaserver.level = WARN\n"
        "logger.connect.name = org.apache.kafka.connect.runtime.rest\nlogger.connect.level = WARN\n"
        "logger.reflections.name = org.reflections\nlogger.reflections.level = ERROR\n"
        "logger.debezium.name = io.debezium\nlogger.debezium.level = INFO\n"
    )
    return path


DIRECTORY_CONFIG_PROVIDER = "org.apache.kafka.common.config.provider.DirectoryConfigProvider"


def _write_connect_secrets(directory: Path, files: dict[str, str]) -> Path:
    """One private file per secret, its whole content the value (the provider does not trim)."""
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    for name, value in files.items():
        path = directory / name
        path.touch(mode=0o600)
        path.chmod(0o600)
        path.write_text(value)
    return directory


def _write_properties(path: Path, props: dict[str, object]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
    return path


class Postgres(Component):
    """PostgreSQL with logical decoding: the source database and the Iceberg catalog database."""

    name = "postgres"

    @property
    def ports(self) -> dict[str, int]:
        return {"postgres_port": self.ctx.stack.postgres_port}

    @property
    def home(self) -> Path:
        return self.ctx.layout.postgres_home()

    @property
    def user(self) -> str | None:
        # initdb and postgres refuse to run as root.
        return "postgres" if os.geteuid() == 0 else None

    def prepare(self) -> None:
        home = self.home
        if (home / "PG_VERSION").exists():
            return
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError as exc:
                raise StackError("the 'postgres' OS user is missing; run: make setup") from exc
            home.mkdir(parents=True, exist_ok=True)
            os.chown(home, pw.pw_uid, pw.pw_gid)
            link = self.ctx.layout.data("postgres")
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.exists():
                link.symlink_to(home)
        else:
            home.mkdir(parents=True, exist_ok=True)
        home.chmod(0o700)
        pwfile = home.parent / f".{home.name}.pwfile"
        pwfile.write_text(self.ctx.secrets["postgres_superuser"] + "\n")
        if os.geteuid() == 0:
            os.chown(pwfile, pwd.getpwnam("postgres").pw_uid, -1)
        proc = subprocess.run(
            [
                str(self.ctx.pg_bin / "initdb"),
                "-D",
                str(home),
                "-U",
                "postgres",
                "--auth=scram-sha-256",
                f"--pwfile={pwfile}",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ],
            capture_output=True,
            text=True,
            user=self.user,
            group=self.user,
            extra_groups=[] if self.user else None,
            cwd="/",
        )
        pwfile.unlink()
        if proc.returncode != 0:
            raise StackError(f"initdb failed for {home}: {proc.stderr.strip()}")

    def command(self) -> tuple[list[str], dict[str, str]]:
        s = self.ctx.stack
        return [
            str(self.ctx.pg_bin / "postgres"),
            "-D",
            str(self.home),
            "-p",
            str(s.postgres_port),
            "-c",
            f"listen_addresses={s.host}",
            "-c",
            f"unix_socket_directories={self.home}",
            "-c",
            "wal_level=logical",
            "-c",
            "max_replication_slots=10",
            "-c",
            "max_wal_senders=10",
            "-c",
            "max_connections=200",
            "-c",
            "shared_buffers=256MB",
            "-c",
            "fsync=on",
            "-c",
            "log_min_messages=warning",
        ], {}

    def superuser_conninfo(self, database: str = "postgres") -> str:
        s = self.ctx.stack
        return (
            f"host={s.host} port={s.postgres_port} dbname={database} user=postgres "
            f"password={self.ctx.secrets['postgres_superuser']} connect_timeout=3"
        )

    def owner_conninfo(self, database: str) -> str:
        s = self.ctx.stack
        return (
            f"host={s.host} port={s.postgres_port} dbname={database} user=lakehouse "
            f"password={self.ctx.secrets['owner']} connect_timeout=3"
        )

    def ready(self) -> bool:
        with psycopg.connect(self.superuser_conninfo()) as conn:
            conn.execute("SELECT 1")
        return True

    def after_ready(self) -> None:
        """Roles, the source and catalog databases, and the demo schema."""
        with psycopg.connect(self.superuser_conninfo(), autocommit=True) as conn:
            roles = {r[0] for r in conn.execute("SELECT rolname FROM pg_roles")}
            owner_pw, cdc_pw = self.ctx.secrets["owner"], self.ctx.secrets["cdc"]
            if "lakehouse" not in roles:
                conn.execute(f"CREATE ROLE lakehouse LOGIN PASSWORD '{owner_pw}'")
            if "debezium" not in roles:
                conn.execute(f"CREATE ROLE debezium LOGIN REPLICATION PASSWORD '{cdc_pw}'")
            if SERVING_READER not in roles:
                conn.execute(f"CREATE ROLE {SERVING_READER} LOGIN PASSWORD '{self.ctx.secrets['serving_reader']}'")
            dbs = {r[0] for r in conn.execute("SELECT datname FROM pg_database")}
            for db in ("shop", "lakehouse_catalog", SERVING_DB):
                if db not in dbs:
                    conn.execute(f'CREATE DATABASE "{db}" OWNER lakehouse')
        apply_sql(self.owner_conninfo("shop"), {"cdc_user": "debezium"})
        apply_sql(self.owner_conninfo(SERVING_DB), {"reader_user": SERVING_READER}, SQL_DIR / "serving")


def apply_sql(conninfo: str, variables: dict[str, str], directory: Path = SQL_DIR) -> None:
    """Run every *.sql file of `directory` in name order through psql (idempotent scripts)."""
    psql = shutil.which("psql")
    if psql is None:
        raise StackError("psql is not installed; run: make setup")
    for script in sorted(directory.glob("*.sql")):
        argv = [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", conninfo, "-f", str(script)]
        for k, v in variables.items():
            argv += ["-v", f"{k}={v}"]
        proc = subprocess.run(argv, capture_output=True, text=True)
        if proc.returncode != 0:
            raise StackError(f"applying {script.name} failed: {proc.stderr.strip()}")


class Kafka(Component):
    """Apache Kafka, one broker-controller in KRaft mode."""

    name = "kafka"

    @property
    def ports(self) -> dict[str, int]:
        s = self.ctx.stack
        return {"kafka_port": s.kafka_port, "kafka_controller_port": s.kafka_controller_port}

    @property
    def bootstrap(self) -> str:
        return f"{self.ctx.stack.host}:{self.ctx.stack.kafka_port}"

    def _properties(self) -> Path:
        s, data = self.ctx.stack, self.ctx.layout.data("kafka")
        return _write_properties(
            self.ctx.layout.conf("kafka.properties"),
            {
                "process.roles": "broker,controller",
                "node.id": 1,
                "controller.quorum.bootstrap.servers": f"{s.host}:{s.kafka_controller_port}",
                "listeners": f"PLAINTEXT://{s.host}:{s.kafka_port},CONTROLLER://{s.host}:{s.kafka_controller_port}",
                "advertised.listeners": f"PLAINTEXT://{s.host}:{s.kafka_port}",
                "controller.listener.names": "CONTROLLER",
                "inter.broker.listener.name": "PLAINTEXT",
                "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                "log.dirs": data,
                "num.partitions": 1,
                "offsets.topic.replication.factor": 1,
                "transaction.state.log.replication.factor": 1,
                "transaction.state.log.min.isr": 1,
                "share.coordinator.state.topic.replication.factor": 1,
                "share.coordinator.state.topic.min.isr": 1,
                "group.initial.rebalance.delay.ms": 0,
                "auto.create.topics.enable": "true",
                "log.retention.hours": 168,
            },
        )

    def _classpath(self) -> str:
        return f"{self.ctx.jvm['KAFKA_DIR']}/*"

    def prepare(self) -> None:
        props = self._properties()
        data = self.ctx.layout.data("kafka")
        if (data / "meta.properties").exists():
            return
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        log4j = _write_log4j(self.ctx.layout.conf("log4j2.properties"))
        argv = _java(
            "256m",
            self._classpath(),
            "kafka.tools.StorageTool",
            "format",
            "--standalone",
            f"--cluster-id={cluster_id}",
            "-c",
            str(props),
            log4j=log4j,
        )
        proc = subprocess.run(argv, capture_output=True, text=True)
        if proc.returncode != 0:
            raise StackError(f"formatting Kafka storage failed: {proc.stdout}{proc.stderr}")

    def command(self) -> tuple[list[str], dict[str, str]]:
        log4j = _write_log4j(self.ctx.layout.conf("log4j2.properties"))
        return _java(
            self.ctx.stack.kafka_heap, self._classpath(), "kafka.Kafka", str(self._properties()), log4j=log4j
        ), {}

    def ready(self) -> bool:
        admin = AdminClient({"bootstrap.servers": self.bootstrap, "socket.timeout.ms": 3000, "log_level": 0})
        md = admin.list_topics(timeout=3)
        return len(md.brokers) > 0


class Connect(Component):
    """A Kafka Connect distributed worker with the Debezium PostgreSQL connector plugin."""

    name = "connect"

    @property
    def ports(self) -> dict[str, int]:
        return {"connect_port": self.ctx.stack.connect_port}

    @property
    def url(self) -> str:
        return f"http://{self.ctx.stack.host}:{self.ctx.stack.connect_port}"

    def command(self) -> tuple[list[str], dict[str, str]]:
        s, layout = self.ctx.stack, self.ctx.layout
        plugins = layout.data("connect-plugins")
        plugins.mkdir(parents=True, exist_ok=True)
        link = plugins / "debezium-postgres"
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(self.ctx.jvm["DEBEZIUM_POSTGRES_DIR"])
        for extra in s.connect_extra_plugins:
            if not extra.is_dir():
                raise StackError(
                    f"kafka-connect: plugin directory {extra} (LAKEHOUSE_STACK_CONNECT_EXTRA_PLUGINS) does not exist; "
                    "resolve it first (scripts/setup/jvm.sh --bundle NAME prints the directory)"
                )
            plugin = plugins / extra.name
            if plugin.is_symlink() or plugin.exists():
                plugin.unlink()
            plugin.symlink_to(extra.resolve())
        secrets_dir = _write_connect_secrets(layout.connect_secrets(), {CDC_PASSWORD_FILE: self.ctx.secrets["cdc"]})
        props = _write_properties(
            layout.conf("connect-worker.properties"),
            {
                "bootstrap.servers": f"{s.host}:{s.kafka_port}",
                "group.id": "lakehouse-connect",
                "key.converter": "org.apache.kafka.connect.json.JsonConverter",
                "value.converter": "org.apache.kafka.connect.json.JsonConverter",
                "key.converter.schemas.enable": "true",
                "value.converter.schemas.enable": "true",
                "config.storage.topic": "_connect-configs",
                "offset.storage.topic": "_connect-offsets",
                "status.storage.topic": "_connect-status",
                "config.storage.replication.factor": 1,
                "offset.storage.replication.factor": 1,
                "status.storage.replication.factor": 1,
                "offset.flush.interval.ms": 1000,
                "listeners": f"http://{s.host}:{s.connect_port}",
                "rest.advertised.host.name": s.host,
                "rest.advertised.port": s.connect_port,
                "plugin.path": plugins,
                "plugin.discovery": "hybrid_warn",
                # Connector configs refer to secrets as ${dir:<dir>:<file>}, resolved here.
                "config.providers": CONNECT_CONFIG_PROVIDER,
                f"config.providers.{CONNECT_CONFIG_PROVIDER}.class": DIRECTORY_CONFIG_PROVIDER,
                f"config.providers.{CONNECT_CONFIG_PROVIDER}.param.allowed.paths": secrets_dir,
            },
        )
        log4j = _write_log4j(layout.conf("log4j2.properties"))
        return _java(
            s.connect_heap,
            f"{self.ctx.jvm['KAFKA_DIR']}/*",
            "org.apache.kafka.connect.cli.ConnectDistributed",
            str(props),
            log4j=log4j,
        ), {}

    def ready(self) -> bool:
        with urllib.request.urlopen(f"{self.url}/connector-plugins", timeout=3) as resp:
            body = resp.read().decode()
        return "io.debezium.connector.postgresql.PostgresConnector" in body


class Minio(Component):
    """MinIO, the S3-compatible object store holding the Iceberg warehouse."""

    name = "minio"

    @property
    def ports(self) -> dict[str, int]:
        s = self.ctx.stack
        return {"minio_port": s.minio_port, "minio_console_port": s.minio_console_port}

    @property
    def endpoint(self) -> str:
        return f"http://{self.ctx.stack.host}:{self.ctx.stack.minio_port}"

    def command(self) -> tuple[list[str], dict[str, str]]:
        s = self.ctx.stack
        binary = self.ctx.jvm["MINIO_BIN"]
        return [
            str(binary),
            "server",
            str(self.ctx.layout.data("minio")),
            "--quiet",
            "--address",
            f"{s.host}:{s.minio_port}",
            "--console-address",
            f"{s.host}:{s.minio_console_port}",
        ], {
            "MINIO_ROOT_USER": self.ctx.secrets["minio_user"],
            "MINIO_ROOT_PASSWORD": self.ctx.secrets["minio_password"],
            "MINIO_BROWSER": "on",
            "MINIO_UPDATE": "off",
        }

    def ready(self) -> bool:
        with urllib.request.urlopen(f"{self.endpoint}/minio/health/live", timeout=3) as resp:
            return resp.status == 200

    def after_ready(self) -> None:
        import boto3
        from botocore.config import Config

        s3 = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=self.ctx.secrets["minio_user"],
            aws_secret_access_key=self.ctx.secrets["minio_password"],
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 5}),
        )
        existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
        if "lake" not in existing:
            s3.create_bucket(Bucket="lake")


COMPONENTS: tuple[type[Component], ...] = (Postgres, Kafka, Connect, Minio)
