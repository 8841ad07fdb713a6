"""The one settings module (contract 2): every setting is an environment variable
with the LAKEHOUSE_ prefix, one class per area with its own sub-prefix.

Nothing else in the platform reads the environment for configuration. Kubernetes
manifests set exactly these names (a static test compares them with `env_var_names()`).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from lakehouse.registry import Registry, load_registry

PREFIX = "LAKEHOUSE_"


class ConfigError(RuntimeError):
    """A configuration value is missing or invalid; the message names the variable and the fix."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n  - " + "\n  - ".join(problems))


def _config(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(env_prefix=PREFIX + prefix, extra="ignore", frozen=True)


# libpq's sslmode values. The kind overlay and the local stack speak plaintext (prefer, libpq's
# default); the TLS component (k8s/components/tls) sets verify-full with the platform's CA.
SslMode = Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]
SSLMODE_DESCRIPTION = "libpq sslmode; verify-ca/verify-full need `sslrootcert`"
SSLROOTCERT_DESCRIPTION = "PEM file of the CA that signs the server's certificate"


class _PostgresTls(BaseSettings):
    """sslmode/sslrootcert of one PostgreSQL connection, rendered for libpq and for pgjdbc."""

    sslmode: SslMode = Field("prefer", description=SSLMODE_DESCRIPTION)
    sslrootcert: str | None = Field(None, description=SSLROOTCERT_DESCRIPTION)

    @model_validator(mode="after")
    def _root_cert_for_verify(self) -> _PostgresTls:
        if self.sslmode.startswith("verify-") and not self.sslrootcert:
            prefix = self.model_config.get("env_prefix", PREFIX)
            raise ValueError(
                f"{prefix}SSLMODE={self.sslmode} needs {prefix}SSLROOTCERT (the CA's PEM file); "
                "set it, or use sslmode=require to encrypt without checking the server"
            )
        return self

    def _libpq_tls(self) -> str:
        return f" sslmode={self.sslmode}" + (f" sslrootcert={self.sslrootcert}" if self.sslrootcert else "")

    def _url_tls(self) -> str:
        """The query string of a JDBC or SQLAlchemy URL (both hand these to the driver as-is)."""
        query = f"sslmode={self.sslmode}" + (f"&sslrootcert={self.sslrootcert}" if self.sslrootcert else "")
        return "?" + query


class SourceDbSettings(_PostgresTls):
    """The OLTP PostgreSQL database that is captured."""

    model_config = _config("SOURCE_")
    host: str = Field("127.0.0.1", description="PostgreSQL host")
    port: int = Field(5432, ge=1, le=65535, description="PostgreSQL port")
    database: str = Field("shop", description="database holding the captured schemas")
    user: str = Field("lakehouse", description="owner role: creates schema objects, manages the publication")
    password: SecretStr = Field(description="password of `user`")
    # Its password is not a setting: only the Connect worker reads it, from a file (see
    # ConnectSettings.secrets_dir), so no config and no other process holds it.
    cdc_user: str = Field("debezium", description="replication role Debezium connects as")

    def conninfo(self, *, database: str | None = None) -> str:
        """libpq connection string for the owner role."""
        return (
            f"host={self.host} port={self.port} dbname={database or self.database} "
            f"user={self.user} password={self.password.get_secret_value()}"
        ) + self._libpq_tls()


class CatalogSettings(_PostgresTls):
    """The Iceberg JDBC catalog (a PostgreSQL database) and the warehouse location."""

    model_config = _config("CATALOG_")
    host: str = Field("127.0.0.1", description="catalog PostgreSQL host")
    port: int = Field(5432, ge=1, le=65535, description="catalog PostgreSQL port")
    database: str = Field("lakehouse_catalog", description="catalog database")
    user: str = Field("lakehouse", description="catalog database role")
    password: SecretStr = Field(description="password of `user`")
    warehouse: str = Field("s3://lake/warehouse", pattern=r"^s3a?://", description="warehouse root URI")

    @property
    def jdbc_url(self) -> str:
        # pgjdbc reads sslrootcert as a PEM file, like libpq.
        return f"jdbc:postgresql://{self.host}:{self.port}/{self.database}" + self._url_tls()

    def sqlalchemy_url(self) -> str:
        """SQLAlchemy URL (psycopg2) of the catalog database, for pyiceberg's SQL catalog."""
        return (
            f"postgresql+psycopg2://{self.user}:{self.password.get_secret_value()}@{self.host}:{self.port}/"
            f"{self.database}" + self._url_tls()
        )

    def conninfo(self) -> str:
        """libpq connection string of the catalog database (the merge's table leases live there)."""
        return (
            f"host={self.host} port={self.port} dbname={self.database} "
            f"user={self.user} password={self.password.get_secret_value()}"
        ) + self._libpq_tls()


