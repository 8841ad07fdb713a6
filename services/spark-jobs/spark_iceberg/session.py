"""The Spark session of the merge job: Iceberg JDBC catalog on PostgreSQL, S3FileIO on MinIO.

Identical locally (`local[*]`) and in the cluster (`k8s://...`): only the settings differ.
"""

from __future__ import annotations

from pathlib import Path

from lakehouse.settings import ConfigError, Settings
from pyspark.sql import SparkSession


def spark_jars(jars_dir: Path) -> list[str]:
    """The extra jars (Iceberg runtime, AWS bundle, Kafka source, JDBC driver)."""
    jars = sorted(str(p) for p in jars_dir.glob("*.jar"))
    if not jars:
        raise ConfigError(
            [
                f"LAKEHOUSE_MERGE_SPARK_JARS_DIR={jars_dir} holds no jars; run `make setup` "
                "(local) or use the spark-jobs image"
            ]
        )
    return jars


def catalog_conf(settings: Settings) -> dict[str, str]:
    """Spark configuration of the Iceberg catalog named in the registry."""
    name = settings.registry().lake.catalog
    cat, s3 = settings.catalog, settings.s3
    prefix = f"spark.sql.catalog.{name}"
    return {
        prefix: "org.apache.iceberg.spark.SparkCatalog",
        f"{prefix}.type": "jdbc",
        f"{prefix}.uri": cat.jdbc_url,
        f"{prefix}.jdbc.user": cat.user,
        f"{prefix}.jdbc.password": cat.password.get_secret_value(),
        # V1 adds the view columns; pyiceberg's SQL catalog reads either.
        f"{prefix}.jdbc.schema-version": "V1",
        f"{prefix}.warehouse": cat.warehouse,
        f"{prefix}.io-impl": "org.apache.iceberg.aws.s3.S3FileIO",
        f"{prefix}.s3.endpoint": s3.endpoint,
        f"{prefix}.s3.path-style-access": "true",
        f"{prefix}.s3.access-key-id": s3.access_key_id,
        f"{prefix}.s3.secret-access-key": s3.secret_access_key.get_secret_value(),
        f"{prefix}.client.region": s3.region,
        # Other writers (maintenance, a second job) commit to the same tables: never
        # plan against a cached, stale snapshot.
        f"{prefix}.cache-enabled": "false",
    }


def build_session(settings: Settings, app_name: str = "cdc-merge") -> SparkSession:
    """Create (or return) the job's Spark session."""
    merge = settings.merge
    jars = spark_jars(merge.spark_jars_dir)
    builder = (
        SparkSession.builder.appName(app_name)
        .master(merge.spark_master)
        # Driver classpath, not spark.jars: S3FileIO's SDK must be visible to the
        # catalog's class loader (RUNTIME_FACTS.md).
        .config("spark.driver.extraClassPath", ":".join(jars))
        .config("spark.executor.extraClassPath", ":".join(jars))
        .config("spark.sql.extensions", "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", str(merge.shuffle_partitions))
        .config("spark.driver.memory", merge.driver_memory)
        .config("spark.ui.enabled", "false")
        # No progress bars: in a pod they land in the same log as the JSON result.
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.ansi.enabled", "false")
        # The merge runs its tables' batches in threads: FAIR lets a small table's jobs run
        # beside a large one's instead of queueing behind them.
        .config("spark.scheduler.mode", "FAIR")
        # Each table's batch compiles code of its own shape (its columns): with the default
        # cache of 100 classes, a cycle over many tables evicts and recompiles every cycle.
        .config("spark.sql.codegen.cache.maxEntries", "4096")
        # Cached Kafka consumers are per topic partition: beyond the default 64, a cycle over
        # many topics closes and reopens consumers (a broker connection each) every cycle.
        .config("spark.kafka.consumer.cache.capacity", "1024")
        # Kafka source tasks prefer the executor their partition hashes to (for its cached
        # consumer); waiting up to 3 s per locality level for it cost seconds per read of
        # many small topics. Any executor will do.
        .config("spark.locality.wait", "0")
        # Data source options carry credentials under mutual TLS (the Kafka client's PEM key,
        # KafkaSettings.java_client_config): redact them wherever Spark prints options.
        .config("spark.sql.redaction.options.regex", "(?i)url|password|secret|ssl\\.keystore\\.key")
    )
    if merge.driver_host:
        builder = builder.config("spark.driver.host", merge.driver_host).config("spark.driver.bindAddress", "0.0.0.0")
    if merge.spark_master.startswith("k8s://"):
        # Client mode from the driver pod (flows/kubernetes_jobs.py): executors are pods of the same image.
        builder = (
            builder.config("spark.kubernetes.container.image", merge.kubernetes_image)
            .config("spark.kubernetes.namespace", merge.kubernetes_namespace)
            .config("spark.kubernetes.authenticate.driver.serviceAccountName", "spark")
            .config("spark.executor.instances", str(merge.executor_instances))
        )
        if merge.driver_pod_name:
            # Executors get an owner reference to the driver pod: none outlives it.
            builder = builder.config("spark.kubernetes.driver.pod.name", merge.driver_pod_name)
        if merge.executor_pod_template:
            # Executor pods pass Pod Security `restricted`: their securityContext comes from here.
            builder = builder.config("spark.kubernetes.executor.podTemplateFile", merge.executor_pod_template).config(
                "spark.kubernetes.executor.podTemplateContainerName", "executor"
            )
        if merge.executor_request_cores:
            builder = builder.config("spark.kubernetes.executor.request.cores", merge.executor_request_cores)
    for key, value in catalog_conf(settings).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark
