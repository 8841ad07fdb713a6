"""One source of truth per fact: versions, settings names, the registry."""

import re
import subprocess
from pathlib import Path

import pytest
from lakehouse.settings import CDC_PASSWORD_FILE, env_var_names
from lakehouse.versions import versions

REPO = Path(__file__).resolve().parents[2]
V = versions()


def test_pyspark_lock_matches_the_spark_version() -> None:
    lock = (REPO / "requirements.lock").read_text()
    assert re.search(rf"^pyspark=={re.escape(V['SPARK_VERSION'])} ", lock, re.M), (
        "requirements.lock pins another pyspark than SPARK_VERSION in config/versions.env"
    )


@pytest.mark.parametrize("pom", sorted((REPO / "config" / "jvm").glob("*/pom.xml")), ids=lambda p: p.parent.name)
def test_maven_manifests_pin_nothing_themselves(pom: Path) -> None:
    versions_in_pom = re.findall(r"<version>([^<]+)</version>", pom.read_text())
    literal = [v for v in versions_in_pom if not v.startswith("${") and v != "1"]
    assert not literal, f"{pom} pins {literal}; put versions in config/versions.env"


@pytest.mark.parametrize(
    ("bundle", "jar"),
    [
        ("kafka", f"kafka_{V['KAFKA_SCALA_VERSION']}-{V['KAFKA_VERSION']}.jar"),
        ("kafka", f"connect-runtime-{V['KAFKA_VERSION']}.jar"),
        ("debezium-postgres", f"debezium-connector-postgres-{V['DEBEZIUM_VERSION']}.jar"),
        ("spark", f"iceberg-spark-runtime-3.5_{V['SPARK_SCALA_VERSION']}-{V['ICEBERG_VERSION']}.jar"),
        ("spark", f"iceberg-aws-bundle-{V['ICEBERG_VERSION']}.jar"),
        ("spark", f"spark-sql-kafka-0-10_{V['SPARK_SCALA_VERSION']}-{V['SPARK_VERSION']}.jar"),
        ("spark", f"postgresql-{V['POSTGRES_JDBC_VERSION']}.jar"),
    ],
)
def test_checksum_locks_match_the_versions_file(bundle: str, jar: str) -> None:
    lock = (REPO / "config" / "jvm" / bundle / "jars.sha256").read_text().split()
    assert jar in lock, f"{jar} missing from config/jvm/{bundle}/jars.sha256: run scripts/setup/jvm.sh --relock"
    for line in (REPO / "config" / "jvm" / bundle / "jars.sha256").read_text().splitlines():
        digest, name = line.split()
        assert re.fullmatch(r"[0-9a-f]{64}", digest) and name.endswith(".jar")


# Variables that are not platform configuration: test switches, and the CDC password, a Secret
# key the Connect worker reads as a file (lakehouse.settings.CDC_PASSWORD_FILE).
NOT_SETTINGS = {"LAKEHOUSE_TEST_KEEP_STACK", "LAKEHOUSE_E2E_KEEP_CLUSTER", "LAKEHOUSE_E2E_OVERLAY", CDC_PASSWORD_FILE}


def test_every_lakehouse_variable_in_the_repo_is_a_setting() -> None:
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    used: dict[str, str] = {}
    for name in tracked:
        path = REPO / name
        if path.suffix in {".py", ".sh", ".md", ".yaml", ".yml", ".toml", ""} and path.is_file():
            for var in re.findall(r"\bLAKEHOUSE_[A-Z0-9_]*[A-Z0-9]\b", path.read_text(errors="ignore")):
                used.setdefault(var, name)
    known = env_var_names() | NOT_SETTINGS
    # Area prefixes such as LAKEHOUSE_SOURCE_ or LAKEHOUSE_MERGE_FAULT_POINT's family are fine when whole.
    unknown = {v: f for v, f in used.items() if v not in known and not any(k.startswith(v + "_") for k in known)}
    assert not unknown, f"variables that lib/lakehouse/settings.py does not read: {unknown}"


def test_stack_env_sets_only_real_settings() -> None:
    source = (REPO / "tools" / "stackctl" / "stackctl" / "stack.py").read_text()
    written = set(re.findall(r'"(LAKEHOUSE_[A-Z0-9_]+)"', source))
    assert written, "stack.py writes no LAKEHOUSE_ variables?"
    assert written <= env_var_names() | {"LAKEHOUSE_STACK_CACHE_DIR"}, written - env_var_names()


def test_repo_registry_tables_exist_in_the_demo_schema() -> None:
    from lakehouse.registry import load_registry

    sql = (REPO / "config" / "sql" / "10-shop-schema.sql").read_text()
    for t in load_registry(REPO / "config" / "tables.yaml").tables:
        assert f"CREATE TABLE IF NOT EXISTS {t.source} (" in sql, f"{t.source} is not created by the demo schema"


def test_the_cache_directory_default_outside_python_is_the_settings_default() -> None:
    """Shell and make run before the virtualenv exists, so they spell the default out: it must be the one
    lib/lakehouse/settings.py (StackSettings.cache_dir) gives everything in Python."""
    import re
    from pathlib import Path

    from lakehouse.settings import StackSettings

    repo = Path(__file__).resolve().parents[2]
    default = StackSettings.model_fields["cache_dir"].default
    relative = default.relative_to(Path.home()).as_posix()
    spelled = {
        "scripts/setup/common.sh": r"\$\{LAKEHOUSE_STACK_CACHE_DIR:-\$HOME/([^}]+)\}",
        "Makefile": r"\$\(or \$\(LAKEHOUSE_STACK_CACHE_DIR\),\$\(HOME\)/([^)]+)\)",
    }
    for path, pattern in spelled.items():
        found = set(re.findall(pattern, (repo / path).read_text()))
        assert found == {relative}, f"{path} spells the cache directory default as {found}, settings say ~/{relative}"