class S3Settings(BaseSettings):
    """The S3-compatible object store (MinIO) holding the warehouse."""

    model_config = _config("S3_")
    endpoint: str = Field(description="S3 endpoint URL, e.g. http://127.0.0.1:9000")
    # Not secret by itself, but a credential's half: it travels in the Secret with its key.
    access_key_id: str = Field(description="S3 access key id", json_schema_extra={"secret": True})
    secret_access_key: SecretStr = Field(description="S3 secret access key")
    region: str = Field("us-east-1", description="S3 region name")
    bucket: str = Field("lake", description="bucket holding the warehouse")
    ca_file: str | None = Field(
        None,
        description="PEM file of the CA that signs an https endpoint's certificate, for the Python "
        "clients (the spark-jobs image's JVMs trust /etc/lakehouse/tls/ca.crt when it is mounted)",
    )


class BackupSettings(BaseSettings):
    """Where the database-backup CronJob puts the catalog and serving dumps (k8s/base/backup),
    and the key that may write there and nowhere else; restores read them back."""

    model_config = _config("BACKUP_")
    bucket: str = Field("lakehouse-backups", description="MinIO bucket holding <database>/<UTC time>.dump")
    access_key_id: str = Field(description="the backup bucket's access key id", json_schema_extra={"secret": True})
    secret_access_key: SecretStr = Field(description="the backup bucket's secret access key")


class KafkaSettings(BaseSettings):
    """The Kafka cluster Debezium writes to."""

    model_config = _config("KAFKA_")
    bootstrap_servers: str = Field(description="comma-separated host:port list")
    # SSL is mutual TLS: the brokers require a client certificate signed by the platform's CA.
    security_protocol: Literal["PLAINTEXT", "SSL"] = Field("PLAINTEXT", description="Kafka security.protocol")
    ssl_ca_file: str | None = Field(None, description="PEM file of the CA that signs the brokers' certificates")
    ssl_certificate_file: str | None = Field(None, description="PEM file of this client's certificate")
    ssl_key_file: str | None = Field(None, description="PEM file (PKCS#8, unencrypted) of this client's private key")

    @model_validator(mode="after")
    def _files_for_ssl(self) -> KafkaSettings:
        if self.security_protocol == "SSL":
            missing = [
                f"{PREFIX}KAFKA_{name.upper()}"
                for name in ("ssl_ca_file", "ssl_certificate_file", "ssl_key_file")
                if not getattr(self, name)
            ]
            if missing:
                raise ValueError(
                    f"{PREFIX}KAFKA_SECURITY_PROTOCOL=SSL (mutual TLS) needs {', '.join(missing)}; "
                    "set them to the mounted CA, certificate and key (k8s/components/tls), or use PLAINTEXT"
                )
        return self

    def librdkafka_config(self) -> dict[str, str]:
        """Connection settings for confluent-kafka clients (librdkafka reads the PEM files itself)."""
        config = {"bootstrap.servers": self.bootstrap_servers}
        if self.security_protocol == "SSL":
            config |= {
                "security.protocol": "ssl",
                "ssl.ca.location": str(self.ssl_ca_file),
                "ssl.certificate.location": str(self.ssl_certificate_file),
                "ssl.key.location": str(self.ssl_key_file),
                "ssl.endpoint.identification.algorithm": "https",
            }
        return config

    def java_client_config(self) -> dict[str, str]:
        """Connection settings for Java Kafka clients (Spark's Kafka source), PEM inline.

        Inline rather than file paths: Spark ships these options to executor pods, which mount
        no Secret (k8s/base/spark/guard.yaml), the way the S3 key reaches them.
        """
        config = {"bootstrap.servers": self.bootstrap_servers}
        if self.security_protocol == "SSL":
            config |= {
                "security.protocol": "SSL",
                "ssl.truststore.type": "PEM",
                "ssl.truststore.certificates": _read_pem(self.ssl_ca_file, "KAFKA_SSL_CA_FILE"),
                "ssl.keystore.type": "PEM",
                "ssl.keystore.certificate.chain": _read_pem(self.ssl_certificate_file, "KAFKA_SSL_CERTIFICATE_FILE"),
                "ssl.keystore.key": _read_pem(self.ssl_key_file, "KAFKA_SSL_KEY_FILE"),
            }
        return config


def _read_pem(path: str | None, name: str) -> str:
    try:
        return Path(str(path)).read_text()
    except OSError as exc:
        raise ConfigError([f"{PREFIX}{name}={path} cannot be read ({exc.strerror}); mount it or fix the path"]) from exc


# The file in ConnectSettings.secrets_dir holding the CDC role's password: named as the key of
# Secret lakehouse-secrets that Kafka Connect's pod mounts there.
CDC_PASSWORD_FILE = "LAKEHOUSE_SOURCE_CDC_PASSWORD"
# The worker's config provider the connector config refers through (config.providers=dir).
CONNECT_CONFIG_PROVIDER = "dir"


class ConnectSettings(BaseSettings):
    """The Kafka Connect REST endpoint and how the connector tool waits on it."""

    model_config = _config("CONNECT_")
    url: str = Field(description="Kafka Connect REST URL, e.g. http://127.0.0.1:8083")
    timeout_s: float = Field(180.0, gt=0, description="how long to wait for RUNNING")
    snapshot_timeout_s: float = Field(
        1800.0,
        gt=0,
        description="how long `lakehouse-connectors apply`/`resnapshot` follow an incremental snapshot before failing",
    )
    secrets_dir: str = Field(
        "/etc/kafka-connect/secrets",
        description="directory, as the Connect worker sees it, holding the file "
        f"`{CDC_PASSWORD_FILE}` (the CDC role's password); the connector config refers to it "
        "through Kafka's DirectoryConfigProvider `dir`, so Connect's REST API and config topic "
        "never hold the password",
    )
    snapshot_mode: str = Field("initial", description="Debezium snapshot.mode")
    heartbeat_interval_ms: int = Field(10_000, ge=1000, description="Debezium heartbeat.interval.ms")
    producer_compression: Literal["none", "lz4", "zstd", "snappy", "gzip"] = Field(
        "lz4",
        description="compression of the connector's Kafka producer, with records batched for up "
        "to 20 ms (none: Kafka's defaults, no compression)",
    )

    def cdc_password_reference(self) -> str:
        """The connector config's `database.password`: a reference the worker resolves, not the value."""
        return f"${{{CONNECT_CONFIG_PROVIDER}:{self.secrets_dir}:{CDC_PASSWORD_FILE}}}"


