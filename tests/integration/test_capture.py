"""Complete capture, verified: grants and keys checked before applying, snapshots followed to their end,
re-created tables re-read, and `resnapshot` on demand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.integration.conftest import LAB_TABLES, REPO


def _registry_with(tmp_path: Path, extra: list[dict[str, Any]]) -> Path:
    data = yaml.safe_load((REPO / "config" / "tables.yaml").read_text())
    data["tables"] = data["tables"] + LAB_TABLES + extra
    path = tmp_path / "tables.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_apply_refuses_tables_debezium_cannot_capture_and_names_each_fix(stack: Any, tmp_path: Path) -> None:
    stack.sql("CREATE SCHEMA IF NOT EXISTS lab_private")
    stack.sql("CREATE TABLE IF NOT EXISTS lab_private.hidden (id integer PRIMARY KEY, v text)")
    stack.sql("CREATE TABLE IF NOT EXISTS lab.keyless (id integer, v text)")
    stack.sql("GRANT SELECT ON lab.keyless TO debezium")
    stack.sql("CREATE TABLE IF NOT EXISTS lab.other_key (id integer PRIMARY KEY, code text UNIQUE)")
    stack.sql("GRANT SELECT ON lab.other_key TO debezium")
    before = stack.run("lakehouse-connectors", "render").stdout
    registry = _registry_with(
        tmp_path,
        [
            {"source": "lab_private.hidden", "primary_key": ["id"], "iceberg": "silver.hidden"},
            {"source": "lab.keyless", "primary_key": ["id"], "iceberg": "silver.keyless"},
            {"source": "lab.other_key", "primary_key": ["code"], "iceberg": "silver.other_key"},
            {"source": "lab.nowhere", "primary_key": ["id"], "iceberg": "silver.nowhere"},
        ],
    )
    refused = stack.run(
        "lakehouse-connectors", "apply", check=False, extra_env={"LAKEHOUSE_REGISTRY_PATH": str(registry)}
    )
    assert refused.returncode == 1, refused.stdout + refused.stderr
    err = refused.stderr
    assert "nothing was applied" in err
    assert "GRANT USAGE ON SCHEMA lab_private TO debezium;" in err
    assert "GRANT SELECT ON lab_private.hidden TO debezium;" in err
    assert "ALTER TABLE lab.keyless ADD PRIMARY KEY (id);" in err
    assert "set primary_key: [id] for lab.other_key" in err
    assert "lab.nowhere: the table does not exist" in err
    assert "Traceback" not in err
    # Nothing changed: the connector still captures what it did.
    assert stack.run("lakehouse-connectors", "render").stdout == before
    status = stack.run("lakehouse-connectors", "status")
    assert status.returncode == 0


def test_resnapshot_reads_a_table_again_and_the_merge_converges_without_duplicates(
    stack: Any, merge: Any, assert_equal: Any, catalog: Any
) -> None:
    stack.sql("INSERT INTO lab.bystander SELECT g, 'r' || g FROM generate_series(1000, 1499) g")
    merge(["lab.bystander"])
    done = stack.run("lakehouse-connectors", "resnapshot", "--table", "lab.bystander")
    assert "snapshot complete: lab.bystander SUCCEEDED" in done.stdout, done.stdout
    rows = int(stack.sql("SELECT count(*) FROM lab.bystander")[0][0])
    assert f"({rows} rows)" in done.stdout, done.stdout
    merge(["lab.bystander"])
    assert_equal("lab.bystander")
    bronze = (
        catalog.load_table("bronze.bystander")
        .scan(selected_fields=("kafka_partition", "kafka_offset", "op"))
        .to_arrow()
        .to_pylist()
    )
    assert sum(1 for r in bronze if r["op"] == "r") >= rows
    offsets = [(r["kafka_partition"], r["kafka_offset"]) for r in bronze]
    assert len(offsets) == len(set(offsets))

    missing = stack.run("lakehouse-connectors", "resnapshot", "--table", "lab.not_registered", check=False)
    assert missing.returncode == 2 and "not in the registry" in missing.stderr and "Traceback" not in missing.stderr


def test_a_table_dropped_and_recreated_is_published_and_read_again_by_the_next_apply(
    stack: Any, merge: Any, assert_equal: Any
) -> None:
    stack.sql(
        "INSERT INTO lab.phoenix SELECT g, 'before ' || g FROM generate_series(1, 50) g ON CONFLICT (id) DO NOTHING"
    )
    merge(["lab.phoenix"])
    stack.sql("DROP TABLE lab.phoenix")
    stack.sql("CREATE TABLE lab.phoenix (id integer PRIMARY KEY, v text)")
    stack.sql("GRANT SELECT ON lab.phoenix TO debezium")
    stack.sql("INSERT INTO lab.phoenix SELECT g, 'after ' || g FROM generate_series(1, 80) g")
    published = stack.sql("SELECT count(*) FROM pg_publication_tables WHERE tablename = 'phoenix'")[0][0]
    assert published == 0, "PostgreSQL kept a dropped table in the publication"
    applied = stack.run("lakehouse-connectors", "apply")
    assert "snapshot complete: lab.phoenix SUCCEEDED" in applied.stdout, applied.stdout
    stack.sql("UPDATE lab.phoenix SET v = 'streamed' WHERE id = 3")
    merge(["lab.phoenix"])
    assert_equal("lab.phoenix")
