"""`make setup` is idempotent: a second run changes nothing."""

import subprocess

from tests.integration.conftest import REPO


def test_second_setup_run_changes_nothing() -> None:
    out = subprocess.run([str(REPO / "scripts" / "setup" / "all.sh")], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "system packages: all present" in text
    assert "python: .venv is up to date" in text
    for bundle in ("kafka", "debezium-postgres", "spark"):
        assert f"{bundle}: cached in" in text
    assert "minio: cached at" in text
    for action in ("Installing", "Resolving", "Building", "Creating .venv"):
        assert action not in text, f"a repeated setup did work: {action}"