class MergeSettings(BaseSettings):
    """The cdc-merge Spark job."""

    model_config = _config("MERGE_")
    spark_master: str = Field("local[*]", description="Spark master: local[*] or k8s://https://...")
    spark_jars_dir: Path = Field(description="directory whose jars join the Spark classpath")
    max_records_per_batch: int = Field(500_000, ge=1, description="per table, partition and batch")
    max_bytes_per_batch: int = Field(
        128 * 1024 * 1024,
        ge=1024,
        description="about this many bytes of Kafka values per table, partition and batch, at most "
        "(estimated from the largest of a range's first, middle and last records before it is read)",
    )
    table_threads: int = Field(
        4,
        ge=1,
        le=64,
        description="tables of a cycle planned and merged concurrently (their Spark jobs share the "
        "executors through the FAIR scheduler)",
    )
    trigger_interval_s: float = Field(10.0, ge=0, description="pause between batches in stream mode")
    shuffle_partitions: int = Field(4, ge=1, description="spark.sql.shuffle.partitions")
    driver_memory: str = Field("2g", description="spark.driver.memory")
    driver_host: str = Field("", description="spark.driver.host: the driver pod's IP on Kubernetes (empty: default)")
    driver_pod_name: str = Field(
        "",
        description="spark.kubernetes.driver.pod.name: the driver pod's name on Kubernetes, so executor pods are "
        "owned by it and deleted with it (empty: not in a pod)",
    )
    kubernetes_image: str = Field("", description="executor image when spark_master is k8s://")
    kubernetes_namespace: str = Field("lakehouse", description="namespace of executor pods when spark_master is k8s://")
    executor_instances: int = Field(1, ge=1, description="executor pods when spark_master is k8s://")
    executor_pod_template: str = Field(
        "",
        description="spark.kubernetes.executor.podTemplateFile: the executors' pod template YAML "
        "(k8s/base/spark/executor-pod.yaml, mounted in the driver pod; empty: none)",
    )
    executor_request_cores: str = Field(
        "",
        description="CPU request of each executor pod, e.g. 250m (empty: Spark's default, one core); "
        "small clusters need less than a core to schedule it",
    )
    accept_gap_tables: list[str] = Field(
        default_factory=list,
        description="registry tables (schema.table) whose merge may start at the oldest "
        "record Kafka still holds although older ones it needed were deleted: set only after re-reading them "
        "(`lakehouse-merge --accept-gap` sets it for one run)",
    )
    lease_wait_s: float = Field(
        30.0,
        ge=0,
        description="how long a merge waits for another merge of the same table to finish its "
        "batch before it skips the table and exits with code 75",
    )
    fault_point: str = Field(
        "", description="test hook: crash the job at this named point (before-write, after-commit)"
    )


class StackSettings(BaseSettings):
    """The embedded local stack (`make up`): where it lives and which loopback ports it binds."""

    model_config = _config("STACK_")
    dir: Path = Field(Path(".local"), description="state directory: data, logs, pid files, stack.env")
    cache_dir: Path = Field(
        Path.home() / ".cache" / "lakehouse",
        description="built and downloaded artifacts shared by checkouts (MinIO, jars)",
    )
    host: str = Field("127.0.0.1", description="address every component binds")
    postgres_port: int = Field(15432, ge=1, le=65535, description="PostgreSQL port")
    kafka_port: int = Field(19092, ge=1, le=65535, description="Kafka broker port")
    kafka_controller_port: int = Field(19093, ge=1, le=65535, description="KRaft controller port")
    connect_port: int = Field(18083, ge=1, le=65535, description="Kafka Connect REST port")
    minio_port: int = Field(19000, ge=1, le=65535, description="MinIO S3 API port")
    minio_console_port: int = Field(19001, ge=1, le=65535, description="MinIO console port")
    prefect_port: int = Field(14200, ge=1, le=65535, description="Prefect server API and UI port")
    prefect_worker_port: int = Field(14201, ge=1, le=65535, description="Prefect process worker health port")
    serving_api_port: int = Field(18000, ge=1, le=65535, description="serving API port")
    prefect_scheduler: bool = Field(True, description="run Prefect's scheduler (off: scheduled runs never start)")
    kafka_heap: str = Field("768m", description="Kafka broker -Xmx")
    connect_heap: str = Field("1g", description="Kafka Connect worker -Xmx")
    connect_extra_plugins: list[Path] = Field(
        default_factory=list,
        description="more Kafka Connect plugin directories, beside Debezium's (the bench loads the "
        "Iceberg sink bundle of scripts/setup/jvm.sh --bundle iceberg-kafka-connect)",
    )
    ready_timeout_s: float = Field(120.0, gt=0, description="how long each component may take to get healthy")


