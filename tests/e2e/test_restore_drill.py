"""The restore drill: the database-backup CronJob (k8s/base/backup) run once, its catalog dump
restored into a fresh database the documented way (docs/operations.md, "Restoring the catalog"),
and that catalog serves the same tables: each silver table at the same snapshot, equal to the
source. The backup key reaches only its bucket."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import boto3
import botocore.exceptions
import psycopg
from lakehouse.lake import open_catalog
from lakehouse.reconcile import diff_table
from lakehouse.settings import CatalogSettings

from tests.e2e.cluster import Platform, settings_from


def test_the_catalog_backup_restores_into_a_fresh_database_that_serves_the_same_tables(
    platform: Platform, tmp_path: Path
) -> None:
    job = f"backup-drill-{int(time.time())}"
    platform.kubectl("create", "job", job, "--from=cronjob/database-backup")
    platform.kubectl("wait", "--for=condition=complete", f"job/{job}", "--timeout=600s", timeout=660)
    print(platform.kubectl("logs", f"job/{job}", "-c", "upload"), file=sys.stderr)

    env = platform.settings_env()
    with settings_from(env) as settings:
        live = open_catalog(settings)
        tables = settings.registry().tables
        snapshots = {t.iceberg: live.load_table(t.iceberg).current_snapshot() for t in tables}
        assert all(snapshots.values()), f"a silver table has no snapshot yet: {snapshots}"

        # The dump, fetched with the backup key (as an operator would with mc).
        backup = settings.backup
        s3 = boto3.client(
            "s3",
            endpoint_url=settings.s3.endpoint,
            aws_access_key_id=backup.access_key_id,
            aws_secret_access_key=backup.secret_access_key.get_secret_value(),
            region_name=settings.s3.region,
            # under kind-tls: MinIO over https, its certificate from the platform's CA
            verify=settings.s3.ca_file or True,
        )
        bucket, database = backup.bucket, settings.catalog.database
        listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
        keys = {o["Key"] for o in listed}
        for db in (database, settings.serving.database):
            assert f"{db}/latest.dump" in keys, sorted(keys)
        dump = tmp_path / "catalog.dump"
        s3.download_file(bucket, f"{database}/latest.dump", str(dump))
        try:
            s3.list_objects_v2(Bucket=settings.s3.bucket, MaxKeys=1)
            raise AssertionError("the backup key can read the lake bucket")
        except botocore.exceptions.ClientError as exc:
            assert exc.response["Error"]["Code"] == "AccessDenied", exc.response

        # A fresh database owned by the catalog role, the dump restored into it as that role.
        restored_db = f"{database}_restore_{int(time.time())}"
        cat = settings.catalog
        superuser = env["PLATFORM_DB_SUPERUSER_PASSWORD"]  # the catalog is in lakehouse-db
        admin = f"host={cat.host} port={cat.port} dbname=postgres user=postgres password={superuser}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{restored_db}" OWNER "{cat.user}"')
        try:
            done = subprocess.run(
                [
                    "pg_restore",
                    "--no-owner",
                    "--exit-on-error",
                    "-h",
                    cat.host,
                    "-p",
                    str(cat.port),
                    "-U",
                    cat.user,
                    "-d",
                    restored_db,
                    str(dump),
                ],
                env={"PGPASSWORD": cat.password.get_secret_value(), "PATH": "/usr/bin:/bin"},
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert done.returncode == 0, done.stderr

            restored = open_catalog(
                settings.with_area("catalog", CatalogSettings(**{**cat.model_dump(), "database": restored_db}))
            )
            for spec in tables:
                table = restored.load_table(spec.iceberg)
                assert table.current_snapshot() == snapshots[spec.iceberg], spec.iceberg
                d = diff_table(settings.source.conninfo(), table, spec)
                assert d.equal, d.summary()
        finally:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{restored_db}" WITH (FORCE)')
