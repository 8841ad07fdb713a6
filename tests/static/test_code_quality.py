"""The project checks itself on every change: lint, format and types (the same as .pre-commit-config.yaml)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PYTHON_TREES = ("lib", "tools", "services", "flows", "tests", "bench")
# Strictly typed: the shared library and every service (pyproject.toml [tool.mypy]).
TYPED_PACKAGES = (
    "lakehouse",
    "cdc_merge",
    "spark_iceberg",
    "gold",
    "lake_maintenance",
    "connector_config",
    "loadgen",
    "serving_api",
)


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / argv[0]), *argv[1:]], cwd=REPO, capture_output=True, text=True, timeout=600)


def test_ruff_finds_nothing() -> None:
    done = _run("ruff", "check", *PYTHON_TREES)
    assert done.returncode == 0, f"ruff check:\n{done.stdout[-4000:]}\nfix: .venv/bin/ruff check --fix"


def test_code_is_ruff_formatted() -> None:
    done = _run("ruff", "format", "--check", *PYTHON_TREES)
    assert done.returncode == 0, f"{done.stdout[-4000:]}\nfix: .venv/bin/ruff format {' '.join(PYTHON_TREES)}"


def test_lib_and_services_type_check_strictly() -> None:
    done = _run("mypy", *[a for p in TYPED_PACKAGES for a in ("-p", p)])
    assert done.returncode == 0, f"mypy --strict:\n{done.stdout[-6000:]}"


def test_pre_commit_runs_the_same_checks() -> None:
    config = (REPO / ".pre-commit-config.yaml").read_text()
    for hook in ("ruff check", "ruff format --check", "mypy"):
        assert hook in config, f".pre-commit-config.yaml does not run {hook}"