class ServingSettings(_PostgresTls):
    """The serving store (a PostgreSQL database the gold tables are published to) and its API."""

    model_config = _config("SERVING_")
    host: str = Field("127.0.0.1", description="serving store PostgreSQL host")
    port: int = Field(5432, ge=1, le=65535, description="serving store PostgreSQL port")
    database: str = Field("lakehouse_serving", description="serving store database")
    user: str = Field("lakehouse", description="role that publishes gold tables (owns the serving schema)")
    # Optional: the serving API only reads, so its pods never get the publisher's password.
    password: SecretStr | None = Field(None, description="password of `user` (needed to publish only)")
    reader_user: str = Field("serving_reader", description="read-only role the serving API connects as")
    reader_password: SecretStr = Field(description="password of `reader_user`")
    api_host: str = Field("127.0.0.1", description="address the serving API binds")
    api_port: int = Field(8000, ge=1, le=65535, description="port the serving API binds")
    max_range_days: int = Field(366, ge=1, description="longest date range /v1/revenue/daily accepts")

    def conninfo(self, *, reader: bool = True) -> str:
        """libpq connection string: the read-only role by default, the publisher with reader=False."""
        user, pw = (self.reader_user, self.reader_password) if reader else (self.user, self.password)
        if pw is None:
            raise ConfigError(
                [
                    f"{PREFIX}SERVING_PASSWORD is not set (password of the publishing role "
                    f"{self.user!r}); set it, or `source .local/stack.env` after `make up`"
                ]
            )
        return (
            f"host={self.host} port={self.port} dbname={self.database} user={user} "
            f"password={pw.get_secret_value()} connect_timeout=5"
        ) + self._libpq_tls()


class FlowSettings(BaseSettings):
    """The Prefect flows: how they run the jobs, and lake maintenance policy."""

    model_config = _config("FLOWS_")
    job_runner: str = Field(
        "local",
        pattern="^(local|kubernetes)$",
        description="where flows run Spark jobs: local processes or Spark on Kubernetes",
    )
    spark_image: str = Field("", description="Spark job image (job_runner=kubernetes)")
    namespace: str = Field("lakehouse", description="Kubernetes namespace of Spark drivers (job_runner=kubernetes)")
    driver_pod_template: str = Field(
        "spark-driver",
        description="the PodTemplate (k8s/base/spark/pod-templates.yaml) each Spark driver Job's pod is made from",
    )
    job_timeout_s: float = Field(
        3600.0, gt=0, description="how long a flow waits for one job (a Kubernetes Job is then deleted with its pods)"
    )
    merge_retries: int = Field(2, ge=0, description="retries of one table's merge")
    snapshot_retention_hours: float = Field(24.0, ge=0, description="expire snapshots older than this")
    retain_last_snapshots: int = Field(5, ge=1, description="snapshots always kept per table")
    orphan_min_age_hours: float = Field(
        24.0, ge=0, description="delete unreferenced files only when older than this (in-flight writes are younger)"
    )
    target_file_size_mb: int = Field(128, ge=1, description="compaction target data file size")
    quality_wait_s: float = Field(300.0, gt=0, description="how long quality waits for the lake to catch up")


_AREAS: dict[str, type[BaseSettings]] = {
    "source": SourceDbSettings,
    "catalog": CatalogSettings,
    "s3": S3Settings,
    "backup": BackupSettings,
    "kafka": KafkaSettings,
    "connect": ConnectSettings,
    "merge": MergeSettings,
    "stack": StackSettings,
    "serving": ServingSettings,
    "flows": FlowSettings,
}


class Settings(BaseSettings):
    """All platform settings; build it with `get_settings()`.

    Areas load on first use so a service needs only the variables of the areas it
    touches; `require()` loads the named areas up front so a service fails at start-up.
    """

    model_config = _config("")
    registry_path: Path = Field(Path("config/tables.yaml"), description="the table registry YAML file")
    log_level: str = Field("INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$", description="log level of every service")

    def require(self, *areas: str) -> Settings:
        """Load `areas` now; raise one `ConfigError` naming every missing or bad variable."""
        problems: list[str] = []
        for area in areas:
            try:
                getattr(self, area)
            except ConfigError as exc:
                problems += exc.problems
        if problems:
            raise ConfigError(problems)
        return self

    def with_area(self, name: str, area: BaseSettings) -> Settings:
        """A copy whose area `name` is `area` (e.g. `merge` with a smaller batch, for a test or the bench)."""
        if name not in _AREAS or not isinstance(area, _AREAS[name]):
            raise ValueError(f"{name!r} is not a settings area of type {type(area).__name__}")
        copy = self.model_copy()
        copy.__dict__["_loaded"] = {**self.__dict__.get("_loaded", {}), name: area}
        return copy

    def _area(self, name: str) -> Any:
        cache = self.__dict__.setdefault("_loaded", {})
        if name not in cache:
            cls = _AREAS[name]
            try:
                cache[name] = cls()
            except ValidationError as exc:
                raise ConfigError(_describe(cls, exc)) from exc
        return cache[name]

    @property
    def source(self) -> SourceDbSettings:
        return self._area("source")  # type: ignore[no-any-return]

    @property
    def catalog(self) -> CatalogSettings:
        return self._area("catalog")  # type: ignore[no-any-return]

    @property
    def s3(self) -> S3Settings:
        return self._area("s3")  # type: ignore[no-any-return]

    @property
    def backup(self) -> BackupSettings:
        return self._area("backup")  # type: ignore[no-any-return]

    @property
    def kafka(self) -> KafkaSettings:
        return self._area("kafka")  # type: ignore[no-any-return]

    @property
    def connect(self) -> ConnectSettings:
        return self._area("connect")  # type: ignore[no-any-return]

    @property
    def merge(self) -> MergeSettings:
        return self._area("merge")  # type: ignore[no-any-return]

    @property
    def stack(self) -> StackSettings:
        return self._area("stack")  # type: ignore[no-any-return]

    @property
    def serving(self) -> ServingSettings:
        return self._area("serving")  # type: ignore[no-any-return]

    @property
    def flows(self) -> FlowSettings:
        return self._area("flows")  # type: ignore[no-any-return]

    def registry(self) -> Registry:
        """The table registry this configuration points at (parsed once per path)."""
        return _registry(self.registry_path.resolve())


# The areas each batch job's CLI loads at start-up. A job's pod in the cluster receives the secret
# keys of exactly these areas (flows/kubernetes_jobs.py), so keep the CLIs' require() on them.
JOB_AREAS: dict[str, tuple[str, ...]] = {
    "lakehouse-merge": ("catalog", "s3", "kafka", "merge"),
    "lakehouse-gold": ("catalog", "s3", "merge", "serving"),
    "lakehouse-maintain": ("catalog", "s3", "merge", "flows"),
}


def secret_env_vars(*areas: str) -> list[str]:
    """The environment names of the secret fields of `areas`: what a process loading them needs from a Secret."""
    names: list[str] = []
    for area in areas:
        cls = _AREAS[area]
        prefix = cls.model_config.get("env_prefix", "")
        for field, info in cls.model_fields.items():
            extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
            if "SecretStr" in str(info.annotation) or extra.get("secret"):
                names.append(f"{prefix}{field}".upper())
    return sorted(set(names))


def env_var_names() -> set[str]:
    """Every environment variable the settings read."""
    names = {PREFIX + "REGISTRY_PATH", PREFIX + "LOG_LEVEL"}
    for cls in _AREAS.values():
        prefix = cls.model_config.get("env_prefix", "")
        names |= {f"{prefix}{field}".upper() for field in cls.model_fields}
    return names


def _describe(cls: type[BaseSettings], exc: ValidationError) -> list[str]:
    prefix = cls.model_config.get("env_prefix", "")
    out = []
    for err in exc.errors():
        field = str(err["loc"][0]) if err["loc"] else ""
        var = f"{prefix}{field}".upper()
        desc = cls.model_fields[field].description if field in cls.model_fields else ""
        if err["type"] == "missing":
            out.append(f"{var} is not set ({desc}); set it, or `source .local/stack.env` after `make up`")
        else:
            out.append(f"{var}={err.get('input')!r} is invalid: {err['msg']}")
    return out


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (read once)."""
    try:
        return Settings()  # type: ignore[call-arg]  # every field has a default; values come from the env
    except ValidationError as exc:
        raise ConfigError(_describe(Settings, exc)) from exc


@lru_cache(maxsize=8)
def _registry(path: Path) -> Registry:
    return load_registry(path)
